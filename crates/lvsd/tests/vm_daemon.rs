//! The lvsd daemon on a real kernel (VM test bed, tests/vm/run-tests): lvsd and its
//! nannies in a director namespace, real servers and a client in namespaces of their
//! own, `ipvsadm -Ln` as the independent witness.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testbed::{eventually, Client, Daemon, RealServer, TempDir, TestNs};

fn nanny_path() -> String {
    let p = Path::new(env!("CARGO_BIN_EXE_lvsd")).with_file_name("nanny");
    assert!(
        p.exists(),
        "{} missing: build the workspace's binaries (cargo build --bins)",
        p.display()
    );
    p.display().to_string()
}

/// A `server` block (weight 1).
fn server(name: &str, addr: &str) -> String {
    weighted(name, addr, 1)
}

fn weighted(name: &str, addr: &str, weight: u32) -> String {
    format!(
        "    server {name} {{\n        address = {addr}\n        active = 1\n        weight = {weight}\n    }}\n"
    )
}

/// A `virtual` block with a fast HTTP check (probe every second, re-entry after one).
fn virtual_block(name: &str, vip: &str, port: u16, extra: &str, servers: &[String]) -> String {
    format!(
        "virtual {name} {{\n    active = 1\n    address = {vip} eth0:{}\n    port = {port}\n    \
         send = \"GET / HTTP/1.0\\r\\n\\r\\n\"\n    expect = \"HTTP/1.0 200\"\n    \
         scheduler = wlc\n    timeout = 1\n    reentry = 1\n    client_monitor = {}\n{extra}{}}}\n",
        vip.rsplit('.').next().unwrap(),
        nanny_path(),
        servers.concat()
    )
}

fn config(globals: &str, virtuals: &[String]) -> String {
    format!(
        "serial_no = 1\nservice = lvs\nnetwork = nat\n{globals}{}",
        virtuals.concat()
    )
}

/// lvsd under test, with the directory of its lvs.cf and pid file.
struct Lvsd {
    d: Daemon,
    dir: PathBuf,
}

impl Lvsd {
    fn dir(label: &str) -> TempDir {
        TempDir::new(&format!("lvsd-{label}"))
    }

    /// `lvsd -n -c DIR/lvs.cf --pidfile DIR/lvs.pid`, in this thread's namespace.
    fn start(dir: &TempDir, text: &str, extra: &[&str]) -> Lvsd {
        std::fs::write(dir.join("lvs.cf"), text).unwrap();
        let d = Daemon::spawn(
            Command::new(env!("CARGO_BIN_EXE_lvsd"))
                .args(["-n", "-c"])
                .arg(dir.join("lvs.cf"))
                .arg("--pidfile")
                .arg(dir.join("lvs.pid"))
                .args(extra),
        );
        Lvsd {
            d,
            dir: dir.path().to_path_buf(),
        }
    }

    /// Waits for a line containing `needle` (among the lines not waited for yet).
    fn wait_for(&self, needle: &str, secs: u64) -> String {
        self.d.wait_for(needle, secs).pop().unwrap()
    }

    fn printed(&self) -> Vec<String> {
        self.d.printed()
    }

    /// The pid of the latest nanny started for `vs/rs`, waiting for one.
    fn nanny_pid(&self, vs_rs: &str) -> u32 {
        self.nanny_pid_other_than(vs_rs, 0)
    }

    /// Waits for a nanny for `vs/rs` other than `old`; its pid.
    fn nanny_pid_other_than(&self, vs_rs: &str, old: u32) -> u32 {
        let prefix = format!("lvs: create_monitor for {vs_rs} running as pid ");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let latest = self
                .printed()
                .iter()
                .rev()
                .find_map(|l| l.strip_prefix(&prefix)?.parse::<u32>().ok());
            match latest {
                Some(pid) if pid != old => return pid,
                _ if Instant::now() > deadline => {
                    panic!("no new nanny for {vs_rs}: {:#?}", self.printed())
                }
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    fn signal(&self, sig: i32) {
        self.d.signal(sig);
    }

    fn reload(&self, text: &str) {
        std::fs::write(self.dir.join("lvs.cf"), text).unwrap();
        self.signal(libc::SIGHUP);
        self.wait_for("rereading configuration file", 5);
    }

    /// SIGTERM; the exit code.
    fn stop(mut self) -> Option<i32> {
        self.signal(libc::SIGTERM);
        self.d.wait()
    }

    fn pid(&self) -> u32 {
        self.d.child.id()
    }

    fn wait(&mut self) -> Option<i32> {
        self.d.wait()
    }
}

fn alive(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // A zombie is dead for our purposes.
    !stat.is_empty() && !stat.contains(") Z ")
}

fn masq(vip: &str, rs: &str) -> String {
    format!("TCP {vip} -> {rs} Masq 1")
}

#[test]
#[ignore = "needs the IPVS test VM: tests/vm/run-tests"]
fn start_up_builds_the_table_and_shutdown_removes_only_lvsds_entries() {
    let ns = TestNs::enter("lvsd-life");
    ns.exec(&["ipvsadm", "-A", "-t", "198.51.100.1:22", "-s", "rr"]);
    ns.exec(&[
        "ipvsadm",
        "-a",
        "-t",
        "198.51.100.1:22",
        "-r",
        "10.9.9.9:22",
        "-m",
    ]);
    let mut rs1 = RealServer::new(&ns, 1);
    let mut rs2 = RealServer::new(&ns, 2);
    rs1.start_http(80);
    rs2.start_http(80);
    let text = config(
        "tcp_timeout = 900\ntcpfin_timeout = 120\nudp_timeout = 300\n",
        &[
            virtual_block(
                "web",
                "192.0.2.1",
                80,
                "    persistent = 300\n    pmask = 255.255.255.0\n",
                &[server("a", "10.1.0.2"), server("b", "10.2.0.2")],
            ),
            virtual_block(
                "dns",
                "192.0.2.2",
                53,
                "    protocol = udp\n    scheduler = rr\n",
                &[],
            ),
        ],
    );
    let dir = Lvsd::dir("life");
    let l = Lvsd::start(&dir, &text, &[]);
    l.wait_for("starting virtual service web active: 80", 10);
    l.wait_for("starting virtual service dns active: 53", 10);
    // lvsd's own first check admits both before any nanny runs; the nannies adopt them.
    l.wait_for("start-up check: 2 of 2 real servers healthy and added", 10);
    l.nanny_pid("web/a");
    l.nanny_pid("web/b");
    assert!(
        eventually(10, || {
            let w = ns.ipvsadm();
            w.has(&masq("192.0.2.1:80", "10.1.0.2:80"))
                && w.has(&masq("192.0.2.1:80", "10.2.0.2:80"))
        }),
        "{:?}",
        ns.ipvsadm()
    );
    ns.ipvsadm().assert_has(&[
        "TCP 192.0.2.1:80 wlc persistent 300 mask 255.255.255.0",
        "UDP 192.0.2.2:53 rr",
        "TCP 198.51.100.1:22 rr",
        "TCP 198.51.100.1:22 -> 10.9.9.9:22 Masq 1",
    ]);
    assert_eq!(
        ns.exec(&["ipvsadm", "-l", "--timeout"]).trim(),
        "Timeout (tcp tcpfin udp): 900 120 300"
    );
    assert!(!dir.join("lvs.pid").exists(), "no pid file with --nodaemon");
    assert_eq!(
        std::fs::read_to_string(dir.join("lvs.services")).unwrap(),
        "-t 192.0.2.1:80\n-u 192.0.2.2:53\n",
        "the services lvsd owns are remembered"
    );
    let printed_before = l.printed();
    assert!(
        printed_before.iter().all(|x| !x.contains("ipvsadm failed")),
        "{printed_before:#?}"
    );
    let code = l.stop();
    assert_eq!(code, Some(0));
    let w = ns.ipvsadm();
    assert_eq!(
        w.lines.iter().cloned().collect::<Vec<_>>(),
        [
            "TCP 198.51.100.1:22 -> 10.9.9.9:22 Masq 1".to_string(),
            "TCP 198.51.100.1:22 rr".to_string()
        ],
        "only the foreign service is left"
    );
    assert!(!dir.join("lvs.services").exists());
}

#[test]
#[ignore = "needs the IPVS test VM: tests/vm/run-tests"]
fn daemon_mode_writes_and_removes_the_pid_file() {
    let ns = TestNs::enter("lvsd-pid");
    let dir = Lvsd::dir("pid");
    let text = config("", &[virtual_block("web", "192.0.2.1", 80, "", &[])]);
    std::fs::write(dir.join("lvs.cf"), &text).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_lvsd"))
        .arg("--nofork")
        .arg("-c")
        .arg(dir.join("lvs.cf"))
        .arg("--pidfile")
        .arg(dir.join("lvs.pid"))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid_file = dir.join("lvs.pid");
    assert!(eventually(10, || std::fs::read_to_string(&pid_file)
        .map(|s| s == format!("{}\n", child.id()))
        .unwrap_or(false)));
    assert!(eventually(10, || ns.ipvsadm().has("TCP 192.0.2.1:80 wlc")));
    testbed::signal(child.id(), libc::SIGINT);
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert!(!pid_file.exists());
    assert!(ns.ipvsadm().services().is_empty());
}

#[test]
#[ignore = "needs the IPVS test VM: tests/vm/run-tests"]
fn a_killed_nanny_is_restarted_and_a_hopeless_one_abandoned() {
    let ns = TestNs::enter("lvsd-restart");
    let mut rs1 = RealServer::new(&ns, 1);
    rs1.start_http(80);
    let text = config(
        "hard_shutdown = 0\n",
        &[
            virtual_block("web", "192.0.2.1", 80, "", &[server("a", "10.1.0.2")]),
            // A client monitor that dies at once, every time.
            virtual_block("bad", "192.0.2.9", 80, "", &[server("z", "10.1.0.2")])
                .replace(&nanny_path(), "/bin/false"),
        ],
    );
    let dir = Lvsd::dir("restart");
    let l = Lvsd::start(&dir, &text, &[]);
    let first = l.nanny_pid("web/a");
    // Not our nanny (a legacy one would fail on an entry it did not add): lvsd leaves
    // its servers to it.
    assert!(eventually(10, || {
        l.printed().iter().any(|x| x
        == "lvs: /bin/false is not piranha-rs's nanny: its real servers are not checked by lvsd first")
    }));
    assert!(!ns.ipvsadm().has(&masq("192.0.2.9:80", "10.1.0.2:80")));
    let dest = masq("192.0.2.1:80", "10.1.0.2:80");
    assert!(eventually(10, || ns.ipvsadm().has(&dest)));
    // Killing lvsd's nanny, as a crash would.
    testbed::signal(first, libc::SIGKILL);
    l.wait_for("nanny for child web/a died (signal 9)", 10);
    l.wait_for("restarting nanny for web/a in 1 s", 5);
    let second = l.nanny_pid_other_than("web/a", first);
    assert_ne!(first, second);
    assert!(alive(second));
    assert!(ns.ipvsadm().has(&dest), "the server stayed in the table");
    // The hopeless one: 1 + 2 + 4 + 8 s of restarts, then lvsd gives up and carries on.
    l.wait_for("nanny for child bad/z died! manual action needed!", 40);
    assert!(alive(l.pid()), "hard_shutdown = 0: lvsd keeps running");
    assert!(ns.ipvsadm().has(&dest));
    assert_eq!(l.stop(), Some(0));
}

#[test]
#[ignore = "needs the IPVS test VM: tests/vm/run-tests"]
fn hard_shutdown_stops_lvs_once_restarts_give_up() {
    let ns = TestNs::enter("lvsd-hard");
    let text = config(
        "hard_shutdown = 1\n",
        &[
            virtual_block("bad", "192.0.2.9", 80, "", &[server("z", "10.1.0.2")])
                .replace(&nanny_path(), "/bin/false"),
        ],
    );
    let dir = Lvsd::dir("hard");
    let mut l = Lvsd::start(&dir, &text, &[]);
    assert!(eventually(10, || ns.ipvsadm().has("TCP 192.0.2.9:80 wlc")));
    l.wait_for("restarting nanny for bad/z in 1 s", 10);
    l.wait_for("nanny for child bad/z died! shutting down lvs", 40);
    l.wait_for("shutting down virtual service bad", 5);
    assert_eq!(l.wait(), Some(1));
    assert!(
        ns.ipvsadm().services().is_empty(),
        "pulse sees lvsd exit; the table is clean"
    );
}

#[test]
#[ignore = "needs the IPVS test VM: tests/vm/run-tests"]
fn sorry_server_goes_in_when_no_real_server_is_up_and_out_when_one_is() {
    let ns = TestNs::enter("lvsd-sorry");
    let mut rs1 = RealServer::new(&ns, 1);
    let mut sorry = RealServer::new(&ns, 3);
    sorry.start_http(80);
    rs1.start_http(80);
    let text = config(
        "",
        &[virtual_block(
            "web",
            "192.0.2.1",
            80,
            "    sorry_server = 10.3.0.2\n",
            &[server("a", "10.1.0.2")],
        )],
    );
    let dir = Lvsd::dir("sorry");
    let l = Lvsd::start(&dir, &text, &[]);
    let dest = masq("192.0.2.1:80", "10.1.0.2:80");
    let sorry_dest = masq("192.0.2.1:80", "10.3.0.2:80");
    assert!(eventually(10, || ns.ipvsadm().has(&dest)));
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        !ns.ipvsadm().has(&sorry_dest),
        "no sorry server while a real server is up, not even at start-up"
    );
    assert!(!l.printed().iter().any(|x| x.contains("sorry_server")));
    rs1.stop_all();
    l.wait_for(
        "Virtual Server web: No real servers; activate sorry_server 10.3.0.2",
        10,
    );
    assert!(eventually(5, || {
        let w = ns.ipvsadm();
        w.has(&sorry_dest) && !w.has(&dest)
    }));
    rs1.start_http(80);
    l.wait_for(
        "Virtual Server web: 1 real servers; deactivate sorry_server 10.3.0.2",
        10,
    );
    assert!(eventually(5, || {
        let w = ns.ipvsadm();
        !w.has(&sorry_dest) && w.has(&dest)
    }));
    // Nanny's own log output is unchanged (lvsd does not read it).
    assert!(l
        .printed()
        .iter()
        .any(|x| x == "nanny: [ active ] making 10.1.0.2:80 available"));
    assert_eq!(l.stop(), Some(0));
}

#[test]
#[ignore = "needs the IPVS test VM: tests/vm/run-tests"]
fn reload_applies_each_change_as_a_diff_without_disturbing_clients() {
    let ns = TestNs::enter("lvsd-reload");
    ns.exec(&["ip", "addr", "add", "192.0.2.1/32", "dev", "lo"]);
    let mut servers: Vec<RealServer> = (1..=4).map(|n| RealServer::new(&ns, n)).collect();
    for s in &mut servers {
        s.start_http(80);
    }
    let client = Client::new(&ns);
    let web = |sched: &str, extra: &str| {
        virtual_block(
            "web",
            "192.0.2.1",
            80,
            &format!("    scheduler = {sched}\n{extra}"),
            &[server("a", "10.1.0.2"), server("b", "10.2.0.2")],
        )
    };
    let app = |servers: &[String]| virtual_block("app", "192.0.2.5", 80, "", servers);
    let gone = virtual_block("gone", "192.0.2.6", 80, "", &[server("g", "10.4.0.2")]);
    let before = config(
        "tcp_timeout = 900\n",
        &[
            web("wlc", ""),
            app(&[server("c", "10.3.0.2"), server("d", "10.4.0.2")]),
            gone.clone(),
        ],
    );
    let dir = Lvsd::dir("reload");
    let l = Lvsd::start(&dir, &before, &[]);
    let (pid_a, pid_b) = (l.nanny_pid("web/a"), l.nanny_pid("web/b"));
    let pid_c = l.nanny_pid("app/c");
    let pid_d = l.nanny_pid("app/d");
    let all_in = [
        masq("192.0.2.1:80", "10.1.0.2:80"),
        masq("192.0.2.1:80", "10.2.0.2:80"),
        masq("192.0.2.5:80", "10.3.0.2:80"),
        masq("192.0.2.5:80", "10.4.0.2:80"),
        masq("192.0.2.6:80", "10.4.0.2:80"),
    ];
    assert!(
        eventually(10, || all_in.iter().all(|d| ns.ipvsadm().has(d))),
        "{:?}",
        ns.ipvsadm()
    );
    assert!(client.get("http://192.0.2.1/").is_some(), "the VIP answers");

    // The client uses web, whose real servers stay; everything else changes at once.
    let hits = client.start_loop("http://192.0.2.1/", 8.0);
    std::thread::sleep(Duration::from_secs(2));
    let after = config(
        "tcp_timeout = 600\n",
        &[
            // Persistence: edited in place. (A scheduler change is edited in place too,
            // see a_bad_reload_keeps_the_running_configuration, but the kernel unbinds
            // the old scheduler before binding the new one, and a connection arriving in
            // that window is refused: docs/differences.md.)
            web("wlc", "    persistent = 60\n"),
            // d removed (app stays), c's weight changed (nanny restarted), e added.
            app(&[weighted("c", "10.3.0.2", 2), server("e", "10.1.0.2")]),
            // `gone` removed; a new virtual.
            virtual_block("new", "192.0.2.7", 80, "", &[server("n", "10.2.0.2")]),
        ],
    );
    l.reload(&after);
    // d leaves at weight 0 first, so that requests in flight to it finish; deleted after
    // lvsd's grace (below).
    assert!(
        eventually(3, || ns
            .ipvsadm()
            .has("TCP 192.0.2.5:80 -> 10.4.0.2:80 Masq 0")),
        "{:#?}",
        ns.ipvsadm()
    );
    l.wait_for("shutting down virtual service gone", 5);
    l.wait_for("starting virtual service new active: 80", 5);
    let new_c = l.nanny_pid_other_than("app/c", pid_c);
    l.nanny_pid("app/e");
    l.nanny_pid("new/n");
    let want = [
        "TCP 192.0.2.1:80 wlc persistent 60".to_string(),
        masq("192.0.2.1:80", "10.1.0.2:80"),
        masq("192.0.2.1:80", "10.2.0.2:80"),
        "TCP 192.0.2.5:80 wlc".to_string(),
        // Weight 2 is reached by slow start after 20 probes; the restart shows in the pid.
        masq("192.0.2.5:80", "10.3.0.2:80"),
        masq("192.0.2.5:80", "10.1.0.2:80"),
        "TCP 192.0.2.7:80 wlc".to_string(),
        masq("192.0.2.7:80", "10.2.0.2:80"),
    ];
    assert!(
        eventually(10, || {
            let w = ns.ipvsadm();
            want.iter().all(|d| w.has(d))
                && !w.has(&masq("192.0.2.5:80", "10.4.0.2:80"))
                && !w.lines.iter().any(|x| x.starts_with("TCP 192.0.2.6:80"))
        }),
        "{:#?}",
        ns.ipvsadm()
    );
    assert_eq!(
        ns.exec(&["ipvsadm", "-l", "--timeout"]).trim(),
        "Timeout (tcp tcpfin udp): 600 120 300"
    );
    // Unchanged nannies kept running; changed and removed ones were replaced or stopped.
    assert!(alive(pid_a) && alive(pid_b), "web's nannies are untouched");
    assert!(!alive(pid_d), "d's nanny stopped");
    assert!(!alive(pid_c) && alive(new_c), "c's nanny restarted");
    let h = hits.finish();
    assert_eq!(h.failed, 0, "requests failed during the reload: {h:?}");
    assert!(h.ok > 5, "{h:?}");
    assert!(
        h.by_server
            .keys()
            .all(|k| k == "10.1.0.2" || k == "10.2.0.2"),
        "{h:?}"
    );
    // Deactivating a server stops its nanny and removes it; re-activating brings it back.
    let deact = after.replacen(
        "        address = 10.2.0.2\n        active = 1",
        "        address = 10.2.0.2\n        active = 0",
        1,
    );
    assert_ne!(deact, after);
    l.reload(&deact);
    assert!(eventually(10, || !ns
        .ipvsadm()
        .has(&masq("192.0.2.1:80", "10.2.0.2:80"))));
    assert!(
        ns.ipvsadm().has("TCP 192.0.2.1:80 wlc persistent 60"),
        "web stays"
    );
    assert!(alive(pid_a));
    l.reload(&after);
    l.nanny_pid_other_than("web/b", pid_b);
    assert!(eventually(10, || ns
        .ipvsadm()
        .has(&masq("192.0.2.1:80", "10.2.0.2:80"))));
    assert_eq!(l.stop(), Some(0));
    assert!(ns.ipvsadm().services().is_empty());
}

#[test]
#[ignore = "needs the IPVS test VM: tests/vm/run-tests"]
fn a_bad_reload_keeps_the_running_configuration() {
    let ns = TestNs::enter("lvsd-badreload");
    let mut rs1 = RealServer::new(&ns, 1);
    rs1.start_http(80);
    let good = config(
        "",
        &[virtual_block(
            "web",
            "192.0.2.1",
            80,
            "",
            &[server("a", "10.1.0.2")],
        )],
    );
    let dir = Lvsd::dir("badreload");
    let l = Lvsd::start(&dir, &good, &[]);
    let pid = l.nanny_pid("web/a");
    let dest = masq("192.0.2.1:80", "10.1.0.2:80");
    assert!(eventually(10, || ns.ipvsadm().has(&dest)));
    let before = ns.ipvsadm();
    // Line 4 is broken; the file also drops the server.
    let bad = "serial_no = 2\nvirtual web {\n    active = 1\n    port = eighty\n}\n";
    l.reload(bad);
    let file = dir.join("lvs.cf").display().to_string();
    l.wait_for(&format!("lvs: error parsing {file} on line 4."), 5);
    l.wait_for(&format!("{file}:4:"), 5);
    l.wait_for("keeping the running configuration", 5);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(ns.ipvsadm(), before);
    assert!(alive(pid));
    // The next good file is applied.
    l.reload(&good.replace("scheduler = wlc", "scheduler = rr"));
    assert!(eventually(5, || ns.ipvsadm().has("TCP 192.0.2.1:80 rr")));
    assert!(alive(pid), "a scheduler change leaves the nanny alone");
    assert_eq!(l.stop(), Some(0));
}

#[test]
#[ignore = "needs the IPVS test VM: tests/vm/run-tests"]
fn after_a_crash_the_next_lvsd_removes_only_its_own_stale_services() {
    let ns = TestNs::enter("lvsd-crash");
    ns.exec(&["ipvsadm", "-A", "-t", "198.51.100.1:22", "-s", "rr"]);
    let mut rs1 = RealServer::new(&ns, 1);
    rs1.start_http(80);
    let both = config(
        "",
        &[
            virtual_block("web", "192.0.2.1", 80, "", &[server("a", "10.1.0.2")]),
            virtual_block("old", "192.0.2.2", 80, "", &[]),
        ],
    );
    let dir = Lvsd::dir("crash");
    let mut l = Lvsd::start(&dir, &both, &[]);
    let nanny = l.nanny_pid("web/a");
    assert!(eventually(10, || ns
        .ipvsadm()
        .has(&masq("192.0.2.1:80", "10.1.0.2:80"))));
    // The entry came from lvsd's start-up check: let the nanny get going (a process
    // killed before its first instructions cannot clean up).
    assert!(eventually(10, || l.printed().iter().any(|x| {
        x == "nanny: starting LVS client monitor for 192.0.2.1:80 -> 10.1.0.2:80"
    })));
    std::thread::sleep(Duration::from_secs(2));
    // kill -9: no clean-up by lvsd; its nannies get SIGTERM from the kernel and remove
    // their servers.
    l.signal(libc::SIGKILL);
    let _ = l.wait();
    assert!(eventually(5, || !alive(nanny)), "nanny outlived lvsd");
    assert!(eventually(5, || !ns
        .ipvsadm()
        .has(&masq("192.0.2.1:80", "10.1.0.2:80"))));
    ns.ipvsadm()
        .assert_has(&["TCP 192.0.2.1:80 wlc", "TCP 192.0.2.2:80 wlc"]);
    drop(l);
    // The next lvsd no longer has `old`: it removes it, adopts `web`, keeps the foreign one.
    let web_only = config(
        "",
        &[virtual_block(
            "web",
            "192.0.2.1",
            80,
            "",
            &[server("a", "10.1.0.2")],
        )],
    );
    let l = Lvsd::start(&dir, &web_only, &[]);
    l.nanny_pid("web/a");
    assert!(
        eventually(10, || {
            let w = ns.ipvsadm();
            w.has(&masq("192.0.2.1:80", "10.1.0.2:80"))
                && !w.has("TCP 192.0.2.2:80 wlc")
                && w.has("TCP 198.51.100.1:22 rr")
        }),
        "{:?}",
        ns.ipvsadm()
    );
    assert_eq!(l.stop(), Some(0));
    assert_eq!(
        ns.ipvsadm()
            .services()
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>(),
        ["TCP 198.51.100.1:22 rr"]
    );
}

/// A virtual with a plain connect check (no send/expect), a non-HTTP port.
fn connect_virtual(
    name: &str,
    address: &str,
    port: u16,
    extra: &str,
    servers: &[String],
) -> String {
    format!(
        "virtual {name} {{\n    active = 1\n    address = {address}\n    port = {port}\n    \
         scheduler = wlc\n    timeout = 1\n    reentry = 1\n    client_monitor = {}\n{extra}{}}}\n",
        nanny_path(),
        servers.concat()
    )
}

#[test]
#[ignore = "needs the IPVS test VM: tests/vm/run-tests"]
fn an_sctp_and_an_ipv6_fwmark_service_get_their_real_servers() {
    // Both were broken before the shared service identity: nanny keyed an SCTP virtual's
    // servers as TCP, and took a fwmark service's family from the real server.
    let ns = TestNs::enter("lvsd-ident");
    let mut rs1 = RealServer::new(&ns, 1);
    rs1.start_sctp(9999);
    let mut rs2 = RealServer::new(&ns, 2);
    let v6 = rs2.add_ipv6(&ns);
    rs2.start_http_on(&v6, 80);
    let sctp = connect_virtual(
        "sig",
        "192.0.2.91 eth0:1",
        9999,
        "    protocol = sctp\n",
        &[server("a", "10.1.0.2")],
    );
    // Port 80 without send/expect: nanny's default HTTP check.
    let web6 = connect_virtual(
        "web6",
        "2001:db8::80 eth0",
        80,
        "    fwmark = 7\n",
        &[server("b", &v6)],
    );
    let dir = Lvsd::dir("ident");
    let l = Lvsd::start(&dir, &config("", &[sctp, web6]), &[]);
    let sctp_dest = "SCTP 192.0.2.91:9999 -> 10.1.0.2:9999 Masq 1";
    let fwm_dest = format!("FWM 7 -> [{v6}]:80 Masq 1");
    assert!(
        eventually(20, || {
            let w = ns.ipvsadm();
            w.has(sctp_dest) && w.has(&fwm_dest)
        }),
        "{:#?}\n{:#?}",
        ns.ipvsadm(),
        l.printed()
    );
    ns.ipvsadm()
        .assert_has(&["SCTP 192.0.2.91:9999 wlc", "FWM 7 IPv6 wlc"]);
    // The SCTP server's nanny really probes over SCTP: with the server gone, it goes.
    rs1.stop_all();
    assert!(
        eventually(20, || !ns.ipvsadm().has(sctp_dest)),
        "{:#?}",
        ns.ipvsadm()
    );
    assert!(ns.ipvsadm().has(&fwm_dest));
    assert_eq!(l.stop(), Some(0));
}

#[test]
#[ignore = "needs the IPVS test VM: tests/vm/run-tests"]
fn a_client_monitor_that_never_answers_version_delays_the_table_by_at_most_the_timeout() {
    // lvsd asks each client monitor `--version` (is it piranha-rs's nanny?). A wrapper
    // that hangs on that question once froze lvsd's start-up for good.
    let ns = TestNs::enter("lvsd-version");
    let mut rs = RealServer::new(&ns, 1);
    rs.start_http(80);
    let dir = Lvsd::dir("version");
    let wrapper = dir.script(
        "monitor",
        &format!(
            "#!/bin/sh\nif [ \"$1\" = --version ]; then exec sleep 1000; fi\nexec {} \"$@\"\n",
            nanny_path()
        ),
    );
    let web = virtual_block("web", "192.0.2.1", 80, "", &[server("a", "10.1.0.2")])
        .replace(&nanny_path(), &wrapper);
    let start = Instant::now();
    let l = Lvsd::start(&dir, &config("", &[web]), &[]);
    l.wait_for("(no answer to --version)", 10);
    assert!(
        eventually(10, || ns
            .ipvsadm()
            .has(&masq("192.0.2.1:80", "10.1.0.2:80"))),
        "{:#?}\n{:#?}",
        ns.ipvsadm(),
        l.printed()
    );
    // The time limit (1 s), the nanny's start and its first probe, with room for the
    // emulated CPU; without the limit the server never got in.
    let took = start.elapsed();
    assert!(took < Duration::from_secs(8), "{took:?}");
    assert_eq!(l.stop(), Some(0));
}
