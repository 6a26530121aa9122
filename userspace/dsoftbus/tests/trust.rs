//! Trust store and trust record codec.

use dsoftbus::trust::{TrustStore, MAX_GRANTS, MAX_RECORD_LEN, MAX_TRUSTED};
use dsoftbus::{DeviceId, TrustEntry, TrustError, TrustOrigin};

fn key(n: u8) -> [u8; 32] {
    [n; 32]
}

fn entry(n: u8, services: &[&str]) -> TrustEntry {
    TrustEntry::new(key(n), "dev", services, TrustOrigin::Paired, 3, 1234).unwrap()
}

#[test]
fn entry_id_is_derived_from_the_key_and_a_foreign_id_is_refused() {
    let e = entry(0x11, &["echo"]);
    assert_eq!(e.device_id(), "d3f132992f294750028d4aa1efad76a2");
    let other = DeviceId::of(&key(0x22));
    assert_eq!(
        TrustEntry::with_id(
            other.as_str(),
            key(0x11),
            "x",
            &["echo"],
            TrustOrigin::Provisioned,
            0,
            0
        ),
        Err(TrustError::UnboundId)
    );
    assert!(TrustEntry::with_id(
        e.device_id(),
        key(0x11),
        "x",
        &["echo"],
        TrustOrigin::Provisioned,
        0,
        0
    )
    .is_ok());
}

#[test]
fn entry_bounds() {
    let long = "n".repeat(65);
    assert_eq!(
        TrustEntry::new(key(1), &long, &[] as &[&str], TrustOrigin::Paired, 0, 0),
        Err(TrustError::NameTooLong)
    );
    assert_eq!(
        TrustEntry::new(key(1), "", &[""], TrustOrigin::Paired, 0, 0),
        Err(TrustError::BadService)
    );
    assert_eq!(
        TrustEntry::new(key(1), "", &[long.as_str()], TrustOrigin::Paired, 0, 0),
        Err(TrustError::BadService)
    );
    assert_eq!(
        TrustEntry::new(key(1), "", &["a", "a"], TrustOrigin::Paired, 0, 0),
        Err(TrustError::BadService)
    );
    let nine: Vec<String> = (0..=MAX_GRANTS).map(|i| format!("s{i}")).collect();
    assert_eq!(
        TrustEntry::new(key(1), "", &nine, TrustOrigin::Paired, 0, 0),
        Err(TrustError::TooManyServices)
    );
}

#[test]
fn store_is_deny_by_default_and_per_peer() {
    let mut s = TrustStore::new();
    let x = entry(1, &["echo"]);
    let y = entry(2, &[]);
    assert!(!s.may_open(x.device_id(), &key(1), "echo"));
    s.insert(x.clone()).unwrap();
    s.insert(y.clone()).unwrap();
    assert!(s.may_open(x.device_id(), &key(1), "echo"));
    assert!(!s.may_open(x.device_id(), &key(1), "bulk"));
    assert!(!s.may_open(y.device_id(), &key(2), "echo"));
    assert!(s.trusts(y.device_id(), &key(2)));
    // The pinned key, not the id alone, is what is trusted.
    assert!(!s.trusts(x.device_id(), &key(9)));
    assert!(!s.may_open(x.device_id(), &key(9), "echo"));
    s.grant(y.device_id(), &["echo", "bulk"]).unwrap();
    assert!(s.may_open(y.device_id(), &key(2), "bulk"));
    assert_eq!(s.grant("nobody", &["echo"]), Err(TrustError::Unknown));
    assert_eq!(
        s.grant(y.device_id(), &["a", "a"]),
        Err(TrustError::BadService)
    );
    assert!(s.remove(x.device_id()).is_some());
    assert!(!s.may_open(x.device_id(), &key(1), "echo"));
    assert!(s.remove(x.device_id()).is_none());
}

#[test]
fn store_is_bounded_and_pages_in_id_order() {
    let mut s = TrustStore::new();
    for n in 0..MAX_TRUSTED as u8 {
        assert_eq!(s.insert(entry(n, &[])), Ok(None));
    }
    assert_eq!(s.insert(entry(200, &[])), Err(TrustError::Full));
    // Replacing an existing device is still possible when full.
    assert!(matches!(s.insert(entry(5, &["echo"])), Ok(Some(_))));
    assert_eq!(s.len(), MAX_TRUSTED);
    let ids: Vec<&str> = s.iter().map(|e| e.device_id()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
    let mut paged = Vec::new();
    let mut after = String::new();
    loop {
        let page: Vec<String> = s
            .page(&after, 4)
            .map(|e| e.device_id().to_string())
            .collect();
        if page.is_empty() {
            break;
        }
        after = page.last().unwrap().clone();
        paged.extend(page);
    }
    assert_eq!(paged, ids);
}

#[test]
fn record_round_trips_and_is_canonical() {
    let full: Vec<String> = (0..MAX_GRANTS).map(|i| format!("{i}").repeat(64)).collect();
    let e = TrustEntry::new(
        key(7),
        &"n".repeat(64),
        &full,
        TrustOrigin::Provisioned,
        u32::MAX,
        u64::MAX,
    )
    .unwrap();
    let rec = e.encode();
    assert_eq!(rec.len(), MAX_RECORD_LEN);
    assert_eq!(rec.len(), e.record_len());
    assert_eq!(TrustEntry::decode(&rec), Ok(e));
    let small = entry(0x11, &["echo"]);
    let rec = small.encode();
    // Golden bytes (docs/dsoftbus.md §15.2).
    let mut want = b"NXTR\x01".to_vec();
    want.extend_from_slice(&[0x11; 32]);
    want.extend_from_slice(&[0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0x04, 0xd2, 3]);
    want.extend_from_slice(b"dev\x01\x04echo");
    assert_eq!(rec, want);
    assert_eq!(TrustEntry::decode(&rec).unwrap(), small);
}

#[test]
fn record_decoder_is_total_on_garbage_and_truncation() {
    let rec = entry(3, &["echo", "bulk"]).encode();
    for n in 0..rec.len() {
        assert!(TrustEntry::decode(&rec[..n]).is_err(), "prefix {n}");
    }
    let mut long = rec.clone();
    long.push(0);
    assert_eq!(TrustEntry::decode(&long), Err(TrustError::BadRecord));
    assert_eq!(
        TrustEntry::decode(&[0u8; MAX_RECORD_LEN + 1]),
        Err(TrustError::BadRecord)
    );
    let bad = |i: usize, v: u8| {
        let mut r = rec.clone();
        r[i] = v;
        TrustEntry::decode(&r)
    };
    assert_eq!(bad(0, b'X'), Err(TrustError::BadRecord), "magic");
    assert_eq!(bad(4, 2), Err(TrustError::BadRecord), "version");
    assert_eq!(bad(37, 2), Err(TrustError::BadRecord), "origin");
    assert_eq!(bad(50, 65), Err(TrustError::BadRecord), "name length");
    // Deterministic pseudo-random mutation: never a panic; whatever decodes re-encodes.
    let mut x: u32 = 0x1234_5678;
    for _ in 0..20_000 {
        let mut r = rec.clone();
        for _ in 0..3 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let i = x as usize % r.len();
            r[i] = (x >> 8) as u8;
        }
        x ^= x << 13;
        r.truncate(x as usize % (r.len() + 1));
        if let Ok(e) = TrustEntry::decode(&r) {
            assert_eq!(e.encode(), r);
        }
    }
}
