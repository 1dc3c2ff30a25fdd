//! A director pair on a real kernel (VM test bed, tests/vm/run-tests): our pulse, lvsd and
//! nannies on two directors (tests/pair/topology.sh), three real servers behind NAT, and
//! a client requesting through the VIP every 10 ms across a failover (the active director
//! drops off the link) and a failback (the then active pulse is stopped).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use testbed::{eventually, Daemon, TempDir};

/// The director-pair tests take the VM one at a time: the two failover tests measure
/// the client's outage against the timers, run-tests runs four tests at once on the
/// VM's two emulated CPUs, and CI once saw the legacy-timer failover 53 ms over its
/// bound with its two neighbours busy.
static ALONE: Mutex<()> = Mutex::new(());

fn alone() -> MutexGuard<'static, ()> {
    // A test that failed holding it poisoned it; the next still runs alone.
    ALONE.lock().unwrap_or_else(|e| e.into_inner())
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn topology(args: &[&str]) {
    let out = Command::new("bash")
        .arg(repo().join("tests/pair/topology.sh"))
        .args(args)
        .output()
        .expect("run topology.sh");
    assert!(
        out.status.success(),
        "topology.sh {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn bin(name: &str) -> String {
    let p = Path::new(env!("CARGO_BIN_EXE_pulse")).with_file_name(name);
    assert!(p.exists(), "{} missing: cargo build --bins", p.display());
    p.display().to_string()
}

fn in_ns(prefix: &str, host: &str, args: &[&str]) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", &format!("{prefix}{host}")])
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// The topology, under a prefix of its own (the VM runs tests in parallel).
struct Pair(&'static str);

impl Pair {
    fn up(prefix: &'static str) -> Pair {
        assert!(
            std::env::var_os("PIRANHA_VM").is_some(),
            "real-kernel test: tests/vm/run-tests"
        );
        topology(&["down", prefix]);
        topology(&["up", prefix]);
        Pair(prefix)
    }

    fn cable(&self, host: &str, state: &str) {
        topology(&["cable", self.0, host, state]);
    }

    fn in_ns(&self, host: &str, args: &[&str]) -> String {
        in_ns(self.0, host, args)
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        topology(&["down", self.0]);
    }
}

/// The pair's lvs.cf (tests/pair/lvs-cf.sh).
fn lvs_cf(keepalive: &str, deadtime: &str, warm: bool) -> String {
    let out = Command::new("bash")
        .arg(repo().join("tests/pair/lvs-cf.sh"))
        .args([
            keepalive,
            deadtime,
            if warm { "1" } else { "0" },
            &bin("nanny"),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

struct Director {
    daemon: Option<Daemon>,
    prefix: &'static str,
    // Kept for the daemon's lifetime: its lvs.cf, pid files and ledger.
    _dir: TempDir,
    host: &'static str,
}

impl Director {
    fn start(pair: &Pair, host: &'static str, cf: &str) -> Director {
        let dir = TempDir::new(&format!("pair-{host}"));
        std::fs::write(dir.join("lvs.cf"), cf).unwrap();
        let mut cmd = common::pulse_in(&format!("{}{host}", pair.0), dir.path(), &bin("lvsd"));
        Director {
            daemon: Some(Daemon::spawn(&mut cmd)),
            prefix: pair.0,
            _dir: dir,
            host,
        }
    }

    fn d(&self) -> &Daemon {
        self.daemon.as_ref().unwrap()
    }

    fn table_full(&self) -> bool {
        let t = in_ns(self.prefix, self.host, &["ipvsadm", "-Ln"]);
        ["10.77.1.21:80", "10.77.1.22:80", "10.77.1.23:80"]
            .iter()
            .all(|rs| t.contains(rs))
    }
}

fn client_loop(pair: &Pair, secs: f64) -> std::process::Child {
    // Returned once its first request has started (tests/pair/client.py).
    let ready = std::env::temp_dir().join(format!("client-ready-{}-{secs}", pair.0));
    let _ = std::fs::remove_file(&ready);
    let child = Command::new("ip")
        .args([
            "netns",
            "exec",
            &format!("{}cl", pair.0),
            "python3",
            &repo().join("tests/pair/client.py").display().to_string(),
            "http://192.168.77.100/",
        ])
        .arg(secs.to_string())
        .arg("0.5")
        .env("CLIENT_READY_FILE", &ready)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        eventually(20, || ready.exists()),
        "the client did not start"
    );
    child
}

fn finish(c: std::process::Child) -> serde_json::Value {
    let out = c.wait_with_output().unwrap();
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// The client's outages; it must have recovered from each.
fn gaps_ms(v: &serde_json::Value) -> Vec<(f64, u64)> {
    assert_eq!(
        v["recovered"], true,
        "the client still failed at the end: {v}"
    );
    v["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g[0].as_f64().unwrap(), g[1].as_u64().unwrap()))
        .collect()
}

#[test]
#[ignore = "needs the IPVS test VM: tests/vm/run-tests"]
fn a_director_pair_serves_through_failover_and_failback() {
    let _alone = alone();
    let pair = Pair::up("pq");
    let cf = lvs_cf("1", "3", false);
    // The node started second becomes active: d2 first, then d1.
    let mut d2 = Director::start(&pair, "d2", &cf);
    d2.d().wait_for("STARTING PULSE AS BACKUP", 10);
    let d1 = Director::start(&pair, "d1", &cf);
    d1.d().wait_for("backup inactive: activating lvs", 10);
    assert!(
        eventually(15, || d1.table_full()),
        "{}",
        pair.in_ns("d1", &["ipvsadm", "-Ln"])
    );
    assert!(eventually(10, || pair
        .in_ns("cl", &["curl", "-s", "-m", "1", "http://192.168.77.100/"])
        .starts_with("rs")));
    // The sync daemons follow the roles.
    let daemons = |h| pair.in_ns(h, &["ipvsadm", "-L", "--daemon"]);
    assert!(
        eventually(5, || daemons("d1")
            .contains("master sync daemon (mcast=eth1, syncid=7")),
        "{}",
        daemons("d1")
    );
    assert!(
        daemons("d2").contains("backup sync daemon (mcast=eth1, syncid=7"),
        "{}",
        daemons("d2")
    );
    assert!(pair
        .in_ns("d1", &["ip", "addr", "show", "dev", "eth1"])
        .contains("10.77.1.254/24 brd 10.77.1.255 scope global secondary eth1:1"));

    // Failover: d1 drops off the link.
    let client = client_loop(&pair, 14.0);
    std::thread::sleep(Duration::from_secs(2));
    pair.cable("d1", "down");
    d1.d().wait_for("Local NIC link failure: Pulse disabled", 5);
    d2.d().wait_for("partner dead: activating lvs", 6);
    assert!(eventually(15, || d2.table_full()));
    let v = finish(client);
    let gaps = gaps_ms(&v);
    let worst = gaps.iter().map(|g| g.1).max().unwrap_or(0);
    println!("failover (keepalive 1, deadtime 3, cold lvsd): worst client gap {worst} ms; {v}");
    assert!(
        worst > 0 && worst <= 3000 + 2000,
        "gap {worst} ms: {gaps:?}"
    );
    let hits = v["hits"].as_object().unwrap();
    assert_eq!(hits.len(), 3, "every real server answered: {v}");
    assert!(
        !pair.in_ns("d1", &["ip", "addr"]).contains("192.168.77.100"),
        "the director that failed let the VIP go"
    );

    // d1 comes back: it stands by (no preemption).
    pair.cable("d1", "up");
    d1.d()
        .wait_for("Local NIC link(s) restored: Pulse enabled", 5);
    std::thread::sleep(Duration::from_secs(3));
    assert!(!pair.in_ns("d1", &["ip", "addr"]).contains("192.168.77.100"));

    // Failback: the active pulse is stopped; its last "stopped" hands over at once.
    let client = client_loop(&pair, 8.0);
    std::thread::sleep(Duration::from_secs(2));
    let mut d2d = d2.daemon.take().unwrap();
    d2d.signal(libc::SIGTERM);
    d1.d().wait_for("backup inactive: activating lvs", 5);
    assert_eq!(d2d.wait(), Some(0));
    let v = finish(client);
    let worst = gaps_ms(&v).iter().map(|g| g.1).max().unwrap_or(0);
    println!("failback (pulse stopped on the active director): worst client gap {worst} ms; {v}");
    assert!(worst <= 2500, "gap {worst} ms: {v}");
    assert!(
        !pair.in_ns("d2", &["ip", "addr"]).contains("192.168.77.100"),
        "stopped pulse removed the VIP"
    );
    assert!(
        pair.in_ns("d2", &["ipvsadm", "-Ln"]).lines().count() <= 3,
        "stopped lvsd removed its services"
    );
    assert!(d1.table_full());
}

#[test]
#[ignore = "needs the IPVS test VM: tests/vm/run-tests"]
fn fast_timers_with_a_warm_standby_fail_over_in_well_under_a_second() {
    let _alone = alone();
    let pair = Pair::up("pf");
    let cf = lvs_cf("0.1", "0.3", true);
    // With a 0.3 s deadtime a director alone activates before the other has started:
    // d1 first, then d2, which hears "running" and stands by.
    let d1 = Director::start(&pair, "d1", &cf);
    d1.d().wait_for("partner dead: activating lvs", 10);
    let d2 = Director::start(&pair, "d2", &cf);
    d2.d().wait_for("STARTING PULSE AS BACKUP", 10);
    // Warm standby: both tables are full, only d1 holds the VIP.
    assert!(eventually(15, || d1.table_full() && d2.table_full()));
    assert!(eventually(10, || pair
        .in_ns("cl", &["curl", "-s", "-m", "1", "http://192.168.77.100/"])
        .starts_with("rs")));
    let client = client_loop(&pair, 6.0);
    std::thread::sleep(Duration::from_secs(2));
    pair.cable("d1", "down");
    d2.d().wait_for("partner dead: activating lvs", 3);
    let v = finish(client);
    assert_eq!(
        d2.d()
            .printed()
            .iter()
            .filter(|l| l.contains("activating"))
            .count(),
        1
    );
    let worst = gaps_ms(&v).iter().map(|g| g.1).max().unwrap_or(0);
    println!(
        "failover (keepalive 0.1, deadtime 0.3, warm standby): worst client gap {worst} ms; {v}"
    );
    assert!(worst > 0 && worst <= 1000, "gap {worst} ms: {v}");
    assert_eq!(v["hits"].as_object().unwrap().len(), 3, "{v}");
}

/// The capabilities a unit of `systemd/` gives its daemons (its CapabilityBoundingSet),
/// as setpriv's names and capability numbers.
fn unit_capabilities(unit: &str) -> Vec<(String, u32)> {
    let unit = std::fs::read_to_string(repo().join("systemd").join(unit)).unwrap();
    let line = unit
        .lines()
        .find_map(|l| l.strip_prefix("CapabilityBoundingSet="))
        .expect("a CapabilityBoundingSet line");
    line.split_whitespace()
        .map(|c| {
            let n = match c {
                "CAP_NET_BIND_SERVICE" => 10,
                "CAP_NET_ADMIN" => 12,
                "CAP_NET_RAW" => 13,
                other => panic!("a capability this test does not know: {other}"),
            };
            (c.trim_start_matches("CAP_").to_lowercase(), n)
        })
        .collect()
}

/// `CapEff`, `CapPrm`, `CapBnd` and `NoNewPrivs` of a process.
fn capabilities_of(pid: &str) -> Vec<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .filter(|l| {
            ["CapEff:", "CapPrm:", "CapBnd:", "NoNewPrivs:"]
                .iter()
                .any(|k| l.starts_with(k))
        })
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
#[ignore = "needs the IPVS test VM: tests/vm/run-tests"]
fn the_daemons_work_with_only_the_capabilities_of_the_systemd_unit() {
    let _alone = alone();
    let pair = Pair::up("pk");
    let caps = unit_capabilities("pulse.service");
    let dir = TempDir::new("pair-caps");
    std::fs::write(dir.join("lvs.cf"), lvs_cf("0.5", "1.5", false)).unwrap();
    let mut cmd = as_unit_would(&caps, env!("CARGO_BIN_EXE_pulse"));
    cmd.arg("-n")
        .arg(format!("-c{}", dir.join("lvs.cf").display()))
        .arg(format!("--pidfile={}", dir.join("pulse.pid").display()))
        .arg(format!("--lvsd={}", bin("lvsd")));
    let d1 = Daemon::spawn(&mut cmd);
    d1.wait_for("activating lvs", 10);
    // Everything the active director does: addresses, IPVS, the nannies' real servers,
    // the sync daemon, traffic through the VIP.
    let table = || pair.in_ns("d1", &["ipvsadm", "-Ln"]);
    assert!(
        eventually(15, || ["10.77.1.21:80", "10.77.1.22:80", "10.77.1.23:80"]
            .iter()
            .all(|rs| table().contains(rs))),
        "{}\n{:#?}",
        table(),
        d1.printed()
    );
    assert!(eventually(10, || pair
        .in_ns("cl", &["curl", "-s", "-m", "1", "http://192.168.77.100/"])
        .starts_with("rs")));
    assert!(pair
        .in_ns("d1", &["ipvsadm", "-L", "--daemon"])
        .contains("master sync daemon"));
    // pulse, lvsd and every nanny hold exactly those capabilities, and no more can come.
    assert!(
        !d1.printed().iter().any(|l| l.contains("cannot")),
        "{:#?}",
        d1.printed()
    );
    let children = |pid: &str| -> Vec<String> {
        let out = Command::new("pgrep").args(["-P", pid]).output().unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    };
    let pulse = d1.child.id().to_string();
    let lvsd = children(&pulse);
    let nannies = children(lvsd.first().map_or("0", String::as_str));
    assert_eq!(lvsd.len(), 1, "one lvsd: {lvsd:?}");
    assert_eq!(nannies.len(), 3, "three nannies: {nannies:?}");
    for pid in std::iter::once(pulse).chain(lvsd).chain(nannies) {
        assert_eq!(capabilities_of(&pid), expected(&caps), "process {pid}");
    }
    drop(d1);
    // lvsd alone, as systemd/lvsd.service runs it on a single director.
    let caps = unit_capabilities("lvsd.service");
    let mut cmd = as_unit_would(&caps, &bin("lvsd"));
    cmd.arg("-n")
        .arg(format!("-c{}", dir.join("lvs.cf").display()))
        .arg(format!("--pidfile={}", dir.join("lvs.pid").display()));
    let lvsd = Daemon::spawn(&mut cmd);
    assert!(
        eventually(15, || table().matches("-> 10.77.1.2").count() == 3),
        "{}\n{:#?}",
        table(),
        lvsd.printed()
    );
    let pid = lvsd.child.id().to_string();
    let nannies = children(&pid);
    assert_eq!(nannies.len(), 3, "three nannies: {nannies:?}");
    for p in std::iter::once(pid).chain(nannies) {
        assert_eq!(capabilities_of(&p), expected(&caps), "process {p}");
    }
}

/// `ip netns exec pkd1 setpriv ... PROGRAM`: what a unit of `systemd/` does for its
/// daemon (root, CapabilityBoundingSet, AmbientCapabilities, NoNewPrivileges), done by
/// setpriv since the VM has no systemd.
fn as_unit_would(caps: &[(String, u32)], program: &str) -> Command {
    let set = std::iter::once("-all".to_string())
        .chain(caps.iter().map(|(c, _)| format!("+{c}")))
        .collect::<Vec<_>>()
        .join(",");
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", "pkd1", "setpriv"])
        .arg(format!("--bounding-set={set}"))
        .arg(format!("--inh-caps={set}"))
        .arg(format!("--ambient-caps={set}"))
        .args(["--no-new-privs", program]);
    cmd
}

/// What [`capabilities_of`] must read for a process holding exactly `caps`.
fn expected(caps: &[(String, u32)]) -> Vec<String> {
    let mask: u64 = caps.iter().map(|(_, n)| 1u64 << n).sum();
    vec![
        format!("CapPrm: {mask:016x}"),
        format!("CapEff: {mask:016x}"),
        format!("CapBnd: {mask:016x}"),
        "NoNewPrivs: 1".to_string(),
    ]
}
