//! storaged's policy and its `kv` server, kept apart from the device loop so
//! they are host-tested.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

use nexus_abi::KERNEL_BADGE;
use nexus_idl::{heapless, List};
use nexus_interfaces::kv;
use nexus_kv::{
    BlockDevice, FormatReason, Namespace, OpenError, Opened, Store, StoreError, MAX_VALUE,
};

/// Most keys one `list` reply carries (the bound of `kv.ListPage.keys`).
pub const LIST_MAX: usize = 32;

/// The namespace of a caller: its badge, which the boot profile fixes for
/// each client grant. Badge 0 is init's (client-gone notices) and
/// `KERNEL_BADGE` the kernel's; neither has a namespace.
pub fn namespace_of(badge: u64) -> Option<Namespace> {
    (badge != 0 && badge != KERNEL_BADGE).then_some(Namespace(badge))
}

/// The `kv` interface over a store: the caller's badge picks the namespace.
pub struct KvServer<D: BlockDevice> {
    /// The store.
    pub store: Store<D>,
}

fn kv_error(e: StoreError) -> kv::Error {
    match e {
        StoreError::NotFound => kv::Error::NotFound,
        StoreError::NoSpace => kv::Error::NoSpace,
        StoreError::BadKey => kv::Error::BadKey,
        StoreError::TooLarge => kv::Error::TooLarge,
        StoreError::Corrupt => kv::Error::Corrupt,
        StoreError::Io => kv::Error::Io,
    }
}

/// A key as log text: printable ASCII as is, other bytes (and `\`, `"`)
/// as `\xNN`, so a key cannot forge a console line.
pub struct KeyText<'a>(pub &'a [u8]);

impl core::fmt::Display for KeyText<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for &b in self.0 {
            if (0x20..0x7f).contains(&b) && b != b'\\' && b != b'"' {
                write!(f, "{}", b as char)?;
            } else {
                write!(f, "\\x{:02x}", b)?;
            }
        }
        Ok(())
    }
}

/// Logs one request (`log`, filtered by the system-wide level): every
/// request at debug, a deletion at info, a store failure at warn. Puts are
/// the store's bulk traffic and stay at debug.
fn logged<T>(
    op: &str,
    caller: u64,
    key: &[u8],
    r: Result<T, kv::Error>,
    ok: impl FnOnce(&T) -> usize,
) -> Result<T, kv::Error> {
    match &r {
        Ok(v) => {
            log::debug!(
                "{} ns={:#x} key=\"{}\": ok ({} bytes)",
                op,
                caller,
                KeyText(key),
                ok(v)
            );
            if op == "delete" {
                log::info!("deleted ns={:#x} key=\"{}\"", caller, KeyText(key));
            }
        }
        Err(e @ (kv::Error::NoSpace | kv::Error::Corrupt | kv::Error::Io)) => {
            log::warn!("{} ns={:#x} key=\"{}\": {:?}", op, caller, KeyText(key), e)
        }
        Err(e) => log::debug!("{} ns={:#x} key=\"{}\": {:?}", op, caller, KeyText(key), e),
    }
    r
}

/// The caller's namespace; badges without one are `Denied`.
fn ns(caller: u64) -> Result<Namespace, kv::Error> {
    namespace_of(caller).ok_or(kv::Error::Denied)
}

impl<D: BlockDevice> kv::Server for KvServer<D> {
    fn get(&mut self, caller: u64, key: &[u8]) -> Result<heapless::Vec<u8, MAX_VALUE>, kv::Error> {
        let r = self.get_value(caller, key);
        logged("get", caller, key, r, |v| v.len())
    }

    fn put(&mut self, caller: u64, key: &[u8], value: &[u8]) -> Result<(), kv::Error> {
        let r = self.store.put(ns(caller)?, key, value).map_err(kv_error);
        logged("put", caller, key, r, |_| value.len())
    }

    fn delete(&mut self, caller: u64, key: &[u8]) -> Result<(), kv::Error> {
        let r = self.store.delete(ns(caller)?, key).map_err(kv_error);
        logged("delete", caller, key, r, |_| 0)
    }

    fn list(&mut self, caller: u64, after: &[u8]) -> Result<kv::ListPage, kv::Error> {
        let r = self.list_page(caller, after);
        logged("list", caller, after, r, |p| p.keys.0.len())
    }
}

impl<D: BlockDevice> KvServer<D> {
    fn get_value(
        &mut self,
        caller: u64,
        key: &[u8],
    ) -> Result<heapless::Vec<u8, MAX_VALUE>, kv::Error> {
        let ns = ns(caller)?;
        let mut v = heapless::Vec::new();
        // Cannot fail: the vector's capacity is MAX_VALUE.
        v.resize(MAX_VALUE, 0).map_err(|_| kv::Error::TooLarge)?;
        let n = self.store.get(ns, key, &mut v).map_err(kv_error)?;
        v.truncate(n);
        Ok(v)
    }

    fn list_page(&mut self, caller: u64, after: &[u8]) -> Result<kv::ListPage, kv::Error> {
        let (keys, more) = self
            .store
            .list(ns(caller)?, after, LIST_MAX)
            .map_err(kv_error)?;
        let mut page = kv::ListPage {
            more,
            keys: List(heapless::Vec::new()),
        };
        for k in keys {
            // Cannot fail: at most LIST_MAX keys of at most MAX_KEY bytes.
            let k = heapless::Vec::from_slice(&k).map_err(|_| kv::Error::TooLarge)?;
            page.keys.0.push(k).map_err(|_| kv::Error::TooLarge)?;
        }
        Ok(page)
    }
}

/// The console line reporting how the store was opened.
pub fn describe_open(o: &Opened, w: &mut impl core::fmt::Write) -> core::fmt::Result {
    match *o {
        Opened::Existing { pages, items } => {
            write!(w, "storaged: store opened pages={} items={}", pages, items)
        }
        Opened::Formatted { reason, pages } => match reason {
            FormatReason::Blank => write!(w, "storaged: blank disk, formatted pages={}", pages),
            FormatReason::Garbage => write!(
                w,
                "storaged: disk holds no store (bad superblock), reformatted pages={}",
                pages
            ),
            FormatReason::Truncated { recorded, fits } => write!(
                w,
                "storaged: disk truncated (store of {} pages, disk holds {}), reformatted pages={}",
                recorded, fits, pages
            ),
            FormatReason::Corrupt => write!(
                w,
                "storaged: store corrupt beyond repair, reformatted pages={}",
                pages
            ),
        },
    }
}

/// The console line for a store that could not be opened.
pub fn describe_open_error(e: &OpenError, w: &mut impl core::fmt::Write) -> core::fmt::Result {
    match *e {
        OpenError::TooSmall => write!(
            w,
            "storaged: disk too small (needs at least {} sectors)",
            nexus_kv::store::MIN_SECTORS
        ),
        OpenError::Refused(r) => write!(w, "storaged: disk image refused ({:?})", r),
        OpenError::Io => write!(w, "storaged: disk I/O failed while opening"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_print_escaped() {
        let t = |k: &[u8]| std::format!("{}", KeyText(k));
        assert_eq!(t(b"greeting"), "greeting");
        assert_eq!(t(b"a\nFORGED: ok\"\\"), "a\\x0aFORGED: ok\\x22\\x5c");
        assert_eq!(t(&[0xff, 0x1b]), "\\xff\\x1b");
    }

    #[test]
    fn only_client_badges_have_a_namespace() {
        assert_eq!(namespace_of(0), None);
        assert_eq!(namespace_of(KERNEL_BADGE), None);
        assert_eq!(namespace_of(0x60), Some(Namespace(0x60)));
    }

    #[test]
    fn open_lines_name_what_happened() {
        let mut s = String::new();
        describe_open(
            &Opened::Formatted {
                reason: FormatReason::Garbage,
                pages: 15,
            },
            &mut s,
        )
        .unwrap();
        assert_eq!(
            s,
            "storaged: disk holds no store (bad superblock), reformatted pages=15"
        );
    }
}
