//! Reads what the kernel needs from the flattened device tree.

use fdt::Fdt;

/// A virtio-mmio transport slot.
#[derive(Copy, Clone, Debug, Default)]
pub struct VirtioSlot {
    /// Register window base.
    pub base: u64,
    /// Window length.
    pub len: u64,
    /// PLIC interrupt number.
    pub irq: u32,
}

/// Longest kernel command line kept.
pub const BOOTARGS_MAX: usize = 256;

/// Boot facts from the device tree.
pub struct BootInfo {
    /// RAM as [start, end).
    pub ram: (u64, u64),
    /// The device tree itself as [start, end), reserved from the allocator.
    pub dtb: (u64, u64),
    /// 16550 UART base (0 = none).
    pub uart: usize,
    /// SiFive test finisher base (0 = none): how a panic exits QEMU with
    /// a failure status.
    pub finisher: usize,
    /// The UART's PLIC interrupt (0 = none).
    pub uart_irq: u32,
    /// PLIC base (0 = none).
    pub plic: usize,
    /// `time` ticks per second.
    pub timebase: u64,
    /// virtio-mmio slots sorted by address.
    pub virtio: [VirtioSlot; 8],
    /// Number of valid `virtio` entries.
    pub virtio_count: usize,
    /// `/chosen/bootargs`.
    pub bootargs: [u8; BOOTARGS_MAX],
    /// Length of `bootargs`.
    pub bootargs_len: usize,
}

/// Parses the device tree at `pa` (identity-mapped; paging is still off).
pub fn parse(pa: usize) -> BootInfo {
    // SAFETY: OpenSBI passes the physical address of a valid FDT in a1, and
    // paging is off, so the address is directly readable. `from_ptr` checks
    // the header magic and sizes.
    let fdt = match unsafe { Fdt::from_ptr(pa as *const u8) } {
        Ok(f) => f,
        Err(_) => panic!("no valid device tree at {:#x}", pa),
    };
    let mut info = BootInfo {
        ram: (0, 0),
        dtb: (pa as u64, pa as u64 + fdt.total_size() as u64),
        uart: 0,
        finisher: 0,
        uart_irq: 0,
        plic: 0,
        timebase: 10_000_000,
        virtio: [VirtioSlot::default(); 8],
        virtio_count: 0,
        bootargs: [0; BOOTARGS_MAX],
        bootargs_len: 0,
    };
    if let Some(r) = fdt.memory().regions().next() {
        let start = r.starting_address as u64;
        info.ram = (start, start + r.size.unwrap_or(0) as u64);
    }
    if let Some(cpu) = fdt.cpus().next() {
        info.timebase = cpu.timebase_frequency() as u64;
    }
    if let Some(args) = fdt.chosen().bootargs() {
        let n = args.len().min(BOOTARGS_MAX);
        info.bootargs[..n].copy_from_slice(&args.as_bytes()[..n]);
        info.bootargs_len = n;
    }
    if let Some(t) = fdt.find_compatible(&["sifive,test0", "sifive,test1"]) {
        if let Some(r) = t.reg().and_then(|mut r| r.next()) {
            info.finisher = r.starting_address as usize;
        }
    }
    if let Some(u) = fdt.find_compatible(&["ns16550a", "ns16550"]) {
        if let Some(r) = u.reg().and_then(|mut r| r.next()) {
            info.uart = r.starting_address as usize;
        }
        info.uart_irq = u.interrupts().and_then(|mut i| i.next()).unwrap_or(0) as u32;
    }
    if let Some(p) = fdt.find_compatible(&["riscv,plic0", "sifive,plic-1.0.0"]) {
        if let Some(r) = p.reg().and_then(|mut r| r.next()) {
            info.plic = r.starting_address as usize;
        }
    }
    for node in fdt.all_nodes() {
        if info.virtio_count == info.virtio.len() {
            break;
        }
        if !node
            .compatible()
            .is_some_and(|c| c.all().any(|s| s == "virtio,mmio"))
        {
            continue;
        }
        let Some(r) = node.reg().and_then(|mut r| r.next()) else {
            continue;
        };
        let irq = node.interrupts().and_then(|mut i| i.next()).unwrap_or(0) as u32;
        info.virtio[info.virtio_count] = VirtioSlot {
            base: r.starting_address as u64,
            len: r.size.unwrap_or(0x1000) as u64,
            irq,
        };
        info.virtio_count += 1;
    }
    info.virtio[..info.virtio_count].sort_unstable_by_key(|s| s.base);
    info
}
