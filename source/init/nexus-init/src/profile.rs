//! Boot profiles: which services start, in which order, with which caps.
//!
//! Profiles are written only in `profiles/*.toml`; `build.rs` checks them
//! with `nexus-manifest` and generates [`PROFILES`] for this image's network
//! path. This module holds the table's types and the selection logic. The
//! kernel command line selects a profile with `nexus.profile=<name>`
//! (default [`DEFAULT_PROFILE`]). See `docs/boot-profiles.md`.

use nexus_abi::rights;

/// Most services one profile may start (the manifest generator refuses more).
pub const MAX_SERVICES: usize = 33;

/// Profile used when the command line names none: what a person boots.
/// Harnesses always name theirs (`nexus.profile=smoke`, ...).
#[cfg(feature = "net-canonical")]
pub const DEFAULT_PROFILE: &str = "user";
/// Profile used when the command line names none.
#[cfg(all(feature = "net-bringup-lite", not(feature = "net-canonical")))]
pub const DEFAULT_PROFILE: &str = "lite";

/// One capability grant.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Grant {
    /// A copy of named endpoint `ep` with `rights` and `badge` at `slot`.
    Endpoint {
        /// Endpoint name (created on first use).
        ep: &'static str,
        /// Rights kept.
        rights: u32,
        /// Badge identifying this holder to the receiver (0 = none).
        badge: u64,
        /// Destination slot.
        slot: u32,
    },
    /// A copy of init's DMA budget capability.
    Dma {
        /// Destination slot.
        slot: u32,
    },
    /// A shared-memory budget of its own, carved from init's DMA
    /// capability at each start (`MemBudget`): `MemCreate` only.
    MemBudget {
        /// Pages of live objects it allows.
        pages: u32,
        /// Destination slot.
        slot: u32,
    },
    /// A send capability to a server's named endpoint, as a *client*: when
    /// the holder ends, init tells the server (`notice.client_gone`) so it
    /// frees what the client held. Never badge 0 (init's own).
    Client {
        /// Endpoint name.
        ep: &'static str,
        /// Badge identifying this client to the server (non-zero).
        badge: u64,
        /// Destination slot.
        slot: u32,
    },
    /// The MMIO (and interrupt) capability of the first virtio-mmio device
    /// with virtio device id `device_id`, with the MAP right.
    Device {
        /// Virtio device id.
        device_id: u32,
        /// Destination slot.
        slot: u32,
    },
    /// A send capability to init's own endpoint (`init` interface).
    InitEndpoint {
        /// Badge identifying the holder to init.
        badge: u64,
        /// The holder may ask init to kill a service.
        kill: bool,
        /// The holder may ask init to power the machine off.
        poweroff: bool,
        /// Destination slot.
        slot: u32,
    },
    /// The console-input capability (`ConsoleRead`, right `RECV` only).
    /// The manifest generator grants it to the shell only, one per profile.
    ConsoleInput {
        /// Destination slot.
        slot: u32,
    },
}

impl Grant {
    /// The destination slot.
    pub fn slot(&self) -> u32 {
        match *self {
            Grant::Endpoint { slot, .. }
            | Grant::InitEndpoint { slot, .. }
            | Grant::Client { slot, .. }
            | Grant::Device { slot, .. }
            | Grant::ConsoleInput { slot }
            | Grant::MemBudget { slot, .. }
            | Grant::Dma { slot } => slot,
        }
    }
}

/// Restart policy of a supervised service.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Supervise {
    /// Restarts before init gives up.
    pub restarts: u32,
    /// Back-off before the first restart; doubles per restart.
    pub backoff_ns: u64,
}

impl Supervise {
    /// Back-off before restart `n` (1-based).
    pub fn backoff_ns(&self, n: u32) -> u64 {
        self.backoff_ns << n.saturating_sub(1).min(6)
    }
}

/// One service of a profile.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Service {
    /// Name used in markers and status queries.
    pub name: &'static str,
    /// Boot-image program.
    pub image: &'static str,
    /// Its encoded start-up argument (`init.args()`), empty if none.
    pub arg: &'static [u8],
    /// A command-line word and the argument to use when it is present.
    pub flag: Option<(&'static str, &'static [u8])>,
    /// Restart policy (none: never restarted).
    pub supervise: Option<Supervise>,
    /// Capabilities granted.
    pub grants: &'static [Grant],
}

impl Service {
    /// The argument for this boot: the flagged one when the service's
    /// command-line word is present.
    pub fn arg_for(&self, cmdline: &str) -> &'static [u8] {
        match self.flag {
            Some((word, alt)) if cmdline.split_ascii_whitespace().any(|w| w == word) => alt,
            _ => self.arg,
        }
    }

    /// The badge this service holds on init's endpoint, if any, and whether
    /// it may ask init to kill.
    pub fn init_badge(&self) -> Option<(u64, bool)> {
        self.grants.iter().find_map(|g| match *g {
            Grant::InitEndpoint { badge, kill, .. } => Some((badge, kill)),
            _ => None,
        })
    }

    /// Whether the profile lets this service ask init to power off.
    pub fn may_power_off(&self) -> bool {
        self.grants
            .iter()
            .any(|g| matches!(g, Grant::InitEndpoint { poweroff: true, .. }))
    }
}

/// A boot profile.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    /// Name on the command line.
    pub name: &'static str,
    /// A profile a person boots (no test services).
    pub user: bool,
    /// Services in start order.
    pub services: &'static [Service],
}

include!(concat!(env!("OUT_DIR"), "/profiles.rs"));

/// The network path compiled into this image.
#[cfg(feature = "net-canonical")]
pub const NET_PATH: &str = "net-canonical";
/// The network path compiled into this image.
#[cfg(all(feature = "net-bringup-lite", not(feature = "net-canonical")))]
pub const NET_PATH: &str = "net-bringup-lite";

/// The value of `nexus.profile=` on the command line, if present.
pub fn profile_arg(cmdline: &str) -> Option<&str> {
    cmdline
        .split_ascii_whitespace()
        .filter_map(|w| w.strip_prefix("nexus.profile="))
        .next_back()
}

/// Why no profile could be selected.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ProfileError<'a> {
    /// The command line names a profile this image does not contain.
    Unknown(&'a str),
    /// The profile belongs to the other network path (named), which this
    /// image was not built with.
    OtherPath(&'a str, &'static str),
}

/// Selects the profile for `cmdline`.
pub fn select(cmdline: &str) -> Result<&'static Profile, ProfileError<'_>> {
    let name = profile_arg(cmdline).unwrap_or(DEFAULT_PROFILE);
    if let Some(p) = PROFILES.iter().find(|p| p.name == name) {
        return Ok(p);
    }
    if OTHER_PATH.1.contains(&name) {
        return Err(ProfileError::OtherPath(name, OTHER_PATH.0));
    }
    Err(ProfileError::Unknown(name))
}

/// Which service of `profile` holds init badge `badge`.
pub fn by_init_badge(profile: &Profile, badge: u64) -> Option<&'static Service> {
    profile
        .services
        .iter()
        .find(|s| s.init_badge().is_some_and(|(b, _)| b == badge))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "net-bringup-lite")]
    #[test]
    fn lite_image_knows_the_lite_path_only() {
        assert_eq!(NET_PATH, "net-bringup-lite");
        assert_eq!(select("").unwrap().name, "lite");
        assert_eq!(select("nexus.profile=bench").unwrap().name, "bench");
        assert_eq!(
            select("nexus.profile=smoke"),
            Err(ProfileError::OtherPath("smoke", "net-canonical"))
        );
    }

    #[cfg(feature = "net-canonical")]
    #[test]
    fn canonical_image_knows_the_canonical_path_only() {
        assert_eq!(NET_PATH, "net-canonical");
        assert_eq!(
            select("nexus.profile=lite"),
            Err(ProfileError::OtherPath("lite", "net-bringup-lite"))
        );
        let images: Vec<_> = PROFILES
            .iter()
            .flat_map(|p| p.services.iter().map(|s| s.image))
            .collect();
        for lite in ["virtionetd-lite", "netstackd-lite", "echod", "fetchd"] {
            assert!(!images.contains(&lite), "{lite} in the canonical image");
        }
    }

    #[cfg(feature = "net-canonical")]
    #[test]
    fn selects_by_command_line_with_default() {
        assert_eq!(select("").unwrap().name, DEFAULT_PROFILE);
        assert_eq!(
            select("console=ttyS0 nexus.profile=bench").unwrap().name,
            "bench"
        );
        assert_eq!(
            select("nexus.profile=smoke nexus.profile=bench")
                .unwrap()
                .name,
            "bench"
        );
        assert_eq!(
            select("nexus.profile=nope"),
            Err(ProfileError::Unknown("nope"))
        );
        assert_eq!(select("nexus.profile="), Err(ProfileError::Unknown("")));
    }

    #[cfg(feature = "net-canonical")]
    #[test]
    fn command_line_flag_switches_the_argument_only_when_present() {
        let smoke = select("nexus.profile=smoke").unwrap();
        let net = smoke
            .services
            .iter()
            .find(|s| s.name == "selftest-net")
            .unwrap();
        assert_eq!(net.arg_for(""), net.arg);
        assert_eq!(net.arg_for("nexus.netpeers=0"), net.arg);
        assert_ne!(net.arg_for("x nexus.netpeers=1 y"), net.arg);
        let other = smoke
            .services
            .iter()
            .find(|s| s.name == "netstackd")
            .unwrap();
        assert_eq!(other.arg_for("nexus.netpeers=1"), other.arg);
    }

    #[cfg(feature = "net-canonical")]
    #[test]
    fn the_selftest_client_holds_no_device_and_only_one_may_kill() {
        let smoke = select("nexus.profile=smoke").unwrap();
        let client = smoke
            .services
            .iter()
            .find(|s| s.name == "selftest-client")
            .unwrap();
        // `mmio denied` relies on the client never holding a device capability.
        assert!(client.grants.iter().all(|g| !matches!(
            g,
            Grant::Device { .. } | Grant::Dma { .. } | Grant::MemBudget { .. }
        )));
        let killers: Vec<_> = smoke
            .services
            .iter()
            .filter(|s| s.init_badge().is_some_and(|(_, k)| k))
            .map(|s| s.name)
            .collect();
        assert_eq!(killers, ["dsoftbus-restart"]);
        assert!(smoke.services.iter().all(|s| !s.may_power_off()));
        // Init badges identify exactly one service.
        for s in smoke.services {
            if let Some((b, _)) = s.init_badge() {
                assert_eq!(by_init_badge(smoke, b).unwrap().name, s.name);
            }
        }
    }

    #[cfg(feature = "net-canonical")]
    #[test]
    fn the_default_is_the_user_profile_with_the_shell_alone_on_the_console() {
        let user = select("").unwrap();
        assert_eq!(user.name, "user");
        assert!(user.user);
        let images: Vec<_> = user.services.iter().map(|s| s.image).collect();
        assert_eq!(
            images,
            ["netstackd", "rngd", "storaged", "dsoftbusd", "shell"]
        );
        // No selftest in what a person boots.
        assert!(images.iter().all(|i| !i.starts_with("selftest")));
        // DHCP: netstackd's argument has no static address (option tag 0).
        assert_eq!(user.services[0].arg.first(), Some(&0));
        for p in PROFILES {
            for s in p.services {
                let reads = s
                    .grants
                    .iter()
                    .any(|g| matches!(g, Grant::ConsoleInput { .. }));
                if s.may_power_off() || (reads && p.user) {
                    assert_eq!(s.image, "shell", "{}: {}", p.name, s.name);
                }
                // Test profiles: the harness types pairing PINs into the bus test app.
                if reads {
                    assert!(
                        ["shell", "bus-selftest"].contains(&s.image),
                        "{}: {}",
                        p.name,
                        s.name
                    );
                }
            }
        }
        let shell = user.services.iter().find(|s| s.name == "shell").unwrap();
        assert!(shell.may_power_off());
        assert_eq!(shell.init_badge().map(|(_, kill)| kill), Some(false));
    }
}
