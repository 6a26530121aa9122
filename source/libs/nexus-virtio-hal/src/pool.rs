//! A pool of fixed-size bounce slots in DMA memory.

/// Most slots a pool manages.
pub const MAX_SLOTS: usize = 128;

/// Fixed-size slots carved out of one contiguous DMA region. A slot is
/// identified by its physical address, which is what `unshare` gets back.
#[derive(Debug)]
pub struct BouncePool {
    va: u64,
    pa: u64,
    slot_size: usize,
    slots: usize,
    used: [bool; MAX_SLOTS],
}

impl BouncePool {
    /// A pool over `[va, va + slots * slot_size)` at physical `pa`.
    /// `slots` is clamped to [`MAX_SLOTS`].
    pub const fn new(va: u64, pa: u64, slot_size: usize, slots: usize) -> Self {
        let slots = if slots > MAX_SLOTS { MAX_SLOTS } else { slots };
        BouncePool {
            va,
            pa,
            slot_size,
            slots,
            used: [false; MAX_SLOTS],
        }
    }

    /// Size of each slot in bytes.
    pub fn slot_size(&self) -> usize {
        self.slot_size
    }

    /// Slots in use.
    pub fn in_use(&self) -> usize {
        self.used[..self.slots].iter().filter(|u| **u).count()
    }

    /// Takes a slot for a buffer of `len` bytes: `(va, pa)` of the slot, or
    /// `None` if `len` is larger than a slot or every slot is taken.
    pub fn take(&mut self, len: usize) -> Option<(u64, u64)> {
        if len > self.slot_size {
            return None;
        }
        let i = self.used[..self.slots].iter().position(|u| !*u)?;
        self.used[i] = true;
        let off = (i * self.slot_size) as u64;
        Some((self.va + off, self.pa + off))
    }

    /// The virtual address of the in-use slot at physical `pa`.
    pub fn va_of(&self, pa: u64) -> Option<u64> {
        let i = self.index_of(pa)?;
        self.used[i].then(|| self.va + (i * self.slot_size) as u64)
    }

    /// Gives the slot at physical `pa` back. False if `pa` is not the start
    /// of an in-use slot of this pool.
    pub fn give_back(&mut self, pa: u64) -> bool {
        match self.index_of(pa) {
            Some(i) if self.used[i] => {
                self.used[i] = false;
                true
            }
            _ => false,
        }
    }

    fn index_of(&self, pa: u64) -> Option<usize> {
        let off = usize::try_from(pa.checked_sub(self.pa)?).ok()?;
        if self.slot_size == 0 || off % self.slot_size != 0 {
            return None;
        }
        let i = off / self.slot_size;
        (i < self.slots).then_some(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_handed_out_once_and_returned() {
        let mut p = BouncePool::new(0x3_0000_0000, 0x8200_0000, 2048, 3);
        let a = p.take(2048).unwrap();
        let b = p.take(1).unwrap();
        let c = p.take(100).unwrap();
        assert_eq!(a, (0x3_0000_0000, 0x8200_0000));
        assert_eq!(b, (0x3_0000_0800, 0x8200_0800));
        assert_eq!(c.1, 0x8200_1000);
        assert_eq!(p.take(1), None, "exhausted");
        assert_eq!(p.in_use(), 3);
        assert_eq!(p.va_of(b.1), Some(b.0));
        assert!(p.give_back(b.1));
        assert!(!p.give_back(b.1), "double give-back refused");
        assert_eq!(p.va_of(b.1), None);
        assert_eq!(p.take(5), Some(b), "freed slot reused");
    }

    #[test]
    fn foreign_and_misaligned_addresses_are_refused() {
        let mut p = BouncePool::new(0x1000, 0x9000, 512, 4);
        assert_eq!(p.take(513), None, "larger than a slot");
        let (_, pa) = p.take(10).unwrap();
        assert!(!p.give_back(pa + 1));
        assert!(!p.give_back(0x8000));
        assert!(!p.give_back(0x9000 + 4 * 512), "one past the pool");
        assert!(!p.give_back(u64::MAX));
        assert!(p.give_back(pa));
    }
}
