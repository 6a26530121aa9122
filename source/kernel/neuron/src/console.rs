//! Kernel console on the 16550 UART found in the device tree.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

static UART: AtomicUsize = AtomicUsize::new(0);
/// Who wrote the current console line (a task id; [`KERNEL`] = the kernel).
static OWNER: AtomicU64 = AtomicU64::new(KERNEL);
/// Whether the console is at the start of a line.
static LINE_START: AtomicBool = AtomicBool::new(true);
/// [`OWNER`] of the kernel's own lines.
const KERNEL: u64 = u64::MAX;

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

/// Starts a line for `owner` unless the current line is already its own:
/// a line never mixes bytes of two writers.
fn claim_line(owner: u64) -> bool {
    let start = LINE_START.load(Ordering::Relaxed);
    if !start && OWNER.load(Ordering::Relaxed) != owner {
        putb(b'\r');
        putb(b'\n');
        LINE_START.store(true, Ordering::Relaxed);
        return true;
    }
    start
}

fn put_logical(b: u8) {
    if b == b'\n' {
        putb(b'\r');
        putb(b'\n');
        LINE_START.store(true, Ordering::Relaxed);
    } else {
        putb(b);
        LINE_START.store(false, Ordering::Relaxed);
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

/// Kernel output (`kprintln!`): untagged lines, translating `\n` to `\r\n`.
/// Kernel lines start with `neuron:`; task lines never start with anything
/// but their tag, so the two cannot be confused.
pub fn write_bytes(s: &[u8]) {
    for &b in s {
        claim_line(KERNEL);
        OWNER.store(KERNEL, Ordering::Relaxed);
        put_logical(b);
    }
}

/// A task's output: every line it starts is prefixed `[<name>] ` (the boot
/// image program name, from the kernel), and only printable ASCII, tab and
/// newline pass (other bytes become `?`), so a task cannot end a line early
/// (`\r`, other line breaks) or forge another task's tag. A `terminal`
/// writer (the holder of the console-input capability: the shell, which
/// edits the line a person types) may also send backspace (0x08) and
/// escape (0x1b, for cursor sequences); neither ends a line.
pub fn write_task(name: &str, id: u64, s: &[u8], terminal: bool) {
    for &b in s {
        if claim_line(id) {
            OWNER.store(id, Ordering::Relaxed);
            putb(b'[');
            name.bytes().for_each(putb);
            putb(b']');
            putb(b' ');
            LINE_START.store(false, Ordering::Relaxed);
        }
        let b = match b {
            b'\n' | b'\t' | 0x20..=0x7e => b,
            0x08 | 0x1b if terminal => b,
            _ => b'?',
        };
        put_logical(b);
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
