//! Draws the README's figures as hand-written SVG (no dependencies) into
//! `docs/figures/`:
//!
//! * `focal_loss.svg`: the classic focal-loss figure of Lin et al. (2017),
//!   loss against `p_t` for γ = 0, 0.5, 1, 2, 5 (α off), computed with
//!   `tinyloss::Focal::loss_grad_prob`;
//! * `finetune_loss.svg` and `finetune_pr.svg` (only when given the output of
//!   the host `finetune` run with `--curves`): training loss per epoch and the
//!   test precision–recall curve of each loss function, both tasks, clean
//!   labels;
//! * `dense_diagnostic.svg` and `dense_cumloss.svg` (only when given the
//!   output of the host `dense` run with `--curves`): the share of the loss
//!   and of the gradient that easy negatives carry, per epoch and objective,
//!   and the cumulative-loss curves of the converged focal model (Lin et al.
//!   2017, figure 4).
//!
//! ```text
//! (cd firmware && cargo run --release --bin finetune -- --curves) > /tmp/finetune.txt
//! (cd firmware && cargo run --release --bin dense -- --epochs 16 --curves) > /tmp/dense.txt
//! cargo run --example plots -- /tmp/finetune.txt /tmp/dense.txt
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use tinyloss::Focal;

/// Series colours (matplotlib's tab10).
const COLOURS: [&str; 6] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
];
/// The loss functions in the order `finetune` prints them.
const LOSSES: [&str; 5] = ["CE", "CB-CE", "focal", "focal-tuned", "ASL"];

/// One axis: linear or log10, data range, ticks.
#[derive(Clone)]
struct Axis {
    lo: f64,
    hi: f64,
    log: bool,
    ticks: Vec<f64>,
    label: String,
}

impl Axis {
    fn linear(lo: f64, hi: f64, step: f64, label: &str) -> Self {
        let n = ((hi - lo) / step).round() as usize;
        Axis {
            lo,
            hi,
            log: false,
            ticks: (0..=n).map(|k| lo + k as f64 * step).collect(),
            label: label.into(),
        }
    }

    fn log(lo: f64, hi: f64, label: &str) -> Self {
        let mut ticks = Vec::new();
        let mut d = 10f64.powf(lo.log10().floor());
        while d <= hi * 1.0001 {
            for m in [1.0, 2.0, 5.0] {
                let t = d * m;
                if t >= lo * 0.9999 && t <= hi * 1.0001 {
                    ticks.push(t);
                }
            }
            d *= 10.0;
        }
        Axis {
            lo,
            hi,
            log: true,
            ticks,
            label: label.into(),
        }
    }

    /// Position of `v` in `[0, 1]`.
    fn frac(&self, v: f64) -> f64 {
        if self.log {
            (v.max(self.lo * 1e-3).log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10())
        } else {
            (v - self.lo) / (self.hi - self.lo)
        }
    }
}

fn tick_text(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" {
        "0".into()
    } else {
        s.into()
    }
}

/// A line series.
struct Series {
    label: String,
    colour: &'static str,
    dashed: bool,
    points: Vec<(f64, f64)>,
    /// Draw as a step curve (precision–recall).
    steps: bool,
}

/// One panel of a figure: title, axes, series, legend position.
struct Panel {
    title: String,
    x: Axis,
    y: Axis,
    series: Vec<Series>,
    legend: Legend,
}

/// Where a panel's legend goes.
#[derive(Clone, Copy, PartialEq)]
enum Legend {
    /// Inside the plot area, top right.
    TopRight,
    /// Below the plot area, in two columns.
    Below,
    /// Below the plot area, in one column.
    BelowOne,
}

const PW: f64 = 420.0;
const PH: f64 = 300.0;
const ML: f64 = 64.0;
const MR: f64 = 16.0;
const MT: f64 = 34.0;
const MB: f64 = 50.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Renders panels side by side into one SVG document.
fn render(title: &str, panels: &[Panel]) -> String {
    let w = panels.len() as f64 * (PW + ML + MR);
    let below = panels
        .iter()
        .map(|p| match p.legend {
            Legend::TopRight => 0.0,
            Legend::Below => 12.0 + 17.0 * p.series.len().div_ceil(2) as f64,
            Legend::BelowOne => 12.0 + 17.0 * p.series.len() as f64,
        })
        .fold(0.0, f64::max);
    let h = PH + MT + MB + 24.0 + below;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="Helvetica, Arial, sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="18" text-anchor="middle" font-size="15" font-weight="bold">{}</text>"#,
        w / 2.0,
        esc(title)
    );
    for (k, p) in panels.iter().enumerate() {
        let ox = k as f64 * (PW + ML + MR) + ML;
        let oy = MT + 24.0;
        let px = |v: f64| ox + p.x.frac(v) * PW;
        let py = |v: f64| oy + (1.0 - p.y.frac(v)) * PH;
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle" font-size="13">{}</text>"#,
            ox + PW / 2.0,
            oy - 8.0,
            esc(&p.title)
        );
        // Grid and ticks.
        for &t in &p.x.ticks {
            let x = px(t);
            let _ = writeln!(
                s,
                r##"<line x1="{x:.1}" y1="{oy}" x2="{x:.1}" y2="{}" stroke="#e5e5e5"/><line x1="{x:.1}" y1="{}" x2="{x:.1}" y2="{}" stroke="black"/><text x="{x:.1}" y="{}" text-anchor="middle">{}</text>"##,
                oy + PH,
                oy + PH,
                oy + PH + 5.0,
                oy + PH + 18.0,
                tick_text(t)
            );
        }
        for &t in &p.y.ticks {
            let y = py(t);
            let _ = writeln!(
                s,
                r##"<line x1="{ox}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#e5e5e5"/><line x1="{}" y1="{y:.1}" x2="{ox}" y2="{y:.1}" stroke="black"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
                ox + PW,
                ox - 5.0,
                ox - 8.0,
                y + 4.0,
                tick_text(t)
            );
        }
        let _ = writeln!(
            s,
            r#"<rect x="{ox}" y="{oy}" width="{PW}" height="{PH}" fill="none" stroke="black"/>"#
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            ox + PW / 2.0,
            oy + PH + 38.0,
            esc(&p.x.label)
        );
        let _ = writeln!(
            s,
            r#"<text transform="translate({},{}) rotate(-90)" text-anchor="middle">{}</text>"#,
            ox - 46.0,
            oy + PH / 2.0,
            esc(&p.y.label)
        );
        // Series, clipped to the plot area.
        let _ = writeln!(
            s,
            r#"<clipPath id="c{k}"><rect x="{ox}" y="{oy}" width="{PW}" height="{PH}"/></clipPath><g clip-path="url(#c{k})" fill="none" stroke-width="2">"#
        );
        for se in &p.series {
            let mut d = String::new();
            let mut prev: Option<(f64, f64)> = None;
            for &(x, y) in &se.points {
                let (sx, sy) = (px(x), py(y));
                match prev {
                    None => {
                        let _ = write!(d, "M{sx:.2},{sy:.2}");
                    }
                    // Precision–recall: over (R_{k-1}, R_k] the precision is
                    // P_k (the step function whose area is the AP).
                    Some((px0, _)) if se.steps => {
                        let _ = write!(d, " L{px0:.2},{sy:.2} L{sx:.2},{sy:.2}");
                    }
                    Some(_) => {
                        let _ = write!(d, " L{sx:.2},{sy:.2}");
                    }
                }
                prev = Some((sx, sy));
            }
            let dash = if se.dashed {
                r#" stroke-dasharray="6,4""#
            } else {
                ""
            };
            let _ = writeln!(s, r#"<path d="{d}" stroke="{}"{dash}/>"#, se.colour);
        }
        let _ = writeln!(s, "</g>");
        // Legend.
        let longest = p.series.iter().map(|se| se.label.chars().count()).max();
        let lw = 10.0 + 28.0 + 6.6 * longest.unwrap_or(0) as f64;
        let (cols, rows) = match p.legend {
            Legend::TopRight | Legend::BelowOne => (1, p.series.len()),
            Legend::Below => (2, p.series.len().div_ceil(2)),
        };
        let lh = 8.0 + 17.0 * rows as f64;
        let (lx, ly) = match p.legend {
            Legend::TopRight => (ox + PW - lw - 8.0, oy + 8.0),
            Legend::Below | Legend::BelowOne => (ox - ML + 8.0, oy + PH + MB),
        };
        if p.legend == Legend::TopRight {
            let _ = writeln!(
                s,
                r##"<rect x="{lx:.1}" y="{ly:.1}" width="{lw:.1}" height="{lh:.1}" fill="white" fill-opacity="0.9" stroke="#999"/>"##
            );
        }
        let col_w = (PW + ML) / cols as f64;
        for (i, se) in p.series.iter().enumerate() {
            let (r, c) = match p.legend {
                Legend::TopRight | Legend::BelowOne => (i, 0),
                // Column-major: pairs (clean, noisy) stay side by side.
                Legend::Below => (i / 2, i % 2),
            };
            let lx = lx + c as f64 * col_w;
            let y = ly + 14.0 + 17.0 * r as f64;
            let dash = if se.dashed {
                r#" stroke-dasharray="6,4""#
            } else {
                ""
            };
            let _ = writeln!(
                s,
                r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{}" stroke-width="2"{dash}/><text x="{:.1}" y="{:.1}">{}</text>"#,
                lx + 6.0,
                y - 4.0,
                lx + 30.0,
                y - 4.0,
                se.colour,
                lx + 36.0,
                y,
                esc(&se.label)
            );
        }
    }
    s.push_str("</svg>\n");
    s
}

/// (a) Loss against p_t for γ = 0, 0.5, 1, 2, 5 (α off, y = 1, so p_t = p).
fn focal_figure() -> String {
    let mut series = Vec::new();
    for (k, gamma) in [0.0f32, 0.5, 1.0, 2.0, 5.0].into_iter().enumerate() {
        let focal = Focal::new(gamma, None).expect("valid γ");
        let points = (1..=400)
            .map(|i| {
                let p = i as f32 / 400.0;
                let l = focal.loss_grad_prob(p, 1.0).expect("p in [0, 1]").loss;
                (p as f64, l as f64)
            })
            .collect();
        let label = if gamma == 0.0 {
            "γ = 0 (cross-entropy)".to_string()
        } else {
            format!("γ = {gamma}")
        };
        series.push(Series {
            label,
            colour: COLOURS[k],
            dashed: false,
            points,
            steps: false,
        });
    }
    render(
        "Focal loss FL(p_t) = −(1 − p_t)^γ log p_t",
        &[Panel {
            title: "tinyloss::Focal, α off: easy examples (p_t > 0.5) fade as γ grows".into(),
            x: Axis::linear(0.0, 1.0, 0.1, "probability of the ground-truth class p_t"),
            y: Axis::linear(0.0, 5.0, 1.0, "loss"),
            series,
            legend: Legend::TopRight,
        }],
    )
}

/// Parsed `finetune --curves` output.
#[derive(Default)]
struct Runs {
    /// (task, loss, labels) → per-epoch training loss.
    epochs: BTreeMap<(String, String, String), Vec<(f64, f64)>>,
    /// (task, loss, labels) → (recall, precision) points.
    pr: BTreeMap<(String, String, String), Vec<(f64, f64)>>,
    /// (task, loss, labels) → test AP.
    ap: BTreeMap<(String, String, String), f64>,
    /// task → tuned α.
    alpha: BTreeMap<String, String>,
}

fn parse(text: &str) -> Runs {
    let mut r = Runs::default();
    for line in text.lines() {
        let f: Vec<&str> = line.trim().split(',').collect();
        let key = |f: &[&str]| (f[1].to_string(), f[2].to_string(), f[3].to_string());
        match f.first().copied() {
            Some("EPOCH") if f.len() == 6 => {
                if let (Ok(e), Ok(l)) = (f[4].parse(), f[5].parse()) {
                    r.epochs.entry(key(&f)).or_default().push((e, l));
                }
            }
            Some("PR") if f.len() == 7 => {
                if let (Ok(rec), Ok(p)) = (f[5].parse(), f[6].parse()) {
                    r.pr.entry(key(&f)).or_default().push((rec, p));
                }
            }
            Some("TEST") if f.len() >= 8 => {
                if let Some(ap) = f.iter().find_map(|v| v.strip_prefix("ap=")) {
                    if let Ok(ap) = ap.parse() {
                        r.ap.insert(key(&f), ap);
                    }
                }
            }
            _ => {
                if let Some(rest) = line.strip_prefix("task ") {
                    if let Some((task, a)) = rest.split_once(": tuned focal alpha = ") {
                        r.alpha.insert(task.to_string(), a.trim().to_string());
                    }
                }
            }
        }
    }
    r
}

fn loss_label(r: &Runs, task: &str, loss: &str) -> String {
    match loss {
        "focal" => "focal γ=2 α=0.25".into(),
        "focal-tuned" => format!(
            "focal γ=2 α={} (tuned)",
            r.alpha.get(task).map(String::as_str).unwrap_or("?")
        ),
        "CB-CE" => "class-balanced CE".into(),
        other => other.into(),
    }
}

/// (b) Training loss per epoch, both tasks, clean and noisy labels.
fn loss_figure(r: &Runs) -> Option<String> {
    let mut panels = Vec::new();
    for task in ["q>=7", "q<=4"] {
        let mut series = Vec::new();
        let (mut lo, mut hi, mut emax) = (f64::INFINITY, 0.0f64, 1.0f64);
        for (k, loss) in LOSSES.iter().enumerate() {
            for labels in ["clean", "noisy"] {
                let Some(pts) = r
                    .epochs
                    .get(&(task.into(), loss.to_string(), labels.into()))
                else {
                    continue;
                };
                for &(e, l) in pts {
                    lo = lo.min(l);
                    hi = hi.max(l);
                    emax = emax.max(e);
                }
                let mut label = loss_label(r, task, loss);
                if labels == "noisy" {
                    label = "same, 10 % of labels flipped".into();
                }
                series.push(Series {
                    label,
                    colour: COLOURS[k],
                    dashed: labels == "noisy",
                    points: pts.clone(),
                    steps: false,
                });
            }
        }
        if series.is_empty() {
            continue;
        }
        let lo = 10f64.powf((lo * 0.9).log10().floor());
        let hi = 10f64.powf((hi * 1.1).log10().ceil());
        panels.push(Panel {
            title: format!("task quality {} : mean training loss per epoch", &task[1..]),
            x: Axis::linear(0.0, emax, (emax / 6.0).ceil().max(1.0), "epoch"),
            y: Axis::log(lo, hi, "training loss (log scale)"),
            series,
            legend: Legend::Below,
        });
    }
    (!panels.is_empty()).then(|| {
        render(
            "On-device fine-tuning on the wine data: 11-8-1 head, Adam, batch 32, same initialisation",
            &panels,
        )
    })
}

/// (b) Test precision–recall curves, both tasks, clean labels.
fn pr_figure(r: &Runs) -> Option<String> {
    let mut panels = Vec::new();
    for task in ["q>=7", "q<=4"] {
        let mut series = Vec::new();
        for (k, loss) in LOSSES.iter().enumerate() {
            let key = (task.to_string(), loss.to_string(), "clean".to_string());
            let Some(pts) = r.pr.get(&key) else {
                continue;
            };
            let mut points = vec![(0.0, pts.first().map_or(1.0, |p| p.1))];
            points.extend(pts.iter().copied());
            let ap = r.ap.get(&key).copied().unwrap_or(f64::NAN);
            series.push(Series {
                label: format!("{} (AP {ap:.3})", loss_label(r, task, loss)),
                colour: COLOURS[k],
                dashed: false,
                points,
                steps: true,
            });
        }
        if series.is_empty() {
            continue;
        }
        panels.push(Panel {
            title: format!("task quality {} : test split, clean labels", &task[1..]),
            x: Axis::linear(0.0, 1.0, 0.2, "recall"),
            y: Axis::linear(0.0, 1.0, 0.2, "precision"),
            series,
            legend: Legend::BelowOne,
        });
    }
    (!panels.is_empty()).then(|| render("Precision–recall of the minority class", &panels))
}

/// The objectives in the order `dense` prints them.
const DENSE: [&str; 6] = ["CE", "alpha-CE", "focal", "CE+OHEM", "focal+OHEM", "GHM-C"];

/// `key=value` of a `DEPOCH` line.
fn field(f: &[&str], key: &str) -> Option<f64> {
    f.iter()
        .find_map(|v| v.strip_prefix(key)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
}

/// (c) The dense example's diagnostic per epoch: easy negatives' share of
/// the loss and of the gradient, per objective.
fn dense_figure(text: &str) -> Option<String> {
    let mut by: BTreeMap<&str, Vec<(f64, f64, f64)>> = BTreeMap::new();
    let mut emax = 1.0f64;
    for line in text.lines() {
        let f: Vec<&str> = line.trim().split(',').collect();
        if f.first() != Some(&"DEPOCH") || f.len() < 6 {
            continue;
        }
        let (Ok(e), Some(l), Some(g)) = (
            f[2].parse::<f64>(),
            field(&f, "easy_neg_loss"),
            field(&f, "easy_neg_grad"),
        ) else {
            continue;
        };
        emax = emax.max(e);
        by.entry(f[1]).or_default().push((e, l, g));
    }
    if by.is_empty() {
        return None;
    }
    let panel = |title: &str, pick: fn(&(f64, f64, f64)) -> f64, y: &str| Panel {
        title: title.into(),
        x: Axis::linear(
            0.0,
            emax,
            (emax / 8.0).ceil().max(1.0),
            "epoch (0: initialisation)",
        ),
        y: Axis::linear(0.0, 1.0, 0.2, y),
        series: DENSE
            .iter()
            .enumerate()
            .filter_map(|(k, name)| {
                let pts = by.get(name)?;
                Some(Series {
                    label: (*name).into(),
                    colour: COLOURS[k],
                    dashed: name.contains("OHEM"),
                    points: pts.iter().map(|p| (p.0, pick(p))).collect(),
                    steps: false,
                })
            })
            .collect(),
        legend: Legend::Below,
    };
    Some(render(
        "Dense example (10 positives per 100,352 anchors): what easy negatives (p_t > 0.5) carry, first training frame",
        &[
            panel("share of the gradient Σ|∂ℓ/∂z|", |p| p.2, "easy negatives' share of the gradient"),
            panel("share of the loss", |p| p.1, "easy negatives' share of the loss"),
        ],
    ))
}

/// (d) Cumulative normalised loss of positives and negatives of a test
/// frame under the converged focal model, for several γ (figure 4 of Lin et
/// al. 2017).
fn cumloss_figure(text: &str) -> Option<String> {
    let mut by: BTreeMap<(String, String), Vec<(f64, f64)>> = BTreeMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.trim().split(',').collect();
        if f.first() != Some(&"DCUM") || f.len() != 5 {
            continue;
        }
        if let (Ok(x), Ok(y)) = (f[3].parse(), f[4].parse()) {
            by.entry((f[1].into(), f[2].into()))
                .or_default()
                .push((x, y));
        }
    }
    if by.is_empty() {
        return None;
    }
    let panels: Vec<Panel> = ["positives", "negatives"]
        .iter()
        .map(|group| Panel {
            title: format!("{group}: anchors sorted by loss, easiest first"),
            x: Axis::linear(0.0, 1.0, 0.2, &format!("fraction of {group}")),
            y: Axis::linear(0.0, 1.0, 0.2, "cumulative normalised loss"),
            series: ["0", "0.5", "1", "2"]
                .iter()
                .enumerate()
                .filter_map(|(k, g)| {
                    let mut points = vec![(0.0, 0.0)];
                    points.extend(by.get(&(group.to_string(), g.to_string()))?);
                    Some(Series {
                        label: format!("γ = {g}"),
                        colour: COLOURS[k],
                        dashed: false,
                        points,
                        steps: false,
                    })
                })
                .collect(),
            legend: Legend::BelowOne,
        })
        .collect();
    Some(render(
        "Cumulative loss of the converged focal model on the test frames (Lin et al. 2017, figure 4)",
        &panels,
    ))
}

fn write(dir: &Path, name: &str, svg: &str) {
    let path = dir.join(name);
    std::fs::write(&path, svg).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    println!("wrote {}", path.display());
}

fn main() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("docs")
        .join("figures");
    std::fs::create_dir_all(&dir).expect("create docs/figures");
    write(&dir, "focal_loss.svg", &focal_figure());
    let inputs: Vec<String> = std::env::args().skip(1).collect();
    if inputs.is_empty() {
        println!("no finetune or dense output given: only focal_loss.svg (see the example's docs)");
        return;
    }
    let mut text = String::new();
    for input in &inputs {
        text += &std::fs::read_to_string(input).unwrap_or_else(|e| panic!("{input}: {e}"));
    }
    let runs = parse(&text);
    let figures = [
        (
            "finetune_loss.svg",
            loss_figure(&runs),
            "no finetune EPOCH lines",
        ),
        (
            "finetune_pr.svg",
            pr_figure(&runs),
            "no PR lines (run finetune with --curves)",
        ),
        (
            "dense_diagnostic.svg",
            dense_figure(&text),
            "no DEPOCH lines (run dense)",
        ),
        (
            "dense_cumloss.svg",
            cumloss_figure(&text),
            "no DCUM lines (run dense with --curves)",
        ),
    ];
    for (name, svg, missing) in figures {
        match svg {
            Some(svg) => write(&dir, name, &svg),
            None => println!("{name}: {missing}"),
        }
    }
}
