//! Writes the seed corpus of every fuzz target into `fuzz/corpus/<target>/`.
//!
//! Every seed is produced by the crates' own encoders (requests, announces,
//! Noise and DSoftBus handshakes, frames, a boot image from the builder), in
//! the input layout each target documents. The keys and ephemerals match
//! `fuzz/src/lib.rs`. Deterministic: re-running rewrites identical files.

use std::fs;
use std::path::{Path, PathBuf};

use dsoftbus::{
    Announce, Handshake, LocalIdentity, NoDirectory, PeerDirectory, PeerEntry, Record,
    StaticKeypair, KEY_LEN, MAX_WIRE_FRAME,
};
use nexus_net::fake::FakeNet;
use nexus_net::{
    decode_reply, dispatch, encode_request, ClientId, Handle, Ipv4Addr, Outcome, Readiness, Reply,
    Request, Server, SocketAddrV4, TcpListener, UdpSocket, FACADE_MSG_MAX,
};
use nexus_noise_xk::HandshakeState;

const INITIATOR_SECRET: [u8; 32] = [1; 32];
const RESPONDER_SECRET: [u8; 32] = [2; 32];
const INITIATOR_EPHEMERAL: [u8; 32] = [3; 32];
const RESPONDER_EPHEMERAL: [u8; 32] = [4; 32];
const NOISE_PROLOGUE: &[u8] = b"neuron-fuzz";
const INITIATOR_ID: &str = "node-a";
const RESPONDER_ID: &str = "node-b";

/// Appends one chunk (`ctl, len u16 LE, bytes`).
fn chunk(out: &mut Vec<u8>, ctl: u8, data: &[u8]) {
    out.push(ctl);
    out.extend_from_slice(&(data.len() as u16).to_le_bytes());
    out.extend_from_slice(data);
}

/// Appends a u16-length-prefixed message.
fn msg(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(&(data.len() as u16).to_le_bytes());
    out.extend_from_slice(data);
}

struct Corpus {
    root: PathBuf,
    total: usize,
}

impl Corpus {
    fn write(&mut self, target: &str, name: &str, bytes: &[u8]) {
        let dir = self.root.join(target);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(name), bytes).unwrap();
        self.total += bytes.len();
    }
}

// ---------------------------------------------------------------- facade

/// Mirrors the `facade_request` harness: dispatches requests on node 10.0.0.1
/// and records them as chunks, building later requests from earlier replies.
struct Facade {
    net: FakeNet,
    node: nexus_net::fake::NodeId,
    server: Server<nexus_net::fake::FakeSocket>,
    stream: Vec<u8>,
    corr: u32,
}

impl Facade {
    fn new() -> Self {
        let mut net = FakeNet::new();
        let node = net.add_node(Ipv4Addr::new(10, 0, 0, 1));
        net.add_node(Ipv4Addr::new(10, 0, 0, 2));
        Facade {
            net,
            node,
            server: Server::new(7),
            stream: Vec::new(),
            corr: 0,
        }
    }

    fn send(&mut self, ctl: u8, req: Request<'_>) -> Option<Vec<u8>> {
        self.corr += 1;
        let mut buf = vec![0u8; FACADE_MSG_MAX];
        let n = encode_request(&req, self.corr, 0, &mut buf).unwrap();
        chunk(&mut self.stream, ctl, &buf[..n]);
        let mut reply = Box::new([0u8; FACADE_MSG_MAX]);
        let now = self.net.now();
        let client = ClientId(1 + u64::from(ctl & 1));
        let out = match dispatch(
            &mut self.net.node(self.node),
            &mut self.server,
            client,
            &buf[..n],
            &mut reply,
            now,
        ) {
            Outcome::Reply(n) => Some(reply[..n].to_vec()),
            Outcome::Parked => None,
        };
        if ctl & 2 != 0 {
            self.net.advance(u64::from((ctl >> 2) & 31) * 1_000_000);
            let now = self.net.now();
            self.server
                .poll(&mut self.net.node(self.node), now, |_, _, _| {});
        }
        out
    }
}

fn facade(c: &mut Corpus) {
    let mut f = Facade::new();
    let bind = f.send(0, Request::UdpBind { port: 5000 }).unwrap();
    let Ok(Reply::UdpBind { socket, .. }) = decode_reply(&bind).unwrap().body else {
        panic!("bind")
    };
    let to = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 5000);
    f.send(
        0,
        Request::UdpSendTo {
            socket,
            to,
            data: b"hello",
        },
    );
    f.send(0, Request::UdpRecvFrom { socket, max: 64 });
    let listen = f
        .send(
            0,
            Request::TcpListen {
                port: 80,
                backlog: 4,
            },
        )
        .unwrap();
    let Ok(Reply::TcpListen { listener, .. }) = decode_reply(&listen).unwrap().body else {
        panic!("listen")
    };
    let conn = f
        .send(
            0,
            Request::TcpConnect {
                remote: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 80),
            },
        )
        .unwrap();
    let Ok(Reply::TcpConnect { stream, .. }) = decode_reply(&conn).unwrap().body else {
        panic!("connect")
    };
    let acc = f.send(0, Request::TcpAccept { listener }).unwrap();
    let Ok(Reply::TcpAccept { stream: served, .. }) = decode_reply(&acc).unwrap().body else {
        panic!("accept")
    };
    f.send(
        0,
        Request::TcpWrite {
            stream,
            data: b"GET / HTTP/1.0\r\n\r\n",
        },
    );
    f.send(
        0,
        Request::TcpRead {
            stream: served,
            max: 512,
        },
    );
    f.send(
        0,
        Request::Wait {
            handle: stream.handle(),
            interest: Readiness::READABLE,
            deadline_ns: 5_000_000,
        },
    );
    f.send(0, Request::TcpShutdown { stream });
    f.send(1, Request::LocalAddr);
    f.send(
        2 | (3 << 2),
        Request::Ping {
            addr: Ipv4Addr::new(10, 0, 0, 2),
            seq: 1,
            deadline_ns: 50_000_000,
        },
    );
    // Client 2 using client 1's handle: refused.
    f.send(
        1,
        Request::Close {
            handle: stream.handle(),
        },
    );
    f.send(
        0,
        Request::Close {
            handle: listener.handle(),
        },
    );
    f.send(
        0,
        Request::Close {
            handle: Handle::from_raw(0xdead_beef),
        },
    );
    c.write("facade_request", "session", &f.stream);

    // Single requests: the whole input is one message (codec round trip).
    let mut buf = vec![0u8; FACADE_MSG_MAX];
    let singles: [(&str, Request<'_>); 3] = [
        (
            "udp_send",
            Request::UdpSendTo {
                socket,
                to,
                data: b"x",
            },
        ),
        (
            "wait",
            Request::Wait {
                handle: stream.handle(),
                interest: Readiness::READABLE | Readiness::WRITABLE,
                deadline_ns: 1,
            },
        ),
        ("local_addr", Request::LocalAddr),
    ];
    for (name, req) in singles {
        let n = encode_request(&req, 42, 7, &mut buf).unwrap();
        c.write("facade_request", name, &buf[..n]);
    }
    c.write("facade_request", "reply_bind", &bind);
    c.write("facade_request", "reply_accept", &acc);
}

// ---------------------------------------------------------------- dsoftbus

const GOLDEN_HEX: &str = concat!(
    "4e585342",
    "02",
    "00000001",
    "909c",
    "1111111111111111111111111111111111111111111111111111111111111111",
    "05",
    "6e6f646539",
    "02",
    "06",
    "73616d677264",
    "0a",
    "62756e646c656d677264",
    "07",
    "6b69746368656e",
);

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn encode(a: &Announce<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; dsoftbus::MAX_ANNOUNCE_LEN];
    let n = a.encode(&mut buf).unwrap();
    buf.truncate(n);
    buf
}

fn announces(c: &mut Corpus) {
    let golden = unhex(GOLDEN_HEX);
    c.write("announce", "golden", &golden);
    let k1 = [0x11; KEY_LEN];
    let k2 = [0x22; KEY_LEN];
    let a1 = encode(&Announce::new("node-a", 1, 34567, k1, &["samgrd"]).unwrap());
    let a2 = encode(&Announce::new("node-a", 2, 34568, k1, &["samgrd", "bundlemgrd"]).unwrap());
    let b1 = encode(&Announce::new("node-b", 7, 1000, k2, &[]).unwrap());
    let conflict = encode(&Announce::new("node-a", 3, 34567, k2, &[]).unwrap());
    let own = encode(&Announce::new("self", 1, 1, k1, &[]).unwrap());
    let mut s = Vec::new();
    chunk(&mut s, 0, &a1); // new
    chunk(&mut s, 4, &a1); // refresh
    chunk(&mut s, 4, &a2); // update
    chunk(&mut s, 4, &a1); // replay
    chunk(&mut s, 1, &b1); // second peer
    chunk(&mut s, 4, &conflict); // key conflict
    chunk(&mut s, 4, &own); // own announce
    chunk(&mut s, 2, &golden);
    chunk(&mut s, 200, &a1); // after expiry
    chunk(&mut s, 0xff, &[]); // purge
    c.write("announce", "cache_sequence", &s);
    let id = "d".repeat(64);
    let names: Vec<String> = (0..16).map(|i| format!("{i:x}").repeat(64)).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let max = Announce::new(&id, u32::MAX, u16::MAX, k2, &names).unwrap();
    c.write("announce", "largest", &encode(&max));
}

fn noise(c: &mut Corpus) {
    let client = nexus_noise_xk::StaticKeypair::from_secret(INITIATOR_SECRET);
    let server = nexus_noise_xk::StaticKeypair::from_secret(RESPONDER_SECRET);
    let mut init = HandshakeState::new_initiator(
        &client,
        &server.public_key(),
        NOISE_PROLOGUE,
        INITIATOR_EPHEMERAL,
    );
    let mut resp = HandshakeState::new_responder(&server, NOISE_PROLOGUE, RESPONDER_EPHEMERAL);
    let (mut m1, mut m2, mut m3, mut p) = ([0u8; 128], [0u8; 128], [0u8; 128], [0u8; 128]);
    let n1 = init.write_message(b"", &mut m1).unwrap();
    resp.read_message(&m1[..n1], &mut p).unwrap();
    let n2 = resp.write_message(b"", &mut m2).unwrap();
    init.read_message(&m2[..n2], &mut p).unwrap();
    let n3 = init.write_message(b"claim", &mut m3).unwrap();
    resp.read_message(&m3[..n3], &mut p).unwrap();
    let mut ti = init.split().unwrap();
    let mut tr = resp.split().unwrap();
    let mut t = [0u8; 128];

    let mut r = Vec::new();
    msg(&mut r, &m1[..n1]);
    r.push(255);
    msg(&mut r, &m3[..n3]);
    let n = ti.write_message(b"hello responder", &mut t).unwrap();
    msg(&mut r, &t[..n]);
    let n = ti.write_message(b"", &mut t).unwrap();
    msg(&mut r, &t[..n]);
    c.write("noise_responder", "handshake_and_transport", &r);
    let mut r = Vec::new();
    msg(&mut r, &m1[..n1]);
    c.write("noise_responder", "msg1_only", &r);

    let mut i = Vec::new();
    i.push(255);
    msg(&mut i, &m2[..n2]);
    let n = tr.write_message(b"hello initiator", &mut t).unwrap();
    msg(&mut i, &t[..n]);
    c.write("noise_initiator", "msg2_and_transport", &i);
    let mut i = Vec::new();
    i.push(0);
    msg(&mut i, &m2[..n2]);
    c.write("noise_initiator", "msg2_small_buffer", &i);
}

struct Dir([u8; KEY_LEN]);

impl PeerDirectory for Dir {
    fn static_key(&self, device_id: &str) -> Option<[u8; KEY_LEN]> {
        // Ids are derived from keys: the one key we know answers for its own id.
        dsoftbus::DeviceId::binds(device_id, &self.0).then_some(self.0)
    }
}

fn dsoftbus_frames(c: &mut Corpus) {
    let a = LocalIdentity::new(StaticKeypair::from_secret(INITIATOR_SECRET))
        .with_name(INITIATOR_ID)
        .unwrap();
    let b = LocalIdentity::new(StaticKeypair::from_secret(RESPONDER_SECRET))
        .with_name(RESPONDER_ID)
        .unwrap();
    let entry = PeerEntry::from_announce(
        &b.announce(1, 34568, &[]).unwrap(),
        Ipv4Addr::new(10, 0, 0, 2),
        0,
    );
    let dir = Dir(a.public_key());
    let mut init = Handshake::initiator(&a, &entry, INITIATOR_EPHEMERAL, 1_000_000_000).unwrap();
    let mut resp = Handshake::responder(&b, RESPONDER_EPHEMERAL, 1_000_000_000);
    // Everything each side sends, in order.
    let (mut to_resp, mut to_init) = (Vec::new(), Vec::new());
    while !(init.is_established() && resp.is_established()) {
        let out = init.pending_output().to_vec();
        init.consume_output(out.len());
        to_resp.extend_from_slice(&out);
        resp.feed(&out, &dir).unwrap();
        let out = resp.pending_output().to_vec();
        resp.consume_output(out.len());
        to_init.extend_from_slice(&out);
        init.feed(&out, &NoDirectory).unwrap();
    }
    let (mut sa, mut sb) = (init.take_session().unwrap(), resp.take_session().unwrap());
    let mut wire = vec![0u8; MAX_WIRE_FRAME];
    for r in [
        Record::Ping(7),
        Record::Data(b"hello node-b"),
        Record::Close,
    ] {
        let n = sa.seal(&r, &mut wire).unwrap();
        to_resp.extend_from_slice(&wire[..n]);
    }
    for r in [Record::Pong(7), Record::Data(b"hello node-a")] {
        let n = sb.seal(&r, &mut wire).unwrap();
        to_init.extend_from_slice(&wire[..n]);
    }
    let mut s = vec![0, 0x3f];
    s.extend_from_slice(&to_resp);
    c.write("dsoftbus_frames", "responder_stream", &s);
    let mut s = vec![0, 0x85];
    s.extend_from_slice(&to_resp);
    c.write("dsoftbus_frames", "responder_stream_small_commits", &s);
    let mut s = vec![1, 0x3f];
    s.extend_from_slice(&to_init);
    c.write("dsoftbus_frames", "initiator_stream", &s);

    // Mode 2: 3 genuine records, one edit in the second, no cut.
    let mut s = vec![2, 0x3f, 0, 3];
    chunk(&mut s, 0, &7u64.to_be_bytes());
    chunk(&mut s, 2, b"some application data");
    chunk(&mut s, 3, &[]);
    s.push(1);
    s.extend_from_slice(&40u16.to_le_bytes());
    s.push(0x01);
    s.extend_from_slice(&0u16.to_le_bytes());
    c.write("dsoftbus_frames", "records_tampered", &s);
    let mut s = vec![2, 0x90, 1, 2];
    chunk(&mut s, 1, &9u64.to_be_bytes());
    chunk(&mut s, 2, &[0x5a; 300]);
    s.push(0);
    s.extend_from_slice(&0u16.to_le_bytes());
    c.write("dsoftbus_frames", "records_intact", &s);

    // Mode 3: a replayed genuine stream is not accepted by a fresh session
    // pair on the wrong side, nor are random bytes.
    let mut s = vec![3, 0x3f];
    s.extend_from_slice(&to_init[to_init.len() - 60..]);
    c.write("dsoftbus_frames", "forged_records", &s);
}

// ---------------------------------------------------------------- streams

/// `dsoftbus_streams`: action chunks (see the target). Side A = ctl bit 7 clear.
fn dsoftbus_streams(c: &mut Corpus) {
    use dsoftbus::mux::{Frame, Mode, Priority};
    const B: u8 = 0x80;
    // A opens a message stream to `echo`, B accepts, A sends, B reads and echoes,
    // A closes; frames move both ways.
    let mut s = Vec::new();
    chunk(&mut s, 1, b"echo");
    chunk(&mut s, 8, &[]);
    chunk(&mut s, B | 2, &[]);
    chunk(&mut s, B | 8, &[]);
    chunk(&mut s, 4, b"hello");
    chunk(&mut s, 8, &[]);
    chunk(&mut s, B | 5, &[0; 64]);
    chunk(&mut s, B | 4, b"hello");
    chunk(&mut s, B | 8, &[]);
    chunk(&mut s, 5, &[0; 64]);
    chunk(&mut s, 6, &[]);
    chunk(&mut s, 8, &[]);
    c.write("dsoftbus_streams", "message_echo", &s);
    // A byte stream (bulk), large sends, a refused open and a reset.
    let mut s = Vec::new();
    chunk(&mut s, 1 | 0x30, b"bulk");
    chunk(&mut s, 8, &[]);
    chunk(&mut s, B | 2, &[]);
    chunk(&mut s, B | 8, &[]);
    for _ in 0..6 {
        chunk(&mut s, 4, &[0x5a; 6000]);
        chunk(&mut s, 8, &[]);
        chunk(&mut s, B | 5 | 0x40, &[]);
        chunk(&mut s, B | 8, &[]);
    }
    chunk(&mut s, B | 1, b"other");
    chunk(&mut s, B | 8, &[]);
    chunk(&mut s, 3, &[]);
    chunk(&mut s, 8, &[]);
    chunk(&mut s, 7, &[]);
    chunk(&mut s, 8, &[]);
    c.write("dsoftbus_streams", "bulk_refuse_reset", &s);
    // Forged frames of every type into B.
    let mut s = Vec::new();
    let mut buf = [0u8; 64];
    for f in [
        Frame::Open {
            id: 1,
            prio: Priority::Interactive,
            mode: Mode::Bytes,
            window: 65536,
            service: "echo",
        },
        Frame::Data {
            id: 1,
            end: false,
            bytes: b"early",
        },
        Frame::Credit {
            id: 1,
            increment: 4096,
        },
        Frame::Accept { id: 2, window: 1 },
        Frame::Close { id: 1 },
        Frame::Reset {
            id: 1,
            reason: dsoftbus::mux::ResetReason::Cancelled,
        },
    ] {
        let n = f.encode(&mut buf).unwrap();
        chunk(&mut s, B, &buf[..n]);
        chunk(&mut s, B | 2, &[]);
    }
    c.write("dsoftbus_streams", "forged_frames", &s);
}

// ---------------------------------------------------------------- lite

mod lite {
    use super::*;
    use nexus_interfaces::vn;
    use nexus_lite_net::stack::{SocketId, Stack, DHCP_WAIT_NS};
    use nexus_lite_net::wire::{arp, dhcp, eth, icmp, ipv4, udp};
    use nexus_net::encode_reply;

    pub const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const HOST_MAC: [u8; 6] = [0x52, 0x55, 10, 0, 2, 2];
    const HOST: [u8; 4] = [10, 0, 2, 2];
    const ME: [u8; 4] = [10, 0, 2, 15];
    const T0: u64 = 5_000_000_000;

    fn server_dhcp(msg_type: u8, xid: u32) -> Vec<u8> {
        let mut v = vec![0u8; dhcp::OPTIONS_AT];
        v[0] = 2;
        v[1] = 1;
        v[2] = 6;
        v[4..8].copy_from_slice(&xid.to_be_bytes());
        v[16..20].copy_from_slice(&ME);
        v[28..34].copy_from_slice(&MAC);
        v[236..240].copy_from_slice(&dhcp::COOKIE);
        v.extend_from_slice(&[53, 1, msg_type, 54, 4, 10, 0, 2, 2, 1, 4, 255, 255, 255, 0]);
        v.extend_from_slice(&[
            3, 4, 10, 0, 2, 2, 6, 4, 10, 0, 2, 3, 51, 4, 0, 1, 0x51, 0x80, 255,
        ]);
        v
    }

    fn dhcp_frame(msg: &[u8]) -> Vec<u8> {
        let seg = udp::build(HOST, ipv4::BROADCAST, 67, 68, msg);
        let pkt = ipv4::build(HOST, ipv4::BROADCAST, ipv4::PROTO_UDP, 1, 64, &seg);
        eth::build(eth::BROADCAST, HOST_MAC, eth::TYPE_IPV4, &pkt)
    }

    fn arp_request() -> [u8; arp::LEN] {
        arp::build(&arp::Packet {
            op: arp::OP_REQUEST,
            sha: HOST_MAC,
            spa: HOST,
            tha: [0; 6],
            tpa: ME,
        })
    }

    /// Mirrors the `lite_frames` facade mode: dispatches requests on a lite
    /// stack with the fixed lease and records them as chunks, building later
    /// requests from earlier replies.
    struct LiteFacade {
        stack: Stack,
        server: Server<SocketId>,
        now: u64,
        stream: Vec<u8>,
        corr: u32,
    }

    impl LiteFacade {
        fn new() -> Self {
            let mut stack = Stack::new(MAC, T0, DHCP_WAIT_NS);
            stack.poll(T0);
            stack.poll(T0 + DHCP_WAIT_NS);
            LiteFacade {
                stack,
                server: Server::new(0x11e),
                now: T0 + DHCP_WAIT_NS,
                stream: Vec::new(),
                corr: 0,
            }
        }

        fn send(&mut self, ctl: u8, req: Request<'_>) -> Option<Vec<u8>> {
            self.corr += 1;
            let mut buf = vec![0u8; FACADE_MSG_MAX];
            let n = encode_request(&req, self.corr, 0, &mut buf).unwrap();
            chunk(&mut self.stream, ctl, &buf[..n]);
            let client = ClientId(1 + u64::from(ctl & 1));
            if ctl & 0xc0 == 0xc0 {
                self.server.drop_client(&mut self.stack, client);
            }
            let mut reply = Box::new([0u8; FACADE_MSG_MAX]);
            let out = match dispatch(
                &mut self.stack,
                &mut self.server,
                client,
                &buf[..n],
                &mut reply,
                self.now,
            ) {
                Outcome::Reply(n) => Some(reply[..n].to_vec()),
                Outcome::Parked => None,
            };
            if ctl & 2 != 0 {
                self.now += 10_000_000;
                self.stack.poll(self.now);
                self.server.poll(&mut self.stack, self.now, |_, _, _| {});
            }
            out
        }
    }

    pub fn seeds(c: &mut Corpus) {
        let xid = Stack::new(MAC, T0, DHCP_WAIT_NS).dhcp_xid();
        let offer = dhcp_frame(&server_dhcp(dhcp::OFFER, xid));
        let ack = dhcp_frame(&server_dhcp(dhcp::ACK, xid));
        let arp_frame = eth::build(eth::BROADCAST, HOST_MAC, eth::TYPE_ARP, &arp_request());
        let echo = icmp::build_echo(icmp::ECHO_REQUEST, 0x1234, 1, b"ping");
        let echo_frame = eth::build(
            MAC,
            HOST_MAC,
            eth::TYPE_IPV4,
            &ipv4::build(HOST, ME, ipv4::PROTO_ICMP, 7, 64, &echo),
        );

        // Mode 0: single frames through every parser.
        for (name, f) in [
            ("dhcp_offer", &offer),
            ("arp_request", &arp_frame),
            ("icmp_echo", &echo_frame),
        ] {
            let mut s = vec![0];
            s.extend_from_slice(f);
            c.write("lite_frames", &format!("wire_{name}"), &s);
        }

        // Mode 1: DHCP handshake, then ARP, ping and UDP to the lease.
        let mut s = vec![1];
        chunk(&mut s, 0, &offer);
        chunk(&mut s, 4, &ack);
        chunk(&mut s, 3, &arp_request());
        let mut icmp_fields = vec![0];
        icmp_fields.extend_from_slice(&HOST);
        icmp_fields.extend_from_slice(&ME);
        icmp_fields.push(icmp::ECHO_REQUEST);
        icmp_fields.extend_from_slice(&1u16.to_le_bytes());
        icmp_fields.extend_from_slice(&2u16.to_le_bytes());
        icmp_fields.extend_from_slice(b"data");
        chunk(&mut s, 2 | 4, &icmp_fields);
        let mut udp_fields = vec![0];
        udp_fields.extend_from_slice(&HOST);
        udp_fields.extend_from_slice(&ME);
        udp_fields.extend_from_slice(&5000u16.to_le_bytes());
        udp_fields.extend_from_slice(&7u16.to_le_bytes());
        udp_fields.extend_from_slice(b"datagram");
        chunk(&mut s, 1, &udp_fields);
        c.write("lite_frames", "stack_dhcp", &s);
        // Fixed lease first (bit 7 of the first ctl).
        let mut s = vec![1];
        chunk(&mut s, 0x80 | 3, &arp_request());
        chunk(&mut s, 2, &icmp_fields);
        chunk(&mut s, 1, &udp_fields);
        c.write("lite_frames", "stack_fixed", &s);

        // Mode 2: a facade session on the lite stack (echod's and fetchd's
        // calls, a parked wait and ping, a foreign handle, client-gone).
        let mut f = LiteFacade::new();
        let lo = |port| SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
        let bind = f.send(0, Request::UdpBind { port: 7 }).unwrap();
        let Ok(Reply::UdpBind { socket, .. }) = decode_reply(&bind).unwrap().body else {
            panic!("bind")
        };
        f.send(1, Request::UdpBind { port: 0 });
        f.send(
            0,
            Request::UdpSendTo {
                socket,
                to: lo(7),
                data: b"echo",
            },
        );
        f.send(2, Request::UdpRecvFrom { socket, max: 64 });
        let listen = f
            .send(
                0,
                Request::TcpListen {
                    port: 8080,
                    backlog: 4,
                },
            )
            .unwrap();
        let Ok(Reply::TcpListen { listener, .. }) = decode_reply(&listen).unwrap().body else {
            panic!("listen")
        };
        let conn = f.send(1, Request::TcpConnect { remote: lo(8080) }).unwrap();
        let Ok(Reply::TcpConnect { stream, .. }) = decode_reply(&conn).unwrap().body else {
            panic!("connect")
        };
        let acc = f.send(0, Request::TcpAccept { listener }).unwrap();
        let Ok(Reply::TcpAccept { stream: served, .. }) = decode_reply(&acc).unwrap().body else {
            panic!("accept")
        };
        f.send(
            0,
            Request::Wait {
                handle: served.handle(),
                interest: Readiness::READABLE,
                deadline_ns: T0 + DHCP_WAIT_NS + 50_000_000,
            },
        );
        f.send(
            1 | 2,
            Request::TcpWrite {
                stream,
                data: b"GET /hello HTTP/1.0\r\n\r\n",
            },
        );
        f.send(
            0,
            Request::TcpRead {
                stream: served,
                max: 512,
            },
        );
        f.send(0, Request::TcpShutdown { stream: served });
        f.send(1, Request::LocalAddr);
        f.send(
            1,
            Request::Ping {
                addr: Ipv4Addr::LOCALHOST,
                seq: 1,
                deadline_ns: T0 + DHCP_WAIT_NS + 1_000_000_000,
            },
        );
        f.send(
            1 | 2,
            Request::Close {
                handle: socket.handle(),
            },
        );
        f.send(0, Request::Stats);
        f.send(
            0xc0 | 1,
            Request::Close {
                handle: stream.handle(),
            },
        );
        c.write("lite_frames", "facade_session", &f.stream);

        // Mode 3: the driver's rx reply with two frames.
        let mut frames = nexus_idl::List::<nexus_idl::heapless::Vec<u8, 1514>, 5>::default();
        for f in [&arp_frame, &echo_frame] {
            frames
                .0
                .push(nexus_idl::heapless::Vec::from_slice(f).unwrap())
                .unwrap();
        }
        let mut rx = vec![0u8; vn::REPLY_MAX];
        let n = vn::reply::rx(&Ok(frames.clone()), &mut rx);
        let mut s = vec![3];
        s.extend_from_slice(&rx[..n]);
        c.write("lite_frames", "driver_rx_reply", &s);

        // The `interfaces` target: vn requests (the last byte sets the fake
        // device's held frames) and the rx reply.
        let mut buf = vec![0u8; vn::REQUEST_MAX];
        let n = vn::Request::Tx { frame: &echo_frame }
            .encode(&mut buf)
            .unwrap();
        c.write("interfaces", "vn_tx", &buf[..n]);
        let n = vn::Request::Rx {
            deadline_ns: 0x0500_0000_0000_0000,
        }
        .encode(&mut buf)
        .unwrap();
        c.write("interfaces", "vn_rx", &buf[..n]);
        let n = vn::Request::Rx { deadline_ns: 0 }.encode(&mut buf).unwrap();
        c.write("interfaces", "vn_rx_parks", &buf[..n]);
        let n = vn::reply::rx(&Ok(frames), &mut rx);
        c.write("interfaces", "vn_rx_reply", &rx[..n]);

        // Mode 4: HTTP.
        let mut s = vec![4 + 7];
        s.extend_from_slice(b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello");
        c.write("lite_frames", "http_response", &s);
        let mut s = vec![4];
        s.extend_from_slice(&nexus_lite_net::http::build_get("/hello", "127.0.0.1:8080"));
        c.write("lite_frames", "http_request", &s);

        // Mode 5: virtqueue of 8: post 3, device returns 2 (one too long).
        let mut s = vec![5, 3];
        for len in [1514u16, 1514, 64] {
            s.push(1);
            s.extend_from_slice(&len.to_le_bytes());
        }
        s.extend_from_slice(&[2, 1, 0, 0, 0x40, 0, 0]);
        s.extend_from_slice(&[2, 1, 1, 0, 0xff, 0xff, 0]);
        s.extend_from_slice(&[0x82, 0x10, 0x00, 2, 0, 0, 0, 0]);
        c.write("lite_frames", "virtq_device", &s);

        // Mode 6: facade replies to echod's first calls (ctl bit 0 patches
        // the header to match the request).
        let mut s = vec![6];
        let replies = [
            Reply::UdpBind {
                socket: UdpSocket::from_handle(Handle::from_raw(0x101)),
                port: 7,
            },
            Reply::UdpSendTo { sent: 1 },
            Reply::Wait {
                ready: Readiness::READABLE,
            },
            Reply::UdpRecvFrom {
                from: SocketAddrV4::new(Ipv4Addr::new(10, 0, 2, 2), 40000),
                data: b"hi",
            },
            Reply::TcpListen {
                listener: TcpListener::from_handle(Handle::from_raw(0x102)),
                port: 8080,
            },
        ];
        for r in &replies {
            let n = encode_reply(r, 0, 7, &mut buf).unwrap();
            chunk(&mut s, 1, &buf[..n]);
        }
        c.write("lite_frames", "client_replies", &s);
    }
}

// ---------------------------------------------------------------- boot image

/// A minimal ELF64 RISC-V executable with the given segments
/// (vaddr, filesz, memsz, flags), as in neuron-core's tests.
fn make_elf(entry: u64, segs: &[(u64, u64, u64, u32)]) -> Vec<u8> {
    let phoff = 64u64;
    let data_off = phoff + 56 * segs.len() as u64;
    let mut b = vec![0u8; 64];
    b[0..4].copy_from_slice(b"\x7fELF");
    b[4] = 2;
    b[5] = 1;
    b[6] = 1;
    b[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    b[18..20].copy_from_slice(&243u16.to_le_bytes()); // EM_RISCV
    b[20..24].copy_from_slice(&1u32.to_le_bytes());
    b[24..32].copy_from_slice(&entry.to_le_bytes());
    b[32..40].copy_from_slice(&phoff.to_le_bytes());
    b[52..54].copy_from_slice(&64u16.to_le_bytes());
    b[54..56].copy_from_slice(&56u16.to_le_bytes());
    b[56..58].copy_from_slice(&(segs.len() as u16).to_le_bytes());
    b[58..60].copy_from_slice(&64u16.to_le_bytes());
    let mut off = data_off;
    for &(vaddr, filesz, memsz, flags) in segs {
        let mut p = vec![0u8; 56];
        p[0..4].copy_from_slice(&1u32.to_le_bytes()); // PT_LOAD
        p[4..8].copy_from_slice(&flags.to_le_bytes());
        p[8..16].copy_from_slice(&off.to_le_bytes());
        p[16..24].copy_from_slice(&vaddr.to_le_bytes());
        p[24..32].copy_from_slice(&vaddr.to_le_bytes());
        p[32..40].copy_from_slice(&filesz.to_le_bytes());
        p[40..48].copy_from_slice(&memsz.to_le_bytes());
        p[48..56].copy_from_slice(&4096u64.to_le_bytes());
        b.extend_from_slice(&p);
        off += filesz;
    }
    for &(_, filesz, _, _) in segs {
        b.extend((0..filesz).map(|i| i as u8));
    }
    b
}

fn bootimg(c: &mut Corpus) {
    const B: u64 = 0x1_0000_0000;
    const R: u32 = 4;
    const W: u32 = 2;
    const X: u32 = 1;
    let init = make_elf(B, &[(B, 64, 64, R | X), (B + 4096, 16, 8192, R | W)]);
    let svc = make_elf(B + 8, &[(B, 32, 32, R | X)]);
    let img =
        neuron_core::bootimg::build(&[("nexus-init", &init), ("selftest-client", &svc)]).unwrap();
    neuron_core::elfload::plan(&init).unwrap();
    neuron_core::elfload::plan(&svc).unwrap();
    c.write("bootimg_elf", "image_two_services", &img);
    c.write("bootimg_elf", "elf_rx_rw", &init);
    c.write("bootimg_elf", "elf_single", &svc);
    let empty = neuron_core::bootimg::build(&[]).unwrap();
    c.write("bootimg_elf", "image_empty", &empty);
}

fn main() {
    let root: PathBuf = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus"));
    let mut c = Corpus { root, total: 0 };
    facade(&mut c);
    announces(&mut c);
    noise(&mut c);
    dsoftbus_frames(&mut c);
    dsoftbus_streams(&mut c);
    lite::seeds(&mut c);
    bootimg(&mut c);
    println!(
        "seedgen: wrote {} bytes under {}",
        c.total,
        c.root.display()
    );
}
