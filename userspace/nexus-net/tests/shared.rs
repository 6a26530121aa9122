//! Shared regions: `region_op` (attach/detach rules) and `dispatch_shared`
//! (bounds, bytes moved between the region and the backend), over the fake
//! network.

mod common;

use common::{encode, Harness};
use nexus_net::{
    decode_reply, dispatch_shared, region_op, ClientId, NetError, Outcome, Readiness, Reply,
    Request, SharedRegions, TcpStream, FACADE_MSG_MAX, MAX_SHARED_CLIENTS, MAX_SHARED_IO,
};

const N0: [u8; 4] = [10, 0, 0, 1];
const N1: [u8; 4] = [10, 0, 0, 2];

/// The daemon's record in these tests: which fake mapping.
type Rec = u8;

fn reply_of(buf: &[u8; FACADE_MSG_MAX], n: usize) -> Result<Reply<'_>, NetError> {
    decode_reply(&buf[..n]).expect("reply decodes").body
}

/// One attach/detach through `region_op` on node 0's server; returns the
/// outcome, whether `map` ran, and the records `unmap` got.
fn region(
    h: &Harness,
    regions: &mut SharedRegions<Rec>,
    client: u64,
    req: &Request<'_>,
    cap: bool,
    map_to: Result<(Rec, u32), NetError>,
) -> (Option<Result<u32, NetError>>, bool, Vec<Rec>) {
    let bytes = encode(req, 3, h.servers[0].instance());
    let mut buf = Box::new([0u8; FACADE_MSG_MAX]);
    let (mut mapped, mut unmapped) = (false, Vec::new());
    let out = region_op(
        &h.servers[0],
        regions,
        ClientId(client),
        &bytes,
        cap,
        &mut buf,
        || {
            mapped = true;
            map_to
        },
        |r| unmapped.push(r),
    );
    let res = out.map(|n| match reply_of(&buf, n) {
        Ok(Reply::AttachShared { len }) => Ok(len),
        Ok(Reply::DetachShared) => Ok(0),
        Ok(other) => panic!("unexpected {other:?}"),
        Err(e) => Err(e),
    });
    (res, mapped, unmapped)
}

#[test]
fn attach_needs_a_capability_and_is_one_per_client_and_bounded() {
    let h = Harness::new(&[N0]);
    let mut regions = SharedRegions::<Rec>::new();
    // Not a region op: left to dispatch.
    let (res, mapped, _) = region(&h, &mut regions, 1, &Request::Stats, true, Ok((0, 4096)));
    assert_eq!((res, mapped), (None, false));
    // No capability came with it: nothing is mapped.
    let (res, mapped, _) = region(
        &h,
        &mut regions,
        1,
        &Request::AttachShared,
        false,
        Ok((0, 4096)),
    );
    assert_eq!((res, mapped), (Some(Err(NetError::InvalidInput)), false));
    // Mapping fails: the daemon's error, nothing recorded.
    let (res, _, _) = region(
        &h,
        &mut regions,
        1,
        &Request::AttachShared,
        true,
        Err(NetError::NoBufs),
    );
    assert_eq!(res, Some(Err(NetError::NoBufs)));
    assert!(regions.is_empty());
    // A region of an impossible size is unmapped again.
    let (res, _, unmapped) = region(
        &h,
        &mut regions,
        1,
        &Request::AttachShared,
        true,
        Ok((7, 0)),
    );
    assert_eq!(
        (res, unmapped),
        (Some(Err(NetError::InvalidInput)), vec![7])
    );
    // Attached; a second attach of the same client never maps.
    let (res, _, _) = region(
        &h,
        &mut regions,
        1,
        &Request::AttachShared,
        true,
        Ok((1, 8192)),
    );
    assert_eq!(res, Some(Ok(8192)));
    assert_eq!(regions.get(ClientId(1)), Some((1, 8192)));
    let (res, mapped, _) = region(
        &h,
        &mut regions,
        1,
        &Request::AttachShared,
        true,
        Ok((2, 8192)),
    );
    assert_eq!((res, mapped), (Some(Err(NetError::InvalidInput)), false));
    // The table is bounded.
    for c in 2..=MAX_SHARED_CLIENTS as u64 {
        let (res, _, _) = region(
            &h,
            &mut regions,
            c,
            &Request::AttachShared,
            true,
            Ok((c as u8, 4096)),
        );
        assert_eq!(res, Some(Ok(4096)));
    }
    let (res, mapped, _) = region(
        &h,
        &mut regions,
        99,
        &Request::AttachShared,
        true,
        Ok((9, 4096)),
    );
    assert_eq!((res, mapped), (Some(Err(NetError::NoBufs)), false));
    // Detach unmaps exactly that client's region; twice is NotFound.
    let (res, _, unmapped) = region(
        &h,
        &mut regions,
        1,
        &Request::DetachShared,
        false,
        Ok((0, 1)),
    );
    assert_eq!((res, unmapped), (Some(Ok(0)), vec![1]));
    let (res, _, unmapped) = region(
        &h,
        &mut regions,
        1,
        &Request::DetachShared,
        false,
        Ok((0, 1)),
    );
    assert_eq!((res, unmapped), (Some(Err(NetError::NotFound)), vec![]));
    // A client that ends: the daemon removes its record.
    assert_eq!(regions.remove(ClientId(2)), Some(2));
    assert_eq!(regions.remove(ClientId(2)), None);
}

#[test]
fn attach_of_an_earlier_server_instance_is_refused() {
    let h = Harness::new(&[N0]);
    let mut regions = SharedRegions::<Rec>::new();
    let bytes = encode(&Request::AttachShared, 3, h.servers[0].instance() + 1);
    let mut buf = Box::new([0u8; FACADE_MSG_MAX]);
    let n = region_op(
        &h.servers[0],
        &mut regions,
        ClientId(1),
        &bytes,
        true,
        &mut buf,
        || -> Result<(Rec, u32), NetError> { panic!("mapped for a stale instance") },
        |_| {},
    )
    .unwrap();
    assert_eq!(reply_of(&buf, n), Err(NetError::ServerRestarted));
}

/// A connected pair: client 5 on node 1 (stream `c`) to client 1 on node 0
/// (stream `s`).
fn pair(h: &mut Harness) -> (TcpStream, TcpStream) {
    let (l, _) = h.listen(0, 1, 7000, 4).unwrap();
    let c = h.connect(1, 5, N0, 7000).unwrap();
    h.wait(0, 1, l, Readiness::READABLE, 0).unwrap();
    let (s, _) = h.accept(0, 1, l).unwrap();
    h.wait(1, 5, c, Readiness::WRITABLE, 0).unwrap();
    (c, s)
}

fn shared_call(
    h: &mut Harness,
    node: usize,
    client: u64,
    req: &Request<'_>,
    region: Option<&mut [u8]>,
) -> Result<u32, NetError> {
    let bytes = encode(req, 9, h.servers[node].instance());
    let now = h.now();
    let id = h.nodes[node];
    let mut buf = Box::new([0u8; FACADE_MSG_MAX]);
    let out = dispatch_shared(
        &mut h.net.node(id),
        &mut h.servers[node],
        ClientId(client),
        &bytes,
        &mut buf,
        now,
        region,
    );
    let Outcome::Reply(n) = out else {
        panic!("parked")
    };
    match reply_of(&buf, n)? {
        Reply::TcpWriteShared { written } => Ok(written),
        Reply::TcpReadShared { read } => Ok(read),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn shared_writes_and_reads_move_region_bytes_within_bounds() {
    let mut h = Harness::new(&[N0, N1]);
    let (c, s) = pair(&mut h);
    let mut region: Vec<u8> = (0..16384u32).map(|i| (i * 7 + 1) as u8).collect();
    let w = |offset, len| Request::TcpWriteShared {
        stream: c,
        offset,
        len,
    };
    // Without a region, or outside it: refused, nothing sent.
    assert_eq!(
        shared_call(&mut h, 1, 5, &w(0, 16), None),
        Err(NetError::InvalidInput)
    );
    assert_eq!(
        shared_call(&mut h, 1, 5, &w(16380, 8), Some(&mut region)),
        Err(NetError::InvalidInput)
    );
    // Another client's stream handle is not usable through this client.
    assert_eq!(
        shared_call(&mut h, 1, 6, &w(0, 16), Some(&mut region)),
        Err(NetError::NotFound)
    );
    // 100 bytes from offset 1000 arrive intact at the peer.
    assert_eq!(
        shared_call(&mut h, 1, 5, &w(1000, 100), Some(&mut region)),
        Ok(100)
    );
    h.wait(0, 1, s, Readiness::READABLE, 0).unwrap();
    assert_eq!(h.read(0, 1, s, 4096).unwrap(), &region[1000..1100]);
    // The peer answers; the reply lands in the region at offset 8000.
    h.write(0, 1, s, b"into the region").unwrap();
    h.wait(1, 5, c, Readiness::READABLE, 0).unwrap();
    let r = Request::TcpReadShared {
        stream: c,
        offset: 8000,
        max: 64,
    };
    assert_eq!(shared_call(&mut h, 1, 5, &r, Some(&mut region)), Ok(15));
    assert_eq!(&region[8000..8015], b"into the region");
    assert_eq!(
        region[8015],
        (8015u32 * 7 + 1) as u8,
        "nothing past the count"
    );
    // A read range past the region is refused before reading.
    let far = Request::TcpReadShared {
        stream: c,
        offset: 16000,
        max: MAX_SHARED_IO as u32,
    };
    assert_eq!(
        shared_call(&mut h, 1, 5, &far, Some(&mut region)),
        Err(NetError::InvalidInput)
    );
}
