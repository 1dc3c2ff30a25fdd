//! Helpers for the tests: [`daemon`] (a daemon under test, temporary directories) for
//! host and VM tests alike, and the rest for the real-kernel tests, which run in the VM
//! test bed (`tests/vm/run-tests`).
//!
//! Each test gets its own network namespace, so each has its own IPVS table and tests
//! run in parallel without seeing each other. The namespace is entered by the test's
//! thread only (setns), so the `Ipvs` opened there acts on it; `ipvsadm` runs in it
//! through `ip netns exec` as an independent witness.

pub(crate) mod daemon;
pub mod lan;
pub mod tools;

pub use daemon::{signal, Daemon, TempDir};

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// A named network namespace, entered by the current thread; removed on drop.
pub struct TestNs {
    pub name: String,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl TestNs {
    pub fn enter(label: &str) -> TestNs {
        assert!(
            std::env::var_os("PIRANHA_VM").is_some(),
            "real-kernel test: run it in the IPVS test VM (tests/vm/run-tests)"
        );
        let name = format!(
            "t{}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst),
            label
        );
        let name: String = name.chars().take(40).collect();
        sh(&["ip", "netns", "add", &name]);
        enter_netns(&name);
        let ns = TestNs { name };
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    /// Runs a command in the namespace; panics with its output if it fails.
    pub fn exec(&self, args: &[&str]) -> String {
        let mut full = vec!["ip", "netns", "exec", &self.name];
        full.extend_from_slice(args);
        sh(&full)
    }

    /// `ipvsadm -Ln` in the namespace, parsed.
    pub fn ipvsadm(&self) -> Witness {
        Witness::parse(&self.exec(&["ipvsadm", "-Ln"]))
    }
}

impl Drop for TestNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Moves the calling thread (only it) into the named network namespace.
pub(crate) fn enter_netns(name: &str) {
    let f = std::fs::File::open(format!("/run/netns/{name}")).expect("open netns");
    nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
}

/// Runs `program` with `args` to its end: its exit code and its standard error.
pub fn refusal(program: &str, args: &[&str]) -> (Option<i32>, String) {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Parses an address literal: `ip("10.0.0.1")`.
pub fn ip(s: &str) -> std::net::IpAddr {
    s.parse().expect("a valid IP address literal")
}

pub fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What `ipvsadm -Ln` shows, normalised: one line per service
/// (`TCP 10.0.0.1:80 wlc persistent 300`) and per destination
/// (`TCP 10.0.0.1:80 -> 10.0.1.1:80 Masq 1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Witness {
    pub header: String,
    pub lines: BTreeSet<String>,
}

impl Witness {
    pub fn parse(text: &str) -> Witness {
        let mut lines = BTreeSet::new();
        let mut header = String::new();
        let mut service = String::new();
        for l in text.lines() {
            if l.starts_with("IP Virtual Server") {
                header = l.to_string();
            } else if l.starts_with("Prot ") || l.trim_start().starts_with("-> RemoteAddress") {
            } else if let Some(rest) = l.trim_start().strip_prefix("-> ") {
                let f: Vec<&str> = rest.split_whitespace().collect();
                // addr:port forward weight active inactive
                lines.insert(format!("{service} -> {} {} {}", f[0], f[1], f[2]));
            } else if !l.trim().is_empty() {
                let f: Vec<&str> = l.split_whitespace().collect();
                service = format!("{} {}", f[0], f[1]);
                lines.insert(f.join(" "));
            }
        }
        Witness { header, lines }
    }

    pub fn services(&self) -> Vec<&String> {
        self.lines.iter().filter(|l| !l.contains(" -> ")).collect()
    }

    pub fn dests(&self) -> Vec<&String> {
        self.lines.iter().filter(|l| l.contains(" -> ")).collect()
    }

    pub fn has(&self, line: &str) -> bool {
        self.lines.contains(line)
    }

    pub fn assert_has(&self, lines: &[&str]) {
        for line in lines {
            assert!(
                self.has(line),
                "`{line}` missing from ipvsadm -Ln: {self:#?}"
            );
        }
    }
}

/// A real server: its own namespace, joined to the director's by a veth pair
/// (director side `10.<n>.0.1/24`, server side `10.<n>.0.2/24`).
pub struct RealServer {
    pub ns: String,
    pub addr: String,
    n: u8,
    children: Vec<std::process::Child>,
}

impl RealServer {
    pub fn new(director: &TestNs, n: u8) -> RealServer {
        let ns = format!("{}-rs{n}", director.name);
        sh(&["ip", "netns", "add", &ns]);
        let (vd, vr) = (format!("vd{n}"), format!("vr{n}"));
        director.exec(&[
            "ip", "link", "add", &vd, "type", "veth", "peer", "name", &vr, "netns", &ns,
        ]);
        director.exec(&["ip", "addr", "add", &format!("10.{n}.0.1/24"), "dev", &vd]);
        director.exec(&["ip", "link", "set", &vd, "up"]);
        let rs = RealServer {
            ns,
            addr: format!("10.{n}.0.2"),
            n,
            children: Vec::new(),
        };
        rs.exec(&["ip", "link", "set", "lo", "up"]);
        rs.exec(&["ip", "addr", "add", &format!("10.{n}.0.2/24"), "dev", &vr]);
        rs.exec(&["ip", "link", "set", &vr, "up"]);
        // NAT: replies go back through the director.
        rs.exec(&[
            "ip",
            "route",
            "add",
            "default",
            "via",
            &format!("10.{n}.0.1"),
        ]);
        rs
    }

    pub fn exec(&self, args: &[&str]) -> String {
        let mut full = vec!["ip", "netns", "exec", &self.ns];
        full.extend_from_slice(args);
        sh(&full)
    }

    /// Adds IPv6 to the link: director side `fd00:<n>::1/64`, server side
    /// `fd00:<n>::2/64` (no duplicate address detection, so usable at once), with the
    /// director as the default route. Returns the server's IPv6 address.
    pub fn add_ipv6(&self, director: &TestNs) -> String {
        let n = self.n;
        let (vd, vr) = (format!("vd{n}"), format!("vr{n}"));
        let (d, r) = (format!("fd00:{n}::1"), format!("fd00:{n}::2"));
        director.exec(&[
            "ip",
            "-6",
            "addr",
            "add",
            &format!("{d}/64"),
            "dev",
            &vd,
            "nodad",
        ]);
        self.exec(&[
            "ip",
            "-6",
            "addr",
            "add",
            &format!("{r}/64"),
            "dev",
            &vr,
            "nodad",
        ]);
        self.exec(&["ip", "-6", "route", "add", "default", "via", &d]);
        r
    }

    /// Starts an HTTP server (`python3 -m http.server`) on `port`; waits until it listens.
    /// `GET /` answers with the server's address, so a client can tell servers apart.
    pub fn start_http(&mut self, port: u16) {
        let addr = self.addr.clone();
        self.start_http_on(&addr, port);
    }

    /// [`RealServer::start_http`] on another of the server's addresses (IPv6).
    pub fn start_http_on(&mut self, addr: &str, port: u16) {
        let root = std::env::temp_dir().join(format!("{}-www", self.ns));
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("index.html"), &self.addr).unwrap();
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns,
                "python3",
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                addr,
                "--directory",
                root.to_str().unwrap(),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start python3 http.server");
        self.children.push(child);
        let shown = if addr.contains(':') {
            format!("[{addr}]:{port}")
        } else {
            format!("{addr}:{port}")
        };
        self.wait_listening(&["-Hltn"], &shown, "http server");
    }

    /// Starts an SCTP server on `port` that accepts associations and closes them;
    /// waits until it listens. (Creating the socket loads the kernel's sctp module.)
    pub fn start_sctp(&mut self, port: u16) {
        let script = format!(
            "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 132)\n\
             s.bind(('{}', {port}))\ns.listen(16)\nwhile True:\n    s.accept()[0].close()\n",
            self.addr
        );
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns, "python3", "-c", &script])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start the SCTP server");
        self.children.push(child);
        let shown = format!("{}:{port}", self.addr);
        self.wait_listening(&["-HlnS"], &shown, "SCTP server");
    }

    fn wait_listening(&self, ss_args: &[&str], shown: &str, what: &str) {
        for _ in 0..100 {
            let out = Command::new("ip")
                .args(["netns", "exec", &self.ns, "ss"])
                .args(ss_args)
                .output()
                .unwrap();
            if String::from_utf8_lossy(&out.stdout).contains(shown) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("{what} did not start on {shown}");
    }

    /// Stops every server started here.
    pub fn stop_all(&mut self) {
        for mut c in self.children.drain(..) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for RealServer {
    fn drop(&mut self) {
        self.stop_all();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

/// Polls `f` every 100 ms until it is true or `secs` pass; returns whether it became true.
pub fn eventually(secs: u64, f: impl FnMut() -> bool) -> bool {
    poll(
        std::time::Duration::from_secs(secs),
        std::time::Duration::from_millis(100),
        f,
    )
}

/// Polls `f` every 20 ms until it is true or `secs` (fractions allowed) pass: for the
/// sub-second timings of the HA tests.
pub fn within(secs: f64, f: impl FnMut() -> bool) -> bool {
    poll(
        std::time::Duration::from_secs_f64(secs),
        std::time::Duration::from_millis(20),
        f,
    )
}

fn poll(
    limit: std::time::Duration,
    every: std::time::Duration,
    mut f: impl FnMut() -> bool,
) -> bool {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(every);
    }
    f()
}

/// A client: its own namespace behind the director (`10.200.0.2`, default route via the
/// director's `10.200.0.1`), which forwards. The VIPs are the director's to configure.
pub struct Client {
    pub ns: String,
}

impl Client {
    pub fn new(director: &TestNs) -> Client {
        let ns = format!("{}-cl", director.name);
        sh(&["ip", "netns", "add", &ns]);
        director.exec(&[
            "ip", "link", "add", "vdc", "type", "veth", "peer", "name", "vc", "netns", &ns,
        ]);
        director.exec(&["ip", "addr", "add", "10.200.0.1/24", "dev", "vdc"]);
        director.exec(&["ip", "link", "set", "vdc", "up"]);
        director.exec(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
        let c = Client { ns };
        for args in [
            &["ip", "link", "set", "lo", "up"][..],
            &["ip", "addr", "add", "10.200.0.2/24", "dev", "vc"],
            &["ip", "link", "set", "vc", "up"],
            &["ip", "route", "add", "default", "via", "10.200.0.1"],
        ] {
            let mut full = vec!["ip", "netns", "exec", &c.ns];
            full.extend_from_slice(args);
            sh(&full);
        }
        c
    }

    /// One request; the body, or None if it failed.
    pub fn get(&self, url: &str) -> Option<String> {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.ns, "curl", "-sf", "-m", "3", url])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Starts requesting `url` one request after the other for `secs` seconds.
    pub fn start_loop(&self, url: &str, secs: f64) -> ClientLoop {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns, "python3", "-c", CLIENT_LOOP, url])
            .arg(secs.to_string())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start the client loop");
        ClientLoop { child }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

/// Requests in a loop; prints `{"ok": n, "failed": n, "hits": {body: n}, "errors": [...]}`.
const CLIENT_LOOP: &str = r#"
import json, sys, time, urllib.request
url, secs = sys.argv[1], float(sys.argv[2])
ok, failed, hits, errors = 0, 0, {}, []
end = time.time() + secs
while time.time() < end:
    try:
        body = urllib.request.urlopen(url, timeout=3).read().decode()
        ok += 1
        hits[body] = hits.get(body, 0) + 1
    except Exception as e:
        failed += 1
        errors.append(f"{time.time():.3f} {e}")
print(json.dumps({"ok": ok, "failed": failed, "hits": hits, "errors": errors[:10]}))
"#;

/// A running request loop.
pub struct ClientLoop {
    child: std::process::Child,
}

/// What a request loop saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hits {
    pub ok: u64,
    pub failed: u64,
    /// Answers per body (the real server's address).
    pub by_server: std::collections::BTreeMap<String, u64>,
    pub errors: Vec<String>,
}

impl ClientLoop {
    /// Waits for the loop to end and returns its counts.
    pub fn finish(self) -> Hits {
        let out = self.child.wait_with_output().expect("client loop");
        let text = String::from_utf8_lossy(&out.stdout);
        let v: serde_json::Value =
            serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"));
        Hits {
            ok: v["ok"].as_u64().unwrap(),
            failed: v["failed"].as_u64().unwrap(),
            by_server: v["hits"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, n)| (k.clone(), n.as_u64().unwrap()))
                .collect(),
            errors: v["errors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e.as_str().unwrap_or_default().to_string())
                .collect(),
        }
    }
}
