//! The `fos` binary on this host, on loopback: `--active` runs the services' commands in
//! the legacy order and stops them when told; `--monitor` runs a real `nanny --fos` per
//! service and exits, with the legacy lines, when a watched service goes away; bad
//! command lines are refused.

use std::path::PathBuf;
use std::process::Command;

use testbed::{eventually, Daemon, TempDir};

fn bin(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_fos")).with_file_name(name)
}

/// A director pair's lvs.cf whose primary is this host (127.0.0.1), with `blocks`.
fn cf(blocks: &str) -> String {
    format!(
        "serial_no = 1\nprimary = 127.0.0.1\nservice = fos\nbackup_active = 1\n\
         backup = 127.0.0.2\nheartbeat = 1\nkeepalive = 1\ndeadtime = 3\n{blocks}"
    )
}

/// A failover block for 127.0.0.1:`port` whose commands note `NAME start|stop` in `log`.
fn block(d: &TempDir, name: &str, port: u16, start_exit: i32) -> String {
    let log = d.join("commands");
    let script = d.script(
        &format!("{name}.sh"),
        &format!(
            "#!/bin/sh\necho \"{name} $1\" >> {}\n[ \"$1\" = start ] && exit {start_exit}\nexit 0\n",
            log.display()
        ),
    );
    format!(
        "failover {name} {{\n active = 1\n address = 127.0.0.1 lo\n port = {port}\n timeout = 1\n\
          client_monitor = {}\n start_cmd = \"{script} start\"\n stop_cmd = \"{script} stop\"\n}}\n",
        bin("nanny").display()
    )
}

fn commands(d: &TempDir) -> Vec<String> {
    std::fs::read_to_string(d.join("commands"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn active_stops_then_starts_each_service_and_stops_them_at_sigterm() {
    let d = TempDir::new("fos-active");
    let text = cf(&(block(&d, "web", 18080, 0) + &block(&d, "ftp", 18021, 3)));
    std::fs::write(d.join("lvs.cf"), text).unwrap();
    let mut fos = Daemon::spawn(
        Command::new(bin("fos"))
            .args(["--active", "-n", "-c"])
            .arg(d.join("lvs.cf")),
    );
    // A start_cmd that fails is said, with its exit status.
    fos.wait_for("Failed to start service 127.0.0.1:18021!", 10);
    assert!(
        fos.printed()
            .iter()
            .any(|l| l.ends_with("ftp.sh start' finished with exit status 3")),
        "{:?}",
        fos.printed()
    );
    assert_eq!(
        commands(&d),
        ["web stop", "ftp stop", "web start", "ftp start"]
    );
    fos.signal(libc::SIGTERM);
    assert_eq!(fos.wait(), Some(0));
    assert_eq!(
        commands(&d)[4..],
        ["web stop".to_string(), "ftp stop".to_string()]
    );
}

#[test]
fn monitor_watches_each_service_and_a_lost_one_is_a_failover_condition() {
    let d = TempDir::new("fos-monitor");
    let text = cf(&(block(&d, "web", 18180, 0) + &block(&d, "ftp", 18121, 0)));
    std::fs::write(d.join("lvs.cf"), text).unwrap();
    // The services, "on the partner": listening on loopback.
    let listen = |port: u16| {
        Daemon::spawn(Command::new("python3").args([
            "-c",
            &format!(
                "import socket,time\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
                 s.bind(('127.0.0.1',{port}))\ns.listen(16)\nprint('up',flush=True)\n\
                 while True:\n    c,_=s.accept()\n    c.close()\n"
            ),
        ]))
    };
    let web = listen(18180);
    let _ftp = listen(18121);
    web.wait_for("up", 5);
    let mut fos = Daemon::spawn(
        Command::new(bin("fos"))
            .args(["--monitor", "-n", "-c"])
            .arg(d.join("lvs.cf")),
    );
    fos.wait_for("Stopping local services (if any)", 5);
    // Two nannies, probing through the VIP, naming the partner as legacy did.
    fos.wait_for("Remote service 127.0.0.1:18180 is available", 10);
    assert!(eventually(5, || fos.printed().iter().any(
        |l| l.contains("Remote service 127.0.0.1:18121 is available")
    )));
    assert!(
        fos.printed()
            .iter()
            .any(|l| l.contains("Failover service monitor for 127.0.0.2:18180 started")),
        "{:?}",
        fos.printed()
    );
    assert_eq!(commands(&d), ["web stop", "ftp stop"]);
    // The web service goes away: its nanny exits, and so does fos, for pulse to act.
    drop(web);
    fos.wait_for(
        "Monitor for service 127.0.0.1:18180 exited. This is a failover condition!",
        10,
    );
    fos.wait_for("will now exit to notify pulse...", 2);
    assert_eq!(fos.wait(), Some(0));
    // The other monitor went with it.
    assert!(eventually(5, || {
        let out = Command::new("pgrep")
            .args(["-f", "18121 .*--fos"])
            .output()
            .unwrap();
        out.stdout.is_empty()
    }));
}

#[test]
fn a_mode_is_required_and_the_version_is_the_legacy_one() {
    let run = |args: &[&str]| Command::new(bin("fos")).args(args).output().unwrap();
    for args in [&["-n"][..], &["--monitor", "--active", "-n"]] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "fos: exactly one of --monitor and --active must be given\n"
        );
    }
    let out = run(&["--version"]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("Program Version:\tfos 1.13\n"));
    let out = run(&["--active", "-n", "-c", "/nonexistent/lvs.cf"]);
    assert_eq!(
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        (Some(1), "fos: failed to open /nonexistent/lvs.cf")
    );
}
