//! virtionetd-lite's pure parts, host-tested: the virtio-mmio (version 2)
//! register map and status bits, feature negotiation, the DMA layout of the
//! two queues and their buffers, marker formatting, and the server of the
//! `vn` interface ([`Driver`]: the generated `nexus_interfaces::vn::Server`
//! over a [`Nic`], with the parked RX request).
//!
//! The ring bookkeeping itself is `nexus_lite_net::virtq`; the frame
//! interface is `nexus_interfaces::vn` (`idl/vn.toml`, `docs/interfaces.md`).
//! `main.rs` is the thin target-only shell: registers, DMA memory, IPC.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

use nexus_interfaces::vn;
use nexus_lite_net::wire::eth;

/// virtio-mmio register offsets (virtio 1.x §4.2.2).
pub mod reg {
    /// "virt".
    pub const MAGIC: usize = 0x000;
    /// 2 for the modern transport.
    pub const VERSION: usize = 0x004;
    /// 1 = network card.
    pub const DEVICE_ID: usize = 0x008;
    /// Device features, 32 bits selected by `DEVICE_FEATURES_SEL`.
    pub const DEVICE_FEATURES: usize = 0x010;
    /// Selects the device feature word.
    pub const DEVICE_FEATURES_SEL: usize = 0x014;
    /// Driver features.
    pub const DRIVER_FEATURES: usize = 0x020;
    /// Selects the driver feature word.
    pub const DRIVER_FEATURES_SEL: usize = 0x024;
    /// Queue select.
    pub const QUEUE_SEL: usize = 0x030;
    /// Largest size of the selected queue.
    pub const QUEUE_NUM_MAX: usize = 0x034;
    /// Size of the selected queue.
    pub const QUEUE_NUM: usize = 0x038;
    /// Selected queue ready.
    pub const QUEUE_READY: usize = 0x044;
    /// Queue notify (write the queue index).
    pub const QUEUE_NOTIFY: usize = 0x050;
    /// Interrupt status.
    pub const INTERRUPT_STATUS: usize = 0x060;
    /// Interrupt acknowledge.
    pub const INTERRUPT_ACK: usize = 0x064;
    /// Device status.
    pub const STATUS: usize = 0x070;
    /// Descriptor table address, low/high.
    pub const QUEUE_DESC_LOW: usize = 0x080;
    /// High half.
    pub const QUEUE_DESC_HIGH: usize = 0x084;
    /// Available ring address, low.
    pub const QUEUE_DRIVER_LOW: usize = 0x090;
    /// High half.
    pub const QUEUE_DRIVER_HIGH: usize = 0x094;
    /// Used ring address, low.
    pub const QUEUE_DEVICE_LOW: usize = 0x0a0;
    /// High half.
    pub const QUEUE_DEVICE_HIGH: usize = 0x0a4;
    /// Configuration generation.
    pub const CONFIG_GENERATION: usize = 0x0fc;
    /// Device configuration (virtio-net: `mac[6]` first).
    pub const CONFIG: usize = 0x100;
    /// The magic value.
    pub const MAGIC_VALUE: u32 = 0x7472_6976;
}

/// Device status bits.
pub mod status {
    /// Guest saw the device.
    pub const ACKNOWLEDGE: u32 = 1;
    /// Guest has a driver.
    pub const DRIVER: u32 = 2;
    /// Driver ready.
    pub const DRIVER_OK: u32 = 4;
    /// Feature negotiation done.
    pub const FEATURES_OK: u32 = 8;
    /// Driver gave up.
    pub const FAILED: u32 = 128;
}

/// `VIRTIO_NET_F_MAC`.
pub const F_MAC: u64 = 1 << 5;
/// `VIRTIO_F_VERSION_1`.
pub const F_VERSION_1: u64 = 1 << 32;
/// virtio-net device id.
pub const NET_DEVICE_ID: u32 = 1;
/// The virtio-net header with `VERSION_1` (`num_buffers` included).
pub const NET_HDR: usize = 12;
/// Descriptors per queue.
pub const QUEUE_SIZE: u16 = 16;
/// Bytes per frame buffer (header + 1514, rounded up).
pub const BUF_SIZE: usize = 2048;
/// The MTU reported (no `VIRTIO_NET_F_MTU` negotiation).
pub const MTU: u16 = 1500;
/// RX queue index.
pub const RX_QUEUE: u32 = 0;
/// TX queue index.
pub const TX_QUEUE: u32 = 1;
/// Frames held by the driver between the used ring and an RX request.
pub const HELD_FRAMES: usize = 32;

/// Why negotiation failed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum NegotiateError {
    /// The device does not offer `VIRTIO_F_VERSION_1`.
    NoVersion1,
    /// The device does not offer a MAC address.
    NoMac,
}

/// The driver features to accept: exactly `VERSION_1 | MAC` (no offloads,
/// no mergeable buffers, no control queue, no event index, no multiqueue).
pub fn negotiate(device: u64) -> Result<u64, NegotiateError> {
    if device & F_VERSION_1 == 0 {
        return Err(NegotiateError::NoVersion1);
    }
    if device & F_MAC == 0 {
        return Err(NegotiateError::NoMac);
    }
    Ok(F_VERSION_1 | F_MAC)
}

/// The queue size to use given the device's `QueueNumMax`: [`QUEUE_SIZE`],
/// or the largest power of two below a smaller maximum; `None` for 0.
pub fn queue_size(num_max: u32) -> Option<u16> {
    let m = num_max.min(u32::from(QUEUE_SIZE));
    (m > 0).then(|| 1u16 << (31 - m.leading_zeros()))
}

/// Offsets (from the start of one DMA allocation) of everything the device
/// touches. Page 0: RX rings; page 1: TX rings; then RX buffers; then TX
/// buffers.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Layout;

impl Layout {
    /// Pages to allocate.
    pub const PAGES: u64 = 2 + 2 * (QUEUE_SIZE as u64 * BUF_SIZE as u64) / 4096;
    /// Descriptor table of queue `q` (16-byte aligned).
    pub const fn desc(q: u32) -> usize {
        q as usize * 4096
    }
    /// Available ring of queue `q` (2-byte aligned).
    pub const fn avail(q: u32) -> usize {
        q as usize * 4096 + 1024
    }
    /// Used ring of queue `q` (4-byte aligned).
    pub const fn used(q: u32) -> usize {
        q as usize * 4096 + 2048
    }
    /// Buffer `i` of queue `q`.
    pub const fn buf(q: u32, i: u16) -> usize {
        8192 + (q as usize * QUEUE_SIZE as usize + i as usize) * BUF_SIZE
    }
}

/// The interrupt line and window length of an MMIO capability's `CapInfo.y`.
pub fn mmio_irq_len(y: u64) -> (u32, u64) {
    ((y >> 48) as u32, y & 0xffff_ffff_ffff)
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(m: [u8; 6]) -> [u8; 17] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = [b':'; 17];
    for (i, b) in m.iter().enumerate() {
        s[i * 3] = HEX[usize::from(b >> 4)];
        s[i * 3 + 1] = HEX[usize::from(b & 15)];
    }
    s
}

/// Frames in one `rx` reply: as many as always fit the kernel's 8 KiB
/// message (5 × (2 + 1514) bytes plus status and count: 7584).
pub const RX_BATCH: usize = 5;

/// One frame as the `vn` interface carries it.
pub type Frame = nexus_idl::heapless::Vec<u8, { eth::MAX_FRAME }>;

/// The result of `rx`.
pub type Frames = nexus_idl::List<Frame, RX_BATCH>;

/// The device as the `vn` server sees it (the registers, rings and DMA
/// buffers live in `main.rs`; host tests use a fake).
pub trait Nic {
    /// The device's MAC address.
    fn mac(&self) -> [u8; 6];
    /// True once the device corrupted a ring (it is touched no more).
    fn failed(&self) -> bool;
    /// Queues `frame` (14..=1514 bytes): `NoResources` when the TX ring is
    /// full (the frame is dropped), `DeviceFailed` after a failure.
    fn transmit(&mut self, frame: &[u8]) -> Result<(), vn::Error>;
    /// Removes the oldest received frame, if any.
    fn pop_frame(&mut self) -> Option<Frame>;
}

/// The parked `rx` request (at most one: the driver has one client).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct RxWaiter {
    /// Kernel reply token.
    pub token: u64,
    /// Client badge.
    pub badge: u64,
    /// Absolute ns, 0 = none.
    pub deadline: u64,
}

/// What became of one request.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Served {
    /// Answer now with the first `n` bytes of the reply buffer.
    Reply(usize),
    /// An `rx` was parked (no reply now); `superseded` is the token of the
    /// previously parked one, to be answered with [`superseded_reply`].
    Parked {
        /// Reply token of the `rx` this one replaced.
        superseded: Option<u64>,
    },
}

/// The `vn` server: the generated dispatch over a [`Nic`], plus the parked
/// `rx` (answered later through the generated `vn::reply::rx`).
#[derive(Debug, Default)]
pub struct Driver {
    waiter: Option<RxWaiter>,
}

/// Up to [`RX_BATCH`] held frames; `DeviceFailed` once the device failed.
fn take_frames<N: Nic>(nic: &mut N) -> Result<Frames, vn::Error> {
    if nic.failed() {
        return Err(vn::Error::DeviceFailed);
    }
    let mut l = Frames::default();
    while !l.0.is_full() {
        let Some(f) = nic.pop_frame() else { break };
        // Cannot fail: the list is not full.
        let _ = l.0.push(f);
    }
    Ok(l)
}

/// One request's view of the driver (the generated `Server`).
struct Ctx<'a, N: Nic> {
    nic: &'a mut N,
    now: u64,
    /// Set by `rx` when nothing is held: park until this deadline.
    park: Option<u64>,
}

impl<N: Nic> vn::Server for Ctx<'_, N> {
    fn info(&mut self, _: u64) -> Result<vn::Info, vn::Error> {
        Ok(vn::Info {
            mac: self.nic.mac(),
            mtu: MTU,
        })
    }

    fn tx(&mut self, _: u64, frame: &[u8]) -> Result<(), vn::Error> {
        if frame.len() < eth::HEADER {
            return Err(vn::Error::BadFrame);
        }
        self.nic.transmit(frame)
    }

    fn rx(&mut self, _: u64, deadline_ns: u64) -> Result<Frames, vn::Error> {
        let l = take_frames(self.nic)?;
        if !l.0.is_empty() {
            return Ok(l);
        }
        if deadline_ns != 0 && deadline_ns <= self.now {
            return Err(vn::Error::TimedOut);
        }
        // Not sent: `serve` parks the call instead.
        self.park = Some(deadline_ns);
        Err(vn::Error::TimedOut)
    }
}

/// The reply to a parked `rx` that a newer one replaced.
pub fn superseded_reply(out: &mut [u8]) -> usize {
    vn::reply::rx(&Err(vn::Error::Superseded), out)
}

impl Driver {
    /// A driver with nothing parked.
    pub fn new() -> Self {
        Self::default()
    }

    /// The parked `rx`, if any.
    pub fn waiter(&self) -> Option<RxWaiter> {
        self.waiter
    }

    /// Serves request `req` from `badge` (kernel reply `token`) at `now`,
    /// writing any reply into `out` (at least `vn::REPLY_MAX` bytes).
    pub fn serve<N: Nic>(
        &mut self,
        nic: &mut N,
        badge: u64,
        token: u64,
        req: &[u8],
        out: &mut [u8],
        now: u64,
    ) -> Served {
        let mut ctx = Ctx {
            nic,
            now,
            park: None,
        };
        let n = vn::dispatch(&mut ctx, badge, req, out);
        match ctx.park {
            None => Served::Reply(n),
            Some(deadline) => {
                let new = RxWaiter {
                    token,
                    badge,
                    deadline,
                };
                Served::Parked {
                    superseded: self.waiter.replace(new).map(|w| w.token),
                }
            }
        }
    }

    /// Answers the parked `rx` if it can be now: frames are held, its
    /// deadline passed (`TimedOut`) or the device failed. Returns its token
    /// and the reply length in `out`.
    pub fn wake<N: Nic>(&mut self, nic: &mut N, out: &mut [u8], now: u64) -> Option<(u64, usize)> {
        let w = self.waiter?;
        let r = match take_frames(nic) {
            Ok(l) if l.0.is_empty() => {
                if w.deadline == 0 || w.deadline > now {
                    return None;
                }
                Err(vn::Error::TimedOut)
            }
            r => r,
        };
        self.waiter = None;
        Some((w.token, vn::reply::rx(&r, out)))
    }

    /// When the driver must wake up for the parked `rx` (0 = no deadline).
    pub fn deadline(&self) -> u64 {
        self.waiter.map_or(0, |w| w.deadline)
    }

    /// Init's client-gone notice: forget that client's parked `rx` (its
    /// reply token dies with it).
    pub fn client_gone(&mut self, badge: u64) {
        self.waiter = self.waiter.filter(|w| w.badge != badge);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_takes_only_version1_and_mac() {
        let all = u64::MAX;
        assert_eq!(negotiate(all), Ok(F_VERSION_1 | F_MAC));
        assert_eq!(negotiate(F_MAC), Err(NegotiateError::NoVersion1));
        assert_eq!(negotiate(F_VERSION_1), Err(NegotiateError::NoMac));
    }

    #[test]
    fn queue_sizes() {
        assert_eq!(queue_size(0), None);
        assert_eq!(queue_size(1), Some(1));
        assert_eq!(queue_size(12), Some(8));
        assert_eq!(queue_size(256), Some(QUEUE_SIZE));
        assert_eq!(queue_size(u32::MAX), Some(QUEUE_SIZE));
    }

    #[test]
    fn layout_fits_aligns_and_does_not_overlap() {
        let n = usize::from(QUEUE_SIZE);
        for q in [RX_QUEUE, TX_QUEUE] {
            let (d, a, u) = (Layout::desc(q), Layout::avail(q), Layout::used(q));
            assert_eq!(d % 16, 0);
            assert!(d + 16 * n <= a && a % 2 == 0);
            assert!(a + 6 + 2 * n <= u && u % 4 == 0);
            assert!(u + 6 + 8 * n <= (q as usize + 1) * 4096);
        }
        assert_eq!(Layout::buf(RX_QUEUE, 0), 8192);
        let last = Layout::buf(TX_QUEUE, QUEUE_SIZE - 1) + BUF_SIZE;
        assert_eq!(last as u64, Layout::PAGES * 4096);
        const { assert!(NET_HDR + 1514 <= BUF_SIZE) };
    }

    #[test]
    fn cap_info_and_mac_format() {
        assert_eq!(mmio_irq_len((8 << 48) | 0x1000), (8, 0x1000));
        assert_eq!(&format_mac([2, 0, 0, 0xab, 0, 1]), b"02:00:00:ab:00:01");
    }

    use nexus_interfaces::vn::reply;
    use std::collections::VecDeque;

    #[derive(Default)]
    struct FakeNic {
        held: VecDeque<Frame>,
        sent: Vec<Vec<u8>>,
        ring_room: usize,
        failed: bool,
    }

    impl Nic for FakeNic {
        fn mac(&self) -> [u8; 6] {
            [2, 0, 0, 0, 0, 1]
        }
        fn failed(&self) -> bool {
            self.failed
        }
        fn transmit(&mut self, frame: &[u8]) -> Result<(), vn::Error> {
            if self.failed {
                return Err(vn::Error::DeviceFailed);
            }
            if self.sent.len() >= self.ring_room {
                return Err(vn::Error::NoResources);
            }
            self.sent.push(frame.to_vec());
            Ok(())
        }
        fn pop_frame(&mut self) -> Option<Frame> {
            self.held.pop_front()
        }
    }

    fn frame(fill: u8, len: usize) -> Frame {
        Frame::from_slice(&vec![fill; len]).unwrap()
    }

    fn req(r: vn::Request<'_>) -> Vec<u8> {
        let mut b = vec![0u8; vn::REQUEST_MAX];
        let n = r.encode(&mut b).unwrap();
        b.truncate(n);
        b
    }

    fn rx(deadline_ns: u64) -> Vec<u8> {
        req(vn::Request::Rx { deadline_ns })
    }

    #[test]
    fn info_and_tx() {
        let (mut d, mut nic) = (Driver::new(), FakeNic::default());
        nic.ring_room = 1;
        let mut out = [0u8; vn::REPLY_MAX];
        let Served::Reply(n) = d.serve(&mut nic, 1, 9, &req(vn::Request::Info), &mut out, 0) else {
            panic!("info parked")
        };
        assert_eq!(
            reply::decode_info(&out[..n]),
            Ok(vn::Info {
                mac: [2, 0, 0, 0, 0, 1],
                mtu: 1500
            })
        );
        let tx = |f: &[u8]| req(vn::Request::Tx { frame: f });
        let mut tx_reply =
            |nic: &mut FakeNic, f: &[u8]| match d.serve(nic, 1, 9, &tx(f), &mut out, 0) {
                Served::Reply(n) => reply::decode_tx(&out[..n]),
                Served::Parked { .. } => panic!("tx parked"),
            };
        assert_eq!(tx_reply(&mut nic, &[7; 13]), Err(vn::Error::BadFrame));
        assert_eq!(tx_reply(&mut nic, &[7; 14]), Ok(()));
        assert_eq!(tx_reply(&mut nic, &[8; 1514]), Err(vn::Error::NoResources));
        nic.failed = true;
        assert_eq!(tx_reply(&mut nic, &[8; 60]), Err(vn::Error::DeviceFailed));
        assert_eq!(nic.sent, vec![vec![7u8; 14]]);
        // Over 1514 bytes never decodes: the generated bound.
        let mut big = vec![2, 0];
        big.extend_from_slice(&1515u16.to_le_bytes());
        big.extend_from_slice(&[0; 1515]);
        let Served::Reply(n) = d.serve(&mut nic, 1, 9, &big, &mut out, 0) else {
            panic!()
        };
        assert_eq!(reply::decode_tx(&out[..n]), Err(vn::Error::Malformed));
    }

    #[test]
    fn rx_batches_always_fit_one_message() {
        let (mut d, mut nic) = (Driver::new(), FakeNic::default());
        for i in 0..12 {
            nic.held.push_back(frame(i, 1514));
        }
        let mut out = [0u8; vn::REPLY_MAX];
        let mut got = Vec::new();
        while !nic.held.is_empty() {
            let Served::Reply(n) = d.serve(&mut nic, 1, 9, &rx(0), &mut out, 0) else {
                panic!("parked with frames held")
            };
            const { assert!(vn::REPLY_MAX <= 8192) };
            assert!(n <= vn::REPLY_MAX);
            let l = reply::decode_rx(&out[..n]).unwrap();
            assert!(!l.0.is_empty() && l.0.len() <= RX_BATCH);
            got.extend(l.0.iter().map(|f| f[0]));
        }
        assert_eq!(got, (0..12).collect::<Vec<u8>>(), "in order, none lost");
    }

    #[test]
    fn rx_parks_supersedes_and_wakes() {
        let (mut d, mut nic) = (Driver::new(), FakeNic::default());
        let mut out = [0u8; vn::REPLY_MAX];
        // A deadline already past: TimedOut at once, nothing parked.
        let Served::Reply(n) = d.serve(&mut nic, 1, 1, &rx(5), &mut out, 10) else {
            panic!()
        };
        assert_eq!(reply::decode_rx(&out[..n]), Err(vn::Error::TimedOut));
        assert_eq!(d.waiter(), None);
        // 0 = no deadline: parked forever.
        assert_eq!(
            d.serve(&mut nic, 1, 2, &rx(0), &mut out, 10),
            Served::Parked { superseded: None }
        );
        assert_eq!(d.wake(&mut nic, &mut out, u64::MAX), None);
        // A newer rx supersedes it.
        assert_eq!(
            d.serve(&mut nic, 1, 3, &rx(20), &mut out, 10),
            Served::Parked {
                superseded: Some(2)
            }
        );
        let n = superseded_reply(&mut out);
        assert_eq!(reply::decode_rx(&out[..n]), Err(vn::Error::Superseded));
        assert_eq!(d.deadline(), 20);
        assert_eq!(d.wake(&mut nic, &mut out, 19), None);
        let (t, n) = d.wake(&mut nic, &mut out, 20).unwrap();
        assert_eq!(
            (t, reply::decode_rx(&out[..n])),
            (3, Err(vn::Error::TimedOut))
        );
        assert_eq!(d.waiter(), None);
        // Frames arriving wake the parked rx with them.
        d.serve(&mut nic, 1, 4, &rx(100), &mut out, 30);
        nic.held.push_back(frame(1, 60));
        let (t, n) = d.wake(&mut nic, &mut out, 31).unwrap();
        assert_eq!(t, 4);
        assert_eq!(reply::decode_rx(&out[..n]).unwrap().0, [frame(1, 60)]);
        // A device failure wakes it with DeviceFailed.
        d.serve(&mut nic, 1, 5, &rx(0), &mut out, 40);
        nic.failed = true;
        let (t, n) = d.wake(&mut nic, &mut out, 41).unwrap();
        assert_eq!(
            (t, reply::decode_rx(&out[..n])),
            (5, Err(vn::Error::DeviceFailed))
        );
        let Served::Reply(n) = d.serve(&mut nic, 1, 6, &rx(0), &mut out, 42) else {
            panic!()
        };
        assert_eq!(reply::decode_rx(&out[..n]), Err(vn::Error::DeviceFailed));
    }

    #[test]
    fn a_gone_client_leaves_nothing_parked_and_garbage_is_malformed() {
        let (mut d, mut nic) = (Driver::new(), FakeNic::default());
        let mut out = [0u8; vn::REPLY_MAX];
        d.serve(&mut nic, 7, 1, &rx(0), &mut out, 0);
        d.client_gone(8);
        assert!(d.waiter().is_some(), "another client's notice");
        d.client_gone(7);
        assert_eq!(d.waiter(), None);
        for bad in [
            &[][..],
            &[3, 0],
            &[3, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
            &[9, 0],
            &[1, 0, 0],
        ] {
            let Served::Reply(n) = d.serve(&mut nic, 7, 1, bad, &mut out, 0) else {
                panic!("garbage parked")
            };
            assert_eq!(&out[..n], &[2, 0], "{bad:?}");
        }
        assert_eq!(d.waiter(), None);
    }
}
