//! Seesaw loss ([`Seesaw`]): the base loss at logits shifted by the
//! mitigation and compensation factors of the row's label.
//!
//! Legend: label `y`, `n_c` the running count of class `c` (0 counts as 1),
//! `σ = softmax(z)` (detached), `ε = 0.01` (mmdet's `eps`), `p, q ≥ 0`.
//!
//! Formula, for `j ≠ y` (`z̃_y = z_y`): `z̃_j = z_j + ln M_yj + ln C_yj`,
//! `M_yj = (n_j / n_y)^p` when `n_j < n_y` (else 1),
//! `C_yj = (σ_j / max(σ_y, ε))^q` when that ratio exceeds 1 (else 1);
//! `ℓ = L(z̃, y)`, `∂ℓ/∂z = ∂L/∂z̃` (the factors held constant, as mmdet
//! detaches them). In logs: `ln M_yj = p min(0, ln n_j - ln n_y)`,
//! `ln C_yj = q max(0, (z_j - z_y)` when `σ_y ≥ ε`, else
//! `z_j - lse - ln ε)`, so `0 ≤ ln C_yj ≤ q ln(1/ε)`: `z̃` is finite for
//! every finite `z`.

use super::shift::{sealed, Shift, Shifted};
use super::{SoftmaxLoss, Target};
use crate::lanes::{sat, Lane};
use crate::math::{exp_neg, ln};
use crate::Error;

/// Largest `p` or `q` accepted (mmdet's defaults are 0.8 and 2).
const MAX_PQ: f32 = 1e3;

/// `ln ε` for mmdet's `ε = 0.01`.
const LN_EPS: f32 = -4.605_170_2;

/// Seesaw's running counts and exponents (validated once: `p, q` in
/// `[0, 1e3]`).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SeesawFactors<'a> {
    counts: &'a [u32],
    p: f32,
    q: f32,
}

impl<'a> SeesawFactors<'a> {
    /// Running counts (length `C`, e.g. a
    /// [`ClassCounter`](crate::class_balanced::ClassCounter)'s `counts()`
    /// after the batch's labels are added, as mmdet counts them before the
    /// loss) and the exponents `p` (mitigation) and `q` (compensation).
    ///
    /// # Errors
    /// [`Error::Empty`], [`Error::InvalidParameter`] (`"p"`, `"q"`).
    pub fn new(counts: &'a [u32], p: f32, q: f32) -> Result<Self, Error> {
        if counts.is_empty() {
            return Err(Error::Empty);
        }
        if !(0.0..=MAX_PQ).contains(&p) {
            return Err(Error::InvalidParameter { name: "p" });
        }
        if !(0.0..=MAX_PQ).contains(&q) {
            return Err(Error::InvalidParameter { name: "q" });
        }
        Ok(SeesawFactors { counts, p, q })
    }

    /// The counts.
    pub fn counts(&self) -> &'a [u32] {
        self.counts
    }

    /// `(p, q)`.
    pub fn exponents(&self) -> (f32, f32) {
        (self.p, self.q)
    }
}

impl sealed::Sealed for SeesawFactors<'_> {}

impl Shift for SeesawFactors<'_> {
    fn what(&self) -> &'static str {
        "counts"
    }
    fn classes(&self) -> usize {
        self.counts.len()
    }
    fn fits(&self, _row: &[f32], t: Target<'_>) -> Result<(), Error> {
        match t {
            Target::Label(_) => Ok(()),
            Target::Probs(_) => Err(Error::InvalidParameter { name: "targets" }),
        }
    }
    fn apply(&self, row: &mut [f32], t: Target<'_>) {
        let y = match t {
            Target::Label(y) => y as usize,
            Target::Probs(_) => return,
        };
        let (Some(&z_y), Some(&n_y)) = (row.get(y), self.counts.get(y)) else {
            return;
        };
        let n_y = n_y.max(1);
        let ln_ny = ln(n_y as f32);
        // σ_y ≥ ε decides the compensation's form; ln σ_y = d_y - ln S.
        let m = row.iter().fold(f32::MIN, |m, &z| Lane::max(m, z));
        let s = row.iter().fold(0.0f32, |s, &z| s + exp_neg(sat(z - m)));
        let ln_s = ln(s);
        let ln_sy = sat(z_y - m) - ln_s;
        let self_floor = Lane::max(ln_sy, LN_EPS);
        for ((c, z), &n) in (0..row.len()).zip(row.iter_mut()).zip(self.counts) {
            if c == y {
                continue;
            }
            let mut off = 0.0;
            if self.p > 0.0 && n.max(1) < n_y {
                off += self.p * (ln(n.max(1) as f32) - ln_ny);
            }
            if self.q > 0.0 {
                // ln(σ_c / max(σ_y, ε)): z_c - z_y when σ_y ≥ ε (exact
                // but for one rounding), else ln σ_c - ln ε.
                let r = if ln_sy >= LN_EPS {
                    sat(*z - z_y)
                } else {
                    (sat(*z - m) - ln_s) - self_floor
                };
                if r > 0.0 {
                    off += self.q * r;
                }
            }
            *z += off;
        }
    }
}

/// Seesaw loss (Wang et al. 2021, "Seesaw Loss for Long-Tailed Instance
/// Segmentation"; the convention of mmdet's `SeesawLoss` for the class
/// scores, `use_sigmoid=False`, without its objectness branch): for a
/// sample of class `y`, each other class `j`'s logit is raised by
/// `ln M_yj + ln C_yj` before the base loss. The mitigation factor
/// `M_yj = (n_j / n_y)^p < 1` lowers the penalty a rarer class `j` gets
/// from samples of a frequent `y`; the compensation factor
/// `C_yj = (σ_j / σ_y)^q > 1` restores it where `j` is wrongly more
/// confident than `y`. mmdet's defaults: `p = 0.8`, `q = 2`, `ε = 0.01`.
/// Labels only (probability targets are an [`Error::InvalidParameter`]
/// `"targets"`); the counts are the caller's running counts (add the
/// batch's labels to a [`ClassCounter`](crate::class_balanced::ClassCounter)
/// before the call, as mmdet does).
///
/// Error bounds: `z̃_j` is within
/// `2u (|z̃_j| + p (|ln n_j| + |ln n_y| + 1) + q (|ln C_yj| / q + 10 + ln C))`
/// absolute of its exact value (`u = 2^-24`, `C` classes); the loss and
/// gradient are the base loss's at that `z̃`, bit for bit.
///
/// ```
/// use tinyloss::softmax::{Seesaw, SoftmaxCe, Target};
/// let counts = [900u32, 90, 10];
/// let seesaw = Seesaw::new(SoftmaxCe::new(), &counts, 0.8, 2.0)?;
/// let z = [2.0, 0.0, 1.0];
/// let mut g = [0.0; 3];
/// // A head-class sample pushes the tail class's logit down less than CE.
/// seesaw.loss_grad_row(&z, Target::Label(0), &mut g)?;
/// let mut g_ce = [0.0; 3];
/// SoftmaxCe::new().loss_grad_row(&z, Target::Label(0), &mut g_ce)?;
/// assert!(g[2] > 0.0 && g[2] < g_ce[2]);
/// # Ok::<(), tinyloss::Error>(())
/// ```
pub type Seesaw<'a, L> = Shifted<SeesawFactors<'a>, L>;

impl<'a, L: SoftmaxLoss> Shifted<SeesawFactors<'a>, L> {
    /// `loss` with seesaw's factors from `counts`, `p` and `q`.
    ///
    /// # Errors
    /// As [`SeesawFactors::new`].
    pub fn new(loss: L, counts: &'a [u32], p: f32, q: f32) -> Result<Self, Error> {
        Ok(Shifted {
            shift: SeesawFactors::new(counts, p, q)?,
            loss,
        })
    }
}
