//! Bad-input cases as data, and the valid edge values next to them: every
//! consumer loops over these lists, so a new edge is added once.

/// Non-finite values: rejected as logits, targets, probabilities, weights.
pub const NON_FINITE: [f32; 3] = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY];

/// Targets outside `[0, 1]` (or NaN): `TargetOutOfRange`. One ULP outside
/// on either side, far outside, infinities.
pub const BAD_TARGETS: [f32; 10] = [
    f32::NAN,
    -f32::from_bits(1),
    1.0 + f32::EPSILON,
    2.0,
    1e30,
    -0.1,
    1.0001,
    -1.0,
    f32::INFINITY,
    f32::NEG_INFINITY,
];

/// Valid targets at the edges: `-0.0`, the smallest subnormal, 0 and 1.
pub const EDGE_TARGETS: [f32; 4] = [-0.0, f32::from_bits(1), 0.0, 1.0];

/// Probability inputs outside `[0, 1]` (or NaN): rejected (as
/// `NonFiniteInput` or `ProbabilityOutOfRange`, the input's error).
pub const BAD_PROBS: [f32; 7] = [
    f32::NAN,
    1.5,
    1.0 + f32::EPSILON,
    -f32::from_bits(1),
    -0.1,
    f32::INFINITY,
    f32::NEG_INFINITY,
];

/// Valid probabilities at the edges, inside and outside the clamp.
pub const EDGE_PROBS: [f32; 7] = [-0.0, 0.0, f32::from_bits(1), 1e-7, 0.5, 1.0 - 1e-7, 1.0];

/// Element or class weights that are rejected (`InvalidWeight`): negative
/// (on both sides of the validation's fast bit compare), NaN, infinite.
pub const BAD_WEIGHTS: [f32; 7] = [
    -1.0,
    f32::NAN,
    f32::INFINITY,
    f32::NEG_INFINITY,
    -f32::MIN_POSITIVE,
    -f32::from_bits(1),
    -f32::MAX,
];

/// Valid weights at the edges: `-0.0`, 0, the smallest subnormal, huge.
pub const EDGE_WEIGHTS: [f32; 5] = [-0.0, 0.0, f32::from_bits(1), 1e30, f32::MAX];

/// Largest γ the focal losses accept (the crate's `MAX_GAMMA`).
pub const MAX_GAMMA: f32 = 1000.0;

/// Invalid γ (`InvalidParameter { name: "gamma" }`): negative, not finite,
/// or above [`MAX_GAMMA`].
pub const BAD_GAMMAS: [f32; 8] = [
    -0.1,
    -0.5,
    -1.0,
    f32::NAN,
    f32::INFINITY,
    1000.0001,
    1e9,
    f32::MAX,
];

/// Invalid α (`"alpha"`).
pub const BAD_ALPHAS: [f32; 4] = [-0.01, 1.01, 1.5, f32::NAN];

/// Invalid label smoothing ε (`"smoothing"`).
/// Subnormal ε are refused: `ε/2` would round on the subnormal grid, and
/// the smoothed term `(ε/2)·CE` with it.
pub const BAD_SMOOTHING: [f32; 6] = [-0.1, 1.1, f32::NAN, f32::INFINITY, 1e-40, -1e-45];

/// Invalid `pos_weight` (`"pos_weight"`).
pub const BAD_POS_WEIGHTS: [f32; 4] = [-1.0, f32::NAN, f32::INFINITY, -f32::from_bits(1)];

/// Invalid `MeanOver` normalisers (`"normalizer"`).
pub const BAD_NORMALIZERS: [f32; 5] = [0.0, -0.0, -1.0, f32::NAN, f32::INFINITY];

/// Invalid class-balanced β (`"beta"`).
pub const BAD_BETAS: [f32; 5] = [-0.1, 1.0, 1.5, f32::NAN, f32::INFINITY];

/// Length errors: how far a buffer is off its expected length.
pub const LENGTH_DELTAS: [isize; 4] = [-3, -1, 1, 2];

/// Whether a value is a valid target (or probability input): in `[0, 1]`.
pub fn valid_unit(x: f32) -> bool {
    (0.0..=1.0).contains(&x)
}

/// Whether a value is a valid weight: finite and `≥ 0` (`-0.0` included).
pub fn valid_weight(w: f32) -> bool {
    w.is_finite() && w >= 0.0
}

/// Whether a γ is valid: in `[0, MAX_GAMMA]`.
pub fn valid_gamma(g: f32) -> bool {
    (0.0..=MAX_GAMMA).contains(&g)
}

/// Whether a label-smoothing ε is valid: 0, or in `[2^-126, 1]`.
pub fn valid_smoothing(e: f32) -> bool {
    e == 0.0 || (f32::MIN_POSITIVE..=1.0).contains(&e)
}

/// Whether an α is valid: in `[0, 1]`.
pub fn valid_alpha(a: f32) -> bool {
    valid_unit(a)
}

/// Whether a `MeanOver` normaliser is valid: finite, `> 0`.
pub fn valid_normalizer(d: f32) -> bool {
    d.is_finite() && d > 0.0
}
