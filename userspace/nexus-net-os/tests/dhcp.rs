//! Address policy: DHCP against a test DHCP server on the raw side of the
//! link, the `qemu-smoke` fallback, and DHCP without a server.

mod common;

use common::{dhcp_type, parse_udp, serve_dhcp, silent_wire, DhcpServer, SEC};
use nexus_net::Ipv4Addr;
use nexus_net_os::memlink::LinkConfig;
use nexus_net_os::smoltcp::wire::{DhcpMessageType, EthernetAddress};
use nexus_net_os::testing::{test_mac, TestNet};
use nexus_net_os::{AddrPolicy, NetEvent, StackConfig};

fn dhcp_net() -> TestNet {
    let net = TestNet::single(
        StackConfig::new(test_mac(0), AddrPolicy::Dhcp),
        LinkConfig::default(),
    );
    net.with_stack(0, |s| s.device().enable_tap(1024));
    net
}

fn captured(net: &TestNet) -> Vec<nexus_net_os::memlink::Captured> {
    net.with_stack(0, |s| s.device().take_tap())
}

fn discovers(frames: &[nexus_net_os::memlink::Captured]) -> usize {
    frames
        .iter()
        .filter(|c| dhcp_type(&c.frame) == Some(DhcpMessageType::Discover))
        .count()
}

#[test]
fn dhcp_lease_is_applied() {
    let net = dhcp_net();
    let server = DhcpServer::new(
        Ipv4Addr::new(192, 168, 7, 50),
        Some(Ipv4Addr::new(192, 168, 7, 1)),
    );
    serve_dhcp(&net, &server);
    assert!(net.run_until(5 * SEC, |n| n.with_stack(0, |s| s.iface_info()).is_some()));

    // The first frame on the wire is a DISCOVER: UDP 68→67, 0.0.0.0 →
    // 255.255.255.255, Ethernet broadcast from our MAC.
    let frames = captured(&net);
    let first = frames.first().expect("frames captured");
    let u = parse_udp(&first.frame).expect("UDP frame");
    assert_eq!((u.src_port, u.dst_port), (68, 67));
    assert_eq!(u.ip_src, Ipv4Addr::UNSPECIFIED);
    assert_eq!(u.ip_dst, Ipv4Addr::BROADCAST);
    assert_eq!(u.eth_dst, EthernetAddress::BROADCAST);
    assert_eq!(u.eth_src, EthernetAddress(test_mac(0)));
    assert_eq!(dhcp_type(&first.frame), Some(DhcpMessageType::Discover));
    assert_eq!(
        *server.seen.borrow(),
        vec![DhcpMessageType::Discover, DhcpMessageType::Request]
    );

    let info = net.with_stack(0, |s| s.iface_info()).unwrap();
    assert_eq!(info.addr, Ipv4Addr::new(192, 168, 7, 50));
    assert_eq!(info.prefix_len, 24);
    assert_eq!(info.gateway, Some(Ipv4Addr::new(192, 168, 7, 1)));
    let lease = (info.addr, info.prefix_len, info.gateway);
    assert_eq!(
        net.take_events(0),
        vec![
            NetEvent::DhcpBound {
                addr: lease.0,
                prefix_len: lease.1,
                gateway: lease.2
            },
            NetEvent::IfaceUp {
                addr: lease.0,
                prefix_len: lease.1,
                gateway: lease.2
            },
        ]
    );
    // Over the facade.
    let mut c = net.client(0, 1);
    assert_eq!(c.local_addr().unwrap(), info);
    // The link details: our MAC, the DHCP source and the lease time the
    // server gave (read from its ACK).
    let link = c.link_info().unwrap();
    assert_eq!(link.mac, test_mac(0));
    assert_eq!(link.source, nexus_net::AddrSource::Dhcp);
    assert_eq!(link.lease_secs, server.lease_secs);
    assert!(link.age_secs <= 5);
    // The lease is renewed quietly: no more events within an hour's half.
    net.run_for(1000 * SEC);
    assert!(net.take_events(0).is_empty());
    assert_eq!(net.with_stack(0, |s| s.iface_info()), Some(info));
}

#[test]
fn dhcp_lease_loss_is_reported() {
    let net = dhcp_net();
    let mut server = DhcpServer::new(Ipv4Addr::new(172, 16, 0, 9), None);
    server.lease_secs = 120;
    serve_dhcp(&net, &server);
    assert!(net.run_until(5 * SEC, |n| n.with_stack(0, |s| s.iface_info()).is_some()));
    net.take_events(0);
    server.enabled.set(false);
    assert!(net.run_until(200 * SEC, |n| n.with_stack(0, |s| s.iface_info()).is_none()));
    let events = net.take_events(0);
    assert_eq!(events.first(), Some(&NetEvent::DhcpLost));
    let link = net.client(0, 1).link_info().unwrap();
    assert_eq!(
        (link.source, link.lease_secs),
        (nexus_net::AddrSource::None, 0)
    );
    // A returning server gives the lease back.
    server.enabled.set(true);
    assert!(net.run_until(60 * SEC, |n| n.with_stack(0, |s| s.iface_info()).is_some()));
    let info = net.with_stack(0, |s| s.iface_info()).unwrap();
    assert_eq!(info.addr, Ipv4Addr::new(172, 16, 0, 9));
}

/// Runs in 100 ms steps (so a delayed OFFER leaves on time) until the
/// stack has an address or `max_ns` passed; returns the events.
fn run_stepwise(net: &TestNet, max_ns: u64) -> Vec<NetEvent> {
    let end = net.now() + max_ns;
    while net.now() < end && net.with_stack(0, |s| s.iface_info()).is_none() {
        net.advance(100 * common::MS);
    }
    net.take_events(0)
}

/// A server that probes for 3 s before offering (dnsmasq's default) binds
/// the address; the fallback (if built in) never comes first.
#[test]
fn slow_server_binds_before_any_fallback() {
    let net = dhcp_net();
    let mut server = DhcpServer::new(
        Ipv4Addr::new(10, 0, 2, 15),
        Some(Ipv4Addr::new(10, 0, 2, 2)),
    );
    server.offer_delay_ns = 3 * SEC;
    serve_dhcp(&net, &server);
    let events = run_stepwise(&net, 60 * SEC);
    assert!(
        matches!(events.first(), Some(NetEvent::DhcpBound { .. })),
        "{events:?}"
    );
    assert!(
        net.now() >= 3 * SEC && net.now() < 5 * SEC,
        "bound at {}",
        net.now()
    );
    net.run_for(120 * SEC);
    let later = net.take_events(0);
    assert!(
        !later
            .iter()
            .any(|e| matches!(e, NetEvent::DhcpFallback { .. })),
        "{later:?}"
    );
}

/// The same server, with the first two DISCOVERs lost: it answers the third
/// (sent at 20 s) after its 3 s probe, still inside the fallback wait.
#[test]
fn server_answering_the_third_discover_still_wins() {
    let net = dhcp_net();
    let server = DhcpServer::new(
        Ipv4Addr::new(10, 0, 2, 15),
        Some(Ipv4Addr::new(10, 0, 2, 2)),
    );
    let mut server = server;
    server.offer_delay_ns = 3 * SEC;
    server.ignore_discovers.set(2);
    serve_dhcp(&net, &server);
    let events = run_stepwise(&net, 60 * SEC);
    assert!(
        matches!(events.first(), Some(NetEvent::DhcpBound { .. })),
        "{events:?}"
    );
    assert!(net.now() > 20 * SEC, "bound at {}", net.now());
    #[cfg(feature = "qemu-smoke")]
    assert!(net.now() < nexus_net_os::DHCP_FALLBACK_WAIT_NS);
}

/// After a lease expires the interface stays unaddressed: no static address
/// is ever applied once a real lease was held (with or without `qemu-smoke`).
#[test]
fn no_static_address_after_a_lease_expired() {
    let net = dhcp_net();
    let mut server = DhcpServer::new(
        Ipv4Addr::new(10, 0, 2, 15),
        Some(Ipv4Addr::new(10, 0, 2, 2)),
    );
    server.lease_secs = 60;
    serve_dhcp(&net, &server);
    assert!(net.run_until(5 * SEC, |n| n.with_stack(0, |s| s.iface_info()).is_some()));
    net.take_events(0);
    server.enabled.set(false);
    assert!(net.run_until(120 * SEC, |n| n.with_stack(0, |s| s.iface_info()).is_none()));
    net.run_for(300 * SEC);
    assert_eq!(net.with_stack(0, |s| s.iface_info()), None);
    assert_eq!(net.take_events(0), vec![NetEvent::DhcpLost]);
    // DHCP still runs: DISCOVERs keep going out after the loss.
    let frames = captured(&net);
    assert!(discovers(&frames) >= 10, "{}", discovers(&frames));
}

#[cfg(feature = "qemu-smoke")]
#[test]
fn qemu_smoke_falls_back_to_static_then_dhcp_replaces_it() {
    use common::MS;
    use nexus_net_os::{
        DHCP_FALLBACK_WAIT_NS, QEMU_FALLBACK_ADDR, QEMU_FALLBACK_GATEWAY, QEMU_FALLBACK_PREFIX,
    };
    let net = dhcp_net();
    silent_wire(&net);
    net.run_for(DHCP_FALLBACK_WAIT_NS - MS);
    assert_eq!(net.with_stack(0, |s| s.iface_info()), None);
    assert!(net.take_events(0).is_empty());
    net.run_for(2 * MS);
    let info = net
        .with_stack(0, |s| s.iface_info())
        .expect("fallback applied");
    assert_eq!(info.addr, QEMU_FALLBACK_ADDR);
    assert_eq!(info.prefix_len, QEMU_FALLBACK_PREFIX);
    assert_eq!(info.gateway, Some(QEMU_FALLBACK_GATEWAY));
    let fb = (
        QEMU_FALLBACK_ADDR,
        QEMU_FALLBACK_PREFIX,
        Some(QEMU_FALLBACK_GATEWAY),
    );
    assert_eq!(
        net.take_events(0),
        vec![
            NetEvent::DhcpFallback {
                addr: fb.0,
                prefix_len: fb.1,
                gateway: fb.2
            },
            NetEvent::IfaceUp {
                addr: fb.0,
                prefix_len: fb.1,
                gateway: fb.2
            },
        ]
    );
    let mut c = net.client(0, 1);
    assert_eq!(c.local_addr().unwrap().addr, QEMU_FALLBACK_ADDR);
    // DHCP keeps running: a server that shows up later replaces the fallback.
    assert!(discovers(&captured(&net)) >= 1);
    let server = DhcpServer::new(
        Ipv4Addr::new(10, 0, 2, 77),
        Some(Ipv4Addr::new(10, 0, 2, 2)),
    );
    serve_dhcp(&net, &server);
    assert!(net.run_until(30 * SEC, |n| {
        n.with_stack(0, |s| s.iface_info())
            .is_some_and(|i| i.addr == Ipv4Addr::new(10, 0, 2, 77))
    }));
    let events = net.take_events(0);
    assert!(
        matches!(events.first(), Some(NetEvent::DhcpBound { .. })),
        "{events:?}"
    );
    assert_eq!(c.local_addr().unwrap().addr, Ipv4Addr::new(10, 0, 2, 77));
}

#[cfg(not(feature = "qemu-smoke"))]
#[test]
fn without_qemu_smoke_dhcp_keeps_trying_and_no_address_is_set() {
    use nexus_net::{NetError, SocketAddrV4};
    let net = dhcp_net();
    silent_wire(&net);
    net.run_for(60 * SEC);
    assert_eq!(net.with_stack(0, |s| s.iface_info()), None);
    assert!(net.take_events(0).is_empty());
    let n = discovers(&captured(&net));
    assert!(n >= 5, "only {n} DISCOVERs in 60 s");
    // The facade reports an unconfigured interface and refuses traffic.
    let mut c = net.client(0, 1);
    let info = c.local_addr().unwrap();
    assert_eq!(
        (info.addr, info.prefix_len, info.gateway),
        (Ipv4Addr::UNSPECIFIED, 0, None)
    );
    assert_eq!(
        c.tcp_connect(SocketAddrV4::new(Ipv4Addr::new(10, 0, 2, 2), 80)),
        Err(NetError::NotConnected)
    );
    let (u, _) = c.udp_bind(0).unwrap();
    assert_eq!(
        c.udp_send_to(u, SocketAddrV4::new(Ipv4Addr::BROADCAST, 9), b"x"),
        Err(NetError::NotConnected)
    );
    // Still trying: a late server is heard.
    let server = DhcpServer::new(Ipv4Addr::new(192, 168, 1, 5), None);
    serve_dhcp(&net, &server);
    assert!(net.run_until(30 * SEC, |n| n.with_stack(0, |s| s.iface_info()).is_some()));
}

#[test]
fn static_policy_reports_iface_up_on_first_poll() {
    let cfg = StackConfig::new(
        test_mac(0),
        AddrPolicy::Static {
            addr: Ipv4Addr::new(10, 1, 2, 3),
            prefix_len: 16,
            gateway: None,
        },
    );
    let net = TestNet::single(cfg, LinkConfig::default());
    silent_wire(&net);
    assert!(net.take_events(0).is_empty());
    net.pump();
    assert_eq!(
        net.take_events(0),
        vec![NetEvent::IfaceUp {
            addr: Ipv4Addr::new(10, 1, 2, 3),
            prefix_len: 16,
            gateway: None
        }]
    );
    net.run_for(10 * SEC);
    assert!(net.take_events(0).is_empty());
}
