//! Linear classifiers: multiclass SVM and softmax losses, minibatch SGD, hyper-parameter search.
