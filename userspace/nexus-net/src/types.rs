//! Contract vocabulary: client ids, handles, readiness flags and interface info.
//!
//! Design notes
//! ------------
//! * Addresses are `core::net::{Ipv4Addr, SocketAddrV4}`; the facade is
//!   IPv4-only in protocol version 1.
//! * On the wire every handle is a plain `u32` ([`Handle`]). The typed
//!   wrappers ([`TcpListener`], [`TcpStream`], [`UdpSocket`]) only exist to
//!   make client code harder to misuse; the server independently checks the
//!   kind of every handle it is given (`InvalidInput` on a mismatch).
//! * Handles are `Copy` ids, not RAII owners: closing is an explicit
//!   operation, and the server reclaims everything a dead client held.
//! * [`Readiness`] is a tiny hand-rolled bit set (no dependency).

use core::fmt;
use core::ops::{BitAnd, BitOr, BitOrAssign};

pub use core::net::{Ipv4Addr, SocketAddrV4};

/// Kernel-authenticated identity of a caller (the IPC badge). Handles are
/// scoped per client id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(pub u64);

/// A raw facade handle as carried on the wire.
///
/// Server-issued values are never 0: bits 0..8 hold a table slot and bits
/// 8..32 a non-zero generation counter (see `HandleTable`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Handle(u32);

impl Handle {
    /// Wraps a raw wire value.
    pub const fn from_raw(raw: u32) -> Self {
        Handle(raw)
    }

    /// The raw wire value.
    pub const fn raw(self) -> u32 {
        self.0
    }
}

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "h#{:08x}", self.0)
    }
}

macro_rules! typed_handle {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Handle);

        impl $name {
            /// Wraps a raw handle (the server checks the kind on use).
            pub const fn from_handle(handle: Handle) -> Self {
                $name(handle)
            }

            /// The untyped handle.
            pub const fn handle(self) -> Handle {
                self.0
            }

            /// The raw wire value.
            pub const fn raw(self) -> u32 {
                self.0.raw()
            }
        }

        impl From<$name> for Handle {
            fn from(h: $name) -> Handle {
                h.0
            }
        }
    };
}

typed_handle!(
    /// Handle of a listening TCP socket.
    TcpListener
);
typed_handle!(
    /// Handle of a TCP connection (connected, connecting or accepted).
    TcpStream
);
typed_handle!(
    /// Handle of a bound UDP socket.
    UdpSocket
);

/// Readiness / interest bit set used by `wait`.
///
/// `READABLE` and `WRITABLE` may be requested as interest; `HUP` and `ERROR`
/// are always reported and need not be requested. `ERROR` ends every wait;
/// `HUP` ends a wait whose interest includes `READABLE` (see
/// [`satisfies`](Readiness::satisfies)).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Readiness(u8);

impl Readiness {
    /// No bits.
    pub const EMPTY: Readiness = Readiness(0);
    /// Data or EOF can be read; a datagram is queued; a listener has a
    /// connection to accept.
    pub const READABLE: Readiness = Readiness(0x01);
    /// A write would not answer `WouldBlock`: it would accept at least one
    /// byte (stream connected, send space), or fail at once (`Closed` after
    /// a local shutdown or once the connection is finished).
    pub const WRITABLE: Readiness = Readiness(0x02);
    /// The peer closed or shut down its sending side (reads reach EOF).
    pub const HUP: Readiness = Readiness(0x04);
    /// The connection failed (refused or reset); the next I/O reports why.
    pub const ERROR: Readiness = Readiness(0x08);
    /// Bits a client may put in a `wait` interest.
    pub const INTEREST_MASK: u8 = 0x03;
    /// All defined bits.
    pub const ALL_MASK: u8 = 0x0f;

    /// Raw bits.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Builds from raw bits; `None` if an undefined bit is set.
    pub const fn from_bits(bits: u8) -> Option<Readiness> {
        if bits & !Self::ALL_MASK != 0 {
            None
        } else {
            Some(Readiness(bits))
        }
    }

    /// Builds from raw bits, dropping undefined ones.
    pub const fn from_bits_truncate(bits: u8) -> Readiness {
        Readiness(bits & Self::ALL_MASK)
    }

    /// True if every bit of `other` is set in `self`.
    pub const fn contains(self, other: Readiness) -> bool {
        self.0 & other.0 == other.0
    }

    /// True if any bit of `other` is set in `self`.
    pub const fn intersects(self, other: Readiness) -> bool {
        self.0 & other.0 != 0
    }

    /// True if no bit is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Bitwise union.
    pub const fn union(self, other: Readiness) -> Readiness {
        Readiness(self.0 | other.0)
    }

    /// Whether a `wait` with `interest` is satisfied by this readiness: any
    /// interest bit or `ERROR` is set, or `HUP` is set and the interest
    /// includes `READABLE`. `HUP` alone does not end a `WRITABLE` wait: a
    /// stream whose peer shut down its sending side can still be written,
    /// and a writer waiting for send space would otherwise be woken at once,
    /// again and again, until the peer acknowledged its data.
    pub const fn satisfies(self, interest: Readiness) -> bool {
        self.0 & (interest.0 | Self::ERROR.0) != 0
            || (self.0 & Self::HUP.0 != 0 && interest.0 & Self::READABLE.0 != 0)
    }
}

impl BitOr for Readiness {
    type Output = Readiness;
    fn bitor(self, rhs: Readiness) -> Readiness {
        self.union(rhs)
    }
}

impl BitOrAssign for Readiness {
    fn bitor_assign(&mut self, rhs: Readiness) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for Readiness {
    type Output = Readiness;
    fn bitand(self, rhs: Readiness) -> Readiness {
        Readiness(self.0 & rhs.0)
    }
}

impl fmt::Debug for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Readiness(")?;
        let mut first = true;
        for (bit, name) in [
            (Self::READABLE, "READABLE"),
            (Self::WRITABLE, "WRITABLE"),
            (Self::HUP, "HUP"),
            (Self::ERROR, "ERROR"),
        ] {
            if self.contains(bit) {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        f.write_str(")")
    }
}

/// The server's network interface configuration, as answered by `local_addr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IfaceInfo {
    /// Interface IPv4 address.
    pub addr: Ipv4Addr,
    /// Prefix length of the interface subnet (0..=32).
    pub prefix_len: u8,
    /// Default gateway, if one is configured.
    pub gateway: Option<Ipv4Addr>,
    /// Link MTU in bytes.
    pub mtu: u16,
}

/// How the interface got its address (reply of `LinkInfo`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum AddrSource {
    /// No address yet (DHCP pending or lease lost).
    None = 0,
    /// Configured statically.
    Static = 1,
    /// Leased from a DHCP server.
    Dhcp = 2,
    /// A fallback address because DHCP stayed silent (QEMU smoke images).
    Fallback = 3,
}

impl AddrSource {
    /// Decodes the wire byte.
    pub fn from_u8(b: u8) -> Option<Self> {
        Some(match b {
            0 => Self::None,
            1 => Self::Static,
            2 => Self::Dhcp,
            3 => Self::Fallback,
            _ => return None,
        })
    }
}

/// Link details (reply of `LinkInfo`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkInfo {
    /// Ethernet address of the interface.
    pub mac: [u8; 6],
    /// How the address was obtained.
    pub source: AddrSource,
    /// DHCP lease duration in seconds (0 = no lease or not known).
    pub lease_secs: u32,
    /// Seconds since the address was set (0 when there is none).
    pub age_secs: u32,
}

impl Default for LinkInfo {
    fn default() -> Self {
        Self {
            mac: [0; 6],
            source: AddrSource::None,
            lease_secs: 0,
            age_secs: 0,
        }
    }
}

impl IfaceInfo {
    /// Subnet mask derived from `prefix_len` (clamped to 32).
    pub fn netmask(&self) -> Ipv4Addr {
        Ipv4Addr::from(prefix_mask(self.prefix_len))
    }

    /// Directed broadcast address of the subnet (e.g. `x.x.x.255` for a /24).
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !prefix_mask(self.prefix_len))
    }

    /// True if `ip` is on this interface's subnet.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let m = prefix_mask(self.prefix_len);
        u32::from(ip) & m == u32::from(self.addr) & m
    }
}

/// Mask with the top `prefix_len` bits set (prefix lengths over 32 act as 32).
pub fn prefix_mask(prefix_len: u8) -> u32 {
    match prefix_len {
        0 => 0,
        p if p >= 32 => u32::MAX,
        p => u32::MAX << (32 - u32::from(p)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_bits() {
        let r = Readiness::READABLE | Readiness::HUP;
        assert!(r.contains(Readiness::READABLE));
        assert!(!r.contains(Readiness::WRITABLE));
        assert!(
            !r.satisfies(Readiness::WRITABLE),
            "HUP does not end a WRITABLE wait"
        );
        assert!(Readiness::HUP.satisfies(Readiness::READABLE));
        assert!(Readiness::HUP.satisfies(Readiness::READABLE | Readiness::WRITABLE));
        assert!(!Readiness::HUP.satisfies(Readiness::WRITABLE));
        assert!(Readiness::ERROR.satisfies(Readiness::WRITABLE));
        assert!(Readiness::ERROR.satisfies(Readiness::READABLE));
        assert!(!Readiness::WRITABLE.satisfies(Readiness::READABLE));
        assert_eq!(Readiness::from_bits(0x10), None);
        assert_eq!(Readiness::from_bits_truncate(0xff).bits(), 0x0f);
        assert_eq!(format!("{r:?}"), "Readiness(READABLE|HUP)");
    }

    #[test]
    fn iface_math() {
        let i = IfaceInfo {
            addr: Ipv4Addr::new(10, 0, 2, 15),
            prefix_len: 24,
            gateway: None,
            mtu: 1500,
        };
        assert_eq!(i.netmask(), Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(i.broadcast(), Ipv4Addr::new(10, 0, 2, 255));
        assert!(i.contains(Ipv4Addr::new(10, 0, 2, 1)));
        assert!(!i.contains(Ipv4Addr::new(10, 0, 3, 1)));
        assert_eq!(prefix_mask(0), 0);
        assert_eq!(prefix_mask(40), u32::MAX);
    }
}
