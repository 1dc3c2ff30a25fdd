//! Pid files (`/var/run/pulse.pid`, `/var/run/lvs.pid`, `/var/run/fos.pid`): the pid as
//! `"%d\n"`, as legacy wrote it, removed when the daemon exits normally.

use std::io::Write;
use std::path::{Path, PathBuf};

/// A written pid file; removed when dropped.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
}

impl PidFile {
    /// Writes this process's pid to `path` (replacing a stale file, as legacy did).
    pub fn create(path: &Path) -> std::io::Result<PidFile> {
        let tmp = path.with_extension("pid.tmp");
        {
            let mut f = std::fs::File::create(&tmp)?;
            writeln!(f, "{}", std::process::id())?;
        }
        // Atomic replace: readers never see a half-written file.
        std::fs::rename(&tmp, path)?;
        Ok(PidFile {
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        // Only our own file: another instance may have replaced it meanwhile.
        if std::fs::read_to_string(&self.path)
            .ok()
            .as_deref()
            .map(str::trim)
            == Some(&std::process::id().to_string())
        {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_in_the_legacy_format_and_removed_on_drop() {
        let dir = std::env::temp_dir().join(format!("pidfile-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("lvs.pid");
        std::fs::write(&path, "99999\n").unwrap(); // stale
        let p = PidFile::create(&path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{}\n", std::process::id())
        );
        drop(p);
        assert!(!path.exists());
        // A file another process wrote meanwhile is left alone.
        let p = PidFile::create(&path).unwrap();
        std::fs::write(&path, "12345\n").unwrap();
        drop(p);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "12345\n");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
