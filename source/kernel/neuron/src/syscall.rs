//! Syscall dispatch: decodes `a7`/`a0..a6` of the current task and runs the
//! operation. Every argument is untrusted; every failure is an error code.
//! The contract is `docs/abi.md` and the `nexus-abi` crate.

use crate::arch;
use crate::console;
use crate::ipc::{
    self, check_range, copy_in, copy_out, copy_task, copy_task_to, deliver, offered_slot, passed,
};
use crate::kernel::{
    IrqLine, Kernel, PendingCall, Shm, State, CONSOLE_BURST, CONSOLE_PER_SEC, MAX_IRQ, SHM,
};
use crate::plic;
use neuron_core::caps::Cap;
use neuron_core::dma::DmaError;
use neuron_core::ipc::{Endpoint, MAX_ENDPOINTS, MAX_TASKS, NOTICE_DEPTH};
use neuron_core::pagetable::{self, flags};
use neuron_core::shm;
use nexus_abi::layout::{MAP_END, PAGE};
use nexus_abi::{
    rights, split_accept, CapKind, DeathKind, Error, GrantSpec, ShortWords, Sysno, CAP_SLOTS,
    MSG_MAX, NAME_MAX, NO_SLOT, SHORT_MAX,
};

/// Longest console write per call.
const CONSOLE_MAX: usize = 4096;
/// Most DMA pages per allocation.
const DMA_MAX_PAGES: u64 = 256;

/// Result of a syscall that completes now: values for a1.. (a0 = 0).
type Done = Result<[u64; 4], Error>;

/// What the handler did with the caller.
enum Outcome {
    /// Completed: write results now.
    Now(Done),
    /// The caller blocked (or was ended); results come later.
    Blocked,
}

/// Runs the syscall of task `cur` (its frame holds the arguments) and
/// writes its results. `TimeNow`, the most frequent leaf syscall, is
/// answered here without the general dispatch (whose frame is larger).
#[inline(always)]
pub fn dispatch(k: &mut Kernel, cur: usize) {
    let nr = k.tasks[cur].frame.regs[17];
    if nr == Sysno::TimeNow as u64 {
        let now = k.now_ns();
        let f = &mut k.tasks[cur].frame;
        f.set_a(0, 0);
        f.set_a(1, now);
        f.set_a(2, 0);
        f.set_a(3, 0);
        f.set_a(4, 0);
    } else {
        dispatch_more(k, cur, nr);
    }
}

/// The round trip's four IPC syscalls (each first through its fast path),
/// then everything else. A function of its own so that `TimeNow` pays one
/// compare before it (a longer chain becomes a jump table); its calls are
/// tail calls.
#[inline(never)]
fn dispatch_more(k: &mut Kernel, cur: usize, nr: u64) {
    if nr == Sysno::IpcCall as u64 {
        call_entry(k, cur);
    } else if nr == Sysno::IpcReplyRecv as u64 {
        reply_recv_entry(k, cur);
    } else if nr == Sysno::IpcCallShort as u64 {
        call_short_entry(k, cur);
    } else if nr == Sysno::IpcReplyRecvShort as u64 {
        reply_recv_short_entry(k, cur);
    } else {
        dispatch_general(k, cur);
    }
}

// One function per IPC syscall: its fast path, else (a tail call) its
// general path. Apart, each fast path needs fewer registers.
#[inline(never)]
fn call_entry(k: &mut Kernel, cur: usize) {
    if !call_mem_fast(k, cur) {
        ipc_call_sys(k, cur);
    }
}

#[inline(never)]
fn reply_recv_entry(k: &mut Kernel, cur: usize) {
    if !reply_recv_fast(k, cur, false) {
        ipc_reply_recv_sys(k, cur);
    }
}

#[inline(never)]
fn call_short_entry(k: &mut Kernel, cur: usize) {
    if !call_short_fast(k, cur) {
        ipc_call_short_sys(k, cur);
    }
}

#[inline(never)]
fn reply_recv_short_entry(k: &mut Kernel, cur: usize) {
    if !reply_recv_fast(k, cur, true) {
        ipc_reply_recv_short_sys(k, cur);
    }
}

/// The physical address of `va`, readable user memory of task `t`, from
/// the task's one-page source cache or the translation cache; `None` on a
/// miss of both (the general path then walks). A hit in the translation
/// cache fills the task's (a cache: nothing observable changes). No calls.
#[inline(always)]
fn src_pa(k: &mut Kernel, t: usize, va: u64) -> Option<u64> {
    let page = va & !(PAGE - 1);
    let task = &k.tasks[t];
    if page == task.src_page && page != 0 {
        return Some(task.src_pa | (va & (PAGE - 1)));
    }
    let pa = k.mem.user_pa_cached(task.root, va, false)?;
    let task = &mut k.tasks[t];
    task.src_page = page;
    task.src_pa = pa & !(PAGE - 1);
    Some(pa)
}

/// The common end of both call fast paths, once the message is in the
/// receiver's buffer and the caller's `call` is recorded: the caller waits
/// for the reply, the receiver (no longer the endpoint's) gets the message's
/// length, badge and reply token and runs next. Inlined, so the fast paths
/// stay leaf functions.
#[inline(always)]
fn hand_over(k: &mut Kernel, cur: usize, r: usize, id: u16, len: usize, badge: u64) {
    let t = &mut k.tasks[cur];
    t.call_seq = t.call_seq.wrapping_add(1).max(1);
    t.state = State::AwaitReply { server: r as u8 };
    t.deadline = 0;
    let token = neuron_core::ipc::reply_token(cur, t.generation, t.call_seq);
    let s = &mut k.tasks[r];
    s.frame.set_a(0, 0);
    s.frame.set_a(1, len as u64);
    s.frame.set_a(2, badge);
    s.frame.set_a(3, token);
    s.frame.set_a(4, NO_SLOT);
    s.state = State::Ready;
    s.deadline = 0;
    if let Some(Some(e)) = k.endpoints.get_mut(id as usize) {
        e.receiver = None;
    }
    k.hint = Some(r);
}

/// `IpcCall` when it can complete the common way: no deadline, no
/// capability, a message of at most 64 bytes within one page, a receiver
/// waiting whose buffer holds it within its first page, the reply buffer
/// the one that validated last time, both ends 8-byte aligned and the
/// message's page in the translation cache. Makes every check of
/// `ipc_call` and `deliver` first, then has the same effects; returns
/// false, having changed nothing, in every other case (the general path
/// then runs from the start). A leaf function.
#[inline(always)]
fn call_mem_fast(k: &mut Kernel, cur: usize) -> bool {
    let f = &k.tasks[cur].frame;
    let a = [f.a(0), f.a(1), f.a(2), f.a(3), f.a(4), f.a(5), f.a(6)];
    if a[6] != 0 || a[5] != NO_SLOT || a[2] > 64 {
        return false;
    }
    let (msg, len) = (a[1], a[2] as usize);
    let Some((reply_cap, accept)) = split_accept(a[4]) else {
        return false;
    };
    let reply_cap = reply_cap.min(MSG_MAX);
    if k.tasks[cur].reply_ok != (a[3], reply_cap) {
        return false;
    }
    let Some((id, badge)) = k.tasks[cur].caps.endpoint(a[0], rights::SEND) else {
        return false;
    };
    let Some(Some(e)) = k.endpoints.get(id as usize) else {
        return false;
    };
    let Some(r) = e.receiver.map(usize::from).filter(|&r| r < MAX_TASKS) else {
        return false;
    };
    let s = &k.tasks[r];
    let ((rbuf, rcap), dpa) = (s.recv, s.recv_pa);
    if len > rcap || dpa == 0 || rbuf % PAGE + len as u64 > PAGE || msg % PAGE + len as u64 > PAGE {
        return false;
    }
    if len > 0 {
        let Some(spa) = src_pa(k, cur, msg) else {
            return false;
        };
        if (spa | dpa) % 8 != 0 {
            return false;
        }
        k.mem.copy_aligned(dpa, spa, len);
    }
    let t = &mut k.tasks[cur];
    t.call = PendingCall {
        msg,
        len,
        reply: a[3],
        reply_cap,
        reply_pa: t.reply_ok_pa,
        accept,
        xfer: None,
        badge,
        short: false,
    };
    hand_over(k, cur, r, id, len, badge);
    true
}

/// `IpcCallShort` when it can complete the common way: no deadline, a
/// receiver waiting whose buffer holds the message within its first page.
/// Makes every check `ipc_call_short` and `deliver` make (the capability
/// and its SEND right, the length, the receiver's buffer) and then has the
/// same effects; returns false, having changed nothing, in every other
/// case (the general path then runs from the start). No calls, so no
/// callee-saved registers to spill: that, not the copy, is what it saves.
#[inline(always)]
fn call_short_fast(k: &mut Kernel, cur: usize) -> bool {
    let f = &k.tasks[cur].frame;
    let (slot, len, deadline) = (f.a(0), f.a(1), f.a(6));
    let w = [f.a(2), f.a(3), f.a(4), f.a(5)];
    if deadline != 0 || len > SHORT_MAX as u64 {
        return false;
    }
    let len = len as usize;
    let Some((id, badge)) = k.tasks[cur].caps.endpoint(slot, rights::SEND) else {
        return false;
    };
    let Some(Some(e)) = k.endpoints.get(id as usize) else {
        return false;
    };
    let Some(r) = e.receiver.map(usize::from).filter(|&r| r < MAX_TASKS) else {
        return false;
    };
    let s = &k.tasks[r];
    let ((rbuf, rcap), dpa) = (s.recv, s.recv_pa);
    if len > rcap || dpa == 0 || rbuf % PAGE + len as u64 > PAGE {
        return false;
    }
    ipc::write_short_pa(dpa, &w, len);
    let t = &mut k.tasks[cur];
    t.call = PendingCall {
        msg: 0,
        len,
        reply: 0,
        reply_cap: SHORT_MAX,
        reply_pa: 0,
        accept: None,
        xfer: None,
        badge,
        short: true,
    };
    hand_over(k, cur, r, id, len, badge);
    true
}

/// `IpcReplyRecvShort` when it can complete the common way: no deadline,
/// the reply (if any) for a live `IpcCallShort` caller, the receive buffer
/// the one that validated last time, and nothing waiting on the endpoint
/// (no notice, death, queued caller or notification), so the server
/// blocks. Every check of `ipc_reply` and `ipc_recv` is made before
/// anything changes; returns false, having changed nothing, otherwise.
///
/// `IpcReplyRecv` (`short` false) likewise, for a reply of at most 64
/// bytes to a memory caller whose reply buffer holds it within its first
/// page, both ends 8-byte aligned and the reply's page in the translation
/// cache.
#[inline(always)]
fn reply_recv_fast(k: &mut Kernel, cur: usize, short: bool) -> bool {
    let f = &k.tasks[cur].frame;
    let (slot, deadline) = (f.a(0), f.a(6));
    let (len, src, token, buf, cap) = if short {
        let w = [f.a(2), f.a(3), f.a(4), f.a(5)];
        (f.a(1), Src::Regs(w), f.regs[5], f.regs[6], f.regs[7])
    } else {
        (f.a(5), Src::Mem(f.a(4)), f.a(3), f.a(1), f.a(2))
    };
    if deadline != 0 || len > if short { SHORT_MAX as u64 } else { 64 } {
        return false;
    }
    let len = len as usize;
    let Some((id, _)) = k.tasks[cur].caps.endpoint(slot, rights::RECV) else {
        return false;
    };
    let Some((cap, accept)) = split_accept(cap) else {
        return false;
    };
    let cap = cap.min(MSG_MAX);
    if k.tasks[cur].recv_ok != (buf, cap) {
        return false;
    }
    let Some(Some(e)) = k.endpoints.get(id as usize) else {
        return false;
    };
    if e.receiver.is_some()
        || !e.notices.is_empty()
        || e.deaths > 0
        || !e.senders.is_empty()
        || e.notify_posts != 0
    {
        return false;
    }
    let caller = if token != 0 {
        let Some((ci, generation, seq)) = neuron_core::ipc::split_reply_token(token) else {
            return false;
        };
        let Some(c) = k.tasks.get(ci) else {
            return false;
        };
        // `matches!`, not `!=`: the derived comparison is a call.
        let waits = matches!(c.state, State::AwaitReply { server } if server as usize == cur);
        if c.generation & 0xff_ffff != generation || c.call_seq != seq || !waits {
            return false;
        }
        // The reply's copy, checked here, made below.
        let copy = match (src, c.call.short) {
            (Src::Regs(w), true) => Reply::Regs(nexus_abi::short_mask(w, len)),
            (Src::Mem(msg), false) => {
                let call = &c.call;
                let dpa = call.reply_pa;
                if len > call.reply_cap
                    || dpa == 0
                    || call.reply % PAGE + len as u64 > PAGE
                    || msg % PAGE + len as u64 > PAGE
                {
                    return false;
                }
                if len == 0 {
                    Reply::Mem(0, 0)
                } else {
                    let Some(spa) = src_pa(k, cur, msg) else {
                        return false;
                    };
                    if (spa | dpa) % 8 != 0 {
                        return false;
                    }
                    Reply::Mem(dpa, spa)
                }
            }
            _ => return false,
        };
        Some((ci, copy))
    } else {
        None
    };
    if let Some((ci, copy)) = caller {
        let c = &mut k.tasks[ci];
        c.frame.set_a(0, 0);
        c.frame.set_a(1, len as u64);
        match copy {
            Reply::Regs(w) => {
                for (i, x) in w.iter().enumerate() {
                    c.frame.set_a(2 + i, *x);
                }
            }
            Reply::Mem(dpa, spa) => {
                c.frame.set_a(2, NO_SLOT);
                if len > 0 {
                    k.mem.copy_aligned(dpa, spa, len);
                }
            }
        }
        let c = &mut k.tasks[ci];
        c.state = State::Ready;
        c.deadline = 0;
        k.hint = Some(ci);
    }
    let t = &mut k.tasks[cur];
    t.recv = (buf, cap);
    t.recv_pa = t.recv_ok_pa;
    t.recv_accept = accept;
    t.state = State::Receiving { ep: id };
    t.deadline = 0;
    if let Some(Some(e)) = k.endpoints.get_mut(id as usize) {
        e.server = Some(cur as u8);
        e.orphaned = false;
        e.receiver = Some(cur as u8);
    }
    true
}

/// Writes the results of a syscall that completed now.
#[inline(always)]
fn finish(k: &mut Kernel, cur: usize, out: Outcome) {
    if let Outcome::Now(r) = out {
        let f = &mut k.tasks[cur].frame;
        match r {
            Ok(v) => {
                f.set_a(0, 0);
                for (i, x) in v.iter().enumerate() {
                    f.set_a(i + 1, *x);
                }
            }
            Err(e) => f.set_a(0, e.to_reg()),
        }
    }
}

/// The two IPC syscalls of every round trip, each in a function of its own
/// (so neither pays for the general dispatch's frame).
#[inline(never)]
fn ipc_call_sys(k: &mut Kernel, cur: usize) {
    let f = &k.tasks[cur].frame;
    let a = [f.a(0), f.a(1), f.a(2), f.a(3), f.a(4), f.a(5), f.a(6)];
    let out = ipc_call(k, cur, a);
    finish(k, cur, out);
}

#[inline(never)]
fn ipc_reply_recv_sys(k: &mut Kernel, cur: usize) {
    let f = &k.tasks[cur].frame;
    let a = [f.a(0), f.a(1), f.a(2), f.a(3), f.a(4), f.a(5), f.a(6)];
    let out = reply_recv(k, cur, a);
    finish(k, cur, out);
}

/// The register forms (`IpcCallShort`, `IpcReplyRecvShort`): the message
/// is `a1` bytes in `a2`..`a5`, so nothing of it is validated, translated
/// or copied from user memory.
#[inline(never)]
fn ipc_call_short_sys(k: &mut Kernel, cur: usize) {
    let f = &k.tasks[cur].frame;
    let (slot, len, deadline) = (f.a(0), f.a(1), f.a(6));
    let out = ipc_call_short(k, cur, slot, len, deadline);
    finish(k, cur, out);
}

#[inline(never)]
fn ipc_reply_recv_short_sys(k: &mut Kernel, cur: usize) {
    let f = &k.tasks[cur].frame;
    let (slot, len, deadline) = (f.a(0), f.a(1), f.a(6));
    let w = [f.a(2), f.a(3), f.a(4), f.a(5)];
    // t0 token, t1 receive buffer, t2 its capacity | offered slot.
    let (token, buf, cap) = (f.regs[5], f.regs[6], f.regs[7]);
    let out = if token != 0 {
        match ipc_reply(k, cur, token, Src::Regs(w), len, NO_SLOT) {
            Ok(()) | Err(Error::PeerDead) => ipc_recv(k, cur, slot, buf, cap, deadline),
            Err(e) => Outcome::Now(Err(e)),
        }
    } else {
        ipc_recv(k, cur, slot, buf, cap, deadline)
    };
    finish(k, cur, out);
}

#[inline(always)]
fn reply_recv(k: &mut Kernel, cur: usize, a: [u64; 7]) -> Outcome {
    if a[3] != 0 {
        match ipc_reply(k, cur, a[3], Src::Mem(a[4]), a[5], NO_SLOT) {
            Ok(()) | Err(Error::PeerDead) => ipc_recv(k, cur, a[0], a[1], a[2], a[6]),
            Err(e) => Outcome::Now(Err(e)),
        }
    } else {
        ipc_recv(k, cur, a[0], a[1], a[2], a[6])
    }
}

#[inline(never)]
fn dispatch_general(k: &mut Kernel, cur: usize) {
    let f = &k.tasks[cur].frame;
    let a = [f.a(0), f.a(1), f.a(2), f.a(3), f.a(4), f.a(5), f.a(6)];
    let nr = f.regs[17];
    let out = match Sysno::try_from(nr) {
        Err(_) => Outcome::Now(Err(Error::InvalidSyscall)),
        Ok(s) => match s {
            Sysno::Yield => {
                k.hint = None;
                Outcome::Now(Ok([0; 4]))
            }
            Sysno::Exit => {
                ipc::kill(k, cur, DeathKind::Exited, a[0], 0, 0);
                Outcome::Blocked
            }
            Sysno::ConsoleWrite => Outcome::Now(console_write(k, cur, a[0], a[1])),
            Sysno::TimeNow => Outcome::Now(Ok([k.now_ns(), 0, 0, 0])),
            Sysno::SleepUntil => sleep_until(k, cur, a[0]),
            Sysno::IpcCall => ipc_call(k, cur, a),
            Sysno::IpcRecv => ipc_recv(k, cur, a[0], a[1], a[2], a[6]),
            Sysno::IpcReply => {
                Outcome::Now(ipc_reply(k, cur, a[0], Src::Mem(a[1]), a[2], a[3]).map(|_| [0; 4]))
            }
            Sysno::IpcReplyRecv => reply_recv(k, cur, a),
            Sysno::CapInfo => Outcome::Now(cap_info(k, cur, a[0])),
            Sysno::CapDrop => Outcome::Now(cap_drop(k, cur, a[0])),
            Sysno::MemCreate => Outcome::Now(mem_create(k, cur, a[0], a[1])),
            Sysno::MemMap => Outcome::Now(mem_map(k, cur, a[0], a[1])),
            Sysno::MemUnmap => Outcome::Now(mem_unmap(k, cur, a[0])),
            Sysno::CapCopy => Outcome::Now(cap_copy(k, cur, a[0], a[1])),
            Sysno::MemBudget => Outcome::Now(mem_budget(k, cur, a[0], a[1])),
            Sysno::MmioMap => Outcome::Now(mmio_map(k, cur, a[0])),
            Sysno::DmaAlloc => Outcome::Now(dma_alloc(k, cur, a[0], a[1])),
            Sysno::VirtToPhys => Outcome::Now(virt_to_phys(k, cur, a[0])),
            Sysno::IrqWait => irq_wait(k, cur, a[0], a[1]),
            Sysno::IrqAck => Outcome::Now(irq_ack(k, cur, a[0])),
            Sysno::IrqBind => Outcome::Now(irq_bind(k, cur, a[0], a[1])),
            Sysno::Kill => Outcome::Now(kill_task(k, cur, a[0], a[1])),
            Sysno::Spawn => Outcome::Now(spawn(k, cur, a)),
            Sysno::EndpointCreate => Outcome::Now(endpoint_create(k, cur, a[0])),
            Sysno::BootArgs => Outcome::Now(boot_args(k, cur, a[0], a[1], a[2])),
            Sysno::ConsoleRead => console_read(k, cur, a[0], a[1], a[2], a[3]),
            Sysno::Notify => Outcome::Now(notify(k, cur, a[0])),
            Sysno::ConsoleLevel => Outcome::Now(console_level(k, cur, a[0], a[1])),
            // Handled by `dispatch`; here only for completeness.
            Sysno::IpcCallShort => ipc_call_short(k, cur, a[0], a[1], a[6]),
            Sysno::IpcReplyRecvShort => {
                ipc_reply_recv_short_sys(k, cur);
                return;
            }
        },
    };
    finish(k, cur, out);
}

/// `ConsoleWrite`: the kernel prefixes every line with the writing task's
/// name (see `console::write_task`; the console-input holder may also send
/// backspace and escape sequences), and bounds each task's output with a
/// byte budget that refills over time; beyond it the bytes are dropped
/// (`NoResources`) and the kernel says so once.
#[inline(never)]
fn console_write(k: &mut Kernel, cur: usize, va: u64, len: u64) -> Done {
    let len = usize::try_from(len).map_err(|_| Error::InvalidArgument)?;
    if len > CONSOLE_MAX {
        return Err(Error::InvalidArgument);
    }
    let mut buf = [0u8; CONSOLE_MAX];
    copy_in(k, cur, va, &mut buf[..len])?;
    let now = arch::now_ticks();
    let per_sec = k.ns_to_ticks(1_000_000_000).max(1);
    let t = &mut k.tasks[cur];
    let earned = (now.saturating_sub(t.console_at) as u128 * CONSOLE_PER_SEC as u128
        / per_sec as u128) as u64;
    if earned > 0 {
        t.console_left = (t.console_left as u64 + earned).min(CONSOLE_BURST as u64) as u32;
        t.console_at = now;
    }
    if (t.console_left as usize) < len {
        if !t.console_muted {
            t.console_muted = true;
            crate::kprintln!(
                "neuron: task {} ({}) console budget spent; output dropped",
                cur,
                t.name()
            );
        }
        return Err(Error::NoResources);
    }
    t.console_left -= len as u32;
    t.console_muted = false;
    let id = neuron_core::ipc::task_id(cur, t.generation);
    // The holder of the console-input capability (the shell) edits its
    // input line on the terminal: its backspaces and escape sequences pass.
    let terminal = t
        .caps
        .iter()
        .any(|(_, c)| c.kind() == nexus_abi::CapKind::ConsoleInput);
    console::write_task(t.name(), id, &buf[..len], terminal);
    Ok([len as u64, 0, 0, 0])
}

#[inline(never)]
fn sleep_until(k: &mut Kernel, cur: usize, deadline_ns: u64) -> Outcome {
    let deadline = k.deadline_ticks(deadline_ns);
    if deadline == 0 || deadline <= arch::now_ticks() {
        return Outcome::Now(Ok([0; 4]));
    }
    let t = &mut k.tasks[cur];
    t.state = State::Sleeping;
    t.deadline = deadline;
    k.note_deadline(deadline);
    Outcome::Blocked
}

fn endpoint_of(k: &Kernel, cur: usize, slot: u64, need: u32) -> Result<(u16, u64), Error> {
    match k.tasks[cur]
        .caps
        .get_checked(slot, CapKind::Endpoint, need)?
    {
        Cap::Endpoint { id, badge, .. } => Ok((id, badge)),
        _ => Err(Error::WrongCapability),
    }
}

/// Validates the arguments of `IpcCall` (all but the message, which is
/// checked when it is copied or queued): the endpoint and the call it is
/// to carry.
#[inline(always)]
fn call_args(k: &mut Kernel, cur: usize, a: [u64; 7]) -> Result<(u16, PendingCall), Error> {
    let (ep, badge) = endpoint_of(k, cur, a[0], rights::SEND)?;
    let len = usize::try_from(a[2]).map_err(|_| Error::TooLarge)?;
    let (reply_cap, accept) = split_accept(a[4]).ok_or(Error::InvalidArgument)?;
    let reply_cap = reply_cap.min(MSG_MAX);
    if len > MSG_MAX {
        return Err(Error::TooLarge);
    }
    // The message is validated by `deliver` (immediate case) or before
    // queueing; the reply buffer is validated now so a bad one fails before
    // anything is sent.
    if k.tasks[cur].reply_ok != (a[3], reply_cap) {
        check_range(k, cur, a[3], reply_cap, true)?;
        k.tasks[cur].reply_ok = (a[3], reply_cap);
        k.tasks[cur].reply_ok_pa = start_pa(k, cur, a[3], reply_cap);
    }
    let xfer = if a[5] == NO_SLOT {
        None
    } else {
        Some(transferable_slot(k, cur, a[5])?)
    };
    Ok((
        ep,
        PendingCall {
            msg: a[1],
            len,
            reply: a[3],
            reply_cap,
            reply_pa: k.tasks[cur].reply_ok_pa,
            accept,
            xfer,
            badge,
            short: false,
        },
    ))
}

/// The physical address of `va`, the start of a buffer of `len` bytes that
/// just validated for writing in task `cur` (0 for an empty buffer). User
/// mappings stay while the task lives, so it stays right as long as the
/// validation is cached (`recv_ok`, `reply_ok`).
#[inline(never)]
fn start_pa(k: &Kernel, cur: usize, va: u64, len: usize) -> u64 {
    if len == 0 {
        return 0;
    }
    k.mem.user_pa(k.tasks[cur].root, va, true).unwrap_or(0)
}

/// Slot `slot` of task `cur` holds a capability that may be transferred.
#[inline(never)]
fn transferable_slot(k: &Kernel, cur: usize, slot: u64) -> Result<u32, Error> {
    let cap = k.tasks[cur].caps.get(slot)?;
    if !cap.transferable() {
        return Err(Error::NoRights);
    }
    Ok(slot as u32)
}

/// `IpcCall(ep, msg, len, reply, reply_cap, xfer_slot, deadline)`.
#[inline(always)]
fn ipc_call(k: &mut Kernel, cur: usize, a: [u64; 7]) -> Outcome {
    let (ep, call) = match call_args(k, cur, a) {
        Ok(v) => v,
        Err(e) => return Outcome::Now(Err(e)),
    };
    send_call(k, cur, ep, call, a[6])
}

/// `IpcCallShort(ep, len, w0..w3, deadline)`: `IpcCall` with the message in
/// the caller's registers and the reply returned there. No capability
/// crosses (nothing is offered for the reply, none is sent).
#[inline(always)]
fn ipc_call_short(k: &mut Kernel, cur: usize, slot: u64, len: u64, deadline_ns: u64) -> Outcome {
    let (ep, badge) = match endpoint_of(k, cur, slot, rights::SEND) {
        Ok(v) => v,
        Err(e) => return Outcome::Now(Err(e)),
    };
    if len > SHORT_MAX as u64 {
        return Outcome::Now(Err(Error::TooLarge));
    }
    let call = PendingCall {
        msg: 0,
        len: len as usize,
        reply: 0,
        reply_cap: SHORT_MAX,
        reply_pa: 0,
        accept: None,
        xfer: None,
        badge,
        short: true,
    };
    send_call(k, cur, ep, call, deadline_ns)
}

/// The common half of `IpcCall` and `IpcCallShort`, once the call is
/// checked: delivers it to a waiting receiver or queues it.
#[inline(always)]
fn send_call(k: &mut Kernel, cur: usize, ep: u16, call: PendingCall, deadline_ns: u64) -> Outcome {
    let deadline = k.deadline_ticks(deadline_ns);
    // A call whose deadline has passed is never delivered.
    if passed(deadline) {
        return Outcome::Now(Err(Error::TimedOut));
    }
    let t = &mut k.tasks[cur];
    t.call = call;
    t.call_seq = t.call_seq.wrapping_add(1).max(1);
    let Some(e) = k.endpoints[ep as usize].as_mut() else {
        return Outcome::Now(Err(Error::NoCapability));
    };
    if e.orphaned && e.receiver.is_none() {
        // Its server died and none has received since.
        return Outcome::Now(Err(Error::PeerDead));
    }
    if let Some(r) = e.receiver {
        match deliver(k, cur, r as usize) {
            Ok(()) => {
                if let Some(e) = k.endpoints[ep as usize].as_mut() {
                    e.receiver = None;
                }
                k.tasks[cur].state = State::AwaitReply { server: r };
                k.tasks[cur].deadline = deadline;
                k.note_deadline(deadline);
                k.hint = Some(r as usize);
                Outcome::Blocked
            }
            Err(err) => Outcome::Now(Err(err)),
        }
    } else {
        queue_call(k, cur, ep, deadline)
    }
}

/// No receiver waits: the caller queues on `ep` (its message validated
/// first).
#[inline(never)]
fn queue_call(k: &mut Kernel, cur: usize, ep: u16, deadline: u64) -> Outcome {
    let call = k.tasks[cur].call;
    if !call.short {
        if let Err(err) = check_range(k, cur, call.msg, call.len, false) {
            return Outcome::Now(Err(err));
        }
    }
    let Some(e) = k.endpoints[ep as usize].as_mut() else {
        return Outcome::Now(Err(Error::NoCapability));
    };
    if e.senders.push(cur as u8).is_err() {
        return Outcome::Now(Err(Error::NoResources));
    }
    k.tasks[cur].state = State::Sending { ep };
    k.tasks[cur].deadline = deadline;
    k.note_deadline(deadline);
    Outcome::Blocked
}

/// Delivers the oldest queued caller of `ep` that can be delivered to
/// `cur` (about to receive); callers past their deadline or failing
/// delivery are woken with the error. Returns whether one was delivered.
#[inline(never)]
fn recv_queued(k: &mut Kernel, cur: usize, ep: u16) -> bool {
    while let Some(sender) = k.endpoints[ep as usize]
        .as_mut()
        .and_then(|e| e.senders.pop())
    {
        let s = sender as usize;
        if passed(k.tasks[s].deadline) {
            // Its deadline passed while it queued: never delivered.
            k.wake_with(s, Error::TimedOut);
            continue;
        }
        match deliver(k, s, cur) {
            Ok(()) => {
                let t = &mut k.tasks[s];
                t.state = State::AwaitReply { server: cur as u8 };
                return true;
            }
            Err(err) => k.wake_with(s, err),
        }
    }
    false
}

/// `IpcRecv(ep, buf, cap, .., deadline)`.
#[inline(always)]
fn ipc_recv(
    k: &mut Kernel,
    cur: usize,
    slot: u64,
    buf: u64,
    cap: u64,
    deadline_ns: u64,
) -> Outcome {
    let (ep, _) = match endpoint_of(k, cur, slot, rights::RECV) {
        Ok(v) => v,
        Err(e) => return Outcome::Now(Err(e)),
    };
    let (cap, accept) = match split_accept(cap) {
        Some((c, a)) => (c.min(MSG_MAX), a),
        None => return Outcome::Now(Err(Error::InvalidArgument)),
    };
    // User mappings are never removed while a task lives, so a buffer that
    // validated once stays valid: servers re-arm the same buffer each time.
    if k.tasks[cur].recv_ok != (buf, cap) {
        if let Err(e) = check_range(k, cur, buf, cap, true) {
            return Outcome::Now(Err(e));
        }
        k.tasks[cur].recv_ok = (buf, cap);
        k.tasks[cur].recv_ok_pa = start_pa(k, cur, buf, cap);
    }
    let Some(e) = k.endpoints[ep as usize].as_ref() else {
        return Outcome::Now(Err(Error::NoCapability));
    };
    if e.receiver.is_some_and(|r| r as usize != cur) {
        return Outcome::Now(Err(Error::Busy));
    }
    k.tasks[cur].recv = (buf, cap);
    k.tasks[cur].recv_pa = k.tasks[cur].recv_ok_pa;
    k.tasks[cur].recv_accept = accept;
    if let Some(e) = k.endpoints[ep as usize].as_mut() {
        e.server = Some(cur as u8);
        e.orphaned = false;
    }
    if ipc::try_deliver_notice(k, cur, ep) {
        return Outcome::Blocked; // results already written
    }
    // Queued callers, then a pending notification (after every queued
    // caller: however often a holder of NOTIFY posts, callers are never
    // starved). One look at the endpoint when neither is there.
    if k.endpoints[ep as usize]
        .as_ref()
        .is_some_and(|e| !e.senders.is_empty() || e.notify_posts != 0)
        && (recv_queued(k, cur, ep) || ipc::try_deliver_notify(k, cur, ep))
    {
        return Outcome::Blocked; // results already written
    }
    let deadline = k.deadline_ticks(deadline_ns);
    if passed(deadline) {
        return Outcome::Now(Err(Error::TimedOut));
    }
    if let Some(e) = k.endpoints[ep as usize].as_mut() {
        e.receiver = Some(cur as u8);
    }
    let t = &mut k.tasks[cur];
    t.state = State::Receiving { ep };
    t.deadline = deadline;
    k.note_deadline(deadline);
    Outcome::Blocked
}

/// `Notify(ep slot)`: posts a notification on an endpoint the caller holds
/// with NOTIFY. It never blocks and carries no data: the posts since the
/// last delivery are one pending notice (a counter, saturating), given to
/// the receiver after its queued callers; a receiver waiting now gets it at
/// once and runs next.
#[inline(never)]
fn notify(k: &mut Kernel, cur: usize, slot: u64) -> Done {
    let (ep, _) = endpoint_of(k, cur, slot, rights::NOTIFY)?;
    let Some(e) = k.endpoints[ep as usize].as_mut() else {
        return Err(Error::NoCapability);
    };
    e.notify_posts = e.notify_posts.saturating_add(1);
    if let Some(r) = e.receiver {
        if ipc::try_deliver_notify(k, r as usize, ep) {
            k.hint = Some(r as usize);
        }
    }
    Ok([0; 4])
}

/// `ipc_reply`'s copy for a reply that transfers the capability in slot
/// `xfer`: checked (and the offered slot found) before anything moves.
/// Returns the slot it landed in.
#[inline(never)]
fn reply_with_cap(
    k: &mut Kernel,
    cur: usize,
    ci: usize,
    msg: u64,
    len: usize,
    xfer: u64,
) -> Result<u64, Error> {
    let call = k.tasks[ci].call;
    let cap = k.tasks[cur].caps.get(xfer)?;
    if !cap.transferable() {
        return Err(Error::NoRights);
    }
    if len > call.reply_cap {
        k.wake_with(ci, Error::TooLarge);
        return Err(Error::TooLarge);
    }
    let at = match offered_slot(&k.tasks[ci].caps, call.accept) {
        Ok(at) => at,
        Err(e) => {
            k.wake_with(ci, e);
            return Err(e);
        }
    };
    copy_task(k, cur, msg, ci, call.reply, len)?;
    k.tasks[ci].caps.insert_at(at as u64, cap)?;
    Ok(at as u64)
}

/// How `reply_recv_fast` delivers a checked reply: into the caller's
/// registers, or copied from physical `.1` to `.0`.
#[derive(Copy, Clone)]
enum Reply {
    Regs(ShortWords),
    Mem(u64, u64),
}

/// Where a reply's bytes are: the replier's memory, or its registers
/// (`IpcReplyRecvShort`).
#[derive(Copy, Clone)]
enum Src {
    Mem(u64),
    Regs(ShortWords),
}

/// `IpcReply(token, msg, len, xfer_slot)`.
#[inline(always)]
fn ipc_reply(
    k: &mut Kernel,
    cur: usize,
    token: u64,
    src: Src,
    len: u64,
    xfer: u64,
) -> Result<(), Error> {
    let (ci, generation, seq) =
        neuron_core::ipc::split_reply_token(token).ok_or(Error::InvalidArgument)?;
    let c = &k.tasks[ci];
    if c.generation & 0xff_ffff != generation
        || c.call_seq != seq
        || c.state != (State::AwaitReply { server: cur as u8 })
    {
        return Err(Error::PeerDead);
    }
    let len = usize::try_from(len).map_err(|_| Error::TooLarge)?;
    if len > MSG_MAX || (matches!(src, Src::Regs(_)) && len > SHORT_MAX) {
        // The caller keeps waiting: the replier may answer again.
        return Err(Error::TooLarge);
    }
    let call = k.tasks[ci].call;
    if call.short {
        return reply_short(k, cur, ci, src, len, xfer);
    }
    let slot = if xfer == NO_SLOT {
        if len > call.reply_cap {
            k.wake_with(ci, Error::TooLarge);
            return Err(Error::TooLarge);
        }
        match src {
            Src::Mem(msg) => copy_task_to(k, cur, msg, ci, call.reply, call.reply_pa, len)?,
            Src::Regs(w) => ipc::write_short(k, ci, call.reply, call.reply_pa, &w, len)?,
        }
        NO_SLOT
    } else {
        let Src::Mem(msg) = src else {
            // The register form carries no capability.
            return Err(Error::InvalidArgument);
        };
        reply_with_cap(k, cur, ci, msg, len, xfer)?
    };
    let t = &mut k.tasks[ci];
    t.frame.set_a(0, 0);
    t.frame.set_a(1, len as u64);
    t.frame.set_a(2, slot);
    t.state = State::Ready;
    t.deadline = 0;
    k.hint = Some(ci);
    Ok(())
}

/// `ipc_reply` to a caller that used `IpcCallShort` (the token already
/// checked): the reply, at most `SHORT_MAX` bytes, goes to the caller's
/// `a2`..`a5`, bytes past its length cleared. A capability cannot go with
/// it (the caller offered no slot): `NoSlots`, as for any caller that
/// offered none; a longer reply is `TooLarge`; both for both sides.
#[inline(always)]
fn reply_short(
    k: &mut Kernel,
    cur: usize,
    ci: usize,
    src: Src,
    len: usize,
    xfer: u64,
) -> Result<(), Error> {
    if xfer != NO_SLOT {
        // As `reply_with_cap`: the cap is checked first, then the size,
        // then the (missing) offer.
        let cap = k.tasks[cur].caps.get(xfer)?;
        if !cap.transferable() {
            return Err(Error::NoRights);
        }
        let e = if len > SHORT_MAX {
            Error::TooLarge
        } else {
            Error::NoSlots
        };
        k.wake_with(ci, e);
        return Err(e);
    }
    if len > SHORT_MAX {
        k.wake_with(ci, Error::TooLarge);
        return Err(Error::TooLarge);
    }
    let w = match src {
        Src::Regs(w) => nexus_abi::short_mask(w, len),
        Src::Mem(msg) => {
            let mut b = [0u8; SHORT_MAX];
            copy_in(k, cur, msg, &mut b[..len])?;
            nexus_abi::short_pack(&b[..len])
        }
    };
    let t = &mut k.tasks[ci];
    t.frame.set_a(0, 0);
    t.frame.set_a(1, len as u64);
    for (i, x) in w.iter().enumerate() {
        t.frame.set_a(2 + i, *x);
    }
    t.state = State::Ready;
    t.deadline = 0;
    k.hint = Some(ci);
    Ok(())
}

#[inline(never)]
fn cap_info(k: &Kernel, cur: usize, slot: u64) -> Done {
    let cap = k.tasks[cur].caps.get(slot)?;
    let (x, y) = match cap {
        Cap::InitControl => (0, 0),
        Cap::Endpoint { id, badge, .. } => (badge, id as u64),
        Cap::Mmio { base, len, irq, .. } => (base, len | (irq as u64) << 48),
        Cap::Dma { pages, pool, .. } => (pages as u64, pool as u64),
        Cap::ConsoleInput { .. } => (0, 0),
        Cap::Memory { pages, obj, .. } => (pages as u64, obj as u64),
        Cap::MemBudget { pages, budget, .. } => {
            let used = SHM.lock().budgets.get(budget).map_or(0, |b| b.used);
            (pages as u64, used as u64)
        }
    };
    Ok([cap.kind() as u64, cap.rights() as u64, x, y])
}

/// `CapDrop(slot)`: a memory capability's object is freed when nothing
/// else names it.
#[inline(never)]
fn cap_drop(k: &mut Kernel, cur: usize, slot: u64) -> Done {
    if let Cap::Memory { obj, .. } = k.tasks[cur].caps.remove(slot)? {
        k.mem_reap(&mut SHM.lock(), obj);
    }
    Ok([0; 4])
}

/// `CapCopy(slot, mask)`: a copy in the first free slot with rights
/// reduced to `mask` (never more than held; init-control never copies).
#[inline(never)]
fn cap_copy(k: &mut Kernel, cur: usize, slot: u64, mask: u64) -> Done {
    let cap = k.tasks[cur].caps.get(slot)?;
    let mask = u32::try_from(mask).map_err(|_| Error::InvalidArgument)?;
    let copy = cap.derive(mask, 0)?;
    let at = k.tasks[cur].caps.insert(copy)?;
    Ok([at as u64, 0, 0, 0])
}

/// `MemCreate(dma or budget slot, pages)`: a shared-memory object of
/// zeroed pages charged to the DMA capability's pool, or to the budget of a
/// memory-budget capability and the pool it was carved from, until the
/// object is freed; the new capability (`MAP | WRITE | GRANT`) goes to the
/// first free slot. All or nothing.
#[inline(never)]
fn mem_create(k: &mut Kernel, cur: usize, slot: u64, pages: u64) -> Done {
    let mut sh = SHM.lock();
    let (pool, budget) = match k.tasks[cur].caps.get(slot)? {
        Cap::Dma { pool, .. } => (pool, shm::NO_BUDGET),
        Cap::MemBudget { budget, .. } => {
            let b = sh.budgets.get(budget).ok_or(Error::WrongCapability)?;
            (b.pool, budget)
        }
        _ => return Err(Error::WrongCapability),
    };
    let pages = shm::check_pages(pages)?;
    let at = k.tasks[cur].caps.free_slot().ok_or(Error::NoSlots)?;
    if !sh.objs.has_room() {
        return Err(Error::NoResources);
    }
    if budget != shm::NO_BUDGET {
        sh.budgets.check(budget, pages)?;
    }
    k.dma_pools
        .check(pool as usize, pages as u64)
        .map_err(|e| match e {
            DmaError::BadPool => Error::WrongCapability,
            DmaError::Exhausted => Error::NoMemory,
        })?;
    let pa = k
        .mem
        .frames
        .alloc_contiguous(pages as usize)
        .ok_or(Error::NoMemory)?;
    k.mem.zero(pa, pages as usize);
    // Each step below was checked above, and nothing else ran since.
    let o = shm::Object {
        pa,
        pages,
        pool,
        budget,
    };
    let Shm { objs, budgets, .. } = &mut *sh;
    let obj = shm::insert_charged(objs, budgets, o)?;
    let _ = k.dma_pools.charge_object(pool as usize, pages as u64);
    let cap = Cap::Memory {
        obj,
        pages,
        rights: rights::MAP | rights::WRITE | rights::GRANT,
    };
    let _ = k.tasks[cur].caps.insert_at(at as u64, cap);
    Ok([at as u64, 0, 0, 0])
}

/// `MemBudget(dma slot, pages)`: a shared-memory budget of `pages` carved
/// from the DMA capability's pool; the new capability (`GRANT`) goes to
/// the first free slot. Nothing is charged until `MemCreate` uses it.
#[inline(never)]
fn mem_budget(k: &mut Kernel, cur: usize, slot: u64, pages: u64) -> Done {
    let Cap::Dma { pool, .. } = k.tasks[cur].caps.get_checked(slot, CapKind::Dma, 0)? else {
        return Err(Error::WrongCapability);
    };
    let pages = shm::check_budget_pages(pages)?;
    let at = k.tasks[cur].caps.free_slot().ok_or(Error::NoSlots)?;
    let mut sh = SHM.lock();
    let tasks = &k.tasks;
    let named = |id| tasks.iter().any(|t| t.caps.holds_budget(id));
    let budget = sh.budgets.create(pages, pool, named)?;
    let cap = Cap::MemBudget {
        budget,
        pages,
        rights: rights::GRANT,
    };
    let _ = k.tasks[cur].caps.insert_at(at as u64, cap);
    Ok([at as u64, 0, 0, 0])
}

/// `MemMap(memory slot, mode)`: maps the whole object at a kernel-chosen
/// address, readable (mode 0, needs `MAP`) or also writable
/// (`MEM_MAP_WRITE`, needs `MAP | WRITE`); never executable. One mapping
/// per object and task. The leaves are not `OWNED`: the object, not the
/// address space, frees the frames.
#[inline(never)]
fn mem_map(k: &mut Kernel, cur: usize, slot: u64, mode: u64) -> Done {
    let Cap::Memory { obj, rights: r, .. } =
        k.tasks[cur].caps.get_checked(slot, CapKind::Memory, 0)?
    else {
        return Err(Error::WrongCapability);
    };
    let write = shm::map_access(r, mode)?;
    // A capability names a live object (objects outlive their capabilities).
    let mut sh = SHM.lock();
    let o = sh.objs.get(obj).ok_or(Error::NoCapability)?;
    let at = sh.maps[cur].free_for(obj)?;
    let pages = o.pages as u64;
    // A fixed slot per mapping, free again after `MemUnmap` (which flushed
    // every translation of it), so the address range is never used up.
    let va = shm::TaskMaps::slot_va(at);
    let root = k.tasks[cur].root;
    let f = flags::U | flags::R | if write { flags::W } else { 0 };
    if pagetable::map_range(&mut k.mem, root, va, o.pa, pages, f).is_err() {
        k.mem.forget_root(root);
        k.tasks[cur].forget_mappings();
        return Err(Error::NoMemory);
    }
    sh.maps[cur].set(
        at,
        shm::Mapping {
            obj,
            va,
            pages: o.pages,
        },
    );
    Ok([va, pages, 0, 0])
}

/// `MemUnmap(va)`: removes the caller's mapping that starts at `va`; every
/// cached translation of the task goes with it (software and hardware), and
/// the object is freed when nothing else names it.
#[inline(never)]
fn mem_unmap(k: &mut Kernel, cur: usize, va: u64) -> Done {
    let mut sh = SHM.lock();
    let m = sh.maps[cur].take(va)?;
    let root = k.tasks[cur].root;
    for i in 0..m.pages as u64 {
        pagetable::unmap(&mut k.mem, root, m.va + i * PAGE);
    }
    k.mem.forget_root(root);
    k.tasks[cur].forget_mappings();
    arch::flush_tlb();
    k.mem_reap(&mut sh, m.obj);
    Ok([0; 4])
}

/// Reserves `pages` of the caller's kernel-chosen mapping window.
fn take_va(k: &mut Kernel, cur: usize, pages: u64) -> Result<u64, Error> {
    let t = &mut k.tasks[cur];
    let va = t.map_next;
    let span = pages.checked_mul(PAGE).ok_or(Error::NoMemory)?;
    let end = va.checked_add(span).ok_or(Error::NoMemory)?;
    if end > MAP_END {
        return Err(Error::NoMemory);
    }
    t.map_next = end;
    Ok(va)
}

#[inline(never)]
fn mmio_map(k: &mut Kernel, cur: usize, slot: u64) -> Done {
    let Cap::Mmio { base, len, .. } =
        k.tasks[cur]
            .caps
            .get_checked(slot, CapKind::Mmio, rights::MAP)?
    else {
        return Err(Error::WrongCapability);
    };
    // One mapping per device window and task: a repeat returns it.
    let maps = &k.tasks[cur].mmio_maps;
    if let Some(&(_, va)) = maps.iter().find(|&&(b, va)| va != 0 && b == base) {
        return Ok([va, 0, 0, 0]);
    }
    let free = maps
        .iter()
        .position(|&(_, va)| va == 0)
        .ok_or(Error::NoResources)?;
    let pages = len.div_ceil(PAGE);
    let va = take_va(k, cur, pages)?;
    let root = k.tasks[cur].root;
    let f = flags::U | flags::R | flags::W | flags::DEVICE;
    if pagetable::map_range(&mut k.mem, root, va, base, pages, f).is_err() {
        k.tasks[cur].map_next = va;
        return Err(Error::NoMemory);
    }
    k.tasks[cur].mmio_maps[free] = (base, va);
    Ok([va, 0, 0, 0])
}

/// `DmaAlloc(dma slot, pages)`: contiguous zeroed pages charged to the
/// capability's pool (shared by every copy of it), all or nothing.
#[inline(never)]
fn dma_alloc(k: &mut Kernel, cur: usize, slot: u64, pages: u64) -> Done {
    let Cap::Dma { pool, .. } = k.tasks[cur].caps.get_checked(slot, CapKind::Dma, 0)? else {
        return Err(Error::WrongCapability);
    };
    let pool = pool as usize;
    if pages == 0 || pages > DMA_MAX_PAGES {
        return Err(Error::InvalidArgument);
    }
    k.dma_pools.check(pool, pages).map_err(|e| match e {
        DmaError::BadPool => Error::WrongCapability,
        DmaError::Exhausted => Error::NoMemory,
    })?;
    let pa = k
        .mem
        .frames
        .alloc_contiguous(pages as usize)
        .ok_or(Error::NoMemory)?;
    let free_all = |k: &mut Kernel| {
        (0..pages).for_each(|i| {
            k.mem.frames.free(pa + i * PAGE);
        })
    };
    k.mem.zero(pa, pages as usize);
    let va = match take_va(k, cur, pages) {
        Ok(va) => va,
        Err(e) => {
            free_all(k);
            return Err(e);
        }
    };
    let root = k.tasks[cur].root;
    let f = flags::U | flags::R | flags::W | flags::DMA;
    if pagetable::map_range(&mut k.mem, root, va, pa, pages, f).is_err() {
        // Nothing stays mapped (map_range undoes its pages); the frames and
        // the window go back.
        k.mem.forget_root(root);
        k.tasks[cur].src_page = 0;
        free_all(k);
        k.tasks[cur].map_next = va;
        return Err(Error::NoMemory);
    }
    // Checked above, and nothing else ran since.
    let _ = k.dma_pools.charge(pool, pages, &mut k.tasks[cur].dma_used);
    Ok([va, pa, 0, 0])
}

/// `VirtToPhys(va)`: only for the caller's `DmaAlloc` memory; the physical
/// address of any other page (code, stack, data) stays the kernel's.
#[inline(never)]
fn virt_to_phys(k: &Kernel, cur: usize, va: u64) -> Done {
    match pagetable::translate(&k.mem, k.tasks[cur].root, va) {
        Some((pa, f)) if f & flags::U != 0 && f & flags::DMA == flags::DMA => Ok([pa, 0, 0, 0]),
        _ => Err(Error::BadAddress),
    }
}

fn irq_of(k: &Kernel, cur: usize, slot: u64) -> Result<u32, Error> {
    let Cap::Mmio { irq, .. } = k.tasks[cur]
        .caps
        .get_checked(slot, CapKind::Mmio, rights::MAP)?
    else {
        return Err(Error::WrongCapability);
    };
    if irq == 0 || irq as usize >= MAX_IRQ {
        return Err(Error::InvalidArgument);
    }
    Ok(irq)
}

#[inline(never)]
fn irq_wait(k: &mut Kernel, cur: usize, slot: u64, deadline_ns: u64) -> Outcome {
    let irq = match irq_of(k, cur, slot) {
        Ok(i) => i,
        Err(e) => return Outcome::Now(Err(e)),
    };
    let line = &mut k.irqs[irq as usize];
    match line.owner {
        Some(o) if o as usize != cur => return Outcome::Now(Err(Error::Busy)),
        Some(_) => {}
        None => {
            *line = IrqLine {
                owner: Some(cur as u8),
                pending: false,
                bound_ep: None,
            };
            plic::set_enabled(irq, true);
        }
    }
    if line.bound_ep.is_some() {
        // Its interrupts arrive as notices on the bound endpoint.
        return Outcome::Now(Err(Error::Busy));
    }
    if line.pending {
        line.pending = false;
        return Outcome::Now(Ok([0; 4]));
    }
    let deadline = k.deadline_ticks(deadline_ns);
    if deadline != 0 && deadline <= arch::now_ticks() {
        return Outcome::Now(Err(Error::TimedOut));
    }
    let t = &mut k.tasks[cur];
    t.state = State::IrqWait { irq };
    t.deadline = deadline;
    k.note_deadline(deadline);
    Outcome::Blocked
}

/// `IrqBind(mmio slot, endpoint slot)`: the line's interrupts become
/// `Interrupt` kernel notices on the endpoint, so one `IpcRecv` loop can
/// serve clients and the device. The caller must own (or take) the line and
/// hold RECV on the endpoint.
#[inline(never)]
fn irq_bind(k: &mut Kernel, cur: usize, slot: u64, ep_slot: u64) -> Done {
    let irq = irq_of(k, cur, slot)?;
    let (ep, _) = endpoint_of(k, cur, ep_slot, rights::RECV)?;
    if k.irqs[irq as usize]
        .owner
        .is_some_and(|o| o as usize != cur)
    {
        return Err(Error::Busy);
    }
    // At most NOTICE_DEPTH lines per endpoint, so its notice queue (one
    // notice per line at a time) can never overflow.
    let bound = k
        .irqs
        .iter()
        .enumerate()
        .filter(|&(n, l)| n != irq as usize && l.bound_ep == Some(ep))
        .count();
    if bound >= NOTICE_DEPTH {
        return Err(Error::NoResources);
    }
    let line = &mut k.irqs[irq as usize];
    let was_pending = line.pending;
    *line = IrqLine {
        owner: Some(cur as u8),
        pending: false,
        bound_ep: Some(ep),
    };
    if was_pending {
        ipc::post_notice(k, ep, crate::kernel::irq_notice(irq));
    } else {
        plic::set_enabled(irq, true);
    }
    Ok([0; 4])
}

#[inline(never)]
fn irq_ack(k: &mut Kernel, cur: usize, slot: u64) -> Done {
    let irq = irq_of(k, cur, slot)?;
    if k.irqs[irq as usize]
        .owner
        .is_some_and(|o| o as usize != cur)
    {
        return Err(Error::Busy);
    }
    plic::set_enabled(irq, true);
    Ok([0; 4])
}

fn require_control(k: &Kernel, cur: usize, slot: u64) -> Result<(), Error> {
    k.tasks[cur]
        .caps
        .get_checked(slot, CapKind::InitControl, 0)
        .map(|_| ())
}

/// `Kill(ctl, task id)`: init ends one of its tasks (supervision tests,
/// restarts). A stale id (the task already ended) is `NotFound`.
#[inline(never)]
fn kill_task(k: &mut Kernel, cur: usize, ctl: u64, id: u64) -> Done {
    require_control(k, cur, ctl)?;
    let (idx, generation) = neuron_core::ipc::split_task_id(id).ok_or(Error::InvalidArgument)?;
    let t = &k.tasks[idx];
    if idx == cur
        || matches!(t.state, State::Free | State::Dead { .. })
        || t.generation != generation
    {
        return Err(Error::NotFound);
    }
    ipc::kill(k, idx, DeathKind::Killed, 0, 0, 0);
    Ok([0; 4])
}

/// `Spawn(ctl, name, name_len, grants, n_grants, fault_ep, arg)`.
#[inline(never)]
fn spawn(k: &mut Kernel, cur: usize, a: [u64; 7]) -> Done {
    require_control(k, cur, a[0])?;
    let name_len = usize::try_from(a[2]).map_err(|_| Error::InvalidArgument)?;
    if name_len == 0 || name_len > NAME_MAX {
        return Err(Error::InvalidArgument);
    }
    let mut name = [0u8; NAME_MAX];
    copy_in(k, cur, a[1], &mut name[..name_len])?;
    let n = usize::try_from(a[4]).map_err(|_| Error::InvalidArgument)?;
    if n > CAP_SLOTS {
        return Err(Error::InvalidArgument);
    }
    let mut raw = [0u8; CAP_SLOTS * GrantSpec::SIZE];
    copy_in(k, cur, a[3], &mut raw[..n * GrantSpec::SIZE])?;
    let mut grants = [GrantSpec {
        src: 0,
        dst: 0,
        rights: 0,
        badge: 0,
    }; CAP_SLOTS];
    for (i, g) in grants.iter_mut().enumerate().take(n) {
        let mut b = [0u8; GrantSpec::SIZE];
        b.copy_from_slice(&raw[i * GrantSpec::SIZE..(i + 1) * GrantSpec::SIZE]);
        *g = GrantSpec::decode(&b);
    }
    let fault_ep = if a[5] == NO_SLOT {
        None
    } else {
        Some(endpoint_of(k, cur, a[5], rights::RECV)?.0)
    };
    let id = k.spawn(cur, &name[..name_len], &grants[..n], fault_ep, a[6])?;
    let pages = neuron_core::ipc::split_task_id(id).map_or(0, |(i, _)| k.tasks[i].loaded_pages);
    Ok([id, pages, 0, 0])
}

#[inline(never)]
fn endpoint_create(k: &mut Kernel, cur: usize, ctl: u64) -> Done {
    require_control(k, cur, ctl)?;
    let id = k
        .endpoints
        .iter()
        .position(Option::is_none)
        .ok_or(Error::NoResources)?;
    if k.tasks[cur].caps.free_slot().is_none() {
        return Err(Error::NoSlots);
    }
    k.endpoints[id] = Some(Endpoint::default());
    debug_assert!(id < MAX_ENDPOINTS);
    let cap = Cap::Endpoint {
        id: id as u16,
        rights: rights::SEND | rights::RECV | rights::GRANT | rights::NOTIFY,
        badge: 0,
    };
    let slot = k.tasks[cur].caps.insert(cap)?;
    Ok([slot as u64, 0, 0, 0])
}

#[inline(never)]
fn boot_args(k: &Kernel, cur: usize, ctl: u64, buf: u64, cap: u64) -> Done {
    require_control(k, cur, ctl)?;
    let n = k.bootargs_len;
    if (cap as usize) < n {
        return Err(Error::TooLarge);
    }
    copy_out(k, cur, buf, &k.bootargs[..n])?;
    Ok([n as u64, 0, 0, 0])
}

/// `ConsoleLevel(cap, level)`: reads the system-wide log level
/// (`level` = `LOG_LEVEL_QUERY`, no capability needed) or sets it, which
/// only the holder of a console-input capability with `RECV` may (the
/// console's reader, the shell). Returns the level in effect.
#[inline(never)]
fn console_level(k: &mut Kernel, cur: usize, slot: u64, level: u64) -> Done {
    if level != nexus_abi::LOG_LEVEL_QUERY {
        if level > u64::from(nexus_abi::LOG_LEVEL_MAX) {
            return Err(Error::InvalidArgument);
        }
        k.tasks[cur]
            .caps
            .get_checked(slot, CapKind::ConsoleInput, rights::RECV)?;
        k.log_level = level as u8;
    }
    Ok([u64::from(k.log_level), 0, 0, 0])
}

/// `ConsoleRead(cap, buf, len, deadline)`: the caller must hold a console
/// input capability with `RECV` and be (or become) the only reader. Returns
/// at once with what is buffered, else blocks until input or the deadline.
#[inline(never)]
fn console_read(k: &mut Kernel, cur: usize, slot: u64, buf: u64, len: u64, dl: u64) -> Outcome {
    let r = (|| -> Result<usize, Error> {
        let len = usize::try_from(len)
            .map_err(|_| Error::InvalidArgument)?
            .min(ipc::CONSOLE_READ_MAX);
        if len == 0 {
            return Err(Error::InvalidArgument);
        }
        let caps = &k.tasks[cur].caps;
        k.console_in.claim(caps, slot, cur as u8)?;
        check_range(k, cur, buf, len, true)?;
        Ok(len)
    })();
    let len = match r {
        Ok(l) => l,
        Err(e) => return Outcome::Now(Err(e)),
    };
    k.console_rx_enable();
    k.tasks[cur].recv = (buf, len);
    k.tasks[cur].recv_pa = 0;
    k.tasks[cur].state = State::ConsoleRead;
    ipc::console_rx(k);
    if k.tasks[cur].state == State::ConsoleRead {
        let deadline = k.deadline_ticks(dl);
        if deadline != 0 && deadline <= arch::now_ticks() {
            k.tasks[cur].state = State::Ready;
            return Outcome::Now(Err(Error::TimedOut));
        }
        k.tasks[cur].deadline = deadline;
        k.note_deadline(deadline);
    }
    Outcome::Blocked
}
