//! Two directors running a small TCP service through fos (`service = fos`), in network
//! namespaces on this host: our pulse, fos and nanny on both, the observer as the
//! default gateway and the client. The service, killed on the active director, is
//! served by the other within the legacy pair's measured 4–6 s (keepalive 1, deadtime
//! 3, timeout 2: docs/legacy.md "fos"), and back again; a network fault on the
//! inactive director does not take the service. Run as root (the README's test command).

mod common;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use testbed::lan::Lan;
use testbed::{within, Daemon, TempDir};

const D1: &str = "192.168.77.10";
const D2: &str = "192.168.77.11";
const GATEWAY: &str = "192.168.77.50";
const VIP: &str = "192.168.77.100";
const PORT: u16 = 8080;
/// The legacy pair's slowest failover, measured with these timers.
const LEGACY_WORST: Duration = Duration::from_secs(6);

/// A TCP service that answers each connection with its director's name.
const SERVER: &str = r#"import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[2])))
s.listen(64)
while True:
    c, _ = s.accept()
    c.sendall(sys.argv[1].encode() + b"\n")
    c.close()
"#;

struct Director {
    daemon: Option<Daemon>,
    dir: TempDir,
    host: &'static str,
}

impl Director {
    /// lvs.cf with the service's commands in this director's directory (`start_cmd`
    /// starts the server in the background, `stop_cmd` kills it).
    fn new(host: &'static str) -> Director {
        let dir = TempDir::new(&format!("fos-{host}"));
        std::fs::write(dir.join("server.py"), SERVER).unwrap();
        let d = dir.path().display();
        let svc = dir.script(
            "svc",
            &format!(
                "#!/bin/sh\necho \"$1\" >> {d}/svc.log\ncase \"$1\" in\n\
                 start) setsid python3 {d}/server.py {host} {PORT} </dev/null >>{d}/server.log 2>&1 &\n\
                 echo $! > {d}/server.pid ;;\n\
                 stop) [ -f {d}/server.pid ] && kill $(cat {d}/server.pid) 2>/dev/null; rm -f {d}/server.pid ;;\n\
                 esac\nexit 0\n"
            ),
        );
        let cf = format!(
            "serial_no = 1\nservice = fos\nprimary = {D1}\nbackup = {D2}\nbackup_active = 1\n\
             heartbeat = 1\nheartbeat_port = 539\nkeepalive = 1\ndeadtime = 3\n\
             failover web {{\n active = 1\n address = {VIP} eth0:1\n vip_nmask = 255.255.255.0\n\
             port = {PORT}\n timeout = 2\n client_monitor = {}\n\
             start_cmd = \"{svc} start\"\n stop_cmd = \"{svc} stop\"\n}}\n",
            common::sibling("nanny").display()
        );
        std::fs::write(dir.join("lvs.cf"), cf).unwrap();
        Director {
            daemon: None,
            dir,
            host,
        }
    }

    fn start(&mut self, lan: &Lan) {
        let ns = lan.ns(self.host);
        let mut cmd = common::pulse_in(&ns, self.dir.path(), "/bin/false");
        cmd.arg("-v");
        self.daemon = Some(Daemon::spawn(&mut cmd));
    }

    fn d(&self) -> &Daemon {
        self.daemon.as_ref().expect("started")
    }

    fn wait_for(&self, needle: &str, secs: u64) -> Vec<String> {
        self.d().wait_for(needle, secs)
    }

    fn said(&self, needle: &str) -> bool {
        self.d().printed().iter().any(|l| l.contains(needle))
    }

    /// The service dies on this director (as a crashed daemon would).
    fn kill_service(&self) {
        let pid = std::fs::read_to_string(self.dir.join("server.pid")).expect("a server runs");
        assert!(testbed::signal(pid.trim().parse().unwrap(), libc::SIGKILL));
    }

    fn stop(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            d.signal(libc::SIGTERM);
            d.wait();
        }
    }
}

impl Drop for Director {
    fn drop(&mut self) {
        self.stop();
        // A server left by a failed test must not outlive it.
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("server.pid")) {
            testbed::signal(pid.trim().parse().unwrap_or(0), libc::SIGKILL);
        }
    }
}

/// When the client asked, and which director answered.
type Answer = (Instant, Option<String>);

/// The observer's view: who answered on the VIP, every 100 ms.
struct Client {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Answer>>>,
    thread: Option<JoinHandle<()>>,
}

impl Client {
    fn start(lan: &Lan) -> Client {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (s, v) = (stop.clone(), seen.clone());
        let thread = lan.in_ns("obs", move || {
            while !s.load(Ordering::SeqCst) {
                let answer = ask();
                v.lock().unwrap().push((Instant::now(), answer));
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Client {
            stop,
            seen,
            thread: Some(thread),
        }
    }

    /// The first time at or after `since` that `host` answered.
    fn first_answer(&self, host: &str, since: Instant) -> Option<Instant> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .find(|(t, a)| *t >= since && a.as_deref() == Some(host))
            .map(|(t, _)| *t)
    }

    /// Who answered at or after `since`.
    fn answers_since(&self, since: Instant) -> Vec<Option<String>> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .filter(|(t, _)| *t >= since)
            .map(|(_, a)| a.clone())
            .collect()
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One connection to the VIP: the answering director's name.
fn ask() -> Option<String> {
    let to: SocketAddr = format!("{VIP}:{PORT}").parse().unwrap();
    let s = TcpStream::connect_timeout(&to, Duration::from_millis(300)).ok()?;
    s.set_read_timeout(Some(Duration::from_millis(300))).ok()?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).ok()?;
    Some(line.trim().to_string()).filter(|l| !l.is_empty())
}

/// `lvsctl status` against a director's pulse (it needs no namespace: a Unix socket).
fn lvsctl_status(d: &Director) -> String {
    let out = std::process::Command::new(common::sibling("lvsctl"))
        .arg(format!(
            "--pulse-socket={}",
            d.dir.join("pulse.sock").display()
        ))
        .arg(format!(
            "--lvsd-socket={}",
            d.dir.join("lvs.sock").display()
        ))
        .arg("status")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(!text.contains("lvsd is not answering"), "{text}");
    text
}

fn has_vip(lan: &Lan, host: &str) -> bool {
    lan.addresses(host).contains(&format!("{VIP}/24"))
}

/// Both directors route through the observer, the gateway fos checks.
/// `to` serves the client within the legacy time after the failure at `killed`, and
/// holds the VIP that `from` gave up; the time is printed.
fn took_over(client: &Client, lan: &Lan, to: &str, from: &str, killed: Instant) {
    assert!(
        within(LEGACY_WORST.as_secs_f64(), || client
            .first_answer(to, killed)
            .is_some()),
        "{to} did not serve within {LEGACY_WORST:?} of the failure: {:?}",
        client.answers_since(killed)
    );
    let moved = client.first_answer(to, killed).unwrap() - killed;
    println!("failover {from} -> {to}: {} ms", moved.as_millis());
    assert!(within(3.0, || has_vip(lan, to) && !has_vip(lan, from)));
}

fn lan_with_gateway() -> Lan {
    let lan = Lan::create();
    for host in ["d1", "d2"] {
        testbed::lan::ip(&[
            "-n",
            &lan.ns(host),
            "route",
            "add",
            "default",
            "via",
            GATEWAY,
        ]);
    }
    lan
}

/// d1 then d2 started: d2, started second, takes the service (the legacy start rule);
/// d1 watches it through the VIP.
fn pair(lan: &Lan) -> (Director, Director) {
    let (mut d1, mut d2) = (Director::new("d1"), Director::new("d2"));
    d1.start(lan);
    d1.wait_for("STARTING PULSE AS MASTER", 5);
    d2.start(lan);
    d2.wait_for("primary inactive: activating fos", 5);
    d1.wait_for("Remote service", 15);
    assert!(has_vip(lan, "d2") && !has_vip(lan, "d1"));
    (d1, d2)
}

#[test]
fn a_failed_service_moves_to_the_other_director_and_back_within_the_legacy_time() {
    let lan = lan_with_gateway();
    let (d1, d2) = pair(&lan);
    let client = Client::start(&lan);
    // The operator's view: which fos runs where.
    assert!(lvsctl_status(&d2).contains("fos        --active, pid"));
    assert!(lvsctl_status(&d1).contains("fos        --monitor, pid"));
    assert!(
        within(5.0, || client
            .first_answer("d2", Instant::now() - Duration::from_secs(5))
            .is_some()),
        "the client never reached the service on d2"
    );

    // The service dies on d2, the active director: d1's monitor sees it through the VIP.
    let killed = Instant::now();
    d2.kill_service();
    d1.wait_for("Monitor for service", 10);
    d1.wait_for("fos process exited -- checking network connectivity", 5);
    d1.wait_for("remote service unavailable but we can see the gateway", 5);
    d1.wait_for(
        "seems like a remote network fault; performing service failover",
        5,
    );
    d1.wait_for("Notifying partner WE are taking control!", 5);
    d2.wait_for("partner active: deactivating FOS", 5);
    took_over(&client, &lan, "d1", "d2", killed);
    d2.wait_for("Starting Failover Service Monitors", 5);
    d2.wait_for("Remote service", 10);

    // And back: the service dies on d1; d2 takes it and d1, the primary, is told to go.
    let killed = Instant::now();
    d1.kill_service();
    d2.wait_for("Notifying partner WE are taking control!", 10);
    d1.wait_for("PARTNER HAS TOLD US TO GO INACTIVE!", 5);
    took_over(&client, &lan, "d2", "d1", killed);
    // fos ran the services' commands: d1 started its copy once and stopped it since.
    let log = std::fs::read_to_string(d1.dir.join("svc.log")).unwrap();
    assert!(log.lines().filter(|l| *l == "start").count() == 1, "{log}");
    assert!(log.trim_end().ends_with("stop"), "{log}");
}

#[test]
fn a_network_fault_on_the_inactive_director_does_not_take_the_service() {
    let lan = lan_with_gateway();
    let (d1, d2) = pair(&lan);
    let client = Client::start(&lan);
    // d1, standing by, loses its cable: its monitor fails and its gateway is gone.
    let cut = Instant::now();
    lan.cable("d1", false);
    d1.wait_for("fos process exited -- checking network connectivity", 10);
    d1.wait_for("remote service unavailable; gateway unavailable", 10);
    d1.wait_for("I SEEM TO HAVE A NETWORK FAULT!", 5);
    // Well past deadtime: the silent partner is no reason to take over either.
    std::thread::sleep(Duration::from_secs(5));
    lan.cable("d1", true);
    d1.wait_for("Network fault seems to be fixed", 10);
    d1.wait_for("Starting Failover Service Monitors", 5);
    d1.wait_for("Remote service", 10);
    let both = || format!("d1: {:#?}\nd2: {:#?}", d1.d().printed(), d2.d().printed());
    assert!(!d1.said("activating"), "{}", both());
    assert!(!d2.said("deactivating"), "{}", both());
    assert!(has_vip(&lan, "d2") && !has_vip(&lan, "d1"));
    let answers = client.answers_since(cut);
    assert!(!answers.is_empty());
    assert!(
        answers.iter().all(|a| a.as_deref() == Some("d2")),
        "{answers:?}"
    );
}

/// Sends these 4-byte heartbeats from d2's heartbeat address to d1, 200 ms apart, as a
/// legacy x86 pulse would (host byte order: little-endian).
fn legacy_partner_says(lan: &Lan, magic: [u8; 4], times: usize) {
    let sent = lan.in_ns("d2", move || {
        let s = std::net::UdpSocket::bind(format!("{D2}:539")).unwrap();
        for _ in 0..times {
            s.send_to(&magic, format!("{D1}:539")).unwrap();
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    sent.join().unwrap();
}

#[test]
fn a_legacy_partner_is_heard_in_fos_words_only() {
    let lan = lan_with_gateway();
    let mut d1 = Director::new("d1");
    // Shared SCSI keywords are read, and said to be unsupported.
    let cf = std::fs::read_to_string(d1.dir.join("lvs.cf")).unwrap();
    let shared = "primary_shared = /dev/sdb\nbackup_shared = /dev/sdb\n";
    std::fs::write(d1.dir.join("lvs.cf"), format!("{shared}{cf}")).unwrap();
    d1.start(&lan);
    d1.wait_for("STARTING PULSE AS MASTER", 5);
    d1.wait_for(
        "shared SCSI reservation (primary_shared, backup_shared) is not supported",
        5,
    );
    // An LVS "stopped" (0xADBDDABD) is refused: the partner does not run the same services.
    legacy_partner_says(&lan, [0xBD, 0xDA, 0xBD, 0xAD], 3);
    d1.wait_for(
        "Incompatible heartbeat received -- other system not using identical services",
        5,
    );
    assert!(!d1.said("inactive: activating"), "{:?}", d1.d().printed());
    // It stands by as a FOS director does: fos --monitor watching the VIP.
    assert!(d1.said("Starting Failover Service Monitors"));
    assert!(d1.said("Stopping local services (if any)"));
    // A FOS "stopped" (0xDEADBEEF) from the legacy partner: this director takes over.
    legacy_partner_says(&lan, [0xEF, 0xBE, 0xAD, 0xDE], 1);
    d1.wait_for("backup inactive: activating fos", 5);
    assert!(within(3.0, || has_vip(&lan, "d1")));
    // And the legacy partner's STOPME (0xDEADDADA) makes it yield.
    legacy_partner_says(&lan, [0xDA, 0xDA, 0xAD, 0xDE], 1);
    d1.wait_for("PARTNER HAS TOLD US TO GO INACTIVE!", 5);
    assert!(within(3.0, || !has_vip(&lan, "d1")));
}
