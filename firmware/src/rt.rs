//! Bare-metal runtime pieces: defmt over semihosting (QEMU) or RTT (feature
//! `rtt`, real boards with probe-rs), exit, panic and fault handlers, the
//! SysTick instruction counter and stack painting.

use core::sync::atomic::{AtomicU32, Ordering};
use cortex_m::peripheral::SYST;
use cortex_m_rt::{exception, ExceptionFrame};
#[cfg(feature = "rtt")]
use defmt_rtt as _;
#[cfg(all(feature = "semihosting", not(feature = "rtt")))]
use defmt_semihosting as _;

/// SysTick reload value: the full 24 bits.
const RELOAD: u32 = 0x00FF_FFFF;

/// Number of SysTick wraps so far (written only by the SysTick handler).
static WRAPS: AtomicU32 = AtomicU32::new(0);
/// Instructions per SysTick tick, times 16 (0 = not initialised).
static RATIO_X16: AtomicU32 = AtomicU32::new(0);
/// Ticks the calibration loop took.
static CAL_TICKS: AtomicU32 = AtomicU32::new(0);

/// (instructions per tick × 16, ticks of the calibration loop).
pub fn calibration() -> (u32, u32) {
    (
        RATIO_X16.load(Ordering::Relaxed),
        CAL_TICKS.load(Ordering::Relaxed),
    )
}

fn syst() -> &'static cortex_m::peripheral::syst::RegisterBlock {
    // SAFETY: SysTick's register block is always mapped; this module is its
    // only user and configures it once in `init`.
    unsafe { &*SYST::PTR }
}

pub fn init() {
    if RATIO_X16.load(Ordering::Relaxed) != 0 {
        return;
    }
    let s = syst();
    // SAFETY: plain register writes to SysTick, which nothing else uses.
    unsafe {
        s.rvr.write(RELOAD);
        s.cvr.write(0);
        // enable | tickint | core clock
        s.csr.write(0b111);
    }
    // The counter starts at 0 and loads RELOAD on the first tick (no wrap
    // counted for that): wait for it so readings are monotonic from here.
    while s.cvr.read() == 0 {}
    // Calibrate: 2 instructions (subs + bne) per iteration.
    const ITERS: u32 = 1 << 19;
    let t0 = ticks();
    spin(ITERS);
    let t1 = ticks();
    let dt = (t1 - t0).max(1);
    CAL_TICKS.store(dt as u32, Ordering::Relaxed);
    // Round to 1/16 instruction per tick: exact for 40, 62.5, 50, 31.25.
    let ratio16 = ((2 * ITERS as u64 * 16 + dt / 2) / dt).max(1) as u32;
    RATIO_X16.store(ratio16, Ordering::Relaxed);
}

/// `n` iterations of a 2-instruction loop.
#[inline(always)]
fn spin(n: u32) {
    // SAFETY: register-only loop, no memory or stack access.
    unsafe {
        core::arch::asm!(
            "2:",
            "subs {0}, {0}, #1",
            "bne 2b",
            inout(reg) n => _,
            options(nomem, nostack),
        );
    }
}

/// SysTick ticks since `init` (wraps included).
fn ticks() -> u64 {
    let s = syst();
    loop {
        let w1 = WRAPS.load(Ordering::SeqCst);
        let c = s.cvr.read() & RELOAD;
        let w2 = WRAPS.load(Ordering::SeqCst);
        if w1 == w2 {
            return w1 as u64 * (RELOAD as u64 + 1) + (RELOAD - c) as u64;
        }
    }
}

pub fn now() -> u64 {
    let r = RATIO_X16.load(Ordering::Relaxed) as u64;
    ticks() * r / 16
}

#[exception]
fn SysTick() {
    // Only this handler writes WRAPS; v6-M has no atomic RMW.
    WRAPS.store(WRAPS.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

pub fn exit(success: bool) -> ! {
    use cortex_m_semihosting::debug;
    debug::exit(if success {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    // Not reached under QEMU; on a real board without a debugger, stop here.
    loop {
        cortex_m::asm::bkpt();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    defmt::error!("panic: {}", defmt::Display2Format(info));
    exit(false)
}

#[exception]
unsafe fn HardFault(ef: &ExceptionFrame) -> ! {
    defmt::error!("HardFault at pc={=u32:#x} lr={=u32:#x}", ef.pc(), ef.lr());
    exit(false)
}

extern "C" {
    /// Start of the free RAM after .data/.bss (cortex-m-rt).
    static __sheap: u32;
}

const PAINT: u32 = 0xC0DE_5AFE;

pub fn stack_use<R>(limit: usize, f: impl FnOnce() -> R) -> (R, usize) {
    cortex_m::interrupt::free(|_| {
        let sp = cortex_m::register::msp::read() as usize;
        // SAFETY: only the address of the linker symbol is taken.
        let heap = core::ptr::addr_of!(__sheap) as usize;
        // Keep 64 bytes of slack below SP for this function's own calls.
        let top = (sp - 64) & !3;
        let bottom = top.saturating_sub(limit).max((heap + 3) & !3);
        let mut p = bottom;
        while p < top {
            // SAFETY: [bottom, top) is free RAM between the heap start and
            // the live stack, which no one else uses while interrupts are off.
            unsafe { core::ptr::write_volatile(p as *mut u32, PAINT) };
            p += 4;
        }
        let r = call(f);
        let mut p = bottom;
        // SAFETY: as above.
        while p < top && unsafe { core::ptr::read_volatile(p as *const u32) } == PAINT {
            p += 4;
        }
        // Bytes below the SP of this frame that `f` touched.
        (r, sp - p)
    })
}

#[inline(never)]
fn call<R>(f: impl FnOnce() -> R) -> R {
    f()
}
