//! The one table of asserted error bounds, [`BOUNDS`].
//!
//! Every bound is `base + per_gamma · γ` in units of `u = 2^-24`, in the
//! measure its [`Measure`] names. The tests, the fuzz targets and the
//! on-target selftest assert with these constants; `tests/bounds.rs` checks
//! the README's and the crate docs' accuracy tables against this table.
//! Rows with `doc: false` are the slack a batch adds on top of a kernel's
//! bound (weights, reduction scales, the reduced total); they are not in the
//! docs tables.

use crate::measure::U;

/// How an error is measured against a [`Bound`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Measure {
    /// `|Δ| / (u · max(|ref|, floor))` ([`crate::rel_err`]).
    Rel,
    /// `|Δ| / (u · K)` with `K = Σ_c w_c y'_c` the row's target mass
    /// ([`crate::measure::abs_err`]); softmax gradients.
    AbsK,
    /// ULPs of the f32 nearest to the reference ([`crate::ulps`]).
    Ulp,
}

/// One asserted bound.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bound {
    /// The routine, as the docs name it.
    pub routine: &'static str,
    /// What is bounded.
    pub what: &'static str,
    /// The bound at γ = 0, in units of u (ULPs for [`Measure::Ulp`]).
    pub base: f64,
    /// Growth per unit of γ, in units of u.
    pub per_gamma: f64,
    /// The measure.
    pub measure: Measure,
    /// The absolute floor, as the docs write it ("" when none).
    pub floor: &'static str,
    /// Whether the docs' accuracy tables state this bound.
    pub doc: bool,
}

impl Bound {
    /// The bound at `gamma`.
    pub fn at(&self, gamma: f64) -> f64 {
        self.base + self.per_gamma * gamma
    }
    /// The bound at γ = 0.
    pub fn get(&self) -> f64 {
        self.base
    }
}

const fn rel(
    routine: &'static str,
    what: &'static str,
    base: f64,
    per_gamma: f64,
    floor: &'static str,
) -> Bound {
    Bound {
        routine,
        what,
        base,
        per_gamma,
        measure: Measure::Rel,
        floor,
        doc: true,
    }
}

/// A softmax gradient bound, absolute in units of `u · K`.
const fn abs_k(routine: &'static str, base: f64, per_gamma: f64) -> Bound {
    Bound {
        routine,
        what: "gradient",
        base,
        per_gamma,
        measure: Measure::AbsK,
        floor: "",
        doc: true,
    }
}

/// The modulating factor `(1 - p_t)^γ` multiplies the relative error of
/// `1 - p_t` by γ: binary focal bounds grow by 3u per unit of γ.
pub const GAMMA_U: f64 = 3.0;

/// Sigmoid CE loss: 8u relative, floor `2^-126 max(1, w⁺)`.
pub const SIGMOID_CE_LOSS: Bound = rel("sigmoid CE", "loss", 8.0, 0.0, "2^-126 max(1, w⁺)");
/// Sigmoid CE gradient: 16u relative for hard labels (floor
/// `2^-126 max(1, w⁺)`), of `max(|g|, max(1, w⁺))` for soft targets.
pub const SIGMOID_CE_GRAD: Bound = rel("sigmoid CE", "gradient", 16.0, 0.0, "max(1, w⁺)");
/// Focal loss, hard labels: (8 + 3γ)u relative, floor `2^-126`.
pub const FOCAL_LOSS_HARD: Bound = rel("focal", "loss, hard labels", 8.0, GAMMA_U, "2^-126");
/// Focal loss, soft or smoothed targets: (16 + 3γ)u relative.
pub const FOCAL_LOSS_SOFT: Bound = rel("focal", "loss, soft targets", 16.0, GAMMA_U, "2^-126");
/// Focal gradient, hard labels: (16 + 3γ)u relative.
pub const FOCAL_GRAD_HARD: Bound = rel("focal", "gradient, hard labels", 16.0, GAMMA_U, "2^-126");
/// Focal gradient, soft targets: (16 + 3γ)u of `max(|g|, α_t)`.
pub const FOCAL_GRAD_SOFT: Bound = rel("focal", "gradient, soft targets", 16.0, GAMMA_U, "α_t");
/// Probability inputs, loss: (16 + 3γ)u relative.
pub const PROB_LOSS: Bound = rel("probability inputs", "loss", 16.0, GAMMA_U, "2^-126");
/// Probability inputs, gradient: (16 + 3γ)u of `max(|g|, 1)` (∂/∂p scales
/// like 1/PROB_EPS at the clamp).
pub const PROB_GRAD: Bound = rel("probability inputs", "gradient", 16.0, GAMMA_U, "1");
/// Asymmetric loss, loss: (16 + 3 max γ)u relative; with a clip, of
/// `max(|ℓ|, p |∂ℓ/∂m|)` ([`crate::binary::element_scale`]).
pub const ASL_LOSS: Bound = rel("asymmetric", "loss", 16.0, GAMMA_U, "p ∂ℓ/∂m");
/// Asymmetric loss, gradient: (16 + 3 max γ)u relative; with a clip, of
/// `max(|g|, p |∂g/∂m|)`, soft targets also `u^{γ_y}`.
pub const ASL_GRAD: Bound = rel("asymmetric", "gradient", 16.0, GAMMA_U, "p ∂g/∂m; u^γ_y");
/// Poly-1, loss: (24 + 3γ)u of `|FL| + |ε| m^{γ+1}`.
pub const POLY1_LOSS: Bound = rel("poly-1", "loss", 24.0, GAMMA_U, "the terms' magnitudes");
/// Poly-1, gradient: (24 + 3γ)u of the two terms' magnitudes (soft
/// targets: and of the focal floor `α_t`).
pub const POLY1_GRAD: Bound = rel("poly-1", "gradient", 24.0, GAMMA_U, "the terms' magnitudes");
/// FL*, loss: 24u relative (soft targets and probabilities: of `|z g|/4`).
pub const FOCAL_STAR_LOSS: Bound = rel("FL*", "loss", 24.0, 0.0, "z g/4");
/// FL*, gradient: 24u relative (soft targets and probabilities: of
/// `|g|(1 + γ|x_t|)/4`).
pub const FOCAL_STAR_GRAD: Bound = rel("FL*", "gradient", 24.0, 0.0, "g(1+γ x_t)/4");
/// Quality focal loss, loss / gradient: (16 + 3β)u relative; soft targets
/// of the sensitivity to the rounding of `p - y`.
pub const QFL_LOSS: Bound = rel("QFL", "loss", 16.0, GAMMA_U, "s ∂ℓ/∂y");
/// Quality focal loss, gradient.
pub const QFL_GRAD: Bound = rel("QFL", "gradient", 16.0, GAMMA_U, "s ∂g/∂y");
/// Varifocal loss, loss: (16 + 3γ)u relative.
pub const VFL_LOSS: Bound = rel("varifocal", "loss", 16.0, GAMMA_U, "2^-126");
/// Varifocal loss, gradient: (16 + 3γ)u of `max(|g|, y)` for positives.
pub const VFL_GRAD: Bound = rel("varifocal", "gradient", 16.0, GAMMA_U, "y");
/// The mean of 2^20 losses, the reduction's own error: 2e-6 relative.
pub const MEAN_2_20: Bound = rel("reduction", "mean of 2^20 losses", 2e-6 / U, 0.0, "");
/// Softmax CE loss ≥ [`ORDINARY_LOSS`]: 16u relative.
pub const SOFTMAX_CE_LOSS_ORDINARY: Bound = rel("softmax CE", "loss ≥ 1e-3", 16.0, 0.0, "");
/// Softmax CE loss, any: 96u relative, floor [`SOFTMAX_LOSS_FLOOR`] absolute.
pub const SOFTMAX_CE_LOSS: Bound = rel("softmax CE", "any loss", 96.0, 0.0, "1e-37 abs.");
/// Softmax CE gradient: 16u·K absolute.
pub const SOFTMAX_CE_GRAD: Bound = abs_k("softmax CE", 16.0, 0.0);
/// Softmax focal loss ≥ [`ORDINARY_LOSS`]: 32u relative.
pub const SOFTMAX_FOCAL_LOSS_ORDINARY: Bound = rel("softmax focal", "loss ≥ 1e-3", 32.0, 0.0, "");
/// Softmax focal loss, any: 256u relative, floor [`SOFTMAX_LOSS_FLOOR`].
pub const SOFTMAX_FOCAL_LOSS: Bound = rel("softmax focal", "any loss", 256.0, 0.0, "1e-37 abs.");
/// Softmax focal gradient: 32u(1+γ)K absolute.
pub const SOFTMAX_FOCAL_GRAD: Bound = abs_k("softmax focal", 32.0, 32.0);
/// Softmax Poly-1 loss ≥ [`ORDINARY_LOSS`]: 24u relative to `CE + |ε| U`
/// (the two terms' magnitudes; with `ε < 0` they cancel).
pub const SOFTMAX_POLY1_LOSS_ORDINARY: Bound = rel(
    "softmax poly-1",
    "loss ≥ 1e-3",
    24.0,
    0.0,
    "the terms' magnitudes",
);
/// Softmax Poly-1 loss, any: 96u relative to the terms' magnitudes, floor
/// [`SOFTMAX_LOSS_FLOOR`].
pub const SOFTMAX_POLY1_LOSS: Bound = rel("softmax poly-1", "any loss", 96.0, 0.0, "1e-37 abs.");
/// Softmax Poly-1 gradient: `24u(1 + |ε|)K` absolute (`per_gamma` counts
/// `|ε|`).
pub const SOFTMAX_POLY1_GRAD: Bound = abs_k("softmax poly-1", 24.0, 24.0);
/// Logit-adjusted shifted logits `z + b`: rounded once, 1u relative (a sum
/// in the subnormal range is exact).
pub const SHIFT_LOGIT_ADJUSTED: Bound = rel("logit-adjusted", "shifted logits z + b", 1.0, 0.0, "");
/// LDAM's shifted logits `s (z - Δ t)`: two roundings, 2u relative, floor
/// `2^-126` (a product in the subnormal range rounds to a multiple of
/// `2^-149`).
pub const SHIFT_LDAM: Bound = rel("LDAM", "shifted logits s (z - Δ t)", 2.0, 0.0, "2^-126");
/// LDAM's margins: `2u m` absolute (`m` the largest margin; `Rel` of `m`).
pub const LDAM_MARGINS: Bound = rel("LDAM", "margins, of the largest", 2.0, 0.0, "");
/// Seesaw's shifted logits: `2u` times the magnitude
/// `|z̃_j| + p (|ln n_j| + |ln n_y| + 1) + q (|ln C_yj| / q + 10 + ln C)`
/// (`Rel` of that magnitude; `per_gamma` unused).
pub const SHIFT_SEESAW: Bound = rel(
    "seesaw",
    "shifted logits, of the terms' magnitudes",
    2.0,
    0.0,
    "the terms' magnitudes",
);
/// The DFL integral decoder over `n` bins: `(n - 1)(66 + n/2)u` absolute
/// (`per_gamma` counts `n`, `base` and `per_gamma` times `n - 1`).
pub const DFL_INTEGRAL: Bound = Bound {
    routine: "DFL integral",
    what: "decoded bin, absolute, of n - 1",
    base: 66.0,
    per_gamma: 0.5,
    measure: Measure::Rel,
    floor: "",
    doc: false,
};
/// Class-balanced weights: 1 ULP.
pub const CLASS_BALANCED: Bound = Bound {
    routine: "class-balanced weights",
    what: "weights",
    base: 1.0,
    per_gamma: 0.0,
    measure: Measure::Ulp,
    floor: "",
    doc: true,
};
/// A batch's weighted per-element loss `w ℓ`: the kernel's bound plus 2u.
pub const BATCH_WEIGHTED_LOSS: Bound = Bound {
    routine: "batch",
    what: "weighted element loss, slack over the kernel's bound",
    base: 2.0,
    per_gamma: 0.0,
    measure: Measure::Rel,
    floor: "2^-126 w",
    doc: false,
};
/// A batch's weighted, scaled per-element gradient: the kernel's bound plus 4u.
pub const BATCH_SCALED_GRAD: Bound = Bound {
    routine: "batch",
    what: "weighted and scaled element gradient, slack over the kernel's bound",
    base: 4.0,
    per_gamma: 0.0,
    measure: Measure::Rel,
    floor: "2^-126 w",
    doc: false,
};
/// A quantized table's reduced loss against the f64 sum of its entries
/// times their counts over the normaliser: the sum is exact and rounded
/// once (1u), then scaled (the factor's rounding and the product's: 2u);
/// 4u asserted.
pub const QUANT_TOTAL: Bound = Bound {
    routine: "quantized table",
    what: "reduced loss, of the f64 sum of its entries",
    base: 4.0,
    per_gamma: 0.0,
    measure: Measure::Rel,
    floor: "2^-126",
    doc: false,
};
/// A max-abs re-quantized value: within `0.5 + base·u·Q_MAX` quanta of the
/// exact `x / scale`. The integers are exactly rounded; the returned scale
/// is `m / Q_MAX` rounded once (1u), and in a batch call also times the
/// normaliser's factor (its own rounding and the product's: 3u). `base` is
/// the batch call's.
pub const QUANT_GRAD: Bound = Bound {
    routine: "quantized gradient",
    what: "quanta beyond one half, in units of u·Q_MAX",
    base: 3.0,
    per_gamma: 0.0,
    measure: Measure::Rel,
    floor: "",
    doc: false,
};
/// [`QUANT_GRAD`] of the standalone re-quantization (`quantize_max_abs`).
pub const QUANTIZE_MAX_ABS: Bound = Bound {
    base: 1.0,
    routine: "quantize_max_abs",
    ..QUANT_GRAD
};
/// A binary batch's returned (reduced) loss: 30u, plus [`MEAN_2_20`] of
/// `Σ|ℓ| / |Σ ℓ|` for the sum.
pub const BATCH_TOTAL: Bound = Bound {
    routine: "batch",
    what: "reduced loss (plus the reduction's 2e-6 of Σ|ℓ|)",
    base: 30.0,
    per_gamma: 0.0,
    measure: Measure::Rel,
    floor: "2^-126",
    doc: false,
};
/// A softmax batch's mean loss: the row bound plus 32u.
pub const SOFTMAX_BATCH_MEAN: Bound = Bound {
    routine: "softmax batch",
    what: "mean loss, slack over the row bound",
    base: 32.0,
    per_gamma: 0.0,
    measure: Measure::Rel,
    floor: "2^-126",
    doc: false,
};

/// Softmax losses at or above this are "ordinary" (the training regime) and
/// get the tighter bound.
pub const ORDINARY_LOSS: f64 = 1e-3;
/// The absolute floor under the softmax loss bounds: an error up to this is
/// accepted whatever the relative error.
pub const SOFTMAX_LOSS_FLOOR: f64 = 1e-37;

/// Steps of `2^-149` a softmax gradient may carry, times the reduction's
/// scale, where a weighted term is below f32's normal range (a subnormal
/// class weight): the product rounds on the subnormal grid before the scale.
pub const SOFTMAX_GRID_STEPS: f64 = 4.0;

/// The absolute floor under a softmax row's loss with class weights whose
/// largest is `w_max`, for a row of target mass `k` (`Σ_c w_c y'_c`) whose
/// loss without class weights is `plain`: [`SOFTMAX_LOSS_FLOOR`]; `k ·
/// 2^-147` (a class term below f32's normal range, `e^d` for `d < -87`,
/// keeps its subnormal rounding, which its weight then multiplies); and
/// with `w_max ≥ 2^64` also `2^-146 · w_max · max(1, plain)`. Weights that
/// large are scaled by a power of two below `1/w_max`, so a weighted term of
/// the scaled row that lands on f32's subnormal grid (a small weight next to
/// a huge one, or an easy row's loss below `2^-126`) keeps a few steps of
/// `2^-149` there, and a weight more than `2^149` below `w_max` vanishes;
/// unscaled, that is at most this much.
pub fn softmax_loss_floor(w_max: f64, plain: f64, k: f64) -> f64 {
    // 2^64, 2^-146 and 2^-147, as bit patterns (no_std: no `powi`).
    let grid = k * f64::from_bits(0x36c0_0000_0000_0000);
    let base = if SOFTMAX_LOSS_FLOOR > grid {
        SOFTMAX_LOSS_FLOOR
    } else {
        grid
    };
    if w_max >= f64::from_bits(0x43f0_0000_0000_0000) {
        let p = if plain > 1.0 { plain } else { 1.0 };
        base.max(w_max * f64::from_bits(0x36d0_0000_0000_0000) * p)
    } else {
        base
    }
}

/// The relative floor of soft-target gradients (times `α_t` or `max(1, w⁺)`),
/// where `p - y` cancels, and of probability-input gradients.
pub const GRAD_FLOOR: f64 = 1.0;

/// `PositivesEma`: relative error added per update against the f64
/// recurrence (`t` updates: at most `t` times this), in units of u.
pub const EMA_PER_UPDATE: f64 = 3.0;

/// Every bound, in the order of the docs' tables, then the batch slacks.
pub const BOUNDS: &[Bound] = &[
    SIGMOID_CE_LOSS,
    SIGMOID_CE_GRAD,
    FOCAL_LOSS_HARD,
    FOCAL_LOSS_SOFT,
    FOCAL_GRAD_HARD,
    FOCAL_GRAD_SOFT,
    PROB_LOSS,
    PROB_GRAD,
    ASL_LOSS,
    ASL_GRAD,
    POLY1_LOSS,
    POLY1_GRAD,
    FOCAL_STAR_LOSS,
    FOCAL_STAR_GRAD,
    QFL_LOSS,
    QFL_GRAD,
    VFL_LOSS,
    VFL_GRAD,
    MEAN_2_20,
    SOFTMAX_CE_LOSS_ORDINARY,
    SOFTMAX_CE_LOSS,
    SOFTMAX_CE_GRAD,
    SOFTMAX_FOCAL_LOSS_ORDINARY,
    SOFTMAX_FOCAL_LOSS,
    SOFTMAX_FOCAL_GRAD,
    SOFTMAX_POLY1_LOSS_ORDINARY,
    SOFTMAX_POLY1_LOSS,
    SOFTMAX_POLY1_GRAD,
    CLASS_BALANCED,
    DFL_INTEGRAL,
    SHIFT_LOGIT_ADJUSTED,
    SHIFT_LDAM,
    LDAM_MARGINS,
    SHIFT_SEESAW,
    BATCH_WEIGHTED_LOSS,
    BATCH_SCALED_GRAD,
    BATCH_TOTAL,
    SOFTMAX_BATCH_MEAN,
    QUANT_TOTAL,
    QUANT_GRAD,
    QUANTIZE_MAX_ABS,
];

/// The binary per-element bounds `(loss, gradient)` for a loss with `gamma`
/// (0 for cross-entropy), by target kind.
pub fn binary_bounds(focal: bool, hard: bool, gamma: f64) -> (f64, f64) {
    if !focal {
        return (SIGMOID_CE_LOSS.get(), SIGMOID_CE_GRAD.get());
    }
    if hard {
        (FOCAL_LOSS_HARD.at(gamma), FOCAL_GRAD_HARD.at(gamma))
    } else {
        (FOCAL_LOSS_SOFT.at(gamma), FOCAL_GRAD_SOFT.at(gamma))
    }
}

/// The bounds and floors that apply to one binary element.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Element {
    /// Loss bound (units of u, relative).
    pub loss: f64,
    /// Gradient bound (units of u, relative).
    pub grad: f64,
    /// Loss floor (absolute).
    pub loss_floor: f64,
    /// Gradient floor (absolute).
    pub grad_floor: f64,
}

/// The bounds and floors of one binary element, as the tests apply them:
/// `prob` for probability inputs, `hard` when the kernel is the hard-label
/// one (targets 0/1, no smoothing), `y` the unsmoothed target.
pub fn binary_element(
    loss: &crate::binary::Loss,
    prob: bool,
    hard: bool,
    x: f64,
    y: f64,
) -> Element {
    use crate::measure::LOSS_FLOOR;
    let e = binary_element_floors(loss, prob, hard, y);
    let (lf, gf) = crate::binary::element_scale(loss, prob, x, y);
    let e = Element {
        loss_floor: e.loss_floor.max(lf),
        grad_floor: e.grad_floor.max(gf),
        ..e
    };
    // No floor below 2^-126: results below f32's normal range round on the
    // subnormal grid (an α_t or a weight below 1 does not shrink that).
    Element {
        loss_floor: e.loss_floor.max(LOSS_FLOOR),
        grad_floor: e.grad_floor.max(LOSS_FLOOR),
        ..e
    }
}

fn binary_element_floors(loss: &crate::binary::Loss, prob: bool, hard: bool, y: f64) -> Element {
    use crate::binary::Loss;
    use crate::measure::LOSS_FLOOR;
    match *loss {
        Loss::Focal { gamma, alpha, eps } => {
            let hard = hard && eps == 0.0;
            if prob {
                Element {
                    loss: PROB_LOSS.at(gamma),
                    grad: PROB_GRAD.at(gamma),
                    loss_floor: LOSS_FLOOR,
                    grad_floor: GRAD_FLOOR,
                }
            } else if hard {
                Element {
                    loss: FOCAL_LOSS_HARD.at(gamma),
                    grad: FOCAL_GRAD_HARD.at(gamma),
                    loss_floor: LOSS_FLOOR,
                    grad_floor: LOSS_FLOOR,
                }
            } else {
                // Smoothed targets: floor 1; soft targets: α_t (where p - y cancels).
                let at = crate::binary::alpha_t(alpha, y);
                Element {
                    loss: FOCAL_LOSS_SOFT.at(gamma),
                    grad: FOCAL_GRAD_SOFT.at(gamma),
                    loss_floor: LOSS_FLOOR,
                    grad_floor: if eps > 0.0 {
                        GRAD_FLOOR
                    } else {
                        GRAD_FLOOR * at
                    },
                }
            }
        }
        Loss::FocalDetached { gamma, alpha, eps } => {
            binary_element_floors(&Loss::Focal { gamma, alpha, eps }, prob, hard, y)
        }
        Loss::Asymmetric { .. } => {
            let g = loss.gamma();
            let (lb, gb) = (ASL_LOSS.at(g), ASL_GRAD.at(g));
            Element {
                loss: lb,
                grad: gb,
                loss_floor: LOSS_FLOOR,
                grad_floor: if prob { GRAD_FLOOR } else { LOSS_FLOOR },
            }
        }
        Loss::Poly1 {
            gamma,
            alpha,
            eps,
            epsilon,
        } => {
            let f = binary_element_floors(&Loss::Focal { gamma, alpha, eps }, prob, hard, y);
            // The poly term's factor ε(γ + 1) multiplies a `1 - p_t` or a
            // `p(1 - p)` that may be subnormal: the floor grows with it.
            let k = (epsilon.abs() * (gamma + 1.0)).max(1.0);
            Element {
                loss: POLY1_LOSS.at(gamma),
                grad: POLY1_GRAD.at(gamma),
                loss_floor: f.loss_floor.max(LOSS_FLOOR * k),
                grad_floor: f.grad_floor.max(LOSS_FLOOR * k),
            }
        }
        Loss::Qfl { .. } => Element {
            loss: QFL_LOSS.at(loss.gamma()),
            grad: QFL_GRAD.at(loss.gamma()),
            loss_floor: LOSS_FLOOR,
            grad_floor: if prob { GRAD_FLOOR } else { LOSS_FLOOR },
        },
        Loss::Varifocal { .. } => Element {
            loss: VFL_LOSS.at(loss.gamma()),
            grad: VFL_GRAD.at(loss.gamma()),
            loss_floor: LOSS_FLOOR,
            grad_floor: if prob { GRAD_FLOOR } else { LOSS_FLOOR },
        },
        Loss::FocalStar { .. } => Element {
            loss: FOCAL_STAR_LOSS.get(),
            grad: FOCAL_STAR_GRAD.get(),
            loss_floor: LOSS_FLOOR,
            grad_floor: if prob { GRAD_FLOOR } else { LOSS_FLOOR },
        },
        Loss::SigmoidCe { pos_weight, eps } => {
            let m = if pos_weight > 1.0 { pos_weight } else { 1.0 };
            let hard = hard && eps == 0.0;
            if prob {
                Element {
                    loss: PROB_LOSS.get(),
                    grad: PROB_GRAD.get(),
                    loss_floor: LOSS_FLOOR * m,
                    grad_floor: GRAD_FLOOR * m,
                }
            } else {
                Element {
                    loss: SIGMOID_CE_LOSS.get(),
                    grad: SIGMOID_CE_GRAD.get(),
                    loss_floor: LOSS_FLOOR * m,
                    grad_floor: if hard { LOSS_FLOOR } else { GRAD_FLOOR } * m,
                }
            }
        }
    }
}
