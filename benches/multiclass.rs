//! Host benches of the multi-class kernels against a naive port, measured in
//! the same run so that their ratios survive a noisy machine.
//!
//! Groups (criterion ids `<group>/<kernel>/<C>`, throughput in logits):
//! `softmax_ce` ([`SoftmaxCe`]) and `softmax_focal_g2` ([`SoftmaxFocal`],
//! γ = 2), 4096 rows × C = 10 and × C = 1000, `Reduction::Mean`, label
//! targets, each with
//!
//! * `ours`: `Rows::loss_grad`, one fused pass per row, gradient into a
//!   caller buffer;
//! * `naive`: the straightforward translation of the PyTorch / mmcv code:
//!   softmax of every row into a buffer, then `ln` of the probabilities into
//!   a second buffer, then the loss and the gradient in separate passes (the
//!   focal gradient by the chain rule through `p_t`, with `powf`).
//!
//! `logit_adjusted_ce` ([`LogitAdjusted`] over CE, τ = 1, long-tailed
//! counts): ours shifts the logits into the gradient buffer and runs CE in
//! place; the naive port adds the offsets into a copy, then runs its CE.
//!
//! `ldam_ce` ([`Ldam`], m = 0.5, s = 30, logits scaled into [-1, 1]) and
//! `seesaw_ce` ([`Seesaw`], p = 0.8, q = 2) against the paper's and mmdet's
//! code translated (margin on the label column; the C × C count-ratio
//! matrix and a softmax of the scores before the shifted CE).
//!
//! Logits ~ U(-4, 4), labels uniform, fixed seed. Before timing, the bench
//! checks that both compute the same loss (1e-4 relative) and gradient (1e-3
//! of its largest entry).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::time::Duration;
use tinyloss::softmax::{
    ldam_margins, logit_offsets, Ldam, LogitAdjusted, Rows, Seesaw, SoftmaxCe, SoftmaxFocal,
    SoftmaxLoss, Targets,
};
use tinyloss::Reduction;

const ROWS: usize = 4096;
const SEED: u64 = 0x5EED_5AF7_0000_0003;

fn batch(c: usize) -> (Vec<f32>, Vec<u32>) {
    let mut s = SEED;
    let mut next = move || {
        s = s
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (s >> 33) as u32
    };
    let z = (0..ROWS * c)
        .map(|_| (next() as f32 / (1u32 << 31) as f32) * 8.0 - 4.0)
        .collect();
    let y = (0..ROWS).map(|_| next() % c as u32).collect();
    (z, y)
}

/// Buffers of the naive port.
struct Naive {
    p: Vec<f32>,
    logp: Vec<f32>,
    losses: Vec<f32>,
}

impl Naive {
    fn new(c: usize) -> Self {
        Naive {
            p: vec![0.0; ROWS * c],
            logp: vec![0.0; ROWS * c],
            losses: vec![0.0; ROWS],
        }
    }

    /// Pass 1 and 2: softmax (max-shifted) into `p`, then `ln p` into `logp`.
    fn softmax_log(&mut self, z: &[f32], c: usize) {
        for (zr, pr) in z.chunks_exact(c).zip(self.p.chunks_exact_mut(c)) {
            let m = zr.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            let mut s = 0.0;
            for (p, &v) in pr.iter_mut().zip(zr) {
                *p = (v - m).exp();
                s += *p;
            }
            for p in pr.iter_mut() {
                *p /= s;
            }
        }
        for (l, &p) in self.logp.iter_mut().zip(&self.p) {
            *l = p.ln();
        }
    }

    /// Cross-entropy: loss pass, then gradient pass `(p - onehot) / n`.
    fn ce(&mut self, z: &[f32], y: &[u32], c: usize, grad: &mut [f32]) -> f32 {
        self.softmax_log(z, c);
        for (r, &t) in y.iter().enumerate() {
            self.losses[r] = -self.logp[r * c + t as usize];
        }
        let loss = self.losses.iter().sum::<f32>() / ROWS as f32;
        let inv = 1.0 / ROWS as f32;
        for (r, &t) in y.iter().enumerate() {
            for k in 0..c {
                let d = if k == t as usize { 1.0 } else { 0.0 };
                grad[r * c + k] = (self.p[r * c + k] - d) * inv;
            }
        }
        loss
    }

    /// Focal: `-(1-p_t)^γ ln p_t`; gradient by the chain rule
    /// `∂FL/∂p_t · p_t (δ_kt - p_k)` with
    /// `∂FL/∂p_t = γ (1-p_t)^(γ-1) ln p_t - (1-p_t)^γ / p_t` (mmcv's form).
    fn focal(&mut self, gamma: f32, z: &[f32], y: &[u32], c: usize, grad: &mut [f32]) -> f32 {
        self.softmax_log(z, c);
        for (r, &t) in y.iter().enumerate() {
            let pt = self.p[r * c + t as usize];
            self.losses[r] = -(1.0 - pt).powf(gamma) * self.logp[r * c + t as usize];
        }
        let loss = self.losses.iter().sum::<f32>() / ROWS as f32;
        let inv = 1.0 / ROWS as f32;
        for (r, &t) in y.iter().enumerate() {
            let t = t as usize;
            let pt = self.p[r * c + t];
            let dp = gamma * (1.0 - pt).powf(gamma - 1.0) * self.logp[r * c + t]
                - (1.0 - pt).powf(gamma) / pt;
            for k in 0..c {
                let d = if k == t { 1.0 } else { 0.0 };
                grad[r * c + k] = dp * pt * (d - self.p[r * c + k]) * inv;
            }
        }
        loss
    }
}

/// One kernel of the bench: ours and the naive port on `(z, y, c)`, each
/// writing the gradient and returning the mean loss.
struct Kernel<'k> {
    ours: &'k Ours<'k>,
    naive: &'k NaiveFn<'k>,
}

/// Ours: `(z, y, C, grad) -> mean loss`.
type Ours<'a> = dyn Fn(&[f32], &[u32], usize, &mut [f32]) -> f32 + 'a;
/// The naive port, with its buffers.
type NaiveFn<'a> = dyn Fn(&mut Naive, &[f32], &[u32], usize, &mut [f32]) -> f32 + 'a;

/// `loss` through `Rows::loss_grad`.
fn rows_of<L: SoftmaxLoss>(loss: &L) -> impl Fn(&[f32], &[u32], usize, &mut [f32]) -> f32 + '_ {
    move |z, y, c, g| {
        Rows::new(c, Targets::from(y))
            .loss_grad(loss, z, Reduction::Mean, g, None)
            .unwrap()
    }
}

fn group(cr: &mut Criterion, name: &str, k: &Kernel<'_>) {
    let mut g = cr.benchmark_group(name);
    g.sample_size(20)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));
    for c in [10usize, 1000] {
        let (z, y) = batch(c);
        let mut grad = vec![0.0f32; ROWS * c];
        let mut naive = Naive::new(c);
        g.throughput(Throughput::Elements((ROWS * c) as u64));
        // Both compute the same thing (checked once, before timing).
        let mut g_naive = vec![0.0f32; ROWS * c];
        let l_ours = (k.ours)(&z, &y, c, &mut grad);
        let l_naive = (k.naive)(&mut naive, &z, &y, c, &mut g_naive);
        assert!(
            (l_ours - l_naive).abs() <= 1e-4 * l_ours,
            "{l_ours} vs {l_naive}"
        );
        let gmax = grad.iter().fold(0.0f32, |a, g| a.max(g.abs()));
        for (a, b) in grad.iter().zip(&g_naive) {
            assert!((a - b).abs() <= 1e-3 * gmax, "{a} vs {b}");
        }
        g.bench_with_input(BenchmarkId::new("ours", c), &c, |b, _| {
            b.iter(|| (k.ours)(black_box(&z), &y, c, &mut grad));
            black_box(&grad);
        });
        g.bench_with_input(BenchmarkId::new("naive", c), &c, |b, _| {
            b.iter(|| (k.naive)(&mut naive, black_box(&z), &y, c, &mut grad));
            black_box(&grad);
        });
    }
    g.finish();
}

/// Long-tailed counts for `c` classes (head 1000 down to 10).
fn long_tail(c: usize) -> Vec<u32> {
    (0..c)
        .map(|j| (1000.0 * 0.01f64.powf(j as f64 / (c - 1) as f64)) as u32)
        .collect()
}

/// The prior's offsets `ln π` of [`long_tail`].
fn offsets(c: usize) -> Vec<f32> {
    let mut b = vec![0.0; c];
    logit_offsets(&long_tail(c), 1.0, &mut b).unwrap();
    b
}

fn benches(c: &mut Criterion) {
    let ce = SoftmaxCe::new();
    group(
        c,
        "softmax_ce",
        &Kernel {
            ours: &rows_of(&ce),
            naive: &|n, z, y, c, g| n.ce(z, y, c, g),
        },
    );
    let focal = SoftmaxFocal::new(2.0).unwrap();
    group(
        c,
        "softmax_focal_g2",
        &Kernel {
            ours: &rows_of(&focal),
            naive: &|n, z, y, c, g| n.focal(2.0, z, y, c, g),
        },
    );
    // Logit-adjusted CE: ours shifts into the gradient buffer and runs CE
    // in place; the naive port adds the offsets into a copy first.
    let (b10, b1000) = (offsets(10), offsets(1000));
    let pick = |c: usize| if c == 10 { &b10[..] } else { &b1000[..] };
    group(
        c,
        "logit_adjusted_ce",
        &Kernel {
            ours: &|z, y, c, g| {
                LogitAdjusted::new(ce, pick(c))
                    .unwrap()
                    .loss_grad(&Rows::new(c, Targets::from(y)), z, Reduction::Mean, g, None)
                    .unwrap()
            },
            naive: &|n, z, y, c, g| {
                let b = pick(c);
                let zt: Vec<f32> = z.iter().enumerate().map(|(i, v)| v + b[i % c]).collect();
                n.ce(&zt, y, c, g)
            },
        },
    );
    // LDAM, m = 0.5, s = 30 on logits in [-1, 1] (cosine-normalized): the
    // naive port (the paper's code) subtracts the margin of the label, scales,
    // runs CE, and scales the gradient.
    let margins = |c: usize| {
        let mut d = vec![0.0; c];
        ldam_margins(&long_tail(c), 0.5, &mut d).unwrap();
        d
    };
    let (d10, d1000) = (margins(10), margins(1000));
    let pick_d = |c: usize| if c == 10 { &d10[..] } else { &d1000[..] };
    group(
        c,
        "ldam_ce",
        &Kernel {
            ours: &|z, y, c, g| {
                let zc: Vec<f32> = z.iter().map(|v| v * 0.25).collect();
                Ldam::new(ce, pick_d(c), 30.0)
                    .unwrap()
                    .loss_grad(
                        &Rows::new(c, Targets::from(y)),
                        &zc,
                        Reduction::Mean,
                        g,
                        None,
                    )
                    .unwrap()
            },
            naive: &|n, z, y, c, g| {
                let d = pick_d(c);
                let mut zt: Vec<f32> = z.iter().map(|v| v * 0.25).collect();
                for (r, &t) in y.iter().enumerate() {
                    zt[r * c + t as usize] -= d[t as usize];
                }
                for v in zt.iter_mut() {
                    *v *= 30.0;
                }
                let l = n.ce(&zt, y, c, g);
                for v in g.iter_mut() {
                    *v *= 30.0;
                }
                l
            },
        },
    );
    // Seesaw, p = 0.8, q = 2: the naive port is mmdet's, the C × C ratio
    // matrix of the counts and a softmax of the scores before the shifted CE.
    let (n10, n1000) = (long_tail(10), long_tail(1000));
    let pick_n = |c: usize| if c == 10 { &n10[..] } else { &n1000[..] };
    group(
        c,
        "seesaw_ce",
        &Kernel {
            ours: &|z, y, c, g| {
                Seesaw::new(ce, pick_n(c), 0.8, 2.0)
                    .unwrap()
                    .loss_grad(&Rows::new(c, Targets::from(y)), z, Reduction::Mean, g, None)
                    .unwrap()
            },
            naive: &|n, z, y, c, g| {
                let cnt = pick_n(c);
                let mut ratio = vec![0.0f32; c * c];
                for i in 0..c {
                    for j in 0..c {
                        let r = cnt[j].max(1) as f32 / cnt[i].max(1) as f32;
                        ratio[i * c + j] = if r < 1.0 { r.powf(0.8) } else { 1.0 };
                    }
                }
                n.softmax_log(z, c);
                let mut zt = z.to_vec();
                for (r, &t) in y.iter().enumerate() {
                    let t = t as usize;
                    let self_p = n.p[r * c + t].max(1e-2);
                    for j in 0..c {
                        if j != t {
                            let s = n.p[r * c + j] / self_p;
                            let comp = if s > 1.0 { s.powf(2.0) } else { 1.0 };
                            zt[r * c + j] += (ratio[t * c + j] * comp).ln();
                        }
                    }
                }
                n.ce(&zt, y, c, g)
            },
        },
    );
}

criterion_group!(multiclass, benches);
criterion_main!(multiclass);
