//! IPC delivery between address spaces, kernel notices, and task death
//! (which is mostly about IPC: who waits on the dead task, who hears of it).
//! Sits above `kernel` (state) and below `syscall`.

use crate::arch;
use crate::console;
use crate::kernel::{IrqLine, Kernel, State, SHM};
use crate::plic;
use neuron_core::caps::CapTable;
use neuron_core::ipc::{self, MAX_ENDPOINTS, MAX_TASKS};
use neuron_core::pagetable::{self, user_chunks, PhysMem};
use neuron_core::shm;
use nexus_abi::layout::PAGE;
use nexus_abi::{DeathKind, DeathNotice, Error, ShortWords, KERNEL_BADGE, NO_SLOT, SHORT_MAX};

fn bad(_: pagetable::AccessError) -> Error {
    Error::BadAddress
}

/// Validates that `[va, va+len)` is accessible to task `t`.
pub fn check_range(k: &Kernel, t: usize, va: u64, len: usize, write: bool) -> Result<(), Error> {
    user_chunks(&k.mem, k.tasks[t].root, va, len, write, |_, _, _| {}).map_err(bad)
}

/// Copies from task `t`'s memory into `dst`.
pub fn copy_in(k: &Kernel, t: usize, va: u64, dst: &mut [u8]) -> Result<(), Error> {
    let mem = &k.mem;
    user_chunks(mem, k.tasks[t].root, va, dst.len(), false, |pa, off, n| {
        mem.read_phys(pa, &mut dst[off..off + n])
    })
    .map_err(bad)
}

/// Copies `src` into task `t`'s memory.
pub fn copy_out(k: &Kernel, t: usize, va: u64, src: &[u8]) -> Result<(), Error> {
    let mem = &k.mem;
    user_chunks(mem, k.tasks[t].root, va, src.len(), true, |pa, off, n| {
        mem.write_phys(pa, &src[off..off + n])
    })
    .map_err(bad)
}

/// Copies `len` bytes from task `s` at `sva` to task `d` at `dva`, page
/// piece by page piece, without staging in the kernel. Both ranges are
/// validated in full before the first byte moves; every sum of a user
/// pointer and a length is checked (a wrapping range is `BadAddress`).
#[inline(always)]
pub fn copy_task(
    k: &Kernel,
    s: usize,
    sva: u64,
    d: usize,
    dva: u64,
    len: usize,
) -> Result<(), Error> {
    copy_task_to(k, s, sva, d, dva, 0, len)
}

/// `copy_task`, given `dpa`: the physical address of `dva` if the kernel
/// already validated a destination buffer starting there for writing (the
/// receive or reply buffer), else 0.
#[inline(always)]
pub fn copy_task_to(
    k: &Kernel,
    s: usize,
    sva: u64,
    d: usize,
    dva: u64,
    dpa: u64,
    len: usize,
) -> Result<(), Error> {
    let mem = &k.mem;
    let sroot = k.tasks[s].root;
    let last = (len as u64).saturating_sub(1);
    let s_last = sva.checked_add(last).ok_or(Error::BadAddress)?;
    let d_last = dva.checked_add(last).ok_or(Error::BadAddress)?;
    // Fast path: both ranges within one page each (small messages): one
    // cached translation per side, then one copy.
    if len > 0 && sva / PAGE == s_last / PAGE && dva / PAGE == d_last / PAGE {
        let spa = mem.user_pa(sroot, sva, false).ok_or(Error::BadAddress)?;
        let dpa = if dpa != 0 {
            dpa
        } else {
            mem.user_pa(k.tasks[d].root, dva, true)
                .ok_or(Error::BadAddress)?
        };
        mem.copy_small(dpa, spa, len);
        return Ok(());
    }
    copy_pages(k, s, sva, d, dva, len)
}

/// Writes the first `len` (≤ `SHORT_MAX`) bytes of the short message `w`
/// to task `d` at `dva`, a buffer validated for writing whose start is at
/// physical `dpa` (0 = not known).
#[inline(always)]
pub fn write_short(
    k: &Kernel,
    d: usize,
    dva: u64,
    dpa: u64,
    w: &ShortWords,
    len: usize,
) -> Result<(), Error> {
    let len = len.min(SHORT_MAX);
    if dpa != 0 && dva % PAGE + len as u64 <= PAGE {
        write_short_pa(dpa, w, len);
        return Ok(());
    }
    let mut b = [0u8; SHORT_MAX];
    let n = nexus_abi::short_unpack(w, len, &mut b);
    copy_out(k, d, dva, &b[..n])
}

/// Writes the first `len` (≤ `SHORT_MAX`) bytes of `w` at physical `dpa`:
/// the start of a user buffer that validated for writing, with
/// `dpa..dpa+len` inside its first page (the caller checked). Makes no
/// calls (the IPC fast paths stay leaf functions).
#[inline(always)]
pub fn write_short_pa(dpa: u64, w: &ShortWords, len: usize) {
    let len = len.min(SHORT_MAX);
    // Whole words while the buffer is aligned, then the tail bytes.
    let full = if dpa.is_multiple_of(8) { len / 8 } else { 0 };
    for (i, x) in w.iter().enumerate().take(full) {
        // SAFETY: `dpa..dpa+len` is RAM inside one page of a buffer its task
        // owns and that validated for writing (see `Memory::write_phys`),
        // 8-byte aligned here; `8 * i + 8 <= len`.
        unsafe { core::ptr::write((dpa + 8 * i as u64) as *mut u64, *x) };
    }
    for i in 8 * full..len {
        // SAFETY: as above, one byte (`i < len`).
        unsafe {
            core::ptr::write(
                (dpa + i as u64) as *mut u8,
                (w[i / 8] >> (8 * (i % 8))) as u8,
            )
        };
    }
}

/// `copy_task` for ranges that cross a page.
#[inline(never)]
fn copy_pages(k: &Kernel, s: usize, sva: u64, d: usize, dva: u64, len: usize) -> Result<(), Error> {
    let mem = &k.mem;
    let sroot = k.tasks[s].root;
    user_chunks(mem, sroot, sva, len, false, |_, _, _| {}).map_err(bad)?;
    user_chunks(mem, k.tasks[d].root, dva, len, true, |dpa, off, n| {
        let mut done = 0;
        while done < n {
            // In range: `sva + len` was checked above and `off + done < len`.
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

/// The slot a capability transferred to task `t` lands in: the slot `t`
/// offered, if it is still empty. Otherwise `NoSlots`.
pub fn offered_slot(caps: &CapTable, offer: Option<u32>) -> Result<u32, Error> {
    match offer {
        Some(s) if caps.get(s as u64).is_err() => Ok(s),
        _ => Err(Error::NoSlots),
    }
}

/// `deliver`'s copy for a call that transfers the capability in slot `x`:
/// checked (and the offered slot found) before anything moves. Returns the
/// slot it landed in.
#[inline(never)]
fn deliver_with_cap(k: &mut Kernel, client: usize, server: usize, x: u32) -> Result<u64, Error> {
    let call = k.tasks[client].call;
    let cap = k.tasks[client].caps.get(x as u64)?;
    if !cap.transferable() {
        return Err(Error::NoRights);
    }
    let at = offered_slot(&k.tasks[server].caps, k.tasks[server].recv_accept)?;
    copy_task(
        k,
        client,
        call.msg,
        server,
        k.tasks[server].recv.0,
        call.len,
    )?;
    k.tasks[server].caps.insert_at(at as u64, cap)?;
    Ok(at as u64)
}

/// Copies the pending call of `client` into the receive buffer of `server`
/// (blocked in `IpcRecv`) and makes the server ready with the results.
/// On error nothing changes for the server.
#[inline(always)]
pub fn deliver(k: &mut Kernel, client: usize, server: usize) -> Result<(), Error> {
    let call = k.tasks[client].call;
    let (rbuf, rcap) = k.tasks[server].recv;
    if call.len > rcap {
        return Err(Error::TooLarge);
    }
    let slot = match call.xfer {
        None if call.short => {
            // The message is in the caller's a2..a5: no source to validate
            // or translate.
            let f = &k.tasks[client].frame;
            let w = [f.a(2), f.a(3), f.a(4), f.a(5)];
            write_short(k, server, rbuf, k.tasks[server].recv_pa, &w, call.len)?;
            NO_SLOT
        }
        None => {
            let dpa = k.tasks[server].recv_pa;
            copy_task_to(k, client, call.msg, server, rbuf, dpa, call.len)?;
            NO_SLOT
        }
        Some(x) => deliver_with_cap(k, client, server, x)?,
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

/// The oldest death record waiting on `ep` (by death order).
#[inline(never)]
#[cold]
fn oldest_death(k: &Kernel, ep: u16) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, t) in k.tasks.iter().enumerate() {
        if t.state == (State::Dead { ep })
            && best.is_none_or(|b| t.death_seq < k.tasks[b].death_seq)
        {
            best = Some(i);
        }
    }
    best
}

/// Delivers the oldest kernel notice on `ep` to `server` (blocked in recv or
/// about to be): interrupt notices first, then death records, oldest death
/// first. A death record is consumed (its slot freed) only once delivered.
/// Returns false when there is none.
#[inline(always)]
pub fn try_deliver_notice(k: &mut Kernel, server: usize, ep: u16) -> bool {
    // Fast path (every receive): nothing pending.
    match k.endpoints[ep as usize].as_ref() {
        Some(e) if !e.notices.is_empty() || e.deaths > 0 => deliver_notice(k, server, ep),
        _ => false,
    }
}

#[inline(never)]
fn deliver_notice(k: &mut Kernel, server: usize, ep: u16) -> bool {
    let (rbuf, rcap) = k.tasks[server].recv;
    let Some(e) = k.endpoints[ep as usize].as_mut() else {
        return false;
    };
    let (notice, dead) = if let Some(n) = e.notices.pop() {
        (n.0, None)
    } else if e.deaths > 0 {
        let Some(d) = oldest_death(k, ep) else {
            // Count out of step with the records: repair, nothing to give.
            if let Some(e) = k.endpoints[ep as usize].as_mut() {
                e.deaths = 0;
            }
            return false;
        };
        (k.tasks[d].death, Some(d))
    } else {
        return false;
    };
    if let Some(e) = k.endpoints[ep as usize].as_mut() {
        if e.receiver == Some(server as u8) {
            e.receiver = None;
        }
    }
    let s = &mut k.tasks[server];
    s.state = State::Ready;
    s.deadline = 0;
    if rcap < DeathNotice::SIZE {
        // The record stays for a receive with room for it.
        s.frame.set_a(0, Error::TooLarge.to_reg());
        return true;
    }
    let r = copy_out(k, server, rbuf, &notice.encode());
    let f = &mut k.tasks[server].frame;
    match r {
        Ok(()) => {
            f.set_a(0, 0);
            f.set_a(1, DeathNotice::SIZE as u64);
            f.set_a(2, KERNEL_BADGE);
            f.set_a(3, 0);
            f.set_a(4, NO_SLOT);
            if let Some(d) = dead {
                k.tasks[d].state = State::Free;
                if let Some(e) = k.endpoints[ep as usize].as_mut() {
                    e.deaths = e.deaths.saturating_sub(1);
                }
            }
        }
        Err(err) => f.set_a(0, err.to_reg()),
    }
    true
}

/// Delivers the pending notification of `ep` (coalesced `Notify` posts) to
/// `server` (blocked in recv or about to be): a `Notify` kernel notice whose
/// `code` is the number of posts. Returns false when none is pending. A
/// receive buffer too small for a notice gets `TooLarge` and the posts stay.
#[inline(never)]
pub fn try_deliver_notify(k: &mut Kernel, server: usize, ep: u16) -> bool {
    let posts = match k.endpoints[ep as usize].as_mut() {
        Some(e) if e.notify_posts > 0 => {
            if e.receiver == Some(server as u8) {
                e.receiver = None;
            }
            e.notify_posts
        }
        _ => return false,
    };
    let (rbuf, rcap) = k.tasks[server].recv;
    let s = &mut k.tasks[server];
    s.state = State::Ready;
    s.deadline = 0;
    if rcap < DeathNotice::SIZE {
        s.frame.set_a(0, Error::TooLarge.to_reg());
        return true;
    }
    let notice = DeathNotice {
        task: 0,
        kind: DeathKind::Notify,
        code: posts,
        addr: 0,
        pc: 0,
    };
    let r = copy_out(k, server, rbuf, &notice.encode());
    let f = &mut k.tasks[server].frame;
    match r {
        Ok(()) => {
            f.set_a(0, 0);
            f.set_a(1, DeathNotice::SIZE as u64);
            f.set_a(2, KERNEL_BADGE);
            f.set_a(3, 0);
            f.set_a(4, NO_SLOT);
            if let Some(e) = k.endpoints[ep as usize].as_mut() {
                e.notify_posts = 0;
            }
        }
        Err(err) => f.set_a(0, err.to_reg()),
    }
    true
}

/// Queues an interrupt notice on `ep`, delivering it at once to a waiting
/// receiver.
pub fn post_notice(k: &mut Kernel, ep: u16, notice: DeathNotice) {
    let Some(e) = k.endpoints[ep as usize].as_mut() else {
        return;
    };
    e.push_notice(notice);
    if let Some(r) = e.receiver {
        try_deliver_notice(k, r as usize, ep);
    }
}

/// Ends task `idx`: wakes whoever waits on it (its callers, and the callers
/// queued on endpoints it served), frees its memory and DMA budget, and
/// leaves a death record for its supervisor on its fault endpoint.
#[inline(never)]
#[cold]
pub fn kill(k: &mut Kernel, idx: usize, kind: DeathKind, code: u64, addr: u64, pc: u64) {
    let id = ipc::task_id(idx, k.tasks[idx].generation);
    match k.tasks[idx].state {
        State::Sending { ep } => {
            if let Some(e) = k.endpoints[ep as usize].as_mut() {
                e.senders.remove(idx as u8);
            }
        }
        State::Receiving { ep } => {
            if let Some(e) = k.endpoints[ep as usize].as_mut() {
                if e.receiver == Some(idx as u8) {
                    e.receiver = None;
                }
            }
        }
        _ => {}
    }
    for i in 0..MAX_TASKS {
        if k.tasks[i].state == (State::AwaitReply { server: idx as u8 }) {
            k.wake_with(i, Error::PeerDead);
        }
    }
    // Callers queued on endpoints this task served will never be received
    // by it: they get `PeerDead`, and so do new calls until a task receives
    // on the endpoint again (a restarted server).
    for ep in 0..MAX_ENDPOINTS {
        let Some(e) = k.endpoints[ep].as_mut() else {
            continue;
        };
        if e.server != Some(idx as u8) {
            continue;
        }
        e.server = None;
        e.orphaned = true;
        while let Some(s) = k.endpoints[ep].as_mut().and_then(|e| e.senders.pop()) {
            k.wake_with(s as usize, Error::PeerDead);
        }
    }
    // A reader blocked in `ConsoleRead` simply stops waiting (its state
    // becomes `Dead`/`Free` below); the input goes to the next reader.
    k.console_in.release(idx as u8);
    for (n, line) in k.irqs.iter_mut().enumerate() {
        if line.owner == Some(idx as u8) {
            *line = IrqLine::default();
            plic::set_enabled(n as u32, false);
        }
    }
    k.dma_pools.release(&mut k.tasks[idx].dma_used);
    let mut sh = SHM.lock();
    let (mem_refs, mem_n) = shm::referenced(&k.tasks[idx].caps, &sh.maps[idx]);
    let root = k.tasks[idx].root;
    let kroot = k.kernel_root;
    k.switch_root(kroot);
    pagetable::teardown(&mut k.mem, root);
    let fault_ep = k.tasks[idx]
        .fault_ep
        .filter(|&ep| k.endpoints[ep as usize].is_some());
    k.deaths += 1;
    let seq = k.deaths;
    let t = &mut k.tasks[idx];
    t.caps = CapTable::new();
    t.root = 0;
    t.deadline = 0;
    sh.maps[idx] = shm::TaskMaps::new();
    // Shared memory the task held or mapped (its mappings went with its
    // address space, never freeing the frames): freed when nothing else
    // names it.
    for &obj in &mem_refs[..mem_n] {
        k.mem_reap(&mut sh, obj);
    }
    drop(sh);
    let t = &mut k.tasks[idx];
    let Some(ep) = fault_ep else {
        t.state = State::Free;
        return;
    };
    t.state = State::Dead { ep };
    t.death = DeathNotice {
        task: id,
        kind,
        code,
        addr,
        pc,
    };
    t.death_seq = seq;
    let Some(e) = k.endpoints[ep as usize].as_mut() else {
        return;
    };
    e.deaths = e.deaths.saturating_add(1);
    if let Some(r) = e.receiver {
        try_deliver_notice(k, r as usize, ep);
    }
}

/// Whether a deadline in ticks (0 = none) has passed.
pub fn passed(deadline: u64) -> bool {
    deadline != 0 && deadline <= arch::now_ticks()
}

/// Most bytes one `ConsoleRead` returns (the input ring's size).
pub const CONSOLE_READ_MAX: usize = neuron_core::console::INPUT_RING;

/// Drains the UART into the input ring (bytes that do not fit stay in the
/// UART) and hands input to a reader blocked in `ConsoleRead`.
pub fn console_rx(k: &mut Kernel) {
    console_drain(k);
    console_deliver(k);
    // The delivery may have made room.
    console_drain(k);
    // While the ring is full, bytes stay in the UART and its interrupt
    // (level-triggered) stays asserted: mask the source until the reader
    // makes room, or every return to a task would trap again.
    plic::set_enabled(k.uart_irq, !k.console_in.ring.is_full());
}

fn console_drain(k: &mut Kernel) {
    while !k.console_in.ring.is_full() {
        match console::getb() {
            Some(b) => {
                k.console_in.ring.push(b);
            }
            None => break,
        }
    }
}

/// Copies buffered input to the reader if it is blocked in `ConsoleRead`.
fn console_deliver(k: &mut Kernel) {
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
    // The range was validated by `ConsoleRead`; user mappings stay while
    // the task lives (a dead reader is never in `ConsoleRead`).
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
