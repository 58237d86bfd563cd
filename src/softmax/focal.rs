//! Softmax focal loss ([`SoftmaxFocal`]).
//!
//! Legend (see [`kernel`](super::kernel)): `e_c = exp(z_c - m)`,
//! `S = Σ e`, `p_c = e_c / S`, `R_c = S - e_c` (so `u_c = 1 - p_c = R_c / S`,
//! never formed by subtraction), `CE_c = ln S - d_c`, `k_c = w_c y'_c`,
//! `γ` the focusing parameter.
//!
//! Formula: `ℓ = Σ_c k_c u_c^γ CE_c`; with `G_c = u_c^γ (u_c + γ p_c CE_c)`,
//! `∂ℓ/∂z_k = -k_k G_k + e_k Σ_{c≠k} k_c G_c / R_c` (no `u^(γ-1)`); for a
//! label `t` that is `∂ℓ/∂z_t = -w_t G_t`, `∂ℓ/∂z_c = w_t G_t e_c / R_t`.
//! The soft rows use `hr_c = u_c^γ (1/S + γ p_c CE_c / R_c)` and
//! `H = Σ_c k_c hr_c`: `∂ℓ/∂z_k = e_k (H - k_k hr_k) - k_k G_k`.
//!
//! Bound: `|∂ℓ/∂z_k| ≤ (1 + γ) K` (`G ≤ u^γ (u + γ/e)`).

use super::kernel::{
    ce_label, ce_soft, log1p_pos, sealed, ClassGrad, ClassTerms, LabelRow, RowKernel, RowLoss,
    SoftRow,
};
use crate::lanes::{sat, Lane};
use crate::math::{exp_neg, ln, ln_one_minus};
use crate::power::{check_smoothing, Power};
use crate::Error;

/// Softmax focal loss, validated once, `Copy`.
///
/// `ℓ = Σ_c w_c y'_c (1 - p_c)^γ (lse(z) - z_c)`; for a label `t` without
/// smoothing `ℓ = -w_t (1 - p_t)^γ ln p_t` (Lin et al. 2017, with the
/// per-class weights `w` as α per class, the mmcv `softmax_focal_loss` and
/// Keras `CategoricalFocalCrossentropy` form; Keras' scalar α is
/// `w_c = α` for all `c`). γ is any real in `[0, MAX_GAMMA]`; γ = 0 runs the
/// cross-entropy kernel, so it equals [`SoftmaxCe`](super::SoftmaxCe) bit
/// for bit.
///
/// Gradient (label `t`, no smoothing), free of `(1-p_t)^(γ-1)`:
/// `∂ℓ/∂z_t = -w_t u^γ (u + γ p_t CE)`, `∂ℓ/∂z_c = w_t u^γ (u + γ p_t CE) e_c / R_t`
/// (`u = 1 - p_t = R_t/S`, `CE = -ln p_t`), bounded by `w_t (1 + γ/e)`.
///
/// Error bounds (`u = 2^-24`): loss within `32u` relative for losses
/// ≥ 1e-3 (γ ≤ 5), `256u` or `1e-37` absolute below; gradient within
/// `32u·(1 + γ) Σ_c w_c y'_c` absolute, before the reduction's scale.
///
/// **Cost** (label targets, γ = 2, C = 10, per logit; `tools/costs`):
/// Cortex-M4F 70.9 instructions (Cortex-M3 1,858 and Cortex-M0 3,139
/// before the driver split, not re-measured). Host
/// AVX-512 at C = 1000: about 0.5 ns per logit.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SoftmaxFocal {
    gamma: f32,
    smoothing: f32,
    ignore_index: Option<u32>,
    #[cfg_attr(feature = "defmt", defmt(Debug2Format))]
    power: Power,
}

impl SoftmaxFocal {
    /// Focal loss with focusing parameter `gamma` (`0 ≤ γ ≤ MAX_GAMMA`), no
    /// smoothing, no ignore index.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `"gamma"`.
    pub fn new(gamma: f32) -> Result<Self, Error> {
        let power = Power::of(gamma)?;
        Ok(SoftmaxFocal {
            gamma,
            smoothing: 0.0,
            ignore_index: None,
            power,
        })
    }

    /// The same loss with label smoothing `epsilon`, 0 or in `[2^-126, 1]`
    /// (subnormal ε are refused) (target `(1 - ε)·onehot + ε/C`; every class
    /// then carries a focal term).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `"smoothing"`.
    pub fn with_smoothing(self, epsilon: f32) -> Result<Self, Error> {
        Ok(SoftmaxFocal {
            smoothing: check_smoothing(epsilon)?,
            ..self
        })
    }

    /// The same loss with an ignore index; see
    /// [`SoftmaxCe::with_ignore_index`](super::SoftmaxCe::with_ignore_index).
    pub const fn with_ignore_index(self, index: u32) -> Self {
        SoftmaxFocal {
            ignore_index: Some(index),
            ..self
        }
    }

    /// The focusing parameter γ.
    pub fn gamma(&self) -> f32 {
        self.gamma
    }

    /// The label-smoothing ε.
    pub fn smoothing(&self) -> f32 {
        self.smoothing
    }

    /// The ignore index, if set.
    pub fn ignore_index(&self) -> Option<u32> {
        self.ignore_index
    }
}

/// `ln u` for `u = 1 - p = r / S` (`r > 0`), accurate to a few ULP at both
/// ends: `ln(1 - p)` while `p ≤ 1/2` (where `ln r - ln S` would cancel), and
/// `ln r - ln S` beyond.
#[inline(always)]
fn ln_u<V: Lane>(p: V, r: V, ln_s: V) -> V {
    let half = V::splat(0.5);
    let one = V::splat(1.0);
    let small = half.ge(p);
    let pos = r.gt(V::splat(0.0));
    V::select(
        small,
        ln_one_minus(p.min(half)),
        ln(V::select(pos, r, one)) - ln_s,
    )
}

/// `u^γ` for `u ∈ [0, 1]`; `ln_u` is called on the real-γ path only and must
/// return `ln u` (≤ 0) where `u > 0`; `u = 0` gives 0.
#[inline(always)]
fn power<V: Lane>(p: Power, gamma: f32, u: V, ln_u: impl FnOnce() -> V) -> V {
    match p {
        Power::Zero => V::splat(1.0),
        Power::One => u,
        Power::Two => u * u,
        Power::Int(n) => {
            let mut r = u;
            for _ in 1..n {
                r = r * u;
            }
            r
        }
        Power::Real => {
            let zero = V::splat(0.0);
            let v = exp_neg(V::splat(gamma) * ln_u().min(zero));
            V::select(u.gt(zero), v, zero)
        }
    }
}

impl RowKernel for SoftmaxFocal {
    #[inline(always)]
    fn options(&self) -> (f32, Option<u32>) {
        (self.smoothing, self.ignore_index)
    }

    #[inline(always)]
    fn label<V: Lane>(&self, st: &LabelRow<V>, w_t: V) -> (V, V, V) {
        if self.power == Power::Zero {
            return ce_label(st, w_t);
        }
        let zero = V::splat(0.0);
        let one = V::splat(1.0);
        let pw = power(self.power, self.gamma, st.u, || {
            ln_u(st.p_t, st.r_t, st.ln_s)
        });
        let pce = V::select(st.e_t.eq(zero), zero, st.p_t * st.ce);
        let loss = V::select(w_t.eq(zero), zero, w_t * (pw * st.ce));
        // (u^γ γ) first: γ may be huge only where u^γ is 0. Saturated, so
        // that an overflow (class weights near f32::MAX) never meets a zero
        // as ∞ · 0.
        let pg = pw * V::splat(self.gamma);
        let g_t = sat(-(w_t * pg.mul_add(pce, pw * st.u)));
        let r0 = st.r_t.eq(zero);
        let a = V::select(
            r0,
            zero,
            sat(w_t * (pg * (pce / V::select(r0, one, st.r_t)) + st.over_s(pw))),
        );
        (loss, g_t, a)
    }

    /// Probability targets or smoothing: three passes, the row holding `d/2`
    /// between them (so that `CE` is exact for rows spanning beyond f32).
    #[inline(always)]
    fn soft(&self, row: &mut SoftRow<'_>) -> RowLoss {
        if self.power == Power::Zero {
            return ce_soft(row);
        }
        let r_max = row.exp(true, false).r_max;
        let s = 1.0 + r_max;
        let f = FocalRow {
            s,
            inv_s: 1.0 / s,
            ln_s: log1p_pos(r_max),
            r_max,
            power: self.power,
            gamma: self.gamma,
            h: 0.0,
        };
        let (loss_half, h) = row.sum2(&f);
        if row.grad {
            row.store(&FocalRow { h: sat(h), ..f });
        }
        RowLoss::from_half(loss_half)
    }

    fn grad_bound(&self) -> f32 {
        1.0 + self.gamma
    }
}

impl sealed::Sealed for SoftmaxFocal {}

/// Per-row constants of the soft focal passes (`h = H` in the gradient pass).
#[derive(Clone, Copy)]
struct FocalRow {
    s: f32,
    inv_s: f32,
    ln_s: f32,
    r_max: f32,
    power: Power,
    gamma: f32,
    h: f32,
}

impl FocalRow {
    /// `(e, k u^γ CE / 2, hr, G)` for classes holding `d/2`, with weighted
    /// target `k`.
    #[inline(always)]
    fn lanes<V: Lane>(&self, dh: V, kk: V) -> (V, V, V, V) {
        let zero = V::splat(0.0);
        let one = V::splat(1.0);
        let d = (dh + dh).max(V::splat(-f32::MAX));
        let e = exp_neg(d);
        let top = d.eq(zero);
        let r = V::select(top, V::splat(self.r_max), V::splat(self.s) - e);
        let inv_s = V::splat(self.inv_s);
        let u = r * inv_s;
        let p = e * inv_s;
        let ce = V::splat(self.ln_s) - d;
        let ln_s = V::splat(self.ln_s);
        let r0 = r.eq(zero);
        let pw = power(self.power, self.gamma, u, || ln_u(p, r, ln_s));
        let g = V::splat(self.gamma);
        let pce = V::select(e.eq(zero), zero, p * ce);
        // (u^γ γ) first, and saturated, as in `label`.
        let pg = pw * g;
        let hr = V::select(
            r0,
            zero,
            sat(pg * (pce / V::select(r0, one, r)) + pw * inv_s),
        );
        let big_g = sat(pg.mul_add(pce, pw * u));
        let ce_half = V::splat(self.ln_s) * V::splat(0.5) - dh;
        let lce = V::select(kk.eq(zero), zero, kk * (pw * ce_half));
        (e, lce, hr, big_g)
    }
}

impl ClassTerms for FocalRow {
    /// `(k u^γ CE / 2, k hr)`.
    #[inline(always)]
    fn terms<V: Lane>(&self, dh: V, k: V) -> (V, V) {
        let (_, lce, hr, _) = self.lanes(dh, k);
        (lce, k * hr)
    }
}

impl ClassGrad for FocalRow {
    /// `e (H - k hr) - k G`.
    #[inline(always)]
    fn grad<V: Lane>(&self, dh: V, k: V) -> V {
        let (e, _, hr, big_g) = self.lanes(dh, k);
        // Saturated products: finite factors, so no ∞ · 0 below.
        e * (V::splat(self.h) - sat(k * hr)) - sat(k * big_g)
    }
}
