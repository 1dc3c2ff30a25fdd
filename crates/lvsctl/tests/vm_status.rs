//! `lvsctl status` against lvsd on a real kernel (VM test bed, tests/vm/run-tests): after
//! real traffic, its figures are the kernel's, with `ipvsadm -Ln --stats --exact` as the
//! independent witness.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;
use testbed::{eventually, Client, Daemon, RealServer, TempDir, TestNs};

fn sibling(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_lvsctl")).with_file_name(name)
}

fn server(name: &str, addr: &str, weight: u32) -> String {
    format!(
        "  server {name} {{\n    address = {addr}\n    active = 1\n    weight = {weight}\n  }}\n"
    )
}

/// `ipvsadm -Ln --stats --exact` as {destination: [conns, inpkts, outpkts, inbytes, outbytes]}.
fn witness(ns: &TestNs) -> Vec<(String, Vec<u64>)> {
    ns.exec(&["ipvsadm", "-Ln", "--stats", "--exact"])
        .lines()
        .filter_map(|l| l.trim().strip_prefix("-> "))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let n: Vec<u64> = f[1..].iter().filter_map(|x| x.parse().ok()).collect();
            (n.len() == 5).then(|| (f[0].to_string(), n))
        })
        .collect()
}

#[test]
#[ignore = "needs the IPVS test VM: tests/vm/run-tests"]
fn status_figures_are_the_kernels() {
    let ns = TestNs::enter("lvsctl-status");
    let mut servers = vec![RealServer::new(&ns, 1), RealServer::new(&ns, 2)];
    for s in &mut servers {
        s.start_http(80);
    }
    ns.exec(&["ip", "addr", "add", "192.0.2.1/32", "dev", "lo"]);
    let client = Client::new(&ns);
    let dir = TempDir::new("lvsctl-vm");
    let cf = format!(
        "serial_no = 1\nservice = lvs\nnetwork = nat\nvirtual web {{\n  active = 1\n  \
         address = 192.0.2.1 eth0:1\n  port = 80\n  scheduler = rr\n  timeout = 1\n  \
         reentry = 1\n  send = \"GET / HTTP/1.0\\r\\n\\r\\n\"\n  expect = \"HTTP/1.0 200\"\n  \
         client_monitor = {}\n{}{}}}\n",
        sibling("nanny").display(),
        server("a", "10.1.0.2", 1),
        server("b", "10.2.0.2", 1)
    );
    std::fs::write(dir.join("lvs.cf"), cf).unwrap();
    let _lvsd = Daemon::spawn(
        Command::new(sibling("lvsd"))
            .args(["-n", "-c"])
            .arg(dir.join("lvs.cf"))
            .arg("--pidfile")
            .arg(dir.join("lvs.pid")),
    );
    assert!(
        eventually(15, || witness(&ns).len() == 2),
        "{:?}",
        witness(&ns)
    );
    for _ in 0..20 {
        assert!(client.get("http://192.0.2.1/").is_some());
    }
    let status = || -> Value {
        let out = Command::new(env!("CARGO_BIN_EXE_lvsctl"))
            .args(["status", "--json"])
            .arg(format!("--lvsd-socket={}", dir.join("lvs.sock").display()))
            .arg(format!(
                "--pulse-socket={}",
                dir.join("none.sock").display()
            ))
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap()
    };
    // The kernel folds its per-CPU counters into the totals every 2 s (its estimator):
    // wait until all 20 connections are counted, then compare.
    let counted = |v: &Value| v["lvsd"]["services"][0]["stats"]["connections"].as_u64();
    assert!(eventually(10, || counted(&status()) == Some(20)), "{}", status());
    let v = status();
    let service = &v["lvsd"]["services"][0];
    let seen = witness(&ns);
    let mut total = 0;
    for rs in service["real_servers"].as_array().unwrap() {
        let addr = rs["address"].as_str().unwrap();
        let (_, kernel) = seen.iter().find(|(d, _)| d == addr).expect("in the table");
        let s = &rs["kernel"]["stats"];
        let ours = [
            s["connections"].as_u64().unwrap(),
            s["packets_in"].as_u64().unwrap(),
            s["packets_out"].as_u64().unwrap(),
            s["bytes_in"].as_u64().unwrap(),
            s["bytes_out"].as_u64().unwrap(),
        ];
        assert_eq!(&ours[..], &kernel[..], "{addr}: {rs}");
        assert_eq!(rs["health"], "up", "{rs}");
        assert_eq!(rs["kernel"]["weight"], 1);
        total += ours[0];
    }
    assert_eq!(total, 20, "rr: every request counted once");
    assert_eq!(
        service["stats"]["connections"].as_u64(),
        Some(20),
        "{service}"
    );
    // The one-screen text shows the same connection counts.
    let out = Command::new(env!("CARGO_BIN_EXE_lvsctl"))
        .arg("status")
        .arg(format!("--lvsd-socket={}", dir.join("lvs.sock").display()))
        .arg(format!(
            "--pulse-socket={}",
            dir.join("none.sock").display()
        ))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for (name, addr) in [("a", "10.1.0.2:80"), ("b", "10.2.0.2:80")] {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{text}"));
        let cols: Vec<&str> = line.split_whitespace().collect();
        let conns = seen.iter().find(|(d, _)| d == addr).unwrap().1[0].to_string();
        assert_eq!(
            (cols[1], cols[2], cols[8].to_string()),
            (addr, "up", conns),
            "{text}"
        );
    }
}
