//! Support code shared by the firmware binaries (`selftest`, `costs`,
//! `finetune`, `stream`): printing, exit status, an instruction counter and
//! stack measurement that work the same on a bare-metal Cortex-M target
//! (defmt over semihosting, SysTick under QEMU `-icount shift=0`) and on the
//! host (std), so one source runs in both worlds.
//!
//! A binary looks like this:
//!
//! ```ignore
//! #![cfg_attr(target_os = "none", no_std, no_main)]
//! use tinyloss_firmware::{exit, out};
//!
//! #[cfg_attr(target_os = "none", cortex_m_rt::entry)]
//! fn main() -> ! {
//!     tinyloss_firmware::init();
//!     out!("hello from {}", tinyloss_firmware::BOARD);
//!     exit(true)
//! }
//! ```
//!
//! Format strings must be understood by both `defmt` and `std`: use `{}` and
//! `{:?}` only (f32 prints identically on both sides), and [`fx`] for a fixed
//! number of decimals.
#![cfg_attr(target_os = "none", no_std)]

#[cfg(target_os = "none")]
mod rt;

pub mod check;
pub mod fmt;

// Fine-tuning examples (owned by the `finetune` / `stream` binaries).
pub mod data;
pub mod multiclass;
pub mod train;
pub use fmt::{fx, Fixed};

/// The board this binary was built for (`MCU_BOARD` or the triple's default
/// QEMU machine), or `"host"`.
pub const BOARD: &str = env!("TINYLOSS_BOARD");

/// The unit of [`counter`] readings: `"instr"` on target (instructions counted
/// under QEMU `-icount shift=0`), `"ns"` on the host.
pub const UNIT: &str = counter::UNIT;

/// Prints a line: `defmt::println!` on target, `std::println!` on the host.
/// Use only `{}` / `{:?}` placeholders (and [`fx`] for fixed decimals).
#[cfg(target_os = "none")]
#[macro_export]
macro_rules! out {
    ($($t:tt)*) => { ::defmt::println!($($t)*) };
}

/// Prints a line: `defmt::println!` on target, `std::println!` on the host.
/// Use only `{}` / `{:?}` placeholders (and [`fx`] for fixed decimals).
#[cfg(not(target_os = "none"))]
#[macro_export]
macro_rules! out {
    ($($t:tt)*) => { ::std::println!($($t)*) };
}

/// Sets up the instruction counter (SysTick, calibrated) on target; no-op on
/// the host. Call once at the start of `main`; idempotent.
pub fn init() {
    #[cfg(target_os = "none")]
    rt::init();
}

/// Ends the program: semihosting `SYS_EXIT` on target (QEMU exits with status
/// 0 or 1), `std::process::exit` on the host.
pub fn exit(success: bool) -> ! {
    #[cfg(target_os = "none")]
    {
        rt::exit(success)
    }
    #[cfg(not(target_os = "none"))]
    {
        std::process::exit(if success { 0 } else { 1 })
    }
}

/// Instruction counter (target) / wall clock (host).
///
/// On target, SysTick runs from the core clock; with QEMU's `-icount shift=0`
/// one instruction advances virtual time by exactly 1 ns, so ticks convert to
/// instructions by a ratio measured at [`init`] with a loop of known length
/// (40 on mps2, 62.5 on micro:bit, 50 on AN505, 31.25 on AN547). The 24-bit
/// counter's wraps are counted by the SysTick exception. The resolution is one
/// tick: time many iterations and divide. Without `-icount` the readings are
/// not deterministic (real board: they are cycles × ratio, i.e. meaningless as
/// instructions — use DWT CYCCNT there).
pub mod counter {
    /// `"instr"` on target, `"ns"` on the host.
    #[cfg(target_os = "none")]
    pub const UNIT: &str = "instr";
    /// `"instr"` on target, `"ns"` on the host.
    #[cfg(not(target_os = "none"))]
    pub const UNIT: &str = "ns";

    /// Monotonic reading in [`UNIT`]s since [`crate::init`].
    #[inline(never)]
    pub fn now() -> u64 {
        #[cfg(target_os = "none")]
        {
            crate::rt::now()
        }
        #[cfg(not(target_os = "none"))]
        {
            use std::sync::OnceLock;
            use std::time::Instant;
            static T0: OnceLock<Instant> = OnceLock::new();
            T0.get_or_init(Instant::now).elapsed().as_nanos() as u64
        }
    }

    /// Instructions per SysTick tick × 16 and the ticks the calibration loop
    /// (2^20 instructions) took; `(0, 0)` on the host.
    pub fn calibration() -> (u32, u32) {
        #[cfg(target_os = "none")]
        {
            crate::rt::calibration()
        }
        #[cfg(not(target_os = "none"))]
        {
            (0, 0)
        }
    }

    /// A started measurement.
    #[derive(Clone, Copy, Debug)]
    pub struct Stopwatch(u64);

    impl Stopwatch {
        /// Starts measuring.
        #[inline(always)]
        pub fn start() -> Self {
            Stopwatch(now())
        }
        /// [`UNIT`]s since `start`.
        #[inline(always)]
        pub fn elapsed(&self) -> u64 {
            now().wrapping_sub(self.0)
        }
    }

    /// Runs `f` `reps` times and returns the [`UNIT`]s per call, net of the
    /// loop and timer overhead (measured with an empty closure), as f64.
    pub fn per_call<F: FnMut()>(reps: u32, mut f: F) -> f64 {
        let run = |g: &mut dyn FnMut()| {
            let sw = Stopwatch::start();
            for _ in 0..reps {
                g();
            }
            sw.elapsed()
        };
        let empty = run(&mut || core::hint::black_box(()));
        let full = run(&mut f);
        (full as f64 - empty as f64) / reps as f64
    }
}

/// Runs `f` and returns its result with the number of stack bytes it used
/// (the high-water mark below the caller's stack pointer, found by painting
/// up to `limit` bytes with a pattern first). Interrupts are off meanwhile.
/// Returns 0 bytes on the host.
pub fn stack_use<R>(limit: usize, f: impl FnOnce() -> R) -> (R, usize) {
    #[cfg(target_os = "none")]
    {
        rt::stack_use(limit, f)
    }
    #[cfg(not(target_os = "none"))]
    {
        let _ = limit;
        (f(), 0)
    }
}
