//! Kernel state, boot, task creation and the time bookkeeping: the bottom
//! layer over the hardware modules. IPC delivery, notices and task death are
//! in `ipc`, the syscalls in `syscall`, the trap path and scheduler in
//! `trap`; each layer imports only the ones below it.

use crate::arch::{self, TrapFrame};
use crate::dtb::{BootInfo, BOOTARGS_MAX};
use crate::kprintln;
use crate::mem::Memory;
use neuron_core::bootimg::BootImage;
use neuron_core::caps::{Cap, CapTable};
use neuron_core::console::ConsoleInput;
use neuron_core::dma::{self, DMA_POOLS};
use neuron_core::elfload;
use neuron_core::ipc::{self, Endpoint, MAX_ENDPOINTS, MAX_TASKS};
use neuron_core::pagetable::{self, flags, make_pte};
use neuron_core::shm;
use nexus_abi::layout::{MAP_BASE, PAGE, STACK_SIZE, STACK_TOP};
use nexus_abi::{rights, slots, DeathKind, DeathNotice, Error, GrantSpec, CAP_SLOTS, NAME_MAX};
use spin::Mutex;

/// Pages of init's DMA budget, shared by every copy of its DMA capability.
const INIT_DMA_PAGES: u32 = 1024;
/// Distinct device windows a task may have mapped.
pub const MMIO_MAPS: usize = 8;
/// Console bytes a task may write in a burst, and refill per second.
pub const CONSOLE_BURST: u32 = 32 * 1024;
pub const CONSOLE_PER_SEC: u64 = 8 * 1024;
/// Time slice.
pub const SLICE_NS: u64 = 10_000_000;
/// Highest PLIC source tracked.
pub const MAX_IRQ: usize = 64;

/// What a task is doing.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// Slot unused.
    Free,
    /// Runnable.
    Ready,
    /// Blocked in `IpcCall`, queued on endpoint `ep` until a receiver comes.
    Sending { ep: u16 },
    /// Delivered; waiting for the reply of task `server`.
    AwaitReply { server: u8 },
    /// Blocked in `IpcRecv` on endpoint `ep`.
    Receiving { ep: u16 },
    /// Blocked in `SleepUntil`.
    Sleeping,
    /// Blocked in `IrqWait` on `irq`.
    IrqWait { irq: u32 },
    /// Ended; the slot holds its death record until the supervisor has
    /// received it on endpoint `ep` (then the slot is `Free`).
    Dead { ep: u16 },
    /// Blocked in `ConsoleRead` (buffer in `recv`) until input arrives.
    ConsoleRead,
}

/// Arguments of a call in progress (kept while the caller is blocked).
#[derive(Copy, Clone, Debug, Default)]
pub struct PendingCall {
    pub msg: u64,
    pub len: usize,
    pub reply: u64,
    pub reply_cap: usize,
    /// Physical address of `reply` (0 = not known): the reply buffer was
    /// validated for writing, so a reply within its first page needs no
    /// translation.
    pub reply_pa: u64,
    /// Slot the caller offered for a capability in the reply.
    pub accept: Option<u32>,
    pub xfer: Option<u32>,
    pub badge: u64,
    /// An `IpcCallShort`: the message is in the caller's `a2`..`a5` (its
    /// frame, unchanged while it waits) and the reply goes there too.
    pub short: bool,
}

/// One task.
pub struct Task {
    pub frame: TrapFrame,
    pub state: State,
    pub generation: u32,
    pub root: u64,
    pub caps: CapTable,
    pub name: [u8; NAME_MAX],
    pub name_len: usize,
    pub fault_ep: Option<u16>,
    pub call_seq: u32,
    pub call: PendingCall,
    /// Receive buffer while `Receiving` (or `ConsoleRead`).
    pub recv: (u64, usize),
    /// Physical address of `recv.0` while `Receiving` (0 = not known).
    pub recv_pa: u64,
    /// Slot offered for a transferred capability while `Receiving`.
    pub recv_accept: Option<u32>,
    /// The last receive buffer that validated (see `ipc_recv`), and the
    /// physical address of its start (0 for an empty buffer).
    pub recv_ok: (u64, usize),
    pub recv_ok_pa: u64,
    /// The last reply buffer that validated (see `ipc_call`), and the
    /// physical address of its start (0 for an empty buffer).
    pub reply_ok: (u64, usize),
    pub reply_ok_pa: u64,
    /// The IPC fast paths' one-page source cache: the page (va; 0 = none)
    /// of the last message or reply this task sent from memory, and its
    /// physical page, validated readable user RAM (not device memory). As
    /// the translation cache, valid because user mappings are removed only
    /// when the task ends (then the task is reset), by a failing `DmaAlloc`
    /// or by `MemUnmap` (which clear it: `forget_mappings`).
    pub src_page: u64,
    pub src_pa: u64,
    /// Absolute deadline in ticks for the current block (0 = none).
    pub deadline: u64,
    pub map_next: u64,
    /// Pages this task took from each DMA pool (returned when it ends).
    pub dma_used: dma::TaskShare,
    /// Device windows mapped: (physical base, va). `MmioMap` of a window
    /// already mapped returns the same va.
    pub mmio_maps: [(u64, u64); MMIO_MAPS],
    /// Console bytes left in the burst, and the tick of the last refill.
    pub console_left: u32,
    pub console_at: u64,
    /// Whether the kernel already said this task's output is being dropped.
    pub console_muted: bool,
    /// The death notice kept while `Dead`, and its order among deaths.
    pub death: DeathNotice,
    pub death_seq: u64,
    /// Pages mapped at load: program segments (static heap included) and
    /// the stack. Reported by `Spawn` in `a2`.
    pub loaded_pages: u64,
}

impl Task {
    const fn empty() -> Self {
        Self {
            frame: TrapFrame::zero(),
            state: State::Free,
            generation: 0,
            root: 0,
            caps: CapTable::new(),
            name: [0; NAME_MAX],
            name_len: 0,
            fault_ep: None,
            call_seq: 0,
            call: PendingCall {
                msg: 0,
                len: 0,
                reply: 0,
                reply_cap: 0,
                reply_pa: 0,
                accept: None,
                xfer: None,
                badge: 0,
                short: false,
            },
            recv: (0, 0),
            recv_pa: 0,
            recv_accept: None,
            recv_ok: (0, usize::MAX),
            recv_ok_pa: 0,
            reply_ok: (0, usize::MAX),
            reply_ok_pa: 0,
            src_page: 0,
            src_pa: 0,
            deadline: 0,
            map_next: MAP_BASE,
            dma_used: [0; DMA_POOLS],
            mmio_maps: [(0, 0); MMIO_MAPS],
            console_left: CONSOLE_BURST,
            console_at: 0,
            console_muted: false,
            death: DeathNotice {
                task: 0,
                kind: DeathKind::Exited,
                code: 0,
                addr: 0,
                pc: 0,
            },
            death_seq: 0,
            loaded_pages: 0,
        }
    }

    /// Forgets every cached translation and validated buffer of this task
    /// (after one of its mappings was removed): the next IPC validates and
    /// translates afresh.
    pub fn forget_mappings(&mut self) {
        self.src_page = 0;
        self.src_pa = 0;
        self.recv_ok = (0, usize::MAX);
        self.recv_ok_pa = 0;
        self.reply_ok = (0, usize::MAX);
        self.reply_ok_pa = 0;
    }

    pub fn name(&self) -> &str {
        core::str::from_utf8(&self.name[..self.name_len]).unwrap_or("?")
    }
}

/// Interrupt line state.
#[derive(Copy, Clone, Default)]
pub struct IrqLine {
    pub owner: Option<u8>,
    pub pending: bool,
    /// Endpoint that receives an `Interrupt` notice when the line fires
    /// (`IrqBind`); `None` for `IrqWait` lines.
    pub bound_ep: Option<u16>,
}

/// All kernel state, behind one lock taken by the trap handler.
pub struct Kernel {
    pub mem: Memory,
    pub tasks: [Task; MAX_TASKS],
    pub endpoints: [Option<Endpoint>; MAX_ENDPOINTS],
    pub irqs: [IrqLine; MAX_IRQ],
    pub dma_pools: dma::Pools,

    /// Deaths so far (orders death records).
    pub deaths: u64,
    pub current: usize,
    pub hint: Option<usize>,
    pub kernel_root: u64,
    pub kernel_entries: [(usize, u64); 2],
    pub active_root: u64,
    pub timebase: u64,
    /// Nanoseconds per tick when the timebase divides 1e9 exactly (QEMU
    /// virt: 100), else 0; set with `timebase`.
    pub ns_per_tick: u64,
    pub timer_armed: u64,
    pub slice_end: u64,
    pub image: &'static [u8],
    pub bootargs: [u8; BOOTARGS_MAX],
    pub bootargs_len: usize,
    /// Console input drained from the UART and its one reader.
    pub console_in: ConsoleInput,
    /// The UART's PLIC source (0 = none: input is polled when idle).
    pub uart_irq: u32,
    /// The UART receive interrupt is on (since the first `ConsoleRead`).
    pub console_rx_on: bool,
    /// The system-wide log level (`ConsoleLevel`; `log::LevelFilter`'s
    /// numbers, 0 off .. 5 trace).
    pub log_level: u8,
}

#[allow(clippy::declare_interior_mutable_const)]
const NO_TASK: Task = Task::empty();

pub static KERNEL: Mutex<Kernel> = Mutex::new(Kernel {
    mem: Memory::new(),
    tasks: [NO_TASK; MAX_TASKS],
    endpoints: [const { None }; MAX_ENDPOINTS],
    irqs: [IrqLine {
        owner: None,
        pending: false,
        bound_ep: None,
    }; MAX_IRQ],
    dma_pools: dma::Pools::new(),

    deaths: 0,
    current: 0,
    hint: None,
    kernel_root: 0,
    kernel_entries: [(0, 0); 2],
    active_root: 0,
    timebase: 10_000_000,
    ns_per_tick: 100,
    timer_armed: u64::MAX,
    slice_end: 0,
    image: &[],
    bootargs: [0; BOOTARGS_MAX],
    bootargs_len: 0,
    console_in: ConsoleInput::new(),
    uart_irq: 0,
    console_rx_on: false,
    log_level: nexus_abi::LOG_LEVEL_DEFAULT,
});

/// Shared-memory state: the objects (`MemCreate`) and, by task index, the
/// objects each task maps (`MemMap`). Its own lock, taken only while
/// `KERNEL` is held (never the other way round); kept out of `Kernel` and
/// `Task` so that their layout, which the syscall paths' field addressing
/// depends on, does not change (the IPC figures of `bench-os` moved by up
/// to 30 instructions when it was inside).
pub struct Shm {
    pub objs: shm::Objects,
    pub maps: [shm::TaskMaps; MAX_TASKS],
    /// Shared-memory budgets (`MemBudget`).
    pub budgets: shm::Budgets,
}

pub static SHM: Mutex<Shm> = Mutex::new(Shm {
    objs: shm::Objects::new(),
    budgets: shm::Budgets::new(),
    maps: [shm::TaskMaps::new(); MAX_TASKS],
});

extern "C" {
    static __kernel_start: u8;
    static __text_end: u8;
    static __rodata_end: u8;
    static __kernel_end: u8;
}

/// The kernel's view of RAM (gigapage 2, 0x8000_0000..0xC000_0000) as a
/// level-1 table shared by every address space: the kernel image in 4 KiB
/// pages (text R+X, rodata R, data/bss/stacks R+W), the rest of RAM in
/// 2 MiB pages R+W. Nothing is writable and executable at once.
fn kernel_ram_table(mem: &mut Memory) -> u64 {
    use pagetable::PhysMem;
    // Linker-script symbols; only their addresses are taken.
    let (start, text_end, ro_end, end) = (
        core::ptr::addr_of!(__kernel_start) as u64,
        core::ptr::addr_of!(__text_end) as u64,
        core::ptr::addr_of!(__rodata_end) as u64,
        core::ptr::addr_of!(__kernel_end) as u64,
    );
    const RAM: u64 = 0x8000_0000;
    const MEGA: u64 = 2 << 20;
    let g = flags::G | flags::A | flags::D;
    let l1 = mem.alloc_frame().expect("kernel table");
    for i in 0..512u64 {
        let base = RAM + i * MEGA;
        if base + MEGA <= start || base >= end {
            mem.write_pte(l1, i as usize, make_pte(base, flags::R | flags::W | g));
            continue;
        }
        let l0 = mem.alloc_frame().expect("kernel table");
        for j in 0..512u64 {
            let pa = base + j * PAGE;
            let f = if pa >= start && pa < text_end {
                flags::R | flags::X
            } else if pa >= text_end && pa < ro_end {
                flags::R
            } else {
                flags::R | flags::W
            };
            mem.write_pte(l0, j as usize, make_pte(pa, f | g));
        }
        mem.write_pte(l1, i as usize, make_pte(l0, flags::G));
    }
    l1
}

/// Reads back, from the installed tables, the flags of the first page of
/// kernel text, of rodata and of data; `rwx` strings for the boot line.
fn kernel_map_flags(mem: &Memory, root: u64) -> [&'static str; 3] {
    // Indexed by R | W << 1 | X << 2, as read back from the PTE.
    const RWX: [&str; 8] = ["---", "r--", "-w-", "rw-", "--x", "r-x", "-wx", "rwx"];
    let probe = [
        core::ptr::addr_of!(__kernel_start) as u64,
        core::ptr::addr_of!(__text_end) as u64,
        core::ptr::addr_of!(__rodata_end) as u64,
    ];
    probe.map(|va| match pagetable::translate(mem, root, va) {
        Some((_, f)) => {
            let bit = |b: u64, at: usize| usize::from(f & b != 0) << at;
            RWX[bit(flags::R, 0) | bit(flags::W, 1) | bit(flags::X, 2)]
        }
        None => "???",
    })
}

/// Boots: memory, paging, interrupts, init; then runs tasks forever.
pub fn boot(info: &BootInfo, image: &'static [u8]) -> ! {
    let mut k = KERNEL.lock();
    let kernel_end = core::ptr::addr_of!(__kernel_end) as u64;
    let ram_end = info.ram.1.min(0xC000_0000);
    k.mem.frames.init(kernel_end, ram_end);
    k.mem.frames.reserve(info.dtb.0, info.dtb.1);
    k.timebase = info.timebase.max(1);
    k.ns_per_tick = if 1_000_000_000 % k.timebase == 0 {
        1_000_000_000 / k.timebase
    } else {
        0
    };
    k.bootargs = info.bootargs;
    k.bootargs_len = info.bootargs_len;
    k.image = image;
    k.uart_irq = info.uart_irq;

    // Kernel mappings shared by every address space: devices (gigapage 0)
    // read/write, RAM (gigapage 2) through the shared table above; global,
    // never U.
    let g = flags::G | flags::A | flags::D;
    let ram = kernel_ram_table(&mut k.mem);
    k.kernel_entries = [
        (0, make_pte(0, flags::R | flags::W | g)),
        (2, make_pte(ram, flags::G)),
    ];
    let entries = k.kernel_entries;
    let root = pagetable::new_root(&mut k.mem, &entries).expect("kernel root");
    k.kernel_root = root;
    k.active_root = root;
    arch::set_satp(pagetable::satp(root));
    let [text, ro, data] = kernel_map_flags(&k.mem, root);
    kprintln!(
        "neuron: kernel map text={} rodata={} data={}",
        text,
        ro,
        data
    );
    crate::plic::init(info.plic);
    arch::init_traps();
    kprintln!(
        "neuron: paging on (sv39), {} free frames, {} virtio-mmio slots",
        k.mem.frames.free_frames(),
        info.virtio_count
    );

    let parsed = match BootImage::parse(image) {
        Ok(p) => p,
        Err(e) => panic!("boot image invalid: {:?}", e),
    };
    kprintln!(
        "neuron: boot image {} bytes, {} programs",
        image.len(),
        parsed.len()
    );

    // Init's capabilities: control, a DMA budget, every virtio-mmio slot.
    let _ = k.dma_pools.create(0, INIT_DMA_PAGES);
    let mut caps = CapTable::new();
    let _ = caps.insert_at(slots::init::CONTROL as u64, Cap::InitControl);
    let _ = caps.insert_at(
        slots::init::DMA as u64,
        Cap::Dma {
            pool: 0,
            pages: INIT_DMA_PAGES,
            rights: rights::GRANT,
        },
    );
    for (i, v) in info.virtio[..info.virtio_count]
        .iter()
        .enumerate()
        .take(slots::init::MMIO_MAX as usize)
    {
        let cap = Cap::Mmio {
            base: v.base,
            len: v.len.max(PAGE),
            irq: v.irq,
            rights: rights::MAP | rights::GRANT,
        };
        let _ = caps.insert_at((slots::init::MMIO_FIRST as usize + i) as u64, cap);
    }
    // Console input: init keeps it and grants it to the profile's shell.
    let _ = caps.insert_at(
        slots::init::CONSOLE_INPUT as u64,
        Cap::ConsoleInput {
            rights: rights::RECV | rights::GRANT,
        },
    );
    match k.create_task(b"nexus-init", caps, None, 0) {
        Ok(id) => kprintln!("neuron: started nexus-init (task {:#x})", id),
        Err(e) => panic!("cannot start nexus-init: {}", e),
    }
    let now = arch::now_ticks();
    k.slice_end = now + k.ns_to_ticks(SLICE_NS);
    k.arm_timer(now);
    k.current = 0;
    let root = k.tasks[0].root;
    k.switch_root(root);
    let frame = &mut k.tasks[0].frame as *mut TrapFrame;
    drop(k);
    // SAFETY: `frame` is init's frame in the static kernel state and init's
    // address space is installed.
    unsafe { enter_user(frame) }
}

/// Jumps to U-mode with the context in `frame`, through the restore half of
/// the trap path (`trap_return` in `entry.S`), so every register is loaded
/// from the frame and nothing of the kernel's leaks.
///
/// # Safety
/// `frame` must point to a task's frame in the static kernel state, whose
/// address space is installed in `satp`.
unsafe fn enter_user(frame: *mut TrapFrame) -> ! {
    // SAFETY: per the contract; `trap_return` expects a0 = frame and ends in
    // `sret` to U-mode (SPP = 0 set by `init_traps`).
    unsafe {
        core::arch::asm!(
            "la sp, __trap_stack_top",
            "j trap_return",
            in("a0") frame,
            options(noreturn)
        )
    }
}

impl Kernel {
    pub fn ns_to_ticks(&self, ns: u64) -> u64 {
        ((ns as u128 * self.timebase as u128) / 1_000_000_000) as u64
    }

    pub fn ticks_to_ns(&self, t: u64) -> u64 {
        // QEMU virt ticks at 10 MHz: a multiply instead of a 128-bit divide.
        if self.ns_per_tick != 0 {
            t.wrapping_mul(self.ns_per_tick)
        } else {
            ((t as u128 * 1_000_000_000) / self.timebase as u128) as u64
        }
    }

    pub fn now_ns(&self) -> u64 {
        self.ticks_to_ns(arch::now_ticks())
    }

    /// Converts an absolute ns deadline from user space (0 = none) to ticks.
    pub fn deadline_ticks(&self, ns: u64) -> u64 {
        if ns == 0 {
            0
        } else {
            self.ns_to_ticks(ns).max(1)
        }
    }

    pub fn switch_root(&mut self, root: u64) {
        if self.active_root != root {
            arch::set_satp(pagetable::satp(root));
            self.active_root = root;
        }
    }

    /// Arms the timer for the earlier of the slice end and the first deadline.
    /// Skips the SBI call when the armed time is already right.
    pub fn arm_timer(&mut self, now: u64) {
        let mut next = self.slice_end;
        for t in self.tasks.iter() {
            if t.state != State::Free
                && t.state != State::Ready
                && t.deadline != 0
                && t.deadline < next
            {
                next = t.deadline;
            }
        }
        if next != self.timer_armed || self.timer_armed <= now {
            self.timer_armed = next;
            arch::set_timer(next);
        }
    }

    /// Re-arms only if `deadline` is earlier than what is armed.
    pub fn note_deadline(&mut self, deadline: u64) {
        if deadline != 0 && deadline < self.timer_armed {
            self.timer_armed = deadline;
            arch::set_timer(deadline);
        }
    }

    /// Loads program `name` from the boot image into a new task.
    pub fn create_task(
        &mut self,
        name: &[u8],
        caps: CapTable,
        fault_ep: Option<u16>,
        arg: u64,
    ) -> Result<u64, Error> {
        let image = BootImage::parse(self.image).map_err(|_| Error::BadImage)?;
        let elf = image.find(name).ok_or(Error::NotFound)?;
        let plan = elfload::plan(elf).map_err(|_| Error::BadImage)?;
        let idx = self
            .tasks
            .iter()
            .position(|t| t.state == State::Free)
            .ok_or(Error::NoResources)?;
        let entries = self.kernel_entries;
        let root = pagetable::new_root(&mut self.mem, &entries).ok_or(Error::NoMemory)?;
        if let Err(e) = self.load_segments(root, elf, &plan) {
            pagetable::teardown(&mut self.mem, root);
            return Err(e);
        }
        SHM.lock().maps[idx] = shm::TaskMaps::new();
        let t = &mut self.tasks[idx];
        let generation = t.generation.wrapping_add(1) & 0xff_ffff;
        *t = Task::empty();
        t.generation = generation;
        t.root = root;
        t.caps = caps;
        t.name[..name.len()].copy_from_slice(name);
        t.name_len = name.len();
        t.fault_ep = fault_ep;
        t.call_seq = 1;
        t.frame.sepc = plan.entry;
        t.frame.regs[2] = STACK_TOP;
        t.frame.set_a(0, arg);
        t.state = State::Ready;
        t.loaded_pages = plan
            .iter()
            .map(|s| {
                let (lo, hi) = s.pages();
                (hi - lo) / PAGE
            })
            .sum::<u64>()
            + STACK_SIZE / PAGE;
        Ok(ipc::task_id(idx, generation))
    }

    fn load_segments(&mut self, root: u64, elf: &[u8], plan: &elfload::Plan) -> Result<(), Error> {
        for seg in plan.iter() {
            let mut f = flags::U | flags::OWNED;
            if seg.read {
                f |= flags::R;
            }
            if seg.write {
                f |= flags::W | flags::R;
            }
            if seg.exec {
                f |= flags::X;
            }
            let (start, end) = seg.pages();
            let mut page = start;
            while page < end {
                let frame =
                    pagetable::PhysMem::alloc_frame(&mut self.mem).ok_or(Error::NoMemory)?;
                if pagetable::map(&mut self.mem, root, page, frame, f).is_err() {
                    self.mem.frames.free(frame);
                    return Err(Error::NoMemory);
                }
                // File bytes overlapping this page.
                let file_lo = seg.vaddr;
                let file_hi = seg.vaddr + seg.filesz;
                let lo = page.max(file_lo);
                let hi = (page + PAGE).min(file_hi);
                if lo < hi {
                    let off = (seg.offset + (lo - seg.vaddr)) as usize;
                    self.mem
                        .write_phys(frame + (lo - page), &elf[off..off + (hi - lo) as usize]);
                }
                page += PAGE;
            }
        }
        let mut page = STACK_TOP - STACK_SIZE;
        while page < STACK_TOP {
            let frame = pagetable::PhysMem::alloc_frame(&mut self.mem).ok_or(Error::NoMemory)?;
            let f = flags::U | flags::R | flags::W | flags::OWNED;
            if pagetable::map(&mut self.mem, root, page, frame, f).is_err() {
                self.mem.frames.free(frame);
                return Err(Error::NoMemory);
            }
            page += PAGE;
        }
        Ok(())
    }

    /// Spawn on behalf of `parent` (already checked to hold init-control).
    pub fn spawn(
        &mut self,
        parent: usize,
        name: &[u8],
        grants: &[GrantSpec],
        fault_ep: Option<u16>,
        arg: u64,
    ) -> Result<u64, Error> {
        let mut caps = CapTable::new();
        for g in grants {
            if g.dst as usize >= CAP_SLOTS {
                return Err(Error::InvalidArgument);
            }
            let cap = self.tasks[parent].caps.get(g.src as u64)?;
            let derived = cap.derive(g.rights, g.badge)?;
            caps.insert_at(g.dst as u64, derived)
                .map_err(|_| Error::InvalidArgument)?;
        }
        self.create_task(name, caps, fault_ep, arg)
    }

    /// Frees memory object `obj` if no capability and no mapping names it
    /// any more: its frames go back and its pool is refunded.
    pub fn mem_reap(&mut self, sh: &mut Shm, obj: u16) {
        let tasks = self.tasks.iter().map(|t| &t.caps).zip(sh.maps.iter());
        if shm::held(obj, tasks) {
            return;
        }
        if let Some(o) = shm::remove_refunded(&mut sh.objs, &mut sh.budgets, obj) {
            for i in 0..o.pages as u64 {
                self.mem.frames.free(o.pa + i * PAGE);
            }
            self.dma_pools.refund(o.pool as usize, o.pages);
        }
    }

    /// Wakes blocked task `i` with error `e` in a0.
    pub fn wake_with(&mut self, i: usize, e: Error) {
        let t = &mut self.tasks[i];
        t.frame.set_a(0, e.to_reg());
        t.state = State::Ready;
        t.deadline = 0;
    }

    /// Turns the UART receive interrupt on (first `ConsoleRead`).
    pub fn console_rx_enable(&mut self) {
        if self.console_rx_on {
            return;
        }
        self.console_rx_on = true;
        crate::console::enable_rx_interrupt();
        crate::plic::set_enabled(self.uart_irq, true);
    }

    /// Ends every block whose deadline has passed.
    pub fn expire(&mut self, now: u64) {
        for i in 0..MAX_TASKS {
            let t = &self.tasks[i];
            if t.deadline == 0 || t.deadline > now {
                continue;
            }
            match t.state {
                State::Sending { ep } => {
                    if let Some(e) = self.endpoints[ep as usize].as_mut() {
                        e.senders.remove(i as u8);
                    }
                    self.wake_with(i, Error::TimedOut);
                }
                State::Receiving { ep } => {
                    if let Some(e) = self.endpoints[ep as usize].as_mut() {
                        if e.receiver == Some(i as u8) {
                            e.receiver = None;
                        }
                    }
                    self.wake_with(i, Error::TimedOut);
                }
                State::AwaitReply { .. } | State::IrqWait { .. } | State::ConsoleRead => {
                    self.wake_with(i, Error::TimedOut)
                }
                State::Sleeping => {
                    self.tasks[i].frame.set_a(0, 0);
                    self.tasks[i].state = State::Ready;
                    self.tasks[i].deadline = 0;
                }
                State::Free | State::Ready | State::Dead { .. } => {}
            }
        }
    }
}

/// The kernel notice for a fired interrupt bound to an endpoint.
pub fn irq_notice(irq: u32) -> DeathNotice {
    DeathNotice {
        task: 0,
        kind: DeathKind::Interrupt,
        code: irq as u64,
        addr: 0,
        pc: 0,
    }
}
