//! Bookkeeping of the DMA regions a task got from the kernel.

/// Most DMA regions one driver tracks (queues, bounce pool, a few spares).
pub const MAX_REGIONS: usize = 32;

/// One physically contiguous region: `pages` pages at `va` / `pa`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Region {
    /// Virtual address in the task.
    pub va: u64,
    /// Physical address for the device.
    pub pa: u64,
    /// Length in 4 KiB pages.
    pub pages: usize,
    /// True while handed out; false when on the free list.
    pub in_use: bool,
}

impl Region {
    fn len(&self) -> u64 {
        self.pages as u64 * 4096
    }
}

/// A fixed table of DMA regions with a free list.
#[derive(Debug)]
pub struct Regions {
    slots: [Option<Region>; MAX_REGIONS],
}

impl Default for Regions {
    fn default() -> Self {
        Self::new()
    }
}

impl Regions {
    /// An empty table.
    pub const fn new() -> Self {
        Regions {
            slots: [None; MAX_REGIONS],
        }
    }

    /// Records a fresh region (in use). False if the table is full.
    pub fn add(&mut self, va: u64, pa: u64, pages: usize) -> bool {
        match self.slots.iter_mut().find(|s| s.is_none()) {
            Some(s) => {
                *s = Some(Region {
                    va,
                    pa,
                    pages,
                    in_use: true,
                });
                true
            }
            None => false,
        }
    }

    /// Takes a free region of exactly `pages` pages for reuse.
    pub fn reuse(&mut self, pages: usize) -> Option<Region> {
        let r = self
            .slots
            .iter_mut()
            .flatten()
            .find(|r| !r.in_use && r.pages == pages)?;
        r.in_use = true;
        Some(*r)
    }

    /// Puts the region starting at `pa` back on the free list. False if no
    /// in-use region starts there with that size.
    pub fn release(&mut self, pa: u64, pages: usize) -> bool {
        match self
            .slots
            .iter_mut()
            .flatten()
            .find(|r| r.in_use && r.pa == pa && r.pages == pages)
        {
            Some(r) => {
                r.in_use = false;
                true
            }
            None => false,
        }
    }

    /// Physical address of `[va, va+len)` if it lies wholly inside one
    /// in-use region (so it is physically contiguous).
    pub fn translate(&self, va: u64, len: usize) -> Option<u64> {
        let end = va.checked_add(len as u64)?;
        self.slots
            .iter()
            .flatten()
            .find(|r| r.in_use && va >= r.va && end <= r.va + r.len())
            .map(|r| r.pa + (va - r.va))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translates_only_whole_ranges_inside_one_region() {
        let mut r = Regions::new();
        assert!(r.add(0x3_0000_0000, 0x8100_0000, 2));
        assert_eq!(r.translate(0x3_0000_0010, 16), Some(0x8100_0010));
        assert_eq!(r.translate(0x3_0000_1ff0, 16), Some(0x8100_1ff0));
        assert_eq!(r.translate(0x3_0000_1ff0, 17), None, "runs past the end");
        assert_eq!(r.translate(0x2_ffff_fff0, 32), None, "starts before");
        assert_eq!(r.translate(u64::MAX - 4, 16), None, "overflow");
    }

    #[test]
    fn released_regions_are_reused_and_not_translated() {
        let mut r = Regions::new();
        assert!(r.add(0x3_0000_0000, 0x8100_0000, 1));
        assert!(!r.release(0x8100_0000, 2), "size must match");
        assert!(r.release(0x8100_0000, 1));
        assert!(!r.release(0x8100_0000, 1), "double release refused");
        assert_eq!(r.translate(0x3_0000_0000, 8), None);
        assert_eq!(r.reuse(2), None);
        let got = r.reuse(1).unwrap();
        assert_eq!((got.va, got.pa), (0x3_0000_0000, 0x8100_0000));
        assert_eq!(r.translate(0x3_0000_0000, 8), Some(0x8100_0000));
    }

    #[test]
    fn table_is_bounded() {
        let mut r = Regions::new();
        for i in 0..MAX_REGIONS as u64 {
            assert!(r.add(i << 12, i << 12, 1));
        }
        assert!(!r.add(0xdead_0000, 0, 1));
    }
}
