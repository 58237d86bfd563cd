//! Host benches of the binary kernels against a naive port and the streaming
//! floor, measured in the same run so that their ratios survive a noisy
//! machine. `tools/bench-table` runs this twice (default target features and
//! `-C target-cpu=native`) and prints the ratio table of `docs/bench.md`.
//!
//! Groups (criterion ids `<group>/<kernel>/<n>`, throughput in elements):
//!
//! * `focal_g2`: `Focal::RETINANET` (γ = 2, α = 0.25), n = 2^10, 2^16, 2^20;
//! * `focal_g1.5`, `focal_g0.5` (α = 0.25) and `sigmoid_ce`
//!   (`SigmoidCe::PLAIN`), n = 2^16, 2^20;
//! * `asl_timm`: `Asymmetric::TIMM` against a naive port of timm's
//!   `AsymmetricLossMultiLabel` (`common::naive_asl`), n = 2^16, 2^20;
//! * `poly1_focal_g2`: `Poly1::new(Focal::RETINANET, 1.0)` against a naive
//!   port of the PolyLoss paper's `poly1_focal_loss`
//!   (`common::naive_poly1_focal`), n = 2^16, 2^20;
//! * `focal_star_g2_b1`: `FocalStar::new(2.0, 1.0, Some(0.25))` against a
//!   naive port of fvcore's `sigmoid_focal_loss_star` with the paper's β
//!   (`common::naive_focal_star`), n = 2^16, 2^20;
//! * `qfl_b2`: `Qfl::MMDET` against a naive port of mmdet's
//!   `quality_focal_loss` (`common::naive_qfl`), n = 2^16, 2^20;
//! * `varifocal`: `Varifocal::MMDET` against a naive port of mmdet's
//!   `varifocal_loss` (`common::naive_varifocal`), n = 2^16, 2^20;
//!
//! each with `ours` (`Batch::new(&y).loss_grad`, `Reduction::Mean`),
//! `naive` (see `common::naive_focal`) and `floor`
//! (`common::streaming_floor`). Inputs: 1 % positives, logits ~ N(±1, 3),
//! fixed seed; hard labels, except `qfl_b2` and `varifocal`, whose positives
//! have IoU-like score targets in [0.25, 1) (`common::detector_batch_iou`).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::time::Duration;
use tinyloss::{
    Asymmetric, Batch, BinaryLoss, Focal, FocalStar, Poly1, Qfl, Reduction, SigmoidCe, Varifocal,
};

mod common;
use common::{
    detector_batch, detector_batch_iou, naive_asl, naive_bce, naive_focal, naive_focal_star,
    naive_poly1_focal, naive_qfl, naive_varifocal, streaming_floor,
};

const SEED: u64 = 0x5EED_F0CA_1000_0001;
const POSITIVES: f64 = 0.01;

/// The naive ports of the newer groups, shared by the benches and
/// `check_references`.
const POLY1_G2: Naive = Naive::Poly1 {
    gamma: 2.0,
    alpha: 0.25,
    epsilon: 1.0,
};
const FOCAL_STAR_G2_B1: Naive = Naive::FocalStar {
    gamma: 2.0,
    beta: 1.0,
    alpha: 0.25,
};
const QFL_B2: Naive = Naive::Qfl { beta: 2.0 };
const VARIFOCAL: Naive = Naive::Varifocal {
    alpha: 0.75,
    gamma: 2.0,
};

/// What the naive port of a group computes.
#[derive(Clone, Copy)]
enum Naive {
    Focal {
        gamma: f32,
        alpha: f32,
    },
    Bce,
    /// timm's asymmetric loss at its defaults.
    Asl,
    /// Poly-1 over focal loss (the poly term without α).
    Poly1 {
        gamma: f32,
        alpha: f32,
        epsilon: f32,
    },
    /// fvcore's FL* with the paper's shift β.
    FocalStar {
        gamma: f32,
        beta: f32,
        alpha: f32,
    },
    /// mmdet's quality focal loss (score targets).
    Qfl {
        beta: f32,
    },
    /// mmdet's varifocal loss, IoU-weighted (score targets).
    Varifocal {
        alpha: f32,
        gamma: f32,
    },
}

impl Naive {
    /// The group's inputs: IoU-like score targets for the quality losses,
    /// hard labels otherwise.
    fn batch(self, n: usize) -> (Vec<f32>, Vec<f32>) {
        match self {
            Naive::Qfl { .. } | Naive::Varifocal { .. } => detector_batch_iou(n, POSITIVES, SEED),
            _ => detector_batch(n, POSITIVES, SEED),
        }
    }

    /// Runs the naive port: writes the per-element losses and the gradient
    /// of the mean, returns the mean loss.
    #[inline(always)]
    fn run(self, z: &[f32], y: &[f32], losses: &mut [f32], grad: &mut [f32]) -> f32 {
        match self {
            Naive::Focal { gamma, alpha } => naive_focal(gamma, alpha, z, y, losses, grad),
            Naive::Bce => naive_bce(z, y, losses, grad),
            Naive::Asl => naive_asl(4.0, 1.0, 0.05, z, y, losses, grad),
            Naive::Poly1 {
                gamma,
                alpha,
                epsilon,
            } => naive_poly1_focal(gamma, alpha, epsilon, z, y, losses, grad),
            Naive::FocalStar { gamma, beta, alpha } => {
                naive_focal_star(gamma, beta, alpha, z, y, losses, grad)
            }
            Naive::Qfl { beta } => naive_qfl(beta, z, y, losses, grad),
            Naive::Varifocal { alpha, gamma } => naive_varifocal(alpha, gamma, z, y, losses, grad),
        }
    }
}

fn group<L: BinaryLoss>(c: &mut Criterion, name: &str, loss: &L, naive: Naive, sizes: &[u32]) {
    let mut g = c.benchmark_group(name);
    g.sample_size(20)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));
    for &log2 in sizes {
        let n = 1usize << log2;
        let (z, y) = naive.batch(n);
        let mut grad = vec![0.0f32; n];
        let mut losses = vec![0.0f32; n];
        g.throughput(Throughput::Elements(n as u64));

        g.bench_with_input(BenchmarkId::new("ours", n), &n, |b, _| {
            b.iter(|| {
                Batch::new(black_box(&y))
                    .loss_grad(loss, black_box(&z), Reduction::Mean, &mut grad, None)
                    .unwrap()
            });
            black_box(&grad);
        });
        g.bench_with_input(BenchmarkId::new("naive", n), &n, |b, _| {
            b.iter(|| naive.run(black_box(&z), black_box(&y), &mut losses, &mut grad));
            black_box(&grad);
        });
        g.bench_with_input(BenchmarkId::new("floor", n), &n, |b, _| {
            b.iter(|| streaming_floor(black_box(&z), black_box(&y), &mut grad));
            black_box(&grad);
        });
    }
    g.finish();
}

/// The naive ports compute what the kernels compute: a cheap guard against
/// benchmarking a wrong reference.
fn check_references() {
    let n = 4096;
    let (z, y) = detector_batch(n, POSITIVES, SEED);
    let mut g_ours = vec![0.0f32; n];
    let mut g_naive = vec![0.0f32; n];
    let mut l = vec![0.0f32; n];
    for gamma in [2.0f32, 1.5, 0.5] {
        let focal = Focal::new(gamma, Some(0.25)).unwrap();
        let ours = Batch::new(&y)
            .loss_grad(&focal, &z, Reduction::Mean, &mut g_ours, None)
            .unwrap();
        let naive = naive_focal(gamma, 0.25, &z, &y, &mut l, &mut g_naive);
        agree(&format!("focal γ={gamma}"), ours, naive, &g_ours, &g_naive);
    }
    let ours = Batch::new(&y)
        .loss_grad(&SigmoidCe::PLAIN, &z, Reduction::Mean, &mut g_ours, None)
        .unwrap();
    let naive = naive_bce(&z, &y, &mut l, &mut g_naive);
    agree("sigmoid CE", ours, naive, &g_ours, &g_naive);
    let ours = Batch::new(&y)
        .loss_grad(&Asymmetric::TIMM, &z, Reduction::Mean, &mut g_ours, None)
        .unwrap();
    let naive = naive_asl(4.0, 1.0, 0.05, &z, &y, &mut l, &mut g_naive);
    agree("asymmetric", ours, naive, &g_ours, &g_naive);
    let poly = Poly1::new(Focal::RETINANET, 1.0).unwrap();
    check("poly-1 focal", &poly, POLY1_G2, n);
    let star = FocalStar::new(2.0, 1.0, Some(0.25)).unwrap();
    check("focal star", &star, FOCAL_STAR_G2_B1, n);
    check("qfl", &Qfl::MMDET, QFL_B2, n);
    check("varifocal", &Varifocal::MMDET, VARIFOCAL, n);
}

/// `loss` and its naive port agree on the group's inputs (soft targets for
/// the quality losses).
fn check<L: BinaryLoss>(what: &str, loss: &L, naive: Naive, n: usize) {
    let (z, y) = naive.batch(n);
    let mut g_ours = vec![0.0f32; n];
    let mut g_naive = vec![0.0f32; n];
    let mut l = vec![0.0f32; n];
    let ours = Batch::new(&y)
        .loss_grad(loss, &z, Reduction::Mean, &mut g_ours, None)
        .unwrap();
    let naive = naive.run(&z, &y, &mut l, &mut g_naive);
    agree(what, ours, naive, &g_ours, &g_naive);
}

fn agree(what: &str, ours: f32, naive: f32, g_ours: &[f32], g_naive: &[f32]) {
    assert!(
        (ours - naive).abs() <= 1e-4 * naive.abs(),
        "{what}: loss {ours} vs naive {naive}"
    );
    let scale = g_naive.iter().fold(0.0f32, |m, g| m.max(g.abs()));
    for (i, (a, b)) in g_ours.iter().zip(g_naive).enumerate() {
        assert!(
            (a - b).abs() <= 1e-3 * scale,
            "{what}: grad[{i}] {a} vs naive {b}"
        );
    }
}

fn benches(c: &mut Criterion) {
    check_references();
    let focal = |gamma| Naive::Focal { gamma, alpha: 0.25 };
    group(c, "focal_g2", &Focal::RETINANET, focal(2.0), &[10, 16, 20]);
    for gamma in [1.5f32, 0.5] {
        let loss = Focal::new(gamma, Some(0.25)).unwrap();
        group(
            c,
            &format!("focal_g{gamma}"),
            &loss,
            focal(gamma),
            &[16, 20],
        );
    }
    group(c, "sigmoid_ce", &SigmoidCe::PLAIN, Naive::Bce, &[16, 20]);
    group(c, "asl_timm", &Asymmetric::TIMM, Naive::Asl, &[16, 20]);
    let poly = Poly1::new(Focal::RETINANET, 1.0).unwrap();
    group(c, "poly1_focal_g2", &poly, POLY1_G2, &[16, 20]);
    let star = FocalStar::new(2.0, 1.0, Some(0.25)).unwrap();
    group(c, "focal_star_g2_b1", &star, FOCAL_STAR_G2_B1, &[16, 20]);
    group(c, "qfl_b2", &Qfl::MMDET, QFL_B2, &[16, 20]);
    group(c, "varifocal", &Varifocal::MMDET, VARIFOCAL, &[16, 20]);
}

criterion_group!(binary_benches, benches);
criterion_main!(binary_benches);
