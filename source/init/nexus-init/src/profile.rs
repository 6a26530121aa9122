//! Boot profiles: which services start, in which order, with which caps.
//!
//! The kernel command line selects a profile with `nexus.profile=<name>`
//! (default [`DEFAULT_PROFILE`]). Each service names its boot-image program,
//! an argument passed in `a0`, and the capabilities init grants it, placed
//! at the slots of `nexus_abi::slots` that the service reads. Endpoints are
//! named; init creates each named endpoint once and hands out copies with the
//! rights and badge listed. Nothing not listed is granted. See
//! `docs/boot-profiles.md`.

use nexus_abi::{rights, slots};

/// Most services one profile may start (the kernel runs at most 16 tasks,
/// init included; a profile test keeps every profile within this).
pub const MAX_SERVICES: usize = 15;

/// Services init restarts when they fault, are killed, or exit with a
/// non-zero code (long-running daemons; selftests are never restarted).
pub const SUPERVISED: &[&str] = &[
    "netstackd",
    "rngd",
    "dsoftbusd",
    "virtionetd-lite",
    "netstackd-lite",
    "echod",
];
/// Restarts per service before init gives up on it.
pub const RESTART_LIMIT: u32 = 3;
/// Back-off before restart `n` (1-based): 50 ms, 100 ms, 200 ms …
pub fn restart_backoff_ns(n: u32) -> u64 {
    50_000_000u64 << n.saturating_sub(1).min(6)
}
/// Badges of init-endpoint holders that may ask init to kill a service
/// (the supervision selftest only).
pub const KILL_BADGES: &[u64] = &[7];

/// Profile used when the command line names none.
#[cfg(feature = "net-canonical")]
pub const DEFAULT_PROFILE: &str = "smoke";
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
    /// A copy of init's DMA budget capability, for `pages` pages.
    Dma {
        /// Destination slot.
        slot: u32,
    },
    /// A send capability to a server's named endpoint, as a *client*: when
    /// the holder ends, init tells the server (client-gone message of
    /// `nexus-init-api`) so it frees what the client held. `badge` must be
    /// non-zero: badge 0 is init's own on every endpoint.
    Client {
        /// Endpoint name.
        ep: &'static str,
        /// Badge identifying this client to the server (non-zero).
        badge: u64,
        /// Destination slot.
        slot: u32,
    },
    /// The MMIO (and interrupt) capability of the first virtio-mmio device
    /// with virtio device id `device_id` (1 = network), with the MAP right.
    Device {
        /// Virtio device id.
        device_id: u32,
        /// Destination slot.
        slot: u32,
    },
    /// A send capability to init's own control/supervision endpoint.
    InitEndpoint {
        /// Badge identifying the holder to init.
        badge: u64,
        /// Destination slot.
        slot: u32,
    },
}

/// One service of a profile.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Service {
    /// Name used in markers and status queries.
    pub name: &'static str,
    /// Boot-image program.
    pub image: &'static str,
    /// Value in `a0` at entry.
    pub arg: u64,
    /// A command-line word (e.g. `nexus.netpeers=1`) that, when present,
    /// sets bit 0 of `arg`: how a harness tells a selftest its peers exist.
    pub cmdline_flag: Option<&'static str>,
    /// Capabilities granted.
    pub grants: &'static [Grant],
}

/// A boot profile.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    /// Name on the command line.
    pub name: &'static str,
    /// Services in start order.
    pub services: &'static [Service],
}

const SELFTEST_SERVER: Service = Service {
    name: "selftest-server",
    image: "selftest-server",
    arg: 0,
    cmdline_flag: None,
    grants: &[Grant::Endpoint {
        ep: "selftest",
        rights: rights::RECV,
        badge: 0,
        slot: slots::selftest_server::ENDPOINT,
    }],
};

/// netstackd with DHCP: the only service that gets the virtio-net device.
const NETSTACKD_DHCP: Service = Service {
    name: "netstackd",
    image: "netstackd",
    arg: 0,
    cmdline_flag: None,
    grants: &[
        Grant::Endpoint {
            ep: "net",
            rights: rights::RECV,
            badge: 0,
            slot: slots::netstackd::ENDPOINT,
        },
        Grant::Device {
            device_id: 1,
            slot: slots::netstackd::NET_MMIO,
        },
        Grant::Dma {
            slot: slots::netstackd::DMA,
        },
    ],
};

/// dsoftbusd: a client of netstackd and of rngd, nothing else (no device).
const DSOFTBUSD_GRANTS: &[Grant] = &[
    Grant::Client {
        ep: "net",
        badge: 0x30,
        slot: slots::dsoftbusd::NET,
    },
    Grant::Client {
        ep: "rng",
        badge: 0x30,
        slot: slots::dsoftbusd::RNG,
    },
];

/// rngd: the only service that gets the virtio-rng device.
const RNGD: Service = Service {
    name: "rngd",
    image: "rngd",
    arg: 0,
    cmdline_flag: None,
    grants: &[
        Grant::Endpoint {
            ep: "rng",
            rights: rights::RECV,
            badge: 0,
            slot: slots::rngd::ENDPOINT,
        },
        Grant::Device {
            device_id: 4,
            slot: slots::rngd::RNG_MMIO,
        },
        Grant::Dma {
            slot: slots::rngd::DMA,
        },
    ],
};

/// dsoftbusd in the smoke: test node `node-a` (index 0), announcing also to
/// the discovery ports of `selftest-peer` (37021) and `impostor` (37022),
/// which share the VM's address. Same layout as `dsoftbusd::Config`.
const DSOFTBUSD_SMOKE_ARG: u64 = (37021 << 16) | (37022 << 32);

/// The two-VM profiles: static addresses on the link (no DHCP), rngd,
/// dsoftbusd as `node-a` (proxy selftest + bulk sender) or `node-b`.
const fn os2vm(node: u8, addr: [u8; 4], flags: u64) -> [Service; 3] {
    [
        Service {
            name: "netstackd",
            image: "netstackd",
            arg: nexus_init_api::netcfg::encode_static(addr, 24, 0),
            cmdline_flag: None,
            grants: NETSTACKD_DHCP.grants,
        },
        RNGD,
        Service {
            name: "dsoftbusd",
            image: "dsoftbusd",
            arg: node as u64 | flags,
            cmdline_flag: None,
            grants: DSOFTBUSD_GRANTS,
        },
    ]
}

// Flags of `dsoftbusd::Config` (bit 8 proxy selftest, 9 cross-VM, 10 bulk).
const OS2VM_A: [Service; 3] = os2vm(0, [10, 42, 0, 10], 0x100 | 0x200 | 0x400);
const OS2VM_B: [Service; 3] = os2vm(1, [10, 42, 0, 11], 0x200);

/// The argument a service gets: its `arg`, with bit 0 set when its
/// command-line flag is present.
pub fn service_arg(svc: &Service, cmdline: &str) -> u64 {
    let flagged = svc
        .cmdline_flag
        .is_some_and(|f| cmdline.split_ascii_whitespace().any(|w| w == f));
    svc.arg | u64::from(flagged)
}

/// The canonical path's profiles.
#[cfg_attr(not(feature = "net-canonical"), allow(dead_code))]
const CANONICAL_PROFILES: &[Profile] = &[
    Profile {
        name: "smoke",
        services: &[
            SELFTEST_SERVER,
            Service {
                name: "selftest-dma",
                image: "selftest-dma",
                arg: 0,
                cmdline_flag: None,
                grants: &[Grant::Dma {
                    slot: slots::selftest_dma::DMA,
                }],
            },
            Service {
                name: "fault-store",
                image: "selftest-fault",
                arg: 0,
                cmdline_flag: None,
                grants: &[],
            },
            Service {
                name: "fault-ill",
                image: "selftest-fault",
                arg: 1,
                cmdline_flag: None,
                grants: &[],
            },
            NETSTACKD_DHCP,
            Service {
                name: "net-hostile",
                image: "selftest-net",
                arg: 2,
                cmdline_flag: None,
                grants: &[Grant::Client {
                    ep: "net",
                    badge: 0x11,
                    slot: slots::selftest_net::NET,
                }],
            },
            Service {
                name: "selftest-net",
                image: "selftest-net",
                arg: 0,
                cmdline_flag: Some("nexus.netpeers=1"),
                grants: &[
                    Grant::Client {
                        ep: "net",
                        badge: 0x10,
                        slot: slots::selftest_net::NET,
                    },
                    Grant::InitEndpoint {
                        badge: 4,
                        slot: slots::selftest_net::INIT,
                    },
                    Grant::Client {
                        ep: "net",
                        badge: 0x12,
                        slot: slots::selftest_net::NET_HOSTILE,
                    },
                ],
            },
            RNGD,
            Service {
                name: "dsoftbusd",
                image: "dsoftbusd",
                // node-a; also announce to the two in-VM test nodes' ports.
                arg: DSOFTBUSD_SMOKE_ARG,
                cmdline_flag: None,
                grants: DSOFTBUSD_GRANTS,
            },
            Service {
                name: "dsoftbus-peer",
                image: "selftest-dsoftbus",
                arg: 0,
                cmdline_flag: None,
                grants: &[Grant::Client {
                    ep: "net",
                    badge: 0x31,
                    slot: slots::selftest_dsoftbus::NET,
                }],
            },
            Service {
                name: "dsoftbus-impostor",
                image: "selftest-dsoftbus",
                arg: 1,
                cmdline_flag: None,
                grants: &[
                    Grant::Client {
                        ep: "net",
                        badge: 0x32,
                        slot: slots::selftest_dsoftbus::NET,
                    },
                    Grant::InitEndpoint {
                        badge: 5,
                        slot: slots::selftest_dsoftbus::INIT,
                    },
                ],
            },
            Service {
                name: "dsoftbus-hostile",
                image: "selftest-dsoftbus",
                arg: 2,
                cmdline_flag: None,
                grants: &[
                    Grant::Client {
                        ep: "net",
                        badge: 0x33,
                        slot: slots::selftest_dsoftbus::NET,
                    },
                    Grant::InitEndpoint {
                        badge: 6,
                        slot: slots::selftest_dsoftbus::INIT,
                    },
                ],
            },
            Service {
                name: "dsoftbus-restart",
                image: "selftest-dsoftbus",
                arg: 3,
                cmdline_flag: None,
                grants: &[
                    Grant::Client {
                        ep: "net",
                        badge: 0x34,
                        slot: slots::selftest_dsoftbus::NET,
                    },
                    // Badge 7 may ask init to kill a service (KILL_BADGES).
                    Grant::InitEndpoint {
                        badge: 7,
                        slot: slots::selftest_dsoftbus::INIT,
                    },
                ],
            },
            Service {
                name: "dsoftbus-cycles",
                image: "selftest-dsoftbus",
                arg: 4,
                cmdline_flag: None,
                grants: &[
                    Grant::Client {
                        ep: "net",
                        badge: 0x35,
                        slot: slots::selftest_dsoftbus::NET,
                    },
                    Grant::InitEndpoint {
                        badge: 8,
                        slot: slots::selftest_dsoftbus::INIT,
                    },
                ],
            },
            Service {
                name: "selftest-client",
                image: "selftest-client",
                arg: 0,
                cmdline_flag: None,
                grants: &[
                    Grant::Endpoint {
                        ep: "selftest",
                        rights: rights::SEND | rights::GRANT,
                        badge: 1,
                        slot: slots::selftest_client::SERVER,
                    },
                    Grant::InitEndpoint {
                        badge: 2,
                        slot: slots::selftest_client::INIT,
                    },
                ],
            },
        ],
    },
    BENCH_PROFILE,
    Profile {
        name: "bench-net",
        services: &[
            NETSTACKD_DHCP,
            Service {
                name: "bench-net",
                image: "bench-net",
                arg: 0,
                cmdline_flag: None,
                grants: &[Grant::Client {
                    ep: "net",
                    badge: 0x20,
                    slot: slots::bench_net::NET,
                }],
            },
        ],
    },
    // Against Linux over a tap device (scripts/real-peers.py): bench-net's
    // real-peer mode, direct (arg 1) and through the impairment relay (arg 2).
    Profile {
        name: "real-peers",
        services: &[NETSTACKD_DHCP, real_peers(1)],
    },
    Profile {
        name: "real-peers-relay",
        services: &[NETSTACKD_DHCP, real_peers(2)],
    },
    Profile {
        name: "os2vm-a",
        services: &OS2VM_A,
    },
    Profile {
        name: "os2vm-b",
        services: &OS2VM_B,
    },
];

/// bench-net in its real-peer mode `arg` (1: direct tap, 2: relay).
#[cfg_attr(feature = "net-bringup-lite", allow(dead_code))]
const fn real_peers(arg: u64) -> Service {
    Service {
        name: "bench-net",
        image: "bench-net",
        arg,
        cmdline_flag: None,
        grants: &[Grant::Client {
            ep: "net",
            badge: 0x20,
            slot: slots::bench_net::NET,
        }],
    }
}

/// The IPC benchmark profile has no network; both paths carry it.
#[cfg_attr(not(feature = "net-bringup-lite"), allow(dead_code))]
const BENCH_PROFILE: Profile = Profile {
    name: "bench",
    services: &[
        SELFTEST_SERVER,
        Service {
            name: "bench-client",
            image: "bench-client",
            arg: 0,
            cmdline_flag: None,
            grants: &[Grant::Endpoint {
                ep: "selftest",
                rights: rights::SEND,
                badge: 3,
                slot: slots::bench_client::SERVER,
            }],
        },
    ],
};

/// The bring-up (lite) path: a hand-written virtio-net driver, a small
/// stack without smoltcp, UDP echo and an HTTP-like fetch over loopback.
#[cfg_attr(not(feature = "net-bringup-lite"), allow(dead_code))]
const LITE_PROFILES: &[Profile] = &[
    Profile {
        name: "lite",
        services: &[
            Service {
                name: "virtionetd-lite",
                image: "virtionetd-lite",
                arg: 0,
                cmdline_flag: None,
                grants: &[
                    Grant::Endpoint {
                        ep: "vnet-lite",
                        rights: rights::RECV,
                        badge: 0,
                        slot: slots::virtionetd_lite::ENDPOINT,
                    },
                    Grant::Device {
                        device_id: 1,
                        slot: slots::virtionetd_lite::NET_MMIO,
                    },
                    Grant::Dma {
                        slot: slots::virtionetd_lite::DMA,
                    },
                ],
            },
            Service {
                name: "netstackd-lite",
                image: "netstackd-lite",
                arg: 0,
                cmdline_flag: None,
                grants: &[
                    Grant::Endpoint {
                        ep: "net-lite",
                        rights: rights::RECV,
                        badge: 0,
                        slot: slots::netstackd_lite::ENDPOINT,
                    },
                    Grant::Client {
                        ep: "vnet-lite",
                        badge: 0x30,
                        slot: slots::netstackd_lite::DRIVER,
                    },
                ],
            },
            Service {
                name: "echod",
                image: "echod",
                arg: 0,
                cmdline_flag: None,
                grants: &[Grant::Client {
                    ep: "net-lite",
                    badge: 0x40,
                    slot: slots::echod::NET,
                }],
            },
            Service {
                name: "fetchd",
                image: "fetchd",
                arg: 0,
                cmdline_flag: None,
                grants: &[Grant::Client {
                    ep: "net-lite",
                    badge: 0x50,
                    slot: slots::fetchd::NET,
                }],
            },
        ],
    },
    BENCH_PROFILE,
];

/// Every profile this image knows (its network path's).
#[cfg(feature = "net-canonical")]
pub const PROFILES: &[Profile] = CANONICAL_PROFILES;
/// Every profile this image knows (its network path's).
#[cfg(all(feature = "net-bringup-lite", not(feature = "net-canonical")))]
pub const PROFILES: &[Profile] = LITE_PROFILES;

/// The network path compiled into this image.
#[cfg(feature = "net-canonical")]
pub const NET_PATH: &str = "net-canonical";
/// The network path compiled into this image.
#[cfg(all(feature = "net-bringup-lite", not(feature = "net-canonical")))]
pub const NET_PATH: &str = "net-bringup-lite";

/// Profiles of the *other* path, refused with a message naming the path.
#[cfg(feature = "net-canonical")]
const OTHER_PATH: (&str, &[Profile]) = ("net-bringup-lite", LITE_PROFILES);
#[cfg(all(feature = "net-bringup-lite", not(feature = "net-canonical")))]
const OTHER_PATH: (&str, &[Profile]) = ("net-canonical", CANONICAL_PROFILES);

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
    if OTHER_PATH.1.iter().any(|p| p.name == name) {
        return Err(ProfileError::OtherPath(name, OTHER_PATH.0));
    }
    Err(ProfileError::Unknown(name))
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
        let images: Vec<_> = PROFILES
            .iter()
            .flat_map(|p| p.services.iter().map(|s| s.image))
            .collect();
        for canonical in ["netstackd", "dsoftbusd", "rngd", "selftest-net"] {
            assert!(
                !images.contains(&canonical),
                "{canonical} in the lite image"
            );
        }
        assert!(images.contains(&"virtionetd-lite") && images.contains(&"fetchd"));
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
        assert_eq!(select("").unwrap().name, "smoke");
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

    #[test]
    fn profiles_are_consistent() {
        for p in PROFILES {
            assert!(
                p.services.len() <= MAX_SERVICES,
                "{} has too many services",
                p.name
            );
            let mut names: Vec<_> = p.services.iter().map(|s| s.name).collect();
            names.sort();
            names.dedup();
            assert_eq!(
                names.len(),
                p.services.len(),
                "duplicate service in {}",
                p.name
            );
            for s in p.services {
                assert!(
                    s.name.len() <= nexus_abi::NAME_MAX && s.image.len() <= nexus_abi::NAME_MAX
                );
                let mut slots: Vec<u32> = s
                    .grants
                    .iter()
                    .map(|g| match *g {
                        Grant::Endpoint { slot, .. }
                        | Grant::InitEndpoint { slot, .. }
                        | Grant::Client { slot, .. }
                        | Grant::Device { slot, .. }
                        | Grant::Dma { slot } => slot,
                    })
                    .collect();
                assert!(slots
                    .iter()
                    .all(|&s| s != 0 && (s as usize) < nexus_abi::CAP_SLOTS));
                slots.sort();
                slots.dedup();
                assert_eq!(
                    slots.len(),
                    s.grants.len(),
                    "slot granted twice to {}",
                    s.name
                );
            }
        }
    }

    #[test]
    fn only_netstackd_gets_the_network_device_and_clients_never_badge_zero() {
        for p in PROFILES {
            for s in p.services {
                for g in s.grants {
                    match *g {
                        Grant::Device { device_id: 1, .. } => assert!(
                            s.image == "netstackd" || s.image == "virtionetd-lite",
                            "{}",
                            s.name
                        ),
                        Grant::Device { device_id: 4, .. } => assert_eq!(s.image, "rngd"),
                        Grant::Device { .. } => panic!("unexpected device grant to {}", s.name),
                        Grant::Client { badge, .. } => {
                            assert_ne!(badge, 0, "badge 0 is init's ({})", s.name)
                        }
                        Grant::Endpoint {
                            ep: "net", rights, ..
                        } => {
                            assert_eq!(rights, rights::RECV, "only netstackd holds net directly")
                        }
                        _ => {}
                    }
                }
            }
        }
    }

    #[cfg(feature = "net-canonical")]
    #[test]
    fn command_line_flag_sets_bit_zero_only_when_present() {
        let smoke = select("").unwrap();
        let net = smoke
            .services
            .iter()
            .find(|s| s.name == "selftest-net")
            .unwrap();
        assert_eq!(service_arg(net, ""), 0);
        assert_eq!(service_arg(net, "nexus.netpeers=0"), 0);
        assert_eq!(service_arg(net, "x nexus.netpeers=1 y"), 1);
        let other = smoke
            .services
            .iter()
            .find(|s| s.name == "netstackd")
            .unwrap();
        assert_eq!(service_arg(other, "nexus.netpeers=1"), 0);
    }

    #[cfg(feature = "net-canonical")]
    #[test]
    fn nothing_but_the_listed_caps_is_granted_to_the_selftest_client() {
        let smoke = select("").unwrap();
        let client = smoke
            .services
            .iter()
            .find(|s| s.name == "selftest-client")
            .unwrap();
        // The client must never hold a device capability: `mmio denied` relies on it.
        assert_eq!(client.grants.len(), 2);
    }
}
