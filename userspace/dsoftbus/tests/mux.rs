//! Stream multiplexer: frame codec, flow control, fairness, refusal, reset, bounds and
//! attacker behaviour (forged frames from an authenticated but hostile peer).

use dsoftbus::mux::{
    Event, Frame, FrameError, Mode, Mux, MuxConfig, MuxError, Priority, RefuseReason, ResetReason,
    StreamError, StreamId, INTERACTIVE_WEIGHT, MAX_DATA_PAYLOAD, MAX_MESSAGE_LEN,
};
use dsoftbus::MAX_RECORD_PAYLOAD;

/// An owned event (the borrowed one ends with the payload).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Incoming(StreamId, String, Mode, Priority),
    Refused(StreamId, RefuseReason),
    Accepted(StreamId),
    Readable(StreamId),
    Writable(StreamId),
    Finished(StreamId),
    Reset(StreamId, ResetReason),
}

fn own(e: Event<'_>) -> Ev {
    match e {
        Event::Incoming {
            id,
            service,
            mode,
            prio,
        } => Ev::Incoming(id, service.into(), mode, prio),
        Event::Refused(i, r) => Ev::Refused(i, r),
        Event::Accepted(i) => Ev::Accepted(i),
        Event::Readable(i) => Ev::Readable(i),
        Event::Writable(i) => Ev::Writable(i),
        Event::Finished(i) => Ev::Finished(i),
        Event::Reset(i, r) => Ev::Reset(i, r),
    }
}

/// Moves up to `max` frames from `from` to `to`; returns the receiver's events.
fn pump(from: &mut Mux, to: &mut Mux, max: usize) -> Vec<Ev> {
    let mut buf = [0u8; MAX_RECORD_PAYLOAD];
    let mut evs = Vec::new();
    for _ in 0..max {
        let Some(n) = from.poll_transmit(&mut buf) else {
            break;
        };
        assert!(n <= MAX_RECORD_PAYLOAD);
        if let Some(e) = to.receive(&buf[..n]).expect("honest frames") {
            evs.push(own(e));
        }
    }
    evs
}

/// Both directions until quiet.
fn settle(a: &mut Mux, b: &mut Mux) -> (Vec<Ev>, Vec<Ev>) {
    let (mut ea, mut eb) = (Vec::new(), Vec::new());
    loop {
        let x = pump(a, b, 1000);
        let y = pump(b, a, 1000);
        if x.is_empty() && y.is_empty() && !a.wants_transmit() && !b.wants_transmit() {
            return (ea, eb);
        }
        eb.extend(x);
        ea.extend(y);
    }
}

fn pair() -> (Mux, Mux) {
    (
        Mux::new(MuxConfig::default(), true),
        Mux::new(MuxConfig::default(), false),
    )
}

/// Opens `service` from a, accepts on b; returns the id.
fn connect(a: &mut Mux, b: &mut Mux, mode: Mode, prio: Priority) -> StreamId {
    let id = a.open("echo", mode, prio).unwrap();
    let evs = pump(a, b, 1);
    assert_eq!(evs, vec![Ev::Incoming(id, "echo".into(), mode, prio)]);
    b.accept(id).unwrap();
    assert_eq!(pump(b, a, 1), vec![Ev::Accepted(id)]);
    id
}

#[test]
fn frames_have_the_documented_bytes() {
    let mut b = [0u8; 64];
    let open = Frame::Open {
        id: 1,
        prio: Priority::Bulk,
        mode: Mode::Message,
        window: 65536,
        service: "echo",
    };
    let n = open.encode(&mut b).unwrap();
    assert_eq!(
        &b[..n],
        &[0x01, 0, 0, 0, 1, 1, 0, 0, 1, 0, 0, 4, b'e', b'c', b'h', b'o']
    );
    let cases: [(Frame<'_>, &[u8]); 6] = [
        (
            Frame::Accept {
                id: 2,
                window: 32768,
            },
            &[0x02, 0, 0, 0, 2, 0, 0, 0x80, 0],
        ),
        (
            Frame::Refuse {
                id: 3,
                reason: RefuseReason::Denied,
            },
            &[0x03, 0, 0, 0, 3, 2],
        ),
        (
            Frame::Data {
                id: 5,
                end: true,
                bytes: b"hi",
            },
            &[0x04, 0, 0, 0, 5, 1, b'h', b'i'],
        ),
        (
            Frame::Credit {
                id: 7,
                increment: 258,
            },
            &[0x05, 0, 0, 0, 7, 0, 0, 1, 2],
        ),
        (Frame::Close { id: 9 }, &[0x06, 0, 0, 0, 9]),
        (
            Frame::Reset {
                id: 0x0102_0304,
                reason: ResetReason::FlowControl,
            },
            &[0x07, 1, 2, 3, 4, 2],
        ),
    ];
    for (f, bytes) in cases {
        let n = f.encode(&mut b).unwrap();
        assert_eq!(&b[..n], bytes, "{f:?}");
        assert_eq!(Frame::decode(bytes), Ok(f));
    }
    assert_eq!(
        Frame::decode(&[0x01, 0, 0, 0, 1, 1, 0, 0, 1, 0, 0, 4, b'e', b'c', b'h', b'o']),
        Ok(open)
    );
}

#[test]
fn decoder_is_strict_and_total() {
    let mut b = [0u8; 64];
    let good: Vec<Vec<u8>> = [
        Frame::Open {
            id: 1,
            prio: Priority::Interactive,
            mode: Mode::Bytes,
            window: 1,
            service: "x",
        },
        Frame::Accept { id: 2, window: 9 },
        Frame::Refuse {
            id: 3,
            reason: RefuseReason::NotPublished,
        },
        Frame::Data {
            id: 4,
            end: false,
            bytes: b"z",
        },
        Frame::Credit {
            id: 5,
            increment: 1,
        },
        Frame::Close { id: 6 },
        Frame::Reset {
            id: 7,
            reason: ResetReason::Gone,
        },
    ]
    .iter()
    .map(|f| {
        let n = f.encode(&mut b).unwrap();
        b[..n].to_vec()
    })
    .collect();
    for g in &good {
        let f = Frame::decode(g).unwrap();
        // Canonical: re-encodes to the same bytes.
        let n = f.encode(&mut b).unwrap();
        assert_eq!(&b[..n], &g[..]);
        for cut in 0..g.len() {
            let e = Frame::decode(&g[..cut]).unwrap_err();
            // DATA cut after its flags is an empty DATA; everything else is truncated.
            assert!(
                matches!(e, FrameError::Truncated | FrameError::Empty),
                "{e:?}"
            );
        }
        if g[0] != 0x04 {
            let mut long = g.clone();
            long.push(0);
            assert_eq!(Frame::decode(&long), Err(FrameError::TrailingBytes));
        }
        let mut zero = g.clone();
        zero[1..5].fill(0);
        assert_eq!(Frame::decode(&zero), Err(FrameError::ZeroId));
    }
    assert_eq!(
        Frame::decode(&[0x00, 0, 0, 0, 1]),
        Err(FrameError::UnknownType(0))
    );
    assert_eq!(
        Frame::decode(&[0x08, 0, 0, 0, 1]),
        Err(FrameError::UnknownType(8))
    );
    assert_eq!(
        Frame::decode(&[0x04, 0, 0, 0, 1, 2, 9]),
        Err(FrameError::BadValue)
    );
    assert_eq!(
        Frame::decode(&[0x05, 0, 0, 0, 1, 0, 0, 0, 0]),
        Err(FrameError::Empty)
    );
    assert_eq!(
        Frame::decode(&[0x03, 0, 0, 0, 1, 9]),
        Err(FrameError::BadValue)
    );
    assert_eq!(
        Frame::decode(&[0x07, 0, 0, 0, 1, 0]),
        Err(FrameError::BadValue)
    );
    assert_eq!(
        Frame::decode(&[0x01, 0, 0, 0, 1, 2, 0, 0, 0, 0, 1, 1, b'a']),
        Err(FrameError::BadValue)
    );
    assert_eq!(
        Frame::decode(&[0x01, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 1, 0xff]),
        Err(FrameError::BadServiceName)
    );
    assert_eq!(
        Frame::decode(&[0x01, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0]),
        Err(FrameError::BadServiceName)
    );
    let big = vec![0x04; MAX_RECORD_PAYLOAD + 1];
    assert!(Frame::decode(&big).is_err());
    // Encoder refuses what the decoder refuses.
    assert!(Frame::Data {
        id: 1,
        end: false,
        bytes: &[0; MAX_DATA_PAYLOAD + 1]
    }
    .encode(&mut [0u8; 5000])
    .is_none());
    assert!(Frame::Close { id: 0 }.encode(&mut b).is_none());
}

#[test]
fn random_bytes_never_panic_or_grow_state() {
    let mut x = 0x1234_5678_9abc_def0u64;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..20_000 {
        let mut m = Mux::new(MuxConfig::default(), rnd() & 1 == 0);
        for _ in 0..8 {
            let len = (rnd() % 24) as usize;
            let mut f: Vec<u8> = (0..len).map(|_| rnd() as u8).collect();
            if let Some(t) = f.first_mut() {
                *t = 1 + *t % 8;
            }
            if m.receive(&f).is_err() {
                break;
            }
        }
        assert!(m.streams() <= m.config().max_streams);
        assert!(m.buffered() <= m.config().max_buffered());
    }
}

#[test]
fn message_mode_keeps_boundaries_and_echoes() {
    let (mut a, mut b) = pair();
    let id = connect(&mut a, &mut b, Mode::Message, Priority::Interactive);
    let big: Vec<u8> = (0..MAX_MESSAGE_LEN).map(|i| i as u8).collect();
    for m in [&b"ping"[..], &big[..], b"x"] {
        assert_eq!(a.send(id, m), Ok(m.len()));
    }
    assert_eq!(a.send(id, &[]), Err(StreamError::BadMessage));
    assert_eq!(
        a.send(id, &vec![0; MAX_MESSAGE_LEN + 1]),
        Err(StreamError::BadMessage)
    );
    settle(&mut a, &mut b);
    let mut out = vec![0u8; MAX_MESSAGE_LEN];
    assert_eq!(b.recv(id, &mut out[..3]), Err(StreamError::BufferTooSmall));
    for m in [&b"ping"[..], &big[..], b"x"] {
        let n = b.recv(id, &mut out).unwrap();
        assert_eq!(&out[..n], m);
        b.send(id, &out[..n]).unwrap();
    }
    assert_eq!(b.recv(id, &mut out), Err(StreamError::WouldBlock));
    settle(&mut a, &mut b);
    for m in [&b"ping"[..], &big[..], b"x"] {
        let n = a.recv(id, &mut out).unwrap();
        assert_eq!(&out[..n], m);
    }
    // Graceful close both ways: EOF on both sides, then the stream is gone.
    a.close(id).unwrap();
    assert_eq!(a.send(id, b"late"), Err(StreamError::WrongState));
    let no_credit = |v: Vec<Ev>| -> Vec<Ev> {
        v.into_iter()
            .filter(|e| !matches!(e, Ev::Writable(_)))
            .collect()
    };
    let (_, eb) = settle(&mut a, &mut b);
    assert_eq!(no_credit(eb), vec![Ev::Finished(id)]);
    assert_eq!(b.recv(id, &mut out), Ok(0));
    b.close(id).unwrap();
    let (ea, _) = settle(&mut a, &mut b);
    assert_eq!(no_credit(ea), vec![Ev::Finished(id)]);
    assert_eq!(a.recv(id, &mut out), Ok(0));
    assert_eq!((a.streams(), b.streams()), (0, 0));
    assert_eq!(a.recv(id, &mut out), Err(StreamError::Unknown));
}

#[test]
fn byte_stream_transfers_exactly_under_a_slow_reader() {
    let (mut a, mut b) = pair();
    let id = connect(&mut a, &mut b, Mode::Bytes, Priority::Bulk);
    let total = 1 << 20;
    let pattern = |i: usize| (i.wrapping_mul(2_654_435_761) >> 13) as u8;
    let (mut sent, mut got) = (0usize, 0usize);
    let mut chunk = vec![0u8; 10_000];
    let mut out = [0u8; 777];
    let mut blocked = 0;
    let bound = a.config().window as usize + a.config().send_buffer;
    let mut round = 0;
    while got < total {
        round += 1;
        if sent < total {
            let n = (total - sent).min(chunk.len());
            for (k, c) in chunk[..n].iter_mut().enumerate() {
                *c = pattern(sent + k);
            }
            match a.send(id, &chunk[..n]) {
                Ok(k) => sent += k,
                Err(StreamError::WouldBlock) => blocked += 1,
                Err(e) => panic!("{e:?}"),
            }
            if sent == total {
                a.close(id).unwrap();
            }
        }
        pump(&mut a, &mut b, 4);
        pump(&mut b, &mut a, 4);
        // The reader takes one small read every third round only.
        if round % 3 == 0 {
            match b.recv(id, &mut out) {
                Ok(0) => break,
                Ok(n) => {
                    for (k, v) in out[..n].iter().enumerate() {
                        assert_eq!(*v, pattern(got + k), "byte {}", got + k);
                    }
                    got += n;
                }
                Err(StreamError::WouldBlock) => {}
                Err(e) => panic!("{e:?}"),
            }
        }
        // Neither side buffers more than one window plus one send buffer.
        assert!(a.buffered() <= a.config().send_buffer);
        assert!(b.buffered() <= b.config().window as usize);
        assert!(a.buffered() + b.buffered() <= bound);
    }
    assert_eq!(got, total);
    assert!(blocked > 0, "the slow reader never throttled the sender");
}

#[test]
fn a_stalled_stream_never_stalls_another() {
    let (mut a, mut b) = pair();
    let stuck = connect(&mut a, &mut b, Mode::Bytes, Priority::Bulk);
    let live = connect(&mut a, &mut b, Mode::Bytes, Priority::Bulk);
    // Fill the stuck stream until it blocks: its window is used up, b never reads it.
    loop {
        match a.send(stuck, &[7u8; 4096]) {
            Ok(_) => {}
            Err(StreamError::WouldBlock) => break,
            Err(e) => panic!("{e:?}"),
        }
        settle(&mut a, &mut b);
    }
    settle(&mut a, &mut b);
    assert_eq!(
        b.stream_buffered(stuck).unwrap().0,
        b.config().window as usize
    );
    // The other stream still carries 1 MiB.
    let mut got = 0;
    let mut out = [0u8; 4096];
    while got < 1 << 20 {
        let _ = a.send(live, &[9u8; 4096]);
        settle(&mut a, &mut b);
        while let Ok(n) = b.recv(live, &mut out) {
            assert!(out[..n].iter().all(|&v| v == 9));
            got += n;
        }
    }
    assert!(b.buffered() <= b.config().window as usize * 2);
}

#[test]
fn interactive_stays_responsive_while_bulk_runs_and_bulk_is_not_starved() {
    let (mut a, mut b) = pair();
    let bulk = connect(&mut a, &mut b, Mode::Bytes, Priority::Bulk);
    let ia = connect(&mut a, &mut b, Mode::Message, Priority::Interactive);
    let mut buf = [0u8; MAX_RECORD_PAYLOAD];
    // Bulk fills its send buffer (and has credit for a window).
    while a.send(bulk, &[1u8; 8192]).is_ok() {}
    // An interactive message queued behind it leaves within the next two frames.
    a.send(ia, b"request").unwrap();
    let mut frames = Vec::new();
    for _ in 0..2 {
        let n = a.poll_transmit(&mut buf).unwrap();
        frames.push(Frame::decode(&buf[..n]).unwrap().clone_id());
        b.receive(&buf[..n]).unwrap();
    }
    assert!(
        frames.contains(&ia),
        "interactive frame delayed: {frames:?}"
    );
    // With both classes saturated, bulk still gets one frame in every INTERACTIVE_WEIGHT + 1.
    let mut big = 0;
    for _ in 0..60 {
        let _ = a.send(ia, &[2u8; 4000]);
        let _ = a.send(bulk, &[1u8; 8192]);
        let n = a.poll_transmit(&mut buf).unwrap();
        let f = Frame::decode(&buf[..n]).unwrap();
        if f.clone_id() == bulk {
            big += 1;
        }
        b.receive(&buf[..n]).unwrap();
        // Keep the reader draining and crediting.
        let mut out = [0u8; MAX_MESSAGE_LEN];
        while b.recv(bulk, &mut out).is_ok() {}
        while b.recv(ia, &mut out).is_ok() {}
        pump(&mut b, &mut a, 100);
    }
    assert!(
        big >= 60 / (INTERACTIVE_WEIGHT as usize + 1),
        "bulk starved: {big}"
    );
    assert!(big <= 60 / 2, "interactive not favoured: {big}");
}

trait IdOf {
    fn clone_id(&self) -> StreamId;
}

impl IdOf for Frame<'_> {
    fn clone_id(&self) -> StreamId {
        match *self {
            Frame::Open { id, .. }
            | Frame::Accept { id, .. }
            | Frame::Refuse { id, .. }
            | Frame::Data { id, .. }
            | Frame::Credit { id, .. }
            | Frame::Close { id }
            | Frame::Reset { id, .. } => id,
        }
    }
}

#[test]
fn refusal_reaches_the_opener_and_frees_the_stream() {
    let (mut a, mut b) = pair();
    let id = a
        .open("nope", Mode::Message, Priority::Interactive)
        .unwrap();
    a.send(id, b"queued before the answer").unwrap();
    pump(&mut a, &mut b, 1);
    b.refuse(id, RefuseReason::NotPublished).unwrap();
    assert_eq!(
        pump(&mut b, &mut a, 5),
        vec![Ev::Refused(id, RefuseReason::NotPublished)]
    );
    assert_eq!((a.streams(), b.streams(), a.buffered()), (0, 0, 0));
    assert_eq!(a.send(id, b"x"), Err(StreamError::Unknown));
}

#[test]
fn stream_slots_are_bounded_and_excess_opens_are_refused() {
    let cfg = MuxConfig {
        max_streams: 2,
        ..MuxConfig::default()
    };
    let mut a = Mux::new(MuxConfig::default(), true);
    let mut b = Mux::new(cfg, false);
    let ids: Vec<_> = (0..3)
        .map(|_| a.open("echo", Mode::Bytes, Priority::Bulk).unwrap())
        .collect();
    let evs = pump(&mut a, &mut b, 10);
    assert_eq!(evs.len(), 2);
    assert_eq!(b.streams(), 2);
    assert_eq!(
        pump(&mut b, &mut a, 10),
        vec![Ev::Refused(ids[2], RefuseReason::TooManyStreams)]
    );
    // Locally too.
    let mut c = Mux::new(cfg, true);
    c.open("x", Mode::Bytes, Priority::Bulk).unwrap();
    c.open("x", Mode::Bytes, Priority::Bulk).unwrap();
    assert_eq!(
        c.open("x", Mode::Bytes, Priority::Bulk),
        Err(StreamError::TooManyStreams)
    );
    assert_eq!(
        c.open("", Mode::Bytes, Priority::Bulk),
        Err(StreamError::BadName)
    );
}

#[test]
fn attacker_flooding_opens_without_reading_is_cut_off() {
    let cfg = MuxConfig {
        max_streams: 4,
        ..MuxConfig::default()
    };
    let mut victim = Mux::new(cfg, false);
    let mut buf = [0u8; 64];
    let mut id = 1;
    let err = loop {
        let n = Frame::Open {
            id,
            prio: Priority::Bulk,
            mode: Mode::Bytes,
            window: 1 << 20,
            service: "echo",
        }
        .encode(&mut buf)
        .unwrap();
        match victim.receive(&buf[..n]) {
            Ok(_) => {}
            Err(e) => break e,
        }
        id += 2;
        assert!(id < 1000, "never cut off");
    };
    assert_eq!(err, MuxError::Overloaded);
    assert!(victim.streams() <= 4);
}

#[test]
fn attacker_exceeding_credit_resets_only_its_stream() {
    let (mut a, mut b) = pair();
    let good = connect(&mut a, &mut b, Mode::Bytes, Priority::Bulk);
    let bad = connect(&mut a, &mut b, Mode::Bytes, Priority::Bulk);
    let mut buf = [0u8; MAX_RECORD_PAYLOAD];
    let chunk = [0u8; MAX_DATA_PAYLOAD];
    // Forge DATA beyond the granted window on `bad`.
    let mut sent = 0u64;
    let ev = loop {
        let n = Frame::Data {
            id: bad,
            end: false,
            bytes: &chunk,
        }
        .encode(&mut buf)
        .unwrap();
        match b.receive(&buf[..n]).unwrap() {
            Some(Event::Readable(_)) => sent += chunk.len() as u64,
            other => break other.map(own),
        }
    };
    assert_eq!(ev, Some(Ev::Reset(bad, ResetReason::FlowControl)));
    assert!(sent <= u64::from(b.config().window));
    assert_eq!(b.stream_buffered(bad), None);
    // The peer learns it; the other stream is untouched.
    assert_eq!(
        pump(&mut b, &mut a, 10),
        vec![Ev::Reset(bad, ResetReason::FlowControl)]
    );
    a.send(good, b"still fine").unwrap();
    settle(&mut a, &mut b);
    let mut out = [0u8; 32];
    assert_eq!(b.recv(good, &mut out), Ok(10));
}

#[test]
fn attacker_oversized_message_is_reset() {
    let (mut a, mut b) = pair();
    let id = connect(&mut a, &mut b, Mode::Message, Priority::Interactive);
    let mut buf = [0u8; MAX_RECORD_PAYLOAD];
    let chunk = [0u8; MAX_DATA_PAYLOAD];
    let mut last = None;
    for _ in 0..5 {
        let n = Frame::Data {
            id,
            end: false,
            bytes: &chunk,
        }
        .encode(&mut buf)
        .unwrap();
        last = b.receive(&buf[..n]).unwrap().map(own);
        if last.is_some() {
            break;
        }
    }
    assert_eq!(last, Some(Ev::Reset(id, ResetReason::MessageTooLarge)));
    assert_eq!(b.buffered(), 0);
}

#[test]
fn stream_id_rules_are_enforced() {
    let mut resp = Mux::new(MuxConfig::default(), false);
    let mut buf = [0u8; 64];
    let open = |id, buf: &mut [u8]| {
        Frame::Open {
            id,
            prio: Priority::Bulk,
            mode: Mode::Bytes,
            window: 1,
            service: "s",
        }
        .encode(buf)
        .unwrap()
    };
    // The initiator opens odd ids; an even id from it is a violation.
    let n = open(2, &mut buf);
    assert_eq!(resp.receive(&buf[..n]), Err(MuxError::BadOpenId(2)));
    let n = open(5, &mut buf);
    assert!(resp.receive(&buf[..n]).unwrap().is_some());
    // Ids never go back.
    let n = open(3, &mut buf);
    assert_eq!(resp.receive(&buf[..n]), Err(MuxError::BadOpenId(3)));
    let n = open(5, &mut buf);
    assert_eq!(resp.receive(&buf[..n]), Err(MuxError::BadOpenId(5)));
    // Frames for ids nobody used.
    let n = Frame::Close { id: 9 }.encode(&mut buf).unwrap();
    assert_eq!(resp.receive(&buf[..n]), Err(MuxError::UnknownId(9)));
    let n = Frame::Close { id: 8 }.encode(&mut buf).unwrap();
    assert_eq!(resp.receive(&buf[..n]), Err(MuxError::UnknownId(8)));
    // A used-then-gone id is dropped quietly (late frames after a reset).
    let n = Frame::Close { id: 1 }.encode(&mut buf).unwrap();
    assert_eq!(resp.receive(&buf[..n]), Ok(None));
    // Garbage is a frame error.
    assert_eq!(
        resp.receive(&[0x42]),
        Err(MuxError::Frame(FrameError::UnknownType(0x42)))
    );
}

#[test]
fn reset_is_immediate_both_sides_and_late_frames_are_ignored() {
    let (mut a, mut b) = pair();
    let id = connect(&mut a, &mut b, Mode::Bytes, Priority::Bulk);
    a.send(id, &[5u8; 20_000]).unwrap();
    pump(&mut a, &mut b, 2);
    b.reset(id, ResetReason::Cancelled).unwrap();
    assert_eq!(b.buffered(), 0);
    let (ea, _) = settle(&mut a, &mut b);
    assert_eq!(ea, vec![Ev::Reset(id, ResetReason::Cancelled)]);
    assert_eq!((a.streams(), b.streams(), a.buffered()), (0, 0, 0));
    assert_eq!(a.send(id, b"x"), Err(StreamError::Unknown));
    // Accept of an unknown or already-accepted stream.
    assert_eq!(b.accept(id), Err(StreamError::Unknown));
    let id2 = connect(&mut a, &mut b, Mode::Bytes, Priority::Bulk);
    assert_eq!(b.accept(id2), Err(StreamError::WrongState));
    assert_eq!(
        b.refuse(id2, RefuseReason::Denied),
        Err(StreamError::WrongState)
    );
}

#[test]
fn data_after_close_and_end_in_byte_mode_reset_the_stream() {
    let (mut a, mut b) = pair();
    let id = connect(&mut a, &mut b, Mode::Bytes, Priority::Bulk);
    let mut buf = [0u8; 64];
    let n = Frame::Data {
        id,
        end: true,
        bytes: b"x",
    }
    .encode(&mut buf)
    .unwrap();
    assert_eq!(
        b.receive(&buf[..n]).unwrap().map(own),
        Some(Ev::Reset(id, ResetReason::Protocol))
    );
    settle(&mut a, &mut b);
    let id = connect(&mut a, &mut b, Mode::Bytes, Priority::Bulk);
    a.close(id).unwrap();
    settle(&mut a, &mut b);
    let n = Frame::Data {
        id,
        end: false,
        bytes: b"x",
    }
    .encode(&mut buf)
    .unwrap();
    assert_eq!(
        b.receive(&buf[..n]).unwrap().map(own),
        Some(Ev::Reset(id, ResetReason::Protocol))
    );
}

#[test]
fn many_streams_share_fairly_in_round_robin() {
    let (mut a, mut b) = pair();
    let ids: Vec<_> = (0..4)
        .map(|_| connect(&mut a, &mut b, Mode::Bytes, Priority::Bulk))
        .collect();
    for &id in &ids {
        a.send(id, &[0u8; 40_000]).unwrap();
    }
    let mut buf = [0u8; MAX_RECORD_PAYLOAD];
    let mut order = Vec::new();
    for _ in 0..8 {
        let n = a.poll_transmit(&mut buf).unwrap();
        order.push(Frame::decode(&buf[..n]).unwrap().clone_id());
    }
    assert_eq!(order, [ids.clone(), ids].concat());
}

/// Found by the `dsoftbus_streams` fuzz target: after a swap-remove reordered the
/// stream table, OPENs left out of id order and the peer (rightly) closed the session.
#[test]
fn opens_leave_in_id_order_after_the_table_reorders() {
    let (mut a, mut b) = pair();
    let x = a.open("s", Mode::Bytes, Priority::Bulk).unwrap();
    let _y = a.open("s", Mode::Bytes, Priority::Bulk).unwrap();
    let _z = a.open("s", Mode::Bytes, Priority::Bulk).unwrap();
    a.reset(x, ResetReason::Cancelled).unwrap();
    let evs = pump(&mut a, &mut b, 10);
    assert_eq!(evs.len(), 2);
}
