//! Probes (docs/legacy.md, "nanny"): TCP connect + send + expect, UDP send + expect, and an
//! external check program. Each probe has one deadline, so it never blocks longer than
//! the timeout (legacy allowed a connect timeout *and* a read timeout, and an external
//! program could hang nanny forever).

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use daemon::process::{ExitStatus, Output, RunError};

use ipvs::Protocol;

use crate::expect::{Expect, Verdict};

/// At most this much of an answer is kept.
pub(crate) const MAX_ANSWER: usize = 64 * 1024;

/// Why a check failed: the legacy log message (`CONNECT to ... timed out`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckFailed(pub String);

impl std::fmt::Display for CheckFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for CheckFailed {
    fn from(message: String) -> CheckFailed {
        CheckFailed(message)
    }
}

impl From<&str> for CheckFailed {
    fn from(message: &str) -> CheckFailed {
        CheckFailed(message.into())
    }
}

/// A [`CheckFailed`] with this message, as `format!` takes it.
macro_rules! failed {
    ($($arg:tt)*) => { $crate::probe::CheckFailed(format!($($arg)*)) };
}
pub(crate) use failed;

/// A probe's result.
pub type Outcome = Result<(), CheckFailed>;

/// A network probe.
pub struct NetProbe {
    pub target: SocketAddr,
    /// TCP and SCTP connect (then send/expect over the stream); UDP sends a datagram.
    pub protocol: Protocol,
    pub send: Option<Vec<u8>>,
    pub expect: Option<Expect>,
    pub timeout: Duration,
}

fn remaining(deadline: Instant) -> Option<Duration> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
}

impl NetProbe {
    pub fn run(&self) -> Outcome {
        let deadline = Instant::now() + self.timeout;
        match self.protocol {
            Protocol::Udp => self.run_udp(deadline),
            Protocol::Tcp | Protocol::Sctp => self.run_stream(deadline),
        }
    }

    /// Connects with this protocol's stream socket. SCTP's one-to-one style socket
    /// reads and writes like TCP once connected, so the conversation is shared.
    fn connect(&self) -> std::io::Result<TcpStream> {
        match self.protocol {
            Protocol::Sctp => {
                let domain = socket2::Domain::for_address(self.target);
                let sctp = socket2::Protocol::from(libc::IPPROTO_SCTP);
                let s = socket2::Socket::new(domain, socket2::Type::STREAM, Some(sctp))?;
                s.connect_timeout(&self.target.into(), self.timeout)?;
                Ok(s.into())
            }
            _ => TcpStream::connect_timeout(&self.target, self.timeout),
        }
    }

    fn run_stream(&self, deadline: Instant) -> Outcome {
        let t = self.target.to_string();
        let mut stream = match self.connect() {
            Ok(s) => s,
            Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {
                return Err(failed!("CONNECT to {t} timed out"))
            }
            Err(e) => return Err(failed!("CONNECT to {t} failed: {}", strerror(&e))),
        };
        if let Some(data) = &self.send {
            let Some(left) = remaining(deadline) else {
                return Err(failed!("WRITE operation for {t} timed out"));
            };
            let _ = stream.set_write_timeout(Some(left));
            if let Err(e) = stream.write_all(data) {
                return Err(failed!(
                    "WRITE operation for {t} returned error: {}",
                    strerror(&e)
                ));
            }
        }
        let Some(expect) = &self.expect else {
            return Ok(());
        };
        let mut received = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let Some(left) = remaining(deadline) else {
                return Err(failed!("READ to {t} timed out"));
            };
            let _ = stream.set_read_timeout(Some(left));
            match stream.read(&mut buf) {
                Ok(0) => return judge_final(expect, &received, &t),
                Ok(n) => {
                    let room = MAX_ANSWER.saturating_sub(received.len());
                    received.extend_from_slice(&buf[..n.min(room)]);
                    match expect.judge(&received, received.len() >= MAX_ANSWER) {
                        Verdict::Pass => return Ok(()),
                        Verdict::Fail => return Err(mismatch(&t)),
                        Verdict::Undecided => {}
                    }
                }
                Err(e) => {
                    if let Some(msg) = read_failure(&e, &t) {
                        return Err(msg);
                    }
                }
            }
        }
    }

    fn run_udp(&self, deadline: Instant) -> Outcome {
        let t = self.target.to_string();
        let local: SocketAddr = match self.target {
            SocketAddr::V4(_) => "0.0.0.0:0".parse().unwrap(),
            SocketAddr::V6(_) => "[::]:0".parse().unwrap(),
        };
        let sock = UdpSocket::bind(local).map_err(|e| format!("UDP socket for {t}: {e}"))?;
        sock.connect(self.target)
            .map_err(|e| format!("CONNECT to {t} failed: {}", strerror(&e)))?;
        if let Some(data) = &self.send {
            sock.send(data)
                .map_err(|e| format!("WRITE operation for {t} returned error: {}", strerror(&e)))?;
        }
        let mut buf = vec![0u8; 65536];
        loop {
            let Some(left) = remaining(deadline) else {
                return Err(failed!("READ to {t} timed out"));
            };
            let _ = sock.set_read_timeout(Some(left));
            match sock.recv(&mut buf) {
                // Without an expect string any datagram is an answer (legacy crashed).
                Ok(n) => {
                    return match &self.expect {
                        None => Ok(()),
                        Some(e) => match e.judge(&buf[..n], true) {
                            Verdict::Pass => Ok(()),
                            _ => Err(mismatch(&t)),
                        },
                    }
                }
                // Includes ICMP port unreachable.
                Err(e) => {
                    if let Some(msg) = read_failure(&e, &t) {
                        return Err(msg);
                    }
                }
            }
        }
    }
}

/// An error as C's `strerror` words it (legacy messages), without Rust's "(os error N)".
pub(crate) fn strerror(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// A failed read: `None` to read again (interrupted), or the message that fails the probe.
pub(crate) fn read_failure(e: &std::io::Error, t: impl std::fmt::Display) -> Option<CheckFailed> {
    match e.kind() {
        ErrorKind::Interrupted => None,
        ErrorKind::WouldBlock | ErrorKind::TimedOut => Some(failed!("READ to {t} timed out")),
        _ => Some(failed!(
            "READ returned error {}:{}",
            e.raw_os_error().unwrap_or(0),
            strerror(e)
        )),
    }
}

pub(crate) fn mismatch(t: impl std::fmt::Display) -> CheckFailed {
    failed!("Trouble. Received results are not what we expected from ({t})")
}

pub(crate) fn judge_final(expect: &Expect, received: &[u8], t: impl std::fmt::Display) -> Outcome {
    match expect.judge(received, true) {
        Verdict::Pass => Ok(()),
        _ => match expect {
            Expect::Prefix(p) if received.len() < p.len() && p.starts_with(received) => {
                Err(failed!(
                    "READ from {t} was too short[{}>={}]",
                    received.len(),
                    p.len()
                ))
            }
            _ => Err(mismatch(t)),
        },
    }
}

/// Splits a command line on blanks (no shell) and replaces whole-word `%h` and `%p`.
pub fn command_argv(command: &str, host: &str, port: u16) -> Vec<String> {
    command
        .split_whitespace()
        .map(|w| match w {
            "%h" => host.to_string(),
            "%p" => port.to_string(),
            other => other.to_string(),
        })
        .collect()
}

/// Runs a check or load program (no shell) for at most `timeout`, keeping at most
/// [`MAX_ANSWER`] bytes of its output: `daemon::process::run`, whose deadline kills the
/// program's whole process group.
pub(crate) fn run_program(argv: &[String], timeout: Duration) -> Result<Output, RunError> {
    daemon::process::run(argv, timeout, MAX_ANSWER)
}

/// The external check (`-e`): exit 0 passes, and with an expect string the output
/// (one trailing newline removed) must equal it. Legacy counted a crashing or hanging
/// program as healthy when an expect string was set, and always chopped the last byte.
pub(crate) fn program_probe(
    command: &str,
    host: &str,
    port: u16,
    expect: Option<&str>,
    timeout: Duration,
) -> Outcome {
    let target = format!("{host}:{port}");
    match run_program(&command_argv(command, host, port), timeout) {
        Ok(Output {
            status: ExitStatus::Code(0),
            stdout,
        }) => {
            let Some(expect) = expect else {
                return Ok(());
            };
            let mut out = stdout.as_slice();
            if let Some(o) = out.strip_suffix(b"\n") {
                out = o.strip_suffix(b"\r").unwrap_or(o);
            }
            if out == expect.as_bytes() {
                Ok(())
            } else {
                Err(mismatch(&target))
            }
        }
        Ok(_) => Err(failed!("The following exited abnormally: {command}")),
        Err(RunError::TimedOut) => Err(failed!("timeout running the following: {command}")),
        Err(RunError::Spawn(e)) => Err(failed!("The following exited abnormally: {command} ({e})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_substitutes_whole_words_only() {
        assert_eq!(
            command_argv("/bin/check  %h %p x%h", "10.0.0.1", 53),
            ["/bin/check", "10.0.0.1", "53", "x%h"]
        );
    }

    #[test]
    fn program_outcomes() {
        let t = Duration::from_secs(5);
        assert_eq!(program_probe("true", "h", 1, None, t), Ok(()));
        assert!(program_probe("false", "h", 1, None, t).is_err());
        assert_eq!(program_probe("echo OK", "h", 1, Some("OK"), t), Ok(()));
        assert!(program_probe("echo FAIL", "h", 1, Some("OK"), t).is_err());
        // Legacy: a failing program with an expect string counted as healthy.
        assert!(program_probe("false", "h", 1, Some("OK"), t).is_err());
        assert_eq!(
            program_probe("printf OK", "h", 1, Some("OK"), t),
            Ok(()),
            "no newline: nothing chopped"
        );
        assert!(program_probe("/nonexistent/check", "h", 1, None, t)
            .unwrap_err()
            .0
            .contains("abnormally"));
    }

    #[test]
    fn a_hanging_program_is_killed_with_its_group_at_the_timeout() {
        // Commands are split on blanks without a shell (legacy), so use a script that
        // starts a helper in its process group and waits.
        let script = std::env::temp_dir().join(format!("nanny-hang-{}.sh", std::process::id()));
        std::fs::write(&script, "sleep 30 &\nsleep 30\n").unwrap();
        let start = Instant::now();
        let command = format!("sh {}", script.display());
        let r = program_probe(&command, "h", 1, None, Duration::from_millis(300));
        let _ = std::fs::remove_file(&script);
        assert!(r
            .unwrap_err()
            .0
            .starts_with("timeout running the following"));
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "{:?}",
            start.elapsed()
        );
    }

    #[test]
    fn substituted_arguments_reach_the_program() {
        let r = run_program(
            &command_argv("echo %h %p", "10.1.2.3", 8080),
            Duration::from_secs(5),
        );
        let out = r.unwrap();
        assert_eq!(out.status, ExitStatus::Code(0));
        assert_eq!(out.stdout, b"10.1.2.3 8080\n");
    }
}
