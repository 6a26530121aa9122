//! nexus-kv: the persistent key-value store behind `storaged`.
//!
//! * [`block`]: the synchronous 512-byte-sector device the store runs on
//!   (virtio-blk in `storaged`, [`fake::FakeDisk`] in tests).
//! * [`flash`]: NOR flash rules (erase to `0xff`, writes clear bits) over a
//!   range of sectors, mirrored in RAM, for `sequential-storage`.
//! * [`store`]: the superblock, open/format policy, and get / put / delete /
//!   list with per-namespace keys over a `sequential-storage` 8.0.2 map.
//! * `fake` (cargo feature `fake`): an in-memory disk that can cut power at
//!   any sector write, for the crash tests.
//!
//! The KV interface itself (`kv`) is declared in
//! `source/libs/nexus-interfaces/idl/kv.toml`; `storaged` serves it over
//! this store. The power-loss guarantee and the disk format are described in
//! `docs/storage.md`.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod block;
#[cfg(feature = "fake")]
pub mod fake;
pub mod flash;
pub mod store;

pub use block::{BlockDevice, IoError, SECTOR};
pub use store::{
    BadImage, FormatReason, Namespace, OpenError, Opened, Store, StoreError, MAX_KEY, MAX_VALUE,
};
