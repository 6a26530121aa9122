//! PIN pairing state machines: success, wrong PIN, tampering, relays, rate limits.

use dsoftbus::pairing::{
    draw_pin, Binding, InitStep, PairError, PairInitiator, PairMsg, PinDesk, SeededRng, Verdict,
    BACKOFF_BASE_NS, EXCHANGE_NS, MAX_ATTEMPTS,
};
use rand_core::RngCore;

const S: u64 = 1_000_000_000;

fn binding(a: u8, b: u8, h: u8) -> Binding {
    Binding {
        initiator_key: [a; 32],
        responder_key: [b; 32],
        session_hash: [h; 32],
    }
}

/// One exchange; returns (initiator outcome, responder verdict).
fn run(
    desk: &mut PinDesk,
    pin: u32,
    ib: Binding,
    rb: Binding,
    now: u64,
) -> (Result<(), PairError>, Verdict) {
    let (mut init, pake_a) = PairInitiator::start(pin, ib, [1; 32]).unwrap();
    let (ex, pake_b) = match desk.begin("peer-a", &pake_a, rb, [2; 32], now) {
        Ok(x) => x,
        Err(v) => {
            let r = init.on_message(&v.message()).map(|_| ());
            return (r, v);
        }
    };
    let confirm = match init.on_message(&pake_b) {
        Ok(InitStep::Send(m)) => m,
        Ok(InitStep::Paired) => panic!("paired before confirmation"),
        Err(e) => {
            // The initiator tells the responder (its MAC check failed).
            let v = desk.finish(ex, &Verdict::WrongPin.message(), now);
            return (Err(e), v);
        }
    };
    let v = desk.finish(ex, &confirm, now);
    let r = match init.on_message(&v.message()) {
        Ok(InitStep::Paired) => Ok(()),
        Ok(InitStep::Send(_)) => panic!("second confirmation"),
        Err(e) => Err(e),
    };
    (r, v)
}

#[test]
fn right_pin_pairs_both_sides() {
    let mut desk = PinDesk::new();
    desk.show(123_456, 0, 60 * S).unwrap();
    let b = binding(1, 2, 3);
    assert_eq!(run(&mut desk, 123_456, b, b, S), (Ok(()), Verdict::Ok));
    // One success uses the PIN up.
    assert!(!desk.showing(S));
    assert_eq!(
        run(&mut desk, 123_456, b, b, 2 * S),
        (Err(PairError::NotPairing), Verdict::NotPairing)
    );
}

#[test]
fn pin_zero_and_leading_zeros_work_and_out_of_range_is_refused() {
    for pin in [0, 7, 999_999] {
        let mut desk = PinDesk::new();
        desk.show(pin, 0, 60 * S).unwrap();
        let b = binding(1, 2, 3);
        assert_eq!(run(&mut desk, pin, b, b, 0), (Ok(()), Verdict::Ok));
    }
    assert!(matches!(
        PairInitiator::start(1_000_000, binding(1, 2, 3), [0; 32]),
        Err(PairError::BadPin)
    ));
    assert_eq!(PinDesk::new().show(1_000_000, 0, S), Err(PairError::BadPin));
}

#[test]
fn wrong_pin_fails_on_both_sides_then_rate_limited() {
    let mut desk = PinDesk::new();
    desk.show(111_111, 0, 300 * S).unwrap();
    let b = binding(1, 2, 3);
    assert_eq!(
        run(&mut desk, 222_222, b, b, 0),
        (Err(PairError::WrongPin), Verdict::WrongPin)
    );
    // Immediate retry, even with the right PIN: backed off.
    assert_eq!(
        run(&mut desk, 111_111, b, b, 1),
        (Err(PairError::RateLimited), Verdict::RateLimited)
    );
    assert_eq!(desk.backed_off_until("peer-a", 1), Some(BACKOFF_BASE_NS));
    // After the back-off the right PIN still works (1 of 3 attempts used).
    assert_eq!(run(&mut desk, 111_111, b, b, 2 * S), (Ok(()), Verdict::Ok));
    assert_eq!(
        desk.backed_off_until("peer-a", 2 * S),
        None,
        "success clears"
    );
}

#[test]
fn back_off_doubles_and_pin_dies_after_three_failures() {
    let mut desk = PinDesk::new();
    desk.show(5, 0, 300 * S).unwrap();
    let b = binding(1, 2, 3);
    let mut now = 0;
    let mut waits = Vec::new();
    for _ in 0..MAX_ATTEMPTS {
        assert_eq!(run(&mut desk, 6, b, b, now).1, Verdict::WrongPin);
        let until = desk.backed_off_until("peer-a", now).unwrap();
        waits.push(until - now);
        now = until;
    }
    assert_eq!(waits, [S, 2 * S, 4 * S]);
    // Withdrawn: even the right PIN is refused.
    assert!(!desk.showing(now));
    assert_eq!(
        run(&mut desk, 5, b, b, now),
        (Err(PairError::NotPairing), Verdict::NotPairing)
    );
}

#[test]
fn expired_and_withdrawn_pins_are_not_pairing() {
    let b = binding(1, 2, 3);
    let mut desk = PinDesk::new();
    assert_eq!(
        run(&mut desk, 1, b, b, 0).1,
        Verdict::NotPairing,
        "never shown"
    );
    desk.show(1, 0, 5 * S).unwrap();
    assert_eq!(
        run(&mut desk, 1, b, b, 5 * S).1,
        Verdict::NotPairing,
        "expired"
    );
    desk.show(1, 10 * S, 5 * S).unwrap();
    desk.withdraw();
    assert_eq!(
        run(&mut desk, 1, b, b, 11 * S).1,
        Verdict::NotPairing,
        "withdrawn"
    );
    // A new PIN replaces the old one.
    desk.show(1, 20 * S, 5 * S).unwrap();
    desk.show(2, 20 * S, 5 * S).unwrap();
    assert_eq!(run(&mut desk, 1, b, b, 21 * S).1, Verdict::WrongPin);
}

#[test]
fn a_relay_between_two_sessions_fails_even_with_the_right_pin() {
    // A thinks it pairs with M (keys 1, 9, session hash 3); B shows the PIN and sees M
    // (keys 9, 2, hash 4). M relays every message unchanged.
    let mut desk = PinDesk::new();
    desk.show(424_242, 0, 60 * S).unwrap();
    assert_eq!(
        run(&mut desk, 424_242, binding(1, 9, 3), binding(9, 2, 4), 0),
        (Err(PairError::WrongPin), Verdict::WrongPin)
    );
    // Same keys, other session: the handshake hash alone breaks it too.
    desk.show(424_242, 10 * S, 60 * S).unwrap();
    let mut d2 = PinDesk::new();
    d2.show(424_242, 0, 60 * S).unwrap();
    assert_eq!(
        run(&mut d2, 424_242, binding(1, 2, 3), binding(1, 2, 4), 0).1,
        Verdict::WrongPin
    );
    // Swapped roles (A claims to be the responder): no key agreement either.
    let mut d3 = PinDesk::new();
    d3.show(424_242, 0, 60 * S).unwrap();
    assert_eq!(
        run(&mut d3, 424_242, binding(1, 2, 3), binding(2, 1, 3), 0).1,
        Verdict::WrongPin
    );
}

#[test]
fn tampering_with_any_message_fails_on_both_sides() {
    let b = binding(1, 2, 3);
    for (msg, byte) in [(0usize, 5usize), (0, 30), (1, 5), (1, 40), (1, 60), (2, 10)] {
        let mut desk = PinDesk::new();
        desk.show(77, 0, 60 * S).unwrap();
        let (mut init, mut pake_a) = PairInitiator::start(77, b, [1; 32]).unwrap();
        if msg == 0 {
            pake_a[byte] ^= 1;
        }
        let (ex, mut pake_b) = match desk.begin("peer-a", &pake_a, b, [2; 32], 0) {
            Ok(x) => x,
            Err(v) => {
                // A point that does not decode: refused (and counted).
                assert_eq!(v, Verdict::Protocol);
                continue;
            }
        };
        if msg == 1 {
            pake_b[byte] ^= 1;
        }
        let mut confirm = match init.on_message(&pake_b) {
            Ok(InitStep::Send(m)) => m,
            Err(e) => {
                assert!(matches!(e, PairError::WrongPin | PairError::Protocol));
                assert_eq!(
                    desk.finish(ex, &Verdict::WrongPin.message(), 0),
                    Verdict::WrongPin
                );
                continue;
            }
            Ok(InitStep::Paired) => panic!(),
        };
        if msg == 2 {
            confirm[byte] ^= 1;
        }
        assert_eq!(
            desk.finish(ex, &confirm, 0),
            Verdict::WrongPin,
            "msg {msg} byte {byte}"
        );
    }
}

#[test]
fn one_exchange_at_a_time_and_late_confirmation_fails() {
    let b = binding(1, 2, 3);
    let mut desk = PinDesk::new();
    desk.show(9, 0, 300 * S).unwrap();
    let (_i1, a1) = PairInitiator::start(9, b, [1; 32]).unwrap();
    let (ex, _) = desk.begin("peer-a", &a1, b, [2; 32], 0).unwrap();
    let (_i2, a2) = PairInitiator::start(9, b, [3; 32]).unwrap();
    assert_eq!(
        desk.begin("peer-x", &a2, b, [4; 32], 1).err(),
        Some(Verdict::RateLimited),
        "second exchange while one runs"
    );
    // The first one never confirms: after the deadline it is a failure.
    assert_eq!(desk.finish(ex, &[3; 33], EXCHANGE_NS), Verdict::WrongPin);
    assert!(!desk.busy(EXCHANGE_NS));
}

#[test]
fn abandoned_exchanges_count_against_the_pin() {
    // An attacker learns from PAKE_B whether its guess was right, so walking away
    // must cost an attempt: three abandoned exchanges withdraw the PIN.
    let b = binding(1, 2, 3);
    let mut desk = PinDesk::new();
    desk.show(9, 0, 300 * S).unwrap();
    for k in 0..MAX_ATTEMPTS {
        let (_i, a) = PairInitiator::start(k as u32, b, [k; 32]).unwrap();
        let peer = format!("attacker-{k}");
        let (ex, _) = desk.begin(&peer, &a, b, [2; 32], 0).unwrap();
        desk.abandon(ex);
    }
    assert!(!desk.showing(0));
    assert_eq!(run(&mut desk, 9, b, b, 100 * S).1, Verdict::NotPairing);
}

#[test]
fn messages_decode_strictly() {
    assert_eq!(PairMsg::decode(&[]), Err(PairError::Protocol));
    assert_eq!(PairMsg::decode(&[4, 0]), Ok(PairMsg::Verdict(Verdict::Ok)));
    assert_eq!(PairMsg::decode(&[4, 5]), Err(PairError::Protocol));
    assert_eq!(PairMsg::decode(&[4, 0, 0]), Err(PairError::Protocol));
    assert_eq!(PairMsg::decode(&[9, 0]), Err(PairError::Protocol));
    let (_, a) = PairInitiator::start(1, binding(1, 2, 3), [1; 32]).unwrap();
    assert_eq!(a.len(), 35);
    assert_eq!(&a[..3], &[1, 1, b'A']);
    assert!(matches!(PairMsg::decode(&a), Ok(PairMsg::PakeA(_))));
    let mut v2 = a.clone();
    v2[1] = 2;
    assert_eq!(PairMsg::decode(&v2), Err(PairError::Protocol), "version");
    for n in 0..a.len() {
        assert!(PairMsg::decode(&a[..n]).is_err());
    }
    assert!(matches!(
        PairMsg::decode(&[3; 33]),
        Ok(PairMsg::ConfirmA(_))
    ));
    assert!(PairMsg::decode(&[3; 34]).is_err());
    assert!(matches!(PairMsg::decode(&[2; 66]), Ok(PairMsg::PakeB(..))));
    assert!(PairMsg::decode(&[2; 65]).is_err());
    // Unexpected message in the initiator's state machine.
    let (mut i, _) = PairInitiator::start(1, binding(1, 2, 3), [1; 32]).unwrap();
    assert_eq!(i.on_message(&[3; 33]), Err(PairError::Protocol));
}

#[test]
fn pins_are_uniform_by_rejection_sampling() {
    // Values at or above 4 294 000 000 are drawn again.
    let mut v = [4_294_000_000u32, u32::MAX, 4_293_999_999].into_iter();
    assert_eq!(draw_pin(|| v.next()), Some(999_999));
    let mut v = [1_000_005u32].into_iter();
    assert_eq!(draw_pin(|| v.next()), Some(5));
    assert_eq!(draw_pin(|| None), None);
    assert_eq!(draw_pin(|| Some(u32::MAX)), None, "bounded");
    // Roughly uniform over a cheap test range.
    let mut rng = SeededRng::new([7; 32]);
    let mut buckets = [0u32; 10];
    for _ in 0..20_000 {
        let p = draw_pin(|| Some(rng.next_u32())).unwrap();
        assert!(p <= 999_999);
        buckets[(p / 100_000) as usize] += 1;
    }
    assert!(
        buckets.iter().all(|&n| (1_700..2_300).contains(&n)),
        "{buckets:?}"
    );
}

#[test]
fn seeded_rng_depends_on_its_seed_and_never_repeats_blocks() {
    let mut a = SeededRng::new([1; 32]);
    let mut b = SeededRng::new([2; 32]);
    let (mut x, mut y) = ([0u8; 100], [0u8; 100]);
    a.fill_bytes(&mut x);
    b.fill_bytes(&mut y);
    assert_ne!(x, y);
    assert_ne!(x[..32], x[32..64]);
    let mut a2 = SeededRng::new([1; 32]);
    let mut x2 = [0u8; 100];
    a2.fill_bytes(&mut x2[..7]);
    a2.fill_bytes(&mut x2[7..]);
    assert_eq!(x, x2);
}
