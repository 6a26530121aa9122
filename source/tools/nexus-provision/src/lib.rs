//! Provisioning by disk image (issue 13, item 3): a storaged disk written on the host that
//! already holds dsoftbusd's identity and its trusted devices, so a fleet (or a test
//! harness) boots with known ids and trusted sessions instead of a first-boot identity
//! that nobody trusts yet (docs/dsoftbus.md §15.4).
//!
//! Design notes:
//! - Nothing here has its own format. The image is `nexus-kv`'s store (superblock and
//!   map) written by storaged's own `kv` server ([`storaged::KvServer`], the caller's
//!   badge picks the namespace) over a file-backed sector device ([`FileDisk`]); the
//!   records are `dsoftbus::keyrecord` (identity) and `dsoftbus::TrustEntry` (one per
//!   trusted device, origin `Provisioned`, added in boot 0) under dsoftbusd's keys
//!   (`dsoftbusd::identity::IDENTITY_KEY`, `dsoftbusd::trust::record_key`), and the
//!   identity is stored by dsoftbusd's own `load_or_create` with the key file's secret
//!   as its "entropy". Reading back uses dsoftbusd's loaders too.
//! - Key files are the same 69-byte identity record (`NXID`, secret and public key) the
//!   Linux peer keeps; they are created `0600` and never overwritten. A trusted device is
//!   named by its public key (64 hex digits) or by a key file (its public key is used).
//! - The disk carries the secret in clear, as a first-boot identity on a VM's disk does.
//! - A disk is written to `<image>.tmp` and renamed into place: a failed run leaves no
//!   half-written image under the final name. `show` never writes the image: a
//!   read-only [`FileDisk`] keeps the store's writes (a blank disk's format) in memory.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use dsoftbus::{keyrecord, DeviceId, StaticKeypair, TrustEntry, TrustOrigin, KEY_LEN};
use dsoftbusd::identity::{load_or_create, IdentityError, KeyValue, Origin};
use dsoftbusd::trust::{record_key, KeyList, BOOT_KEY, BOOT_MAGIC};
use nexus_kv::{BadImage, BlockDevice, IoError, OpenError, Opened, Store, SECTOR};

/// dsoftbusd's `kv` badge in the shipped profiles (its namespace in storaged).
pub const DEFAULT_BADGE: u64 = 0x30;

/// Why a command failed (printed as is).
#[derive(Debug)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

fn err<T>(msg: impl Into<String>) -> Result<T, Error> {
    Err(Error(msg.into()))
}

/// Lowercase hex of `b`.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A sector device over a file. Read-only devices keep writes in memory (never on the
/// file).
pub struct FileDisk {
    file: fs::File,
    sectors: u64,
    overlay: Option<BTreeMap<u64, [u8; SECTOR]>>,
}

impl FileDisk {
    /// Opens `path` for reading and writing; its length must be a whole number of sectors.
    pub fn open(path: &Path, writable: bool) -> Result<FileDisk, Error> {
        let file = fs::OpenOptions::new()
            .read(true)
            .write(writable)
            .open(path)
            .map_err(|e| Error(format!("{}: {}", path.display(), e)))?;
        let len = file
            .metadata()
            .map_err(|e| Error(format!("{}: {}", path.display(), e)))?
            .len();
        if len == 0 || len % SECTOR as u64 != 0 {
            return err(format!(
                "{}: {} bytes is not a whole number of {}-byte sectors",
                path.display(),
                len,
                SECTOR
            ));
        }
        Ok(FileDisk {
            file,
            sectors: len / SECTOR as u64,
            overlay: (!writable).then(BTreeMap::new),
        })
    }
}

impl BlockDevice for FileDisk {
    fn sectors(&self) -> u64 {
        self.sectors
    }

    fn read_sector(&mut self, index: u64, buf: &mut [u8; SECTOR]) -> Result<(), IoError> {
        if index >= self.sectors {
            return Err(IoError);
        }
        if let Some(s) = self.overlay.as_ref().and_then(|o| o.get(&index)) {
            buf.copy_from_slice(s);
            return Ok(());
        }
        self.file
            .seek(SeekFrom::Start(index * SECTOR as u64))
            .and_then(|_| self.file.read_exact(buf))
            .map_err(|_| IoError)
    }

    fn write_sector(&mut self, index: u64, buf: &[u8; SECTOR]) -> Result<(), IoError> {
        if index >= self.sectors {
            return Err(IoError);
        }
        if let Some(o) = self.overlay.as_mut() {
            o.insert(index, *buf);
            return Ok(());
        }
        self.file
            .seek(SeekFrom::Start(index * SECTOR as u64))
            .and_then(|_| self.file.write_all(buf))
            .map_err(|_| IoError)
    }

    fn flush(&mut self) -> Result<(), IoError> {
        if self.overlay.is_some() {
            return Ok(());
        }
        self.file.sync_data().map_err(|_| IoError)
    }
}

/// Calls go straight to storaged's `kv` server with a fixed badge, as the kernel stamps
/// dsoftbusd's calls with the badge its profile grants.
pub struct Direct<'a, D: BlockDevice> {
    server: &'a mut storaged::KvServer<D>,
    badge: u64,
}

impl<D: BlockDevice> nexus_idl::Transport for Direct<'_, D> {
    fn call(
        &mut self,
        req: &[u8],
        rep: &mut [u8],
        _: u64,
    ) -> Result<usize, nexus_idl::TransportError> {
        let mut out = vec![0u8; nexus_interfaces::kv::REPLY_MAX];
        let n = nexus_interfaces::kv::dispatch(self.server, self.badge, req, &mut out);
        let dst = rep
            .get_mut(..n)
            .ok_or(nexus_idl::TransportError::TooLarge)?;
        dst.copy_from_slice(&out[..n]);
        Ok(n)
    }
}

/// dsoftbusd's view of the store: a `kv` client with `badge`, as on the device.
pub fn client<D: BlockDevice>(
    server: &mut storaged::KvServer<D>,
    badge: u64,
) -> nexus_interfaces::kv::Client<Direct<'_, D>> {
    nexus_interfaces::kv::Client::new(Direct { server, badge })
}

/// Checks a `kv` badge: storaged gives no namespace to badge 0 (init) or the kernel's.
pub fn check_badge(badge: u64) -> Result<(), Error> {
    if storaged::namespace_of(badge).is_none() {
        return err(format!("badge {badge:#x} has no namespace in storaged"));
    }
    Ok(())
}

/// Makes a new secret from the OS RNG (all zeros refused).
pub fn new_keys() -> Result<StaticKeypair, Error> {
    let mut secret = [0u8; KEY_LEN];
    getrandom::fill(&mut secret).map_err(|e| Error(format!("OS RNG: {e}")))?;
    if secret == [0u8; KEY_LEN] {
        return err("OS RNG returned zeros");
    }
    let keys = StaticKeypair::from_secret(secret);
    secret.fill(0);
    Ok(keys)
}

/// Writes `keys` to a new key file `path` (`0600`; an existing file is never replaced).
pub fn write_key_file(path: &Path, keys: &StaticKeypair) -> Result<(), Error> {
    let mut rec = keyrecord::encode(keys);
    let r = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        f.set_permissions(fs::Permissions::from_mode(0o600))?;
        f.write_all(&rec)?;
        f.sync_all()
    })();
    rec.fill(0);
    r.map_err(|e| Error(format!("{}: {}", path.display(), e)))
}

/// Reads a key file (a 69-byte identity record).
pub fn read_key_file(path: &Path) -> Result<StaticKeypair, Error> {
    let mut bytes = fs::read(path).map_err(|e| Error(format!("{}: {}", path.display(), e)))?;
    let r = keyrecord::decode(&bytes);
    bytes.fill(0);
    r.map_err(|why| {
        Error(format!(
            "{}: not a key file ({}; expected the {}-byte identity record `nexus-provision keygen` writes)",
            path.display(),
            why,
            keyrecord::RECORD_LEN
        ))
    })
}

/// One device to trust: its public key and the services of ours it may open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trusted {
    /// Its static public key.
    pub key: [u8; KEY_LEN],
    /// Services it may open (validated by `dsoftbus::trust::check_services`).
    pub services: Vec<String>,
}

/// Parses `<pubkey-hex | keyfile>[:svc,svc...]`: 64 hex digits are a public key; anything
/// else is a file, either a key file (its public key is used) or 64 hex digits of a
/// public key. No service list means the device may open nothing (it is still trusted:
/// an untrusted device may only pair).
pub fn parse_trust(arg: &str) -> Result<Trusted, Error> {
    let (who, services) = match arg.rsplit_once(':') {
        Some((w, s)) if !s.contains('/') => (w, s),
        _ => (arg, ""),
    };
    let services: Vec<String> = services
        .split(',')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    if let Err(e) = dsoftbus::trust::check_services(&services) {
        return err(format!("--trust {arg}: services: {e}"));
    }
    let key = if let Some(k) = dsoftbusd::parse_key(who) {
        k
    } else if who.len() == 64 && who.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return err(format!("--trust {arg}: not 64 hex digits"));
    } else {
        let path = Path::new(who);
        let bytes = fs::read(path).map_err(|e| {
            Error(format!(
                "--trust {arg}: neither a public key (64 hex digits) nor a readable file: {e}"
            ))
        })?;
        let text = std::str::from_utf8(&bytes).ok().map(str::trim);
        if let Some(k) = text.and_then(dsoftbusd::parse_key) {
            k
        } else {
            read_key_file(path)?.public_key()
        }
    };
    if key == [0u8; KEY_LEN] {
        return err(format!("--trust {arg}: the all-zero key is no device"));
    }
    Ok(Trusted { key, services })
}

/// What `disk` writes.
pub struct DiskPlan<'a> {
    /// The image file.
    pub image: &'a Path,
    /// Its size in KiB.
    pub size_kib: u64,
    /// The node's identity.
    pub identity: &'a StaticKeypair,
    /// The devices it trusts.
    pub trusted: &'a [Trusted],
    /// dsoftbusd's `kv` badge.
    pub badge: u64,
}

/// Writes a fresh disk image; returns the node's device id.
pub fn write_disk(p: &DiskPlan<'_>) -> Result<String, Error> {
    check_badge(p.badge)?;
    let me = DeviceId::of(&p.identity.public_key());
    let mut seen: Vec<[u8; KEY_LEN]> = Vec::new();
    for t in p.trusted {
        if t.key == p.identity.public_key() {
            return err(format!(
                "--trust {}: that is this disk's own identity",
                hex(&t.key)
            ));
        }
        if seen.contains(&t.key) {
            return err(format!("--trust {}: named twice", hex(&t.key)));
        }
        seen.push(t.key);
    }
    if p.trusted.len() > dsoftbus::trust::MAX_TRUSTED {
        return err(format!(
            "{} trusted devices: a trust store holds at most {}",
            p.trusted.len(),
            dsoftbus::trust::MAX_TRUSTED
        ));
    }
    let bytes = p
        .size_kib
        .checked_mul(1024)
        .filter(|b| *b / SECTOR as u64 >= nexus_kv::store::MIN_SECTORS && *b <= 1 << 32)
        .ok_or_else(|| {
            Error(format!(
                "--size-kib {}: must be {}..=4194304",
                p.size_kib,
                nexus_kv::store::MIN_SECTORS * SECTOR as u64 / 1024
            ))
        })?;
    let tmp = PathBuf::from(format!("{}.tmp", p.image.display()));
    let io = |e: std::io::Error| Error(format!("{}: {}", tmp.display(), e));
    let _ = fs::remove_file(&tmp);
    let f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io)?;
    f.set_len(bytes).map_err(io)?;
    drop(f);
    let r = fill(&tmp, p);
    if let Err(e) = r {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    fs::rename(&tmp, p.image).map_err(|e| Error(format!("{}: {}", p.image.display(), e)))?;
    Ok(String::from(me.as_str()))
}

fn fill(tmp: &Path, p: &DiskPlan<'_>) -> Result<(), Error> {
    let disk = FileDisk::open(tmp, true)?;
    let (store, _) = Store::open(disk, BadImage::Refuse)
        .map_err(|(_, e)| Error(format!("{}: cannot format: {:?}", tmp.display(), e)))?;
    let mut server = storaged::KvServer { store };
    let mut kv = client(&mut server, p.badge);
    // dsoftbusd's own first-boot path, with the key file's secret as its entropy.
    let mut secret = *p.identity.secret_bytes();
    let made = load_or_create(&mut kv, || Some(secret), "provisioned");
    secret.fill(0);
    match made {
        Ok((_, Origin::Created)) => {}
        Ok((_, Origin::Loaded)) => return err("a fresh image already held an identity"),
        Err(e) => return err(format!("identity record not written: {e:?}")),
    }
    for t in p.trusted {
        let e = TrustEntry::new(t.key, "", &t.services, TrustOrigin::Provisioned, 0, 0)
            .map_err(|e| Error(format!("--trust {}: {}", hex(&t.key), e)))?;
        kv.put(&record_key(e.device_id()), &e.encode())
            .map_err(|e| Error(format!("trust record not written: {e:?}")))?;
    }
    Ok(())
}

/// What a disk holds in one namespace (no secrets).
#[derive(Debug)]
pub struct Shown {
    /// How storaged would open it.
    pub opened: Opened,
    /// The identity: (device id, public key), or why there is none.
    pub identity: Result<(String, [u8; KEY_LEN]), String>,
    /// dsoftbusd's boot counter, if stored.
    pub boot: Option<u32>,
    /// Trust entries.
    pub trusted: Vec<TrustEntry>,
    /// Trust records dsoftbusd would skip as damaged.
    pub damaged: Vec<String>,
}

/// Reads what dsoftbusd would load from the image (the file is never written).
pub fn show(image: &Path, badge: u64) -> Result<Shown, Error> {
    check_badge(badge)?;
    let disk = FileDisk::open(image, false)?;
    let (store, opened) = Store::open(disk, BadImage::Refuse).map_err(|(_, e)| match e {
        OpenError::Refused(why) => Error(format!(
            "{}: not a storaged disk ({:?}); storaged would reformat it",
            image.display(),
            why
        )),
        e => Error(format!("{}: {:?}", image.display(), e)),
    })?;
    let mut server = storaged::KvServer { store };
    let mut kv = client(&mut server, badge);
    let identity = match load_or_create(&mut kv, || None, "shown") {
        Ok((me, _)) => Ok((String::from(me.device_id()), me.public_key())),
        Err(IdentityError::NoEntropy) => Err(String::from("none (dsoftbusd would create one)")),
        Err(IdentityError::Damaged) => Err(String::from("damaged record (dsoftbusd refuses it)")),
        Err(IdentityError::Store(e)) => Err(format!("store error {e:?}")),
    };
    let boot = match KeyValue::get(&mut kv, BOOT_KEY) {
        Ok(Some(v)) if v.len() == 9 && v[..4] == BOOT_MAGIC && v[4] == 1 => {
            Some(u32::from_be_bytes([v[5], v[6], v[7], v[8]]))
        }
        _ => None,
    };
    let loaded = dsoftbusd::trust::load(&mut kv as &mut dyn KeyList)
        .map_err(|e| Error(format!("trust records: {e:?}")))?;
    Ok(Shown {
        opened,
        identity,
        boot,
        trusted: loaded.entries,
        damaged: loaded.damaged,
    })
}
