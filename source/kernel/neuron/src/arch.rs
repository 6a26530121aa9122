//! RISC-V CSR access, trap-vector setup, timer and shutdown through SBI.

use core::arch::asm;

/// Saved user context; layout shared with `entry.S` (x0..x31, then sepc).
#[repr(C)]
#[derive(Copy, Clone, Debug)]
pub struct TrapFrame {
    /// General registers x0..x31 (x0 unused).
    pub regs: [u64; 32],
    /// User pc to resume at.
    pub sepc: u64,
}

impl TrapFrame {
    /// An all-zero frame.
    pub const fn zero() -> Self {
        Self {
            regs: [0; 32],
            sepc: 0,
        }
    }
    /// Argument/result register `a{i}`.
    #[inline(always)]
    pub fn a(&self, i: usize) -> u64 {
        self.regs[10 + i]
    }
    /// Sets `a{i}`.
    #[inline(always)]
    pub fn set_a(&mut self, i: usize, v: u64) {
        self.regs[10 + i] = v;
    }
}

macro_rules! csr_read {
    ($name:literal) => {{
        let v: u64;
        // SAFETY: reading a CSR has no memory effects.
        unsafe { asm!(concat!("csrr {0}, ", $name), out(reg) v) };
        v
    }};
}

/// `scause`.
pub fn scause() -> u64 {
    csr_read!("scause")
}
/// `stval`.
pub fn stval() -> u64 {
    csr_read!("stval")
}
/// `sstatus`.
pub fn sstatus() -> u64 {
    csr_read!("sstatus")
}
/// `sepc`.
pub fn sepc() -> u64 {
    csr_read!("sepc")
}
/// `sip`.
pub fn sip() -> u64 {
    csr_read!("sip")
}
/// The `time` counter.
#[inline(always)]
pub fn now_ticks() -> u64 {
    csr_read!("time")
}

/// `sstatus.SPP`: the trap came from S-mode.
pub const SSTATUS_SPP: u64 = 1 << 8;
/// `sstatus.SPIE`.
const SSTATUS_SPIE: u64 = 1 << 5;
/// `sstatus.FS` (floating-point state, 2 bits; 0 = Off).
const SSTATUS_FS: u64 = 3 << 13;
/// Supervisor timer interrupt bit (sie/sip).
pub const IRQ_STIMER: u64 = 1 << 5;
/// Supervisor external interrupt bit (sie/sip).
pub const IRQ_SEXT: u64 = 1 << 9;

/// Points `stvec` at `trap_entry`, enables timer and external interrupt
/// sources (taken only while in U-mode), lets U-mode read the counters, and
/// makes every `sret` return to U-mode with interrupts enabled. Sets
/// `sstatus.FS` = Off: the target has no F/D, the kernel saves no FP state,
/// so every FP instruction of any task is an illegal instruction (and no FP
/// register can carry data between tasks).
pub fn init_traps() {
    extern "C" {
        fn trap_entry();
    }
    let vec = trap_entry as *const () as u64;
    // SAFETY: `trap_entry` is a 4-byte aligned direct-mode handler that saves
    // and restores the full user context; S-mode interrupts stay disabled
    // (SIE = 0), so it is only entered from U-mode.
    unsafe {
        asm!("csrw stvec, {0}", in(reg) vec);
        asm!("csrw sscratch, zero");
        asm!("csrs sie, {0}", in(reg) IRQ_STIMER | IRQ_SEXT);
        asm!("csrw scounteren, {0}", in(reg) 0x7u64);
        asm!("csrc sstatus, {0}", in(reg) SSTATUS_SPP | SSTATUS_FS | 2u64);
        asm!("csrs sstatus, {0}", in(reg) SSTATUS_SPIE);
    }
}

/// Installs an address space.
pub fn set_satp(satp: u64) {
    // SAFETY: every root table the kernel builds maps the kernel image, its
    // stacks and all RAM identically at the same global addresses, so the
    // code executing this instruction stays mapped.
    unsafe { asm!("csrw satp, {0}", "sfence.vma", in(reg) satp) };
}

/// Drops every cached address translation of this hart (after a user
/// mapping was removed).
pub fn flush_tlb() {
    // SAFETY: `sfence.vma` only invalidates translation caches; the tables
    // in memory are unchanged and stay consistent.
    unsafe { asm!("sfence.vma") };
}

/// Waits for an enabled interrupt to become pending (even with SIE = 0).
pub fn wait_for_interrupt() {
    // SAFETY: `wfi` only stalls the hart.
    unsafe { asm!("wfi") };
}

/// Arms the timer for the absolute tick count `at`.
pub fn set_timer(at: u64) {
    let _ = sbi_rt::set_timer(at);
}

static FINISHER: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// Remembers the SiFive test finisher (from the device tree).
pub fn set_finisher(base: usize) {
    FINISHER.store(base, core::sync::atomic::Ordering::Relaxed);
}

/// Powers QEMU off. On failure the test finisher is written with FAIL and
/// exit code 1 (`1 << 16 | 0x3333`), so QEMU exits with status 1 (checked
/// with a deliberate panic); SBI system reset (reason: system failure) is
/// the fallback.
pub fn shutdown(failure: bool) -> ! {
    let fin = FINISHER.load(core::sync::atomic::Ordering::Relaxed);
    if failure && fin != 0 {
        // SAFETY: `fin` is the finisher's register from the device tree,
        // identity-mapped (gigapage 0) in every address space; the write
        // ends the machine.
        unsafe { core::ptr::write_volatile(fin as *mut u32, (1 << 16) | 0x3333) };
    }
    if failure {
        let _ = sbi_rt::system_reset(sbi_rt::Shutdown, sbi_rt::SystemFailure);
    } else {
        let _ = sbi_rt::system_reset(sbi_rt::Shutdown, sbi_rt::NoReason);
    }
    loop {
        wait_for_interrupt();
    }
}
