//! Peer cache rules: binding, LRU eviction, expiry, exact repeats, counters, and the
//! discovery attacks of issue 13 replayed against the real cache (none of them steers it).

mod common;

use dsoftbus::cache::{MAX_PER_SOURCE, SOURCE_BURST, SOURCE_REFILL_NS};
use dsoftbus::{
    Accepted, Announce, CacheConfig, DecodeError, DeviceId, Invalid, PeerCache, PeerDirectory,
    Rejected, MAX_ANNOUNCE_LEN,
};
use nexus_net::Ipv4Addr;

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const EVIL: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 66);
const TTL: u64 = 1_000_000_000;

fn cache(capacity: usize) -> PeerCache {
    PeerCache::new(CacheConfig {
        capacity,
        ttl_ns: TTL,
    })
}

/// The device id bound to the key `[k; 32]`.
fn id(k: u8) -> String {
    DeviceId::of(&[k; 32]).as_str().to_string()
}

fn ann<'a>(id: &'a str, seq: u32, port: u16, key: u8, services: &[&'a str]) -> Announce<'a> {
    Announce::new(id, seq, port, [key; 32], services).unwrap()
}

#[test]
fn device_id_test_vector() {
    // docs/dsoftbus.md §1.1: hex(BLAKE2s-256("NXSB/device-id/v1" || 32 x 0x11)[..16]).
    assert_eq!(
        DeviceId::of(&[0x11; 32]).as_str(),
        "d3f132992f294750028d4aa1efad76a2"
    );
    assert!(DeviceId::binds(
        "d3f132992f294750028d4aa1efad76a2",
        &[0x11; 32]
    ));
    assert!(!DeviceId::binds(
        "D3F132992F294750028D4AA1EFAD76A2",
        &[0x11; 32]
    ));
    assert!(!DeviceId::binds("node9", &[0x11; 32]));
}

#[test]
fn lru_eviction_keeps_the_most_recently_announced() {
    let mut c = cache(3);
    let p: Vec<String> = (0..4).map(id).collect();
    for i in 0..3u8 {
        let from = Ipv4Addr::new(10, 0, 0, 10 + i);
        assert_eq!(
            c.observe(&ann(&p[i as usize], 1, 1000, i, &[]), from, i as u64),
            Ok(Accepted::New)
        );
    }
    // p0 announces again (exact repeat) -> most recent; p1 is now the LRU.
    let a10 = Ipv4Addr::new(10, 0, 0, 10);
    assert_eq!(
        c.observe(&ann(&p[0], 1, 1000, 0, &[]), a10, 10),
        Ok(Accepted::Refreshed)
    );
    assert_eq!(
        c.observe(&ann(&p[3], 1, 1000, 3, &[]), A, 11),
        Ok(Accepted::New)
    );
    assert_eq!(c.len(), 3);
    assert!(c.get(&p[1], 11).is_none(), "LRU victim");
    for i in [0, 2, 3] {
        assert!(c.get(&p[i], 11).is_some(), "p{i} kept");
    }
    assert_eq!(c.stats().evicted, 1);
    assert_eq!(c.stats().new, 4);
    assert_eq!(c.stats().refreshed, 1);
}

#[test]
fn full_cache_drops_expired_entries_before_evicting_live_ones() {
    let mut c = cache(2);
    let (old, live, new) = (id(1), id(2), id(3));
    c.observe(&ann(&old, 1, 1000, 1, &[]), A, 0).unwrap();
    c.observe(&ann(&live, 1, 1000, 2, &[]), A, 900).unwrap();
    // At TTL "old" has expired (0 + TTL), "live" has not.
    c.observe(&ann(&new, 1, 1000, 3, &[]), A, TTL).unwrap();
    assert!(c.get(&live, TTL).is_some());
    assert!(c.get(&new, TTL).is_some());
    assert_eq!(c.stats().expired, 1);
    assert_eq!(c.stats().evicted, 0);
}

#[test]
fn peers_that_stop_announcing_expire() {
    let mut c = cache(4);
    let (p, q) = (id(1), id(2));
    c.observe(&ann(&p, 1, 1000, 1, &["samgrd"]), B, 100)
        .unwrap();
    let e = c.get(&p, 100).unwrap();
    assert_eq!(e.session_addr().to_string(), "10.0.0.2:1000");
    assert!(e.offers("samgrd") && !e.offers("bundlemgrd"));
    assert!(c.get(&p, 100 + TTL - 1).is_some());
    assert!(
        c.get(&p, 100 + TTL).is_none(),
        "expired exactly at last_seen + ttl"
    );
    assert_eq!(c.live(100 + TTL).count(), 0);
    assert!(c.at(100 + TTL).static_key(&p).is_none());
    assert_eq!(c.at(100).static_key(&p), Some([1; 32]));
    assert_eq!(c.len(), 1, "still stored until purged");
    assert_eq!(c.purge_expired(100 + TTL), 1);
    assert!(c.is_empty());
    // An exact repeat before expiry extends the lifetime.
    c.observe(&ann(&q, 1, 1000, 2, &[]), B, 0).unwrap();
    c.observe(&ann(&q, 1, 1000, 2, &[]), B, TTL - 1).unwrap();
    assert!(c.get(&q, TTL + 5).is_some());
    assert_eq!(c.get(&q, TTL + 5).unwrap().first_seen_ns(), 0);
    assert_eq!(c.get(&q, TTL + 5).unwrap().last_seen_ns(), TTL - 1);
}

#[test]
fn ids_not_derived_from_the_key_are_dropped() {
    let mut c = cache(4);
    let dev = id(1);
    // Old-style chosen names and another device's id with our key: both unbound.
    for a in [ann("node-b", 1, 1000, 1, &[]), ann(&dev, 1, 1000, 2, &[])] {
        assert_eq!(c.observe(&a, A, 0), Err(Rejected::UnboundId));
    }
    assert_eq!(c.stats().unbound, 2);
    assert!(c.is_empty());
    c.observe(&ann(&dev, 1, 1000, 1, &[]), A, 0).unwrap();
    assert_eq!(
        c.observe(&ann(&dev, 2, 1000, 2, &[]), B, 1),
        Err(Rejected::UnboundId)
    );
    assert_eq!(c.get(&dev, 1).unwrap().static_key(), &[1; 32]);
}

#[test]
fn newer_sequence_updates_content() {
    let mut c = cache(4);
    let dev = id(1);
    c.observe(&ann(&dev, 5, 1000, 1, &["a"]), A, 0).unwrap();
    assert_eq!(
        c.observe(&ann(&dev, 6, 1000, 1, &["a"]), A, 1),
        Ok(Accepted::Refreshed)
    );
    assert_eq!(
        c.observe(&ann(&dev, 7, 2000, 1, &["a", "b"]), B, 2),
        Ok(Accepted::Updated)
    );
    let e = c.get(&dev, 2).unwrap();
    assert_eq!((e.seq(), e.port(), e.addr()), (7, 2000, B));
    assert_eq!(e.services(), &["a".to_string(), "b".to_string()]);
    assert_eq!(c.stats().updated, 1);
    // Older content from the same address is a replay; an old heartbeat refreshes only.
    assert_eq!(
        c.observe(&ann(&dev, 6, 1000, 1, &["a"]), B, 3),
        Err(Rejected::Replay)
    );
    assert_eq!(
        c.observe(&ann(&dev, 7, 2000, 1, &["a", "b"]), B, 4),
        Ok(Accepted::Refreshed)
    );
    assert_eq!(c.get(&dev, 4).unwrap().seq(), 7);
}

#[test]
fn own_announces_and_malformed_datagrams_are_counted() {
    let me = id(9);
    let mut c = cache(4).with_local_device_id(&me);
    assert_eq!(
        c.observe(&ann(&me, 1, 1000, 9, &[]), A, 0),
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
        c.ingest(b"NXSB\x02", A, 0),
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

// ------------------------------------------------------------------ attacks (issue 13)

/// (a) Fresh ids flood a full cache, then one claims the victim's id with the attacker's
/// key. The claim is unbound; the flood cannot evict a peer with a session, and one source
/// only ever holds `MAX_PER_SOURCE` entries.
#[test]
fn attack_flood_then_takeover_fails() {
    let mut c = PeerCache::new(CacheConfig {
        capacity: 16,
        ttl_ns: 60 * TTL,
    });
    let victim = id(0xb2);
    c.observe(&ann(&victim, 1, 37030, 0xb2, &[]), B, 0).unwrap();
    c.set_pins([(victim.as_str(), B)].into_iter());
    let mut t = 1;
    let mut accepted = 0;
    for k in 0..64u8 {
        let fresh = id(k);
        // Many source addresses, paced under the rate limit.
        let from = Ipv4Addr::new(10, 0, 1, k);
        t += SOURCE_REFILL_NS;
        if c.observe(&ann(&fresh, 1, 1, k, &[]), from, t).is_ok() {
            accepted += 1;
        }
    }
    assert!(accepted >= 15, "fresh ids do get in ({accepted})");
    assert!(
        c.get(&victim, t).is_some(),
        "the pinned victim was not evicted"
    );
    assert!(c.stats().evicted > 0);
    // The takeover announce itself: the victim's id with the attacker's key.
    assert_eq!(
        c.observe(&ann(&victim, 99, 4444, 0xee, &[]), EVIL, t),
        Err(Rejected::UnboundId)
    );
    let e = c.get(&victim, t).unwrap();
    assert_eq!(
        (e.static_key(), e.addr(), e.port()),
        (&[0xb2; 32], B, 37030)
    );
    // Even unpinned, a flood from one source address holds at most MAX_PER_SOURCE entries.
    let mut c = PeerCache::new(CacheConfig {
        capacity: 16,
        ttl_ns: 60 * TTL,
    });
    c.observe(&ann(&victim, 1, 37030, 0xb2, &[]), B, 0).unwrap();
    for k in 0..32u8 {
        let _ = c.observe(
            &ann(&id(k), 1, 1, k, &[]),
            EVIL,
            1 + u64::from(k) * SOURCE_REFILL_NS,
        );
    }
    assert!(c.get(&victim, 32 * SOURCE_REFILL_NS).is_some());
    assert_eq!(c.len(), 1 + MAX_PER_SOURCE);
    assert!(c.stats().source_limit > 0);
}

/// Every entry pinned: an unknown announce is dropped instead of evicting one.
#[test]
fn unknown_announce_never_evicts_a_pinned_peer() {
    let mut c = cache(2);
    let (p, q) = (id(1), id(2));
    c.observe(&ann(&p, 1, 1, 1, &[]), A, 0).unwrap();
    c.observe(&ann(&q, 1, 1, 2, &[]), B, 0).unwrap();
    c.set_pins([(p.as_str(), A), (q.as_str(), B)].into_iter());
    assert_eq!(
        c.observe(&ann(&id(3), 1, 1, 3, &[]), EVIL, 1),
        Err(Rejected::CacheFull)
    );
    assert_eq!(c.stats().full, 1);
    // Unpinned again (sessions gone): the LRU one makes room.
    c.set_pins(core::iter::empty());
    assert_eq!(
        c.observe(&ann(&id(3), 1, 1, 3, &[]), EVIL, 2),
        Ok(Accepted::New)
    );
}

/// (b) An attacker who announces first cannot take an id: with its own key the id is not
/// bound, and a replay of the victim's own announce from its address is overtaken by the
/// victim's next announce.
#[test]
fn attack_announce_first_does_not_win_the_id() {
    let mut c = cache(16);
    let victim = id(0xb2);
    assert_eq!(
        c.observe(&ann(&victim, 1, 4444, 0xee, &[]), EVIL, 0),
        Err(Rejected::UnboundId)
    );
    // A captured announce of the victim, re-sent first from the attacker's address.
    assert_eq!(
        c.observe(&ann(&victim, 1, 37030, 0xb2, &[]), EVIL, 1),
        Ok(Accepted::New)
    );
    assert_eq!(
        c.observe(&ann(&victim, 1, 37030, 0xb2, &[]), B, 2),
        Ok(Accepted::Updated)
    );
    assert_eq!(c.get(&victim, 2).unwrap().addr(), B);
}

/// (c) The victim's announce re-sent with `seq = u32::MAX` from another address: it cannot
/// redirect a peer with a session, and it never locks the victim's real announces out.
#[test]
fn attack_resequenced_replay_neither_redirects_nor_locks_out() {
    let victim = id(0xb2);
    // With a session (pinned): nothing moves.
    let mut c = cache(16);
    c.observe(&ann(&victim, 3, 37030, 0xb2, &["echo"]), B, 0)
        .unwrap();
    c.set_pins([(victim.as_str(), B)].into_iter());
    assert_eq!(
        c.observe(&ann(&victim, u32::MAX, 37030, 0xb2, &["echo"]), EVIL, 1),
        Err(Rejected::Pinned)
    );
    assert_eq!(c.get(&victim, 1).unwrap().addr(), B);
    // The real heartbeat (seq 3) still refreshes: its entry never expires.
    for t in (1..5).map(|i| i * TTL / 4) {
        assert_eq!(
            c.observe(&ann(&victim, 3, 37030, 0xb2, &["echo"]), B, t),
            Ok(Accepted::Refreshed)
        );
        let _ = c.observe(&ann(&victim, u32::MAX, 37030, 0xb2, &["echo"]), EVIL, t + 1);
    }
    assert!(c.get(&victim, 5 * TTL / 4).is_some());
    assert_eq!(c.stats().pinned, 5);

    // Without a session: the forger can move the hint, the real device moves it back at
    // its next announce; both keep alternating, so a dial at worst fails once.
    let mut c = cache(16);
    c.observe(&ann(&victim, 3, 37030, 0xb2, &[]), B, 0).unwrap();
    assert_eq!(
        c.observe(&ann(&victim, u32::MAX, 37030, 0xb2, &[]), EVIL, 1),
        Ok(Accepted::Updated)
    );
    assert_eq!(c.get(&victim, 1).unwrap().addr(), EVIL);
    assert_eq!(
        c.observe(&ann(&victim, 3, 37030, 0xb2, &[]), B, 2),
        Ok(Accepted::Updated),
        "the real announce is not a replay"
    );
    assert_eq!(c.get(&victim, 2).unwrap().addr(), B);
    // Same-address replay with seq = u32::MAX (a spoofed source): the real heartbeat, now
    // "older", still refreshes the entry instead of being locked out.
    c.observe(&ann(&victim, u32::MAX, 37030, 0xb2, &[]), B, 3)
        .unwrap();
    assert_eq!(
        c.observe(&ann(&victim, 3, 37030, 0xb2, &[]), B, TTL),
        Ok(Accepted::Refreshed)
    );
    assert!(c.get(&victim, TTL + 10).is_some());
}

/// Per-source rate limit: a burst, then one announce per refill period.
#[test]
fn announces_are_rate_limited_per_source() {
    let mut c = cache(16);
    let dev = id(1);
    let a = ann(&dev, 1, 1, 1, &[]);
    for _ in 0..SOURCE_BURST {
        assert!(c.observe(&a, EVIL, 0).is_ok());
    }
    assert_eq!(c.observe(&a, EVIL, 0), Err(Rejected::RateLimited));
    assert!(
        c.observe(&a, A, 0).is_ok(),
        "other sources keep their budget"
    );
    assert_eq!(
        c.observe(&a, EVIL, SOURCE_REFILL_NS),
        Ok(Accepted::Updated),
        "one more after a refill period"
    );
    assert_eq!(
        c.observe(&a, EVIL, SOURCE_REFILL_NS),
        Err(Rejected::RateLimited)
    );
    assert_eq!(c.stats().rate_limited, 2);
}
