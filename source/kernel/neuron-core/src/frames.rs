//! Physical frame allocator: a bitmap with contiguous allocation for DMA.
//!
//! # Invariants
//! - Bit `i` set ⇔ frame `base + i * PAGE` is in use (or reserved).
//! - Frames outside `[base, base + frames * PAGE)` are never returned.

use nexus_abi::layout::PAGE;

/// Words of bitmap storage: enough for 1 GiB of RAM in 4 KiB frames.
pub const BITMAP_WORDS: usize = (1 << 30) / 4096 / 64;

/// Bitmap allocator over one contiguous physical range.
pub struct FrameAllocator {
    base: u64,
    frames: usize,
    bits: [u64; BITMAP_WORDS],
    free: usize,
    hint: usize,
}

impl FrameAllocator {
    /// An allocator for `[base, end)`, page-aligned inward, capped at 1 GiB.
    pub const fn empty() -> Self {
        Self {
            base: 0,
            frames: 0,
            bits: [0; BITMAP_WORDS],
            free: 0,
            hint: 0,
        }
    }

    /// (Re)initialises for `[base, end)`; everything starts free.
    pub fn init(&mut self, base: u64, end: u64) {
        let base = base.div_ceil(PAGE) * PAGE;
        let end = end / PAGE * PAGE;
        let frames = if end > base {
            ((end - base) / PAGE) as usize
        } else {
            0
        };
        self.base = base;
        self.frames = frames.min(BITMAP_WORDS * 64);
        self.bits = [0; BITMAP_WORDS];
        self.free = self.frames;
        self.hint = 0;
    }

    /// Marks `[start, end)` as used (e.g. the device tree). Out-of-range parts
    /// are ignored.
    pub fn reserve(&mut self, start: u64, end: u64) {
        let mut pa = start / PAGE * PAGE;
        while pa < end {
            if let Some(i) = self.index(pa) {
                if !self.test(i) {
                    self.set(i, true);
                    self.free -= 1;
                }
            }
            pa += PAGE;
        }
    }

    /// Number of free frames.
    pub fn free_frames(&self) -> usize {
        self.free
    }

    /// Allocates one frame.
    pub fn alloc(&mut self) -> Option<u64> {
        self.alloc_contiguous(1)
    }

    /// Allocates `count` physically contiguous frames; returns the first.
    pub fn alloc_contiguous(&mut self, count: usize) -> Option<u64> {
        if count == 0 || count > self.free {
            return None;
        }
        let mut start = if count == 1 { self.hint } else { 0 };
        let mut wrapped = count != 1;
        loop {
            if start + count > self.frames {
                if wrapped {
                    return None;
                }
                wrapped = true;
                start = 0;
                continue;
            }
            match (start..start + count).find(|&i| self.test(i)) {
                None => {
                    for i in start..start + count {
                        self.set(i, true);
                    }
                    self.free -= count;
                    if count == 1 {
                        self.hint = start + 1;
                    }
                    return Some(self.base + start as u64 * PAGE);
                }
                Some(used) => start = used + 1,
            }
        }
    }

    /// Frees one frame. Returns false (and changes nothing) for a frame that
    /// is not allocated or not managed here.
    pub fn free(&mut self, pa: u64) -> bool {
        match self.index(pa) {
            Some(i) if pa.is_multiple_of(PAGE) && self.test(i) => {
                self.set(i, false);
                self.free += 1;
                if i < self.hint {
                    self.hint = i;
                }
                true
            }
            _ => false,
        }
    }

    /// Whether `pa` lies in the managed range.
    pub fn contains(&self, pa: u64) -> bool {
        self.index(pa).is_some()
    }

    fn index(&self, pa: u64) -> Option<usize> {
        if pa < self.base {
            return None;
        }
        let i = ((pa - self.base) / PAGE) as usize;
        (i < self.frames).then_some(i)
    }

    fn test(&self, i: usize) -> bool {
        self.bits[i / 64] & (1 << (i % 64)) != 0
    }

    fn set(&mut self, i: usize, v: bool) {
        if v {
            self.bits[i / 64] |= 1 << (i % 64);
        } else {
            self.bits[i / 64] &= !(1 << (i % 64));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alloc_for(pages: u64) -> Box<FrameAllocator> {
        let mut a = Box::new(FrameAllocator::empty());
        a.init(0x8000_0000, 0x8000_0000 + pages * PAGE);
        a
    }

    #[test]
    fn allocates_every_frame_once_then_fails() {
        let mut a = alloc_for(16);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..16 {
            let f = a.alloc().expect("frame");
            assert_eq!(f % PAGE, 0);
            assert!(seen.insert(f), "frame handed out twice");
        }
        assert_eq!(a.alloc(), None);
        assert_eq!(a.free_frames(), 0);
    }

    #[test]
    fn free_makes_frame_reusable_and_rejects_double_free() {
        let mut a = alloc_for(4);
        let f = a.alloc().unwrap();
        assert!(a.free(f));
        assert!(!a.free(f), "double free must be refused");
        assert!(!a.free(0x1000), "foreign frame must be refused");
        assert!(!a.free(f + 1), "unaligned address must be refused");
        assert_eq!(a.free_frames(), 4);
    }

    #[test]
    fn contiguous_allocation_skips_holes() {
        let mut a = alloc_for(8);
        let f: Vec<u64> = (0..8).map(|_| a.alloc().unwrap()).collect();
        // Free 0,1 and 3..7 -> a run of 3 exists only from index 3.
        for (i, pa) in f.iter().enumerate() {
            if i != 2 {
                a.free(*pa);
            }
        }
        let run = a.alloc_contiguous(3).expect("run of three");
        assert_eq!(run, f[3]);
        assert_eq!(a.alloc_contiguous(5), None);
        assert_eq!(a.alloc_contiguous(0), None);
    }

    #[test]
    fn reserve_excludes_range_and_unaligned_bounds() {
        let mut a = alloc_for(8);
        a.reserve(0x8000_0000 + PAGE + 12, 0x8000_0000 + 3 * PAGE);
        assert_eq!(a.free_frames(), 6);
        let got: Vec<u64> = core::iter::from_fn(|| a.alloc()).collect();
        assert!(!got.contains(&(0x8000_0000 + PAGE)));
        assert!(!got.contains(&(0x8000_0000 + 2 * PAGE)));
    }
}
