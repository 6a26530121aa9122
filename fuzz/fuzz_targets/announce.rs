//! DSoftBus discovery: `Announce::decode` and the bounded `PeerCache`.
//!
//! The whole input is decoded as one datagram first (the classic decoder
//! target), then split into chunks that are ingested one by one into a small
//! cache (capacity 4, TTL 50 ms). `ctl` bits 0..1 pick the source address,
//! bits 2..7 advance the clock by that many milliseconds; a ctl of 0xff
//! purges expired entries instead.
//!
//! Every decodable chunk is ingested twice: as is (its id is almost never the
//! one derived from its key, so it tests the binding check) and with its id
//! rebound to its key (so the later rules run); ctl bit 0 then pins every live
//! entry to its address, as a daemon with sessions would.
//!
//! Invariants: never panics; a decoded announce re-encodes to the same bytes;
//! the cache never holds more than its capacity; an accepted announce has a
//! derived id and leaves a live entry with the announce's key, port and
//! services and a sequence number at least the announce's; a rejected one is
//! counted.
#![no_main]

use dsoftbus::{Announce, CacheConfig, DeviceId, PeerCache, MAX_ANNOUNCE_LEN};
use libfuzzer_sys::fuzz_target;
use neuron_fuzz::chunks;
use nexus_net::Ipv4Addr;

const MS: u64 = 1_000_000;
const CAPACITY: usize = 4;

fn roundtrip(datagram: &[u8]) -> Option<Announce<'_>> {
    let a = Announce::decode(datagram).ok()?;
    assert!(datagram.len() <= MAX_ANNOUNCE_LEN);
    let mut buf = [0u8; MAX_ANNOUNCE_LEN];
    assert_eq!(a.encoded_len(), datagram.len());
    let n = a.encode(&mut buf).expect("a decoded announce re-encodes");
    assert_eq!(&buf[..n], datagram, "announce decoding is not canonical");
    // Encoding into a short buffer fails cleanly.
    if n > 0 {
        assert!(a.encode(&mut buf[..n - 1]).is_err());
    }
    Some(a)
}

fn ingest(
    cache: &mut PeerCache,
    datagram: &[u8],
    decoded: Option<Announce<'_>>,
    from: Ipv4Addr,
    now: u64,
) {
    let dropped = cache.stats().dropped();
    match cache.ingest(datagram, from, now) {
        Ok(_) => {
            let a = decoded.expect("the cache accepted an undecodable announce");
            assert!(
                DeviceId::binds(a.device_id(), a.static_key()),
                "unbound id accepted"
            );
            let e = cache
                .get(a.device_id(), now)
                .expect("an accepted announce is live");
            assert_eq!(e.static_key(), a.static_key());
            // A same-content heartbeat with an older sequence number only refreshes.
            assert!(e.seq() >= a.seq());
            assert_eq!(e.port(), a.port());
            assert_eq!(e.services().len(), a.services().len());
            assert!(e.services().iter().zip(a.services()).all(|(x, y)| x == y));
        }
        Err(_) => assert_eq!(cache.stats().dropped(), dropped + 1),
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = roundtrip(data);

    let mut cache = PeerCache::new(CacheConfig {
        capacity: CAPACITY,
        ttl_ns: 50 * MS,
    })
    .with_local_device_id("self");
    let mut now = 1_000 * MS;
    for chunk in chunks(data).take(32) {
        if chunk.ctl == 0xff {
            cache.purge_expired(now);
            continue;
        }
        now += u64::from(chunk.ctl >> 2) * MS;
        let from = Ipv4Addr::new(10, 0, 0, 1 + (chunk.ctl & 3));
        let decoded = roundtrip(chunk.data);
        ingest(&mut cache, chunk.data, decoded, from, now);
        // The same announce with its device id rebound to its key, so the rules after
        // the binding check (rate limit, replay, pinning, capacity) are reached too.
        if let Some(a) = decoded {
            let id = DeviceId::of(a.static_key());
            if let Ok(b) = Announce::new(
                id.as_str(),
                a.seq(),
                a.port(),
                *a.static_key(),
                a.services(),
            ) {
                let mut buf = [0u8; MAX_ANNOUNCE_LEN];
                if let Ok(n) = b.encode(&mut buf) {
                    ingest(&mut cache, &buf[..n], Some(b), from, now);
                }
            }
            // Pin whatever is live from the first source, as a daemon with sessions would.
            if chunk.ctl & 1 == 1 {
                let live: Vec<(String, Ipv4Addr)> = cache
                    .live(now)
                    .map(|e| (e.device_id().to_string(), e.addr()))
                    .collect();
                cache.set_pins(live.iter().map(|(id, a)| (id.as_str(), *a)));
            }
        }
        assert!(cache.len() <= CAPACITY);
        assert!(cache.live(now).count() <= cache.len());
    }
});
