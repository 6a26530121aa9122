//! DSoftBus trust and pairing: `TrustEntry::decode` (records from the disk),
//! `PairMsg::decode` and both pairing state machines fed forged messages.
//!
//! The whole input is decoded as one trust record and as one pairing message.
//! Then it is split into chunks that are fed, in turn, to a `PinDesk` (as the
//! PAKE_A of a new exchange or as the message after PAKE_B) and to a
//! `PairInitiator` (as the responder's messages); `ctl` advances the clock by
//! that many 100 ms steps.
//!
//! Invariants: never panics; a decoded record re-encodes to the same bytes and
//! its id derives from its key; a forged confirmation never pairs (the desk
//! answers `Ok` only to a confirmation of an exchange it started, which a
//! forger cannot compute without the PIN's key — checked by never accepting
//! a chunk whose bytes the target did not derive); the desk never allows more
//! than 3 exchanges per shown PIN.
#![no_main]

use dsoftbus::pairing::{Binding, PairInitiator, PairMsg, PinDesk, Verdict, MAX_ATTEMPTS};
use dsoftbus::{DeviceId, TrustEntry};
use libfuzzer_sys::fuzz_target;
use neuron_fuzz::chunks;

const MS: u64 = 1_000_000;

fuzz_target!(|data: &[u8]| {
    if let Ok(e) = TrustEntry::decode(data) {
        assert_eq!(e.encode(), data, "trust record decoding is not canonical");
        assert!(DeviceId::binds(e.device_id(), e.key()));
    }
    let _ = PairMsg::decode(data);

    let binding = Binding {
        initiator_key: [1; 32],
        responder_key: [2; 32],
        session_hash: [3; 32],
    };
    let mut desk = PinDesk::new();
    let mut now = 1_000 * MS;
    desk.show(123_456, now, 60_000 * MS).unwrap();
    let (mut init, _) = PairInitiator::start(654_321, binding, [4; 32]).unwrap();
    let mut pending = None;
    let mut begun = 0u32;
    for chunk in chunks(data).take(32) {
        now += u64::from(chunk.ctl) * 100 * MS;
        match pending.take() {
            None => {
                if let Ok((ex, reply)) = desk.begin("peer", chunk.data, binding, [5; 32], now) {
                    begun += 1;
                    assert!(begun <= u32::from(MAX_ATTEMPTS));
                    assert!(matches!(PairMsg::decode(&reply), Ok(PairMsg::PakeB(..))));
                    pending = Some(ex);
                }
            }
            Some(ex) => {
                // A forged CONFIRM_A: the PIN shown is not the fuzzer's to know.
                assert_ne!(desk.finish(ex, chunk.data, now), Verdict::Ok);
            }
        }
        let _ = init.on_message(chunk.data);
    }
});
