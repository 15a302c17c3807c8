//! k-nearest-neighbour classifier: L1/L2 distances three ways, voting, k-fold cross-validation.
