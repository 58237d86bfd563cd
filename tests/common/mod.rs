//! Row generators shared by the softmax tests (`tests/multiclass.rs`,
//! `tests/rows_family.rs`): random rows, probability targets and the
//! extreme rows that stress the numerics.
#![allow(dead_code)]

use tinyloss::softmax::{Rows, Targets};
use tinyloss_reference::Rng;

/// `v` in f64.
pub fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// A batch of `c` classes with label or probability targets and optional
/// class weights.
pub fn rows_of<'a>(
    c: usize,
    labels: Option<&'a [u32]>,
    probs: Option<&'a [f32]>,
    w: Option<&'a [f32]>,
) -> Rows<'a> {
    let targets = match (labels, probs) {
        (Some(l), _) => Targets::from(l),
        (None, Some(p)) => Targets::Probs(p),
        _ => unreachable!(),
    };
    let rows = Rows::new(c, targets);
    match w {
        Some(w) => rows.with_class_weights(w).unwrap(),
        None => rows,
    }
}

/// `n` rows of `c` logits uniform in `[-spread, spread]` and their labels.
pub fn random_rows(rng: &mut Rng, n: usize, c: usize, spread: f64) -> (Vec<f32>, Vec<u32>) {
    let z = (0..n * c).map(|_| rng.sym(spread)).collect();
    let y = (0..n).map(|_| rng.below(c) as u32).collect();
    (z, y)
}

/// `n × c` probability targets: sparse or dense, most rows normalised.
pub fn random_probs(rng: &mut Rng, n: usize, c: usize) -> Vec<f32> {
    let mut p = vec![0.0f32; n * c];
    for r in 0..n {
        // Sparse or dense, unnormalised on purpose for some rows.
        let dense = rng.f() < 0.5;
        let mut s = 0.0;
        for j in 0..c {
            let v = if dense || rng.f() < 3.0 / c as f64 {
                rng.f()
            } else {
                0.0
            };
            p[r * c + j] = v as f32;
            s += v;
        }
        if rng.f() < 0.7 && s > 0.0 {
            for j in 0..c {
                p[r * c + j] = (p[r * c + j] as f64 / s) as f32;
            }
        }
    }
    p
}

/// Rows that stress the numerics; the label is chosen per row.
pub fn extreme_rows(rng: &mut Rng, c: usize) -> (Vec<f32>, Vec<u32>) {
    let mut z = Vec::new();
    let mut y = Vec::new();
    let mut push = |row: Vec<f32>, t: usize| {
        z.extend_from_slice(&row);
        y.push(t as u32);
    };
    for &scale in &[1e4f64, 1e30] {
        let row: Vec<f32> = (0..c).map(|_| rng.sym(scale)).collect();
        let a = (0..c).fold(0, |a, j| if row[j] > row[a] { j } else { a });
        push(row.clone(), a);
        push(row, (a + 1) % c);
    }
    // All equal: loss ln C.
    push(vec![3.5; c], c / 2);
    push(vec![-1e4; c], 0);
    // One dominant logit with gaps giving tiny losses (down to subnormal).
    for &gap in &[5.0f32, 20.0, 50.0, 87.0, 95.0, 103.0, 200.0, 1e4] {
        let mut row: Vec<f32> = (0..c).map(|_| -gap + rng.sym(0.5)).collect();
        let t = rng.below(c);
        row[t] = 0.25;
        push(row.clone(), t);
        // The same row, labelled with a losing class: loss ≈ gap.
        push(row, (t + 1) % c);
    }
    // Gaps whose differences z_j - m round in f32 (non-dyadic logits).
    for &gap in &[30.0f64, 60.0, 85.0, 100.0] {
        let mut row: Vec<f32> = (0..c)
            .map(|_| (-gap + rng.sym(1.0) as f64) as f32)
            .collect();
        let t = rng.below(c);
        row[t] = 1.3 + rng.sym(0.7);
        push(row, t);
    }
    // Two tied maxima, target on a tie and off it.
    let mut row: Vec<f32> = (0..c).map(|_| rng.sym(3.0) - 10.0).collect();
    row[0] = 7.0;
    row[c - 1] = 7.0;
    push(row.clone(), 0);
    push(row, c / 2);
    (z, y)
}
