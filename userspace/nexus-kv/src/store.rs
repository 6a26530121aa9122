//! The store: a superblock plus a `sequential-storage` map, with namespaces.
//!
//! Disk layout (512-byte sectors, 4096-byte pages of 8 sectors):
//!
//! | sectors | holds |
//! |---|---|
//! | 0 | superblock ([`Superblock`]): magic, version, geometry, CRC-32 |
//! | 1..8 | unused (zero) |
//! | 8.. | `pages` pages of the map, as `sequential-storage` 8.0.2 lays them out on the emulated NOR flash of [`crate::flash`] |
//!
//! Every map item's key is `[namespace u64 LE][key length u8][key bytes]`;
//! its value is the raw value bytes. The namespace is not chosen by the
//! client: the server derives it from the caller's IPC badge, which the boot
//! profile fixes, so no request can name another client's keys.

extern crate alloc;

use alloc::collections::BTreeSet;
use alloc::vec;
use alloc::vec::Vec;
use core::future::Future;
use core::pin::pin;
use core::task::{Context, Poll, Waker};

use sequential_storage::cache::{Cache, Uncached};
use sequential_storage::map::{Key, MapConfig, MapStorage, SerializationError};
use sequential_storage::Error as MapError;

use crate::block::{BlockDevice, IoError, SECTOR};
use crate::flash::{NorOverBlock, PAGE};

/// Longest key, in bytes (keys are 1..=`MAX_KEY` bytes).
pub const MAX_KEY: usize = 64;
/// Largest value, in bytes (values are 0..=`MAX_VALUE` bytes).
pub const MAX_VALUE: usize = 1024;
/// Most map pages a store uses (1 MiB); a larger disk is used only up to this.
pub const MAX_PAGES: usize = 256;
/// Fewest map pages a store needs (one is always kept free for garbage
/// collection).
pub const MIN_PAGES: usize = 3;
/// First sector of the map.
pub const MAP_FIRST_SECTOR: u64 = (PAGE / SECTOR) as u64;
/// Smallest device, in sectors: the superblock page plus [`MIN_PAGES`].
pub const MIN_SECTORS: u64 = ((1 + MIN_PAGES) * PAGE / SECTOR) as u64;

const MAGIC: [u8; 8] = *b"NXKVSTOR";
const VERSION: u32 = 1;
/// Scratch buffer for the map: one serialized key + value, word aligned.
const BUF: usize = (KEY_HEADER + MAX_KEY + MAX_VALUE).next_multiple_of(32);
const KEY_HEADER: usize = 9;

/// A client's namespace: the badge of its capability to storaged's endpoint.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Namespace(pub u64);

/// A key as stored: namespace plus key bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StoreKey {
    ns: u64,
    len: u8,
    bytes: [u8; MAX_KEY],
}

impl StoreKey {
    fn new(ns: Namespace, key: &[u8]) -> Result<Self, StoreError> {
        if key.is_empty() || key.len() > MAX_KEY {
            return Err(StoreError::BadKey);
        }
        let mut bytes = [0; MAX_KEY];
        bytes[..key.len()].copy_from_slice(key);
        Ok(StoreKey {
            ns: ns.0,
            len: key.len() as u8,
            bytes,
        })
    }

    fn key(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

impl Key for StoreKey {
    fn serialize_into(&self, buffer: &mut [u8]) -> Result<usize, SerializationError> {
        let n = KEY_HEADER + self.len as usize;
        let out = buffer
            .get_mut(..n)
            .ok_or(SerializationError::BufferTooSmall)?;
        out[..8].copy_from_slice(&self.ns.to_le_bytes());
        out[8] = self.len;
        out[KEY_HEADER..].copy_from_slice(self.key());
        Ok(n)
    }

    fn deserialize_from(buffer: &[u8]) -> Result<(Self, usize), SerializationError> {
        let len = Self::get_len(buffer)?;
        let mut ns = [0; 8];
        ns.copy_from_slice(&buffer[..8]);
        let mut bytes = [0; MAX_KEY];
        bytes[..len - KEY_HEADER].copy_from_slice(&buffer[KEY_HEADER..len]);
        Ok((
            StoreKey {
                ns: u64::from_le_bytes(ns),
                len: (len - KEY_HEADER) as u8,
                bytes,
            },
            len,
        ))
    }

    fn get_len(buffer: &[u8]) -> Result<usize, SerializationError> {
        match buffer.get(8) {
            Some(&n) if (1..=MAX_KEY).contains(&(n as usize)) => {
                let len = KEY_HEADER + n as usize;
                if buffer.len() < len {
                    Err(SerializationError::BufferTooSmall)
                } else {
                    Ok(len)
                }
            }
            Some(_) => Err(SerializationError::InvalidData),
            None => Err(SerializationError::BufferTooSmall),
        }
    }
}

/// The superblock in sector 0.
///
/// Layout: `magic[8] = "NXKVSTOR"`, `version u32 = 1`, `sector u32 = 512`,
/// `page u32 = 4096`, `pages u32` (map pages), `crc32 u32` of the 24 bytes
/// before it (IEEE, as `crc32fast`); the rest of the sector is zero.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Superblock {
    /// Map pages following the superblock page.
    pub pages: u32,
}

/// Why sector 0 is not a superblock.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SuperblockError {
    /// All zero or all `0xff`: a disk that was never formatted.
    Blank,
    /// Anything else: wrong magic, version, geometry or checksum.
    Garbage,
}

impl Superblock {
    /// Encodes into a sector.
    pub fn encode(&self) -> [u8; SECTOR] {
        let mut s = [0u8; SECTOR];
        s[..8].copy_from_slice(&MAGIC);
        s[8..12].copy_from_slice(&VERSION.to_le_bytes());
        s[12..16].copy_from_slice(&(SECTOR as u32).to_le_bytes());
        s[16..20].copy_from_slice(&(PAGE as u32).to_le_bytes());
        s[20..24].copy_from_slice(&self.pages.to_le_bytes());
        let crc = crc32fast::hash(&s[..24]);
        s[24..28].copy_from_slice(&crc.to_le_bytes());
        s
    }

    /// Decodes a sector (total: any bytes give a value or an error).
    pub fn decode(s: &[u8; SECTOR]) -> Result<Self, SuperblockError> {
        if s.iter().all(|&b| b == 0) || s.iter().all(|&b| b == 0xff) {
            return Err(SuperblockError::Blank);
        }
        let word = |i: usize| u32::from_le_bytes([s[i], s[i + 1], s[i + 2], s[i + 3]]);
        let ok = s[..8] == MAGIC
            && word(8) == VERSION
            && word(12) == SECTOR as u32
            && word(16) == PAGE as u32
            && word(24) == crc32fast::hash(&s[..24])
            && (MIN_PAGES..=MAX_PAGES).contains(&(word(20) as usize))
            && s[28..].iter().all(|&b| b == 0);
        if ok {
            Ok(Superblock { pages: word(20) })
        } else {
            Err(SuperblockError::Garbage)
        }
    }
}

/// Why a store was (re)formatted at open.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum FormatReason {
    /// The disk had never been formatted (or a format was cut short).
    Blank,
    /// Sector 0 held something that is not a superblock.
    Garbage,
    /// The superblock records more pages than the device holds.
    Truncated {
        /// Pages the superblock records.
        recorded: u32,
        /// Pages the device can hold.
        fits: u32,
    },
    /// The superblock is valid but the map is damaged beyond what
    /// `sequential-storage` repairs.
    Corrupt,
}

/// What happened at open.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Opened {
    /// An existing store, with this many pages and live keys.
    Existing {
        /// Map pages.
        pages: u32,
        /// Items in the map (live values and superseded versions not yet
        /// collected), over all namespaces.
        items: usize,
    },
    /// A new, empty store was written.
    Formatted {
        /// Why.
        reason: FormatReason,
        /// Map pages.
        pages: u32,
    },
}

/// What to do with a disk whose sector 0 is not blank and not a superblock
/// (or whose map is damaged beyond repair).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum BadImage {
    /// Format it (its contents are lost; open reports why).
    Reformat,
    /// Leave it alone and fail to open.
    Refuse,
}

/// Why a store could not be opened.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum OpenError {
    /// The device is smaller than [`MIN_SECTORS`].
    TooSmall,
    /// The image is bad and the policy is [`BadImage::Refuse`].
    Refused(FormatReason),
    /// The device failed.
    Io,
}

/// Errors of store operations.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// No value under that key (in this namespace).
    NotFound,
    /// The store is full.
    NoSpace,
    /// The key is empty or longer than [`MAX_KEY`].
    BadKey,
    /// The value is longer than [`MAX_VALUE`], or the caller's buffer is
    /// smaller than the stored value.
    TooLarge,
    /// The map is damaged beyond repair.
    Corrupt,
    /// The device failed.
    Io,
}

fn map_err<E>(e: MapError<E>) -> StoreError {
    match e {
        MapError::FullStorage => StoreError::NoSpace,
        MapError::Storage { .. } => StoreError::Io,
        MapError::ItemTooBig => StoreError::TooLarge,
        _ => StoreError::Corrupt,
    }
}

/// Runs a future whose every await completes at once (the device is
/// synchronous): polls it with a no-op waker until it is ready.
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

type Map<D> = MapStorage<StoreKey, NorOverBlock<D>, Cache<Uncached, Uncached, Uncached, StoreKey>>;

/// An open store.
pub struct Store<D: BlockDevice> {
    map: Map<D>,
    buf: Vec<u8>,
    pages: u32,
}

/// One listed key, in byte order.
pub type ListedKey = Vec<u8>;

impl<D: BlockDevice> Store<D> {
    /// Opens the store on `dev`: checks the superblock, loads the map and
    /// scans every item once. A blank disk is formatted; a bad image is
    /// formatted or refused by `policy`. Never panics on any disk contents.
    pub fn open(mut dev: D, policy: BadImage) -> Result<(Self, Opened), (D, OpenError)> {
        if dev.sectors() < MIN_SECTORS {
            return Err((dev, OpenError::TooSmall));
        }
        let fits = ((dev.sectors() / MAP_FIRST_SECTOR - 1) as usize).min(MAX_PAGES) as u32;
        let mut s0 = [0u8; SECTOR];
        if dev.read_sector(0, &mut s0).is_err() {
            return Err((dev, OpenError::Io));
        }
        let reason = match Superblock::decode(&s0) {
            Ok(sb) if sb.pages <= fits => {
                let mut store = Self::load(dev, sb.pages)?;
                match store.count_items() {
                    Ok(items) => {
                        let pages = sb.pages;
                        return Ok((store, Opened::Existing { pages, items }));
                    }
                    Err(StoreError::Io) => return Err((store.into_device(), OpenError::Io)),
                    Err(_) => {
                        dev = store.into_device();
                        FormatReason::Corrupt
                    }
                }
            }
            Ok(sb) => FormatReason::Truncated {
                recorded: sb.pages,
                fits,
            },
            Err(SuperblockError::Blank) => FormatReason::Blank,
            Err(SuperblockError::Garbage) => FormatReason::Garbage,
        };
        if reason != FormatReason::Blank && policy == BadImage::Refuse {
            return Err((dev, OpenError::Refused(reason)));
        }
        let store = Self::format(dev, fits)?;
        Ok((
            store,
            Opened::Formatted {
                reason,
                pages: fits,
            },
        ))
    }

    /// Writes a new empty store of `pages` map pages. Crash-safe: the
    /// superblock is cleared first and written last, so a cut format is seen
    /// as a blank disk at the next open.
    fn format(mut dev: D, pages: u32) -> Result<Self, (D, OpenError)> {
        if dev.write_sector(0, &[0; SECTOR]).is_err() {
            return Err((dev, OpenError::Io));
        }
        let mut store = Self::load(dev, pages)?;
        if block_on(store.map.erase_all()).is_err() {
            return Err((store.into_device(), OpenError::Io));
        }
        let mut dev = store.into_device();
        if dev.write_sector(0, &Superblock { pages }.encode()).is_err() {
            return Err((dev, OpenError::Io));
        }
        Self::load(dev, pages)
    }

    fn load(dev: D, pages: u32) -> Result<Self, (D, OpenError)> {
        let flash = NorOverBlock::load(dev, MAP_FIRST_SECTOR, pages as usize)
            .map_err(|(d, _): (D, IoError)| (d, OpenError::Io))?;
        let config = match MapConfig::try_new(0..pages * PAGE as u32) {
            Ok(c) => c,
            // Unreachable for MIN_PAGES..=MAX_PAGES; refuse rather than panic.
            Err(_) => return Err((flash.into_inner(), OpenError::TooSmall)),
        };
        Ok(Store {
            map: MapStorage::new(flash, config, Cache::new_uncached()),
            buf: vec![0; BUF],
            pages,
        })
    }

    /// The device, back (the store is closed; everything acknowledged is on it).
    pub fn into_device(self) -> D {
        self.map.destroy().0.into_inner()
    }

    /// Map pages in use.
    pub fn pages(&self) -> u32 {
        self.pages
    }

    /// Copies the value of `key` in `ns` into `out`; returns its length.
    pub fn get(&mut self, ns: Namespace, key: &[u8], out: &mut [u8]) -> Result<usize, StoreError> {
        let k = StoreKey::new(ns, key)?;
        let v = block_on(self.map.fetch_item::<&[u8]>(&mut self.buf, &k)).map_err(map_err)?;
        let v = v.ok_or(StoreError::NotFound)?;
        let dst = out.get_mut(..v.len()).ok_or(StoreError::TooLarge)?;
        dst.copy_from_slice(v);
        Ok(v.len())
    }

    /// Stores `value` under `key` in `ns`, replacing any earlier value. When
    /// it returns `Ok` the value is on the device; a power cut before that
    /// leaves the earlier value (or none) in place.
    pub fn put(&mut self, ns: Namespace, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let k = StoreKey::new(ns, key)?;
        if value.len() > MAX_VALUE {
            return Err(StoreError::TooLarge);
        }
        block_on(self.map.store_item(&mut self.buf, &k, &value)).map_err(map_err)?;
        self.flush()
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        self.map
            .flash()
            .device_mut()
            .flush()
            .map_err(|_| StoreError::Io)
    }

    /// Removes `key` from `ns`. A power cut before it returns leaves the
    /// key's current value in place or removes it, never an older value.
    pub fn delete(&mut self, ns: Namespace, key: &[u8]) -> Result<(), StoreError> {
        let k = StoreKey::new(ns, key)?;
        let present = block_on(self.map.fetch_item::<&[u8]>(&mut self.buf, &k))
            .map_err(map_err)?
            .is_some();
        if !present {
            return Err(StoreError::NotFound);
        }
        block_on(self.map.remove_item(&mut self.buf, &k)).map_err(map_err)?;
        self.flush()
    }

    /// Up to `max` keys of `ns` that sort after `after` (all keys when
    /// `after` is empty), in byte order, and whether more follow.
    pub fn list(
        &mut self,
        ns: Namespace,
        after: &[u8],
        max: usize,
    ) -> Result<(Vec<ListedKey>, bool), StoreError> {
        // Only the `max + 1` smallest candidates are kept: memory is bounded
        // by the page size asked for, not by the store.
        let mut keys = BTreeSet::new();
        let mut more = false;
        self.for_each_key(|k| {
            if k.ns == ns.0 && k.key() > after {
                keys.insert(k.key().to_vec());
                if keys.len() > max {
                    keys.pop_last();
                    more = true;
                }
            }
        })?;
        Ok((keys.into_iter().collect(), more))
    }

    /// Items present in the map over all namespaces, superseded versions
    /// included (a full scan that reads and checks every item; used at open).
    pub fn count_items(&mut self) -> Result<usize, StoreError> {
        let mut n = 0;
        self.for_each_key(|_| n += 1)?;
        Ok(n)
    }

    fn for_each_key(&mut self, mut f: impl FnMut(&StoreKey)) -> Result<(), StoreError> {
        // `fetch_all_items` of sequential-storage 8.0.2 returns a page-state
        // `Corrupted` (a cut erase) without running its repair, unlike the
        // other operations; a lookup runs the repair, then the scan is
        // retried once.
        let first = self.scan(&mut f);
        if first != Err(StoreError::Corrupt) {
            return first;
        }
        let probe = StoreKey {
            ns: 0,
            len: 1,
            bytes: [0; MAX_KEY],
        };
        block_on(self.map.fetch_item::<&[u8]>(&mut self.buf, &probe)).map_err(map_err)?;
        self.scan(&mut f)
    }

    fn scan(&mut self, f: &mut impl FnMut(&StoreKey)) -> Result<(), StoreError> {
        let Store { map, buf, .. } = self;
        block_on(async {
            let mut it = map.fetch_all_items(buf).await.map_err(map_err)?;
            while let Some((k, _v)) = it.next::<&[u8]>(buf).await.map_err(map_err)? {
                f(&k);
            }
            Ok(())
        })
    }
}
