//! virtionetd-lite's pure parts, host-tested: the virtio-mmio (version 2)
//! register map and status bits, feature negotiation, the DMA layout of the
//! two queues and their buffers, the RX-request parking state, and marker
//! formatting.
//!
//! The ring bookkeeping itself is `nexus_lite_net::virtq`; the frame IPC
//! protocol is `nexus_lite_net::vnproto`. `main.rs` is the thin target-only
//! shell: registers, DMA memory, IPC.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

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

/// The parked RX request (at most one: the driver has one client).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct RxWaiter {
    /// Kernel reply token.
    pub token: u64,
    /// Client badge.
    pub badge: u64,
    /// Correlation to echo.
    pub corr: u32,
    /// Absolute ns, 0 = none.
    pub deadline: u64,
}

/// What to do with a new RX request when no frame is held.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Park {
    /// Deadline already past: answer `TIMED_OUT` now.
    TimedOut,
    /// Parked; the previous waiter (if any) must get `SUPERSEDED`.
    Parked(Option<RxWaiter>),
}

/// Parks `new` in `slot` at time `now`.
pub fn park(slot: &mut Option<RxWaiter>, new: RxWaiter, now: u64) -> Park {
    if new.deadline != 0 && new.deadline <= now {
        return Park::TimedOut;
    }
    Park::Parked(slot.replace(new))
}

/// Takes the waiter if its deadline passed.
pub fn expire(slot: &mut Option<RxWaiter>, now: u64) -> Option<RxWaiter> {
    slot.take_if(|w| w.deadline != 0 && w.deadline <= now)
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

    #[test]
    fn rx_parking() {
        let w = |token, deadline| RxWaiter {
            token,
            badge: 1,
            corr: 0,
            deadline,
        };
        let mut slot = None;
        assert_eq!(park(&mut slot, w(1, 5), 10), Park::TimedOut);
        assert_eq!(park(&mut slot, w(2, 0), 10), Park::Parked(None));
        assert_eq!(expire(&mut slot, u64::MAX), None, "0 = forever");
        assert_eq!(park(&mut slot, w(3, 20), 10), Park::Parked(Some(w(2, 0))));
        assert_eq!(expire(&mut slot, 19), None);
        assert_eq!(expire(&mut slot, 20), Some(w(3, 20)));
        assert_eq!(slot, None);
    }
}
