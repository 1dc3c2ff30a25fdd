//! `lvsctl status` against a running lvsd (`--test-start`: no IPVS needed, no nanny):
//! the control socket beside the pid file, the one-screen text, `--json`, and a missing
//! pulse named as such.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use testbed::{Daemon, TempDir};

const CF: &str =
    "serial_no = 1\nvirtual web {\n active = 1\n address = 192.0.2.1 eth0:1\n port = 80\n\
                  scheduler = rr\n sorry_server = 10.0.0.99\n\
                  server a {\n address = 10.0.0.1\n active = 1\n weight = 3\n }\n\
                  server b {\n address = 10.0.0.2\n active = 1\n }\n}\n";

fn lvsctl(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lvsctl"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// lvsd's binary, built beside this one.
fn lvsd_bin() -> std::path::PathBuf {
    let me = std::path::PathBuf::from(env!("CARGO_BIN_EXE_lvsctl"));
    let lvsd = me.with_file_name("lvsd");
    assert!(
        lvsd.exists(),
        "build lvsd first (cargo build --workspace --bins): {}",
        lvsd.display()
    );
    lvsd
}

#[test]
fn status_shows_lvsd_services_and_says_pulse_is_missing() {
    let lvsd = lvsd_bin();
    if !lvsd.exists() {
        panic!(
            "build lvsd first (cargo build --workspace --bins): {}",
            lvsd.display()
        );
    }
    let d = TempDir::new("lvsctl");
    std::fs::write(d.join("lvs.cf"), CF).unwrap();
    let mut l = start_lvsd(&d);
    let sock = d.join("lvs.sock");
    let lvsd_arg = format!("--lvsd-socket={}", sock.display());
    let pulse_arg = format!("--pulse-socket={}", d.join("pulse.sock").display());
    let (code, text, _) = lvsctl(&["status", &lvsd_arg, &pulse_arg]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.starts_with("director   pulse is not answering: "),
        "{text}"
    );
    assert!(
        text.contains("pulse.sock: No such file or directory"),
        "{text}"
    );
    assert!(text.contains("web  TCP 192.0.2.1:80  rr  nat"), "{text}");
    // --test-start: no nanny, nothing in the kernel.
    let a = text
        .lines()
        .find(|l| l.trim_start().starts_with("a "))
        .unwrap();
    let cols: Vec<&str> = a.split_whitespace().collect();
    assert_eq!(&cols[..2], ["a", "10.0.0.1:80"], "{a}");
    assert_eq!(
        &cols[2..7],
        ["unknown", "not", "started", "out", "3"],
        "{a}"
    );
    assert!(text.contains("sorry        10.0.0.99:80"), "{text}");

    let (code, json, _) = lvsctl(&["status", "--json", &lvsd_arg, &pulse_arg]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&json).unwrap();
    assert!(v["pulse"].is_null());
    assert!(v["pulse_error"].as_str().unwrap().contains("pulse.sock"));
    let s = &v["lvsd"]["services"][0];
    assert_eq!(s["name"], "web");
    assert_eq!(s["real_servers"][0]["configured_weight"], 3);
    assert_eq!(s["real_servers"][1]["address"], "10.0.0.2:80");
    assert_eq!(v["lvsd"]["pid"], l.child.id());

    // lvsd gone: the socket goes with it, and lvsctl says nothing answers (exit 1).
    l.signal(libc::SIGTERM);
    assert_eq!(l.wait(), Some(0));
    assert!(!sock.exists(), "the socket is removed at exit");
    let (code, text, _) = lvsctl(&["status", &lvsd_arg, &pulse_arg]);
    assert_eq!(code, 1);
    assert!(text.contains("lvsd is not answering"), "{text}");
}

#[test]
fn bad_command_lines_are_refused_with_the_usage() {
    let (code, _, err) = lvsctl(&["frobnicate"]);
    assert_eq!(code, 2);
    assert!(
        err.starts_with("lvsctl: unknown argument: frobnicate\nUsage: lvsctl status"),
        "{err}"
    );
    let (code, _, err) = lvsctl(&["status", "--watch=0"]);
    assert_eq!(code, 2);
    assert!(err.contains("bad --watch interval"), "{err}");
    let (code, out, _) = lvsctl(&["--version"]);
    assert_eq!((code, out.trim()), (0, "lvsctl 0.1.0"));
}

#[test]
fn metrics_exit_1_when_nothing_answers_and_dash_dash_ends_the_options() {
    let nowhere = ["--pulse-socket=/nonexistent", "--lvsd-socket=/nonexistent"];
    let (code, out, _) = lvsctl(&["metrics", nowhere[0], nowhere[1]]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("piranha_up{daemon=\"lvsd\"} 0"), "{out}");
    // A real server named "-rs1": without `--` an unknown option, after it a name.
    let (code, _, err) = lvsctl(&["drain", "web", "-rs1", nowhere[1]]);
    assert_eq!(code, 2, "{err}");
    assert!(err.starts_with("lvsctl: unknown argument: -rs1"), "{err}");
    let (code, _, err) = lvsctl(&["drain", nowhere[1], "web", "--", "-rs1"]);
    assert_eq!(code, 1, "parsed, then lvsd not answering: {err}");
    assert!(err.contains("lvsd is not answering"), "{err}");
}

/// lvsd `--test-start` on `dir`'s lvs.cf, its control socket up.
fn start_lvsd(d: &TempDir) -> Daemon {
    let l = Daemon::spawn(
        Command::new(lvsd_bin())
            .args(["-n", "--test-start", "-c"])
            .arg(d.join("lvs.cf"))
            .arg("--pidfile")
            .arg(d.join("lvs.pid")),
    );
    l.wait_for("starting virtual service", 5);
    let start = Instant::now();
    while !d.join("lvs.sock").exists() && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    l
}

fn drained(d: &TempDir) -> Vec<bool> {
    let arg = format!("--lvsd-socket={}", d.join("lvs.sock").display());
    let (_, json, _) = lvsctl(&["status", "--json", &arg, "--pulse-socket=/nonexistent"]);
    let v: Value = serde_json::from_str(&json).unwrap();
    v["lvsd"]["services"][0]["real_servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["drained"] == true)
        .collect()
}

#[test]
fn drain_and_enable_by_name_persist_across_an_lvsd_restart() {
    let d = TempDir::new("lvsctl-drain");
    std::fs::write(d.join("lvs.cf"), CF).unwrap();
    let mut l = start_lvsd(&d);
    let arg = format!("--lvsd-socket={}", d.join("lvs.sock").display());
    assert_eq!(
        lvsctl(&["drain", "web", "b", &arg]),
        (0, "web/b drained\n".into(), String::new())
    );
    assert_eq!(drained(&d), [false, true]);
    assert_eq!(
        std::fs::read_to_string(d.join("lvs.drained")).unwrap(),
        "-t 192.0.2.1:80 -r 10.0.0.2:80\n"
    );
    l.wait_for("web/b drained by the operator (weight 0 until enabled)", 5);
    let (_, text, _) = lvsctl(&["status", &arg, "--pulse-socket=/nonexistent"]);
    let b = text
        .lines()
        .find(|l| l.trim_start().starts_with("b "))
        .unwrap();
    assert!(b.ends_with("DRAINED"), "{text}");
    // Unknown names: a clear error, exit 1.
    assert_eq!(
        lvsctl(&["drain", "web", "zz", &arg]),
        (
            1,
            String::new(),
            "lvsctl: no active real server \"zz\" in web\n".into()
        )
    );
    assert_eq!(
        lvsctl(&["enable", "nope", "a", &arg]),
        (
            1,
            String::new(),
            "lvsctl: no active virtual service \"nope\"\n".into()
        )
    );
    // lvsd restarted: still drained, until enabled.
    l.signal(libc::SIGTERM);
    assert_eq!(l.wait(), Some(0));
    let _l = start_lvsd(&d);
    assert_eq!(drained(&d), [false, true]);
    assert_eq!(lvsctl(&["enable", "web", "b", &arg]).1, "web/b enabled\n");
    assert_eq!(drained(&d), [false, false]);
    assert!(!d.join("lvs.drained").exists(), "nothing drained: no file");
    let (code, _, err) = lvsctl(&["drain", "web"]);
    assert_eq!(code, 2);
    assert!(
        err.starts_with("lvsctl: drain takes a virtual service and a real server"),
        "{err}"
    );
}

/// Parses Prometheus text with a real parser (Debian's python3-prometheus-client, which
/// scripts/test-all installs): one line per sample, `NAME{LABELS} VALUE` as it read them.
fn parse_exposition(text: &str) -> Vec<String> {
    use std::io::Write;
    let script = "import sys\nfrom prometheus_client.parser import text_string_to_metric_families as f\n\
for fam in f(sys.stdin.read()):\n    for s in fam.samples:\n        \
l=','.join(k+'='+v for k,v in sorted(s.labels.items()))\n        print(f'{s.name}{{{l}}} {s.value}')\n";
    // Debian's python3, where the package is (a pyenv shim may come first in PATH).
    let mut child = Command::new("/usr/bin/python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("/usr/bin/python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the parser refused the exposition: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn metrics_are_valid_prometheus_text_with_the_daemons_figures() {
    let d = TempDir::new("lvsctl-metrics");
    std::fs::write(d.join("lvs.cf"), CF).unwrap();
    let _l = start_lvsd(&d);
    let arg = format!("--lvsd-socket={}", d.join("lvs.sock").display());
    let (code, text, _) = lvsctl(&["metrics", &arg, "--pulse-socket=/nonexistent"]);
    assert_eq!(code, 0);
    let samples = parse_exposition(&text);
    for want in [
        "piranha_up{daemon=lvsd} 1.0",
        "piranha_up{daemon=pulse} 0.0",
        "piranha_virtual_in_ipvs{service=TCP 192.0.2.1:80,virtual=web} 1.0",
        "piranha_sorry_server_serving{service=TCP 192.0.2.1:80,virtual=web} 0.0",
        "piranha_real_server_configured_weight{address=10.0.0.1:80,server=a,virtual=web} 3.0",
        "piranha_real_server_health{address=10.0.0.2:80,health=unknown,server=b,virtual=web} 1.0",
        "piranha_real_server_in_table{address=10.0.0.2:80,server=b,virtual=web} 0.0",
    ] {
        assert!(
            samples.iter().any(|s| s == want),
            "{want} not in {samples:#?}"
        );
    }
}

#[test]
fn watch_redraws_the_screen_in_place_until_interrupted() {
    let d = TempDir::new("lvsctl-watch");
    std::fs::write(d.join("lvs.cf"), CF).unwrap();
    let _l = start_lvsd(&d);
    let mut w = Command::new(env!("CARGO_BIN_EXE_lvsctl"))
        .args(["status", "--watch=0.2", "--pulse-socket=/nonexistent"])
        .arg(format!("--lvsd-socket={}", d.join("lvs.sock").display()))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(900));
    assert!(w.try_wait().unwrap().is_none(), "still watching");
    w.kill().unwrap();
    let out = w.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let screens: Vec<&str> = text.split("\x1b[H\x1b[2J").skip(1).collect();
    assert!(screens.len() >= 3, "{} redraws: {text:?}", screens.len());
    assert!(
        // The last one may have been cut by the kill.
        screens[..screens.len() - 1]
            .iter()
            .all(|s| s.contains("web  TCP 192.0.2.1:80")),
        "{text:?}"
    );
}

/// A port free on loopback just now, below the ephemeral range: a connection to a
/// closed ephemeral port can succeed, connected to itself.
fn free_port() -> u16 {
    static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let base = 20_000 + (std::process::id() % 1000) as u16 * 10;
    (0..100)
        .map(|_| base + NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
        .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free port")
}

#[test]
fn lvsd_alone_serves_the_status_page_and_metrics_where_lvs_cf_says() {
    use testbed::tools::{http_get, pixels_near, promtool_check, screenshot};
    let d = TempDir::new("lvsctl-http");
    let port = free_port();
    std::fs::write(d.join("lvs.cf"), format!("status_http = {port}\n{CF}")).unwrap();
    let l = start_lvsd(&d);
    let listening = format!("lvs: status page and metrics on http://127.0.0.1:{port}/");
    assert!(l.printed().contains(&listening), "{:?}", l.printed());
    let at: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let (code, head, metrics) = http_get(at, "/metrics");
    assert_eq!(code, 200, "{head}");
    assert!(
        head.contains("Content-Type: text/plain; version=0.0.4"),
        "{head}"
    );
    promtool_check(&metrics).unwrap_or_else(|e| panic!("promtool: {e}\n{metrics}"));
    for want in [
        "piranha_up{daemon=\"lvsd\"} 1\n",
        "piranha_up{daemon=\"pulse\"} 0\n",
        "piranha_real_server_configured_weight{virtual=\"web\",server=\"a\",address=\"10.0.0.1:80\"} 3\n",
        "# TYPE piranha_process_cpu_seconds_total counter\n",
    ] {
        assert!(metrics.contains(want), "{want} not in {metrics}");
    }
    let rss = metrics
        .lines()
        .find_map(|l| l.strip_prefix("piranha_process_resident_memory_bytes{daemon=\"lvsd\"} "))
        .and_then(|v| v.parse::<f64>().ok());
    assert!(rss.is_some_and(|b| b > 100_000.0), "{metrics}");
    let (code, _, page) = http_get(at, "/");
    assert_eq!(code, 200);
    assert!(
        page.contains("<h2>web <small>TCP 192.0.2.1:80 · rr · nat</small>"),
        "{page}"
    );
    // Rendered by a browser, on a phone's width: the rows are there (grey "unknown"
    // badges: no nanny with --test-start) and nothing is red.
    let png = screenshot(&format!("http://127.0.0.1:{port}/"), 412, 700);
    let grey = pixels_near(&png, (0x75, 0x75, 0x75), 8);
    assert!(grey > 200, "{grey} grey pixels");
    assert_eq!(pixels_near(&png, status_view::page::RED, 8), 0);
    // Moved by a reload; the old port closes.
    let port2 = free_port();
    std::fs::write(
        d.join("lvs.cf"),
        format!("status_http = 127.0.0.1:{port2}\n{CF}"),
    )
    .unwrap();
    l.signal(libc::SIGHUP);
    l.wait_for(
        &format!("status page and metrics on http://127.0.0.1:{port2}/"),
        5,
    );
    let at2: std::net::SocketAddr = format!("127.0.0.1:{port2}").parse().unwrap();
    assert_eq!(http_get(at2, "/status.json").0, 200);
    assert!(
        std::net::TcpStream::connect(at).is_err(),
        "the old port is closed"
    );
    // Turned off by a reload.
    std::fs::write(d.join("lvs.cf"), CF).unwrap();
    l.signal(libc::SIGHUP);
    l.wait_for(
        &format!("status page and metrics no longer on http://127.0.0.1:{port2}/"),
        5,
    );
    assert!(
        std::net::TcpStream::connect(at2).is_err(),
        "still listening on {at2}"
    );
}

#[test]
fn lvsd_started_by_pulse_leaves_the_listener_to_pulse() {
    let d = TempDir::new("lvsctl-http-pulse");
    let port = free_port();
    std::fs::write(d.join("lvs.cf"), format!("status_http = {port}\n{CF}")).unwrap();
    let l = Daemon::spawn(
        Command::new(lvsd_bin())
            .args(["-n", "--test-start", "-c"])
            .arg(d.join("lvs.cf"))
            .arg("--pidfile")
            .arg(d.join("lvs.pid"))
            .env(status_view::http::PULSE_SOCKET_ENV, d.join("pulse.sock")),
    );
    l.wait_for("starting virtual service", 5);
    std::thread::sleep(Duration::from_millis(500));
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    assert!(
        !l.printed().iter().any(|line| line.contains("status page")),
        "{:?}",
        l.printed()
    );
}

/// A director pair's file with this serial_no (pulse's checks need a primary).
fn pair_cf(serial: u32) -> String {
    CF.replace(
        "serial_no = 1\n",
        &format!("serial_no = {serial}\nprimary = 192.0.2.10\n"),
    )
}

/// `lvsctl receive-config FILE --pidfile=...` with `file` on stdin, framed as pulse
/// sends it.
fn receive(d: &TempDir, file: &[u8]) -> (i32, String) {
    receive_stream(d, &lvscf::transfer::frame(file))
}

/// The same with `stream` on stdin as it is.
fn receive_stream(d: &TempDir, stream: &[u8]) -> (i32, String) {
    let out = testbed::tools::run(
        Command::new(env!("CARGO_BIN_EXE_lvsctl"))
            .arg("receive-config")
            .arg(d.join("lvs.cf"))
            .arg(format!("--pidfile={}", d.join("pulse.pid").display())),
        Some(stream),
        Duration::from_secs(20),
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    )
}

#[test]
fn receive_config_checks_refuses_older_keeps_the_previous_copy_and_reloads() {
    use std::os::unix::fs::PermissionsExt;
    let d = TempDir::new("lvsctl-receive");
    let cf = pair_cf;
    std::fs::write(d.join("lvs.cf"), cf(5)).unwrap();
    std::fs::set_permissions(d.join("lvs.cf"), std::fs::Permissions::from_mode(0o600)).unwrap();
    // A stand-in pulse that notes SIGHUP, once it is ready to (a SIGHUP before its trap
    // is set would end it instead).
    let (hup, ready) = (d.join("hup"), d.join("ready"));
    let pulse = Daemon::spawn(Command::new("sh").arg("-c").arg(format!(
        "trap 'echo hup >> {}' HUP; touch {}; while :; do sleep 0.05; done",
        hup.display(),
        ready.display()
    )));
    assert!(
        testbed::eventually(5, || ready.exists()),
        "the stand-in started"
    );
    let pulse_pid = pulse.child.id();
    // Its pid file, held as a running daemon holds it.
    let held = daemon::pidfile::PidFile::lock(&d.join("pulse.pid")).unwrap();
    std::fs::write(d.join("pulse.pid"), format!("{pulse_pid}\n")).unwrap();
    // Not newer, or the same: refused (2), nothing changed.
    for serial in [4, 5] {
        let (code, said) = receive(&d, cf(serial).as_bytes());
        assert_eq!(code, 2, "{said}");
        assert_eq!(
            said,
            format!("refused: serial_no {serial} is not newer than ours (5)")
        );
    }
    // Not valid: refused with the error and its line.
    let (code, said) = receive(&d, b"serial_no = 9\nvirtual web {\n port = x\n");
    assert_eq!(code, 2);
    assert!(
        said.starts_with("refused: ") && said.contains("(received):"),
        "{said}"
    );
    assert_eq!(std::fs::read_to_string(d.join("lvs.cf")).unwrap(), cf(5));
    assert!(!d.join("lvs.cf.prev").exists());
    // Newer: installed, the previous copy kept, the mode kept, pulse told.
    let (code, said) = receive(&d, cf(6).as_bytes());
    assert_eq!(code, 0, "{said}");
    assert_eq!(
        said,
        format!("installed serial_no 6 (was 5); pulse (pid {pulse_pid}) told to reload")
    );
    assert_eq!(std::fs::read_to_string(d.join("lvs.cf")).unwrap(), cf(6));
    assert_eq!(
        std::fs::read_to_string(d.join("lvs.cf.prev")).unwrap(),
        cf(5)
    );
    let mode = |f: &str| std::fs::metadata(d.join(f)).unwrap().permissions().mode() & 0o777;
    assert_eq!((mode("lvs.cf"), mode("lvs.cf.prev")), (0o600, 0o600));
    assert!(testbed::eventually(5, || hup.exists()), "pulse got SIGHUP");
    drop(pulse);
    // Nothing runs: installed all the same, and said so; an endless input is cut.
    let (code, said) = receive(&d, cf(7).as_bytes());
    assert_eq!(code, 0);
    assert!(
        said.ends_with("the file is read at their next start"),
        "{said}"
    );
    let (code, said) = receive(&d, &vec![b'#'; 17 << 20]);
    assert_eq!(code, 2);
    assert!(said.contains("larger than the 16 MiB limit"), "{said}");
    drop(held);
}

#[test]
fn receive_config_installs_only_a_whole_transfer_and_signals_only_a_held_pid_file() {
    let d = TempDir::new("lvsctl-receive-cut");
    let cf = pair_cf;
    std::fs::write(d.join("lvs.cf"), cf(5)).unwrap();
    // A stale pid file naming a live process that is not pulse (a reused pid).
    let bystander = Daemon::spawn(Command::new("sh").arg("-c").arg(format!(
        "trap 'echo hup >> {}' HUP; while :; do sleep 0.05; done",
        d.join("hup").display()
    )));
    std::fs::write(d.join("pulse.pid"), format!("{}\n", bystander.child.id())).unwrap();
    // The stream cut after the first virtual block, its serial_no newer: not installed,
    // and exit 1, so that pulse sends it again.
    let whole = cf(6);
    let cut_at = whole.find("}\n").unwrap() + 2;
    let stream = lvscf::transfer::frame(whole.as_bytes());
    let header = stream.len() - whole.len();
    let (code, said) = receive_stream(&d, &stream[..header + cut_at]);
    assert_eq!(code, 1, "{said}");
    assert_eq!(
        said,
        format!(
            "not installed: the transfer was cut: {cut_at} of {} bytes arrived",
            whole.len()
        )
    );
    assert_eq!(std::fs::read_to_string(d.join("lvs.cf")).unwrap(), cf(5));
    // Unframed (an older pulse): refused for good.
    let (code, said) = receive_stream(&d, whole.as_bytes());
    assert_eq!(code, 2);
    assert!(said.starts_with("refused: no transfer header"), "{said}");
    // The whole file, sent again: installed; the bystander is left alone.
    let (code, said) = receive(&d, whole.as_bytes());
    assert_eq!(code, 0, "{said}");
    assert!(said.contains("no pulse or lvsd runs here"), "{said}");
    assert_eq!(std::fs::read_to_string(d.join("lvs.cf")).unwrap(), cf(6));
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !d.join("hup").exists(),
        "a stale pid file's process got SIGHUP"
    );
    drop(bystander);
}

#[test]
fn receive_config_follows_a_trusted_symlink_and_refuses_a_planted_one() {
    use std::os::unix::fs::{symlink, PermissionsExt};
    let d = TempDir::new("lvsctl-receive-link");
    let cf = pair_cf;
    let real = d.join("real");
    std::fs::create_dir(&real).unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(real.join("lvs.cf"), cf(5)).unwrap();
    symlink(real.join("lvs.cf"), d.join("lvs.cf")).unwrap();
    let (code, said) = receive(&d, cf(6).as_bytes());
    assert_eq!(code, 0, "{said}");
    assert!(std::fs::symlink_metadata(d.join("lvs.cf"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read_to_string(real.join("lvs.cf")).unwrap(), cf(6));
    assert_eq!(
        std::fs::read_to_string(real.join("lvs.cf.prev")).unwrap(),
        cf(5)
    );
    // The target's directory writable by anyone: the link may have been planted.
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o777)).unwrap();
    let (code, said) = receive(&d, cf(7).as_bytes());
    assert_eq!(code, 2);
    assert!(said.contains("not followed"), "{said}");
    assert_eq!(std::fs::read_to_string(real.join("lvs.cf")).unwrap(), cf(6));
}
