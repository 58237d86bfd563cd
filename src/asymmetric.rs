//! Asymmetric loss (ASL) for multi-label classification, Ridnik et al. 2021.

use crate::binary::kernel::{
    binary_loss, ce_loss_bound, element_api, grad_bound_for, per_prob, Kernel, Sig,
};
use crate::lanes::Lane;
use crate::math::{exp_hl, ln_one_minus};
use crate::power::{check_smoothing, pow, pow_mul, Exponent, GradMode};
use crate::Error;

/// Asymmetric loss (Ridnik et al. 2021, "Asymmetric Loss for Multi-Label
/// Classification"), validated once, `Copy`. Convention: timm's
/// `AsymmetricLossMultiLabel` (and mmpretrain's for hard labels).
///
/// With `p = σ(z)`, `q = 1 - p`, focusing parameters `γ⁺`, `γ⁻` and the
/// probability shift (clip) `m`, `p_m = max(p - m, 0)`:
///
/// * positives (`y = 1`): `L⁺ = q^{γ⁺} · softplus(-z)` (focal loss, α off);
/// * negatives (`y = 0`): `L⁻ = p_m^{γ⁻} · (-ln(1 - p_m))`, which is 0 for
///   `p ≤ m`: easy negatives are discarded outright, and `γ⁻ > γ⁺` weighs the
///   rest down harder than the positives.
///
/// Gradients (full mode): `∂L⁺/∂z = -q^{γ⁺} (q + γ⁺ p softplus(-z))` and, for
/// `p > m`, `∂L⁻/∂z = p q · p_m^{γ⁻} [1/(1 - p_m) + γ⁻ (-ln(1 - p_m))/p_m]`;
/// `-ln(1 - p_m)/p_m ≥ 1` is formed with `log1p`, so the gradient is finite
/// for every `γ⁻ ≥ 0`, γ⁻ < 1 included. [`GradMode::Detached`] holds the
/// focusing weight constant (timm's `disable_torch_grad_focal_loss`).
///
/// **Soft targets** follow timm's formula: with `u = y q + (1 - y) p_m`
/// (`1 - p_t`, a sum of non-negative terms) and `γ_y = γ⁺ y + γ⁻ (1 - y)`,
/// `ℓ = u^{γ_y} · [y softplus(-z) + (1 - y)(-ln(1 - p_m))]`. Label smoothing
/// replaces `y` by `y(1 - ε) + ε/2` (timm has none).
///
/// **Where timm differs**: timm clamps each log at `1e-8`, so its loss per
/// element stops at 18.4 and its gradient vanishes beyond `|z| ≈ 18`; here
/// the loss is exact for every finite logit. timm sums over elements; pick
/// the reduction you need ([`Reduction::Sum`](crate::Reduction::Sum) for
/// timm's value).
///
/// Defaults ([`Asymmetric::TIMM`]): `γ⁻ = 4`, `γ⁺ = 1`, `m = 0.05`.
/// `γ⁺ = γ⁻ = γ` with `m = 0` is focal loss with α off.
///
/// Error bounds (asserted against f64 over |z| ≤ 1e4, γ± ∈ [0, 5], every clip
/// the papers use; `u = 2^-24`, the README's accuracy table): loss and
/// gradient within `(16 + 3 max γ)u` relative. With a clip `m > 0`, `p - m`
/// carries the rounding of `p`, so near `p = m` the bound is relative to
/// the loss's sensitivity to that rounding: `max(|ℓ|, p |∂ℓ/∂p_m|)` and
/// `max(|g|, p |∂g/∂p_m|)`. Soft-target gradients are relative to
/// `max(|g|, u^{γ_y})`, and soft targets' loss and gradient to
/// `γ_y |ln u|/8` of themselves: the exponent `γ_y` is rounded to f32, which
/// `u^{γ_y}` amplifies by `γ_y |ln u|`.
///
/// ```
/// use tinyloss::{Asymmetric, Batch, Reduction};
/// let asl = Asymmetric::TIMM;
/// // An easy negative (p = 0.018 < m = 0.05) costs nothing.
/// assert_eq!(asl.loss_grad(-4.0, 0.0)?.loss, 0.0);
/// let logits = [2.0, -1.0, 0.5];
/// let targets = [1.0, 0.0, 0.0];
/// let mut grad = [0.0; 3];
/// let sum = Batch::new(&targets).loss_grad(&asl, &logits, Reduction::Sum, &mut grad, None)?;
/// assert!(sum > 0.0 && grad[0] < 0.0 && grad[2] > 0.0);
/// # Ok::<(), tinyloss::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Asymmetric {
    #[cfg_attr(feature = "defmt", defmt(Debug2Format))]
    pos: Exponent,
    #[cfg_attr(feature = "defmt", defmt(Debug2Format))]
    neg: Exponent,
    clip: f32,
    smoothing: f32,
    mode: GradMode,
}

impl Asymmetric {
    /// timm's and the paper's defaults: `γ⁻ = 4`, `γ⁺ = 1`, clip `0.05`,
    /// full gradient.
    pub const TIMM: Asymmetric = Asymmetric {
        pos: Exponent {
            gamma: 1.0,
            power: crate::power::Power::One,
        },
        neg: Exponent {
            gamma: 4.0,
            power: crate::power::Power::Int(4),
        },
        clip: 0.05,
        smoothing: 0.0,
        mode: GradMode::Full,
    };

    /// An asymmetric loss with focusing parameters `gamma_neg`, `gamma_pos`
    /// (each in `[0, MAX_GAMMA]`) and clip `clip` (0, or in
    /// `[2^-126, 1)`), in timm's argument order.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `"gamma_neg"`, `"gamma_pos"` or
    /// `"clip"`.
    pub fn new(gamma_neg: f32, gamma_pos: f32, clip: f32) -> Result<Self, Error> {
        let neg = Exponent::new(gamma_neg, "gamma_neg")?;
        let pos = Exponent::new(gamma_pos, "gamma_pos")?;
        if !(clip == 0.0 || (f32::MIN_POSITIVE..1.0).contains(&clip)) {
            return Err(Error::InvalidParameter { name: "clip" });
        }
        Ok(Asymmetric {
            pos,
            neg,
            clip,
            smoothing: 0.0,
            mode: GradMode::Full,
        })
    }

    /// The same loss with gradient mode `mode`.
    pub const fn with_grad_mode(self, mode: GradMode) -> Self {
        Asymmetric { mode, ..self }
    }

    /// The same loss with label smoothing `epsilon`, 0 or in `[2^-126, 1]`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `"smoothing"`.
    pub fn with_smoothing(self, epsilon: f32) -> Result<Self, Error> {
        Ok(Asymmetric {
            smoothing: check_smoothing(epsilon)?,
            ..self
        })
    }

    /// `γ⁻`, the negatives' focusing parameter.
    pub fn gamma_neg(&self) -> f32 {
        self.neg.gamma
    }

    /// `γ⁺`, the positives' focusing parameter.
    pub fn gamma_pos(&self) -> f32 {
        self.pos.gamma
    }

    /// The probability shift `m` of the negatives.
    pub fn clip(&self) -> f32 {
        self.clip
    }

    /// The gradient mode.
    pub fn grad_mode(&self) -> GradMode {
        self.mode
    }

    /// The label-smoothing ε.
    pub fn smoothing(&self) -> f32 {
        self.smoothing
    }

    /// `(p_m, -ln(1 - p_m), 1 - p_m, q / (1 - p_m), [p > m])` for the
    /// negatives. `q / (1 - p_m) = 1 / (1 + m + m e^z)` (for `p > m`) is
    /// formed from `e^{z + ln m}` where `q` is below f32's normal range
    /// (`z > 87`): a clip `m` divides `q`, so `q`'s subnormal rounding would
    /// be amplified by up to `1/m`.
    #[inline(always)]
    fn shifted<V: Lane>(&self, s: &Sig<V>) -> (V, V, V, V, V::Mask) {
        let one = V::splat(1.0);
        if self.clip == 0.0 {
            return (s.p, s.sp_pos, s.q, one, s.p.ge(V::splat(0.0)));
        }
        let m = V::splat(self.clip);
        let on = s.p.gt(m);
        let pm = V::select(on, s.p - m, V::splat(0.0));
        let one_m = V::select(on, s.q + m, one);
        let mut ratio = s.q / one_m;
        let normal = s.q.ge(V::splat(f32::MIN_POSITIVE));
        if !V::all(normal) {
            // z = softplus(z) exactly here; A = z + ln m as hi + lo.
            let (lh, ll) = crate::math::ln_hl(m);
            let a = s.sp_pos + lh;
            let lo = ((s.sp_pos - a) + lh) + ll;
            let up = a.ge(V::splat(0.0));
            let e = exp_hl(V::select(up, -a, a), V::select(up, -lo, lo));
            let far = V::select(up, e / (one + (one + m) * e), one / ((one + m) + e));
            ratio = V::select(normal, ratio, far);
        }
        // -ln(1 - p_m): from p_m while it is small, from q + m (a sum
        // without cancellation, never 0) once 1 - p_m ≤ 1/2, where p_m may
        // round to 1 for a tiny m.
        let ce = V::select(
            pm.ge(V::splat(0.5)),
            -crate::math::ln(one_m),
            -ln_one_minus(V::select(pm.ge(V::splat(0.5)), V::splat(0.0), pm)),
        );
        (pm, ce, one_m, ratio, on)
    }

    /// Hard labels: both sides with their own (compile-time-dispatched)
    /// powers, selected by the label.
    #[inline(always)]
    fn hard_sig<V: Lane>(&self, s: Sig<V>, y: V) -> (V, V) {
        let zero = V::splat(0.0);
        let full = self.mode == GradMode::Full;
        // Positives: focal with α off.
        let wp = self.pos.of(s.q);
        let lp = wp * s.sp_neg;
        let inner = if full {
            (V::splat(self.pos.gamma) * s.p).mul_add(s.sp_neg, s.q)
        } else {
            s.q
        };
        let gp = -(wp * inner);
        // Negatives.
        let (pm, ce, one_m, ratio, on) = self.shifted(&s);
        let wn = self.neg.of(pm);
        let ln_ = wn * ce;
        let gn = if self.clip == 0.0 {
            let inner = if full {
                (V::splat(self.neg.gamma) * s.q).mul_add(s.sp_pos, s.p)
            } else {
                s.p
            };
            wn * inner
        } else {
            // p q (1/(1 - p_m) + γ⁻ r) = p · q/(1 - p_m) · (1 + γ⁻ r (1 - p_m)).
            let r = V::select(on, ce / V::select(on, pm, V::splat(1.0)), V::splat(1.0));
            let k = if full {
                ratio.mul_add((V::splat(self.neg.gamma) * r) * one_m, ratio)
            } else {
                ratio
            };
            V::select(on, (wn * s.p) * k, zero)
        };
        let positive = y.gt(V::splat(0.5));
        (V::select(positive, lp, ln_), V::select(positive, gp, gn))
    }

    /// timm's soft-target form (also exact for hard labels).
    #[inline(always)]
    fn soft_sig<V: Lane>(&self, s: Sig<V>, ys: V, oms: V) -> (V, V) {
        let zero = V::splat(0.0);
        let (pm, ce_n, _, ratio, on) = self.shifted(&s);
        let u = ys.mul_add(s.q, oms * pm);
        let ce = ys.mul_add(s.sp_neg, oms * ce_n);
        let g = V::splat(self.pos.gamma).mul_add(ys, V::splat(self.neg.gamma) * oms);
        let w = pow(u, g);
        // ∂(-ln(1 - p_m))/∂z: p q / (1 - p_m) for p > m (p itself without
        // a clip, where q may be 0).
        let act = if self.clip == 0.0 {
            s.p
        } else {
            V::select(on, s.p * ratio, zero)
        };
        // ∂CE/∂z: the negatives' term minus the positives'.
        let dce = oms.mul_add(act, -(ys * s.q));
        let grad = if self.mode == GradMode::Full {
            // ∂u/∂z = p q ((1 - y) [p > m] - y); CE/u → 0 where u = 0.
            let dpm = V::select(on, s.dp(), zero);
            let du = oms.mul_add(dpm, -(ys * s.dp()));
            let u0 = u.eq(zero);
            let ratio = V::select(u0, zero, ce / V::select(u0, V::splat(1.0), u));
            // ratio ≤ |z| + 1 but g ratio may pass f32::MAX: du first
            // (ratio du ≤ (|z| + 1) p q is small where ratio is large).
            w * g.mul_add(ratio * du, dce)
        } else {
            w * dce
        };
        (pow_mul(w, u, g, ce), grad)
    }

    /// The largest focusing parameter.
    fn gamma_max(&self) -> f32 {
        Lane::max(self.pos.gamma, self.neg.gamma)
    }
}

binary_loss!(Asymmetric);
element_api!(Asymmetric);

impl Kernel for Asymmetric {
    #[inline(always)]
    fn smoothing(&self) -> f32 {
        self.smoothing
    }

    /// `|∂ℓ/∂z| ≤ 2 (1 + γ_max)` from logits (the focal bound per side,
    /// doubled for the clip's `1/(1 - p_m)` and soft targets' two terms);
    /// with probabilities, divided by the clamped `p (1 - p) ≥ PROB_EPS/2`.
    fn grad_bound(&self, prob: bool) -> f32 {
        grad_bound_for(2.0 * (1.0 + self.gamma_max()), prob)
    }

    /// `ℓ ≤ CE ≤ |z| + ln 2` (the clip only lowers `-ln(1 - p_m)`), and
    /// `≤ 17` from clamped probabilities.
    fn loss_bound(&self, prob: bool) -> (f32, f32) {
        ce_loss_bound(prob)
    }

    #[inline(always)]
    fn hard<V: Lane>(&self, x: V, y: V) -> (V, V) {
        self.hard_sig(Sig::logit(x), y)
    }

    #[inline(always)]
    fn soft<V: Lane>(&self, x: V, _y: V, ys: V, oms: V) -> (V, V) {
        self.soft_sig(Sig::logit(x), ys, oms)
    }

    #[inline(always)]
    fn prob<V: Lane>(&self, p: V, _y: V, ys: V, oms: V) -> (V, V) {
        per_prob(p, |s| self.soft_sig(s, ys, oms))
    }
}
