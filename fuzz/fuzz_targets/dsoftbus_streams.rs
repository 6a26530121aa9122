//! DSoftBus streams: the frame codec (`mux::Frame`) and two `Mux` instances (a
//! session's two ends) driven by fuzz-chosen actions, with forged frames injected
//! into either side.
//!
//! The input is a list of chunks (`ctl: u8, len: u16 LE, bytes`, see `src/lib.rs`).
//! `ctl % 10` picks the action, `ctl & 0x80` the side (A = initiator, B = responder):
//! * 0: `Frame::decode` of the bytes; if it decodes, `receive` them on the side
//!   (a forged frame from an authenticated but hostile peer); an error ends the run.
//! * 1: `open` (service = the bytes, mode/prio from `ctl` bits 4/5).
//! * 2: `accept` the newest incoming stream; 3: `refuse` it.
//! * 4: `send` the bytes on stream `len % 4` of the side's list.
//! * 5: `recv` up to `len` bytes (or one message) from a stream.
//! * 6: `close`; 7: `reset` a stream.
//! * 8, 9: move up to 8 honest frames from the side to the other.
//!
//! Invariants: nothing panics; a frame that decodes re-encodes to the same bytes;
//! every frame `poll_transmit` writes decodes and is accepted by an honest peer (as
//! long as no forged frame was injected); stream counts and buffered bytes never
//! exceed the configured bounds; bytes read on an honest pair are exactly the bytes
//! sent on that stream, in order (byte mode) and message by message (message mode).
#![no_main]

use std::collections::HashMap;

use dsoftbus::mux::{Event, Frame, Mode, Mux, MuxConfig, Priority, RefuseReason, ResetReason};
use dsoftbus::MAX_RECORD_PAYLOAD;
use libfuzzer_sys::fuzz_target;
use neuron_fuzz::chunks;

struct Side {
    mux: Mux,
    /// Streams this side knows (opened or accepted), newest last.
    ids: Vec<u32>,
    incoming: Vec<u32>,
}

/// Per (receiver side, stream): bytes the other side sent, not yet read.
type Expect = HashMap<(usize, u32), Vec<u8>>;

fn cfg() -> MuxConfig {
    MuxConfig {
        max_streams: 4,
        window: 32 * 1024,
        send_buffer: 16 * 1024,
    }
}

fn check_bounds(s: &Side) {
    assert!(s.mux.streams() <= s.mux.config().max_streams);
    assert!(s.mux.buffered() <= s.mux.config().max_buffered());
}

fn note(side: &mut Side, e: &Event<'_>) {
    match *e {
        Event::Incoming { id, .. } => side.incoming.push(id),
        Event::Accepted(id) => {
            if !side.ids.contains(&id) {
                side.ids.push(id);
            }
        }
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let mut sides = [
        Side {
            mux: Mux::new(cfg(), true),
            ids: Vec::new(),
            incoming: Vec::new(),
        },
        Side {
            mux: Mux::new(cfg(), false),
            ids: Vec::new(),
            incoming: Vec::new(),
        },
    ];
    let mut expect: Expect = HashMap::new();
    let mut forged = false;
    let mut buf = vec![0u8; MAX_RECORD_PAYLOAD];
    let mut out = vec![0u8; 20_000];
    for c in chunks(data).take(256) {
        let me = usize::from(c.ctl >> 7);
        let other = 1 - me;
        let pick = |s: &Side| -> Option<u32> {
            let all: Vec<u32> = s.mux.ids().collect();
            (!all.is_empty()).then(|| all[c.data.len() % all.len()])
        };
        match c.ctl % 10 {
            0 => {
                let Ok(f) = Frame::decode(c.data) else {
                    continue;
                };
                let n = f.encode(&mut buf).expect("a decoded frame re-encodes");
                assert_eq!(&buf[..n], c.data);
                forged = true;
                match sides[me].mux.receive(c.data) {
                    Ok(Some(e)) => {
                        let side = &mut sides[me];
                        note(side, &e);
                    }
                    Ok(None) => {}
                    Err(_) => return,
                }
            }
            1 => {
                let mode = if c.ctl & 0x10 == 0 {
                    Mode::Message
                } else {
                    Mode::Bytes
                };
                let prio = if c.ctl & 0x20 == 0 {
                    Priority::Interactive
                } else {
                    Priority::Bulk
                };
                let name = core::str::from_utf8(c.data).unwrap_or("svc");
                if let Ok(id) = sides[me].mux.open(name, mode, prio) {
                    sides[me].ids.push(id);
                }
            }
            2 | 3 => {
                let Some(id) = sides[me].incoming.pop() else {
                    continue;
                };
                if c.ctl % 10 == 2 {
                    if sides[me].mux.accept(id).is_ok() {
                        sides[me].ids.push(id);
                    }
                } else {
                    let _ = sides[me].mux.refuse(id, RefuseReason::NotPublished);
                }
            }
            4 => {
                let Some(id) = pick(&sides[me]) else { continue };
                if let Ok(n) = sides[me].mux.send(id, c.data) {
                    expect
                        .entry((other, id))
                        .or_default()
                        .extend_from_slice(&c.data[..n]);
                }
            }
            5 => {
                let Some(id) = pick(&sides[me]) else { continue };
                let want = (c.data.len() + 1).min(out.len());
                let want = if c.ctl & 0x40 == 0 { want } else { out.len() };
                if let Ok(n) = sides[me].mux.recv(id, &mut out[..want]) {
                    if !forged {
                        let q = expect.entry((me, id)).or_default();
                        assert!(q.len() >= n, "read more than was sent");
                        assert_eq!(&q[..n], &out[..n], "stream bytes differ");
                        q.drain(..n);
                    }
                }
            }
            6 => {
                if let Some(id) = pick(&sides[me]) {
                    let _ = sides[me].mux.close(id);
                }
            }
            7 => {
                if let Some(id) = pick(&sides[me]) {
                    // Our unread bytes are gone; the peer keeps what it has
                    // until the RESET reaches it.
                    let _ = sides[me].mux.reset(id, ResetReason::Cancelled);
                    expect.remove(&(me, id));
                }
            }
            _ => {
                for _ in 0..8 {
                    let Some(n) = sides[me].mux.poll_transmit(&mut buf) else {
                        break;
                    };
                    Frame::decode(&buf[..n]).expect("our frames decode");
                    match sides[other].mux.receive(&buf[..n]) {
                        Ok(Some(e)) => {
                            if let Event::Reset(id, _) = e {
                                expect.remove(&(other, id));
                            }
                            note(&mut sides[other], &e);
                        }
                        Ok(None) => {}
                        Err(e) => {
                            assert!(forged, "honest frame refused: {e:?}");
                            return;
                        }
                    }
                }
            }
        }
        check_bounds(&sides[0]);
        check_bounds(&sides[1]);
    }
});
