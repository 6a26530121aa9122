//! Runtime of Neuron OS's interface definitions.
//!
//! Every same-machine protocol is declared once in an IDL file
//! (`source/libs/nexus-interfaces/idl/*.toml`); `nexus-idlgen` turns each into
//! a module with the request codec, the reply codec, a client stub over a
//! [`Transport`] and a server dispatch trait. This crate is what that
//! generated code stands on:
//!
//! - [`Wire`]: how one typed value is laid out (little-endian integers,
//!   `u16`-length-prefixed bounded byte strings and lists, `u8` tags);
//! - [`Reader`] / [`Writer`]: bounded cursors; decoding is *total* — every
//!   input either decodes to a value or is [`WireError`], never a panic, and
//!   nothing is allocated;
//! - [`Code`]: the error-numbering convention shared by every interface;
//! - [`Transport`]: one request/reply exchange with an absolute deadline.
//!
//! The message layout is documented in `docs/interfaces.md`.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub use heapless;

/// A value could not be encoded or decoded.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum WireError {
    /// The input ended early, had bytes left over, or broke a bound or an
    /// invariant (bad tag, bad bool, invalid UTF-8, length over its bound).
    Malformed,
    /// The output buffer is too small.
    NoSpace,
}

/// Error codes every interface shares. An interface's error enum is
/// `#[repr(u16)]`, starts at 1 and always has these variants with these
/// codes; its own variants are numbered from [`Code::FIRST_OWN`].
pub struct Code;

impl Code {
    /// The server ended (or restarted) while the call was pending.
    pub const SERVER_RESTARTED: u16 = 1;
    /// The request (or the reply, seen from the client) did not decode.
    pub const MALFORMED: u16 = 2;
    /// The caller may not do this.
    pub const DENIED: u16 = 3;
    /// The call's deadline passed.
    pub const TIMED_OUT: u16 = 4;
    /// The server is out of a bounded resource for this caller.
    pub const NO_RESOURCES: u16 = 5;
    /// An argument or result is larger than the interface allows.
    pub const TOO_LARGE: u16 = 6;
    /// First code an interface may give its own errors.
    pub const FIRST_OWN: u16 = 16;
}

/// Reply status meaning "ok, the value follows".
pub const STATUS_OK: u16 = 0;

/// A bounded read cursor over untrusted bytes.
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    /// Takes exactly `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if n > self.buf.len() {
            return Err(WireError::Malformed);
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    /// Takes exactly `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    /// Succeeds only when every byte was consumed.
    pub fn finish(self) -> Result<(), WireError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(WireError::Malformed)
        }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }
}

/// A bounded write cursor.
pub struct Writer<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> Writer<'a> {
    /// A writer filling `buf` from its start.
    pub fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, len: 0 }
    }

    /// Appends `b`.
    pub fn put(&mut self, b: &[u8]) -> Result<(), WireError> {
        let end = self.len.checked_add(b.len()).ok_or(WireError::NoSpace)?;
        let dst = self.buf.get_mut(self.len..end).ok_or(WireError::NoSpace)?;
        dst.copy_from_slice(b);
        self.len = end;
        Ok(())
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// How a type is laid out on the wire. Owned types decode by copying; the
/// borrowed views of top-level request arguments are [`Bytes`] and [`Str`].
pub trait Wire: Sized {
    /// Appends the encoding of `self`.
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), WireError>;
    /// Reads one value; never panics.
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError>;
}

macro_rules! int_wire {
    ($($t:ty),*) => {$(
        impl Wire for $t {
            fn encode(&self, w: &mut Writer<'_>) -> Result<(), WireError> {
                w.put(&self.to_le_bytes())
            }
            fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
                Ok(<$t>::from_le_bytes(r.array()?))
            }
        }
    )*};
}
int_wire!(u8, u16, u32, u64, i8, i16, i32, i64);

impl Wire for bool {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), WireError> {
        w.put(&[*self as u8])
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        match r.array::<1>()? {
            [0] => Ok(false),
            [1] => Ok(true),
            _ => Err(WireError::Malformed),
        }
    }
}

impl Wire for () {
    fn encode(&self, _: &mut Writer<'_>) -> Result<(), WireError> {
        Ok(())
    }
    fn decode(_: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(())
    }
}

impl<const N: usize> Wire for [u8; N] {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), WireError> {
        w.put(self)
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        r.array()
    }
}

impl<T: Wire> Wire for Option<T> {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), WireError> {
        match self {
            None => w.put(&[0]),
            Some(v) => {
                w.put(&[1])?;
                v.encode(w)
            }
        }
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        match r.array::<1>()? {
            [0] => Ok(None),
            [1] => Ok(Some(T::decode(r)?)),
            _ => Err(WireError::Malformed),
        }
    }
}

fn put_len(w: &mut Writer<'_>, n: usize) -> Result<(), WireError> {
    let n = u16::try_from(n).map_err(|_| WireError::NoSpace)?;
    w.put(&n.to_le_bytes())
}

fn get_len(r: &mut Reader<'_>, max: usize) -> Result<usize, WireError> {
    let n = u16::from_le_bytes(r.array()?) as usize;
    if n > max {
        return Err(WireError::Malformed);
    }
    Ok(n)
}

/// Bounded bytes, owned (`u16` length, then the bytes).
impl<const N: usize> Wire for heapless::Vec<u8, N> {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), WireError> {
        put_len(w, self.len())?;
        w.put(self)
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let n = get_len(r, N)?;
        heapless::Vec::from_slice(r.take(n)?).map_err(|_| WireError::Malformed)
    }
}

/// Bounded UTF-8 text, owned (`u16` length, then the bytes).
impl<const N: usize> Wire for heapless::String<N> {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), WireError> {
        put_len(w, self.len())?;
        w.put(self.as_bytes())
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let n = get_len(r, N)?;
        let s = core::str::from_utf8(r.take(n)?).map_err(|_| WireError::Malformed)?;
        heapless::String::try_from(s).map_err(|_| WireError::Malformed)
    }
}

/// A bounded list of values (`u16` count, then each value).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct List<T, const N: usize>(pub heapless::Vec<T, N>);

impl<T: Wire, const N: usize> Wire for List<T, N> {
    fn encode(&self, w: &mut Writer<'_>) -> Result<(), WireError> {
        put_len(w, self.0.len())?;
        self.0.iter().try_for_each(|v| v.encode(w))
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let n = get_len(r, N)?;
        let mut v = heapless::Vec::new();
        for _ in 0..n {
            // Cannot fail: n <= N was checked above.
            v.push(T::decode(r)?).map_err(|_| WireError::Malformed)?;
        }
        Ok(List(v))
    }
}

/// Borrowed bounded bytes: how a top-level request argument of type
/// `bytes<N>` reaches a server without a copy.
pub struct Bytes<const N: usize>;

impl<const N: usize> Bytes<N> {
    /// Appends `b` (`u16` length, then the bytes); `Malformed` over `N`.
    pub fn encode(b: &[u8], w: &mut Writer<'_>) -> Result<(), WireError> {
        if b.len() > N {
            return Err(WireError::Malformed);
        }
        put_len(w, b.len())?;
        w.put(b)
    }
    /// Reads a borrowed byte string of at most `N` bytes.
    pub fn decode<'a>(r: &mut Reader<'a>) -> Result<&'a [u8], WireError> {
        let n = get_len(r, N)?;
        r.take(n)
    }
}

/// Borrowed bounded UTF-8 text (top-level request arguments of type `str<N>`).
pub struct Str<const N: usize>;

impl<const N: usize> Str<N> {
    /// Appends `s` (`u16` length, then the bytes); `Malformed` over `N`.
    pub fn encode(s: &str, w: &mut Writer<'_>) -> Result<(), WireError> {
        Bytes::<N>::encode(s.as_bytes(), w)
    }
    /// Reads borrowed text of at most `N` bytes.
    pub fn decode<'a>(r: &mut Reader<'a>) -> Result<&'a str, WireError> {
        core::str::from_utf8(Bytes::<N>::decode(r)?).map_err(|_| WireError::Malformed)
    }
}

/// Why one exchange over a [`Transport`] failed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum TransportError {
    /// The server ended before replying (or its endpoint is gone).
    PeerDead,
    /// The deadline passed.
    TimedOut,
    /// The request or the reply did not fit.
    TooLarge,
    /// The caller holds no usable capability for the server.
    Denied,
}

/// One request/reply exchange with a server.
pub trait Transport {
    /// Sends `req` and waits for the reply in `reply` until `deadline_ns`
    /// (absolute monotonic nanoseconds; 0 = none). Returns the reply length.
    fn call(
        &mut self,
        req: &[u8],
        reply: &mut [u8],
        deadline_ns: u64,
    ) -> Result<usize, TransportError>;
}

/// Maps a transport failure onto the shared codes.
pub fn transport_code(e: TransportError) -> u16 {
    match e {
        TransportError::PeerDead => Code::SERVER_RESTARTED,
        TransportError::TimedOut => Code::TIMED_OUT,
        TransportError::TooLarge => Code::TOO_LARGE,
        TransportError::Denied => Code::DENIED,
    }
}

/// Reads the `u16` op code that starts every request.
pub fn request_op(r: &mut Reader<'_>) -> Result<u16, WireError> {
    u16::decode(r)
}

/// Writes an error reply: just its status code.
pub fn encode_error(code: u16, out: &mut [u8]) -> usize {
    let mut w = Writer::new(out);
    match code.encode(&mut w) {
        Ok(()) => w.len(),
        Err(_) => 0,
    }
}

/// Writes an ok reply carrying `v`; when `v` does not fit, the reply is the
/// `TOO_LARGE` error instead.
pub fn encode_ok<T: Wire>(v: &T, out: &mut [u8]) -> usize {
    let mut w = Writer::new(out);
    let ok = STATUS_OK.encode(&mut w).is_ok() && v.encode(&mut w).is_ok();
    if ok {
        w.len()
    } else {
        encode_error(Code::TOO_LARGE, out)
    }
}

/// Splits a reply into its status and, for `STATUS_OK`, the value's reader.
pub fn reply_status<'a>(b: &'a [u8]) -> Result<(u16, Reader<'a>), WireError> {
    let mut r = Reader::new(b);
    let status = u16::decode(&mut r)?;
    if status != STATUS_OK {
        r.finish()?;
        return Ok((status, Reader::new(&[])));
    }
    Ok((status, r))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip<T: Wire + PartialEq + core::fmt::Debug>(v: T) {
        let mut buf = [0u8; 256];
        let mut w = Writer::new(&mut buf);
        v.encode(&mut w).unwrap();
        let n = w.len();
        let mut r = Reader::new(&buf[..n]);
        assert_eq!(T::decode(&mut r).unwrap(), v);
        r.finish().unwrap();
        // Every truncation is refused.
        for cut in 0..n {
            let mut r = Reader::new(&buf[..cut]);
            assert!(
                T::decode(&mut r).and_then(|_| r.finish()).is_err(),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn values_roundtrip_and_truncations_fail() {
        roundtrip(0x1234_5678_9abc_def0u64);
        roundtrip(-5i32);
        roundtrip(true);
        roundtrip(Some(7u16));
        roundtrip(None::<u16>);
        roundtrip([1u8, 2, 3, 4]);
        roundtrip(heapless::Vec::<u8, 8>::from_slice(b"abc").unwrap());
        roundtrip(heapless::String::<8>::try_from("node-a").unwrap());
        roundtrip(List::<u16, 4>(
            heapless::Vec::from_slice(&[1, 2, 3]).unwrap(),
        ));
    }

    #[test]
    fn bounds_tags_and_text_are_checked() {
        // length 9 for a bound of 8
        let mut r = Reader::new(&[9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            heapless::Vec::<u8, 8>::decode(&mut r),
            Err(WireError::Malformed)
        );
        assert_eq!(
            bool::decode(&mut Reader::new(&[2])),
            Err(WireError::Malformed)
        );
        assert_eq!(
            Option::<u8>::decode(&mut Reader::new(&[3, 0])),
            Err(WireError::Malformed)
        );
        assert_eq!(
            Str::<4>::decode(&mut Reader::new(&[2, 0, 0xff, 0xfe])),
            Err(WireError::Malformed)
        );
        let mut buf = [0u8; 4];
        assert_eq!(
            Bytes::<8>::encode(b"12345", &mut Writer::new(&mut buf)),
            Err(WireError::NoSpace)
        );
        assert_eq!(
            Bytes::<2>::encode(b"123", &mut Writer::new(&mut [0u8; 16])),
            Err(WireError::Malformed)
        );
    }

    #[test]
    fn replies_carry_status_then_value() {
        let mut buf = [0u8; 16];
        let n = encode_ok(&42u32, &mut buf);
        let (s, mut r) = reply_status(&buf[..n]).unwrap();
        assert_eq!((s, u32::decode(&mut r)), (STATUS_OK, Ok(42)));
        let n = encode_error(Code::DENIED, &mut buf);
        assert_eq!(reply_status(&buf[..n]).unwrap().0, Code::DENIED);
        // An error status with trailing bytes is malformed.
        assert!(reply_status(&[3, 0, 1]).is_err());
        // A value too big for the reply buffer becomes TOO_LARGE.
        let n = encode_ok(&0u64, &mut buf[..4]);
        assert_eq!(reply_status(&buf[..n]).unwrap().0, Code::TOO_LARGE);
    }
}
