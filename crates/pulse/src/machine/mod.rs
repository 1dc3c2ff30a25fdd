//! The heartbeat state machine, sans-IO: events and the time in, actions out
//! (docs/legacy.md "pulse state machine"; each row of its table has a replay test in
//! tests/replay.rs). The shell ([`crate::shell`]) carries the actions out. LVS mode runs
//! lvsd on the active director; fos mode ([`fos`]) runs `fos --active` there and
//! `fos --monitor` on the other, with the same heartbeat rules.
//!
//! Kept from legacy: the start-up rule (an inactive node that hears "stopped" activates,
//! so the node started second wins), no preemption by default, CHILDFAIL, link failure,
//! the extra heartbeat before yielding, the master's re-ARP after a split brain, the
//! messages. Fixed: announcements stop the moment the node yields or exits; a heartbeat
//! that arrives on both channels is handled once; SIGHUP goes to lvsd only if it runs;
//! `--test-start` touches no address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use daemon::control::{ClientId, Request};
use daemon::driver::Core;
use daemon::process::ExitStatus;
use daemon::timer::TimerTable;

/// The IPVS connection sync daemon's role follows the director's: the `ipvs` crate's type.
pub use ipvs::SyncState;

use crate::auth::{Rejection, Session, Verdict};
use crate::settings::{Role, Settings};
use status_schema::{DirectorState, PulseStatus};

use crate::sync::Outcome;
use crate::wire::{Heartbeat, Magic};

mod control;
mod fos;
pub use fos::{Connectivity, FosRole, FOS_RESTART_DELAY, FOS_STOP_LIMIT};

/// Legacy `send_arp` rounds after an activation, one a second.
pub(crate) const ANNOUNCEMENTS: u32 = 5;
pub(crate) const ANNOUNCE_INTERVAL: Duration = Duration::from_secs(1);
/// How long lvsd gets to stop after SIGTERM before SIGKILL (legacy waited forever).
pub(crate) const LVSD_STOP_LIMIT: Duration = Duration::from_secs(10);
/// How long an activation with a sync daemon and a cold lvsd waits for lvsd's services
/// before it takes the addresses anyway, and how often it looks.
pub const SERVICES_WAIT_LIMIT: Duration = Duration::from_secs(2);
pub const SERVICES_POLL: Duration = Duration::from_millis(20);

/// The least time a restored link gives the partner to be heard (docs/differences.md,
/// pulse 18): a second of ARP retransmission and a margin.
pub const LINK_RESTORE_GRACE: Duration = Duration::from_secs(2);

/// At most one log line per kind of refused heartbeat in this long.
pub(crate) const REJECT_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// The heartbeat channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Channel {
    Public,
    Private,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Event {
    /// Loop entry: legacy runs the deactivation path once (inactive_cmd, backup sync
    /// daemon), then activates at once with `--forceactive`.
    Start,
    Tick,
    Datagram {
        from: IpAddr,
        channel: Channel,
        bytes: Vec<u8>,
    },
    /// The links carrying this director's heartbeat addresses (with `monitor_links`).
    Links {
        public_up: bool,
        private_up: bool,
    },
    ChildStarted {
        pid: u32,
    },
    ChildFailedToStart {
        reason: String,
    },
    ChildExited {
        pid: u32,
        status: ExitStatus,
    },
    /// The answer to [`Action::CheckConnectivity`] (fos mode).
    Connectivity(Connectivity),
    /// The answer to [`Action::CheckServices`]: every configured service is in IPVS.
    Services {
        ready: bool,
    },
    Hangup,
    Terminate(i32),
    /// An operator's request on the control socket (docs/control.md).
    Control(Request),
    /// The configuration push asked for ([`Action::Push`]) ended.
    Pushed(Outcome),
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Action {
    Log(String),
    Debug(String),
    /// The datagram to send to the partner, on every channel.
    Send(Vec<u8>),
    RunActiveCmd,
    RunInactiveCmd,
    StartLvsd,
    /// fos mode: start `fos --active` or `fos --monitor` (answered like lvsd's start).
    StartFos(FosRole),
    /// fos mode: can this director reach its default gateway? The shell answers with
    /// [`Event::Connectivity`] without holding up the heartbeat.
    CheckConnectivity,
    SignalChild {
        pid: u32,
        signal: ChildSignal,
    },
    SyncDaemon(SyncState),
    /// Bring the takeover addresses up (those already present are left alone).
    AddAddresses,
    RemoveAddresses,
    /// One round of gratuitous ARPs / unsolicited NAs for every takeover address.
    Announce,
    /// Are lvsd's services in IPVS? The shell answers with [`Event::Services`].
    CheckServices,
    /// Push lvs.cf to the partner (configuration sync); answer with [`Event::Pushed`].
    Push,
    /// Answer a control request.
    Answer {
        client: ClientId,
        answer: serde_json::Value,
    },
    /// Answer `status` (the shell adds the process's own figures).
    AnswerStatus {
        client: ClientId,
        status: Box<status_schema::PulseStatus>,
    },
    Exit(Exit),
}

daemon::exit_statuses! {
    /// How pulse ends: the legacy exit statuses.
    pub enum Exit {
        /// Stopped when told (SIGTERM, SIGINT).
        Stopped = 0,
        /// It could not start (lvs.cf, sockets, signals).
        Failed = 1,
        /// A backup whose lvs.cf says `backup_active = 0` (legacy: exit 255).
        BackupInactive = 255,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ChildSignal {
    Term,
    Kill,
    Hup,
}

/// The daemon pulse runs beside it: lvsd (LVS mode) or fos (fos mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Child {
    Stopped,
    Starting,
    Running(u32),
    /// Signalled to stop; killed at [`Timer::Kill`].
    Stopping {
        pid: u32,
    },
}

/// pulse's timers, in one table ([`daemon::timer::TimerTable`]): `next_deadline` is the
/// earliest one set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    /// The next heartbeat to send.
    Send,
    /// The partner is taken for dead if nothing arrives before this.
    Need,
    /// The next announcement round (of a burst, or the periodic refresh).
    Announce,
    /// The child being stopped is killed.
    Kill,
    /// Preemption: the primary takes the active role back.
    Preempt,
    /// An activation holding its addresses looks at lvsd's services again...
    HoldCheck,
    /// ...and takes the addresses without them ([`SERVICES_WAIT_LIMIT`]).
    HoldGiveUp,
    /// fos mode: fos is started again.
    FosRestart,
    /// The configuration push is retried.
    SyncRetry,
}

pub struct Pulse {
    s: Settings,
    active: bool,
    linkfail: bool,
    childfail: bool,
    exiting: bool,
    child: Child,
    /// Start lvsd again once the one stopping has gone.
    restart_lvsd: bool,
    timers: TimerTable<Timer>,
    /// Announcement rounds left of the burst (0: the periodic refresh); `None`: not
    /// announcing.
    announcing: Option<u32>,
    /// An activation with connection sync holding its addresses back until lvsd's
    /// services exist (at most [`SERVICES_WAIT_LIMIT`]).
    holding: bool,
    /// The last heartbeat handled, to handle its copy from the other channel once.
    last_handled: Option<(Channel, Magic, Instant)>,
    /// Signing and checking heartbeats (with `heartbeat_auth` and a key).
    auth: Option<Session>,
    fos: fos::FosState,
    /// When each kind of refused datagram was last logged, and how many since.
    refusals: HashMap<Refusal, (Option<Instant>, u32)>,
    sync: control::SyncDecisions,
}

/// Kinds of refused datagrams, each logged at most once per [`REJECT_LOG_INTERVAL`] (a
/// flood of them from a spoofed partner address must not flood the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Refusal {
    Short,
    Incompatible,
    Auth(Rejection),
}

impl Pulse {
    /// `epoch`: this start's identity in signed heartbeats (the shell draws it at random;
    /// crate::auth).
    pub fn new(s: Settings, now: Instant, epoch: u64) -> Pulse {
        let roles = (s.role.wire(), s.role.partner().wire());
        let auth = s
            .key
            .clone()
            .filter(|_| s.auth != lvscf::HeartbeatAuth::Off)
            .map(|k| Session::new(k, s.auth, roles, epoch));
        let s_sync = (s.config_sync, s.partner_public.is_some());
        let mut timers = TimerTable::default();
        timers.set(Timer::Send, now + s.keepalive);
        timers.set(Timer::Need, now + s.deadtime);
        Pulse {
            timers,
            s,
            active: false,
            linkfail: false,
            childfail: false,
            exiting: false,
            child: Child::Stopped,
            restart_lvsd: false,
            announcing: None,
            holding: false,
            last_handled: None,
            auth,
            fos: fos::FosState::default(),
            refusals: HashMap::new(),
            sync: control::SyncDecisions::new(s_sync.0, s_sync.1),
        }
    }

    pub fn is_active(&self) -> bool {
        self.active
    }

    /// lvsd's pid while it runs or is being stopped (LVS mode).
    pub fn lvsd_pid(&self) -> Option<u32> {
        self.child_pid().filter(|_| !self.is_fos())
    }

    /// The pid of lvsd or fos while it runs or is being stopped.
    pub fn child_pid(&self) -> Option<u32> {
        match self.child {
            Child::Running(pid) | Child::Stopping { pid, .. } => Some(pid),
            _ => None,
        }
    }

    fn is_fos(&self) -> bool {
        self.s.mode == lvscf::ServiceType::Fos
    }

    /// The daemon pulse runs beside it, as the log names it.
    fn child_name(&self) -> &'static str {
        if self.is_fos() {
            "fos"
        } else {
            "lvsd"
        }
    }

    /// The legacy log's words for (de)activation in this mode.
    fn activating(&self) -> &'static str {
        if self.is_fos() {
            "activating fos"
        } else {
            "activating lvs"
        }
    }

    fn deactivating(&self) -> &'static str {
        if self.is_fos() {
            "deactivating FOS"
        } else {
            "deactivating LVS"
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.s
    }

    /// What this director is doing, as `lvsctl status` shows it.
    fn director_state(&self) -> DirectorState {
        if self.exiting {
            DirectorState::Stopping
        } else if self.linkfail {
            DirectorState::LinkFailure
        } else if self.childfail && self.is_fos() {
            DirectorState::FosFailure
        } else if self.childfail {
            DirectorState::LvsdFailure
        } else if let Some(state) = self.fos.state() {
            state
        } else if self.active {
            DirectorState::Active
        } else {
            DirectorState::Standby
        }
    }

    /// What `lvsctl status` shows of this director (docs/control.md).
    pub fn status(&self, now: Instant) -> PulseStatus {
        let heard = self
            .last_handled
            .map(|(_, magic, at)| (magic, now.saturating_duration_since(at)));
        let held = self.active && !self.holding && !self.s.switches.test_start;
        let addresses = self.s.takeover.iter().filter(|_| held);
        PulseStatus {
            schema: status_schema::SCHEMA,
            daemon: "pulse".into(),
            pid: std::process::id(),
            role: match self.s.role {
                crate::settings::Role::Primary => status_schema::Role::Primary,
                crate::settings::Role::Backup => status_schema::Role::Backup,
            },
            state: self.director_state(),
            partner: status_schema::Partner {
                address: self.s.partner_public.map(|a| a.to_string()),
                alive: heard.is_some_and(|(_, ago)| ago < self.s.deadtime),
                last_said: heard.map(|(magic, _)| magic.name().to_string()),
                last_heard_ms_ago: heard.map(|(_, ago)| ago.as_millis() as u64),
            },
            addresses: addresses
                .map(|t| format!("{}/{} {}", t.addr, t.prefix, t.device))
                .collect(),
            service: match self.s.mode {
                lvscf::ServiceType::Fos => status_schema::ServiceKind::Fos,
                _ => status_schema::ServiceKind::Lvs,
            },
            lvsd_pid: self.lvsd_pid(),
            fos_pid: self.child_pid().filter(|_| self.is_fos()),
            keepalive_ms: self.s.keepalive.as_millis() as u64,
            deadtime_ms: self.s.deadtime.as_millis() as u64,
            heartbeat_auth: self.s.auth.to_string(),
            fleet: None,
            process: None,
        }
    }

    fn log(out: &mut Vec<Action>, text: &str) {
        out.push(Action::Log(text.to_string()));
    }

    /// The heartbeat this node sends now: running or stopped in its mode's words, or
    /// fos's "stop, I take over" while it takes a failed service from the partner.
    fn heartbeat(&mut self) -> Vec<u8> {
        let magic = match (self.is_fos(), self.active) {
            (false, true) => Magic::LvsRunning,
            (false, false) => Magic::LvsStopped,
            (true, true) if self.fos.failpartner => Magic::StopMe,
            (true, true) => Magic::FosRunning,
            (true, false) => Magic::FosStopped,
        };
        match &mut self.auth {
            Some(s) => s.sign(magic),
            None => magic.bytes().to_vec(),
        }
    }

    fn send(&mut self, out: &mut Vec<Action>) {
        if self.s.heartbeats {
            out.push(Action::Debug("DEBUG -- Sending heartbeat...".into()));
            let bytes = self.heartbeat();
            out.push(Action::Send(bytes));
        }
    }

    fn start(&mut self, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        let lone_fos = self.is_fos() && self.s.partner_public.is_none();
        if self.is_fos() {
            // A monitor only when this director stands by (not one stopped at once).
            self.run_inactive_cmd(&mut out);
            if !self.s.switches.force_active && !lone_fos {
                self.reconcile_fos(&mut out, now);
            }
        } else {
            // Legacy runs the deactivation path at loop entry: inactive_cmd, backup syncd.
            self.deactivate(&mut out, now);
        }
        if self.s.warm_standby && !self.s.switches.test_start && !self.is_fos() {
            self.start_lvsd(&mut out);
        }
        if self.s.switches.force_active {
            let text = format!("Forced active on startup: {}", self.activating());
            Self::log(&mut out, &text);
            self.activate(&mut out, now);
        } else if lone_fos {
            Self::log(
                &mut out,
                "Warning: FOS backup node not defined -- skipping checks",
            );
            self.activate(&mut out, now);
        }
        out
    }

    fn start_lvsd(&mut self, out: &mut Vec<Action>) {
        match self.child {
            Child::Stopped => {
                self.set_child(Child::Starting);
                out.push(Action::StartLvsd);
            }
            Child::Stopping { .. } => self.restart_lvsd = true,
            Child::Starting | Child::Running(_) => {}
        }
    }

    fn stop_lvsd(&mut self, out: &mut Vec<Action>, now: Instant) {
        self.restart_lvsd = false;
        if let Child::Running(pid) = self.child {
            self.signal_stopping(out, pid, ChildSignal::Term, now);
        }
    }

    /// Signals the child and gives it [`Self::stop_limit`] to go.
    fn signal_stopping(
        &mut self,
        out: &mut Vec<Action>,
        pid: u32,
        signal: ChildSignal,
        now: Instant,
    ) {
        out.push(Action::SignalChild { pid, signal });
        self.set_child(Child::Stopping { pid });
        self.timers.set(Timer::Kill, now + self.stop_limit());
    }

    /// How long the child gets to stop: fos --active first runs every stop_cmd.
    fn stop_limit(&self) -> Duration {
        match self.fos.role {
            Some(FosRole::Active) => FOS_STOP_LIMIT,
            _ => LVSD_STOP_LIMIT,
        }
    }

    /// Activation (docs/legacy.md "pulse activation"). The addresses and the first
    /// announcement come before the sync daemon and lvsd: legacy brought the addresses
    /// up in the background, so its order was never observable, and traffic moves the
    /// moment they are announced. A lvsd that cannot be started is then answered
    /// (deactivation) after the addresses it removes were added.
    ///
    /// With a sync daemon and no lvsd running (cold standby) the addresses wait for
    /// lvsd's services: the kernel hooks IPVS into the packet path only once a service
    /// exists, so until then the synchronised connections are unused and the local
    /// stack resets every established connection that sends a packet.
    fn activate(&mut self, out: &mut Vec<Action>, now: Instant) {
        let test = self.s.switches.test_start;
        if !test && self.s.active_cmd.is_some() {
            out.push(Action::RunActiveCmd);
        }
        self.active = true;
        self.timers.clear(Timer::Preempt);
        let cold = !matches!(self.child, Child::Running(_));
        if !test && self.s.sync_daemon.is_some() && cold && !self.s.services.is_empty() {
            self.hold(Some(now));
        } else if !test {
            self.take_addresses(out, now);
        }
        if self.s.sync_daemon.is_some() {
            out.push(Action::SyncDaemon(SyncState::Master));
        }
        if self.is_fos() {
            self.reconcile_fos(out, now);
        } else if !test {
            self.start_lvsd(out);
        }
    }

    /// Holds the addresses back from `now` on (`Some`), or stops holding them.
    fn hold(&mut self, from: Option<Instant>) {
        self.holding = from.is_some();
        match from {
            Some(now) => {
                self.timers.set(Timer::HoldCheck, now + SERVICES_POLL);
                self.timers
                    .set(Timer::HoldGiveUp, now + SERVICES_WAIT_LIMIT);
            }
            None => {
                self.timers.clear(Timer::HoldCheck);
                self.timers.clear(Timer::HoldGiveUp);
            }
        }
    }

    /// The child's state; its kill timer goes with the stopping.
    fn set_child(&mut self, child: Child) {
        if !matches!(child, Child::Stopping { .. }) {
            self.timers.clear(Timer::Kill);
        }
        self.child = child;
    }

    /// Announcing with `left` rounds of the burst to go after the next, at `next`; or
    /// not (`None`).
    fn announce_at(&mut self, rounds: Option<(u32, Instant)>) {
        self.announcing = rounds.map(|(left, _)| left);
        match rounds {
            Some((_, next)) => self.timers.set(Timer::Announce, next),
            None => self.timers.clear(Timer::Announce),
        }
    }

    fn take_addresses(&mut self, out: &mut Vec<Action>, now: Instant) {
        self.hold(None);
        out.push(Action::AddAddresses);
        self.announce_burst(out, now);
    }

    /// An activation holding its addresses: look again, or give up waiting.
    fn tick_holding(&mut self, out: &mut Vec<Action>, now: Instant) {
        if !self.holding {
            return;
        }
        if self.timers.is_due(Timer::HoldGiveUp, now) {
            Self::log(
                out,
                "lvsd's services are not in IPVS yet: taking the addresses without them",
            );
            self.take_addresses(out, now);
        } else if self.timers.is_due(Timer::HoldCheck, now) {
            self.timers.set(Timer::HoldCheck, now + SERVICES_POLL);
            out.push(Action::CheckServices);
        }
    }

    fn announce_burst(&mut self, out: &mut Vec<Action>, now: Instant) {
        out.push(Action::Announce);
        self.announce_at(Some((ANNOUNCEMENTS - 1, now + ANNOUNCE_INTERVAL)));
    }

    /// Deactivation (docs/legacy.md "pulse deactivation"); announcements stop at once.
    fn run_inactive_cmd(&self, out: &mut Vec<Action>) {
        if !self.s.switches.test_start && self.s.inactive_cmd.is_some() {
            out.push(Action::RunInactiveCmd);
        }
    }

    fn deactivate(&mut self, out: &mut Vec<Action>, now: Instant) {
        let test = self.s.switches.test_start;
        self.run_inactive_cmd(out);
        if self.s.sync_daemon.is_some() {
            out.push(Action::SyncDaemon(SyncState::Backup));
        }
        self.announce_at(None);
        self.hold(None);
        let was_active = std::mem::replace(&mut self.active, false);
        if self.is_fos() {
            return self.fos_deactivated(out, was_active, now);
        }
        if test || !was_active {
            return;
        }
        if !self.s.warm_standby || self.exiting {
            self.stop_lvsd(out, now);
        }
        out.push(Action::RemoveAddresses);
    }

    fn tick(&mut self, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        if self.timers.is_due(Timer::Send, now) {
            self.send(&mut out);
            self.timers.set(Timer::Send, now + self.s.keepalive);
        }
        if self.timers.is_due(Timer::Need, now) {
            self.partner_dead(&mut out, now);
            self.timers.set(Timer::Need, now + self.s.deadtime);
        }
        self.tick_announcements(&mut out, now);
        self.tick_holding(&mut out, now);
        if let Child::Stopping { pid } = self.child {
            if self.timers.is_due(Timer::Kill, now) {
                out.push(Action::Log(format!(
                    "{} (pid {pid}) did not stop within {} s; killing it",
                    self.child_name(),
                    self.stop_limit().as_secs()
                )));
                self.signal_stopping(&mut out, pid, ChildSignal::Kill, now);
            }
        }
        if self.timers.take_due(Timer::FosRestart, now) {
            self.reconcile_fos(&mut out, now);
        }
        // Taken first: a primary that may not activate now waits for the next chance.
        if self.timers.take_due(Timer::Preempt, now) && self.may_activate() {
            Self::log(
                &mut out,
                "preempting: the primary takes the active role back",
            );
            self.activate(&mut out, now);
        }
        out
    }

    fn tick_announcements(&mut self, out: &mut Vec<Action>, now: Instant) {
        let Some(left) = self.announcing else { return };
        if !self.timers.is_due(Timer::Announce, now) {
            return;
        }
        out.push(Action::Announce);
        if left > 1 {
            return self.announce_at(Some((left - 1, now + ANNOUNCE_INTERVAL)));
        }
        if left == 1 {
            let which = if self.is_fos() { "fos" } else { "lvs" };
            Self::log(out, &format!("gratuitous {which} arps finished"));
        }
        self.announce_at(self.s.arp_refresh.map(|r| (0, now + r)));
    }

    fn may_activate(&self) -> bool {
        !self.active
            && !self.linkfail
            && !self.childfail
            && !self.exiting
            && !self.fos.network_fault
    }

    fn partner_dead(&mut self, out: &mut Vec<Action>, now: Instant) {
        if self.is_fos() {
            self.fos_partner_dead(out);
        } else if self.may_activate() {
            Self::log(out, "partner dead: activating lvs");
            self.activate(out, now);
        }
    }

    fn datagram(
        &mut self,
        from: IpAddr,
        channel: Channel,
        bytes: &[u8],
        now: Instant,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        if !self.s.is_partner(from) {
            out.push(Action::Debug(format!("Unexpected heartbeat from {from}")));
            return out;
        }
        let hb = match Heartbeat::decode(bytes) {
            Ok(hb) => hb,
            Err(e) => {
                self.refused(&mut out, Refusal::Short, e.to_string(), now);
                return out;
            }
        };
        let (running, stopped) = if self.is_fos() {
            (Magic::FosRunning, Magic::FosStopped)
        } else {
            (Magic::LvsRunning, Magic::LvsStopped)
        };
        let Some(magic) = hb
            .magic()
            .filter(|m| [running, stopped, Magic::StopMe, Magic::Hold, Magic::Held].contains(m))
        else {
            let text =
                "Incompatible heartbeat received -- other system not using identical services";
            self.refused(&mut out, Refusal::Incompatible, text.into(), now);
            return out;
        };
        let verdict = match &mut self.auth {
            Some(session) => session.check(&hb, bytes),
            None => Verdict::Accept,
        };
        match verdict {
            Verdict::Accept => {}
            Verdict::Duplicate => return out,
            Verdict::Confirmed => {
                out.push(Action::Debug(
                    "DEBUG -- Received Heartbeat from partner (new start, confirmed)".into(),
                ));
                self.timers.set(Timer::Need, now + self.s.deadtime);
                return out;
            }
            Verdict::Reject(why) => {
                let text = format!("refused {why} from {from}");
                self.refused(&mut out, Refusal::Auth(why), text, now);
                return out;
            }
        }
        out.push(Action::Debug(
            "DEBUG -- Received Heartbeat from partner".into(),
        ));
        // Any accepted heartbeat resets the dead timer.
        self.timers.set(Timer::Need, now + self.s.deadtime);
        // Before the copy check: a public heartbeat ends a network fault even when its
        // private copy came first.
        if channel == Channel::Public {
            self.fos_heard_public(&mut out, now);
        }
        if self.is_copy(channel, magic, now) {
            return out;
        }
        self.last_handled = Some((channel, magic, now));
        match magic {
            Magic::StopMe if self.is_fos() => self.partner_stop_me(&mut out, now),
            // STOPME is FOS's; an LVS node takes it as "running" (docs/legacy.md).
            m if m == running || m == Magic::StopMe => self.partner_running(&mut out, now),
            m if m == stopped => self.partner_stopped(&mut out, now),
            _ => {}
        }
        out
    }

    /// The same heartbeat from the other channel within half a keepalive: legacy handled
    /// both, doubling re-ARP bursts (docs/differences.md).
    fn is_copy(&self, channel: Channel, magic: Magic, now: Instant) -> bool {
        self.last_handled.is_some_and(|(c, m, t)| {
            c != channel && m == magic && now.saturating_duration_since(t) < self.s.keepalive / 2
        })
    }

    fn partner_running(&mut self, out: &mut Vec<Action>, now: Instant) {
        if self.childfail {
            self.childfail = false;
            if self.is_fos() {
                self.reconcile_fos(out, now);
            } else if self.s.warm_standby && !self.s.switches.test_start && !self.exiting {
                self.start_lvsd(out);
            }
        }
        if !self.active {
            self.consider_preempting(now);
            return;
        }
        if self.fos.failpartner {
            // Sent before our "stop, I take over" reached it: it yields on that.
            Self::log(out, "partner active: we want control!");
            return;
        }
        match self.s.role {
            Role::Backup => {
                // One more "running" first, so the master re-announces (docs/legacy.md "pulse
                // state machine": the extra heartbeat after a split brain).
                let bytes = self.heartbeat();
                out.push(Action::Send(bytes));
                let text = format!("partner active: {}", self.deactivating());
                Self::log(out, &text);
                self.deactivate(out, now);
            }
            Role::Primary => {
                Self::log(out, "partner active: resending arps");
                if self.s.active_cmd.is_some() && !self.s.switches.test_start {
                    out.push(Action::RunActiveCmd);
                }
                if !self.s.switches.test_start {
                    out.push(Action::AddAddresses);
                    self.announce_burst(out, now);
                }
            }
        }
    }

    /// Preemption (extension): the primary, healthy and standing by while the backup is
    /// active, takes the role back after `preempt_delay`.
    fn consider_preempting(&mut self, now: Instant) {
        let Some(delay) = self.s.preempt_delay else {
            return;
        };
        if self.s.role != Role::Primary || !self.may_activate() {
            self.timers.clear(Timer::Preempt);
            return;
        }
        if !self.timers.is_set(Timer::Preempt) {
            self.timers.set(Timer::Preempt, now + delay);
        }
    }

    fn partner_stopped(&mut self, out: &mut Vec<Action>, now: Instant) {
        self.timers.clear(Timer::Preempt);
        // The partner has yielded the service this node took: "running" from now on.
        self.fos.failpartner = false;
        if !self.may_activate() {
            return;
        }
        let who = match self.s.role {
            Role::Primary => "backup",
            Role::Backup => "primary",
        };
        let text = format!("{who} inactive: {}", self.activating());
        Self::log(out, &text);
        self.activate(out, now);
    }

    fn refused(&mut self, out: &mut Vec<Action>, kind: Refusal, text: String, now: Instant) {
        let (last, suppressed) = self.refusals.entry(kind).or_insert((None, 0));
        if last.is_some_and(|t| now.saturating_duration_since(t) < REJECT_LOG_INTERVAL) {
            *suppressed += 1;
            return;
        }
        *last = Some(now);
        let more = match std::mem::take(suppressed) {
            0 => String::new(),
            n => format!(" ({n} more not logged)"),
        };
        out.push(Action::Log(format!("{text}{more}")));
    }

    fn links(&mut self, public_up: bool, private_up: bool, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        if !self.s.monitor_links {
            return out;
        }
        let failed = !public_up || !private_up;
        if failed && !self.linkfail {
            if !public_up {
                Self::log(&mut out, "Primary NIC: link down");
            }
            if !private_up {
                Self::log(&mut out, "Private NIC: link down");
            }
            Self::log(&mut out, "Local NIC link failure: Pulse disabled");
            self.linkfail = true;
            self.timers.clear(Timer::Preempt);
            if self.active {
                let text = format!("local link failure: {}", self.deactivating());
                Self::log(&mut out, &text);
                self.deactivate(&mut out, now);
            }
        } else if !failed && self.linkfail {
            Self::log(&mut out, "Local NIC link(s) restored: Pulse enabled");
            self.linkfail = false;
            // Nothing could be heard while the link was down: the partner gets a whole
            // deadtime to be heard before this node may declare it dead (legacy's
            // running timer could fire right after the restore and start a split brain),
            // and at least LINK_RESTORE_GRACE: its first heartbeats wait for neighbour
            // resolution, retried once a second. A heartbeat now makes the partner
            // resolve this node at once (it learns the address from our ARP request).
            self.timers
                .set(Timer::Need, now + self.s.deadtime.max(LINK_RESTORE_GRACE));
            self.send(&mut out);
        }
        out
    }

    fn child_exited(&mut self, pid: u32, status: ExitStatus, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        if self.is_fos() && self.child_pid() == Some(pid) {
            self.fos_exited(&mut out, status, now);
            self.maybe_exit(&mut out);
            return out;
        }
        match self.child {
            Child::Running(p) if p == pid => {
                out.push(Action::Log(match status {
                    ExitStatus::Code(c) => format!("Child process {pid} exited with status {c}"),
                    ExitStatus::Signal(s) => {
                        format!("Child process {pid} terminated with signal {s}")
                    }
                }));
                self.set_child(Child::Stopped);
                if !self.exiting {
                    // Legacy: deactivate, clear ACTIVE, set CHILDFAIL.
                    self.deactivate(&mut out, now);
                    self.childfail = true;
                }
            }
            Child::Stopping { pid: p, .. } if p == pid => {
                self.set_child(Child::Stopped);
                if std::mem::take(&mut self.restart_lvsd) && !self.exiting {
                    self.start_lvsd(&mut out);
                }
            }
            _ => out.push(Action::Log(format!(
                "Skipping death of unknown child {pid}"
            ))),
        }
        self.maybe_exit(&mut out);
        out
    }

    fn terminate(&mut self, sig: i32, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        Self::log(&mut out, &format!("Terminating due to signal {sig}"));
        self.exiting = true;
        let was_active = self.active;
        self.deactivate(&mut out, now);
        // A last "stopped" tells the partner at once (legacy sent nothing and the
        // partner waited deadtime; docs/differences.md).
        if was_active {
            self.send(&mut out);
        }
        if let (Child::Running(_), false) = (self.child, self.is_fos()) {
            self.stop_lvsd(&mut out, now);
        }
        self.maybe_exit(&mut out);
        out
    }

    fn maybe_exit(&mut self, out: &mut Vec<Action>) {
        if self.exiting && matches!(self.child, Child::Stopped) {
            out.push(Action::Exit(Exit::Stopped));
        }
    }

    fn hangup(&mut self) -> Vec<Action> {
        if self.is_fos() {
            // fos takes SIGHUP as "stop the services" (legacy pulse's kill(0, SIGHUP) did
            // that to an active director's services); pulse rereads nothing itself.
            return vec![Action::Debug(
                "SIGHUP: nothing to reload in fos mode".into(),
            )];
        }
        match self.child {
            Child::Running(pid) => vec![Action::SignalChild {
                pid,
                signal: ChildSignal::Hup,
            }],
            // Legacy sent kill(0, SIGHUP) here: its whole process group.
            _ => vec![Action::Debug(
                "SIGHUP: lvsd is not running; nothing to reload".into(),
            )],
        }
    }
}

impl Core for Pulse {
    type Event = Event;
    type Action = Action;

    fn handle(&mut self, event: Event, now: Instant) -> Vec<Action> {
        let mut out = self.dispatch(event, now);
        self.after_sync(now, &mut out);
        out
    }

    fn next_deadline(&self, _now: Instant) -> Option<Instant> {
        self.timers.next()
    }
}

impl Pulse {
    fn dispatch(&mut self, event: Event, now: Instant) -> Vec<Action> {
        match event {
            Event::Start => self.start(now),
            Event::Tick => self.tick(now),
            Event::Datagram {
                from,
                channel,
                bytes,
            } => self.datagram(from, channel, &bytes, now),
            Event::Links {
                public_up,
                private_up,
            } => self.links(public_up, private_up, now),
            Event::ChildStarted { pid } => {
                self.set_child(Child::Running(pid));
                let mut out = Vec::new();
                if self.is_fos() {
                    self.reconcile_fos(&mut out, now);
                }
                out
            }
            Event::ChildFailedToStart { reason } => {
                self.set_child(Child::Stopped);
                self.fos.role = None;
                let text = format!("cannot start {}: {reason}", self.child_name());
                let mut out = vec![Action::Log(text)];
                self.childfail = true;
                if self.active {
                    self.deactivate(&mut out, now);
                }
                self.maybe_exit(&mut out);
                out
            }
            Event::Connectivity(c) => self.connectivity(c, now),
            Event::ChildExited { pid, status } => self.child_exited(pid, status, now),
            Event::Services { ready } => {
                let mut out = Vec::new();
                if ready && self.active && self.holding {
                    self.take_addresses(&mut out, now);
                }
                out
            }
            Event::Hangup => {
                // lvsd rereads lvs.cf; the partner gets it too (sync = 1).
                if self.active {
                    self.sync_changed();
                }
                self.hangup()
            }
            Event::Terminate(sig) => self.terminate(sig, now),
            Event::Control(req) => self.control(req, now),
            Event::Pushed(outcome) => self.pushed(outcome, now),
        }
    }
}
