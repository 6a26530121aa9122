//! smoltcp `Device` over a virtio-net NIC (a small driver on virtio-drivers'
//! transport and virtqueue API).
//!
//! Design notes
//! ------------
//! * Own driver, not virtio-drivers' `VirtIONetRaw`: that one negotiates a
//!   fixed feature set (no offloads). [`NetQueues`] is the same raw,
//!   non-blocking driver (buffers posted to the virtqueues and collected
//!   later) that also negotiates `VIRTIO_NET_F_CSUM` and
//!   `VIRTIO_NET_F_HOST_TSO4` when the device offers them (QEMU does on a
//!   tap netdev with `vnet_hdr`; not on user or socket/dgram netdevs).
//!   Nothing here waits: `receive` returns `None` when no frame is ready and
//!   `transmit` returns `None` when no TX buffer is free, so smoltcp simply
//!   retries on its next poll.
//! * Offloads (docs/nexus-net-os.md, "virtio-net offloads"): with CSUM,
//!   smoltcp computes no TCP checksum on send and [`offload::prepare_tx`]
//!   writes the `virtio_net_hdr` that asks the device to; with TSO4 as well
//!   smoltcp's TCP may emit segments up to [`TSO_FRAME_MAX`] and the
//!   header carries smoltcp's segment size. Receive checksums are still
//!   verified by smoltcp (GUEST_CSUM is not negotiated).
//! * Buffers: `QUEUE_SIZE` RX and `QUEUE_SIZE` TX buffers of `NET_BUF_LEN`
//!   bytes, and with TSO `TSO_SLOTS` TX buffers of `TSO_BUF_LEN`, in regions
//!   of DMA memory from `H::dma_alloc` (stable addresses, owned by the
//!   device), so the HAL's `share` hands the device their own physical
//!   addresses and nothing is bounced (copied).
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
//!
//! [`offload::prepare_tx`]: crate::offload::prepare_tx
//! * This adapter compiles (and is clippy-checked) on host and riscv but can
//!   only run against a real virtio-mmio device, i.e. on the OS under QEMU;
//!   host tests use [`memlink`](crate::memlink) instead.

use alloc::vec;
use core::marker::PhantomData;
use core::ptr::NonNull;

use smoltcp::phy::{self, Checksum, Device, DeviceCapabilities, Medium, PacketMeta};
use smoltcp::time::Instant;
use virtio_drivers::queue::VirtQueue;
use virtio_drivers::transport::{InterruptStatus, Transport};
use virtio_drivers::{BufferDirection, Hal, PhysAddr, PAGE_SIZE};

use crate::offload::{self, VIRTIO_NET_HDR_LEN};

/// Descriptors per virtqueue (and RX/TX buffers each).
pub const QUEUE_SIZE: usize = 16;
/// Bytes per RX/TX buffer: virtio-net header + a 1514-byte frame fits.
pub const NET_BUF_LEN: usize = 2048;
/// Largest Ethernet frame handed to smoltcp (1500-byte IP MTU).
pub const FRAME_MAX: usize = 1514;
/// TX buffers for segmentation offload (allocated only with TSO).
pub const TSO_SLOTS: usize = 4;
/// Bytes per TSO TX buffer (virtio-net header + frame).
pub const TSO_BUF_LEN: usize = 64 * 1024;
/// Largest Ethernet frame smoltcp may build with TSO: an IPv4 packet of
/// 65,510 bytes (below the 65,535 its length field allows).
pub const TSO_FRAME_MAX: usize = TSO_BUF_LEN - VIRTIO_NET_HDR_LEN;

bitflags::bitflags! {
    /// The feature bits this driver knows (virtio 1.2, 5.1.3 and 6).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct NetFeatures: u64 {
        /// The device completes checksums of partially summed packets.
        const CSUM = 1 << 0;
        /// The device segments TCP/IPv4 (requires CSUM).
        const HOST_TSO4 = 1 << 11;
        /// The device has a MAC address in its configuration.
        const MAC = 1 << 5;
        /// The configuration has a link status field.
        const STATUS = 1 << 16;
        /// Indirect descriptors.
        const RING_INDIRECT_DESC = 1 << 28;
        /// Used/available event indexes.
        const RING_EVENT_IDX = 1 << 29;
        /// Modern device (12-byte `virtio_net_hdr`).
        const VERSION_1 = 1 << 32;
    }
}

const QUEUE_RECEIVE: u16 = 0;
const QUEUE_TRANSMIT: u16 = 1;

/// The raw virtio-net driver: the two virtqueues and what was negotiated.
/// Only modern devices (`VERSION_1`, 12-byte header) are driven.
pub struct NetQueues<H: Hal, T: Transport> {
    transport: T,
    recv: VirtQueue<H, QUEUE_SIZE>,
    send: VirtQueue<H, QUEUE_SIZE>,
    features: NetFeatures,
}

impl<H: Hal, T: Transport> NetQueues<H, T> {
    /// Negotiates the features (offloads only if offered) and sets up the
    /// queues.
    pub fn new(mut transport: T) -> Result<Self, virtio_drivers::Error> {
        let wanted = NetFeatures::all();
        let mut features = transport.begin_init(wanted);
        if !features.contains(NetFeatures::VERSION_1) {
            return Err(virtio_drivers::Error::Unsupported);
        }
        // TSO4 without CSUM is not a valid device offer (virtio 5.1.3.1).
        if !features.contains(NetFeatures::CSUM) {
            features.remove(NetFeatures::HOST_TSO4);
        }
        let indirect = features.contains(NetFeatures::RING_INDIRECT_DESC);
        let event_idx = features.contains(NetFeatures::RING_EVENT_IDX);
        let send = VirtQueue::new(&mut transport, QUEUE_TRANSMIT, indirect, event_idx)?;
        let recv = VirtQueue::new(&mut transport, QUEUE_RECEIVE, indirect, event_idx)?;
        transport.finish_init();
        Ok(NetQueues {
            transport,
            recv,
            send,
            features,
        })
    }

    /// The negotiated features.
    pub fn features(&self) -> NetFeatures {
        self.features
    }

    fn mac_address(&self) -> Result<[u8; 6], virtio_drivers::Error> {
        self.transport
            .read_consistent(|| self.transport.read_config_space::<[u8; 6]>(0))
    }

    fn ack_interrupt(&mut self) -> InterruptStatus {
        self.transport.ack_interrupt()
    }

    fn set_notify(&mut self, on: bool) {
        self.send.set_dev_notify(on);
        self.recv.set_dev_notify(on);
    }

    fn can_send(&self) -> bool {
        self.send.available_desc() >= 2
    }

    /// # Safety
    /// `buf` must stay valid and untouched until `transmit_complete`.
    unsafe fn transmit_begin(&mut self, buf: &[u8]) -> Result<u16, virtio_drivers::Error> {
        // SAFETY: forwarded caller contract.
        let token = unsafe { self.send.add(&[buf], &mut [])? };
        if self.send.should_notify() {
            self.transport.notify(QUEUE_TRANSMIT);
        }
        Ok(token)
    }

    fn poll_transmit(&self) -> Option<u16> {
        self.send.peek_used()
    }

    /// # Safety
    /// `buf` must be the buffer passed to `transmit_begin` for `token`.
    unsafe fn transmit_complete(
        &mut self,
        token: u16,
        buf: &[u8],
    ) -> Result<u32, virtio_drivers::Error> {
        // SAFETY: forwarded caller contract.
        unsafe { self.send.pop_used(token, &[buf], &mut []) }
    }

    /// # Safety
    /// `buf` must stay valid and untouched until `receive_complete`.
    unsafe fn receive_begin(&mut self, buf: &mut [u8]) -> Result<u16, virtio_drivers::Error> {
        // SAFETY: forwarded caller contract.
        let token = unsafe { self.recv.add(&[], &mut [buf])? };
        if self.recv.should_notify() {
            self.transport.notify(QUEUE_RECEIVE);
        }
        Ok(token)
    }

    fn poll_receive(&self) -> Option<u16> {
        self.recv.peek_used()
    }

    /// `(header length, frame length)` of the completed buffer.
    ///
    /// # Safety
    /// `buf` must be the buffer passed to `receive_begin` for `token`.
    unsafe fn receive_complete(
        &mut self,
        token: u16,
        buf: &mut [u8],
    ) -> Result<(usize, usize), virtio_drivers::Error> {
        // SAFETY: forwarded caller contract.
        let len = unsafe { self.recv.pop_used(token, &[], &mut [buf])? } as usize;
        let frame = len
            .checked_sub(VIRTIO_NET_HDR_LEN)
            .ok_or(virtio_drivers::Error::IoError)?;
        Ok((VIRTIO_NET_HDR_LEN, frame))
    }
}

impl<H: Hal, T: Transport> Drop for NetQueues<H, T> {
    fn drop(&mut self) {
        // The device must not touch the rings or buffers once they are freed.
        self.transport.queue_unset(QUEUE_RECEIVE);
        self.transport.queue_unset(QUEUE_TRANSMIT);
    }
}

/// `count` buffers of `each` bytes in one region of DMA memory, freed
/// with the region.
struct DmaBufs<H: Hal> {
    pa: PhysAddr,
    va: NonNull<u8>,
    pages: usize,
    len: usize,
    each: usize,
    _hal: PhantomData<H>,
}

impl<H: Hal> DmaBufs<H> {
    fn new(count: usize, each: usize) -> Self {
        let len = count * each;
        let pages = len.div_ceil(PAGE_SIZE);
        let (pa, va) = H::dma_alloc(pages, BufferDirection::Both);
        DmaBufs {
            pa,
            va,
            pages,
            len,
            each,
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
        self.all().get(i * self.each..(i + 1) * self.each)
    }

    fn buf_mut(&mut self, i: usize) -> Option<&mut [u8]> {
        let each = self.each;
        self.all_mut().get_mut(i * each..(i + 1) * each)
    }
}

impl<H: Hal> Drop for DmaBufs<H> {
    fn drop(&mut self) {
        // SAFETY: exactly the region `dma_alloc` returned; the device no
        // longer uses it (the queues were unset first: `raw` drops first).
        unsafe { H::dma_dealloc(self.pa, self.va, self.pages) };
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TxSlot {
    Free,
    InFlight { token: u16, len: usize },
}

/// TX slots: `0..QUEUE_SIZE` are the small buffers, the rest the TSO ones.
const TX_SLOTS: usize = QUEUE_SIZE + TSO_SLOTS;

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
    /// Frames given to the device for segmentation (TSO).
    pub tx_tso_frames: u64,
}

/// A virtio-net NIC as a smoltcp [`Device`]. Never busy-waits.
pub struct VirtioNetDevice<H: Hal, T: Transport> {
    // Must stay the first field: dropped first, it unsets the queues before
    // the buffers below are freed.
    raw: NetQueues<H, T>,
    rx_bufs: DmaBufs<H>,
    /// Token of each RX buffer while it is posted to the device.
    rx_posted: [Option<u16>; QUEUE_SIZE],
    tx_bufs: DmaBufs<H>,
    /// The TSO buffers, if the device segments.
    tso_bufs: Option<DmaBufs<H>>,
    tx_slots: [TxSlot; TX_SLOTS],
    mac: [u8; 6],
    stats: VirtioStats,
}

impl<H: Hal, T: Transport> VirtioNetDevice<H, T> {
    /// Initialises the device on `transport`, allocates the buffers and
    /// posts every RX buffer. Interrupts stay as the device left them
    /// (see [`enable_interrupts`](Self::enable_interrupts)).
    pub fn new(transport: T) -> Result<Self, virtio_drivers::Error> {
        let raw = NetQueues::<H, T>::new(transport)?;
        let mac = raw.mac_address()?;
        let tso_bufs = raw
            .features()
            .contains(NetFeatures::HOST_TSO4)
            .then(|| DmaBufs::new(TSO_SLOTS, TSO_BUF_LEN));
        let mut dev = VirtioNetDevice {
            raw,
            rx_bufs: DmaBufs::new(QUEUE_SIZE, NET_BUF_LEN),
            rx_posted: [None; QUEUE_SIZE],
            tx_bufs: DmaBufs::new(QUEUE_SIZE, NET_BUF_LEN),
            tso_bufs,
            tx_slots: [TxSlot::Free; TX_SLOTS],
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

    /// The negotiated virtio-net features (which offloads are on).
    pub fn features(&self) -> NetFeatures {
        self.raw.features()
    }

    /// Acknowledges the device interrupt; call from the IRQ path before
    /// polling the stack.
    pub fn ack_interrupt(&mut self) -> InterruptStatus {
        self.raw.ack_interrupt()
    }

    /// Asks the device to interrupt on used buffers (RX and TX).
    pub fn enable_interrupts(&mut self) {
        self.raw.set_notify(true);
    }

    /// Asks the device not to interrupt (pure polling).
    pub fn disable_interrupts(&mut self) {
        self.raw.set_notify(false);
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

    fn tx_buf<'b>(
        small: &'b DmaBufs<H>,
        large: Option<&'b DmaBufs<H>>,
        i: usize,
    ) -> Option<&'b [u8]> {
        match i.checked_sub(QUEUE_SIZE) {
            None => small.buf(i),
            Some(j) => large?.buf(j),
        }
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
            let buf = Self::tx_buf(&self.tx_bufs, self.tso_bufs.as_ref(), i);
            let Some(buf) = buf.and_then(|b| b.get(..len)) else {
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

    /// A free small TX slot and, with TSO, a free TSO slot (a token may
    /// need either: its frame's length is known only when it is built).
    fn free_tx(&self) -> Option<(usize, Option<usize>)> {
        if !self.raw.can_send() {
            return None;
        }
        let (small, large) = self.tx_slots.split_at(QUEUE_SIZE);
        let s = small.iter().position(|s| *s == TxSlot::Free)?;
        let l = match self.tso_bufs {
            Some(_) => Some(QUEUE_SIZE + large.iter().position(|s| *s == TxSlot::Free)?),
            None => None,
        };
        Some((s, l))
    }

    fn tx_token(&mut self, (small, large): (usize, Option<usize>)) -> VirtioTx<'_, H, T> {
        let csum = self.raw.features().contains(NetFeatures::CSUM);
        VirtioTx {
            raw: &mut self.raw,
            small: self.tx_bufs.all_mut(),
            large: self.tso_bufs.as_mut().map(DmaBufs::all_mut),
            slots: &mut self.tx_slots,
            stats: &mut self.stats,
            slot: Some((small, large)),
            csum,
            gso: None,
        }
    }
}

/// Receive token: a completed RX buffer's frame.
pub struct VirtioRx<'a> {
    frame: &'a [u8],
}

/// Transmit token: a free small TX buffer and, with TSO, a free TSO buffer
/// (`slot` is always `Some` as handed out by the device; with `None` the
/// frame would be dropped and counted).
pub struct VirtioTx<'a, H: Hal, T: Transport> {
    raw: &'a mut NetQueues<H, T>,
    small: &'a mut [u8],
    large: Option<&'a mut [u8]>,
    slots: &'a mut [TxSlot; TX_SLOTS],
    stats: &'a mut VirtioStats,
    slot: Option<(usize, Option<usize>)>,
    /// The device completes TCP checksums (CSUM negotiated).
    csum: bool,
    /// Segment size smoltcp asked for (TSO), from `set_meta`.
    gso: Option<u16>,
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

    fn set_meta(&mut self, meta: PacketMeta) {
        self.gso = meta.segmentation_offload_size.map(|s| s.get());
    }
}

impl<H: Hal, T: Transport> crate::TxBuild for VirtioTx<'_, H, T> {
    fn build<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> (R, bool),
    {
        let VirtioTx {
            raw,
            small,
            large,
            slots,
            stats,
            slot,
            csum,
            gso,
        } = self;
        let total = VIRTIO_NET_HDR_LEN.saturating_add(len);
        // A frame that fits a small buffer takes one; a longer one (TSO)
        // a TSO buffer.
        let target = match slot {
            Some((i, _)) if total <= NET_BUF_LEN => small
                .get_mut(i * NET_BUF_LEN..(i + 1) * NET_BUF_LEN)
                .map(|b| (i, b)),
            Some((_, Some(i))) if total <= TSO_BUF_LEN => {
                let j = i - QUEUE_SIZE;
                large
                    .and_then(|l| l.get_mut(j * TSO_BUF_LEN..(j + 1) * TSO_BUF_LEN))
                    .map(|b| (i, b))
            }
            _ => None,
        };
        let Some((i, packet)) = target.and_then(|(i, b)| Some((i, b.get_mut(..total)?))) else {
            stats.tx_dropped += 1;
            return f(&mut vec![0u8; len]).0;
        };
        let (hdr, frame) = packet.split_at_mut(VIRTIO_NET_HDR_LEN);
        let (r, send) = f(frame);
        if !send {
            // Withheld: the slot stays free.
            return r;
        }
        if csum {
            let h = offload::prepare_tx(frame, gso);
            if h[1] != 0 {
                stats.tx_tso_frames += 1;
            }
            hdr.copy_from_slice(&h);
        } else {
            hdr.fill(0);
        }
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
        self.stats.rx_frames += 1;
        let csum = self.raw.features().contains(NetFeatures::CSUM);
        let frame = self.rx_bufs.buf(i).and_then(|b| b.get(start..end))?;
        let (small, large) = tx_slot;
        Some((
            VirtioRx { frame },
            VirtioTx {
                raw: &mut self.raw,
                small: self.tx_bufs.all_mut(),
                large: self.tso_bufs.as_mut().map(DmaBufs::all_mut),
                slots: &mut self.tx_slots,
                stats: &mut self.stats,
                slot: Some((small, large)),
                csum,
                gso: None,
            },
        ))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<VirtioTx<'_, H, T>> {
        self.refill();
        let slot = self.free_tx()?;
        Some(self.tx_token(slot))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = FRAME_MAX;
        let features = self.raw.features();
        if features.contains(NetFeatures::CSUM) {
            // Verified on receive, left to the device on send.
            caps.checksum.tcp = Checksum::Rx;
        }
        if features.contains(NetFeatures::HOST_TSO4) {
            caps.segmentation.tcpv4 = core::num::NonZeroUsize::new(TSO_FRAME_MAX);
        }
        caps
    }
}
