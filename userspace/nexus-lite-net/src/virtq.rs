//! Driver-side logic of a virtio 1.x *split* virtqueue, over abstract ring
//! memory.
//!
//! The service maps the descriptor table, the available ring and the used
//! ring in DMA memory and implements [`RingMem`] with volatile accesses and
//! the fences the spec requires; this module owns the bookkeeping: the free
//! descriptor list, the driver's shadow `avail.idx`, the driver's
//! `last_used` cursor (both wrapping `u16` counters, reduced modulo the
//! queue size only to index the rings), and which descriptors are in flight.
//!
//! The device is not trusted. [`SplitQueue::pop_used`] rejects a used index
//! that moved by more than the queue size (the queue is then *broken* and
//! stays so), descriptor ids that are out of range or not in flight, and
//! used lengths larger than the buffer the driver posted, always consuming
//! the bad element so the driver can never loop on it.
//!
//! Every buffer is one descriptor (no chaining, no indirect descriptors):
//! virtio-net with `VIRTIO_F_VERSION_1` accepts the 12-byte header and the
//! frame in a single buffer.

/// `VIRTQ_DESC_F_WRITE`: the device writes this buffer.
pub const DESC_F_WRITE: u16 = 2;
/// Largest queue this module manages.
pub const MAX_QUEUE: usize = 64;

/// One descriptor-table entry.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub struct Desc {
    /// Guest-physical address of the buffer.
    pub addr: u64,
    /// Buffer length in bytes.
    pub len: u32,
    /// `DESC_F_*` flags.
    pub flags: u16,
    /// Next descriptor (unused: no chaining).
    pub next: u16,
}

/// Access to the three ring areas of one queue. Indices passed in are
/// already reduced modulo the queue size.
pub trait RingMem {
    /// Writes descriptor `i`.
    fn write_desc(&mut self, i: u16, d: Desc);
    /// Writes `avail.ring[slot] = id`.
    fn write_avail_ring(&mut self, slot: u16, id: u16);
    /// Publishes `avail.idx` (the implementation orders the ring and
    /// descriptor writes before it: a release fence).
    fn publish_avail_idx(&mut self, idx: u16);
    /// Reads `used.idx` (the implementation orders later ring reads after
    /// it: an acquire fence).
    fn read_used_idx(&self) -> u16;
    /// Reads `used.ring[slot]` as (id, len).
    fn read_used_elem(&self, slot: u16) -> (u32, u32);
}

/// Why a buffer could not be posted / the queue could not be made.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum QueueError {
    /// Every descriptor is in flight.
    Full,
    /// The size is 0, not a power of two, or above [`MAX_QUEUE`].
    BadSize,
    /// The device corrupted the used ring earlier; the queue is unusable.
    Broken,
}

/// A buffer the device returned.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Used {
    /// The token given to [`SplitQueue::push`].
    pub token: u16,
    /// Bytes the device wrote (device-writable buffers), validated against
    /// the posted length.
    pub len: u32,
}

/// A bad used-ring element or index (the element, if any, is consumed).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum UsedError {
    /// `used.idx` moved more than the queue size past `last_used`: the
    /// queue is now broken.
    IndexJump {
        /// Device's `used.idx`.
        used_idx: u16,
        /// Driver's cursor.
        last_used: u16,
    },
    /// The element names a descriptor id outside the table.
    BogusId(u32),
    /// The element names a descriptor that is not in flight (returned twice).
    NotInFlight(u16),
    /// The used length exceeds the posted buffer; the descriptor is freed and
    /// its token returned so the driver can recycle the buffer.
    LenOutOfRange {
        /// Token of the freed buffer.
        token: u16,
        /// The length the device claimed.
        len: u32,
    },
    /// The queue was broken earlier.
    Broken,
}

/// Driver state of one split virtqueue.
#[derive(Clone, Debug)]
pub struct SplitQueue {
    size: u16,
    free: [u16; MAX_QUEUE],
    nfree: u16,
    /// Per descriptor: posted length and token while in flight.
    in_flight: [Option<(u32, u16)>; MAX_QUEUE],
    avail_idx: u16,
    last_used: u16,
    broken: bool,
}

impl SplitQueue {
    /// A queue of `size` descriptors (a power of two, 1..=[`MAX_QUEUE`]),
    /// all free, with both indices at 0 (as after a device reset).
    pub fn new(size: u16) -> Result<Self, QueueError> {
        if size == 0 || !size.is_power_of_two() || usize::from(size) > MAX_QUEUE {
            return Err(QueueError::BadSize);
        }
        let mut free = [0u16; MAX_QUEUE];
        for (i, f) in free.iter_mut().enumerate().take(usize::from(size)) {
            // Popped from the end: descriptor 0 goes out first.
            *f = size - 1 - i as u16;
        }
        Ok(Self {
            size,
            free,
            nfree: size,
            in_flight: [None; MAX_QUEUE],
            avail_idx: 0,
            last_used: 0,
            broken: false,
        })
    }

    /// Queue size.
    pub fn size(&self) -> u16 {
        self.size
    }

    /// Free descriptors.
    pub fn num_free(&self) -> u16 {
        self.nfree
    }

    /// The driver's shadow `avail.idx` (wrapping).
    pub fn avail_idx(&self) -> u16 {
        self.avail_idx
    }

    /// The driver's used cursor (wrapping).
    pub fn last_used(&self) -> u16 {
        self.last_used
    }

    /// True once the device corrupted the used index.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Posts one buffer (`device_writes` for RX) and publishes it; returns
    /// the descriptor id. The caller notifies the device afterwards.
    pub fn push<M: RingMem>(
        &mut self,
        mem: &mut M,
        addr: u64,
        len: u32,
        device_writes: bool,
        token: u16,
    ) -> Result<u16, QueueError> {
        if self.broken {
            return Err(QueueError::Broken);
        }
        if self.nfree == 0 {
            return Err(QueueError::Full);
        }
        self.nfree -= 1;
        let id = self.free[usize::from(self.nfree)];
        let flags = if device_writes { DESC_F_WRITE } else { 0 };
        mem.write_desc(
            id,
            Desc {
                addr,
                len,
                flags,
                next: 0,
            },
        );
        self.in_flight[usize::from(id)] = Some((len, token));
        mem.write_avail_ring(self.avail_idx % self.size, id);
        self.avail_idx = self.avail_idx.wrapping_add(1);
        mem.publish_avail_idx(self.avail_idx);
        Ok(id)
    }

    /// Takes the next used element, if the device returned one.
    pub fn pop_used<M: RingMem>(&mut self, mem: &M) -> Option<Result<Used, UsedError>> {
        if self.broken {
            return Some(Err(UsedError::Broken));
        }
        let used_idx = mem.read_used_idx();
        let pending = used_idx.wrapping_sub(self.last_used);
        if pending == 0 {
            return None;
        }
        if pending > self.size {
            self.broken = true;
            return Some(Err(UsedError::IndexJump {
                used_idx,
                last_used: self.last_used,
            }));
        }
        let (id, len) = mem.read_used_elem(self.last_used % self.size);
        self.last_used = self.last_used.wrapping_add(1);
        if id >= u32::from(self.size) {
            return Some(Err(UsedError::BogusId(id)));
        }
        let id = id as u16;
        let Some((cap, token)) = self.in_flight[usize::from(id)].take() else {
            return Some(Err(UsedError::NotInFlight(id)));
        };
        self.free[usize::from(self.nfree)] = id;
        self.nfree += 1;
        if len > cap {
            return Some(Err(UsedError::LenOutOfRange { token, len }));
        }
        Some(Ok(Used { token, len }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    /// Ring memory plus a scripted device.
    struct Fake {
        desc: Vec<Desc>,
        avail: Vec<u16>,
        avail_idx: u16,
        used: Vec<(u32, u32)>,
        used_idx: u16,
        dev_last_avail: u16,
    }

    impl Fake {
        fn new(n: u16) -> Self {
            Fake {
                desc: vec![Desc::default(); n.into()],
                avail: vec![0; n.into()],
                avail_idx: 0,
                used: vec![(0, 0); n.into()],
                used_idx: 0,
                dev_last_avail: 0,
            }
        }
        fn n(&self) -> u16 {
            self.avail.len() as u16
        }
        /// The device consumes one available buffer and returns it with
        /// `len` (or its full length).
        fn complete(&mut self, len: Option<u32>) -> Option<Desc> {
            if self.dev_last_avail == self.avail_idx {
                return None;
            }
            let id = self.avail[usize::from(self.dev_last_avail % self.n())];
            self.dev_last_avail = self.dev_last_avail.wrapping_add(1);
            let d = self.desc[usize::from(id)];
            self.put_used(u32::from(id), len.unwrap_or(d.len));
            Some(d)
        }
        fn put_used(&mut self, id: u32, len: u32) {
            let n = self.n();
            self.used[usize::from(self.used_idx % n)] = (id, len);
            self.used_idx = self.used_idx.wrapping_add(1);
        }
    }

    impl RingMem for Fake {
        fn write_desc(&mut self, i: u16, d: Desc) {
            self.desc[usize::from(i)] = d;
        }
        fn write_avail_ring(&mut self, slot: u16, id: u16) {
            self.avail[usize::from(slot)] = id;
        }
        fn publish_avail_idx(&mut self, idx: u16) {
            self.avail_idx = idx;
        }
        fn read_used_idx(&self) -> u16 {
            self.used_idx
        }
        fn read_used_elem(&self, slot: u16) -> (u32, u32) {
            self.used[usize::from(slot)]
        }
    }

    #[test]
    fn sizes() {
        for bad in [0, 3, 12, 128] {
            assert_eq!(SplitQueue::new(bad).err(), Some(QueueError::BadSize));
        }
        assert_eq!(SplitQueue::new(1).unwrap().num_free(), 1);
        assert_eq!(SplitQueue::new(64).unwrap().size(), 64);
    }

    #[test]
    fn push_pop_and_full_ring() {
        let mut q = SplitQueue::new(4).unwrap();
        let mut m = Fake::new(4);
        for t in 0..4u16 {
            q.push(&mut m, 0x1000 * u64::from(t), 100, true, t).unwrap();
        }
        assert_eq!(q.push(&mut m, 0, 1, true, 9), Err(QueueError::Full));
        assert_eq!(q.pop_used(&m), None);
        let d = m.complete(Some(60)).unwrap();
        assert_eq!((d.addr, d.flags), (0, DESC_F_WRITE));
        assert_eq!(q.pop_used(&m), Some(Ok(Used { token: 0, len: 60 })));
        assert_eq!(q.pop_used(&m), None);
        assert_eq!(q.num_free(), 1);
        q.push(&mut m, 0x9000, 100, false, 7).unwrap();
        assert_eq!(
            m.desc[0].flags, 0,
            "freed descriptor 0 reused, driver-readable"
        );
    }

    #[test]
    fn indices_wrap_around_u16() {
        let mut q = SplitQueue::new(8).unwrap();
        let mut m = Fake::new(8);
        // Run 70_000 buffers through: avail/used idx wrap past 65535.
        let mut expect = 0u16;
        for i in 0..70_000u32 {
            let t = (i % 1000) as u16;
            q.push(&mut m, u64::from(i), 64, true, t).unwrap();
            if i % 3 == 2 {
                while m.complete(Some(10)).is_some() {}
                while let Some(u) = q.pop_used(&m) {
                    let u = u.unwrap();
                    assert_eq!(u.token, expect % 1000);
                    expect = expect.wrapping_add(1);
                    if expect.is_multiple_of(1000) {
                        expect = 0;
                    }
                }
            }
        }
        assert_eq!(q.avail_idx(), (70_000u32 % 65_536) as u16);
        assert_eq!(m.avail_idx, q.avail_idx());
        assert!(q.last_used() > 0 && q.num_free() >= 7);
    }

    #[test]
    fn wraps_with_indices_near_the_top() {
        // Start both sides at 65533 as if the queue had been busy for long.
        let mut q = SplitQueue::new(4).unwrap();
        q.avail_idx = 65_533;
        q.last_used = 65_533;
        let mut m = Fake::new(4);
        m.avail_idx = 65_533;
        m.dev_last_avail = 65_533;
        m.used_idx = 65_533;
        for round in 0..5u16 {
            for t in 0..4 {
                q.push(&mut m, 0, 32, true, t).unwrap();
            }
            for _ in 0..4 {
                m.complete(Some(u32::from(round))).unwrap();
            }
            for t in 0..4 {
                assert_eq!(
                    q.pop_used(&m),
                    Some(Ok(Used {
                        token: t,
                        len: u32::from(round)
                    }))
                );
            }
            assert_eq!(q.pop_used(&m), None);
        }
        assert_eq!(q.avail_idx(), 65_533u16.wrapping_add(20));
    }

    #[test]
    fn used_length_out_of_range_frees_and_reports() {
        let mut q = SplitQueue::new(2).unwrap();
        let mut m = Fake::new(2);
        q.push(&mut m, 0, 100, true, 5).unwrap();
        m.complete(Some(101));
        assert_eq!(
            q.pop_used(&m),
            Some(Err(UsedError::LenOutOfRange { token: 5, len: 101 }))
        );
        assert_eq!(q.num_free(), 2, "descriptor freed for recycling");
        q.push(&mut m, 0, 100, true, 6).unwrap();
        m.complete(Some(u32::MAX));
        assert!(matches!(
            q.pop_used(&m),
            Some(Err(UsedError::LenOutOfRange { token: 6, .. }))
        ));
    }

    #[test]
    fn bogus_and_duplicate_ids_are_consumed() {
        let mut q = SplitQueue::new(4).unwrap();
        let mut m = Fake::new(4);
        q.push(&mut m, 0, 10, true, 1).unwrap();
        m.put_used(4, 1);
        m.put_used(u32::MAX, 1);
        m.put_used(3, 1); // valid range, never posted
        assert_eq!(q.pop_used(&m), Some(Err(UsedError::BogusId(4))));
        assert_eq!(q.pop_used(&m), Some(Err(UsedError::BogusId(u32::MAX))));
        assert_eq!(q.pop_used(&m), Some(Err(UsedError::NotInFlight(3))));
        assert_eq!(q.pop_used(&m), None);
        assert_eq!(q.num_free(), 3, "nothing freed by bogus elements");
        m.complete(Some(2));
        assert_eq!(q.pop_used(&m), Some(Ok(Used { token: 1, len: 2 })));
        m.put_used(0, 2); // descriptor 0 returned twice
        assert_eq!(q.pop_used(&m), Some(Err(UsedError::NotInFlight(0))));
        assert_eq!(q.num_free(), 4);
    }

    #[test]
    fn used_index_jump_breaks_the_queue() {
        let mut q = SplitQueue::new(4).unwrap();
        let mut m = Fake::new(4);
        q.push(&mut m, 0, 10, true, 1).unwrap();
        m.used_idx = 5;
        assert_eq!(
            q.pop_used(&m),
            Some(Err(UsedError::IndexJump {
                used_idx: 5,
                last_used: 0
            }))
        );
        assert!(q.is_broken());
        assert_eq!(q.pop_used(&m), Some(Err(UsedError::Broken)));
        assert_eq!(q.push(&mut m, 0, 1, true, 0), Err(QueueError::Broken));
        // Going backwards is a jump too (wrapping distance > size).
        let mut q = SplitQueue::new(4).unwrap();
        let mut m = Fake::new(4);
        m.used_idx = u16::MAX;
        assert!(matches!(
            q.pop_used(&m),
            Some(Err(UsedError::IndexJump { .. }))
        ));
    }
}
