//! Discovery announce v2: the `NXSB` datagram a device broadcasts to say "I am here".
//!
//! Design notes:
//! - Layout (all integers big-endian), see `docs/dsoftbus.md` for the byte table and the
//!   golden vector:
//!   `"NXSB"` | version u8 = 1 | seq u32 | session port u16 | static key (32 bytes) |
//!   id length u8 (1..=64) | device id | service count u8 (0..=16) |
//!   count x (name length u8 (1..=64) | name) | display name length u8 (0..=64) | display name.
//!   Fixed-size fields come first so a truncated packet is recognisable early.
//! - The display name is what a person calls the device ("kitchen"). It is a claim, not an
//!   identity: anyone may announce any name, nothing compares it, and it is printed escaped.
//!   It may be empty; it holds no control characters (U+0000..U+001F, U+007F).
//! - There is no address field: the peer's IPv4 address is the datagram's source address.
//! - `seq` versions the announce content (see [`crate::cache`] for how receivers use it to
//!   reject replayed or stale announces).
//! - Zero-copy and allocation-free: [`Announce`] borrows the device id and service names
//!   from the decoded datagram (or from the caller when encoding) and stores at most
//!   [`MAX_SERVICES`] slices inline.
//! - Decoding is total: any input gives `Ok` or one [`DecodeError`], never a panic. Inputs
//!   longer than [`MAX_ANNOUNCE_LEN`] are refused before parsing. Checks run front to back,
//!   so every strict prefix of a valid announce decodes to [`DecodeError::Truncated`].
//! - Strictness: port 0, duplicate service names and trailing bytes are rejected as
//!   [`DecodeError::InvalidInput`]; the encoder enforces exactly the same bounds (an
//!   [`Announce`] can only be built through [`Announce::new`] or [`Announce::decode`]).

use core::fmt;

use crate::{
    ANNOUNCE_VERSION, KEY_LEN, MAGIC, MAX_ANNOUNCE_LEN, MAX_DEVICE_ID_LEN, MAX_DISPLAY_NAME_LEN,
    MAX_SERVICES, MAX_SERVICE_NAME_LEN,
};

/// Which bound an announce (or a value meant for one) violates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Invalid {
    /// The datagram is longer than [`MAX_ANNOUNCE_LEN`].
    TooLong,
    /// Bytes follow the last service name.
    TrailingBytes,
    /// The session port is 0.
    ZeroPort,
    /// The device id is empty or longer than [`MAX_DEVICE_ID_LEN`] bytes.
    DeviceIdLength,
    /// More than [`MAX_SERVICES`] service names.
    ServiceCount,
    /// A service name is empty or longer than [`MAX_SERVICE_NAME_LEN`] bytes.
    ServiceNameLength,
    /// The same service name appears twice.
    DuplicateService,
    /// The display name is longer than [`MAX_DISPLAY_NAME_LEN`] bytes or holds a control
    /// character.
    DisplayName,
}

/// Why a datagram is not a valid announce v1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecodeError {
    /// The first bytes are not `NXSB`.
    BadMagic,
    /// The magic matches but the version byte is not 1 (carries the version seen).
    UnsupportedVersion(u8),
    /// The datagram ends before a field or a length-prefixed string is complete.
    Truncated,
    /// A length, count or value is out of bounds, or the datagram is too long.
    InvalidInput(Invalid),
    /// The device id or a service name is not valid UTF-8.
    Utf8,
}

/// Why an announce could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EncodeError {
    /// The output buffer is shorter than [`Announce::encoded_len`].
    BufferTooSmall,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Invalid::TooLong => "announce longer than 1214 bytes",
            Invalid::TrailingBytes => "trailing bytes after the last service",
            Invalid::ZeroPort => "session port 0",
            Invalid::DeviceIdLength => "device id length not in 1..=64",
            Invalid::ServiceCount => "more than 16 services",
            Invalid::ServiceNameLength => "service name length not in 1..=64",
            Invalid::DuplicateService => "duplicate service name",
            Invalid::DisplayName => "display name longer than 64 bytes or with a control character",
        })
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::BadMagic => f.write_str("bad magic"),
            DecodeError::UnsupportedVersion(v) => write!(f, "unsupported announce version {v}"),
            DecodeError::Truncated => f.write_str("truncated announce"),
            DecodeError::InvalidInput(why) => write!(f, "invalid announce: {why}"),
            DecodeError::Utf8 => f.write_str("announce string is not UTF-8"),
        }
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("announce output buffer too small")
    }
}

impl core::error::Error for Invalid {}
impl core::error::Error for DecodeError {}
impl core::error::Error for EncodeError {}

/// A validated announce v2, borrowing its strings.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Announce<'a> {
    device_id: &'a str,
    seq: u32,
    port: u16,
    static_key: [u8; KEY_LEN],
    services: [&'a str; MAX_SERVICES],
    service_count: usize,
    display_name: &'a str,
}

/// True if `name` is an acceptable device id (1..=64 bytes).
pub fn valid_device_id(id: &str) -> bool {
    (1..=MAX_DEVICE_ID_LEN).contains(&id.len())
}

/// True if `name` is an acceptable service name (1..=64 bytes).
pub fn valid_service_name(name: &str) -> bool {
    (1..=MAX_SERVICE_NAME_LEN).contains(&name.len())
}

/// True if `name` is an acceptable display name: at most 64 bytes (empty means none), no
/// control characters.
pub fn valid_display_name(name: &str) -> bool {
    name.len() <= MAX_DISPLAY_NAME_LEN && !name.chars().any(char::is_control)
}

impl<'a> Announce<'a> {
    /// Builds an announce, enforcing the same bounds as the decoder.
    pub fn new(
        device_id: &'a str,
        seq: u32,
        port: u16,
        static_key: [u8; KEY_LEN],
        services: &[&'a str],
    ) -> Result<Self, Invalid> {
        if !valid_device_id(device_id) {
            return Err(Invalid::DeviceIdLength);
        }
        if port == 0 {
            return Err(Invalid::ZeroPort);
        }
        if services.len() > MAX_SERVICES {
            return Err(Invalid::ServiceCount);
        }
        let mut announce = Announce {
            device_id,
            seq,
            port,
            static_key,
            services: [""; MAX_SERVICES],
            service_count: 0,
            display_name: "",
        };
        for name in services {
            announce.push_service(name)?;
        }
        Ok(announce)
    }

    /// The same announce carrying a display name (see [`valid_display_name`]).
    pub fn with_display_name(mut self, name: &'a str) -> Result<Self, Invalid> {
        if !valid_display_name(name) {
            return Err(Invalid::DisplayName);
        }
        self.display_name = name;
        Ok(self)
    }

    fn push_service(&mut self, name: &'a str) -> Result<(), Invalid> {
        if !valid_service_name(name) {
            return Err(Invalid::ServiceNameLength);
        }
        if self.services().contains(&name) {
            return Err(Invalid::DuplicateService);
        }
        let slot = self
            .services
            .get_mut(self.service_count)
            .ok_or(Invalid::ServiceCount)?;
        *slot = name;
        self.service_count += 1;
        Ok(())
    }

    /// The announcing device's id.
    pub fn device_id(&self) -> &'a str {
        self.device_id
    }

    /// Content sequence number (see the cache rules).
    pub fn seq(&self) -> u32 {
        self.seq
    }

    /// TCP port the device accepts sessions on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The device's Noise static public key.
    pub fn static_key(&self) -> &[u8; KEY_LEN] {
        &self.static_key
    }

    /// Service names the device offers, in announce order.
    pub fn services(&self) -> &[&'a str] {
        &self.services[..self.service_count]
    }

    /// The display name the device gave itself (empty if none): a claim, not an identity.
    pub fn display_name(&self) -> &'a str {
        self.display_name
    }

    /// Exact encoded size in bytes (at most [`MAX_ANNOUNCE_LEN`]).
    pub fn encoded_len(&self) -> usize {
        crate::ANNOUNCE_HEADER_LEN
            + self.device_id.len()
            + 1
            + self.services().iter().map(|s| 1 + s.len()).sum::<usize>()
            + 1
            + self.display_name.len()
    }

    /// Encodes into `out`, returning the number of bytes written.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let len = self.encoded_len();
        let out = out.get_mut(..len).ok_or(EncodeError::BufferTooSmall)?;
        let mut w = Writer { out, at: 0 };
        w.put(&MAGIC);
        w.put(&[ANNOUNCE_VERSION]);
        w.put(&self.seq.to_be_bytes());
        w.put(&self.port.to_be_bytes());
        w.put(&self.static_key);
        // Lengths fit in a byte: they were validated at construction.
        w.put(&[self.device_id.len() as u8]);
        w.put(self.device_id.as_bytes());
        w.put(&[self.service_count as u8]);
        for name in self.services() {
            w.put(&[name.len() as u8]);
            w.put(name.as_bytes());
        }
        w.put(&[self.display_name.len() as u8]);
        w.put(self.display_name.as_bytes());
        Ok(w.at)
    }

    /// Decodes one datagram. Total: never panics, never allocates.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        if bytes.len() > MAX_ANNOUNCE_LEN {
            return Err(DecodeError::InvalidInput(Invalid::TooLong));
        }
        let magic_seen = &bytes[..bytes.len().min(MAGIC.len())];
        if magic_seen != &MAGIC[..magic_seen.len()] {
            return Err(DecodeError::BadMagic);
        }
        let mut r = Reader { bytes, at: 0 };
        r.take(MAGIC.len())?;
        let version = r.u8()?;
        if version != ANNOUNCE_VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let seq = u32::from_be_bytes(r.array()?);
        let port = u16::from_be_bytes(r.array()?);
        if port == 0 {
            return Err(DecodeError::InvalidInput(Invalid::ZeroPort));
        }
        let static_key: [u8; KEY_LEN] = r.array()?;
        let device_id = r.string(Invalid::DeviceIdLength, MAX_DEVICE_ID_LEN)?;
        let count = usize::from(r.u8()?);
        if count > MAX_SERVICES {
            return Err(DecodeError::InvalidInput(Invalid::ServiceCount));
        }
        let mut announce = Announce {
            device_id,
            seq,
            port,
            static_key,
            services: [""; MAX_SERVICES],
            service_count: 0,
            display_name: "",
        };
        for _ in 0..count {
            let name = r.string(Invalid::ServiceNameLength, MAX_SERVICE_NAME_LEN)?;
            announce
                .push_service(name)
                .map_err(DecodeError::InvalidInput)?;
        }
        let name_len = usize::from(r.u8()?);
        if name_len > MAX_DISPLAY_NAME_LEN {
            return Err(DecodeError::InvalidInput(Invalid::DisplayName));
        }
        let name = core::str::from_utf8(r.take(name_len)?).map_err(|_| DecodeError::Utf8)?;
        announce = announce
            .with_display_name(name)
            .map_err(DecodeError::InvalidInput)?;
        if r.at != bytes.len() {
            return Err(DecodeError::InvalidInput(Invalid::TrailingBytes));
        }
        Ok(announce)
    }
}

impl fmt::Debug for Announce<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Announce")
            .field("device_id", &self.device_id)
            .field("seq", &self.seq)
            .field("port", &self.port)
            .field("static_key", &self.static_key)
            .field("services", &self.services())
            .field("display_name", &self.display_name)
            .finish()
    }
}

struct Writer<'b> {
    out: &'b mut [u8],
    at: usize,
}

impl Writer<'_> {
    /// Copies `bytes`; the caller sized `out` to the exact total beforehand.
    fn put(&mut self, bytes: &[u8]) {
        let end = self.at + bytes.len();
        if let Some(dst) = self.out.get_mut(self.at..end) {
            dst.copy_from_slice(bytes);
        }
        self.at = end;
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.at.checked_add(n).ok_or(DecodeError::Truncated)?;
        let out = self.bytes.get(self.at..end).ok_or(DecodeError::Truncated)?;
        self.at = end;
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// A length-prefixed UTF-8 string of 1..=`max` bytes.
    fn string(&mut self, bad_len: Invalid, max: usize) -> Result<&'a str, DecodeError> {
        let len = usize::from(self.u8()?);
        if len == 0 || len > max {
            return Err(DecodeError::InvalidInput(bad_len));
        }
        core::str::from_utf8(self.take(len)?).map_err(|_| DecodeError::Utf8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_bounds() {
        let services = ["a"; 1];
        let a = Announce::new("x", 7, 1, [2; 32], &services).unwrap();
        let mut buf = [0u8; MAX_ANNOUNCE_LEN];
        let n = a.encode(&mut buf).unwrap();
        assert_eq!(n, crate::MIN_ANNOUNCE_LEN + 2);
        assert_eq!(Announce::decode(&buf[..n]), Ok(a));
        assert_eq!(
            a.encode(&mut buf[..n - 1]),
            Err(EncodeError::BufferTooSmall)
        );
        assert_eq!(a.with_display_name("tab\there"), Err(Invalid::DisplayName));
        assert_eq!(
            a.with_display_name(&"n".repeat(65)),
            Err(Invalid::DisplayName)
        );
        let named = a.with_display_name("Küche 2").unwrap();
        let n = named.encode(&mut buf).unwrap();
        assert_eq!(Announce::decode(&buf[..n]), Ok(named));
        assert_eq!(
            Announce::decode(&buf[..n]).unwrap().display_name(),
            "Küche 2"
        );
        assert_eq!(
            Announce::new("", 1, 1, [0; 32], &[]),
            Err(Invalid::DeviceIdLength)
        );
        assert_eq!(
            Announce::new("x", 1, 0, [0; 32], &[]),
            Err(Invalid::ZeroPort)
        );
        assert_eq!(
            Announce::new("x", 1, 1, [0; 32], &["a", "a"]),
            Err(Invalid::DuplicateService)
        );
        assert_eq!(
            Announce::new("x", 1, 1, [0; 32], &["s"; 17]),
            Err(Invalid::ServiceCount)
        );
    }

    #[test]
    fn largest_announce_is_max_len() {
        let id = "i".repeat(64);
        let names: Vec<String> = (0..16).map(|i| format!("{i:0>64}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let display = "d".repeat(64);
        let a = Announce::new(&id, u32::MAX, u16::MAX, [9; 32], &refs)
            .unwrap()
            .with_display_name(&display)
            .unwrap();
        assert_eq!(a.encoded_len(), MAX_ANNOUNCE_LEN);
        let mut buf = vec![0u8; MAX_ANNOUNCE_LEN + 1];
        let n = a.encode(&mut buf).unwrap();
        assert_eq!(Announce::decode(&buf[..n]), Ok(a));
        assert_eq!(
            Announce::decode(&buf),
            Err(DecodeError::InvalidInput(Invalid::TooLong))
        );
    }
}
