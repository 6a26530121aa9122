//! Inputs found by the coverage-guided fuzzers (`fuzz/`, `scripts/fuzz.sh`),
//! pinned so the fixes stay in place. Each test names the fuzz target that
//! found the input.

use nexus_net::wire::encode_error_reply;
use nexus_net::{decode_reply, encode_reply, IfaceInfo, Ipv4Addr, NetError, Reply};

/// `facade_request`: a `LocalAddr` reply without a gateway (flags 0) but a
/// non-zero gateway field decoded, and the field was silently dropped, so
/// the reply did not re-encode to the same bytes. The field must be zero
/// when absent (docs/sockets-facade.md), so the reply is `Malformed`.
#[test]
fn local_addr_reply_with_gateway_bytes_but_no_gateway_flag_is_malformed() {
    let crash: [u8; 28] = [
        110, 1, 64, 0, 6, 0, 0, 0, 7, 0, 0, 0, 0, 0, 12, 0, // header
        0, 0, 0, 64, // addr
        0, 4, 0, 0, // gateway field, but flags say "no gateway"
        0, 0, // prefix_len, flags
        8, 0, // mtu
    ];
    assert_eq!(decode_reply(&crash), Err(NetError::Malformed));

    // The same reply with the field zeroed decodes and re-encodes exactly.
    let mut canonical = crash;
    canonical[21] = 0;
    let m = decode_reply(&canonical).unwrap();
    let info = IfaceInfo {
        addr: Ipv4Addr::new(0, 0, 0, 64),
        prefix_len: 0,
        gateway: None,
        mtu: 8,
    };
    assert_eq!(m.body, Ok(Reply::LocalAddr(info)));
    let mut buf = [0u8; 64];
    let n = encode_reply(&Reply::LocalAddr(info), 6, 7, &mut buf).unwrap();
    assert_eq!(&buf[..n], &canonical[..]);

    // With the gateway flag set, the field is the gateway.
    let mut with_gw = crash;
    with_gw[25] = 1;
    let m = decode_reply(&with_gw).unwrap();
    let Ok(Reply::LocalAddr(i)) = m.body else {
        panic!("not a LocalAddr reply: {m:?}");
    };
    assert_eq!(i.gateway, Some(Ipv4Addr::new(0, 4, 0, 0)));
    // Error replies are unaffected.
    let n = encode_error_reply(0x40, NetError::Unsupported, 6, 7, &mut buf).unwrap();
    assert_eq!(
        decode_reply(&buf[..n]).unwrap().body,
        Err(NetError::Unsupported)
    );
}
