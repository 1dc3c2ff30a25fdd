//! The lvsd binary on the host, where nothing needs IPVS: start-up errors in the legacy
//! words, and `--test-start` (no IPVS change, no nanny) through a reload and a shutdown.
//! The daemon against a real kernel is tested in the VM (tests/vm_daemon.rs).

use std::process::Command;
use std::time::{Duration, Instant};

use testbed::{eventually, Daemon, TempDir};

/// One virtual service, no real server: enough for lvsd to start.
const WEB_ONLY: &str =
    "serial_no = 1\nvirtual web {\n active = 1\n address = 192.0.2.1 eth0:1\n port = 80\n}\n";

/// `lvsd -n --test-start` on `cf`, its pid file (and control socket) in `d`.
fn test_start(d: &TempDir, cf: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lvsd"));
    c.args(["-n", "--test-start", "-c"])
        .arg(cf)
        .arg("--pidfile")
        .arg(d.join("lvs.pid"));
    c
}

/// One virtual service with one real server, `a`.
const WEB_WITH_A: &str =
    "serial_no = 1\nvirtual web {\n active = 1\n address = 192.0.2.1 eth0:1\n \
                          port = 80\n server a {\n address = 10.0.0.1\n active = 1\n }\n}\n";

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
    let good = WEB_WITH_A;
    std::fs::write(&cf, good).unwrap();
    let mut l = Daemon::spawn(&mut test_start(&d, &cf));
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
    std::fs::write(&cf, WEB_ONLY).unwrap();
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
    let holds = |pid: u32| written().trim() == pid.to_string();
    assert!(
        eventually(10, || holds(first.id())),
        "pid file: {:?}",
        written()
    );
    let mut second = lvsd(&["--nofork"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    if !eventually(10, || second.try_wait().unwrap().is_some()) {
        let _ = second.kill();
        panic!("a second lvsd with the same pid file kept running");
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
    assert!(testbed::signal(first.id(), libc::SIGTERM));
    assert_eq!(first.wait().unwrap().code(), Some(0));
    assert!(!pid_file.exists(), "removed at exit");
    // Now a new one may start.
    let mut again = lvsd(&["--nofork"]).spawn().unwrap();
    assert!(
        eventually(10, || holds(again.id())),
        "pid file: {:?}",
        written()
    );
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
    std::fs::write(&cf, WEB_ONLY).unwrap();
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

/// A network namespace whose resolver (127.0.0.1:53, a socket that never answers) hangs,
/// as `ip netns exec` gives it its own resolv.conf. Removed on drop.
struct StuckResolver {
    name: String,
    server: std::process::Child,
}

impl StuckResolver {
    fn new(label: &str) -> StuckResolver {
        let name = format!("lvsd-{label}-{}", std::process::id());
        let ip = |args: &[&str]| {
            let ok = Command::new("ip").args(args).status().unwrap().success();
            assert!(ok, "ip {args:?} (these tests run as root)");
        };
        ip(&["netns", "add", &name]);
        ip(&["netns", "exec", &name, "ip", "link", "set", "lo", "up"]);
        let etc = std::path::PathBuf::from(format!("/etc/netns/{name}"));
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::write(
            etc.join("resolv.conf"),
            "nameserver 127.0.0.1\noptions timeout:30 attempts:1\n",
        )
        .unwrap();
        let server = Command::new("ip")
            .args(["netns", "exec", &name, "python3", "-c"])
            .arg(
                "import socket, time\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
                 s.bind(('127.0.0.1', 53))\ntime.sleep(300)\n",
            )
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        StuckResolver { name, server }
    }

    fn lvsd(&self, cf: &std::path::Path) -> Daemon {
        Daemon::spawn(
            Command::new("ip")
                .args(["netns", "exec", &self.name])
                .arg(env!("CARGO_BIN_EXE_lvsd"))
                .args(["-n", "--test-start", "-c"])
                .arg(cf),
        )
    }
}

impl Drop for StuckResolver {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
        let _ = std::fs::remove_dir_all(format!("/etc/netns/{}", self.name));
    }
}

#[test]
fn a_resolver_that_never_answers_cannot_stall_lvsd() {
    let ns = StuckResolver::new("dns");
    let d = dir("dns");
    let cf = d.join("lvs.cf");
    let good = WEB_ONLY;
    std::fs::write(&cf, good).unwrap();
    // Three names, each of which would take the resolver's 30 s, one after another.
    let named = format!(
        "primary = a.lvsd-test.invalid\nbackup = b.lvsd-test.invalid\n\
         nat_router = c.lvsd-test.invalid eth1:1\n{good}"
    );

    // SIGTERM while a reload resolves: acted on at once (the file is read off the loop).
    let mut l = ns.lvsd(&cf);
    l.wait_for("starting virtual service web", 10);
    std::fs::write(&cf, &named).unwrap();
    l.signal(libc::SIGHUP);
    l.wait_for("rereading configuration file", 5);
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    l.signal(libc::SIGTERM);
    l.wait_for("shutting down due to signal 15", 5);
    assert_eq!(l.wait(), Some(0));
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());

    // Left alone, the reload gives up on all three names within the budget (5 s), says
    // so, and keeps the running configuration.
    std::fs::write(&cf, good).unwrap();
    let l = ns.lvsd(&cf);
    l.wait_for("starting virtual service web", 10);
    std::fs::write(&cf, &named).unwrap();
    let t = Instant::now();
    l.signal(libc::SIGHUP);
    let lines = l.wait_for("keeping the running configuration", 15);
    assert!(t.elapsed() < Duration::from_secs(9), "{:?}", t.elapsed());
    assert!(
        lines
            .iter()
            .any(|x| x.contains("did not resolve in time (timed out")),
        "{lines:#?}"
    );
}

/// A run of lvsd recorded as a trace (`PIRANHA_TRACE`, docs/architecture.md, "Traces"):
/// its control requests, a reload and its shutdown are the manager's events, so the
/// trace replays against a fresh manager made from the same file, action for action.
#[test]
fn a_recorded_run_replays_against_a_fresh_manager() {
    let d = dir("trace");
    let cf = d.join("lvs.cf");
    let first = WEB_WITH_A;
    std::fs::write(&cf, first).unwrap();
    let trace = d.join("lvsd.trace");
    let mut lvsd = test_start(&d, &cf);
    let mut l = Daemon::spawn(lvsd.env(daemon::trace::TRACE_ENV, &trace));
    l.wait_for("starting virtual service", 5);
    let ask = |request: serde_json::Value| {
        daemon::control::ask(&d.join("lvs.sock"), &request, Duration::from_secs(5)).unwrap()
    };
    let status = ask(serde_json::json!({"command": "status"}));
    assert_eq!(
        status["services"][0]["real_servers"][0]["monitor"],
        "not started"
    );
    let drained = ask(serde_json::json!({"command": "drain", "virtual": "web", "server": "a"}));
    assert_eq!(drained["ok"], true, "{drained}");
    std::fs::write(&cf, first.replace("port = 80", "port = 8080")).unwrap();
    l.signal(libc::SIGHUP);
    l.wait_for("starting virtual service web active: 8080", 5);
    l.signal(libc::SIGTERM);
    assert_eq!(l.wait(), Some(0));
    let lines = daemon::trace::read(&trace).unwrap();
    let kinds: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.event.as_object().and_then(|o| o.keys().next()))
        .map(String::as_str)
        .collect();
    for kind in ["Control", "Reload", "Terminate"] {
        assert!(kinds.contains(&kind), "no {kind} in {kinds:?}");
    }
    let config = lvscf::parse_str(first, "lvs.cf", &Default::default())
        .unwrap()
        .config;
    let flags = lvsd::monitor_spec::LvsdFlags {
        verbose: false,
        nodaemon: true,
    };
    let t0 = Instant::now();
    let (mut manager, _) =
        lvsd::manager::Manager::start_drained(config, flags, true, Default::default(), t0);
    daemon::trace::replay(&mut manager, &lines, t0).unwrap_or_else(|e| panic!("{e}"));
}
