//! The fleet director's decisions, sans-IO (docs/fleet.md): what it announces and when it
//! withdraws, lvsd's restarts, BIRD's retries, a clean stop, the reports and the status.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use daemon::driver::Core;
use daemon::process::ExitStatus;
use pulse::fleet::report::{self, Report, Signer};
use pulse::fleet::{Action, Event, Fleet, FleetSettings, Survey};

const FILE: &str = "\
director = 10.77.0.11
director = 10.77.0.12
director = 10.77.0.13
bgp_local_as = 65001
bgp_peer = 10.77.0.1 65000
network = direct
virtual web {
 active = 1
 address = 10.77.100.1 eth0:1
 port = 80
 server a {
  address = 10.77.0.21
 }
}
";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn settings() -> FleetSettings {
    let c = lvscf::parse_str(FILE, "lvs.cf", &Default::default())
        .unwrap()
        .config;
    FleetSettings::new(&c, &[ip("10.77.0.11")]).unwrap()
}

fn key() -> ipvs::ServiceKey {
    ipvs::ServiceKey::tcp(ip("10.77.100.1"), 80)
}

fn survey(up: u32, links_down: &[&str]) -> Event {
    Event::Surveyed(Survey {
        available: vec![(key(), up)],
        links_down: links_down.iter().map(|s| s.to_string()).collect(),
        connections: 10,
        connections_per_second: 1,
    })
}

/// A director started, lvsd running, BIRD answering: it announces the VIP.
fn running(t0: Instant) -> Fleet {
    let mut f = Fleet::new(settings(), 1);
    let first = f.handle(Event::Start, t0);
    assert!(first.contains(&Action::SetUp) && first.contains(&Action::StartLvsd));
    f.handle(Event::LvsdStarted { pid: 42 }, t0);
    let told = f.handle(survey(1, &[]), t0);
    assert_eq!(told, [bird(true, true)]);
    let logged = f.handle(Event::Bird(Ok(())), t0);
    assert!(
        logged.contains(&Action::Log("announcing 10.77.100.1".into())),
        "{logged:?}"
    );
    f
}

fn bird(on: bool, reconnect: bool) -> Action {
    Action::Bird {
        vips: vec![(ip("10.77.100.1"), on)],
        reconnect,
    }
}

fn birds(out: Vec<Action>) -> Vec<Action> {
    out.into_iter()
        .filter(|a| matches!(a, Action::Bird { .. }))
        .collect()
}

fn withdrawn_for(f: &mut Fleet, event: Event, now: Instant) -> String {
    let out = f.handle(event, now);
    assert!(out.contains(&bird(false, false)), "{out:?}");
    let logged = f.handle(Event::Bird(Ok(())), now);
    match &logged[..] {
        [Action::Log(text)] => text.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn announces_only_what_it_can_serve_and_withdraws_at_each_loss() {
    let t0 = Instant::now();
    let mut f = running(t0);
    assert_eq!(
        f.handle(survey(1, &[]), t0),
        [],
        "nothing changed, nothing told"
    );
    let why = withdrawn_for(&mut f, survey(0, &[]), t0);
    assert!(why.contains("no available real server"), "{why}");
    assert_eq!(f.handle(survey(2, &[]), t0), [bird(true, false)]);
    f.handle(Event::Bird(Ok(())), t0);
    let why = withdrawn_for(&mut f, survey(2, &["eth0"]), t0);
    assert!(why.contains("eth0 is down"), "{why}");
    f.handle(survey(2, &[]), t0);
    f.handle(Event::Bird(Ok(())), t0);
    let gone = Event::Surveyed(Survey::default());
    let why = withdrawn_for(&mut f, gone, t0);
    assert!(why.contains("not in the IPVS table"), "{why}");
}

#[test]
fn a_dead_lvsd_is_withdrawn_at_once_and_restarted_after_a_backoff() {
    let t0 = Instant::now();
    let mut f = running(t0);
    let exited = Event::ChildExited {
        pid: 42,
        status: ExitStatus::Signal(9),
    };
    let out = f.handle(exited, t0);
    assert!(
        out.contains(&bird(false, false)),
        "withdrawn before any survey: {out:?}"
    );
    assert!(
        matches!(&out[0], Action::Log(t) if t.contains("restarting it in 200 ms")),
        "{out:?}"
    );
    f.handle(Event::Bird(Ok(())), t0);
    assert_eq!(
        f.next_deadline(t0)
            .map(|d| d - t0 <= Duration::from_millis(200)),
        Some(true)
    );
    let later = f.handle(Event::Tick, t0 + Duration::from_millis(200));
    assert!(later.contains(&Action::StartLvsd), "{later:?}");
}

#[test]
fn bird_down_is_retried_with_backoff_and_told_everything_when_back() {
    let t0 = Instant::now();
    let mut f = Fleet::new(settings(), 1);
    f.handle(Event::Start, t0);
    f.handle(Event::LvsdStarted { pid: 42 }, t0);
    f.handle(survey(1, &[]), t0);
    let out = f.handle(Event::Bird(Err("connection refused".into())), t0);
    assert!(
        matches!(&out[..], [Action::Log(t)] if t.contains("retrying in 250 ms")),
        "{out:?}"
    );
    assert_eq!(
        f.handle(survey(1, &[]), t0 + Duration::from_millis(100)),
        [],
        "not before the retry"
    );
    let status = f.status(t0);
    assert!(status.fleet.unwrap().bird.contains("connection refused"));
    let retry = f.handle(Event::Tick, t0 + Duration::from_millis(250));
    assert_eq!(birds(retry), [bird(true, true)]);
    let out = f.handle(
        Event::Bird(Err("connection refused".into())),
        t0 + Duration::from_millis(250),
    );
    assert!(
        matches!(&out[..], [Action::Debug(t)] if t.contains("500 ms")),
        "said once: {out:?}"
    );
}

#[test]
fn a_test_start_sets_nothing_up_and_tells_bird_nothing() {
    let t0 = Instant::now();
    let mut s = settings();
    s.test_start = true;
    let mut f = Fleet::new(s, 1);
    let first = f.handle(Event::Start, t0);
    assert!(
        !first.contains(&Action::SetUp) && !first.contains(&Action::StartLvsd),
        "{first:?}"
    );
    assert_eq!(birds(f.handle(survey(1, &[]), t0)), []);
}

#[test]
fn a_clean_stop_withdraws_first_then_drains_then_stops_lvsd() {
    let t0 = Instant::now();
    let mut f = running(t0);
    let out = f.handle(Event::Terminate(15), t0);
    assert!(out.contains(&bird(false, false)), "{out:?}");
    f.handle(Event::Bird(Ok(())), t0);
    let waiting = f.handle(Event::Tick, t0 + Duration::from_millis(500));
    assert!(!waiting
        .iter()
        .any(|a| matches!(a, Action::SignalLvsd { .. } | Action::Exit(_))));
    let end = f.handle(Event::Tick, t0 + pulse::fleet::DRAIN);
    assert_eq!(
        end[..],
        [
            Action::SignalLvsd {
                pid: 42,
                signal: pulse::machine::ChildSignal::Term
            },
            Action::TearDown,
            Action::Exit(pulse::machine::Exit::Stopped)
        ]
    );
}

fn report_from(director: &str, seq: u64, connections: u64) -> Report {
    Report {
        director: ip(director),
        epoch: 9,
        seq,
        announced: vec![ip("10.77.100.1")],
        connections,
        connections_per_second: 0,
    }
}

#[test]
fn reports_make_the_fleet_view_and_forged_or_old_ones_do_not() {
    let t0 = Instant::now();
    let signer = Signer {
        id: 1,
        key: vec![7; 32],
    };
    let mut s = settings();
    s.signer = Some(signer.clone());
    let mut f = Fleet::new(s, 1);
    f.handle(Event::Start, t0);
    f.handle(Event::LvsdStarted { pid: 42 }, t0);
    f.handle(survey(1, &[]), t0);
    f.handle(Event::Bird(Ok(())), t0);
    let send = |r: &Report, s: Option<&Signer>| Event::Report {
        from: r.director,
        bytes: report::encode(r, s),
    };
    f.handle(send(&report_from("10.77.0.12", 2, 30), Some(&signer)), t0);
    f.handle(send(&report_from("10.77.0.12", 1, 999), Some(&signer)), t0);
    f.handle(send(&report_from("10.77.0.13", 1, 999), None), t0);
    let view = f.status(t0).fleet.unwrap();
    let d: Vec<(bool, u64, f64)> = view
        .directors
        .iter()
        .map(|d| (d.up, d.connections, d.share_percent))
        .collect();
    assert_eq!(d, [(true, 10, 25.0), (true, 30, 75.0), (false, 0, 0.0)]);
    assert_eq!(view.directors[1].announced, ["10.77.100.1"]);
    let later = f.status(t0 + Duration::from_secs(30)).fleet.unwrap();
    assert!(!later.directors[1].up, "not heard within the deadtime");
}
