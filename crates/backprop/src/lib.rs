//! Reverse-mode automatic differentiation: a tape of gates, the chain rule, gradient checking.
