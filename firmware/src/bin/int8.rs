//! On-device fine-tuning of a quantized model's last layer from `int8`
//! features and `int8` logits, next to the same layer trained in f32.
//!
//! The wine features stand for the penultimate activations of a quantized
//! model: int8 with one per-tensor scale (symmetric, TFLM's int8
//! convention). The last layer is a linear head `z = w·x + b` with f32
//! master weights (as quantization-aware fine-tuning keeps them). Each step
//! of the int8 run quantizes the weights per tensor, computes the logit
//! with an integer dot product, re-quantizes it to an int8 code at the
//! output scale 1/16 (logits in `[-8, 8)`) with an integer multiplier,
//! takes the focal loss and its int8 gradient from a `quant::BinaryTable`
//! (integer work per element), and forms the weight gradient as an integer
//! sum of `g_q · x_q` times one scale. The f32 run is the same head, loss
//! and optimiser on the f32 features through `Batch`. Both print test F1,
//! precision, recall and the instructions (or ns) per training step from
//! features in RAM.
#![cfg_attr(target_os = "none", no_std, no_main)]

use tinyloss::quant::{BinaryTable, Quant};
use tinyloss::{Batch, Focal, Reduction};
use tinyloss_firmware::data::{features, Split, Task, N_FEATURES as D};
use tinyloss_firmware::train::{Adam, Labels, Rng, BATCH, SHUFFLE_SEED};
use tinyloss_firmware::{counter, exit, fx, out, BOARD, UNIT};

/// Weights and bias.
const P: usize = D + 1;
/// Epochs of each run.
const EPOCHS: usize = 30;
/// The int8 logits' scale: codes span `[-8, 8)`.
const Z_SCALE: f32 = 1.0 / 16.0;
/// Learning rate.
const LR: f32 = 0.02;

/// Test metrics of a head: F1, precision, recall at logit 0.
struct Scores {
    f1: f32,
    precision: f32,
    recall: f32,
}

fn scores(logit: impl Fn(usize) -> f32, labels: &Labels) -> Scores {
    let (mut tp, mut fp, mut fneg) = (0u32, 0u32, 0u32);
    for k in 0..Split::TEST.len {
        let i = Split::TEST.at(k);
        match (logit(i) > 0.0, labels.get(i)) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, true) => fneg += 1,
            _ => {}
        }
    }
    let r = |a: u32, b: u32| if b == 0 { 0.0 } else { a as f32 / b as f32 };
    let (precision, recall) = (r(tp, tp + fp), r(tp, tp + fneg));
    let f1 = r(2 * tp, 2 * tp + fp + fneg);
    Scores {
        f1,
        precision,
        recall,
    }
}

/// `x · w + b` in f32.
fn dot(x: &[f32; D], p: &[f32; P]) -> f32 {
    x.iter().zip(p).fold(p[D], |a, (x, w)| a + x * w)
}

/// The per-tensor symmetric int8 scale of the training features.
fn feature_scale() -> f32 {
    let mut m = 0.0f32;
    for k in 0..Split::TRAIN.len {
        for v in features(Split::TRAIN.at(k)) {
            m = m.max(v.abs());
        }
    }
    m / 127.0
}

fn quantize_x(x: &[f32; D], s: f32) -> [i8; D] {
    let mut q = [0i8; D];
    for (q, &v) in q.iter_mut().zip(x) {
        *q = libm::roundf(v / s).clamp(-127.0, 127.0) as i8;
    }
    q
}

/// The int8 head of one step: quantized weights, their scale, the integer
/// bias, and the multiplier from the accumulator to logit codes.
struct QHead {
    w: [i8; D],
    b: i32,
    /// `acc · m / 2^31` is the logit's code.
    m: i64,
}

impl QHead {
    fn of(p: &[f32; P], sx: f32) -> QHead {
        let mw = p[..D].iter().fold(0.0f32, |a, w| a.max(w.abs())).max(1e-12);
        let sw = mw / 127.0;
        let mut w = [0i8; D];
        for (q, &v) in w.iter_mut().zip(&p[..D]) {
            *q = libm::roundf(v / sw).clamp(-127.0, 127.0) as i8;
        }
        // The bias at the accumulator's scale sx·sw (TFLM's int32 bias).
        let b = libm::roundf(p[D] / (sx * sw)) as i32;
        let m = libm::round((sx * sw / Z_SCALE) as f64 * 2147483648.0) as i64;
        QHead { w, b, m }
    }

    /// The int8 logit code of int8 features: integer work only.
    fn code(&self, x: &[i8; D]) -> i8 {
        let acc = x
            .iter()
            .zip(&self.w)
            .fold(self.b, |a, (&x, &w)| a + i32::from(x) * i32::from(w));
        let v = (i64::from(acc) * self.m + (1 << 30)) >> 31;
        v.clamp(-128, 127) as i8
    }
}

/// One epoch's batches in a shuffled order of the training split.
fn order(rng: &mut Rng) -> [u16; Split::TRAIN.len] {
    let mut o = [0u16; Split::TRAIN.len];
    for (k, v) in o.iter_mut().enumerate() {
        *v = Split::TRAIN.at(k) as u16;
    }
    rng.shuffle(&mut o);
    o
}

/// [`EPOCHS`] of Adam over shuffled batches of the training split, from
/// zero weights: `load` reads a batch's inputs into RAM (not counted: the
/// layer below would leave them there), `grad` gives the head's gradient on
/// them (None skips the batch); the step's cost is `grad` plus the update.
/// Returns the head and the mean cost per step.
fn train<T>(
    mut load: impl FnMut(&[u16]) -> T,
    mut grad: impl FnMut(&T, &[u16], &[f32; P]) -> Option<[f32; P]>,
) -> ([f32; P], f64) {
    let mut p = [0.0f32; P];
    let mut adam = Adam::<P>::new(LR);
    let mut rng = Rng::new(SHUFFLE_SEED);
    let (mut steps, mut cost) = (0u64, 0u64);
    for _ in 0..EPOCHS {
        let o = order(&mut rng);
        for batch in o.chunks(BATCH) {
            let x = load(batch);
            let t = counter::Stopwatch::start();
            let Some(gp) = grad(&x, batch, &p) else {
                continue;
            };
            adam.step(&mut p, &gp);
            cost += t.elapsed();
            steps += 1;
        }
    }
    (p, cost as f64 / steps.max(1) as f64)
}

/// The labels of a batch as targets.
fn targets(batch: &[u16], labels: &Labels) -> [f32; BATCH] {
    let mut y = [0.0f32; BATCH];
    for (t, &i) in y.iter_mut().zip(batch) {
        *t = f32::from(u8::from(labels.get(i as usize)));
    }
    y
}

/// The f32 run.
#[inline(never)]
fn run_f32(loss: &Focal, labels: &Labels) -> ([f32; P], f64) {
    let load = |batch: &[u16]| {
        let mut xs = [[0.0f32; D]; BATCH];
        for (x, &i) in xs.iter_mut().zip(batch) {
            *x = features(i as usize);
        }
        xs
    };
    train(load, |xs, batch, p| {
        let n = batch.len();
        let y = targets(batch, labels);
        let mut z = [0.0f32; BATCH];
        for (z, x) in z.iter_mut().zip(&xs[..n]) {
            *z = dot(x, p);
        }
        let mut g = [0.0f32; BATCH];
        Batch::new(&y[..n])
            .loss_grad(loss, &z[..n], Reduction::Mean, &mut g[..n], None)
            .ok()?;
        let mut gp = [0.0f32; P];
        for (x, &gk) in xs[..n].iter().zip(&g[..n]) {
            for (a, &v) in gp.iter_mut().zip(x) {
                *a += gk * v;
            }
            gp[D] += gk;
        }
        Some(gp)
    })
}

/// The int8 run.
#[inline(never)]
fn run_int8(table: &BinaryTable, sx: f32, labels: &Labels) -> ([f32; P], f64) {
    let load = |batch: &[u16]| {
        let mut xq = [[0i8; D]; BATCH];
        for (x, &i) in xq.iter_mut().zip(batch) {
            *x = quantize_x(&features(i as usize), sx);
        }
        xq
    };
    train(load, |xq, batch, p| {
        let n = batch.len();
        let y = targets(batch, labels);
        let head = QHead::of(p, sx);
        let mut codes = [0i8; BATCH];
        for (c, x) in codes.iter_mut().zip(&xq[..n]) {
            *c = head.code(x);
        }
        let mut g8 = [0i8; BATCH];
        let out = table
            .loss_grad_quantized(&codes[..n], &y[..n], None, Reduction::Mean, &mut g8[..n])
            .ok()?;
        // ∂L/∂w_j = grad_scale · sx · Σ_i g_q[i] x_q[i][j]: integer sums.
        let mut acc = [0i32; P];
        for (x, &gk) in xq[..n].iter().zip(&g8[..n]) {
            for (a, &v) in acc.iter_mut().zip(x) {
                *a += i32::from(gk) * i32::from(v);
            }
            acc[D] += i32::from(gk);
        }
        let mut gp = [0.0f32; P];
        for (g, &a) in gp.iter_mut().zip(&acc[..D]) {
            *g = a as f32 * (out.grad_scale * sx);
        }
        gp[D] = acc[D] as f32 * out.grad_scale;
        Some(gp)
    })
}

#[cfg_attr(target_os = "none", cortex_m_rt::entry)]
fn main() -> ! {
    tinyloss_firmware::init();
    let labels = Labels::new(Task::Good, false, 0);
    let Ok(loss) = Focal::new(2.0, None) else {
        exit(false)
    };
    let sx = feature_scale();
    out!(
        "int8 fine-tuning on {}: last layer ({} weights + bias), focal γ=2, {} epochs, batch {}, feature scale {}",
        BOARD,
        D,
        EPOCHS,
        BATCH,
        sx
    );
    let (pf, cf) = run_f32(&loss, &labels);
    let sf = scores(|i| dot(&features(i), &pf), &labels);
    let Ok(q) = Quant::new(Z_SCALE, 0) else {
        exit(false)
    };
    let mut table = BinaryTable::new();
    if table.set_logits(&loss, q).is_err() {
        exit(false)
    }
    let (pq, cq) = run_int8(&table, sx, &labels);
    let head = QHead::of(&pq, sx);
    let sq = scores(
        |i| f32::from(head.code(&quantize_x(&features(i), sx))),
        &labels,
    );
    for (name, s, c) in [("f32", &sf, cf), ("int8", &sq, cq)] {
        out!(
            "INT8,{},{},f1={},precision={},recall={},per_step={} {}",
            BOARD,
            name,
            fx(s.f1, 4),
            fx(s.precision, 4),
            fx(s.recall, 4),
            fx(c as f32, 0),
            UNIT
        );
    }
    // Both heads must have learned the task (F1 well above predicting no
    // positive, which scores 0).
    exit(sf.f1 > 0.2 && sq.f1 > 0.2)
}
