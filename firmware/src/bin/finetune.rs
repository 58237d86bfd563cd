//! On-device fine-tuning of a small classifier head on the red wine quality
//! data with five loss functions, on the host or an (emulated) Cortex-M.
//!
//! For each task ("quality ≥ 7", "quality ≤ 4"): tune focal α on the
//! validation part of the training split, then train the `11 → 8 → 1` head
//! from the same initialisation with cross-entropy, class-balanced
//! cross-entropy, focal (γ 2, α 0.25), focal (γ 2, tuned α) and the
//! asymmetric loss (timm's defaults), on clean
//! labels and with 10 % of the training labels flipped, and evaluate on the
//! test split. The easy-example diagnostic ([`tinyloss::Diagnostic`]) of
//! every cell on the training split, at initialisation and after training,
//! says how much of the loss and gradient well-classified wines carry.
//! Prints machine-readable lines (`EPOCH,…`, `TUNE,…`, `TEST,…`, `DIAG,…`,
//! `COST,…`) and the results and diagnostic tables. On the host, `--curves` also prints the
//! precision–recall curves (`PR,…`) that `examples/plots.rs` draws.
//!
//! Then the multi-class comparison ([`tinyloss_firmware::multiclass`]): the
//! six quality scores as classes, a linear softmax head trained with CE,
//! logit-adjusted CE (balanced softmax), class-balanced CE, seesaw and
//! softmax focal loss, plus CE with the post-hoc adjustment, scored by
//! balanced accuracy (`MC,…` lines and a table; `--mc-seeds N` on the host).
//!
//! Soft-float cores (M0, M3) run 10 instead of 30 epochs (see `DEFAULT_EPOCHS`).
#![cfg_attr(target_os = "none", no_std, no_main)]

use tinyloss::{Asymmetric, Batch, Diagnostic, Error, Focal, Group, Reduction, SigmoidCe};
use tinyloss_firmware::counter::{self, Stopwatch};
use tinyloss_firmware::data::{Split, Task, N_FIT, N_TEST, N_TRAIN, N_VAL};
use tinyloss_firmware::train::{self, Evaluator, Labels, Metrics, Model, Objective, BATCH};
use tinyloss_firmware::{exit, fx, out};

/// Soft-float Cortex-M (M0/M0+, M3): every float operation is a library call
/// (30–60× the instructions of an M4F), so these run fewer epochs.
const SOFT_FLOAT: bool = cfg!(all(target_os = "none", not(target_abi = "eabihf")));
/// Epochs per run (training and α tuning): 30 with an FPU (and on the host),
/// 10 on soft-float cores. The host takes `--epochs N` to reproduce a
/// soft-float run.
const DEFAULT_EPOCHS: u32 = if SOFT_FLOAT { 10 } else { 30 };

/// Host: `--curves` prints the precision–recall curves.
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

/// Host: the value after `flag`, if any.
#[cfg(not(target_os = "none"))]
fn arg_u32(flag: &str) -> Option<u32> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == flag)?;
    args.get(i + 1)?.parse().ok()
}

fn epochs() -> u32 {
    #[cfg(not(target_os = "none"))]
    {
        arg_u32("--epochs").unwrap_or(DEFAULT_EPOCHS).max(1)
    }
    #[cfg(target_os = "none")]
    {
        DEFAULT_EPOCHS
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
                Batch::new(&y).loss_grad(&SigmoidCe::PLAIN, z, Reduction::Mean, &mut g, None)
            }
            Objective::BalancedCe => Batch::new(&y).with_weights(&w).loss_grad(
                &SigmoidCe::PLAIN,
                z,
                Reduction::Mean,
                &mut g,
                None,
            ),
            Objective::Focal(f) => Batch::new(&y).loss_grad(f, z, Reduction::Mean, &mut g, None),
            Objective::BalancedFocal(f) => {
                Batch::new(&y)
                    .with_weights(&w)
                    .loss_grad(f, z, Reduction::Mean, &mut g, None)
            }
            Objective::Asymmetric(a) => {
                Batch::new(&y).loss_grad(a, z, Reduction::Mean, &mut g, None)
            }
        };
        let _ = core::hint::black_box((r, &g));
    })
}

/// Names of the losses, padded for the table.
const NAMES: [&str; L] = [
    "CE         ",
    "CB-CE      ",
    "focal      ",
    "focal-tuned",
    "ASL        ",
];
/// How many losses are compared.
const L: usize = 5;
/// The focal losses' positions in [`NAMES`] (the table's α column).
const FOCAL: [usize; 2] = [2, 3];

/// Metrics per `[task][clean, noisy][CE, CB-CE, focal, focal-tuned]`.
type Grid = [[[Metrics; L]; 2]; 2];

/// Everything one seed of the experiment produces.
struct Outcome {
    /// `[task][clean, noisy][CE, CB-CE, focal, focal-tuned]`.
    results: Grid,
    /// Tuned focal α per task.
    alphas: [f32; 2],
    /// Counter units per training step, per loss (first task, clean labels).
    per_step: [u64; L],
    /// The easy-example diagnostic on the training split, at initialisation
    /// and after training, per cell as in `results`.
    easy: [[[[Easy; 2]; L]; 2]; 2],
}

/// What the easy-example diagnostic says about one model on the training
/// split: the shares of the whole (weighted) loss and gradient mass `Σ|∂ℓ/∂z|`
/// carried by easy negatives and easy positives (`p_t > 0.5`), and how many
/// wines carry half the gradient.
#[derive(Clone, Copy, Debug, Default)]
struct Easy {
    neg_loss: f32,
    neg_grad: f32,
    pos_loss: f32,
    pos_grad: f32,
    /// `(low, high)` bracket of [`Diagnostic::half_gradient`].
    half: (u32, u32),
}

impl Easy {
    fn of(model: &Model, obj: &Objective, labels: &Labels) -> Result<Self, Error> {
        let mut d = Diagnostic::<10>::new();
        train::diagnose(model, obj, labels, Split::TRAIN, Split::TRAIN, &mut d)?;
        Ok(Easy {
            neg_loss: d.easy_loss_share(Group::Negatives),
            neg_grad: d.easy_grad_share(Group::Negatives),
            pos_loss: d.easy_loss_share(Group::Positives),
            pos_grad: d.easy_grad_share(Group::Positives),
            half: d.half_gradient(),
        })
    }
}

fn tasks() -> &'static [Task] {
    &Task::ALL
}

fn noises() -> &'static [bool] {
    &[false, true]
}

/// Tunes α and trains every (task, labels, loss) cell from `seed`; with
/// `verbose` prints the `TUNE`/`EPOCH`/`TEST` lines (and `PR` lines with
/// `curves`).
fn experiment(
    seed: u32,
    epochs: u32,
    verbose: bool,
    curves: bool,
    ev: &mut Evaluator,
) -> Result<Outcome, Error> {
    let steps = N_TRAIN.div_ceil(BATCH) as u64;
    let mut o = Outcome {
        results: [[[Metrics::default(); L]; 2]; 2],
        alphas: [0.25; 2],
        per_step: [0; L],
        easy: [[[[Easy::default(); 2]; L]; 2]; 2],
    };
    for (ti, &task) in tasks().iter().enumerate() {
        if verbose {
            let clean = Labels::new(task, false, seed);
            out!(
                "task {}: positives train {}/{}, test {}/{}",
                task.name(),
                clean.counts(Split::TRAIN)[1],
                N_TRAIN,
                task.positives(Split::TEST),
                N_TEST
            );
        }
        {
            o.alphas[ti] = train::tune_alpha(task, epochs, seed, ev, &mut |a, m| {
                if verbose {
                    out!(
                        "TUNE,{},alpha={},val_f1={},val_ap={}",
                        task.name(),
                        a,
                        fx(m.f1, 4),
                        fx(m.ap, 4)
                    );
                }
            })?;
            if verbose {
                out!("task {}: tuned focal alpha = {}", task.name(), o.alphas[ti]);
            }
        }
        let objectives = [
            Objective::Ce,
            Objective::BalancedCe,
            Objective::Focal(Focal::RETINANET),
            Objective::Focal(Focal::new(2.0, Some(o.alphas[ti]))?),
            Objective::Asymmetric(Asymmetric::TIMM),
        ];
        for (ni, &noisy) in noises().iter().enumerate() {
            let labels = Labels::new(task, noisy, seed);
            if noisy && verbose {
                let true_pos = (0..N_TRAIN)
                    .filter(|&i| labels.get(i) && task.label(i))
                    .count();
                out!(
                    "task {}: {} training labels flipped; noisy positives {}/{}, of which {} truly positive",
                    task.name(),
                    labels.flipped,
                    labels.counts(Split::TRAIN)[1],
                    N_TRAIN,
                    true_pos
                );
            }
            for (oi, obj) in objectives.iter().enumerate() {
                let name = NAMES[oi].trim_end();
                let mut spent = 0u64;
                let mut sw = Stopwatch::start();
                let model =
                    train::train(obj, &labels, Split::TRAIN, epochs, seed, &mut |e, loss| {
                        spent += sw.elapsed();
                        if verbose {
                            out!(
                                "EPOCH,{},{},{},{},{}",
                                task.name(),
                                name,
                                noise_name(noisy),
                                e,
                                loss
                            );
                        }
                        sw = Stopwatch::start();
                    })?;
                if ti == 0 && ni == 0 {
                    o.per_step[oi] = spent / (steps * epochs as u64);
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
                let curve: Option<&mut dyn FnMut(f32, f32, f32)> = if curves && verbose {
                    Some(&mut pr)
                } else {
                    None
                };
                let m = ev.evaluate(&model, task, Split::TEST, curve)?;
                if verbose {
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
                }
                o.results[ti][ni][oi] = m;
                let start = Model::init(train::INIT_SEED.wrapping_add(seed));
                let easy = [
                    Easy::of(&start, obj, &labels)?,
                    Easy::of(&model, obj, &labels)?,
                ];
                if verbose {
                    for (e, d) in [0, epochs].iter().zip(&easy) {
                        out!(
                            "DIAG,{},{},{},epoch={},easy_neg_loss={},easy_neg_grad={},easy_pos_loss={},easy_pos_grad={},half_grad={}..{}",
                            task.name(),
                            name,
                            noise_name(noisy),
                            e,
                            fx(d.neg_loss, 4),
                            fx(d.neg_grad, 4),
                            fx(d.pos_loss, 4),
                            fx(d.pos_grad, 4),
                            d.half.0,
                            d.half.1
                        );
                    }
                }
                o.easy[ti][ni][oi] = easy;
            }
        }
    }
    Ok(o)
}

#[inline(never)]
fn run(stack: usize) -> Result<(), Error> {
    let curves = curves_wanted();
    let epochs = epochs();
    out!(
        "finetune on {}: red wine quality (Cortez et al. 2009, UCI, CC BY 4.0)",
        tinyloss_firmware::BOARD
    );
    out!(
        "data: {} train ({} fit + {} val) / {} test wines, 11 features; model 11-8-1 ReLU, {} params; Adam lr {}, batch {}, epochs {}",
        N_TRAIN,
        N_FIT,
        N_VAL,
        N_TEST,
        train::N_PARAMS,
        train::LR,
        BATCH,
        epochs
    );
    let mut ev = Evaluator::default();
    let total = Stopwatch::start();
    let o = experiment(0, epochs, true, curves, &mut ev)?;
    let elapsed = total.elapsed();
    out!("");
    out!("results on the test split (minority class; P/R/F1 at p >= 0.5):");
    out!("| task | labels | loss | focal alpha | precision | recall | F1 | AP |");
    out!("|---|---|---|---|---|---|---|---|");
    for (ti, &task) in tasks().iter().enumerate() {
        for (ni, &noisy) in noises().iter().enumerate() {
            for (oi, name) in NAMES.iter().enumerate() {
                let m = &o.results[ti][ni][oi];
                let (t, l, n) = (task.name(), noise_name(noisy), name.trim_end());
                let (p, r, f, ap) = (
                    fx(m.precision, 3),
                    fx(m.recall, 3),
                    fx(m.f1, 3),
                    fx(m.ap, 3),
                );
                if !FOCAL.contains(&oi) {
                    out!(
                        "| {} | {} | {} | - | {} | {} | {} | {} |",
                        t,
                        l,
                        n,
                        p,
                        r,
                        f,
                        ap
                    );
                } else {
                    let alpha = fx([0.25, o.alphas[ti]][oi - FOCAL[0]], 2);
                    out!(
                        "| {} | {} | {} | {} | {} | {} | {} | {} |",
                        t,
                        l,
                        n,
                        alpha,
                        p,
                        r,
                        f,
                        ap
                    );
                }
            }
        }
    }
    out!("");
    out!(
        "easy-example diagnostic on the {} training wines (easy: p_t > 0.5; shares of the whole weighted loss and of sum |dl/dz|), at initialisation -> after training:",
        N_TRAIN
    );
    out!("| task | labels | loss | easy negatives: loss share | gradient share | easy positives: gradient share | wines carrying half the gradient |");
    out!("|---|---|---|---|---|---|---|");
    for (ti, &task) in tasks().iter().enumerate() {
        for (ni, &noisy) in noises().iter().enumerate() {
            for (oi, name) in NAMES.iter().enumerate() {
                let [a, b] = &o.easy[ti][ni][oi];
                out!(
                    "| {} | {} | {} | {} -> {} | {} -> {} | {} -> {} | {}..{} -> {}..{} |",
                    task.name(),
                    noise_name(noisy),
                    name.trim_end(),
                    fx(a.neg_loss, 2),
                    fx(b.neg_loss, 2),
                    fx(a.neg_grad, 2),
                    fx(b.neg_grad, 2),
                    fx(a.pos_grad, 2),
                    fx(b.pos_grad, 2),
                    a.half.0,
                    a.half.1,
                    b.half.0,
                    b.half.1
                );
            }
        }
    }
    let objectives = [
        Objective::Ce,
        Objective::BalancedCe,
        Objective::Focal(Focal::RETINANET),
        Objective::Focal(Focal::new(2.0, Some(o.alphas[0]))?),
        Objective::Asymmetric(Asymmetric::TIMM),
    ];
    for (oi, obj) in objectives.iter().enumerate() {
        out!(
            "COST,{},{} per training step (batch {}),{} per loss kernel call",
            NAMES[oi].trim_end(),
            o.per_step[oi],
            BATCH,
            kernel_cost(obj) as u64
        );
    }
    out!("COST,unit,{}", tinyloss_firmware::UNIT);
    out!("COST,total,{}", elapsed);
    out!(
        "STACK,{} bytes peak for train + evaluate (0 on the host); Trainer {} bytes, Evaluator {} bytes",
        stack,
        core::mem::size_of::<train::Trainer>(),
        core::mem::size_of::<Evaluator>()
    );
    #[cfg(not(target_os = "none"))]
    host::seeds(&o, epochs, &mut ev)?;
    Ok(())
}

/// The multi-class comparison ([`tinyloss_firmware::multiclass`]): the six
/// quality scores as classes, every loss over the same seeds (3 with an FPU,
/// 1 on soft-float cores), the mean of each score. Not inlined: its
/// buffers must not join `main`'s frame while `run` runs.
#[inline(never)]
fn multiclass(epochs: u32) -> Result<(), Error> {
    use tinyloss_firmware::multiclass::{self as mc, MultiLoss, Scores};
    let seeds: u32 = if SOFT_FLOAT { 1 } else { 3 };
    // Host: `--mc-seeds N` for more.
    #[cfg(not(target_os = "none"))]
    let seeds = arg_u32("--mc-seeds").unwrap_or(seeds).max(1);
    let n = mc::counts(Split::TRAIN);
    out!("");
    out!(
        "multi-class: quality 3..8 as 6 classes (training counts {:?}), linear softmax head 11-6, {} params; Adam lr {}, batch {}, epochs {}, seeds {}",
        n,
        mc::P,
        train::LR,
        BATCH,
        epochs,
        seeds
    );
    let mut mean = [Scores::default(); MultiLoss::ALL.len()];
    for seed in 0..seeds {
        let mut ce: Option<mc::Head> = None;
        for (li, &loss) in MultiLoss::ALL.iter().enumerate() {
            let head = match (loss, &ce) {
                (MultiLoss::CePostHoc, Some(h)) => h.clone(),
                _ => mc::train(loss, epochs, seed)?,
            };
            let s = mc::evaluate(&head, loss)?;
            out!(
                "MC,{},{},{},{},{}",
                loss.name(),
                seed,
                fx(s.accuracy, 4),
                fx(s.balanced, 4),
                fx(s.rare_recall, 4)
            );
            let m = &mut mean[li];
            m.accuracy += s.accuracy / seeds as f32;
            m.balanced += s.balanced / seeds as f32;
            m.rare_recall += s.rare_recall / seeds as f32;
            if loss == MultiLoss::Ce {
                ce = Some(head);
            }
        }
    }
    out!("results on the test split, mean over the seeds (rare: qualities under 5 % of the training wines, 3, 4 and 8):");
    out!("| loss | accuracy | balanced accuracy | rare-class recall |");
    out!("|---|---|---|---|");
    for (m, loss) in mean.iter().zip(MultiLoss::ALL) {
        out!(
            "| {} | {} | {} | {} |",
            loss.name(),
            fx(m.accuracy, 3),
            fx(m.balanced, 3),
            fx(m.rare_recall, 3)
        );
    }
    Ok(())
}

/// Host only: `--seeds N` repeats the experiment for seeds `0..N` (init,
/// shuffles, label flips and α tuning all reseeded) and prints the mean and
/// standard deviation of every cell, to tell real differences from seed noise.
#[cfg(not(target_os = "none"))]
mod host {
    use super::*;

    pub fn seeds(first: &Outcome, epochs: u32, ev: &mut Evaluator) -> Result<(), Error> {
        let Some(n) = arg_u32("--seeds") else {
            return Ok(());
        };
        let mut all = vec![(first.results, first.alphas)];
        for seed in 1..n {
            let o = experiment(seed, epochs, false, false, ev)?;
            all.push((o.results, o.alphas));
        }
        let stat = |f: &dyn Fn(&Grid) -> f32| {
            let v: Vec<f64> = all.iter().map(|(r, _)| f(r) as f64).collect();
            let m = v.iter().sum::<f64>() / v.len() as f64;
            let sd = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len().max(2) - 1) as f64)
                .sqrt();
            (m, sd)
        };
        println!();
        println!("SEEDS,{n} seeds: mean ± sd on the test split (P/R/F1 at p >= 0.5)");
        println!("SEEDS,task,labels,loss,precision,recall,f1,ap,ce");
        for (ti, task) in tasks().iter().enumerate() {
            for (ni, &noisy) in noises().iter().enumerate() {
                for (oi, name) in NAMES.iter().enumerate() {
                    let cell = |g: fn(&Metrics) -> f32| {
                        let (m, sd) = stat(&|r| g(&r[ti][ni][oi]));
                        format!("{m:.3}±{sd:.3}")
                    };
                    println!(
                        "SEEDS,{},{},{},{},{},{},{},{}",
                        task.name(),
                        noise_name(noisy),
                        name.trim(),
                        cell(|m| m.precision),
                        cell(|m| m.recall),
                        cell(|m| m.f1),
                        cell(|m| m.ap),
                        cell(|m| m.ce),
                    );
                }
            }
            let alphas: Vec<String> = all.iter().map(|(_, a)| format!("{}", a[ti])).collect();
            println!("SEEDS,{},tuned alphas,{}", task.name(), alphas.join(" "));
        }
        // Paired differences (same seed): each loss against CE, and the
        // effect of the label noise on each loss.
        let n = all.len() as f64;
        let paired = |f: &dyn Fn(&Grid) -> f64| {
            let v: Vec<f64> = all.iter().map(|(r, _)| f(r)).collect();
            let m = v.iter().sum::<f64>() / n;
            let sd = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)).sqrt();
            let wins = v.iter().filter(|&&x| x > 0.0).count();
            format!("{m:+.3}±{sd:.3} (>0 in {wins}/{})", v.len())
        };
        println!("SEEDS,paired,task,labels,loss,dAP vs CE,dF1 vs CE");
        for (ti, task) in tasks().iter().enumerate() {
            for (ni, &noisy) in noises().iter().enumerate() {
                for (oi, name) in NAMES.iter().enumerate().skip(1) {
                    println!(
                        "SEEDS,paired,{},{},{},{},{}",
                        task.name(),
                        noise_name(noisy),
                        name.trim(),
                        paired(&|r| (r[ti][ni][oi].ap - r[ti][ni][0].ap) as f64),
                        paired(&|r| (r[ti][ni][oi].f1 - r[ti][ni][0].f1) as f64),
                    );
                }
            }
        }
        println!("SEEDS,noise,task,loss,dAP noisy-clean,dF1 noisy-clean");
        for (ti, task) in tasks().iter().enumerate() {
            for (oi, name) in NAMES.iter().enumerate() {
                println!(
                    "SEEDS,noise,{},{},{},{}",
                    task.name(),
                    name.trim(),
                    paired(&|r| (r[ti][1][oi].ap - r[ti][0][oi].ap) as f64),
                    paired(&|r| (r[ti][1][oi].f1 - r[ti][0][oi].f1) as f64),
                );
            }
        }
        Ok(())
    }
}

/// Stack high-water of one training run (1 epoch, focal) plus a test
/// evaluation, with every buffer they need. Measured on its own, before
/// `run`: painting turns interrupts off, which would stop the SysTick wrap
/// count of the instruction counter.
#[inline(never)]
fn measure_stack() -> Result<usize, Error> {
    let (r, stack) = tinyloss_firmware::stack_use(64 * 1024, || {
        let labels = Labels::new(Task::Good, false, 0);
        let obj = Objective::Focal(Focal::RETINANET);
        let model = train::train(&obj, &labels, Split::TRAIN, 1, 0, &mut |_, _| {})?;
        Evaluator::default().evaluate(&model, Task::Good, Split::TEST, None)
    });
    r.map(|_| stack)
}

#[cfg_attr(target_os = "none", cortex_m_rt::entry)]
fn main() -> ! {
    tinyloss_firmware::init();
    // The multi-class comparison after `run` has returned its buffers.
    match measure_stack()
        .and_then(run)
        .and_then(|()| multiclass(epochs()))
    {
        Ok(()) => exit(true),
        Err(e) => {
            out!("finetune failed: {:?}", e);
            exit(false)
        }
    }
}
