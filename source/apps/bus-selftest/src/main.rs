//! bus-selftest: applications that use DSoftBus only through the `bus` interface of
//! dsoftbusd (no sockets, no keys).
//!
//! * mode 0, `bus-echo`: publishes `echo` and echoes every message of every stream it
//!   accepts until the opener closes.
//! * mode 1, `bus-client`: waits for a peer that offers `echo`, opens it, sends a
//!   message, checks the echo and closes (`SELFTEST: bus echo ok`), after showing that
//!   a service the peer does not offer is refused (`SELFTEST: bus refused ok`).
#![cfg_attr(target_os = "none", no_std, no_main)]
// No `unsafe` here: the runtime's entry glue (`nexus_rt::entry!`) is the only unsafe code in this binary.
#![deny(unsafe_code)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod app {
    use nexus_interfaces::args::ModeArgs;
    use nexus_interfaces::bus::{Client, Error, Mode, PeerEvent, Priority};
    use nexus_rt::ipc::Endpoint;
    use nexus_rt::{println, sys};
    use nexus_slots::bus_selftest as slot;

    const SEC: u64 = 1_000_000_000;

    fn bus(deadline: u64) -> Client<Endpoint> {
        let mut c = Client::new(Endpoint(slot::BUS));
        // Parked calls are answered by their own deadline; the IPC call waits a
        // little longer than that.
        c.deadline_ns = deadline + SEC;
        c
    }

    fn echo() -> Result<(), Error> {
        bus(sys::now_ns()).publish("echo")?;
        println!("bus-echo: published echo");
        loop {
            let dl = sys::now_ns() + 3600 * SEC;
            let inc = bus(dl).accept("echo", dl)?;
            loop {
                let dl = sys::now_ns() + 30 * SEC;
                match bus(dl).recv(inc.handle, 8000, dl) {
                    Ok(m) if m.is_empty() => break,
                    Ok(m) => {
                        bus(dl).send(inc.handle, &m, dl)?;
                    }
                    Err(_) => break,
                }
            }
            let _ = bus(sys::now_ns()).close(inc.handle);
        }
    }

    fn client() -> Result<(), &'static str> {
        // Wait (bounded) for a peer that offers echo.
        let end = sys::now_ns() + 30 * SEC;
        let peer = loop {
            if sys::now_ns() > end {
                return Err("no peer offers echo");
            }
            let dl = (sys::now_ns() + SEC).min(end);
            match bus(dl).next_peer_event(dl) {
                Ok(PeerEvent::Online { peer }) | Ok(PeerEvent::ServicesChanged { peer })
                    if peer.services.0.iter().any(|s| s == "echo") =>
                {
                    break peer.device_id
                }
                _ => {}
            }
            // Announcements may carry the service before or after the session event.
            if let Ok(list) = bus(sys::now_ns()).peers("") {
                if let Some(p) = list
                    .0
                    .iter()
                    .find(|p| p.online && p.services.0.iter().any(|s| s == "echo"))
                {
                    break p.device_id.clone();
                }
            }
        };
        let dl = sys::now_ns() + 5 * SEC;
        match bus(dl).open(&peer, "samgrd", Mode::Message, Priority::Interactive, dl) {
            Err(Error::NotPublished) => {
                println!("SELFTEST: bus refused ok (samgrd: not published)")
            }
            other => {
                println!("SELFTEST: FAIL bus refused: {:?}", other);
                return Err("refusal");
            }
        }
        let t0 = sys::now_ns();
        let dl = t0 + 5 * SEC;
        let h = bus(dl)
            .open(&peer, "echo", Mode::Message, Priority::Interactive, dl)
            .map_err(|_| "open echo")?;
        let open_us = (sys::now_ns() - t0) / 1000;
        let msg = b"hello over the bus";
        bus(dl).send(h, msg, dl).map_err(|_| "send")?;
        let back = bus(dl).recv(h, 8000, dl).map_err(|_| "recv")?;
        if &back[..] != msg {
            return Err("echo differs");
        }
        let _ = bus(dl).close(h);
        println!(
            "SELFTEST: bus echo ok peer={} open_us={} rtt_us={}",
            peer,
            open_us,
            (sys::now_ns() - t0) / 1000 - open_us
        );
        Ok(())
    }

    pub fn main(_: u64) -> i32 {
        let mode = match nexus_rt::ipc::fetch_args::<ModeArgs>(slot::INIT) {
            Ok(a) => a.mode,
            Err(e) => {
                println!("SELFTEST: FAIL bus: no mode argument: {:?}", e);
                return 2;
            }
        };
        match mode {
            0 => {
                let r = echo();
                println!("bus-echo: stopped: {:?}", r);
                1
            }
            _ => match client() {
                Ok(()) => 0,
                Err(why) => {
                    println!("SELFTEST: FAIL bus echo: {}", why);
                    1
                }
            },
        }
    }
}

#[cfg(target_os = "none")]
nexus_rt::entry!(app::main);
