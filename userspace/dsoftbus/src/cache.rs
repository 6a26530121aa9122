//! Bounded peer cache fed by discovery announces: LRU eviction, expiry, replay, binding
//! and anti-steering rules.
//!
//! Design notes:
//! - Keyed by device id. At most `capacity` entries (clamped to 1..=[`MAX_CAPACITY`]); each
//!   entry is bounded by the announce limits, so the whole cache is bounded.
//! - Time is the caller's monotonic `now_ns`. An entry is *live* while
//!   `now_ns < last_seen_ns + ttl_ns`; expired entries are invisible to lookups and are
//!   replaced by the next announce for their device id.
//! - Announces are unauthenticated datagrams, so the rules make sure that one cannot
//!   steer the node: rules for an announce `A` for device id `D` whose live entry is `E`
//!   (full table in `docs/dsoftbus.md` §2):
//!   1. `A` from our own device id: rejected [`Rejected::OwnAnnounce`].
//!   2. `D` is not the id derived from `A`'s key ([`DeviceId`]): [`Rejected::UnboundId`].
//!      So an announce can only ever describe the holder of its key.
//!   3. More than the per-source budget (token bucket, [`SOURCE_BURST`] announces, one
//!      more every [`SOURCE_REFILL_NS`]) from one source address: [`Rejected::RateLimited`].
//!   4. `E` is *pinned* (the daemon holds an authenticated session with `D`, see
//!      [`PeerCache::set_pins`]) and `A` comes from another address than the session's:
//!      [`Rejected::Pinned`], `E` unchanged. Nobody can redirect dials away from an
//!      authenticated peer.
//!   5. `A` from `E`'s address: same content (port, services) refreshes `E` whatever its
//!      sequence number (a replayed heartbeat cannot lock the real one out; the entry's
//!      `seq` only grows); other content needs `A.seq > E.seq` ([`Accepted::Updated`]),
//!      else [`Rejected::Replay`] (no rollback of content).
//!   6. `A` from another address, `E` not pinned: the address is only a hint until a
//!      handshake proves it, so the newest announce wins ([`Accepted::Updated`]) whatever
//!      the sequence numbers; a forger at another address can at worst make one dial fail
//!      (the real device's next announce moves the entry back).
//!   7. No live entry: inserted, [`Accepted::New`], unless its source address already has
//!      [`MAX_PER_SOURCE`] live entries ([`Rejected::SourceLimit`]). A full cache drops an
//!      expired entry first, else evicts the least recently used *unpinned* entry; if
//!      every entry is pinned the announce is dropped ([`Rejected::CacheFull`]).
//! - "Recently used" means an accepted announce or an explicit [`PeerCache::touch`].
//! - Every rejected announce is counted by reason in [`CacheStats`]; nothing is logged here.
//! - Only the handshake proves who a peer is; the cache only guarantees that an entry's key
//!   derives its id, so dialling an entry reaches the id's key holder or fails.

use alloc::string::String;
use alloc::vec::Vec;

use crate::announce::{Announce, DecodeError};
use crate::handshake::PeerDirectory;
use crate::identity::DeviceId;
use crate::KEY_LEN;
use nexus_net::{Ipv4Addr, SocketAddrV4};

/// Largest configurable capacity.
pub const MAX_CAPACITY: usize = 256;

/// Default capacity.
pub const DEFAULT_CAPACITY: usize = 16;

/// Default time-to-live of an entry without announces (15 s); announce at least every 5 s.
pub const DEFAULT_TTL_NS: u64 = 15_000_000_000;

/// Announces one source address may send in a burst before it is rate limited.
pub const SOURCE_BURST: u32 = 16;

/// A rate-limited source regains one announce every 100 ms (10 per second; an honest
/// node sends 2 per second per device).
pub const SOURCE_REFILL_NS: u64 = 100_000_000;

/// Most live entries whose announces came from one source address.
pub const MAX_PER_SOURCE: usize = 4;

/// Source addresses whose budgets are remembered (the oldest is forgotten first).
pub const MAX_SOURCES: usize = 32;

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
    /// The device id is not the one derived from the announced key.
    UnboundId,
    /// The source address exceeded its announce budget.
    RateLimited,
    /// The device has an authenticated session at another address.
    Pinned,
    /// The source address already has [`MAX_PER_SOURCE`] live entries.
    SourceLimit,
    /// The cache is full of pinned entries (peers with sessions).
    CacheFull,
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
    /// Dropped: [`Rejected::UnboundId`].
    pub unbound: u64,
    /// Dropped: [`Rejected::RateLimited`].
    pub rate_limited: u64,
    /// Dropped: [`Rejected::Pinned`].
    pub pinned: u64,
    /// Dropped: [`Rejected::SourceLimit`].
    pub source_limit: u64,
    /// Dropped: [`Rejected::CacheFull`].
    pub full: u64,
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
            + self.unbound
            + self.rate_limited
            + self.pinned
            + self.source_limit
            + self.full
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
            Rejected::UnboundId => &mut self.unbound,
            Rejected::RateLimited => &mut self.rate_limited,
            Rejected::Pinned => &mut self.pinned,
            Rejected::SourceLimit => &mut self.source_limit,
            Rejected::CacheFull => &mut self.full,
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
    display_name: String,
    seq: u32,
    first_seen_ns: u64,
    last_seen_ns: u64,
    used: u64,
    pinned: Option<Ipv4Addr>,
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
            display_name: String::from(announce.display_name()),
            seq: announce.seq(),
            first_seen_ns: now_ns,
            last_seen_ns: now_ns,
            used: 0,
            pinned: None,
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

    /// The display name the peer announces (empty if none): a claim, never an identity.
    pub fn display_name(&self) -> &str {
        &self.display_name
    }

    /// When the last announce was accepted.
    pub fn last_seen_ns(&self) -> u64 {
        self.last_seen_ns
    }

    /// The authenticated address, while the entry is pinned (a session is live).
    pub fn pinned(&self) -> Option<Ipv4Addr> {
        self.pinned
    }

    fn same_content(&self, a: &Announce<'_>) -> bool {
        self.port == a.port()
            && self.display_name == a.display_name()
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
    /// Per-source token buckets: (address, tokens, last refill).
    sources: Vec<(Ipv4Addr, u32, u64)>,
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
            sources: Vec::new(),
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
        if !DeviceId::binds(a.device_id(), a.static_key()) {
            return Err(self.reject(Rejected::UnboundId));
        }
        if !self.spend(from, now_ns) {
            return Err(self.reject(Rejected::RateLimited));
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
        let from_source = self
            .entries
            .iter()
            .filter(|e| e.addr == from && e.live(now_ns, ttl))
            .count();
        if from_source >= MAX_PER_SOURCE {
            return Err(self.reject(Rejected::SourceLimit));
        }
        if self.entries.len() >= self.config.capacity && !self.make_room(now_ns) {
            return Err(self.reject(Rejected::CacheFull));
        }
        let mut entry = PeerEntry::from_announce(a, from, now_ns);
        entry.used = self.tick();
        self.entries.push(entry);
        self.stats.new += 1;
        Ok(Accepted::New)
    }

    /// Takes one announce from `from`'s token bucket; false if it is empty.
    fn spend(&mut self, from: Ipv4Addr, now_ns: u64) -> bool {
        let i = match self.sources.iter().position(|s| s.0 == from) {
            Some(i) => i,
            None => {
                if self.sources.len() >= MAX_SOURCES {
                    let oldest = self
                        .sources
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, s)| s.2)
                        .map_or(0, |(i, _)| i);
                    self.sources.swap_remove(oldest);
                }
                self.sources.push((from, SOURCE_BURST, now_ns));
                self.sources.len() - 1
            }
        };
        let s = &mut self.sources[i];
        let refill = now_ns.saturating_sub(s.2) / SOURCE_REFILL_NS;
        if refill > 0 {
            s.1 = (u64::from(s.1) + refill).min(u64::from(SOURCE_BURST)) as u32;
            s.2 = s.2.saturating_add(refill.saturating_mul(SOURCE_REFILL_NS));
        }
        if s.1 == 0 {
            return false;
        }
        s.1 -= 1;
        true
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
        let outcome = if from == entry.addr {
            match (entry.same_content(a), a.seq() > entry.seq) {
                (true, _) => Accepted::Refreshed,
                (false, true) => Accepted::Updated,
                (false, false) => return Err(self.reject(Rejected::Replay)),
            }
        } else if entry.pinned.is_some() {
            return Err(self.reject(Rejected::Pinned));
        } else {
            Accepted::Updated
        };
        let used = self.tick();
        let entry = &mut self.entries[i];
        if outcome == Accepted::Updated {
            if entry.addr != from {
                // A move restarts the sequence at whatever the new address says.
                entry.seq = a.seq();
            }
            entry.addr = from;
            entry.port = a.port();
            entry.services = a.services().iter().map(|s| String::from(*s)).collect();
            entry.display_name = String::from(a.display_name());
            self.stats.updated += 1;
        } else {
            self.stats.refreshed += 1;
        }
        entry.seq = entry.seq.max(a.seq());
        entry.last_seen_ns = now_ns;
        entry.used = used;
        Ok(outcome)
    }

    /// Pins exactly the entries named in `sessions` to the given (authenticated) address
    /// and unpins every other entry. The daemon calls it with its live sessions before
    /// ingesting announces: a pinned entry is never evicted for an unknown announce and
    /// never moved to another address (rules 4 and 7).
    pub fn set_pins<'a>(&mut self, sessions: impl Iterator<Item = (&'a str, Ipv4Addr)> + Clone) {
        for e in &mut self.entries {
            e.pinned = sessions
                .clone()
                .find(|(id, _)| *id == e.device_id)
                .map(|(_, addr)| addr);
            if let Some(addr) = e.pinned {
                e.addr = addr;
            }
        }
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

    /// Frees one slot: all expired entries if there are any, else the least recently used
    /// unpinned one. False if every entry is live and pinned.
    fn make_room(&mut self, now_ns: u64) -> bool {
        if self.purge_expired(now_ns) > 0 {
            return true;
        }
        let lru = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.pinned.is_none())
            .min_by_key(|(_, e)| e.used)
            .map(|(i, _)| i);
        match lru {
            Some(i) => {
                self.entries.swap_remove(i);
                self.stats.evicted += 1;
                true
            }
            None => false,
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
        let ids = [1u8, 2, 3].map(|k| DeviceId::of(&[k; 32]));
        let (a, b, d) = (ids[0].as_str(), ids[1].as_str(), ids[2].as_str());
        for (id, k) in [(a, 1), (b, 2)] {
            let ann = Announce::new(id, 1, 1, [k; 32], &[]).unwrap();
            assert_eq!(c.observe(&ann, IP, 0), Ok(Accepted::New));
        }
        assert!(c.touch(a, 1));
        let ann = Announce::new(d, 1, 1, [3; 32], &[]).unwrap();
        c.observe(&ann, IP, 2).unwrap();
        assert!(c.get(a, 2).is_some());
        assert!(c.get(b, 2).is_none());
        assert_eq!(c.stats().evicted, 1);
        assert!(!c.touch(b, 2));
        assert!(c.remove(a));
        assert!(!c.remove(a));
    }

    #[test]
    fn capacity_is_clamped() {
        assert_eq!(cache(0).config().capacity, 1);
        assert_eq!(cache(10_000).config().capacity, MAX_CAPACITY);
    }
}
