//! Child processes, the way the daemons need them:
//!
//! * [`spawn`]: a long-lived child with its legacy command line (lvsd's nannies, pulse's
//!   lvsd and fos): fork+execv, death signal when the parent dies, stdin on /dev/null;
//! * [`reap`]: every child that ended, with a typed [`ExitStatus`];
//! * [`run`]: an external command (a check, a load query, an ipvsadm wrapper, a
//!   `--version` question) whose deadline really fires;
//! * [`Backoff`]: when to restart a child that died;
//! * [`LineReader`]: lines from a child's pipe, read without blocking.

mod backoff;
mod lines;
mod run;
mod spawn;

use std::fmt;

pub use backoff::{Backoff, Decision};
pub use lines::LineReader;
pub use run::{kill_running, run, run_service_command, run_with_input, Output, RunError};
pub use spawn::{spawn, Spawn};

use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ExitStatus {
    /// `exit(code)`.
    Code(i32),
    /// Killed by this signal.
    Signal(i32),
}

impl ExitStatus {
    pub fn success(self) -> bool {
        self == ExitStatus::Code(0)
    }

    fn of(status: std::process::ExitStatus) -> ExitStatus {
        use std::os::unix::process::ExitStatusExt;
        match (status.code(), status.signal()) {
            (Some(code), _) => ExitStatus::Code(code),
            (None, Some(sig)) => ExitStatus::Signal(sig),
            (None, None) => ExitStatus::Code(-1),
        }
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitStatus::Code(c) => write!(f, "exit status {c}"),
            ExitStatus::Signal(s) => write!(f, "signal {s}"),
        }
    }
}

/// Every child that has ended since the last call, without waiting.
pub fn reap() -> Vec<(u32, ExitStatus)> {
    let mut out = Vec::new();
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => {
                out.push((pid.as_raw() as u32, ExitStatus::Code(code)))
            }
            Ok(WaitStatus::Signaled(pid, sig, _)) => {
                out.push((pid.as_raw() as u32, ExitStatus::Signal(sig as i32)))
            }
            // Stopped/continued children are still alive; nothing else is left to reap.
            Ok(WaitStatus::StillAlive) | Err(_) => return out,
            Ok(_) => {}
        }
    }
}

/// Those of `pids` (children of ours) that have ended, without waiting. Unlike [`reap`]
/// it leaves other children alone: a command a worker thread runs with [`run`] is
/// reaped by that thread (pulse's configuration sync).
pub fn reap_these(pids: impl IntoIterator<Item = u32>) -> Vec<(u32, ExitStatus)> {
    let mut out = Vec::new();
    for pid in pids {
        let p = nix::unistd::Pid::from_raw(pid as i32);
        match waitpid(p, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => out.push((pid, ExitStatus::Code(code))),
            Ok(WaitStatus::Signaled(_, sig, _)) => out.push((pid, ExitStatus::Signal(sig as i32))),
            _ => {}
        }
    }
    out
}

/// Sends `signal` to a child (ESRCH, a child already gone, is not an error worth telling).
pub fn signal(pid: u32, signal: nix::sys::signal::Signal) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_typed_and_worded_as_before() {
        assert_eq!(ExitStatus::Code(3).to_string(), "exit status 3");
        assert_eq!(ExitStatus::Signal(9).to_string(), "signal 9");
        assert!(ExitStatus::Code(0).success() && !ExitStatus::Signal(15).success());
    }
}
