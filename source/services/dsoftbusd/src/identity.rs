//! The device's own identity, persisted in storaged's `kv` store (issue 13, item 2).
//!
//! Design notes:
//! - One record under [`IDENTITY_KEY`] in dsoftbusd's own `kv` namespace (its badge):
//!   `dsoftbus::keyrecord`'s `"NXID"` | version u8 = 1 | static secret (32 bytes) |
//!   static public key (32 bytes), [`RECORD_LEN`] = 69 bytes (the same record
//!   `nexus-provision` writes into a disk image). The public key is redundant on purpose: a record whose
//!   public key is not the one its secret gives is damaged and refused, never "repaired"
//!   into another identity (the device id is derived from the key, so a silently new key
//!   would be a new device).
//! - First boot (no record): the secret comes from the caller's entropy (rngd), is stored,
//!   and the node reports [`Origin::Created`]; later boots load it ([`Origin::Loaded`]).
//!   Missing entropy, or 32 zero bytes, refuses to create an identity.
//! - The store is reached through the [`KeyValue`] trait so this logic is host-tested; the
//!   generated `kv` client implements it (`NotFound` is "no record"), and the service uses
//!   it whenever its profile grants a `kv` client capability (docs/dsoftbus.md §13a).
//! - Buffers that held the secret are overwritten before they are dropped.

use alloc::vec::Vec;

use dsoftbus::{keyrecord, LocalIdentity, StaticKeypair, KEY_LEN};
use nexus_interfaces::kv;

/// The key of the identity record in dsoftbusd's namespace.
pub const IDENTITY_KEY: &[u8] = b"dsoftbus/identity";

/// First bytes of the record (`dsoftbus::keyrecord`).
pub const RECORD_MAGIC: [u8; 4] = keyrecord::RECORD_MAGIC;

/// The only record version.
pub const RECORD_VERSION: u8 = keyrecord::RECORD_VERSION;

/// Length of the record.
pub const RECORD_LEN: usize = keyrecord::RECORD_LEN;

/// Why the store could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreError {
    /// The store answered with an error (no space, I/O, storaged gone, ...).
    Unavailable,
}

/// The two calls of storaged's `kv` interface this module needs.
pub trait KeyValue {
    /// The value under `key`, `Ok(None)` if there is none.
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Stores `value` under `key`; `Ok` means it is on the disk.
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError>;
}

/// storaged's `kv` client: `NotFound` means no record; every other error (no space, I/O,
/// a dead or silent storaged, a reply that does not decode) is [`StoreError::Unavailable`].
impl<T: nexus_idl::Transport> KeyValue for kv::Client<T> {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        match kv::Client::get(self, key) {
            Ok(mut v) => {
                let out = v.to_vec();
                v.fill(0);
                Ok(Some(out))
            }
            Err(kv::Error::NotFound) => Ok(None),
            Err(_) => Err(StoreError::Unavailable),
        }
    }
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        kv::Client::put(self, key, value).map_err(|_| StoreError::Unavailable)
    }
}

/// Whether the identity was made on this boot or loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// No record existed: a new key was generated and stored.
    Created,
    /// The stored key was loaded.
    Loaded,
}

/// Why no identity is available.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityError {
    /// The store failed.
    Store(StoreError),
    /// No record and no usable entropy to create one.
    NoEntropy,
    /// A record exists but is not a valid identity record.
    Damaged,
}

/// Loads the stored identity, or creates and stores one from `entropy` on first boot.
/// `name` is the display name (1..=64 bytes).
pub fn load_or_create(
    store: &mut dyn KeyValue,
    entropy: impl FnOnce() -> Option<[u8; KEY_LEN]>,
    name: &str,
) -> Result<(LocalIdentity, Origin), IdentityError> {
    let (keys, origin) = match store.get(IDENTITY_KEY).map_err(IdentityError::Store)? {
        Some(mut record) => {
            let keys = decode(&record);
            record.fill(0);
            (keys.ok_or(IdentityError::Damaged)?, Origin::Loaded)
        }
        None => {
            let mut secret = entropy().ok_or(IdentityError::NoEntropy)?;
            if secret == [0; KEY_LEN] {
                return Err(IdentityError::NoEntropy);
            }
            let keys = StaticKeypair::from_secret(secret);
            secret.fill(0);
            let mut record = encode(&keys);
            let stored = store.put(IDENTITY_KEY, &record);
            record.fill(0);
            stored.map_err(IdentityError::Store)?;
            (keys, Origin::Created)
        }
    };
    let me = LocalIdentity::new(keys);
    let me = me.with_name(name).map_err(|_| IdentityError::Damaged)?;
    Ok((me, origin))
}

fn encode(keys: &StaticKeypair) -> [u8; RECORD_LEN] {
    keyrecord::encode(keys)
}

fn decode(r: &[u8]) -> Option<StaticKeypair> {
    keyrecord::decode(r).ok()
}
