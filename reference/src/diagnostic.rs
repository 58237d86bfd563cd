//! The easy-example diagnostic recomputed in f64 from the per-element (or
//! per-row) inputs, targets, weighted losses and gradients: groups,
//! easiness and `p_t` bins decided from f64 `p_t` (for logits, from `z_t`
//! against f64 `logit` edges, which is the same order), sums in f64, and
//! the exact number of elements that carry half the gradient by sorting.

/// One group's figures (index 0: positives, 1: negatives).
#[derive(Clone, Copy, Debug)]
pub struct Figures<const B: usize> {
    /// Elements (rows) per group.
    pub count: [u32; 2],
    /// Easy elements per group.
    pub easy: [u32; 2],
    /// `Σ w ℓ` per group.
    pub loss: [f64; 2],
    /// `Σ w ℓ` of the easy elements per group.
    pub easy_loss: [f64; 2],
    /// `Σ |g|` per group.
    pub grad: [f64; 2],
    /// `Σ |g|` of the easy elements per group.
    pub easy_grad: [f64; 2],
    /// Per group and `p_t` bin: `(count, Σ w ℓ, Σ |g|)`.
    pub bins: [[(u32, f64, f64); B]; 2],
    /// Elements whose position is within `tol` (relative) of the threshold
    /// or of a bin edge, where f32 arithmetic may decide either way.
    pub ambiguous: u32,
    /// The relative width of the ambiguous band: `2^-20` by default (the
    /// rounding of `1 - p` and of the f32 edges); about `2^-18` suits softmax
    /// rows, whose f32 `p_t` is a few ULP off.
    pub tol: f64,
}

impl<const B: usize> Default for Figures<B> {
    fn default() -> Self {
        Figures {
            count: [0; 2],
            easy: [0; 2],
            loss: [0.0; 2],
            easy_loss: [0.0; 2],
            grad: [0.0; 2],
            easy_grad: [0.0; 2],
            bins: [[(0, 0.0, 0.0); B]; 2],
            ambiguous: 0,
            tol: 1.0 / (1u32 << 20) as f64,
        }
    }
}

fn logit(q: f64) -> f64 {
    libm::log(q / (1.0 - q))
}

impl<const B: usize> Figures<B> {
    /// Adds one element by its position `v` against the threshold `thr` and
    /// the edges `edge(k)` (`v` is `z_t` or `p_t`, increasing in `p_t`).
    fn add(&mut self, neg: bool, v: f64, thr: f64, edge: impl Fn(usize) -> f64, l: f32, g: f32) {
        let gi = usize::from(neg);
        let tol = self.tol;
        let near = |e: f64| libm::fabs(v - e) < tol * libm::fabs(e);
        let mut amb = near(thr);
        let mut bin = 0;
        for k in 0..B.saturating_sub(1) {
            let e = edge(k);
            amb |= near(e);
            if v >= e {
                bin += 1;
            }
        }
        self.ambiguous += u32::from(amb);
        let (l, g) = (f64::from(l), libm::fabs(f64::from(g)));
        self.count[gi] += 1;
        self.loss[gi] += l;
        self.grad[gi] += g;
        if v > thr {
            self.easy[gi] += 1;
            self.easy_loss[gi] += l;
            self.easy_grad[gi] += g;
        }
        if let Some(b) = self.bins[gi].get_mut(bin) {
            b.0 += 1;
            b.1 += l;
            b.2 += g;
        }
    }

    /// Adds a binary element: input `x` (logit, or probability with
    /// `prob`), target `y`, weighted loss `l`, gradient `g`.
    #[allow(clippy::too_many_arguments)]
    pub fn element(&mut self, prob: bool, thr: f64, x: f32, y: f32, l: f32, g: f32) {
        let neg = y < 0.5;
        let x = f64::from(x);
        if prob {
            let pt = if neg { 1.0 - x } else { x };
            self.add(neg, pt, thr, |k| (k + 1) as f64 / B as f64, l, g);
        } else {
            let zt = if neg { -x } else { x };
            self.add(
                neg,
                zt,
                logit(thr),
                |k| logit((k + 1) as f64 / B as f64),
                l,
                g,
            );
        }
    }

    /// Adds a softmax row of logits `z` whose class is `t` (a negative when
    /// `neg`), with weighted loss `l` and gradient row `g`.
    pub fn row(&mut self, thr: f64, z: &[f32], t: usize, neg: bool, l: f32, g: &[f32]) {
        let m = z
            .iter()
            .fold(f64::NEG_INFINITY, |m, &v| libm::fmax(m, f64::from(v)));
        let s: f64 = z.iter().map(|&v| libm::exp(f64::from(v) - m)).sum();
        let pt = libm::exp(f64::from(z[t]) - m) / s;
        let g1: f64 = g.iter().map(|&v| libm::fabs(f64::from(v))).sum();
        let gi = usize::from(neg);
        // `add` takes the gradient as an f32 term; pass the f64 norm
        // through a copy of its body instead.
        let before = (self.grad[gi], self.easy_grad[gi]);
        let easy_before = self.easy[gi];
        self.add(neg, pt, thr, |k| (k + 1) as f64 / B as f64, l, 0.0);
        self.grad[gi] = before.0 + g1;
        if self.easy[gi] != easy_before {
            self.easy_grad[gi] = before.1 + g1;
        }
        let mut bin = 0;
        for k in 0..B.saturating_sub(1) {
            if pt >= (k + 1) as f64 / B as f64 {
                bin += 1;
            }
        }
        if let Some(b) = self.bins[gi].get_mut(bin) {
            b.2 += g1;
        }
    }
}

/// The smallest `k` such that the `k` largest `|g|` sum to at least half
/// of `Σ |g|` (0 when it is 0). `scratch` (as long as `g`) is overwritten.
pub fn half_gradient(g: &[f64], scratch: &mut [f64]) -> usize {
    let s = &mut scratch[..g.len()];
    for (d, &v) in s.iter_mut().zip(g) {
        *d = libm::fabs(v);
    }
    s.sort_unstable_by(|a, b| b.total_cmp(a));
    let total: f64 = s.iter().sum();
    if total <= 0.0 {
        return 0;
    }
    let mut acc = 0.0;
    for (k, &v) in s.iter().enumerate() {
        acc += v;
        if acc >= total * 0.5 {
            return k + 1;
        }
    }
    s.len()
}
