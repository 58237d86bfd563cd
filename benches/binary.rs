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
//!
//! each with `ours` (`Batch::new(&y).loss_grad`, `Reduction::Mean`),
//! `naive` (see `common::naive_focal`) and `floor`
//! (`common::streaming_floor`). Inputs: 1 % positives, logits ~ N(±1, 3),
//! fixed seed.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::time::Duration;
use tinyloss::{Asymmetric, Batch, BinaryLoss, Focal, Reduction, SigmoidCe};

mod common;
use common::{detector_batch, naive_asl, naive_bce, naive_focal, streaming_floor};

const SEED: u64 = 0x5EED_F0CA_1000_0001;
const POSITIVES: f64 = 0.01;

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
}

fn group<L: BinaryLoss>(c: &mut Criterion, name: &str, loss: &L, naive: Naive, sizes: &[u32]) {
    let mut g = c.benchmark_group(name);
    g.sample_size(20)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));
    for &log2 in sizes {
        let n = 1usize << log2;
        let (z, y) = detector_batch(n, POSITIVES, SEED);
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
            b.iter(|| match naive {
                Naive::Focal { gamma, alpha } => naive_focal(
                    gamma,
                    alpha,
                    black_box(&z),
                    black_box(&y),
                    &mut losses,
                    &mut grad,
                ),
                Naive::Bce => naive_bce(black_box(&z), black_box(&y), &mut losses, &mut grad),
                Naive::Asl => naive_asl(
                    4.0,
                    1.0,
                    0.05,
                    black_box(&z),
                    black_box(&y),
                    &mut losses,
                    &mut grad,
                ),
            });
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
}

criterion_group!(binary_benches, benches);
criterion_main!(binary_benches);
