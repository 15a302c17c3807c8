//! First-order update rules, with the course's exact formulas and defaults
//! (`optim.py`): [`sgd`], [`sgd_momentum`], [`rmsprop`], [`adam`].
//!
//! Each rule updates one parameter array in place from its gradient and its own
//! [`ParamState`] (velocity, squared-gradient cache, moments, step count): state is
//! *per parameter*, as the course keeps one `config` dict per parameter.
//! [`Optimizer`] holds the rule, the hyper-parameters and every parameter's state, and
//! steps a whole model.
//!
//! ```
//! use nn::{Optimizer, UpdateRule, OptimConfig};
//! use nn::Params;
//! let mut params: Params<f64> = Params::from([("W".into(), ndarray::arr1(&[1.0]).into_dyn())]);
//! let grads: Params<f64> = Params::from([("W".into(), ndarray::arr1(&[0.5]).into_dyn())]);
//! let mut opt = Optimizer::new(UpdateRule::Sgd, OptimConfig { learning_rate: 0.1, ..OptimConfig::default_for(UpdateRule::Sgd) });
//! opt.step(&mut params, &grads);
//! assert!((params["W"][[0]] - 0.95).abs() < 1e-12);
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use ndarray::{ArrayD, Zip};
use numeric::Float;
use serde::{Deserialize, Serialize};

use crate::model::Params;

/// Which update rule to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateRule {
    /// Vanilla stochastic gradient descent: `w -= lr·dw`.
    Sgd,
    /// SGD with momentum: `v = μv − lr·dw; w += v`.
    SgdMomentum,
    /// RMSProp: per-coordinate step sizes from a moving average of squared gradients.
    RmsProp,
    /// Adam: momentum plus RMSProp, bias-corrected.
    Adam,
}

impl UpdateRule {
    /// Every rule, in the lecture's order.
    pub const ALL: [UpdateRule; 4] = [
        UpdateRule::Sgd,
        UpdateRule::SgdMomentum,
        UpdateRule::RmsProp,
        UpdateRule::Adam,
    ];

    /// The course's function name (`"sgd"`, `"sgd_momentum"`, `"rmsprop"`, `"adam"`).
    ///
    /// ```
    /// assert_eq!(nn::UpdateRule::RmsProp.name(), "rmsprop");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            UpdateRule::Sgd => "sgd",
            UpdateRule::SgdMomentum => "sgd_momentum",
            UpdateRule::RmsProp => "rmsprop",
            UpdateRule::Adam => "adam",
        }
    }
}

impl fmt::Display for UpdateRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for UpdateRule {
    type Err = crate::Error;
    /// Parses the course's names, plus `momentum` for `sgd_momentum`.
    ///
    /// ```
    /// use nn::UpdateRule;
    /// assert_eq!("momentum".parse::<UpdateRule>().unwrap(), UpdateRule::SgdMomentum);
    /// assert!("lbfgs".parse::<UpdateRule>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "sgd" => Ok(UpdateRule::Sgd),
            "sgd_momentum" | "momentum" | "sgd-momentum" => Ok(UpdateRule::SgdMomentum),
            "rmsprop" => Ok(UpdateRule::RmsProp),
            "adam" => Ok(UpdateRule::Adam),
            _ => Err(crate::Error::UnknownName {
                what: "update rule",
                name: s.to_string(),
                expected: "sgd, sgd_momentum/momentum, rmsprop or adam",
            }),
        }
    }
}

/// Hyper-parameters of the update rules (each rule reads the fields it uses).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OptimConfig {
    /// Step size.
    pub learning_rate: f64,
    /// Momentum μ of `sgd_momentum`.
    pub momentum: f64,
    /// Decay of RMSProp's squared-gradient cache.
    pub decay_rate: f64,
    /// Adam's first-moment decay β₁.
    pub beta1: f64,
    /// Adam's second-moment decay β₂.
    pub beta2: f64,
    /// Added to denominators (RMSProp, Adam) to avoid division by zero.
    pub epsilon: f64,
}

impl OptimConfig {
    /// The course's defaults for `rule`: learning rate 1e-2 (1e-3 for Adam), momentum
    /// 0.9, decay 0.99, β₁ 0.9, β₂ 0.999, ε 1e-8.
    ///
    /// ```
    /// use nn::{OptimConfig, UpdateRule};
    /// assert_eq!(OptimConfig::default_for(UpdateRule::Adam).learning_rate, 1e-3);
    /// assert_eq!(OptimConfig::default_for(UpdateRule::Sgd).learning_rate, 1e-2);
    /// ```
    pub fn default_for(rule: UpdateRule) -> Self {
        OptimConfig {
            learning_rate: if rule == UpdateRule::Adam { 1e-3 } else { 1e-2 },
            momentum: 0.9,
            decay_rate: 0.99,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
        }
    }
}

/// One parameter's optimiser state (the course's per-parameter `config` dict minus the
/// hyper-parameters). Arrays are created zero on first use, the course's
/// `config.setdefault('velocity', np.zeros_like(w))`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ParamState<T> {
    /// Momentum's velocity `v`.
    pub velocity: Option<ArrayD<T>>,
    /// RMSProp's moving average of squared gradients.
    pub cache: Option<ArrayD<T>>,
    /// Adam's first moment `m`.
    pub m: Option<ArrayD<T>>,
    /// Adam's second moment `v`.
    pub v: Option<ArrayD<T>>,
    /// Adam's step count `t` (incremented before use, as in the course).
    pub t: u64,
}

impl<T: Float> ParamState<T> {
    /// The state's arrays by name (`"velocity"`, `"cache"`, `"m"`, `"v"`), those that exist;
    /// for checkpoints.
    ///
    /// ```
    /// let s = nn::ParamState::<f32>::default();
    /// assert!(s.arrays().is_empty());
    /// ```
    pub fn arrays(&self) -> Vec<(&'static str, &ArrayD<T>)> {
        [
            ("velocity", &self.velocity),
            ("cache", &self.cache),
            ("m", &self.m),
            ("v", &self.v),
        ]
        .into_iter()
        .filter_map(|(k, a)| a.as_ref().map(|a| (k, a)))
        .collect()
    }

    /// Mutable slot for the array called `name` (as in [`arrays`](Self::arrays)).
    ///
    /// ```
    /// let mut s = nn::ParamState::<f32>::default();
    /// assert!(s.slot("velocity").is_some() && s.slot("w").is_none());
    /// ```
    pub fn slot(&mut self, name: &str) -> Option<&mut Option<ArrayD<T>>> {
        match name {
            "velocity" => Some(&mut self.velocity),
            "cache" => Some(&mut self.cache),
            "m" => Some(&mut self.m),
            "v" => Some(&mut self.v),
            _ => None,
        }
    }
}

fn zeros_like<'a, T: Float>(slot: &'a mut Option<ArrayD<T>>, w: &ArrayD<T>) -> &'a mut ArrayD<T> {
    if slot.as_ref().is_none_or(|a| a.shape() != w.shape()) {
        *slot = Some(ArrayD::zeros(w.raw_dim()));
    }
    slot.as_mut().expect("just set")
}

/// Runs an elementwise update, over the rayon pool for large parameters (a weight
/// matrix of 200 000 entries is worth splitting; a bias is not).
macro_rules! zip_update {
    ($zip:expr, $f:expr) => {{
        let zip = $zip;
        if zip.size() >= 1 << 15 {
            zip.par_for_each($f)
        } else {
            zip.for_each($f)
        }
    }};
}

/// Vanilla SGD: `w -= lr·dw`.
///
/// ```
/// let mut w = ndarray::arr1(&[1.0_f64]).into_dyn();
/// nn::sgd(&mut w, &ndarray::arr1(&[2.0]).into_dyn(), &nn::OptimConfig::default_for(nn::UpdateRule::Sgd));
/// assert!((w[[0]] - 0.98).abs() < 1e-15);
/// ```
pub fn sgd<T: Float>(w: &mut ArrayD<T>, dw: &ArrayD<T>, config: &OptimConfig) {
    let lr = T::cast(config.learning_rate);
    zip_update!(Zip::from(w).and(dw), |w, &g| *w -= lr * g);
}

/// SGD with momentum: `v = μ·v − lr·dw`, `w += v` (velocity starts at zero).
///
/// ```
/// use nn::*;
/// let mut w = ndarray::arr1(&[0.0_f64]).into_dyn();
/// let mut s = ParamState::default();
/// let c = OptimConfig { learning_rate: 1.0, ..OptimConfig::default_for(UpdateRule::SgdMomentum) };
/// sgd_momentum(&mut w, &ndarray::arr1(&[1.0]).into_dyn(), &c, &mut s);
/// sgd_momentum(&mut w, &ndarray::arr1(&[1.0]).into_dyn(), &c, &mut s);
/// assert!((w[[0]] + 2.9).abs() < 1e-12); // -1, then -1 + 0.9·(-1) - 1
/// ```
pub fn sgd_momentum<T: Float>(
    w: &mut ArrayD<T>,
    dw: &ArrayD<T>,
    config: &OptimConfig,
    state: &mut ParamState<T>,
) {
    let (lr, mu) = (T::cast(config.learning_rate), T::cast(config.momentum));
    let v = zeros_like(&mut state.velocity, w);
    zip_update!(Zip::from(w).and(dw).and(v), |w, &g, v| {
        *v = mu * *v - lr * g;
        *w += *v;
    });
}

/// RMSProp: `cache = ρ·cache + (1 − ρ)·dw²`, `w -= lr·dw / (√cache + ε)`.
///
/// ```
/// use nn::*;
/// let mut w = ndarray::arr1(&[0.0_f64]).into_dyn();
/// let mut s = ParamState::default();
/// rmsprop(&mut w, &ndarray::arr1(&[3.0]).into_dyn(), &OptimConfig::default_for(UpdateRule::RmsProp), &mut s);
/// // cache = 0.01·9 = 0.09; step = 0.01·3/0.3 = 0.1
/// assert!((w[[0]] + 0.1).abs() < 1e-6);
/// ```
pub fn rmsprop<T: Float>(
    w: &mut ArrayD<T>,
    dw: &ArrayD<T>,
    config: &OptimConfig,
    state: &mut ParamState<T>,
) {
    let lr = T::cast(config.learning_rate);
    let rho = T::cast(config.decay_rate);
    let eps = T::cast(config.epsilon);
    let cache = zeros_like(&mut state.cache, w);
    zip_update!(Zip::from(w).and(dw).and(cache), |w, &g, c| {
        *c = rho * *c + (T::one() - rho) * g * g;
        *w -= lr * g / (c.sqrt() + eps);
    });
}

/// Adam with bias correction, the course's formulation:
/// `t += 1; m = β₁m + (1−β₁)dw; v = β₂v + (1−β₂)dw²;`
/// `m̂ = m/(1−β₁ᵗ); v̂ = v/(1−β₂ᵗ); w -= lr·m̂/(√v̂ + ε)`.
///
/// ```
/// use nn::*;
/// let mut w = ndarray::arr1(&[0.0_f64]).into_dyn();
/// let mut s = ParamState::default();
/// adam(&mut w, &ndarray::arr1(&[5.0]).into_dyn(), &OptimConfig::default_for(UpdateRule::Adam), &mut s);
/// // After bias correction the first step is lr·sign(dw), whatever its size.
/// assert!((w[[0]] + 1e-3).abs() < 1e-9);
/// assert_eq!(s.t, 1);
/// ```
pub fn adam<T: Float>(
    w: &mut ArrayD<T>,
    dw: &ArrayD<T>,
    config: &OptimConfig,
    state: &mut ParamState<T>,
) {
    state.t += 1;
    let t = state.t as i32;
    let (b1, b2) = (config.beta1, config.beta2);
    let lr = T::cast(config.learning_rate);
    let eps = T::cast(config.epsilon);
    let c1 = T::cast(1.0 / (1.0 - b1.powi(t)));
    let c2 = T::cast(1.0 / (1.0 - b2.powi(t)));
    let (b1, b2) = (T::cast(b1), T::cast(b2));
    zeros_like(&mut state.m, w);
    zeros_like(&mut state.v, w);
    let (m, v) = (
        state.m.as_mut().expect("set"),
        state.v.as_mut().expect("set"),
    );
    zip_update!(Zip::from(w).and(dw).and(m).and(v), |w, &g, m, v| {
        *m = b1 * *m + (T::one() - b1) * g;
        *v = b2 * *v + (T::one() - b2) * g * g;
        let m_hat = *m * c1;
        let v_hat = *v * c2;
        *w -= lr * m_hat / (v_hat.sqrt() + eps);
    });
}

/// An update rule, its hyper-parameters and the state of every parameter it updates.
#[derive(Debug, Clone, PartialEq)]
pub struct Optimizer<T> {
    /// The rule.
    pub rule: UpdateRule,
    /// Its hyper-parameters (the Solver decays `learning_rate` after every epoch).
    pub config: OptimConfig,
    /// Per-parameter state, under the parameters' names.
    pub state: BTreeMap<String, ParamState<T>>,
}

impl<T: Float> Optimizer<T> {
    /// A fresh optimiser (no state yet).
    ///
    /// ```
    /// use nn::*;
    /// let o = Optimizer::<f32>::new(UpdateRule::Adam, OptimConfig::default_for(UpdateRule::Adam));
    /// assert!(o.state.is_empty());
    /// ```
    pub fn new(rule: UpdateRule, config: OptimConfig) -> Self {
        Optimizer {
            rule,
            config,
            state: BTreeMap::new(),
        }
    }

    /// One update of every parameter that has a gradient in `grads`.
    ///
    /// # Panics
    /// If a gradient's shape differs from its parameter's (a bug in the model).
    ///
    /// ```
    /// use nn::*;
    /// let mut p = nn::Params::from([("b".to_string(), ndarray::arr1(&[0.0_f64]).into_dyn())]);
    /// let g = nn::Params::from([("b".to_string(), ndarray::arr1(&[1.0_f64]).into_dyn())]);
    /// let mut o = Optimizer::new(UpdateRule::SgdMomentum, OptimConfig::default_for(UpdateRule::SgdMomentum));
    /// o.step(&mut p, &g);
    /// assert!(o.state["b"].velocity.is_some());
    /// ```
    pub fn step(&mut self, params: &mut Params<T>, grads: &Params<T>) {
        for (name, w) in params.iter_mut() {
            let Some(dw) = grads.get(name) else { continue };
            assert_eq!(
                w.shape(),
                dw.shape(),
                "gradient of {name} has the wrong shape"
            );
            let state = self.state.entry(name.clone()).or_default();
            match self.rule {
                UpdateRule::Sgd => sgd(w, dw, &self.config),
                UpdateRule::SgdMomentum => sgd_momentum(w, dw, &self.config, state),
                UpdateRule::RmsProp => rmsprop(w, dw, &self.config, state),
                UpdateRule::Adam => adam(w, dw, &self.config, state),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The course's checks from `FullyConnectedNets.ipynb`: N, D = 4, 5 and linspace
    //! inputs; expected values to 8 digits.
    use super::*;
    use backprop::gradcheck::rel_error;
    use ndarray::{Array, array};

    fn lin(a: f64, b: f64) -> ArrayD<f64> {
        Array::linspace(a, b, 20)
            .into_shape_with_order((4, 5))
            .unwrap()
            .into_dyn()
    }

    #[test]
    fn sgd_momentum_course_values() {
        let mut w = lin(-0.4, 0.6);
        let dw = lin(-0.6, 0.4);
        let mut s = ParamState {
            velocity: Some(lin(0.6, 0.9)),
            ..Default::default()
        };
        let c = OptimConfig {
            learning_rate: 1e-3,
            ..OptimConfig::default_for(UpdateRule::SgdMomentum)
        };
        sgd_momentum(&mut w, &dw, &c, &mut s);
        let expected_w = array![
            [0.1406, 0.20738947, 0.27417895, 0.34096842, 0.40775789],
            [0.47454737, 0.54133684, 0.60812632, 0.67491579, 0.74170526],
            [0.80849474, 0.87528421, 0.94207368, 1.00886316, 1.07565263],
            [1.14244211, 1.20923158, 1.27602105, 1.34281053, 1.4096]
        ]
        .into_dyn();
        let expected_v = array![
            [0.5406, 0.55475789, 0.56891579, 0.58307368, 0.59723158],
            [0.61138947, 0.62554737, 0.63970526, 0.65386316, 0.66802105],
            [0.68217895, 0.69633684, 0.71049474, 0.72465263, 0.73881053],
            [0.75296842, 0.76712632, 0.78128421, 0.79544211, 0.8096]
        ]
        .into_dyn();
        assert!(rel_error(&w.view(), &expected_w.view()) < 1e-8);
        assert!(rel_error(&s.velocity.unwrap().view(), &expected_v.view()) < 1e-8);
    }

    #[test]
    fn rmsprop_course_values() {
        let mut w = lin(-0.4, 0.6);
        let dw = lin(-0.6, 0.4);
        let mut s = ParamState {
            cache: Some(lin(0.6, 0.9)),
            ..Default::default()
        };
        let c = OptimConfig {
            learning_rate: 1e-2,
            ..OptimConfig::default_for(UpdateRule::RmsProp)
        };
        rmsprop(&mut w, &dw, &c, &mut s);
        let expected_w = array![
            [
                -0.39223849,
                -0.34037513,
                -0.28849239,
                -0.23659121,
                -0.18467247
            ],
            [-0.132737, -0.08078555, -0.02881884, 0.02316247, 0.07515774],
            [0.12716641, 0.17918792, 0.23122175, 0.28326742, 0.33532447],
            [0.38739248, 0.43947102, 0.49155973, 0.54365823, 0.59576619]
        ]
        .into_dyn();
        let expected_cache = array![
            [0.5976, 0.6126277, 0.6277108, 0.64284931, 0.65804321],
            [0.67329252, 0.68859723, 0.70395734, 0.71937285, 0.73484377],
            [0.75037008, 0.7659518, 0.78158892, 0.79728144, 0.81302936],
            [0.82883269, 0.84469141, 0.86060554, 0.87657507, 0.8926]
        ]
        .into_dyn();
        assert!(rel_error(&w.view(), &expected_w.view()) < 1e-7);
        assert!(rel_error(&s.cache.unwrap().view(), &expected_cache.view()) < 1e-7);
    }

    #[test]
    fn adam_course_values() {
        let mut w = lin(-0.4, 0.6);
        let dw = lin(-0.6, 0.4);
        let mut s = ParamState {
            m: Some(lin(0.6, 0.9)),
            v: Some(lin(0.7, 0.5)),
            t: 5,
            ..Default::default()
        };
        let c = OptimConfig {
            learning_rate: 1e-2,
            ..OptimConfig::default_for(UpdateRule::Adam)
        };
        adam(&mut w, &dw, &c, &mut s);
        let expected_w = array![
            [
                -0.40094747,
                -0.34836187,
                -0.29577703,
                -0.24319299,
                -0.19060977
            ],
            [-0.1380274, -0.08544591, -0.03286534, 0.01971428, 0.0722929],
            [0.1248705, 0.17744702, 0.23002243, 0.28259667, 0.33516969],
            [0.38774145, 0.44031188, 0.49288093, 0.54544852, 0.59801459]
        ]
        .into_dyn();
        let expected_v = array![
            [0.69966, 0.68908382, 0.67851319, 0.66794809, 0.65738853],
            [0.64683452, 0.63628604, 0.6257431, 0.61520571, 0.60467385],
            [0.59414753, 0.58362676, 0.57311152, 0.56260183, 0.55209767],
            [0.54159906, 0.53110598, 0.52061845, 0.51013645, 0.49966]
        ]
        .into_dyn();
        let expected_m = array![
            [0.48, 0.49947368, 0.51894737, 0.53842105, 0.55789474],
            [0.57736842, 0.59684211, 0.61631579, 0.63578947, 0.65526316],
            [0.67473684, 0.69421053, 0.71368421, 0.73315789, 0.75263158],
            [0.77210526, 0.79157895, 0.81105263, 0.83052632, 0.85]
        ]
        .into_dyn();
        assert_eq!(s.t, 6);
        // The expected values are printed to 8 decimals; the notebook itself reports
        // "next_w error: 1.1395691...e-07" for a correct Adam, which is what we get.
        let e = rel_error(&w.view(), &expected_w.view());
        assert!((e - 1.1395691e-7).abs() < 1e-12, "{e}");
        assert!(rel_error(&s.v.unwrap().view(), &expected_v.view()) < 1e-7);
        assert!(rel_error(&s.m.unwrap().view(), &expected_m.view()) < 1e-7);
    }

    #[test]
    fn optimizer_keeps_state_per_parameter() {
        let mut p: Params<f64> = Params::from([
            ("a".to_string(), ArrayD::zeros(vec![2])),
            ("b".to_string(), ArrayD::zeros(vec![3])),
        ]);
        let g: Params<f64> = Params::from([
            ("a".to_string(), ArrayD::ones(vec![2])),
            ("b".to_string(), ArrayD::ones(vec![3]) * 2.0),
        ]);
        let mut o = Optimizer::new(UpdateRule::Adam, OptimConfig::default_for(UpdateRule::Adam));
        o.step(&mut p, &g);
        assert_eq!(o.state["a"].m.as_ref().unwrap().len(), 2);
        assert!((o.state["b"].m.as_ref().unwrap()[[0]] - 0.2).abs() < 1e-15);
        assert_eq!(o.state["a"].t, 1);
    }
}
