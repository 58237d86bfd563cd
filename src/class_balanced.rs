//! Class-balanced weights from the effective number of samples
//! (Cui et al., CVPR 2019), and a fixed-capacity class counter that keeps
//! them current while labels stream in on a device.
//!
//! With `n_c` samples of class `c` and `β ∈ [0, 1)`, the effective number is
//! `E_c = (1 - β^{n_c}) / (1 - β)` and the class weight is its inverse,
//! normalised so that the `C` weights sum to `C`:
//!
//! `w_c = C · v_c / Σ_j v_j`, `v_c = (1 - β) / (1 - β^{n_c})`.
//!
//! `β = 0` gives all ones (no re-balancing); `β → 1` approaches inverse class
//! frequency. The paper uses `β ∈ {0.9, 0.99, 0.999, 0.9999}`.
//!
//! **Stability.** `1 - β^n` is computed as `-expm1(n · log1p(β - 1))` in f64
//! (libm's `expm1`/`log1p`, < 1 ULP each; `β - 1` is exact for f32 `β ≥ 0.5`
//! by Sterbenz' lemma and exactly representable in f64 otherwise), so it keeps
//! full relative accuracy for `β` close to 1 and small `n` (e.g.
//! `β = 0.9999, n = 1` gives `1e-4`, where `1 - powf(β, n)` in f32 keeps only
//! about 3 digits). The f64 weights are accurate to about `1e-13` relative;
//! the f32 outputs are therefore within 1 ULP (`2^-23` relative) of the exact
//! values. Asserted in `tests/class_balanced.rs` against an f64 reference.
//!
//! **Counts of 0.** A class with no sample yet is weighted as if it had one
//! (`n_c := 1`, i.e. `v_c = 1`, the largest weight any class can get). The
//! exact formula would give an infinite weight; weight 0 would make the class
//! unlearnable from its first samples on (its rows add nothing) and, with a
//! streaming [`ClassCounter`], would make weights jump when the first sample
//! arrives. With `n := 1` the first sample changes nothing, and an all-zero
//! count vector gives all-ones weights.
//!
//! Cost: one `log1p` per call plus one `expm1` per class, in f64 (software
//! f64 on Cortex-M: a few thousand cycles per class; this is meant to run once
//! per re-balance, not per sample).
//!
//! ```
//! use tinyloss::class_balanced::{weights, ClassCounter};
//! let mut w = [0.0f32; 3];
//! weights(&[1000, 100, 10], 0.99, &mut w)?;
//! assert!(w[0] < w[1] && w[1] < w[2]);
//! assert!((w.iter().sum::<f32>() - 3.0).abs() < 1e-5);
//!
//! let mut counter = ClassCounter::<3>::new();
//! for label in [0, 0, 0, 1, 2, 0] {
//!     counter.observe(label)?;
//! }
//! assert_eq!(counter.counts(), &[4, 1, 1]);
//! counter.weights(0.9, &mut w)?;
//! assert!(w[0] < w[1] && w[1] == w[2]);
//! # Ok::<(), tinyloss::Error>(())
//! ```

use crate::{At, Error};

fn check_beta(beta: f32) -> Result<f64, Error> {
    if (0.0..1.0).contains(&beta) {
        Ok(beta as f64)
    } else {
        Err(Error::InvalidParameter { name: "beta" })
    }
}

/// `v(n) = (1 - β) / (1 - β^max(n, 1))` in f64, given `lb = log1p(β - 1) = ln β`
/// (`-inf` for β = 0).
#[inline]
fn raw(n: u32, one_m_beta: f64, lb: f64) -> f64 {
    let n = n.max(1) as f64;
    // 1 - β^n = -expm1(n ln β); for β = 0, n ln β = -inf and expm1 = -1.
    one_m_beta / -libm::expm1(n * lb)
}

/// Writes the class-balanced weights of `counts` into `out` (same length
/// `C ≥ 1`): `w_c = C · v_c / Σ_j v_j` with `v_c = (1 - β)/(1 - β^{n_c})` and
/// `n_c = 0` treated as 1 (see the [module docs](self)). The weights are
/// positive, sum to `C` (within `C` ULP), and each is within 1 ULP of the
/// exact value.
///
/// # Errors
/// Checked before anything is written: [`Error::Empty`] (`C = 0`),
/// [`Error::LengthMismatch`] (`"out"`), [`Error::InvalidParameter`] naming
/// `"beta"` unless `β ∈ [0, 1)` (NaN included).
pub fn weights(counts: &[u32], beta: f32, out: &mut [f32]) -> Result<(), Error> {
    if counts.is_empty() {
        return Err(Error::Empty);
    }
    if counts.len() != out.len() {
        return Err(Error::LengthMismatch {
            what: "out",
            expected: counts.len(),
            found: out.len(),
        });
    }
    let b = check_beta(beta)?;
    if b == 0.0 {
        out.fill(1.0);
        return Ok(());
    }
    let one_m_beta = 1.0 - b;
    let lb = libm::log1p(b - 1.0);
    let total: f64 = counts.iter().map(|&n| raw(n, one_m_beta, lb)).sum();
    let k = counts.len() as f64 / total;
    for (o, &n) in out.iter_mut().zip(counts) {
        *o = (raw(n, one_m_beta, lb) * k) as f32;
    }
    Ok(())
}

/// The class-balanced α of the positive class for a binary loss (e.g.
/// [`Focal`](crate::Focal)'s `alpha`, which weights positives by α and
/// negatives by `1 - α`): `α = v_1 / (v_0 + v_1)` with
/// `v = (1 - β)/(1 - β^n)` of `n_neg` (class 0) and `n_pos` (class 1), counts
/// of 0 treated as 1. `β = 0` gives 0.5; a rare positive class gives α > 0.5.
/// Within 1 ULP of the exact value.
///
/// # Errors
/// [`Error::InvalidParameter`] naming `"beta"` unless `β ∈ [0, 1)`.
pub fn binary_alpha(n_neg: u32, n_pos: u32, beta: f32) -> Result<f32, Error> {
    let b = check_beta(beta)?;
    if b == 0.0 {
        return Ok(0.5);
    }
    let one_m_beta = 1.0 - b;
    let lb = libm::log1p(b - 1.0);
    let v0 = raw(n_neg, one_m_beta, lb);
    let v1 = raw(n_pos, one_m_beta, lb);
    Ok((v1 / (v0 + v1)) as f32)
}

/// Per-class sample counts with a fixed capacity of `C` classes (`4·C` bytes,
/// no allocation), for firmware that re-balances its loss while labelled
/// samples arrive. Counts saturate at `u32::MAX`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ClassCounter<const C: usize> {
    counts: [u32; C],
}

impl<const C: usize> Default for ClassCounter<C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const C: usize> ClassCounter<C> {
    /// All counts 0.
    pub const fn new() -> Self {
        ClassCounter { counts: [0; C] }
    }

    /// A counter starting from prior counts (e.g. restored from flash).
    pub const fn from_counts(counts: [u32; C]) -> Self {
        ClassCounter { counts }
    }

    /// Counts one sample of class `label` (saturating).
    ///
    /// # Errors
    /// [`Error::LabelOutOfRange`] with index 0 when `label >= C`; the counts
    /// are unchanged.
    pub fn observe(&mut self, label: usize) -> Result<(), Error> {
        match self.counts.get_mut(label) {
            Some(n) => {
                *n = n.saturating_add(1);
                Ok(())
            }
            None => Err(Error::LabelOutOfRange { at: At::Element(0) }),
        }
    }

    /// Counts a batch of labels, all or nothing.
    ///
    /// # Errors
    /// [`Error::LabelOutOfRange`] with the position of the first label `>= C`;
    /// the counts are unchanged.
    pub fn observe_all(&mut self, labels: &[u32]) -> Result<(), Error> {
        if let Some(i) = labels.iter().position(|&l| l as usize >= C) {
            return Err(Error::LabelOutOfRange { at: At::Element(i) });
        }
        for &l in labels {
            let n = &mut self.counts[l as usize];
            *n = n.saturating_add(1);
        }
        Ok(())
    }

    /// The counts so far.
    pub fn counts(&self) -> &[u32; C] {
        &self.counts
    }

    /// Total number of samples counted (saturating).
    pub fn total(&self) -> u32 {
        self.counts.iter().fold(0u32, |a, &n| a.saturating_add(n))
    }

    /// Forgets every count.
    pub fn reset(&mut self) {
        self.counts = [0; C];
    }

    /// The current class-balanced weights, as [`weights`]: sum `C`, each
    /// within 1 ULP of the exact value, unseen classes weighted as one sample.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming `"beta"` unless `β ∈ [0, 1)`;
    /// [`Error::Empty`] when `C = 0`. `out` is untouched on error.
    pub fn weights(&self, beta: f32, out: &mut [f32; C]) -> Result<(), Error> {
        weights(&self.counts, beta, out)
    }
}
