//! Class-balanced weights (Cui et al. 2019) in f64, from the paper's formula.

use libm::pow;

/// `v(n) = (1 - β) / (1 - β^n)` with `n = 0` treated as 1 (the documented
/// choice). For β ≤ 1 - 2^-24 and n ≥ 1, `1 - β^n ≥ 5.9e-8`, so the f64
/// subtraction keeps about 1e-9 relative accuracy, far below an f32 ULP.
pub fn v(n: u32, beta: f64) -> f64 {
    let n = if n == 0 { 1.0 } else { n as f64 };
    (1.0 - beta) / (1.0 - pow(beta, n))
}

/// The weights `C v(n_c) / Σ v`, written into `out` (`out.len() == counts.len()`).
pub fn weights(counts: &[u32], beta: f64, out: &mut [f64]) {
    let mut s = 0.0;
    for (o, &n) in out.iter_mut().zip(counts) {
        *o = v(n, beta);
        s += *o;
    }
    let c = counts.len() as f64;
    out.iter_mut().for_each(|o| *o = *o * c / s);
}

/// The binary α from class counts: `v(n_pos) / (v(n_neg) + v(n_pos))`.
pub fn binary_alpha(n_neg: u32, n_pos: u32, beta: f64) -> f64 {
    let (v0, v1) = (v(n_neg, beta), v(n_pos, beta));
    v1 / (v0 + v1)
}
