//! Wire codec tests: round trips for every op and reply, exact byte layouts, limits.
//!
//! Design notes
//! ------------
//! Golden byte vectors pin the layouts documented in `docs/sockets-facade.md`
//! so that a silent layout change fails here, not on a device.

mod common;

use common::{encode, sample_requests};
use nexus_net::wire::{
    encode_error_reply, ReplyHeader, REPLY_HEADER_LEN, REPLY_MAGIC, REQUEST_HEADER_LEN,
    REQUEST_MAGIC,
};
use nexus_net::{
    decode_reply, decode_request, encode_reply, encode_request, Handle, IfaceInfo, NetError, Op,
    Readiness, Reply, Request, SocketAddrV4, TcpListener, TcpStream, UdpSocket, FACADE_MSG_MAX,
    MAX_DATAGRAM, MAX_IO, MAX_SHARED_IO, MAX_SHARED_REGION,
};

fn sample_replies() -> Vec<Reply<'static>> {
    static BIG: [u8; MAX_IO] = [0x5A; MAX_IO];
    let h = |r| Handle::from_raw(r);
    vec![
        Reply::TcpListen {
            listener: TcpListener::from_handle(h(0x100)),
            port: 7000,
        },
        Reply::TcpAccept {
            stream: TcpStream::from_handle(h(0x201)),
            peer: SocketAddrV4::new([10, 0, 0, 7].into(), 50000),
        },
        Reply::TcpConnect {
            stream: TcpStream::from_handle(h(0x302)),
            local_port: 49152,
        },
        Reply::TcpRead { data: b"" },
        Reply::TcpRead { data: b"abc" },
        Reply::TcpRead { data: &BIG },
        Reply::TcpWrite { written: 4096 },
        Reply::TcpShutdown,
        Reply::UdpBind {
            socket: UdpSocket::from_handle(h(0x403)),
            port: 6000,
        },
        Reply::UdpSendTo { sent: 0 },
        Reply::UdpRecvFrom {
            from: SocketAddrV4::new([192, 168, 1, 20].into(), 6000),
            data: &BIG[..MAX_DATAGRAM],
        },
        Reply::Close,
        Reply::Wait {
            ready: Readiness::READABLE | Readiness::HUP | Readiness::ERROR,
        },
        Reply::WaitAny { ready_mask: 0x8001 },
        Reply::WaitArm { ready_mask: 0 },
        Reply::WaitArm { ready_mask: 0x0002 },
        Reply::LocalAddr(IfaceInfo {
            addr: [10, 0, 2, 15].into(),
            prefix_len: 24,
            gateway: Some([10, 0, 2, 2].into()),
            mtu: 1500,
        }),
        Reply::LocalAddr(IfaceInfo {
            addr: [10, 0, 2, 15].into(),
            prefix_len: 32,
            gateway: None,
            mtu: 9000,
        }),
        Reply::Ping {
            seq: 3,
            rtt_ns: 1_500_000,
        },
        Reply::Stats(nexus_net::wire::ServerStats {
            clients: 2,
            handles: 5,
            parked: 1,
            sockets: 7,
            buffer_bytes: 0x0102_0304,
        }),
        Reply::LinkInfo(nexus_net::LinkInfo {
            mac: [2, 0, 0, 0, 0, 1],
            source: nexus_net::AddrSource::Dhcp,
            lease_secs: 86400,
            age_secs: 3,
        }),
        Reply::LinkInfo(nexus_net::LinkInfo::default()),
        Reply::TcpReadShared { read: 0 },
        Reply::TcpReadShared {
            read: MAX_SHARED_IO as u32,
        },
        Reply::TcpWriteShared { written: 1 },
        Reply::AttachShared {
            len: MAX_SHARED_REGION as u32,
        },
        Reply::DetachShared,
    ]
}

#[test]
fn shared_region_ops_layout_is_pinned_and_ranges_refused() {
    let s = TcpStream::from_handle(Handle::from_raw(0x0403_0201));
    let req = Request::TcpWriteShared {
        stream: s,
        offset: 0x0003_0605,
        len: 0x1000,
    };
    let mut buf = vec![0u8; FACADE_MSG_MAX];
    let n = encode_request(&req, 0x11, 0, &mut buf).unwrap();
    #[rustfmt::skip]
    let golden = [
        REQUEST_MAGIC, 1, 0x08, 0,
        0x11, 0, 0, 0,                      // correlation
        0, 0, 0, 0,                         // server instance
        12, 0, 0, 0,                        // body length, reserved
        0x01, 0x02, 0x03, 0x04,             // stream
        0x05, 0x06, 0x03, 0x00,             // offset
        0x00, 0x10, 0x00, 0x00,             // len
    ];
    assert_eq!(&buf[..n], &golden);
    // The same layout for a read (op 0x07); attach and detach have no body.
    let read = Request::TcpReadShared {
        stream: s,
        offset: 0x0003_0605,
        max: 0x1000,
    };
    let n = encode_request(&read, 0x11, 0, &mut buf).unwrap();
    assert_eq!(buf[2], 0x07);
    assert_eq!(&buf[16..n], &golden[16..]);
    let n = encode_request(&Request::AttachShared, 0x11, 0, &mut buf).unwrap();
    assert_eq!((n, buf[2]), (REQUEST_HEADER_LEN, 0x50));
    let n = encode_request(&Request::DetachShared, 0x11, 0, &mut buf).unwrap();
    assert_eq!((n, buf[2]), (REQUEST_HEADER_LEN, 0x51));
    // Ranges: empty, over MAX_SHARED_IO, past the largest region, or
    // wrapping are refused by the encoder and, forged, by the decoder.
    let bad = [
        (0, 0),
        (0, MAX_SHARED_IO as u32 + 1),
        (MAX_SHARED_REGION as u32 - 1, 2),
        (u32::MAX, 1),
    ];
    for (offset, len) in bad {
        let r = Request::TcpWriteShared {
            stream: s,
            offset,
            len,
        };
        assert_eq!(
            encode_request(&r, 1, 0, &mut buf),
            Err(NetError::InvalidInput)
        );
        let mut forged = golden;
        forged[20..24].copy_from_slice(&offset.to_le_bytes());
        forged[24..28].copy_from_slice(&len.to_le_bytes());
        assert_eq!(
            decode_request(&forged).err().map(|e| e.error),
            Some(NetError::InvalidInput),
            "{offset:#x}+{len:#x}"
        );
    }
    // Replies: a u32 count; over MAX_SHARED_IO (or an empty or oversized
    // region) is malformed.
    let n = encode_reply(&Reply::TcpWriteShared { written: 0x0102 }, 9, 5, &mut buf).unwrap();
    assert_eq!(&buf[16..n], &[2, 1, 0, 0]);
    buf[16..20].copy_from_slice(&(MAX_SHARED_IO as u32 + 1).to_le_bytes());
    assert_eq!(decode_reply(&buf[..n]).err(), Some(NetError::Malformed));
    let n = encode_reply(&Reply::AttachShared { len: 4096 }, 9, 5, &mut buf).unwrap();
    assert_eq!(&buf[16..n], &[0, 0x10, 0, 0]);
    buf[16..20].copy_from_slice(&0u32.to_le_bytes());
    assert_eq!(decode_reply(&buf[..n]).err(), Some(NetError::Malformed));
    buf[16..20].copy_from_slice(&(MAX_SHARED_REGION as u32 + 1).to_le_bytes());
    assert_eq!(decode_reply(&buf[..n]).err(), Some(NetError::Malformed));
}

#[test]
fn link_info_layout_is_pinned_and_bad_source_refused() {
    let mut buf = vec![0u8; FACADE_MSG_MAX];
    let rep = Reply::LinkInfo(nexus_net::LinkInfo {
        mac: [2, 0, 0, 0, 0, 1],
        source: nexus_net::AddrSource::Dhcp,
        lease_secs: 0x0102_0304,
        age_secs: 5,
    });
    let n = encode_reply(&rep, 0x11, 0x22, &mut buf).unwrap();
    assert_eq!(n, 16 + 16);
    assert_eq!(buf[2], 0x43);
    assert_eq!(
        &buf[16..n],
        &[2, 0, 0, 0, 0, 1, 2, 0, 4, 3, 2, 1, 5, 0, 0, 0]
    );
    let mut bad = buf[..n].to_vec();
    bad[16 + 6] = 4; // no such source
    assert_eq!(decode_reply(&bad).err(), Some(NetError::Malformed));
    let mut bad = buf[..n].to_vec();
    bad[16 + 7] = 1; // padding
    assert_eq!(decode_reply(&bad).err(), Some(NetError::Malformed));
}

#[test]
fn stats_reply_layout_is_pinned() {
    let mut buf = vec![0u8; FACADE_MSG_MAX];
    let rep = Reply::Stats(nexus_net::wire::ServerStats {
        clients: 1,
        handles: 2,
        parked: 3,
        sockets: 4,
        buffer_bytes: 5,
    });
    let n = encode_reply(&rep, 0x11, 0x22, &mut buf).unwrap();
    assert_eq!(n, 16 + 20);
    assert_eq!(
        &buf[16..n],
        &[1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5, 0, 0, 0]
    );
}

#[test]
fn wait_any_layout_is_pinned_and_strict() {
    let mut buf = vec![0u8; FACADE_MSG_MAX];
    let mut set = nexus_net::WaitSet::new();
    set.push(Handle::from_raw(0x0102), Readiness::READABLE)
        .unwrap();
    set.push(Handle::from_raw(0x0203), Readiness::WRITABLE)
        .unwrap();
    let req = Request::WaitAny {
        set,
        deadline_ns: 0x1122_3344_5566_7788,
    };
    let n = encode_request(&req, 9, 0, &mut buf).unwrap();
    assert_eq!(n, 16 + 12 + 16);
    assert_eq!(buf[2], 0x31);
    assert_eq!(
        &buf[16..n],
        &[
            0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 2, 0, 0, 0, //
            0x02, 0x01, 0, 0, 1, 0, 0, 0, //
            0x03, 0x02, 0, 0, 2, 0, 0, 0,
        ]
    );
    assert_eq!(decode_request(&buf[..n]).unwrap().1, req);
    // Undefined or non-interest bits, and an empty set, are range errors.
    let mut bad = buf[..n].to_vec();
    bad[16 + 12 + 4] = Readiness::HUP.bits();
    assert_eq!(
        decode_request(&bad).err().map(|e| e.error),
        Some(NetError::InvalidInput)
    );
    let mut empty = buf[..16 + 12].to_vec();
    empty[16 + 8] = 0;
    empty[12] = 12;
    assert_eq!(
        decode_request(&empty).err().map(|e| e.error),
        Some(NetError::InvalidInput)
    );
    // More entries than fit in a set.
    let mut many = buf[..n].to_vec();
    many[16 + 8] = 17;
    assert!(decode_request(&many).is_err());
    let mut full = nexus_net::WaitSet::new();
    for i in 0..nexus_net::MAX_WAIT_SET {
        full.push(Handle::from_raw(i as u32 + 1), Readiness::READABLE)
            .unwrap();
    }
    assert_eq!(
        full.push(Handle::from_raw(99), Readiness::READABLE),
        Err(NetError::NoBufs)
    );
    // A zero ready mask is not a valid reply.
    let n = encode_reply(&Reply::WaitAny { ready_mask: 1 }, 3, 1, &mut buf).unwrap();
    assert_eq!(&buf[16..n], &[1, 0, 0, 0]);
    buf[16] = 0;
    assert_eq!(decode_reply(&buf[..n]).err(), Some(NetError::Malformed));
}

#[test]
fn wait_arm_layout_is_pinned_and_strict() {
    let mut buf = vec![0u8; FACADE_MSG_MAX];
    let mut set = nexus_net::WaitSet::new();
    set.push(Handle::from_raw(0x0102), Readiness::READABLE)
        .unwrap();
    set.push(
        Handle::from_raw(0x0203),
        Readiness::READABLE | Readiness::WRITABLE,
    )
    .unwrap();
    let req = Request::WaitArm { set };
    let n = encode_request(&req, 9, 0, &mut buf).unwrap();
    assert_eq!(
        &buf[..n],
        &[
            0x4E, 1, 0x32, 0, 9, 0, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0, //
            2, 0, 0, 0, //
            0x02, 0x01, 0, 0, 1, 0, 0, 0, //
            0x03, 0x02, 0, 0, 3, 0, 0, 0,
        ]
    );
    assert_eq!(decode_request(&buf[..n]).unwrap().1, req);
    // Undefined or non-interest bits, an empty set, too many entries.
    let mut bad = buf[..n].to_vec();
    bad[16 + 4 + 4] = Readiness::ERROR.bits();
    assert_eq!(
        decode_request(&bad).err().map(|e| e.error),
        Some(NetError::InvalidInput)
    );
    let mut empty = buf[..16 + 4].to_vec();
    empty[16] = 0;
    empty[12] = 4;
    assert_eq!(
        decode_request(&empty).err().map(|e| e.error),
        Some(NetError::InvalidInput)
    );
    let mut many = buf[..n].to_vec();
    many[16] = 17;
    assert_eq!(
        decode_request(&many).err().map(|e| e.error),
        Some(NetError::Malformed)
    );
    // The reply: the ready mask (0 = armed) and two zero bytes.
    let n = encode_reply(&Reply::WaitArm { ready_mask: 0 }, 9, 5, &mut buf).unwrap();
    assert_eq!(&buf[16..n], &[0, 0, 0, 0]);
    assert_eq!(buf[2], 0x32);
    let n = encode_reply(&Reply::WaitArm { ready_mask: 0x0102 }, 9, 5, &mut buf).unwrap();
    assert_eq!(&buf[16..n], &[2, 1, 0, 0]);
    buf[18] = 1;
    assert_eq!(decode_reply(&buf[..n]).err(), Some(NetError::Malformed));
}

#[test]
fn every_request_round_trips() {
    let reqs = sample_requests();
    let ops: std::collections::HashSet<u8> = reqs.iter().map(|r| r.op() as u8).collect();
    assert_eq!(ops.len(), Op::ALL.len(), "samples cover every op");
    for (i, req) in reqs.iter().enumerate() {
        let corr = 0xA000_0000 + i as u32;
        let bytes = encode(req, corr, 77);
        assert!(bytes.len() <= FACADE_MSG_MAX);
        let (hdr, back) = decode_request(&bytes).unwrap_or_else(|e| panic!("{req:?}: {e:?}"));
        assert_eq!(&back, req);
        assert_eq!(hdr.correlation, corr);
        assert_eq!(hdr.instance, 77);
        assert_eq!(hdr.op, req.op() as u8);
        assert_eq!(hdr.flags, 0);
    }
}

#[test]
fn every_reply_round_trips() {
    let replies = sample_replies();
    let ops: std::collections::HashSet<u8> = replies.iter().map(|r| r.op() as u8).collect();
    assert_eq!(ops.len(), Op::ALL.len(), "samples cover every op");
    let mut buf = vec![0u8; FACADE_MSG_MAX];
    for (i, rep) in replies.iter().enumerate() {
        let corr = 0x5000 + i as u32;
        let n = encode_reply(rep, corr, 9, &mut buf).unwrap();
        let msg = decode_reply(&buf[..n]).unwrap_or_else(|e| panic!("{rep:?}: {e:?}"));
        assert_eq!(msg.body, Ok(*rep));
        assert_eq!(
            msg.header,
            ReplyHeader {
                op: rep.op() as u8,
                correlation: corr,
                instance: 9,
                status: 0
            }
        );
    }
}

#[test]
fn error_replies_round_trip_for_every_error_and_op() {
    let mut buf = [0u8; 64];
    for op in Op::ALL.iter().map(|o| *o as u8).chain([0u8, 0x99]) {
        for (i, e) in NetError::ALL.iter().enumerate() {
            let corr = u32::from(op) << 16 | i as u32;
            let n = encode_error_reply(op, *e, corr, 3, &mut buf).unwrap();
            assert_eq!(n, REPLY_HEADER_LEN);
            let msg = decode_reply(&buf[..n]).unwrap();
            assert_eq!(msg.body, Err(*e));
            assert_eq!(msg.header.correlation, corr);
            assert_eq!(msg.header.op, op);
            assert_eq!(msg.header.status, e.code());
        }
    }
}

#[test]
fn request_layout_is_byte_exact() {
    let req = Request::TcpWrite {
        stream: TcpStream::from_handle(Handle::from_raw(0x0102_0304)),
        data: b"hi",
    };
    let bytes = encode(&req, 0xA1B2_C3D4, 0x0000_0007);
    #[rustfmt::skip]
    let want = [
        REQUEST_MAGIC, 1, 0x05, 0,          // magic, version, op TcpWrite, flags
        0xD4, 0xC3, 0xB2, 0xA1,             // correlation
        0x07, 0, 0, 0,                      // server instance
        10, 0, 0, 0,                        // body length, reserved
        0x04, 0x03, 0x02, 0x01,             // handle
        2, 0, 0, 0,                         // data length, pad
        b'h', b'i',
    ];
    assert_eq!(bytes, want);

    let ping = Request::Ping {
        addr: [10, 0, 0, 1].into(),
        seq: 0x0102,
        deadline_ns: 0x0807_0605_0403_0201,
    };
    let bytes = encode(&ping, 1, 0);
    assert_eq!(&bytes[..4], &[REQUEST_MAGIC, 1, 0x41, 0]);
    assert_eq!(&bytes[12..14], &[16, 0]);
    assert_eq!(
        &bytes[16..],
        &[10, 0, 0, 1, 2, 1, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]
    );
}

#[test]
fn reply_layout_is_byte_exact() {
    let rep = Reply::UdpRecvFrom {
        from: SocketAddrV4::new([192, 168, 0, 9].into(), 0x1770),
        data: b"xyz",
    };
    let mut buf = [0u8; 64];
    let n = encode_reply(&rep, 0x0000_0102, 0x0A0B_0C0D, &mut buf).unwrap();
    #[rustfmt::skip]
    let want = [
        REPLY_MAGIC, 1, 0x12, 0,            // magic, version, op echo, reserved
        0x02, 0x01, 0, 0,                   // correlation
        0x0D, 0x0C, 0x0B, 0x0A,             // server instance
        0, 0, 11, 0,                        // status ok, body length
        192, 168, 0, 9, 0x70, 0x17, 3, 0,   // from ip, port, data length
        b'x', b'y', b'z',
    ];
    assert_eq!(&buf[..n], &want);

    let n = encode_error_reply(0x04, NetError::WouldBlock, 5, 6, &mut buf).unwrap();
    assert_eq!(
        &buf[..n],
        &[REPLY_MAGIC, 1, 0x04, 0, 5, 0, 0, 0, 6, 0, 0, 0, 1, 0, 0, 0]
    );
}

#[test]
fn largest_payloads_fit_in_one_message_and_one_more_byte_is_refused() {
    let big = vec![1u8; MAX_IO + 1];
    let s = TcpStream::from_handle(Handle::from_raw(0x101));
    let u = UdpSocket::from_handle(Handle::from_raw(0x102));
    let to = SocketAddrV4::new([10, 0, 0, 1].into(), 9);
    let mut buf = vec![0u8; FACADE_MSG_MAX];

    let ok = Request::TcpWrite {
        stream: s,
        data: &big[..MAX_IO],
    };
    let n = encode_request(&ok, 1, 0, &mut buf).unwrap();
    assert_eq!(n, REQUEST_HEADER_LEN + 8 + MAX_IO);
    let too_big = Request::TcpWrite {
        stream: s,
        data: &big,
    };
    assert_eq!(
        encode_request(&too_big, 1, 0, &mut buf),
        Err(NetError::InvalidInput)
    );

    let ok = Request::UdpSendTo {
        socket: u,
        to,
        data: &big[..MAX_DATAGRAM],
    };
    assert!(encode_request(&ok, 1, 0, &mut buf).is_ok());
    let too_big = Request::UdpSendTo {
        socket: u,
        to,
        data: &big[..MAX_DATAGRAM + 1],
    };
    assert_eq!(
        encode_request(&too_big, 1, 0, &mut buf),
        Err(NetError::InvalidInput)
    );

    let rep = Reply::TcpRead {
        data: &big[..MAX_IO],
    };
    assert_eq!(
        encode_reply(&rep, 1, 1, &mut buf),
        Ok(REPLY_HEADER_LEN + 4 + MAX_IO)
    );
    let rep = Reply::TcpRead { data: &big };
    assert_eq!(
        encode_reply(&rep, 1, 1, &mut buf),
        Err(NetError::InvalidInput)
    );
    let rep = Reply::UdpRecvFrom {
        from: to,
        data: &big[..MAX_DATAGRAM + 1],
    };
    assert_eq!(
        encode_reply(&rep, 1, 1, &mut buf),
        Err(NetError::InvalidInput)
    );
}

#[test]
fn encoders_report_every_too_small_buffer() {
    for req in sample_requests() {
        let full = encode(&req, 1, 0).len();
        for len in 0..full {
            let mut buf = vec![0u8; len];
            assert_eq!(
                encode_request(&req, 1, 0, &mut buf),
                Err(NetError::NoBufs),
                "{req:?} into {len}"
            );
        }
    }
    for rep in sample_replies() {
        let mut big = vec![0u8; FACADE_MSG_MAX];
        let full = encode_reply(&rep, 1, 1, &mut big).unwrap();
        let lens = [0, 1, REPLY_HEADER_LEN - 1, REPLY_HEADER_LEN, full - 1];
        for len in lens.into_iter().filter(|l| *l < full) {
            let mut buf = vec![0u8; len];
            assert_eq!(
                encode_reply(&rep, 1, 1, &mut buf),
                Err(NetError::NoBufs),
                "{rep:?} into {len}"
            );
        }
    }
    let mut small = [0u8; REPLY_HEADER_LEN - 1];
    assert_eq!(
        encode_error_reply(1, NetError::Closed, 1, 1, &mut small),
        Err(NetError::NoBufs)
    );
}

#[test]
fn encoder_rejects_out_of_range_fields() {
    let s = TcpStream::from_handle(Handle::from_raw(0x101));
    let u = UdpSocket::from_handle(Handle::from_raw(0x102));
    let bad = [
        Request::TcpConnect {
            remote: SocketAddrV4::new([10, 0, 0, 1].into(), 0),
        },
        Request::TcpConnect {
            remote: SocketAddrV4::new([0, 0, 0, 0].into(), 80),
        },
        Request::TcpConnect {
            remote: SocketAddrV4::new([255, 255, 255, 255].into(), 80),
        },
        Request::TcpConnect {
            remote: SocketAddrV4::new([224, 0, 0, 1].into(), 80),
        },
        Request::TcpRead { stream: s, max: 0 },
        Request::TcpWrite {
            stream: s,
            data: b"",
        },
        Request::UdpRecvFrom { socket: u, max: 0 },
        Request::UdpSendTo {
            socket: u,
            to: SocketAddrV4::new([10, 0, 0, 1].into(), 0),
            data: b"x",
        },
        Request::UdpSendTo {
            socket: u,
            to: SocketAddrV4::new([0, 0, 0, 0].into(), 5),
            data: b"x",
        },
        Request::Wait {
            handle: s.handle(),
            interest: Readiness::HUP,
            deadline_ns: 1,
        },
        Request::Ping {
            addr: [255, 255, 255, 255].into(),
            seq: 1,
            deadline_ns: 1,
        },
    ];
    let mut buf = vec![0u8; FACADE_MSG_MAX];
    for req in bad {
        assert_eq!(
            encode_request(&req, 1, 0, &mut buf),
            Err(NetError::InvalidInput),
            "{req:?}"
        );
    }
}

#[test]
fn error_codes_are_stable_and_start_at_one() {
    use NetError::*;
    let expected = [
        (WouldBlock, 1),
        (TimedOut, 2),
        (ConnectionRefused, 3),
        (ConnectionReset, 4),
        (NotConnected, 5),
        (AddrInUse, 6),
        (InvalidInput, 7),
        (NoBufs, 8),
        (NotFound, 9),
        (Closed, 10),
        (Unsupported, 11),
        (BadVersion, 12),
        (Malformed, 13),
        (ServerRestarted, 14),
    ];
    for (e, code) in expected {
        assert_eq!(e as u16, code);
        assert_eq!(NetError::from_code(code), Some(e));
        assert!(!format!("{e}").is_empty());
    }
}
