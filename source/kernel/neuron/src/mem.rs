//! Physical memory: the global frame allocator and `PhysMem` over the
//! kernel's identity mapping of RAM.

use neuron_core::frames::FrameAllocator;
use neuron_core::pagetable::PhysMem;
use nexus_abi::layout::PAGE;

/// The frame allocator plus the identity-mapped RAM window.
pub struct Memory {
    /// Free frames.
    pub frames: FrameAllocator,
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

impl PhysMem for Memory {
    fn alloc_frame(&mut self) -> Option<u64> {
        let pa = self.frames.alloc()?;
        self.zero(pa, 1);
        Some(pa)
    }

    fn free_frame(&mut self, pa: u64) {
        self.frames.free(pa);
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
