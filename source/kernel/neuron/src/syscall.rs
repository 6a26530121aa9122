//! Syscall dispatch: decodes `a7`/`a0..a6` of the current task and runs the
//! operation. Every argument is untrusted; every failure is an error code.
//! The contract is `docs/abi.md` and the `nexus-abi` crate.

use crate::arch;
use crate::console;
use crate::kernel::{IrqLine, Kernel, PendingCall, State, MAX_IRQ};
use crate::plic;
use neuron_core::caps::Cap;
use neuron_core::ipc::{self, Endpoint, MAX_ENDPOINTS};
use neuron_core::pagetable::{self, flags, user_chunks, PhysMem};
use nexus_abi::layout::{MAP_END, PAGE};
use nexus_abi::{
    rights, CapKind, DeathKind, DeathNotice, Error, GrantSpec, Sysno, CAP_SLOTS, KERNEL_BADGE,
    MSG_MAX, NAME_MAX, NO_SLOT,
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

pub fn dispatch(k: &mut Kernel, cur: usize) {
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
                k.kill(cur, DeathKind::Exited, a[0], 0, 0);
                Outcome::Blocked
            }
            Sysno::ConsoleWrite => Outcome::Now(console_write(k, cur, a[0], a[1])),
            Sysno::TimeNow => Outcome::Now(Ok([k.now_ns(), 0, 0, 0])),
            Sysno::SleepUntil => sleep_until(k, cur, a[0]),
            Sysno::IpcCall => ipc_call(k, cur, a),
            Sysno::IpcRecv => ipc_recv(k, cur, a[0], a[1], a[2], a[6]),
            Sysno::IpcReply => {
                Outcome::Now(ipc_reply(k, cur, a[0], a[1], a[2], a[3]).map(|_| [0; 4]))
            }
            Sysno::IpcReplyRecv => {
                if a[3] != 0 {
                    match ipc_reply(k, cur, a[3], a[4], a[5], NO_SLOT) {
                        Ok(()) | Err(Error::PeerDead) => ipc_recv(k, cur, a[0], a[1], a[2], a[6]),
                        Err(e) => Outcome::Now(Err(e)),
                    }
                } else {
                    ipc_recv(k, cur, a[0], a[1], a[2], a[6])
                }
            }
            Sysno::CapInfo => Outcome::Now(cap_info(k, cur, a[0])),
            Sysno::CapDrop => Outcome::Now(k.tasks[cur].caps.remove(a[0]).map(|_| [0; 4])),
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
        },
    };
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

fn bad(_: pagetable::AccessError) -> Error {
    Error::BadAddress
}

/// Validates that `[va, va+len)` is accessible to task `t`.
fn check_range(k: &Kernel, t: usize, va: u64, len: usize, write: bool) -> Result<(), Error> {
    user_chunks(&k.mem, k.tasks[t].root, va, len, write, |_, _, _| {}).map_err(bad)
}

/// Copies from task `t`'s memory into `dst`.
fn copy_in(k: &Kernel, t: usize, va: u64, dst: &mut [u8]) -> Result<(), Error> {
    let mem = &k.mem;
    user_chunks(mem, k.tasks[t].root, va, dst.len(), false, |pa, off, n| {
        mem.read_phys(pa, &mut dst[off..off + n])
    })
    .map_err(bad)
}

/// Copies `src` into task `t`'s memory.
fn copy_out(k: &Kernel, t: usize, va: u64, src: &[u8]) -> Result<(), Error> {
    let mem = &k.mem;
    user_chunks(mem, k.tasks[t].root, va, src.len(), true, |pa, off, n| {
        mem.write_phys(pa, &src[off..off + n])
    })
    .map_err(bad)
}

/// Copies `len` bytes from task `s` at `sva` to task `d` at `dva`, page
/// piece by page piece, without staging in the kernel. Both ranges are
/// validated in full before the first byte moves.
fn copy_task(k: &Kernel, s: usize, sva: u64, d: usize, dva: u64, len: usize) -> Result<(), Error> {
    let mem = &k.mem;
    let sroot = k.tasks[s].root;
    // Fast path: both ranges within one page each (small messages): one
    // translation per side, then one copy.
    if len > 0 && sva / PAGE == (sva + len as u64 - 1) / PAGE {
        let mut spa = 0;
        user_chunks(mem, sroot, sva, len, false, |pa, _, _| spa = pa).map_err(bad)?;
        if dva / PAGE == (dva.wrapping_add(len as u64 - 1)) / PAGE {
            let mut dpa = None;
            user_chunks(mem, k.tasks[d].root, dva, len, true, |pa, _, _| {
                dpa = Some(pa)
            })
            .map_err(bad)?;
            if let Some(dpa) = dpa {
                mem.copy_phys(dpa, spa, len);
            }
            return Ok(());
        }
    }
    user_chunks(mem, sroot, sva, len, false, |_, _, _| {}).map_err(bad)?;
    user_chunks(mem, k.tasks[d].root, dva, len, true, |dpa, off, n| {
        let mut done = 0;
        while done < n {
            let at = sva + (off + done) as u64;
            // Validated above: every source page translates.
            let Some((spa, _)) = mem.translate_page(sroot, at) else {
                return;
            };
            let m = (n - done).min((PAGE - at % PAGE) as usize);
            mem.copy_phys(dpa + done as u64, spa, m);
            done += m;
        }
    })
    .map_err(bad)
}

fn console_write(k: &Kernel, cur: usize, va: u64, len: u64) -> Done {
    let len = usize::try_from(len).map_err(|_| Error::InvalidArgument)?;
    if len > CONSOLE_MAX {
        return Err(Error::InvalidArgument);
    }
    let mut buf = [0u8; CONSOLE_MAX];
    copy_in(k, cur, va, &mut buf[..len])?;
    console::write_bytes(&buf[..len]);
    Ok([len as u64, 0, 0, 0])
}

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

/// `IpcCall(ep, msg, len, reply, reply_cap, xfer_slot, deadline)`.
fn ipc_call(k: &mut Kernel, cur: usize, a: [u64; 7]) -> Outcome {
    let r = (|| -> Result<_, Error> {
        let (ep, badge) = endpoint_of(k, cur, a[0], rights::SEND)?;
        let len = usize::try_from(a[2]).map_err(|_| Error::TooLarge)?;
        let reply_cap = usize::try_from(a[4])
            .map_err(|_| Error::InvalidArgument)?
            .min(MSG_MAX);
        if len > MSG_MAX {
            return Err(Error::TooLarge);
        }
        // The message is validated by `deliver` (immediate case) or below
        // before queueing; the reply buffer is validated now so a bad one
        // fails before anything is sent.
        if k.tasks[cur].reply_ok != (a[3], reply_cap) {
            check_range(k, cur, a[3], reply_cap, true)?;
            k.tasks[cur].reply_ok = (a[3], reply_cap);
        }
        let xfer = if a[5] == NO_SLOT {
            None
        } else {
            let cap = k.tasks[cur].caps.get(a[5])?;
            if cap.rights() & rights::GRANT == 0 {
                return Err(Error::NoRights);
            }
            Some(a[5] as u32)
        };
        Ok((
            ep,
            PendingCall {
                msg: a[1],
                len,
                reply: a[3],
                reply_cap,
                xfer,
                badge,
            },
        ))
    })();
    let (ep, call) = match r {
        Ok(v) => v,
        Err(e) => return Outcome::Now(Err(e)),
    };
    let deadline = k.deadline_ticks(a[6]);
    let t = &mut k.tasks[cur];
    t.call = call;
    t.call_seq = t.call_seq.wrapping_add(1).max(1);
    let Some(e) = k.endpoints[ep as usize].as_mut() else {
        return Outcome::Now(Err(Error::NoCapability));
    };
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
        if let Err(err) = check_range(k, cur, call.msg, call.len, false) {
            return Outcome::Now(Err(err));
        }
        if deadline != 0 && deadline <= arch::now_ticks() {
            return Outcome::Now(Err(Error::TimedOut));
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
}

/// Copies the pending call of `client` into the receive buffer of `server`
/// (blocked in `IpcRecv`) and makes the server ready with the results.
/// On error nothing changes for the server.
fn deliver(k: &mut Kernel, client: usize, server: usize) -> Result<(), Error> {
    let call = k.tasks[client].call;
    let (rbuf, rcap) = k.tasks[server].recv;
    if call.len > rcap {
        return Err(Error::TooLarge);
    }
    let xcap = match call.xfer {
        Some(slot) => {
            let cap = k.tasks[client].caps.get(slot as u64)?;
            if k.tasks[server].caps.free_slot().is_none() {
                return Err(Error::NoSlots);
            }
            Some(cap)
        }
        None => None,
    };
    copy_task(k, client, call.msg, server, rbuf, call.len)?;
    let slot = match xcap {
        Some(cap) => k.tasks[server].caps.insert(cap)? as u64,
        None => NO_SLOT,
    };
    let generation = k.tasks[client].generation;
    let token = ipc::reply_token(client, generation, k.tasks[client].call_seq);
    let s = &mut k.tasks[server];
    s.frame.set_a(0, 0);
    s.frame.set_a(1, call.len as u64);
    s.frame.set_a(2, call.badge);
    s.frame.set_a(3, token);
    s.frame.set_a(4, slot);
    s.state = State::Ready;
    s.deadline = 0;
    Ok(())
}

/// Delivers the oldest kernel notice on `ep` to `server` (blocked in recv or
/// about to be). Returns false when there is none.
pub fn try_deliver_notice(k: &mut Kernel, server: usize, ep: u16) -> bool {
    let (rbuf, rcap) = k.tasks[server].recv;
    let Some(e) = k.endpoints[ep as usize].as_mut() else {
        return false;
    };
    let Some(n) = e.notices.pop() else {
        return false;
    };
    if e.receiver == Some(server as u8) {
        e.receiver = None;
    }
    let bytes = n.0.encode();
    let s = &mut k.tasks[server];
    s.state = State::Ready;
    s.deadline = 0;
    if rcap < DeathNotice::SIZE {
        s.frame.set_a(0, Error::TooLarge.to_reg());
        return true;
    }
    let r = copy_out(k, server, rbuf, &bytes);
    let f = &mut k.tasks[server].frame;
    match r {
        Ok(()) => {
            f.set_a(0, 0);
            f.set_a(1, DeathNotice::SIZE as u64);
            f.set_a(2, KERNEL_BADGE);
            f.set_a(3, 0);
            f.set_a(4, NO_SLOT);
        }
        Err(err) => f.set_a(0, err.to_reg()),
    }
    true
}

/// `IpcRecv(ep, buf, cap, .., deadline)`.
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
    let cap = match usize::try_from(cap) {
        Ok(c) => c.min(MSG_MAX),
        Err(_) => return Outcome::Now(Err(Error::InvalidArgument)),
    };
    // User mappings are never removed while a task lives, so a buffer that
    // validated once stays valid: servers re-arm the same buffer each time.
    if k.tasks[cur].recv_ok != (buf, cap) {
        if let Err(e) = check_range(k, cur, buf, cap, true) {
            return Outcome::Now(Err(e));
        }
        k.tasks[cur].recv_ok = (buf, cap);
    }
    let Some(e) = k.endpoints[ep as usize].as_ref() else {
        return Outcome::Now(Err(Error::NoCapability));
    };
    if e.receiver.is_some_and(|r| r as usize != cur) {
        return Outcome::Now(Err(Error::Busy));
    }
    k.tasks[cur].recv = (buf, cap);
    if try_deliver_notice(k, cur, ep) {
        return Outcome::Blocked; // results already written
    }
    while let Some(sender) = k.endpoints[ep as usize]
        .as_mut()
        .and_then(|e| e.senders.pop())
    {
        let s = sender as usize;
        match deliver(k, s, cur) {
            Ok(()) => {
                let t = &mut k.tasks[s];
                t.state = State::AwaitReply { server: cur as u8 };
                return Outcome::Blocked;
            }
            Err(err) => k.wake_with(s, err),
        }
    }
    let deadline = k.deadline_ticks(deadline_ns);
    if deadline != 0 && deadline <= arch::now_ticks() {
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

/// `IpcReply(token, msg, len, xfer_slot)`.
fn ipc_reply(
    k: &mut Kernel,
    cur: usize,
    token: u64,
    msg: u64,
    len: u64,
    xfer: u64,
) -> Result<(), Error> {
    let (ci, generation, seq) = ipc::split_reply_token(token).ok_or(Error::InvalidArgument)?;
    let c = &k.tasks[ci];
    if c.generation & 0xff_ffff != generation
        || c.call_seq != seq
        || c.state != (State::AwaitReply { server: cur as u8 })
    {
        return Err(Error::PeerDead);
    }
    let len = usize::try_from(len).map_err(|_| Error::TooLarge)?;
    if len > MSG_MAX {
        return Err(Error::TooLarge);
    }
    let call = k.tasks[ci].call;
    let xcap = if xfer == NO_SLOT {
        None
    } else {
        let cap = k.tasks[cur].caps.get(xfer)?;
        if cap.rights() & rights::GRANT == 0 {
            return Err(Error::NoRights);
        }
        Some(cap)
    };
    if len > call.reply_cap {
        k.wake_with(ci, Error::TooLarge);
        return Err(Error::TooLarge);
    }
    if xcap.is_some() && k.tasks[ci].caps.free_slot().is_none() {
        k.wake_with(ci, Error::NoSlots);
        return Err(Error::NoSlots);
    }
    copy_task(k, cur, msg, ci, call.reply, len)?;
    let slot = match xcap {
        Some(cap) => k.tasks[ci].caps.insert(cap)? as u64,
        None => NO_SLOT,
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

fn cap_info(k: &Kernel, cur: usize, slot: u64) -> Done {
    let cap = k.tasks[cur].caps.get(slot)?;
    let (x, y) = match cap {
        Cap::InitControl => (0, 0),
        Cap::Endpoint { id, badge, .. } => (badge, id as u64),
        Cap::Mmio { base, len, irq, .. } => (base, len | (irq as u64) << 48),
        Cap::Dma { pages, .. } => (pages as u64, 0),
        Cap::ConsoleInput { .. } => (0, 0),
    };
    Ok([cap.kind() as u64, cap.rights() as u64, x, y])
}

/// Reserves `pages` of the caller's kernel-chosen mapping window.
fn take_va(k: &mut Kernel, cur: usize, pages: u64) -> Result<u64, Error> {
    let t = &mut k.tasks[cur];
    let va = t.map_next;
    let end = va.checked_add(pages * PAGE).ok_or(Error::NoMemory)?;
    if end > MAP_END {
        return Err(Error::NoMemory);
    }
    t.map_next = end;
    Ok(va)
}

fn mmio_map(k: &mut Kernel, cur: usize, slot: u64) -> Done {
    let Cap::Mmio { base, len, .. } =
        k.tasks[cur]
            .caps
            .get_checked(slot, CapKind::Mmio, rights::MAP)?
    else {
        return Err(Error::WrongCapability);
    };
    let pages = len.div_ceil(PAGE);
    let va = take_va(k, cur, pages)?;
    let root = k.tasks[cur].root;
    for i in 0..pages {
        let f = flags::U | flags::R | flags::W | flags::DEVICE;
        pagetable::map(&mut k.mem, root, va + i * PAGE, base + i * PAGE, f)
            .map_err(|_| Error::NoMemory)?;
    }
    Ok([va, 0, 0, 0])
}

fn dma_alloc(k: &mut Kernel, cur: usize, slot: u64, pages: u64) -> Done {
    let Cap::Dma { pages: budget, .. } = k.tasks[cur].caps.get_checked(slot, CapKind::Dma, 0)?
    else {
        return Err(Error::WrongCapability);
    };
    if pages == 0 || pages > DMA_MAX_PAGES {
        return Err(Error::InvalidArgument);
    }
    if k.tasks[cur].dma_used as u64 + pages > budget as u64 {
        return Err(Error::NoMemory);
    }
    let pa = k
        .mem
        .frames
        .alloc_contiguous(pages as usize)
        .ok_or(Error::NoMemory)?;
    k.mem.zero(pa, pages as usize);
    let va = match take_va(k, cur, pages) {
        Ok(va) => va,
        Err(e) => {
            (0..pages).for_each(|i| {
                k.mem.frames.free(pa + i * PAGE);
            });
            return Err(e);
        }
    };
    let root = k.tasks[cur].root;
    for i in 0..pages {
        let f = flags::U | flags::R | flags::W | flags::OWNED;
        if pagetable::map(&mut k.mem, root, va + i * PAGE, pa + i * PAGE, f).is_err() {
            // Pages mapped so far are OWNED and freed with the task; free the rest.
            (i..pages).for_each(|j| {
                k.mem.frames.free(pa + j * PAGE);
            });
            return Err(Error::NoMemory);
        }
    }
    k.tasks[cur].dma_used += pages as u32;
    Ok([va, pa, 0, 0])
}

fn virt_to_phys(k: &Kernel, cur: usize, va: u64) -> Done {
    match pagetable::translate(&k.mem, k.tasks[cur].root, va) {
        Some((pa, f)) if f & flags::U != 0 && f & flags::DEVICE == 0 => Ok([pa, 0, 0, 0]),
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
fn irq_bind(k: &mut Kernel, cur: usize, slot: u64, ep_slot: u64) -> Done {
    let irq = irq_of(k, cur, slot)?;
    let (ep, _) = endpoint_of(k, cur, ep_slot, rights::RECV)?;
    let line = &mut k.irqs[irq as usize];
    if line.owner.is_some_and(|o| o as usize != cur) {
        return Err(Error::Busy);
    }
    let was_pending = line.pending;
    *line = IrqLine {
        owner: Some(cur as u8),
        pending: false,
        bound_ep: Some(ep),
    };
    if was_pending {
        k.post_notice(ep, crate::kernel::irq_notice(irq));
    } else {
        plic::set_enabled(irq, true);
    }
    Ok([0; 4])
}

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
fn kill_task(k: &mut Kernel, cur: usize, ctl: u64, id: u64) -> Done {
    require_control(k, cur, ctl)?;
    let (idx, generation) = ipc::split_task_id(id).ok_or(Error::InvalidArgument)?;
    let t = &k.tasks[idx];
    if idx == cur || t.state == State::Free || t.generation != generation {
        return Err(Error::NotFound);
    }
    k.kill(idx, DeathKind::Killed, 0, 0, 0);
    Ok([0; 4])
}

/// `Spawn(ctl, name, name_len, grants, n_grants, fault_ep, arg)`.
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
    let pages = ipc::split_task_id(id).map_or(0, |(i, _)| k.tasks[i].loaded_pages);
    Ok([id, pages, 0, 0])
}

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
        rights: rights::SEND | rights::RECV | rights::GRANT,
        badge: 0,
    };
    let slot = k.tasks[cur].caps.insert(cap)?;
    Ok([slot as u64, 0, 0, 0])
}

fn boot_args(k: &Kernel, cur: usize, ctl: u64, buf: u64, cap: u64) -> Done {
    require_control(k, cur, ctl)?;
    let n = k.bootargs_len;
    if (cap as usize) < n {
        return Err(Error::TooLarge);
    }
    copy_out(k, cur, buf, &k.bootargs[..n])?;
    Ok([n as u64, 0, 0, 0])
}

/// Most bytes one `ConsoleRead` returns (the input ring's size).
const CONSOLE_READ_MAX: usize = neuron_core::console::INPUT_RING;

/// `ConsoleRead(cap, buf, len, deadline)`: the caller must hold a console
/// input capability with `RECV` and be (or become) the only reader. Returns
/// at once with what is buffered, else blocks until input or the deadline.
fn console_read(k: &mut Kernel, cur: usize, slot: u64, buf: u64, len: u64, dl: u64) -> Outcome {
    let r = (|| -> Result<usize, Error> {
        let len = usize::try_from(len)
            .map_err(|_| Error::InvalidArgument)?
            .min(CONSOLE_READ_MAX);
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
    k.tasks[cur].state = State::ConsoleRead;
    k.console_rx();
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

/// Copies buffered input to the reader if it is blocked in `ConsoleRead`.
pub fn console_deliver(k: &mut Kernel) {
    let Some(r) = k.console_in.reader().map(usize::from) else {
        return;
    };
    if k.tasks[r].state != State::ConsoleRead || k.console_in.ring.is_empty() {
        return;
    }
    let (buf, cap) = k.tasks[r].recv;
    let mut tmp = [0u8; CONSOLE_READ_MAX];
    let n = k
        .console_in
        .ring
        .pop_into(&mut tmp[..cap.min(CONSOLE_READ_MAX)]);
    // The range was validated by `console_read`; user mappings stay while
    // the task lives.
    let res = copy_out(k, r, buf, &tmp[..n]);
    let t = &mut k.tasks[r];
    match res {
        Ok(()) => {
            t.frame.set_a(0, 0);
            t.frame.set_a(1, n as u64);
        }
        Err(e) => t.frame.set_a(0, e.to_reg()),
    }
    t.state = State::Ready;
    t.deadline = 0;
}
