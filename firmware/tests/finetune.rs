//! Host tests of the fine-tuning code: the data split and standardisation,
//! the hand-written backward pass (against f64 finite differences of an
//! independent f64 model and loss), the metrics (against an f64 reference),
//! the label noise, and determinism.

use tinyloss::Focal;
use tinyloss_firmware::data::{self, Split, Task, N_ALL, N_FEATURES, N_TEST, N_TRAIN};
use tinyloss_firmware::train::{
    self, Evaluator, Labels, Model, Objective, Trainer, D, H, N_PARAMS,
};

/// Quality-score counts of the 1,599 red wines (Cortez et al. 2009).
const SCORES: [(u8, usize); 6] = [(3, 10), (4, 53), (5, 681), (6, 638), (7, 199), (8, 18)];

#[test]
fn split_is_complete_and_stratified() {
    assert_eq!(N_ALL, 1599);
    for (q, n) in SCORES {
        let count = |s: Split| (0..s.len).filter(|&k| data::quality(s.at(k)) == q).count();
        let (tr, te) = (count(Split::TRAIN), count(Split::TEST));
        assert_eq!(tr + te, n, "score {q}");
        assert!(
            (te as f64 - n as f64 / 4.0).abs() <= 0.5,
            "score {q}: {te} of {n} in test"
        );
        let (fit, val) = (count(Split::FIT), count(Split::VAL));
        assert!(
            (val as f64 - tr as f64 / 5.0).abs() <= 0.5,
            "score {q}: {val} of {tr} in val"
        );
        assert_eq!(fit + val, tr);
    }
    let pos = |t: Task| t.positives(Split::TRAIN) + t.positives(Split::TEST);
    assert_eq!(pos(Task::Good), 217);
    assert_eq!(pos(Task::Poor), 63);
}

#[test]
fn standardised_on_the_training_split_only() {
    let stats = |s: Split| {
        let mut m = [0.0f64; N_FEATURES];
        let mut v = [0.0f64; N_FEATURES];
        for k in 0..s.len {
            for (f, x) in data::features(s.at(k)).iter().enumerate() {
                m[f] += *x as f64 / s.len as f64;
            }
        }
        for k in 0..s.len {
            for (f, x) in data::features(s.at(k)).iter().enumerate() {
                v[f] += (*x as f64 - m[f]).powi(2) / s.len as f64;
            }
        }
        (m, v)
    };
    let (m, v) = stats(Split::TRAIN);
    for f in 0..N_FEATURES {
        // Within the fixed-point step 2^-11 (rounding errors average out).
        assert!(m[f].abs() < 5e-5, "feature {f}: train mean {}", m[f]);
        assert!(
            (v[f].sqrt() - 1.0).abs() < 5e-5,
            "feature {f}: train sd {}",
            v[f].sqrt()
        );
    }
    let (mt, _) = stats(Split::TEST);
    assert!(
        mt.iter().any(|x| x.abs() > 1e-3),
        "test split looks standardised on itself"
    );
    assert!(data::STD.iter().all(|s| *s > 0.0));
}

#[test]
fn label_noise_flips_ten_percent_of_training_labels_only() {
    for task in Task::ALL {
        let clean = Labels::new(task, false, 0);
        let noisy = Labels::new(task, true, 0);
        let diff = |s: Split| {
            (0..s.len)
                .filter(|&k| clean.get(s.at(k)) != noisy.get(s.at(k)))
                .count()
        };
        assert_eq!(diff(Split::TRAIN), (N_TRAIN as f64 * 0.1).round() as usize);
        assert_eq!(diff(Split::TEST), 0);
        assert_eq!(noisy.flipped as usize, diff(Split::TRAIN));
        for i in 0..N_ALL {
            assert_eq!(clean.get(i), task.label(i));
        }
    }
}

/// f64 forward pass, written independently of `Model::forward`.
fn logit64(p: &[f64], x: &[f32; D]) -> f64 {
    let mut z = p[N_PARAMS - 1];
    for j in 0..H {
        let mut a = p[H * D + j];
        for f in 0..D {
            a += p[j * D + f] * x[f] as f64;
        }
        z += p[H * D + H + j] * a.max(0.0);
    }
    z
}

/// f64 batch loss (mean over the batch) for the objectives.
fn loss64(obj: &Objective, p: &[f64], batch: &[u16], labels: &Labels, cw: [f64; 2]) -> f64 {
    let mut total = 0.0;
    for &i in batch {
        let z = logit64(p, &data::features(i as usize));
        let y = labels.get(i as usize);
        let sp = |t: f64| t.max(0.0) + (-t.abs()).exp().ln_1p(); // softplus
        let ce = if y { sp(-z) } else { sp(z) };
        let pt = (-ce).exp();
        total += match obj {
            Objective::Ce => ce,
            Objective::BalancedCe => cw[y as usize] * ce,
            Objective::Focal(f) => {
                let a = f
                    .alpha()
                    .map_or(1.0, |a| if y { a as f64 } else { 1.0 - a as f64 });
                a * (1.0 - pt).powf(f.gamma() as f64) * ce
            }
            Objective::BalancedFocal(f) => cw[y as usize] * (1.0 - pt).powf(f.gamma() as f64) * ce,
            Objective::Asymmetric(a) => {
                let p = 1.0 / (1.0 + (-z).exp());
                if y {
                    (1.0 - p).powf(a.gamma_pos() as f64) * ce
                } else {
                    let pm = (p - a.clip() as f64).max(0.0);
                    pm.powf(a.gamma_neg() as f64) * -(1.0 - pm).ln()
                }
            }
        };
    }
    total / batch.len() as f64
}

#[test]
fn backward_pass_matches_finite_differences() {
    let labels = Labels::new(Task::Good, false, 0);
    // A batch with positives and negatives.
    let batch: Vec<u16> = (0..32u16).map(|k| k * 7).collect();
    assert!(batch.iter().any(|&i| labels.get(i as usize)));
    let cw = [0.4f32, 1.6];
    let objectives = [
        Objective::Ce,
        Objective::BalancedCe,
        Objective::Focal(Focal::RETINANET),
        Objective::BalancedFocal(Focal::new(2.0, None).unwrap()),
        Objective::Asymmetric(tinyloss::Asymmetric::TIMM),
    ];
    for obj in objectives {
        let mut t = Trainer::new(cw, 3);
        // Move off the initialisation (non-zero biases) with a few steps.
        for _ in 0..5 {
            t.step(&obj, &batch, &labels).unwrap();
        }
        let loss = t.loss_gradient(&obj, &batch, &labels, None).unwrap();
        let g = *t.gradient();
        let p: Vec<f64> = t.model.p.iter().map(|&v| v as f64).collect();
        let cw64 = [cw[0] as f64, cw[1] as f64];
        let l64 = loss64(&obj, &p, &batch, &labels, cw64);
        assert!(
            ((loss as f64) - l64).abs() <= 1e-5 * l64.abs().max(1e-3),
            "{obj:?}: loss {loss} vs f64 {l64}"
        );
        let h = 1e-6;
        let mut refg = vec![0.0f64; N_PARAMS];
        for k in 0..N_PARAMS {
            let (mut a, mut b) = (p.clone(), p.clone());
            a[k] += h;
            b[k] -= h;
            refg[k] = (loss64(&obj, &a, &batch, &labels, cw64)
                - loss64(&obj, &b, &batch, &labels, cw64))
                / (2.0 * h);
        }
        let scale = refg.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(scale > 1e-4, "{obj:?}: vanishing gradient");
        for k in 0..N_PARAMS {
            let err = (g[k] as f64 - refg[k]).abs();
            assert!(
                err <= 1e-4 * scale + 1e-6,
                "{obj:?}: dL/dθ[{k}] = {} vs finite difference {} (scale {scale})",
                g[k],
                refg[k]
            );
        }
    }
}

/// scikit-learn's average precision, precision, recall and F1 at z >= 0, in
/// f64, from the scores and labels.
fn metrics64(z: &[f32], y: &[bool]) -> (f64, f64, f64, f64) {
    let mut idx: Vec<usize> = (0..z.len()).collect();
    idx.sort_by(|&a, &b| z[b].partial_cmp(&z[a]).unwrap());
    let npos = y.iter().filter(|&&v| v).count() as f64;
    let (mut tp, mut fp, mut ap, mut r0) = (0.0, 0.0, 0.0, 0.0);
    let mut k = 0;
    while k < idx.len() {
        let t = z[idx[k]];
        while k < idx.len() && z[idx[k]] == t {
            if y[idx[k]] {
                tp += 1.0
            } else {
                fp += 1.0
            }
            k += 1;
        }
        let r = tp / npos;
        ap += (r - r0) * tp / (tp + fp);
        r0 = r;
    }
    let tp = (0..z.len()).filter(|&i| z[i] >= 0.0 && y[i]).count() as f64;
    let pp = z.iter().filter(|&&v| v >= 0.0).count() as f64;
    let prec = if pp > 0.0 { tp / pp } else { 0.0 };
    let rec = tp / npos;
    let f1 = if prec + rec > 0.0 {
        2.0 * prec * rec / (prec + rec)
    } else {
        0.0
    };
    (ap, prec, rec, f1)
}

#[test]
fn metrics_match_reference() {
    let labels = Labels::new(Task::Good, false, 0);
    let model = train::train(&Objective::Ce, &labels, Split::TRAIN, 3, 0, &mut |_, _| {}).unwrap();
    let mut ev = Evaluator::default();
    for task in Task::ALL {
        let mut curve = Vec::new();
        let m = ev
            .evaluate(
                &model,
                task,
                Split::TEST,
                Some(&mut |t, r, p| curve.push((t, r, p))),
            )
            .unwrap();
        let z: Vec<f32> = (0..N_TEST)
            .map(|k| model.logit(&data::features(Split::TEST.at(k))))
            .collect();
        let y: Vec<bool> = (0..N_TEST).map(|k| task.label(Split::TEST.at(k))).collect();
        let (ap, p, r, f1) = metrics64(&z, &y);
        assert!(
            (m.ap as f64 - ap).abs() < 1e-5,
            "{task:?}: AP {} vs {ap}",
            m.ap
        );
        assert!((m.precision as f64 - p).abs() < 1e-6);
        assert!((m.recall as f64 - r).abs() < 1e-6);
        assert!((m.f1 as f64 - f1).abs() < 1e-6);
        // The curve ends at recall 1 and its thresholds decrease.
        assert!((curve.last().unwrap().1 - 1.0).abs() < 1e-6);
        assert!(curve.windows(2).all(|w| w[0].0 > w[1].0));
    }
    // All scores tied: AP is the positive rate, everything is predicted positive.
    let flat = Model { p: [0.0; N_PARAMS] };
    let m = ev.evaluate(&flat, Task::Good, Split::TEST, None).unwrap();
    let rate = Task::Good.positives(Split::TEST) as f32 / N_TEST as f32;
    assert!((m.ap - rate).abs() < 1e-6 && (m.precision - rate).abs() < 1e-6);
    assert_eq!(m.recall, 1.0);
}

#[test]
fn class_balanced_weights_follow_effective_numbers() {
    let (n0, n1, beta) = (1036u32, 162u32, 0.999f64);
    let e = |n: u32| (1.0 - beta.powi(n as i32)) / (1.0 - beta);
    let (a, b) = (1.0 / e(n0), 1.0 / e(n1));
    let w = train::class_balanced([n0, n1], beta as f32).unwrap();
    assert!((w[0] as f64 - 2.0 * a / (a + b)).abs() < 1e-5);
    assert!((w[1] as f64 - 2.0 * b / (a + b)).abs() < 1e-5);
    assert!(train::class_balanced([n0, n1], 1.0).is_err());
}

#[test]
fn training_is_deterministic_and_learns() {
    let labels = Labels::new(Task::Good, false, 0);
    let obj = Objective::Focal(Focal::RETINANET);
    let mut l1 = Vec::new();
    let a = train::train(&obj, &labels, Split::TRAIN, 4, 0, &mut |_, l| l1.push(l)).unwrap();
    let b = train::train(&obj, &labels, Split::TRAIN, 4, 0, &mut |_, _| {}).unwrap();
    assert_eq!(a, b);
    assert!(l1.last() < l1.first(), "training loss did not fall: {l1:?}");
    let c = train::train(&obj, &labels, Split::TRAIN, 4, 1, &mut |_, _| {}).unwrap();
    assert_ne!(a, c, "the seed changes nothing");
    let m = Evaluator::default()
        .evaluate(&a, Task::Good, Split::TEST, None)
        .unwrap();
    let rate = Task::Good.positives(Split::TEST) as f32 / N_TEST as f32;
    assert!(m.ap > 2.0 * rate, "AP {} vs positive rate {rate}", m.ap);
}

mod multiclass {
    use super::SCORES;
    use tinyloss_firmware::data::{self, Split, N_FEATURES};
    use tinyloss_firmware::multiclass::{self as mc, Context, Head, MultiLoss, K, P};

    #[test]
    fn classes_are_the_quality_scores() {
        let (tr, te) = (mc::counts(Split::TRAIN), mc::counts(Split::TEST));
        for (c, &(q, n)) in SCORES.iter().enumerate() {
            assert_eq!(q as usize, c + 3);
            assert_eq!((tr[c] + te[c]) as usize, n, "quality {q}");
        }
    }

    /// The mean loss of a linear head in f64, written from the formulas:
    /// CE at `z` (or at `z + ln π` for the logit-adjusted loss), the
    /// class-weighted mean `Σ w_y ℓ / Σ w_y`, and focal `(1 - p_y)^2 ℓ`.
    fn loss64(loss: MultiLoss, p: &[f64], batch: &[u16], ctx: &Context) -> f64 {
        let (mut sum, mut norm) = (0.0, 0.0);
        for &i in batch {
            let x = data::features(i as usize);
            let y = mc::class_of(i as usize);
            let mut z = [0.0f64; K];
            for (k, zk) in z.iter_mut().enumerate() {
                *zk = p[K * N_FEATURES + k]
                    + (0..N_FEATURES)
                        .map(|j| p[k * N_FEATURES + j] * x[j] as f64)
                        .sum::<f64>();
                if loss == MultiLoss::LogitAdjusted {
                    *zk += ctx.offsets[k] as f64;
                }
            }
            let m = z.iter().cloned().fold(f64::MIN, f64::max);
            let lse = m + z.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
            let ce = lse - z[y];
            let (l, w) = match loss {
                MultiLoss::BalancedCe => (ctx.cb[y] as f64 * ce, ctx.cb[y] as f64),
                MultiLoss::Focal => ((1.0 - (-ce).exp()).powi(2) * ce, 1.0),
                _ => (ce, 1.0),
            };
            sum += l;
            norm += w;
        }
        sum / norm
    }

    #[test]
    fn backward_pass_matches_finite_differences() {
        let batch: Vec<u16> = (0..32u16).map(|k| k * 37 % 1198).collect();
        let mut head = Head { p: [0.0; P] };
        for (k, v) in head.p.iter_mut().enumerate() {
            *v = ((k * 7919 % 101) as f32 / 101.0 - 0.5) * 0.6;
        }
        for loss in [
            MultiLoss::Ce,
            MultiLoss::LogitAdjusted,
            MultiLoss::BalancedCe,
            MultiLoss::Focal,
        ] {
            let mut ctx = Context::new().unwrap();
            let mut g = [0.0f32; P];
            let l = mc::gradient(&head, loss, &batch, &mut ctx, &mut g).unwrap();
            let p: Vec<f64> = head.p.iter().map(|&v| v as f64).collect();
            let l64 = loss64(loss, &p, &batch, &ctx);
            assert!(
                (l as f64 - l64).abs() <= 1e-5 * l64,
                "{loss:?}: {l} vs {l64}"
            );
            let h = 1e-6;
            for k in 0..P {
                let (mut a, mut b) = (p.clone(), p.clone());
                a[k] += h;
                b[k] -= h;
                let fd =
                    (loss64(loss, &a, &batch, &ctx) - loss64(loss, &b, &batch, &ctx)) / (2.0 * h);
                assert!(
                    (g[k] as f64 - fd).abs() <= 1e-4 * fd.abs().max(0.05),
                    "{loss:?} [{k}]: {} vs {fd}",
                    g[k]
                );
            }
        }
    }

    #[test]
    fn the_long_tail_losses_raise_balanced_accuracy() {
        let ce = mc::train(MultiLoss::Ce, 10, 0).unwrap();
        let base = mc::evaluate(&ce, MultiLoss::Ce).unwrap();
        let post = mc::evaluate(&ce, MultiLoss::CePostHoc).unwrap();
        assert!(post.balanced > base.balanced + 0.02, "{post:?} vs {base:?}");
        for loss in [
            MultiLoss::LogitAdjusted,
            MultiLoss::BalancedCe,
            MultiLoss::Seesaw,
        ] {
            let s = mc::evaluate(&mc::train(loss, 10, 0).unwrap(), loss).unwrap();
            assert!(
                s.balanced > base.balanced + 0.02,
                "{loss:?}: {s:?} vs {base:?}"
            );
            assert!(
                s.rare_recall > base.rare_recall,
                "{loss:?}: {s:?} vs {base:?}"
            );
        }
        // Balanced accuracy from the predictions by hand.
        let mut z = [0.0f32; K];
        let (mut hit, mut n) = ([0u32; K], [0u32; K]);
        for k in 0..Split::TEST.len {
            let i = Split::TEST.at(k);
            ce.logits(&data::features(i), &mut z);
            let pred = (0..K).fold(0, |a, c| if z[c] > z[a] { c } else { a });
            let t = mc::class_of(i);
            n[t] += 1;
            hit[t] += u32::from(pred == t);
        }
        let present: Vec<usize> = (0..K).filter(|&c| n[c] > 0).collect();
        let bal = present
            .iter()
            .map(|&c| hit[c] as f32 / n[c] as f32)
            .sum::<f32>()
            / present.len() as f32;
        assert!((bal - base.balanced).abs() < 1e-6, "{bal} vs {base:?}");
    }
}
