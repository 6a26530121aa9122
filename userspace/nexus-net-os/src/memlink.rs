//! Deterministic in-memory Ethernet link between two smoltcp devices.
//!
//! Design notes
//! ------------
//! * [`pair`] returns two [`MemLink`] endpoints (sides [`Side::A`] and
//!   [`Side::B`]) that share one state: per direction a bounded FIFO of
//!   frames. Nothing happens on its own: a frame moves only when one stack
//!   transmits and the other polls, so runs are fully reproducible.
//! * Backpressure, not loss: `transmit` offers no token while the peer's
//!   queue is full, so smoltcp keeps the packet and retries. (A reply token
//!   handed out with a received frame is best-effort: if the queue is full
//!   at that moment the frame is counted in `dropped_full`.)
//! * Test hooks: an optional frame **tap** records every frame handed to
//!   the link (bounded, oldest dropped first), and an optional **fault
//!   hook** sees every frame first and may rewrite or drop it. Raw frames
//!   can be injected ([`MemLink::send_raw`]) and pulled
//!   ([`MemLink::recv_raw`]), e.g. to play a DHCP server in a test.
//! * Segmentation offload (optional, per side): a side with
//!   `LinkConfig::segmentation_offload` declares TCP checksum and
//!   segmentation offload to its stack, as a virtio-net device with
//!   CSUM/HOST_TSO4 does; the link then does the device's part
//!   ([`offload::segment_tcpv4`]: cut per smoltcp's segment size, checksums
//!   completed) and only MTU-sized frames reach the tap, the fault hook and
//!   the peer. The pieces of one segment count against the peer's queue.
//! * Hot path: frame buffers are recycled through a small pool, so bulk
//!   transfers do not allocate per frame.
//! * Single-threaded (`Rc<RefCell<_>>`); endpoints are not `Send`.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;

use smoltcp::phy::{self, Checksum, Device, DeviceCapabilities, Medium, PacketMeta};

use crate::offload;
use smoltcp::time::Instant;

/// Largest Ethernet frame (without FCS) for a 1500-byte IP MTU.
pub const ETHERNET_FRAME_MAX: usize = 1514;
/// Default frames queued per direction.
pub const DEFAULT_QUEUE_FRAMES: usize = 64;

/// One end of the link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// First endpoint returned by [`pair`].
    A,
    /// Second endpoint returned by [`pair`].
    B,
}

impl Side {
    fn index(self) -> usize {
        match self {
            Side::A => 0,
            Side::B => 1,
        }
    }

    /// The other side.
    pub fn peer(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
}

/// Link parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkConfig {
    /// Frames queued per direction before `transmit` pushes back (≥ 1).
    pub queue_frames: usize,
    /// Largest frame the devices report (`max_transmission_unit`).
    pub frame_max: usize,
    /// Per side (`[A, B]`): `Some(n)` declares TCP checksum and
    /// segmentation offload to that side's stack, for frames up to `n`
    /// bytes (smoltcp's `SegmentationCapabilities::tcpv4`); the link cuts
    /// them up. `None` (the default): no offload.
    pub segmentation_offload: [Option<usize>; 2],
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            queue_frames: DEFAULT_QUEUE_FRAMES,
            frame_max: ETHERNET_FRAME_MAX,
            segmentation_offload: [None, None],
        }
    }
}

/// A frame recorded by the tap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Captured {
    /// Side that sent the frame.
    pub from: Side,
    /// The Ethernet frame as sent (before the fault hook).
    pub frame: Vec<u8>,
}

/// Verdict of a fault hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Deliver the (possibly rewritten) frame.
    Deliver,
    /// Drop the frame.
    Drop,
}

/// Fault hook: sees every frame (sender side, mutable frame) before delivery.
pub type FaultHook = Box<dyn FnMut(Side, &mut Vec<u8>) -> Fault>;

/// Link counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Frames queued for delivery, per sending side (`[A, B]`).
    pub sent: [u64; 2],
    /// Frames dropped because the receiver's queue was full.
    pub dropped_full: u64,
    /// Frames dropped by the fault hook.
    pub dropped_fault: u64,
    /// Frames longer than `frame_max` a stack handed to the link for
    /// segmentation, per sending side.
    pub offloaded: [u64; 2],
}

struct Shared {
    cfg: LinkConfig,
    /// `queues[i]`: frames waiting to be received by side `i`.
    queues: [VecDeque<Vec<u8>>; 2],
    pool: Vec<Vec<u8>>,
    tap: Option<(usize, VecDeque<Captured>)>,
    fault: Option<FaultHook>,
    stats: LinkStats,
}

impl Shared {
    fn buffer(&mut self) -> Vec<u8> {
        self.pool.pop().unwrap_or_default()
    }

    fn recycle(&mut self, mut buf: Vec<u8>) {
        if self.pool.len() < self.cfg.queue_frames.saturating_mul(2) {
            buf.clear();
            self.pool.push(buf);
        }
    }
}

/// One endpoint of an in-memory Ethernet link; implements smoltcp's
/// [`Device`].
pub struct MemLink {
    shared: Rc<RefCell<Shared>>,
    side: Side,
}

/// Creates a connected pair of endpoints.
pub fn pair(cfg: LinkConfig) -> (MemLink, MemLink) {
    let cfg = LinkConfig {
        queue_frames: cfg.queue_frames.max(1),
        frame_max: cfg.frame_max.max(64),
        segmentation_offload: cfg.segmentation_offload,
    };
    let shared = Rc::new(RefCell::new(Shared {
        cfg,
        queues: [VecDeque::new(), VecDeque::new()],
        pool: Vec::new(),
        tap: None,
        fault: None,
        stats: LinkStats::default(),
    }));
    (
        MemLink {
            shared: Rc::clone(&shared),
            side: Side::A,
        },
        MemLink {
            shared,
            side: Side::B,
        },
    )
}

impl MemLink {
    /// This endpoint's side.
    pub fn side(&self) -> Side {
        self.side
    }

    /// Starts recording every frame (both directions), keeping at most
    /// `limit` (oldest dropped first). Clears any previous capture.
    pub fn enable_tap(&self, limit: usize) {
        self.shared.borrow_mut().tap = Some((limit.max(1), VecDeque::new()));
    }

    /// Stops recording and discards the capture.
    pub fn disable_tap(&self) {
        self.shared.borrow_mut().tap = None;
    }

    /// Takes the frames captured so far (the tap stays enabled).
    pub fn take_tap(&self) -> Vec<Captured> {
        match self.shared.borrow_mut().tap.as_mut() {
            Some((_, q)) => q.drain(..).collect(),
            None => Vec::new(),
        }
    }

    /// Installs a fault hook (replacing any previous one).
    pub fn set_fault(&self, hook: FaultHook) {
        self.shared.borrow_mut().fault = Some(hook);
    }

    /// Removes the fault hook.
    pub fn clear_fault(&self) {
        self.shared.borrow_mut().fault = None;
    }

    /// Link counters.
    pub fn stats(&self) -> LinkStats {
        self.shared.borrow().stats
    }

    /// Frames waiting to be received by this endpoint.
    pub fn pending(&self) -> usize {
        self.shared
            .borrow()
            .queues
            .get(self.side.index())
            .map_or(0, VecDeque::len)
    }

    /// Sends a raw frame from this endpoint (through tap and fault hook).
    pub fn send_raw(&self, frame: &[u8]) {
        let mut buf = self.shared.borrow_mut().buffer();
        buf.extend_from_slice(frame);
        self.deliver(buf);
    }

    /// Takes the next frame sent to this endpoint, bypassing smoltcp.
    pub fn recv_raw(&self) -> Option<Vec<u8>> {
        self.shared
            .borrow_mut()
            .queues
            .get_mut(self.side.index())?
            .pop_front()
    }

    fn peer_has_room(&self) -> bool {
        let sh = self.shared.borrow();
        sh.queues
            .get(self.side.peer().index())
            .is_some_and(|q| q.len() < sh.cfg.queue_frames)
    }

    /// Tap, fault hook, then the peer's queue.
    fn deliver(&self, mut frame: Vec<u8>) {
        let mut guard = self.shared.borrow_mut();
        let sh = &mut *guard;
        if let Some((limit, q)) = sh.tap.as_mut() {
            if q.len() >= *limit {
                q.pop_front();
            }
            q.push_back(Captured {
                from: self.side,
                frame: frame.clone(),
            });
        }
        if let Some(hook) = sh.fault.as_mut() {
            if hook(self.side, &mut frame) == Fault::Drop {
                sh.stats.dropped_fault += 1;
                sh.recycle(frame);
                return;
            }
        }
        let cap = sh.cfg.queue_frames;
        let peer = self.side.peer().index();
        match sh.queues.get_mut(peer) {
            Some(q) if q.len() < cap => {
                q.push_back(frame);
                if let Some(n) = sh.stats.sent.get_mut(self.side.index()) {
                    *n += 1;
                }
            }
            _ => {
                sh.stats.dropped_full += 1;
                sh.recycle(frame);
            }
        }
    }
}

/// Receive token: owns the frame, recycles its buffer after use.
pub struct MemRx<'a> {
    link: &'a MemLink,
    frame: Vec<u8>,
}

/// Transmit token.
pub struct MemTx<'a> {
    link: &'a MemLink,
    /// Segment size smoltcp asked for (segmentation offload).
    gso: Option<u16>,
}

impl phy::RxToken for MemRx<'_> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        let r = f(&self.frame);
        self.link.shared.borrow_mut().recycle(self.frame);
        r
    }
}

impl phy::TxToken for MemTx<'_> {
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

impl crate::TxBuild for MemTx<'_> {
    fn build<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> (R, bool),
    {
        let mut buf = self.link.shared.borrow_mut().buffer();
        buf.resize(len, 0);
        let (r, send) = f(&mut buf);
        if !send {
            self.link.shared.borrow_mut().recycle(buf);
            return r;
        }
        let side = self.link.side.index();
        let (offloading, frame_max) = {
            let sh = self.link.shared.borrow();
            let on = sh.cfg.segmentation_offload.get(side).copied().flatten();
            (on.is_some(), sh.cfg.frame_max)
        };
        if !offloading {
            self.link.deliver(buf);
            return r;
        }
        if buf.len() > frame_max {
            let mut sh = self.link.shared.borrow_mut();
            if let Some(n) = sh.stats.offloaded.get_mut(side) {
                *n += 1;
            }
        }
        // The device's part: cut up and complete the checksums.
        let mut piece = Vec::new();
        let gso = usize::from(self.gso.unwrap_or(0));
        offload::segment_tcpv4(&buf, gso, &mut piece, |p| {
            let mut out = self.link.shared.borrow_mut().buffer();
            out.extend_from_slice(p);
            self.link.deliver(out);
        });
        self.link.shared.borrow_mut().recycle(buf);
        r
    }
}

impl Device for MemLink {
    type RxToken<'a>
        = MemRx<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = MemTx<'a>
    where
        Self: 'a;

    fn receive(&mut self, _timestamp: Instant) -> Option<(MemRx<'_>, MemTx<'_>)> {
        let frame = self.recv_raw()?;
        Some((
            MemRx { link: self, frame },
            MemTx {
                link: self,
                gso: None,
            },
        ))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<MemTx<'_>> {
        self.peer_has_room().then_some(MemTx {
            link: self,
            gso: None,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        let sh = self.shared.borrow();
        caps.max_transmission_unit = sh.cfg.frame_max;
        let offload = sh.cfg.segmentation_offload.get(self.side.index());
        if let Some(max) = offload.copied().flatten() {
            caps.checksum.tcp = Checksum::Rx;
            caps.segmentation.tcpv4 = core::num::NonZeroUsize::new(max);
        }
        caps
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::phy::{RxToken, TxToken};

    fn send(l: &mut MemLink, byte: u8) -> bool {
        match l.transmit(Instant::ZERO) {
            Some(t) => {
                t.consume(60, |b| b.fill(byte));
                true
            }
            None => false,
        }
    }

    #[test]
    fn a_withheld_frame_never_reaches_the_peer() {
        use crate::TxBuild;
        let (mut a, b) = pair(LinkConfig::default());
        let t = a.transmit(Instant::ZERO).unwrap();
        t.build(60, |f| (f.fill(1), false));
        assert_eq!(b.pending(), 0);
        let t = a.transmit(Instant::ZERO).unwrap();
        t.build(60, |f| (f.fill(2), true));
        assert_eq!(b.recv_raw(), Some(vec![2u8; 60]));
    }

    #[test]
    fn frames_cross_in_order_with_backpressure() {
        let (mut a, mut b) = pair(LinkConfig {
            queue_frames: 3,
            frame_max: 1514,
            segmentation_offload: [None, None],
        });
        for i in 0..3 {
            assert!(send(&mut a, i));
        }
        assert!(!send(&mut a, 9), "queue full: no token");
        assert_eq!(b.pending(), 3);
        assert_eq!(a.pending(), 0);
        for i in 0..3 {
            let (rx, _tx) = b.receive(Instant::ZERO).unwrap();
            rx.consume(|f| assert!(f.len() == 60 && f.iter().all(|x| *x == i)));
        }
        assert!(b.receive(Instant::ZERO).is_none());
        assert_eq!(a.stats().sent, [3, 0]);
        assert_eq!(b.capabilities().max_transmission_unit, 1514);
    }

    #[test]
    fn tap_and_fault_hook() {
        let (a, b) = pair(LinkConfig::default());
        a.enable_tap(2);
        a.set_fault(Box::new(|side, f| {
            if f.first() == Some(&0xdd) {
                Fault::Drop
            } else {
                if let Some(x) = f.get_mut(1) {
                    *x = side.peer() as u8;
                }
                Fault::Deliver
            }
        }));
        a.send_raw(&[1, 2, 3]);
        b.send_raw(&[0xdd]);
        b.send_raw(&[4, 5]);
        let tap = a.take_tap();
        assert_eq!(tap.len(), 2, "bounded, oldest dropped");
        assert_eq!(
            tap[0],
            Captured {
                from: Side::B,
                frame: vec![0xdd]
            }
        );
        assert_eq!(b.recv_raw(), Some(vec![1, Side::B as u8, 3]));
        assert_eq!(a.recv_raw(), Some(vec![4, Side::A as u8]));
        assert_eq!(a.recv_raw(), None);
        assert_eq!(a.stats().dropped_fault, 1);
        a.clear_fault();
        a.disable_tap();
        a.send_raw(&[7]);
        assert!(a.take_tap().is_empty());
        assert_eq!(b.recv_raw(), Some(vec![7]));
    }

    #[test]
    fn reply_token_drops_when_the_queue_is_full() {
        let (mut a, b) = pair(LinkConfig {
            queue_frames: 1,
            frame_max: 1514,
            segmentation_offload: [None, None],
        });
        b.send_raw(&[1]);
        a.send_raw(&[2]); // fills b's queue
        let (rx, tx) = a.receive(Instant::ZERO).unwrap();
        rx.consume(|_| ());
        tx.consume(10, |buf| buf.fill(3));
        assert_eq!(a.stats().dropped_full, 1);
        assert_eq!(b.recv_raw(), Some(vec![2]));
    }
}
