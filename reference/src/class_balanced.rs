//! Class-balanced weights (Cui et al. 2019) in f64, from the paper's formula,
//! for a β given as the **decimal string** the user wrote (`"0.9999"`), not
//! as the f32 it rounds to.

use libm::pow;

/// How the weights are scaled (tinyloss's `class_balanced::Normalize`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Norm {
    /// `Σ_c w_c = C`.
    SumToClasses,
    /// `Σ_c n_c w_c / Σ_c n_c = 1` (all ones when every count is 0).
    MeanSampleWeight,
}

/// `1 - β` for a decimal `"0.ddd…"` (or `"0"`), as `(10^k - B) / 10^k`
/// from exact integers rounded once (`k ≤ 15`). `None` for anything else.
pub fn one_minus(beta: &str) -> Option<f64> {
    if beta == "0" {
        return Some(1.0);
    }
    let digits = beta.strip_prefix("0.")?;
    if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let b: u64 = digits.parse().ok()?;
    let p = 10u64.pow(digits.len() as u32);
    Some((p - b) as f64 / p as f64)
}

/// `v(n) = d / (1 - (1 - d)^n)` with `d = 1 - β` and `n = 0` treated as 1
/// (the documented choice). `β = 1 - d` in f64 is off by at most `2^-54`,
/// which moves `1 - β^n` by at most `2^-53 / d` relative: `≤ 2e-9` for
/// `d ≥ 6e-8` (β up to 0.99999994), 0.03 f32 ULP. `pow` is independent of
/// tinyloss's `expm1`/`log1p` path.
pub fn v(n: u32, d: f64) -> f64 {
    let n = if n == 0 { 1.0 } else { n as f64 };
    d / (1.0 - pow(1.0 - d, n))
}

/// The weights `k v(n_c)` for `d = 1 - β`, written into `out`
/// (`out.len() == counts.len()`).
pub fn weights(counts: &[u32], d: f64, norm: Norm, out: &mut [f64]) {
    let mut s = 0.0;
    let mut samples = 0.0;
    for (o, &n) in out.iter_mut().zip(counts) {
        *o = v(n, d);
        match norm {
            Norm::SumToClasses => s += *o,
            Norm::MeanSampleWeight => {
                s += n as f64 * *o;
                samples += n as f64;
            }
        }
    }
    let k = match norm {
        Norm::SumToClasses => counts.len() as f64 / s,
        Norm::MeanSampleWeight if samples == 0.0 => {
            out.iter_mut().for_each(|o| *o = 1.0);
            return;
        }
        Norm::MeanSampleWeight => samples / s,
    };
    out.iter_mut().for_each(|o| *o *= k);
}

/// The binary α from class counts: `v(n_pos) / (v(n_neg) + v(n_pos))`.
pub fn binary_alpha(n_neg: u32, n_pos: u32, d: f64) -> f64 {
    let (v0, v1) = (v(n_neg, d), v(n_pos, d));
    v1 / (v0 + v1)
}
