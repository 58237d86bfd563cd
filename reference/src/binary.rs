//! Binary losses in f64: sigmoid cross-entropy with `pos_weight` and label
//! smoothing, sigmoid focal loss (any γ ≥ 0, α on or off, smoothing, soft
//! targets), and their probability-input forms at the clamped point.
//!
//! Each function returns `(ℓ, ∂ℓ/∂input)`. Formulas (torchvision / PyTorch):
//! `y_s = y(1 - ε) + ε/2`, `CE = y_s softplus(-z) + (1 - y_s) softplus(z)`,
//! `m = 1 - p_t = p(1 - y_s) + (1 - p) y_s`, `FL = α_t m^γ CE` with
//! `α_t = α y + (1 - α)(1 - y)` taken from the unsmoothed `y`.

use crate::PROB_EPS;
use libm::{exp, fabs, log, log1p, pow};

/// `softplus(z) = ln(1 + e^z)`, without overflow.
pub fn softplus(z: f64) -> f64 {
    let m = if z > 0.0 { z } else { 0.0 };
    m + log1p(exp(-fabs(z)))
}

/// `σ(z)`, without overflow.
pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + exp(-z))
    } else {
        let e = exp(z);
        e / (1.0 + e)
    }
}

/// `α_t = α y + (1 - α)(1 - y)`; 1 with α off.
pub fn alpha_t(alpha: Option<f64>, y: f64) -> f64 {
    match alpha {
        None => 1.0,
        Some(a) => a * y + (1.0 - a) * (1.0 - y),
    }
}

/// The smoothed binary target `y_s = y(1 - ε) + ε/2` and `1 - y_s`, each
/// formed as a sum of non-negative terms (`1 - y_s = (1 - y)(1 - ε) + ε/2`):
/// `1 - y_s` is not lost to rounding when ε is tiny (ε = 6e-20 and y = 1
/// give `1 - y_s = 3e-20`, which `1 - y_s` formed by subtraction in f64
/// rounds to 0).
pub fn smooth(y: f64, eps: f64) -> (f64, f64) {
    (
        y * (1.0 - eps) + eps / 2.0,
        (1.0 - y) * (1.0 - eps) + eps / 2.0,
    )
}

/// Focal loss from a logit and its derivative
/// `∂ℓ/∂z = α_t [γ m^(γ-1) m' CE + m^γ (p - y_s)]`, `m' = p q (1 - 2 y_s)`.
/// γ = 0 is cross-entropy.
pub fn focal(z: f64, y: f64, gamma: f64, alpha: Option<f64>, eps: f64) -> (f64, f64) {
    let (ys, oms) = smooth(y, eps);
    let p = sigmoid(z);
    let q = sigmoid(-z);
    let ce = ys * softplus(-z) + oms * softplus(z);
    // ln m without underflow: for hard targets m = σ(∓z).
    let ln_m = if oms == 0.0 {
        -softplus(z)
    } else if ys == 0.0 {
        -softplus(-z)
    } else {
        log(p * oms + q * ys)
    };
    let at = alpha_t(alpha, y);
    let modf = if gamma == 0.0 { 1.0 } else { exp(gamma * ln_m) };
    let loss = at * modf * ce;
    // m^(γ-1) p q = m^γ (p q / m), with ln p = -softplus(-z) and
    // ln q = -softplus(z): no 0 · ∞ for γ < 1 and no overflow of m^(γ-1).
    let dmod = if gamma == 0.0 {
        0.0
    } else {
        gamma * exp(gamma * ln_m - softplus(-z) - softplus(z) - ln_m) * (oms - ys)
    };
    let dce = oms * p - ys * q;
    (loss, at * (dmod * ce + modf * dce))
}

/// PyTorch's `BCEWithLogits` with `pos_weight` `w⁺` and smoothing:
/// `ℓ = w⁺ y_s softplus(-z) + (1 - y_s) softplus(z)`,
/// `∂ℓ/∂z = (1 - y_s) σ(z) - w⁺ y_s σ(-z)`.
pub fn sigmoid_ce(z: f64, y: f64, pos_weight: f64, eps: f64) -> (f64, f64) {
    let (ys, oms) = smooth(y, eps);
    (
        pos_weight * ys * softplus(-z) + oms * softplus(z),
        oms * sigmoid(z) - pos_weight * ys * sigmoid(-z),
    )
}

/// `p` clamped to the f32 bounds `[PROB_EPS, 1 - PROB_EPS]`.
pub fn clamp_prob(p: f64) -> f64 {
    let lo = PROB_EPS as f64;
    let hi = (1.0f32 - PROB_EPS) as f64;
    if p < lo {
        lo
    } else if p > hi {
        hi
    } else {
        p
    }
}

/// Probability-input focal loss at the clamped point and `∂ℓ/∂p`:
/// `CE = -(y_s ln p + (1 - y_s) ln(1 - p))`, `m = p(1 - y_s) + (1 - p) y_s`.
pub fn focal_prob(p: f64, y: f64, gamma: f64, alpha: Option<f64>, eps: f64) -> (f64, f64) {
    let (ys, oms) = smooth(y, eps);
    let p = clamp_prob(p);
    let q = 1.0 - p;
    let ce = -(ys * log(p) + oms * log(q));
    let m = p * oms + q * ys;
    let at = alpha_t(alpha, y);
    let dce = (p - ys) / (p * q);
    let mg = pow(m, gamma);
    let dm = if gamma == 0.0 {
        0.0
    } else {
        gamma * pow(m, gamma - 1.0) * (oms - ys)
    };
    (at * mg * ce, at * (dm * ce + mg * dce))
}

/// Probability-input sigmoid cross-entropy with `pos_weight` at the clamped
/// point: `ℓ = -(w⁺ y_s ln p + (1 - y_s) ln(1 - p))`,
/// `∂ℓ/∂p = (1 - y_s)/(1 - p) - w⁺ y_s / p`.
pub fn sigmoid_ce_prob(p: f64, y: f64, pos_weight: f64, eps: f64) -> (f64, f64) {
    let (ys, oms) = smooth(y, eps);
    let p = clamp_prob(p);
    let q = 1.0 - p;
    (
        -(pos_weight * ys * log(p) + oms * log(q)),
        oms / q - pos_weight * ys / p,
    )
}

/// Focal loss with the modulating factor held constant (PyTorch's
/// `w.detach()`): the loss of [`focal`], gradient `α_t m^γ (p - y_s)`.
pub fn focal_detached(z: f64, y: f64, gamma: f64, alpha: Option<f64>, eps: f64) -> (f64, f64) {
    let (ys, oms) = smooth(y, eps);
    let (loss, _) = focal(z, y, gamma, alpha, eps);
    let ln_m = ln_one_minus_pt(z, ys, oms);
    let modf = if gamma == 0.0 { 1.0 } else { exp(gamma * ln_m) };
    let dce = oms * sigmoid(z) - ys * sigmoid(-z);
    (loss, alpha_t(alpha, y) * modf * dce)
}

/// `ln(1 - p_t) = ln(p (1 - y_s) + (1 - p) y_s)` without underflow for hard
/// targets.
pub fn ln_one_minus_pt(z: f64, ys: f64, oms: f64) -> f64 {
    if oms == 0.0 {
        -softplus(z)
    } else if ys == 0.0 {
        -softplus(-z)
    } else {
        log(sigmoid(z) * oms + sigmoid(-z) * ys)
    }
}

/// timm's asymmetric loss (`AsymmetricLossMultiLabel`) for one element:
/// `p_m = max(p - m, 0)`, `u = y_s q + (1 - y_s) p_m`,
/// `γ_y = γ⁺ y_s + γ⁻ (1 - y_s)`,
/// `ℓ = u^{γ_y} [y_s softplus(-z) + (1 - y_s)(-ln(1 - p_m))]`, and its
/// gradient, full or with `u^{γ_y}` held constant (`detached`).
#[allow(clippy::too_many_arguments)]
pub fn asymmetric(
    z: f64,
    y: f64,
    gamma_pos: f64,
    gamma_neg: f64,
    clip: f64,
    eps: f64,
    detached: bool,
) -> (f64, f64) {
    let (ys, oms) = smooth(y, eps);
    let p = sigmoid(z);
    let q = sigmoid(-z);
    let pq = exp(-softplus(z) - softplus(-z));
    let on = p > clip;
    let pm = if clip > 0.0 {
        if on {
            p - clip
        } else {
            0.0
        }
    } else {
        p
    };
    // -ln(1 - p_m); past 1/2 as -ln(q + m), where p_m may round to 1.
    let ce_n = if clip == 0.0 {
        softplus(z)
    } else if pm > 0.5 {
        -log(q + clip)
    } else {
        -log1p(-pm)
    };
    let one_m = if clip > 0.0 { (q + clip).min(1.0) } else { q };
    let u = ys * q + oms * pm;
    let ce = ys * softplus(-z) + oms * ce_n;
    let g = gamma_pos * ys + gamma_neg * oms;
    // ln u, and ∂u/∂z / u, without underflow for hard labels.
    let (ln_u, du_u) = if oms == 0.0 {
        (-softplus(z), -p)
    } else if ys == 0.0 {
        if clip > 0.0 {
            if on {
                (log(pm), pq / pm)
            } else {
                (f64::NEG_INFINITY, 0.0)
            }
        } else {
            (-softplus(-z), q)
        }
    } else {
        let act = if on { oms } else { 0.0 };
        (log(u), pq * (act - ys) / u)
    };
    let w = if g == 0.0 { 1.0 } else { exp(g * ln_u) };
    // ∂(-ln(1 - p_m))/∂z: p q / (1 - p_m) above the clip (p without one).
    let act = if clip == 0.0 {
        p
    } else if on {
        pq / one_m
    } else {
        0.0
    };
    let dce = oms * act - ys * q;
    let grad = if detached {
        w * dce
    } else {
        w * (dce + g * ce * du_u)
    };
    (w * ce, grad)
}

/// Poly-1 over focal loss: `FL + ε m^{γ+1}` with `m = 1 - p_t`, gradient
/// `∂FL/∂z + ε (γ + 1) m^γ p q (1 - 2 y_s)`.
pub fn poly1(z: f64, y: f64, gamma: f64, alpha: Option<f64>, eps: f64, epsilon: f64) -> (f64, f64) {
    let (ys, oms) = smooth(y, eps);
    let (l, g) = focal(z, y, gamma, alpha, eps);
    let ln_m = ln_one_minus_pt(z, ys, oms);
    let term = epsilon * exp((gamma + 1.0) * ln_m);
    let dterm =
        epsilon * (gamma + 1.0) * exp(gamma * ln_m - softplus(z) - softplus(-z)) * (oms - ys);
    ((l + term).max(0.0), g + dterm)
}

/// The magnitudes of Poly-1's two terms, `(|FL| + |ε| m^{γ+1}, |∂FL/∂z| +
/// |∂ poly/∂z|)`: the scale its bound is relative to.
pub fn poly1_scale(
    z: f64,
    y: f64,
    gamma: f64,
    alpha: Option<f64>,
    eps: f64,
    epsilon: f64,
) -> (f64, f64) {
    let (l, g) = focal(z, y, gamma, alpha, eps);
    let (pl, pg) = poly1(z, y, gamma, None, eps, epsilon);
    let (bl, bg) = focal(z, y, gamma, None, eps);
    (fabs(l) + fabs(pl - bl), fabs(g) + fabs(pg - bg))
}

/// FL\* (fvcore's `sigmoid_focal_loss_star`, with the paper's β):
/// `α_t softplus(-(γ x_t + β))/γ`, `x_t = (2 y_s - 1) z`, gradient
/// `-s α_t σ(-(γ x_t + β))`.
pub fn focal_star(
    z: f64,
    y: f64,
    gamma: f64,
    beta: f64,
    alpha: Option<f64>,
    eps: f64,
) -> (f64, f64) {
    let (ys, oms) = smooth(y, eps);
    let s = ys - oms;
    let t = gamma * s * z + beta;
    let at = alpha_t(alpha, y);
    (at * softplus(-t) / gamma, -s * at * sigmoid(-t))
}

/// Quality focal loss (mmdet's `quality_focal_loss`): `|p - y|^β BCE(z, y)`,
/// gradient `|d|^β d + sign(d) β |d|^{β-1} p q BCE`, `d = p - y`.
pub fn qfl(z: f64, y: f64, beta: f64) -> (f64, f64) {
    let p = sigmoid(z);
    let d = if y == 1.0 { -sigmoid(-z) } else { p - y };
    let ad = fabs(d);
    let ce = y * softplus(-z) + (1.0 - y) * softplus(z);
    let pq = exp(-softplus(z) - softplus(-z));
    // |d|^β without underflow for hard labels: ln|d| = -softplus(±z).
    let ln_ad = if y == 1.0 {
        -softplus(z)
    } else if y == 0.0 {
        -softplus(-z)
    } else {
        log(ad)
    };
    let w = if ad == 0.0 && y != 0.0 && y != 1.0 {
        0.0
    } else {
        exp(beta * ln_ad)
    };
    let sgn = if d >= 0.0 { 1.0 } else { -1.0 };
    let k = if ad == 0.0 && y != 0.0 && y != 1.0 {
        if beta == 1.0 {
            1.0
        } else {
            0.0
        }
    } else {
        exp((beta - 1.0) * ln_ad)
    };
    (w * ce, w * d + sgn * beta * k * pq * ce)
}

/// Varifocal loss (mmdet's `varifocal_loss`): positives (`y > 0`)
/// `w_y BCE(z, y)` with `w_y = y` (IoU-weighted) or 1, gradient
/// `w_y (p - y)`; negatives `α p^γ softplus(z)`, gradient
/// `α p^γ (γ q softplus(z) + p)`.
pub fn varifocal(z: f64, y: f64, alpha: f64, gamma: f64, iou_weighted: bool) -> (f64, f64) {
    let p = sigmoid(z);
    let q = sigmoid(-z);
    if y > 0.0 {
        let w = if iou_weighted { y } else { 1.0 };
        let ce = y * softplus(-z) + (1.0 - y) * softplus(z);
        let d = if y == 1.0 { -q } else { p - y };
        (w * ce, w * d)
    } else {
        let pg = if gamma == 0.0 {
            1.0
        } else {
            exp(-gamma * softplus(-z))
        };
        let w = alpha * pg;
        (w * softplus(z), w * (gamma * q * softplus(z) + p))
    }
}

/// The scale a loss's relative bound is measured against at one element,
/// beyond the value itself: `(loss, gradient)` floors from the rounding of
/// an intermediate that the loss's formula amplifies (0 where none).
///
/// * Asymmetric loss with a clip `m > 0`: `p - m` carries the rounding of
///   `p`, so the floors are `p |∂ℓ/∂m|` and `p |∂g/∂m|` (central differences
///   in `m`); soft-target gradients also `u^{γ_y}`, where `∂CE/∂z` cancels,
///   and soft targets `|ℓ| γ_y |ln u| / 8` (and so for `g`): the exponent
///   `γ_y = γ⁺ y + γ⁻ (1 - y)` is rounded to f32.
/// * Poly-1: the two terms' magnitudes ([`poly1_scale`]): with `ε < 0` they
///   cancel.
/// * FL\* with soft targets or probability inputs: `x_t` carries a rounding,
///   `|z g| / 4` and `|g| (1 + γ |x_t|) / 4` (so that `16u` of it is `4u` of the
///   sensitivity).
/// * Focal loss, detached: the focal floors (soft targets: `α_t m^γ`).
pub fn element_scale(loss: &Loss, prob: bool, x: f64, y: f64) -> (f64, f64) {
    let z = if prob {
        let p = clamp_prob(x);
        log(p / (1.0 - p))
    } else {
        x
    };
    let p_scale = if prob {
        let p = clamp_prob(x);
        1.0 / (p * (1.0 - p))
    } else {
        1.0
    };
    match *loss {
        Loss::Asymmetric {
            gamma_pos,
            gamma_neg,
            clip,
            eps,
            detached,
        } => {
            let (ys, oms) = smooth(y, eps);
            let mut lf = 0.0;
            let mut gf = 0.0;
            if clip > 0.0 {
                // 4u of m: a step across the kink at p = m counts in full
                // when p is within the rounding of m.
                let h = 4.0 * crate::U * clip;
                let f = |m: f64| asymmetric(z, y, gamma_pos, gamma_neg, m, eps, detached);
                let (a, b) = (f(clip + h), f(clip - h));
                let p = sigmoid(z);
                lf = p * fabs(a.0 - b.0) / (2.0 * h);
                gf = p * fabs(a.1 - b.1) / (2.0 * h) * p_scale;
            }
            if ys != 0.0 && oms != 0.0 {
                let q = sigmoid(-z);
                let pm = if sigmoid(z) > clip {
                    sigmoid(z) - clip
                } else {
                    0.0
                };
                let u = ys * q + oms * pm;
                let g = gamma_pos * ys + gamma_neg * oms;
                gf = gf.max(pow(u, g) * p_scale);
                // The per-element exponent γ_y = γ⁺ y + γ⁻ (1 - y) is
                // rounded to f32: u^γ_y moves by γ_y |ln u| u relative.
                if u > 0.0 {
                    let (l, d) = asymmetric(z, y, gamma_pos, gamma_neg, clip, eps, detached);
                    let k = g * fabs(log(u)) / 8.0;
                    lf = lf.max(fabs(l) * k);
                    gf = gf.max(fabs(d) * k * p_scale);
                }
            }
            (lf, gf)
        }
        Loss::Poly1 {
            gamma,
            alpha,
            eps,
            epsilon,
        } => {
            let (l, g) = poly1_scale(z, y, gamma, alpha, eps, epsilon);
            (l, g * p_scale)
        }
        Loss::FocalStar {
            gamma,
            beta,
            alpha,
            eps,
        } => {
            let (ys, oms) = smooth(y, eps);
            if prob || (ys != 0.0 && ys != 1.0) {
                let (_, g) = focal_star(z, y, gamma, beta, alpha, eps);
                let xt = (ys - oms) * z;
                (
                    fabs(z * g) / 4.0,
                    fabs(g) * (1.0 + gamma * fabs(xt)) / 4.0 * p_scale,
                )
            } else {
                (0.0, 0.0)
            }
        }
        Loss::FocalDetached { gamma, alpha, eps } => {
            let (ys, oms) = smooth(y, eps);
            if ys != 0.0 && oms != 0.0 {
                let m = exp(ln_one_minus_pt(z, ys, oms));
                (0.0, alpha_t(alpha, y) * pow(m, gamma) * p_scale)
            } else {
                (0.0, 0.0)
            }
        }
        Loss::Qfl { beta } => {
            if y == 0.0 || y == 1.0 {
                return (0.0, 0.0);
            }
            // p - y carries the rounding of its operands (scale s): the
            // loss's and the gradient's sensitivity to y, times s.
            let p = sigmoid(z);
            let sc = (p.max(y)).min((1.0 - p).max(1.0 - y));
            let h = 4.0 * crate::U * sc;
            let (a, b) = (qfl(z, y + h, beta), qfl(z, y - h, beta));
            (
                sc * fabs(a.0 - b.0) / (2.0 * h),
                sc * fabs(a.1 - b.1) / (2.0 * h) * p_scale,
            )
        }
        Loss::Varifocal { iou_weighted, .. } => {
            if y > 0.0 && y < 1.0 {
                (0.0, if iou_weighted { y } else { 1.0 } * p_scale)
            } else {
                (0.0, 0.0)
            }
        }
        Loss::Focal { .. } | Loss::SigmoidCe { .. } => (0.0, 0.0),
    }
}

/// A logit-domain loss `f` at a probability input: the loss at the clamped
/// `p`'s logit and `∂ℓ/∂p = (∂ℓ/∂z) / (p (1 - p))`.
pub fn via_prob(p: f64, f: impl Fn(f64) -> (f64, f64)) -> (f64, f64) {
    let p = clamp_prob(p);
    let q = 1.0 - p;
    let (l, g) = f(log(p / q));
    (l, g / (p * q))
}

/// A binary loss configuration, for code that handles both losses alike
/// (fuzz targets, batch references).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Loss {
    /// Sigmoid focal loss.
    Focal {
        /// γ ≥ 0.
        gamma: f64,
        /// α, or None for off.
        alpha: Option<f64>,
        /// Label smoothing ε.
        eps: f64,
    },
    /// Sigmoid cross-entropy.
    SigmoidCe {
        /// `pos_weight` (1 is plain).
        pos_weight: f64,
        /// Label smoothing ε.
        eps: f64,
    },
    /// Focal loss with the modulating factor held constant.
    FocalDetached {
        /// γ ≥ 0.
        gamma: f64,
        /// α, or None for off.
        alpha: Option<f64>,
        /// Label smoothing ε.
        eps: f64,
    },
    /// Asymmetric loss.
    Asymmetric {
        /// γ⁺.
        gamma_pos: f64,
        /// γ⁻.
        gamma_neg: f64,
        /// The clip m.
        clip: f64,
        /// Label smoothing ε.
        eps: f64,
        /// The focusing weight held constant.
        detached: bool,
    },
    /// Poly-1 over focal loss.
    Poly1 {
        /// γ ≥ 0.
        gamma: f64,
        /// α, or None for off.
        alpha: Option<f64>,
        /// Label smoothing ε.
        eps: f64,
        /// The poly coefficient.
        epsilon: f64,
    },
    /// Quality focal loss.
    Qfl {
        /// β ≥ 1.
        beta: f64,
    },
    /// Varifocal loss.
    Varifocal {
        /// The negatives' weight.
        alpha: f64,
        /// γ ≥ 0.
        gamma: f64,
        /// Positives weighted by their target.
        iou_weighted: bool,
    },
    /// FL*.
    FocalStar {
        /// γ > 0.
        gamma: f64,
        /// β.
        beta: f64,
        /// α, or None for off.
        alpha: Option<f64>,
        /// Label smoothing ε.
        eps: f64,
    },
}

impl Loss {
    /// Loss and gradient from a logit.
    pub fn logit(&self, z: f64, y: f64) -> (f64, f64) {
        match *self {
            Loss::Focal { gamma, alpha, eps } => focal(z, y, gamma, alpha, eps),
            Loss::SigmoidCe { pos_weight, eps } => sigmoid_ce(z, y, pos_weight, eps),
            Loss::FocalDetached { gamma, alpha, eps } => focal_detached(z, y, gamma, alpha, eps),
            Loss::Asymmetric {
                gamma_pos,
                gamma_neg,
                clip,
                eps,
                detached,
            } => asymmetric(z, y, gamma_pos, gamma_neg, clip, eps, detached),
            Loss::Poly1 {
                gamma,
                alpha,
                eps,
                epsilon,
            } => poly1(z, y, gamma, alpha, eps, epsilon),
            Loss::FocalStar {
                gamma,
                beta,
                alpha,
                eps,
            } => focal_star(z, y, gamma, beta, alpha, eps),
            Loss::Qfl { beta } => qfl(z, y, beta),
            Loss::Varifocal {
                alpha,
                gamma,
                iou_weighted,
            } => varifocal(z, y, alpha, gamma, iou_weighted),
        }
    }

    /// Loss and gradient from a probability (clamped).
    pub fn prob(&self, p: f64, y: f64) -> (f64, f64) {
        match *self {
            Loss::Focal { gamma, alpha, eps } => focal_prob(p, y, gamma, alpha, eps),
            Loss::SigmoidCe { pos_weight, eps } => sigmoid_ce_prob(p, y, pos_weight, eps),
            _ => via_prob(p, |z| self.logit(z, y)),
        }
    }

    /// The γ a bound grows with (the largest focusing parameter; 0 for
    /// cross-entropy).
    pub fn gamma(&self) -> f64 {
        match *self {
            Loss::Focal { gamma, .. }
            | Loss::FocalDetached { gamma, .. }
            | Loss::Poly1 { gamma, .. } => gamma,
            Loss::Asymmetric {
                gamma_pos,
                gamma_neg,
                ..
            } => gamma_pos.max(gamma_neg),
            Loss::Qfl { beta } => beta,
            Loss::Varifocal { gamma, .. } => gamma,
            Loss::SigmoidCe { .. } | Loss::FocalStar { .. } => 0.0,
        }
    }

    /// The label smoothing ε.
    pub fn eps(&self) -> f64 {
        match *self {
            Loss::Focal { eps, .. }
            | Loss::SigmoidCe { eps, .. }
            | Loss::FocalDetached { eps, .. }
            | Loss::Asymmetric { eps, .. }
            | Loss::Poly1 { eps, .. }
            | Loss::FocalStar { eps, .. } => eps,
            Loss::Qfl { .. } | Loss::Varifocal { .. } => 0.0,
        }
    }
}
