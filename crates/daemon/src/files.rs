//! Files a root daemon writes (lvsd's `lvs.services`, pulse's state), written so that a
//! local user who can plant names in the directory cannot make the daemon overwrite
//! another file: the temporary file has an unpredictable name and is created with
//! `O_CREAT|O_EXCL|O_NOFOLLOW` (never through a symlink, never an existing file), its mode
//! is set whatever the umask, and it is renamed over the target (a symlink at the target
//! is replaced, not followed).

use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically (readers see the old or the new file, whole) with
/// this mode.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let (tmp, mut file) = create_temporary(path, mode)?;
    let written = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// A new, empty file at `path` to write as a stream (a trace), created as safely as
/// [`write_atomic`]'s: exclusively under a fresh name, then renamed over `path`.
pub(crate) fn create_replacing(path: &Path, mode: u32) -> io::Result<std::fs::File> {
    let (tmp, file) = create_temporary(path, mode)?;
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(file)
}

/// A fresh file beside `path`, created exclusively.
fn create_temporary(path: &Path, mode: u32) -> io::Result<(PathBuf, std::fs::File)> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let mut last = io::Error::other("no temporary name");
    for attempt in 0..8u32 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let tmp = dir.join(format!(
            ".{name}.{}.{nanos:x}{attempt}.tmp",
            std::process::id()
        ));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .mode(mode)
            .open(&tmp)
        {
            Ok(f) => {
                // The umask may have taken bits away.
                f.set_permissions(std::fs::Permissions::from_mode(mode))?;
                return Ok((tmp, f));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;
    use testbed::TempDir;

    #[test]
    fn a_symlink_at_the_target_is_replaced_not_followed() {
        let d = TempDir::new("files-symlink");
        let victim = d.join("victim");
        std::fs::write(&victim, "precious\n").unwrap();
        let path = d.join("lvs.services");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        write_atomic(&path, b"-t 192.0.2.1:80\n", 0o644).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(meta.file_type().is_file(), "the link itself was replaced");
        assert_eq!(meta.mode() & 0o777, 0o644);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "-t 192.0.2.1:80\n");
        // Nothing else is left in the directory.
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 2);
    }

    #[test]
    fn symlinks_planted_at_the_old_predictable_names_are_not_followed() {
        // Before, the temporary file was PATH.tmp: a planted link there made root
        // overwrite its target.
        let d = TempDir::new("files-planted");
        let victim = d.join("victim");
        std::fs::write(&victim, "precious\n").unwrap();
        let path = d.join("lvs.services");
        for name in [
            "lvs.services.tmp",
            "lvs.services.services.tmp",
            ".lvs.services.tmp",
        ] {
            std::os::unix::fs::symlink(&victim, d.join(name)).unwrap();
        }
        write_atomic(&path, b"new\n", 0o644).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    }
}
