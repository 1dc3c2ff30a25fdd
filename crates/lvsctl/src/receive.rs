//! `lvsctl receive-config FILE`: the partner's end of configuration sync
//! (docs/operations.md). The active director's pulse runs it over `rsh_command` with the
//! new lvs.cf, framed, on standard input; it installs nothing that is not the whole file
//! its header announced (lvscf::transfer), checks the file, refuses one whose
//! `serial_no` is not newer than the installed one's, keeps the previous copy as
//! `FILE.prev`, replaces FILE atomically (a symlinked FILE: its target, when root owns
//! the link and both directories) and tells the local pulse (or a lonely lvsd) to reload,
//! if its pid file is held.
//!
//! Exit status: 0 installed, 2 refused (a retry would be refused again: pulse does not
//! retry), 1 anything else (a cut transfer among them: pulse retries).

use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use lvscf::parser::MAX_FILE_SIZE;
use lvscf::transfer::TransferError;

/// The outcome: the exit status and the one line said on standard output.
pub type Outcome = (i32, String);

const REFUSED: i32 = 2;

/// Where the daemons to reload keep their pid files.
pub struct Daemons {
    pub pulse: PathBuf,
    pub lvsd: PathBuf,
}

pub fn receive(file: &Path, daemons: &Daemons, input: &mut impl Read) -> Outcome {
    let mut stream = Vec::new();
    // The file's limit, and room for the header line.
    let limit = MAX_FILE_SIZE + 256;
    if let Err(e) = input.take(limit + 1).read_to_end(&mut stream) {
        return (1, format!("cannot read the file sent: {e}"));
    }
    // Before anything else: a cut stream must neither be installed nor, refused as "not
    // newer" or invalid, stop the sender from retrying (exit 1: it retries).
    let new = match lvscf::transfer::unframe(&stream) {
        Ok(file) => file.to_vec(),
        // Larger than any lvs.cf may be: sending it again will not help.
        Err(TransferError::Length { announced, .. }) if announced > MAX_FILE_SIZE => {
            let limit = MAX_FILE_SIZE >> 20;
            return (
                REFUSED,
                format!("refused: {announced} bytes, larger than the {limit} MiB limit"),
            );
        }
        Err(why) if why.retry_may_help() => return (1, format!("not installed: {why}")),
        Err(why) => return (REFUSED, format!("refused: {why}")),
    };
    let file = match installed_path(file) {
        Ok(f) => f,
        Err(why) => return (REFUSED, format!("refused: {why}")),
    };
    let file = file.as_path();
    let name = format!("{} (received)", file.display());
    let opts = lvscf::ParseOptions::default();
    let consumer = lvscf::validate::Consumer::Pulse;
    let config = match lvscf::report::check_bytes(&new, &name, &opts, consumer) {
        Ok(c) => c,
        Err(e) => return (REFUSED, format!("refused: {e}")),
    };
    // Bounded, and a FIFO planted at FILE is refused rather than waited on.
    let current = lvscf::read_file(file).ok();
    let ours = current
        .as_deref()
        .and_then(|b| lvscf::parse_bytes(b, "", &opts).ok())
        .map(|p| p.config.serial_no);
    if let Some(ours) = ours.filter(|o| config.serial_no <= *o) {
        return (
            REFUSED,
            format!(
                "refused: serial_no {} is not newer than ours ({ours})",
                config.serial_no
            ),
        );
    }
    if let Err(e) = install(file, current.as_deref(), &new) {
        return (1, format!("cannot install {}: {e}", file.display()));
    }
    let was = ours.map_or("none".to_string(), |o| o.to_string());
    (
        0,
        format!(
            "installed serial_no {} (was {was}); {}",
            config.serial_no,
            reload(daemons)
        ),
    )
}

/// The previous copy to `FILE.prev`, then the new file over FILE, each atomically and
/// with the installed file's mode.
fn install(file: &Path, current: Option<&[u8]>, new: &[u8]) -> std::io::Result<()> {
    let mode = std::fs::metadata(file).map_or(0o644, |m| m.permissions().mode() & 0o7777);
    if let Some(old) = current {
        let mut prev = file.as_os_str().to_owned();
        prev.push(".prev");
        daemon::files::write_atomic(Path::new(&prev), old, mode)?;
    }
    daemon::files::write_atomic(file, new, mode)
}

/// SIGHUP to pulse, which passes it to lvsd when lvsd runs; else to lvsd running alone.
fn reload(d: &Daemons) -> String {
    for (name, path) in [("pulse", &d.pulse), ("lvsd", &d.lvsd)] {
        let Some(pid) = running(path) else { continue };
        let hup = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGHUP,
        );
        return match hup {
            Ok(()) => format!("{name} (pid {pid}) told to reload"),
            Err(e) => format!("cannot signal {name} (pid {pid}): {e}"),
        };
    }
    "no pulse or lvsd runs here (no pid file held, no control socket answering): the file \
     is read at their next start"
        .into()
}

/// The daemon's pid: from its pid file while the daemon holds it (a stale pid file is
/// never trusted: its pid may be anyone's now), or (in `--nodaemon` mode, which writes
/// none) from its control socket beside it, which only a running daemon answers.
fn running(path: &Path) -> Option<i32> {
    let held = daemon::pidfile::holder(path).ok().flatten();
    let pid: i32 = held
        .and_then(|p| i32::try_from(p).ok())
        .or_else(|| {
            let ask = serde_json::json!({"command": "status"});
            let limit = std::time::Duration::from_secs(2);
            let v = daemon::control::ask(&path.with_extension("sock"), &ask, limit).ok()?;
            v["pid"].as_i64().and_then(|p| i32::try_from(p).ok())
        })
        .filter(|p| *p > 0)?;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None)
        .ok()
        .map(|()| pid)
}

/// The file to replace: FILE, or the target of a symlink at FILE when the link cannot
/// have been planted (root owns it and its directory, and the target's directory, none of
/// them writable by group or others) and the target is a regular file. Replacing the
/// link by a file would leave the target, which the daemons read, silently old.
fn installed_path(file: &Path) -> Result<PathBuf, String> {
    let shown = file.display();
    let meta = match std::fs::symlink_metadata(file) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(file.to_path_buf()),
        Err(e) => return Err(format!("{shown}: {e}")),
    };
    if !meta.file_type().is_symlink() {
        return Ok(file.to_path_buf());
    }
    let parent = |p: &Path| {
        p.parent()
            .filter(|d| !d.as_os_str().is_empty())
            .map_or(Path::new(".").to_path_buf(), Path::to_path_buf)
    };
    trusted(file, &meta, "the symlink")?;
    let dir = parent(file);
    trusted(
        &dir,
        &std::fs::metadata(&dir).map_err(|e| format!("{}: {e}", dir.display()))?,
        "its directory",
    )?;
    let target = std::fs::canonicalize(file).map_err(|e| format!("{shown} -> {e}"))?;
    let tmeta =
        std::fs::symlink_metadata(&target).map_err(|e| format!("{}: {e}", target.display()))?;
    if !tmeta.is_file() {
        return Err(format!(
            "{shown} links to {}, which is not a regular file",
            target.display()
        ));
    }
    let tdir = parent(&target);
    trusted(
        &tdir,
        &std::fs::metadata(&tdir).map_err(|e| format!("{}: {e}", tdir.display()))?,
        "the target's directory",
    )?;
    Ok(target)
}

/// Owned by root (or by us, for tests as another user) and not writable by group or
/// others (a symlink's own mode means nothing: its owner counts).
fn trusted(path: &Path, meta: &std::fs::Metadata, what: &str) -> Result<(), String> {
    let us = nix::unistd::geteuid().as_raw();
    let owner_ok = meta.uid() == 0 || meta.uid() == us;
    let mode_ok = meta.file_type().is_symlink() || meta.mode() & 0o022 == 0;
    if owner_ok && mode_ok {
        return Ok(());
    }
    Err(format!(
        "{} ({what}) is owned by uid {} or writable by others: not followed; make lvs.cf a \
         regular file, or a root-owned link in root-owned directories",
        path.display(),
        meta.uid()
    ))
}
