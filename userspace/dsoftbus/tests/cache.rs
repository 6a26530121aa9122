//! Peer cache rules: LRU eviction, expiry, conflicts, exact repeats and counters.

mod common;

use dsoftbus::{
    Accepted, Announce, CacheConfig, DecodeError, Invalid, PeerCache, PeerDirectory, Rejected,
    MAX_ANNOUNCE_LEN,
};
use nexus_net::Ipv4Addr;

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const TTL: u64 = 1_000;

fn cache(capacity: usize) -> PeerCache {
    PeerCache::new(CacheConfig {
        capacity,
        ttl_ns: TTL,
    })
}

fn ann<'a>(id: &'a str, seq: u32, port: u16, key: u8, services: &[&'a str]) -> Announce<'a> {
    Announce::new(id, seq, port, [key; 32], services).unwrap()
}

#[test]
fn lru_eviction_keeps_the_most_recently_announced() {
    let mut c = cache(3);
    for (i, id) in ["p0", "p1", "p2"].iter().enumerate() {
        assert_eq!(
            c.observe(&ann(id, 1, 1000, 1, &[]), A, i as u64),
            Ok(Accepted::New)
        );
    }
    // p0 announces again (exact repeat) -> most recent; p1 is now the LRU.
    assert_eq!(
        c.observe(&ann("p0", 1, 1000, 1, &[]), A, 10),
        Ok(Accepted::Refreshed)
    );
    assert_eq!(
        c.observe(&ann("p3", 1, 1000, 1, &[]), A, 11),
        Ok(Accepted::New)
    );
    assert_eq!(c.len(), 3);
    assert!(c.get("p1", 11).is_none(), "LRU victim");
    for id in ["p0", "p2", "p3"] {
        assert!(c.get(id, 11).is_some(), "{id} kept");
    }
    assert_eq!(c.stats().evicted, 1);
    assert_eq!(c.stats().new, 4);
    assert_eq!(c.stats().refreshed, 1);
}

#[test]
fn full_cache_drops_expired_entries_before_evicting_live_ones() {
    let mut c = cache(2);
    c.observe(&ann("old", 1, 1000, 1, &[]), A, 0).unwrap();
    c.observe(&ann("live", 1, 1000, 1, &[]), A, 900).unwrap();
    // At 1000 "old" has expired (0 + TTL), "live" has not.
    c.observe(&ann("new", 1, 1000, 1, &[]), A, 1000).unwrap();
    assert!(c.get("live", 1000).is_some());
    assert!(c.get("new", 1000).is_some());
    assert_eq!(c.stats().expired, 1);
    assert_eq!(c.stats().evicted, 0);
}

#[test]
fn peers_that_stop_announcing_expire() {
    let mut c = cache(4);
    c.observe(&ann("p", 1, 1000, 1, &["samgrd"]), B, 100)
        .unwrap();
    let e = c.get("p", 100).unwrap();
    assert_eq!(e.session_addr().to_string(), "10.0.0.2:1000");
    assert!(e.offers("samgrd") && !e.offers("bundlemgrd"));
    assert!(c.get("p", 100 + TTL - 1).is_some());
    assert!(
        c.get("p", 100 + TTL).is_none(),
        "expired exactly at last_seen + ttl"
    );
    assert_eq!(c.live(100 + TTL).count(), 0);
    assert!(c.at(100 + TTL).static_key("p").is_none());
    assert_eq!(c.at(100).static_key("p"), Some([1; 32]));
    assert_eq!(c.len(), 1, "still stored until purged");
    assert_eq!(c.purge_expired(100 + TTL), 1);
    assert!(c.is_empty());
    // An exact repeat before expiry extends the lifetime.
    c.observe(&ann("q", 1, 1000, 1, &[]), B, 0).unwrap();
    c.observe(&ann("q", 1, 1000, 1, &[]), B, 999).unwrap();
    assert!(c.get("q", 1500).is_some());
    assert_eq!(c.get("q", 1500).unwrap().first_seen_ns(), 0);
    assert_eq!(c.get("q", 1500).unwrap().last_seen_ns(), 999);
}

#[test]
fn key_change_is_a_conflict_until_the_old_entry_expires() {
    let mut c = cache(4);
    c.observe(&ann("dev", 1, 1000, 1, &[]), A, 0).unwrap();
    for t in [1, 500, TTL - 1] {
        assert_eq!(
            c.observe(&ann("dev", 2, 1000, 2, &[]), B, t),
            Err(Rejected::KeyConflict)
        );
    }
    assert_eq!(c.stats().key_conflict, 3);
    // Conflicting announces do not refresh the entry: it expires on schedule.
    assert_eq!(c.get("dev", TTL - 1).unwrap().static_key(), &[1; 32]);
    assert_eq!(
        c.observe(&ann("dev", 1, 1000, 2, &[]), B, TTL),
        Ok(Accepted::New)
    );
    assert_eq!(c.get("dev", TTL).unwrap().static_key(), &[2; 32]);
    assert_eq!(c.get("dev", TTL).unwrap().addr(), B);
    assert_eq!(c.stats().expired, 1);
}

#[test]
fn newer_sequence_updates_content() {
    let mut c = cache(4);
    c.observe(&ann("dev", 5, 1000, 1, &["a"]), A, 0).unwrap();
    assert_eq!(
        c.observe(&ann("dev", 6, 1000, 1, &["a"]), A, 1),
        Ok(Accepted::Refreshed)
    );
    assert_eq!(
        c.observe(&ann("dev", 7, 2000, 1, &["a", "b"]), B, 2),
        Ok(Accepted::Updated)
    );
    let e = c.get("dev", 2).unwrap();
    assert_eq!((e.seq(), e.port(), e.addr()), (7, 2000, B));
    assert_eq!(e.services(), &["a".to_string(), "b".to_string()]);
    assert_eq!(c.stats().updated, 1);
}

#[test]
fn own_announces_and_malformed_datagrams_are_counted() {
    let mut c = cache(4).with_local_device_id("me");
    assert_eq!(
        c.observe(&ann("me", 1, 1000, 1, &[]), A, 0),
        Err(Rejected::OwnAnnounce)
    );
    assert_eq!(
        c.ingest(b"garbage", A, 0),
        Err(Rejected::Malformed(DecodeError::BadMagic))
    );
    assert_eq!(
        c.ingest(b"NXSB\x07", A, 0),
        Err(Rejected::Malformed(DecodeError::UnsupportedVersion(7)))
    );
    assert_eq!(
        c.ingest(b"NXSB\x01", A, 0),
        Err(Rejected::Malformed(DecodeError::Truncated))
    );
    assert_eq!(
        c.ingest(&[0u8; MAX_ANNOUNCE_LEN + 1], A, 0),
        Err(Rejected::Malformed(DecodeError::InvalidInput(
            Invalid::TooLong
        )))
    );
    let s = c.stats();
    assert_eq!(
        (
            s.own,
            s.bad_magic,
            s.unsupported_version,
            s.truncated,
            s.invalid_input
        ),
        (1, 1, 1, 1, 1)
    );
    assert_eq!(s.dropped(), 5);
    assert!(c.is_empty());
}
