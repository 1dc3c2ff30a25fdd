//! Pid files (`/var/run/pulse.pid`, `/var/run/lvs.pid`, `/var/run/fos.pid`): the pid as
//! `"%d\n"`, as legacy wrote it, removed when the daemon exits normally; and the lock
//! that keeps a second instance from running with the same pid file.
//!
//! The file is opened before the daemon detaches, so that a file that cannot be written,
//! or another instance holding it, is reported on the terminal; it is opened without
//! following a symlink, refused when it is not a plain file with one link (a planted
//! hard link), made mode 0644 whatever the umask, and locked with `flock` (the lock
//! survives the fork into the background: parent and child share it). The pid is
//! written once the daemon is in the background, in place (no temporary file: the lock
//! is on this inode).

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

/// The legacy pid files (docs/legacy.md, "Logging"); each daemon's other files, its
/// control socket included, go beside its own.
pub const PULSE: &str = "/var/run/pulse.pid";
pub const LVSD: &str = "/var/run/lvs.pid";
pub const FOS: &str = "/var/run/fos.pid";

#[derive(Debug)]
pub enum PidFileError {
    /// Another process holds the lock: it runs with this pid file.
    Locked {
        path: PathBuf,
        pid: Option<u32>,
    },
    /// The path is a symlink, a directory, or has other hard links.
    NotPlain {
        path: PathBuf,
    },
    Io {
        path: PathBuf,
        source: io::Error,
    },
}

impl fmt::Display for PidFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PidFileError::Locked {
                path,
                pid: Some(pid),
            } => write!(
                f,
                "another instance is running (pid {pid}): {} is locked",
                path.display()
            ),
            PidFileError::Locked { path, pid: None } => {
                write!(
                    f,
                    "another instance is running: {} is locked",
                    path.display()
                )
            }
            PidFileError::NotPlain { path } => write!(
                f,
                "cannot write {}: not a plain file with a single link (refused)",
                path.display()
            ),
            PidFileError::Io { path, source } => {
                write!(f, "cannot write {}: {source}", path.display())
            }
        }
    }
}

impl std::error::Error for PidFileError {}

/// A locked pid file; removed when dropped.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
    file: Flock<File>,
}

impl PidFile {
    /// Opens and locks `path` (create it if needed). Call it before detaching.
    pub fn lock(path: &Path) -> Result<PidFile, PidFileError> {
        let io_err = |source| PidFileError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = open_plain(
            path,
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .mode(0o644),
        )?;
        file.set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(io_err)?;
        let file = Self::take_lock(file).map_err(|f| PidFileError::Locked {
            path: path.to_path_buf(),
            pid: written_pid(&f),
        })?;
        Ok(PidFile {
            path: path.to_path_buf(),
            file,
        })
    }

    /// The exclusive lock, tried a few times over 50 ms: [`holder`] takes a shared lock
    /// for a moment to look, which must not make a daemon starting then give up.
    fn take_lock(mut file: File) -> Result<Flock<File>, File> {
        for _ in 0..5 {
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(locked) => return Ok(locked),
                Err((f, _)) => file = f,
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        Err(file)
    }

    /// Writes this process's pid (call it after detaching: the daemon's own pid).
    pub fn write_pid(&mut self) -> io::Result<()> {
        self.file.set_len(0)?;
        self.file.rewind()?;
        self.file
            .write_all(format!("{}\n", std::process::id()).as_bytes())?;
        self.file.flush()
    }

    /// Locks and writes at once (a daemon that does not detach).
    pub fn create(path: &Path) -> Result<PidFile, PidFileError> {
        let mut p = PidFile::lock(path)?;
        p.write_pid().map_err(|source| PidFileError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(p)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Who runs with the pid file at `path`: the pid written in it while a process holds its
/// lock (the daemons hold it for as long as they run), `None` when nobody does. A pid file
/// nobody holds is stale (a daemon that was killed, a file copied by hand): its pid may
/// belong to an unrelated process by now, so nothing may be signalled on its word.
///
/// Looks with a shared lock taken and dropped at once (a daemon starting meanwhile
/// retries its own, [`PidFile::lock`]). Opened without following a symlink or waiting on
/// a FIFO; anything but a plain file with one link is an error.
pub fn holder(path: &Path) -> Result<Option<u32>, PidFileError> {
    let file = match open_plain(
        path,
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC),
    ) {
        Err(PidFileError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            return Ok(None)
        }
        other => other?,
    };
    match Flock::lock(file, FlockArg::LockSharedNonblock) {
        Ok(_free) => Ok(None), // unlocked again as `_free` goes
        Err((f, nix::errno::Errno::EWOULDBLOCK)) => Ok(written_pid(&f)),
        Err((_, e)) => Err(PidFileError::Io {
            path: path.to_path_buf(),
            source: e.into(),
        }),
    }
}

/// Opens a pid file with `options` (which say O_NOFOLLOW): a symlink, or anything but a
/// plain file with a single link (a planted hard link), is [`PidFileError::NotPlain`].
fn open_plain(path: &Path, options: &std::fs::OpenOptions) -> Result<File, PidFileError> {
    let io_err = |source| PidFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let not_plain = || PidFileError::NotPlain {
        path: path.to_path_buf(),
    };
    let file = match options.open(path) {
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Err(not_plain()),
        other => other.map_err(io_err)?,
    };
    let meta = file.metadata().map_err(io_err)?;
    if !meta.file_type().is_file() || meta.nlink() != 1 {
        return Err(not_plain());
    }
    Ok(file)
}

/// The pid written in a pid file (its first line, read no further than 64 bytes).
fn written_pid(f: &File) -> Option<u32> {
    let mut text = String::new();
    let _ = f.take(64).read_to_string(&mut text);
    text.trim().parse().ok()
}

impl Drop for PidFile {
    fn drop(&mut self) {
        // We hold the lock: the file is ours. Removed before the lock goes with the file.
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use testbed::TempDir;

    #[test]
    fn written_in_the_legacy_format_and_removed_on_drop() {
        let d = TempDir::new("pidfile-format");
        let path = d.join("lvs.pid");
        std::fs::write(&path, "99999999\n").unwrap(); // stale: nobody holds its lock
        let p = PidFile::create(&path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{}\n", std::process::id())
        );
        drop(p);
        assert!(!path.exists());
    }

    #[test]
    fn a_second_instance_is_refused_with_the_first_ones_pid() {
        let d = TempDir::new("pidfile-second");
        let path = d.join("lvs.pid");
        let _first = PidFile::create(&path).unwrap();
        // flock locks belong to the open file: a second open conflicts, even here.
        let e = PidFile::lock(&path).unwrap_err();
        assert!(
            matches!(e, PidFileError::Locked { pid: Some(p), .. } if p == std::process::id()),
            "{e:?}"
        );
        assert!(
            e.to_string()
                .starts_with("another instance is running (pid "),
            "{e}"
        );
    }

    #[test]
    fn only_a_held_pid_file_names_a_running_daemon() {
        let d = TempDir::new("pidfile-holder");
        let path = d.join("pulse.pid");
        assert_eq!(holder(&path).unwrap(), None, "no file");
        // Stale: a pid (ours, alive) in a file nobody holds.
        std::fs::write(&path, format!("{}\n", std::process::id())).unwrap();
        assert_eq!(holder(&path).unwrap(), None, "stale");
        let held = PidFile::create(&path).unwrap();
        assert_eq!(holder(&path).unwrap(), Some(std::process::id()));
        // Looking does not keep a daemon from starting: the lock is free again.
        drop(held);
        let again = PidFile::create(&path).unwrap();
        drop(again);
        let fifo = d.join("fifo.pid");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        assert!(matches!(holder(&fifo), Err(PidFileError::NotPlain { .. })));
        let link = d.join("link.pid");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(matches!(holder(&link), Err(PidFileError::NotPlain { .. })));
    }

    #[test]
    fn planted_links_are_refused_and_their_targets_untouched() {
        let d = TempDir::new("pidfile-planted");
        let victim = d.join("victim");
        std::fs::write(&victim, "precious\n").unwrap();
        let sym = d.join("sym.pid");
        std::os::unix::fs::symlink(&victim, &sym).unwrap();
        let e = PidFile::create(&sym).unwrap_err();
        assert!(matches!(e, PidFileError::NotPlain { .. }), "{e:?}");
        let hard = d.join("hard.pid");
        std::fs::hard_link(&victim, &hard).unwrap();
        let e = PidFile::create(&hard).unwrap_err();
        assert!(matches!(e, PidFileError::NotPlain { .. }), "{e:?}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    }
}
