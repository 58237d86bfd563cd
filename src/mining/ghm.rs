//! Gradient-harmonised weights (GHM-C, Li et al. 2019) in mmdet's
//! convention.

use crate::binary::kernel::{input_ok, target_ok};
use crate::error::{At, Error};
use crate::lanes::Lane;
use crate::math::exp_neg;
use crate::reduce::Reduction;

/// GHM-C: per-element weights that make every region of the gradient norm
/// `g = |σ(z) − y|` carry the same total weight (Li, Liu, Wang, *Gradient
/// Harmonized Single-stage Detector*, 2019), in mmdet's `GHMC` convention:
///
/// * `g` falls in bin `k` of `M` equal bins of `[0, 1]` (`g ≥ k/M` and
///   `g < (k+1)/M`, the last bin closed; edges as f32, as mmdet compares);
/// * each non-empty bin's count `n_k` updates a running count, `a_k ← m a_k
///   + (1 − m) n_k` (mmdet's `acc_sum`, from 0; momentum `m = 0.75`; empty
///   bins keep theirs; `m = 0` uses `n_k` itself);
/// * element `i` in bin `k` gets `w_i = N / a_k / B`, `N = max(1, elements
///   not ignored)`, `B` = the number of non-empty bins; ignored elements get
///   0;
/// * the loss is `Σ w_i CE_i / N`: pass the weights to
///   [`Batch::with_weights`](crate::Batch::with_weights) with
///   [`SigmoidCe::PLAIN`](crate::SigmoidCe::PLAIN) and the returned
///   [`Reduction::MeanOver`]`(N)`. The weights are constants, so the
///   gradient is `w_i (σ(z_i) − y_i) / N`, as mmdet's (which detaches `g`).
///
/// With the default momentum a running count starts at a quarter of its
/// first batch's count, so the first batches are weighted up to 4× (as in
/// mmdet). Figure 4's harmonising effect shows in the
/// [`Diagnostic`](crate::Diagnostic): with hard labels `g = 1 − p_t`, so the
/// bins are its `p_t` bins in reverse.
///
/// **Bounds.** `g` is within `2^-23` (absolute) of `|σ(z) − y|` (its `σ`
/// within 2 ULP); an element within that of an edge may fall on either side.
/// Against mmdet's recurrence in f64 from the same counts, each weight is
/// within `(3t + 4) u` relative after `t` updates of its bin (`u = 2^-24`).
///
/// ```
/// use tinyloss::mining::Ghm;
/// use tinyloss::{Batch, SigmoidCe};
/// let logits = [4.0, -4.0, -5.0, -3.5, 0.2, -1.5];
/// let targets = [1.0, 0.0, 0.0, 0.0, 0.0, 1.0];
/// let mut ghm = Ghm::<10>::MMDET;
/// let mut weights = [0.0; 6];
/// let reduction = ghm.weights(&logits, &targets, None, &mut weights)?;
/// // The four easy elements share one bin; each of the two hard ones has its own.
/// assert!(weights[4] > 3.0 * weights[0]);
/// let mut grad = [0.0; 6];
/// let loss = Batch::new(&targets).with_weights(&weights)
///     .loss_grad(&SigmoidCe::PLAIN, &logits, reduction, &mut grad, None)?;
/// assert!(loss > 0.0);
/// # Ok::<(), tinyloss::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ghm<const M: usize = 10> {
    momentum: f32,
    acc: [f32; M],
    /// `k/M` as f32 for `k = 1..M` (index `k - 1`), then ∞.
    edges: [f32; M],
}

impl<const M: usize> Ghm<M> {
    /// mmdet's defaults: momentum 0.75 (with `M = 10` bins, its default).
    pub const MMDET: Self = match Self::new(0.75) {
        Ok(g) => g,
        Err(_) => Self::with(0.0),
    };

    const fn with(momentum: f32) -> Self {
        let mut edges = [f32::INFINITY; M];
        let mut k = 1;
        while k < M {
            edges[k - 1] = k as f32 / M as f32;
            k += 1;
        }
        Ghm {
            momentum,
            acc: [0.0; M],
            edges,
        }
    }

    /// Running counts with momentum `m ∈ [0, 1)` (0: each batch's own
    /// counts). Otherwise [`Error::InvalidParameter`] (`"momentum"`), also for
    /// `M = 0` (`"bins"`).
    pub const fn new(momentum: f32) -> Result<Self, Error> {
        if M == 0 {
            return Err(Error::InvalidParameter { name: "bins" });
        }
        if !(momentum >= 0.0 && momentum < 1.0) {
            return Err(Error::InvalidParameter { name: "momentum" });
        }
        Ok(Self::with(momentum))
    }

    /// The running count of each bin (mmdet's `acc_sum`).
    pub const fn counts(&self) -> &[f32; M] {
        &self.acc
    }

    /// The bin of an element with logit `z` and target `y`.
    #[inline(always)]
    fn bin(&self, z: f32, y: f32) -> usize {
        let e = exp_neg(-z.abs());
        let p = if z >= 0.0 {
            1.0 / (1.0 + e)
        } else {
            e / (1.0 + e)
        };
        let g = (p - y).abs();
        self.edges
            .iter()
            .fold(0usize, |n, &e| n.wrapping_add(usize::from(g >= e)))
    }

    /// Writes the GHM-C weight of every element into `weights` (0 where
    /// `ignore[i]`), updates the running counts, and returns the reduction
    /// to train with, `MeanOver(N)`.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] (`"targets"`, `"ignore"`, `"weights"`
    /// against the logits), [`Error::NonFiniteInput`],
    /// [`Error::TargetOutOfRange`] at the first bad element that is not
    /// ignored, [`Error::Empty`]. Checked before anything is written: on an
    /// error the weights and the counts are unchanged.
    pub fn weights(
        &mut self,
        logits: &[f32],
        targets: &[f32],
        ignore: Option<&[bool]>,
        weights: &mut [f32],
    ) -> Result<Reduction, Error> {
        let n = logits.len();
        if n == 0 {
            return Err(Error::Empty);
        }
        let lens = [
            ("targets", targets.len()),
            ("ignore", ignore.map_or(n, <[bool]>::len)),
            ("weights", weights.len()),
        ];
        for (what, found) in lens {
            if found != n {
                return Err(Error::LengthMismatch {
                    what,
                    expected: n,
                    found,
                });
            }
        }
        let skip = |i: usize| ignore.is_some_and(|m| m.get(i) == Some(&true));
        let mut i = 0usize;
        let mut valid = 0u32;
        for (&z, &y) in logits.iter().zip(targets) {
            let at = i;
            i = i.wrapping_add(1);
            if skip(at) {
                continue;
            }
            valid = valid.wrapping_add(1);
            if !input_ok(z, false) {
                return Err(Error::NonFiniteInput {
                    at: At::Element(at),
                });
            }
            if !target_ok(y) {
                return Err(Error::TargetOutOfRange {
                    at: At::Element(at),
                });
            }
        }
        // Counts per bin; the bin index goes through `weights`.
        let mut num = [0u32; M];
        let mut i = 0usize;
        for ((w, &z), &y) in weights.iter_mut().zip(logits).zip(targets) {
            let at = i;
            i = i.wrapping_add(1);
            if skip(at) {
                *w = -1.0;
                continue;
            }
            let b = self.bin(z, y);
            if let Some(c) = num.get_mut(b) {
                *c = c.wrapping_add(1);
            }
            *w = b as f32;
        }
        let tot = Lane::max(valid as f32, 1.0);
        let (m, rest) = (self.momentum, 1.0 - self.momentum);
        let mut per = [0.0f32; M];
        let mut nonempty = 0u32;
        for ((a, &c), p) in self.acc.iter_mut().zip(&num).zip(per.iter_mut()) {
            if c == 0 {
                continue;
            }
            nonempty = nonempty.wrapping_add(1);
            *p = if m > 0.0 {
                *a = m * *a + rest * c as f32;
                tot / *a
            } else {
                tot / c as f32
            };
        }
        let nb = Lane::max(nonempty as f32, 1.0);
        for w in weights.iter_mut() {
            *w = if *w < 0.0 {
                0.0
            } else {
                per.get(*w as usize).copied().unwrap_or(0.0) / nb
            };
        }
        Ok(Reduction::MeanOver(tot))
    }
}
