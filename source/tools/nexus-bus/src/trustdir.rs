//! The trust store on disk: one file per trusted device, `<state>/trusted/<device id>`,
//! holding the device's `dsoftbus::trust` record (`TrustEntry::encode`), mode `0600`.
//!
//! Design notes:
//! - Loaded at start into the daemon's trust store; every `TrustChanged` event of the
//!   daemon rewrites (temporary file renamed into place) or removes that device's file.
//! - Fail closed and loud: a file that does not decode, or whose record names another
//!   device than its file name, stops the start with the path named (it is never
//!   dropped silently, never rewritten). Names that are not device ids are ignored
//!   (temporary files); at most `MAX_TRUSTED` records are read.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use dsoftbus::trust::MAX_TRUSTED;
use dsoftbus::{TrustEntry, DEVICE_ID_LEN};

/// Directory inside the state directory.
pub const DIR: &str = "trusted";

fn is_id(name: &str) -> bool {
    name.len() == DEVICE_ID_LEN && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The trust directory of state directory `state`.
pub fn dir(state: &Path) -> PathBuf {
    state.join(DIR)
}

/// Every trusted device recorded in `dir` (none if it does not exist).
pub fn load(dir: &Path) -> Result<Vec<TrustEntry>, String> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{}: {}", dir.display(), e)),
    };
    let mut out = Vec::new();
    for ent in rd {
        let ent = ent.map_err(|e| format!("{}: {}", dir.display(), e))?;
        let name = ent.file_name();
        let Some(name) = name.to_str().filter(|n| is_id(n)) else {
            continue;
        };
        if out.len() >= MAX_TRUSTED {
            return Err(format!(
                "{}: more than {} trusted devices",
                dir.display(),
                MAX_TRUSTED
            ));
        }
        let path = ent.path();
        let rec = fs::read(&path).map_err(|e| format!("{}: {}", path.display(), e))?;
        let e = TrustEntry::decode(&rec)
            .map_err(|e| format!("{}: damaged trust record ({})", path.display(), e))?;
        if e.device_id() != name {
            return Err(format!(
                "{}: the record is for device {}, not {}",
                path.display(),
                e.device_id(),
                name
            ));
        }
        out.push(e);
    }
    out.sort_by(|a, b| a.device_id().cmp(b.device_id()));
    Ok(out)
}

/// Writes (`Some`) or removes (`None`) the record of device `id`.
pub fn store(dir: &Path, id: &str, entry: Option<&TrustEntry>) -> std::io::Result<()> {
    if !is_id(id) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a device id",
        ));
    }
    let path = dir.join(id);
    let Some(e) = entry else {
        return match fs::remove_file(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            r => r,
        };
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let tmp = dir.join(format!("{}.tmp", id));
    let _ = fs::remove_file(&tmp);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(&e.encode())?;
    f.sync_all()?;
    fs::rename(&tmp, &path)
}
