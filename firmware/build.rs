//! Picks the linker memory map for bare-metal builds: `memory/<board>.x` is
//! copied to `$OUT_DIR/memory.x`, where cortex-m-rt's `link.x` finds it. The
//! board comes from `MCU_BOARD`, or defaults per target triple (the QEMU
//! machine `tools/qemu-run` uses for that triple). Host builds do nothing.

use std::{env, fs, path::PathBuf};

fn default_board(target: &str) -> Option<&'static str> {
    Some(match target {
        t if t.starts_with("thumbv6m") => "microbit",
        t if t.starts_with("thumbv7m") => "mps2-an385",
        t if t.starts_with("thumbv7em") => "mps2-an386",
        t if t.starts_with("thumbv8m.main") => "mps2-an505",
        t if t.starts_with("thumbv8m.base") => "mps2-an505",
        _ => return None,
    })
}

// Wine data for the finetune/stream examples (every target, host included).
#[path = "gen/wine.rs"]
mod wine;

fn main() {
    wine::generate(
        &PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()),
        &PathBuf::from(env::var("OUT_DIR").unwrap()),
    );
    println!("cargo:rerun-if-env-changed=MCU_BOARD");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo::rustc-check-cfg=cfg(armv6m)");
    let target = env::var("TARGET").unwrap_or_default();
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os != "none" {
        println!("cargo:rustc-env=TINYLOSS_BOARD=host");
        return; // host build: std, no linker script
    }
    let board = match env::var("MCU_BOARD") {
        Ok(b) if !b.is_empty() => b,
        _ => default_board(&target)
            .unwrap_or_else(|| panic!("no default board for {target}; set MCU_BOARD"))
            .to_string(),
    };
    println!("cargo:rustc-env=TINYLOSS_BOARD={board}");
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let src = manifest.join("memory").join(format!("{board}.x"));
    println!("cargo:rerun-if-changed={}", src.display());
    let map = fs::read_to_string(&src).unwrap_or_else(|e| {
        panic!(
            "MCU_BOARD={board}: cannot read {} ({e}); boards: see firmware/memory/",
            src.display()
        )
    });
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    fs::write(out.join("memory.x"), map).unwrap();
    println!("cargo:rustc-link-search={}", out.display());
    if target.starts_with("thumbv6m") || target.starts_with("thumbv8m.base") {
        println!("cargo:rustc-cfg=armv6m");
    }
}
