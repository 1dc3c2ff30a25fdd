//! Replay tests of pulse in fos mode (docs/legacy.md "fos"): scripted events at scripted
//! times against the actions expected, one test per legacy rule and per fix.

mod replay_common;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use daemon::driver::Core;
use daemon::process::ExitStatus;
use pulse::machine::{Action, Channel, ChildSignal, Connectivity, Event, Exit, FosRole, Pulse};
use pulse::settings::{Settings, Switches};
use pulse::wire::Magic;
use replay_common::{effects, logs};

const PRIMARY: &str = "192.168.0.10";
const BACKUP: &str = "192.168.0.11";
const BACKUP_PRIVATE: &str = "10.11.12.2";
const GATEWAY: &str = "192.168.0.1";
/// The pid the scripted shell gives each fos it starts.
const MONITOR: u32 = 500;
const ACTIVE: u32 = 600;

use replay_common::fos_file as file;

struct Run {
    pulse: Pulse,
    t0: Instant,
    now: Instant,
    recording: Option<replay_common::Recording>,
}

impl Run {
    fn with(primary: bool, backup: bool, switches: Switches) -> Run {
        let c = lvscf::parse_str(&file(backup), "lvs.cf", &lvscf::ParseOptions::default())
            .unwrap()
            .config;
        let local: IpAddr = if primary { PRIMARY } else { BACKUP }.parse().unwrap();
        let s = Settings::new(&c, &[local], switches).unwrap();
        let t0 = Instant::now();
        let setup = serde_json::json!({"harness": "fos", "primary": primary, "backup": backup,
            "switches": switches});
        Run {
            pulse: Pulse::new(s, t0, 1),
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
        Run::with(true, true, Switches::default())
    }

    fn backup() -> Run {
        Run::with(false, true, Switches::default())
    }

    fn at(&mut self, secs: f64) -> &mut Run {
        self.now = self.t0 + Duration::from_secs_f64(secs);
        self
    }

    /// Handles the event, then answers each fos start as the shell would.
    fn ev(&mut self, e: Event) -> Vec<Action> {
        let mut out = self.handle(e);
        let mut i = 0;
        while i < out.len() {
            if let Action::StartFos(role) = out[i] {
                let pid = match role {
                    FosRole::Active => ACTIVE,
                    FosRole::Monitor => MONITOR,
                };
                let more = self.handle(Event::ChildStarted { pid });
                out.extend(more);
            }
            i += 1;
        }
        out
    }

    fn run_until(&mut self, secs: f64) -> Vec<Action> {
        let end = self.t0 + Duration::from_secs_f64(secs);
        let mut out = Vec::new();
        while let Some(d) = self.pulse.next_deadline(self.now).filter(|d| *d <= end) {
            self.now = d.max(self.now);
            out.extend(self.ev(Event::Tick));
        }
        self.now = end;
        out
    }

    fn partner_says(&mut self, magic: Magic) -> Vec<Action> {
        self.partner_says_on(Channel::Public, magic)
    }

    fn partner_says_on(&mut self, channel: Channel, magic: Magic) -> Vec<Action> {
        let primary = self.pulse.settings().role == pulse::settings::Role::Primary;
        let from = match (primary, channel) {
            (true, Channel::Public) => BACKUP,
            (true, Channel::Private) => BACKUP_PRIVATE,
            (false, Channel::Public) => PRIMARY,
            (false, Channel::Private) => "10.11.12.1",
        };
        self.ev(Event::Datagram {
            from: from.parse().unwrap(),
            channel,
            bytes: magic.bytes().to_vec(),
        })
    }

    fn exited(&mut self, pid: u32, code: i32) -> Vec<Action> {
        self.ev(Event::ChildExited {
            pid,
            status: ExitStatus::Code(code),
        })
    }

    fn gateway(&mut self, reachable: bool) -> Vec<Action> {
        let gw = GATEWAY.parse().unwrap();
        self.ev(Event::Connectivity(if reachable {
            Connectivity::Reachable(gw)
        } else {
            Connectivity::Unreachable(gw)
        }))
    }

    /// Started, then active on the partner's "stopped", fos --active running.
    fn active() -> Run {
        let mut r = Run::primary();
        r.ev(Event::Start);
        r.partner_says(Magic::FosStopped);
        r.exited(MONITOR, 0);
        assert!(r.pulse.is_active());
        assert_eq!(r.pulse.child_pid(), Some(ACTIVE));
        r
    }
}

fn sent(actions: &[Action]) -> Vec<Magic> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(b) => pulse::wire::Heartbeat::decode(b).ok()?.magic(),
            _ => None,
        })
        .collect()
}

fn term(pid: u32) -> Action {
    Action::SignalChild {
        pid,
        signal: ChildSignal::Term,
    }
}

#[test]
fn an_inactive_director_runs_the_monitors_and_says_fos_stopped() {
    let mut r = Run::primary();
    let a = r.ev(Event::Start);
    assert_eq!(logs(&a), ["Starting Failover Service Monitors"]);
    assert_eq!(effects(&a), [Action::StartFos(FosRole::Monitor)]);
    assert_eq!(sent(&r.run_until(1.0)), [Magic::FosStopped]);
    assert_eq!(r.pulse.lvsd_pid(), None);
    assert_eq!(r.pulse.child_pid(), Some(MONITOR));
}

#[test]
fn lvs_and_fos_heartbeats_refuse_each_other() {
    let mut r = Run::backup();
    r.ev(Event::Start);
    let text = "Incompatible heartbeat received -- other system not using identical services";
    assert_eq!(logs(&r.partner_says(Magic::LvsStopped)), [text]);
    assert!(!r.pulse.is_active(), "an LVS \"stopped\" is not a FOS one");
}

#[test]
fn the_partners_stopped_activates_and_fos_active_follows_the_monitor() {
    let mut r = Run::backup();
    r.ev(Event::Start);
    let a = r.partner_says(Magic::FosStopped);
    assert_eq!(logs(&a), ["primary inactive: activating fos"]);
    assert_eq!(
        effects(&a),
        [Action::AddAddresses, Action::Announce, term(MONITOR)]
    );
    // fos --active starts only once the monitor has gone (they share the pid file).
    let a = r.exited(MONITOR, 0);
    assert_eq!(effects(&a), [Action::StartFos(FosRole::Active)]);
    assert!(logs(&a).is_empty(), "an exit pulse asked for: {a:?}");
    assert_eq!(sent(&r.run_until(1.0)), [Magic::FosRunning]);
    let a = r.run_until(5.0);
    assert!(logs(&a).contains(&"gratuitous fos arps finished".to_string()));
}

#[test]
fn a_monitor_exit_with_the_gateway_reachable_takes_the_service_and_says_stopme() {
    let mut r = Run::backup();
    r.ev(Event::Start);
    r.partner_says(Magic::FosRunning);
    let a = r.at(1.5).exited(MONITOR, 0);
    assert_eq!(
        logs(&a),
        ["fos process exited -- checking network connectivity"]
    );
    assert_eq!(effects(&a), [Action::CheckConnectivity]);
    assert!(!r.pulse.is_active());
    let a = r.at(1.6).gateway(true);
    assert_eq!(
        logs(&a),
        [
            "remote service unavailable but we can see the gateway",
            "seems like a remote network fault; performing service failover",
            "Notifying partner WE are taking control!"
        ]
    );
    assert_eq!(
        effects(&a),
        [
            Action::AddAddresses,
            Action::Announce,
            Action::StartFos(FosRole::Active),
            Action::Send(Magic::StopMe.bytes().to_vec()),
        ],
        "the partner hears it at once, not at the next keepalive"
    );
    // A "running" sent before ours arrived does not make this backup yield.
    let a = r.at(1.7).partner_says(Magic::FosRunning);
    assert_eq!(logs(&a), ["partner active: we want control!"]);
    assert!(r.pulse.is_active());
    assert_eq!(sent(&r.run_until(2.5)), [Magic::StopMe]);
    // The partner yielded: "running" from now on.
    r.partner_says(Magic::FosStopped);
    assert_eq!(sent(&r.run_until(3.5)), [Magic::FosRunning]);
    assert!(r.pulse.is_active());
}

#[test]
fn an_active_primary_told_stopme_yields_and_watches_again() {
    let mut r = Run::active();
    let a = r.partner_says(Magic::StopMe);
    assert_eq!(logs(&a), ["PARTNER HAS TOLD US TO GO INACTIVE!"]);
    assert_eq!(
        effects(&a),
        [
            Action::RemoveAddresses,
            term(ACTIVE),
            Action::Send(Magic::FosStopped.bytes().to_vec())
        ]
    );
    assert!(!r.pulse.is_active());
    let a = r.exited(ACTIVE, 0);
    assert_eq!(logs(&a), ["Starting Failover Service Monitors"]);
    assert_eq!(effects(&a), [Action::StartFos(FosRole::Monitor)]);
}

#[test]
fn an_active_backup_takes_stopme_as_running() {
    let mut r = Run::backup();
    r.ev(Event::Start);
    r.partner_says(Magic::FosStopped);
    r.exited(MONITOR, 0);
    let a = r.partner_says(Magic::StopMe);
    assert_eq!(logs(&a), ["partner active: deactivating FOS"]);
    assert!(!r.pulse.is_active());
}

#[test]
fn when_both_take_over_at_once_the_primary_keeps_the_service() {
    let mut r = Run::primary();
    r.ev(Event::Start);
    r.exited(MONITOR, 0);
    r.gateway(true);
    assert!(r.pulse.is_active());
    let a = r.partner_says(Magic::StopMe);
    assert_eq!(logs(&a), ["partner active: we want control!"]);
    assert!(r.pulse.is_active());
}

#[test]
fn a_monitor_exit_with_the_gateway_down_is_a_network_fault_until_a_public_heartbeat() {
    let mut r = Run::backup();
    r.ev(Event::Start);
    r.exited(MONITOR, 0);
    let a = r.gateway(false);
    assert_eq!(
        logs(&a),
        [
            "remote service unavailable; gateway unavailable",
            "I SEEM TO HAVE A NETWORK FAULT!"
        ]
    );
    assert!(effects(&a).is_empty(), "{a:?}");
    assert_eq!(r.pulse.status(r.now).state.word(), "network fault");
    // Silence is no reason to take over with a network fault, nor is "stopped" heard
    // on the private channel; the monitors stay off until the public one is heard.
    let a = r.run_until(10.0);
    assert!(logs(&a).is_empty(), "{a:?}");
    let a = r.partner_says_on(Channel::Private, Magic::FosStopped);
    assert!(effects(&a).is_empty(), "{a:?}");
    assert!(!r.pulse.is_active());
    let a = r.at(10.6).partner_says(Magic::FosRunning);
    assert_eq!(
        logs(&a),
        [
            "Network fault seems to be fixed",
            "Starting Failover Service Monitors"
        ]
    );
    assert_eq!(effects(&a), [Action::StartFos(FosRole::Monitor)]);
}

#[test]
fn partner_dead_checks_the_gateway_before_taking_over() {
    let mut r = Run::backup();
    r.ev(Event::Start);
    let a = r.run_until(3.0);
    assert_eq!(effects(&a).last(), Some(&Action::CheckConnectivity));
    assert!(!r.pulse.is_active());
    assert_eq!(r.pulse.status(r.now).state.word(), "checking the network");
    let a = r.gateway(true);
    assert_eq!(logs(&a), ["partner dead: activating failover services"]);
    assert!(r.pulse.is_active());

    let mut r = Run::backup();
    r.ev(Event::Start);
    r.run_until(3.0);
    let a = r.gateway(false);
    assert_eq!(
        logs(&a),
        [
            "partner dead; gateway unavailable",
            "I SEEM TO HAVE A NETWORK FAULT!"
        ]
    );
    assert!(!r.pulse.is_active());
}

#[test]
fn without_a_gateway_to_check_the_network_is_taken_as_working() {
    let mut r = Run::backup();
    r.ev(Event::Start);
    r.exited(MONITOR, 0);
    let a = r.ev(Event::Connectivity(Connectivity::NoGateway));
    assert_eq!(
        logs(&a)[0],
        "no default gateway to check; taking the network as working"
    );
    assert!(r.pulse.is_active());
}

#[test]
fn an_active_fos_that_exits_is_restarted_after_a_pause() {
    let mut r = Run::active();
    let a = r.at(10.0).exited(ACTIVE, 1);
    assert_eq!(logs(&a), ["fos process exited -- restarting it"]);
    assert!(effects(&a).is_empty());
    assert!(r.pulse.is_active());
    let a = r.run_until(11.0);
    assert!(
        effects(&a).contains(&Action::StartFos(FosRole::Active)),
        "{a:?}"
    );
}

#[test]
fn a_monitor_that_fails_by_itself_is_restarted_not_taken_for_a_failover() {
    let mut r = Run::backup();
    r.ev(Event::Start);
    r.partner_says(Magic::FosRunning);
    let a = r.exited(MONITOR, 1);
    assert_eq!(
        logs(&a),
        ["fos process exited with exit status 1, not a failover condition -- restarting it"]
    );
    assert!(effects(&a).is_empty());
    let a = r.run_until(1.0);
    assert!(effects(&a).contains(&Action::StartFos(FosRole::Monitor)));
    assert!(!r.pulse.is_active());
}

#[test]
fn a_primary_without_backup_skips_the_checks_and_activates() {
    let mut r = Run::with(true, false, Switches::default());
    let a = r.ev(Event::Start);
    assert_eq!(
        logs(&a),
        ["Warning: FOS backup node not defined -- skipping checks"]
    );
    assert_eq!(
        effects(&a),
        [
            Action::AddAddresses,
            Action::Announce,
            Action::StartFos(FosRole::Active)
        ]
    );
}

#[test]
fn forced_active_says_fos() {
    let switches = Switches {
        force_active: true,
        ..Switches::default()
    };
    let a = Run::with(false, true, switches).ev(Event::Start);
    assert_eq!(logs(&a), ["Forced active on startup: activating fos"]);
}

#[test]
fn termination_waits_for_fos_active_to_stop_the_services() {
    let mut r = Run::active();
    let a = r.ev(Event::Terminate(15));
    assert_eq!(
        effects(&a),
        [
            Action::RemoveAddresses,
            term(ACTIVE),
            Action::Send(Magic::FosStopped.bytes().to_vec())
        ]
    );
    // Its stop_cmds may take a while: killed only after the limit.
    let a = r.run_until(60.0);
    assert!(!effects(&a)
        .iter()
        .any(|x| matches!(x, Action::SignalChild { .. } | Action::Exit(_))));
    let a = r.exited(ACTIVE, 0);
    assert_eq!(effects(&a), [Action::Exit(Exit::Stopped)]);
}

#[test]
fn sighup_leaves_fos_alone() {
    let mut r = Run::active();
    assert!(effects(&r.ev(Event::Hangup)).is_empty());
}

#[test]
fn test_start_starts_no_fos_and_touches_no_address() {
    let switches = Switches {
        test_start: true,
        ..Switches::default()
    };
    let mut r = Run::with(true, true, switches);
    assert!(effects(&r.ev(Event::Start)).is_empty());
    let a = r.partner_says(Magic::FosStopped);
    assert!(effects(&a).is_empty(), "{a:?}");
    assert!(r.pulse.is_active());
}

#[test]
fn a_public_heartbeat_ends_a_network_fault_even_after_its_private_copy() {
    let mut r = Run::backup();
    r.ev(Event::Start);
    r.exited(MONITOR, 0);
    r.gateway(false);
    r.at(0.5)
        .partner_says_on(Channel::Private, Magic::FosRunning);
    let a = r.at(0.51).partner_says(Magic::FosRunning);
    assert_eq!(logs(&a)[0], "Network fault seems to be fixed");
}
