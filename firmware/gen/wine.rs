//! Build-time conversion of the red wine quality data (`data/winequality-red.csv.gz`)
//! into the compact binary the firmware embeds with `include_bytes!`.
//!
//! Included by `build.rs` (`#[path = "gen/wine.rs"] mod wine;`) and run for
//! every target, host included. Plain std Rust plus `flate2` to inflate the gz.
//!
//! What it writes into `$OUT_DIR`:
//! * `wine_x.bin`: the 11 standardised features of every wine as little-endian
//!   i16 fixed point (Q4.11: value = i / 2048, range ±16), 22 bytes a wine,
//!   in the order `[fit | validation | test]`;
//! * `wine_q.bin`: the quality score (3..=8) of every wine, one byte each, same
//!   order;
//! * `wine.rs`: the split sizes, the standardisation constants and the two
//!   `include_bytes!` statics (included by `src/data.rs`).
//!
//! The split is stratified by quality score (so both tasks, `q >= 7` and
//! `q <= 4`, are stratified): within each score, the wines are shuffled with a
//! fixed-seed SplitMix64, the first `round(n/4)` go to the test split and
//! `round(0.2 × rest)` of the rest to the validation part of the training
//! split (used only to tune focal α). Each split is then shuffled once more
//! so the scores are interleaved. Mean and standard deviation (population,
//! f64) are fitted on the whole training split (fit + validation), never on
//! the test split.

use std::io::Read;
use std::path::Path;

/// Number of features per wine.
const N_FEATURES: usize = 11;
/// Fixed-point scale of the stored features: `z ≈ i16 / 2048`. The step,
/// 1/2048 of a standard deviation, is 10–100× finer than the precision the
/// raw measurements are recorded with (e.g. pH to 0.01 = 0.065 sd, density
/// to 1e-5 = 0.005 sd), and the largest |z| in the data is about 12.
const FIXED_ONE: f64 = 2048.0;
/// Seed of the split shuffles (the year of Cortez et al.).
const SEED: u64 = 2009;

struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (Lemire's multiply-shift; the tiny bias is irrelevant
    /// here and the result is deterministic).
    fn below(&mut self, n: usize) -> usize {
        (((self.next() >> 32) * n as u64) >> 32) as usize
    }
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

/// Reads the gz CSV, splits, standardises and writes the three files.
pub fn generate(manifest_dir: &Path, out_dir: &Path) {
    let src = manifest_dir.join("data").join("winequality-red.csv.gz");
    println!("cargo:rerun-if-changed={}", src.display());
    println!("cargo:rerun-if-changed=gen/wine.rs");
    let gz = std::fs::read(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    let mut csv = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut csv)
        .expect("winequality-red.csv.gz: bad gzip");

    let mut rows: Vec<([f64; N_FEATURES], u8)> = Vec::new();
    for (n, line) in csv.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let cols: Vec<f64> = line
            .split(',')
            .map(|c| {
                c.trim()
                    .parse::<f64>()
                    .unwrap_or_else(|e| panic!("line {}: {e}", n + 1))
            })
            .collect();
        assert_eq!(
            cols.len(),
            N_FEATURES + 1,
            "line {}: expected 12 columns",
            n + 1
        );
        let mut x = [0.0; N_FEATURES];
        x.copy_from_slice(&cols[..N_FEATURES]);
        let q = cols[N_FEATURES];
        assert!(
            q.fract() == 0.0 && (0.0..=10.0).contains(&q),
            "line {}: quality {q}",
            n + 1
        );
        rows.push((x, q as u8));
    }
    assert_eq!(rows.len(), 1599, "expected the 1,599 red wines");

    let mut rng = SplitMix64(SEED);
    let (mut fit, mut val, mut test) = (Vec::new(), Vec::new(), Vec::new());
    for q in 0..=10u8 {
        let mut idx: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].1 == q).collect();
        if idx.is_empty() {
            continue;
        }
        rng.shuffle(&mut idx);
        let n_test = (idx.len() as f64 * 0.25).round() as usize;
        let n_val = ((idx.len() - n_test) as f64 * 0.2).round() as usize;
        test.extend_from_slice(&idx[..n_test]);
        val.extend_from_slice(&idx[n_test..n_test + n_val]);
        fit.extend_from_slice(&idx[n_test + n_val..]);
    }
    rng.shuffle(&mut fit);
    rng.shuffle(&mut val);
    rng.shuffle(&mut test);

    // Standardisation fitted on the training split (fit + validation) only.
    let train: Vec<usize> = fit.iter().chain(val.iter()).copied().collect();
    let n = train.len() as f64;
    let mut mean = [0.0f64; N_FEATURES];
    let mut std = [0.0f64; N_FEATURES];
    for &i in &train {
        for (m, x) in mean.iter_mut().zip(&rows[i].0) {
            *m += x / n;
        }
    }
    for &i in &train {
        for ((v, m), x) in std.iter_mut().zip(&mean).zip(&rows[i].0) {
            *v += (x - m).powi(2) / n;
        }
    }
    for s in &mut std {
        *s = s.sqrt();
        assert!(*s > 0.0);
    }

    let order: Vec<usize> = train.iter().chain(test.iter()).copied().collect();
    let mut xb = Vec::with_capacity(order.len() * N_FEATURES * 4);
    let mut qb = Vec::with_capacity(order.len());
    for &i in &order {
        for f in 0..N_FEATURES {
            let z = (rows[i].0[f] - mean[f]) / std[f];
            let q = (z * FIXED_ONE).round();
            assert!(
                q.abs() <= i16::MAX as f64,
                "feature {f} of wine {i}: |z| = {z} >= 16"
            );
            xb.extend_from_slice(&(q as i16).to_le_bytes());
        }
        qb.push(rows[i].1);
    }
    std::fs::write(out_dir.join("wine_x.bin"), &xb).unwrap();
    std::fs::write(out_dir.join("wine_q.bin"), &qb).unwrap();

    let f32s = |a: &[f64; N_FEATURES]| {
        a.iter()
            .map(|v| format!("{:?}", *v as f32))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let rs = format!(
        "// Generated by firmware/gen/wine.rs from data/winequality-red.csv.gz. Do not edit.\n\
         /// Wines in the fit part of the training split.\n\
         pub const N_FIT: usize = {};\n\
         /// Wines in the validation part of the training split (tuning only).\n\
         pub const N_VAL: usize = {};\n\
         /// Wines in the test split.\n\
         pub const N_TEST: usize = {};\n\
         /// Training-split mean of each raw feature (subtracted at build time).\n\
         pub const MEAN: [f32; {N_FEATURES}] = [{}];\n\
         /// Training-split standard deviation of each raw feature (divided out at build time).\n\
         pub const STD: [f32; {N_FEATURES}] = [{}];\n\
         /// Fixed-point scale of the stored features (`z = i16 / FIXED_ONE`).\n\
         pub const FIXED_ONE: f32 = {FIXED_ONE:?};\n\
         static X_BYTES: &[u8] = include_bytes!(concat!(env!(\"OUT_DIR\"), \"/wine_x.bin\"));\n\
         static Q_BYTES: &[u8] = include_bytes!(concat!(env!(\"OUT_DIR\"), \"/wine_q.bin\"));\n",
        fit.len(),
        val.len(),
        test.len(),
        f32s(&mean),
        f32s(&std),
    );
    std::fs::write(out_dir.join("wine.rs"), rs).unwrap();
}
