//! The lvsd binary on the host, where nothing needs IPVS: start-up errors in the legacy
//! words, and `--test-start` (no IPVS change, no nanny) through a reload and a shutdown.
//! The daemon against a real kernel is tested in the VM (tests/vm_daemon.rs).

use std::process::Command;
use std::time::{Duration, Instant};

use testbed::{Daemon, TempDir};

fn dir(label: &str) -> TempDir {
    TempDir::new(&format!("lvsd-proc-{label}"))
}

#[test]
fn start_up_errors_use_the_legacy_words_and_exit_1() {
    let d = dir("errors");
    let missing = d.join("missing.cf");
    let out = Command::new(env!("CARGO_BIN_EXE_lvsd"))
        .args(["-n", "-t", "-c"])
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).lines().next().unwrap(),
        format!("lvs: failed to open {}", missing.display())
    );
    let bad = d.join("bad.cf");
    std::fs::write(&bad, "serial_no = 1\nvirtual v {\n active = sometimes\n}\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_lvsd"))
        .args(["-n", "-t", "-c"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let mut lines = err.lines();
    assert_eq!(
        lines.next().unwrap(),
        format!("lvs: error parsing {} on line 3.", bad.display())
    );
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with(&format!("lvs: {}:3:", bad.display())),
        "{err}"
    );
}

#[test]
fn test_start_runs_through_a_bad_reload_and_a_shutdown() {
    let d = dir("teststart");
    let cf = d.join("lvs.cf");
    let good =
        "serial_no = 1\nvirtual web {\n active = 1\n address = 192.0.2.1 eth0:1\n port = 80\n\
                server a {\n address = 10.0.0.1\n active = 1\n }\n}\n";
    std::fs::write(&cf, good).unwrap();
    let mut l = Daemon::spawn(
        Command::new(env!("CARGO_BIN_EXE_lvsd"))
            .args(["-n", "--test-start", "-c"])
            .arg(&cf)
            .arg("--pidfile")
            .arg(d.join("lvs.pid")),
    );
    assert_eq!(
        l.wait_for("starting virtual service", 5),
        ["lvs: starting virtual service web active: 80"]
    );
    std::fs::write(&cf, "virtual web {\n").unwrap();
    l.signal(libc::SIGHUP);
    let lines = l.wait_for("keeping the running configuration", 5);
    assert_eq!(lines[0], "lvs: rereading configuration file");
    assert!(lines[1].starts_with("lvs: error parsing"), "{lines:?}");
    let file_lines = format!("lvs: {}", cf.display());
    assert!(
        lines[2..lines.len() - 1]
            .iter()
            .all(|x| x.starts_with(&file_lines)),
        "{lines:?}"
    );
    // SIGUSR1 killed legacy lvsd; here it is ignored.
    l.signal(libc::SIGUSR1);
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        l.child.try_wait().unwrap().is_none(),
        "SIGUSR1 must not kill lvsd"
    );
    l.signal(libc::SIGTERM);
    assert_eq!(
        l.wait_for("shutting down virtual service", 5),
        [
            "lvs: shutting down due to signal 15",
            "lvs: shutting down virtual service web"
        ],
        "the old configuration's"
    );
    let t = Instant::now();
    assert_eq!(l.wait(), Some(0));
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(!d.join("lvs.pid").exists(), "no pid file in the foreground");
}

#[test]
fn a_second_lvsd_with_the_same_pid_file_is_refused_on_the_terminal() {
    let d = dir("second");
    let cf = d.join("lvs.cf");
    std::fs::write(
        &cf,
        "serial_no = 1\nvirtual web {\n active = 1\n address = 192.0.2.1 eth0:1\n port = 80\n}\n",
    )
    .unwrap();
    let pid_file = d.join("lvs.pid");
    let lvsd = |extra: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_lvsd"));
        c.args(["--test-start", "-c"])
            .arg(&cf)
            .arg("--pidfile")
            .arg(&pid_file)
            .args(extra);
        c
    };
    // Daemon mode without forking: the child is the daemon.
    let mut first = lvsd(&["--nofork"]).spawn().unwrap();
    let written = || std::fs::read_to_string(&pid_file).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(10);
    while written().trim() != first.id().to_string() {
        assert!(Instant::now() < deadline, "pid file: {:?}", written());
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut second = lvsd(&["--nofork"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while second.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = second.kill();
            panic!("a second lvsd with the same pid file kept running");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = second.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        format!(
            "lvs: another instance is running (pid {}): {} is locked",
            first.id(),
            pid_file.display()
        )
    );
    assert_eq!(
        written().trim(),
        first.id().to_string(),
        "the first one's file stays"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(first.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(first.wait().unwrap().code(), Some(0));
    assert!(!pid_file.exists(), "removed at exit");
    // Now a new one may start.
    let mut again = lvsd(&["--nofork"]).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while written().trim() != again.id().to_string() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = again.kill();
    let _ = again.wait();
}

#[test]
fn without_ip_vs_lvsd_says_which_module_to_load() {
    if std::path::Path::new("/proc/net/ip_vs").exists() {
        eprintln!("skipped: this kernel has IPVS (the message is for one without it)");
        return;
    }
    let d = dir("no-ipvs");
    let cf = d.join("lvs.cf");
    std::fs::write(
        &cf,
        "serial_no = 1\nvirtual web {\n active = 1\n address = 192.0.2.1 eth0:1\n port = 80\n}\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_lvsd"))
        .args(["-n", "-c"])
        .arg(&cf)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "lvs: cannot reach IPVS: the ip_vs kernel module is not loaded (modprobe ip_vs)"
    );
}
