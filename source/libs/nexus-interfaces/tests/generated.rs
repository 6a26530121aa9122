//! The generated codecs, stubs and dispatch, end to end over a direct
//! transport, plus the totality of every generated decoder.
use nexus_idl::{Transport, TransportError, Wire};
use nexus_interfaces::{args, bus, init, notice, rng, selftest, vn};

/// A transport that hands the request straight to a server's dispatch.
struct Direct<S> {
    server: S,
    caller: u64,
    dead: bool,
}

impl<S: init::Server> Transport for Direct<S> {
    fn call(&mut self, req: &[u8], reply: &mut [u8], _: u64) -> Result<usize, TransportError> {
        if self.dead {
            return Err(TransportError::PeerDead);
        }
        Ok(init::dispatch(&mut self.server, self.caller, req, reply))
    }
}

struct FakeInit {
    killer: u64,
}

impl init::Server for FakeInit {
    fn status(&mut self, _: u64, name: &str) -> Result<init::ServiceState, init::Error> {
        match name {
            "netstackd" => Ok(init::ServiceState::Running),
            "fault-store" => Ok(init::ServiceState::Faulted {
                cause: 15,
                addr: 0xdead,
            }),
            _ => Err(init::Error::UnknownService),
        }
    }
    fn kill(&mut self, caller: u64, _: &str) -> Result<(), init::Error> {
        if caller == self.killer {
            Ok(())
        } else {
            Err(init::Error::Denied)
        }
    }
    fn args(&mut self, caller: u64) -> Result<nexus_idl::heapless::Vec<u8, 256>, init::Error> {
        let a = args::ModeArgs {
            mode: caller as u8,
            netpeers: true,
            attack: false,
        };
        let mut buf = [0u8; 16];
        let mut w = nexus_idl::Writer::new(&mut buf);
        a.encode(&mut w).map_err(|_| init::Error::TooLarge)?;
        let n = w.len();
        Ok(nexus_idl::heapless::Vec::from_slice(&buf[..n]).unwrap())
    }
    fn list(&mut self, _: u64) -> Result<nexus_idl::List<init::ServiceInfo, 33>, init::Error> {
        let mut l = nexus_idl::List(nexus_idl::heapless::Vec::new());
        // A full table with the longest names and the largest states: the
        // reply bound of the interface must hold it.
        for i in 0..32u32 {
            let mut name = nexus_idl::heapless::String::new();
            name.push_str(&format!("{:0>24}", i)).unwrap();
            let state = init::ServiceState::Faulted {
                cause: u64::MAX,
                addr: i as u64,
            };
            l.0.push(init::ServiceInfo {
                name,
                state,
                restarts: i,
                pages: u32::MAX,
            })
            .unwrap();
        }
        Ok(l)
    }
    fn poweroff(&mut self, caller: u64) -> Result<(), init::Error> {
        if caller == self.killer {
            Ok(())
        } else {
            Err(init::Error::Denied)
        }
    }
}

#[test]
fn stub_and_dispatch_agree() {
    let mut c = init::Client::new(Direct {
        server: FakeInit { killer: 7 },
        caller: 2,
        dead: false,
    });
    assert_eq!(c.status("netstackd"), Ok(init::ServiceState::Running));
    assert_eq!(
        c.status("fault-store"),
        Ok(init::ServiceState::Faulted {
            cause: 15,
            addr: 0xdead
        })
    );
    assert_eq!(c.status("nope"), Err(init::Error::UnknownService));
    assert_eq!(c.kill("netstackd"), Err(init::Error::Denied));
    c.transport.caller = 7;
    assert_eq!(c.kill("netstackd"), Ok(()));
    // A name over the interface's bound never leaves the client.
    assert_eq!(c.status(&"x".repeat(25)), Err(init::Error::TooLarge));
    let raw = c.args().unwrap();
    let mut r = nexus_idl::Reader::new(&raw);
    assert_eq!(
        args::ModeArgs::decode(&mut r),
        Ok(args::ModeArgs {
            mode: 7,
            netpeers: true,
            attack: false
        })
    );
    let l = c.list().unwrap();
    assert_eq!(l.0.len(), 32);
    assert_eq!(l.0[31].name.as_str(), "000000000000000000000031");
    assert_eq!(l.0[31].restarts, 31);
    assert_eq!(c.poweroff(), Ok(()));
    c.transport.caller = 2;
    assert_eq!(c.poweroff(), Err(init::Error::Denied));
    c.transport.dead = true;
    assert_eq!(c.status("netstackd"), Err(init::Error::ServerRestarted));
}

#[test]
fn wire_layout_is_pinned() {
    // status("ab"): op 1, length 2, "ab"
    let mut buf = [0u8; 32];
    let n = init::Request::Status { name: "ab" }
        .encode(&mut buf)
        .unwrap();
    assert_eq!(&buf[..n], &[1, 0, 2, 0, b'a', b'b']);
    // Faulted reply: status 0, tag 3, cause, addr
    let n = init::reply::status(
        &Ok(init::ServiceState::Faulted { cause: 1, addr: 2 }),
        &mut buf,
    );
    assert_eq!(
        &buf[..n],
        &[0, 0, 3, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]
    );
    // An error reply is its code alone.
    let n = init::reply::kill(&Err(init::Error::Denied), &mut buf);
    assert_eq!(&buf[..n], &[3, 0]);
    let n = notice::Request::ClientGone { badge: 0x11 }
        .encode(&mut buf)
        .unwrap();
    assert_eq!(&buf[..n], &[1, 0, 0x11, 0, 0, 0, 0, 0, 0, 0]);
}

#[test]
fn garbage_gets_malformed_and_never_panics() {
    let mut server = FakeInit { killer: 7 };
    let mut out = [0u8; init::REPLY_MAX];
    // A small deterministic generator (xorshift) for the garbage.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut buf = [0u8; 300];
    for _ in 0..50_000 {
        let len = (next() % 64) as usize;
        for b in buf[..len].iter_mut() {
            *b = next() as u8;
        }
        // Bias the op towards valid codes so argument decoding is exercised.
        if len >= 2 && next() % 2 == 0 {
            buf[0] = (next() % 6) as u8;
            buf[1] = 0;
        }
        let req = &buf[..len];
        let n = init::dispatch(&mut server, 1, req, &mut out);
        assert!(n >= 2 && n <= out.len());
        if init::Request::decode(req).is_err() {
            assert_eq!(&out[..2], &[2, 0], "malformed request {req:?}");
        }
        let _ = init::reply::decode_status(req);
        let _ = init::reply::decode_args(req);
        let _ = init::reply::decode_list(req);
        let _ = init::reply::decode_poweroff(req);
        let _ = rng::Request::decode(req);
        let _ = rng::reply::decode_fill(req);
        let _ = selftest::Request::decode(req);
        let _ = notice::Request::decode(req);
        let _ = args::DsoftbusdArgs::decode(&mut nexus_idl::Reader::new(req));
        let _ = args::NetstackdArgs::decode(&mut nexus_idl::Reader::new(req));
    }
}

#[test]
fn trailing_bytes_and_unknown_codes_are_refused() {
    assert!(init::Request::decode(&[1, 0, 1, 0, b'a', 0]).is_err());
    assert!(init::Request::decode(&[9, 0]).is_err());
    assert!(rng::Request::decode(&[1, 0]).is_err(), "missing argument");
    assert_eq!(
        init::reply::decode_status(&[0x99, 0]),
        Err(init::Error::Malformed)
    );
    assert_eq!(
        init::reply::decode_status(&[0, 0, 9]),
        Err(init::Error::Malformed)
    );
    assert_eq!(
        init::reply::decode_kill(&[0, 0, 1]),
        Err(init::Error::Malformed)
    );
    // A full list reply fits the bound; every shorter prefix of it, and it
    // with a byte more, is refused.
    let mut server = FakeInit { killer: 7 };
    let mut out = [0u8; init::REPLY_MAX];
    let n = init::dispatch(&mut server, 1, &[4, 0], &mut out);
    assert!(init::reply::decode_list(&out[..n]).is_ok());
    for k in 0..n {
        assert_eq!(
            init::reply::decode_list(&out[..k]),
            Err(init::Error::Malformed)
        );
    }
    assert_eq!(
        init::reply::decode_list(&out[..n + 1]),
        Err(init::Error::Malformed)
    );
}

#[test]
fn bus_decoders_are_total_and_requests_round_trip() {
    // xorshift garbage with the op biased to the interface's codes (1..=17),
    // so argument decoding is exercised; what decodes must re-encode to the
    // same bytes (the `interfaces` fuzz target checks the same).
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut buf = [0u8; 200];
    let mut enc = [0u8; 8192];
    let mut decoded = 0;
    for _ in 0..100_000 {
        let len = (next() % 120) as usize;
        for b in buf[..len].iter_mut() {
            // Small bytes make plausible lengths, tags and bools.
            *b = if next() % 2 == 0 {
                (next() % 4) as u8
            } else {
                next() as u8
            };
        }
        if len >= 2 {
            buf[0] = (next() % 18) as u8;
            buf[1] = 0;
        }
        let req = &buf[..len];
        if let Ok(r) = bus::Request::decode(req) {
            decoded += 1;
            let n = r.encode(&mut enc).expect("a decoded request re-encodes");
            assert_eq!(&enc[..n], req, "decode/encode round trip");
        }
        let _ = bus::reply::decode_peers(req);
        let _ = bus::reply::decode_next_peer_event(req);
        let _ = bus::reply::decode_open(req);
        let _ = bus::reply::decode_accept(req);
        let _ = bus::reply::decode_send(req);
        let _ = bus::reply::decode_recv(req);
        let _ = bus::reply::decode_stats(req);
        let _ = bus::reply::decode_show_pin(req);
        let _ = bus::reply::decode_trusted(req);
        let _ = bus::reply::decode_sessions(req);
    }
    assert!(
        decoded > 0,
        "no garbage request decoded: the op bias is wrong"
    );
}

#[test]
fn vn_layout_bounds_and_totality() {
    // tx: op 2, length, the frame; rx: op 3, deadline.
    let mut buf = [0u8; vn::REQUEST_MAX];
    let frame = [0xabu8; 14];
    let n = vn::Request::Tx { frame: &frame }.encode(&mut buf).unwrap();
    assert_eq!(&buf[..4], &[2, 0, 14, 0]);
    assert_eq!(&buf[4..n], &frame);
    let n = vn::Request::Rx {
        deadline_ns: 0x0102,
    }
    .encode(&mut buf)
    .unwrap();
    assert_eq!(&buf[..n], &[3, 0, 2, 1, 0, 0, 0, 0, 0, 0]);
    // The largest tx request and the largest rx reply (5 full frames) fit
    // the interface's bounds, which fit the kernel's 8 KiB message.
    let big = [0u8; 1514];
    assert_eq!(
        vn::Request::Tx { frame: &big }.encode(&mut buf),
        Ok(vn::REQUEST_MAX)
    );
    assert!(vn::Request::Tx { frame: &[0; 1515] }
        .encode(&mut buf)
        .is_err());
    let mut l = nexus_idl::List::<nexus_idl::heapless::Vec<u8, 1514>, 5>::default();
    for i in 0..5u8 {
        l.0.push(nexus_idl::heapless::Vec::from_slice(&[i; 1514]).unwrap())
            .unwrap();
    }
    let mut out = [0u8; vn::REPLY_MAX];
    let n = vn::reply::rx(&Ok(l.clone()), &mut out);
    assert_eq!(n, vn::REPLY_MAX);
    const { assert!(vn::REPLY_MAX <= 8192 && vn::REQUEST_MAX <= 8192) };
    assert_eq!(vn::reply::decode_rx(&out[..n]), Ok(l));
    for cut in (0..n).step_by(7) {
        assert_eq!(vn::reply::decode_rx(&out[..cut]), Err(vn::Error::Malformed));
    }
    // A count over 5 is refused before any frame is read.
    out[2] = 6;
    assert_eq!(vn::reply::decode_rx(&out[..n]), Err(vn::Error::Malformed));
    // The error codes: shared ones reused, own ones from 16.
    for (e, code) in [
        (vn::Error::ServerRestarted, 1),
        (vn::Error::TimedOut, 4),
        (vn::Error::NoResources, 5),
        (vn::Error::DeviceFailed, 16),
        (vn::Error::Superseded, 17),
        (vn::Error::BadFrame, 18),
    ] {
        assert_eq!(e.code(), code);
        let n = vn::reply::rx(&Err(e), &mut out);
        assert_eq!(vn::reply::decode_rx(&out[..n]), Err(e));
    }
    let n = vn::reply::info(
        &Ok(vn::Info {
            mac: [2, 0, 0, 0, 0, 1],
            mtu: 1500,
        }),
        &mut out,
    );
    assert_eq!(&out[..n], &[0, 0, 2, 0, 0, 0, 0, 1, 0xdc, 0x05]);

    // xorshift garbage, op biased to 1..=3: every decoder is total and what
    // decodes re-encodes to the same bytes (the `interfaces` fuzz target
    // checks the same).
    let mut x = 0x5851_f42d_4c95_7f2du64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut g = [0u8; 64];
    let mut enc = [0u8; vn::REQUEST_MAX];
    let mut decoded = 0;
    for _ in 0..100_000 {
        let len = (next() % 40) as usize;
        for b in g[..len].iter_mut() {
            *b = if next() % 2 == 0 {
                (next() % 24) as u8
            } else {
                next() as u8
            };
        }
        if len >= 2 {
            g[0] = (next() % 4) as u8;
            g[1] = 0;
        }
        let req = &g[..len];
        if let Ok(r) = vn::Request::decode(req) {
            decoded += 1;
            let n = r.encode(&mut enc).expect("a decoded request re-encodes");
            assert_eq!(&enc[..n], req);
        }
        let _ = vn::reply::decode_info(req);
        let _ = vn::reply::decode_tx(req);
        if let Ok(l) = vn::reply::decode_rx(req) {
            assert!(l.0.len() <= 5);
        }
    }
    assert!(
        decoded > 0,
        "no garbage request decoded: the op bias is wrong"
    );
}
