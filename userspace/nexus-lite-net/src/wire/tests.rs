use super::*;
use alloc::vec;

const A: [u8; 4] = [10, 0, 2, 15];
const B: [u8; 4] = [10, 0, 2, 2];
const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];

/// Deterministic xorshift bytes for no-panic sweeps.
fn noise(seed: &mut u64, n: usize) -> Vec<u8> {
    (0..n)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            *seed as u8
        })
        .collect()
}

#[test]
fn checksum_known_vector() {
    // RFC 1071 §3 example words.
    let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
    assert_eq!(checksum::finish(checksum::add(0, &d)), !0xddf2);
    // A classic IPv4 header (checksum 0xb861).
    let h = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];
    assert_eq!(checksum::of(&h), 0xb861);
    // Odd length pads with zero.
    assert_eq!(checksum::of(&[0xff]), !0xff00);
}

#[test]
fn ethernet_roundtrip_and_truncation() {
    let f = eth::build(eth::BROADCAST, MAC, eth::TYPE_ARP, &[1, 2, 3]);
    let p = eth::parse(&f).unwrap();
    assert_eq!(
        (p.dst, p.src, p.ethertype, p.payload),
        (eth::BROADCAST, MAC, eth::TYPE_ARP, &[1u8, 2, 3][..])
    );
    for n in 0..eth::HEADER {
        assert_eq!(eth::parse(&f[..n]), Err(WireError::Truncated), "len {n}");
    }
    assert!(eth::parse(&f[..eth::HEADER]).unwrap().payload.is_empty());
    assert_eq!(
        eth::parse(&vec![0; eth::MAX_FRAME + 1]),
        Err(WireError::BadLength)
    );
}

#[test]
fn arp_roundtrip_truncation_and_unsupported() {
    let p = arp::Packet {
        op: arp::OP_REQUEST,
        sha: MAC,
        spa: A,
        tha: [0; 6],
        tpa: B,
    };
    let b = arp::build(&p);
    assert_eq!(arp::parse(&b), Ok(p));
    let mut padded = b.to_vec();
    padded.extend_from_slice(&[0; 18]);
    assert_eq!(arp::parse(&padded), Ok(p));
    for n in 0..arp::LEN {
        assert_eq!(arp::parse(&b[..n]), Err(WireError::Truncated));
    }
    for (i, v) in [(1, 6u8), (3, 0xdd), (4, 8), (5, 16), (7, 3)] {
        let mut x = b;
        x[i] = v;
        assert_eq!(arp::parse(&x), Err(WireError::Unsupported), "byte {i}");
    }
}

#[test]
fn ipv4_roundtrip_and_every_truncation() {
    let pkt = ipv4::build(A, B, ipv4::PROTO_UDP, 7, 64, b"payload");
    let p = ipv4::parse(&pkt).unwrap();
    assert_eq!(
        (p.src, p.dst, p.proto, p.ttl, p.ident, p.payload),
        (A, B, 17, 64, 7, &b"payload"[..])
    );
    for n in 0..pkt.len() {
        assert!(ipv4::parse(&pkt[..n]).is_err(), "truncated to {n}");
    }
    // Link padding after total length is trimmed.
    let mut padded = pkt.clone();
    padded.extend_from_slice(&[0xee; 10]);
    assert_eq!(ipv4::parse(&padded).unwrap().payload, b"payload");
}

fn fix_ip_checksum(h: &mut [u8]) {
    let hlen = usize::from(h[0] & 0xf) * 4;
    h[10] = 0;
    h[11] = 0;
    let c = checksum::of(&h[..hlen]);
    h[10..12].copy_from_slice(&c.to_be_bytes());
}

#[test]
fn ipv4_rejects_bad_fields() {
    let pkt = ipv4::build(A, B, ipv4::PROTO_ICMP, 1, 64, &[0; 8]);
    let with = |f: &dyn Fn(&mut Vec<u8>), fix: bool| {
        let mut p = pkt.clone();
        f(&mut p);
        if fix {
            fix_ip_checksum(&mut p);
        }
        ipv4::parse(&p).map(|_| ())
    };
    assert_eq!(with(&|p| p[0] = 0x65, true), Err(WireError::Unsupported));
    assert_eq!(with(&|p| p[0] = 0x44, false), Err(WireError::BadHeaderLen));
    assert_eq!(with(&|p| p[0] = 0x4f, false), Err(WireError::BadHeaderLen));
    assert_eq!(with(&|p| p[3] = 200, true), Err(WireError::BadLength));
    assert_eq!(with(&|p| p[3] = 19, true), Err(WireError::BadLength));
    assert_eq!(with(&|p| p[12] ^= 1, false), Err(WireError::BadChecksum));
    assert_eq!(with(&|p| p[6] = 0x20, true), Err(WireError::Fragmented));
    assert_eq!(with(&|p| p[7] = 1, true), Err(WireError::Fragmented));
    assert_eq!(with(&|p| p[6] = 0x40, true), Ok(()), "DF alone is fine");
    // IHL 6 (one option word) is accepted and skipped.
    let mut o = pkt[..20].to_vec();
    o.extend_from_slice(&[1, 1, 1, 1]);
    o.extend_from_slice(&pkt[20..]);
    o[0] = 0x46;
    o[3] += 4;
    fix_ip_checksum(&mut o);
    assert_eq!(ipv4::parse(&o).unwrap().payload, &[0u8; 8][..]);
}

#[test]
fn icmp_roundtrip_truncation_checksum() {
    let m = icmp::build_echo(icmp::ECHO_REQUEST, 0x1234, 9, b"abc");
    let p = icmp::parse(&m).unwrap();
    assert_eq!(
        (p.kind, p.code, p.ident, p.seq, p.data),
        (8, 0, 0x1234, 9, &b"abc"[..])
    );
    for n in 0..8 {
        assert_eq!(icmp::parse(&m[..n]), Err(WireError::Truncated));
    }
    for n in 8..m.len() {
        assert_eq!(icmp::parse(&m[..n]), Err(WireError::BadChecksum));
    }
    let mut bad = m.clone();
    bad[9] ^= 0x40;
    assert_eq!(icmp::parse(&bad), Err(WireError::BadChecksum));
}

#[test]
fn udp_roundtrip_length_and_checksum() {
    let d = udp::build(A, B, 1000, 7, b"hello");
    let p = udp::parse(A, B, &d).unwrap();
    assert_eq!(
        (p.src_port, p.dst_port, p.payload),
        (1000, 7, &b"hello"[..])
    );
    for n in 0..udp::HEADER {
        assert_eq!(udp::parse(A, B, &d[..n]), Err(WireError::Truncated));
    }
    for n in udp::HEADER..d.len() {
        assert_eq!(udp::parse(A, B, &d[..n]), Err(WireError::BadLength));
    }
    // Wrong pseudo-header (other source) fails the checksum.
    assert_eq!(
        udp::parse(B, A, &d[..]).map(|_| ()),
        Ok(()),
        "symmetric sum"
    );
    assert_eq!(udp::parse([1, 2, 3, 4], B, &d), Err(WireError::BadChecksum));
    let mut bad = d.clone();
    bad[9] ^= 1;
    assert_eq!(udp::parse(A, B, &bad), Err(WireError::BadChecksum));
    // Zero checksum = not computed.
    let mut z = bad.clone();
    z[6] = 0;
    z[7] = 0;
    assert_eq!(udp::parse(A, B, &z).unwrap().payload, b"hdllo");
    // length < 8, and trailing bytes past the UDP length are ignored.
    let mut l = d.clone();
    l[4] = 0;
    l[5] = 7;
    assert_eq!(udp::parse(A, B, &l), Err(WireError::BadLength));
    let mut t = d.clone();
    t.push(0);
    assert_eq!(udp::parse(A, B, &t).unwrap().payload, b"hello");
}

#[test]
fn dhcp_discover_bytes() {
    let d = dhcp::build_client(dhcp::DISCOVER, 0xdead_beef, MAC, None, None);
    assert_eq!(d.len(), 300);
    assert_eq!(&d[0..4], &[1, 1, 6, 0]);
    assert_eq!(&d[4..8], &[0xde, 0xad, 0xbe, 0xef]);
    assert_eq!(&d[10..12], &[0x80, 0]);
    assert_eq!(&d[12..28], &[0; 16], "ciaddr yiaddr siaddr giaddr");
    assert_eq!(&d[28..34], &MAC);
    assert_eq!(&d[236..240], &dhcp::COOKIE);
    assert_eq!(
        &d[240..256],
        &[53, 1, 1, 61, 7, 1, 2, 0, 0, 0, 0, 1, 55, 4, 1, 3]
    );
    assert_eq!(&d[256..259], &[6, 51, 255]);
    assert!(d[259..].iter().all(|&b| b == 0));
    let m = dhcp::parse(&d).unwrap();
    assert_eq!((m.op, m.xid, m.msg_type), (1, 0xdead_beef, Some(1)));

    let r = dhcp::build_client(dhcp::REQUEST, 1, MAC, Some(A), Some(B));
    assert_eq!(&r[240..243], &[53, 1, 3]);
    assert_eq!(&r[252..264], &[50, 4, 10, 0, 2, 15, 54, 4, 10, 0, 2, 2]);
}

/// A server reply with the given options bytes (no END appended).
pub(crate) fn server_msg(msg_type: u8, xid: u32, yiaddr: [u8; 4], extra: &[u8]) -> Vec<u8> {
    let mut v = vec![0u8; dhcp::OPTIONS_AT];
    v[0] = 2;
    v[1] = 1;
    v[2] = 6;
    v[4..8].copy_from_slice(&xid.to_be_bytes());
    v[16..20].copy_from_slice(&yiaddr);
    v[28..34].copy_from_slice(&MAC);
    v[236..240].copy_from_slice(&dhcp::COOKIE);
    v.extend_from_slice(&[53, 1, msg_type]);
    v.extend_from_slice(extra);
    v
}

#[test]
fn dhcp_parses_server_options() {
    let mut opts = vec![0, 0, 1, 4, 255, 255, 255, 0, 3, 8, 10, 0, 2, 2, 9, 9, 9, 9];
    opts.extend_from_slice(&[
        6, 4, 10, 0, 2, 3, 54, 4, 10, 0, 2, 2, 51, 4, 0, 0, 0x0e, 0x10,
    ]);
    opts.extend_from_slice(&[12, 3, b'a', b'b', b'c', 255, 77, 200]);
    let m = dhcp::parse(&server_msg(dhcp::OFFER, 5, A, &opts)).unwrap();
    assert_eq!(m.msg_type, Some(dhcp::OFFER));
    assert_eq!(m.yiaddr, A);
    assert_eq!(m.subnet_mask, Some([255, 255, 255, 0]));
    assert_eq!(m.router, Some(B));
    assert_eq!(m.dns, Some([10, 0, 2, 3]));
    assert_eq!(m.server_id, Some(B));
    assert_eq!(m.lease_secs, Some(3600));
    assert_eq!(m.chaddr, MAC);
}

#[test]
fn dhcp_rejects_malformed() {
    let good = server_msg(dhcp::OFFER, 5, A, &[54, 4, 10, 0, 2, 2, 255]);
    for n in 0..dhcp::OPTIONS_AT {
        assert_eq!(dhcp::parse(&good[..n]), Err(WireError::Truncated), "{n}");
    }
    // Cut inside options: an option running past the end is an error, a cut
    // exactly between options is not.
    for n in dhcp::OPTIONS_AT..good.len() {
        let r = dhcp::parse(&good[..n]);
        let boundary = [dhcp::OPTIONS_AT, dhcp::OPTIONS_AT + 3, dhcp::OPTIONS_AT + 9];
        assert_eq!(r.is_ok(), boundary.contains(&n), "{n}: {r:?}");
    }
    let runs_past = server_msg(dhcp::OFFER, 5, A, &[12, 200, 1, 2]);
    assert_eq!(dhcp::parse(&runs_past), Err(WireError::BadOption));
    let len_only = server_msg(dhcp::OFFER, 5, A, &[12]);
    assert_eq!(dhcp::parse(&len_only), Err(WireError::BadOption));
    for bad in [
        &[53, 2, 1, 1][..],
        &[1, 3, 255, 255, 255],
        &[3, 5, 1, 2, 3, 4, 5],
        &[3, 0],
        &[54, 2, 1, 1],
        &[51, 8, 0, 0, 0, 0, 0, 0, 0, 0],
    ] {
        assert_eq!(
            dhcp::parse(&server_msg(dhcp::OFFER, 5, A, bad)),
            Err(WireError::BadOption),
            "{bad:?}"
        );
    }
    let mut no_cookie = good.clone();
    no_cookie[237] = 0;
    assert_eq!(dhcp::parse(&no_cookie), Err(WireError::BadField));
    let mut htype = good.clone();
    htype[1] = 6;
    assert_eq!(dhcp::parse(&htype), Err(WireError::Unsupported));
}

#[test]
fn no_parser_panics_on_noise() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for i in 0..4000 {
        let n = i % 400;
        let mut b = noise(&mut seed, n);
        if i % 3 == 0 && n > 0 {
            b[0] = 0x45;
        }
        if i % 5 == 0 && n >= 240 {
            b[236..240].copy_from_slice(&dhcp::COOKIE);
            b[1] = 1;
            b[2] = 6;
        }
        let _ = eth::parse(&b);
        let _ = arp::parse(&b);
        let _ = ipv4::parse(&b);
        let _ = icmp::parse(&b);
        let _ = udp::parse(A, B, &b);
        let _ = dhcp::parse(&b);
    }
}
