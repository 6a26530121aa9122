//! The trust store and the boot counter, persisted in storaged's `kv` store.
//!
//! Design notes:
//! - One record per trusted device under `dsoftbus/trust/<device id>` ([`TRUST_PREFIX`])
//!   in dsoftbusd's own namespace; the value is `dsoftbus::trust`'s record (`NXTR`,
//!   docs/dsoftbus.md §15.2). A record that does not decode, or whose key does not
//!   derive the id in its name, is reported and skipped (never trusted, never
//!   overwritten silently).
//! - The boot counter is one record under [`BOOT_KEY`]: `"NXBC"` | version 1 | u32
//!   big-endian. Each start-up reads it, adds one and stores it before the daemon runs;
//!   trust entries record the boot in which they were added.
//! - Changes are written as the daemon reports them ([`save`] after a
//!   `BusEvent::TrustChanged`): a put for a present entry, a delete for a removed one.
//! - Devices trusted by the boot profile are not written: the profile is read again on
//!   every boot (and wins over a stored entry for the same device).

use alloc::string::String;
use alloc::vec::Vec;

use dsoftbus::{TrustEntry, TrustStore};
use nexus_interfaces::kv;

use crate::identity::{KeyValue, StoreError};

/// Key prefix of the per-device trust records.
pub const TRUST_PREFIX: &[u8] = b"dsoftbus/trust/";
/// Key of the boot counter.
pub const BOOT_KEY: &[u8] = b"dsoftbus/boot";
/// Magic of the boot counter record.
pub const BOOT_MAGIC: [u8; 4] = *b"NXBC";

/// The `kv` calls besides get/put that the trust records need.
pub trait KeyList: KeyValue {
    /// Removes `key`; removing a missing key is fine.
    fn delete(&mut self, key: &[u8]) -> Result<(), StoreError>;
    /// Up to 32 keys after `after` in byte order, and whether more follow.
    fn list(&mut self, after: &[u8]) -> Result<(Vec<Vec<u8>>, bool), StoreError>;
}

impl<T: nexus_idl::Transport> KeyList for kv::Client<T> {
    fn delete(&mut self, key: &[u8]) -> Result<(), StoreError> {
        match kv::Client::delete(self, key) {
            Ok(()) | Err(kv::Error::NotFound) => Ok(()),
            Err(_) => Err(StoreError::Unavailable),
        }
    }
    fn list(&mut self, after: &[u8]) -> Result<(Vec<Vec<u8>>, bool), StoreError> {
        let page = kv::Client::list(self, after).map_err(|_| StoreError::Unavailable)?;
        Ok((page.keys.0.iter().map(|k| k.to_vec()).collect(), page.more))
    }
}

/// The key of `id`'s trust record.
pub fn record_key(id: &str) -> Vec<u8> {
    let mut k = Vec::from(TRUST_PREFIX);
    k.extend_from_slice(id.as_bytes());
    k
}

/// Reads the boot counter, adds one and stores it: 1 on the first boot. A damaged
/// counter starts again at 1.
pub fn next_boot(kv: &mut dyn KeyList) -> Result<u32, StoreError> {
    let last = match kv.get(BOOT_KEY)? {
        Some(v) if v.len() == 9 && v[..4] == BOOT_MAGIC && v[4] == 1 => {
            u32::from_be_bytes([v[5], v[6], v[7], v[8]])
        }
        _ => 0,
    };
    let boot = last.saturating_add(1);
    let mut rec = Vec::from(BOOT_MAGIC);
    rec.push(1);
    rec.extend_from_slice(&boot.to_be_bytes());
    kv.put(BOOT_KEY, &rec)?;
    Ok(boot)
}

/// What [`load`] found.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Valid entries.
    pub entries: Vec<TrustEntry>,
    /// Keys of records that were skipped as damaged (escaped when printed).
    pub damaged: Vec<String>,
}

/// Every stored trust record (bounded: at most `dsoftbus::trust::MAX_TRUSTED` entries
/// are kept, 64 pages of keys are read at most).
pub fn load(kv: &mut dyn KeyList) -> Result<Loaded, StoreError> {
    let mut out = Loaded::default();
    let mut after: Vec<u8> = Vec::from(TRUST_PREFIX);
    for _ in 0..64 {
        let (keys, more) = kv.list(&after)?;
        for k in &keys {
            if !k.starts_with(TRUST_PREFIX) {
                return Ok(out);
            }
            let id = String::from_utf8_lossy(&k[TRUST_PREFIX.len()..]).into_owned();
            let Some(v) = kv.get(k)? else { continue };
            match TrustEntry::decode(&v) {
                Ok(e)
                    if e.device_id() == id && out.entries.len() < dsoftbus::trust::MAX_TRUSTED =>
                {
                    out.entries.push(e)
                }
                _ => out.damaged.push(id),
            }
        }
        match keys.last() {
            Some(last) if more => after = last.clone(),
            _ => return Ok(out),
        }
    }
    Ok(out)
}

/// Writes the current state of device `id` from `store`: its record, or a delete if
/// it is no longer trusted.
pub fn save(kv: &mut dyn KeyList, store: &TrustStore, id: &str) -> Result<(), StoreError> {
    match store.get(id) {
        Some(e) => kv.put(&record_key(id), &e.encode()),
        None => kv.delete(&record_key(id)),
    }
}
