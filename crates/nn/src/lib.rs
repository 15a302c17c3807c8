//! Neural networks: layers, fully connected and convolutional models, update rules, Solver, checkpoints.
