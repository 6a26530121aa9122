//! The platform-level interrupt controller, S-mode context of hart 0.

use core::sync::atomic::{AtomicUsize, Ordering};

static BASE: AtomicUsize = AtomicUsize::new(0);
/// Hart 0 S-mode context on QEMU virt.
const CONTEXT: usize = 1;

fn reg(off: usize) -> *mut u32 {
    (BASE.load(Ordering::Relaxed) + off) as *mut u32
}

fn write(off: usize, v: u32) {
    if BASE.load(Ordering::Relaxed) == 0 {
        return;
    }
    // SAFETY: `off` is a register offset inside the PLIC window from the
    // device tree, identity-mapped as device memory.
    unsafe { core::ptr::write_volatile(reg(off), v) }
}

fn read(off: usize) -> u32 {
    if BASE.load(Ordering::Relaxed) == 0 {
        return 0;
    }
    // SAFETY: as in `write`.
    unsafe { core::ptr::read_volatile(reg(off)) }
}

/// Sets the base and opens the context threshold; all sources start disabled.
pub fn init(base: usize) {
    BASE.store(base, Ordering::Relaxed);
    write(0x20_0000 + CONTEXT * 0x1000, 0);
}

/// Enables or disables source `irq` (priority 1) for our context.
pub fn set_enabled(irq: u32, on: bool) {
    let irq = irq as usize;
    if irq == 0 || irq >= 1024 {
        return;
    }
    write(4 * irq, 1);
    let off = 0x2000 + CONTEXT * 0x80 + (irq / 32) * 4;
    let bit = 1u32 << (irq % 32);
    let cur = read(off);
    write(off, if on { cur | bit } else { cur & !bit });
}

/// Claims the highest-priority pending source (0 = none).
pub fn claim() -> u32 {
    read(0x20_0004 + CONTEXT * 0x1000)
}

/// Completes a claimed source.
pub fn complete(irq: u32) {
    write(0x20_0004 + CONTEXT * 0x1000, irq);
}
