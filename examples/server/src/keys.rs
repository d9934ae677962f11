//! The master key: from `MFA_MASTER_KEY`, or a key file beside the database.

use std::io::Write;
use std::path::{Path, PathBuf};

use mfa::MasterKey;

use crate::db::Location;

/// The master key and a line saying where it came from.
pub fn load(location: &Location, key_file: Option<&Path>) -> Result<(MasterKey, String), String> {
    if let Some(text) = std::env::var_os("MFA_MASTER_KEY").filter(|v| !v.is_empty()) {
        let key = text
            .to_str()
            .and_then(|t| MasterKey::from_base64(t).ok())
            .ok_or("MFA_MASTER_KEY must be standard base64 of 32 bytes")?;
        return Ok((key, "master key: from MFA_MASTER_KEY".into()));
    }
    let path = match (key_file, location) {
        (Some(path), _) => path.to_owned(),
        (None, Location::File(db)) => {
            let mut name = db.as_os_str().to_owned();
            name.push(".key");
            PathBuf::from(name)
        }
        (None, Location::Memory) => {
            let key = MasterKey::generate(&mut rand::rng());
            return Ok((
                key,
                "master key: random, held in memory only (data and tokens die with the process)"
                    .into(),
            ));
        }
        (None, Location::Postgres(_) | Location::Mysql(_)) => {
            return Err(
                "with a PostgreSQL or MySQL database, set MFA_MASTER_KEY or pass --key-file \
                        (every server sharing the database needs the same key)"
                    .into(),
            );
        }
    };
    if path.exists() {
        return read(&path).map(|key| (key, format!("master key: read from {}", path.display())));
    }
    if let Location::File(db) = location
        && db.exists()
    {
        return Err(format!(
            "the database {} exists but its key file {} does not; refusing to create a new key \
             that could not decrypt the secrets already stored (restore the key file, or set \
             MFA_MASTER_KEY)",
            db.display(),
            path.display()
        ));
    }
    create(&path)
        .map(|key| {
            let line = format!(
                "master key: created {} (mode 0600); keep it with the database",
                path.display()
            );
            (key, line)
        })
        .or_else(|e| {
            // Another process may have created it at the same moment.
            if path.exists() {
                read(&path).map(|key| (key, format!("master key: read from {}", path.display())))
            } else {
                Err(e)
            }
        })
}

fn read(path: &Path) -> Result<MasterKey, String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                "{} is readable by other users; run chmod 600 on it",
                path.display()
            );
        }
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the key file {}: {e}", path.display()))?;
    MasterKey::from_base64(&text).map_err(|_| {
        format!(
            "the key file {} does not hold base64 of 32 bytes",
            path.display()
        )
    })
}

/// Writes a fresh key to a temporary file (mode 0600) and links it into
/// place, so that a reader never sees a half-written key and an existing file
/// is never replaced.
fn create(path: &Path) -> Result<MasterKey, String> {
    let key = MasterKey::generate(&mut rand::rng());
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp_name);
    let fail = |e: std::io::Error| format!("cannot create the key file {}: {e}", path.display());
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = (|| {
        let mut file = options.open(&tmp)?;
        file.write_all(key.to_base64().as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        std::fs::hard_link(&tmp, path)
    })();
    let _ = std::fs::remove_file(&tmp);
    written.map_err(fail)?;
    Ok(key)
}
