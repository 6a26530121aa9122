//! The Linux node's own key, kept in a state directory.
//!
//! Design notes:
//! - One file, `<state>/identity`, holding the same 69-byte record dsoftbusd keeps in
//!   storaged (`dsoftbus::keyrecord`, docs/dsoftbus.md §13a): `"NXID"` | version 1 | static secret (32) |
//!   static public key (32). The device id is derived from the public key by
//!   `dsoftbus::identity` exactly as on the VM; it is never stored.
//! - No file: 32 bytes from the OS RNG (`getrandom`) become the secret (all zero is
//!   refused), the directory is created `0700` and the file written `0600` through a
//!   temporary file renamed into place, so a crash leaves either no identity or a whole
//!   one. A file of another length, magic or version, or whose public key is not the one
//!   its secret gives, is refused as damaged and never overwritten (a new key would be a
//!   new device).
//! - The default directory is `$XDG_STATE_HOME/nexus-bus`, else
//!   `$HOME/.local/state/nexus-bus`.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use dsoftbus::{LocalIdentity, StaticKeypair, KEY_LEN};

pub use dsoftbus::keyrecord::{RECORD_LEN, RECORD_MAGIC, RECORD_VERSION};
/// File name inside the state directory.
pub const FILE: &str = "identity";

/// Whether the identity was made now or loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// No file existed: a new key was generated and stored.
    Created,
    /// The stored key was loaded.
    Loaded,
}

/// Why there is no identity.
#[derive(Debug)]
pub enum IdentityError {
    /// The state directory or file could not be read or written.
    Io(PathBuf, std::io::Error),
    /// The file exists but is not a valid record (never overwritten).
    Damaged(PathBuf, &'static str),
    /// The OS RNG failed or returned zeros.
    NoEntropy,
}

impl std::fmt::Display for IdentityError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdentityError::Io(p, e) => write!(f, "{}: {}", p.display(), e),
            IdentityError::Damaged(p, why) => write!(
                f,
                "{}: damaged identity ({}); not replaced (move it away to make a new device)",
                p.display(),
                why
            ),
            IdentityError::NoEntropy => write!(f, "no entropy from the OS RNG"),
        }
    }
}

/// The default state directory.
pub fn default_dir() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_STATE_HOME").filter(|x| !x.is_empty()) {
        return Some(PathBuf::from(x).join("nexus-bus"));
    }
    std::env::var_os("HOME")
        .filter(|x| !x.is_empty())
        .map(|h| PathBuf::from(h).join(".local/state/nexus-bus"))
}

pub use dsoftbus::keyrecord::{decode, encode};

/// Loads the identity from `dir`, or creates it there.
pub fn load_or_create(dir: &Path) -> Result<(StaticKeypair, Origin), IdentityError> {
    let path = dir.join(FILE);
    match fs::read(&path) {
        Ok(mut bytes) => {
            let r = decode(&bytes).map_err(|why| IdentityError::Damaged(path.clone(), why));
            bytes.fill(0);
            return r.map(|k| (k, Origin::Loaded));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(IdentityError::Io(path, e)),
    }
    let mut secret = [0u8; KEY_LEN];
    getrandom::fill(&mut secret).map_err(|_| IdentityError::NoEntropy)?;
    if secret == [0u8; KEY_LEN] {
        return Err(IdentityError::NoEntropy);
    }
    let keys = StaticKeypair::from_secret(secret);
    secret.fill(0);
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| IdentityError::Io(dir.to_path_buf(), e))?;
    let tmp = dir.join(format!("{}.tmp", FILE));
    let mut rec = encode(&keys);
    let written = (|| {
        let _ = fs::remove_file(&tmp);
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.set_permissions(fs::Permissions::from_mode(0o600))?;
        f.write_all(&rec)?;
        f.sync_all()?;
        fs::rename(&tmp, &path)
    })();
    rec.fill(0);
    written.map_err(|e| IdentityError::Io(path, e))?;
    Ok((keys, Origin::Created))
}

/// The daemon's identity for `keys` with display name `name` (the id is derived).
pub fn local(keys: StaticKeypair, name: &str) -> LocalIdentity {
    let me = LocalIdentity::new(keys);
    match me.clone().with_name(name) {
        Ok(named) => named,
        Err(_) => me,
    }
}
