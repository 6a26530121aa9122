//! A typed "LN" v1 client over any request/reply [`Transport`] (the IPC call
//! in the services, an in-process [`crate::server::Server`] in tests).
//!
//! Each call uses a fresh correlation id and checks that the reply echoes
//! it and the op; a reply that does not is [`ClientError::Protocol`].

use alloc::boxed::Box;

use crate::lnproto::{self as ln, IfaceInfo, Reader, Request, Status};

/// Sends a request and waits for its reply.
pub trait Transport {
    /// Sends `req`, writes the reply into `rep`, returns its length; `Err`
    /// for a transport failure (e.g. the kernel's error code).
    fn call(&mut self, req: &[u8], rep: &mut [u8]) -> Result<usize, u64>;
}

/// Why a call failed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ClientError {
    /// The transport failed (value from [`Transport::call`]).
    Transport(u64),
    /// The reply was malformed or for another request.
    Protocol,
    /// The server answered with this status.
    Status(Status),
}

impl From<Status> for ClientError {
    fn from(s: Status) -> Self {
        ClientError::Status(s)
    }
}

/// A UDP datagram received: (source address, source port, bytes copied).
pub type Source = ([u8; 4], u16, usize);

/// The client.
pub struct Client<T: Transport> {
    t: T,
    corr: u32,
    req: Box<[u8; ln::MSG_MAX]>,
    rep: Box<[u8; ln::MSG_MAX]>,
}

impl<T: Transport> core::fmt::Debug for Client<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Client").field("corr", &self.corr).finish()
    }
}

impl<T: Transport> Client<T> {
    /// A client over `t`; correlation ids start at `first_corr`.
    pub fn new(t: T, first_corr: u32) -> Self {
        Self {
            t,
            corr: first_corr,
            req: Box::new([0; ln::MSG_MAX]),
            rep: Box::new([0; ln::MSG_MAX]),
        }
    }

    /// The transport.
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.t
    }

    /// Performs `r`; returns the OK reply body, copied into a reader over the
    /// client's reply buffer.
    fn call(&mut self, r: Request<'_>) -> Result<Reader<'_>, ClientError> {
        self.corr = self.corr.wrapping_add(1);
        let corr = self.corr;
        let n = ln::encode_request(corr, &r, &mut self.req[..]).ok_or(ClientError::Protocol)?;
        let m = self
            .t
            .call(&self.req[..n], &mut self.rep[..])
            .map_err(ClientError::Transport)?;
        let (st, body) = ln::decode_reply(
            self.rep.get(..m).ok_or(ClientError::Protocol)?,
            r.op(),
            corr,
        )
        .ok_or(ClientError::Protocol)?;
        match st {
            Status::Ok => Ok(Reader::new(body)),
            s => Err(ClientError::Status(s)),
        }
    }

    fn u32_reply(&mut self, r: Request<'_>) -> Result<u32, ClientError> {
        let mut rd = self.call(r)?;
        let v = rd.u32().ok_or(ClientError::Protocol)?;
        rd.is_empty().then_some(v).ok_or(ClientError::Protocol)
    }

    /// UDP_BIND.
    pub fn udp_bind(&mut self, addr: [u8; 4], port: u16) -> Result<u32, ClientError> {
        self.u32_reply(Request::UdpBind { addr, port })
    }

    /// UDP_SEND; returns the bytes sent.
    pub fn udp_send(
        &mut self,
        handle: u32,
        addr: [u8; 4],
        port: u16,
        data: &[u8],
    ) -> Result<usize, ClientError> {
        let mut rd = self.call(Request::UdpSend {
            handle,
            addr,
            port,
            data,
        })?;
        rd.u16().map(usize::from).ok_or(ClientError::Protocol)
    }

    /// UDP_RECV into `buf`.
    pub fn udp_recv(
        &mut self,
        handle: u32,
        deadline: u64,
        buf: &mut [u8],
    ) -> Result<Source, ClientError> {
        let max = buf.len().min(ln::DATA_MAX) as u16;
        let mut rd = self.call(Request::UdpRecv {
            handle,
            deadline,
            max,
        })?;
        let (a, p, n) = (
            rd.arr::<4>().ok_or(ClientError::Protocol)?,
            rd.u16().ok_or(ClientError::Protocol)?,
            usize::from(rd.u16().ok_or(ClientError::Protocol)?),
        );
        let d = rd.rest();
        if d.len() != n || n > buf.len() {
            return Err(ClientError::Protocol);
        }
        buf[..n].copy_from_slice(d);
        Ok((a, p, n))
    }

    /// LISTEN.
    pub fn listen(&mut self, addr: [u8; 4], port: u16, backlog: u8) -> Result<u32, ClientError> {
        self.u32_reply(Request::Listen {
            addr,
            port,
            backlog,
        })
    }

    /// ACCEPT: (stream, peer port).
    pub fn accept(&mut self, handle: u32, deadline: u64) -> Result<(u32, u16), ClientError> {
        let mut rd = self.call(Request::Accept { handle, deadline })?;
        let s = rd.u32().ok_or(ClientError::Protocol)?;
        rd.arr::<4>().ok_or(ClientError::Protocol)?;
        Ok((s, rd.u16().ok_or(ClientError::Protocol)?))
    }

    /// CONNECT: (stream, local port).
    pub fn connect(&mut self, addr: [u8; 4], port: u16) -> Result<(u32, u16), ClientError> {
        let mut rd = self.call(Request::Connect { addr, port })?;
        Ok((
            rd.u32().ok_or(ClientError::Protocol)?,
            rd.u16().ok_or(ClientError::Protocol)?,
        ))
    }

    /// READ into `buf`; 0 = end of stream.
    pub fn read(
        &mut self,
        handle: u32,
        deadline: u64,
        buf: &mut [u8],
    ) -> Result<usize, ClientError> {
        let max = buf.len().min(ln::DATA_MAX) as u16;
        let mut rd = self.call(Request::Read {
            handle,
            deadline,
            max,
        })?;
        let n = usize::from(rd.u16().ok_or(ClientError::Protocol)?);
        let d = rd.rest();
        if d.len() != n || n > buf.len() {
            return Err(ClientError::Protocol);
        }
        buf[..n].copy_from_slice(d);
        Ok(n)
    }

    /// WRITE; returns the bytes accepted (may be fewer than `data`).
    pub fn write(&mut self, handle: u32, deadline: u64, data: &[u8]) -> Result<usize, ClientError> {
        let data = &data[..data.len().min(ln::DATA_MAX)];
        let mut rd = self.call(Request::Write {
            handle,
            deadline,
            data,
        })?;
        rd.u16().map(usize::from).ok_or(ClientError::Protocol)
    }

    /// Writes all of `data` (several WRITEs if needed).
    pub fn write_all(
        &mut self,
        handle: u32,
        deadline: u64,
        mut data: &[u8],
    ) -> Result<(), ClientError> {
        while !data.is_empty() {
            let n = self.write(handle, deadline, data)?;
            if n == 0 || n > data.len() {
                return Err(ClientError::Protocol);
            }
            data = &data[n..];
        }
        Ok(())
    }

    /// CLOSE.
    pub fn close(&mut self, handle: u32) -> Result<(), ClientError> {
        self.call(Request::Close { handle }).map(|_| ())
    }

    /// PING: the round-trip time in ns.
    pub fn ping(&mut self, addr: [u8; 4], deadline: u64) -> Result<u64, ClientError> {
        self.call(Request::Ping { addr, deadline })?
            .u64()
            .ok_or(ClientError::Protocol)
    }

    /// IFACE.
    pub fn iface(&mut self, iface: u8) -> Result<IfaceInfo, ClientError> {
        let rd = self.call(Request::Iface { iface })?;
        IfaceInfo::decode(rd.rest()).ok_or(ClientError::Protocol)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http;
    use crate::server::Server;
    use crate::stack::Stack;
    use alloc::rc::Rc;
    use core::cell::RefCell;

    /// In-process transport: handles the request, then runs the stack and
    /// the parked requests once (a parked call that does not complete then
    /// is a test bug and reported as transport error 99).
    struct Local {
        owner: u64,
        now: u64,
        net: Rc<RefCell<(Server, Stack)>>,
    }

    impl Transport for Local {
        fn call(&mut self, req: &[u8], rep: &mut [u8]) -> Result<usize, u64> {
            let mut g = self.net.borrow_mut();
            let (srv, st) = &mut *g;
            if let Some(n) = srv.handle(st, self.owner, 1, req, self.now, rep) {
                return Ok(n);
            }
            st.poll(self.now);
            let mut out = alloc::vec![0u8; ln::MSG_MAX];
            let mut got = None;
            srv.poll(st, self.now, &mut out, |_, b| got = Some(b.to_vec()));
            let b = got.ok_or(99u64)?;
            rep[..b.len()].copy_from_slice(&b);
            Ok(b.len())
        }
    }

    #[test]
    fn http_over_the_stream_shim_and_lo_ping() {
        let net = Rc::new(RefCell::new((
            Server::new(),
            Stack::new([2, 0, 0, 0, 0, 1], 0, 1),
        )));
        let mut server = Client::new(
            Local {
                owner: 0x40,
                now: 10,
                net: net.clone(),
            },
            0,
        );
        let mut fetch = Client::new(
            Local {
                owner: 0x50,
                now: 10,
                net,
            },
            1000,
        );
        let l = server.listen([127, 0, 0, 1], 8080, 4).unwrap();
        let (c, _) = fetch.connect([127, 0, 0, 1], 8080).unwrap();
        let (a, _) = server.accept(l, 0).unwrap();
        fetch
            .write_all(c, 0, &http::build_get(http::HELLO_PATH, "127.0.0.1:8080"))
            .unwrap();
        let mut buf = [0u8; 512];
        let n = server.read(a, 0, &mut buf).unwrap();
        let head = http::parse_request_head(&buf[..n]).unwrap();
        server.write_all(a, 0, &http::respond(&head)).unwrap();
        server.close(a).unwrap();
        let mut got = alloc::vec::Vec::new();
        loop {
            let n = fetch.read(c, 0, &mut buf).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        let r = http::parse_response(&got, true).unwrap();
        assert_eq!((r.status, r.body), (200, http::HELLO_BODY));
        fetch.close(c).unwrap();
        assert_eq!(fetch.close(c), Err(ClientError::Status(Status::BadHandle)));
        assert!(fetch.ping([127, 0, 0, 1], 0).is_ok());
        assert_eq!(fetch.iface(0).unwrap().addr, [127, 0, 0, 1]);
        assert_eq!(
            fetch.iface(1).unwrap().state,
            2,
            "fixed lease: DHCP wait was 1 ns"
        );
        assert_eq!(fetch.iface(2), Err(ClientError::Status(Status::InvalidArg)));
    }

    struct Garbage;
    impl Transport for Garbage {
        fn call(&mut self, _: &[u8], rep: &mut [u8]) -> Result<usize, u64> {
            rep[..12].copy_from_slice(b"LN\x01\x8a\x00\x00\x00\x00\x00\x00\x00\x00");
            Ok(12)
        }
    }

    #[test]
    fn mismatched_replies_are_protocol_errors() {
        let mut c = Client::new(Garbage, 0);
        assert_eq!(c.ping([127, 0, 0, 1], 0), Err(ClientError::Protocol));
        assert_eq!(c.close(1), Err(ClientError::Protocol));
    }
}
