//! A fleet director's IO on real sockets and interfaces, in network namespaces on this
//! host (no IPVS, no BGP: docs/fleet.md; the VM's tests/fleet/ has those): pulse in
//! fleet mode on d1 with a stand-in lvsd, a stand-in BIRD on a Unix socket that records
//! what pulse tells it, and d2 as the other director hearing the reports.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::UdpSocket;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use testbed::lan::Lan;
use testbed::{within, Daemon, TempDir};

const D1: &str = "192.168.77.10";
const D2: &str = "192.168.77.11";
const VIP: &str = "192.168.77.100";

fn lvs_cf(dir: &Path) -> String {
    format!(
        "serial_no = 1\nservice = lvs\ndirector = {D1}\ndirector = {D2}\n\
         bgp_local_as = 65001\nbgp_peer = 192.168.77.1 65000\n\
         bird_socket = {}\nbird_include = {}\nheartbeat_port = 539\nkeepalive = 0.2\n\
         deadtime = 1\nnetwork = direct\n\
         virtual web {{\n active = 1\n address = {VIP} eth0\n port = 80\n \
         server rs1 {{\n  address = 192.168.77.60\n  active = 1\n }}\n}}\n",
        dir.join("bird.ctl").display(),
        dir.join("piranha/bird.conf").display(),
    )
}

/// A stand-in BIRD: greets, records each command, answers as BIRD 2 does (or with
/// `error` for every command when set).
fn fake_bird(path: &Path, error: bool) -> Arc<Mutex<Vec<String>>> {
    let listener = UnixListener::bind(path).unwrap();
    let heard = Arc::new(Mutex::new(Vec::new()));
    let log = heard.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let _ = conn.write_all(b"0001 BIRD 2.0.12 ready.\n");
            let reader = BufReader::new(conn.try_clone().unwrap());
            for line in reader.lines() {
                let Ok(line) = line else { break };
                log.lock().unwrap().push(line.clone());
                let answer: &[u8] = if error {
                    b"9001 syntax error, unexpected CF_SYM_UNDEFINED\n"
                } else if line == "configure" {
                    b"0002-Reading configuration from /etc/bird/bird.conf\n0003 Reconfigured\n"
                } else {
                    b"0012-piranha_vip_192_168_77_100: disabled\n0000 \n"
                };
                let _ = conn.write_all(answer);
            }
        }
    });
    heard
}

struct FleetDirector {
    daemon: Daemon,
    dir: TempDir,
}

fn start(lan: &Lan) -> FleetDirector {
    let dir = TempDir::new("pulse-fleet");
    std::fs::write(dir.join("lvs.cf"), lvs_cf(dir.path())).unwrap();
    // A stand-in lvsd that stays until told to go.
    dir.script(
        "lvsd",
        "#!/bin/sh\ntrap 'exit 0' TERM\nwhile :; do sleep 0.05; done\n",
    );
    start_in(lan, dir)
}

/// pulse on d1 with its files (lvs.cf, pid file, address ledger) in `dir`.
fn start_in(lan: &Lan, dir: TempDir) -> FleetDirector {
    let lvsd = dir.join("lvsd").display().to_string();
    let mut cmd = common::pulse_in(&lan.ns("d1"), dir.path(), &lvsd);
    cmd.arg("-v");
    FleetDirector {
        daemon: Daemon::spawn(&mut cmd),
        dir,
    }
}

fn has(lan: &Lan, what: &str) -> bool {
    lan.exec("d1", &["ip", "addr", "show"]).contains(what)
}

#[test]
fn bird_absent_then_refusing_then_answering_is_logged_retried_and_told_everything() {
    let lan = Lan::create();
    let d1 = start(&lan);
    d1.daemon
        .wait_for("STARTING PULSE AS FLEET DIRECTOR 192.168.77.10", 5);
    d1.daemon.wait_for("cannot drive BIRD", 5);
    // Refusing: every command answered with an error.
    let socket = d1.dir.join("bird.ctl");
    let refused = fake_bird(&socket, true);
    d1.daemon.wait_for("syntax error", 10);
    assert!(refused.lock().unwrap().contains(&"configure".to_string()));
    std::fs::remove_file(&socket).unwrap();
    let heard = fake_bird(&socket, false);
    d1.daemon.wait_for("BIRD: connected", 15);
    let told = heard.lock().unwrap().clone();
    assert_eq!(told[0], "configure", "{told:?}");
    // No lvsd services in this namespace's table: the VIP is not announced.
    assert!(
        told.contains(&"disable \"piranha_vip_192_168_77_100\"".to_string()),
        "{told:?}"
    );
    let include = std::fs::read_to_string(d1.dir.join("piranha/bird.conf")).unwrap();
    assert!(
        include.contains("protocol static piranha_vip_192_168_77_100 {\n  disabled yes;"),
        "{include}"
    );
    assert!(
        include.contains("neighbor 192.168.77.1 as 65000;"),
        "{include}"
    );
    assert!(d1
        .daemon
        .printed()
        .iter()
        .all(|l| !l.contains("announcing")));
}

#[test]
fn the_vip_goes_on_lo_the_interface_lives_with_pulse_and_reports_reach_the_others() {
    let lan = Lan::create();
    let listener = lan.in_ns("d2", || {
        let s = UdpSocket::bind((D2, 539)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 2048];
        let (n, from) = s.recv_from(&mut buf).unwrap();
        (buf[..n].to_vec(), from.ip())
    });
    let mut d1 = start(&lan);
    d1.daemon.wait_for("STARTING PULSE AS FLEET DIRECTOR", 5);
    assert!(
        within(3.0, || has(&lan, "piranha0")),
        "{}",
        lan.exec("d1", &["ip", "link"])
    );
    assert!(
        within(3.0, || has(&lan, &format!("{VIP}/32 scope global lo"))),
        "{}\n{:?}",
        lan.exec("d1", &["ip", "addr", "show"]),
        d1.daemon.printed()
    );
    let sysctl = lan.exec("d1", &["sysctl", "-n", "net.ipv4.conf.all.arp_ignore"]);
    assert_eq!(sysctl.trim(), "1");
    let (bytes, from) = listener.join().unwrap();
    let report = pulse::fleet::report::decode(&bytes, from, None).expect("a fleet report");
    assert_eq!(report.director.to_string(), D1);
    assert!(
        report.announced.is_empty(),
        "nothing servable, nothing announced"
    );
    // Killed: the kernel removes the interface BIRD's routes hang on.
    d1.daemon.signal(9);
    d1.daemon.wait();
    assert!(
        within(3.0, || !has(&lan, "piranha0")),
        "{}",
        lan.exec("d1", &["ip", "link"])
    );
    // Restarted beside the same ledger it removes the VIP the killed one left and adds
    // it again; a clean stop removes it.
    let mut again = start_in(&lan, d1.dir);
    again.daemon.wait_for("STARTING PULSE AS FLEET DIRECTOR", 5);
    assert!(within(3.0, || has(&lan, "piranha0")));
    again.daemon.signal(15);
    assert_eq!(again.daemon.wait(), Some(0));
    assert!(!has(&lan, &format!("{VIP}/32")), "{}", lan.addresses("d1"));
    assert!(!has(&lan, "piranha0"));
}
