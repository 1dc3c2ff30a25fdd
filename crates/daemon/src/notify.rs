//! systemd's readiness protocol (`Type=notify`, sd_notify(3)) and its watchdog, for the
//! units in `systemd/`: a datagram of `KEY=VALUE` lines to the socket `NOTIFY_SOCKET`
//! names (a path, or `@name` for the abstract namespace). Without `NOTIFY_SOCKET` (an
//! init script, a terminal) there is no [`Notifier`] and nothing changes.
//!
//! Written here rather than taken from a crate: the protocol is one `sendto`, and the
//! daemons need only READY, STOPPING and WATCHDOG.

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

/// The variables systemd sets for the service's main process, removed once read so that
/// the daemon's children (lvsd, the nannies) do not speak for it.
const VARIABLES: [&str; 3] = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"];

pub struct Notifier {
    socket: UnixDatagram,
    address: nix::sys::socket::UnixAddr,
    /// How often the watchdog wants a ping (half of `WatchdogSec`), and when the next is due.
    watchdog: Option<(Duration, Instant)>,
}

impl Notifier {
    /// The notifier systemd asked for, if any. Call it at start-up, before any thread
    /// exists (it changes the environment).
    pub fn from_env() -> Option<Notifier> {
        let target = std::env::var_os("NOTIFY_SOCKET");
        let usec = std::env::var("WATCHDOG_USEC").ok();
        let pid = std::env::var("WATCHDOG_PID").ok();
        for v in VARIABLES {
            std::env::remove_var(v);
        }
        let target = target?;
        let address = unix_address(target.as_encoded_bytes())?;
        let socket = UnixDatagram::unbound().ok()?;
        let ours = pid.map_or(true, |p| p.parse() == Ok(std::process::id()));
        let watchdog = usec
            .and_then(|u| u.parse::<u64>().ok())
            .filter(|u| *u > 0 && ours)
            .map(|u| (Duration::from_micros(u) / 2, Instant::now()));
        Some(Notifier {
            socket,
            address,
            watchdog,
        })
    }

    /// Start-up is done: systemd's `start` returns.
    pub fn ready(&self) {
        self.send(&format!("READY=1\nMAINPID={}", std::process::id()));
    }

    /// The daemon is on its way out.
    pub fn stopping(&self) {
        self.send("STOPPING=1");
    }

    /// When the watchdog wants its next ping.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.watchdog.map(|(_, due)| due)
    }

    /// Pings the watchdog if a ping is due: called from the event loop, so a loop that
    /// hangs stops pinging and systemd restarts the daemon.
    pub fn tick(&mut self, now: Instant) {
        let Some((every, due)) = self.watchdog else {
            return;
        };
        if now >= due {
            self.send("WATCHDOG=1");
            self.watchdog = Some((every, now + every));
        }
    }

    fn send(&self, text: &str) {
        use std::os::fd::AsRawFd;
        let _ = nix::sys::socket::sendto(
            self.socket.as_raw_fd(),
            text.as_bytes(),
            &self.address,
            nix::sys::socket::MsgFlags::MSG_NOSIGNAL,
        );
    }
}

/// `NOTIFY_SOCKET`'s address: a path, or `@name` in the abstract namespace.
fn unix_address(target: &[u8]) -> Option<nix::sys::socket::UnixAddr> {
    match target.split_first()? {
        (b'@', name) => nix::sys::socket::UnixAddr::new_abstract(name).ok(),
        (b'/', _) => {
            let path = std::path::Path::new(std::ffi::OsStr::from_bytes(target));
            nix::sys::socket::UnixAddr::new(path).ok()
        }
        _ => None,
    }
}

use std::os::unix::ffi::OsStrExt as _;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_paths_or_abstract_names() {
        assert!(unix_address(b"/run/systemd/notify").is_some());
        assert!(unix_address(b"@abstract").is_some());
        assert!(unix_address(b"relative").is_none());
        assert!(unix_address(b"").is_none());
    }
}
