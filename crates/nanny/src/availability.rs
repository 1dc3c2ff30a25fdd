//! The availability channel from nanny to lvsd. Legacy lvsd learnt whether a
//! real server was up by reading nanny's log lines (`[ active ]` / `[inactive]`) from a
//! pipe, which tied the sorry server to log wording. Here lvsd passes the write end of one
//! pipe shared by all its nannies and names it in `LVSD_STATUS_FD`; each nanny writes one
//! line per change of its state. Nanny's log output is unchanged. lvsd reads it with
//! `daemon::process::LineReader` and [`Report::decode`].
//!
//! Wire format: `<pid> active\n` or `<pid> inactive\n`, ASCII. One line is far below
//! `PIPE_BUF`, so lines from different nannies never interleave.

use std::io::Write;
use std::os::fd::{FromRawFd, RawFd};

/// The environment variable naming the channel's descriptor.
pub const ENV: &str = "LVSD_STATUS_FD";

/// One report: which nanny, and whether its real server is serving traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    pub pid: u32,
    pub active: bool,
}

impl Report {
    pub fn encode(&self) -> String {
        let state = if self.active { "active" } else { "inactive" };
        format!("{} {state}\n", self.pid)
    }

    /// Parses one line (without its `\n`); `None` for anything else.
    pub fn decode(line: &[u8]) -> Option<Report> {
        let line = std::str::from_utf8(line).ok()?;
        let (pid, state) = line.trim_end_matches('\r').split_once(' ')?;
        let active = match state {
            "active" => true,
            "inactive" => false,
            _ => return None,
        };
        Some(Report {
            pid: pid.parse().ok()?,
            active,
        })
    }
}

/// The nanny's end of the channel.
pub struct Channel {
    file: std::fs::File,
    /// The last state written successfully.
    reported: Option<bool>,
}

impl Channel {
    /// Takes the channel lvsd passed, if any, and hides it from the programs nanny runs
    /// (checks, load commands): the variable is removed and the descriptor made
    /// close-on-exec. Call it at start-up, before any thread exists.
    pub fn from_env() -> Option<Channel> {
        let fd: RawFd = std::env::var(ENV).ok()?.trim().parse().ok()?;
        std::env::remove_var(ENV);
        // Fails harmlessly if the number is not an open descriptor.
        let cloexec = nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC);
        if fd < 3 || nix::fcntl::fcntl(fd, cloexec).is_err() {
            return None;
        }
        // SAFETY: lvsd handed this descriptor to us and nothing else in nanny uses it.
        let file = unsafe { std::fs::File::from_raw_fd(fd) };
        Some(Channel {
            file,
            reported: None,
        })
    }

    /// Reports `active` if it differs from what lvsd last heard. lvsd made the pipe
    /// non-blocking: when it is full the report is retried on the next call.
    pub fn report(&mut self, active: bool) {
        if self.reported == Some(active) {
            return;
        }
        let line = Report {
            pid: std::process::id(),
            active,
        }
        .encode();
        if self.file.write_all(line.as_bytes()).is_ok() {
            self.reported = Some(active);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for r in [
            Report {
                pid: 1,
                active: true,
            },
            Report {
                pid: 4_194_304,
                active: false,
            },
        ] {
            let line = r.encode();
            assert!(line.ends_with('\n'));
            assert_eq!(Report::decode(line.trim_end().as_bytes()), Some(r));
        }
    }

    #[test]
    fn garbage_lines_are_not_reports() {
        for bad in [
            &b"x active"[..],
            b"12",
            b"12 up",
            b"-1 active",
            b"\xff active",
            b"nanny: [ active ] x",
        ] {
            assert_eq!(Report::decode(bad), None, "{bad:?}");
        }
    }
}
