//! **Test builds only** (feature `test-identities`): the harness modes chosen by the
//! boot argument, driven without blocking from dsoftbusd's loop through the daemon's
//! local stream API (the same calls the bus interface will expose to applications).
//!
//! * proxy selftest (node A): opens `nodeinfo` on the first peer that comes online and
//!   prints its answer (`SELFTEST: remote proxy ok (...)`), then opens `samgrd`, which
//!   the peer does not offer, and expects a refusal (`SELFTEST: remote proxy denied ok`);
//! * bulk sender (node A): then sends [`BULK_BYTES`] of patterned bytes on one `bulk`
//!   byte stream and waits for the receiver's verdict (`dsoftbusd: bulk sent ...`);
//! * cross-VM (both): prints `dsoftbusd: cross-vm session ok` per peer and runs the
//!   `bulk` sink, which checks every byte (`dsoftbusd: bulk received bytes=N ok`) and
//!   answers `ok N` or `bad N`.

use alloc::string::String;
use alloc::vec::Vec;

use dsoftbus::daemon::{BusEvent, Daemon, Platform, StreamRef};
use dsoftbus::mux::{Mode, Priority};
use nexus_net::Transport;

use crate::Config;

/// Bytes the bulk sender transfers (checked end to end).
pub const BULK_BYTES: u64 = 4 * 1024 * 1024;

/// The checked pattern of bulk byte number `i`.
pub fn bulk_byte(i: u64) -> u8 {
    (i.wrapping_mul(2_654_435_761) >> 13) as u8
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Idle,
    Nodeinfo(StreamRef),
    Denial(StreamRef),
    Bulk(StreamRef),
    Verdict(StreamRef),
    Done,
}

struct Sink {
    stream: StreamRef,
    got: u64,
    ok: bool,
}

/// The harness modes of one dsoftbusd.
pub struct TestModes {
    cfg: Config,
    step: Step,
    sent: u64,
    t0: u64,
    sinks: Vec<Sink>,
    chunk: Vec<u8>,
}

impl TestModes {
    /// Modes from the boot argument; publishes the bulk sink on cross-VM nodes.
    pub fn new<T: Transport, P: Platform>(cfg: Config, d: &mut Daemon<T, P>) -> Self {
        if cfg.cross_vm {
            let _ = d.publish("bulk");
        }
        TestModes {
            cfg,
            step: Step::Idle,
            sent: 0,
            t0: 0,
            sinks: Vec::new(),
            chunk: alloc::vec![0u8; 16 * 1024],
        }
    }

    /// Handles one daemon event; returns whether anything happened.
    pub fn on_event<T: Transport, P: Platform>(
        &mut self,
        d: &mut Daemon<T, P>,
        ev: BusEvent,
        now: u64,
    ) {
        match ev {
            BusEvent::PeerOnline(peer) => {
                if self.cfg.cross_vm {
                    d.log(format_args!("dsoftbusd: cross-vm session ok peer={}", peer));
                }
                if self.cfg.proxy_selftest && self.step == Step::Idle {
                    match d.open(&peer, "nodeinfo", Mode::Message, Priority::Interactive) {
                        Ok(s) => self.step = Step::Nodeinfo(s),
                        Err(e) => d.log(format_args!(
                            "SELFTEST: FAIL remote proxy nodeinfo: open {:?}",
                            e
                        )),
                    }
                }
            }
            BusEvent::Accepted(s) if self.step == Step::Nodeinfo(s) => {
                let _ = d.send(s, b"?");
            }
            BusEvent::Accepted(s) if self.step == Step::Bulk(s) => self.t0 = now,
            BusEvent::Refused(s, why) => match self.step {
                Step::Denial(x) if x == s => {
                    d.log(format_args!("SELFTEST: remote proxy denied ok ({:?})", why));
                    self.step = Step::Done;
                    if self.cfg.bulk_sender {
                        self.start_bulk(d, s);
                    }
                }
                _ => d.log(format_args!(
                    "SELFTEST: FAIL remote proxy: stream refused ({:?})",
                    why
                )),
            },
            BusEvent::Incoming {
                stream, service, ..
            } => {
                if service == "bulk" && self.cfg.cross_vm && d.accept(stream).is_ok() {
                    self.sinks.push(Sink {
                        stream,
                        got: 0,
                        ok: true,
                    });
                } else {
                    let _ = d.refuse(stream, dsoftbus::mux::RefuseReason::NotPublished);
                }
            }
            BusEvent::Reset(s, _) | BusEvent::PeerGone(s) => {
                self.sinks.retain(|k| k.stream != s);
                if matches!(self.step, Step::Nodeinfo(x) | Step::Denial(x) | Step::Bulk(x) | Step::Verdict(x) if x == s)
                {
                    d.log(format_args!("SELFTEST: FAIL remote proxy/bulk: {:?}", ev));
                    self.step = Step::Done;
                }
            }
            _ => {}
        }
    }

    fn start_bulk<T: Transport, P: Platform>(&mut self, d: &mut Daemon<T, P>, on: StreamRef) {
        let peer = d.connected().next().map(String::from).unwrap_or_default();
        let _ = on;
        match d.open(&peer, "bulk", Mode::Bytes, Priority::Bulk) {
            Ok(s) => self.step = Step::Bulk(s),
            Err(e) => d.log(format_args!("SELFTEST: FAIL bulk transfer: open {:?}", e)),
        }
    }

    /// Moves every active mode forward without blocking; returns whether anything
    /// moved (the caller then polls the daemon again before sleeping).
    pub fn step<T: Transport, P: Platform>(&mut self, d: &mut Daemon<T, P>, now: u64) -> bool {
        let mut progress = false;
        let mut buf = [0u8; 512];
        match self.step {
            Step::Nodeinfo(s) => {
                if let Ok(n) = d.recv(s, &mut buf) {
                    if n > 0 {
                        let text = core::str::from_utf8(&buf[..n]).unwrap_or("?");
                        d.log(format_args!("SELFTEST: remote proxy ok ({})", text));
                        let peer = d.connected().next().map(String::from).unwrap_or_default();
                        let _ = d.close(s);
                        match d.open(&peer, "samgrd", Mode::Message, Priority::Interactive) {
                            Ok(x) => self.step = Step::Denial(x),
                            Err(e) => d.log(format_args!(
                                "SELFTEST: FAIL remote proxy denial: open {:?}",
                                e
                            )),
                        }
                        progress = true;
                    }
                }
            }
            Step::Bulk(s) => {
                while self.sent < BULK_BYTES {
                    let n = ((BULK_BYTES - self.sent) as usize).min(self.chunk.len());
                    for (k, b) in self.chunk[..n].iter_mut().enumerate() {
                        *b = bulk_byte(self.sent + k as u64);
                    }
                    match d.send(s, &self.chunk[..n]) {
                        Ok(k) => {
                            self.sent += k as u64;
                            progress = true;
                        }
                        Err(_) => break,
                    }
                }
                if self.sent == BULK_BYTES && d.close(s).is_ok() {
                    self.step = Step::Verdict(s);
                    progress = true;
                }
            }
            Step::Verdict(s) => {
                if let Ok(n) = d.recv(s, &mut buf) {
                    if n > 0 {
                        let text = core::str::from_utf8(&buf[..n]).unwrap_or("?");
                        let ns = now.saturating_sub(self.t0).max(1);
                        let kbps = self.sent * 1_000_000 / ns;
                        if text.starts_with("ok ") {
                            d.log(format_args!(
                                "dsoftbusd: bulk sent bytes={} ms={} MB/s={}.{:03} verified by peer",
                                self.sent,
                                ns / 1_000_000,
                                kbps / 1000,
                                kbps % 1000
                            ));
                        } else {
                            d.log(format_args!(
                                "SELFTEST: FAIL bulk transfer: peer says {}",
                                text
                            ));
                        }
                        let _ = d.recv(s, &mut buf);
                        self.step = Step::Done;
                        progress = true;
                    }
                }
            }
            Step::Idle | Step::Denial(_) | Step::Done => {}
        }
        // The bulk sink: check every byte, answer at the end.
        let mut k = 0;
        while k < self.sinks.len() {
            let sink = &mut self.sinks[k];
            let mut done = false;
            loop {
                match d.recv(sink.stream, &mut self.chunk) {
                    Ok(0) => {
                        done = true;
                        break;
                    }
                    Ok(n) => {
                        for (j, b) in self.chunk[..n].iter().enumerate() {
                            sink.ok &= *b == bulk_byte(sink.got + j as u64);
                        }
                        sink.got += n as u64;
                        progress = true;
                    }
                    Err(_) => break,
                }
            }
            if done {
                let (got, ok, s) = (sink.got, sink.ok, sink.stream);
                d.log(format_args!(
                    "dsoftbusd: bulk received bytes={} {}",
                    got,
                    if ok { "ok" } else { "CORRUPT" }
                ));
                let verdict = alloc::format!("{} {}", if ok { "ok" } else { "bad" }, got);
                let _ = d.send(s, verdict.as_bytes());
                let _ = d.close(s);
                self.sinks.swap_remove(k);
                progress = true;
                continue;
            }
            k += 1;
        }
        progress
    }
}
