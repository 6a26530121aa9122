//! Physical memory: the global frame allocator and `PhysMem` over the
//! kernel's identity mapping of RAM.

use core::cell::Cell;
use neuron_core::frames::FrameAllocator;
use neuron_core::pagetable::{self, flags, PhysMem};
use nexus_abi::layout::PAGE;

/// Entries of the software translation cache (a power of two: it is
/// direct-mapped, one probe per lookup). 64, so that the few buffers of a
/// round trip between tasks whose stacks sit at the same addresses rarely
/// share a slot (with 16, three tasks made two buffers evict each other on
/// every call of the codec benchmark: a page walk each time).
const TLB_ENTRIES: usize = 64;

/// The cache slot of (root, page): page number XOR root frame number, so
/// that the same page of two address spaces lands in different slots.
#[inline(always)]
fn tlb_slot(root: u64, page: u64) -> usize {
    (((page ^ root) >> 12) as usize) & (TLB_ENTRIES - 1)
}

/// One cached translation: (root, page va, page pa, leaf flags).
type TlbEntry = (u64, u64, u64, u64);

/// The frame allocator plus the identity-mapped RAM window.
pub struct Memory {
    /// Free frames.
    pub frames: FrameAllocator,
    /// Software TLB for user-pointer validation on the IPC path. Valid
    /// because user mappings are only removed when an address space ends
    /// (flushed when its root frame is freed) or when a failed `DmaAlloc`
    /// takes back pages it just mapped (`forget_root`).
    pub tlb: [Cell<TlbEntry>; TLB_ENTRIES],
}

impl Memory {
    /// An empty memory manager.
    pub const fn new() -> Self {
        Self {
            frames: FrameAllocator::empty(),
            tlb: [const { Cell::new((0, 0, 0, 0)) }; TLB_ENTRIES],
        }
    }
}

impl Memory {
    /// Copies `src` to physical `pa`.
    ///
    /// Callers pass addresses produced by `user_chunks` or by the allocator:
    /// RAM frames inside the identity-mapped window.
    pub fn write_phys(&self, pa: u64, src: &[u8]) {
        debug_assert!(self.frames.contains(pa));
        // SAFETY: `pa..pa+len` is RAM inside one page (user_chunks splits at
        // page boundaries; allocator frames are whole pages), identity-mapped
        // for the kernel, and not aliased by any Rust reference.
        unsafe { core::ptr::copy_nonoverlapping(src.as_ptr(), pa as *mut u8, src.len()) }
    }

    /// Copies from physical `pa` into `dst`.
    pub fn read_phys(&self, pa: u64, dst: &mut [u8]) {
        debug_assert!(self.frames.contains(pa));
        // SAFETY: as in `write_phys`, for reading.
        unsafe { core::ptr::copy_nonoverlapping(pa as *const u8, dst.as_mut_ptr(), dst.len()) }
    }

    /// The physical address of user address `va` in address space `root`
    /// if its page is mapped user RAM with `R` (and `W` if `write`) and is
    /// not device memory: the per-page check of `pagetable::user_chunks`,
    /// through the translation cache. The caller keeps the range inside
    /// this page.
    #[inline(always)]
    pub fn user_pa(&self, root: u64, va: u64, write: bool) -> Option<u64> {
        let need = flags::U | flags::R | if write { flags::W } else { 0 };
        let page = va & !(PAGE - 1);
        let e = &self.tlb[tlb_slot(root, page)];
        let (r, v, pa, f) = e.get();
        let (pa, f) = if r == root && v == page && r != 0 {
            (pa, f)
        } else {
            let (pa, f) = self.translate_miss(root, va)?;
            (pa & !(PAGE - 1), f)
        };
        if f & need == need && f & flags::DMA != flags::DEVICE {
            Some(pa | (va & (PAGE - 1)))
        } else {
            None
        }
    }

    /// `user_pa` from the translation cache only: `None` on a miss as well
    /// (the caller then takes a path that walks). Makes no calls.
    #[inline(always)]
    pub fn user_pa_cached(&self, root: u64, va: u64, write: bool) -> Option<u64> {
        let need = flags::U | flags::R | if write { flags::W } else { 0 };
        let page = va & !(PAGE - 1);
        let (r, v, pa, f) = self.tlb[tlb_slot(root, page)].get();
        if r == root && v == page && r != 0 && f & need == need && f & flags::DMA != flags::DEVICE {
            Some(pa | (va & (PAGE - 1)))
        } else {
            None
        }
    }

    /// Copies `n` bytes between two 8-byte aligned physical RAM ranges
    /// inside single pages that do not overlap (user buffers of two tasks
    /// or disjoint ones of one, validated by the caller): words, then the
    /// tail bytes. Volatile accesses, so it stays a loop and never becomes
    /// a call to `memcpy` (the IPC fast paths are leaf functions).
    #[inline(always)]
    pub fn copy_aligned(&self, dst: u64, src: u64, n: usize) {
        let n = n as u64;
        let mut i = 0;
        while i + 8 <= n {
            // SAFETY: both ranges are validated RAM inside single pages,
            // 8-byte aligned, `i + 8 <= n`.
            unsafe {
                let w = core::ptr::read_volatile((src + i) as *const u64);
                core::ptr::write_volatile((dst + i) as *mut u64, w);
            }
            i += 8;
        }
        while i < n {
            // SAFETY: as above, one byte (`i < n`).
            unsafe {
                let b = core::ptr::read_volatile((src + i) as *const u8);
                core::ptr::write_volatile((dst + i) as *mut u8, b);
            }
            i += 1;
        }
    }

    /// A page-table walk that fills the translation cache.
    #[inline(never)]
    fn translate_miss(&self, root: u64, va: u64) -> Option<(u64, u64)> {
        let page = va & !(PAGE - 1);
        let (pa, f) = pagetable::translate(self, root, va)?;
        self.tlb[tlb_slot(root, page)].set((root, page, pa & !(PAGE - 1), f));
        Some((pa, f))
    }

    /// Copies `n` bytes between two physical RAM ranges inside single
    /// pages, as `copy_phys`. Short messages (the common IPC case) move
    /// inline instead of through `memmove` (whose setup costs more than the
    /// copy): a word at a time when both ends are 8-byte aligned, then the
    /// tail byte by byte; up to `SMALL_BYTES` bytes byte by byte otherwise.
    #[inline(always)]
    pub fn copy_small(&self, dst: u64, src: u64, n: usize) {
        /// Longest copy done a byte at a time when the ends are not aligned.
        const SMALL_BYTES: usize = 16;
        let end_ok = dst.wrapping_add(n as u64) <= src || src.wrapping_add(n as u64) <= dst;
        if !end_ok || n > 64 || ((dst | src) & 7 != 0 && n > SMALL_BYTES) {
            self.copy_phys(dst, src, n);
            return;
        }
        let n = n as u64;
        let mut i = 0;
        if (dst | src) & 7 == 0 {
            while i + 8 <= n {
                // SAFETY: as in `copy_phys`; both ranges are 8-byte aligned,
                // inside their pages, and do not overlap.
                unsafe {
                    let w = core::ptr::read((src + i) as *const u64);
                    core::ptr::write((dst + i) as *mut u64, w);
                }
                i += 8;
            }
        }
        while i < n {
            // SAFETY: as above, one byte (`i < n`).
            unsafe {
                let b = core::ptr::read((src + i) as *const u8);
                core::ptr::write((dst + i) as *mut u8, b);
            }
            i += 1;
        }
    }

    /// Copies `n` bytes between two physical RAM ranges.
    pub fn copy_phys(&self, dst: u64, src: u64, n: usize) {
        // SAFETY: both ranges are validated RAM inside single pages (see
        // `write_phys`); distinct tasks never share frames, and a task's own
        // overlapping buffers are copied with `copy` semantics.
        unsafe { core::ptr::copy(src as *const u8, dst as *mut u8, n) }
    }

    /// Zeroes `pages` frames starting at `pa`.
    pub fn zero(&self, pa: u64, pages: usize) {
        // SAFETY: freshly allocated RAM frames, identity-mapped, unaliased.
        unsafe { core::ptr::write_bytes(pa as *mut u8, 0, pages * PAGE as usize) }
    }
}

impl Memory {
    /// Drops every cached translation of address space `root` (after a
    /// mapping was removed from it).
    pub fn forget_root(&self, root: u64) {
        for e in &self.tlb {
            if e.get().0 == root {
                e.set((0, 0, 0, 0));
            }
        }
    }
}

impl PhysMem for Memory {
    fn alloc_frame(&mut self) -> Option<u64> {
        let pa = self.frames.alloc()?;
        self.zero(pa, 1);
        Some(pa)
    }

    fn free_frame(&mut self, pa: u64) {
        // Any cached translation under a root being freed goes with it.
        for e in &self.tlb {
            if e.get().0 == pa {
                e.set((0, 0, 0, 0));
            }
        }
        self.frames.free(pa);
    }

    #[inline(always)]
    fn translate_page(&self, root: u64, va: u64) -> Option<(u64, u64)> {
        let page = va & !(PAGE - 1);
        let (r, v, pa, f) = self.tlb[tlb_slot(root, page)].get();
        if r == root && v == page && r != 0 {
            return Some((pa | (va & (PAGE - 1)), f));
        }
        self.translate_miss(root, va)
    }

    fn read_pte(&self, table: u64, index: usize) -> u64 {
        // SAFETY: `table` is a page-table frame this kernel allocated (RAM,
        // identity-mapped) and `index < 512` by construction of Sv39 indices.
        unsafe { core::ptr::read_volatile((table as *const u64).add(index & 511)) }
    }

    fn write_pte(&mut self, table: u64, index: usize, pte: u64) {
        // SAFETY: as in `read_pte`.
        unsafe { core::ptr::write_volatile((table as *mut u64).add(index & 511), pte) }
    }
}
