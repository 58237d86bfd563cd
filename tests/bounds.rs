//! The accuracy tables in the README (section "Accuracy") and in the crate
//! docs (`src/lib.rs`, "Error bounds") state the bounds that the tests
//! assert; the tests read them from one table, `tinyloss_reference::BOUNDS`.
//! This test parses the markdown rows and checks each stated bound against
//! that table: the numbers (`(a + bγ)u`, `au`, `a u(1+γ)K`, `2e-6`, `1 ULP`),
//! the dependence on γ and on the target mass K, and the floors the crate
//! docs name. Every documented entry of `BOUNDS` must appear in both tables.

use tinyloss_reference::bounds::*;
use tinyloss_reference::measure::U;

const README: &str = include_str!("../README.md");
const LIB: &str = include_str!("../src/lib.rs");

/// One table row: its first cell and its bound cell.
struct Row {
    name: String,
    bound: String,
}

/// The rows of the first markdown table after `heading` (lines may carry a
/// prefix such as `//! `). Cells are split on " | " so that `|` inside code
/// spans (`max(|g|, α_t)`) stays in its cell.
fn table_after(text: &str, heading: &str, prefix: &str) -> Vec<Row> {
    let start = text
        .find(heading)
        .unwrap_or_else(|| panic!("no heading {heading:?}"));
    let mut rows = Vec::new();
    let mut seen = false;
    for line in text[start..].lines().skip(1) {
        let l = line.strip_prefix(prefix).unwrap_or(line).trim();
        if !l.starts_with('|') {
            if seen {
                break;
            }
            continue;
        }
        seen = true;
        let inner = l.trim_start_matches('|').trim_end_matches('|').trim();
        let cells: Vec<&str> = inner.split(" | ").map(str::trim).collect();
        if cells.len() < 2 || cells[0].starts_with("---") || cells[0] == "routine" {
            continue;
        }
        rows.push(Row {
            name: cells[0].replace('`', ""),
            bound: cells[1].replace('`', ""),
        });
    }
    rows
}

/// A bound as the docs write it.
#[derive(Debug, PartialEq)]
struct Stated {
    base: f64,
    per_gamma: f64,
    k: bool,
    ulp: bool,
    floor: Option<String>,
}

/// The leading number of `s` (digits, '.', 'e', '-').
fn number(s: &str) -> Option<(f64, &str)> {
    let end = s
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || c == '.' || (i > 0 && (c == 'e' || c == '-'))))
        .map_or(s.len(), |(i, _)| i);
    s[..end].parse().ok().map(|v| (v, &s[end..]))
}

/// Parses one term: `(8 + 3γ)u rel., floor 2^-126`, `16u·K abs.`,
/// `32u(1+γ)K`, `2e-6 rel.`, `1 ULP`; a term without a number (`of
/// max(|g|, α_t)`) takes the previous term's.
fn parse_term(t: &str, prev: Option<&Stated>) -> Stated {
    let t = t.trim();
    let floor = t
        .find("floor ")
        .map(|i| t[i + 6..].trim().trim_end_matches('.').to_string());
    let (base, per_gamma, rest) = if let Some(inner) = t.strip_prefix('(') {
        let (a, r) = number(inner).expect("(a + bγ)");
        let r = r.trim_start().strip_prefix('+').expect("+").trim_start();
        let (b, r) = number(r).expect("bγ");
        let r = r.strip_prefix("γ)").expect("γ)");
        (a, b, r)
    } else if let Some((a, r)) = number(t) {
        (a, 0.0, r)
    } else {
        let p = prev.unwrap_or_else(|| panic!("term {t:?} has no number"));
        return Stated {
            base: p.base,
            per_gamma: p.per_gamma,
            k: p.k,
            ulp: p.ulp,
            floor,
        };
    };
    let ulp = rest.trim_start().starts_with("ULP");
    let in_u = rest.starts_with('u');
    let (base, mut per_gamma) = if in_u || ulp {
        (base, per_gamma)
    } else {
        // A plain relative number (2e-6): in units of u.
        (base / U, per_gamma / U)
    };
    let r = rest.replace(' ', "");
    if r.contains("(1+γ)") {
        per_gamma = base;
    }
    Stated {
        base,
        per_gamma,
        k: r.contains('K'),
        ulp,
        floor,
    }
}

fn parse_bound(cell: &str) -> Vec<Stated> {
    let mut out: Vec<Stated> = Vec::new();
    for t in cell.split(" / ") {
        let s = parse_term(t, out.last());
        out.push(s);
    }
    out
}

fn same(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// Checks one docs table against `BOUNDS`; returns the disagreements.
fn check(doc: &str, rows: &[Row], map: &[(&str, &[Bound])]) -> Vec<String> {
    let mut bad = Vec::new();
    for (name, bounds) in map {
        let Some(row) = rows.iter().find(|r| r.name == *name) else {
            bad.push(format!("{doc}: no row {name:?}"));
            continue;
        };
        let stated = parse_bound(&row.bound);
        if stated.len() != 1 && stated.len() != bounds.len() {
            bad.push(format!(
                "{doc}: row {name:?} states {} bounds for {} entries",
                stated.len(),
                bounds.len()
            ));
            continue;
        }
        for (i, b) in bounds.iter().enumerate() {
            let s = &stated[if stated.len() == 1 { 0 } else { i }];
            let k = b.measure == Measure::AbsK;
            let ulp = b.measure == Measure::Ulp;
            if !same(s.base, b.base) || !same(s.per_gamma, b.per_gamma) || s.k != k || s.ulp != ulp
            {
                bad.push(format!(
                    "{doc}: row {name:?} states {s:?}, BOUNDS has {} {}: base {} + {}γ, {:?}",
                    b.routine, b.what, b.base, b.per_gamma, b.measure
                ));
            }
            if let Some(f) = &s.floor {
                if f != b.floor {
                    bad.push(format!(
                        "{doc}: row {name:?} states floor {f:?}, BOUNDS has {:?}",
                        b.floor
                    ));
                }
            }
        }
    }
    // Every documented bound is covered by the table.
    for b in BOUNDS.iter().filter(|b| b.doc) {
        if !map.iter().any(|(_, bs)| bs.contains(b)) {
            bad.push(format!(
                "{doc}: {} {} is not in the table",
                b.routine, b.what
            ));
        }
    }
    // And the table has no rows this check does not know.
    for r in rows {
        if !map.iter().any(|(n, _)| *n == r.name) {
            bad.push(format!("{doc}: unknown row {:?}", r.name));
        }
    }
    bad
}

const README_MAP: &[(&str, &[Bound])] = &[
    ("sigmoid CE, loss", &[SIGMOID_CE_LOSS]),
    ("sigmoid CE, gradient", &[SIGMOID_CE_GRAD]),
    ("focal, loss, hard labels", &[FOCAL_LOSS_HARD]),
    ("focal, loss, soft or smoothed targets", &[FOCAL_LOSS_SOFT]),
    (
        "focal, gradient, hard / soft targets",
        &[FOCAL_GRAD_HARD, FOCAL_GRAD_SOFT],
    ),
    (
        "probability inputs, loss / gradient",
        &[PROB_LOSS, PROB_GRAD],
    ),
    (
        "softmax CE, loss ≥ 1e-3 / any loss / gradient",
        &[SOFTMAX_CE_LOSS_ORDINARY, SOFTMAX_CE_LOSS, SOFTMAX_CE_GRAD],
    ),
    (
        "softmax focal, loss ≥ 1e-3 / any loss / gradient",
        &[
            SOFTMAX_FOCAL_LOSS_ORDINARY,
            SOFTMAX_FOCAL_LOSS,
            SOFTMAX_FOCAL_GRAD,
        ],
    ),
    (
        "softmax poly-1, loss ≥ 1e-3 / any loss / gradient",
        &[
            SOFTMAX_POLY1_LOSS_ORDINARY,
            SOFTMAX_POLY1_LOSS,
            SOFTMAX_POLY1_GRAD,
        ],
    ),
    ("asymmetric, loss / gradient", &[ASL_LOSS, ASL_GRAD]),
    ("poly-1, loss / gradient", &[POLY1_LOSS, POLY1_GRAD]),
    ("FL*, loss / gradient", &[FOCAL_STAR_LOSS, FOCAL_STAR_GRAD]),
    ("QFL, loss / gradient", &[QFL_LOSS, QFL_GRAD]),
    ("varifocal, loss / gradient", &[VFL_LOSS, VFL_GRAD]),
    (
        "logit-adjusted / LDAM / seesaw, shifted logits z̃",
        &[SHIFT_LOGIT_ADJUSTED, SHIFT_LDAM, SHIFT_SEESAW],
    ),
    ("LDAM margins", &[LDAM_MARGINS]),
    ("mean over 2^20 elements (reduction only)", &[MEAN_2_20]),
    ("class-balanced weights", &[CLASS_BALANCED]),
];

const LIB_MAP: &[(&str, &[Bound])] = &[
    ("SigmoidCe loss", &[SIGMOID_CE_LOSS]),
    ("SigmoidCe gradient", &[SIGMOID_CE_GRAD]),
    ("Focal loss, hard labels", &[FOCAL_LOSS_HARD]),
    ("Focal loss, soft / smoothed targets", &[FOCAL_LOSS_SOFT]),
    ("Focal gradient, hard labels", &[FOCAL_GRAD_HARD]),
    ("Focal gradient, soft targets", &[FOCAL_GRAD_SOFT]),
    (
        "probability inputs, loss / gradient",
        &[PROB_LOSS, PROB_GRAD],
    ),
    ("Asymmetric loss / gradient", &[ASL_LOSS, ASL_GRAD]),
    ("Poly1 loss / gradient", &[POLY1_LOSS, POLY1_GRAD]),
    (
        "FocalStar loss / gradient",
        &[FOCAL_STAR_LOSS, FOCAL_STAR_GRAD],
    ),
    ("Qfl loss / gradient (γ = β)", &[QFL_LOSS, QFL_GRAD]),
    ("Varifocal loss / gradient", &[VFL_LOSS, VFL_GRAD]),
    (
        "LogitAdjusted / Ldam / Seesaw shifted logits z̃",
        &[SHIFT_LOGIT_ADJUSTED, SHIFT_LDAM, SHIFT_SEESAW],
    ),
    (
        "[softmax::ldam_margins] (of the largest margin)",
        &[LDAM_MARGINS],
    ),
    ("mean of 2^20 losses (reduction error)", &[MEAN_2_20]),
    (
        "SoftmaxCe loss ≥ 1e-3 / any / gradient",
        &[SOFTMAX_CE_LOSS_ORDINARY, SOFTMAX_CE_LOSS, SOFTMAX_CE_GRAD],
    ),
    (
        "SoftmaxFocal loss ≥ 1e-3 / any / gradient",
        &[
            SOFTMAX_FOCAL_LOSS_ORDINARY,
            SOFTMAX_FOCAL_LOSS,
            SOFTMAX_FOCAL_GRAD,
        ],
    ),
    (
        "SoftmaxPoly1 loss ≥ 1e-3 / any / gradient",
        &[
            SOFTMAX_POLY1_LOSS_ORDINARY,
            SOFTMAX_POLY1_LOSS,
            SOFTMAX_POLY1_GRAD,
        ],
    ),
    ("[class_balanced::weights]", &[CLASS_BALANCED]),
];

#[test]
fn parser_reads_the_forms_the_docs_use() {
    let s = parse_bound("(8 + 3γ)u rel., floor 2^-126");
    assert_eq!(
        s[0],
        Stated {
            base: 8.0,
            per_gamma: 3.0,
            k: false,
            ulp: false,
            floor: Some("2^-126".into())
        }
    );
    let s = parse_bound("32u / 256u rel. / 32u(1+γ)K abs.");
    assert_eq!((s[2].base, s[2].per_gamma, s[2].k), (32.0, 32.0, true));
    assert_eq!((s[1].base, s[1].k), (256.0, false));
    let s = parse_bound("16u / 96u / 16u·K");
    assert_eq!((s[2].base, s[2].per_gamma, s[2].k), (16.0, 0.0, true));
    let s = parse_bound("(16 + 3γ)u relative / of max(|g|, α_t)");
    assert_eq!((s[1].base, s[1].per_gamma), (16.0, 3.0));
    assert!(same(parse_bound("2e-6 relative")[0].base * U, 2e-6));
    assert!(parse_bound("1 ULP")[0].ulp);
}

#[test]
fn readme_accuracy_table_matches_bounds() {
    let rows = table_after(README, "## Accuracy", "");
    assert!(rows.len() >= 10, "README table not found");
    let bad = check("README", &rows, README_MAP);
    assert!(bad.is_empty(), "README vs BOUNDS:\n{}", bad.join("\n"));
}

#[test]
fn crate_docs_error_table_matches_bounds() {
    let rows = table_after(LIB, "//! # Error bounds", "//!");
    assert!(rows.len() >= 11, "src/lib.rs table not found");
    let bad = check("src/lib.rs", &rows, LIB_MAP);
    assert!(bad.is_empty(), "src/lib.rs vs BOUNDS:\n{}", bad.join("\n"));
}
