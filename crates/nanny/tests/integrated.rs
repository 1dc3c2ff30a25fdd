//! The integrated monitors on this host, on loopback, with `--test-start` (IPVS is not
//! touched; the VM tests cover the table): each monitor takes a nanny command line and
//! reports as that nanny would, signals act as on a nanny, and a server that never
//! answers, or a check program that hangs, delays no other server's probe.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use daemon::process::ExitStatus;
use nanny::integrated::{Monitors, Report, FIRST_ID};
use nanny::spec::MonitorSpec;

/// The monitor of this nanny command line (`argv`'s).
fn spec(port: u16, extra: &[&str]) -> MonitorSpec {
    MonitorSpec::from_argv(&argv(port, extra)).unwrap()
}

/// A nanny command line for a real server on 127.0.0.1:`port`, probed every second.
fn argv(port: u16, extra: &[&str]) -> Vec<String> {
    let port = port.to_string();
    let mut a = vec![
        "nanny",
        "-c",
        "-h",
        "127.0.0.1",
        "-p",
        "81",
        "-r",
        &port,
        "-V",
        "192.0.2.1",
        "-t",
        "1",
        "-a",
        "1",
        "--test-start",
        "--lvs",
    ];
    a.extend_from_slice(extra);
    a.into_iter().map(String::from).collect()
}

/// Reports until `want` matches one, for at most `secs`; all of them.
fn wait_for(m: &Monitors, secs: f64, want: impl Fn(&Report) -> bool) -> Vec<Report> {
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let mut seen = Vec::new();
    while Instant::now() < end {
        let got = m.finished();
        let done = got.iter().any(&want);
        seen.extend(got);
        if done {
            return seen;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("not reported within {secs} s; saw {seen:?}");
}

/// A TCP server answering every connection with `answer` (or holding it silently).
fn server(answer: Option<&'static [u8]>) -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let l2 = l.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for mut c in l2.incoming().map_while(Result::ok) {
            match answer {
                Some(a) => {
                    let mut buf = [0u8; 256];
                    let _ = c.set_read_timeout(Some(Duration::from_millis(200)));
                    let _ = c.read(&mut buf);
                    let _ = c.write_all(a);
                }
                None => held.push(c),
            }
        }
    });
    (l, port)
}

#[test]
fn a_monitor_reports_as_its_nanny_and_stops_on_sigterm() {
    let mut m = Monitors::start().unwrap();
    let (_l, port) = server(Some(b"OK\n"));
    let id = m.spawn(spec(port, &["-s", "hello", "-x", "OK"]));
    assert!(id >= FIRST_ID && Monitors::owns(id));
    wait_for(&m, 5.0, |r| *r == Report::Status { id, active: true });
    m.signal(id, libc::SIGTERM);
    wait_for(&m, 5.0, |r| {
        *r == Report::Exited {
            id,
            status: ExitStatus::Code(0),
        }
    });
}

#[test]
fn a_server_that_goes_away_is_reported_inactive_and_back_active() {
    let mut m = Monitors::start().unwrap();
    // A port with nothing listening: refused at once.
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let id = m.spawn(spec(closed, &[]));
    // Never up: no report of "active"; the first report says inactive.
    let seen = wait_for(&m, 5.0, |r| matches!(r, Report::Status { .. }));
    assert!(
        seen.contains(&Report::Status { id, active: false }),
        "{seen:?}"
    );
    let l = TcpListener::bind(("127.0.0.1", closed)).unwrap();
    wait_for(&m, 5.0, |r| *r == Report::Status { id, active: true });
    drop(l);
    wait_for(&m, 5.0, |r| *r == Report::Status { id, active: false });
    m.signal(id, libc::SIGKILL);
    wait_for(
        &m,
        2.0,
        |r| matches!(r, Report::Exited { id: i, status: ExitStatus::Signal(9) } if *i == id),
    );
}

#[test]
fn silent_servers_and_hanging_checks_delay_no_other_probe() {
    let mut m = Monitors::start().unwrap();
    // Ten servers that accept and never answer (probes time out after 1 s each) and
    // ten check programs that hang until killed at their 1 s limit...
    let (_silent, silent_port) = server(None);
    for _ in 0..10 {
        m.spawn(spec(silent_port, &["-s", "x", "-x", "OK"]));
        m.spawn(spec(1, &["-e", "/bin/sleep 30"]));
    }
    // ...and one healthy server, which must still be seen at once and keep its schedule.
    let (_ok, ok_port) = server(Some(b"OK\n"));
    let id = m.spawn(spec(ok_port, &["-s", "hello", "-x", "OK"]));
    wait_for(&m, 3.0, |r| *r == Report::Status { id, active: true });
    std::thread::sleep(Duration::from_secs(3));
    let late = m
        .stats()
        .worst_lateness_us
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        late < 100_000,
        "a probe started {late} µs after its schedule"
    );
    let probes = m.stats().probes.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        probes >= 21 * 3,
        "only {probes} probes in about 4 s for 21 servers"
    );
}

#[test]
fn command_lines_that_need_a_process_are_not_taken() {
    let wrapper = spec(80, &["-I", "/usr/local/sbin/my-ipvsadm"]);
    assert!(
        !Monitors::accepts(&wrapper),
        "an -I wrapper blocks: it keeps its process"
    );
    let mut fos = argv(80, &[]);
    fos.retain(|a| a != "--lvs");
    fos.push("--fos".into());
    assert!(!Monitors::accepts(&MonitorSpec::from_argv(&fos).unwrap()));
    assert!(Monitors::accepts(&spec(80, &[])));
    // A command line nanny refuses is no monitor at all.
    assert!(MonitorSpec::from_argv(&["nanny".to_string(), "--bogus".to_string()]).is_err());
}

/// A trace's decisions: each event whose actions change something (probes and debug
/// lines aside), with those actions; a step repeated at once counts once, since the two
/// monitors' probes fall at other times.
fn steps(trace: &std::path::Path) -> Vec<(serde_json::Value, Vec<serde_json::Value>)> {
    let lines = daemon::trace::read(trace).unwrap_or_else(|e| panic!("{}: {e}", trace.display()));
    let mut steps: Vec<(serde_json::Value, Vec<serde_json::Value>)> = Vec::new();
    for l in lines {
        let actions: Vec<serde_json::Value> = l
            .actions
            .and_then(|a| a.as_array().cloned())
            .unwrap_or_default()
            .into_iter()
            .filter(|a| *a != "Probe" && a["Monitor"].get("Debug").is_none())
            .collect();
        let step = (l.event, actions);
        if !step.1.is_empty() && steps.last() != Some(&step) {
            steps.push(step);
        }
    }
    steps
}

#[test]
fn the_integrated_and_the_process_monitor_take_the_same_steps() {
    let d = testbed::TempDir::new("monitor-steps");
    let up = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = up.local_addr().unwrap().port();
    // The same real server watched both ways, each recording its trace.
    let process_trace = d.join("process.jsonl");
    let mut process = std::process::Command::new(env!("CARGO_BIN_EXE_nanny"))
        .args(&argv(port, &["--nodaemon"])[1..])
        .env(daemon::trace::TRACE_ENV, &process_trace)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut m = Monitors::start_traced(Some(d.path().to_path_buf())).unwrap();
    let id = m.spawn(spec(port, &[]));
    wait_for(&m, 5.0, |r| *r == Report::Status { id, active: true });
    std::thread::sleep(Duration::from_millis(1500));
    drop(up);
    wait_for(&m, 5.0, |r| *r == Report::Status { id, active: false });
    std::thread::sleep(Duration::from_millis(1500));
    testbed::signal(process.id(), libc::SIGTERM);
    m.signal(id, libc::SIGTERM);
    wait_for(
        &m,
        5.0,
        |r| matches!(r, Report::Exited { id: i, .. } if *i == id),
    );
    assert_eq!(process.wait().unwrap().code(), Some(0));
    let integrated = steps(&d.join(&format!("127.0.0.1:{port}.jsonl")));
    let by_process = steps(&process_trace);
    let said = |want: &str| {
        integrated
            .iter()
            .any(|(_, a)| a.contains(&serde_json::from_str::<serde_json::Value>(want).unwrap()))
    };
    assert!(
        said(r#"{"Report":true}"#) && said(r#"{"Report":false}"#),
        "{integrated:?}"
    );
    assert!(said(r#"{"Monitor":{"Exit":"Done"}}"#), "{integrated:?}");
    assert_eq!(integrated, by_process);
}
