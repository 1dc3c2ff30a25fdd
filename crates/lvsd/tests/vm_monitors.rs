//! Integrated monitors (`integrated_monitors = 1`) against process nannies on a real
//! kernel (VM test bed, tests/vm/run-tests): the same scripted real-server failures and
//! recoveries, run once with a nanny process per server and once with every monitor
//! inside lvsd, give the same sequence of IPVS tables (`ipvsadm -Ln` as the witness) and
//! the same monitor log lines.

use std::path::Path;
use std::process::Command;

use testbed::{eventually, Daemon, RealServer, TempDir, TestNs};

fn nanny_path() -> String {
    Path::new(env!("CARGO_BIN_EXE_lvsd"))
        .with_file_name("nanny")
        .display()
        .to_string()
}

/// Two services: `web` (two servers) and `quiet` (quiesce_server: a
/// failed server stays with weight 0); probes every second, re-entry after one.
fn config(integrated: bool) -> String {
    let server = |name: &str, n: u8, weight: u32| {
        format!("  server {name} {{\n    address = 10.{n}.0.2\n    active = 1\n    weight = {weight}\n  }}\n")
    };
    let virt = |name: &str, vip: &str, extra: &str, servers: String| {
        let label = vip.rsplit('.').next().unwrap_or("1");
        format!(
            "virtual {name} {{\n  active = 1\n  address = {vip} eth0:{label}\n  port = 80\n  \
             send = \"GET / HTTP/1.0\\r\\n\\r\\n\"\n  expect = \"HTTP/1.0 200\"\n  \
             scheduler = wlc\n  timeout = 1\n  reentry = 1\n  client_monitor = {}\n{extra}{servers}}}\n",
            nanny_path()
        )
    };
    format!(
        "serial_no = 1\nservice = lvs\nnetwork = nat\nintegrated_monitors = {}\n{}{}",
        u8::from(integrated),
        virt(
            "web",
            "192.0.2.1",
            "",
            server("a", 1, 1) + &server("b", 2, 1)
        ),
        virt(
            "quiet",
            "192.0.2.2",
            "  quiesce_server = 1\n",
            server("c", 3, 1)
        ),
    )
}

/// The table's destinations, sorted.
fn table(ns: &TestNs) -> Vec<String> {
    let mut d: Vec<String> = ns.ipvsadm().dests().into_iter().cloned().collect();
    d.sort();
    d
}

const A: &str = "TCP 192.0.2.1:80 -> 10.1.0.2:80 Masq 1";
const B: &str = "TCP 192.0.2.1:80 -> 10.2.0.2:80 Masq 1";
const C: &str = "TCP 192.0.2.2:80 -> 10.3.0.2:80 Masq 1";
const C_QUIESCED: &str = "TCP 192.0.2.2:80 -> 10.3.0.2:80 Masq 0";

/// Runs the script; the table after each step and the monitors' log lines (without the
/// `nanny:`/`lvs:` prefix).
fn run(label: &str, integrated: bool) -> (Vec<Vec<String>>, Vec<String>) {
    let ns = TestNs::enter(label);
    let mut rs: Vec<RealServer> = (1..=3).map(|n| RealServer::new(&ns, n)).collect();
    for r in &mut rs {
        r.start_http(80);
    }
    let dir = TempDir::new(label);
    std::fs::write(dir.join("lvs.cf"), config(integrated)).unwrap();
    let mut lvsd = Daemon::spawn(
        Command::new(env!("CARGO_BIN_EXE_lvsd"))
            .args(["-n", "-c"])
            .arg(dir.join("lvs.cf"))
            .arg("--pidfile")
            .arg(dir.join("lvs.pid")),
    );
    let steps: Vec<(&str, Vec<&str>)> = vec![
        ("start", vec![A, B, C]),
        ("b down", vec![A, C]),
        ("c down", vec![A, C_QUIESCED]),
        ("b up", vec![A, B, C_QUIESCED]),
        ("c up", vec![A, B, C]),
    ];
    let mut seen = Vec::new();
    for (i, (step, want)) in steps.iter().enumerate() {
        match i {
            1 => rs[1].stop_all(),
            2 => rs[2].stop_all(),
            3 => rs[1].start_http(80),
            4 => rs[2].start_http(80),
            _ => {}
        }
        let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert!(
            eventually(15, || table(&ns) == want),
            "{label}, after {step}: {:?}, not {want:?}",
            table(&ns)
        );
        seen.push(table(&ns));
    }
    if integrated {
        // No nanny process: the monitors' ids are no pids.
        let lines = lvsd.printed();
        let ids: Vec<u32> = lines
            .iter()
            .filter_map(|l| l.split("running as pid ").nth(1)?.parse().ok())
            .collect();
        assert_eq!(ids.len(), 3, "{lines:#?}");
        assert!(
            ids.iter().all(|id| *id >= nanny::integrated::FIRST_ID),
            "{ids:?}"
        );
    }
    lvsd.signal(libc::SIGTERM);
    assert_eq!(lvsd.wait(), Some(0));
    seen.push(table(&ns));
    let monitor_lines = lvsd
        .printed()
        .iter()
        .filter_map(|l| {
            l.strip_prefix("nanny: ")
                .or_else(|| l.strip_prefix("lvs: "))
        })
        .filter(|l| l.starts_with('[') || l.starts_with("starting LVS client monitor"))
        .map(str::to_string)
        .collect();
    (seen, monitor_lines)
}

#[test]
#[ignore = "needs the IPVS test VM: tests/vm/run-tests"]
fn integrated_monitors_change_ipvs_exactly_as_nanny_processes_do() {
    let (processes, process_lines) = run("mon-proc", false);
    let (integrated, integrated_lines) = run("mon-int", true);
    assert_eq!(processes, integrated);
    assert_eq!(
        processes.last(),
        Some(&Vec::new()),
        "shutdown empties the table"
    );
    // The same monitor lines (order differs between servers, not within one).
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(sorted(process_lines.clone()), sorted(integrated_lines));
    for needle in [
        "[inactive] shutting down 10.2.0.2:80 due to connection failure",
        "[ active ] making 10.2.0.2:80 available",
        "starting LVS client monitor for 192.0.2.1:80 -> 10.2.0.2:80",
    ] {
        assert!(
            process_lines.iter().any(|l| l == needle),
            "{process_lines:#?}"
        );
    }
}
