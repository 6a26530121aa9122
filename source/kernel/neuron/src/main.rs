//! neuron: a small capability microkernel for QEMU riscv64 `virt`.
//!
//! The kernel provides address spaces (Sv39, one per task), U-mode tasks,
//! synchronous IPC on endpoints, capabilities (endpoints, device MMIO + IRQ,
//! DMA budgets), monotonic time and timer-driven preemption. It contains no
//! network code, parsers of untrusted data beyond syscall arguments, or
//! crypto. Pure logic lives in `neuron-core` (host-tested); this crate is the
//! hardware glue: boot, traps, the console, the PLIC, the timer.
//!
//! Design rules:
//! 1. The kernel never takes a trap itself: it runs with `sstatus.SIE = 0`,
//!    and when idle it waits with `wfi` and polls `sip`.
//! 2. User memory is only touched through `neuron_core::pagetable::user_chunks`,
//!    which validates a whole range against the caller's page table first and
//!    then hands out physical addresses (all RAM is identity-mapped for the
//!    kernel), so copies between address spaces need no address-space switch.
//! 3. A user error never panics the kernel: it is an error code, or a fault
//!    that ends that task and is reported to its supervisor.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod arch;
#[cfg(target_os = "none")]
mod console;
#[cfg(target_os = "none")]
mod dtb;
#[cfg(target_os = "none")]
mod ipc;
#[cfg(target_os = "none")]
mod kernel;
#[cfg(target_os = "none")]
mod mem;
#[cfg(target_os = "none")]
mod plic;
#[cfg(target_os = "none")]
mod syscall;
#[cfg(target_os = "none")]
mod trap;

/// Host builds (`cargo test --workspace`) compile this crate as an empty
/// program; the kernel exists only for `riscv64imac-unknown-none-elf`.
#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
core::arch::global_asm!(include_str!("entry.S"));

/// The packed services (see `docs/boot-image.md`), page aligned.
#[cfg(target_os = "none")]
#[repr(C, align(4096))]
struct Aligned<T: ?Sized>(T);

#[cfg(target_os = "none")]
static BOOT_IMAGE: &Aligned<[u8]> = &Aligned(*include_bytes!(env!("NEXUS_BOOT_IMAGE_PATH")));

/// Rust entry from `_start`: hart id and device-tree address from OpenSBI.
#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn kmain(hart: usize, dtb_pa: usize) -> ! {
    let info = dtb::parse(dtb_pa);
    console::init(info.uart);
    arch::set_finisher(info.finisher);
    kprintln!(
        "neuron: boot hart={} ram={:#x}..{:#x} timebase={}Hz",
        hart,
        info.ram.0,
        info.ram.1,
        info.timebase
    );
    kernel::boot(&info, &BOOT_IMAGE.0)
}

#[cfg(target_os = "none")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    kprintln!("neuron: PANIC: {}", info);
    arch::shutdown(true)
}
