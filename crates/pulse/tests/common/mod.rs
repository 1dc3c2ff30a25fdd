//! What the pulse test files share.

use std::path::Path;
use std::process::Command;

/// `ip netns exec NS pulse -n -cDIR/lvs.cf --pidfile=DIR/pulse.pid --lvsd=LVSD`: our
/// pulse in the foreground in a namespace, every file it reads or writes in `dir`.
pub fn pulse_in(ns: &str, dir: &Path, lvsd: &str) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_pulse"), "-n"])
        .arg(format!("-c{}", dir.join("lvs.cf").display()))
        .arg(format!("--pidfile={}", dir.join("pulse.pid").display()))
        .arg(format!("--lvsd={lvsd}"))
        .arg(format!("--fos={}", sibling("fos").display()));
    cmd
}

/// A binary built beside pulse (`cargo build --workspace --bins`).
pub fn sibling(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_BIN_EXE_pulse")).with_file_name(name)
}
