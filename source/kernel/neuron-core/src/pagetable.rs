//! Sv39 page tables: construction, translation, teardown and user-range checks.
//!
//! The tables live in physical memory that the kernel reaches through the
//! [`PhysMem`] trait, so the same code runs on the host against a simulated
//! memory. Every user pointer the kernel touches goes through
//! [`user_chunks`], the one place that turns a user's *claim* (pointer,
//! length) into physical ranges.
//!
//! # Invariants
//! - Only leaves created by [`map`] carry the `U` bit; the kernel's global
//!   gigapages never do, so a user pointer into kernel memory never validates.
//! - A leaf with [`flags::OWNED`] names a frame the address space owns and
//!   frees at [`teardown`]; [`flags::DEVICE`] leaves (without `OWNED`) are
//!   never used for copies. `OWNED | DEVICE` together ([`flags::DMA`]) marks
//!   RAM from `DmaAlloc`: owned, copyable, and the only memory whose physical
//!   address a task may learn.
//! - Root entries the kernel installs carry `G`; a non-leaf `G` entry points
//!   to a table shared by every address space, which [`map`] never enters and
//!   [`teardown`] never frees.

use nexus_abi::layout::PAGE;

/// PTE flag bits.
pub mod flags {
    /// Valid.
    pub const V: u64 = 1 << 0;
    /// Readable.
    pub const R: u64 = 1 << 1;
    /// Writable.
    pub const W: u64 = 1 << 2;
    /// Executable.
    pub const X: u64 = 1 << 3;
    /// User accessible.
    pub const U: u64 = 1 << 4;
    /// Global (kernel mappings).
    pub const G: u64 = 1 << 5;
    /// Accessed (preset so hardware need not update it).
    pub const A: u64 = 1 << 6;
    /// Dirty (preset so hardware need not update it).
    pub const D: u64 = 1 << 7;
    /// Software: the frame belongs to this address space.
    pub const OWNED: u64 = 1 << 8;
    /// Software: device memory, never a source or target of kernel copies.
    pub const DEVICE: u64 = 1 << 9;
    /// Software: RAM from `DmaAlloc` (owned, copyable, physical address
    /// visible to the task).
    pub const DMA: u64 = OWNED | DEVICE;
}

/// Physical memory as the page-table code sees it.
pub trait PhysMem {
    /// A zeroed frame, or `None` when memory is exhausted.
    fn alloc_frame(&mut self) -> Option<u64>;
    /// Returns a frame obtained from [`PhysMem::alloc_frame`] (or a frame the
    /// caller allocated contiguously and mapped with `OWNED`).
    fn free_frame(&mut self, pa: u64);
    /// Reads entry `index` of the table at `table`.
    fn read_pte(&self, table: u64, index: usize) -> u64;
    /// Writes entry `index` of the table at `table`.
    fn write_pte(&mut self, table: u64, index: usize, pte: u64);

    /// Translates a page for [`user_chunks`]. Implementations may cache
    /// results, provided the cache is flushed when a root table is freed
    /// (user mappings are only ever added while an address space lives).
    fn translate_page(&self, root: u64, va: u64) -> Option<(u64, u64)> {
        translate(self, root, va)
    }
}

/// Errors of [`map`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum MapError {
    /// Out of frames for intermediate tables.
    NoMemory,
    /// The page is already mapped.
    AlreadyMapped,
    /// Address not page aligned, or not in the user half.
    BadAddress,
}

/// Root-table indices `[0, USER_ROOT_END)` hold user mappings except those
/// listed as kernel entries; everything at or above is never user.
pub const USER_ROOT_END: usize = 256;

fn vpn(va: u64, level: usize) -> usize {
    ((va >> (12 + 9 * level)) & 0x1ff) as usize
}

fn pte_pa(pte: u64) -> u64 {
    ((pte >> 10) & ((1 << 44) - 1)) << 12
}

fn leaf(pte: u64) -> bool {
    pte & (flags::R | flags::W | flags::X) != 0
}

/// Builds a PTE for physical address `pa` with `flags`.
pub fn make_pte(pa: u64, f: u64) -> u64 {
    ((pa >> 12) << 10) | f | flags::V
}

/// The `satp` value (Sv39 mode) for a root table.
pub fn satp(root: u64) -> u64 {
    (8u64 << 60) | (root >> 12)
}

/// Allocates a root table and installs the kernel's root entries.
pub fn new_root(mem: &mut impl PhysMem, kernel: &[(usize, u64)]) -> Option<u64> {
    let root = mem.alloc_frame()?;
    for &(i, pte) in kernel {
        mem.write_pte(root, i, pte);
    }
    Some(root)
}

/// Whether `va` is a canonical user-half address (below bit 38).
pub fn is_user_va(va: u64) -> bool {
    va < (1 << 38)
}

/// Maps the 4 KiB page at `va` to `pa` with `f` (`V`, `A`, `D` are added).
pub fn map(mem: &mut impl PhysMem, root: u64, va: u64, pa: u64, f: u64) -> Result<(), MapError> {
    if !va.is_multiple_of(PAGE) || !pa.is_multiple_of(PAGE) || !is_user_va(va) {
        return Err(MapError::BadAddress);
    }
    let mut table = root;
    for level in [2, 1] {
        let i = vpn(va, level);
        let pte = mem.read_pte(table, i);
        if pte & flags::G != 0 {
            // A kernel entry (shared table or global leaf): never user.
            return Err(MapError::AlreadyMapped);
        }
        if pte & flags::V == 0 {
            let next = mem.alloc_frame().ok_or(MapError::NoMemory)?;
            mem.write_pte(table, i, make_pte(next, 0));
            table = next;
        } else if leaf(pte) {
            return Err(MapError::AlreadyMapped);
        } else {
            table = pte_pa(pte);
        }
    }
    let i = vpn(va, 0);
    if mem.read_pte(table, i) & flags::V != 0 {
        return Err(MapError::AlreadyMapped);
    }
    mem.write_pte(table, i, make_pte(pa, f | flags::A | flags::D));
    Ok(())
}

/// Removes the 4 KiB user leaf at `va`; returns its physical address.
/// Intermediate tables stay (they are freed at [`teardown`]). The caller
/// flushes any cached translation of `va`.
pub fn unmap(mem: &mut impl PhysMem, root: u64, va: u64) -> Option<u64> {
    if !is_user_va(va) {
        return None;
    }
    let mut table = root;
    for level in [2, 1] {
        let pte = mem.read_pte(table, vpn(va, level));
        if pte & flags::V == 0 || leaf(pte) || pte & flags::G != 0 {
            return None;
        }
        table = pte_pa(pte);
    }
    let i = vpn(va, 0);
    let pte = mem.read_pte(table, i);
    if pte & flags::V == 0 || pte & flags::U == 0 {
        return None;
    }
    mem.write_pte(table, i, 0);
    Some(pte_pa(pte))
}

/// Maps `pages` consecutive pages at `va` to `pa..` with `f`, all or
/// nothing: when a page cannot be mapped, the pages mapped so far are
/// unmapped again before the error returns.
pub fn map_range(
    mem: &mut impl PhysMem,
    root: u64,
    va: u64,
    pa: u64,
    pages: u64,
    f: u64,
) -> Result<(), MapError> {
    let span = pages.checked_mul(PAGE).ok_or(MapError::BadAddress)?;
    va.checked_add(span).ok_or(MapError::BadAddress)?;
    pa.checked_add(span).ok_or(MapError::BadAddress)?;
    for i in 0..pages {
        if let Err(e) = map(mem, root, va + i * PAGE, pa + i * PAGE, f) {
            for j in 0..i {
                unmap(mem, root, va + j * PAGE);
            }
            return Err(e);
        }
    }
    Ok(())
}

/// Translates `va`: the physical address and the leaf's flags.
pub fn translate<M: PhysMem + ?Sized>(mem: &M, root: u64, va: u64) -> Option<(u64, u64)> {
    if !is_user_va(va) {
        return None;
    }
    let mut table = root;
    for level in [2usize, 1, 0] {
        let pte = mem.read_pte(table, vpn(va, level));
        if pte & flags::V == 0 {
            return None;
        }
        if leaf(pte) {
            let span = 1u64 << (12 + 9 * level);
            return Some((pte_pa(pte) + (va & (span - 1)), pte & 0x3ff));
        }
        if level == 0 {
            return None;
        }
        table = pte_pa(pte);
    }
    None
}

/// Why a user range was refused.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum AccessError {
    /// Overflow, unmapped page, missing `U`/`R`/`W`, or device memory.
    BadAddress,
}

/// Validates `[va, va + len)` in the user space `root` for reading (and
/// writing if `write`), then calls `f(pa, offset, n)` for each physically
/// contiguous piece. Nothing is called unless the whole range is valid.
///
/// NOTE: this is the only constructor of kernel access to user memory. Think
/// carefully before loosening any of its checks.
pub fn user_chunks(
    mem: &impl PhysMem,
    root: u64,
    va: u64,
    len: usize,
    write: bool,
    mut f: impl FnMut(u64, usize, usize),
) -> Result<(), AccessError> {
    if len == 0 {
        return Ok(());
    }
    let end = va.checked_add(len as u64).ok_or(AccessError::BadAddress)?;
    if !is_user_va(end - 1) {
        return Err(AccessError::BadAddress);
    }
    let need = flags::U | flags::R | if write { flags::W } else { 0 };
    let check = |page: u64| -> Result<u64, AccessError> {
        match mem.translate_page(root, page) {
            Some((pa, fl)) if fl & need == need && fl & flags::DMA != flags::DEVICE => {
                Ok(pa & !(PAGE - 1))
            }
            _ => Err(AccessError::BadAddress),
        }
    };
    // Fast path (most IPC messages): the range lies in one page, so one
    // translation both validates it and locates it.
    if va / PAGE == (end - 1) / PAGE {
        f(check(va)? + va % PAGE, 0, len);
        return Ok(());
    }
    // Validate every page first; nothing is touched unless all are valid.
    let mut page = va / PAGE * PAGE;
    while page < end {
        check(page)?;
        page += PAGE;
    }
    let mut cur = va;
    while cur < end {
        let page_end = (cur / PAGE + 1) * PAGE;
        let n = (page_end.min(end) - cur) as usize;
        f(check(cur)? + cur % PAGE, (cur - va) as usize, n);
        cur += n as u64;
    }
    Ok(())
}

/// Frees every user table and every `OWNED` frame below root index
/// [`USER_ROOT_END`] (kernel entries, which are leaves without `U`, are left
/// alone), then the root itself.
pub fn teardown(mem: &mut impl PhysMem, root: u64) {
    fn walk(mem: &mut impl PhysMem, table: u64, level: usize) {
        for i in 0..512 {
            let pte = mem.read_pte(table, i);
            if pte & flags::V == 0 {
                continue;
            }
            if leaf(pte) {
                if pte & flags::OWNED != 0 {
                    mem.free_frame(pte_pa(pte));
                }
            } else if level > 0 {
                walk(mem, pte_pa(pte), level - 1);
                mem.free_frame(pte_pa(pte));
            }
        }
    }
    for i in 0..USER_ROOT_END {
        let pte = mem.read_pte(root, i);
        if pte & flags::V != 0 && !leaf(pte) && pte & flags::G == 0 {
            walk(mem, pte_pa(pte), 1);
            mem.free_frame(pte_pa(pte));
        }
    }
    mem.free_frame(root);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Simulated physical memory: tables as maps of frames.
    #[derive(Default)]
    pub struct SimMem {
        pub tables: HashMap<u64, [u64; 512]>,
        pub next: u64,
        pub live: std::collections::BTreeSet<u64>,
        pub limit: Option<usize>,
    }

    impl PhysMem for SimMem {
        fn alloc_frame(&mut self) -> Option<u64> {
            if self.limit.is_some_and(|l| self.live.len() >= l) {
                return None;
            }
            let pa = 0x8100_0000 + self.next * PAGE;
            self.next += 1;
            self.tables.insert(pa, [0; 512]);
            self.live.insert(pa);
            Some(pa)
        }
        fn free_frame(&mut self, pa: u64) {
            assert!(
                self.live.remove(&pa),
                "freeing a frame that is not live: {pa:#x}"
            );
        }
        fn read_pte(&self, table: u64, index: usize) -> u64 {
            self.tables[&table][index]
        }
        fn write_pte(&mut self, table: u64, index: usize, pte: u64) {
            self.tables.get_mut(&table).unwrap()[index] = pte;
        }
    }

    const KERNEL_GIGA: (usize, u64) = (2, (0x8000_0000 >> 12) << 10 | 0xef);
    const UVA: u64 = 0x1_0000_0000;

    #[test]
    fn map_translate_roundtrip_and_offsets() {
        let mut m = SimMem::default();
        let root = new_root(&mut m, &[KERNEL_GIGA]).unwrap();
        let frame = m.alloc_frame().unwrap();
        map(
            &mut m,
            root,
            UVA,
            frame,
            flags::U | flags::R | flags::W | flags::OWNED,
        )
        .unwrap();
        let (pa, fl) = translate(&m, root, UVA + 0x123).unwrap();
        assert_eq!(pa, frame + 0x123);
        assert_ne!(fl & flags::U, 0);
        assert_eq!(translate(&m, root, UVA + PAGE), None);
        // Kernel gigapage translates but carries no U bit.
        let (kpa, kfl) = translate(&m, root, 0x8020_0000).unwrap();
        assert_eq!(kpa, 0x8020_0000);
        assert_eq!(kfl & flags::U, 0);
    }

    #[test]
    fn map_rejects_double_mapping_misalignment_and_kernel_half() {
        let mut m = SimMem::default();
        let root = new_root(&mut m, &[KERNEL_GIGA]).unwrap();
        let f = m.alloc_frame().unwrap();
        map(&mut m, root, UVA, f, flags::U | flags::R).unwrap();
        assert_eq!(
            map(&mut m, root, UVA, f, flags::U | flags::R),
            Err(MapError::AlreadyMapped)
        );
        assert_eq!(
            map(&mut m, root, UVA + 1, f, flags::R),
            Err(MapError::BadAddress)
        );
        assert_eq!(
            map(&mut m, root, 1 << 39, f, flags::R),
            Err(MapError::BadAddress)
        );
        // Inside the kernel gigapage: refused, not silently split.
        assert_eq!(
            map(&mut m, root, 0x8000_0000, f, flags::R),
            Err(MapError::AlreadyMapped)
        );
    }

    #[test]
    fn map_reports_out_of_memory() {
        let mut m = SimMem {
            limit: Some(2),
            ..Default::default()
        };
        let root = new_root(&mut m, &[]).unwrap();
        let f = m.alloc_frame().unwrap();
        assert_eq!(map(&mut m, root, UVA, f, flags::R), Err(MapError::NoMemory));
    }

    #[test]
    fn user_chunks_validates_before_touching_anything() {
        let mut m = SimMem::default();
        let root = new_root(&mut m, &[KERNEL_GIGA]).unwrap();
        let a = m.alloc_frame().unwrap();
        let b = m.alloc_frame().unwrap();
        map(&mut m, root, UVA, a, flags::U | flags::R | flags::W).unwrap();
        map(&mut m, root, UVA + PAGE, b, flags::U | flags::R).unwrap();
        let mut pieces = vec![];
        user_chunks(&m, root, UVA + 4000, 200, false, |pa, off, n| {
            pieces.push((pa, off, n))
        })
        .unwrap();
        assert_eq!(pieces, vec![(a + 4000, 0, 96), (b, 96, 104)]);

        // Write into the read-only second page: refused, and no callback at all.
        let mut called = false;
        let r = user_chunks(&m, root, UVA + 4000, 200, true, |_, _, _| called = true);
        assert_eq!(r, Err(AccessError::BadAddress));
        assert!(!called);
        // Unmapped, kernel, overflowing and device ranges.
        let bad = |va: u64, len: usize| user_chunks(&m, root, va, len, false, |_, _, _| {});
        assert!(bad(UVA + 2 * PAGE, 1).is_err());
        assert!(bad(0x8020_0000, 16).is_err());
        assert!(bad(u64::MAX - 3, 16).is_err());
        assert!(bad(UVA, usize::MAX).is_err());
        assert!(bad(0x1000, 8).is_err());
        assert_eq!(bad(UVA, 0), Ok(()));
        let d = m.alloc_frame().unwrap();
        map(
            &mut m,
            root,
            UVA + 8 * PAGE,
            d,
            flags::U | flags::R | flags::W | flags::DEVICE,
        )
        .unwrap();
        assert!(user_chunks(&m, root, UVA + 8 * PAGE, 4, false, |_, _, _| {}).is_err());
    }

    #[test]
    fn teardown_frees_tables_and_owned_frames_only() {
        let mut m = SimMem::default();
        let root = new_root(&mut m, &[KERNEL_GIGA]).unwrap();
        let owned = m.alloc_frame().unwrap();
        let device = m.alloc_frame().unwrap();
        map(&mut m, root, UVA, owned, flags::U | flags::R | flags::OWNED).unwrap();
        map(
            &mut m,
            root,
            0x3_0000_0000,
            device,
            flags::U | flags::R | flags::DEVICE,
        )
        .unwrap();
        teardown(&mut m, root);
        // Only the not-owned device frame is still live.
        assert_eq!(m.live.iter().copied().collect::<Vec<_>>(), vec![device]);
    }

    #[test]
    fn map_range_is_all_or_nothing() {
        // Root + one level-1 table + one level-0 table fit (3 frames); a range that
        // crosses into a second 2 MiB region needs another table and fails.
        let mut m = SimMem {
            limit: Some(3),
            ..Default::default()
        };
        let root = new_root(&mut m, &[]).unwrap();
        let va = UVA + 0x20_0000 - 2 * PAGE;
        let pa = 0x9000_0000;
        let f = flags::U | flags::R | flags::W | flags::DMA;
        assert_eq!(
            map_range(&mut m, root, va, pa, 4, f),
            Err(MapError::NoMemory)
        );
        for i in 0..4 {
            assert_eq!(
                translate(&m, root, va + i * PAGE),
                None,
                "page {i} left mapped"
            );
        }
        // Within one region it succeeds, and the pages can be taken back.
        map_range(&mut m, root, UVA, pa, 3, f).unwrap();
        assert_eq!(
            translate(&m, root, UVA + 2 * PAGE).unwrap().0,
            pa + 2 * PAGE
        );
        assert_eq!(unmap(&mut m, root, UVA + PAGE), Some(pa + PAGE));
        assert_eq!(unmap(&mut m, root, UVA + PAGE), None);
        assert_eq!(
            map_range(&mut m, root, u64::MAX - PAGE + 1, pa, 2, f),
            Err(MapError::BadAddress)
        );
    }

    #[test]
    fn shared_kernel_tables_are_never_entered_or_freed() {
        let mut m = SimMem::default();
        let shared = m.alloc_frame().unwrap();
        let kernel = [(2usize, make_pte(shared, flags::G))];
        let root = new_root(&mut m, &kernel).unwrap();
        let f = m.alloc_frame().unwrap();
        assert_eq!(
            map(&mut m, root, 0x8000_0000, f, flags::U | flags::R),
            Err(MapError::AlreadyMapped)
        );
        teardown(&mut m, root);
        assert!(m.live.contains(&shared), "shared kernel table freed");
    }

    #[test]
    fn dma_pages_are_copyable_device_pages_are_not() {
        let mut m = SimMem::default();
        let root = new_root(&mut m, &[]).unwrap();
        let d = m.alloc_frame().unwrap();
        map(
            &mut m,
            root,
            UVA,
            d,
            flags::U | flags::R | flags::W | flags::DMA,
        )
        .unwrap();
        assert!(user_chunks(&m, root, UVA, 8, true, |_, _, _| {}).is_ok());
    }

    #[test]
    fn satp_encodes_mode_and_ppn() {
        assert_eq!(satp(0x8040_0000), (8 << 60) | 0x80400);
    }
}
