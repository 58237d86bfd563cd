//! Streaming on-device learning: wines arrive one at a time, as from a
//! sensor, and the head learns from each as it comes.
//!
//! * Arrival order: the training split replayed in a fixed shuffled order
//!   (xorshift32, seed [`STREAM_SEED`]), [`PASSES`] times.
//! * A [`tinyloss::class_balanced::ClassCounter`] counts the labels seen so
//!   far; its class-balanced weights (β = 0.999) are recomputed at every
//!   arrival and weight the loss of each element of the update.
//! * A [`tinyloss::mining::Replay`] buffer ([`HARD`] slots) keeps the hardest
//!   recent wines: every update trains on the new wine plus all of them, the
//!   fused kernel returns their fresh per-element losses, which refresh the
//!   buffer ([`Replay::refresh`]); a new wine enters when its loss beats the
//!   easiest one kept ([`Replay::offer`]), and a wine leaves after
//!   [`MAX_REPLAYS`] replays, so the buffer follows what is hard *now*.
//! * Loss: class-balanced focal (γ = 2, α off, per-element weights from the
//!   counter), against a baseline of plain cross-entropy on the new wine alone.
//!
//! Prints the test metrics every [`EVAL_EVERY`] wines: `STREAM,task,mode,seen,
//! positives seen,w_neg,w_pos,buffer positives,buffer min loss,max loss,F1,AP`.
//! Runs on every core, the soft-float M0 and M3 included.
#![cfg_attr(target_os = "none", no_std, no_main)]

use tinyloss::class_balanced::{ClassCounter, Normalize};
use tinyloss::mining::Replay;
use tinyloss::{Error, Focal};
use tinyloss_firmware::counter::Stopwatch;
use tinyloss_firmware::data::{Split, Task, N_TRAIN};
use tinyloss_firmware::train::{Evaluator, Labels, Objective, Rng, Trainer, BATCH, CB_BETA};
use tinyloss_firmware::{exit, fx, out};

/// Capacity of the hard-example buffer.
const HARD: usize = 7;
/// A kept wine is dropped after this many replays.
const MAX_REPLAYS: u16 = 16;
/// Passes over the training split.
const PASSES: usize = 2;
/// Test metrics every this many arrivals.
const EVAL_EVERY: usize = 400;
/// Adam learning rate for the one-wine-at-a-time updates.
const STREAM_LR: f32 = 0.002;
/// Seed of the arrival order.
const STREAM_SEED: u32 = 0x57EA_0001;

const _: () = assert!(HARD < BATCH);

/// The two learners compared.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Plain cross-entropy on the new wine only.
    Baseline,
    /// Class-balanced focal loss on the new wine plus the hard buffer.
    BalancedReplay,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Baseline => "CE-no-replay",
            Mode::BalancedReplay => "CB-focal+replay",
        }
    }
}

/// Streams the training split through one learner; returns the final test
/// `(F1, AP)`.
fn stream(task: Task, mode: Mode, ev: &mut Evaluator) -> Result<(f32, f32), Error> {
    let labels = Labels::new(task, false, 0);
    let mut counter = ClassCounter::<2>::new();
    let mut hard: Replay<u16, HARD> = Replay::new(MAX_REPLAYS);
    let mut trainer = Trainer::new([1.0, 1.0], 0);
    trainer.set_lr(STREAM_LR);
    let obj = match mode {
        Mode::Baseline => Objective::Ce,
        Mode::BalancedReplay => Objective::BalancedFocal(Focal::new(2.0, None)?),
    };
    let mut order = [0u16; N_TRAIN];
    for (k, o) in order.iter_mut().enumerate() {
        *o = Split::TRAIN.at(k) as u16;
    }
    Rng::new(STREAM_SEED).shuffle(&mut order);
    let mut batch = [0u16; BATCH];
    let mut losses = [0.0f32; BATCH];
    let mut cw = [1.0f32; 2];
    let mut seen = 0usize;
    let mut next_eval = EVAL_EVERY;
    let mut last = (0.0, 0.0);
    for _ in 0..PASSES {
        for &wine in order.iter() {
            let y = labels.get(wine as usize);
            counter.observe(u32::from(y))?;
            seen += 1;
            // The batch: the new wine first, then the kept hard wines.
            batch[0] = wine;
            let mut n = 1;
            if mode == Mode::BalancedReplay {
                counter.weights(CB_BETA, Normalize::SumToClasses, &mut cw)?;
                trainer.set_class_weights(cw);
                for (b, &w) in batch[1..].iter_mut().zip(hard.items()) {
                    *b = w;
                }
                n += hard.len();
                trainer.step_with_losses(&obj, &batch[..n], &labels, Some(&mut losses))?;
                // The kept wines' fresh losses (those replayed enough leave),
                // then the new wine's offer.
                hard.refresh(&losses[1..n])?;
                hard.offer(losses[0], wine)?;
            } else {
                trainer.step(&obj, &batch[..n], &labels)?;
            }
            if seen == next_eval || seen == PASSES * N_TRAIN {
                next_eval += EVAL_EVERY;
                let m = ev.evaluate(&trainer.model, task, Split::TEST, None)?;
                let (mut lo, mut hi, mut pos) = (f32::INFINITY, 0.0f32, 0);
                for h in hard.slots() {
                    lo = lo.min(h.score);
                    hi = hi.max(h.score);
                    pos += labels.get(h.item as usize) as u32;
                }
                if hard.is_empty() {
                    lo = 0.0;
                }
                out!(
                    "STREAM,{},{},{},{},{},{},{},{},{},{},{}",
                    task.name(),
                    mode.name(),
                    seen,
                    counter.counts()[1],
                    fx(cw[0], 3),
                    fx(cw[1], 3),
                    pos,
                    fx(lo, 3),
                    fx(hi, 3),
                    fx(m.f1, 4),
                    fx(m.ap, 4)
                );
                last = (m.f1, m.ap);
            }
        }
    }
    Ok(last)
}

fn run() -> Result<(), Error> {
    out!(
        "stream on {}: wines arrive one at a time ({} passes over {} training wines), hard buffer {} wines, test metrics at p >= 0.5",
        tinyloss_firmware::BOARD,
        PASSES,
        N_TRAIN,
        HARD
    );
    out!("STREAM,task,mode,seen,positives seen,w_neg,w_pos,buffer positives,buffer min loss,buffer max loss,test F1,test AP");
    let mut ev = Evaluator::default();
    let mut finals = [[(0.0f32, 0.0f32); 2]; 2];
    let sw = Stopwatch::start();
    for (ti, &task) in Task::ALL.iter().enumerate() {
        for (mi, &mode) in [Mode::Baseline, Mode::BalancedReplay].iter().enumerate() {
            finals[ti][mi] = stream(task, mode, &mut ev)?;
        }
    }
    let total = sw.elapsed();
    for (ti, &task) in Task::ALL.iter().enumerate() {
        for (mi, mode) in [Mode::Baseline, Mode::BalancedReplay].iter().enumerate() {
            out!(
                "FINAL,{},{},F1={},AP={}",
                task.name(),
                mode.name(),
                fx(finals[ti][mi].0, 3),
                fx(finals[ti][mi].1, 3)
            );
        }
    }
    out!(
        "COST,total,{} {} for {} updates",
        total,
        tinyloss_firmware::UNIT,
        4 * PASSES * N_TRAIN
    );
    Ok(())
}

#[cfg_attr(target_os = "none", cortex_m_rt::entry)]
fn main() -> ! {
    tinyloss_firmware::init();
    match run() {
        Ok(()) => exit(true),
        Err(e) => {
            out!("stream failed: {:?}", e);
            exit(false)
        }
    }
}
