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

/// Two real servers (a 10.1.0.2, b 10.2.0.2) behind lvsd's `web` (rr, VIP 192.0.2.1 on
/// lo), a client, and lvsd with both in the table.
struct Bed {
    ns: TestNs,
    servers: Vec<RealServer>,
    client: Client,
    dir: TempDir,
    _lvsd: Daemon,
}

impl Bed {
    fn new(label: &str) -> Bed {
        Bed::with(label, "")
    }

    /// With `global` lines added to lvs.cf.
    fn with(label: &str, global: &str) -> Bed {
        let ns = TestNs::enter(label);
        let mut servers = vec![RealServer::new(&ns, 1), RealServer::new(&ns, 2)];
        for s in &mut servers {
            s.start_http(80);
        }
        ns.exec(&["ip", "addr", "add", "192.0.2.1/32", "dev", "lo"]);
        let client = Client::new(&ns);
        let dir = TempDir::new(label);
        let cf = format!(
            "serial_no = 1\nservice = lvs\nnetwork = nat\n{global}virtual web {{\n  active = 1\n  \
         address = 192.0.2.1 eth0:1\n  port = 80\n  scheduler = rr\n  timeout = 1\n  \
         reentry = 1\n  send = \"GET / HTTP/1.0\\r\\n\\r\\n\"\n  expect = \"HTTP/1.0 200\"\n  \
         client_monitor = {}\n{}{}}}\n",
            sibling("nanny").display(),
            server("a", "10.1.0.2", 1),
            server("b", "10.2.0.2", 1)
        );
        std::fs::write(dir.join("lvs.cf"), cf).unwrap();
        let lvsd = Daemon::spawn(
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
        Bed {
            ns,
            servers,
            client,
            dir,
            _lvsd: lvsd,
        }
    }

    fn lvsctl(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_lvsctl"))
            .args(args)
            .arg(format!(
                "--lvsd-socket={}",
                self.dir.join("lvs.sock").display()
            ))
            .output()
            .unwrap()
    }
}

#[test]
#[ignore = "needs the IPVS test VM: tests/vm/run-tests"]
fn status_figures_are_the_kernels() {
    let bed = Bed::new("lvsctl-status");
    let (ns, client) = (&bed.ns, &bed.client);
    for _ in 0..20 {
        assert!(client.get("http://192.0.2.1/").is_some());
    }
    let status = || -> Value {
        let out = bed.lvsctl(&["status", "--json", "--pulse-socket=/nonexistent"]);
        serde_json::from_slice(&out.stdout).unwrap()
    };
    // The kernel folds its per-CPU counters into the totals every 2 s (its estimator):
    // wait until all 20 connections are counted, then compare.
    let counted = |v: &Value| v["lvsd"]["services"][0]["stats"]["connections"].as_u64();
    assert!(
        eventually(10, || counted(&status()) == Some(20)),
        "{}",
        status()
    );
    let v = status();
    let service = &v["lvsd"]["services"][0];
    let seen = witness(ns);
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
    let out = bed.lvsctl(&["status", "--pulse-socket=/nonexistent"]);
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
    // The metrics carry the same counters.
    let metrics = String::from_utf8_lossy(
        &bed.lvsctl(&["metrics", "--pulse-socket=/nonexistent"])
            .stdout,
    )
    .into_owned();
    for (name, addr) in [("a", "10.1.0.2:80"), ("b", "10.2.0.2:80")] {
        let conns = seen.iter().find(|(d, _)| d == addr).unwrap().1[0];
        let line = format!(
            "piranha_real_server_connections_total{{virtual=\"web\",server=\"{name}\",address=\"{addr}\"}} {conns}\n"
        );
        assert!(metrics.contains(&line), "{line} not in {metrics}");
    }
}

/// In the client's namespace: connects to the VIP at once, sends its request only when a
/// line arrives on stdin, then prints the answer's body (the real server's address).
const HELD: &str = "import socket,sys\ns=socket.create_connection(('192.0.2.1',80),timeout=20)\n\
print('connected',flush=True)\nsys.stdin.readline()\ns.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n')\n\
data=b''\nwhile True:\n    b=s.recv(4096)\n    if not b: break\n    data+=b\n\
print(data.split(b'\\r\\n\\r\\n',1)[1].decode(),flush=True)\n";

/// `ipvsadm -Ln` destinations as (address, weight, active, inactive).
fn table(ns: &TestNs) -> Vec<(String, u32, u32, u32)> {
    ns.exec(&["ipvsadm", "-Ln"])
        .lines()
        .filter_map(|l| l.trim().strip_prefix("-> "))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((
                f[0].to_string(),
                f[2].parse().ok()?,
                f[3].parse().ok()?,
                f[4].parse().ok()?,
            ))
        })
        .collect()
}

#[test]
#[ignore = "needs the IPVS test VM: tests/vm/run-tests"]
fn a_drained_server_finishes_its_connection_gets_no_new_ones_and_comes_back() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;
    let bed = Bed::new("lvsctl-drain");
    let mut held = Command::new("ip")
        .args(["netns", "exec", &bed.client.ns, "python3", "-c", HELD])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(held.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "connected");
    // The server holding the connection (rr: either) is the one drained.
    let mut holder = String::new();
    assert!(eventually(5, || {
        holder = table(&bed.ns)
            .into_iter()
            .find(|d| d.2 == 1)
            .map(|d| d.0)
            .unwrap_or_default();
        !holder.is_empty()
    }));
    let (name, other) = if holder == "10.1.0.2:80" {
        ("a", "10.2.0.2")
    } else {
        ("b", "10.1.0.2")
    };
    // A client loop across the drain: not one request fails.
    let across = bed.client.start_loop("http://192.0.2.1/", 3.0);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let out = bed.lvsctl(&["drain", "web", name]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("web/{name} drained\n")
    );
    // Weight 0 at once (its nanny restarted, the entry kept), the connection still there.
    assert!(
        eventually(10, || table(&bed.ns)
            .iter()
            .any(|d| d.0 == holder && d.1 == 0 && d.2 == 1)),
        "{:?}",
        table(&bed.ns)
    );
    let hits = across.finish();
    assert_eq!((hits.failed, hits.errors.len()), (0, 0), "{hits:?}");
    // New connections all go to the other server...
    let after = bed.client.start_loop("http://192.0.2.1/", 2.0).finish();
    assert_eq!(after.failed, 0, "{after:?}");
    assert!(after.ok >= 5, "{after:?}");
    assert_eq!(
        after.by_server.keys().collect::<Vec<_>>(),
        [other],
        "a new connection reached the drained server: {after:?}"
    );
    // ...and the held one finishes on the drained server.
    held.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    let body = lines.next().unwrap().unwrap();
    assert_eq!(body.trim(), holder.trim_end_matches(":80"));
    held.wait().unwrap();
    let status = bed.lvsctl(&["status", "--json", "--pulse-socket=/nonexistent"]);
    let v: Value = serde_json::from_slice(&status.stdout).unwrap();
    let rs = v["lvsd"]["services"][0]["real_servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap()
        .clone();
    assert_eq!(
        (rs["drained"].as_bool(), rs["kernel"]["weight"].as_u64()),
        (Some(true), Some(0))
    );
    // Enabled: weight 1 again, and it serves.
    let out = bed.lvsctl(&["enable", "web", name]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("web/{name} enabled\n")
    );
    assert!(
        eventually(10, || table(&bed.ns)
            .iter()
            .any(|d| d.0 == holder && d.1 == 1)),
        "{:?}",
        table(&bed.ns)
    );
    let bodies: Vec<String> = (0..4)
        .filter_map(|_| bed.client.get("http://192.0.2.1/"))
        .map(|b| b.trim().to_string())
        .collect();
    assert!(
        bodies.iter().any(|b| *b == holder.trim_end_matches(":80")),
        "{bodies:?}"
    );
}

/// The real server counters of `/metrics` as {address: [conns, inpkts, outpkts, inbytes,
/// outbytes]}, in the witness's layout.
fn scraped(metrics: &str) -> Vec<(String, Vec<u64>)> {
    let value = |name: &str, addr: &str, extra: &str| -> Option<u64> {
        let prefix = format!("{name}{{virtual=\"web\",");
        metrics
            .lines()
            .filter(|l| l.starts_with(&prefix))
            .filter(|l| l.contains(&format!("address=\"{addr}\"")) && l.contains(extra))
            .find_map(|l| l.rsplit(' ').next()?.parse().ok())
    };
    ["10.1.0.2:80", "10.2.0.2:80"]
        .iter()
        .filter_map(|a| {
            let n = [
                value("piranha_real_server_connections_total", a, "")?,
                value("piranha_real_server_packets_total", a, "direction=\"in\"")?,
                value("piranha_real_server_packets_total", a, "direction=\"out\"")?,
                value("piranha_real_server_bytes_total", a, "direction=\"in\"")?,
                value("piranha_real_server_bytes_total", a, "direction=\"out\"")?,
            ];
            Some((a.to_string(), n.to_vec()))
        })
        .collect()
}

#[test]
#[ignore = "needs the IPVS test VM: tests/vm/run-tests"]
fn metrics_and_the_status_page_over_http_on_a_real_table() {
    use status_view::page::{GREEN, RED};
    use testbed::tools::{http_get, pixels_near, promtool_check, screenshot};
    let mut bed = Bed::with("lvsctl-http", "status_http = 9180\n");
    let at: std::net::SocketAddr = "127.0.0.1:9180".parse().unwrap();
    for _ in 0..20 {
        assert!(bed.client.get("http://192.0.2.1/").is_some());
    }
    // Scraped over HTTP once the kernel's estimator has counted all 20 (every 2 s).
    let metrics = || http_get(at, "/metrics").2;
    let total = |m: &str| scraped(m).iter().map(|(_, n)| n[0]).sum::<u64>();
    assert!(eventually(10, || total(&metrics()) == 20), "{}", metrics());
    let m = metrics();
    promtool_check(&m).unwrap_or_else(|e| panic!("promtool: {e}\n{m}"));
    let mut ours = scraped(&m);
    let mut kernel = witness(&bed.ns);
    ours.sort();
    kernel.sort();
    assert_eq!(ours, kernel, "the scrape is the kernel's table");
    assert!(m.contains("piranha_real_server_health{virtual=\"web\",server=\"b\",address=\"10.2.0.2:80\",health=\"up\"} 1\n"), "{m}");
    // The page in a browser: both servers up, green; nothing red.
    let url = "http://127.0.0.1:9180/";
    let before = screenshot(url, 412, 600);
    assert!(pixels_near(&before, GREEN, 8) > 300, "two green badges");
    assert_eq!(
        pixels_near(&before, RED, 8),
        0,
        "nothing red while all are up"
    );
    // b goes down: its nanny says so, and its row turns red.
    bed.servers[1].stop_all();
    let down = "server=\"b\",address=\"10.2.0.2:80\",health=\"down\"} 1\n";
    assert!(eventually(15, || metrics().contains(down)), "{}", metrics());
    let after = screenshot(url, 412, 600);
    let red = pixels_near(&after, RED, 8);
    assert!(red > 150, "{red} red pixels once b is down");
    assert!(pixels_near(&after, GREEN, 8) > 100, "a still green");
    let (_, _, page) = http_get(at, "/");
    assert!(page.contains("<tr class=\"is-down\"><td>b</td>"), "{page}");
}
