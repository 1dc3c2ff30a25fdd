//! `lvsctl receive-config FILE`: the partner's end of configuration sync
//! (docs/operations.md). The active director's pulse runs it over `rsh_command` with the
//! new lvs.cf on standard input; it checks the file, refuses one whose `serial_no` is
//! not newer than the installed one's, keeps the previous copy as `FILE.prev`, replaces
//! FILE atomically and tells the local pulse (or a lonely lvsd) to reload.
//!
//! Exit status: 0 installed, 2 refused (a retry would be refused again: pulse does not
//! retry), 1 anything else.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The outcome: the exit status and the one line said on standard output.
pub type Outcome = (i32, String);

const REFUSED: i32 = 2;

/// Where the daemons to reload keep their pid files.
pub struct Daemons {
    pub pulse: PathBuf,
    pub lvsd: PathBuf,
}

pub fn receive(file: &Path, daemons: &Daemons, input: &mut impl Read) -> Outcome {
    let mut new = Vec::new();
    let limit = lvscf::parser::MAX_FILE_SIZE;
    if let Err(e) = input.take(limit + 1).read_to_end(&mut new) {
        return (1, format!("cannot read the file sent: {e}"));
    }
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
    "no pulse or lvsd runs here: the file is read at their next start".into()
}

/// The daemon's pid: from its pid file, or (in `--nodaemon` mode, which writes none)
/// from its control socket beside it; if that process is alive.
fn running(path: &Path) -> Option<i32> {
    let from_file = std::fs::read_to_string(path)
        .ok()
        .and_then(|t| t.trim().parse().ok());
    let pid: i32 = from_file
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
