//! The systemd units (`systemd/`): `systemd-analyze verify` accepts them (with the built
//! binaries and the manual pages they name), and pulse and lvsd speak the readiness
//! protocol the units' `Type=notify` and `WatchdogSec` expect: READY with their own pid
//! (they do not fork under systemd), a WATCHDOG ping every half interval from the event
//! loop, STOPPING at SIGTERM, and nothing of it passed on to their children.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use testbed::lan::Lan;
use testbed::{Daemon, TempDir};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn bin(name: &str) -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_pulse")).with_file_name(name)
}

#[test]
fn systemd_analyze_verifies_the_units() {
    let d = TempDir::new("units");
    // The manual pages the units name, where man finds them.
    for (section, pages) in [("man8", "pulse.8 lvsd.8"), ("man5", "lvs.cf.5")] {
        std::fs::create_dir_all(d.join(section)).unwrap();
        for page in pages.split(' ') {
            std::os::unix::fs::symlink(repo().join("docs").join(page), d.join(section).join(page))
                .unwrap();
        }
    }
    let mut units = Vec::new();
    for unit in ["pulse.service", "lvsd.service"] {
        let text = std::fs::read_to_string(repo().join("systemd").join(unit)).unwrap();
        // The built binaries stand where the package installs them.
        let text = text
            .replace("/usr/sbin/pulse", &bin("pulse").display().to_string())
            .replace("/usr/sbin/lvsd", &bin("lvsd").display().to_string());
        std::fs::write(d.join(unit), text).unwrap();
        units.push(d.join(unit));
    }
    let out = testbed::tools::run(
        Command::new("systemd-analyze")
            .arg("verify")
            .args(&units)
            .env("MANPATH", d.path()),
        None,
        Duration::from_secs(60),
    );
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && said.trim().is_empty(), "{said}");
}

/// The datagrams a daemon sends to its NOTIFY_SOCKET.
struct Systemd {
    socket: UnixDatagram,
    path: PathBuf,
}

impl Systemd {
    fn new(dir: &TempDir) -> Systemd {
        let path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        Systemd { socket, path }
    }

    /// Forgets what was sent so far.
    fn drain(&self) {
        self.socket.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 512];
        while self.socket.recv(&mut buf).is_ok() {}
        self.socket.set_nonblocking(false).unwrap();
    }

    /// Every datagram received within `secs`.
    fn messages(&self, secs: f64) -> Vec<String> {
        let end = Instant::now() + Duration::from_secs_f64(secs);
        let mut out = Vec::new();
        let mut buf = [0u8; 512];
        while Instant::now() < end {
            if let Ok(n) = self.socket.recv(&mut buf) {
                out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        }
        out
    }

    /// Waits up to `secs` for a datagram containing `want`; returns it.
    fn wait_for(&self, want: &str, secs: f64) -> String {
        let end = Instant::now() + Duration::from_secs_f64(secs);
        let mut buf = [0u8; 512];
        let mut seen = Vec::new();
        while Instant::now() < end {
            if let Ok(n) = self.socket.recv(&mut buf) {
                let m = String::from_utf8_lossy(&buf[..n]).into_owned();
                if m.contains(want) {
                    return m;
                }
                seen.push(m);
            }
        }
        panic!("no {want} within {secs} s; got {seen:?}");
    }
}

/// What a daemon started as a unit's main process must say: READY with its own pid (then
/// `meanwhile` looks at what it did), a watchdog ping every half interval (0.3 s asked:
/// 5 to 8 in 1 s), STOPPING at SIGTERM, and it must then leave with 0.
fn speaks_the_protocol(daemon: &mut Daemon, systemd: &Systemd, meanwhile: impl FnOnce()) {
    let ready = systemd.wait_for("READY=1", 5.0);
    assert!(
        ready.contains(&format!("MAINPID={}", daemon.child.id())),
        "the process systemd started is the daemon (no fork): {ready}"
    );
    meanwhile();
    systemd.drain();
    let pings = systemd
        .messages(1.0)
        .iter()
        .filter(|m| *m == "WATCHDOG=1")
        .count();
    assert!((5..=8).contains(&pings), "{pings} watchdog pings in 1 s");
    daemon.signal(libc::SIGTERM);
    systemd.wait_for("STOPPING=1", 5.0);
    assert_eq!(daemon.wait(), Some(0));
}

#[test]
fn pulse_tells_systemd_it_is_ready_and_feeds_the_watchdog() {
    let lan = Lan::create();
    let d = TempDir::new("notify-pulse");
    let systemd = Systemd::new(&d);
    std::fs::write(
        d.join("lvs.cf"),
        "serial_no = 1\nprimary = 192.168.77.10\nservice = lvs\nbackup_active = 1\n\
         backup = 192.168.77.11\nheartbeat = 1\nkeepalive = 0.2\ndeadtime = 0.8\n\
         network = direct\nvirtual web {\n active = 1\n address = 192.168.77.100 eth0:1\n\
          port = 80\n server a {\n  address = 192.168.77.60\n  active = 1\n }\n}\n",
    )
    .unwrap();
    // A stand-in lvsd that notes what systemd variables it was given.
    let lvsd = d.script(
        "lvsd",
        &format!(
            "#!/bin/sh\necho \"[$NOTIFY_SOCKET$WATCHDOG_USEC$WATCHDOG_PID]\" > {}\n\
             trap 'exit 0' TERM\nwhile :; do sleep 0.05; done\n",
            d.join("lvsd.env").display()
        ),
    );
    // Daemon mode (no -n), as the unit runs it: under systemd it must not fork.
    let mut daemon = Daemon::spawn(
        Command::new("ip")
            .args(["netns", "exec", &lan.ns("d1")])
            .arg(bin("pulse"))
            .arg(format!("-c{}", d.join("lvs.cf").display()))
            .arg(format!("--pidfile={}", d.join("pulse.pid").display()))
            .arg(format!("--lvsd={lvsd}"))
            .env("NOTIFY_SOCKET", &systemd.path)
            .env("WATCHDOG_USEC", "300000"),
    );
    let pid = daemon.child.id().to_string();
    speaks_the_protocol(&mut daemon, &systemd, || {
        assert_eq!(
            std::fs::read_to_string(d.join("pulse.pid")).unwrap().trim(),
            pid,
            "the pid file names the process systemd started"
        );
        // Alone, it activates and starts lvsd, which hears nothing of systemd.
        let env = d.join("lvsd.env");
        assert!(testbed::eventually(5, || env.exists()));
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(std::fs::read_to_string(&env).unwrap().trim(), "[]");
    });
}

#[test]
fn lvsd_alone_tells_systemd_it_is_ready_and_feeds_the_watchdog() {
    let d = TempDir::new("notify-lvsd");
    let systemd = Systemd::new(&d);
    std::fs::write(
        d.join("lvs.cf"),
        "serial_no = 1\nvirtual web {\n active = 1\n address = 192.0.2.1 eth0:1\n port = 80\n\
          server a {\n  address = 10.0.0.1\n  active = 1\n }\n}\n",
    )
    .unwrap();
    let mut daemon = Daemon::spawn(
        Command::new(bin("lvsd"))
            .arg("--test-start")
            .arg(format!("-c{}", d.join("lvs.cf").display()))
            .arg(format!("--pidfile={}", d.join("lvs.pid").display()))
            .env("NOTIFY_SOCKET", &systemd.path)
            .env("WATCHDOG_USEC", "300000"),
    );
    speaks_the_protocol(&mut daemon, &systemd, || {});
    // Without NOTIFY_SOCKET the legacy daemon mode forks as it always did.
    let mut legacy = Daemon::spawn(
        Command::new(bin("lvsd"))
            .arg("--test-start")
            .arg(format!("-c{}", d.join("lvs.cf").display()))
            .arg(format!("--pidfile={}", d.join("lvs.pid").display())),
    );
    assert_eq!(legacy.wait(), Some(0), "the parent returns at once");
    assert!(testbed::eventually(5, || std::fs::read_to_string(
        d.join("lvs.pid")
    )
    .is_ok_and(|p| p.ends_with('\n'))));
    let pid = std::fs::read_to_string(d.join("lvs.pid")).unwrap();
    assert_ne!(pid.trim(), legacy.child.id().to_string());
    testbed::signal(pid.trim().parse().unwrap(), libc::SIGTERM);
}
