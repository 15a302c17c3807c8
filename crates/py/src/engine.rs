//! Everything the module takes from the engine crates, in one place: the course's
//! layer functions and their caches (`nn`), the kNN classifier (`knn`) and the linear
//! losses (`linear`). The other files use these names only.

pub use knn::KNearestNeighbor;
pub use linear::{
    check_labels, softmax_loss, softmax_loss_vectorized, svm_loss, svm_loss_vectorized,
};
pub use nn::{
    AffineCache, BatchNormParam, DropoutCache, Mode, NormCache, ReluCache, affine_backward,
    affine_forward, batchnorm_backward, batchnorm_forward, dropout_backward, dropout_forward,
    layernorm_backward, layernorm_forward, relu_backward, relu_forward,
};
pub use nn::{
    ConvCache, ConvParam, Error as NnError, conv_backward_fast, conv_backward_naive,
    conv_forward_fast, conv_forward_naive,
};
pub use nn::{
    FastPoolCache, PoolCache, PoolParam, max_pool_backward_fast, max_pool_backward_naive,
    max_pool_forward_fast, max_pool_forward_naive,
};
pub use nn::{
    GroupNormCache, SpatialBatchNormCache, spatial_batchnorm_backward, spatial_batchnorm_forward,
    spatial_groupnorm_backward, spatial_groupnorm_forward,
};
pub use numeric::{Float, rng, set_threads, threads};
