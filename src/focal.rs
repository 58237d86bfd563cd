//! Sigmoid focal loss `FL = -α_t (1 - p_t)^γ log p_t` from logits or probabilities.

use crate::binary::kernel::{alpha_t, binary_loss, ce_hard, Body, Kernel, PROB_EPS};
use crate::lanes::{Lane, SOFT_FLOAT};
use crate::math::{exp_hl, ln, ln_one_minus, Logit};
use crate::power::{check_smoothing, Power};
use crate::{Error, LossGrad};
use core::any::Any;

/// Binary (sigmoid) focal loss, validated once, `Copy`.
///
/// With `p = σ(z)`, target `y ∈ [0, 1]` and `p_t = p y + (1 - p)(1 - y)`:
///
/// `FL(z, y) = α_t · (1 - p_t)^γ · CE(z, y)`, `CE = softplus(z) - z y`,
///
/// which for hard labels is `-α_t (1 - p_t)^γ log p_t` (Lin et al. 2017).
///
/// **α convention (torchvision's):** `α` multiplies the loss of *positives*
/// (`y = 1`) and `1 - α` that of negatives, `α_t = α y + (1 - α)(1 - y)`. So
/// the RetinaNet default `α = 0.25` *down*-weights the positives, which
/// together with `γ = 2` worked best in the paper. `alpha: None` turns the
/// weighting off (`α_t = 1`), which is fvcore's and Keras' default.
///
/// **γ** is any real `>= 0`; `γ = 0` is (α-weighted) cross-entropy. `γ` = 1, 2
/// and integers up to 8 use exact products; other γ use `exp(-γ·softplus(z_t))`,
/// which never evaluates `pow(0, ·)`. The gradient is
/// `∂FL/∂z = -s α_t u^γ (u + γ p_t CE)` for hard labels (`s = 2y - 1`,
/// `u = 1 - p_t`), finite and bounded by `α_t (1 + γ/e)` for every γ ≥ 0,
/// including γ < 1 where `(1 - p_t)^(γ-1)` would blow up.
///
/// **Label smoothing** `ε` replaces the target by `y(1 - ε) + ε/2` in `p_t`
/// and `CE`; `α_t` is computed from the *unsmoothed* target, so smoothing never
/// moves weight between the classes.
///
/// Error bounds (asserted by `tests/binary.rs` against f64 over |z| ≤ 1e4,
/// γ ∈ [0, 5], α ∈ {off, 0.01 … 0.99}; `u = 2^-24`): loss within `(8 + 3γ)u`
/// relative for hard labels and `(16 + 3γ)u` for soft or smoothed targets
/// (floor `2^-126`); gradient within `(16 + 3γ)u` relative for hard labels,
/// and of `max(|∂FL/∂z|, α_t)` for soft targets (where `p - y` cancels).
///
/// **Cost** (batch API, per element, validation included; QEMU instruction
/// counts, `tools/costs`): Cortex-M4F 92 instructions for γ = 2 and 148 for
/// a general γ (a naive `expf`/`powf`/`logf` port: 186 and 386); Cortex-M3
/// 1,175 (naive 4,315); Cortex-M0 2,310 (naive 7,475). Host AVX-512: about
/// 1 ns per element.
///
/// ```
/// use tinyloss::Focal;
/// let f = Focal::new(2.0, Some(0.25))?;
/// // p_t = 0.9: cross-entropy 0.105, focal (α off) 0.00105; here × α = 0.25.
/// let z = (0.9f32 / 0.1).ln();
/// let r = f.loss_grad(z, 1.0)?;
/// assert!((r.loss - 0.25 * 0.001054).abs() < 1e-6);
/// assert!(r.grad < 0.0);
/// # Ok::<(), tinyloss::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Focal {
    gamma: f32,
    /// γ with its low 12 mantissa bits cleared (for the exact product γ·t).
    gamma_hi: f32,
    alpha: Option<f32>,
    /// Weight of positives and of negatives: (α, 1 - α), or (1, 1) when off.
    w_pos: f32,
    w_neg: f32,
    smoothing: f32,
    #[cfg_attr(feature = "defmt", defmt(Debug2Format))]
    power: Power,
}

impl Focal {
    /// RetinaNet's defaults: `γ = 2`, `α = 0.25` (positives weighted 0.25,
    /// negatives 0.75), no smoothing.
    pub const RETINANET: Focal = Focal {
        gamma: 2.0,
        gamma_hi: 2.0,
        alpha: Some(0.25),
        w_pos: 0.25,
        w_neg: 0.75,
        smoothing: 0.0,
        power: Power::Two,
    };

    /// A focal loss with focusing parameter `gamma` (finite, `>= 0`) and class
    /// weight `alpha` (`None`, or `Some(α)` with `α ∈ [0, 1]`).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `"gamma"` or `"alpha"`.
    pub fn new(gamma: f32, alpha: Option<f32>) -> Result<Self, Error> {
        let power = Power::of(gamma)?;
        if let Some(a) = alpha {
            if !(0.0..=1.0).contains(&a) {
                return Err(Error::InvalidParameter { name: "alpha" });
            }
        }
        Ok(Focal {
            gamma,
            gamma_hi: f32::from_bits(gamma.to_bits() & 0xffff_f000),
            alpha,
            w_pos: alpha.unwrap_or(1.0),
            w_neg: alpha.map_or(1.0, |a| 1.0 - a),
            smoothing: 0.0,
            power,
        })
    }

    /// The same loss with label smoothing `epsilon`, 0 or in `[2^-126, 1]` (subnormal ε are refused): targets become
    /// `y (1 - ε) + ε / 2` (after `α_t` is taken from the original target).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `"smoothing"`.
    pub fn with_smoothing(self, epsilon: f32) -> Result<Self, Error> {
        Ok(Focal {
            smoothing: check_smoothing(epsilon)?,
            ..self
        })
    }

    /// The focusing parameter γ.
    pub fn gamma(&self) -> f32 {
        self.gamma
    }

    /// The class weight α of positives, if on.
    pub fn alpha(&self) -> Option<f32> {
        self.alpha
    }

    /// The label-smoothing ε.
    pub fn smoothing(&self) -> f32 {
        self.smoothing
    }

    /// Loss and gradient `∂FL/∂z` for one logit `z` and target `y`.
    ///
    /// # Errors
    /// [`Error::NonFiniteInput`] or [`Error::TargetOutOfRange`] at element 0.
    pub fn loss_grad(&self, z: f32, y: f32) -> Result<LossGrad, Error> {
        crate::binary::kernel::one(self, z, y, false)
    }

    /// Loss and gradient `∂FL/∂p` for one probability `p` (the output of a
    /// sigmoid layer) and target `y`. `p` is clamped to
    /// `[PROB_EPS, 1 - PROB_EPS]` and the gradient is that of the formula at the
    /// clamped point (no flat zero-gradient region).
    ///
    /// # Errors
    /// [`Error::NonFiniteInput`], [`Error::ProbabilityOutOfRange`] or
    /// [`Error::TargetOutOfRange`], with index 0.
    pub fn loss_grad_prob(&self, p: f32, y: f32) -> Result<LossGrad, Error> {
        crate::binary::kernel::one(self, p, y, true)
    }

    /// `m^γ` for `m` in `[0, 1]`, where `m = exp(-(t + l))` with `t >= 0`
    /// and `l` small; `(t, l)` is computed lazily (only the real-γ path needs
    /// it). `γ t` is formed exactly from 12-bit halves and handed to
    /// [`exp_hl`] unrounded, so `m^γ` stays within a few ULP even when `γ t`
    /// is in the tens.
    #[inline(always)]
    fn power<const P: u8, V: Lane>(&self, m: V, t_l: impl FnOnce() -> (V, V)) -> V {
        let power = match P {
            0 => Power::Zero,
            1 => Power::One,
            2 => Power::Two,
            _ => self.power,
        };
        match power {
            Power::Zero => V::splat(1.0),
            Power::One => m,
            Power::Two => m * m,
            Power::Int(n) => {
                let mut r = m;
                for _ in 1..n {
                    r = r * m;
                }
                r
            }
            Power::Real => {
                let (t, l) = t_l();
                let g = V::splat(self.gamma);
                let g_hi = V::splat(self.gamma_hi);
                let g_lo = V::splat(self.gamma - self.gamma_hi);
                let t_hi = t.high_half();
                let hi = -(g_hi * t_hi);
                let lo = -(g_hi.mul_add(t - t_hi, g_lo * t) + g * l);
                exp_hl(hi, lo)
            }
        }
    }

    /// `(α_t, s α_t)` for hard labels, `s = 2y - 1`: `α_t = w⁻(1-y) + w⁺y`,
    /// exact because one of the two products is 0.
    #[inline(always)]
    fn alpha_hard<V: Lane>(&self, y: V) -> (V, V) {
        let neg = V::splat(self.w_neg) * (V::splat(1.0) - y);
        let pos = V::splat(self.w_pos) * y;
        (pos + neg, pos - neg)
    }

    /// Hard labels on a core without an FPU: the same formulas as
    /// [`Focal::hard_p`], with every sign, comparison and selection done on
    /// the bits (each f32 operation is a library call there) and `e^{-|z|}`,
    /// `log1p` from [`crate::soft`]: 12 f32 operations per element for γ = 2.
    #[inline(always)]
    fn hard_soft<const P: u8>(&self, x: f32, y: f32) -> (f32, f32) {
        let positive = y.to_bits() == 0x3f80_0000;
        let x_neg = x.to_bits() >> 31 == 1;
        // x_t = s x >= 0: the prediction leans the right way.
        let right = positive != x_neg;
        let ax = f32::from_bits(x.to_bits() & 0x7fff_ffff);
        let (e, l) = crate::soft::exp_log1p(ax);
        let big = 1.0 / (1.0 + e);
        let small = e * big;
        let (u, pt) = if right { (small, big) } else { (big, small) };
        let ce = if right { l } else { ax + l };
        let (at, sat) = if positive {
            (self.w_pos, self.w_pos)
        } else {
            (self.w_neg, -self.w_neg)
        };
        let modf = self.power::<P, f32>(u, || (if right { ax } else { 0.0 }, l));
        let gpt = match P {
            1 => pt,
            2 => pt + pt,
            _ => self.gamma * pt,
        };
        let loss = at * (modf * ce);
        (loss, -(sat * modf) * (gpt * ce + u))
    }

    /// Hard labels (`y` ∈ {0, 1}); `P` = γ when it is 0, 1 or 2, else 255
    /// (read γ at run time).
    #[inline(always)]
    fn hard_p<const P: u8, V: Lane>(&self, x: V, y: V) -> (V, V) {
        // γ = 0 (also reached at run time as `Power::Zero`, where the general
        // path below computes the same values).
        if P == 0 {
            return ce_hard(self.w_pos, self.w_neg, x, y);
        }
        if SOFT_FLOAT {
            let any = (&x as &dyn Any, &y as &dyn Any);
            if let (Some(&xf), Some(&yf)) =
                (any.0.downcast_ref::<f32>(), any.1.downcast_ref::<f32>())
            {
                let (l, g) = self.hard_soft::<P>(xf, yf);
                return (V::splat(l), V::splat(g));
            }
        }
        let zero = V::splat(0.0);
        // s = 2y - 1 and x_t = s x, exact for y ∈ {0, 1}.
        let s = y.mul_add(V::splat(2.0), V::splat(-1.0));
        let xt = s * x;
        let lg = Logit::new(x);
        let right = xt.ge(zero);
        // u = 1 - p_t = σ(-x_t), p_t = σ(x_t), CE = softplus(-x_t).
        let u = V::select(right, lg.small, lg.big);
        let pt = V::select(right, lg.big, lg.small);
        let ce = V::select(right, lg.l, lg.ax + lg.l);
        let (at, sat) = self.alpha_hard(y);
        let modf = self.power::<P, V>(u, || (xt.max(zero), lg.l));
        let g = if P == 1 || P == 2 {
            V::splat(P as f32)
        } else {
            V::splat(self.gamma)
        };
        let loss = at * (modf * ce);
        let grad = -(sat * modf) * (g * pt).mul_add(ce, u);
        (loss, grad)
    }

    #[inline(always)]
    fn soft_p<const P: u8, V: Lane>(&self, x: V, y: V, ys: V, oms: V) -> (V, V) {
        let one = V::splat(1.0);
        let zero = V::splat(0.0);
        let lg = Logit::new(x);
        let pos = x.ge(zero);
        // a: the target mass on the side the logit points away from.
        let a = V::select(pos, oms, ys);
        let b = V::select(pos, ys, oms);
        let d = b.mul_add(lg.e, a);
        let m = lg.big * d;
        let ce = lg.ax.mul_add(a, lg.l);
        let at = alpha_t(self.alpha, y);
        let sgn = V::select(pos, one, -one);
        let a0 = a.eq(zero);
        if P == 0 || (P == u8::MAX && self.power == Power::Zero) {
            return (at * ce, sgn * at * (a - lg.small));
        }
        let r = V::select(a0, lg.big, lg.small / V::select(a0, one, d));
        let modf = self.power::<P, V>(m, || {
            // m = big · d = exp(-(t + l)) with t = -ln d (= |x| when a = 0).
            let t = V::select(a0, lg.ax, -ln(V::select(a0, one, d)));
            (t, lg.l)
        });
        let g = V::splat(self.gamma);
        let loss = at * (modf * ce);
        // ce · r first: r decays like e^-|x| exactly where ce grows like |x|.
        let bracket = (a - lg.small) - (ce * r) * (g * (one - (a + a)));
        (loss, sgn * at * modf * bracket)
    }

    #[inline(always)]
    fn prob_p<const P: u8, V: Lane>(&self, p: V, y: V, ys: V, oms: V) -> (V, V) {
        let one = V::splat(1.0);
        let pc = p.max(V::splat(PROB_EPS)).min(V::splat(1.0 - PROB_EPS));
        let qc = one - pc;
        let ce = -(ys * ln(pc) + oms * ln_one_minus(pc));
        let m = pc * oms + qc * ys;
        let modf = self.power::<P, V>(m, || (-ln(m), V::splat(0.0)));
        let at = alpha_t(self.alpha, y);
        // `p - y_s` as `(1 - y_s) - (1 - p)` above 1/2, where both are
        // exact small terms: a smoothed `y_s` near 1 carries its rounding,
        // which `1/(p (1 - p))` would amplify.
        let hi = pc.ge(V::splat(0.5));
        let dce = V::select(hi, oms - qc, pc - ys) / (pc * qc);
        let g = V::splat(self.gamma);
        let dmod = g * (modf / m) * (one - (ys + ys));
        (at * modf * ce, at * dmod.mul_add(ce, modf * dce))
    }
}

/// A [`Focal`] whose γ is known at compile time (`P` ∈ {0, 1, 2}), so the
/// hot loop carries no dispatch on γ.
#[derive(Clone, Copy)]
struct Fixed<const P: u8>(Focal);

impl<const P: u8> Kernel for Fixed<P> {
    fn grad_bound(&self, prob: bool) -> f32 {
        self.0.grad_bound(prob)
    }
    fn loss_bound(&self, prob: bool) -> (f32, f32) {
        self.0.loss_bound(prob)
    }

    #[inline(always)]
    fn smoothing(&self) -> f32 {
        self.0.smoothing
    }
    #[inline(always)]
    fn hard<V: Lane>(&self, x: V, y: V) -> (V, V) {
        self.0.hard_p::<P, V>(x, y)
    }
    #[inline(always)]
    fn soft<V: Lane>(&self, x: V, y: V, ys: V, oms: V) -> (V, V) {
        self.0.soft_p::<P, V>(x, y, ys, oms)
    }
    #[inline(always)]
    fn prob<V: Lane>(&self, p: V, y: V, ys: V, oms: V) -> (V, V) {
        self.0.prob_p::<P, V>(p, y, ys, oms)
    }
}

binary_loss!(Focal);

impl Kernel for Focal {
    /// Hard labels: `α_t u^γ (u + γ p_t CE) ≤ 1 + γ/e`; soft targets and
    /// probability inputs (which divide by a clamped `p ≥ PROB_EPS`, and
    /// whose CE is at most `-ln PROB_EPS < 17`) within the wider factors
    /// here (tested against sweeps in `tests/binary.rs`).
    fn grad_bound(&self, prob: bool) -> f32 {
        if prob {
            2.0 * (1.0 + 17.0 * self.gamma) / PROB_EPS
        } else {
            2.0 * (1.0 + self.gamma)
        }
    }

    /// `α_t (1 - p_t)^γ CE ≤ CE ≤ |z| + ln 2` from logits, and
    /// `CE ≤ -ln PROB_EPS < 17` from clamped probabilities.
    fn loss_bound(&self, prob: bool) -> (f32, f32) {
        if prob {
            (0.0, 17.0)
        } else {
            (1.0, 1.0)
        }
    }

    #[inline(always)]
    fn specialize<B: Body>(&self, body: B) -> B::Out {
        match self.power {
            Power::Zero => body.call(&Fixed::<0>(*self)),
            Power::One => body.call(&Fixed::<1>(*self)),
            Power::Two => body.call(&Fixed::<2>(*self)),
            Power::Int(_) | Power::Real => body.call(self),
        }
    }

    #[inline(always)]
    fn smoothing(&self) -> f32 {
        self.smoothing
    }

    #[inline(always)]
    fn hard<V: Lane>(&self, x: V, y: V) -> (V, V) {
        self.hard_p::<{ u8::MAX }, V>(x, y)
    }

    #[inline(always)]
    fn soft<V: Lane>(&self, x: V, y: V, ys: V, oms: V) -> (V, V) {
        self.soft_p::<{ u8::MAX }, V>(x, y, ys, oms)
    }

    #[inline(always)]
    fn prob<V: Lane>(&self, p: V, y: V, ys: V, oms: V) -> (V, V) {
        self.prob_p::<{ u8::MAX }, V>(p, y, ys, oms)
    }
}
