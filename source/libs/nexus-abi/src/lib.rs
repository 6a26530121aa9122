//! Neuron kernel ABI, shared by the kernel and every user task.
//!
//! This crate is the single source of truth for the user/kernel contract:
//! syscall numbers, the register convention, error codes, IPC limits, the
//! capability kinds and rights, and the user address-space layout. The prose
//! version lives in `docs/abi.md`; the two change together.
//!
//! # Register convention (RISC-V, `ecall` from U-mode)
//! - `a7` holds the syscall number ([`Sysno`]), `a0`..`a6` the arguments.
//! - On return `a0` is `0` on success or `-(Error as isize)` on failure;
//!   `a1`..`a4` carry results where a syscall documents them. All other
//!   registers are preserved, except in the register IPC forms:
//!   [`Sysno::IpcCallShort`] also returns `a5`, [`Sysno::IpcReplyRecvShort`]
//!   also reads `t0`..`t2`.
//!
//! Numbers are never reused: a retired syscall keeps its number reserved.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod slots;

/// Largest IPC message (request or reply) in bytes. Messages are copied once,
/// directly from the sender's buffer into the receiver's, so the kernel holds
/// no message buffers.
pub const MSG_MAX: usize = 8192;

/// "No capability slot" in arguments and results (e.g. no cap transferred).
pub const NO_SLOT: u64 = u64::MAX;

/// Number of capability slots in each task's table.
pub const CAP_SLOTS: usize = 32;

/// Badge carried by messages the kernel itself sends (death notices).
/// Init may not mint it.
pub const KERNEL_BADGE: u64 = u64::MAX;

/// Most pages of one shared-memory object (`MemCreate`): 256 KiB.
pub const MEM_MAX_PAGES: u64 = 64;

/// Most pages one shared-memory budget may allow in total (`MemBudget`):
/// 1 MiB.
pub const MEM_BUDGET_MAX_PAGES: u64 = 256;

/// `MemMap`'s `a1` for a writable mapping (0 = read-only).
pub const MEM_MAP_WRITE: u64 = 1;

/// Longest boot-image entry / task name in bytes.
pub const NAME_MAX: usize = 24;

/// User address-space layout (Sv39 lower half).
pub mod layout {
    /// Program segments must lie in `[IMAGE_BASE, IMAGE_END)`.
    pub const IMAGE_BASE: u64 = 0x1_0000_0000;
    /// End of the program-segment window.
    pub const IMAGE_END: u64 = 0x2_0000_0000;
    /// Initial stack pointer; the stack grows down from here.
    pub const STACK_TOP: u64 = 0x2_0000_0000;
    /// Size of the eagerly mapped user stack.
    pub const STACK_SIZE: u64 = 128 * 1024;
    /// Device and DMA mappings are placed by the kernel from here up.
    pub const MAP_BASE: u64 = 0x3_0000_0000;
    /// End of the kernel-chosen mapping window.
    pub const MAP_END: u64 = 0x3_8000_0000;
    /// Shared-memory mappings (`MemMap`) go to fixed slots from here: slot
    /// `i` of a task's [`SHM_SLOTS`] starts at `SHM_BASE + i * SHM_SLOT_SPAN`
    /// and is reused once `MemUnmap` freed it, so mapping and unmapping
    /// forever never uses up an address range.
    pub const SHM_BASE: u64 = MAP_END;
    /// Bytes of one shared-memory slot: the largest object.
    pub const SHM_SLOT_SPAN: u64 = super::MEM_MAX_PAGES * PAGE;
    /// Shared-memory slots per task (objects a task may map at once).
    pub const SHM_SLOTS: u64 = 4;
    /// Page size.
    pub const PAGE: u64 = 4096;
}

/// Buffer-capacity arguments (`IpcRecv`/`IpcReplyRecv` `a2`, `IpcCall` `a4`)
/// carry in bits 32..48 the slot offered for a transferred capability, plus
/// one (0 = no capability accepted). A capability crosses IPC only into a
/// slot its receiver offered and left empty; otherwise the transfer fails
/// with `NoSlots` for the side that sent it.
pub const ACCEPT_SHIFT: u32 = 32;

/// Encodes a buffer capacity and an offered capability slot.
pub const fn with_accept(cap: usize, slot: Option<u32>) -> u64 {
    let a = match slot {
        Some(s) => s as u64 + 1,
        None => 0,
    };
    (cap as u64 & 0xffff_ffff) | a << ACCEPT_SHIFT
}

/// Decodes [`with_accept`]: `(capacity, offered slot)`; `None` when bits
/// above 48 are set or the slot is out of range.
pub fn split_accept(v: u64) -> Option<(usize, Option<u32>)> {
    if v >> 48 != 0 {
        return None;
    }
    let cap = (v & 0xffff_ffff) as usize;
    match (v >> ACCEPT_SHIFT) as u32 {
        0 => Some((cap, None)),
        a if (a as usize) <= CAP_SLOTS => Some((cap, Some(a - 1))),
        _ => None,
    }
}

/// Longest message of the register IPC forms ([`Sysno::IpcCallShort`],
/// [`Sysno::IpcReplyRecvShort`]): four registers, `a2`..`a5`.
pub const SHORT_MAX: usize = 32;

/// The registers of a short message: byte `i` is byte `i % 8` (little
/// endian) of word `i / 8`; bytes from `len` on are zero.
pub type ShortWords = [u64; SHORT_MAX / 8];

/// Packs `b` (at most [`SHORT_MAX`] bytes; any more are ignored) into the
/// registers of a short message.
#[inline]
pub fn short_pack(b: &[u8]) -> ShortWords {
    let b = &b[..b.len().min(SHORT_MAX)];
    let mut w = [0u64; SHORT_MAX / 8];
    // Byte by byte into registers: no call to `memcpy` (whose setup costs
    // more than such a copy).
    let mut words = b.chunks_exact(8);
    for (x, c) in w.iter_mut().zip(&mut words) {
        *x = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
    }
    let at = b.len() / 8;
    for (i, &x) in words.remainder().iter().enumerate() {
        w[at] |= (x as u64) << (8 * i);
    }
    w
}

/// Unpacks the first `len` bytes (at most [`SHORT_MAX`]) of a short message
/// into `out`; returns how many were written (`len`, bounded by both).
#[inline]
pub fn short_unpack(w: &ShortWords, len: usize, out: &mut [u8]) -> usize {
    let n = len.min(SHORT_MAX).min(out.len());
    let mut chunks = out[..n].chunks_exact_mut(8);
    for (c, x) in (&mut chunks).zip(w) {
        c.copy_from_slice(&x.to_le_bytes());
    }
    let tail = chunks.into_remainder();
    let last = w[(n / 8).min(w.len() - 1)].to_le_bytes();
    for (d, s) in tail.iter_mut().zip(last) {
        *d = s;
    }
    n
}

/// `w` with every byte from `len` on cleared: what crosses from one task
/// to another is exactly the message, never register contents beyond it.
#[inline(always)]
pub fn short_mask(mut w: ShortWords, len: usize) -> ShortWords {
    for (i, x) in w.iter_mut().enumerate() {
        let lo = i * 8;
        let keep = match len.saturating_sub(lo) {
            0 => 0,
            n if n >= 8 => u64::MAX,
            n => (1u64 << (8 * n)) - 1,
        };
        *x &= keep;
    }
    w
}

/// Syscall numbers (`a7`).
#[repr(u64)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Sysno {
    /// Give up the rest of the time slice.
    Yield = 0,
    /// End the calling task: `a0` = exit code. Does not return.
    Exit = 1,
    /// Write `a1` bytes at `a0` to the console.
    ConsoleWrite = 2,
    /// Monotonic time since boot: `a1` = nanoseconds.
    TimeNow = 3,
    /// Sleep until the absolute monotonic deadline `a0` (ns).
    SleepUntil = 4,
    /// Call an endpoint and wait for the reply. See `docs/abi.md`.
    IpcCall = 5,
    /// Receive the next message on an endpoint.
    IpcRecv = 6,
    /// Reply to a received call, identified by its reply token.
    IpcReply = 7,
    /// Reply, then receive, in one trap (the server fast path).
    IpcReplyRecv = 8,
    /// Describe the capability in slot `a0`.
    CapInfo = 9,
    /// Delete the capability in slot `a0`.
    CapDrop = 10,
    /// Map the device region of the MMIO capability in slot `a0`.
    MmioMap = 11,
    /// Allocate `a1` physically contiguous, zeroed pages under DMA cap `a0`.
    DmaAlloc = 12,
    /// Translate one of the caller's own virtual addresses for DMA.
    VirtToPhys = 13,
    /// Wait for the interrupt of the device capability in slot `a0`.
    IrqWait = 14,
    /// Re-enable the interrupt of the device capability in slot `a0`.
    IrqAck = 15,
    /// Start a task from the boot image (init-control capability only).
    Spawn = 16,
    /// Create an IPC endpoint (init-control capability only).
    EndpointCreate = 17,
    /// Copy the kernel command line (init-control capability only).
    BootArgs = 18,
    /// Deliver the interrupt of device cap `a0` as a kernel notice on the
    /// endpoint in slot `a1` (which the caller must be able to receive on).
    IrqBind = 19,
    /// End task `a1` (a task id from `Spawn`) as if it had faulted; needs the
    /// init-control capability in `a0`. The supervisor gets a `Killed` notice.
    Kill = 20,
    /// Read console input: console-input capability `a0`, buffer `a1`, length
    /// `a2`, absolute deadline `a3` (ns, 0 = none). Blocks until at least one
    /// byte arrived; `a1` = bytes copied. One reader at a time (`Busy`).
    ConsoleRead = 21,
    /// Post a notification on the endpoint in slot `a0` (NOTIFY right): a
    /// coalesced kernel notice of kind `Notify`, never a message body;
    /// never blocks. See `docs/abi.md`, "Notifications".
    Notify = 22,
    /// The system-wide log level every task's `log` backend obeys (0 off,
    /// 1 error, 2 warn, 3 info, 4 debug, 5 trace; `log::LevelFilter`'s
    /// numbers): `a1` = [`LOG_LEVEL_QUERY`] only reads it (no capability);
    /// `a1` = 0..=5 sets it and needs a console-input capability with
    /// `RECV` in `a0`. Returns `a1` = the level in effect.
    ConsoleLevel = 23,
    /// Create a shared-memory object of `a1` zeroed pages (1..=
    /// [`MEM_MAX_PAGES`]) charged to the pool of DMA cap `a0`, or to the
    /// budget of memory-budget cap `a0` (and its pool); `a1` = the
    /// slot of the new memory capability (`MAP | WRITE | GRANT`). See
    /// `docs/abi.md`, "Shared memory".
    MemCreate = 24,
    /// Map the memory object of capability `a0` (`MAP`; `a1` = 1 for
    /// writable, which needs `WRITE`) at a kernel-chosen address: `a1` = va,
    /// `a2` = pages. One mapping per object and task (`Busy`).
    MemMap = 25,
    /// Remove the caller's mapping that starts at `a0` (from `MemMap`).
    MemUnmap = 26,
    /// Copy the capability in slot `a0` into the first free slot with its
    /// rights reduced to the mask `a1`: `a1` = the new slot.
    CapCopy = 27,
    /// Carve a shared-memory budget of `a1` pages (1..=
    /// [`MEM_BUDGET_MAX_PAGES`]) from DMA cap `a0`: `a1` = the slot of a new
    /// memory-budget capability (`GRANT`), which allows `MemCreate` up to
    /// that many pages alive at once and nothing else (no `DmaAlloc`, no
    /// `VirtToPhys`). See `docs/abi.md`, "Shared memory".
    MemBudget = 28,
    /// `IpcCall` with the message in registers (the short-message fast
    /// path): `a0` endpoint slot (SEND), `a1` length ≤ [`SHORT_MAX`],
    /// `a2`..`a5` the bytes ([`short_pack`]), `a6` deadline. Returns `a1`
    /// the reply length and `a2`..`a5` the reply bytes. No capability
    /// crosses either way. 29..=31 are left to other syscalls.
    IpcCallShort = 32,
    /// `IpcReplyRecv` with the reply in registers: `a0` endpoint slot
    /// (RECV), `a1` reply length ≤ [`SHORT_MAX`], `a2`..`a5` the reply
    /// bytes, `a6` deadline, `t0` reply token (0 = none), `t1` receive
    /// buffer, `t2` its capacity | offered slot. Results as `IpcRecv`.
    IpcReplyRecvShort = 33,
}

/// `ConsoleLevel`'s `a1` that reads the level without changing it.
pub const LOG_LEVEL_QUERY: u64 = u64::MAX;

/// The log level in effect at boot (info).
pub const LOG_LEVEL_DEFAULT: u8 = 3;

/// The highest log level (trace).
pub const LOG_LEVEL_MAX: u8 = 5;

impl TryFrom<u64> for Sysno {
    type Error = u64;
    fn try_from(n: u64) -> Result<Self, u64> {
        Ok(match n {
            0 => Self::Yield,
            1 => Self::Exit,
            2 => Self::ConsoleWrite,
            3 => Self::TimeNow,
            4 => Self::SleepUntil,
            5 => Self::IpcCall,
            6 => Self::IpcRecv,
            7 => Self::IpcReply,
            8 => Self::IpcReplyRecv,
            9 => Self::CapInfo,
            10 => Self::CapDrop,
            11 => Self::MmioMap,
            12 => Self::DmaAlloc,
            13 => Self::VirtToPhys,
            14 => Self::IrqWait,
            15 => Self::IrqAck,
            16 => Self::Spawn,
            17 => Self::EndpointCreate,
            18 => Self::BootArgs,
            19 => Self::IrqBind,
            20 => Self::Kill,
            21 => Self::ConsoleRead,
            22 => Self::Notify,
            23 => Self::ConsoleLevel,
            24 => Self::MemCreate,
            25 => Self::MemMap,
            26 => Self::MemUnmap,
            27 => Self::CapCopy,
            28 => Self::MemBudget,
            32 => Self::IpcCallShort,
            33 => Self::IpcReplyRecvShort,
            other => return Err(other),
        })
    }
}

/// Errors returned in `a0` as `-(code)`. Zero is success; codes start at 1.
#[repr(u64)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// `a7` is not a syscall number.
    InvalidSyscall = 1,
    /// A pointer/length is not mapped user memory of the caller with the
    /// needed access, or the range overflows.
    BadAddress = 2,
    /// An argument is out of its documented range.
    InvalidArgument = 3,
    /// The capability slot is empty or out of range.
    NoCapability = 4,
    /// The capability is of the wrong kind for this syscall.
    WrongCapability = 5,
    /// The capability lacks a right this operation needs.
    NoRights = 6,
    /// The kernel is out of physical memory or of a budget (DMA pages).
    NoMemory = 7,
    /// The receiving capability table has no free slot.
    NoSlots = 8,
    /// The deadline passed before the operation completed.
    TimedOut = 9,
    /// The peer task is gone (or the reply token is stale).
    PeerDead = 10,
    /// The message exceeds [`MSG_MAX`] or the receiver's buffer.
    TooLarge = 11,
    /// No boot-image entry has that name.
    NotFound = 12,
    /// The boot-image entry is not a valid program for this kernel.
    BadImage = 13,
    /// The object is in use by another task (e.g. an IRQ already waited on).
    Busy = 14,
    /// The task or endpoint table is full.
    NoResources = 15,
}

impl Error {
    /// Every error, for exhaustive tests and decoders.
    pub const ALL: [Error; 15] = [
        Self::InvalidSyscall,
        Self::BadAddress,
        Self::InvalidArgument,
        Self::NoCapability,
        Self::WrongCapability,
        Self::NoRights,
        Self::NoMemory,
        Self::NoSlots,
        Self::TimedOut,
        Self::PeerDead,
        Self::TooLarge,
        Self::NotFound,
        Self::BadImage,
        Self::Busy,
        Self::NoResources,
    ];

    /// Encodes the error for `a0`.
    pub const fn to_reg(self) -> u64 {
        (self as u64).wrapping_neg()
    }

    /// Decodes `a0`: `Ok(())` for zero, the error for a known negative code.
    /// An unknown code maps to [`Error::InvalidArgument`] rather than panicking.
    pub fn from_reg(a0: u64) -> Result<(), Error> {
        if a0 == 0 {
            return Ok(());
        }
        let code = a0.wrapping_neg();
        Err(Self::ALL
            .iter()
            .copied()
            .find(|e| *e as u64 == code)
            .unwrap_or(Error::InvalidArgument))
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let s = match self {
            Self::InvalidSyscall => "invalid syscall",
            Self::BadAddress => "bad address",
            Self::InvalidArgument => "invalid argument",
            Self::NoCapability => "no capability",
            Self::WrongCapability => "wrong capability kind",
            Self::NoRights => "insufficient rights",
            Self::NoMemory => "out of memory",
            Self::NoSlots => "no free capability slot",
            Self::TimedOut => "timed out",
            Self::PeerDead => "peer dead",
            Self::TooLarge => "message too large",
            Self::NotFound => "not found",
            Self::BadImage => "bad image",
            Self::Busy => "busy",
            Self::NoResources => "no resources",
        };
        f.write_str(s)
    }
}

/// Capability kinds, as reported by `CapInfo` in `a1`.
#[repr(u64)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CapKind {
    /// Authority to spawn tasks, create endpoints, read boot args (init only).
    InitControl = 1,
    /// An IPC endpoint; rights [`rights::SEND`], [`rights::RECV`], [`rights::GRANT`].
    Endpoint = 2,
    /// A device MMIO region and its interrupt line.
    Mmio = 3,
    /// A budget of DMA pages.
    Dma = 4,
    /// Authority to read console (UART) input with `ConsoleRead`; right
    /// [`rights::RECV`].
    ConsoleInput = 5,
    /// A shared-memory object (`MemCreate`); rights [`rights::MAP`],
    /// [`rights::WRITE`], [`rights::GRANT`].
    Memory = 6,
    /// A shared-memory budget (`MemBudget`): `MemCreate` only, up to its
    /// pages; right [`rights::GRANT`].
    MemBudget = 7,
}

impl CapKind {
    /// Decodes a `CapInfo` kind value.
    pub fn from_u64(v: u64) -> Option<Self> {
        match v {
            1 => Some(Self::InitControl),
            2 => Some(Self::Endpoint),
            3 => Some(Self::Mmio),
            4 => Some(Self::Dma),
            5 => Some(Self::ConsoleInput),
            6 => Some(Self::Memory),
            7 => Some(Self::MemBudget),
            _ => None,
        }
    }
}

/// Capability rights bits. Rights never grow when a capability is copied.
pub mod rights {
    /// Endpoint: may call.
    pub const SEND: u32 = 1 << 0;
    /// Endpoint: may receive and reply. Console input: may read.
    pub const RECV: u32 = 1 << 1;
    /// May be transferred onward through IPC.
    pub const GRANT: u32 = 1 << 2;
    /// Mmio: may map the region and wait on its interrupt.
    pub const MAP: u32 = 1 << 3;
    /// Endpoint: may post a notification (`Notify`): wakes the receiver
    /// with a coalesced kernel notice, carries no message.
    pub const NOTIFY: u32 = 1 << 4;
    /// Memory: may map writable (with `MAP`).
    pub const WRITE: u32 = 1 << 5;
    /// Every right.
    pub const ALL: u32 = SEND | RECV | GRANT | MAP | NOTIFY | WRITE;
}

/// One capability grant in a `Spawn` request: copy the spawner's slot `src`
/// into the child's slot `dst`, keeping only `rights`, and stamp `badge` on an
/// unbadged endpoint capability (0 = keep). 24 bytes, little-endian.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct GrantSpec {
    /// Slot in the spawner's table.
    pub src: u32,
    /// Slot in the child's table.
    pub dst: u32,
    /// Rights mask to keep.
    pub rights: u32,
    /// Badge for an endpoint capability (0 = leave unbadged/unchanged).
    pub badge: u64,
}

impl GrantSpec {
    /// Encoded size in bytes.
    pub const SIZE: usize = 24;

    /// Encodes into `out`.
    pub fn encode(&self, out: &mut [u8; Self::SIZE]) {
        out[0..4].copy_from_slice(&self.src.to_le_bytes());
        out[4..8].copy_from_slice(&self.dst.to_le_bytes());
        out[8..12].copy_from_slice(&self.rights.to_le_bytes());
        out[12..16].copy_from_slice(&0u32.to_le_bytes());
        out[16..24].copy_from_slice(&self.badge.to_le_bytes());
    }

    /// Decodes from exactly [`Self::SIZE`] bytes.
    pub fn decode(b: &[u8; Self::SIZE]) -> Self {
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let mut badge = [0u8; 8];
        badge.copy_from_slice(&b[16..24]);
        Self {
            src: u32_at(0),
            dst: u32_at(4),
            rights: u32_at(8),
            badge: u64::from_le_bytes(badge),
        }
    }
}

/// Why a task ended, in a [`DeathNotice`].
#[repr(u32)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DeathKind {
    /// The task called `Exit`; `code` is its exit code.
    Exited = 1,
    /// The task trapped; `code` is `scause`, `addr` is `stval`.
    Faulted = 2,
    /// Not a death: the interrupt bound with `IrqBind` fired. `code` is the
    /// interrupt number, `task` is 0. The source stays masked until `IrqAck`.
    Interrupt = 3,
    /// The supervisor ended the task with `Kill`.
    Killed = 4,
    /// Not a death: one or more `Notify` on the endpoint since the last
    /// such notice. `code` is how many (coalesced), `task` is 0.
    Notify = 5,
}

/// Every kernel notice (task deaths and bound interrupts) has the
/// [`DeathNotice`] layout; the kind tells them apart.
pub type KernelNotice = DeathNotice;

/// The message the kernel sends on a task's fault endpoint when it ends.
/// Delivered by `IpcRecv` with badge [`KERNEL_BADGE`] and no reply token.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct DeathNotice {
    /// The task id returned by `Spawn`.
    pub task: u64,
    /// Exit or fault.
    pub kind: DeathKind,
    /// Exit code, or `scause` for a fault.
    pub code: u64,
    /// `stval` for a fault (faulting address or instruction bits), else 0.
    pub addr: u64,
    /// `sepc` for a fault, else 0.
    pub pc: u64,
}

impl DeathNotice {
    /// Encoded size in bytes.
    pub const SIZE: usize = 40;

    /// Encodes, little-endian.
    pub fn encode(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..8].copy_from_slice(&self.task.to_le_bytes());
        b[8..12].copy_from_slice(&(self.kind as u32).to_le_bytes());
        b[16..24].copy_from_slice(&self.code.to_le_bytes());
        b[24..32].copy_from_slice(&self.addr.to_le_bytes());
        b[32..40].copy_from_slice(&self.pc.to_le_bytes());
        b
    }

    /// Decodes; `None` for a wrong length or unknown kind.
    pub fn decode(b: &[u8]) -> Option<Self> {
        if b.len() != Self::SIZE {
            return None;
        }
        let u64_at = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(w)
        };
        let kind = match u32::from_le_bytes([b[8], b[9], b[10], b[11]]) {
            1 => DeathKind::Exited,
            2 => DeathKind::Faulted,
            3 => DeathKind::Interrupt,
            4 => DeathKind::Killed,
            5 => DeathKind::Notify,
            _ => return None,
        };
        Some(Self {
            task: u64_at(0),
            kind,
            code: u64_at(16),
            addr: u64_at(24),
            pc: u64_at(32),
        })
    }
}

/// Human name of a RISC-V exception cause (`scause` without the interrupt bit).
pub fn cause_name(scause: u64) -> &'static str {
    match scause {
        0 => "instruction-misaligned",
        1 => "instruction-access-fault",
        2 => "illegal-instruction",
        3 => "breakpoint",
        4 => "load-misaligned",
        5 => "load-access-fault",
        6 => "store-misaligned",
        7 => "store-access-fault",
        12 => "instruction-page-fault",
        13 => "load-page-fault",
        15 => "store-page-fault",
        _ => "unknown-exception",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn short_messages_pack_unpack_and_mask() {
        use super::*;
        let b: [u8; 32] = core::array::from_fn(|i| i as u8 + 1);
        let w = short_pack(&b[..11]);
        assert_eq!(w[0], u64::from_le_bytes(b[..8].try_into().unwrap()));
        assert_eq!(w[1], 0x0b0a09);
        assert_eq!(w[2..], [0, 0]);
        let mut out = [0u8; 40];
        assert_eq!(short_unpack(&w, 11, &mut out), 11);
        assert_eq!(out[..11], b[..11]);
        assert_eq!(short_unpack(&w, 100, &mut out), 32);
        assert_eq!(short_unpack(&w, 11, &mut out[..3]), 3);
        let full = short_pack(&b);
        assert_eq!(short_pack(&[b.as_slice(), &[9u8; 8]].concat()), full);
        assert_eq!(short_mask(full, 32), full);
        assert_eq!(short_mask(full, 11), w);
        assert_eq!(short_mask(full, 0), [0; 4]);
        assert_eq!(short_mask(full, 16), short_pack(&b[..16]));
        assert_eq!(Sysno::try_from(32), Ok(Sysno::IpcCallShort));
        assert_eq!(Sysno::try_from(33), Ok(Sysno::IpcReplyRecvShort));
        assert_eq!(Sysno::try_from(29), Err(29));
    }

    #[test]
    fn accept_slot_roundtrips_and_rejects_garbage() {
        use super::*;
        assert_eq!(split_accept(with_accept(8192, None)), Some((8192, None)));
        assert_eq!(
            split_accept(with_accept(64, Some(31))),
            Some((64, Some(31)))
        );
        assert_eq!(split_accept(with_accept(64, Some(0))), Some((64, Some(0))));
        assert_eq!(split_accept(33 << ACCEPT_SHIFT), None);
        assert_eq!(split_accept(u64::MAX), None);
    }

    use super::*;

    #[test]
    fn sysno_roundtrip_and_unknown_rejected() {
        for n in 0..=28u64 {
            let s = Sysno::try_from(n).expect("known syscall");
            assert_eq!(s as u64, n);
        }
        assert_eq!(Sysno::try_from(29), Err(29));
        assert_eq!(Sysno::try_from(31), Err(31));
        assert_eq!(Sysno::try_from(u64::MAX), Err(u64::MAX));
    }

    #[test]
    fn error_register_encoding_roundtrips() {
        assert_eq!(Error::from_reg(0), Ok(()));
        for e in Error::ALL {
            assert_eq!(Error::from_reg(e.to_reg()), Err(e));
        }
        assert_eq!(Error::from_reg(12345), Err(Error::InvalidArgument));
    }

    #[test]
    fn grant_spec_roundtrip() {
        let g = GrantSpec {
            src: 3,
            dst: 7,
            rights: rights::SEND | rights::GRANT,
            badge: 0xdead_beef_0000_0001,
        };
        let mut b = [0u8; GrantSpec::SIZE];
        g.encode(&mut b);
        assert_eq!(GrantSpec::decode(&b), g);
    }

    #[test]
    fn death_notice_roundtrip_and_rejects() {
        let n = DeathNotice {
            task: 0x0102,
            kind: DeathKind::Faulted,
            code: 15,
            addr: 0,
            pc: 0x1_0000_0040,
        };
        assert_eq!(DeathNotice::decode(&n.encode()), Some(n));
        assert_eq!(DeathNotice::decode(&n.encode()[..39]), None);
        let mut bad = n.encode();
        bad[8] = 9;
        assert_eq!(DeathNotice::decode(&bad), None);
    }

    #[test]
    fn message_limit_fits_bulk_socket_io() {
        // Issue contract: at least 4 KiB of payload per message plus headers.
        const _: () = assert!(MSG_MAX >= 4096 + 64);
    }
}
