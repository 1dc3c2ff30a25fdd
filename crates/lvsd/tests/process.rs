//! The lvsd binary on the host, where nothing needs IPVS: start-up errors in the legacy
//! words, and `--test-start` (no IPVS change, no nanny) through a reload and a shutdown.
//! The daemon against a real kernel is tested in the VM (tests/daemon.rs).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn dir(label: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("lvsd-proc-{label}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
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
    let mut child = Command::new(env!("CARGO_BIN_EXE_lvsd"))
        .args(["-n", "--test-start", "-c"])
        .arg(&cf)
        .arg("--pidfile")
        .arg(d.join("lvs.pid"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = || lines.next().unwrap().unwrap();
    assert_eq!(next(), "lvs: starting virtual service web active: 80");
    std::fs::write(&cf, "virtual web {\n").unwrap();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
    assert_eq!(next(), "lvs: rereading configuration file");
    assert!(next().starts_with("lvs: error parsing"));
    let mut l = next();
    while l.starts_with(&format!("lvs: {}", cf.display())) {
        l = next();
    }
    assert_eq!(l, "lvs: keeping the running configuration");
    // SIGUSR1 killed legacy lvsd; here it is ignored. SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGUSR1) };
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        child.try_wait().unwrap().is_none(),
        "SIGUSR1 must not kill lvsd"
    );
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(next(), "lvs: shutting down due to signal 15");
    assert_eq!(
        next(),
        "lvs: shutting down virtual service web",
        "the old configuration's"
    );
    let t = Instant::now();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(!d.join("lvs.pid").exists(), "no pid file in the foreground");
}
