//! Softmax cross-entropy and softmax focal loss of one row in f64, with label
//! or probability targets, label smoothing and class weights, and the
//! PyTorch reductions over a batch of rows.
//!
//! `ℓ = Σ_c w_c y'_c (1 - p_c)^γ (-ln p_c)` with `y'` the target smoothed by
//! ε (PyTorch: `(1-ε) y + ε/C`); γ = 0 is cross-entropy. The gradient is
//! written from the textbook derivative
//! `∂/∂z_k [u_c^γ CE_c] = -(δ_ck - p_k) (u_c^γ + γ u_c^(γ-1) p_c CE_c)`,
//! `u_c = 1 - p_c`.

use crate::Reduce;
use libm::{exp, log, log1p};

/// The target of one row.
#[derive(Clone, Copy, Debug)]
pub enum RowTarget<'a> {
    /// A class label.
    Label(usize),
    /// A probability (or any non-negative) target per class.
    Probs(&'a [f64]),
}

/// The target of a batch of rows.
#[derive(Clone, Copy, Debug)]
pub enum Targets<'a> {
    /// One label per row.
    Labels(&'a [u32]),
    /// `rows × C` target values.
    Probs(&'a [f64]),
}

/// Precomputed row quantities: arg-max `a`, `m = z_a`,
/// `r_a = Σ_{j≠a} e^{z_j - m}`, `S = 1 + r_a`, `ln S = log1p(r_a)`, `Σ p`.
struct Row<'a> {
    z: &'a [f64],
    a: usize,
    m: f64,
    r_a: f64,
    s: f64,
    ln_s: f64,
    psum: f64,
}

impl<'a> Row<'a> {
    fn new(z: &'a [f64]) -> Self {
        let mut a = 0;
        for j in 0..z.len() {
            if z[j] > z[a] {
                a = j;
            }
        }
        let m = z[a];
        let mut r_a = 0.0;
        for (j, &v) in z.iter().enumerate() {
            if j != a {
                r_a += exp(v - m);
            }
        }
        let s = 1.0 + r_a;
        let mut psum = 0.0;
        for &v in z {
            psum += exp(v - m) / s;
        }
        Row {
            z,
            a,
            m,
            r_a,
            s,
            ln_s: log1p(r_a),
            psum,
        }
    }
    fn p(&self, j: usize) -> f64 {
        exp(self.z[j] - self.m) / self.s
    }
    /// `-ln p_j = ln S - (z_j - m)`.
    fn ce(&self, j: usize) -> f64 {
        self.ln_s - (self.z[j] - self.m)
    }
    /// `1 - p_j` as the sum of the other probabilities.
    fn u(&self, j: usize) -> f64 {
        if j == self.a {
            self.r_a / self.s
        } else {
            self.psum - self.p(j)
        }
    }
    /// `ln(1 - p_j)` without rounding `1 - p_j` to 1: `ln r_a - ln S` for
    /// the arg-max, `log1p(-p_j)` for the others (`p_j ≤ 1/2`). At huge γ
    /// the modulating factor `(1 - p_j)^γ = exp(γ ln(1 - p_j))` depends on
    /// a `p_j` far below f64's epsilon.
    fn ln_u(&self, j: usize) -> f64 {
        if j == self.a {
            log(self.r_a) - self.ln_s
        } else {
            log1p(-self.p(j))
        }
    }
}

/// The smoothed target `y'_j` of class `j`.
pub fn smoothed_target(t: RowTarget, c: usize, j: usize, eps: f64) -> f64 {
    let base = match t {
        RowTarget::Label(t) => (j == t) as u8 as f64,
        RowTarget::Probs(y) => y[j],
    };
    (1.0 - eps) * base + eps / c as f64
}

/// The target mass `K = Σ_c w_c y'_c` of a row (the gradient bound's scale).
pub fn target_mass(t: RowTarget, c: usize, w: Option<&[f64]>, eps: f64) -> f64 {
    (0..c)
        .map(|j| smoothed_target(t, c, j, eps) * w.map_or(1.0, |w| w[j]))
        .sum()
}

/// `k_j A_j` with `k_j = w_j y'_j` and
/// `A_j = u^γ + γ u^(γ-1) p_j CE_j` (0 when u = 0); and `k_j u^γ CE_j`.
fn terms(
    row: &Row,
    t: RowTarget,
    w: Option<&[f64]>,
    eps: f64,
    gamma: f64,
    detached: bool,
    j: usize,
) -> (f64, f64) {
    let c = row.z.len();
    let k = w.map_or(1.0, |w| w[j]) * smoothed_target(t, c, j, eps);
    if k == 0.0 {
        return (0.0, 0.0);
    }
    let u = row.u(j);
    let ce = row.ce(j);
    let ln_u = row.ln_u(j);
    let pw = if gamma == 0.0 { 1.0 } else { exp(gamma * ln_u) };
    let big_a = if gamma == 0.0 {
        1.0
    } else if detached {
        // The modulating factor held constant: ∂/∂z_k [u^γ] = 0.
        pw
    } else if u == 0.0 {
        0.0
    } else {
        pw + gamma * exp((gamma - 1.0) * ln_u) * row.p(j) * ce
    };
    (k * big_a, k * pw * ce)
}

/// Loss and gradient of one row (`grad.len() == z.len()`).
pub fn row(
    z: &[f64],
    t: RowTarget,
    w: Option<&[f64]>,
    eps: f64,
    gamma: f64,
    grad: &mut [f64],
) -> f64 {
    row_mode(z, t, w, eps, gamma, false, grad)
}

/// [`row`], with the modulating factors held constant when `detached`
/// (`∂ℓ/∂z_k = p_k Σ_c k_c u_c^γ - k_k u_k^γ`).
pub fn row_mode(
    z: &[f64],
    t: RowTarget,
    w: Option<&[f64]>,
    eps: f64,
    gamma: f64,
    detached: bool,
    grad: &mut [f64],
) -> f64 {
    let r = Row::new(z);
    let mut loss = 0.0;
    let mut ka = 0.0;
    for j in 0..z.len() {
        let (a, l) = terms(&r, t, w, eps, gamma, detached, j);
        loss += l;
        ka += a;
    }
    for (q, g) in grad.iter_mut().enumerate() {
        *g = -terms(&r, t, w, eps, gamma, detached, q).0 + r.p(q) * ka;
    }
    loss
}

/// A row loss of the family, for [`row_of`] and [`batch_of`].
#[derive(Clone, Copy, Debug)]
pub enum RowLossKind {
    /// Focal loss with focusing parameter `gamma` (0: cross-entropy), the
    /// modulating factors held constant when `detached`.
    Focal {
        /// The focusing parameter γ.
        gamma: f64,
        /// Whether the modulating factors are held constant.
        detached: bool,
    },
    /// Poly-1 cross-entropy `Σ_c k_c (CE_c + ε u_c)`.
    Poly1 {
        /// The poly coefficient ε.
        epsilon: f64,
    },
}

/// Poly-1 cross-entropy of one row: `ℓ = Σ_c k_c (CE_c + ε u_c)`,
/// `∂ℓ/∂z_j = p_j (K + ε P) - k_j (1 + ε p_j)` with `P = Σ_c k_c p_c`
/// (from `∂u_c/∂z_j = -p_c (δ_cj - p_j)`).
pub fn poly1_row(
    z: &[f64],
    t: RowTarget,
    w: Option<&[f64]>,
    smooth: f64,
    eps: f64,
    grad: &mut [f64],
) -> f64 {
    let r = Row::new(z);
    let c = z.len();
    let k = |j: usize| w.map_or(1.0, |w| w[j]) * smoothed_target(t, c, j, smooth);
    let (mut loss, mut big_k, mut big_p) = (0.0, 0.0, 0.0);
    for j in 0..c {
        let kj = k(j);
        if kj != 0.0 {
            loss += kj * (r.ce(j) + eps * r.u(j));
        }
        big_k += kj;
        big_p += kj * r.p(j);
    }
    for (j, g) in grad.iter_mut().enumerate() {
        *g = r.p(j) * (big_k + eps * big_p) - k(j) * (1.0 + eps * r.p(j));
    }
    loss
}

/// The two-hot target of `y ∈ [0, n - 1]` over `out.len() = n` bins in
/// f64: `t_j = max(0, 1 - |j - y|)` (distribution focal loss), formed as
/// `t_{i+1} = y - i` and `t_i = i + 1 - y` (`i = ⌊y⌋`) so that a tiny
/// `y - i` is not lost in `1 - |j - y|`.
pub fn two_hot(y: f64, out: &mut [f64]) {
    let i = libm::floor(y) as usize;
    for (j, t) in out.iter_mut().enumerate() {
        *t = if j == i {
            (i + 1) as f64 - y
        } else if j == i + 1 {
            y - i as f64
        } else {
            0.0
        };
    }
}

/// The integral decoder `Σ_j j p_j` of one row (`p = softmax(z)`), in f64.
pub fn integral(z: &[f64]) -> f64 {
    let m = z.iter().cloned().fold(f64::MIN, f64::max);
    let (mut s, mut js) = (0.0, 0.0);
    for (j, &v) in z.iter().enumerate() {
        let e = exp(v - m);
        s += e;
        js += j as f64 * e;
    }
    js / s
}

/// Loss and gradient of one row of `kind`.
pub fn row_of(
    kind: RowLossKind,
    z: &[f64],
    t: RowTarget,
    w: Option<&[f64]>,
    smooth: f64,
    grad: &mut [f64],
) -> f64 {
    match kind {
        RowLossKind::Focal { gamma, detached } => row_mode(z, t, w, smooth, gamma, detached, grad),
        RowLossKind::Poly1 { epsilon } => poly1_row(z, t, w, smooth, epsilon, grad),
    }
}

/// Loss of one row, without the gradient.
pub fn row_loss(z: &[f64], t: RowTarget, w: Option<&[f64]>, eps: f64, gamma: f64) -> f64 {
    let r = Row::new(z);
    (0..z.len())
        .map(|j| terms(&r, t, w, eps, gamma, false, j).1)
        .sum()
}

/// A batch of `rows × c` logits with PyTorch's reductions: returns the
/// reduced loss and writes the gradient of the reduced loss and the per-row
/// losses (0 for ignored rows). `Mean` divides by `Σ w_t` over rows that are
/// not ignored (labels) or by the number of rows (probability targets).
#[allow(clippy::too_many_arguments)]
pub fn batch(
    z: &[f64],
    c: usize,
    t: Targets,
    w: Option<&[f64]>,
    eps: f64,
    gamma: f64,
    ignore: Option<u32>,
    red: Reduce,
    grad: &mut [f64],
    rows: &mut [f64],
) -> f64 {
    let kind = RowLossKind::Focal {
        gamma,
        detached: false,
    };
    batch_of(kind, z, c, t, w, eps, ignore, red, grad, rows)
}

/// [`batch`] for any loss of the family.
#[allow(clippy::too_many_arguments)]
pub fn batch_of(
    kind: RowLossKind,
    z: &[f64],
    c: usize,
    t: Targets,
    w: Option<&[f64]>,
    eps: f64,
    ignore: Option<u32>,
    red: Reduce,
    grad: &mut [f64],
    rows: &mut [f64],
) -> f64 {
    let n = z.len() / c;
    let mut denom = 0.0;
    for r in 0..n {
        let zr = &z[r * c..(r + 1) * c];
        let tr = match t {
            Targets::Labels(l) => {
                if Some(l[r]) == ignore {
                    rows[r] = 0.0;
                    grad[r * c..(r + 1) * c].iter_mut().for_each(|g| *g = 0.0);
                    continue;
                }
                denom += w.map_or(1.0, |w| w[l[r] as usize]);
                RowTarget::Label(l[r] as usize)
            }
            Targets::Probs(p) => {
                denom += 1.0;
                RowTarget::Probs(&p[r * c..(r + 1) * c])
            }
        };
        rows[r] = row_of(kind, zr, tr, w, eps, &mut grad[r * c..(r + 1) * c]);
    }
    let scale = red.scale(denom, 0.0);
    grad.iter_mut().for_each(|g| *g *= scale);
    rows[..n].iter().sum::<f64>() * scale
}

/// The class prior's offsets `τ ln π_c`, `π_c = n_c / Σ n` (a zero count
/// taken as 1), in f64, into `out`.
pub fn logit_offsets(counts: &[u32], tau: f64, out: &mut [f64]) {
    let n: f64 = counts.iter().map(|&c| c.max(1) as f64).sum();
    for (o, &c) in out.iter_mut().zip(counts) {
        *o = tau * log(c.max(1) as f64 / n);
    }
}

/// LDAM's margins `m (n_min / n_c)^(1/4)` as the paper's code forms them
/// (`1/√√n_c`, scaled so that the largest is `m`), in f64, into `out`.
pub fn ldam_margins(counts: &[u32], m: f64, out: &mut [f64]) {
    let inv = |c: u32| 1.0 / libm::sqrt(libm::sqrt(c.max(1) as f64));
    let top = counts.iter().map(|&c| inv(c)).fold(0.0, f64::max);
    for (o, &c) in out.iter_mut().zip(counts) {
        *o = inv(c) * (m / top);
    }
}

/// LDAM's shifted logits `s (z - Δ ⊙ t)` of one row, into `out`.
pub fn ldam_row(z: &[f64], t: RowTarget, delta: &[f64], s: f64, out: &mut [f64]) {
    for (j, o) in out.iter_mut().enumerate() {
        let tj = match t {
            RowTarget::Label(y) => f64::from(u8::from(y == j)),
            RowTarget::Probs(p) => p[j],
        };
        *o = s * (z[j] - delta[j] * tj);
    }
}

/// Seesaw's shifted logits of one row with label `y`, mmdet's `SeesawLoss`
/// in f64 (`ln M = p ln(n_j / n_y)` where the ratio is below 1;
/// `C = (σ_j / max(σ_y, 0.01))^q` where above 1, its log formed from
/// `ln σ` so that no ratio under- or overflows), into `out`.
pub fn seesaw_row(z: &[f64], y: usize, counts: &[u32], p: f64, q: f64, out: &mut [f64]) {
    let m = z.iter().cloned().fold(f64::MIN, f64::max);
    let s: f64 = z.iter().map(|v| exp(v - m)).sum();
    let ln_sigma = |j: usize| z[j] - m - log(s);
    let n = |j: usize| counts[j].max(1) as f64;
    for (j, o) in out.iter_mut().enumerate() {
        *o = z[j];
        if j == y {
            continue;
        }
        let ratio = n(j) / n(y);
        if p > 0.0 && ratio < 1.0 {
            *o += p * log(ratio);
        }
        let ln_c = ln_sigma(j) - ln_sigma(y).max(log(1e-2));
        if q > 0.0 && ln_c > 0.0 {
            *o += q * ln_c;
        }
    }
}

/// The magnitude seesaw's bound on `z̃_j` is relative to (into `out`):
/// `|z̃_j| + p (|ln n_j| + |ln n_y| + 1) + |ln C_yj| + q (10 + ln C)`, with
/// `zt` the f64 shifted row of [`seesaw_row`] (its compensation
/// `ln C_yj = z̃_j - z_j - ln M_yj`).
pub fn seesaw_magnitude(
    z: &[f64],
    y: usize,
    counts: &[u32],
    p: f64,
    q: f64,
    zt: &[f64],
    out: &mut [f64],
) {
    let c = z.len();
    let ln_n = |j: usize| log(counts[j].max(1) as f64);
    for (j, o) in out.iter_mut().enumerate() {
        let mitigation = p * (ln_n(j) - ln_n(y)).min(0.0);
        let ln_c = zt[j] - z[j] - mitigation;
        *o = zt[j].abs()
            + p * (ln_n(j).abs() + ln_n(y).abs() + 1.0)
            + ln_c.abs()
            + q * (10.0 + log(c as f64));
    }
}
