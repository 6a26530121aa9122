//! 1,000 session open/close cycles over the fake network: every cycle is a
//! full XK handshake with identity binding, an encrypted ping/pong and a
//! close on both sides; afterwards the heap in use (counted by a global
//! allocator wrapper) and the fake network's open sockets are back at their
//! level after the first cycles. A leak of even a few bytes per cycle fails.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use common::{hooked, identity, shared, Actor, SEC};
use dsoftbus::driver::{accept_session, close_connection, recv_record, send_record};
use dsoftbus::Record;
use nexus_net::fake::SimNet;
use nexus_net::Ipv4Addr;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        // SAFETY: `p` came from `alloc` with this layout.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

#[test]
fn thousand_session_cycles_leave_nothing_behind() {
    let sim = SimNet::new();
    let (na, nb) = (sim.add_node(A), sim.add_node(B));
    let (ia, ib) = (identity("node-a", 31), identity("node-b", 32));
    let mut cb_listener = None;
    let mut baseline = None;
    for cycle in 0..1000u64 {
        {
            let cache_a = common::cache_with(&ia, &[(&ib, B)], sim.now());
            let cache_b = common::cache_with(&ib, &[(&ia, A)], sim.now());
            let entry_b = cache_a.get(ib.device_id(), sim.now()).unwrap().clone();
            let actor = shared(Actor::new(&sim, sim.client(na, 1), ia.clone(), cache_a));
            let mut cb = hooked(&sim, nb, 1, std::slice::from_ref(&actor));
            let listener = match cb_listener {
                Some(l) => l,
                None => {
                    let (l, _) = cb.tcp_listen(common::SESSION_PORT, 4).unwrap();
                    cb_listener = Some(l);
                    l
                }
            };
            actor.borrow_mut().connect(&entry_b);
            let deadline = sim.now() + 2 * SEC;
            let mut conn = accept_session(
                &mut cb,
                listener,
                &ib,
                &cache_b.at(sim.now()),
                [7; 32],
                deadline,
            )
            .unwrap();
            send_record(&mut cb, &mut conn, &Record::Ping(cycle), deadline).unwrap();
            assert_eq!(
                recv_record(&mut cb, &mut conn, deadline),
                Ok(Record::Pong(cycle))
            );
            close_connection(&mut cb, conn, deadline);
            // The initiator side closes its stream too.
            let mut a = actor.borrow_mut();
            let stream = a.conn.take().unwrap().stream();
            a.client.close(stream).unwrap();
        }
        // Let closes finish on the fake network.
        sim.advance(10 * SEC);
        if cycle == 9 {
            baseline = Some((
                LIVE.load(Ordering::Relaxed),
                sim.with_net(|n| n.open_sockets(na)),
                sim.with_net(|n| n.open_sockets(nb)),
            ));
        }
    }
    let (heap0, sa0, sb0) = baseline.unwrap();
    let heap = LIVE.load(Ordering::Relaxed);
    println!("heap in use after 10 cycles: {heap0} B, after 1000: {heap} B");
    assert!(
        heap <= heap0,
        "heap grew from {heap0} to {heap} bytes over 990 cycles"
    );
    assert_eq!(
        (
            sim.with_net(|n| n.open_sockets(na)),
            sim.with_net(|n| n.open_sockets(nb))
        ),
        (sa0, sb0)
    );
}
