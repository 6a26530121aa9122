//! The trust store: which devices this node trusts, by pinned key, and what each may open.
//!
//! Design notes:
//! - An entry pins a device's static public key; its device id is *derived* from that key
//!   (§1.1 of `docs/dsoftbus.md`), so an entry can never name one id with another device's
//!   key. [`TrustEntry::with_id`] refuses an id the key does not derive.
//! - Deny by default: a device not in the store may open nothing but the reserved
//!   `pairing` service (the daemon enforces that); a trusted device may open exactly the
//!   services of its own grant list (at most [`MAX_GRANTS`] exact names).
//! - Bounded: at most [`MAX_TRUSTED`] entries; a full store refuses new devices
//!   ([`TrustError::Full`]) and never evicts one silently.
//! - One record per entry ([`TrustEntry::encode`] / [`TrustEntry::decode`]) so a daemon can
//!   keep one key-value record per device. The decoder is total and bounded: it never
//!   panics, never allocates more than one record's worth, and every byte string that
//!   decodes re-encodes to exactly itself.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::announce::valid_service_name;
use crate::identity::DeviceId;
use crate::{KEY_LEN, MAX_SERVICE_NAME_LEN};

/// Most devices one store holds.
pub const MAX_TRUSTED: usize = 32;
/// Most services one device may be granted.
pub const MAX_GRANTS: usize = 8;
/// Longest display name kept in an entry (bytes, UTF-8); may be empty.
pub const MAX_NAME_LEN: usize = 64;
/// Magic of a trust record.
pub const RECORD_MAGIC: [u8; 4] = *b"NXTR";
/// The only trust record version this crate writes and reads.
pub const RECORD_VERSION: u8 = 1;
/// Longest trust record (636 bytes).
pub const MAX_RECORD_LEN: usize =
    4 + 1 + KEY_LEN + 1 + 4 + 8 + 1 + MAX_NAME_LEN + 1 + MAX_GRANTS * (1 + MAX_SERVICE_NAME_LEN);

const _: () = assert!(MAX_RECORD_LEN == 636);

/// How a device entered the trust store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrustOrigin {
    /// PIN pairing.
    Paired,
    /// Listed by the boot profile or the disk image.
    Provisioned,
}

impl TrustOrigin {
    fn tag(self) -> u8 {
        match self {
            TrustOrigin::Paired => 0,
            TrustOrigin::Provisioned => 1,
        }
    }

    fn from_tag(t: u8) -> Option<Self> {
        match t {
            0 => Some(TrustOrigin::Paired),
            1 => Some(TrustOrigin::Provisioned),
            _ => None,
        }
    }
}

/// Why an entry could not be built, stored or decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrustError {
    /// The device id is not the one the key derives.
    UnboundId,
    /// Display name longer than [`MAX_NAME_LEN`].
    NameTooLong,
    /// A service name is empty or longer than 64 bytes, or named twice.
    BadService,
    /// More than [`MAX_GRANTS`] services.
    TooManyServices,
    /// The store already holds [`MAX_TRUSTED`] devices.
    Full,
    /// No such device in the store.
    Unknown,
    /// A record that is not a valid trust record (magic, version, field, bound).
    BadRecord,
    /// A record cut short.
    Truncated,
}

impl fmt::Display for TrustError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TrustError::UnboundId => "device id not derived from the key",
            TrustError::NameTooLong => "display name too long",
            TrustError::BadService => "invalid or duplicate service name",
            TrustError::TooManyServices => "too many services",
            TrustError::Full => "trust store full",
            TrustError::Unknown => "device not trusted",
            TrustError::BadRecord => "invalid trust record",
            TrustError::Truncated => "truncated trust record",
        })
    }
}

impl core::error::Error for TrustError {}

/// Checks a grant list: at most [`MAX_GRANTS`] distinct valid service names.
pub fn check_services<S: AsRef<str>>(services: &[S]) -> Result<(), TrustError> {
    if services.len() > MAX_GRANTS {
        return Err(TrustError::TooManyServices);
    }
    for (i, s) in services.iter().enumerate() {
        let s = s.as_ref();
        if !valid_service_name(s) || services[..i].iter().any(|o| o.as_ref() == s) {
            return Err(TrustError::BadService);
        }
    }
    Ok(())
}

/// One trusted device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustEntry {
    id: DeviceId,
    key: [u8; KEY_LEN],
    name: String,
    services: Vec<String>,
    origin: TrustOrigin,
    added_boot: u32,
    added_ms: u64,
}

impl TrustEntry {
    /// An entry for the holder of `key` (its id is derived from the key).
    pub fn new<S: AsRef<str>>(
        key: [u8; KEY_LEN],
        name: &str,
        services: &[S],
        origin: TrustOrigin,
        added_boot: u32,
        added_ms: u64,
    ) -> Result<Self, TrustError> {
        if name.len() > MAX_NAME_LEN {
            return Err(TrustError::NameTooLong);
        }
        check_services(services)?;
        Ok(TrustEntry {
            id: DeviceId::of(&key),
            key,
            name: String::from(name),
            services: services.iter().map(|s| String::from(s.as_ref())).collect(),
            origin,
            added_boot,
            added_ms,
        })
    }

    /// Like [`new`](Self::new), refusing an `id` that `key` does not derive.
    pub fn with_id<S: AsRef<str>>(
        id: &str,
        key: [u8; KEY_LEN],
        name: &str,
        services: &[S],
        origin: TrustOrigin,
        added_boot: u32,
        added_ms: u64,
    ) -> Result<Self, TrustError> {
        if !DeviceId::binds(id, &key) {
            return Err(TrustError::UnboundId);
        }
        TrustEntry::new(key, name, services, origin, added_boot, added_ms)
    }

    /// The device id (derived from the pinned key).
    pub fn device_id(&self) -> &str {
        self.id.as_str()
    }

    /// The pinned static public key.
    pub fn key(&self) -> &[u8; KEY_LEN] {
        &self.key
    }

    /// The display name when the entry was added (came from configuration or the user;
    /// print it escaped).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Services of ours this device may open.
    pub fn services(&self) -> &[String] {
        &self.services
    }

    /// How it entered the store.
    pub fn origin(&self) -> TrustOrigin {
        self.origin
    }

    /// Our boot count when it was added.
    pub fn added_boot(&self) -> u32 {
        self.added_boot
    }

    /// Uptime in that boot when it was added, in milliseconds.
    pub fn added_ms(&self) -> u64 {
        self.added_ms
    }

    /// True if this device may open `service` (exact name).
    pub fn may_open(&self, service: &str) -> bool {
        self.services.iter().any(|s| s == service)
    }

    /// Length of [`encode`](Self::encode)'s output.
    pub fn record_len(&self) -> usize {
        4 + 1
            + KEY_LEN
            + 1
            + 4
            + 8
            + 1
            + self.name.len()
            + 1
            + self.services.iter().map(|s| 1 + s.len()).sum::<usize>()
    }

    /// The record (`docs/dsoftbus.md` §15.2): at most [`MAX_RECORD_LEN`] bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.record_len());
        out.extend_from_slice(&RECORD_MAGIC);
        out.push(RECORD_VERSION);
        out.extend_from_slice(&self.key);
        out.push(self.origin.tag());
        out.extend_from_slice(&self.added_boot.to_be_bytes());
        out.extend_from_slice(&self.added_ms.to_be_bytes());
        // Bounds hold by construction (name ≤ 64, ≤ 8 names of ≤ 64 bytes).
        out.push(self.name.len() as u8);
        out.extend_from_slice(self.name.as_bytes());
        out.push(self.services.len() as u8);
        for s in &self.services {
            out.push(s.len() as u8);
            out.extend_from_slice(s.as_bytes());
        }
        out
    }

    /// Decodes one record. Total: any input gives an entry or an error, never a panic.
    pub fn decode(rec: &[u8]) -> Result<Self, TrustError> {
        if rec.len() > MAX_RECORD_LEN {
            return Err(TrustError::BadRecord);
        }
        let mut r = Reader(rec);
        let magic = r.take(4)?;
        if magic != RECORD_MAGIC {
            return Err(TrustError::BadRecord);
        }
        if r.u8()? != RECORD_VERSION {
            return Err(TrustError::BadRecord);
        }
        let mut key = [0u8; KEY_LEN];
        key.copy_from_slice(r.take(KEY_LEN)?);
        let origin = TrustOrigin::from_tag(r.u8()?).ok_or(TrustError::BadRecord)?;
        let mut b4 = [0u8; 4];
        b4.copy_from_slice(r.take(4)?);
        let mut b8 = [0u8; 8];
        b8.copy_from_slice(r.take(8)?);
        let name_len = usize::from(r.u8()?);
        if name_len > MAX_NAME_LEN {
            return Err(TrustError::BadRecord);
        }
        let name = r.str(name_len)?;
        let count = usize::from(r.u8()?);
        if count > MAX_GRANTS {
            return Err(TrustError::BadRecord);
        }
        let mut services: Vec<&str> = Vec::with_capacity(count);
        for _ in 0..count {
            let n = usize::from(r.u8()?);
            if n == 0 || n > MAX_SERVICE_NAME_LEN {
                return Err(TrustError::BadRecord);
            }
            services.push(r.str(n)?);
        }
        if !r.0.is_empty() {
            return Err(TrustError::BadRecord);
        }
        TrustEntry::new(
            key,
            name,
            &services,
            origin,
            u32::from_be_bytes(b4),
            u64::from_be_bytes(b8),
        )
        .map_err(|_| TrustError::BadRecord)
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], TrustError> {
        if self.0.len() < n {
            return Err(TrustError::Truncated);
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, TrustError> {
        Ok(self.take(1)?[0])
    }

    fn str(&mut self, n: usize) -> Result<&'a str, TrustError> {
        core::str::from_utf8(self.take(n)?).map_err(|_| TrustError::BadRecord)
    }
}

/// The bounded set of trusted devices, keyed by device id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustStore {
    entries: Vec<TrustEntry>,
}

impl TrustStore {
    /// An empty store (trusts nobody).
    pub fn new() -> Self {
        TrustStore::default()
    }

    /// Adds or replaces the entry for its device; `Full` if it is new and the store
    /// holds [`MAX_TRUSTED`] devices. Returns the entry it replaced.
    pub fn insert(&mut self, e: TrustEntry) -> Result<Option<TrustEntry>, TrustError> {
        match self.entries.binary_search_by(|x| x.id.cmp(&e.id)) {
            Ok(i) => Ok(Some(core::mem::replace(&mut self.entries[i], e))),
            Err(i) => {
                if self.entries.len() >= MAX_TRUSTED {
                    return Err(TrustError::Full);
                }
                self.entries.insert(i, e);
                Ok(None)
            }
        }
    }

    /// Removes a device; its entry if it was trusted.
    pub fn remove(&mut self, id: &str) -> Option<TrustEntry> {
        let i = self.position(id)?;
        Some(self.entries.remove(i))
    }

    /// The entry of device `id`.
    pub fn get(&self, id: &str) -> Option<&TrustEntry> {
        self.position(id).map(|i| &self.entries[i])
    }

    /// True if device `id` is trusted *and* `key` is its pinned key (the key a session
    /// authenticated). A different key is never trusted, whatever id it claims.
    pub fn trusts(&self, id: &str, key: &[u8; KEY_LEN]) -> bool {
        self.get(id).is_some_and(|e| e.key == *key)
    }

    /// True if the device authenticated as (`id`, `key`) may open `service`.
    pub fn may_open(&self, id: &str, key: &[u8; KEY_LEN], service: &str) -> bool {
        self.get(id)
            .is_some_and(|e| e.key == *key && e.may_open(service))
    }

    /// Replaces a trusted device's grant list.
    pub fn grant<S: AsRef<str>>(&mut self, id: &str, services: &[S]) -> Result<(), TrustError> {
        check_services(services)?;
        let i = self.position(id).ok_or(TrustError::Unknown)?;
        self.entries[i].services = services.iter().map(|s| String::from(s.as_ref())).collect();
        Ok(())
    }

    /// Entries in device id order.
    pub fn iter(&self) -> impl Iterator<Item = &TrustEntry> {
        self.entries.iter()
    }

    /// At most `n` entries with a device id above `after` ("" = from the first).
    pub fn page(&self, after: &str, n: usize) -> impl Iterator<Item = &TrustEntry> {
        let after = String::from(after);
        self.entries
            .iter()
            .filter(move |e| after.is_empty() || e.device_id() > after.as_str())
            .take(n)
    }

    /// Number of trusted devices.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if nobody is trusted.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn position(&self, id: &str) -> Option<usize> {
        self.entries
            .binary_search_by(|x| x.id.as_str().cmp(id))
            .ok()
    }
}
