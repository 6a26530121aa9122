//! smoltcp `Device` over a virtio-net NIC (virtio-drivers' `VirtIONetRaw`).
//!
//! Design notes
//! ------------
//! * Built on the raw, non-blocking half of virtio-drivers: buffers are
//!   posted with `receive_begin`/`transmit_begin` and collected with
//!   `poll_receive`/`poll_transmit`. Nothing here waits: `receive` returns
//!   `None` when no frame is ready and `transmit` returns `None` when every
//!   TX buffer is in flight, so smoltcp simply retries on its next poll.
//!   (`VirtIONet::send` would spin until the device is done; it is not used.)
//! * Buffers: `QUEUE_SIZE` RX and `QUEUE_SIZE` TX buffers of `NET_BUF_LEN`
//!   bytes in two regions of DMA memory from `H::dma_alloc` (stable
//!   addresses, owned by the device), so the HAL's `share` hands the device
//!   their own physical addresses and nothing is bounced (copied).
//!   Every RX buffer stays posted except while smoltcp reads it; it is
//!   re-posted at the start of the next `receive`/`transmit` call (no token
//!   can be alive then: tokens borrow the device).
//! * The HAL contract (what `H: Hal` must do) is in `docs/nexus-net-os.md`:
//!   `dma_alloc` returns zeroed, physically contiguous kernel DMA memory for
//!   the virtqueues; `share` may receive these heap buffers, which are not
//!   DMA memory, so the runtime HAL bounces them (copy in for
//!   driver-to-device, copy out on `unshare` for device-to-driver).
//! * Drop order: `raw` is the first field, so the queues are unset before
//!   the buffers they point at are freed.
//! * This adapter compiles (and is clippy-checked) on host and riscv but can
//!   only run against a real virtio-mmio device, i.e. on the OS under QEMU;
//!   host tests use [`memlink`](crate::memlink) instead.

use alloc::vec;
use core::marker::PhantomData;
use core::ptr::NonNull;

use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use virtio_drivers::device::net::VirtIONetRaw;
use virtio_drivers::transport::{InterruptStatus, Transport};
use virtio_drivers::{BufferDirection, Hal, PhysAddr, PAGE_SIZE};

/// Descriptors per virtqueue (and RX/TX buffers each).
pub const QUEUE_SIZE: usize = 16;
/// Bytes per RX/TX buffer: virtio-net header + a 1514-byte frame fits.
pub const NET_BUF_LEN: usize = 2048;
/// Largest Ethernet frame handed to smoltcp (1500-byte IP MTU).
pub const FRAME_MAX: usize = 1514;

/// `count` buffers of `NET_BUF_LEN` bytes in one region of DMA memory,
/// freed with the region.
struct DmaBufs<H: Hal> {
    pa: PhysAddr,
    va: NonNull<u8>,
    pages: usize,
    len: usize,
    _hal: PhantomData<H>,
}

impl<H: Hal> DmaBufs<H> {
    fn new(count: usize) -> Self {
        let len = count * NET_BUF_LEN;
        let pages = len.div_ceil(PAGE_SIZE);
        let (pa, va) = H::dma_alloc(pages, BufferDirection::Both);
        DmaBufs {
            pa,
            va,
            pages,
            len,
            _hal: PhantomData,
        }
    }

    fn all(&self) -> &[u8] {
        // SAFETY: `dma_alloc` returned `pages` pages (>= `len` bytes) of
        // zeroed memory mapped for this task, owned by `self` until drop;
        // `&self` rules out a live mutable slice.
        unsafe { core::slice::from_raw_parts(self.va.as_ptr(), self.len) }
    }

    fn all_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `all`; `&mut self` makes this the only slice.
        unsafe { core::slice::from_raw_parts_mut(self.va.as_ptr(), self.len) }
    }

    fn buf(&self, i: usize) -> Option<&[u8]> {
        self.all().get(i * NET_BUF_LEN..(i + 1) * NET_BUF_LEN)
    }

    fn buf_mut(&mut self, i: usize) -> Option<&mut [u8]> {
        self.all_mut()
            .get_mut(i * NET_BUF_LEN..(i + 1) * NET_BUF_LEN)
    }
}

impl<H: Hal> Drop for DmaBufs<H> {
    fn drop(&mut self) {
        // SAFETY: exactly the region `dma_alloc` returned; the device no
        // longer uses it (the queues were unset first: `raw` drops first).
        unsafe { H::dma_dealloc(self.pa, self.va, self.pages) };
    }
}

/// The buffer `i` of a buffer area.
fn slot_mut(area: &mut [u8], i: usize) -> Option<&mut [u8]> {
    area.get_mut(i * NET_BUF_LEN..(i + 1) * NET_BUF_LEN)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TxSlot {
    Free,
    InFlight { token: u16, len: usize },
}

/// Counters of the adapter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VirtioStats {
    /// Frames handed to smoltcp.
    pub rx_frames: u64,
    /// Frames given to the device.
    pub tx_frames: u64,
    /// Received buffers that could not be completed or were malformed.
    pub rx_errors: u64,
    /// Frames smoltcp produced that could not be queued (no buffer, queue error).
    pub tx_dropped: u64,
}

/// A virtio-net NIC as a smoltcp [`Device`]. Never busy-waits.
pub struct VirtioNetDevice<H: Hal, T: Transport> {
    // Must stay the first field: dropped first, it unsets the queues before
    // the buffers below are freed.
    raw: VirtIONetRaw<H, T, QUEUE_SIZE>,
    rx_bufs: DmaBufs<H>,
    /// Token of each RX buffer while it is posted to the device.
    rx_posted: [Option<u16>; QUEUE_SIZE],
    tx_bufs: DmaBufs<H>,
    tx_slots: [TxSlot; QUEUE_SIZE],
    mac: [u8; 6],
    stats: VirtioStats,
}

impl<H: Hal, T: Transport> VirtioNetDevice<H, T> {
    /// Initialises the device on `transport`, allocates the buffers and
    /// posts every RX buffer. Interrupts stay as the device left them
    /// (see [`enable_interrupts`](Self::enable_interrupts)).
    pub fn new(transport: T) -> Result<Self, virtio_drivers::Error> {
        let raw = VirtIONetRaw::<H, T, QUEUE_SIZE>::new(transport)?;
        let mac = raw.mac_address();
        let mut dev = VirtioNetDevice {
            raw,
            rx_bufs: DmaBufs::new(QUEUE_SIZE),
            rx_posted: [None; QUEUE_SIZE],
            tx_bufs: DmaBufs::new(QUEUE_SIZE),
            tx_slots: [TxSlot::Free; QUEUE_SIZE],
            mac,
            stats: VirtioStats::default(),
        };
        for i in 0..QUEUE_SIZE {
            dev.post_rx(i)?;
        }
        Ok(dev)
    }

    /// The NIC's MAC address.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// Acknowledges the device interrupt; call from the IRQ path before
    /// polling the stack.
    pub fn ack_interrupt(&mut self) -> InterruptStatus {
        self.raw.ack_interrupt()
    }

    /// Asks the device to interrupt on used buffers (RX and TX).
    pub fn enable_interrupts(&mut self) {
        self.raw.enable_interrupts();
    }

    /// Asks the device not to interrupt (pure polling).
    pub fn disable_interrupts(&mut self) {
        self.raw.disable_interrupts();
    }

    /// Adapter counters.
    pub fn stats(&self) -> VirtioStats {
        self.stats
    }

    /// True if the device has a received frame ready.
    pub fn has_rx(&self) -> bool {
        self.raw.poll_receive().is_some()
    }

    /// Re-posts every RX buffer not currently posted (the one smoltcp read
    /// last) and collects finished transmissions. Called by
    /// `receive`/`transmit` (no token is alive then); harmless to call more.
    pub fn refill(&mut self) {
        for i in 0..QUEUE_SIZE {
            if self.rx_posted.get(i).is_some_and(Option::is_none) && self.post_rx(i).is_err() {
                self.stats.rx_errors += 1;
                break;
            }
        }
        self.reap_tx();
    }

    fn post_rx(&mut self, i: usize) -> Result<(), virtio_drivers::Error> {
        let (Some(buf), Some(posted)) = (self.rx_bufs.buf_mut(i), self.rx_posted.get_mut(i)) else {
            return Err(virtio_drivers::Error::InvalidParam);
        };
        // SAFETY: `buf` is a DMA buffer owned by `self` with a stable
        // address; it is not touched again until `receive_complete` for the
        // returned token, and it outlives the queue (`raw` drops first).
        let token = unsafe { self.raw.receive_begin(buf)? };
        *posted = Some(token);
        Ok(())
    }

    fn reap_tx(&mut self) {
        while let Some(token) = self.raw.poll_transmit() {
            let Some(i) = self
                .tx_slots
                .iter()
                .position(|s| matches!(s, TxSlot::InFlight { token: t, .. } if *t == token))
            else {
                break;
            };
            let len = match self.tx_slots.get(i) {
                Some(TxSlot::InFlight { len, .. }) => *len,
                _ => break,
            };
            let Some(buf) = self.tx_bufs.buf(i).and_then(|b| b.get(..len)) else {
                break;
            };
            // SAFETY: `buf` is exactly the slice passed to `transmit_begin`
            // for `token` (same buffer, same length).
            if unsafe { self.raw.transmit_complete(token, buf) }.is_err() {
                break;
            }
            if let Some(s) = self.tx_slots.get_mut(i) {
                *s = TxSlot::Free;
            }
        }
    }

    /// Completes the next received buffer: `(buffer index, frame start,
    /// frame end)`. Malformed completions are counted, recycled and skipped.
    fn next_frame(&mut self) -> Option<(usize, usize, usize)> {
        for _ in 0..QUEUE_SIZE {
            let token = self.raw.poll_receive()?;
            let Some(i) = self.rx_posted.iter().position(|t| *t == Some(token)) else {
                // A token we never posted: nothing sane to complete.
                self.stats.rx_errors += 1;
                return None;
            };
            let buf = self.rx_bufs.buf_mut(i)?;
            // SAFETY: `buf` is the buffer posted with `token` (looked up above).
            let done = unsafe { self.raw.receive_complete(token, buf) };
            if let Some(p) = self.rx_posted.get_mut(i) {
                *p = None;
            }
            let frame = done.ok().and_then(|(hdr, len)| {
                let end = hdr.checked_add(len)?;
                (end <= buf.len()).then_some((hdr, end))
            });
            match frame {
                // Re-posted by `refill` at the start of the next device call.
                Some((start, end)) => return Some((i, start, end)),
                None => {
                    self.stats.rx_errors += 1;
                    self.post_rx(i).ok()?;
                }
            }
        }
        None
    }

    fn free_tx(&self) -> Option<usize> {
        if !self.raw.can_send() {
            return None;
        }
        self.tx_slots.iter().position(|s| *s == TxSlot::Free)
    }
}

/// Receive token: a completed RX buffer's frame.
pub struct VirtioRx<'a> {
    frame: &'a [u8],
}

/// Transmit token: a free TX buffer (`slot` is always `Some` as handed out
/// by the device; with `None` the frame would be dropped and counted).
pub struct VirtioTx<'a, H: Hal, T: Transport> {
    raw: &'a mut VirtIONetRaw<H, T, QUEUE_SIZE>,
    bufs: &'a mut [u8],
    slots: &'a mut [TxSlot; QUEUE_SIZE],
    stats: &'a mut VirtioStats,
    slot: Option<usize>,
}

impl phy::RxToken for VirtioRx<'_> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        f(self.frame)
    }
}

impl<H: Hal, T: Transport> phy::TxToken for VirtioTx<'_, H, T> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        crate::TxBuild::build(self, len, |b| (f(b), true))
    }
}

impl<H: Hal, T: Transport> crate::TxBuild for VirtioTx<'_, H, T> {
    fn build<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> (R, bool),
    {
        let VirtioTx {
            raw,
            bufs,
            slots,
            stats,
            slot,
        } = self;
        let target = slot.and_then(|i| Some((i, slot_mut(bufs, i)?)));
        let Some((i, buf)) = target else {
            stats.tx_dropped += 1;
            return f(&mut vec![0u8; len]).0;
        };
        let hdr = raw.fill_buffer_header(buf).ok();
        let Some((hdr, frame)) = hdr.and_then(|h| Some((h, buf.get_mut(h..h.checked_add(len)?)?)))
        else {
            stats.tx_dropped += 1;
            return f(&mut vec![0u8; len]).0;
        };
        let (r, send) = f(frame);
        if !send {
            // Withheld: the slot stays free.
            return r;
        }
        let total = hdr + len;
        let Some(packet) = buf.get(..total) else {
            stats.tx_dropped += 1;
            return r;
        };
        // SAFETY: the TX buffer is owned by the device, has a stable DMA
        // address, outlives the queue, and is not touched again until
        // `transmit_complete` for the returned token (slot marked in flight).
        match unsafe { raw.transmit_begin(packet) } {
            Ok(token) => {
                if let Some(s) = slots.get_mut(i) {
                    *s = TxSlot::InFlight { token, len: total };
                }
                stats.tx_frames += 1;
            }
            Err(_) => stats.tx_dropped += 1,
        }
        r
    }
}

impl<H: Hal, T: Transport> Device for VirtioNetDevice<H, T> {
    type RxToken<'a>
        = VirtioRx<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = VirtioTx<'a, H, T>
    where
        Self: 'a;

    fn receive(&mut self, _timestamp: Instant) -> Option<(VirtioRx<'_>, VirtioTx<'_, H, T>)> {
        self.refill();
        // The reply token must be able to send: without a free TX slot the
        // frame stays queued until a transmission completes (its interrupt
        // brings the owner back). Handing out a token without a slot lost
        // the reply: the first fragment of an echo reply to `ping -s 1473`
        // during a bulk transfer (seen on the tap).
        let tx_slot = self.free_tx()?;
        let (i, start, end) = self.next_frame()?;
        let frame = self.rx_bufs.buf(i).and_then(|b| b.get(start..end))?;
        self.stats.rx_frames += 1;
        Some((
            VirtioRx { frame },
            VirtioTx {
                raw: &mut self.raw,
                bufs: self.tx_bufs.all_mut(),
                slots: &mut self.tx_slots,
                stats: &mut self.stats,
                slot: Some(tx_slot),
            },
        ))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<VirtioTx<'_, H, T>> {
        self.refill();
        let slot = self.free_tx()?;
        Some(VirtioTx {
            raw: &mut self.raw,
            bufs: self.tx_bufs.all_mut(),
            slots: &mut self.tx_slots,
            stats: &mut self.stats,
            slot: Some(slot),
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = FRAME_MAX;
        caps
    }
}
