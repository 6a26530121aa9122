//! Kernel console on the 16550 UART found in the device tree.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicUsize, Ordering};

static UART: AtomicUsize = AtomicUsize::new(0);

/// Uses the UART at `base` (identity-mapped MMIO); 0 falls back to SBI.
pub fn init(base: usize) {
    UART.store(base, Ordering::Relaxed);
}

/// Writes one byte.
pub fn putb(b: u8) {
    let base = UART.load(Ordering::Relaxed);
    if base == 0 {
        #[allow(deprecated)]
        sbi_rt::legacy::console_putchar(b as usize);
        return;
    }
    // SAFETY: `base` is the 16550 register block from the device tree,
    // identity-mapped as device memory in every address space; LSR is at +5
    // and THR at +0.
    unsafe {
        while core::ptr::read_volatile((base + 5) as *const u8) & 0x20 == 0 {}
        core::ptr::write_volatile(base as *mut u8, b);
    }
}

/// Turns on the UART's receive-data interrupt (IER bit 0, and MCR OUT2,
/// which gates the interrupt line on 16550s), so received input raises the
/// UART's PLIC source. Nothing changes on the SBI fallback.
pub fn enable_rx_interrupt() {
    let base = UART.load(Ordering::Relaxed);
    if base == 0 {
        return;
    }
    // SAFETY: as in `putb`; IER is at +1 (DLAB is 0 after firmware set-up)
    // and MCR at +4.
    unsafe {
        core::ptr::write_volatile((base + 1) as *mut u8, 0x01);
        let mcr = core::ptr::read_volatile((base + 4) as *const u8);
        core::ptr::write_volatile((base + 4) as *mut u8, mcr | 0x08);
    }
}

/// One received byte, if the UART holds one.
pub fn getb() -> Option<u8> {
    let base = UART.load(Ordering::Relaxed);
    if base == 0 {
        return None;
    }
    // SAFETY: as in `putb`; LSR bit 0 = data ready, RBR at +0.
    unsafe {
        if core::ptr::read_volatile((base + 5) as *const u8) & 0x01 == 0 {
            return None;
        }
        Some(core::ptr::read_volatile(base as *const u8))
    }
}

/// Writes bytes, translating `\n` to `\r\n`.
pub fn write_bytes(s: &[u8]) {
    for &b in s {
        if b == b'\n' {
            putb(b'\r');
        }
        putb(b);
    }
}

/// `core::fmt` sink for `kprintln!`.
pub struct Console;

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_bytes(s.as_bytes());
        Ok(())
    }
}

/// Prints a line on the kernel console.
#[macro_export]
macro_rules! kprintln {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = writeln!($crate::console::Console, $($arg)*);
    }};
}
