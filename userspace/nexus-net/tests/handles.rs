//! Handle table tests: bounds, ownership, staleness, client teardown, and via dispatch.
//!
//! Design notes
//! ------------
//! The table is exercised directly (with `u32` standing in for backend
//! sockets) and then through `dispatch` to check that exhaustion does not
//! leak backend sockets and that dead clients' sockets are closed.

mod common;

use common::Harness;
use nexus_net::{
    ClientId, Handle, HandleKind, HandleTable, NetError, Reply, Request, MAX_CLIENTS,
    MAX_HANDLES_PER_CLIENT,
};

const A: ClientId = ClientId(0xA);
const B: ClientId = ClientId(0xB);

#[test]
fn per_client_exhaustion_is_nobufs_and_isolated() {
    let mut t = HandleTable::<u32>::new();
    let hs: Vec<Handle> = (0..MAX_HANDLES_PER_CLIENT as u32)
        .map(|i| t.insert(A, HandleKind::TcpStream, i).unwrap())
        .collect();
    assert!(!t.has_room(A));
    assert_eq!(
        t.insert(A, HandleKind::TcpStream, 99),
        Err(NetError::NoBufs)
    );
    assert!(t.has_room(B));
    t.insert(B, HandleKind::UdpSocket, 7).unwrap();
    let unique: std::collections::HashSet<_> = hs.iter().collect();
    assert_eq!(unique.len(), hs.len());
    assert!(hs.iter().all(|h| h.raw() != 0));
    assert_eq!(t.count(A), MAX_HANDLES_PER_CLIENT);
    assert_eq!(t.total(), MAX_HANDLES_PER_CLIENT + 1);
}

#[test]
fn client_slots_are_bounded_and_released_with_the_last_handle() {
    let mut t = HandleTable::<u32>::new();
    let hs: Vec<Handle> = (0..MAX_CLIENTS as u64)
        .map(|c| {
            t.insert(ClientId(c), HandleKind::UdpSocket, c as u32)
                .unwrap()
        })
        .collect();
    let late = ClientId(1000);
    assert!(!t.has_room(late));
    assert_eq!(
        t.insert(late, HandleKind::UdpSocket, 0),
        Err(NetError::NoBufs)
    );
    t.remove(ClientId(5), hs[5]).unwrap();
    assert_eq!(t.clients(), MAX_CLIENTS - 1);
    t.insert(late, HandleKind::UdpSocket, 0).unwrap();
    assert_eq!(t.clients(), MAX_CLIENTS);
}

#[test]
fn close_frees_and_reuse_gets_a_new_generation() {
    let mut t = HandleTable::<u32>::new();
    let h = t.insert(A, HandleKind::TcpListener, 1).unwrap();
    assert_eq!(t.remove(A, h), Ok((HandleKind::TcpListener, 1)));
    assert_eq!(t.get(A, h), Err(NetError::NotFound), "use after close");
    assert_eq!(t.remove(A, h), Err(NetError::NotFound), "double close");
    let mut seen = std::collections::HashSet::new();
    seen.insert(h);
    for i in 0..1000 {
        let h2 = t.insert(A, HandleKind::TcpStream, i).unwrap();
        assert_eq!(h2.raw() & 0xff, h.raw() & 0xff, "same slot reused");
        assert!(seen.insert(h2), "handle value {h2} reused");
        assert_eq!(
            t.get(A, h),
            Err(NetError::NotFound),
            "stale handle stays dead"
        );
        t.remove(A, h2).unwrap();
    }
}

#[test]
fn full_table_is_reusable_after_close() {
    let mut t = HandleTable::<u32>::new();
    let hs: Vec<Handle> = (0..MAX_HANDLES_PER_CLIENT as u32)
        .map(|i| t.insert(A, HandleKind::TcpStream, i).unwrap())
        .collect();
    t.remove(A, hs[3]).unwrap();
    let h = t.insert(A, HandleKind::TcpStream, 42).unwrap();
    assert_ne!(h, hs[3]);
    assert_eq!(t.get(A, h), Ok((HandleKind::TcpStream, 42)));
}

#[test]
fn cross_client_access_is_not_found() {
    let mut t = HandleTable::<u32>::new();
    let ha = t.insert(A, HandleKind::TcpStream, 1).unwrap();
    assert_eq!(t.get(B, ha), Err(NetError::NotFound));
    assert_eq!(t.remove(B, ha), Err(NetError::NotFound));
    // Even if B owns a handle in the same slot, A's value is not B's handle.
    let hb = t.insert(B, HandleKind::TcpStream, 2).unwrap();
    assert_eq!(t.get(B, hb), Ok((HandleKind::TcpStream, 2)));
    assert_eq!(t.get(A, ha), Ok((HandleKind::TcpStream, 1)));
    t.remove(B, hb).unwrap();
    let hb2 = t.insert(B, HandleKind::TcpStream, 3).unwrap();
    assert_ne!(hb2, ha);
}

#[test]
fn kind_mismatch_is_invalid_input() {
    let mut t = HandleTable::<u32>::new();
    let h = t.insert(A, HandleKind::UdpSocket, 1).unwrap();
    assert_eq!(
        t.get_kind(A, h, HandleKind::TcpStream),
        Err(NetError::InvalidInput)
    );
    assert_eq!(t.get_kind(A, h, HandleKind::UdpSocket), Ok(1));
}

#[test]
fn drop_client_frees_everything_it_owned_only() {
    let mut t = HandleTable::<u32>::new();
    let mut mine: Vec<(Handle, u32)> = (0..5)
        .map(|i| (t.insert(A, HandleKind::TcpStream, i).unwrap(), i))
        .collect();
    let hb = t.insert(B, HandleKind::TcpStream, 100).unwrap();
    t.remove(A, mine.remove(2).0).unwrap();
    let mut dropped: Vec<(Handle, u32)> = t.drop_client(A).map(|(h, _, s)| (h, s)).collect();
    dropped.sort();
    mine.sort();
    assert_eq!(dropped, mine);
    assert_eq!(t.count(A), 0);
    assert_eq!(t.clients(), 1);
    for (h, _) in mine {
        assert_eq!(t.get(A, h), Err(NetError::NotFound));
    }
    assert_eq!(t.get(B, hb), Ok((HandleKind::TcpStream, 100)));
    assert_eq!(t.drop_client(A).count(), 0, "idempotent");
    assert_eq!(t.drop_client(ClientId(12345)).count(), 0);
}

#[test]
fn dispatch_exhaustion_does_not_leak_backend_sockets() {
    let mut h = Harness::new(&[[10, 0, 0, 1]]);
    let node = h.nodes[0];
    for port in 0..MAX_HANDLES_PER_CLIENT as u16 {
        let r = h.call(0, 1, &Request::UdpBind { port: 7000 + port });
        assert!(matches!(r, Ok(Reply::UdpBind { .. })));
    }
    assert_eq!(h.net.open_sockets(node), MAX_HANDLES_PER_CLIENT);
    assert_eq!(
        h.call(0, 1, &Request::UdpBind { port: 9000 }),
        Err(NetError::NoBufs)
    );
    assert_eq!(
        h.call(
            0,
            1,
            &Request::TcpListen {
                port: 9000,
                backlog: 1
            }
        ),
        Err(NetError::NoBufs)
    );
    assert_eq!(
        h.net.open_sockets(node),
        MAX_HANDLES_PER_CLIENT,
        "no orphaned socket"
    );
    // Another client is unaffected, and the port 9000 is still free.
    assert!(h.call(0, 2, &Request::UdpBind { port: 9000 }).is_ok());
}

#[test]
fn dispatch_drop_client_closes_backend_sockets() {
    let mut h = Harness::new(&[[10, 0, 0, 1]]);
    let node = h.nodes[0];
    for port in [1, 2, 3] {
        h.call(0, 1, &Request::UdpBind { port }).unwrap();
    }
    h.call(
        0,
        1,
        &Request::TcpListen {
            port: 80,
            backlog: 2,
        },
    )
    .unwrap();
    h.call(0, 2, &Request::UdpBind { port: 4 }).unwrap();
    assert_eq!(h.net.open_sockets(node), 5);
    let closed = h.servers[0].drop_client(&mut h.net.node(node), ClientId(1));
    assert_eq!(closed, 4);
    assert_eq!(h.net.open_sockets(node), 1);
    // The ports are free again for someone else.
    assert!(h
        .call(
            0,
            2,
            &Request::TcpListen {
                port: 80,
                backlog: 2
            }
        )
        .is_ok());
    assert!(h.call(0, 2, &Request::UdpBind { port: 1 }).is_ok());
}
