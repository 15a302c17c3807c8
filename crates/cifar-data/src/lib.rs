//! CIFAR-10 and (Fashion-)MNIST readers, the course's preprocessing, and verified downloads.
