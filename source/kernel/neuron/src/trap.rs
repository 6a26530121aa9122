//! The trap path's Rust half and the scheduler: the top layer. A trap from
//! U-mode is a syscall (`syscall`), an interrupt (timer, PLIC) or a fault
//! (the task ends, `ipc::kill`).

use crate::arch::{self, TrapFrame};
use crate::ipc;
use crate::kernel::{irq_notice, Kernel, State, KERNEL, SLICE_NS};
use crate::{kprintln, plic, syscall};
use neuron_core::ipc::MAX_TASKS;
use nexus_abi::DeathKind;

pub fn on_timer(k: &mut Kernel, now: u64) {
    k.expire(now);
    if now >= k.slice_end {
        k.slice_end = now + k.ns_to_ticks(SLICE_NS);
        k.hint = None;
    }
    k.timer_armed = u64::MAX;
    k.arm_timer(now);
}

fn on_external(k: &mut Kernel) {
    loop {
        let irq = plic::claim();
        if irq == 0 {
            break;
        }
        if irq == k.uart_irq && k.console_rx_on {
            ipc::console_rx(k);
            plic::complete(irq);
            continue;
        }
        plic::set_enabled(irq, false);
        let bound = k.irqs.get(irq as usize).and_then(|l| l.bound_ep);
        if let Some(ep) = bound {
            // The source stays masked until the driver's `IrqAck`, so at
            // most one notice per line is outstanding.
            ipc::post_notice(k, ep, irq_notice(irq));
        } else if let Some(line) = k.irqs.get_mut(irq as usize) {
            match line.owner {
                Some(owner) if k.tasks[owner as usize].state == (State::IrqWait { irq }) => {
                    line.pending = false;
                    let t = &mut k.tasks[owner as usize];
                    t.frame.set_a(0, 0);
                    t.state = State::Ready;
                    t.deadline = 0;
                }
                Some(_) => line.pending = true,
                None => {}
            }
        }
        plic::complete(irq);
    }
}

/// Picks the next task to run, idling (interrupts polled) until one is
/// ready.
#[inline(never)]
fn schedule(k: &mut Kernel) -> usize {
    loop {
        if let Some(h) = k.hint.take() {
            if k.tasks[h].state == State::Ready {
                return h;
            }
        }
        for step in 1..=MAX_TASKS {
            let i = (k.current + step) % MAX_TASKS;
            if k.tasks[i].state == State::Ready {
                return i;
            }
        }
        if k.tasks
            .iter()
            .all(|t| matches!(t.state, State::Free | State::Dead { .. }))
        {
            kprintln!("neuron: no tasks left; halting");
            arch::shutdown(false);
        }
        // Idle: wait for the timer or a device, with S-mode interrupts
        // still masked, and handle whatever became pending.
        let now = arch::now_ticks();
        k.arm_timer(now);
        arch::wait_for_interrupt();
        let pending = arch::sip();
        let now = arch::now_ticks();
        if pending & arch::IRQ_STIMER != 0 || now >= k.timer_armed {
            on_timer(k, now);
        }
        if pending & arch::IRQ_SEXT != 0 {
            on_external(k);
        }
        if k.console_rx_on {
            ipc::console_rx(k);
        }
    }
}

/// Handles a syscall of task `k.current`; returns the task to resume.
#[inline(always)]
fn syscall_trap(k: &mut Kernel) -> usize {
    let cur = k.current;
    let f = &mut k.tasks[cur].frame;
    f.sepc += 4;
    let yielding = f.regs[17] == nexus_abi::Sysno::Yield as u64;
    syscall::dispatch(k, cur);
    // Fast path: a syscall that neither blocked nor woke anyone returns
    // straight to its caller while its slice lasts (the timer still
    // preempts; `Yield` still rotates).
    if !yielding
        && k.hint.is_none()
        && k.tasks[cur].state == State::Ready
        && arch::now_ticks() < k.slice_end
    {
        return cur;
    }
    // Direct switch: the task this syscall woke (the receiver of a call,
    // the caller of a reply) runs next, as `schedule` would choose.
    if let Some(h) = k.hint.take() {
        if k.tasks[h].state == State::Ready {
            k.current = h;
            return h;
        }
    }
    let next = schedule(k);
    k.current = next;
    next
}

/// Handles an interrupt or a fault of task `k.current`; returns the task to
/// resume.
#[inline(never)]
fn other_trap(k: &mut Kernel, scause: u64) -> usize {
    let cur = k.current;
    const INTERRUPT: u64 = 1 << 63;
    if scause & INTERRUPT != 0 {
        match scause & !INTERRUPT {
            5 => {
                let now = arch::now_ticks();
                on_timer(k, now);
            }
            9 => on_external(k),
            _ => {}
        }
    } else {
        let stval = arch::stval();
        let pc = k.tasks[cur].frame.sepc;
        kprintln!(
            "neuron: task {} ({}) fault: {} pc={:#x} addr={:#x}",
            cur,
            k.tasks[cur].name(),
            nexus_abi::cause_name(scause),
            pc,
            stval
        );
        ipc::kill(k, cur, DeathKind::Faulted, scause, stval, pc);
    }
    let next = schedule(k);
    k.current = next;
    next
}

/// Rust half of the trap path, called from `trap_entry` with the current
/// task's frame; returns the frame to resume. `trap_entry` resumes the same
/// task without touching s0..s11 (still its values) when this returns the
/// frame it was given, so a returned frame of a different task must never
/// share its address (a task's slot is reused only after the task ended, and
/// an ended task is never resumed).
#[no_mangle]
extern "C" fn trap_handler(_frame: *mut TrapFrame) -> *mut TrapFrame {
    let scause = arch::scause();
    // Cause 8 is an `ecall` from U-mode by definition (one from S-mode is
    // cause 9), so only the other causes need the S-mode check.
    if scause != 8 && arch::sstatus() & arch::SSTATUS_SPP != 0 {
        s_mode_trap();
    }
    let mut k = KERNEL.lock();
    let next = if scause == 8 {
        syscall_trap(&mut k)
    } else {
        other_trap(&mut k, scause)
    };
    let root = k.tasks[next].root;
    k.switch_root(root);
    &mut k.tasks[next].frame as *mut TrapFrame
}

#[inline(never)]
#[cold]
fn s_mode_trap() -> ! {
    panic!(
        "trap from S-mode: scause={:#x} stval={:#x}",
        arch::scause(),
        arch::stval()
    );
}

/// A trap taken while the kernel itself runs (a kernel bug): `trap_entry`
/// saw `sscratch` = 0, switched to the fault stack and comes here. Nothing
/// of any task is touched; the kernel stops (QEMU exits with failure).
#[no_mangle]
extern "C" fn kernel_trap_handler() -> ! {
    panic!(
        "trap in the kernel: scause={:#x} sepc={:#x} stval={:#x}",
        arch::scause(),
        arch::sepc(),
        arch::stval()
    );
}
