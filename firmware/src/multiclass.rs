//! Allocation-free on-device training of a 6-class softmax head on the wine
//! quality scores (3…8, long-tailed: the middle two classes hold 80 % of
//! the wines), to compare the long-tail losses of `tinyloss::softmax` where
//! the balanced error, not the accuracy, is the goal.
//!
//! * Model: a linear softmax head `11 → 6` ([`Head`], 72 parameters), zero
//!   initialised, Adam (lr 0.01), mini-batches of [`BATCH`] wines reshuffled
//!   every epoch by the seeded xorshift32 of [`crate::train`].
//! * Losses ([`MultiLoss`]): cross-entropy; the same model predicted with
//!   the post-hoc adjustment `argmax(z - τ ln π)`; the logit-adjusted loss
//!   (`τ = 1`, which is balanced softmax); class-balanced CE (β = 0.999);
//!   seesaw (p = 0.8, q = 2, counts streamed through a `ClassCounter` as
//!   mmdet keeps them); softmax focal (γ = 2). The class prior `π` is the
//!   training split's.
//! * Metrics ([`Scores`]) on the test split: accuracy, balanced accuracy
//!   (the mean of the per-class recalls over the classes the split has),
//!   and the recall of the rare classes pooled (those under 5 % of the
//!   training wines: qualities 3, 4 and 8).

use tinyloss::class_balanced::{self, ClassCounter, Normalize};
use tinyloss::softmax::{post_hoc_argmax, LogitAdjusted, Rows, Seesaw, Targets};
use tinyloss::{Error, Reduction, SoftmaxCe, SoftmaxFocal};

use crate::data::{self, Split, N_FEATURES, N_TRAIN};
use crate::train::{order_of, Adam, Rng, BATCH, CB_BETA, INIT_SEED, LR, SHUFFLE_SEED};

/// Classes: quality 3 … 8.
pub const K: usize = 6;
/// Input features.
const D: usize = N_FEATURES;
/// Parameters: `W (K×D) | b (K)`.
pub const P: usize = K * D + K;
/// Share of the training wines under which a class counts as rare.
const RARE: f32 = 0.05;

/// The class of wine `i`: its quality minus 3.
pub fn class_of(i: usize) -> usize {
    usize::from(data::quality(i).saturating_sub(3)).min(K - 1)
}

/// The class counts of split `s`.
pub fn counts(s: Split) -> [u32; K] {
    let mut n = [0u32; K];
    for k in 0..s.len {
        n[class_of(s.at(k))] += 1;
    }
    n
}

/// A loss of the comparison.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MultiLoss {
    /// Softmax cross-entropy.
    Ce,
    /// The cross-entropy model, predicted with `argmax(z - ln π)`.
    CePostHoc,
    /// The logit-adjusted loss, `τ = 1` (balanced softmax).
    LogitAdjusted,
    /// Cross-entropy with class-balanced weights (β = 0.999).
    BalancedCe,
    /// Seesaw over cross-entropy (p = 0.8, q = 2).
    Seesaw,
    /// Softmax focal loss, γ = 2.
    Focal,
}

impl MultiLoss {
    /// Every loss compared.
    pub const ALL: [MultiLoss; 6] = [
        MultiLoss::Ce,
        MultiLoss::CePostHoc,
        MultiLoss::LogitAdjusted,
        MultiLoss::BalancedCe,
        MultiLoss::Seesaw,
        MultiLoss::Focal,
    ];

    /// Its name in the tables.
    pub fn name(self) -> &'static str {
        match self {
            MultiLoss::Ce => "CE",
            MultiLoss::CePostHoc => "CE + post-hoc adjustment",
            MultiLoss::LogitAdjusted => "logit-adjusted CE (balanced softmax)",
            MultiLoss::BalancedCe => "class-balanced CE",
            MultiLoss::Seesaw => "seesaw",
            MultiLoss::Focal => "softmax focal g2",
        }
    }
}

/// The linear head.
#[derive(Clone, Debug)]
pub struct Head {
    /// `W (K×D) | b (K)`.
    pub p: [f32; P],
}

impl Head {
    /// The logits of features `x`.
    pub fn logits(&self, x: &[f32; D], z: &mut [f32]) {
        for (k, zk) in z.iter_mut().enumerate().take(K) {
            let w = &self.p[k * D..(k + 1) * D];
            *zk = self.p[K * D + k] + w.iter().zip(x).map(|(a, b)| a * b).sum::<f32>();
        }
    }
}

/// The test-split scores of a head.
#[derive(Clone, Copy, Debug, Default)]
pub struct Scores {
    /// Accuracy.
    pub accuracy: f32,
    /// Mean per-class recall over the classes present.
    pub balanced: f32,
    /// Recall of the rare classes pooled.
    pub rare_recall: f32,
}

/// What the losses read besides the batch: the training prior's offsets
/// (`ln π`, τ = 1), the class-balanced weights, and seesaw's running
/// counts.
#[derive(Clone, Debug)]
pub struct Context {
    /// `ln π_c` of the training split.
    pub offsets: [f32; K],
    /// Class-balanced weights (β = 0.999) of the training split.
    pub cb: [f32; K],
    /// The labels seen so far (seesaw).
    pub seen: ClassCounter<K>,
}

impl Context {
    /// The context of the training split, no labels seen.
    ///
    /// # Errors
    /// Those of `logit_offsets` and `class_balanced::weights` (none here).
    pub fn new() -> Result<Self, Error> {
        let n = counts(Split::TRAIN);
        let mut offsets = [0.0f32; K];
        tinyloss::softmax::logit_offsets(&n, 1.0, &mut offsets)?;
        let mut cb = [0.0f32; K];
        class_balanced::weights(&n, CB_BETA, Normalize::SumToClasses, &mut cb)?;
        Ok(Context {
            offsets,
            cb,
            seen: ClassCounter::new(),
        })
    }
}

/// The mean loss of `loss` on the wines `batch` (at most [`BATCH`]) and its
/// gradient with respect to the head's parameters into `grad`; seesaw
/// first adds the batch's labels to `ctx.seen`.
///
/// # Errors
/// Those of the loss calls (none for valid data).
pub fn gradient(
    head: &Head,
    loss: MultiLoss,
    batch: &[u16],
    ctx: &mut Context,
    grad: &mut [f32; P],
) -> Result<f32, Error> {
    let mut z = [0.0f32; BATCH * K];
    let mut g = [0.0f32; BATCH * K];
    let mut y = [0u8; BATCH];
    let b = batch.len().min(BATCH);
    for (r, &i) in batch[..b].iter().enumerate() {
        y[r] = class_of(usize::from(i)) as u8;
        head.logits(&data::features(usize::from(i)), &mut z[r * K..(r + 1) * K]);
    }
    let (z, g, y) = (&z[..b * K], &mut g[..b * K], &y[..b]);
    let rows = Rows::new(K, Targets::from(y));
    let ce = SoftmaxCe::new();
    let l = match loss {
        MultiLoss::Ce | MultiLoss::CePostHoc => rows.loss_grad(&ce, z, Reduction::Mean, g, None)?,
        MultiLoss::LogitAdjusted => {
            LogitAdjusted::new(ce, &ctx.offsets)?.loss_grad(&rows, z, Reduction::Mean, g, None)?
        }
        MultiLoss::BalancedCe => {
            rows.with_class_weights(&ctx.cb)?
                .loss_grad(&ce, z, Reduction::Mean, g, None)?
        }
        MultiLoss::Seesaw => {
            ctx.seen.observe_all(y)?;
            Seesaw::new(ce, ctx.seen.counts(), 0.8, 2.0)?.loss_grad(
                &rows,
                z,
                Reduction::Mean,
                g,
                None,
            )?
        }
        MultiLoss::Focal => {
            rows.loss_grad(&SoftmaxFocal::new(2.0)?, z, Reduction::Mean, g, None)?
        }
    };
    grad.fill(0.0);
    for (r, &i) in batch[..b].iter().enumerate() {
        // The features again (a fixed-point read) rather than a batch of
        // them on the stack: the M0 has 16 KiB of RAM.
        let xr = data::features(usize::from(i));
        for k in 0..K {
            let gk = g[r * K + k];
            for (gw, xv) in grad[k * D..(k + 1) * D].iter_mut().zip(&xr) {
                *gw += gk * xv;
            }
            grad[K * D + k] += gk;
        }
    }
    Ok(l)
}

/// Trains a head with `loss` on the training split for `epochs` epochs
/// (seed `seed` for the initialisation and the shuffles);
/// [`MultiLoss::CePostHoc`] trains as `Ce`.
///
/// # Errors
/// Those of the loss calls (none for valid data).
#[inline(never)]
pub fn train(loss: MultiLoss, epochs: u32, seed: u32) -> Result<Head, Error> {
    let mut ctx = Context::new()?;
    let mut head = Head { p: [0.0; P] };
    // A small random start so that seeds differ in more than the order.
    let mut init = Rng::new(INIT_SEED.wrapping_add(seed));
    for w in head.p[..K * D].iter_mut() {
        *w = init.uniform(-0.01, 0.01);
    }
    let mut adam = Adam::<P>::new(LR);
    let mut rng = Rng::new(SHUFFLE_SEED.wrapping_add(seed));
    let mut buf = [0u16; N_TRAIN];
    let order = order_of(Split::TRAIN, &mut buf);
    let mut grad = [0.0f32; P];
    for _ in 0..epochs {
        rng.shuffle(order);
        for chunk in order.chunks(BATCH) {
            gradient(&head, loss, chunk, &mut ctx, &mut grad)?;
            adam.step(&mut head.p, &grad);
        }
    }
    Ok(head)
}

/// The test-split scores of `head`, predicted by `argmax z` or, for
/// [`MultiLoss::CePostHoc`], `argmax(z - ln π)`.
///
/// # Errors
/// Those of the post-hoc adjustment (none for finite logits).
pub fn evaluate(head: &Head, loss: MultiLoss) -> Result<Scores, Error> {
    let n = counts(Split::TRAIN);
    let total: u32 = n.iter().sum();
    let mut offsets = [0.0f32; K];
    let post_hoc = loss == MultiLoss::CePostHoc;
    tinyloss::softmax::logit_offsets(&n, if post_hoc { 1.0 } else { 0.0 }, &mut offsets)?;
    let (mut hit, mut support) = ([0u32; K], [0u32; K]);
    let mut z = [0.0f32; K];
    let s = Split::TEST;
    for k in 0..s.len {
        let i = s.at(k);
        head.logits(&data::features(i), &mut z);
        let pred = post_hoc_argmax(&z, &offsets)?;
        let t = class_of(i);
        support[t] += 1;
        hit[t] += u32::from(pred == t);
    }
    let correct: u32 = hit.iter().sum();
    let (mut recall_sum, mut present) = (0.0f32, 0u32);
    let (mut rare_hit, mut rare_n) = (0u32, 0u32);
    for c in 0..K {
        if support[c] > 0 {
            recall_sum += hit[c] as f32 / support[c] as f32;
            present += 1;
        }
        if (n[c] as f32) < RARE * total as f32 {
            rare_hit += hit[c];
            rare_n += support[c];
        }
    }
    Ok(Scores {
        accuracy: correct as f32 / s.len.max(1) as f32,
        balanced: recall_sum / present.max(1) as f32,
        rare_recall: rare_hit as f32 / rare_n.max(1) as f32,
    })
}
