//! The C ABI against the Rust API: compiles `tests/c/host_test.c` with
//! `gcc -std=c11 -Wall -Wextra -Werror -pedantic` against the committed
//! header and the release static library (`cargo build --release` first:
//! `tools/test-all` does), runs it, and compares every printed result bit
//! for bit with the same call through `tinyloss`, and every error with the
//! `tinyloss::Error` it must carry.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use tinyloss::class_balanced::{self, Normalize};
use tinyloss::quant::{quantize_max_abs, BinaryTable, Quant};
use tinyloss::softmax::Rows;
use tinyloss::{Batch, Focal, Reduction, SigmoidCe, SoftmaxCe, SoftmaxFocal};

const N: usize = 37;
const ROWS: usize = 7;
const C: usize = 5;
const Q: usize = 40;

/// Runs the C program and returns its lines as key → value.
fn run_c() -> BTreeMap<String, String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let lib = dir.join("target/release/libtinyloss_c.a");
    assert!(
        lib.exists(),
        "{} is missing: run `cargo build --release` in tinyloss-c first",
        lib.display()
    );
    let exe = std::env::temp_dir().join(format!("tinyloss-c-host-test-{}", std::process::id()));
    let out = Command::new("gcc")
        .args([
            "-std=c11",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-O2",
            "-I",
        ])
        .arg(dir.join("include"))
        .arg(dir.join("tests/c/host_test.c"))
        .arg(&lib)
        .args(["-lm", "-o"])
        .arg(&exe)
        .output()
        .expect("gcc runs");
    assert!(
        out.status.success(),
        "gcc failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = Command::new(&exe).output().expect("the C test runs");
    let _ = std::fs::remove_file(&exe);
    assert!(
        run.status.success(),
        "the C test exited with {}",
        run.status
    );
    let text = String::from_utf8(run.stdout).expect("ASCII output");
    let mut m = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("err ") {
            let (k, v) = rest.split_once(' ').expect("err key value");
            m.insert(format!("err {k}"), v.to_string());
        } else {
            let (k, v) = line.split_once(' ').expect("key value");
            m.insert(k.to_string(), v.to_string());
        }
    }
    m
}

/// The expected lines, from the Rust API on the same inputs.
struct Want(BTreeMap<String, String>);

impl Want {
    fn bits(&mut self, k: &str, v: f32) {
        self.0.insert(k.to_string(), format!("{:08x}", v.to_bits()));
    }
    fn all(&mut self, k: &str, v: &[f32]) {
        for (i, &x) in v.iter().enumerate() {
            self.bits(&format!("{k}.{i}"), x);
        }
    }
    fn ok(&mut self, k: &str) {
        self.0.insert(format!("{k}.code"), "0".into());
    }
    fn int(&mut self, k: &str, v: impl ToString) {
        self.0.insert(k.to_string(), v.to_string());
    }
}

fn expected() -> Want {
    let mut w = Want(BTreeMap::new());
    let x: Vec<f32> = (0..N)
        .map(|i| ((i * 37) % 101) as f32 - 50.0)
        .map(|v| v * 0.173)
        .collect();
    let p: Vec<f32> = (0..N).map(|i| ((i * 53) % 97 + 1) as f32 / 99.0).collect();
    let y: Vec<f32> = (0..N).map(|i| if i % 5 == 0 { 1.0 } else { 0.0 }).collect();
    let wt: Vec<f32> = (0..N).map(|i| (i % 4) as f32 * 0.5 + 0.25).collect();
    let ig: Vec<bool> = (0..N).map(|i| i % 7 == 3).collect();
    let mut g = vec![0.0f32; N];

    let l = Batch::new(&y)
        .loss_grad(
            &Focal::RETINANET,
            &x,
            Reduction::MeanOverPositives,
            &mut g,
            None,
        )
        .unwrap();
    w.ok("focal");
    w.bits("focal.loss", l);
    w.all("focal.grad", &g);

    let ce = SigmoidCe::PLAIN
        .with_pos_weight(3.0)
        .unwrap()
        .with_smoothing(0.1)
        .unwrap();
    let l = Batch::new(&y)
        .with_weights(&wt)
        .with_ignore(&ig)
        .loss_grad(&ce, &x, Reduction::Mean, &mut g, None)
        .unwrap();
    w.ok("ce");
    w.bits("ce.loss", l);
    w.all("ce.grad", &g);

    let fp = Focal::new(1.5, None).unwrap();
    let l = Batch::new(&y)
        .with_probabilities()
        .loss(&fp, &p, Reduction::MeanOver(7.0))
        .unwrap();
    w.ok("focal_prob");
    w.bits("focal_prob.loss", l);

    let z: Vec<f32> = (0..ROWS * C)
        .map(|i| ((i * 29) % 41) as f32 - 20.0)
        .map(|v| v * 0.31)
        .collect();
    let labels: Vec<u32> = (0..ROWS).map(|r| ((r * 3) % C) as u32).collect();
    let cw = [1.0f32, 2.0, 0.5, 1.5, 3.0];
    let mut gs = vec![0.0f32; ROWS * C];
    let rows = Rows::new(C, &labels[..]).with_class_weights(&cw).unwrap();
    let l = rows
        .loss_grad(&SoftmaxCe::new(), &z, Reduction::Mean, &mut gs, None)
        .unwrap();
    w.ok("softmax_ce");
    w.bits("softmax_ce.loss", l);
    w.all("softmax_ce.grad", &gs);
    let sf = SoftmaxFocal::new(2.0)
        .unwrap()
        .with_smoothing(0.05)
        .unwrap()
        .with_ignore_index(4);
    let l = Rows::new(C, &labels[..])
        .loss_grad(&sf, &z, Reduction::Sum, &mut gs, None)
        .unwrap();
    w.ok("softmax_focal");
    w.bits("softmax_focal.loss", l);
    w.all("softmax_focal.grad", &gs);

    let q = Quant::new(0.0625, 0).unwrap();
    let t = BinaryTable::logits(&Focal::RETINANET, q).unwrap();
    let codes: Vec<i8> = (0..Q)
        .map(|i| ((i * 71) % 256) as i32 - 128)
        .map(|c| c as i8)
        .collect();
    let qy: Vec<f32> = (0..Q).map(|i| if i % 3 == 0 { 1.0 } else { 0.0 }).collect();
    let mut gq = vec![0.0f32; Q];
    let mut g8 = vec![0i8; Q];
    w.ok("table");
    let l = t
        .loss_grad(&codes, &qy, None, Reduction::Mean, &mut gq)
        .unwrap();
    w.ok("table_f32");
    w.bits("table_f32.loss", l);
    w.all("table_f32.grad", &gq);
    let out = t
        .loss_grad_quantized(&codes, &qy, None, Reduction::Mean, &mut g8)
        .unwrap();
    w.ok("table_i8");
    w.bits("table_i8.loss", out.loss);
    w.bits("table_i8.scale", out.grad_scale);
    for (i, v) in g8.iter().enumerate() {
        w.int(&format!("table_i8.grad.{i}"), v);
    }
    q.dequantize_into(&codes, &mut gq).unwrap();
    w.ok("dequantize");
    w.all("dequantize", &gq);
    let mut x8 = vec![0i8; N];
    let s = quantize_max_abs(&x, &mut x8).unwrap();
    w.ok("quantize");
    w.bits("quantize.scale", s);
    for (i, v) in x8.iter().enumerate() {
        w.int(&format!("quantize.{i}"), v);
    }

    let mut counts = [0u32; C];
    for i in 0..12 {
        counts[(i * i) % C] += 1;
    }
    w.ok("count");
    for (i, c) in counts.iter().enumerate() {
        w.int(&format!("count.{i}"), c);
    }
    let mut cbw = [0.0f32; C];
    class_balanced::weights(&counts, 0.99, Normalize::SumToClasses, &mut cbw).unwrap();
    w.ok("cb_sum");
    w.all("cb_sum", &cbw);
    class_balanced::weights(&counts, 0.99, Normalize::MeanSampleWeight, &mut cbw).unwrap();
    w.ok("cb_mean");
    w.all("cb_mean", &cbw);

    // Errors: code, at, index, expected, found, name (the header's values:
    // TL_NON_FINITE_INPUT = 4 at TL_AT_ELEMENT = 1, ...).
    for (k, v) in [
        ("nan_logit", "4 1 3 0 0 -"),
        ("bad_gamma", "3 0 0 0 0 gamma"),
        ("null_inputs", "10 0 0 0 0 inputs"),
        ("empty", "2 0 0 0 0 -"),
        ("bad_normalizer", "3 0 0 0 0 normalizer"),
        ("bad_label", "8 2 2 0 0 -"),
        ("soft_target_table", "6 1 5 0 0 -"),
        ("count_label", "8 1 7 0 0 -"),
        ("bad_scale", "3 0 0 0 0 scale"),
        ("prob_quantization", "3 0 0 0 0 quantization"),
    ] {
        w.0.insert(format!("err {k}"), v.to_string());
    }
    w.int("binary_untouched", 1);
    w.int("count_untouched", 1);
    w
}

#[test]
fn the_c_abi_computes_what_the_rust_api_computes() {
    let got = run_c();
    let want = expected();
    let mut bad = Vec::new();
    for (k, v) in &want.0 {
        match got.get(k) {
            Some(g) if g == v => {}
            other => bad.push(format!("{k}: C {other:?}, Rust {v}")),
        }
    }
    for k in got.keys() {
        if !want.0.contains_key(k) {
            bad.push(format!("{k}: printed by C, not checked"));
        }
    }
    assert!(
        bad.is_empty(),
        "{} mismatches:\n{}",
        bad.len(),
        bad.join("\n")
    );
    println!("{} results equal", want.0.len());
}
