//! Kernel state, boot, the trap handler, scheduling, task creation and death.

use crate::arch::{self, TrapFrame};
use crate::dtb::{BootInfo, BOOTARGS_MAX};
use crate::mem::Memory;
use crate::{kprintln, plic};
use neuron_core::bootimg::BootImage;
use neuron_core::caps::{Cap, CapTable};
use neuron_core::console::ConsoleInput;
use neuron_core::elfload;
use neuron_core::ipc::{self, Endpoint, MAX_ENDPOINTS, MAX_TASKS};
use neuron_core::pagetable::{self, flags, make_pte};
use nexus_abi::layout::{MAP_BASE, PAGE, STACK_SIZE, STACK_TOP};
use nexus_abi::{rights, slots, DeathKind, DeathNotice, Error, GrantSpec, CAP_SLOTS, NAME_MAX};
use spin::Mutex;

/// DMA pages each holder of init's DMA capability may allocate.
const INIT_DMA_PAGES: u32 = 1024;
/// Time slice.
const SLICE_NS: u64 = 10_000_000;
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
    pub xfer: Option<u32>,
    pub badge: u64,
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
    /// The last receive buffer that validated (see `ipc_recv`).
    pub recv_ok: (u64, usize),
    /// The last reply buffer that validated (see `ipc_call`).
    pub reply_ok: (u64, usize),
    /// Absolute deadline in ticks for the current block (0 = none).
    pub deadline: u64,
    pub map_next: u64,
    pub dma_used: u32,
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
                xfer: None,
                badge: 0,
            },
            recv: (0, 0),
            recv_ok: (0, usize::MAX),
            reply_ok: (0, usize::MAX),
            deadline: 0,
            map_next: MAP_BASE,
            dma_used: 0,
            loaded_pages: 0,
        }
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
    pub current: usize,
    pub hint: Option<usize>,
    pub kernel_root: u64,
    pub kernel_entries: [(usize, u64); 2],
    pub active_root: u64,
    pub timebase: u64,
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
    current: 0,
    hint: None,
    kernel_root: 0,
    kernel_entries: [(0, 0); 2],
    active_root: 0,
    timebase: 10_000_000,
    timer_armed: u64::MAX,
    slice_end: 0,
    image: &[],
    bootargs: [0; BOOTARGS_MAX],
    bootargs_len: 0,
    console_in: ConsoleInput::new(),
    uart_irq: 0,
    console_rx_on: false,
});

extern "C" {
    static __kernel_end: u8;
}

/// Boots: memory, paging, interrupts, init; then runs tasks forever.
pub fn boot(info: &BootInfo, image: &'static [u8]) -> ! {
    let mut k = KERNEL.lock();
    let kernel_end = core::ptr::addr_of!(__kernel_end) as u64;
    let ram_end = info.ram.1.min(0xC000_0000);
    k.mem.frames.init(kernel_end, ram_end);
    k.mem.frames.reserve(info.dtb.0, info.dtb.1);
    k.timebase = info.timebase.max(1);
    k.bootargs = info.bootargs;
    k.bootargs_len = info.bootargs_len;
    k.image = image;
    k.uart_irq = info.uart_irq;

    // Kernel mappings shared by every address space: devices (gigapage 0)
    // read/write, RAM (gigapage 2) read/write/execute; global, never U.
    let g = flags::G | flags::A | flags::D;
    k.kernel_entries = [
        (0, make_pte(0, flags::R | flags::W | g)),
        (2, make_pte(0x8000_0000, flags::R | flags::W | flags::X | g)),
    ];
    let entries = k.kernel_entries;
    let root = pagetable::new_root(&mut k.mem, &entries).expect("kernel root");
    k.kernel_root = root;
    k.active_root = root;
    arch::set_satp(pagetable::satp(root));
    plic::init(info.plic);
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
    let mut caps = CapTable::new();
    let _ = caps.insert_at(slots::init::CONTROL as u64, Cap::InitControl);
    let _ = caps.insert_at(
        slots::init::DMA as u64,
        Cap::Dma {
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
        if 1_000_000_000 % self.timebase == 0 {
            t.wrapping_mul(1_000_000_000 / self.timebase)
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

    fn switch_root(&mut self, root: u64) {
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

    /// Ends task `idx`, wakes whoever waits on it, frees its memory, and
    /// posts the notice on its fault endpoint.
    pub fn kill(&mut self, idx: usize, kind: DeathKind, code: u64, addr: u64, pc: u64) {
        let id = ipc::task_id(idx, self.tasks[idx].generation);
        match self.tasks[idx].state {
            State::Sending { ep } => {
                if let Some(e) = self.endpoints[ep as usize].as_mut() {
                    e.senders.remove(idx as u8);
                }
            }
            State::Receiving { ep } => {
                if let Some(e) = self.endpoints[ep as usize].as_mut() {
                    if e.receiver == Some(idx as u8) {
                        e.receiver = None;
                    }
                }
            }
            _ => {}
        }
        for i in 0..MAX_TASKS {
            if self.tasks[i].state == (State::AwaitReply { server: idx as u8 }) {
                self.wake_with(i, Error::PeerDead);
            }
        }
        self.console_in.release(idx as u8);
        for (n, line) in self.irqs.iter_mut().enumerate() {
            if line.owner == Some(idx as u8) {
                *line = IrqLine::default();
                plic::set_enabled(n as u32, false);
            }
        }
        let root = self.tasks[idx].root;
        let kroot = self.kernel_root;
        self.switch_root(kroot);
        pagetable::teardown(&mut self.mem, root);
        let fault_ep = self.tasks[idx].fault_ep;
        let t = &mut self.tasks[idx];
        t.state = State::Free;
        t.caps = CapTable::new();
        t.root = 0;
        if let Some(ep) = fault_ep {
            let notice = DeathNotice {
                task: id,
                kind,
                code,
                addr,
                pc,
            };
            self.post_notice(ep, notice);
        }
    }

    /// Queues a kernel notice on `ep`, delivering it at once to a waiting
    /// receiver.
    pub fn post_notice(&mut self, ep: u16, notice: DeathNotice) {
        let Some(e) = self.endpoints[ep as usize].as_mut() else {
            return;
        };
        e.push_notice(notice);
        if let Some(r) = e.receiver {
            crate::syscall::try_deliver_notice(self, r as usize, ep);
        }
    }

    /// Wakes blocked task `i` with error `e` in a0.
    pub fn wake_with(&mut self, i: usize, e: Error) {
        let t = &mut self.tasks[i];
        t.frame.set_a(0, e.to_reg());
        t.state = State::Ready;
        t.deadline = 0;
    }

    /// Ends every block whose deadline has passed.
    fn expire(&mut self, now: u64) {
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
                State::Free | State::Ready => {}
            }
        }
    }

    fn on_timer(&mut self, now: u64) {
        self.expire(now);
        if now >= self.slice_end {
            self.slice_end = now + self.ns_to_ticks(SLICE_NS);
            self.hint = None;
        }
        self.timer_armed = u64::MAX;
        self.arm_timer(now);
    }

    fn on_external(&mut self) {
        loop {
            let irq = plic::claim();
            if irq == 0 {
                break;
            }
            if irq == self.uart_irq && self.console_rx_on {
                self.console_rx();
                plic::complete(irq);
                continue;
            }
            plic::set_enabled(irq, false);
            let bound = self.irqs.get(irq as usize).and_then(|l| l.bound_ep);
            if let Some(ep) = bound {
                // The source stays masked until the driver's `IrqAck`, so at
                // most one notice per line is outstanding.
                self.post_notice(ep, irq_notice(irq));
            } else if let Some(line) = self.irqs.get_mut(irq as usize) {
                match line.owner {
                    Some(owner) if self.tasks[owner as usize].state == (State::IrqWait { irq }) => {
                        line.pending = false;
                        let t = &mut self.tasks[owner as usize];
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
    fn schedule(&mut self) -> usize {
        loop {
            if let Some(h) = self.hint.take() {
                if self.tasks[h].state == State::Ready {
                    return h;
                }
            }
            for step in 1..=MAX_TASKS {
                let i = (self.current + step) % MAX_TASKS;
                if self.tasks[i].state == State::Ready {
                    return i;
                }
            }
            if self.tasks.iter().all(|t| t.state == State::Free) {
                kprintln!("neuron: no tasks left; halting");
                arch::shutdown(false);
            }
            // Idle: wait for the timer or a device, with S-mode interrupts
            // still masked, and handle whatever became pending.
            let now = arch::now_ticks();
            self.arm_timer(now);
            arch::wait_for_interrupt();
            let pending = arch::sip();
            let now = arch::now_ticks();
            if pending & arch::IRQ_STIMER != 0 || now >= self.timer_armed {
                self.on_timer(now);
            }
            if pending & arch::IRQ_SEXT != 0 {
                self.on_external();
            }
            if self.console_rx_on {
                self.console_rx();
            }
        }
    }

    /// Drains the UART into the input ring (bytes that do not fit stay in
    /// the UART) and hands input to a waiting reader.
    pub fn console_rx(&mut self) {
        self.console_drain();
        crate::syscall::console_deliver(self);
        // The delivery may have made room.
        self.console_drain();
        // While the ring is full, bytes stay in the UART and its interrupt
        // (level-triggered) stays asserted: mask the source until the
        // reader makes room, or every return to a task would trap again.
        plic::set_enabled(self.uart_irq, !self.console_in.ring.is_full());
    }

    fn console_drain(&mut self) {
        while !self.console_in.ring.is_full() {
            match crate::console::getb() {
                Some(b) => {
                    self.console_in.ring.push(b);
                }
                None => break,
            }
        }
    }

    /// Turns the UART receive interrupt on (first `ConsoleRead`).
    pub fn console_rx_enable(&mut self) {
        if self.console_rx_on {
            return;
        }
        self.console_rx_on = true;
        crate::console::enable_rx_interrupt();
        plic::set_enabled(self.uart_irq, true);
    }

    /// Handles one trap from task `self.current`; returns the task to resume.
    fn handle_trap(&mut self, scause: u64, stval: u64) -> usize {
        let cur = self.current;
        const INTERRUPT: u64 = 1 << 63;
        if scause & INTERRUPT != 0 {
            match scause & !INTERRUPT {
                5 => {
                    let now = arch::now_ticks();
                    self.on_timer(now);
                }
                9 => self.on_external(),
                _ => {}
            }
        } else if scause == 8 {
            self.tasks[cur].frame.sepc += 4;
            let yielding = self.tasks[cur].frame.regs[17] == nexus_abi::Sysno::Yield as u64;
            crate::syscall::dispatch(self, cur);
            // Fast path: a syscall that neither blocked nor woke anyone
            // returns straight to its caller while its slice lasts (the
            // timer still preempts; `Yield` still rotates).
            if !yielding
                && self.hint.is_none()
                && self.tasks[cur].state == State::Ready
                && arch::now_ticks() < self.slice_end
            {
                return cur;
            }
        } else {
            let pc = self.tasks[cur].frame.sepc;
            kprintln!(
                "neuron: task {} ({}) fault: {} pc={:#x} addr={:#x}",
                cur,
                self.tasks[cur].name(),
                nexus_abi::cause_name(scause),
                pc,
                stval
            );
            self.kill(cur, DeathKind::Faulted, scause, stval, pc);
        }
        let next = self.schedule();
        self.current = next;
        next
    }
}

/// Rust half of the trap path, called from `trap_entry` with the current
/// task's frame; returns the frame to resume.
#[no_mangle]
extern "C" fn trap_handler(_frame: *mut TrapFrame) -> *mut TrapFrame {
    let scause = arch::scause();
    let stval = arch::stval();
    if arch::sstatus() & arch::SSTATUS_SPP != 0 {
        panic!("trap from S-mode: scause={:#x} stval={:#x}", scause, stval);
    }
    let mut k = KERNEL.lock();
    let next = k.handle_trap(scause, stval);
    let root = k.tasks[next].root;
    k.switch_root(root);
    &mut k.tasks[next].frame as *mut TrapFrame
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
