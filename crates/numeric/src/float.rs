use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::ops::{AddAssign, DivAssign, MulAssign, SubAssign};

use ndarray::{LinalgScalar, ScalarOperand};

/// The element types [`Float`] can be, as files and messages name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dtype {
    /// IEEE 754 single precision.
    F32,
    /// IEEE 754 double precision.
    F64,
}

mod sealed {
    /// Keeps [`super::Float`] to `f32` and `f64`: code may match on [`super::Float::DTYPE`]
    /// knowing there is no third case.
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// The element type of every numeric routine in cs231n-rs: `f32` or `f64`.
///
/// Models train in `f32` (twice the GEMM throughput) and gradient checks run in
/// `f64` (the course's relative error of 1e-7 is out of reach in single precision).
///
/// ```
/// use numeric::Float;
/// fn half<T: Float>(x: T) -> T { x * T::cast(0.5) }
/// assert_eq!(half(3.0_f32), 1.5);
/// assert_eq!(half(3.0_f64).as_f64(), 1.5);
/// ```
///
/// The trait is sealed: `f32` and `f64` are its only types, so code that must tell
/// them apart (file encodings) matches on [`Float::DTYPE`].
pub trait Float:
    sealed::Sealed
    + num_traits::Float
    + LinalgScalar
    + ScalarOperand
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + Sum
    + Default
    + Debug
    + Display
    + Send
    + Sync
    + 'static
{
    /// The type's name as users write it (`"f32"` / `"f64"`), for files and messages.
    const NAME: &'static str;

    /// The type as a [`Dtype`].
    ///
    /// ```
    /// assert_eq!(<f64 as numeric::Float>::DTYPE, numeric::Dtype::F64);
    /// ```
    const DTYPE: Dtype;

    /// Converts from `f64`, rounding to nearest for `f32`.
    fn cast(x: f64) -> Self;

    /// Widens (or copies) to `f64`.
    fn as_f64(self) -> f64;

    /// Converts a count, as used for averages over a batch (`T::count(n)`).
    fn count(n: usize) -> Self {
        Self::cast(n as f64)
    }
}

impl Float for f32 {
    const NAME: &'static str = "f32";
    const DTYPE: Dtype = Dtype::F32;
    fn cast(x: f64) -> Self {
        x as f32
    }
    fn as_f64(self) -> f64 {
        self as f64
    }
}

impl Float for f64 {
    const NAME: &'static str = "f64";
    const DTYPE: Dtype = Dtype::F64;
    fn cast(x: f64) -> Self {
        x
    }
    fn as_f64(self) -> f64 {
        self
    }
}
