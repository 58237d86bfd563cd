//! On-device fine-tuning of a small classifier head on the red wine quality
//! data with four loss functions, on the host or an (emulated) Cortex-M.
//!
//! For each task ("quality ≥ 7", "quality ≤ 4"): tune focal α on the
//! validation part of the training split, then train the `11 → 8 → 1` head
//! from the same initialisation with cross-entropy, class-balanced
//! cross-entropy, focal (γ 2, α 0.25) and focal (γ 2, tuned α), on clean
//! labels and with 10 % of the training labels flipped, and evaluate on the
//! test split. Prints machine-readable lines (`EPOCH,…`, `TUNE,…`, `TEST,…`,
//! `COST,…`) and a results table. On the host, `--curves` also prints the
//! precision–recall curves (`PR,…`) that `examples/plots.rs` draws.
//!
//! Soft-float cores (M0, M3) run a shortened schedule (see `EPOCHS`).
#![cfg_attr(target_os = "none", no_std, no_main)]

use tinyloss::{Batch, Error, Focal, Reduction, SigmoidCe};
use tinyloss_firmware::counter::{self, Stopwatch};
use tinyloss_firmware::data::{Split, Task, N_FIT, N_TEST, N_TRAIN, N_VAL};
use tinyloss_firmware::train::{self, Evaluator, Labels, Metrics, Objective, BATCH};
use tinyloss_firmware::{exit, fx, out};

/// Epochs per run: 30 with an FPU (and on the host), fewer on soft-float cores.
const EPOCHS: u32 = if SOFT_FLOAT { 2 } else { 30 };
/// Epochs per run while tuning α.
const TUNE_EPOCHS: u32 = EPOCHS;
/// Soft-float Cortex-M (M0/M0+/M3): only the clean "quality ≥ 7" task with
/// the RetinaNet α (no tuning), to keep the emulated run short.
const SOFT_FLOAT: bool = cfg!(all(target_os = "none", not(target_abi = "eabihf")));

fn curves_wanted() -> bool {
    #[cfg(not(target_os = "none"))]
    {
        std::env::args().any(|a| a == "--curves")
    }
    #[cfg(target_os = "none")]
    {
        false
    }
}

fn noise_name(noisy: bool) -> &'static str {
    if noisy {
        "noisy"
    } else {
        "clean"
    }
}

/// Instructions (target) or ns (host) per call of the loss kernel alone on a
/// batch of `BATCH` logits.
fn kernel_cost(obj: &Objective) -> f64 {
    let mut z = [0.0f32; BATCH];
    let mut y = [0.0f32; BATCH];
    let w = [1.0f32; BATCH];
    let mut g = [0.0f32; BATCH];
    let mut rng = train::Rng::new(7);
    for k in 0..BATCH {
        z[k] = rng.uniform(-4.0, 4.0);
        y[k] = if k % 8 == 0 { 1.0 } else { 0.0 };
    }
    counter::per_call(64, || {
        let z = core::hint::black_box(&z);
        let r = match obj {
            Objective::Ce => {
                Batch::logits(z, &y).loss_grad(&SigmoidCe::PLAIN, Reduction::Mean, &mut g, None)
            }
            Objective::BalancedCe => Batch::logits(z, &y).weights(&w).loss_grad(
                &SigmoidCe::PLAIN,
                Reduction::Mean,
                &mut g,
                None,
            ),
            Objective::Focal(f) => Batch::logits(z, &y).loss_grad(f, Reduction::Mean, &mut g, None),
        };
        let _ = core::hint::black_box((r, &g));
    })
}

fn run() -> Result<(), Error> {
    let curves = curves_wanted();
    out!(
        "finetune on {}: red wine quality (Cortez et al. 2009, UCI, CC BY 4.0)",
        tinyloss_firmware::BOARD
    );
    out!(
        "data: {} train ({} fit + {} val) / {} test wines, 11 features; model 11-8-1 ReLU, {} params; Adam lr {}, batch {}, {} epochs",
        N_TRAIN,
        N_FIT,
        N_VAL,
        N_TEST,
        train::N_PARAMS,
        train::LR,
        BATCH,
        EPOCHS
    );
    let steps = N_TRAIN.div_ceil(BATCH) as u64;
    let tasks: &[Task] = if SOFT_FLOAT { &[Task::Good] } else { &Task::ALL };
    let noises: &[bool] = if SOFT_FLOAT { &[false] } else { &[false, true] };
    let mut ev = Evaluator::default();
    // results[task][noise][objective]
    let mut results = [[[Metrics::default(); 4]; 2]; 2];
    let mut alphas = [0.25f32; 2];
    let mut per_step = [0u64; 4];
    let total = Stopwatch::start();
    for (ti, &task) in tasks.iter().enumerate() {
        let clean = Labels::new(task, false);
        out!(
            "task {}: positives train {}/{}, test {}/{}",
            task.name(),
            clean.counts(Split::TRAIN)[1],
            N_TRAIN,
            task.positives(Split::TEST),
            N_TEST
        );
        if !SOFT_FLOAT {
            alphas[ti] = train::tune_alpha(task, TUNE_EPOCHS, &mut ev, &mut |a, m| {
                out!(
                    "TUNE,{},alpha={},val_f1={},val_ap={}",
                    task.name(),
                    a,
                    fx(m.f1, 4),
                    fx(m.ap, 4)
                );
            })?;
            out!("task {}: tuned focal alpha = {}", task.name(), alphas[ti]);
        }
        let objectives = [
            Objective::Ce,
            Objective::BalancedCe,
            Objective::Focal(Focal::RETINANET),
            Objective::Focal(Focal::new(2.0, Some(alphas[ti]))?),
        ];
        for (ni, &noisy) in noises.iter().enumerate() {
            let labels = Labels::new(task, noisy);
            if noisy {
                out!(
                    "task {}: {} training labels flipped; noisy positives {}/{}",
                    task.name(),
                    labels.flipped,
                    labels.counts(Split::TRAIN)[1],
                    N_TRAIN
                );
            }
            for (oi, obj) in objectives.iter().enumerate() {
                let name = obj.name();
                let mut spent = 0u64;
                let mut sw = Stopwatch::start();
                let model = train::train(obj, &labels, Split::TRAIN, EPOCHS, &mut |e, loss| {
                    spent += sw.elapsed();
                    out!(
                        "EPOCH,{},{},{},{},{}",
                        task.name(),
                        name,
                        noise_name(noisy),
                        e,
                        fx(loss, 5)
                    );
                    sw = Stopwatch::start();
                })?;
                if ti == 0 && ni == 0 {
                    per_step[oi] = spent / (steps * EPOCHS as u64);
                }
                let mut pr = |t: f32, r: f32, p: f32| {
                    out!(
                        "PR,{},{},{},{},{},{}",
                        task.name(),
                        name,
                        noise_name(noisy),
                        t,
                        r,
                        p
                    );
                };
                let curve: Option<&mut dyn FnMut(f32, f32, f32)> =
                    if curves { Some(&mut pr) } else { None };
                let m = ev.evaluate(&model, task, Split::TEST, curve)?;
                out!(
                    "TEST,{},{},{},precision={},recall={},f1={},ap={},ce={}",
                    task.name(),
                    name,
                    noise_name(noisy),
                    fx(m.precision, 4),
                    fx(m.recall, 4),
                    fx(m.f1, 4),
                    fx(m.ap, 4),
                    fx(m.ce, 4)
                );
                results[ti][ni][oi] = m;
            }
        }
    }
    let elapsed = total.elapsed();
    out!("");
    out!("results on the test split (minority class; P/R/F1 at p >= 0.5):");
    out!("task  labels loss        alpha  prec   recall F1     AP");
    for (ti, &task) in tasks.iter().enumerate() {
        for (ni, &noisy) in noises.iter().enumerate() {
            for (oi, name) in ["CE         ", "CB-CE      ", "focal      ", "focal-tuned"]
                .iter()
                .enumerate()
            {
                let m = &results[ti][ni][oi];
                let alpha = match oi {
                    2 => 0.25,
                    3 => alphas[ti],
                    _ => f32::NAN,
                };
                out!(
                    "{} {}  {} {} {} {} {} {}",
                    task.name(),
                    noise_name(noisy),
                    name,
                    fx(alpha, 2),
                    fx(m.precision, 3),
                    fx(m.recall, 3),
                    fx(m.f1, 3),
                    fx(m.ap, 3)
                );
            }
        }
    }
    let objectives = [
        Objective::Ce,
        Objective::BalancedCe,
        Objective::Focal(Focal::RETINANET),
        Objective::Focal(Focal::new(2.0, Some(0.9))?),
    ];
    for (oi, obj) in objectives.iter().enumerate() {
        out!(
            "COST,{},{} per training step (batch {}),{} per loss kernel call",
            obj.name(),
            per_step[oi],
            BATCH,
            kernel_cost(obj) as u64
        );
    }
    out!("COST,unit,{}", tinyloss_firmware::UNIT);
    out!("COST,total,{}", elapsed);
    Ok(())
}

#[cfg_attr(target_os = "none", cortex_m_rt::entry)]
fn main() -> ! {
    tinyloss_firmware::init();
    match run() {
        Ok(()) => exit(true),
        Err(e) => {
            out!("finetune failed: {:?}", e);
            exit(false)
        }
    }
}
