//! On-target tests of tinyloss's kernels against f64 references (placeholder).
#![cfg_attr(target_os = "none", no_std, no_main)]

use tinyloss_firmware::{exit, out};

#[cfg_attr(target_os = "none", cortex_m_rt::entry)]
fn main() -> ! {
    tinyloss_firmware::init();
    let t = tinyloss_firmware::counter::Stopwatch::start();
    let lg = tinyloss::Focal::RETINANET.loss_grad(1.5, 1.0);
    out!("selftest on {}: {:?} ({} {})", tinyloss_firmware::BOARD, lg, t.elapsed(), tinyloss_firmware::UNIT);
    exit(lg.is_ok())
}
