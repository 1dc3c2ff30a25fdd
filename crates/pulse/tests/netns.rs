//! pulse on real sockets, addresses and links, in network namespaces on this host (no
//! IPVS needed; run as root, as the README's test command does): two directors and an
//! observer on a bridge, our pulse on one or both directors, a stand-in legacy pulse
//! speaking exactly the legacy bytes and timing, frames captured on the observer.
//! lvsd is a stand-in too (a sleeping process): these tests are about pulse.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hostnet::{ArpFrame, MacAddr, NeighbourAdvert};
use pulse::wire::Magic;
use testbed::lan::{arp_replies, Capture, Lan};
use testbed::{within, Daemon, TempDir};

const D1: &str = "192.168.77.10";
const D2: &str = "192.168.77.11";
const VIP: &str = "192.168.77.100";
const VIP6: &str = "2001:db8:77::100";

fn lvs_cf(extra: &str) -> String {
    format!(
        r#"serial_no = 1
primary = {D1}
service = lvs
backup_active = 1
backup = {D2}
heartbeat = 1
heartbeat_port = 539
keepalive = 0.2
deadtime = 0.8
network = direct
monitor_links = 1
{extra}
virtual web {{
     active = 1
     address = {VIP} eth0:1
     vip_nmask = 255.255.255.0
     port = 80
     server rs1 {{
         address = 192.168.77.60
         active = 1
     }}
}}
"#
    )
}

/// One director's pulse: its own directory (pid file, ledger, lvs.cf) and process.
/// Starts d1 (the primary), then d2, which, started second, activates (docs/legacy.md
/// "pulse state machine").
fn start_in_order(lan: &Lan, d1: &mut Director, d2: &mut Director) {
    d1.start(lan, &[]);
    d1.wait_for("STARTING PULSE AS MASTER", 5);
    d2.start(lan, &[]);
    d2.wait_for("primary inactive: activating lvs", 5);
}

struct Director {
    // Dropped first: the daemon goes before its directory.
    daemon: Option<Daemon>,
    dir: TempDir,
    host: &'static str,
}

impl Director {
    fn new(host: &'static str, config: &str) -> Director {
        let dir = TempDir::new(&format!("pulse-{host}"));
        std::fs::write(dir.join("lvs.cf"), config).unwrap();
        // A stand-in lvsd that notes each SIGHUP and leaves on SIGTERM.
        let hup = dir.join("hup");
        dir.script(
            "lvsd",
            &format!("#!/bin/sh\necho \"$PULSE_CONTROL_SOCKET\" > {}\ntrap 'echo hup >> {}' HUP\ntrap 'exit 0' TERM\nwhile :; do sleep 0.05; done\n", dir.join("env").display(), hup.display()),
        );
        Director {
            dir,
            daemon: None,
            host,
        }
    }

    fn start(&mut self, lan: &Lan, extra_args: &[&str]) {
        let lvsd = self.dir.join("lvsd").display().to_string();
        let mut cmd = common::pulse_in(&lan.ns(self.host), self.dir.path(), &lvsd);
        cmd.arg("-v").args(extra_args);
        self.daemon = Some(Daemon::spawn(&mut cmd));
    }

    fn d(&self) -> &Daemon {
        self.daemon.as_ref().expect("started")
    }

    fn wait_for(&self, needle: &str, secs: u64) -> Vec<String> {
        self.d().wait_for(needle, secs)
    }

    fn kill9(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            d.signal(9);
            d.wait();
        }
    }

    fn said(&self, needle: &str) -> usize {
        self.d()
            .printed()
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }
}

fn mac(lan: &Lan, host: &str) -> MacAddr {
    MacAddr::parse(&lan.mac(host)).expect("an Ethernet MAC")
}

fn has_vip(lan: &Lan, host: &str) -> bool {
    lan.addresses(host).contains(&format!("{VIP}/24"))
}

#[test]
fn the_director_started_second_takes_the_vip_and_announces_it_with_legacy_frames() {
    let lan = Lan::create();
    let capture = Capture::start(&lan, "obs");
    let mut d1 = Director::new("d1", &lvs_cf(""));
    let mut d2 = Director::new("d2", &lvs_cf(""));
    d1.start(&lan, &[]);
    d1.wait_for("STARTING PULSE AS MASTER", 5);
    std::thread::sleep(Duration::from_millis(100));
    d2.start(&lan, &[]);
    d2.wait_for("STARTING PULSE AS BACKUP", 5);
    d2.wait_for("primary inactive: activating lvs", 5);
    assert!(
        within(2.0, || has_vip(&lan, "d2")),
        "{}",
        lan.addresses("d2")
    );
    // The alias label and legacy broadcast, as `ifconfig eth0:1 VIP netmask ... broadcast ...`.
    let addrs = lan.addresses("d2");
    assert!(
        addrs.contains(&format!(
            "inet {VIP}/24 brd 192.168.77.255 scope global secondary eth0:1"
        )),
        "{addrs}"
    );
    d2.wait_for("gratuitous lvs arps finished", 8);
    std::thread::sleep(Duration::from_millis(300));
    assert!(!has_vip(&lan, "d1"));
    assert_eq!(
        d1.said("activating"),
        0,
        "the first stays standby: {:?}",
        d1.d().printed()
    );
    let frames = capture.finish();
    let expected = ArpFrame::gratuitous(mac(&lan, "d2"), VIP.parse().unwrap()).encode();
    let seen = arp_replies(&frames);
    let ours: Vec<&Vec<u8>> = seen.iter().filter(|f| f[..] == expected[..]).collect();
    assert_eq!(
        ours.len(),
        5,
        "five legacy frames, byte for byte: {seen:02x?}"
    );
}

#[test]
fn kill_9_of_the_active_pulse_fails_over_and_its_restart_removes_the_leftover_vip() {
    let lan = Lan::create();
    let mut d1 = Director::new("d1", &lvs_cf(""));
    let mut d2 = Director::new("d2", &lvs_cf(""));
    d2.start(&lan, &[]);
    d2.wait_for("STARTING PULSE AS BACKUP", 5);
    std::thread::sleep(Duration::from_millis(100));
    d1.start(&lan, &[]);
    d1.wait_for("backup inactive: activating lvs", 5);
    assert!(within(2.0, || has_vip(&lan, "d1")));
    let ledger = std::fs::read_to_string(d1.dir.join("pulse.addresses")).unwrap();
    assert_eq!(ledger, format!("{VIP}/24 eth0 eth0:1\n"));
    let killed = Instant::now();
    d1.kill9();
    d2.wait_for("partner dead: activating lvs", 3);
    let took = killed.elapsed();
    assert!(
        took <= Duration::from_millis(800 + 300),
        "failover took {took:?} with deadtime 0.8"
    );
    assert!(within(2.0, || has_vip(&lan, "d2")));
    assert!(has_vip(&lan, "d1"), "kill -9 leaves the VIP behind");
    // The restarted pulse removes what the crashed one added, and stands by.
    d1.start(&lan, &[]);
    d1.wait_for(
        &format!("removing {VIP}/24 on eth0, left by an earlier pulse"),
        5,
    );
    assert!(within(2.0, || !has_vip(&lan, "d1")));
    assert!(!d1.dir.join("pulse.addresses").exists());
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        d1.said("activating"),
        0,
        "no preemption: {:?}",
        d1.d().printed()
    );
    assert!(has_vip(&lan, "d2"));
}

#[test]
fn an_address_pulse_did_not_add_is_never_removed() {
    let lan = Lan::create();
    // The VIP is configured by hand on d1 before pulse starts.
    lan.exec(
        "d1",
        &[
            "ip",
            "addr",
            "add",
            &format!("{VIP}/24"),
            "dev",
            "eth0",
            "label",
            "eth0:1",
        ],
    );
    let mut d1 = Director::new("d1", &lvs_cf(""));
    d1.start(&lan, &[]);
    d1.wait_for("partner dead: activating lvs", 5);
    assert!(
        !d1.dir.join("pulse.addresses").exists(),
        "not recorded: not ours"
    );
    d1.d().signal(15);
    d1.wait_for("Terminating due to signal 15", 5);
    let code = d1.daemon.as_mut().unwrap().wait();
    assert_eq!(code, Some(0));
    assert!(has_vip(&lan, "d1"), "left alone: {}", lan.addresses("d1"));
}

#[test]
fn link_failure_on_the_active_director_hands_over() {
    let lan = Lan::create();
    let mut d1 = Director::new("d1", &lvs_cf(""));
    let mut d2 = Director::new("d2", &lvs_cf(""));
    d2.start(&lan, &[]);
    d2.wait_for("STARTING PULSE AS BACKUP", 5);
    d1.start(&lan, &[]);
    d1.wait_for("backup inactive: activating lvs", 5);
    assert!(within(2.0, || has_vip(&lan, "d1")));
    lan.cable("d1", false);
    d1.wait_for("Primary NIC: link down", 3);
    d1.wait_for("Local NIC link failure: Pulse disabled", 1);
    d1.wait_for("local link failure: deactivating LVS", 1);
    assert!(
        within(2.0, || !has_vip(&lan, "d1")),
        "{}",
        lan.addresses("d1")
    );
    d2.wait_for("partner dead: activating lvs", 3);
    assert!(within(2.0, || has_vip(&lan, "d2")));
    lan.cable("d1", true);
    d1.wait_for("Local NIC link(s) restored: Pulse enabled", 3);
    std::thread::sleep(Duration::from_secs(1));
    assert!(has_vip(&lan, "d2") && !has_vip(&lan, "d1"));
}

#[test]
fn a_split_brain_heals_to_the_master_which_reannounces() {
    let lan = Lan::create();
    let mut d1 = Director::new("d1", &lvs_cf(""));
    let mut d2 = Director::new("d2", &lvs_cf(""));
    start_in_order(&lan, &mut d1, &mut d2);
    lan.partition("d2", true);
    d1.wait_for("partner dead: activating lvs", 3);
    assert!(
        within(2.0, || has_vip(&lan, "d1") && has_vip(&lan, "d2")),
        "split brain"
    );
    // d2's own burst from its activation is over before the heal.
    d2.wait_for("gratuitous lvs arps finished", 6);
    let capture = Capture::start(&lan, "obs");
    let healed = Instant::now();
    lan.partition("d2", false);
    d2.wait_for("partner active: deactivating LVS", 3);
    d1.wait_for("partner active: resending arps", 3);
    let took = healed.elapsed();
    assert!(
        took < Duration::from_millis(1000),
        "healed in {took:?} with keepalive 0.2"
    );
    assert!(within(2.0, || !has_vip(&lan, "d2") && has_vip(&lan, "d1")));
    std::thread::sleep(Duration::from_millis(1500));
    let frames = capture.finish();
    let d2_frame = ArpFrame::gratuitous(mac(&lan, "d2"), VIP.parse().unwrap()).encode();
    let d1_frame = ArpFrame::gratuitous(mac(&lan, "d1"), VIP.parse().unwrap()).encode();
    let seen = arp_replies(&frames);
    assert!(
        seen.iter().any(|f| f[..] == d1_frame[..]),
        "the master re-announced"
    );
    assert!(
        !seen.iter().any(|f| f[..] == d2_frame[..]),
        "the yielded node stopped announcing at once"
    );
}

/// A datagram the stand-in received, and when.
type Received = (Instant, Vec<u8>);

/// A legacy pulse as seen on the wire: a UDP socket on the partner's address and port,
/// sending one 4-byte word every second, recording what it receives.
struct LegacyPartner {
    word: Arc<AtomicU32>,
    received: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
}

impl LegacyPartner {
    fn start(
        lan: &Lan,
        host: &str,
        own: &'static str,
        partner: &'static str,
        keepalive: Duration,
    ) -> LegacyPartner {
        let word = Arc::new(AtomicU32::new(0));
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (w, r, s) = (word.clone(), received.clone(), stop.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        lan.in_ns(host, move || {
            let sock =
                UdpSocket::bind(SocketAddr::new(own.parse().unwrap(), 539)).expect("bind 539");
            sock.set_read_timeout(Some(Duration::from_millis(10)))
                .unwrap();
            tx.send(()).unwrap();
            let to = SocketAddr::new(partner.parse().unwrap(), 539);
            let mut next = Instant::now() + keepalive;
            let mut buf = [0u8; 256];
            while !s.load(Ordering::SeqCst) {
                if Instant::now() >= next {
                    let word = w.load(Ordering::SeqCst);
                    if word != 0 {
                        let _ = sock.send_to(&word.to_le_bytes(), to);
                    }
                    next += keepalive;
                }
                if let Ok((n, _)) = sock.recv_from(&mut buf) {
                    r.lock().unwrap().push((Instant::now(), buf[..n].to_vec()));
                }
            }
        });
        rx.recv().unwrap();
        LegacyPartner {
            word,
            received,
            stop,
        }
    }

    fn say(&self, m: Option<Magic>) {
        self.word.store(m.map_or(0, Magic::word), Ordering::SeqCst);
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for LegacyPartner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn legacy_cf() -> String {
    lvs_cf("")
        .replace("keepalive = 0.2", "keepalive = 1")
        .replace("deadtime = 0.8", "deadtime = 3")
}

#[test]
fn with_a_legacy_backup_our_primary_interoperates_byte_for_byte() {
    let lan = Lan::create();
    let legacy = LegacyPartner::start(&lan, "d2", D2, D1, Duration::from_secs(1));
    legacy.say(Some(Magic::LvsStopped));
    let mut d1 = Director::new("d1", &legacy_cf());
    let started = Instant::now();
    d1.start(&lan, &[]);
    d1.wait_for("backup inactive: activating lvs", 3);
    assert!(within(2.0, || has_vip(&lan, "d1")));
    std::thread::sleep(Duration::from_millis(2100));
    let got = legacy.received();
    assert!(
        got.iter().all(|(_, b)| b.len() == 4),
        "exactly the legacy 4 bytes: {got:02x?}"
    );
    assert!(got.iter().any(|(_, b)| b[..] == Magic::LvsRunning.bytes()));
    let first = got[0].0.duration_since(started);
    assert!(
        first >= Duration::from_millis(900) && first < Duration::from_millis(1600),
        "first heartbeat one keepalive after start: {first:?}"
    );
    // The legacy backup activates too (a split brain healing): the master keeps the
    // role and re-announces, as a legacy master does.
    legacy.say(Some(Magic::LvsRunning));
    d1.wait_for("partner active: resending arps", 3);
    assert!(has_vip(&lan, "d1"));
    // The legacy partner dies: nothing changes for the active master.
    legacy.say(None);
    std::thread::sleep(Duration::from_secs(4));
    assert!(has_vip(&lan, "d1"));
}

#[test]
fn with_a_legacy_primary_our_backup_stands_by_takes_over_and_yields_with_the_extra_heartbeat() {
    let lan = Lan::create();
    let legacy = LegacyPartner::start(&lan, "d1", D1, D2, Duration::from_secs(1));
    legacy.say(Some(Magic::LvsRunning));
    let mut d2 = Director::new("d2", &legacy_cf());
    d2.start(&lan, &[]);
    d2.wait_for("STARTING PULSE AS BACKUP", 3);
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        d2.said("activating"),
        0,
        "a running legacy primary keeps us standby"
    );
    let silent = Instant::now();
    legacy.say(None);
    d2.wait_for("partner dead: activating lvs", 5);
    let took = silent.elapsed();
    assert!(
        took <= Duration::from_millis(3000 + 500),
        "partner dead within deadtime: {took:?}"
    );
    assert!(within(2.0, || has_vip(&lan, "d2")));
    let before = legacy.received().len();
    legacy.say(Some(Magic::LvsRunning));
    d2.wait_for("partner active: deactivating LVS", 3);
    assert!(within(2.0, || !has_vip(&lan, "d2")));
    // Right after the legacy primary's "running" came our extra "running".
    let got = legacy.received();
    assert!(
        got[before..]
            .iter()
            .any(|(_, b)| b[..] == Magic::LvsRunning.bytes()),
        "{got:02x?}"
    );
    std::thread::sleep(Duration::from_millis(1200));
    let last = legacy.received().last().unwrap().1.clone();
    assert_eq!(last, Magic::LvsStopped.bytes(), "standing by again");
}

/// Two directors with `heartbeat_auth = enforce` and one key.
fn signing_pair() -> (Director, Director) {
    let auth = "heartbeat_auth = enforce\nheartbeat_key = KEY\nheartbeat_key_id = 3";
    let d1 = Director::new("d1", &lvs_cf(auth));
    let d2 = Director::new("d2", &lvs_cf(auth));
    for d in [&d1, &d2] {
        let key = d.dir.join("hb.key");
        std::fs::write(&key, "a secret both directors share\n").unwrap();
        std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let cf = std::fs::read_to_string(d.dir.join("lvs.cf"))
            .unwrap()
            .replace("KEY", &key.display().to_string());
        std::fs::write(d.dir.join("lvs.cf"), cf).unwrap();
    }
    (d1, d2)
}

/// The UDP payloads of the signed heartbeats among captured frames.
fn signed_heartbeats(frames: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    frames
        .into_iter()
        .filter(|f| f.len() == 14 + 20 + 8 + 76 && f[12..14] == [0x08, 0x00] && f[14 + 9] == 17)
        .map(|f| f[42..].to_vec())
        .collect()
}

#[test]
fn authenticated_heartbeats_refuse_unsigned_forged_and_replayed_packets() {
    let lan = Lan::create();
    let (mut d1, mut d2) = signing_pair();
    // Record d2's genuine heartbeats as they leave d2.
    let capture = Capture::start(&lan, "d2");
    start_in_order(&lan, &mut d1, &mut d2);
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(
        d1.said("refused"),
        0,
        "genuine heartbeats pass: {:?}",
        d1.d().printed()
    );
    let genuine = signed_heartbeats(capture.finish());
    assert!(genuine.len() >= 2, "captured d2's signed heartbeats");
    assert!(genuine
        .iter()
        .all(|p| p[..4] == Magic::LvsRunning.bytes() || p[..4] == Magic::LvsStopped.bytes()));
    // d2 dies; a forger at its address replays its packets and sends unsigned and
    // badly signed ones: d1 refuses them all and takes over when d2's heartbeats stop.
    d2.kill9();
    let forged = lan.in_ns("d2", move || {
        let sock = UdpSocket::bind(SocketAddr::new(D2.parse().unwrap(), 539)).unwrap();
        let to: SocketAddr = SocketAddr::new(D1.parse().unwrap(), 539);
        let end = Instant::now() + Duration::from_millis(1500);
        let mut bad = genuine[0].clone();
        bad[51] ^= 0xff;
        while Instant::now() < end {
            for p in &genuine {
                let _ = sock.send_to(p, to);
            }
            let _ = sock.send_to(&Magic::LvsRunning.bytes(), to);
            let _ = sock.send_to(&bad, to);
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    d1.wait_for("partner dead: activating lvs", 3);
    forged.join().unwrap();
    let printed = d1.d().printed();
    for why in [
        "refused replayed heartbeat from 192.168.77.11",
        "refused unauthenticated heartbeat from 192.168.77.11",
        "refused heartbeat with a bad signature (forged?) from 192.168.77.11",
    ] {
        let n = printed.iter().filter(|l| l.contains(why)).count();
        assert_eq!(n, 1, "`{why}` logged once (rate limited): {printed:#?}");
    }
}

/// Replay protection owes nothing to the clock or to what a director sent before it
/// restarted (issue 24, point 2): a restarted partner is accepted at once, and a director
/// that has just started refuses heartbeats captured before it did.
#[test]
fn signed_heartbeats_follow_restarts_and_a_fresh_director_refuses_old_captures() {
    let lan = Lan::create();
    let (mut d1, mut d2) = signing_pair();
    let capture = Capture::start(&lan, "d2");
    start_in_order(&lan, &mut d1, &mut d2);
    std::thread::sleep(Duration::from_secs(3));
    // d2 restarts: its "stopped" hands the VIP to d1 at once; the new d2 stands by.
    d2.d().signal(15);
    d1.wait_for("activating lvs", 3);
    d2.daemon.as_mut().unwrap().wait();
    d2.start(&lan, &[]);
    d2.wait_for("STARTING PULSE AS BACKUP", 5);
    std::thread::sleep(Duration::from_millis(600));
    // d1 stops: only if each has accepted the other's new start does d2 take its
    // "stopped" at once rather than waiting out the dead time.
    d1.d().signal(15);
    d2.wait_for("primary inactive: activating lvs", 3);
    assert_eq!(d2.said("partner dead"), 0, "{:#?}", d2.d().printed());
    d1.daemon.as_mut().unwrap().wait();
    d2.kill9();
    // d2's heartbeats from its first start, replayed in order at d2's pace to a d1 that
    // has just started: none is taken for d2, so d1 takes over after its dead time.
    let captured = signed_heartbeats(capture.finish());
    assert!(
        captured.len() >= 10,
        "captured d2's heartbeats: {}",
        captured.len()
    );
    let stop = Arc::new(AtomicBool::new(false));
    let (until, first) = (Arc::clone(&stop), captured.clone());
    let replay = lan.in_ns("d2", move || {
        let sock = UdpSocket::bind(SocketAddr::new(D2.parse().unwrap(), 539)).unwrap();
        let to: SocketAddr = SocketAddr::new(D1.parse().unwrap(), 539);
        for p in first.iter().cycle().take(200) {
            if until.load(Ordering::Relaxed) {
                break;
            }
            let _ = sock.send_to(p, to);
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    d1.start(&lan, &[]);
    d1.wait_for("STARTING PULSE AS MASTER", 5);
    d1.wait_for("partner dead: activating lvs", 2);
    stop.store(true, Ordering::Relaxed);
    replay.join().unwrap();
    assert!(
        d1.said("refused heartbeat that does not answer our challenge") >= 1,
        "{:#?}",
        d1.d().printed()
    );
}

#[test]
fn an_ipv6_vip_is_taken_over_and_announced_with_an_unsolicited_advert() {
    let lan = Lan::create();
    let extra = format!("virtual web6 {{\n active = 1\n address = {VIP6} eth0\n port = 80\n server rs1 {{\n address = 2001:db8:77::60\n active = 1\n }}\n}}\n");
    let cf = lvs_cf("") + &extra;
    let capture = Capture::start(&lan, "obs");
    let mut d1 = Director::new("d1", &cf);
    d1.start(&lan, &[]);
    d1.wait_for("partner dead: activating lvs", 5);
    assert!(
        within(2.0, || lan.addresses("d1").contains(&format!("{VIP6}/128"))),
        "{}",
        lan.addresses("d1")
    );
    std::thread::sleep(Duration::from_millis(300));
    let frames = capture.finish();
    let expected = NeighbourAdvert::unsolicited(mac(&lan, "d1"), VIP6.parse().unwrap()).encode();
    assert!(
        frames.iter().any(|f| f[..] == expected[..]),
        "the unsolicited NA, byte for byte"
    );
    d1.d().signal(15);
    d1.wait_for("Terminating due to signal 15", 5);
    assert_eq!(d1.daemon.as_mut().unwrap().wait(), Some(0));
    let left = lan.addresses("d1");
    assert!(
        !left.contains(VIP6) && !left.contains(VIP),
        "removed at exit: {left}"
    );
}

#[test]
fn ipv6_heartbeat_addresses_work() {
    let lan = Lan::create();
    let cf = lvs_cf("")
        .replace(&format!("primary = {D1}"), "primary = 2001:db8:77::10")
        .replace(&format!("backup = {D2}"), "backup = 2001:db8:77::11");
    let mut d1 = Director::new("d1", &cf);
    let mut d2 = Director::new("d2", &cf);
    start_in_order(&lan, &mut d1, &mut d2);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        d1.said("activating"),
        0,
        "heartbeats flow over IPv6: {:?}",
        d1.d().printed()
    );
}

#[test]
fn sighup_reaches_only_a_running_lvsd_and_sigusr_does_not_kill_pulse() {
    let lan = Lan::create();
    let mut d1 = Director::new("d1", &lvs_cf(""));
    d1.start(&lan, &[]);
    d1.wait_for("STARTING PULSE AS MASTER", 5);
    d1.d().signal(libc::SIGHUP);
    d1.wait_for("SIGHUP: lvsd is not running; nothing to reload", 3);
    d1.d().signal(libc::SIGUSR1);
    d1.d().signal(libc::SIGUSR2);
    d1.wait_for("partner dead: activating lvs", 5);
    assert!(
        d1.daemon
            .as_mut()
            .unwrap()
            .child
            .try_wait()
            .unwrap()
            .is_none(),
        "still running"
    );
}

#[test]
fn test_start_brings_no_address_up() {
    let lan = Lan::create();
    let mut d1 = Director::new("d1", &lvs_cf(""));
    d1.start(&lan, &["--test-start"]);
    d1.wait_for("partner dead: activating lvs", 5);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !has_vip(&lan, "d1"),
        "legacy brought VIPs up even with --test-start"
    );
}

#[test]
fn start_up_errors_are_the_legacy_ones_on_the_terminal() {
    let dir = TempDir::new("pulse-errors");
    let run = |cf: &str| {
        std::fs::write(dir.join("lvs.cf"), cf).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_pulse"))
            .args(["-n", "-c"])
            .arg(dir.join("lvs.cf"))
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(&format!(
        "primary = {D1}\nbackup = {D2}\nbackup_active = 1\n"
    ));
    assert_eq!(code, Some(1));
    assert!(
        err.starts_with(&format!(
            "pulse: no active lvs services defined in {}",
            dir.join("lvs.cf").display()
        )),
        "{err}"
    );
    let (code, err) = run("primary = 10.0.0.1\nbogus = 1\n");
    assert_eq!(code, Some(1));
    assert!(
        err.starts_with(&format!(
            "pulse: error parsing {} at line 2: ",
            dir.join("lvs.cf").display()
        )),
        "{err}"
    );
    let missing = Command::new(env!("CARGO_BIN_EXE_pulse"))
        .args(["-n", "-c", "/nonexistent/lvs.cf"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&missing.stderr).lines().next(),
        Some("pulse: failed to open /nonexistent/lvs.cf")
    );
    // Not a local address on this host (the address is in no namespace here): a bind failure.
    let (code, err) = run(&lvs_cf(""));
    assert_eq!(code, Some(1));
    assert!(
        err.contains("pulse: cannot create heartbeat socket. running as root?"),
        "{err}"
    );
}

#[test]
fn a_backup_marked_inactive_says_so_and_exits_255() {
    let lan = Lan::create();
    let mut d2 = Director::new(
        "d2",
        &lvs_cf("").replace("backup_active = 1", "backup_active = 0"),
    );
    d2.start(&lan, &[]);
    d2.wait_for("STARTING PULSE AS BACKUP", 5);
    d2.wait_for(
        "We are backup node and backup is marked inactive -- exiting pulse",
        2,
    );
    assert_eq!(d2.daemon.as_mut().unwrap().wait(), Some(255));
}

#[test]
fn a_lvsd_that_cannot_start_leaves_the_node_inactive_and_says_why() {
    let lan = Lan::create();
    let mut d1 = Director::new("d1", &lvs_cf(""));
    std::fs::remove_file(d1.dir.join("lvsd")).unwrap();
    d1.start(&lan, &[]);
    d1.wait_for("partner dead: activating lvs", 5);
    d1.wait_for("cannot start lvsd: ", 2);
    assert!(
        within(2.0, || !has_vip(&lan, "d1")),
        "{}",
        lan.addresses("d1")
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        d1.said("activating"),
        1,
        "CHILDFAIL: no new activation: {:?}",
        d1.d().printed()
    );
}

#[test]
fn as_a_daemon_pulse_detaches_writes_its_pid_file_and_removes_it_at_exit() {
    let lan = Lan::create();
    let d = Director::new("d1", &lvs_cf(""));
    let pid_file = d.dir.join("pulse.pid");
    // The legacy spelling --lvs= for lvsd's path.
    let status = Command::new("ip")
        .args(["netns", "exec", &lan.ns("d1"), env!("CARGO_BIN_EXE_pulse")])
        .arg(format!("-c{}", d.dir.join("lvs.cf").display()))
        .arg(format!("--pidfile={}", pid_file.display()))
        .arg(format!("--lvs={}", d.dir.join("lvsd").display()))
        .status()
        .unwrap();
    assert!(status.success(), "the parent returns at once");
    let pid_text = || std::fs::read_to_string(&pid_file).unwrap_or_default();
    assert!(within(3.0, || pid_text().ends_with('\n')), "pid written");
    let pid: u32 = pid_text().trim().parse().unwrap();
    // Active after deadtime: the VIP is up and the stand-in lvsd (from --lvs=) runs.
    assert!(within(3.0, || has_vip(&lan, "d1")));
    let lvsd = d.dir.join("lvsd").display().to_string();
    let running = || {
        let out = Command::new("pgrep").args(["-f", &lvsd]).output().unwrap();
        out.status.success()
    };
    assert!(within(3.0, running), "lvsd from --lvs= runs");
    assert!(testbed::signal(pid, libc::SIGTERM));
    assert!(
        within(5.0, || !pid_file.exists()),
        "pid file removed at exit"
    );
    assert!(within(2.0, || !has_vip(&lan, "d1")), "VIP removed at exit");
    assert!(within(2.0, || !running()), "lvsd stopped");
}

#[test]
fn preemption_hands_the_role_back_to_the_primary_after_the_delay() {
    let lan = Lan::create();
    let cf = lvs_cf("preempt_delay = 1");
    let mut d1 = Director::new("d1", &cf);
    let mut d2 = Director::new("d2", &cf);
    start_in_order(&lan, &mut d1, &mut d2);
    d1.wait_for("preempting: the primary takes the active role back", 4);
    d2.wait_for("partner active: deactivating LVS", 3);
    assert!(within(2.0, || has_vip(&lan, "d1") && !has_vip(&lan, "d2")));
}

/// pulse's answer to `status` on its control socket (beside its pid file).
fn status(d: &Director) -> serde_json::Value {
    let v = daemon::control::ask(
        &d.dir.join("pulse.sock"),
        &serde_json::json!({"command": "status"}),
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(v["ok"], true, "{v}");
    v
}

#[test]
fn the_control_socket_reports_role_state_partner_and_addresses() {
    let lan = Lan::create();
    let mut d1 = Director::new("d1", &lvs_cf(""));
    let mut d2 = Director::new("d2", &lvs_cf(""));
    start_in_order(&lan, &mut d1, &mut d2);
    assert!(within(2.0, || has_vip(&lan, "d2")));
    std::thread::sleep(Duration::from_millis(500));
    let (s1, s2) = (status(&d1), status(&d2));
    assert_eq!(
        (s1["role"].as_str(), s1["state"].as_str()),
        (Some("primary"), Some("standby")),
        "{s1}"
    );
    assert_eq!(
        (s2["role"].as_str(), s2["state"].as_str()),
        (Some("backup"), Some("active")),
        "{s2}"
    );
    assert_eq!(
        s2["addresses"],
        serde_json::json!([format!("{VIP}/24 eth0:1")])
    );
    assert_eq!(s1["addresses"], serde_json::json!([]));
    // Each hears the other every keepalive (0.2 s): alive, and what it said.
    assert_eq!(s1["partner"]["address"], D2);
    assert_eq!(s1["partner"]["alive"], true);
    assert_eq!(s1["partner"]["last_said"], "running");
    assert_eq!(s2["partner"]["last_said"], "stopped");
    assert!(
        s1["partner"]["last_heard_ms_ago"].as_u64().unwrap() < 800,
        "{s1}"
    );
    assert!(s2["lvsd_pid"].as_u64().is_some(), "{s2}");
    assert_eq!(
        (s1["keepalive_ms"].as_u64(), s1["deadtime_ms"].as_u64()),
        (Some(200), Some(800))
    );
    // d2 killed: d1 takes over, and its status says the partner went silent.
    d2.kill9();
    assert!(within(3.0, || has_vip(&lan, "d1")));
    let s1 = status(&d1);
    assert_eq!(s1["state"], "active", "{s1}");
    assert_eq!(s1["partner"]["alive"], false, "{s1}");
    // Unknown commands are answered as such.
    let v = daemon::control::ask(
        &d1.dir.join("pulse.sock"),
        &serde_json::json!({"command": "drain"}),
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(v["error"], "unknown command \"drain\"");
}

#[test]
fn pulse_serves_the_status_page_and_metrics_for_its_director() {
    use testbed::tools::{http_get, promtool_check};
    let lan = Lan::create();
    let mut d1 = Director::new("d1", &lvs_cf("status_http = 9180"));
    let mut d2 = Director::new("d2", &lvs_cf("status_http = 9180"));
    start_in_order(&lan, &mut d1, &mut d2);
    let listening = "pulse: status page and metrics on http://127.0.0.1:9180/".to_string();
    assert!(d2.d().printed().contains(&listening));
    assert!(within(2.0, || has_vip(&lan, "d2")));
    std::thread::sleep(Duration::from_millis(500));
    let get = |host: &str, path: &'static str| {
        lan.in_ns(host, move || {
            http_get("127.0.0.1:9180".parse().unwrap(), path)
        })
        .join()
        .unwrap()
    };
    let (code, _, m2) = get("d2", "/metrics");
    assert_eq!(code, 200);
    promtool_check(&m2).unwrap_or_else(|e| panic!("promtool: {e}\n{m2}"));
    for want in [
        "piranha_up{daemon=\"pulse\"} 1\n",
        // The stand-in lvsd has no control socket: said, not hidden.
        "piranha_up{daemon=\"lvsd\"} 0\n",
        "piranha_director_state{state=\"active\"} 1\n",
        "piranha_director_primary 0\n",
        "piranha_partner_alive 1\n",
        "piranha_director_addresses_held 1\n",
    ] {
        assert!(m2.contains(want), "{want} not in {m2}");
    }
    assert!(m2.contains("piranha_process_resident_memory_bytes{daemon=\"pulse\"} "));
    let (_, _, m1) = get("d1", "/metrics");
    assert!(
        m1.contains("piranha_director_state{state=\"standby\"} 1\n"),
        "{m1}"
    );
    let (_, _, page) = get("d2", "/");
    assert!(
        page.contains("<h1>Director: active <small>(backup)</small></h1>"),
        "{page}"
    );
    // The lvsd pulse started was told that pulse serves the listener, and where pulse is.
    let told = std::fs::read_to_string(d2.dir.join("env")).unwrap();
    assert_eq!(told.trim(), d2.dir.join("pulse.sock").display().to_string());
}

/// lvs.cf with `sync = 1`, `rsh_command` and this `serial_no`.
fn synced_cf(serial: u32, rsh: &str) -> String {
    lvs_cf(&format!("sync = 1\nrsh_command = {rsh}"))
        .replace("serial_no = 1\n", &format!("serial_no = {serial}\n"))
}

#[test]
fn the_active_director_pushes_lvs_cf_to_its_partner_and_retries_an_unreachable_one() {
    let lan = Lan::create();
    let mut d1 = Director::new("d1", "");
    let mut d2 = Director::new("d2", "");
    // A stand-in for ssh: runs the command given for the partner here, on the
    // partner's own file and pid file; unreachable while the partner's dir says so.
    let rsh = d1.dir.script(
        "rsh",
        &format!(
            "#!/bin/sh\ncase \"$1\" in {D1}) dir={};; {D2}) dir={};; *) exit 255;; esac\n\
             [ -e \"$dir/unreachable\" ] && {{ echo \"ssh: connect to host $1 port 22: No route to host\" >&2; exit 255; }}\n\
             exec \"$2\" \"$3\" \"$dir/lvs.cf\" \"--pidfile=$dir/pulse.pid\"\n",
            d1.dir.path().display(),
            d2.dir.path().display()
        ),
    );
    std::fs::write(d1.dir.join("lvs.cf"), synced_cf(2, &rsh)).unwrap();
    std::fs::write(d2.dir.join("lvs.cf"), synced_cf(1, &rsh)).unwrap();
    start_in_order(&lan, &mut d1, &mut d2);
    // d2, active, pushes its older file: d1 refuses it, and nobody retries.
    d2.wait_for(
        "configuration sync: lvs.cf not installed: refused: serial_no 1 is not newer than ours (2)",
        5,
    );
    // A newer file, reloaded on d2: installed on d1, its old copy kept, its pulse told.
    let v3 = synced_cf(3, &rsh) + "# edited on d2\n";
    std::fs::write(d2.dir.join("lvs.cf"), &v3).unwrap();
    d2.d().signal(libc::SIGHUP);
    pushed(&d2, &d1, (3, 2), (&v3, &synced_cf(2, &rsh)), 5);
    // The partner unreachable: logged, retried after 2 then 4 s, the heartbeat unharmed.
    std::fs::write(d1.dir.join("unreachable"), "").unwrap();
    std::fs::write(d2.dir.join("lvs.cf"), synced_cf(4, &rsh)).unwrap();
    d2.d().signal(libc::SIGHUP);
    d2.wait_for(
        "configuration sync failed: the partner did not answer (exit status 255); retrying in 2 s",
        5,
    );
    d2.wait_for("retrying in 4 s", 4);
    let s1 = status(&d1);
    assert_eq!(
        (s1["state"].as_str(), s1["partner"]["alive"].as_bool()),
        (Some("standby"), Some(true)),
        "{s1}"
    );
    std::fs::remove_file(d1.dir.join("unreachable")).unwrap();
    d2.wait_for("installed serial_no 4 (was 3)", 8);
    // lvsctl sync: on demand, with the partner's answer, refusal included.
    let lvsctl = |dir: &TempDir| {
        Command::new(env!("CARGO_BIN_EXE_pulse").replace("pulse", "lvsctl"))
            .arg("sync")
            .arg(format!(
                "--pulse-socket={}",
                dir.join("pulse.sock").display()
            ))
            .output()
            .unwrap()
    };
    let out = lvsctl(&d2.dir);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("serial_no 4 is not newer than ours (4)"),
        "{out:?}"
    );
    std::fs::write(d2.dir.join("lvs.cf"), synced_cf(5, &rsh)).unwrap();
    let out = lvsctl(&d2.dir);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("installed serial_no 5 (was 4)"),
        "{out:?}"
    );
    // A file with errors is not sent at all.
    std::fs::write(d2.dir.join("lvs.cf"), "serial_no = 6\nvirtual {\n").unwrap();
    let out = lvsctl(&d2.dir);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("our own lvs.cf has errors"),
        "{out:?}"
    );
    assert!(std::fs::read_to_string(d1.dir.join("lvs.cf"))
        .unwrap()
        .starts_with("serial_no = 5\n"));
}

#[test]
fn configuration_sync_over_real_ssh_between_two_directors() {
    let lan = Lan::create();
    let mut d1 = Director::new("d1", "");
    let mut d2 = Director::new("d2", "");
    let (k, lvsctl) = (
        d2.dir.path().to_path_buf(),
        env!("CARGO_BIN_EXE_pulse").replace("pulse", "lvsctl"),
    );
    let keygen = |file: &std::path::Path| {
        let out = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(file)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    };
    keygen(&k.join("client_key"));
    keygen(&d1.dir.join("host_key"));
    // d1's sshd lets that key run only the receiver, on d1's own file: the way to give
    // the partner a sync key that can do nothing else.
    let public = std::fs::read_to_string(k.join("client_key.pub")).unwrap();
    std::fs::write(
        d1.dir.join("authorized_keys"),
        format!(
            "command=\"{lvsctl} receive-config {} --pidfile={}\",restrict {public}",
            d1.dir.join("lvs.cf").display(),
            d1.dir.join("pulse.pid").display()
        ),
    )
    .unwrap();
    let d1dir = d1.dir.path().display().to_string();
    std::fs::write(
        d1.dir.join("sshd_config"),
        format!(
            "ListenAddress {D1}\nPort 22\nHostKey {d1dir}/host_key\nPidFile {d1dir}/sshd.pid\n\
             AuthorizedKeysFile {d1dir}/authorized_keys\nStrictModes no\n\
             PermitRootLogin prohibit-password\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nUsePAM no\n"
        ),
    )
    .unwrap();
    std::fs::create_dir_all("/run/sshd").unwrap();
    let _sshd = Daemon::spawn(
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &lan.ns("d1"),
                "/usr/sbin/sshd",
                "-D",
                "-e",
                "-f",
            ])
            .arg(d1.dir.join("sshd_config")),
    );
    std::fs::write(
        k.join("ssh_config"),
        format!(
            "Host *\n  User root\n  IdentityFile {}/client_key\n  StrictHostKeyChecking no\n  \
             UserKnownHostsFile /dev/null\n  BatchMode yes\n  ConnectTimeout 5\n  LogLevel ERROR\n",
            k.display()
        ),
    )
    .unwrap();
    let rsh = format!("\"ssh -F {}/ssh_config\"", k.display());
    std::fs::write(d1.dir.join("lvs.cf"), synced_cf(1, &rsh)).unwrap();
    let v2 = synced_cf(2, &rsh) + "# pushed over ssh\n";
    std::fs::write(d2.dir.join("lvs.cf"), &v2).unwrap();
    // d2 becomes active and pushes its newer file over ssh to d1.
    start_in_order(&lan, &mut d1, &mut d2);
    pushed(&d2, &d1, (2, 1), (&v2, &synced_cf(1, &rsh)), 15);
}

/// `from` says (within `secs`) that `to` installed serial `new` over `was`; `to` has the
/// new text, the old one as lvs.cf.prev, and its pulse was told to reload.
fn pushed(from: &Director, to: &Director, (new, was): (u32, u32), texts: (&str, &str), secs: u64) {
    let said = from.wait_for("configuration sync: partner installed lvs.cf", secs);
    let want = format!("installed serial_no {new} (was {was}); pulse (pid");
    assert!(said.last().unwrap().contains(&want), "{said:?}");
    let read = |f: &str| std::fs::read_to_string(to.dir.join(f)).unwrap();
    assert_eq!(
        (read("lvs.cf").as_str(), read("lvs.cf.prev").as_str()),
        texts
    );
    to.wait_for("SIGHUP: lvsd is not running; nothing to reload", 3);
}
