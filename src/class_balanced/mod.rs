//! Class-balanced weights from the effective number of samples
//! (Cui et al., CVPR 2019), and a fixed-capacity class counter that keeps
//! them current while labels stream in on a device.
//!
//! With `n_c` samples of class `c` and `β ∈ [0, 1)`, the effective number is
//! `E_c = (1 - β^{n_c}) / (1 - β)` and the class weight is proportional to
//! its inverse,
//!
//! `v_c = (1 - β) / (1 - β^{n_c})`, `w_c = k · v_c`,
//!
//! with the factor `k` chosen by [`Normalize`]:
//!
//! * [`Normalize::SumToClasses`] (the paper's): `Σ_c w_c = C`, i.e.
//!   `k = C / Σ_c v_c`;
//! * [`Normalize::MeanSampleWeight`] (scikit-learn's
//!   `class_weight="balanced"` convention): the mean weight over the samples
//!   is 1, `Σ_c n_c w_c / Σ_c n_c = 1`, i.e. `k = Σ_c n_c / Σ_c n_c v_c`. A
//!   weighted mean loss then has the scale of the unweighted one.
//!
//! `β = 0` gives `v_c = 1` (no re-balancing); `β → 1` approaches inverse
//! class frequency, `v_c → 1/n_c`. The paper uses
//! `β ∈ {0.9, 0.99, 0.999, 0.9999}`.
//!
//! # β is read as the decimal you wrote
//!
//! `0.9999` is not an f32 (the literal is `0.99989998…`), and `1 - β` of that
//! f32 is `1.0000166e-4`: weights computed from it are up to 1.7e-4 relative
//! (hundreds of ULP) off the ones for the `β = 0.9999` the caller meant. The
//! f32 still identifies the decimal: every function here takes `β` as the
//! **shortest decimal that rounds to the f32** (what `{}` prints for it, and
//! what a literal or a config file holds), recovers `1 - β = (10^k - B)/10^k`
//! from it exactly with integer arithmetic, and computes in f64 from there.
//! For `β < 2^-20` the f32 itself is used (the two differ there by under
//! `2^-44` relative in `1 - β`).
//!
//! *Why not a separate "1 − β" constructor:* with the decimal read back, every
//! β a caller can write in f32 is already exact, and one spelling of the
//! parameter keeps configs and papers (which quote β) comparable. The cost is
//! that a β *computed* in f32 (say `1.0 - 1.0 / n as f32`) is taken as the
//! shortest decimal of its rounding interval, which differs from the real
//! number the computation meant by at most half an f32 ULP of β
//! (`≤ 2^-25 / (1 - β)` relative in `1 - β`); and that β above
//! `1 - 2^-24 = 0.99999994` cannot be expressed (for `n_c ≪ 1/(1 - β)` such β
//! is the inverse-frequency limit anyway).
//!
//! # Accuracy
//!
//! `1 - β^n` is computed as `-expm1(n · log1p(-(1 - β)))` in f64 (vendored
//! libm, < 1 ULP each), which keeps full relative accuracy for β close to 1
//! and small `n` (`β = 0.9999, n = 1` gives `1e-4`, where `1 - powf(β, n)` in
//! f32 keeps about 3 digits), and `v_1 = 1` exactly. The f64 result is within
//! `(C + 16) · 2^-53` relative of the exact value for the decimal β, so every
//! f32 weight (and [`binary_alpha`]) is **within 1 ULP** of the exact value
//! for `C ≤ 2^26` (half an ULP from the final rounding, the rest from f64).
//! Asserted in `tests/class_balanced.rs` against an f64 reference that reads
//! β as a decimal string, for β = 0.9 … 0.99999, 0.99999994, 0 and counts 0,
//! 1 and `u32::MAX`.
//!
//! # Counts of 0
//!
//! A class with no sample yet is weighted as if it had one (`v_c = v(1) = 1`,
//! the largest `v` any class can get). The exact formula would give an
//! infinite weight; weight 0 would make the class unlearnable from its first
//! samples on and, with a streaming [`ClassCounter`], would make the weights
//! jump when the first sample arrives. Under [`Normalize::MeanSampleWeight`]
//! a zero-count class adds nothing to `Σ_c n_c w_c` (it has no samples), so
//! its weight is the `k` of the others. **All counts 0** give all-ones
//! weights with either normalisation. No input gives NaN or infinity: every
//! weight is finite and positive, at most `C` under `SumToClasses` and at most
//! `1 / (1 - β) ≤ 2^24` under `MeanSampleWeight`.
//!
//! Cost: reading β back as a decimal (at most 17 steps of a few `u128`
//! multiplies and compares), one `log1p` per call, and one `expm1` per class
//! with `n_c ≥ 2`, in f64 (software f64 on Cortex-M: a few thousand cycles
//! per class; this is meant to run once per re-balance, not per sample). No panic path links on any
//! target or profile, overflow checks included (`tools/nopanic`).
//!
//! ```
//! use tinyloss::class_balanced::{weights, ClassCounter, Normalize};
//! let mut w = [0.0f32; 3];
//! weights(&[1000, 100, 10], 0.99, Normalize::SumToClasses, &mut w)?;
//! assert!(w[0] < w[1] && w[1] < w[2]);
//! assert!((w.iter().sum::<f32>() - 3.0).abs() < 1e-5);
//!
//! let mut counter = ClassCounter::<3>::new();
//! for label in [0, 0, 0, 1, 2, 0] {
//!     counter.observe(label)?;
//! }
//! counter.observe_all(&[1u8, 2])?; // u8, u16 or u32 labels
//! assert_eq!(counter.counts(), &[4, 2, 2]);
//! counter.weights(0.9, Normalize::MeanSampleWeight, &mut w)?;
//! let mean = (4.0 * w[0] + 2.0 * w[1] + 2.0 * w[2]) / 8.0;
//! assert!((mean - 1.0).abs() < 1e-6 && w[0] < w[1] && w[1] == w[2]);
//! # Ok::<(), tinyloss::Error>(())
//! ```

mod decimal;
pub(crate) mod libm64;

use crate::{At, Error, Labels};

/// How [`weights`] scales `v_c = (1 - β)/(1 - β^{n_c})` into the weights
/// `w_c = k · v_c`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Normalize {
    /// `Σ_c w_c = C` (Cui et al. 2019): `k = C / Σ_c v_c`. Each weight is in
    /// `(0, C]`; a class with count 0 is weighted as one with count 1.
    #[default]
    SumToClasses,
    /// The mean weight per sample is 1, `Σ_c n_c w_c / Σ_c n_c = 1`
    /// (scikit-learn's `class_weight="balanced"` convention):
    /// `k = Σ_c n_c / Σ_c n_c v_c`. A class with count 0 gets `k` (the weight
    /// of a class with one sample) and adds nothing to either sum; all counts
    /// 0 give all ones.
    MeanSampleWeight,
}

/// `1 - β` (read as a decimal, see the [module docs](self)) and
/// `ln β = log1p(-(1 - β))`, after the range check.
#[derive(Clone, Copy)]
struct Rate {
    one_m_beta: f64,
    ln_beta: f64,
}

impl Rate {
    /// `None` for β = 0 (all `v` are 1).
    fn new(beta: f32) -> Result<Option<Rate>, Error> {
        if !(0.0..1.0).contains(&beta) {
            return Err(Error::InvalidParameter { name: "beta" });
        }
        if beta == 0.0 {
            return Ok(None);
        }
        let d = decimal::one_minus(beta);
        Ok(Some(Rate {
            one_m_beta: d,
            ln_beta: libm64::log1p(-d),
        }))
    }

    /// `v(n) = (1 - β) / (1 - β^max(n, 1))`; `v(0) = v(1) = 1` exactly.
    #[inline]
    fn v(self, n: u32) -> f64 {
        if n <= 1 {
            return 1.0;
        }
        // 1 - β^n = -expm1(n ln β): no cancellation, however close β is to 1.
        self.one_m_beta / -libm64::expm1(n as f64 * self.ln_beta)
    }
}

/// `v` of `n` under `rate` (`None`: β = 0, all ones).
#[inline]
fn v(rate: Option<Rate>, n: u32) -> f64 {
    match rate {
        Some(r) => r.v(n),
        None => 1.0,
    }
}

/// Writes the class-balanced weights of `counts` into `out` (same length
/// `C ≥ 1`): `w_c = k · v_c`, `v_c = (1 - β)/(1 - β^{n_c})`, with `k` from
/// `norm` ([`Normalize`]), counts of 0 weighted as 1, and β read as the
/// shortest decimal that rounds to it (see the [module docs](self)). Each
/// weight is positive, finite and **within 1 ULP** of the exact value for
/// that decimal β (`C ≤ 2^26`); the normalising sum holds within `C` ULP.
///
/// # Errors
/// Checked before anything is written: [`Error::Empty`] (`C = 0`),
/// [`Error::LengthMismatch`] (`"out"`), [`Error::InvalidParameter`] naming
/// `"beta"` unless `β ∈ [0, 1)` (NaN included).
pub fn weights(counts: &[u32], beta: f32, norm: Normalize, out: &mut [f32]) -> Result<(), Error> {
    crate::error::check_per_class(counts.len(), out.len())?;
    let rate = Rate::new(beta)?;
    let k = match norm {
        Normalize::SumToClasses => {
            let total: f64 = counts.iter().map(|&n| v(rate, n)).sum();
            counts.len() as f64 / total
        }
        Normalize::MeanSampleWeight => {
            let (mut samples, mut total) = (0u64, 0.0f64);
            for &n in counts {
                samples = samples.saturating_add(u64::from(n));
                total += n as f64 * v(rate, n);
            }
            if samples == 0 {
                out.fill(1.0);
                return Ok(());
            }
            samples as f64 / total
        }
    };
    for (o, &n) in out.iter_mut().zip(counts) {
        *o = (v(rate, n) * k) as f32;
    }
    Ok(())
}

/// The class-balanced α of the positive class for a binary loss (e.g.
/// [`Focal`](crate::Focal)'s `alpha`, which weights positives by α and
/// negatives by `1 - α`): `α = v_1 / (v_0 + v_1)` with
/// `v = (1 - β)/(1 - β^n)` of `n_neg` (class 0) and `n_pos` (class 1), counts
/// of 0 treated as 1 and β read as a decimal (see the [module docs](self)).
/// `β = 0` gives 0.5; a rare positive class gives α > 0.5. Within 1 ULP of
/// the exact value. (α is a ratio: [`Normalize`] does not apply.)
///
/// # Errors
/// [`Error::InvalidParameter`] naming `"beta"` unless `β ∈ [0, 1)`.
pub fn binary_alpha(n_neg: u32, n_pos: u32, beta: f32) -> Result<f32, Error> {
    let rate = Rate::new(beta)?;
    let (v0, v1) = (v(rate, n_neg), v(rate, n_pos));
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

    /// Counts one sample of class `label` (saturating). The label type is the
    /// softmax targets' (`u32`; `u8`/`u16` labels widen with `.into()`).
    ///
    /// # Errors
    /// [`Error::LabelOutOfRange`] at [`At::Element(0)`](At::Element) when
    /// `label >= C`; the counts are unchanged.
    pub fn observe(&mut self, label: u32) -> Result<(), Error> {
        match self.counts.get_mut(label as usize) {
            Some(n) => {
                *n = n.saturating_add(1);
                Ok(())
            }
            None => Err(Error::LabelOutOfRange { at: At::Element(0) }),
        }
    }

    /// Counts a batch of labels, all or nothing: `u8`, `u16` or `u32` label
    /// slices (anything that converts into [`Labels`], as the softmax
    /// targets take).
    ///
    /// # Errors
    /// [`Error::LabelOutOfRange`] at [`At::Element`] of the first label
    /// `>= C`; the counts are unchanged.
    pub fn observe_all<'a>(&mut self, labels: impl Into<Labels<'a>>) -> Result<(), Error> {
        match labels.into() {
            Labels::U8(l) => self.count(l),
            Labels::U16(l) => self.count(l),
            Labels::U32(l) => self.count(l),
        }
    }

    fn count<T: Copy + Into<u32>>(&mut self, labels: &[T]) -> Result<(), Error> {
        if let Some(i) = labels.iter().position(|&l| l.into() as usize >= C) {
            return Err(Error::LabelOutOfRange { at: At::Element(i) });
        }
        for &l in labels {
            // Always `Some`: the pass above checked every label.
            if let Some(n) = self.counts.get_mut(l.into() as usize) {
                *n = n.saturating_add(1);
            }
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

    /// The current class-balanced weights, exactly as [`weights`] of
    /// [`counts`](Self::counts): `w_c = k · (1 - β)/(1 - β^{n_c})` with `k`
    /// from `norm`, each within 1 ULP of the exact value for the decimal β,
    /// unseen classes weighted as one sample.
    ///
    /// # Errors
    /// Those of [`weights`], checked before `out` is written:
    /// [`Error::Empty`] when `C = 0`, [`Error::LengthMismatch`] (`"out"`)
    /// unless `out.len() == C`, [`Error::InvalidParameter`] naming `"beta"`
    /// unless `β ∈ [0, 1)`.
    pub fn weights(&self, beta: f32, norm: Normalize, out: &mut [f32]) -> Result<(), Error> {
        weights(&self.counts, beta, norm, out)
    }
}
