//! Allocation-free on-device training of a small binary classifier head on the
//! wine data ([`crate::data`]), driven by `tinyloss`'s fused loss+gradient
//! kernels.
//!
//! * Model: `11 → 8 (ReLU) → 1` multilayer perceptron, 105 parameters in one
//!   fixed-size array ([`Model`]); Kaiming-uniform hidden weights,
//!   Glorot-uniform output weights, zero biases, from a fixed seed.
//! * Optimiser: Adam (lr 0.01, β₁ 0.9, β₂ 0.999, ε 1e-7), mini-batches of
//!   [`BATCH`] wines in an order reshuffled every epoch by a seeded xorshift32.
//! * Loss: the batch of logits goes through [`tinyloss::Batch::loss_grad`]
//!   with [`Reduction::Mean`], which returns the mean loss and writes
//!   `∂L/∂z` for every wine; that gradient is back-propagated by hand into
//!   the weights. See [`Objective`] for the loss functions compared.
//! * Metrics ([`Metrics`]): minority-class precision, recall and F1 at
//!   threshold `p = 0.5` (logit 0), average precision (area under the
//!   precision–recall step curve, scikit-learn's definition, computed by
//!   insertion-sorting the scores of the split), and mean plain cross-entropy.
//!
//! Every buffer is a fixed-size array on the stack (about 5 KiB in all,
//! [`Trainer`] plus [`Evaluator`]); nothing allocates, and the same code gives
//! the same numbers (up to float rounding of the kernels' lane width) on the
//! host and on a Cortex-M.

use tinyloss::{Asymmetric, Batch, Diagnostic, Error, Focal, Reduction, SigmoidCe};

use crate::data::{self, Split, Task, N_ALL, N_FEATURES, N_TEST, N_TRAIN, N_VAL};

/// Input features.
pub const D: usize = N_FEATURES;
/// Hidden units.
pub const H: usize = 8;
/// Parameters: `W1 (H×D) | b1 (H) | w2 (H) | b2`.
pub const N_PARAMS: usize = H * D + 2 * H + 1;
/// Mini-batch size.
pub const BATCH: usize = 32;
/// Adam learning rate.
pub const LR: f32 = 0.01;
/// Fraction of training labels flipped by the label-noise variant.
pub const NOISE_RATE: f32 = 0.1;
/// Effective-number β of the class-balanced cross-entropy (Cui et al. 2019).
pub const CB_BETA: f32 = 0.999;
/// Seed of the weight initialisation (the same for every loss).
pub const INIT_SEED: u32 = 0x5EED_0001;
/// Seed of the epoch shuffles (the same for every loss).
pub const SHUFFLE_SEED: u32 = 0x5EED_0002;
/// Seed of the label flips.
pub const NOISE_SEED: u32 = 0x5EED_0003;
/// Focal α values tried by [`tune_alpha`].
pub const ALPHA_GRID: [f32; 5] = [0.25, 0.5, 0.75, 0.9, 0.97];

const B1: usize = H * D;
const W2: usize = B1 + H;
const B2: usize = W2 + H;

/// Largest split evaluated.
pub const MAX_EVAL: usize = if N_TEST > N_VAL { N_TEST } else { N_VAL };

/// xorshift32 (Marsaglia 2003): tiny, deterministic, the same on every target.
#[derive(Clone, Debug)]
pub struct Rng(u32);

impl Rng {
    /// A generator from a seed, scrambled by MurmurHash3's finaliser so that
    /// neighbouring seeds give unrelated streams (a zero state is avoided).
    pub fn new(seed: u32) -> Self {
        let mut h = seed;
        h ^= h >> 16;
        h = h.wrapping_mul(0x85EB_CA6B);
        h ^= h >> 13;
        h = h.wrapping_mul(0xC2B2_AE35);
        h ^= h >> 16;
        Rng(if h == 0 { 0x9E37_79B9 } else { h })
    }

    /// Next 32 random bits.
    #[inline]
    pub fn next_u32(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }

    /// Uniform integer in `0..n` (multiply-shift; bias < n / 2³²).
    #[inline]
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u32() as u64 * n as u64) >> 32) as usize
    }

    /// Uniform f32 in `[lo, hi)` from the top 24 bits.
    #[inline]
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        let u = (self.next_u32() >> 8) as f32 * (1.0 / 16_777_216.0);
        lo + (hi - lo) * u
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle(&mut self, v: &mut [u16]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

/// The training labels of one task, optionally with label noise: a bit per
/// wine. Test and validation labels are never flipped.
#[derive(Clone, Debug)]
pub struct Labels {
    bits: [u32; N_ALL.div_ceil(32)],
    /// Labels flipped.
    pub flipped: u32,
}

impl Labels {
    /// The clean labels of `task`, or with exactly `round(NOISE_RATE × n)` of
    /// the `n` training-split labels flipped (`noisy`), chosen by selection
    /// sampling (Knuth's algorithm S) from [`NOISE_SEED`] `+ seed`.
    pub fn new(task: Task, noisy: bool, seed: u32) -> Self {
        let mut l = Labels {
            bits: [0; N_ALL.div_ceil(32)],
            flipped: 0,
        };
        for i in 0..N_ALL {
            if task.label(i) {
                l.bits[i / 32] |= 1 << (i % 32);
            }
        }
        if noisy {
            let mut rng = Rng::new(NOISE_SEED.wrapping_add(seed));
            let mut need = libm::roundf(NOISE_RATE * N_TRAIN as f32) as usize;
            for i in 0..N_TRAIN {
                if rng.below(N_TRAIN - i) < need {
                    l.bits[i / 32] ^= 1 << (i % 32);
                    need -= 1;
                    l.flipped += 1;
                }
            }
        }
        l
    }

    /// Label of wine `i`.
    #[inline]
    pub fn get(&self, i: usize) -> bool {
        self.bits[i / 32] >> (i % 32) & 1 == 1
    }

    /// `[negatives, positives]` in a split.
    pub fn counts(&self, s: Split) -> [u32; 2] {
        let mut c = [0u32; 2];
        for k in 0..s.len {
            c[self.get(s.at(k)) as usize] += 1;
        }
        c
    }
}

/// Class-balanced weights `[w_neg, w_pos]` from class counts, Cui et al.
/// (2019), via [`tinyloss::class_balanced::weights`]:
/// `w_c ∝ (1 - β) / (1 - β^n_c)`, normalised to `w_neg + w_pos = 2`.
///
/// # Errors
/// Those of [`tinyloss::class_balanced::weights`] (β ∉ [0, 1)).
pub fn class_balanced(counts: [u32; 2], beta: f32) -> Result<[f32; 2], Error> {
    let mut w = [0.0f32; 2];
    tinyloss::class_balanced::weights(
        &counts,
        beta,
        tinyloss::class_balanced::Normalize::SumToClasses,
        &mut w,
    )?;
    Ok(w)
}

/// The loss functions compared.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Objective {
    /// Plain sigmoid cross-entropy ([`SigmoidCe::PLAIN`]).
    Ce,
    /// Cross-entropy with per-element class-balanced weights
    /// ([`class_balanced`], β = [`CB_BETA`], from the training-label counts).
    BalancedCe,
    /// Sigmoid focal loss.
    Focal(Focal),
    /// Focal loss with per-element class-balanced weights (Cui et al.'s
    /// class-balanced focal loss; use it with `α` off).
    BalancedFocal(Focal),
    /// The asymmetric loss (Ridnik et al. 2021): easy negatives below the
    /// clip cost nothing, the rest are down-weighted by `p^{γ⁻}`.
    Asymmetric(Asymmetric),
}

impl Objective {
    /// Short name for the output.
    pub fn name(&self) -> &'static str {
        match self {
            Objective::Ce => "CE",
            Objective::BalancedCe => "CB-CE",
            Objective::Focal(_) => "focal",
            Objective::BalancedFocal(_) => "CB-focal",
            Objective::Asymmetric(_) => "ASL",
        }
    }
}

/// The model: `z = w2 · relu(W1 x + b1) + b2`, all parameters in one array.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    /// `W1` (row-major, `H` rows of `D`), `b1`, `w2`, `b2`.
    pub p: [f32; N_PARAMS],
}

impl Model {
    /// Kaiming-uniform `W1` (bound `√(6/D)`), Glorot-uniform `w2` (bound
    /// `√(6/(H+1))`), zero biases.
    pub fn init(seed: u32) -> Self {
        let mut rng = Rng::new(seed);
        let mut p = [0.0f32; N_PARAMS];
        let a1 = libm::sqrtf(6.0 / D as f32);
        let a2 = libm::sqrtf(6.0 / (H + 1) as f32);
        for v in &mut p[..B1] {
            *v = rng.uniform(-a1, a1);
        }
        for v in &mut p[W2..B2] {
            *v = rng.uniform(-a2, a2);
        }
        Model { p }
    }

    /// The logit of `x`, with the hidden activations in `h`.
    #[inline]
    pub fn forward(&self, x: &[f32; D], h: &mut [f32; H]) -> f32 {
        let mut z = self.p[B2];
        for (j, hj) in h.iter_mut().enumerate() {
            let row = &self.p[j * D..(j + 1) * D];
            let mut a = self.p[B1 + j];
            for (w, xf) in row.iter().zip(x) {
                a += w * xf;
            }
            *hj = if a > 0.0 { a } else { 0.0 };
            z += self.p[W2 + j] * *hj;
        }
        z
    }

    /// The logit of `x`.
    pub fn logit(&self, x: &[f32; D]) -> f32 {
        self.forward(x, &mut [0.0; H])
    }
}

/// Adam state (Kingma & Ba 2015), bias-corrected, allocation-free, for `P`
/// parameters (the wine head's by default).
#[derive(Clone, Debug)]
pub struct Adam<const P: usize = N_PARAMS> {
    m: [f32; P],
    v: [f32; P],
    b1t: f32,
    b2t: f32,
    lr: f32,
}

impl<const P: usize> Default for Adam<P> {
    /// Zeroed state, learning rate [`LR`].
    fn default() -> Self {
        Adam::new(LR)
    }
}

impl<const P: usize> Adam<P> {
    const BETA1: f32 = 0.9;
    const BETA2: f32 = 0.999;
    const EPS: f32 = 1e-7;

    /// Zeroed state with learning rate `lr`.
    pub fn new(lr: f32) -> Self {
        Adam {
            m: [0.0; P],
            v: [0.0; P],
            b1t: 1.0,
            b2t: 1.0,
            lr,
        }
    }

    /// One update of `p` with gradient `g`.
    pub fn step(&mut self, p: &mut [f32; P], g: &[f32; P]) {
        self.b1t *= Self::BETA1;
        self.b2t *= Self::BETA2;
        let lr = self.lr * libm::sqrtf(1.0 - self.b2t) / (1.0 - self.b1t);
        for k in 0..P {
            self.m[k] = Self::BETA1 * self.m[k] + (1.0 - Self::BETA1) * g[k];
            self.v[k] = Self::BETA2 * self.v[k] + (1.0 - Self::BETA2) * g[k] * g[k];
            p[k] -= lr * self.m[k] / (libm::sqrtf(self.v[k]) + Self::EPS);
        }
    }
}

/// Model, optimiser and the per-batch buffers.
#[derive(Clone, Debug)]
pub struct Trainer {
    /// The model being trained.
    pub model: Model,
    adam: Adam,
    grad: [f32; N_PARAMS],
    hidden: [[f32; H]; BATCH],
    z: [f32; BATCH],
    y: [f32; BATCH],
    w: [f32; BATCH],
    dz: [f32; BATCH],
    class_w: [f32; 2],
}

impl Trainer {
    /// A fresh model from [`INIT_SEED`] `+ seed` and zeroed Adam state
    /// (learning rate [`LR`]); `class_w` (`[w_neg, w_pos]`) is used by the
    /// class-balanced objectives only.
    pub fn new(class_w: [f32; 2], seed: u32) -> Self {
        Trainer {
            model: Model::init(INIT_SEED.wrapping_add(seed)),
            adam: Adam::default(),
            grad: [0.0; N_PARAMS],
            hidden: [[0.0; H]; BATCH],
            z: [0.0; BATCH],
            y: [0.0; BATCH],
            w: [0.0; BATCH],
            dz: [0.0; BATCH],
            class_w,
        }
    }

    /// A fresh Adam state with learning rate `lr` (the model is kept).
    pub fn set_lr(&mut self, lr: f32) {
        self.adam = Adam::new(lr);
    }

    /// The class weights `[w_neg, w_pos]` of the class-balanced objectives
    /// (e.g. updated online from a class counter).
    pub fn set_class_weights(&mut self, class_w: [f32; 2]) {
        self.class_w = class_w;
    }

    /// One Adam step on the wines `batch` (global indices, at most [`BATCH`]):
    /// forward, fused loss+gradient, backward, update. Returns the batch loss.
    ///
    /// # Errors
    /// Those of [`Batch::loss_grad`] (e.g. a non-finite logit after
    /// divergence), or [`Error::Empty`] for an empty or oversized batch.
    pub fn step(&mut self, obj: &Objective, batch: &[u16], labels: &Labels) -> Result<f32, Error> {
        self.step_with_losses(obj, batch, labels, None)
    }

    /// [`Trainer::step`], also writing each wine's weighted loss (before the
    /// update) into `losses[..batch.len()]` if given.
    ///
    /// # Errors
    /// As [`Trainer::step`], and [`Error::LengthMismatch`] if `losses` is
    /// shorter than the batch.
    pub fn step_with_losses(
        &mut self,
        obj: &Objective,
        batch: &[u16],
        labels: &Labels,
        losses: Option<&mut [f32]>,
    ) -> Result<f32, Error> {
        let loss = self.loss_gradient(obj, batch, labels, losses)?;
        self.adam.step(&mut self.model.p, &self.grad);
        Ok(loss)
    }

    /// The gradient of the last [`Trainer::loss_gradient`] (or step), laid
    /// out like [`Model::p`].
    pub fn gradient(&self) -> &[f32; N_PARAMS] {
        &self.grad
    }

    /// Forward, fused loss+gradient and backward on `batch`, without the
    /// update: returns the batch loss and leaves `∂L/∂θ` in
    /// [`Trainer::gradient`].
    ///
    /// # Errors
    /// As [`Trainer::step_with_losses`].
    pub fn loss_gradient(
        &mut self,
        obj: &Objective,
        batch: &[u16],
        labels: &Labels,
        losses: Option<&mut [f32]>,
    ) -> Result<f32, Error> {
        let n = batch.len();
        if n == 0 || n > BATCH {
            return Err(Error::Empty);
        }
        for (k, &i) in batch.iter().enumerate() {
            let i = i as usize;
            let x = data::features(i);
            self.z[k] = self.model.forward(&x, &mut self.hidden[k]);
            let yk = labels.get(i);
            self.y[k] = if yk { 1.0 } else { 0.0 };
            self.w[k] = self.class_w[yk as usize];
        }
        let (z, y, dz) = (&self.z[..n], &self.y[..n], &mut self.dz[..n]);
        let losses = match losses {
            Some(l) if l.len() < n => {
                return Err(Error::LengthMismatch {
                    what: "losses",
                    expected: n,
                    found: l.len(),
                })
            }
            Some(l) => Some(&mut l[..n]),
            None => None,
        };
        let plain = Batch::new(y);
        let weighted = plain.with_weights(&self.w[..n]);
        let mean = Reduction::Mean;
        let loss = match obj {
            Objective::Ce => plain.loss_grad(&SigmoidCe::PLAIN, z, mean, dz, losses)?,
            Objective::BalancedCe => weighted.loss_grad(&SigmoidCe::PLAIN, z, mean, dz, losses)?,
            Objective::Focal(f) => plain.loss_grad(f, z, mean, dz, losses)?,
            Objective::BalancedFocal(f) => weighted.loss_grad(f, z, mean, dz, losses)?,
            Objective::Asymmetric(a) => plain.loss_grad(a, z, mean, dz, losses)?,
        };
        // Backward: ∂L/∂θ = Σ_k ∂L/∂z_k ∂z_k/∂θ.
        self.grad = [0.0; N_PARAMS];
        let p = &self.model.p;
        let g = &mut self.grad;
        for (k, &i) in batch.iter().enumerate() {
            let d = self.dz[k];
            let x = data::features(i as usize);
            let h = &self.hidden[k];
            g[B2] += d;
            for j in 0..H {
                g[W2 + j] += d * h[j];
                if h[j] > 0.0 {
                    let dh = d * p[W2 + j];
                    g[B1 + j] += dh;
                    for (gw, xf) in g[j * D..(j + 1) * D].iter_mut().zip(&x) {
                        *gw += dh * xf;
                    }
                }
            }
        }
        Ok(loss)
    }

    /// One epoch over `order` (global indices; reshuffled with `rng` first).
    /// Returns the mean training loss of the epoch (batch losses weighted by
    /// batch size).
    ///
    /// # Errors
    /// Those of [`Trainer::step`].
    pub fn epoch(
        &mut self,
        obj: &Objective,
        order: &mut [u16],
        rng: &mut Rng,
        labels: &Labels,
    ) -> Result<f32, Error> {
        rng.shuffle(order);
        let mut total = 0.0f32;
        for chunk in order.chunks(BATCH) {
            total += self.step(obj, chunk, labels)? * chunk.len() as f32;
        }
        Ok(total / order.len() as f32)
    }
}

/// Test metrics of the minority (positive) class.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Metrics {
    /// True positives at `p ≥ 0.5`.
    pub tp: u32,
    /// False positives at `p ≥ 0.5`.
    pub fp: u32,
    /// False negatives at `p ≥ 0.5`.
    pub fn_: u32,
    /// `tp / (tp + fp)` (0 when nothing is predicted positive).
    pub precision: f32,
    /// `tp / (tp + fn)`.
    pub recall: f32,
    /// Harmonic mean of precision and recall (0 when both are 0).
    pub f1: f32,
    /// Average precision `Σ_k (R_k - R_{k-1}) P_k` over the distinct score
    /// thresholds.
    pub ap: f32,
    /// Mean plain cross-entropy of the split.
    pub ce: f32,
}

/// Scores, labels and sort buffer for evaluating a split.
#[derive(Clone, Debug)]
pub struct Evaluator {
    z: [f32; MAX_EVAL],
    y: [f32; MAX_EVAL],
    idx: [u16; MAX_EVAL],
}

impl Default for Evaluator {
    fn default() -> Self {
        Evaluator {
            z: [0.0; MAX_EVAL],
            y: [0.0; MAX_EVAL],
            idx: [0; MAX_EVAL],
        }
    }
}

impl Evaluator {
    /// Metrics of `model` on split `s` (at most [`MAX_EVAL`] wines) with the
    /// clean labels of `task`. If `curve` is given, it is called once per
    /// distinct score threshold, from the highest down, with
    /// `(threshold logit, recall, precision)`: the precision–recall curve.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] if the split is too long, or those of
    /// [`Batch::loss`] (non-finite logit).
    pub fn evaluate(
        &mut self,
        model: &Model,
        task: Task,
        s: Split,
        mut curve: Option<&mut dyn FnMut(f32, f32, f32)>,
    ) -> Result<Metrics, Error> {
        let n = s.len;
        if n > MAX_EVAL {
            return Err(Error::LengthMismatch {
                what: "split",
                expected: MAX_EVAL,
                found: n,
            });
        }
        let mut m = Metrics::default();
        let mut npos = 0u32;
        for k in 0..n {
            let i = s.at(k);
            let zk = model.logit(&data::features(i));
            let yk = task.label(i);
            self.z[k] = zk;
            self.y[k] = if yk { 1.0 } else { 0.0 };
            self.idx[k] = k as u16;
            npos += yk as u32;
            match (zk >= 0.0, yk) {
                (true, true) => m.tp += 1,
                (true, false) => m.fp += 1,
                (false, true) => m.fn_ += 1,
                (false, false) => {}
            }
        }
        m.ce = Batch::new(&self.y[..n]).loss(&SigmoidCe::PLAIN, &self.z[..n], Reduction::Mean)?;
        m.precision = ratio(m.tp, m.tp + m.fp);
        m.recall = ratio(m.tp, m.tp + m.fn_);
        m.f1 = if m.precision + m.recall > 0.0 {
            2.0 * m.precision * m.recall / (m.precision + m.recall)
        } else {
            0.0
        };
        // Insertion sort of the indices by descending score (stable; n ≈ 400).
        let (z, idx) = (&self.z, &mut self.idx[..n]);
        for a in 1..n {
            let v = idx[a];
            let mut b = a;
            while b > 0 && z[idx[b - 1] as usize] < z[v as usize] {
                idx[b] = idx[b - 1];
                b -= 1;
            }
            idx[b] = v;
        }
        // Average precision over the distinct thresholds.
        let (mut tp, mut fp, mut r_prev, mut ap) = (0u32, 0u32, 0.0f32, 0.0f32);
        let mut a = 0;
        while a < n {
            let t = z[idx[a] as usize];
            while a < n && z[idx[a] as usize] == t {
                if self.y[idx[a] as usize] == 1.0 {
                    tp += 1;
                } else {
                    fp += 1;
                }
                a += 1;
            }
            let r = ratio(tp, npos);
            let p = ratio(tp, tp + fp);
            ap += (r - r_prev) * p;
            r_prev = r;
            if let Some(c) = curve.as_deref_mut() {
                c(t, r, p);
            }
        }
        m.ap = ap;
        Ok(m)
    }
}

#[inline]
fn ratio(a: u32, b: u32) -> f32 {
    if b == 0 {
        0.0
    } else {
        a as f32 / b as f32
    }
}

/// An index array `[s.start, s.start + s.len)` for the epoch shuffles.
pub fn order_of(s: Split, out: &mut [u16; N_TRAIN]) -> &mut [u16] {
    let len = s.len.min(N_TRAIN);
    for (k, o) in out[..len].iter_mut().enumerate() {
        *o = s.at(k) as u16;
    }
    &mut out[..len]
}

/// What a run reports after each epoch: `(epoch (1-based), mean training
/// loss)`.
pub type OnEpoch<'a> = &'a mut dyn FnMut(u32, f32);

/// Trains a fresh model ([`INIT_SEED`] `+ seed`, [`SHUFFLE_SEED`] `+ seed`)
/// on split `fit` with `labels` for `epochs` epochs and returns it. The class-balanced weights
/// come from the counts of `labels` on `fit`.
///
/// # Errors
/// Those of [`Trainer::epoch`] and [`class_balanced`].
pub fn train(
    obj: &Objective,
    labels: &Labels,
    fit: Split,
    epochs: u32,
    seed: u32,
    on_epoch: OnEpoch<'_>,
) -> Result<Model, Error> {
    let mut t = Trainer::new(class_weights(obj, labels, fit)?, seed);
    let mut rng = Rng::new(SHUFFLE_SEED.wrapping_add(seed));
    let mut buf = [0u16; N_TRAIN];
    let order = order_of(fit, &mut buf);
    for e in 1..=epochs {
        let loss = t.epoch(obj, order, &mut rng, labels)?;
        on_epoch(e, loss);
    }
    Ok(t.model)
}

/// The per-class weights `[w_neg, w_pos]` that `obj` trains with on `fit`:
/// class-balanced ones from the label counts for the balanced objectives,
/// else `[1, 1]`.
///
/// # Errors
/// Those of [`class_balanced`].
pub fn class_weights(obj: &Objective, labels: &Labels, fit: Split) -> Result<[f32; 2], Error> {
    match obj {
        Objective::BalancedCe | Objective::BalancedFocal(_) => {
            class_balanced(labels.counts(fit), CB_BETA)
        }
        _ => Ok([1.0, 1.0]),
    }
}

/// Adds every wine of `split` to `diag` as `model` sees it under `obj` (the
/// class weights of [`class_weights`] on `fit`): forward, then the fused
/// kernel's diagnosed pass in batches of [`BATCH`], no update. This is the
/// easy-example diagnostic of the whole split at one point of training.
///
/// # Errors
/// Those of [`Batch::loss_grad_diagnosed`] and [`class_weights`].
pub fn diagnose<const NB: usize>(
    model: &Model,
    obj: &Objective,
    labels: &Labels,
    fit: Split,
    split: Split,
    diag: &mut Diagnostic<NB>,
) -> Result<(), Error> {
    let class_w = class_weights(obj, labels, fit)?;
    let (mut z, mut y, mut w, mut g) = (
        [0.0f32; BATCH],
        [0.0f32; BATCH],
        [0.0f32; BATCH],
        [0.0f32; BATCH],
    );
    let mut start = 0;
    while start < split.len {
        let n = (split.len - start).min(BATCH);
        for k in 0..n {
            let i = split.at(start + k);
            z[k] = model.logit(&data::features(i));
            let pos = labels.get(i);
            y[k] = if pos { 1.0 } else { 0.0 };
            w[k] = class_w[pos as usize];
        }
        let b = Batch::new(&y[..n]).with_weights(&w[..n]);
        let (z, g, r) = (&z[..n], &mut g[..n], Reduction::Sum);
        match obj {
            Objective::Ce | Objective::BalancedCe => {
                b.loss_grad_diagnosed(&SigmoidCe::PLAIN, z, r, g, diag)?
            }
            Objective::Focal(f) | Objective::BalancedFocal(f) => {
                b.loss_grad_diagnosed(f, z, r, g, diag)?
            }
            Objective::Asymmetric(a) => b.loss_grad_diagnosed(a, z, r, g, diag)?,
        };
        start += n;
    }
    Ok(())
}

/// Tunes focal α (γ = 2) for `task` on the training split only (seeds as in
/// [`train`]): trains on
/// [`Split::FIT`] with clean labels for each α of [`ALPHA_GRID`] and keeps the
/// one with the best F1 at `p ≥ 0.5` on [`Split::VAL`] (ties: higher AP, then
/// the earlier α). `report(α, metrics)` is called for each α.
///
/// # Errors
/// Those of [`train`] and [`Evaluator::evaluate`].
pub fn tune_alpha(
    task: Task,
    epochs: u32,
    seed: u32,
    ev: &mut Evaluator,
    report: &mut dyn FnMut(f32, &Metrics),
) -> Result<f32, Error> {
    let labels = Labels::new(task, false, seed);
    let mut best = (ALPHA_GRID[0], -1.0f32, -1.0f32);
    for &alpha in &ALPHA_GRID {
        let obj = Objective::Focal(Focal::new(2.0, Some(alpha))?);
        let model = train(&obj, &labels, Split::FIT, epochs, seed, &mut |_, _| {})?;
        let m = ev.evaluate(&model, task, Split::VAL, None)?;
        report(alpha, &m);
        if m.f1 > best.1 || (m.f1 == best.1 && m.ap > best.2) {
            best = (alpha, m.f1, m.ap);
        }
    }
    Ok(best.0)
}
