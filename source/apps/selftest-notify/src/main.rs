//! selftest-notify: proofs of the `Notify` syscall (docs/abi.md,
//! "Notifications"), one image in three roles chosen by its start-up
//! argument (`ModeArgs::mode`), all on the endpoint `notified`:
//!
//! - 0 `notify-check`: serves `notified`. Phase 1: it holds the caller's
//!   first call unanswered for a while (the flooder sets the pending
//!   notification meanwhile and the caller queues its next call), then
//!   receives: the queued call must come before the notification, and the
//!   notification right after. Phase 2: it serves the caller's calls while
//!   the flooder posts, until every call arrived and the notices' counts add
//!   up to exactly the flooder's posts. Prints `SELFTEST: notify ok …` or
//!   `SELFTEST: FAIL notify: <why>`.
//! - 1 `notify-caller`: SEND on `notified`; makes `CALLS` calls, each with a
//!   deadline (a starved caller would time out), checking every reply.
//! - 2 `notify-flood`: NOTIFY only on `notified` (the attacker). Checks that
//!   the capability cannot call or receive and says NOTIFY, prints
//!   `SELFTEST: notify rights ok`, then posts `POSTS` notifications as fast
//!   as it can (every one must succeed: nothing queues, nothing overflows).
#![cfg_attr(target_os = "none", no_std, no_main)]
// No `unsafe` here: the runtime's entry glue (`nexus_rt::entry!`) is the only unsafe code in this binary.
#![forbid(unsafe_code)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod notify {
    use nexus_abi::{rights, CapKind, DeathKind, DeathNotice, Error, KERNEL_BADGE};
    use nexus_interfaces::args::ModeArgs;
    use nexus_rt::{println, sys};

    const INIT: u32 = nexus_slots::selftest_notify::INIT;
    /// The flooder's posts.
    const POSTS: u64 = 20_000;
    /// The caller's calls (two of them in phase 1).
    const CALLS: u64 = 202;
    /// The caller's badge (profile `notify`).
    const CALLER_BADGE: u64 = 7;

    fn soon(ms: u64) -> u64 {
        sys::now_ns() + ms * 1_000_000
    }

    fn fail(why: &str) -> i32 {
        println!("SELFTEST: FAIL notify: {}", why);
        1
    }

    /// What one receive brought.
    enum Got {
        /// A call with its index and reply token.
        Call(u64, u64),
        /// A notification notice with its count of coalesced posts.
        Notice(u64),
    }

    fn recv(
        ep: u32,
        buf: &mut [u8; 64],
        deadline: u64,
        receives: &mut u64,
    ) -> Result<Got, &'static str> {
        *receives += 1;
        let m = sys::ipc_recv(ep, buf, deadline).map_err(|e| match e {
            Error::TimedOut => "timed out waiting",
            _ => "receive failed",
        })?;
        if m.badge == KERNEL_BADGE {
            let n = DeathNotice::decode(&buf[..m.len]).ok_or("undecodable kernel notice")?;
            if n.kind != DeathKind::Notify || n.task != 0 || m.token != 0 || n.code == 0 {
                return Err("kernel notice is not a notification");
            }
            return Ok(Got::Notice(n.code));
        }
        if m.badge != CALLER_BADGE || m.len != 8 {
            return Err("message from an unexpected sender");
        }
        let mut w = [0u8; 8];
        w.copy_from_slice(&buf[..8]);
        Ok(Got::Call(u64::from_le_bytes(w), m.token))
    }

    fn checker() -> i32 {
        let ep = nexus_slots::selftest_notify::ENDPOINT;
        let mut buf = [0u8; 64];
        let mut posts = 0u64;
        let mut notices = 0u64;
        let mut receives = 0u64;
        // Phase 1: the caller's first call (notices before it are counted).
        let token = loop {
            match recv(ep, &mut buf, soon(5000), &mut receives) {
                Ok(Got::Notice(n)) => {
                    posts += n;
                    notices += 1;
                }
                Ok(Got::Call(0, t)) => break t,
                Ok(Got::Call(..)) => return fail("calls out of order"),
                Err(e) => return fail(e),
            }
        };
        if sys::ipc_reply(token, &0u64.to_le_bytes(), None).is_err() {
            return fail("reply failed");
        }
        // Not receiving for 20 ms: the caller queues call 1, the flooder
        // posts (the notification stays pending).
        sys::sleep_ms(20);
        let token = match recv(ep, &mut buf, soon(5000), &mut receives) {
            Ok(Got::Call(1, t)) => t,
            Ok(Got::Notice(_)) => return fail("a notification overtook a queued call"),
            Ok(Got::Call(..)) => return fail("calls out of order"),
            Err(e) => return fail(e),
        };
        // The notification was pending all along: it comes next, at once.
        match recv(ep, &mut buf, soon(1), &mut receives) {
            Ok(Got::Notice(n)) => {
                posts += n;
                notices += 1;
            }
            Ok(Got::Call(..)) => return fail("a call arrived from a caller awaiting its reply"),
            Err(_) => return fail("no notification pending after phase 1 (flooder not running?)"),
        }
        if sys::ipc_reply(token, &1u64.to_le_bytes(), None).is_err() {
            return fail("reply failed");
        }
        let mut next = 2;
        // Phase 2: serve the calls during the flood until all arrived and
        // the notices account for every post.
        while next < CALLS || posts < POSTS {
            match recv(ep, &mut buf, soon(5000), &mut receives) {
                Ok(Got::Notice(n)) => {
                    posts += n;
                    notices += 1;
                    if posts > POSTS {
                        return fail("notices count more posts than were made");
                    }
                }
                Ok(Got::Call(i, t)) if i == next => {
                    next += 1;
                    if sys::ipc_reply(t, &i.to_le_bytes(), None).is_err() {
                        return fail("reply failed");
                    }
                }
                Ok(Got::Call(..)) => return fail("calls out of order"),
                Err(e) => {
                    println!(
                        "notify-check: calls={} posts_seen={} notices={}",
                        next, posts, notices
                    );
                    return fail(e);
                }
            }
        }
        // Coalesced: one notice per receive at most, however many posts.
        if notices > receives || notices >= POSTS {
            return fail("notifications were not coalesced");
        }
        println!(
            "SELFTEST: notify ok calls={} posts={} notices={}",
            next, posts, notices
        );
        0
    }

    fn caller() -> i32 {
        let ep = nexus_slots::selftest_notify::TARGET;
        for i in 0..CALLS {
            let mut reply = [0u8; 8];
            match sys::ipc_call(ep, &i.to_le_bytes(), &mut reply, None, soon(5000)) {
                Ok((8, None)) if u64::from_le_bytes(reply) == i => {}
                Ok(_) => return fail("caller: wrong reply"),
                Err(Error::TimedOut) => return fail("caller: starved (call timed out)"),
                Err(_) => return fail("caller: call failed"),
            }
        }
        0
    }

    fn flooder() -> i32 {
        let ep = nexus_slots::selftest_notify::WAKE;
        let mut reply = [0u8; 8];
        let mut buf = [0u8; 64];
        let info = sys::cap_info(ep);
        if !info.is_ok_and(|i| i.kind == Some(CapKind::Endpoint) && i.rights == rights::NOTIFY) {
            return fail("flooder: its capability is not NOTIFY only");
        }
        if sys::ipc_call(ep, b"x", &mut reply, None, soon(100)) != Err(Error::NoRights) {
            return fail("flooder: called with a NOTIFY-only capability");
        }
        if sys::ipc_recv(ep, &mut buf, soon(100)).map(|_| ()) != Err(Error::NoRights) {
            return fail("flooder: received with a NOTIFY-only capability");
        }
        println!("SELFTEST: notify rights ok");
        for i in 0..POSTS {
            if sys::notify(ep).is_err() {
                return fail("flooder: a post failed");
            }
            // Let the others run now and then (the proof needs the flood
            // to last while the checker works through its phases).
            if i % 256 == 255 {
                sys::sleep_ms(1);
            }
        }
        0
    }

    pub fn main(_: u64) -> i32 {
        let mode = match nexus_rt::ipc::fetch_args::<ModeArgs>(INIT) {
            Ok(a) => a.mode,
            Err(e) => {
                println!("selftest-notify: no mode argument: {:?}", e);
                return 2;
            }
        };
        match mode {
            0 => checker(),
            1 => caller(),
            2 => flooder(),
            m => {
                println!("selftest-notify: unknown mode {}", m);
                2
            }
        }
    }
}

#[cfg(target_os = "none")]
nexus_rt::entry!(notify::main);
