//! Bounded peer cache fed by discovery announces: LRU eviction, expiry, replay and conflict rules.
//!
//! Design notes:
//! - Keyed by device id. At most `capacity` entries (clamped to 1..=[`MAX_CAPACITY`]); each
//!   entry is bounded by the announce limits, so the whole cache is bounded.
//! - Time is the caller's monotonic `now_ns`. An entry is *live* while
//!   `now_ns < last_seen_ns + ttl_ns`; expired entries are invisible to lookups and are
//!   replaced by the next announce for their device id whatever it says.
//! - Rules for an announce `A` for device id `D` whose live entry is `E`
//!   (see `docs/dsoftbus.md`):
//!   1. `A` from our own device id: rejected [`Rejected::OwnAnnounce`].
//!   2. `A.key != E.key`: rejected [`Rejected::KeyConflict`]; `E` is kept unchanged (not
//!      refreshed), so a key change only takes effect after `E` expires.
//!   3. `A.seq < E.seq`, or `A.seq == E.seq` with different content (port, services or
//!      source address): rejected [`Rejected::Replay`]. A sequence number identifies one
//!      announce content; a sender bumps it whenever the content changes.
//!   4. `A.seq == E.seq` with identical content (an exact repeat, i.e. the normal
//!      heartbeat): [`Accepted::Refreshed`].
//!   5. `A.seq > E.seq`: the entry takes `A`'s content, [`Accepted::Updated`] (or
//!      `Refreshed` if only the sequence number moved).
//!   6. No live entry: inserted, [`Accepted::New`]; when the cache is full an expired entry
//!      is dropped first, otherwise the least recently used one (LRU) is evicted.
//! - "Recently used" means an accepted announce or an explicit [`PeerCache::touch`]
//!   (e.g. when a session to the peer is opened).
//! - Every rejected announce is counted by reason in [`CacheStats`]; nothing is logged here.
//! - Discovery is unauthenticated: these rules keep the cache consistent and stop stale or
//!   replayed state from rolling it back, but only the handshake's identity binding proves
//!   who a peer is.

use alloc::string::String;
use alloc::vec::Vec;

use crate::announce::{Announce, DecodeError};
use crate::handshake::PeerDirectory;
use crate::KEY_LEN;
use nexus_net::{Ipv4Addr, SocketAddrV4};

/// Largest configurable capacity.
pub const MAX_CAPACITY: usize = 256;

/// Default capacity.
pub const DEFAULT_CAPACITY: usize = 16;

/// Default time-to-live of an entry without announces (15 s); announce at least every 5 s.
pub const DEFAULT_TTL_NS: u64 = 15_000_000_000;

/// Cache limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    /// Most entries held at once (clamped to 1..=[`MAX_CAPACITY`]).
    pub capacity: usize,
    /// How long an entry stays live after its last accepted announce, in nanoseconds.
    pub ttl_ns: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            capacity: DEFAULT_CAPACITY,
            ttl_ns: DEFAULT_TTL_NS,
        }
    }
}

/// What an accepted announce did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// A device without a live entry was added.
    New,
    /// An exact repeat (or a newer sequence number with the same content) refreshed expiry.
    Refreshed,
    /// A newer sequence number changed port, services or address.
    Updated,
}

/// Why an announce was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// The datagram is not a valid announce v1.
    Malformed(DecodeError),
    /// The announce carries our own device id.
    OwnAnnounce,
    /// A live entry for the device id has a different static key.
    KeyConflict,
    /// Older sequence number, or a reused one with different content.
    Replay,
}

/// Counters of what the cache did with announces and entries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Accepted announces that added an entry.
    pub new: u64,
    /// Accepted announces that only refreshed an entry.
    pub refreshed: u64,
    /// Accepted announces that changed an entry.
    pub updated: u64,
    /// Live entries evicted (LRU) to make room.
    pub evicted: u64,
    /// Expired entries removed (on purge, replacement or to make room).
    pub expired: u64,
    /// Dropped: [`DecodeError::BadMagic`].
    pub bad_magic: u64,
    /// Dropped: [`DecodeError::UnsupportedVersion`].
    pub unsupported_version: u64,
    /// Dropped: [`DecodeError::Truncated`].
    pub truncated: u64,
    /// Dropped: [`DecodeError::InvalidInput`] (includes oversized datagrams).
    pub invalid_input: u64,
    /// Dropped: [`DecodeError::Utf8`].
    pub utf8: u64,
    /// Dropped: [`Rejected::OwnAnnounce`].
    pub own: u64,
    /// Dropped: [`Rejected::KeyConflict`].
    pub key_conflict: u64,
    /// Dropped: [`Rejected::Replay`].
    pub replay: u64,
}

impl CacheStats {
    /// Total dropped announces, all reasons.
    pub fn dropped(&self) -> u64 {
        self.bad_magic
            + self.unsupported_version
            + self.truncated
            + self.invalid_input
            + self.utf8
            + self.own
            + self.key_conflict
            + self.replay
    }

    fn count(&mut self, why: Rejected) {
        let slot = match why {
            Rejected::Malformed(DecodeError::BadMagic) => &mut self.bad_magic,
            Rejected::Malformed(DecodeError::UnsupportedVersion(_)) => {
                &mut self.unsupported_version
            }
            Rejected::Malformed(DecodeError::Truncated) => &mut self.truncated,
            Rejected::Malformed(DecodeError::InvalidInput(_)) => &mut self.invalid_input,
            Rejected::Malformed(DecodeError::Utf8) => &mut self.utf8,
            Rejected::OwnAnnounce => &mut self.own,
            Rejected::KeyConflict => &mut self.key_conflict,
            Rejected::Replay => &mut self.replay,
        };
        *slot += 1;
    }
}

/// What the cache knows about one peer device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerEntry {
    device_id: String,
    addr: Ipv4Addr,
    port: u16,
    static_key: [u8; KEY_LEN],
    services: Vec<String>,
    seq: u32,
    first_seen_ns: u64,
    last_seen_ns: u64,
    used: u64,
}

impl PeerEntry {
    /// An entry from an announce received from `addr` at `now_ns`.
    ///
    /// Also the way to build a statically configured peer (no discovery) for
    /// [`crate::connect_session`].
    pub fn from_announce(announce: &Announce<'_>, addr: Ipv4Addr, now_ns: u64) -> Self {
        PeerEntry {
            device_id: String::from(announce.device_id()),
            addr,
            port: announce.port(),
            static_key: *announce.static_key(),
            services: announce
                .services()
                .iter()
                .map(|s| String::from(*s))
                .collect(),
            seq: announce.seq(),
            first_seen_ns: now_ns,
            last_seen_ns: now_ns,
            used: 0,
        }
    }

    /// The peer's device id.
    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    /// Source address of the accepted announce.
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// Announced session (TCP) port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Where to connect for a session.
    pub fn session_addr(&self) -> SocketAddrV4 {
        SocketAddrV4::new(self.addr, self.port)
    }

    /// Announced Noise static public key (what identity binding compares against).
    pub fn static_key(&self) -> &[u8; KEY_LEN] {
        &self.static_key
    }

    /// Announced service names.
    pub fn services(&self) -> &[String] {
        &self.services
    }

    /// True if the peer announced `service`.
    pub fn offers(&self, service: &str) -> bool {
        self.services.iter().any(|s| s == service)
    }

    /// Sequence number of the accepted content.
    pub fn seq(&self) -> u32 {
        self.seq
    }

    /// When the entry was created.
    pub fn first_seen_ns(&self) -> u64 {
        self.first_seen_ns
    }

    /// When the last announce was accepted.
    pub fn last_seen_ns(&self) -> u64 {
        self.last_seen_ns
    }

    fn same_content(&self, a: &Announce<'_>, addr: Ipv4Addr) -> bool {
        self.port == a.port()
            && self.addr == addr
            && self.services.len() == a.services().len()
            && self.services.iter().zip(a.services()).all(|(x, y)| x == y)
    }

    fn live(&self, now_ns: u64, ttl_ns: u64) -> bool {
        now_ns < self.last_seen_ns.saturating_add(ttl_ns)
    }
}

/// The bounded peer cache. See the module docs for the rules.
#[derive(Debug, Clone)]
pub struct PeerCache {
    config: CacheConfig,
    local_device_id: Option<String>,
    entries: Vec<PeerEntry>,
    clock: u64,
    stats: CacheStats,
}

impl PeerCache {
    /// An empty cache.
    pub fn new(config: CacheConfig) -> Self {
        let capacity = config.capacity.clamp(1, MAX_CAPACITY);
        PeerCache {
            config: CacheConfig { capacity, ..config },
            local_device_id: None,
            entries: Vec::with_capacity(capacity),
            clock: 0,
            stats: CacheStats::default(),
        }
    }

    /// Makes the cache drop announces carrying `device_id` (our own, e.g. looped back).
    pub fn with_local_device_id(mut self, device_id: &str) -> Self {
        self.local_device_id = Some(String::from(device_id));
        self
    }

    /// The effective configuration.
    pub fn config(&self) -> CacheConfig {
        self.config
    }

    /// Counters.
    pub fn stats(&self) -> CacheStats {
        self.stats
    }

    /// Entries stored, including expired ones not yet purged.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Decodes a datagram received from `from` and applies it (see the module rules).
    pub fn ingest(
        &mut self,
        datagram: &[u8],
        from: Ipv4Addr,
        now_ns: u64,
    ) -> Result<Accepted, Rejected> {
        match Announce::decode(datagram) {
            Ok(a) => self.observe(&a, from, now_ns),
            Err(e) => Err(self.reject(Rejected::Malformed(e))),
        }
    }

    /// Applies an already decoded announce received from `from` (see the module rules).
    pub fn observe(
        &mut self,
        a: &Announce<'_>,
        from: Ipv4Addr,
        now_ns: u64,
    ) -> Result<Accepted, Rejected> {
        if self.local_device_id.as_deref() == Some(a.device_id()) {
            return Err(self.reject(Rejected::OwnAnnounce));
        }
        let ttl = self.config.ttl_ns;
        if let Some(i) = self.position(a.device_id()) {
            if !self.entries[i].live(now_ns, ttl) {
                self.entries.swap_remove(i);
                self.stats.expired += 1;
            } else {
                return self.apply_to_live(i, a, from, now_ns);
            }
        }
        if self.entries.len() >= self.config.capacity {
            self.make_room(now_ns);
        }
        let mut entry = PeerEntry::from_announce(a, from, now_ns);
        entry.used = self.tick();
        self.entries.push(entry);
        self.stats.new += 1;
        Ok(Accepted::New)
    }

    fn apply_to_live(
        &mut self,
        i: usize,
        a: &Announce<'_>,
        from: Ipv4Addr,
        now_ns: u64,
    ) -> Result<Accepted, Rejected> {
        let entry = &self.entries[i];
        if entry.static_key != *a.static_key() {
            return Err(self.reject(Rejected::KeyConflict));
        }
        let same = entry.same_content(a, from);
        let outcome = match a.seq().cmp(&entry.seq) {
            core::cmp::Ordering::Less => return Err(self.reject(Rejected::Replay)),
            core::cmp::Ordering::Equal if !same => return Err(self.reject(Rejected::Replay)),
            core::cmp::Ordering::Equal => Accepted::Refreshed,
            core::cmp::Ordering::Greater if same => Accepted::Refreshed,
            core::cmp::Ordering::Greater => Accepted::Updated,
        };
        let used = self.tick();
        let entry = &mut self.entries[i];
        if outcome == Accepted::Updated {
            entry.addr = from;
            entry.port = a.port();
            entry.services = a.services().iter().map(|s| String::from(*s)).collect();
            self.stats.updated += 1;
        } else {
            self.stats.refreshed += 1;
        }
        entry.seq = a.seq();
        entry.last_seen_ns = now_ns;
        entry.used = used;
        Ok(outcome)
    }

    fn reject(&mut self, why: Rejected) -> Rejected {
        self.stats.count(why);
        why
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    fn position(&self, device_id: &str) -> Option<usize> {
        self.entries.iter().position(|e| e.device_id == device_id)
    }

    /// Frees one slot: all expired entries if there are any, else the least recently used.
    fn make_room(&mut self, now_ns: u64) {
        if self.purge_expired(now_ns) > 0 {
            return;
        }
        let lru = self
            .entries
            .iter()
            .enumerate()
            .min_by_key(|(_, e)| e.used)
            .map(|(i, _)| i);
        if let Some(i) = lru {
            self.entries.swap_remove(i);
            self.stats.evicted += 1;
        }
    }

    /// The live entry for `device_id`, if any.
    pub fn get(&self, device_id: &str, now_ns: u64) -> Option<&PeerEntry> {
        let ttl = self.config.ttl_ns;
        self.entries
            .iter()
            .find(|e| e.device_id == device_id && e.live(now_ns, ttl))
    }

    /// Marks a live entry as recently used (LRU); false if there is none.
    pub fn touch(&mut self, device_id: &str, now_ns: u64) -> bool {
        let ttl = self.config.ttl_ns;
        let used = self.clock + 1;
        match self
            .entries
            .iter_mut()
            .find(|e| e.device_id == device_id && e.live(now_ns, ttl))
        {
            Some(e) => {
                e.used = used;
                self.clock = used;
                true
            }
            None => false,
        }
    }

    /// Removes the entry for `device_id` (live or not); false if there was none.
    pub fn remove(&mut self, device_id: &str) -> bool {
        match self.position(device_id) {
            Some(i) => {
                self.entries.swap_remove(i);
                true
            }
            None => false,
        }
    }

    /// Removes every expired entry; returns how many.
    pub fn purge_expired(&mut self, now_ns: u64) -> usize {
        let ttl = self.config.ttl_ns;
        let before = self.entries.len();
        self.entries.retain(|e| e.live(now_ns, ttl));
        let removed = before - self.entries.len();
        self.stats.expired += removed as u64;
        removed
    }

    /// Live entries, in no particular order.
    pub fn live(&self, now_ns: u64) -> impl Iterator<Item = &PeerEntry> {
        let ttl = self.config.ttl_ns;
        self.entries.iter().filter(move |e| e.live(now_ns, ttl))
    }

    /// A [`PeerDirectory`] view of the live entries at `now_ns`, for responders.
    pub fn at(&self, now_ns: u64) -> CacheView<'_> {
        CacheView {
            cache: self,
            now_ns,
        }
    }
}

/// The live entries of a [`PeerCache`] at a fixed instant; implements [`PeerDirectory`].
#[derive(Debug, Clone, Copy)]
pub struct CacheView<'a> {
    cache: &'a PeerCache,
    now_ns: u64,
}

impl PeerDirectory for CacheView<'_> {
    fn static_key(&self, device_id: &str) -> Option<[u8; KEY_LEN]> {
        self.cache
            .get(device_id, self.now_ns)
            .map(|e| *e.static_key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 9);

    fn cache(capacity: usize) -> PeerCache {
        PeerCache::new(CacheConfig {
            capacity,
            ttl_ns: 100,
        })
    }

    #[test]
    fn touch_changes_the_lru_victim() {
        let mut c = cache(2);
        for id in ["a", "b"] {
            let a = Announce::new(id, 1, 1, [1; 32], &[]).unwrap();
            assert_eq!(c.observe(&a, IP, 0), Ok(Accepted::New));
        }
        assert!(c.touch("a", 1));
        let a = Announce::new("c", 1, 1, [1; 32], &[]).unwrap();
        c.observe(&a, IP, 2).unwrap();
        assert!(c.get("a", 2).is_some());
        assert!(c.get("b", 2).is_none());
        assert_eq!(c.stats().evicted, 1);
        assert!(!c.touch("b", 2));
        assert!(c.remove("a"));
        assert!(!c.remove("a"));
    }

    #[test]
    fn capacity_is_clamped() {
        assert_eq!(cache(0).config().capacity, 1);
        assert_eq!(cache(10_000).config().capacity, MAX_CAPACITY);
    }
}
