//! Configuration sync (`sync = 1`; docs/operations.md, "Configuration sync"): the active
//! director pushes its lvs.cf to the partner over `rsh_command`, where `lvsctl
//! receive-config` checks and installs it. Legacy piranha parsed `sync` and documented
//! the idea, but never shipped it.
//!
//! [`ConfigSync`] decides when to push (sans IO: requests, outcomes and time in, "push
//! now" and a deadline out); [`push`] is the push itself, run on a worker thread so that
//! a slow or unreachable partner never holds up the heartbeat.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How long a push may take (ssh's connection and the partner's check included).
pub const PUSH_LIMIT: Duration = Duration::from_secs(20);
/// The first retry after a partner that could not be reached, doubled each time.
pub(crate) const FIRST_RETRY: Duration = Duration::from_secs(2);
/// The longest wait between retries.
pub(crate) const MAX_RETRY: Duration = Duration::from_secs(64);
/// Exit status of `lvsctl receive-config` for a file it refuses (not newer, not valid):
/// a retry would be refused again.
pub const REFUSED: i32 = 2;

/// How a push ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Outcome {
    /// The partner installed it (its message).
    Installed(String),
    /// The partner, or our own check, refused this file: no retry until it changes.
    Refused(String),
    /// The partner could not be reached or failed: retried with backoff.
    Failed(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    /// A push should start (at once).
    Due,
    Running,
    /// After a failure: the next try at this time.
    Retry(Instant),
}

/// When to push. A request while a push runs is remembered and pushed after it (the file
/// may have changed in between).
#[derive(Debug)]
pub(crate) struct ConfigSync {
    state: State,
    again: bool,
    retry: Duration,
}

impl Default for ConfigSync {
    fn default() -> ConfigSync {
        ConfigSync {
            state: State::Idle,
            again: false,
            retry: FIRST_RETRY,
        }
    }
}

impl ConfigSync {
    /// Push the file (the director became active, lvs.cf was reloaded, an operator asked).
    pub fn request(&mut self) {
        match self.state {
            State::Running => self.again = true,
            _ => {
                self.state = State::Due;
                self.retry = FIRST_RETRY;
            }
        }
    }

    /// Whether a push should start now; if so, it is counted as running.
    pub fn poll(&mut self, now: Instant) -> bool {
        let due = match self.state {
            State::Due => true,
            State::Retry(at) => now >= at,
            State::Idle | State::Running => false,
        };
        if due {
            self.state = State::Running;
        }
        due
    }

    /// The push ended; returns the log line.
    pub fn finished(&mut self, outcome: &Outcome, now: Instant) -> String {
        let line = match outcome {
            Outcome::Installed(m) => format!("configuration sync: partner installed lvs.cf: {m}"),
            Outcome::Refused(m) => format!("configuration sync: lvs.cf not installed: {m}"),
            Outcome::Failed(m) => format!(
                "configuration sync failed: {m}; retrying in {} s",
                self.retry.as_secs()
            ),
        };
        self.state = match outcome {
            _ if self.again => State::Due,
            Outcome::Failed(_) => State::Retry(now + self.retry),
            _ => State::Idle,
        };
        if matches!(outcome, Outcome::Failed(_)) && !self.again {
            self.retry = (self.retry * 2).min(MAX_RETRY);
        } else {
            self.retry = FIRST_RETRY;
        }
        self.again = false;
        line
    }

    /// When a retry is due.
    pub fn next_deadline(&self) -> Option<Instant> {
        match self.state {
            State::Retry(at) => Some(at),
            State::Due => Some(Instant::now()),
            _ => None,
        }
    }
}

/// What a push needs to know.
#[derive(Debug, Clone)]
pub struct Push {
    /// `rsh_command`, split on blanks (`ssh`, `rsh`, `ssh -i KEY`).
    pub rsh_command: String,
    pub partner: IpAddr,
    /// lvs.cf here, and where the partner keeps it (the same path on both directors).
    pub config: PathBuf,
    /// `lvsctl` on the partner (installed where ours is).
    pub receiver: PathBuf,
}

impl Push {
    /// `RSH_COMMAND PARTNER LVSCTL receive-config FILE`.
    pub fn argv(&self) -> Vec<String> {
        let mut argv: Vec<String> = self
            .rsh_command
            .split_whitespace()
            .map(str::to_string)
            .collect();
        argv.push(self.partner.to_string());
        argv.push(self.receiver.display().to_string());
        argv.push("receive-config".into());
        argv.push(self.config.display().to_string());
        argv
    }
}

/// Reads and checks our lvs.cf, then sends it (blocking: run it on a worker thread).
/// What is checked is what is sent: the file is read once.
pub fn push(p: &Push) -> Outcome {
    let text = match lvscf::read_file(&p.config) {
        Ok(t) => t,
        Err(e) => return Outcome::Failed(format!("{}: {e}", p.config.display())),
    };
    let name = p.config.display().to_string();
    let opts = lvscf::ParseOptions::default();
    if let Err(e) =
        lvscf::report::check_bytes(&text, &name, &opts, lvscf::validate::Consumer::Pulse)
    {
        return Outcome::Refused(format!("our own lvs.cf has errors: {e}"));
    }
    // Framed, so that the partner installs nothing of a cut stream (lvscf::transfer).
    classify(daemon::process::run_with_input(
        &p.argv(),
        &lvscf::transfer::frame(&text),
        PUSH_LIMIT,
        4096,
    ))
}

/// The outcome the receiver's exit status and message say.
pub(crate) fn classify(
    result: Result<daemon::process::Output, daemon::process::RunError>,
) -> Outcome {
    use daemon::process::ExitStatus;
    match result {
        Err(e) => Outcome::Failed(e.to_string()),
        Ok(out) => {
            let said = String::from_utf8_lossy(&out.stdout).trim().to_string();
            match out.status {
                ExitStatus::Code(0) => Outcome::Installed(said),
                ExitStatus::Code(REFUSED) => Outcome::Refused(said),
                other => Outcome::Failed(if said.is_empty() {
                    format!("the partner did not answer ({other})")
                } else {
                    format!("{said} ({other})")
                }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_is_retried_with_doubling_waits_and_a_refusal_is_not() {
        let t0 = Instant::now();
        let mut s = ConfigSync::default();
        assert!(!s.poll(t0));
        s.request();
        assert!(s.poll(t0));
        assert!(!s.poll(t0), "running: not twice");
        let line = s.finished(&Outcome::Failed("no route".into()), t0);
        assert_eq!(line, "configuration sync failed: no route; retrying in 2 s");
        assert_eq!(s.next_deadline(), Some(t0 + Duration::from_secs(2)));
        assert!(!s.poll(t0 + Duration::from_secs(1)));
        assert!(s.poll(t0 + Duration::from_secs(2)));
        let line = s.finished(&Outcome::Failed("no route".into()), t0);
        assert!(line.ends_with("retrying in 4 s"), "{line}");
        for _ in 0..10 {
            let at = s.next_deadline().unwrap();
            assert!(s.poll(at));
            s.finished(&Outcome::Failed("x".into()), at);
        }
        assert!(s
            .finished(&Outcome::Failed("x".into()), t0)
            .ends_with("retrying in 64 s"));
        // A refusal ends it; a new request starts over from the first wait.
        assert!(s.poll(s.next_deadline().unwrap()));
        s.finished(
            &Outcome::Refused("serial_no 3 is not newer than 3".into()),
            t0,
        );
        assert_eq!(s.next_deadline(), None);
        s.request();
        assert!(s.poll(t0));
        assert!(s
            .finished(&Outcome::Failed("x".into()), t0)
            .ends_with("retrying in 2 s"));
    }

    #[test]
    fn a_request_during_a_push_pushes_again_after_it() {
        let t0 = Instant::now();
        let mut s = ConfigSync::default();
        s.request();
        assert!(s.poll(t0));
        s.request();
        assert!(!s.poll(t0));
        s.finished(&Outcome::Installed("serial_no 2".into()), t0);
        assert!(s.poll(t0), "the second request is pushed at once");
        s.finished(&Outcome::Installed("serial_no 3".into()), t0);
        assert!(!s.poll(t0 + Duration::from_secs(100)));
    }

    #[test]
    fn the_push_command_line_and_the_receivers_answers() {
        let p = Push {
            rsh_command: "ssh -o BatchMode=yes".into(),
            partner: "192.0.2.11".parse().unwrap(),
            config: "/etc/sysconfig/ha/lvs.cf".into(),
            receiver: "/usr/sbin/lvsctl".into(),
        };
        assert_eq!(
            p.argv(),
            [
                "ssh",
                "-o",
                "BatchMode=yes",
                "192.0.2.11",
                "/usr/sbin/lvsctl",
                "receive-config",
                "/etc/sysconfig/ha/lvs.cf"
            ]
        );
        use daemon::process::{ExitStatus, Output, RunError};
        let out = |code, text: &str| {
            Ok(Output {
                status: ExitStatus::Code(code),
                stdout: text.as_bytes().to_vec(),
            })
        };
        assert_eq!(
            classify(out(0, "installed serial_no 4\n")),
            Outcome::Installed("installed serial_no 4".into())
        );
        assert!(matches!(classify(out(2, "not newer")), Outcome::Refused(_)));
        // A cut transfer (exit 1): retried, unlike a refusal.
        assert!(matches!(
            classify(out(
                1,
                "not installed: the transfer was cut: 10 of 99 bytes arrived"
            )),
            Outcome::Failed(_)
        ));
        assert_eq!(
            classify(out(255, "")),
            Outcome::Failed("the partner did not answer (exit status 255)".into())
        );
        assert!(matches!(
            classify(Err(RunError::TimedOut)),
            Outcome::Failed(_)
        ));
    }
}
