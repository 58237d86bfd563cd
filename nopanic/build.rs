//! Link set-up per target. The binary never runs: it only has to link, with
//! the linker's --gc-sections (rustc's default) dropping unreachable code.
use std::{env, fs, path::PathBuf};

fn main() {
    let target = env::var("TARGET").unwrap();
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    if target.contains("-none") {
        // Bare metal (rust-lld): no runtime, entry `_start`. The crate's
        // .cargo/config.toml adds -Tlink.x -Tdefmt.x for the firmware on
        // every arm-none build; tools/nopanic overrides those flags with
        // RUSTFLAGS, and these stubs let a plain `cargo build` link too.
        let script = "ENTRY(_start)\n";
        fs::write(out.join("link.x"), script).unwrap();
        fs::write(out.join("defmt.x"), "").unwrap();
        fs::write(out.join("nopanic.x"), script).unwrap();
        println!("cargo:rustc-link-search={}", out.display());
        println!("cargo:rustc-link-arg-bins=-Tnopanic.x");
    } else if target.contains("linux") {
        // Hosted target without std: no crt0, our own `_start`; libc only
        // for memcpy/memset (rustc passes -nodefaultlibs for no_std).
        println!("cargo:rustc-link-arg-bins=-nostartfiles");
        println!("cargo:rustc-link-lib=c");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
