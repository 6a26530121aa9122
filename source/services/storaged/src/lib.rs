//! storaged's policy, kept apart from the device loop so it is host-tested.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use nexus_abi::KERNEL_BADGE;
use nexus_kv::{FormatReason, Namespace, OpenError, Opened};

/// The namespace of a caller: its badge, which the boot profile fixes for
/// each client grant. Badge 0 is init's (client-gone notices) and
/// `KERNEL_BADGE` the kernel's; neither has a namespace.
pub fn namespace_of(badge: u64) -> Option<Namespace> {
    (badge != 0 && badge != KERNEL_BADGE).then_some(Namespace(badge))
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
