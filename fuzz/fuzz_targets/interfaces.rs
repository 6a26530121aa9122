//! Every generated interface codec (source/libs/nexus-interfaces/idl/*.toml):
//! request decoding, a full server dispatch of `init`, every reply decoder and
//! the start-up argument structs must be total — an error, never a panic —
//! and what decodes must re-encode to the same bytes. The `vn` interface is
//! also served by virtionetd-lite's own `Driver` (generated dispatch, parked
//! `rx`) over a fake device: the last byte sets how many full-size frames it
//! holds (`& 7`) and whether it failed (`& 8`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use nexus_idl::{heapless, Reader, Wire};
use nexus_interfaces::{args, bus, init, kv, notice, rng, selftest, vn};
use virtionetd_lite::{Driver, Frame, Nic, Served, RX_BATCH};

struct Init;

impl init::Server for Init {
    fn status(&mut self, _: u64, name: &str) -> Result<init::ServiceState, init::Error> {
        if name.len() % 2 == 0 {
            Ok(init::ServiceState::Exited {
                code: name.len() as u64,
            })
        } else {
            Err(init::Error::UnknownService)
        }
    }
    fn kill(&mut self, caller: u64, _: &str) -> Result<(), init::Error> {
        if caller == 7 {
            Ok(())
        } else {
            Err(init::Error::Denied)
        }
    }
    fn args(&mut self, _: u64) -> Result<heapless::Vec<u8, 256>, init::Error> {
        Ok(heapless::Vec::from_slice(&[1; 256]).unwrap())
    }
    fn list(&mut self, _: u64) -> Result<nexus_idl::List<init::ServiceInfo, 33>, init::Error> {
        // A full table of the largest entries: the reply must fit REPLY_MAX.
        let mut l = nexus_idl::List(heapless::Vec::new());
        for i in 0..33u32 {
            let mut name = heapless::String::new();
            name.push_str("service-name-of-24-bytes").unwrap();
            let state = init::ServiceState::Faulted {
                cause: u64::MAX,
                addr: u64::MAX,
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
        if caller == 9 {
            Ok(())
        } else {
            Err(init::Error::Denied)
        }
    }
}

/// A device holding `held` frames of 1514 bytes (the largest `rx` replies).
struct FakeNic {
    held: u8,
    failed: bool,
}

impl Nic for FakeNic {
    fn mac(&self) -> [u8; 6] {
        [2, 0, 0, 0, 0, 1]
    }
    fn failed(&self) -> bool {
        self.failed
    }
    fn transmit(&mut self, frame: &[u8]) -> Result<(), vn::Error> {
        assert!(
            (14..=1514).contains(&frame.len()),
            "a bad frame reached the device"
        );
        if self.failed {
            Err(vn::Error::DeviceFailed)
        } else {
            Ok(())
        }
    }
    fn pop_frame(&mut self) -> Option<Frame> {
        self.held = self.held.checked_sub(1)?;
        Some(Frame::from_slice(&[self.held; 1514]).unwrap())
    }
}

/// `data` served by virtionetd-lite's `Driver` at time 100.
fn vn_driver(data: &[u8], out: &mut [u8]) {
    let ctl = data.last().copied().unwrap_or(0);
    let mut nic = FakeNic {
        held: ctl & 7,
        failed: ctl & 8 != 0,
    };
    let mut d = Driver::new();
    let req = vn::Request::decode(data);
    match d.serve(&mut nic, 1, 1, data, out, 100) {
        Served::Reply(n) => {
            assert!(n >= 2 && n <= vn::REPLY_MAX);
            let r = &out[..n];
            match req {
                Err(_) => assert_eq!(r, &[2, 0], "a malformed request gets Malformed"),
                Ok(vn::Request::Info) => assert!(vn::reply::decode_info(r).is_ok()),
                Ok(vn::Request::Tx { frame }) => assert_eq!(
                    vn::reply::decode_tx(r).is_ok(),
                    frame.len() >= 14 && !nic.failed
                ),
                Ok(vn::Request::Rx { deadline_ns }) => match vn::reply::decode_rx(r) {
                    Ok(l) => assert_eq!(l.0.len(), usize::from(ctl & 7).min(RX_BATCH)),
                    Err(vn::Error::DeviceFailed) => assert!(nic.failed),
                    Err(vn::Error::TimedOut) => assert!(deadline_ns != 0 && deadline_ns <= 100),
                    Err(e) => panic!("rx answered {e:?}"),
                },
                Ok(_) => unreachable!(),
            }
        }
        Served::Parked { superseded } => {
            assert_eq!(superseded, None);
            let Ok(vn::Request::Rx { deadline_ns }) = req else {
                panic!("only rx parks")
            };
            assert!(ctl & 7 == 0 && !nic.failed);
            assert!(deadline_ns == 0 || deadline_ns > 100);
            // A frame arrives: the parked rx is answered with it.
            nic.held = 1;
            let (token, n) = d.wake(&mut nic, out, 101).expect("woken by a frame");
            assert_eq!(token, 1);
            assert_eq!(vn::reply::decode_rx(&out[..n]).map(|l| l.0.len()), Ok(1));
            assert_eq!(d.waiter(), None);
        }
    }
}

fn reencodes(data: &[u8], encoded: Result<usize, nexus_idl::WireError>, out: &[u8]) {
    let n = encoded.expect("a decoded request re-encodes");
    assert_eq!(&out[..n], data, "decode/encode round trip");
}

fuzz_target!(|data: &[u8]| {
    let mut out = [0u8; 8192];
    let caller = data.first().copied().unwrap_or(0) as u64;
    let n = init::dispatch(&mut Init, caller, data, &mut out);
    assert!(n >= 2 && n <= init::REPLY_MAX);
    if let Ok(r) = init::Request::decode(data) {
        reencodes(data, r.encode(&mut out), &out);
    }
    if let Ok(r) = rng::Request::decode(data) {
        reencodes(data, r.encode(&mut out), &out);
    }
    if let Ok(r) = selftest::Request::decode(data) {
        reencodes(data, r.encode(&mut out), &out);
    }
    if let Ok(r) = notice::Request::decode(data) {
        reencodes(data, r.encode(&mut out), &out);
    }
    if let Ok(r) = kv::Request::decode(data) {
        reencodes(data, r.encode(&mut out), &out);
    }
    if let Ok(r) = bus::Request::decode(data) {
        reencodes(data, r.encode(&mut out), &out);
    }
    if let Ok(r) = vn::Request::decode(data) {
        reencodes(data, r.encode(&mut out), &out);
    }
    vn_driver(data, &mut out);
    let _ = init::reply::decode_status(data);
    let _ = init::reply::decode_kill(data);
    let _ = init::reply::decode_args(data);
    let _ = init::reply::decode_list(data);
    let _ = init::reply::decode_poweroff(data);
    let _ = rng::reply::decode_fill(data);
    let _ = selftest::reply::decode_transform(data);
    let _ = notice::reply::decode_client_gone(data);
    let _ = kv::reply::decode_get(data);
    let _ = kv::reply::decode_put(data);
    let _ = kv::reply::decode_delete(data);
    if let Ok(page) = kv::reply::decode_list(data) {
        assert!(page.keys.0.len() <= 32);
    }
    let _ = bus::reply::decode_peers(data);
    let _ = bus::reply::decode_next_peer_event(data);
    let _ = bus::reply::decode_publish(data);
    let _ = bus::reply::decode_unpublish(data);
    let _ = bus::reply::decode_open(data);
    let _ = bus::reply::decode_accept(data);
    let _ = bus::reply::decode_send(data);
    let _ = bus::reply::decode_recv(data);
    let _ = bus::reply::decode_close(data);
    let _ = bus::reply::decode_reset(data);
    let _ = bus::reply::decode_stats(data);
    let _ = bus::reply::decode_show_pin(data);
    let _ = bus::reply::decode_pair(data);
    let _ = bus::reply::decode_trusted(data);
    let _ = bus::reply::decode_grant(data);
    let _ = bus::reply::decode_untrust(data);
    let _ = bus::reply::decode_sessions(data);
    let _ = vn::reply::decode_info(data);
    let _ = vn::reply::decode_tx(data);
    if let Ok(frames) = vn::reply::decode_rx(data) {
        assert!(frames.0.len() <= RX_BATCH && frames.0.iter().all(|f| f.len() <= 1514));
    }
    let mut r = Reader::new(data);
    if let Ok(a) = args::DsoftbusdArgs::decode(&mut r) {
        let mut w = nexus_idl::Writer::new(&mut out);
        a.encode(&mut w).expect("re-encodes");
    }
    let _ = args::NetstackdArgs::decode(&mut Reader::new(data));
    let _ = args::ModeArgs::decode(&mut Reader::new(data));
});
