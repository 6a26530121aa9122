//! Announce v2 codec: golden vector, bounds, and fuzz-style robustness.
//!
//! Design notes:
//! - The golden vector is pinned byte for byte here and in `docs/dsoftbus.md`; changing the
//!   layout must break this test.
//! - Robustness: every strict prefix of the golden vector must be `Truncated`, and tens of
//!   thousands of random mutations must decode to `Ok` or `Err` without panicking. Any
//!   mutation that still decodes must re-encode to exactly the same bytes (the encoding is
//!   canonical, so there is one byte string per announce).

mod common;

use common::{hex, unhex, Rng, GOLDEN_HEX};
use dsoftbus::{
    Announce, DecodeError, EncodeError, Invalid, MAX_ANNOUNCE_LEN, MAX_SERVICES, MIN_ANNOUNCE_LEN,
};

fn golden() -> Announce<'static> {
    Announce::new("node9", 1, 37020, [0x11; 32], &["samgrd", "bundlemgrd"])
        .unwrap()
        .with_display_name("kitchen")
        .unwrap()
}

#[test]
fn golden_vector_encodes_and_decodes() {
    let mut buf = [0u8; MAX_ANNOUNCE_LEN];
    let n = golden().encode(&mut buf).unwrap();
    assert_eq!(hex(&buf[..n]), GOLDEN_HEX);
    assert_eq!(n, 76);
    assert_eq!(golden().encoded_len(), 76);

    let bytes = unhex(GOLDEN_HEX);
    let a = Announce::decode(&bytes).unwrap();
    assert_eq!(a, golden());
    assert_eq!(a.device_id(), "node9");
    assert_eq!(a.seq(), 1);
    assert_eq!(a.port(), 37020);
    assert_eq!(a.static_key(), &[0x11; 32]);
    assert_eq!(a.services(), &["samgrd", "bundlemgrd"]);
    assert_eq!(a.display_name(), "kitchen");
}

#[test]
fn every_truncation_is_truncated() {
    let bytes = unhex(GOLDEN_HEX);
    for cut in 0..bytes.len() {
        assert_eq!(
            Announce::decode(&bytes[..cut]),
            Err(DecodeError::Truncated),
            "prefix of {cut} bytes"
        );
    }
}

#[test]
fn error_classes() {
    let good = unhex(GOLDEN_HEX);
    let mut bad = good.clone();
    bad[0] = b'X';
    assert_eq!(Announce::decode(&bad), Err(DecodeError::BadMagic));
    assert_eq!(Announce::decode(b"NXSA"), Err(DecodeError::BadMagic));
    assert_eq!(Announce::decode(b"Q"), Err(DecodeError::BadMagic));

    // v1 (no display name) is no longer spoken.
    let mut bad = good.clone();
    bad[4] = 1;
    assert_eq!(
        Announce::decode(&bad),
        Err(DecodeError::UnsupportedVersion(1))
    );

    let mut bad = good.clone();
    bad.push(0);
    assert_eq!(
        Announce::decode(&bad),
        Err(DecodeError::InvalidInput(Invalid::TrailingBytes))
    );

    let mut bad = good.clone();
    bad[9] = 0;
    bad[10] = 0;
    assert_eq!(
        Announce::decode(&bad),
        Err(DecodeError::InvalidInput(Invalid::ZeroPort))
    );

    // device id "node9" -> "nod\xff9"
    let mut bad = good.clone();
    bad[47] = 0xff;
    assert_eq!(Announce::decode(&bad), Err(DecodeError::Utf8));

    // id length 0
    let mut bad = good.clone();
    bad[43] = 0;
    assert_eq!(
        Announce::decode(&bad),
        Err(DecodeError::InvalidInput(Invalid::DeviceIdLength))
    );

    // "bundlemgrd" renamed "samgrd\0\0\0\0" is fine; renaming it to a duplicate is not.
    let dup = Announce::new("node9", 1, 37020, [0x11; 32], &["samgrd"]).unwrap();
    let mut buf = [0u8; MAX_ANNOUNCE_LEN];
    let n = dup.encode(&mut buf).unwrap();
    let mut bad = buf[..n - 1].to_vec();
    bad[49] = 2;
    bad.extend_from_slice(b"\x06samgrd\x00");
    assert_eq!(
        Announce::decode(&bad),
        Err(DecodeError::InvalidInput(Invalid::DuplicateService))
    );

    // The display name "kitchen" is the last 8 bytes: length 7, then the name.
    let at = good.len() - 8;
    let mut bad = good.clone();
    bad[at + 3] = 0x1b; // an ESC in the name
    assert_eq!(
        Announce::decode(&bad),
        Err(DecodeError::InvalidInput(Invalid::DisplayName))
    );
    let mut bad = good.clone();
    bad[at + 3] = 0xff;
    assert_eq!(Announce::decode(&bad), Err(DecodeError::Utf8));
    let mut bad = good[..at].to_vec();
    bad.push(65);
    bad.extend_from_slice(&[b'n'; 65]);
    assert_eq!(
        Announce::decode(&bad),
        Err(DecodeError::InvalidInput(Invalid::DisplayName))
    );
}

#[test]
fn encoder_enforces_decoder_bounds() {
    let long = "x".repeat(65);
    assert_eq!(
        Announce::new(&long, 1, 1, [0; 32], &[]),
        Err(Invalid::DeviceIdLength)
    );
    assert_eq!(
        Announce::new("a", 1, 1, [0; 32], &[long.as_str()]),
        Err(Invalid::ServiceNameLength)
    );
    assert_eq!(
        Announce::new("a", 1, 1, [0; 32], &[""]),
        Err(Invalid::ServiceNameLength)
    );
    let names: Vec<String> = (0..=MAX_SERVICES).map(|i| format!("s{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_eq!(
        Announce::new("a", 1, 1, [0; 32], &refs),
        Err(Invalid::ServiceCount)
    );
    assert!(Announce::new("a", 1, 1, [0; 32], &refs[..MAX_SERVICES]).is_ok());
    let min = Announce::new("a", 0, 1, [0; 32], &[]).unwrap();
    assert_eq!(min.encoded_len(), MIN_ANNOUNCE_LEN);
    assert_eq!(
        golden().encode(&mut [0u8; 67]),
        Err(EncodeError::BufferTooSmall)
    );
}

#[test]
fn random_mutations_never_panic_and_survivors_are_canonical() {
    let golden = unhex(GOLDEN_HEX);
    let mut rng = Rng(0xdecaf);
    let (mut ok, mut err) = (0u32, 0u32);
    let mut reencoded = vec![0u8; MAX_ANNOUNCE_LEN];
    for _ in 0..50_000 {
        let mut m = golden.clone();
        for _ in 0..=rng.below(4) {
            match rng.below(5) {
                0 | 1 => {
                    let i = rng.below(m.len());
                    m[i] ^= 1 << rng.below(8);
                }
                2 => {
                    let i = rng.below(m.len());
                    m[i] = rng.next_u64() as u8;
                }
                3 if !m.is_empty() => {
                    m.remove(rng.below(m.len()));
                }
                _ => {
                    let i = rng.below(m.len() + 1);
                    m.insert(i, rng.next_u64() as u8);
                }
            }
            if m.is_empty() {
                break;
            }
        }
        match Announce::decode(&m) {
            Ok(a) => {
                ok += 1;
                let n = a.encode(&mut reencoded).unwrap();
                assert_eq!(
                    &reencoded[..n],
                    &m[..],
                    "decoded mutation must be canonical"
                );
            }
            Err(_) => err += 1,
        }
    }
    assert!(
        ok > 100,
        "some mutations (e.g. in the key) still decode: {ok}"
    );
    assert!(err > 10_000, "most mutations are rejected: {err}");

    // Random garbage of every length up to one past the limit.
    for len in 0..=MAX_ANNOUNCE_LEN + 1 {
        let bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        let _ = Announce::decode(&bytes);
        let mut with_magic = bytes.clone();
        if len >= 5 {
            with_magic[..5].copy_from_slice(b"NXSB\x02");
            let _ = Announce::decode(&with_magic);
        }
    }
}
