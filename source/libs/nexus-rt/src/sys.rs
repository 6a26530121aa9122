//! One safe wrapper per syscall (see `docs/abi.md` for registers and errors).
//!
//! The wrappers pass only pointers derived from Rust slices, so they are safe;
//! [`raw`] lets tests pass arbitrary values and is `unsafe`.

use nexus_abi::{CapKind, Error, GrantSpec, Sysno, NO_SLOT};

/// Issues syscall `nr` with `a0..a6`; returns `a0..a4`.
///
/// # Safety
/// The kernel validates every pointer against the caller's address space, so
/// it cannot be made to touch memory the task does not own; but a pointer
/// argument the kernel writes through (receive/reply buffers, boot args) must
/// not alias live Rust references, or the write is undefined behaviour.
#[inline(always)]
pub unsafe fn raw(nr: u64, a: [u64; 7]) -> [u64; 5] {
    #[cfg(target_os = "none")]
    {
        let (mut a0, mut a1, mut a2, mut a3, mut a4) = (a[0], a[1], a[2], a[3], a[4]);
        // SAFETY: `ecall` traps to the kernel, which follows the ABI of
        // `nexus_abi`: it reads a0..a7 and writes only a0..a4.
        unsafe {
            core::arch::asm!(
                "ecall",
                inlateout("a0") a0, inlateout("a1") a1, inlateout("a2") a2,
                inlateout("a3") a3, inlateout("a4") a4,
                in("a5") a[5], in("a6") a[6], in("a7") nr,
                options(nostack)
            );
        }
        [a0, a1, a2, a3, a4]
    }
    #[cfg(not(target_os = "none"))]
    {
        let _ = (nr, a);
        [Error::InvalidSyscall.to_reg(), 0, 0, 0, 0]
    }
}

fn call(nr: Sysno, a: [u64; 7]) -> Result<[u64; 5], Error> {
    // SAFETY: every caller in this module passes pointers from slices that it
    // borrows exclusively for writes and shared for reads.
    let r = unsafe { raw(nr as u64, a) };
    if matches!(
        nr,
        Sysno::Yield
            | Sysno::SleepUntil
            | Sysno::IpcCall
            | Sysno::IpcRecv
            | Sysno::IpcReplyRecv
            | Sysno::IrqWait
            | Sysno::ConsoleRead
    ) {
        // The task may have waited: the log level may have changed meanwhile
        // (and a message that follows a change arrives this way).
        crate::console::level_may_have_changed();
    }
    Error::from_reg(r[0]).map(|()| r)
}

/// Gives up the rest of the time slice.
pub fn yield_now() {
    let _ = call(Sysno::Yield, [0; 7]);
}

/// Ends the task with `code`.
pub fn exit(code: u64) -> ! {
    let _ = call(Sysno::Exit, [code, 0, 0, 0, 0, 0, 0]);
    loop {
        core::hint::spin_loop();
    }
}

/// Writes bytes to the console (at most 4096 per call).
pub fn console_write(b: &[u8]) -> Result<usize, Error> {
    call(
        Sysno::ConsoleWrite,
        [b.as_ptr() as u64, b.len() as u64, 0, 0, 0, 0, 0],
    )
    .map(|r| r[1] as usize)
}

/// Monotonic nanoseconds since boot.
#[inline]
pub fn now_ns() -> u64 {
    call(Sysno::TimeNow, [0; 7]).map(|r| r[1]).unwrap_or(0)
}

/// Sleeps until the absolute deadline (ns).
pub fn sleep_until(deadline_ns: u64) {
    let _ = call(Sysno::SleepUntil, [deadline_ns, 0, 0, 0, 0, 0, 0]);
}

/// Sleeps for `ms` milliseconds.
pub fn sleep_ms(ms: u64) {
    sleep_until(now_ns().saturating_add(ms * 1_000_000));
}

/// A message received by [`recv`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// Bytes in the buffer.
    pub len: usize,
    /// The badge of the sender's capability ([`nexus_abi::KERNEL_BADGE`] for
    /// kernel notices).
    pub badge: u64,
    /// Token for [`reply`] (0 for kernel notices: no reply expected).
    pub token: u64,
    /// Slot of a transferred capability.
    pub cap: Option<u32>,
}

fn slot_opt(v: u64) -> Option<u32> {
    (v != NO_SLOT).then_some(v as u32)
}

/// Decodes the result registers of `IpcRecv` / `IpcReplyRecv`.
fn received(r: [u64; 5]) -> Received {
    Received {
        len: r[1] as usize,
        badge: r[2],
        token: r[3],
        cap: slot_opt(r[4]),
    }
}

/// Calls endpoint `ep` with `msg`, waits for the reply into `reply` until
/// `deadline_ns` (0 = forever). Returns the reply length and a transferred
/// cap (never: see [`ipc_call_accept`]).
pub fn ipc_call(
    ep: u32,
    msg: &[u8],
    reply: &mut [u8],
    xfer: Option<u32>,
    deadline_ns: u64,
) -> Result<(usize, Option<u32>), Error> {
    ipc_call_accept(ep, msg, reply, xfer, None, deadline_ns)
}

/// [`ipc_call`], offering the empty slot `accept` for a capability in the
/// reply.
pub fn ipc_call_accept(
    ep: u32,
    msg: &[u8],
    reply: &mut [u8],
    xfer: Option<u32>,
    accept: Option<u32>,
    deadline_ns: u64,
) -> Result<(usize, Option<u32>), Error> {
    let x = xfer.map_or(NO_SLOT, u64::from);
    let r = call(
        Sysno::IpcCall,
        [
            ep as u64,
            msg.as_ptr() as u64,
            msg.len() as u64,
            reply.as_mut_ptr() as u64,
            nexus_abi::with_accept(reply.len(), accept),
            x,
            deadline_ns,
        ],
    )?;
    Ok((r[1] as usize, slot_opt(r[2])))
}

/// Receives the next message on `ep` into `buf`.
pub fn ipc_recv(ep: u32, buf: &mut [u8], deadline_ns: u64) -> Result<Received, Error> {
    ipc_recv_accept(ep, buf, None, deadline_ns)
}

/// [`ipc_recv`], offering the empty slot `accept` for a transferred
/// capability (without an offer, a caller's transfer fails with `NoSlots`).
pub fn ipc_recv_accept(
    ep: u32,
    buf: &mut [u8],
    accept: Option<u32>,
    deadline_ns: u64,
) -> Result<Received, Error> {
    let r = call(
        Sysno::IpcRecv,
        [
            ep as u64,
            buf.as_mut_ptr() as u64,
            nexus_abi::with_accept(buf.len(), accept),
            0,
            0,
            0,
            deadline_ns,
        ],
    )?;
    Ok(received(r))
}

/// Replies to the call named by `token`.
pub fn ipc_reply(token: u64, msg: &[u8], xfer: Option<u32>) -> Result<(), Error> {
    let x = xfer.map_or(NO_SLOT, u64::from);
    call(
        Sysno::IpcReply,
        [token, msg.as_ptr() as u64, msg.len() as u64, x, 0, 0, 0],
    )
    .map(|_| ())
}

/// Replies to `token` (if non-zero) with `reply`, then receives on `ep`.
/// A reply to a caller that has gone away is dropped silently.
pub fn ipc_reply_recv(
    ep: u32,
    token: u64,
    reply: &[u8],
    buf: &mut [u8],
    deadline_ns: u64,
) -> Result<Received, Error> {
    ipc_reply_recv_accept(ep, token, reply, buf, None, deadline_ns)
}

/// [`ipc_reply_recv`], offering the empty slot `accept` for a transferred
/// capability.
pub fn ipc_reply_recv_accept(
    ep: u32,
    token: u64,
    reply: &[u8],
    buf: &mut [u8],
    accept: Option<u32>,
    deadline_ns: u64,
) -> Result<Received, Error> {
    let r = call(
        Sysno::IpcReplyRecv,
        [
            ep as u64,
            buf.as_mut_ptr() as u64,
            nexus_abi::with_accept(buf.len(), accept),
            token,
            reply.as_ptr() as u64,
            reply.len() as u64,
            deadline_ns,
        ],
    )?;
    Ok(received(r))
}

/// A short message as it travels in registers: `len` bytes (at most
/// [`nexus_abi::SHORT_MAX`]) packed into `words` ([`nexus_abi::short_pack`]).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Short {
    /// Bytes of the message.
    pub len: usize,
    /// The bytes, little endian, 8 to a word.
    pub words: nexus_abi::ShortWords,
}

impl Short {
    /// Packs `b` (`TooLarge` above [`nexus_abi::SHORT_MAX`] bytes).
    pub fn new(b: &[u8]) -> Result<Self, Error> {
        if b.len() > nexus_abi::SHORT_MAX {
            return Err(Error::TooLarge);
        }
        Ok(Self {
            len: b.len(),
            words: nexus_abi::short_pack(b),
        })
    }

    /// Copies the message into `out`; returns its length (`TooLarge` if
    /// `out` is shorter).
    pub fn read(&self, out: &mut [u8]) -> Result<usize, Error> {
        if out.len() < self.len {
            return Err(Error::TooLarge);
        }
        Ok(nexus_abi::short_unpack(&self.words, self.len, out))
    }
}

/// `IpcCallShort`: calls endpoint `ep` with a message of at most
/// [`nexus_abi::SHORT_MAX`] bytes carried in registers, and returns the
/// reply the same way (a longer reply fails with `TooLarge`). Nothing is
/// read from or written to memory by the kernel; no capability crosses.
#[inline]
pub fn ipc_call_short(ep: u32, msg: Short, deadline_ns: u64) -> Result<Short, Error> {
    #[cfg(target_os = "none")]
    {
        let [w0, w1, w2, w3] = msg.words;
        let (mut a0, mut a1) = (ep as u64, msg.len as u64);
        let (mut a2, mut a3, mut a4, mut a5) = (w0, w1, w2, w3);
        // SAFETY: `ecall` with the register form of `IpcCall`: the kernel
        // reads a0..a6 and writes a0..a5; it touches no memory of this task.
        unsafe {
            core::arch::asm!(
                "ecall",
                inlateout("a0") a0, inlateout("a1") a1, inlateout("a2") a2,
                inlateout("a3") a3, inlateout("a4") a4, inlateout("a5") a5,
                in("a6") deadline_ns, in("a7") Sysno::IpcCallShort as u64,
                options(nostack)
            );
        }
        crate::console::level_may_have_changed();
        Error::from_reg(a0)?;
        Ok(Short {
            len: (a1 as usize).min(nexus_abi::SHORT_MAX),
            words: [a2, a3, a4, a5],
        })
    }
    #[cfg(not(target_os = "none"))]
    {
        let _ = (ep, msg, deadline_ns);
        Err(Error::InvalidSyscall)
    }
}

/// `IpcReplyRecvShort`: replies to `token` (if non-zero) with `reply`
/// carried in registers, then receives on `ep` into `buf` as
/// [`ipc_reply_recv`] does. A reply to a caller that has gone away is
/// dropped silently.
#[inline]
pub fn ipc_reply_recv_short(
    ep: u32,
    token: u64,
    reply: Short,
    buf: &mut [u8],
    deadline_ns: u64,
) -> Result<Received, Error> {
    #[cfg(target_os = "none")]
    {
        let [w0, w1, w2, w3] = reply.words;
        let (mut a0, mut a1, mut a2, mut a3, mut a4) = (ep as u64, reply.len as u64, w0, w1, w2);
        let cap = nexus_abi::with_accept(buf.len(), None);
        // SAFETY: `ecall` with the register form of `IpcReplyRecv`: the
        // kernel reads a0..a6 and t0..t2, writes a0..a4, and writes the
        // received message only into `buf`, which this function borrows
        // exclusively.
        unsafe {
            core::arch::asm!(
                "ecall",
                inlateout("a0") a0, inlateout("a1") a1, inlateout("a2") a2,
                inlateout("a3") a3, inlateout("a4") a4, in("a5") w3,
                in("a6") deadline_ns, in("a7") Sysno::IpcReplyRecvShort as u64,
                in("t0") token, in("t1") buf.as_mut_ptr() as u64, in("t2") cap,
                options(nostack)
            );
        }
        crate::console::level_may_have_changed();
        Error::from_reg(a0)?;
        Ok(received([a0, a1, a2, a3, a4]))
    }
    #[cfg(not(target_os = "none"))]
    {
        let _ = (ep, token, reply, buf, deadline_ns);
        Err(Error::InvalidSyscall)
    }
}

/// Posts a notification on the endpoint in slot `ep` (which must carry
/// `NOTIFY`): its receiver gets one `Notify` kernel notice for every run of
/// posts (coalesced). Never blocks.
pub fn notify(ep: u32) -> Result<(), Error> {
    call(Sysno::Notify, [ep as u64, 0, 0, 0, 0, 0, 0]).map(|_| ())
}

/// What [`cap_info`] reports.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct CapInfo {
    /// Kind (`None` for a kind this runtime does not know).
    pub kind: Option<CapKind>,
    /// Rights bits.
    pub rights: u32,
    /// Endpoint: badge; Mmio: physical base; Dma: page budget; Memory:
    /// pages; MemBudget: its pages.
    pub x: u64,
    /// Endpoint: endpoint id; Mmio: length | irq << 48; MemBudget: pages
    /// of live objects charged to it.
    pub y: u64,
}

/// Describes the capability in `slot`.
pub fn cap_info(slot: u32) -> Result<CapInfo, Error> {
    let r = call(Sysno::CapInfo, [slot as u64, 0, 0, 0, 0, 0, 0])?;
    Ok(CapInfo {
        kind: CapKind::from_u64(r[1]),
        rights: r[2] as u32,
        x: r[3],
        y: r[4],
    })
}

/// Deletes the capability in `slot`.
pub fn cap_drop(slot: u32) -> Result<(), Error> {
    call(Sysno::CapDrop, [slot as u64, 0, 0, 0, 0, 0, 0]).map(|_| ())
}

/// Copies the capability in `slot` into the first free slot with rights
/// reduced to `mask`; returns the new slot.
pub fn cap_copy(slot: u32, mask: u32) -> Result<u32, Error> {
    call(Sysno::CapCopy, [slot as u64, mask as u64, 0, 0, 0, 0, 0]).map(|r| r[1] as u32)
}

/// Creates a shared-memory object of `pages` zeroed pages charged to DMA
/// cap or memory-budget cap `budget`; returns the slot of its memory
/// capability.
pub fn mem_create(budget: u32, pages: u64) -> Result<u32, Error> {
    call(Sysno::MemCreate, [budget as u64, pages, 0, 0, 0, 0, 0]).map(|r| r[1] as u32)
}

/// Carves a shared-memory budget of `pages` from DMA cap `dma`; returns
/// the slot of the memory-budget capability (`MemCreate` only).
pub fn mem_budget(dma: u32, pages: u64) -> Result<u32, Error> {
    call(Sysno::MemBudget, [dma as u64, pages, 0, 0, 0, 0, 0]).map(|r| r[1] as u32)
}

/// Maps the object of memory cap `slot` (writable if `write`): (va, pages).
pub fn mem_map(slot: u32, write: bool) -> Result<(u64, u64), Error> {
    let mode = if write { nexus_abi::MEM_MAP_WRITE } else { 0 };
    call(Sysno::MemMap, [slot as u64, mode, 0, 0, 0, 0, 0]).map(|r| (r[1], r[2]))
}

/// Removes the caller's mapping that starts at `va` (from [`mem_map`]).
pub fn mem_unmap(va: u64) -> Result<(), Error> {
    call(Sysno::MemUnmap, [va, 0, 0, 0, 0, 0, 0]).map(|_| ())
}

/// Maps the device region of MMIO capability `slot`; returns its address.
pub fn mmio_map(slot: u32) -> Result<u64, Error> {
    call(Sysno::MmioMap, [slot as u64, 0, 0, 0, 0, 0, 0]).map(|r| r[1])
}

/// Allocates `pages` contiguous zeroed pages under DMA cap `slot`: (va, pa).
pub fn dma_alloc(slot: u32, pages: u64) -> Result<(u64, u64), Error> {
    call(Sysno::DmaAlloc, [slot as u64, pages, 0, 0, 0, 0, 0]).map(|r| (r[1], r[2]))
}

/// Physical address of one of the caller's own RAM addresses.
pub fn virt_to_phys(va: u64) -> Result<u64, Error> {
    call(Sysno::VirtToPhys, [va, 0, 0, 0, 0, 0, 0]).map(|r| r[1])
}

/// Waits for the interrupt of device cap `slot` until `deadline_ns`.
pub fn irq_wait(slot: u32, deadline_ns: u64) -> Result<(), Error> {
    call(Sysno::IrqWait, [slot as u64, deadline_ns, 0, 0, 0, 0, 0]).map(|_| ())
}

/// Routes the interrupt of device cap `slot` to endpoint `ep` (which the
/// caller receives on): each firing arrives as a kernel notice of kind
/// `Interrupt`, and the source stays masked until [`irq_ack`].
pub fn irq_bind(slot: u32, ep: u32) -> Result<(), Error> {
    call(Sysno::IrqBind, [slot as u64, ep as u64, 0, 0, 0, 0, 0]).map(|_| ())
}

/// Ends task `task` (init only: needs the init-control capability `ctl`).
pub fn kill(ctl: u32, task: u64) -> Result<(), Error> {
    call(Sysno::Kill, [ctl as u64, task, 0, 0, 0, 0, 0]).map(|_| ())
}

/// Re-enables the interrupt of device cap `slot`.
pub fn irq_ack(slot: u32) -> Result<(), Error> {
    call(Sysno::IrqAck, [slot as u64, 0, 0, 0, 0, 0, 0]).map(|_| ())
}

/// Starts boot-image program `name` with `grants`; death notices go to
/// `fault_ep`. Returns the task id.
pub fn spawn(
    ctl: u32,
    name: &str,
    grants: &[GrantSpec],
    fault_ep: Option<u32>,
    arg: u64,
) -> Result<u64, Error> {
    spawn_loaded(ctl, name, grants, fault_ep, arg).map(|(id, _)| id)
}

/// [`spawn`], also returning the pages the kernel mapped at load (program
/// segments, static heap included, and the stack).
pub fn spawn_loaded(
    ctl: u32,
    name: &str,
    grants: &[GrantSpec],
    fault_ep: Option<u32>,
    arg: u64,
) -> Result<(u64, u64), Error> {
    let mut raw_grants = [0u8; nexus_abi::CAP_SLOTS * GrantSpec::SIZE];
    if grants.len() > nexus_abi::CAP_SLOTS {
        return Err(Error::InvalidArgument);
    }
    for (i, g) in grants.iter().enumerate() {
        let mut b = [0u8; GrantSpec::SIZE];
        g.encode(&mut b);
        raw_grants[i * GrantSpec::SIZE..(i + 1) * GrantSpec::SIZE].copy_from_slice(&b);
    }
    let f = fault_ep.map_or(NO_SLOT, u64::from);
    call(
        Sysno::Spawn,
        [
            ctl as u64,
            name.as_ptr() as u64,
            name.len() as u64,
            raw_grants.as_ptr() as u64,
            grants.len() as u64,
            f,
            arg,
        ],
    )
    .map(|r| (r[1], r[2]))
}

/// Reads console input into `buf` with the console-input capability in
/// `slot`: blocks until at least one byte arrived or `deadline_ns` (0 =
/// none) passed; returns the bytes read (at most 256).
pub fn console_read(slot: u32, buf: &mut [u8], deadline_ns: u64) -> Result<usize, Error> {
    call(
        Sysno::ConsoleRead,
        [
            slot as u64,
            buf.as_mut_ptr() as u64,
            buf.len() as u64,
            deadline_ns,
            0,
            0,
            0,
        ],
    )
    .map(|r| r[1] as usize)
}

/// The system-wide log level (`ConsoleLevel`, `log::LevelFilter`'s numbers:
/// 0 off .. 5 trace). Needs no capability.
pub fn log_level() -> Result<u8, Error> {
    call(
        Sysno::ConsoleLevel,
        [0, nexus_abi::LOG_LEVEL_QUERY, 0, 0, 0, 0, 0],
    )
    .map(|r| r[1] as u8)
}

/// Sets the system-wide log level (0 off .. 5 trace) with the
/// console-input capability in `slot`; returns the level in effect.
pub fn set_log_level(slot: u32, level: u8) -> Result<u8, Error> {
    call(
        Sysno::ConsoleLevel,
        [slot as u64, u64::from(level), 0, 0, 0, 0, 0],
    )
    .map(|r| r[1] as u8)
}

/// Creates an endpoint; returns the slot of its capability.
pub fn endpoint_create(ctl: u32) -> Result<u32, Error> {
    call(Sysno::EndpointCreate, [ctl as u64, 0, 0, 0, 0, 0, 0]).map(|r| r[1] as u32)
}

/// Copies the kernel command line into `buf`; returns its length.
pub fn boot_args(ctl: u32, buf: &mut [u8]) -> Result<usize, Error> {
    call(
        Sysno::BootArgs,
        [
            ctl as u64,
            buf.as_mut_ptr() as u64,
            buf.len() as u64,
            0,
            0,
            0,
            0,
        ],
    )
    .map(|r| r[1] as usize)
}

/// Reads the `time` counter (ticks of the platform's timebase; 0 on the host).
#[inline(always)]
pub fn time_ticks() -> u64 {
    #[cfg(target_os = "none")]
    {
        let v: u64;
        // SAFETY: reading a counter CSR the kernel enabled in scounteren.
        unsafe { core::arch::asm!("rdtime {0}", out(reg) v) };
        v
    }
    #[cfg(not(target_os = "none"))]
    0
}

/// Reads the retired-instruction counter (deterministic under QEMU `-icount`).
#[inline(always)]
pub fn instret() -> u64 {
    #[cfg(target_os = "none")]
    {
        let v: u64;
        // SAFETY: reading a counter CSR the kernel enabled in scounteren.
        unsafe { core::arch::asm!("rdinstret {0}", out(reg) v) };
        v
    }
    #[cfg(not(target_os = "none"))]
    0
}
