//! Replay tests of the heartbeat state machine (holo-vrrp style): scripted events at
//! scripted times against the actions expected, one test per row of the legacy table
//! (docs/legacy.md "pulse state machine") and per fixed defect and extension.

mod replay_common;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use daemon::driver::Core;
use daemon::process::ExitStatus;
use pulse::auth::Session;
use pulse::machine::{
    Action, Channel, ChildSignal, Event, Exit, Pulse, SyncState, LINK_RESTORE_GRACE,
    SERVICES_WAIT_LIMIT,
};
use pulse::settings::{Settings, Switches};
use pulse::wire::Magic;
use replay_common::{effects, logs};

const PRIMARY: &str = "192.168.0.10";
const BACKUP: &str = "192.168.0.11";
const BACKUP_PRIVATE: &str = "10.11.12.2";

use replay_common::lvs_file as file;

/// A state machine on a scripted clock.
struct Run {
    pulse: Pulse,
    t0: Instant,
    now: Instant,
    recording: Option<replay_common::Recording>,
}

impl Run {
    fn new(extra: &str, primary: bool, switches: Switches) -> Run {
        let c = lvscf::parse_str(&file(extra), "lvs.cf", &lvscf::ParseOptions::default())
            .unwrap()
            .config;
        let local: IpAddr = if primary { PRIMARY } else { BACKUP }.parse().unwrap();
        let mut s = Settings::new(&c, &[local], switches).unwrap();
        if c.heartbeat_auth != lvscf::HeartbeatAuth::Off {
            s.key = Some(key());
        }
        let t0 = Instant::now();
        let setup = serde_json::json!({"harness": "lvs", "extra": extra, "primary": primary,
            "switches": switches});
        Run {
            pulse: Pulse::new(s, t0, 1_000),
            t0,
            now: t0,
            recording: replay_common::Recording::new(setup, t0),
        }
    }

    /// The state machine's answer to `e` now (recorded when asked to).
    fn handle(&mut self, e: Event) -> Vec<Action> {
        replay_common::handle(&mut self.recording, &mut self.pulse, e, self.now)
    }

    fn primary() -> Run {
        Run::new("", true, Switches::default())
    }

    fn backup() -> Run {
        Run::new("", false, Switches::default())
    }

    fn at(&mut self, secs: f64) -> &mut Run {
        self.now = self.t0 + Duration::from_secs_f64(secs);
        self
    }

    fn ev(&mut self, e: Event) -> Vec<Action> {
        self.handle(e)
    }

    /// Everything the timers do up to `secs`, tick by tick at each deadline.
    fn run_until(&mut self, secs: f64) -> Vec<(f64, Action)> {
        let end = self.t0 + Duration::from_secs_f64(secs);
        let mut out = Vec::new();
        while let Some(d) = self.pulse.next_deadline(self.now).filter(|d| *d <= end) {
            self.now = d.max(self.now);
            let at = (self.now - self.t0).as_secs_f64();
            out.extend(self.handle(Event::Tick).into_iter().map(|a| (at, a)));
        }
        self.now = end;
        out
    }

    fn partner_says(&mut self, magic: Magic) -> Vec<Action> {
        let from = if self.pulse.settings().role == pulse::settings::Role::Primary {
            BACKUP
        } else {
            PRIMARY
        };
        self.datagram(from, Channel::Public, magic.bytes().to_vec())
    }

    fn datagram(&mut self, from: &str, channel: Channel, bytes: Vec<u8>) -> Vec<Action> {
        self.ev(Event::Datagram {
            from: from.parse().unwrap(),
            channel,
            bytes,
        })
    }

    /// lvsd started (pid 4242) and its services in IPVS: a holding activation takes its
    /// addresses.
    fn lvsd_up(&mut self) -> Vec<Action> {
        self.ev(Event::ChildStarted { pid: 4242 });
        self.ev(Event::Services { ready: true })
    }

    /// Activates through "partner dead" and reports lvsd as started with this pid.
    fn make_active(&mut self) {
        self.ev(Event::Start);
        let acts = self.run_until(3.0);
        assert!(logs(&acts.into_iter().map(|(_, a)| a).collect::<Vec<_>>())
            .contains(&"partner dead: activating lvs".to_string()));
        self.lvsd_up();
        assert!(self.pulse.is_active());
    }
}

use replay_common::key;

/// A cold activation with the sync daemon of [`file`]: the addresses wait for lvsd's
/// services ([`Run::lvsd_up`] reports them).
fn activation() -> Vec<Action> {
    vec![
        Action::RunActiveCmd,
        Action::SyncDaemon(SyncState::Master),
        Action::StartLvsd,
    ]
}

fn deactivation() -> Vec<Action> {
    vec![
        Action::RunInactiveCmd,
        Action::SyncDaemon(SyncState::Backup),
        Action::SignalChild {
            pid: 4242,
            signal: ChildSignal::Term,
        },
        Action::RemoveAddresses,
    ]
}

#[test]
fn start_runs_the_deactivation_path_once() {
    let mut r = Run::primary();
    let a = r.ev(Event::Start);
    assert_eq!(
        a,
        vec![
            Action::RunInactiveCmd,
            Action::SyncDaemon(SyncState::Backup)
        ]
    );
}

#[test]
fn row_start_forceactive_activates_at_once() {
    let mut r = Run::new(
        "",
        false,
        Switches {
            force_active: true,
            ..Switches::default()
        },
    );
    let a = r.ev(Event::Start);
    assert_eq!(logs(&a), ["Forced active on startup: activating lvs"]);
    let mut want = vec![
        Action::RunInactiveCmd,
        Action::SyncDaemon(SyncState::Backup),
    ];
    want.extend(activation());
    assert_eq!(effects(&a), want);
}

#[test]
fn row_need_deadline_activates_a_healthy_inactive_node_and_heartbeats_flow_every_keepalive() {
    let mut r = Run::primary();
    r.ev(Event::Start);
    let acts = r.run_until(3.5);
    let sends: Vec<f64> = acts
        .iter()
        .filter(|(_, a)| matches!(a, Action::Send(_)))
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(
        sends,
        [1.0, 2.0, 3.0],
        "first heartbeat one keepalive after start"
    );
    let dead: Vec<f64> = acts
        .iter()
        .filter(|(_, a)| *a == Action::Log("partner dead: activating lvs".into()))
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(
        dead,
        [3.0],
        "a node alone activates deadtime after its start"
    );
    // Before activating it says "stopped", after it "running".
    let bytes: Vec<Vec<u8>> = acts
        .iter()
        .filter_map(|(_, a)| match a {
            Action::Send(b) => Some(b.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(bytes[0], Magic::LvsStopped.bytes());
    let after = r.run_until(4.5);
    assert!(after
        .iter()
        .any(|(_, a)| *a == Action::Send(Magic::LvsRunning.bytes().to_vec())));
}

#[test]
fn row_need_deadline_does_nothing_when_active_or_failed() {
    let mut r = Run::primary();
    r.make_active();
    let a = r.run_until(10.0);
    assert!(!logs(&a.into_iter().map(|(_, a)| a).collect::<Vec<_>>())
        .iter()
        .any(|l| l.contains("activating")));
    let mut f = Run::primary();
    f.ev(Event::Start);
    f.ev(Event::Links {
        public_up: false,
        private_up: true,
    });
    let a: Vec<Action> = f.run_until(10.0).into_iter().map(|(_, a)| a).collect();
    assert!(!logs(&a).iter().any(|l| l.contains("activating")), "{a:?}");
    // Heartbeats keep flowing, as "stopped".
    assert!(a.contains(&Action::Send(Magic::LvsStopped.bytes().to_vec())));
}

#[test]
fn row_the_dead_timer_is_reset_by_every_accepted_heartbeat_hold_included() {
    let mut r = Run::primary();
    r.ev(Event::Start);
    r.at(2.0);
    r.partner_says(Magic::LvsRunning);
    r.at(4.0);
    r.partner_says(Magic::Hold);
    r.at(6.5);
    r.partner_says(Magic::Held);
    let a: Vec<Action> = r.run_until(9.4).into_iter().map(|(_, a)| a).collect();
    assert!(logs(&a).is_empty(), "{a:?}");
    let a: Vec<Action> = r.run_until(9.6).into_iter().map(|(_, a)| a).collect();
    assert_eq!(logs(&a), ["partner dead: activating lvs"]);
}

#[test]
fn row_running_as_active_backup_sends_one_more_running_then_yields() {
    let mut r = Run::backup();
    r.make_active();
    let a = r.partner_says(Magic::LvsRunning);
    assert_eq!(logs(&a), ["partner active: deactivating LVS"]);
    let mut want = vec![Action::Send(Magic::LvsRunning.bytes().to_vec())];
    want.extend(deactivation());
    assert_eq!(effects(&a), want);
    assert!(!r.pulse.is_active());
}

#[test]
fn row_running_as_active_master_resends_arps() {
    let mut r = Run::primary();
    r.make_active();
    let a = r.partner_says(Magic::LvsRunning);
    assert_eq!(logs(&a), ["partner active: resending arps"]);
    assert_eq!(
        effects(&a),
        [Action::RunActiveCmd, Action::AddAddresses, Action::Announce]
    );
    assert!(r.pulse.is_active());
}

#[test]
fn row_running_as_inactive_does_nothing_no_preemption() {
    let mut r = Run::primary();
    r.ev(Event::Start);
    for t in 1..30 {
        r.at(t as f64);
        let a = r.partner_says(Magic::LvsRunning);
        assert!(effects(&a).is_empty());
        assert!(effects(&r.ev(Event::Tick))
            .iter()
            .all(|a| matches!(a, Action::Send(_))));
    }
    assert!(!r.pulse.is_active());
}

#[test]
fn row_stopped_activates_an_inactive_healthy_node_whatever_its_role() {
    let mut p = Run::primary();
    p.ev(Event::Start);
    let a = p.partner_says(Magic::LvsStopped);
    assert_eq!(logs(&a), ["backup inactive: activating lvs"]);
    assert_eq!(effects(&a), activation());
    let mut b = Run::backup();
    b.ev(Event::Start);
    let a = b.partner_says(Magic::LvsStopped);
    assert_eq!(logs(&a), ["primary inactive: activating lvs"]);
}

#[test]
fn row_link_failure_disables_and_deactivates_then_restores() {
    let mut r = Run::primary();
    r.make_active();
    let a = r.ev(Event::Links {
        public_up: false,
        private_up: false,
    });
    assert_eq!(
        logs(&a),
        [
            "Primary NIC: link down",
            "Private NIC: link down",
            "Local NIC link failure: Pulse disabled",
            "local link failure: deactivating LVS"
        ]
    );
    assert_eq!(effects(&a), deactivation());
    // Still failed: nothing new; "stopped" from the partner does not activate us.
    assert!(r
        .ev(Event::Links {
            public_up: true,
            private_up: false
        })
        .is_empty());
    assert!(effects(&r.partner_says(Magic::LvsStopped)).is_empty());
    let a = r.ev(Event::Links {
        public_up: true,
        private_up: true,
    });
    assert_eq!(logs(&a), ["Local NIC link(s) restored: Pulse enabled"]);
    let a = r.partner_says(Magic::LvsStopped);
    assert_eq!(logs(&a), ["backup inactive: activating lvs"]);
}

#[test]
fn row_lvsd_exit_deactivates_and_sets_childfail_until_the_partner_runs() {
    let mut r = Run::primary();
    r.make_active();
    let a = r.ev(Event::ChildExited {
        pid: 4242,
        status: ExitStatus::Code(1),
    });
    assert_eq!(logs(&a), ["Child process 4242 exited with status 1"]);
    assert_eq!(
        effects(&a),
        [
            Action::RunInactiveCmd,
            Action::SyncDaemon(SyncState::Backup),
            Action::RemoveAddresses
        ]
    );
    // CHILDFAIL: neither "stopped" nor the dead timer activates.
    assert!(effects(&r.partner_says(Magic::LvsStopped)).is_empty());
    let a: Vec<Action> = r.run_until(20.0).into_iter().map(|(_, a)| a).collect();
    assert!(!logs(&a).iter().any(|l| l.contains("activating")));
    // "running" clears it; the partner's later failure activates us again.
    r.partner_says(Magic::LvsRunning);
    let a = r.partner_says(Magic::LvsStopped);
    assert_eq!(logs(&a), ["backup inactive: activating lvs"]);
    let mut s = Run::primary();
    s.make_active();
    let a = s.ev(Event::ChildExited {
        pid: 4242,
        status: ExitStatus::Signal(9),
    });
    assert_eq!(logs(&a), ["Child process 4242 terminated with signal 9"]);
}

#[test]
fn row_other_children_are_skipped() {
    let mut r = Run::primary();
    r.make_active();
    let a = r.ev(Event::ChildExited {
        pid: 77,
        status: ExitStatus::Code(0),
    });
    assert_eq!(logs(&a), ["Skipping death of unknown child 77"]);
    assert!(r.pulse.is_active());
}

#[test]
fn row_sigterm_deactivates_says_stopped_and_exits_once_lvsd_is_gone() {
    let mut r = Run::primary();
    r.make_active();
    let a = r.ev(Event::Terminate(15));
    assert_eq!(logs(&a), ["Terminating due to signal 15"]);
    let mut want = deactivation();
    want.push(Action::Send(Magic::LvsStopped.bytes().to_vec()));
    assert_eq!(effects(&a), want);
    let a = r.ev(Event::ChildExited {
        pid: 4242,
        status: ExitStatus::Code(0),
    });
    assert_eq!(a, [Action::Exit(Exit::Stopped)]);
    let mut idle = Run::backup();
    idle.ev(Event::Start);
    let a = idle.ev(Event::Terminate(2));
    assert_eq!(
        effects(&a),
        [
            Action::RunInactiveCmd,
            Action::SyncDaemon(SyncState::Backup),
            Action::Exit(Exit::Stopped)
        ]
    );
}

#[test]
fn a_lvsd_that_ignores_sigterm_is_killed_after_the_limit() {
    let mut r = Run::backup();
    r.make_active();
    r.at(5.0);
    r.partner_says(Magic::LvsRunning);
    let a: Vec<Action> = r.run_until(16.0).into_iter().map(|(_, a)| a).collect();
    assert!(
        a.contains(&Action::SignalChild {
            pid: 4242,
            signal: ChildSignal::Kill
        }),
        "{a:?}"
    );
}

#[test]
fn announcements_are_five_a_second_apart_and_stop_the_moment_the_node_yields() {
    let mut r = Run::backup();
    r.ev(Event::Start);
    r.at(0.5);
    r.partner_says(Magic::LvsStopped); // activates: first announcement now
    r.lvsd_up();
    let a = r.run_until(10.0);
    let rounds: Vec<f64> = a
        .iter()
        .filter(|(_, a)| *a == Action::Announce)
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(rounds, [1.5, 2.5, 3.5, 4.5]);
    assert!(a
        .iter()
        .any(|(t, a)| *t == 4.5 && *a == Action::Log("gratuitous lvs arps finished".into())));
    // Yielding in the middle of a burst cancels the rest (legacy: its detached sender
    // kept announcing for up to 5 s).
    let mut y = Run::backup();
    y.ev(Event::Start);
    y.partner_says(Magic::LvsStopped);
    y.ev(Event::ChildStarted { pid: 4242 });
    y.at(1.2);
    y.partner_says(Magic::LvsRunning);
    let a = y.run_until(4.0);
    assert!(!a.iter().any(|(_, a)| *a == Action::Announce), "{a:?}");
}

#[test]
fn a_heartbeat_on_both_channels_is_handled_once() {
    let mut r = Run::primary();
    r.make_active();
    let a1 = r.datagram(BACKUP, Channel::Public, Magic::LvsRunning.bytes().to_vec());
    let a2 = r.datagram(
        BACKUP_PRIVATE,
        Channel::Private,
        Magic::LvsRunning.bytes().to_vec(),
    );
    assert_eq!(logs(&a1), ["partner active: resending arps"]);
    assert!(effects(&a2).is_empty(), "legacy re-ARPed twice: {a2:?}");
    // The next round is handled again.
    r.at(4.0);
    let a3 = r.datagram(
        BACKUP_PRIVATE,
        Channel::Private,
        Magic::LvsRunning.bytes().to_vec(),
    );
    assert_eq!(logs(&a3), ["partner active: resending arps"]);
}

#[test]
fn datagrams_from_strangers_short_or_incompatible_ones_change_nothing() {
    let mut r = Run::primary();
    r.ev(Event::Start);
    let a = r.datagram(
        "192.168.0.99",
        Channel::Public,
        Magic::LvsStopped.bytes().to_vec(),
    );
    assert_eq!(
        a,
        [Action::Debug(
            "Unexpected heartbeat from 192.168.0.99".into()
        )]
    );
    let a = r.datagram(BACKUP, Channel::Public, vec![0xBD, 0xDA, 0xBD]);
    assert_eq!(logs(&a), ["bad heartbeat packet"]);
    let a = r.partner_says(Magic::FosStopped);
    assert_eq!(
        logs(&a),
        ["Incompatible heartbeat received -- other system not using identical services"]
    );
    assert!(!r.pulse.is_active());
    // Rejected datagrams do not reset the dead timer.
    let a: Vec<Action> = r.run_until(3.0).into_iter().map(|(_, a)| a).collect();
    assert_eq!(logs(&a), ["partner dead: activating lvs"]);
}

#[test]
fn stopme_is_running_in_lvs_mode() {
    let mut r = Run::backup();
    r.make_active();
    let a = r.partner_says(Magic::StopMe);
    assert_eq!(logs(&a), ["partner active: deactivating LVS"]);
}

#[test]
fn sighup_goes_to_a_running_lvsd_only() {
    let mut r = Run::primary();
    r.ev(Event::Start);
    assert!(
        effects(&r.ev(Event::Hangup)).is_empty(),
        "legacy: kill(0, SIGHUP)"
    );
    r.make_active();
    assert_eq!(
        r.ev(Event::Hangup),
        [Action::SignalChild {
            pid: 4242,
            signal: ChildSignal::Hup
        }]
    );
}

#[test]
fn test_start_touches_no_address_and_runs_no_command() {
    let mut r = Run::new(
        "",
        true,
        Switches {
            test_start: true,
            ..Switches::default()
        },
    );
    let a = r.ev(Event::Start);
    assert_eq!(effects(&a), [Action::SyncDaemon(SyncState::Backup)]);
    let a = r.partner_says(Magic::LvsStopped);
    assert_eq!(logs(&a), ["backup inactive: activating lvs"]);
    assert_eq!(effects(&a), [Action::SyncDaemon(SyncState::Master)]);
    let a: Vec<Action> = r.run_until(10.0).into_iter().map(|(_, a)| a).collect();
    assert!(!a.contains(&Action::Announce));
}

#[test]
fn fractional_timers_drive_millisecond_heartbeats() {
    let mut r = Run::new("", true, Switches::default());
    let extra = "keepalive = 0.1\ndeadtime = 0.3";
    let c = lvscf::parse_str(
        &file(extra).replace("keepalive = 1\ndeadtime = 3\n", ""),
        "lvs.cf",
        &lvscf::ParseOptions::default(),
    )
    .unwrap()
    .config;
    let s = Settings::new(&c, &[PRIMARY.parse().unwrap()], Switches::default()).unwrap();
    r.pulse = Pulse::new(s, r.t0, 0);
    // Not the machine of its setup: not a conformance trace.
    r.recording = None;
    r.ev(Event::Start);
    let a = r.run_until(0.35);
    let sends: Vec<u128> = a
        .iter()
        .filter(|(_, a)| matches!(a, Action::Send(_)))
        .map(|(t, _)| (t * 1000.0).round() as u128)
        .collect();
    assert_eq!(sends, [100, 200, 300]);
    assert!(a.iter().any(|(t, a)| (t * 1000.0).round() as u128 == 300
        && *a == Action::Log("partner dead: activating lvs".into())));
}

#[test]
fn preemption_is_opt_in_and_waits_for_the_delay() {
    let mut r = Run::new("preempt_delay = 5", true, Switches::default());
    r.ev(Event::Start);
    r.at(1.0);
    r.partner_says(Magic::LvsRunning);
    for t in 2..=5 {
        r.at(t as f64);
        r.partner_says(Magic::LvsRunning);
    }
    let a: Vec<Action> = r.run_until(5.9).into_iter().map(|(_, a)| a).collect();
    assert!(!logs(&a).iter().any(|l| l.contains("preempting")));
    r.at(5.95);
    r.partner_says(Magic::LvsRunning);
    let a: Vec<Action> = r.run_until(6.1).into_iter().map(|(_, a)| a).collect();
    assert_eq!(
        logs(&a),
        ["preempting: the primary takes the active role back"]
    );
    assert!(r.pulse.is_active());
    // The backup never preempts.
    let mut b = Run::new("preempt_delay = 1", false, Switches::default());
    b.ev(Event::Start);
    for t in 1..10 {
        b.at(t as f64 * 0.5);
        b.partner_says(Magic::LvsRunning);
        b.ev(Event::Tick);
    }
    assert!(!b.pulse.is_active());
}

#[test]
fn arp_refresh_keeps_announcing_while_active() {
    let mut r = Run::new("arp_refresh = 10", true, Switches::default());
    r.ev(Event::Start);
    r.partner_says(Magic::LvsStopped);
    r.lvsd_up();
    let a = r.run_until(35.0);
    let rounds: Vec<f64> = a
        .iter()
        .filter(|(_, a)| *a == Action::Announce)
        .map(|(t, _)| t.round())
        .collect();
    assert_eq!(rounds, [1.0, 2.0, 3.0, 4.0, 14.0, 24.0, 34.0]);
}

#[test]
fn warm_standby_keeps_lvsd_running_while_inactive() {
    let mut r = Run::new("warm_standby = 1", false, Switches::default());
    let a = r.ev(Event::Start);
    assert!(a.contains(&Action::StartLvsd));
    r.lvsd_up();
    let a = r.partner_says(Magic::LvsStopped);
    assert_eq!(
        effects(&a),
        [
            Action::RunActiveCmd,
            Action::AddAddresses,
            Action::Announce,
            Action::SyncDaemon(SyncState::Master)
        ]
    );
    let a = r.partner_says(Magic::LvsRunning);
    assert!(
        !effects(&a)
            .iter()
            .any(|x| matches!(x, Action::SignalChild { .. })),
        "{a:?}"
    );
    assert!(effects(&a).contains(&Action::RemoveAddresses));
}

#[test]
fn authenticated_heartbeats_refuse_forgeries_and_replays_with_rate_limited_logs() {
    let extra = "heartbeat_auth = enforce\nheartbeat_key = /dev/null\nheartbeat_key_id = 9";
    let mut r = Run::new(extra, true, Switches::default());
    r.ev(Event::Start);
    // Our heartbeats carry the trailer, magic first.
    let ours = sent(r.run_until(1.5));
    assert_eq!(ours.len(), 76);
    assert_eq!(&ours[..4], &Magic::LvsStopped.bytes());
    // Unsigned, as a legacy or forging sender would send: refused, logged once.
    let a = r.partner_says(Magic::LvsStopped);
    assert_eq!(
        logs(&a),
        [format!("refused unauthenticated heartbeat from {BACKUP}")]
    );
    assert!(r.partner_says(Magic::LvsStopped).is_empty(), "rate limited");
    r.at(12.0);
    let a = r.partner_says(Magic::LvsStopped);
    assert_eq!(
        logs(&a),
        [format!(
            "refused unauthenticated heartbeat from {BACKUP} (1 more not logged)"
        )]
    );
    // A partner that has not heard us yet cannot answer our challenge.
    let mut partner = Session::new(key(), lvscf::HeartbeatAuth::Enforce, (2, 1), 50);
    let early = partner.sign(Magic::LvsStopped);
    let a = r.datagram(BACKUP, Channel::Public, early);
    assert_eq!(
        logs(&a),
        [format!(
            "refused heartbeat that does not answer our challenge (a partner just started, \
             or a replay) from {BACKUP}"
        )]
    );
    // Once it has: correctly signed ones are accepted and acted on; a replay is refused.
    partner.check(&pulse::wire::Heartbeat::decode(&ours).unwrap(), &ours);
    let first = partner.sign(Magic::LvsRunning);
    let second = partner.sign(Magic::LvsStopped);
    r.at(13.0);
    assert!(effects(&r.datagram(BACKUP, Channel::Public, first.clone())).is_empty());
    let a = r.datagram(BACKUP, Channel::Public, second);
    assert_eq!(logs(&a), ["backup inactive: activating lvs"]);
    let a = r.datagram(BACKUP, Channel::Public, first);
    assert_eq!(
        logs(&a),
        [format!("refused replayed heartbeat from {BACKUP}")]
    );
}

/// The last heartbeat among `actions`.
fn sent(actions: Vec<(f64, Action)>) -> Vec<u8> {
    actions
        .into_iter()
        .filter_map(|(_, a)| match a {
            Action::Send(b) => Some(b),
            _ => None,
        })
        .next_back()
        .expect("a heartbeat was sent")
}

/// Two state machines wired together on one scripted clock, with a lossless network
/// that can be cut: the legacy pair behaviours of docs/legacy.md.
struct Pair {
    nodes: [Run; 2],
    linked: bool,
    log: Vec<(f64, usize, String)>,
}

impl Pair {
    fn new(extra: &str) -> Pair {
        let mut p = Run::new(extra, true, Switches::default());
        let mut b = Run::new(extra, false, Switches::default());
        // Two machines wired together, replaced as they restart: no single trace.
        (p.recording, b.recording) = (None, None);
        b.t0 = p.t0;
        b.now = p.t0;
        b.pulse = {
            let c = lvscf::parse_str(&file(extra), "lvs.cf", &lvscf::ParseOptions::default())
                .unwrap()
                .config;
            Pulse::new(
                Settings::new(&c, &[BACKUP.parse().unwrap()], Switches::default()).unwrap(),
                p.t0,
                0,
            )
        };
        p.now = p.t0;
        Pair {
            nodes: [p, b],
            linked: true,
            log: Vec::new(),
        }
    }

    fn start(&mut self, i: usize, at: f64) {
        let t0 = self.nodes[0].t0;
        let when = t0 + Duration::from_secs_f64(at);
        let c = lvscf::parse_str(&file(""), "lvs.cf", &lvscf::ParseOptions::default())
            .unwrap()
            .config;
        let local = if i == 0 { PRIMARY } else { BACKUP };
        self.nodes[i].pulse = Pulse::new(
            Settings::new(&c, &[local.parse().unwrap()], Switches::default()).unwrap(),
            when,
            0,
        );
        self.nodes[i].now = when;
        let a = self.nodes[i].ev(Event::Start);
        self.deliver(i, a, at);
    }

    fn deliver(&mut self, from: usize, actions: Vec<Action>, at: f64) {
        for a in actions {
            match a {
                Action::Log(t) => self.log.push((at, from, t)),
                Action::StartLvsd => {
                    let more = self.nodes[from].ev(Event::ChildStarted {
                        pid: 100 + from as u32,
                    });
                    self.deliver(from, more, at);
                }
                // The simulated lvsd creates its services at once.
                Action::CheckServices => {
                    let more = self.nodes[from].ev(Event::Services { ready: true });
                    self.deliver(from, more, at);
                }
                Action::SignalChild {
                    pid,
                    signal: ChildSignal::Term,
                } => {
                    let more = self.nodes[from].ev(Event::ChildExited {
                        pid,
                        status: ExitStatus::Code(0),
                    });
                    self.deliver(from, more, at);
                }
                Action::Send(bytes) if self.linked => {
                    let to = 1 - from;
                    let src = if from == 0 { PRIMARY } else { BACKUP };
                    self.nodes[to].now = self.nodes[from].now;
                    let more = self.nodes[to].datagram(src, Channel::Public, bytes);
                    self.deliver(to, more, at);
                }
                _ => {}
            }
        }
    }

    /// Runs both nodes' timers in time order until `until`; `alive` says which run.
    fn run(&mut self, until: f64, alive: [bool; 2]) {
        let t0 = self.nodes[0].t0;
        let end = t0 + Duration::from_secs_f64(until);
        loop {
            let next = (0..2)
                .filter(|&i| alive[i])
                .filter_map(|i| {
                    self.nodes[i]
                        .pulse
                        .next_deadline(self.nodes[i].now)
                        .map(|d| (d, i))
                })
                .filter(|(d, _)| *d <= end)
                .min();
            let Some((d, i)) = next else { break };
            self.nodes[i].now = d;
            let at = (d - t0).as_secs_f64();
            let a = self.nodes[i].pulse.handle(Event::Tick, d);
            self.deliver(i, a, at);
        }
    }

    fn said(&self, node: usize, text: &str) -> Vec<f64> {
        self.log
            .iter()
            .filter(|(_, n, t)| *n == node && t == text)
            .map(|(at, _, _)| (at * 10.0).round() / 10.0)
            .collect()
    }
}

#[test]
fn pair_the_node_started_second_activates_and_the_first_stays_standby() {
    let mut pair = Pair::new("");
    pair.start(0, 0.0);
    pair.start(1, 0.3);
    pair.run(30.0, [true, true]);
    // The primary's first "stopped" (at 1.0) reaches the backup, which activates.
    assert_eq!(pair.said(1, "primary inactive: activating lvs"), [1.0]);
    assert!(pair.nodes[1].pulse.is_active());
    assert!(!pair.nodes[0].pulse.is_active(), "{:?}", pair.log);
}

#[test]
fn pair_failover_within_deadtime_and_no_failback() {
    let mut pair = Pair::new("");
    pair.start(1, 0.0);
    pair.start(0, 0.3);
    pair.run(10.0, [true, true]);
    assert!(
        pair.nodes[0].pulse.is_active(),
        "the primary, started second, is active"
    );
    // The primary dies at 10 s (kill -9: no farewell); the backup takes over within deadtime.
    pair.run(20.0, [false, true]);
    let t = pair.said(1, "partner dead: activating lvs");
    assert_eq!(t.len(), 1);
    assert!(t[0] > 10.0 && t[0] <= 13.0, "{t:?}");
    // The primary restarts: it stays standby (no preemption).
    pair.start(0, 20.0);
    pair.run(40.0, [true, true]);
    assert!(pair.nodes[1].pulse.is_active());
    assert!(!pair.nodes[0].pulse.is_active());
}

#[test]
fn pair_split_brain_heals_with_the_master_keeping_the_role_and_reannouncing() {
    let mut pair = Pair::new("");
    pair.start(0, 0.0);
    pair.start(1, 0.3);
    pair.run(5.0, [true, true]);
    pair.linked = false;
    pair.run(15.0, [true, true]);
    assert!(
        pair.nodes[0].pulse.is_active() && pair.nodes[1].pulse.is_active(),
        "split brain"
    );
    pair.linked = true;
    pair.run(20.0, [true, true]);
    assert!(pair.nodes[0].pulse.is_active());
    assert!(!pair.nodes[1].pulse.is_active());
    let yielded = pair.said(1, "partner active: deactivating LVS");
    let rearp = pair.said(0, "partner active: resending arps");
    assert_eq!(yielded.len(), 1);
    assert!(
        yielded[0] - 15.0 <= 1.0,
        "healed within a keepalive: {yielded:?}"
    );
    // The backup's extra "running" makes the master re-announce after the yield.
    assert!(rearp.contains(&yielded[0]), "{rearp:?} {yielded:?}");
}

#[test]
fn a_lvsd_that_cannot_start_is_a_childfail() {
    let mut r = Run::primary();
    r.ev(Event::Start);
    r.run_until(3.0);
    assert!(r.pulse.is_active());
    let a = r.ev(Event::ChildFailedToStart {
        reason: "/usr/sbin/lvsd: No such file or directory".into(),
    });
    assert_eq!(
        logs(&a),
        ["cannot start lvsd: /usr/sbin/lvsd: No such file or directory"]
    );
    assert_eq!(
        effects(&a),
        [
            Action::RunInactiveCmd,
            Action::SyncDaemon(SyncState::Backup),
            Action::RemoveAddresses
        ]
    );
    let a: Vec<Action> = r.run_until(20.0).into_iter().map(|(_, a)| a).collect();
    assert!(!logs(&a).iter().any(|l| l.contains("activating")), "{a:?}");
}

#[test]
fn floods_of_bad_datagrams_are_logged_once_per_interval() {
    let mut r = Run::primary();
    r.ev(Event::Start);
    for _ in 0..100 {
        r.datagram(BACKUP, Channel::Public, vec![1, 2]);
        r.partner_says(Magic::FosRunning);
    }
    r.at(10.5);
    let a = r.datagram(BACKUP, Channel::Public, vec![1, 2]);
    assert_eq!(logs(&a), ["bad heartbeat packet (99 more not logged)"]);
    let a = r.partner_says(Magic::FosRunning);
    assert_eq!(
        logs(&a),
        ["Incompatible heartbeat received -- other system not using identical services (99 more not logged)"]
    );
}

#[test]
fn with_connection_sync_a_cold_activation_takes_the_addresses_once_lvsds_services_exist() {
    let mut r = Run::primary();
    r.ev(Event::Start);
    let a = r.partner_says(Magic::LvsStopped);
    assert_eq!(effects(&a), activation(), "no address before the services");
    r.ev(Event::ChildStarted { pid: 4242 });
    // The machine looks every SERVICES_POLL; not there yet: it keeps holding.
    let a: Vec<Action> = r.run_until(0.05).into_iter().map(|(_, a)| a).collect();
    assert!(a.contains(&Action::CheckServices), "{a:?}");
    assert!(effects(&r.ev(Event::Services { ready: false })).is_empty());
    assert!(!a.contains(&Action::AddAddresses));
    // There: the addresses and the first announcement at once.
    let a = r.ev(Event::Services { ready: true });
    assert_eq!(effects(&a), [Action::AddAddresses, Action::Announce]);
    let a: Vec<Action> = r.run_until(0.5).into_iter().map(|(_, a)| a).collect();
    assert!(
        !a.contains(&Action::CheckServices),
        "no more looking: {a:?}"
    );
}

#[test]
fn with_connection_sync_the_addresses_come_after_the_wait_limit_without_services() {
    let mut r = Run::primary();
    r.ev(Event::Start);
    r.partner_says(Magic::LvsStopped);
    r.ev(Event::ChildStarted { pid: 4242 });
    let limit = SERVICES_WAIT_LIMIT.as_secs_f64();
    let a: Vec<Action> = r
        .run_until(limit - 0.01)
        .into_iter()
        .map(|(_, a)| a)
        .collect();
    assert!(!a.contains(&Action::AddAddresses));
    let a: Vec<Action> = r
        .run_until(limit + 0.01)
        .into_iter()
        .map(|(_, a)| a)
        .collect();
    assert!(a.contains(&Action::AddAddresses), "{a:?}");
    assert_eq!(
        logs(&a),
        ["lvsd's services are not in IPVS yet: taking the addresses without them"]
    );
}

#[test]
fn a_warm_standby_or_no_sync_daemon_takes_the_addresses_at_once() {
    let mut warm = Run::new("warm_standby = 1", true, Switches::default());
    warm.ev(Event::Start);
    warm.lvsd_up();
    let a = warm.partner_says(Magic::LvsStopped);
    assert!(effects(&a).contains(&Action::AddAddresses), "{a:?}");
    let mut no_sync = Run::new("syncdaemon = 0", true, Switches::default());
    no_sync.ev(Event::Start);
    let a = no_sync.partner_says(Magic::LvsStopped);
    assert!(effects(&a).contains(&Action::AddAddresses), "{a:?}");
}

#[test]
fn a_restored_link_heartbeats_at_once_and_waits_at_least_the_grace_for_a_fast_partner() {
    // Deadtime 0.3 s: the partner's first heartbeats after the outage can wait a second
    // for neighbour resolution, so the grace (2 s) applies, not the deadtime.
    let mut r = Run::new("keepalive = 0.1\ndeadtime = 0.3", true, Switches::default());
    r.ev(Event::Start);
    r.at(0.2);
    r.ev(Event::Links {
        public_up: false,
        private_up: true,
    });
    r.run_until(5.0);
    r.at(5.0);
    let a = r.ev(Event::Links {
        public_up: true,
        private_up: true,
    });
    assert!(
        a.iter().any(|a| matches!(a, Action::Send(_))),
        "a heartbeat at the restore: {a:?}"
    );
    let a: Vec<Action> = r.run_until(6.95).into_iter().map(|(_, a)| a).collect();
    assert!(!logs(&a).iter().any(|l| l.contains("activating")), "{a:?}");
    let a: Vec<Action> = r.run_until(7.05).into_iter().map(|(_, a)| a).collect();
    assert_eq!(logs(&a), ["partner dead: activating lvs"]);
    assert_eq!(LINK_RESTORE_GRACE, Duration::from_secs(2));
}

#[test]
fn a_restored_link_gives_the_partner_a_whole_deadtime_before_it_is_declared_dead() {
    let mut r = Run::primary();
    r.ev(Event::Start);
    r.at(0.5);
    r.ev(Event::Links {
        public_up: false,
        private_up: true,
    });
    // The dead timer keeps running during the failure (due at 3.0, 6.0, ...).
    r.run_until(5.9);
    r.at(5.95);
    r.ev(Event::Links {
        public_up: true,
        private_up: true,
    });
    let a: Vec<Action> = r.run_until(8.9).into_iter().map(|(_, a)| a).collect();
    assert!(!logs(&a).iter().any(|l| l.contains("activating")), "{a:?}");
    let a: Vec<Action> = r.run_until(9.0).into_iter().map(|(_, a)| a).collect();
    assert_eq!(logs(&a), ["partner dead: activating lvs"]);
}
