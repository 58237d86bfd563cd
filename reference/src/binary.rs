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
}

impl Loss {
    /// Loss and gradient from a logit.
    pub fn logit(&self, z: f64, y: f64) -> (f64, f64) {
        match *self {
            Loss::Focal { gamma, alpha, eps } => focal(z, y, gamma, alpha, eps),
            Loss::SigmoidCe { pos_weight, eps } => sigmoid_ce(z, y, pos_weight, eps),
        }
    }

    /// Loss and gradient from a probability (clamped).
    pub fn prob(&self, p: f64, y: f64) -> (f64, f64) {
        match *self {
            Loss::Focal { gamma, alpha, eps } => focal_prob(p, y, gamma, alpha, eps),
            Loss::SigmoidCe { pos_weight, eps } => sigmoid_ce_prob(p, y, pos_weight, eps),
        }
    }

    /// γ (0 for cross-entropy).
    pub fn gamma(&self) -> f64 {
        match *self {
            Loss::Focal { gamma, .. } => gamma,
            Loss::SigmoidCe { .. } => 0.0,
        }
    }

    /// The label smoothing ε.
    pub fn eps(&self) -> f64 {
        match *self {
            Loss::Focal { eps, .. } | Loss::SigmoidCe { eps, .. } => eps,
        }
    }
}
