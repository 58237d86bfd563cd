//! On-target tests of the imbalance loss family (asymmetric loss, Poly-1,
//! FL*, quality focal and varifocal losses, focal loss with the modulating
//! factor held constant) against the
//! f64 references of `tinyloss-reference`, within the bounds of its table.
//! A binary of its own so that each test binary fits the M0's 256 KiB of
//! flash; same checking and output as `selftest`. Runs unchanged on the
//! host (`cargo run --bin family`).
#![cfg_attr(target_os = "none", no_std, no_main)]

use tinyloss::{Batch, Error, Focal, Reduction};
use tinyloss_firmware::check::{a64, is_hard, Case, Suite, LOGITS, PROBS, TARGETS};

/// The imbalance family on the binary driver: asymmetric loss, Poly-1, FL*
/// and focal loss with the modulating factor held constant, per element
/// (logits and probabilities) and through the batch kernels, against the
/// f64 references with the bounds of `BOUNDS` (`binary_element`).
fn family_cases(s: &mut Suite) {
    use tinyloss::binary::AnyLoss as Binary;
    use tinyloss::{Asymmetric, FocalStar, GradMode, Poly1};
    use tinyloss_reference::binary::Loss;
    use tinyloss_reference::bounds::binary_element;
    let asl = |gn: f32, gp: f32, m: f32, mode: GradMode, eps: f32| {
        (
            Binary::from(
                Asymmetric::new(gn, gp, m)
                    .unwrap()
                    .with_grad_mode(mode)
                    .with_smoothing(eps)
                    .unwrap(),
            ),
            Loss::Asymmetric {
                gamma_pos: gp as f64,
                gamma_neg: gn as f64,
                clip: m as f64,
                eps: eps as f64,
                detached: mode == GradMode::Detached,
            },
        )
    };
    let poly = |g: f32, a: Option<f32>, e: f32| {
        (
            Binary::from(Poly1::new(Focal::new(g, a).unwrap(), e).unwrap()),
            Loss::Poly1 {
                gamma: g as f64,
                alpha: a64(a),
                eps: 0.0,
                epsilon: e as f64,
            },
        )
    };
    let star = |g: f32, b: f32, a: Option<f32>| {
        (
            Binary::from(FocalStar::new(g, b, a).unwrap()),
            Loss::FocalStar {
                gamma: g as f64,
                beta: b as f64,
                alpha: a64(a),
                eps: 0.0,
            },
        )
    };
    let configs = [
        asl(4.0, 1.0, 0.05, GradMode::Full, 0.0),
        asl(4.0, 1.0, 0.05, GradMode::Detached, 0.0),
        asl(2.0, 2.0, 0.0, GradMode::Full, 0.0),
        asl(5.0, 3.0, 0.01, GradMode::Full, 0.1),
        asl(0.5, 0.25, 0.2, GradMode::Full, 0.0),
        poly(0.0, None, 1.0),
        poly(2.0, Some(0.25), -0.25),
        poly(0.0, None, -1.0),
        poly(1.5, None, 2.0),
        star(2.0, 1.0, Some(0.25)),
        star(1.0, 0.0, None),
        (Binary::from(tinyloss::Qfl::MMDET), Loss::Qfl { beta: 2.0 }),
        (
            Binary::from(tinyloss::Varifocal::MMDET),
            Loss::Varifocal {
                alpha: 0.75,
                gamma: 2.0,
                iou_weighted: true,
            },
        ),
        (
            Binary::from(Focal::RETINANET.with_grad_mode(GradMode::Detached)),
            Loss::FocalDetached {
                gamma: 2.0,
                alpha: Some(0.25),
                eps: 0.0,
            },
        ),
    ];
    let mut c = Case::new("loss family per-element: ASL, poly-1, FL*, detached focal");
    for (l, rl) in &configs {
        for &y in &TARGETS {
            for &z in &LOGITS {
                let r = l.loss_grad(z, y).unwrap();
                let (wl, wg) = rl.logit(z as f64, y as f64);
                let b = binary_element(rl, false, is_hard(y), z as f64, y as f64);
                c.see(r.loss, wl, b.loss_floor, b.loss, (z, y, rl.gamma() as f32));
                c.see(r.grad, wg, b.grad_floor, b.grad, (z, y, rl.gamma() as f32));
            }
            for &p in &PROBS {
                let r = l.loss_grad_prob(p, y).unwrap();
                let (wl, wg) = rl.prob(p as f64, y as f64);
                let b = binary_element(rl, true, is_hard(y), p as f64, y as f64);
                c.see(r.loss, wl, b.loss_floor, b.loss, (p, y, rl.gamma() as f32));
                c.see(r.grad, wg, b.grad_floor, b.grad, (p, y, rl.gamma() as f32));
            }
        }
    }
    s.done(c);
    let mut c = Case::new("loss family batch kernels: per-element losses and gradients");
    for (l, rl) in &configs {
        for &y in &TARGETS {
            let ys = [y; LOGITS.len()];
            let mut g = [0.0f32; LOGITS.len()];
            let mut ls = [0.0f32; LOGITS.len()];
            let r = Batch::new(&ys).loss_grad(l, &LOGITS, Reduction::Sum, &mut g, Some(&mut ls));
            c.ok(r.is_ok(), "family batch Ok");
            for ((&z, &gi), &li) in LOGITS.iter().zip(&g).zip(&ls) {
                let (wl, wg) = rl.logit(z as f64, y as f64);
                let b = binary_element(rl, false, is_hard(y), z as f64, y as f64);
                c.see(li, wl, b.loss_floor, b.loss, (z, y, rl.gamma() as f32));
                c.see(gi, wg, b.grad_floor, b.grad, (z, y, rl.gamma() as f32));
            }
        }
    }
    c.ok(
        Asymmetric::new(4.0, 1.0, 1.0) == Err(Error::InvalidParameter { name: "clip" }),
        "ASL clip 1 refused",
    );
    c.ok(
        FocalStar::new(0.0, 0.0, None) == Err(Error::InvalidParameter { name: "gamma" }),
        "FL* γ = 0 refused",
    );
    c.ok(
        Poly1::cross_entropy(f32::NAN) == Err(Error::InvalidParameter { name: "epsilon" }),
        "poly ε NaN refused",
    );
    s.done(c);
    softmax_rows(s);
}

/// The softmax row family against the reference's `row_of`, labels and
/// probability targets, C = 3 and 10: softmax focal loss with the
/// modulating factors held constant, and Poly-1 cross-entropy (its loss
/// relative to the terms' magnitudes, `CE + |ε| U`).
fn softmax_rows(s: &mut Suite) {
    use tinyloss::softmax::AnyLoss;
    use tinyloss::{GradMode, SoftmaxFocal, SoftmaxPoly1};
    use tinyloss_reference::bounds::{
        SOFTMAX_FOCAL_GRAD, SOFTMAX_FOCAL_LOSS, SOFTMAX_POLY1_GRAD, SOFTMAX_POLY1_LOSS,
    };
    use tinyloss_reference::softmax::RowLossKind;
    for gamma in [0.5f32, 2.0] {
        let loss = SoftmaxFocal::new(gamma)
            .unwrap()
            .with_grad_mode(GradMode::Detached);
        let kind = RowLossKind::Focal {
            gamma: gamma as f64,
            detached: true,
        };
        let b = (SOFTMAX_FOCAL_LOSS, SOFTMAX_FOCAL_GRAD, gamma as f64);
        softmax_case(
            s,
            "softmax focal, modulating factor held constant",
            loss.into(),
            kind,
            b,
        );
    }
    for eps in [-0.5f32, 2.0] {
        let loss: AnyLoss = SoftmaxPoly1::new(eps).unwrap().into();
        let kind = RowLossKind::Poly1 {
            epsilon: eps as f64,
        };
        let b = (SOFTMAX_POLY1_LOSS, SOFTMAX_POLY1_GRAD, eps.abs() as f64);
        softmax_case(s, "softmax poly-1", loss, kind, b);
    }
    dfl(s);
    shifted(s);
}

/// The losses on shifted logits (logit-adjusted τ = 1, LDAM m = 0.5 and
/// s = 30, seesaw p = 0.8 and q = 2; cross-entropy as the base, C = 10,
/// long-tailed counts): `z̃` against the f64 shift within its bound, the
/// call bit for bit the base loss at `z̃` (times LDAM's slope), and the
/// loss and gradient against f64 cross-entropy at that `z̃`.
fn shifted(s: &mut Suite) {
    use tinyloss::softmax::{
        ldam_margins, logit_offsets, Ldam, LogitAdjusted, Rows, Seesaw, Targets,
    };
    use tinyloss::SoftmaxCe;
    use tinyloss_reference::bounds::{
        SHIFT_LDAM, SHIFT_LOGIT_ADJUSTED, SHIFT_SEESAW, SOFTMAX_CE_GRAD, SOFTMAX_CE_LOSS,
        SOFTMAX_LOSS_FLOOR,
    };
    use tinyloss_reference::softmax::{ldam_row, row, seesaw_magnitude, seesaw_row, RowTarget};
    const R: usize = 6;
    const C: usize = 10;
    let counts: [u32; C] = [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50];
    let mut rng = tinyloss_reference::Rng(43);
    let mut z = [0.0f32; R * C];
    let mut labels = [0u32; R];
    for r in 0..R {
        labels[r] = (r * 7 % C) as u32;
        for j in 0..C {
            z[r * C + j] = ((rng.f() - 0.5) * 8.0) as f32;
        }
    }
    z[C] = 60.0; // a confident row, and one far off its label
    z[2 * C + 3] = 70.0;
    let ce = SoftmaxCe::new();
    let rows = Rows::new(C, Targets::from(&labels[..]));
    let mut b = [0.0f32; C];
    let mut delta = [0.0f32; C];
    let ok = logit_offsets(&counts, 1.0, &mut b).is_ok()
        && ldam_margins(&counts, 0.5, &mut delta).is_ok();
    let la = LogitAdjusted::new(ce, &b);
    let ldam = Ldam::new(ce, &delta, 30.0);
    let ss = Seesaw::new(ce, &counts, 0.8, 2.0);
    let mut c = Case::new("shifted logits: logit-adjusted, LDAM, seesaw; post-hoc adjustment");
    c.ok(ok && la.is_ok() && ldam.is_ok() && ss.is_ok(), "shifts Ok");
    let (Ok(la), Ok(ldam), Ok(ss)) = (la, ldam, ss) else {
        s.done(c);
        return;
    };
    for kind in 0..3 {
        let mut zt = [0.0f32; R * C];
        let mut g = [0.0f32; R * C];
        let mut l = [0.0f32; R];
        let (r1, r2, slope, bound) = match kind {
            0 => (
                la.shifted(&rows, &z, &mut zt),
                la.loss_grad(&rows, &z, Reduction::Sum, &mut g, Some(&mut l)),
                1.0,
                SHIFT_LOGIT_ADJUSTED,
            ),
            1 => (
                ldam.shifted(&rows, &z, &mut zt),
                ldam.loss_grad(&rows, &z, Reduction::Sum, &mut g, Some(&mut l)),
                30.0,
                SHIFT_LDAM,
            ),
            _ => (
                ss.shifted(&rows, &z, &mut zt),
                ss.loss_grad(&rows, &z, Reduction::Sum, &mut g, Some(&mut l)),
                1.0,
                SHIFT_SEESAW,
            ),
        };
        c.ok(r1.is_ok() && r2.is_ok(), "shifted calls Ok");
        let mut g2 = [0.0f32; R * C];
        let base = rows.loss_grad(&ce, &zt, Reduction::Sum, &mut g2, None);
        c.ok(
            base.is_ok() && r2.ok().map(f32::to_bits) == base.ok().map(f32::to_bits),
            "shifted loss is the base loss at z̃",
        );
        c.ok(
            g.iter()
                .zip(&g2)
                .all(|(a, b)| a.to_bits() == (b * slope).to_bits()),
            "shifted gradient is the slope times the base gradient at z̃",
        );
        for r in 0..R {
            let y = labels[r] as usize;
            let mut zr = [0.0f64; C];
            let mut want = [0.0f64; C];
            for j in 0..C {
                zr[j] = z[r * C + j] as f64;
            }
            let d64 = delta.map(f64::from);
            match kind {
                0 => {
                    for j in 0..C {
                        want[j] = zr[j] + b[j] as f64;
                    }
                }
                1 => ldam_row(&zr, RowTarget::Label(y), &d64, 30.0, &mut want),
                _ => seesaw_row(&zr, y, &counts, 0.8, 2.0, &mut want),
            }
            let at = (z[r * C], labels[r] as f32, kind as f32);
            let mut mags = [0.0f64; C];
            seesaw_magnitude(&zr, y, &counts, 0.8, 2.0, &want, &mut mags);
            for j in 0..C {
                let mag = if kind == 2 {
                    mags[j]
                } else {
                    libm::fabs(want[j])
                };
                let e = libm::fabs(zt[r * C + j] as f64 - want[j])
                    / (tinyloss_reference::measure::U
                        * libm::fmax(mag, tinyloss_reference::measure::LOSS_FLOOR));
                c.record(zt[r * C + j], want[j], e, bound.get(), at);
            }
            let mut zt64 = [0.0f64; C];
            for j in 0..C {
                zt64[j] = zt[r * C + j] as f64;
            }
            let mut rg = [0.0f64; C];
            let want_l = row(&zt64, RowTarget::Label(y), None, 0.0, 0.0, &mut rg);
            c.see(l[r], want_l, SOFTMAX_LOSS_FLOOR, SOFTMAX_CE_LOSS.get(), at);
            for j in 0..C {
                c.see_abs(
                    g[r * C + j],
                    rg[j] * slope as f64,
                    slope as f64,
                    SOFTMAX_CE_GRAD.get() + 1.0,
                    at,
                );
            }
        }
    }
    // The post-hoc adjustment: `z - b` rounded once, and its argmax.
    let mut adj = [0.0f32; R * C];
    c.ok(
        tinyloss::softmax::post_hoc_adjust(&z, &b, &mut adj).is_ok(),
        "post_hoc_adjust Ok",
    );
    for r in 0..R {
        let mut best = 0;
        for j in 0..C {
            let want = z[r * C + j] as f64 - b[j] as f64;
            let e = libm::fabs(adj[r * C + j] as f64 - want)
                / (tinyloss_reference::measure::U
                    * libm::fmax(libm::fabs(want), f64::MIN_POSITIVE));
            c.record(
                adj[r * C + j],
                want,
                e,
                SHIFT_LOGIT_ADJUSTED.get(),
                (z[r * C], 0.0, 3.0),
            );
            if adj[r * C + j] > adj[r * C + best] {
                best = j;
            }
        }
        let got = tinyloss::softmax::post_hoc_argmax(&z[r * C..(r + 1) * C], &b);
        c.ok(got == Ok(best), "post_hoc_argmax is the argmax of z - b");
    }
    s.done(c);
}

/// Distribution focal loss against the cross-entropy of the exact two-hot
/// target (n = 5 and 17), and the integral decoder against f64.
fn dfl(s: &mut Suite) {
    use tinyloss::softmax::{integral, Dfl};
    use tinyloss_reference::bounds::{
        DFL_INTEGRAL, SOFTMAX_CE_GRAD, SOFTMAX_CE_LOSS, SOFTMAX_LOSS_FLOOR,
    };
    use tinyloss_reference::softmax::{integral as integral64, row, two_hot, RowTarget};
    const R: usize = 6;
    const MAX_N: usize = 17;
    let mut c = Case::new("distribution focal loss and integral decoder");
    let mut rng = tinyloss_reference::Rng(41);
    for &n in &[5usize, 17] {
        let mut z = [0.0f32; R * MAX_N];
        let mut ys = [0.0f32; R];
        for r in 0..R {
            ys[r] = match r {
                0 => 0.0,
                1 => (n - 1) as f32,
                2 => 2.0,
                _ => (rng.f() * (n - 1) as f64) as f32,
            };
            for j in 0..n {
                z[r * n + j] = ((rng.f() - 0.5) * 12.0) as f32;
            }
        }
        let z = &z[..R * n];
        let mut g = [0.0f32; R * MAX_N];
        let mut sc = [0.0f32; R * MAX_N];
        let mut l = [0.0f32; R];
        let r = Dfl::new(n).and_then(|d| {
            d.loss_grad(
                z,
                &ys,
                Reduction::Sum,
                &mut g[..R * n],
                Some(&mut l),
                &mut sc[..R * n],
            )
        });
        c.ok(r.is_ok(), "DFL Ok");
        for row_i in 0..R {
            let mut zr = [0.0f64; MAX_N];
            let mut t = [0.0f64; MAX_N];
            for j in 0..n {
                zr[j] = z[row_i * n + j] as f64;
            }
            two_hot(ys[row_i] as f64, &mut t[..n]);
            let mut rg = [0.0f64; MAX_N];
            let want = row(
                &zr[..n],
                RowTarget::Probs(&t[..n]),
                None,
                0.0,
                0.0,
                &mut rg[..n],
            );
            let at = (z[row_i * n], ys[row_i], n as f32);
            c.see(
                l[row_i],
                want,
                SOFTMAX_LOSS_FLOOR,
                SOFTMAX_CE_LOSS.get(),
                at,
            );
            for j in 0..n {
                c.see_abs(g[row_i * n + j], rg[j], 1.0, SOFTMAX_CE_GRAD.get(), at);
            }
            let got = integral(&z[row_i * n..(row_i + 1) * n]);
            c.ok(got.is_ok(), "integral Ok");
            let scale = (n - 1) as f64;
            let e = tinyloss_reference::measure::abs_err(
                got.unwrap_or(f32::NAN),
                integral64(&zr[..n]),
                scale,
            );
            c.record(
                got.unwrap_or(f32::NAN),
                integral64(&zr[..n]),
                e,
                DFL_INTEGRAL.at(n as f64),
                at,
            );
        }
    }
    s.done(c);
}

/// One loss of [`softmax_rows`]: `(loss bound, gradient bound, growth)`,
/// the gradient bound taken at `growth` (γ, or Poly-1's `|ε|`).
fn softmax_case(
    s: &mut Suite,
    name: &'static str,
    loss: tinyloss::softmax::AnyLoss,
    kind: tinyloss_reference::softmax::RowLossKind,
    (lb, gb, growth): (tinyloss_reference::Bound, tinyloss_reference::Bound, f64),
) {
    use tinyloss::softmax::{Rows, Targets};
    use tinyloss_reference::bounds::SOFTMAX_LOSS_FLOOR;
    use tinyloss_reference::softmax::{row_of, target_mass, RowLossKind, RowTarget};
    const N: usize = 4;
    let mut c = Case::new(name);
    let mut rng = tinyloss_reference::Rng(5);
    for &cl in &[3usize, 10] {
        for probs in [false, true] {
            let mut z = [0.0f32; N * 10];
            let mut p = [0.0f32; N * 10];
            let mut labels = [0u32; N];
            for r in 0..N {
                labels[r] = (rng.f() * cl as f64) as u32 % cl as u32;
                let mut t = 0.0;
                for j in 0..cl {
                    z[r * cl + j] = ((rng.f() - 0.5) * 20.0) as f32;
                    p[r * cl + j] = rng.f() as f32;
                    t += p[r * cl + j];
                }
                for j in 0..cl {
                    p[r * cl + j] /= t;
                }
            }
            let (z, p) = (&z[..N * cl], &p[..N * cl]);
            let targets = if probs {
                Targets::Probs(p)
            } else {
                Targets::from(&labels[..])
            };
            let mut g = [0.0f32; N * 10];
            let mut l = [0.0f32; N];
            let r = Rows::new(cl, targets).loss_grad(
                &loss,
                z,
                Reduction::Sum,
                &mut g[..N * cl],
                Some(&mut l),
            );
            c.ok(r.is_ok(), "softmax row family Ok");
            for row in 0..N {
                let mut zr = [0.0f64; 10];
                let mut pr = [0.0f64; 10];
                for j in 0..cl {
                    zr[j] = z[row * cl + j] as f64;
                    pr[j] = p[row * cl + j] as f64;
                }
                let rt = if probs {
                    RowTarget::Probs(&pr[..cl])
                } else {
                    RowTarget::Label(labels[row] as usize)
                };
                let mut rg = [0.0f64; 10];
                let want = row_of(kind, &zr[..cl], rt, None, 0.0, &mut rg[..cl]);
                // Poly-1: relative to its terms' magnitudes.
                let mag = match kind {
                    RowLossKind::Poly1 { .. } => {
                        let mut cg = [0.0f64; 10];
                        let ce_kind = RowLossKind::Focal {
                            gamma: 0.0,
                            detached: false,
                        };
                        let ce = row_of(ce_kind, &zr[..cl], rt, None, 0.0, &mut cg[..cl]);
                        ce + libm::fabs(want - ce)
                    }
                    _ => 0.0,
                };
                let k = target_mass(rt, cl, None, 0.0);
                let at = (z[row * cl], row as f32, growth as f32);
                let floor = if mag > SOFTMAX_LOSS_FLOOR {
                    mag
                } else {
                    SOFTMAX_LOSS_FLOOR
                };
                c.see(l[row], want, floor, lb.get(), at);
                for j in 0..cl {
                    c.see_abs(g[row * cl + j], rg[j], k, gb.at(growth), at);
                }
            }
        }
    }
    s.done(c);
}

#[cfg_attr(target_os = "none", cortex_m_rt::entry)]
fn main() -> ! {
    tinyloss_firmware::init();
    Suite::run("family selftest", &[family_cases])
}
