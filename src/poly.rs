//! Poly-1 (Leng et al. 2022) over sigmoid cross-entropy and focal loss.

use crate::binary::kernel::{
    binary_loss, element_api, grad_bound_for, per_prob, Body, Kernel, Sig,
};
use crate::lanes::Lane;
use crate::{Error, Focal};

/// Largest `|ε|` Poly-1 accepts (the papers use `ε ∈ [-1, 8]`).
const MAX_EPSILON: f32 = 1e4;

/// Poly-1 (Leng et al. 2022, "PolyLoss"), validated once, `Copy`: a focal
/// loss (sigmoid cross-entropy at `γ = 0`, α off) plus the first polynomial
/// term of its expansion in `1 - p_t`. Convention: the paper's reference
/// code and timm's `poly_loss.py` (the poly term carries no `α_t`).
///
/// With `m = 1 - p_t = p (1 - y) + (1 - p) y` (`p = σ(z)`):
///
/// `ℓ = FL + ε m^{γ+1}`, `∂ℓ/∂z = ∂FL/∂z + ε (γ + 1) m^γ · p(1 - p)(1 - 2y)`;
///
/// for cross-entropy (`γ = 0`, α off) `ℓ = CE + ε(1 - p_t)` and, for hard
/// labels, `∂ℓ/∂z = (p - y)(1 + ε p_t)`. `ε = 0` gives the base loss's
/// values. `ε > 0` (the paper: 1 for classification) raises the gradient of
/// confident predictions; `ε < 0` lowers it.
///
/// **ε's range**: `ε ≥ -min(α_t)` (`-1` with α off, `-min(α, 1 - α)`
/// with α), up to `1e4`. Since `CE ≥ 1 - p_t = m`, the loss is then never
/// negative, which every reduction and the saturation rule rely on. Below
/// it (the paper's detection runs lower ε below 0 with RetinaNet's
/// `α = 0.25`) the loss of confident positives would be negative
/// (`α_t CE < -ε m`): take α off for `ε` down to -1, or `ε ≥ -0.25` with
/// `α = 0.25`. Where the two terms cancel to 0 the rounded sum is clamped
/// at 0 (the exact value is never below it).
///
/// The base loss is any [`Focal`] (its α, γ, smoothing and gradient mode);
/// the poly term always has its full gradient.
///
/// Error bounds (asserted against f64 over |z| ≤ 1e4, γ ∈ [0, 5],
/// ε from its lowest to 8; `u = 2^-24`, the README's accuracy table): within
/// the base loss's bound plus `(8 + 3γ)u`, relative to the sum of the two
/// terms' magnitudes, `|FL| + |ε| m^{γ+1}` (and likewise for the gradient):
/// with `ε < 0` the terms cancel (down to 0 at `ε = -α_t` for confident
/// predictions), and that cancellation is not corrected. Below f32's normal
/// range the floor is `2^-126 max(1, |ε|(γ + 1))`: the poly term's factor
/// multiplies a subnormal `1 - p_t` or `p(1 - p)`.
///
/// ```
/// use tinyloss::{Focal, Poly1};
/// let ce = Poly1::cross_entropy(1.0)?;
/// let r = ce.loss_grad(2.0, 1.0)?;
/// let p = 1.0 / (1.0 + (-2.0f32).exp());
/// assert!((r.loss - (-p.ln() + (1.0 - p))).abs() < 1e-6);
/// // ε down to -min(α_t): -0.25 for RetinaNet's α = 0.25.
/// let poly_focal = Poly1::new(Focal::RETINANET, -0.25)?;
/// assert!(poly_focal.loss_grad(2.0, 1.0)?.loss >= 0.0);
/// assert!(Poly1::new(Focal::RETINANET, -1.0).is_err());
/// # Ok::<(), tinyloss::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Poly1 {
    base: Focal,
    epsilon: f32,
}

impl Poly1 {
    /// Poly-1 over `base` with coefficient `epsilon`, in
    /// `[-min(α_t), 1e4]` (`min(α_t)` is 1 with α off, `min(α, 1 - α)` with
    /// α): the loss is then never negative.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `"epsilon"`.
    pub fn new(base: Focal, epsilon: f32) -> Result<Self, Error> {
        let lowest = match base.alpha() {
            None => -1.0,
            Some(a) => -Lane::min(a, 1.0 - a),
        };
        if !(lowest..=MAX_EPSILON).contains(&epsilon) {
            return Err(Error::InvalidParameter { name: "epsilon" });
        }
        Ok(Poly1 { base, epsilon })
    }

    /// Poly-1 cross-entropy, `CE + ε(1 - p_t)`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `"epsilon"`.
    pub fn cross_entropy(epsilon: f32) -> Result<Self, Error> {
        match Focal::new(0.0, None) {
            Ok(ce) => Poly1::new(ce, epsilon),
            Err(e) => Err(e),
        }
    }

    /// The base focal loss.
    pub fn base(&self) -> Focal {
        self.base
    }

    /// The poly coefficient ε.
    pub fn epsilon(&self) -> f32 {
        self.epsilon
    }

    /// `(ε m^{γ+1}, ε (γ+1) m^γ ∂m/∂z)` from the sigmoid `s`.
    #[inline(always)]
    fn term<V: Lane>(&self, s: &Sig<V>, ys: V, oms: V) -> (V, V) {
        let m = oms.mul_add(s.p, ys * s.q);
        let e = self.base.exponent();
        let mg = e.of(m);
        let eps = V::splat(self.epsilon);
        let k = V::splat(self.epsilon * (e.gamma + 1.0));
        // ∂m/∂z = p q (1 - 2y_s) = p q ((1 - y_s) - y_s).
        ((eps * mg) * m, (k * mg) * (s.dp() * (oms - ys)))
    }
}

/// Poly-1 with its base focal loss specialised (γ fixed at compile time).
#[derive(Clone, Copy)]
struct With<'a, K>(&'a Poly1, &'a K);

impl<K: Kernel> Kernel for With<'_, K> {
    fn grad_bound(&self, prob: bool) -> f32 {
        self.0.grad_bound(prob)
    }
    fn loss_bound(&self, prob: bool) -> (f32, f32) {
        self.0.loss_bound(prob)
    }
    #[inline(always)]
    fn smoothing(&self) -> f32 {
        self.1.smoothing()
    }
    #[inline(always)]
    fn hard<V: Lane>(&self, x: V, y: V) -> (V, V) {
        let (l, g) = self.1.hard(x, y);
        let (pl, pg) = self.0.term(&Sig::logit(x), y, V::splat(1.0) - y);
        ((l + pl).max(V::splat(0.0)), g + pg)
    }
    #[inline(always)]
    fn soft<V: Lane>(&self, x: V, y: V, ys: V, oms: V) -> (V, V) {
        let (l, g) = self.1.soft(x, y, ys, oms);
        let (pl, pg) = self.0.term(&Sig::logit(x), ys, oms);
        ((l + pl).max(V::splat(0.0)), g + pg)
    }
    #[inline(always)]
    fn prob<V: Lane>(&self, p: V, y: V, ys: V, oms: V) -> (V, V) {
        let (l, g) = self.1.prob(p, y, ys, oms);
        let (pl, pg) = per_prob(p, |s| self.0.term(&s, ys, oms));
        ((l + pl).max(V::splat(0.0)), g + pg)
    }
}

/// Hands [`With`] the specialised base kernel.
struct Specialise<'a, B>(&'a Poly1, B);

impl<B: Body> Body for Specialise<'_, B> {
    type Out = B::Out;
    #[inline(always)]
    fn call<K: Kernel>(self, k: &K) -> B::Out {
        self.1.call(&With(self.0, k))
    }
}

binary_loss!(Poly1);
element_api!(Poly1);

impl Kernel for Poly1 {
    #[inline(always)]
    fn specialize<B: Body>(&self, body: B) -> B::Out {
        self.base.specialize(Specialise(self, body))
    }

    #[inline(always)]
    fn smoothing(&self) -> f32 {
        self.base.smoothing()
    }

    /// The base loss's bound plus `|ε|(γ + 1)/4` (`m^γ p q ≤ 1/4`), with
    /// probabilities divided by the clamped `p (1 - p)`.
    fn grad_bound(&self, prob: bool) -> f32 {
        let extra = Lane::abs(self.epsilon) * (self.base.gamma() + 1.0) * 0.25;
        self.base.grad_bound(prob) + grad_bound_for(extra, prob)
    }

    /// The base loss's bound plus `|ε|` (`m^{γ+1} ≤ 1`).
    fn loss_bound(&self, prob: bool) -> (f32, f32) {
        let (a, b) = self.base.loss_bound(prob);
        (a, b + Lane::abs(self.epsilon))
    }

    #[inline(always)]
    fn hard<V: Lane>(&self, x: V, y: V) -> (V, V) {
        With(self, &self.base).hard(x, y)
    }
    #[inline(always)]
    fn soft<V: Lane>(&self, x: V, y: V, ys: V, oms: V) -> (V, V) {
        With(self, &self.base).soft(x, y, ys, oms)
    }
    #[inline(always)]
    fn prob<V: Lane>(&self, p: V, y: V, ys: V, oms: V) -> (V, V) {
        With(self, &self.base).prob(p, y, ys, oms)
    }
}
