//! lvsd's decisions, sans IO (docs/legacy.md, "lvsd"): which virtual services to
//! ask IPVS for, which nannies to start, restart and stop, when the sorry server goes in
//! and out, and how to shut down. Fed with events (nanny exits and reports, reloads,
//! signals, time) it returns [`Action`]s; the IO shell (`shell.rs`) carries them out and
//! answers the ones that need an answer (`Reconcile`, `Spawn`) with an event.
//!
//! Differences from legacy lvsd (docs/differences.md): no `ipvsadm -C`, services are
//! reconciled; a nanny that dies is restarted with backoff, and `hard_shutdown` decides
//! only once the restart policy gives up; the sorry server follows the nannies' status
//! channel and waits for their first report; a reload is a diff that applies every
//! change and never drops a virtual service because one real server went.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use ipvs::{Desired, Destination, Op, ServiceKey};
use lvscf::{Config, VirtualServer};

use crate::desired::{desired, timeouts};
use crate::monitor_spec::LvsdFlags;
use crate::reload::{nannies, real_servers, servers_of, NannyKey};
use daemon::control::{ClientId, Request};
use daemon::process::{Backoff, Decision, ExitStatus};
use nanny::spec::MonitorSpec;
use status_schema as schema;
use status_schema::{Health, MonitorState};

/// How long a stopped nanny gets to remove its server before it is killed.
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(10);
/// How often the table is read back from the kernel and repaired.
pub(crate) const AUDIT_EVERY: Duration = Duration::from_secs(60);
/// How long a real server a reload removed stays in the table at weight 0, so that the
/// requests in flight to it finish (IPVS drops the packets of a deleted destination's
/// connections); docs/differences.md, lvsd.
pub(crate) const LEAVE_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum Event {
    /// The `Reconcile` asked for was carried out; these services could not be set up,
    /// for these reasons (one line each, from IPVS).
    Reconciled {
        failed: BTreeSet<ServiceKey>,
        errors: Vec<String>,
    },
    /// The `Spawn` asked for was carried out.
    Spawned {
        key: NannyKey,
        pid: u32,
    },
    SpawnFailed {
        key: NannyKey,
        error: String,
    },
    /// The sweep is done: `checked` servers checked, these added.
    Swept {
        admitted: BTreeSet<NannyKey>,
        checked: usize,
    },
    /// A child was reaped.
    Exited {
        pid: u32,
        status: ExitStatus,
    },
    /// A nanny's report on the status channel.
    Status {
        pid: u32,
        active: bool,
    },
    /// SIGHUP with a configuration that parsed.
    Reload(#[serde(with = "lvscf::as_text")] Box<Config>),
    /// SIGTERM or SIGINT.
    Terminate(i32),
    /// Time passed.
    Tick,
    /// An operator's request on the control socket (docs/control.md).
    Control(Request),
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Action {
    /// syslog (and stdout in the foreground), as `lvs: <text>`.
    Log(String),
    /// stdout only (the sorry-server messages).
    Print(String),
    SetTimeouts(ipvs::Timeouts),
    /// Bring lvsd's services to this; `audit` reads the kernel's table first. Answer
    /// with `Event::Reconciled`.
    Reconcile {
        desired: Desired,
        audit: bool,
    },
    /// A destination lvsd itself manages (the sorry server, an abandoned server).
    Ipvs(Op),
    /// Before their first nanny starts: check these real servers once, add the healthy
    /// ones; answer with `Event::Swept`.
    Sweep(Vec<SweepItem>),
    /// Start a nanny; answer with `Event::Spawned` or `Event::SpawnFailed`.
    /// `integrated`: lvs.cf's `integrated_monitors`, run it inside lvsd if it can be.
    Spawn {
        key: NannyKey,
        spec: Box<MonitorSpec>,
        integrated: bool,
    },
    /// SIGTERM: the nanny removes its server and exits.
    Stop {
        pid: u32,
    },
    /// SIGKILL: a nanny that did not stop in time.
    Kill {
        pid: u32,
    },
    /// Remember the drained real servers across lvsd restarts (`lvs.drained`).
    StoreDrained(BTreeSet<NannyKey>),
    /// Answer a control request.
    Answer {
        client: ClientId,
        answer: serde_json::Value,
    },
    /// Answer `status` with these services, the kernel's figures added by the shell.
    AnswerStatus {
        client: ClientId,
        services: Vec<schema::Service>,
        /// Each service's identity in IPVS, for the kernel's figures.
        keys: Vec<Option<ServiceKey>>,
    },
    Exit(Exit),
}

daemon::exit_statuses! {
    /// How lvsd ends: the legacy exit statuses.
    pub enum Exit {
        /// Stopped when told (SIGTERM, SIGINT).
        Stopped = 0,
        /// It could not start, or could not reach IPVS.
        Failed = 1,
    }
}

/// One real server for a sweep: its monitor (the check to run) and the destination to
/// add if the check passes (the nanny's first weight).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SweepItem {
    pub key: NannyKey,
    pub spec: Box<MonitorSpec>,
    pub dest: Destination,
    /// A fleet service's server: added even when its check fails (at weight 0).
    #[serde(default)]
    pub fleet: bool,
}

/// Where the sweep is: lvsd checks real servers once itself before their first nanny
/// starts, at start-up (all of them) and on reload (the new ones).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Sweep {
    /// Asked for once the services exist; `None` means every real server.
    Due(Option<BTreeSet<NannyKey>>),
    /// `true` at start-up.
    Running {
        start_up: bool,
    },
    Done,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum NannyState {
    /// To be started at `not_before`, once nanny `after` (its predecessor) has exited.
    Pending {
        not_before: Instant,
        after: Option<u32>,
    },
    /// Asked the shell to start it.
    Starting,
    Running(u32),
    /// The restart policy gave up (`hard_shutdown = 0`).
    GaveUp,
    /// `--test-start`: nannies are not started.
    NotStarted,
}

#[derive(Debug, Clone)]
struct Nanny {
    vs: String,
    rs: String,
    spec: MonitorSpec,
    state: NannyState,
    backoff: Backoff,
    /// The last report since the nanny (re)started.
    active: Option<bool>,
    /// When the nanny (re)started: the sorry server waits for its first report.
    since: Instant,
    /// The nanny's probe timeout: its first report comes within it.
    timeout: Duration,
    /// Logged that it does not report.
    silent_warned: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    /// Waiting for the nannies to exit, then deleting the services.
    ShuttingDown {
        code: Exit,
    },
    /// The services are being deleted.
    Deleting {
        code: Exit,
    },
    Done,
}

/// The sorry server of one virtual service, as lvsd put it in.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Sorry {
    dest: Destination,
    active: bool,
}

pub struct Manager {
    config: Config,
    flags: LvsdFlags,
    test_start: bool,
    policy: Backoff,
    nannies: BTreeMap<NannyKey, Nanny>,
    /// Nannies told to stop and not reaped yet, with the time they get.
    stopping: BTreeMap<u32, Instant>,
    /// Services the last reconcile could not set up: their nannies wait.
    failed: BTreeSet<ServiceKey>,
    sorry: BTreeMap<ServiceKey, Sorry>,
    next_audit: Instant,
    phase: Phase,
    sweep: Sweep,
    /// Real servers the operator drained (`lvsctl drain`): their nannies run with weight
    /// 0 until enabled, across nanny restarts, reloads and lvsd restarts.
    drained: BTreeSet<NannyKey>,
    /// Real servers a reload removed: at weight 0 until they are deleted at this time.
    leaving: BTreeMap<NannyKey, Instant>,
    /// The start-up's `starting virtual service` lines are still to be logged: they
    /// follow the first reconcile, so that thousands of log lines do not delay the table
    /// (each service's lines keep their legacy order: starting, then its failure or its
    /// nannies).
    announce: bool,
}

/// The sorry server of a virtual: weight 1, the virtual's forwarding method, the
/// configured port or else the virtual port (docs/legacy.md, "lvsd", vendor fix).
pub(crate) fn sorry_destination(c: &Config, vs: &VirtualServer) -> Option<Destination> {
    let s = vs.sorry_server.as_ref()?;
    Some(Destination::new(
        s.addr,
        s.port.unwrap_or(vs.port),
        c.network_of(vs).forward_method(),
        1,
    ))
}

/// Removes the entries whose time has come and returns their keys.
fn take_due<K: Ord + Copy>(timers: &mut BTreeMap<K, Instant>, now: Instant) -> Vec<K> {
    let due: Vec<K> = timers
        .iter()
        .filter(|(_, t)| **t <= now)
        .map(|(k, _)| *k)
        .collect();
    for k in &due {
        timers.remove(k);
    }
    due
}

/// The active virtual services of a file, by how IPVS knows them.
fn keyed_virtuals(c: &Config) -> BTreeMap<ServiceKey, String> {
    c.active_virtuals()
        .filter_map(|vs| Some((vs.service_key()?, vs.name.clone())))
        .collect()
}

/// `shutting down` / `starting virtual service` for the virtuals a reload removes or adds.
fn log_virtual_changes(old: &Config, new: &Config, out: &mut Vec<Action>) {
    let (before, after) = (keyed_virtuals(old), keyed_virtuals(new));
    for vs in old.active_virtuals() {
        if vs.service_key().is_some_and(|k| !after.contains_key(&k)) {
            out.push(Action::Log(format!(
                "shutting down virtual service {}",
                vs.name
            )));
        }
    }
    for vs in new.active_virtuals() {
        if vs.service_key().is_some_and(|k| !before.contains_key(&k)) {
            out.push(Action::Log(format!(
                "starting virtual service {} active: {}",
                vs.name, vs.port
            )));
        }
    }
}

impl daemon::driver::Core for Manager {
    type Event = Event;
    type Action = Action;

    fn handle(&mut self, event: Event, now: Instant) -> Vec<Action> {
        Manager::handle(self, event, now)
    }

    fn next_deadline(&self, now: Instant) -> Option<Instant> {
        Manager::next_deadline(self, now)
    }
}

impl Manager {
    /// Start-up: the timeouts, the services, then (once reconciled) the nannies.
    pub fn start(
        config: Config,
        flags: LvsdFlags,
        test_start: bool,
        now: Instant,
    ) -> (Manager, Vec<Action>) {
        Manager::start_drained(config, flags, test_start, BTreeSet::new(), now)
    }

    /// Start-up with the real servers drained before (`lvs.drained`); the ones lvs.cf no
    /// longer names are forgotten.
    pub fn start_drained(
        config: Config,
        flags: LvsdFlags,
        test_start: bool,
        drained: BTreeSet<NannyKey>,
        now: Instant,
    ) -> (Manager, Vec<Action>) {
        let mut out = Vec::new();
        if let Some(t) = timeouts(&config) {
            out.push(Action::SetTimeouts(t));
        }
        let mut m = Manager {
            config,
            flags,
            test_start,
            policy: Backoff::default(),
            nannies: BTreeMap::new(),
            stopping: BTreeMap::new(),
            failed: BTreeSet::new(),
            sorry: BTreeMap::new(),
            next_audit: now + AUDIT_EVERY,
            phase: Phase::Running,
            sweep: if test_start {
                Sweep::Done
            } else {
                Sweep::Due(None)
            },
            drained: BTreeSet::new(),
            leaving: BTreeMap::new(),
            announce: true,
        };
        let known: BTreeSet<NannyKey> = real_servers(&m.config).map(|(k, _, _)| k).collect();
        m.drained = drained.intersection(&known).copied().collect();
        let all = nannies(&m.config, m.flags, &m.drained);
        m.add_nannies(now, &all);
        out.push(Action::Reconcile {
            desired: desired(&m.config),
            audit: true,
        });
        (m, out)
    }

    /// Replaces the restart policy (tests).
    pub fn with_policy(mut self, policy: Backoff) -> Manager {
        for n in self.nannies.values_mut() {
            n.backoff = policy.clone();
        }
        self.policy = policy;
        self
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// `lvsctl drain` / `enable`: the real server `rs` of the virtual service `vs` (by
    /// their lvs.cf names) at weight 0 until enabled, or back to its configured weight
    /// (by slow start). Its nanny is restarted with the new weight and adopts the entry,
    /// so the server never leaves the table. Returns what to tell the operator.
    pub(crate) fn set_drained(
        &mut self,
        vs: &str,
        rs: &str,
        drain: bool,
        now: Instant,
    ) -> Result<(String, Vec<Action>), String> {
        let Some(v) = self.config.active_virtuals().find(|v| v.name == vs) else {
            return Err(format!("no active virtual service {vs:?}"));
        };
        let Some((key, _, _)) =
            real_servers(&self.config).find(|(_, v2, r)| std::ptr::eq(*v2, v) && r.name == rs)
        else {
            return Err(format!("no active real server {rs:?} in {vs}"));
        };
        let changed = if drain {
            self.drained.insert(key)
        } else {
            self.drained.remove(&key)
        };
        let what = if drain { "drained" } else { "enabled" };
        if !changed {
            return Ok((format!("{vs}/{rs} is already {what}"), Vec::new()));
        }
        let mut out = vec![
            Action::Log(format!(
                "{vs}/{rs} {what} by the operator{}",
                if drain {
                    " (weight 0 until enabled)"
                } else {
                    ""
                }
            )),
            Action::StoreDrained(self.drained.clone()),
        ];
        let config = self.config.clone();
        self.reload(config, now, &mut out);
        Ok((format!("{vs}/{rs} {what}"), out))
    }

    /// Each active virtual service as `lvsctl status` shows it, without the kernel's
    /// figures ([`crate::status::with_kernel`] adds them), and its identity in IPVS.
    pub fn status(&self) -> (Vec<schema::Service>, Vec<Option<ServiceKey>>) {
        self.config
            .active_virtuals()
            .map(|vs| {
                let key = vs.service_key();
                let service = schema::Service {
                    name: vs.name.clone(),
                    service: vs.identity().to_string(),
                    scheduler: vs.scheduler.clone(),
                    persistent: vs.persistent,
                    forwarding: self.config.network_of(vs).keyword().to_string(),
                    failed: key.is_some_and(|k| self.failed.contains(&k)),
                    sorry_server: sorry_destination(&self.config, vs).map(|d| schema::Sorry {
                        address: std::net::SocketAddr::new(d.addr, d.port).to_string(),
                        active: key
                            .and_then(|k| self.sorry.get(&k))
                            .is_some_and(|s| s.active),
                    }),
                    real_servers: self.real_server_status(vs),
                    stats: None,
                };
                (service, key)
            })
            .unzip()
    }

    fn real_server_status(&self, vs: &VirtualServer) -> Vec<schema::RealServer> {
        servers_of(vs)
            .map(|(key, rs)| {
                let nanny = self.nannies.get(&key);
                let (monitor, monitor_pid) = match nanny.map(|n| &n.state) {
                    Some(NannyState::Running(pid)) => (MonitorState::Running, Some(*pid)),
                    Some(NannyState::Starting) => (MonitorState::Starting, None),
                    Some(NannyState::Pending { .. }) => (MonitorState::Restarting, None),
                    Some(NannyState::GaveUp) => (MonitorState::GaveUp, None),
                    Some(NannyState::NotStarted) | None => (MonitorState::NotStarted, None),
                };
                schema::RealServer {
                    name: rs.name.clone(),
                    address: std::net::SocketAddr::new(key.server, key.port).to_string(),
                    configured_weight: rs.weight,
                    drained: self.drained.contains(&key),
                    health: match nanny.and_then(|n| n.active) {
                        Some(true) => Health::Up,
                        Some(false) => Health::Down,
                        None => Health::Unknown,
                    },
                    monitor,
                    monitor_pid,
                    kernel: None,
                }
            })
            .collect()
    }

    /// The pids of the running nannies.
    pub fn nanny_pids(&self) -> Vec<u32> {
        self.nannies
            .values()
            .filter_map(|n| match n.state {
                NannyState::Running(pid) => Some(pid),
                _ => None,
            })
            .chain(self.stopping.keys().copied())
            .collect()
    }

    /// The next time after `now` something is due, for the shell's wait. (Times already
    /// past are not due again: a nanny that never reports, one waiting for its
    /// predecessor.)
    pub fn next_deadline(&self, now: Instant) -> Option<Instant> {
        let mut t: Vec<Instant> = vec![self.next_audit];
        t.extend(self.stopping.values().copied());
        t.extend(self.leaving.values().copied());
        for n in self.nannies.values() {
            match n.state {
                NannyState::Pending { not_before, .. } => t.push(not_before),
                NannyState::Running(_) if n.active.is_none() => t.push(n.since + n.timeout),
                _ => {}
            }
        }
        t.into_iter().filter(|t| *t > now).min()
    }

    pub fn handle(&mut self, event: Event, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        if self.phase == Phase::Done {
            return out;
        }
        match event {
            Event::Reconciled { failed, errors } => self.reconciled(failed, errors, &mut out),
            Event::Spawned { key, pid } => {
                if let Some(n) = self.nannies.get_mut(&key) {
                    n.state = NannyState::Running(pid);
                    n.since = now;
                    n.active = None;
                    out.push(Action::Log(format!(
                        "create_monitor for {}/{} running as pid {pid}",
                        n.vs, n.rs
                    )));
                }
            }
            Event::SpawnFailed { key, error } => {
                let name = self.nannies.get(&key).map(|n| format!("{}/{}", n.vs, n.rs));
                if let Some(name) = name {
                    out.push(Action::Log(format!(
                        "cannot start nanny for {name}: {error}"
                    )));
                    self.nanny_died(key, now, &mut out);
                }
            }
            Event::Swept { admitted, checked } => {
                if let Sweep::Running { start_up } = self.sweep {
                    self.sweep = Sweep::Done;
                    let what = if start_up {
                        "start-up check"
                    } else {
                        "check of the new real servers"
                    };
                    out.push(Action::Log(format!(
                        "{what}: {} of {checked} real servers healthy and added",
                        admitted.len(),
                    )));
                }
            }
            Event::Exited { pid, status } => self.exited(pid, status, now, &mut out),
            Event::Status { pid, active } => {
                if let Some(n) = self
                    .nannies
                    .values_mut()
                    .find(|n| n.state == NannyState::Running(pid))
                {
                    n.active = Some(active);
                }
            }
            Event::Reload(new) => self.reload(*new, now, &mut out),
            Event::Terminate(sig) => {
                if matches!(self.phase, Phase::Running) {
                    out.push(Action::Log(format!("shutting down due to signal {sig}")));
                    self.shut_down(Exit::Stopped, now, &mut out);
                }
            }
            Event::Tick => {}
            Event::Control(req) => self.control(req, now, &mut out),
        }
        self.after(now, &mut out);
        out
    }

    /// A control request (docs/control.md): `status`, `drain`, `enable`.
    fn control(&mut self, req: Request, now: Instant, out: &mut Vec<Action>) {
        let client = req.client;
        let answer = match req.command.as_str() {
            "status" => {
                let (services, keys) = self.status();
                return out.push(Action::AnswerStatus {
                    client,
                    services,
                    keys,
                });
            }
            command @ ("drain" | "enable") => {
                self.drain_request(command == "drain", &req.body, now, out)
            }
            other => daemon::control::unknown(other),
        };
        out.push(Action::Answer { client, answer });
    }

    /// `{"command":"drain"|"enable","virtual":NAME,"server":NAME}`.
    fn drain_request(
        &mut self,
        drain: bool,
        body: &serde_json::Value,
        now: Instant,
        out: &mut Vec<Action>,
    ) -> serde_json::Value {
        let (Some(vs), Some(rs)) = (body["virtual"].as_str(), body["server"].as_str()) else {
            return daemon::control::error("name the \"virtual\" service and the \"server\"");
        };
        match self.set_drained(vs, rs, drain, now) {
            Ok((message, actions)) => {
                out.extend(actions);
                serde_json::json!({"ok": true, "message": message})
            }
            Err(e) => daemon::control::error(e),
        }
    }

    /// Registers the nannies of the current configuration that are not known yet, with
    /// their monitors from `specs`.
    fn add_nannies(&mut self, now: Instant, specs: &BTreeMap<NannyKey, MonitorSpec>) {
        for (key, vs, rs) in real_servers(&self.config) {
            let Some(spec) = specs.get(&key) else {
                continue;
            };
            if self.nannies.contains_key(&key) {
                continue;
            }
            let state = if self.test_start {
                NannyState::NotStarted
            } else {
                NannyState::Pending {
                    not_before: now,
                    after: None,
                }
            };
            self.nannies.insert(
                key,
                Nanny {
                    vs: vs.name.clone(),
                    rs: rs.name.clone(),
                    spec: spec.clone(),
                    state,
                    backoff: self.policy.clone(),
                    active: None,
                    since: now,
                    timeout: Duration::from_secs(u64::from(vs.timeout.max(1)) + 2),
                    silent_warned: false,
                },
            );
        }
    }

    fn reconciled(
        &mut self,
        failed: BTreeSet<ServiceKey>,
        errors: Vec<String>,
        out: &mut Vec<Action>,
    ) {
        if std::mem::take(&mut self.announce) {
            for vs in self.config.active_virtuals() {
                out.push(Action::Log(format!(
                    "starting virtual service {} active: {}",
                    vs.name, vs.port
                )));
            }
        }
        out.extend(
            errors
                .into_iter()
                .map(|e| Action::Log(format!("IPVS: {e}"))),
        );
        match self.phase {
            Phase::Deleting { code } => {
                self.phase = Phase::Done;
                out.push(Action::Exit(code));
                return;
            }
            Phase::ShuttingDown { .. } | Phase::Done => return,
            Phase::Running => {}
        }
        for vs in self.config.active_virtuals() {
            if let Some(k) = vs.service_key() {
                if failed.contains(&k) && !self.failed.contains(&k) {
                    out.push(Action::Log(format!(
                        "ipvsadm failed for virtual server {}!",
                        vs.name
                    )));
                }
            }
        }
        self.failed = failed;
        if let Sweep::Due(only) = &self.sweep {
            let items = self.sweep_items(only.as_ref());
            self.sweep = Sweep::Running {
                start_up: only.is_none(),
            };
            out.push(Action::Sweep(items));
        }
    }

    /// Every real server whose service exists, with the destination its nanny would add
    /// after a good first probe (its nanny adopts it, see nanny's `Monitor::adopt`).
    fn sweep_items(&self, only: Option<&BTreeSet<NannyKey>>) -> Vec<SweepItem> {
        real_servers(&self.config)
            .filter(|(key, _, _)| !self.failed.contains(&key.service))
            .filter(|(key, _, _)| only.map_or(true, |o| o.contains(key)))
            .filter_map(|(key, vs, rs)| {
                Some(SweepItem {
                    key,
                    fleet: self.config.is_fleet(),
                    spec: Box::new(self.nannies.get(&key)?.spec.clone()),
                    dest: Destination::new(
                        key.server,
                        key.port,
                        self.config.network_of(vs).forward_method(),
                        if self.drained.contains(&key) {
                            0
                        } else {
                            nanny::monitor::initial_weight(rs.weight)
                        },
                    ),
                })
            })
            .collect()
    }

    fn exited(&mut self, pid: u32, how: ExitStatus, now: Instant, out: &mut Vec<Action>) {
        if self.stopping.remove(&pid).is_some() {
            return;
        }
        let Some(key) = self
            .nannies
            .iter()
            .find(|(_, n)| n.state == NannyState::Running(pid))
            .map(|(k, _)| *k)
        else {
            return;
        };
        let n = &self.nannies[&key];
        out.push(Action::Log(format!(
            "nanny for child {}/{} died ({how})",
            n.vs, n.rs
        )));
        self.nanny_died(key, now, out);
    }

    /// A nanny ended unasked (or could not start): restart it, or give up.
    fn nanny_died(&mut self, key: NannyKey, now: Instant, out: &mut Vec<Action>) {
        let Some(n) = self.nannies.get_mut(&key) else {
            return;
        };
        n.active = None;
        n.state = NannyState::GaveUp;
        let name = format!("{}/{}", n.vs, n.rs);
        match n.backoff.died(now) {
            Decision::RestartAfter(d) => {
                out.push(Action::Log(format!(
                    "restarting nanny for {name} in {} s",
                    d.as_secs_f64()
                )));
                n.state = NannyState::Pending {
                    not_before: now + d,
                    after: None,
                };
            }
            Decision::GiveUp if self.config.hard_shutdown => {
                out.push(Action::Log(format!(
                    "nanny for child {name} died! shutting down lvs"
                )));
                self.shut_down(Exit::Failed, now, out);
            }
            Decision::GiveUp => {
                out.push(Action::Log(format!(
                    "nanny for child {name} died! manual action needed!"
                )));
                n.state = NannyState::GaveUp;
                n.active = Some(false);
                // Nobody watches this server any more: take it out of the table.
                out.push(Action::Ipvs(Op::DelDest(key.service, key.dest())));
            }
        }
    }

    /// SIGHUP with a good file: a diff against the running configuration.
    fn reload(&mut self, new: Config, now: Instant, out: &mut Vec<Action>) {
        if self.phase != Phase::Running {
            return;
        }
        if timeouts(&new) != timeouts(&self.config) {
            out.extend(timeouts(&new).map(Action::SetTimeouts));
        }
        let after = keyed_virtuals(&new);
        log_virtual_changes(&self.config, &new, out);
        self.reload_sorry_servers(&new, &after, out);
        let (starts, predecessors, signals) = self.reload_nannies(&new, now, out);
        self.config = new;
        // Names may have changed with nothing else.
        for (key, vs, rs) in real_servers(&self.config) {
            if let Some(n) = self.nannies.get_mut(&key) {
                n.vs.clone_from(&vs.name);
                n.rs.clone_from(&rs.name);
            }
        }
        self.add_nannies(now, &starts);
        // A restarted nanny starts once its predecessor is gone, and adopts its entry.
        for (key, pid) in predecessors {
            if let Some(NannyState::Pending { after, .. }) =
                self.nannies.get_mut(&key).map(|n| &mut n.state)
            {
                *after = Some(pid);
            }
        }
        out.push(Action::Reconcile {
            desired: desired(&self.config),
            audit: false,
        });
        // Signalled last: the table is brought right first (signalling hundreds of
        // processes takes a while, and a stopping nanny removes its server anyway).
        out.extend(signals);
    }

    /// Sorry servers that went away or changed come out now; the new ones follow the
    /// nannies' reports.
    fn reload_sorry_servers(
        &mut self,
        new: &Config,
        after: &BTreeMap<ServiceKey, String>,
        out: &mut Vec<Action>,
    ) {
        let new_sorry: BTreeMap<ServiceKey, Destination> = new
            .active_virtuals()
            .filter_map(|vs| Some((vs.service_key()?, sorry_destination(new, vs)?)))
            .collect();
        for (k, s) in std::mem::take(&mut self.sorry) {
            if new_sorry.get(&k).is_some_and(|d| d.same_settings(&s.dest)) {
                self.sorry.insert(k, s);
            } else if s.active && after.contains_key(&k) {
                out.push(Action::Ipvs(Op::DelDest(k, s.dest.key())));
            }
        }
    }

    /// Stops the nannies whose server went or whose command line changed. Returns the
    /// nannies to start, the predecessors they wait for, and the signals to send.
    #[allow(clippy::type_complexity)]
    fn reload_nannies(
        &mut self,
        new: &Config,
        now: Instant,
        out: &mut Vec<Action>,
    ) -> (
        BTreeMap<NannyKey, MonitorSpec>,
        BTreeMap<NannyKey, u32>,
        Vec<Action>,
    ) {
        let known: BTreeSet<NannyKey> = real_servers(new).map(|(k, _, _)| k).collect();
        if !self.drained.is_subset(&known) {
            self.drained.retain(|k| known.contains(k));
            out.push(Action::StoreDrained(self.drained.clone()));
        }
        let plan = crate::reload::diff(
            self.nannies.iter().map(|(k, n)| (k, &n.spec)),
            nannies(new, self.flags, &self.drained),
        );
        let starts: BTreeMap<NannyKey, MonitorSpec> = plan.start.into_iter().collect();
        // Servers that get their first nanny are checked by lvsd first, as at start-up.
        let first_time: BTreeSet<NannyKey> = starts
            .keys()
            .filter(|k| !self.nannies.contains_key(k))
            .copied()
            .collect();
        if !first_time.is_empty() && !self.test_start {
            self.sweep = Sweep::Due(Some(first_time));
        }
        let (mut predecessors, mut signals) = (BTreeMap::new(), Vec::new());
        let staying = keyed_virtuals(new);
        for key in &plan.stop {
            let restart = starts.contains_key(key);
            // The server leaves a virtual service that stays: drained out by `leave`.
            let leaves = !restart && staying.contains_key(&key.service);
            if let Some(NannyState::Running(pid)) = self.nannies.remove(key).map(|n| n.state) {
                // Killed, not stopped, when its entry must stay: a stopped nanny removes
                // its server at once, a killed one leaves it for its successor to adopt
                // or for `leave`.
                signals.push(if restart || leaves {
                    Action::Kill { pid }
                } else {
                    Action::Stop { pid }
                });
                self.stopping.insert(pid, now + STOP_GRACE);
                predecessors.insert(*key, pid);
            }
            if leaves {
                self.leave(*key, now, out);
            }
        }
        // A server that comes back while it is leaving starts afresh, like a new one.
        for key in starts.keys() {
            if self.leaving.remove(key).is_some() {
                out.push(Action::Ipvs(Op::DelDest(key.service, key.dest())));
            }
        }
        (starts, predecessors, signals)
    }

    /// A real server the reload removed: weight 0 now, so that it gets no new connections
    /// and the ones in flight finish; deleted after [`LEAVE_GRACE`] (legacy deleted it at
    /// once, failing the requests in flight).
    fn leave(&mut self, key: NannyKey, now: Instant, out: &mut Vec<Action>) {
        let method = real_servers(&self.config)
            .find(|(k, _, _)| *k == key)
            .map(|(_, vs, _)| self.config.network_of(vs).forward_method());
        if let Some(method) = method {
            let quiet = Destination::new(key.server, key.port, method, 0);
            out.push(Action::Ipvs(Op::EditDest(key.service, quiet)));
        }
        self.leaving.insert(key, now + LEAVE_GRACE);
    }

    /// The leaving real servers whose grace is over are deleted.
    fn delete_left(&mut self, now: Instant, out: &mut Vec<Action>) {
        for key in take_due(&mut self.leaving, now) {
            out.push(Action::Ipvs(Op::DelDest(key.service, key.dest())));
        }
    }

    fn shut_down(&mut self, code: Exit, now: Instant, out: &mut Vec<Action>) {
        for vs in self.config.active_virtuals() {
            out.push(Action::Log(format!(
                "shutting down virtual service {}",
                vs.name
            )));
        }
        for n in std::mem::take(&mut self.nannies).into_values() {
            if let NannyState::Running(pid) = n.state {
                out.push(Action::Stop { pid });
                self.stopping.insert(pid, now + STOP_GRACE);
            }
        }
        // Their services are deleted.
        self.leaving.clear();
        self.phase = Phase::ShuttingDown { code };
    }

    /// What is due after any event: stragglers, (re)starts, the sorry servers, the end
    /// of a shutdown, the periodic audit.
    fn after(&mut self, now: Instant, out: &mut Vec<Action>) {
        for pid in take_due(&mut self.stopping, now) {
            // Reaped (and forgotten) later; waiting longer would only stall.
            out.push(Action::Kill { pid });
        }
        match self.phase {
            Phase::ShuttingDown { code } if self.stopping.is_empty() => {
                self.phase = Phase::Deleting { code };
                out.push(Action::Reconcile {
                    desired: Desired::default(),
                    audit: false,
                });
                return;
            }
            Phase::Running => {}
            _ => return,
        }
        self.delete_left(now, out);
        self.start_due(now, out);
        self.sorry_servers(now, out);
        if now >= self.next_audit {
            self.next_audit = now + AUDIT_EVERY;
            out.push(Action::Reconcile {
                desired: desired(&self.config),
                audit: true,
            });
        }
    }

    fn start_due(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.sweep != Sweep::Done {
            return;
        }
        // In file order, so the create_monitor lines read like lvs.cf.
        for (key, _, _) in real_servers(&self.config) {
            if self.failed.contains(&key.service) {
                continue;
            }
            let Some(n) = self.nannies.get_mut(&key) else {
                continue;
            };
            if let NannyState::Pending { not_before, after } = n.state {
                let free = after.map_or(true, |p| !self.stopping.contains_key(&p));
                if not_before <= now && free {
                    n.state = NannyState::Starting;
                    out.push(Action::Spawn {
                        key,
                        spec: Box::new(n.spec.clone()),
                        integrated: self.config.integrated_monitors,
                    });
                }
            }
        }
    }

    fn sorry_servers(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.test_start {
            return;
        }
        for vs in self.config.active_virtuals() {
            let (Some(service), Some(dest)) =
                (vs.service_key(), sorry_destination(&self.config, vs))
            else {
                continue;
            };
            if self.failed.contains(&service) {
                continue;
            }
            let mine = self
                .nannies
                .iter_mut()
                .filter(|(k, _)| k.service == service);
            let (mut up, mut waiting) = (0, 0);
            for (_, n) in mine {
                match (n.active, &n.state) {
                    (Some(true), NannyState::Running(_)) => up += 1,
                    (
                        None,
                        NannyState::Running(_) | NannyState::Starting | NannyState::Pending { .. },
                    ) if now < n.since + n.timeout => waiting += 1,
                    // Running but never heard from: a client monitor that does not use
                    // the status channel (a site's own program). Its server may well be
                    // up, so the sorry server must not go in on its account.
                    (None, NannyState::Running(_)) => {
                        waiting += 1;
                        if !n.silent_warned {
                            n.silent_warned = true;
                            out.push(Action::Log(format!(
                                "nanny for {}/{} does not report its state ({}); the sorry \
                                 server of {} is not activated while it runs",
                                n.vs,
                                n.rs,
                                nanny::availability::ENV,
                                vs.name
                            )));
                        }
                    }
                    _ => {}
                }
            }
            let s = self.sorry.entry(service).or_insert(Sorry {
                dest: dest.clone(),
                active: false,
            });
            if up == 0 && waiting == 0 && !s.active {
                s.active = true;
                out.push(Action::Print(format!(
                    "Virtual Server {}: No real servers; activate sorry_server {}",
                    vs.name, dest.addr
                )));
                out.push(Action::Ipvs(Op::AddDest(service, dest)));
            } else if up > 0 && s.active {
                s.active = false;
                out.push(Action::Print(format!(
                    "Virtual Server {}: {up} real servers; deactivate sorry_server {}",
                    vs.name, dest.addr
                )));
                out.push(Action::Ipvs(Op::DelDest(service, dest.key())));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use daemon::driver::{Driver, Executor, Step};
    use ipvs::{DestKey, ForwardMethod};

    const BASE: &str = "hard_shutdown = 0\ntcp_timeout = 900\n\
        virtual web {\n active = 1\n address = 192.0.2.1 eth0:1\n port = 80\n timeout = 6\n\
        sorry_server = 10.0.9.9\n\
        server a {\n address = 10.0.0.1\n active = 1\n }\n\
        server b {\n address = 10.0.0.2\n active = 1\n }\n}\n\
        virtual dns {\n active = 1\n address = 192.0.2.2 eth0:2\n port = 53\n protocol = udp\n\
        server c {\n address = 10.0.0.3\n active = 1\n }\n}\n";

    fn cfg(text: &str) -> Config {
        lvscf::parse_str(text, "lvs.cf", &Default::default())
            .unwrap()
            .config
    }

    /// The manager driven by the shared driver with a fake shell: spawns get pids 100,
    /// 101, ...; reconciles fail for the services in `fail`; every action is recorded.
    struct FakeShell {
        now: Instant,
        next_pid: u32,
        fail: BTreeSet<ServiceKey>,
        /// Running nannies by server address.
        pids: BTreeMap<String, u32>,
        seen: Vec<Action>,
    }

    impl Executor<Manager> for FakeShell {
        fn execute(&mut self, a: Action) -> Step<Event> {
            let step = match &a {
                Action::Reconcile { desired, .. } => Step::Answer(Event::Reconciled {
                    failed: desired
                        .services
                        .keys()
                        .filter(|k| self.fail.contains(k))
                        .copied()
                        .collect(),
                    errors: self
                        .fail
                        .iter()
                        .map(|k| format!("add {k}: refused"))
                        .collect(),
                }),
                Action::Sweep(items) => Step::Answer(Event::Swept {
                    admitted: items.iter().map(|i| i.key).collect(),
                    checked: items.len(),
                }),
                Action::Spawn { key, .. } => {
                    let pid = self.next_pid;
                    self.next_pid += 1;
                    self.pids.insert(key.server.to_string(), pid);
                    Step::Answer(Event::Spawned { key: *key, pid })
                }
                _ => Step::Done,
            };
            self.seen.push(a);
            step
        }

        fn now(&self) -> Instant {
            self.now
        }
    }

    struct Sim {
        d: Driver<Manager, FakeShell>,
        t0: Instant,
    }

    impl Sim {
        fn start(text: &str) -> (Sim, Vec<Action>) {
            Sim::start_failing(text, BTreeSet::new())
        }

        fn start_failing(text: &str, fail: BTreeSet<ServiceKey>) -> (Sim, Vec<Action>) {
            Sim::start_with(text, fail, Backoff::default())
        }

        fn start_with(
            text: &str,
            fail: BTreeSet<ServiceKey>,
            policy: Backoff,
        ) -> (Sim, Vec<Action>) {
            let t0 = Instant::now();
            let (m, first) = Manager::start(cfg(text), LvsdFlags::default(), false, t0);
            let m = m.with_policy(policy);
            let shell = FakeShell {
                now: t0,
                next_pid: 100,
                fail,
                pids: BTreeMap::new(),
                seen: Vec::new(),
            };
            let mut sim = Sim {
                d: Driver::new(m, shell),
                t0,
            };
            sim.d.carry_out(first);
            let out = std::mem::take(&mut sim.d.exec.seen);
            (sim, out)
        }

        /// Feeds an event; returns every action carried out.
        fn feed(&mut self, e: Event) -> Vec<Action> {
            self.d.dispatch(e);
            std::mem::take(&mut self.d.exec.seen)
        }

        fn at(&mut self, secs: f64) -> Vec<Action> {
            self.d.exec.now = self.t0 + Duration::from_secs_f64(secs);
            self.feed(Event::Tick)
        }

        fn pid(&self, server: &str) -> u32 {
            self.d.exec.pids[server]
        }

        fn exit(&mut self, server: &str) -> Vec<Action> {
            let pid = self.pid(server);
            self.feed(Event::Exited {
                pid,
                status: ExitStatus::Code(1),
            })
        }

        fn status(&mut self, server: &str, active: bool) -> Vec<Action> {
            let pid = self.pid(server);
            self.feed(Event::Status { pid, active })
        }
    }

    fn logs(out: &[Action]) -> Vec<String> {
        out.iter()
            .filter_map(|a| match a {
                Action::Log(m) | Action::Print(m) => Some(m.clone()),
                _ => None,
            })
            .collect()
    }

    fn spawned(out: &[Action]) -> Vec<String> {
        out.iter()
            .filter_map(|a| match a {
                Action::Spawn { key, .. } => Some(key.server.to_string()),
                _ => None,
            })
            .collect()
    }

    fn stopped(out: &[Action]) -> Vec<u32> {
        out.iter()
            .filter_map(|a| match a {
                Action::Stop { pid } => Some(*pid),
                _ => None,
            })
            .collect()
    }

    fn ipvs_ops(out: &[Action]) -> Vec<Op> {
        out.iter()
            .filter_map(|a| match a {
                Action::Ipvs(op) => Some(op.clone()),
                _ => None,
            })
            .collect()
    }

    fn desired_services(out: &[Action]) -> Vec<Vec<ServiceKey>> {
        out.iter()
            .filter_map(|a| match a {
                Action::Reconcile { desired, .. } => {
                    Some(desired.services.keys().copied().collect())
                }
                _ => None,
            })
            .collect()
    }

    fn web() -> ServiceKey {
        ServiceKey::tcp(testbed::ip("192.0.2.1"), 80)
    }

    #[test]
    fn start_up_sets_timeouts_then_services_then_nannies() {
        let (_, out) = Sim::start(BASE);
        assert!(matches!(out[0], Action::SetTimeouts(t) if t.tcp == 900));
        assert_eq!(
            logs(&out),
            [
                "starting virtual service web active: 80",
                "starting virtual service dns active: 53",
                "start-up check: 3 of 3 real servers healthy and added",
                "create_monitor for web/a running as pid 100",
                "create_monitor for web/b running as pid 101",
                "create_monitor for dns/c running as pid 102",
            ]
        );
        let reconcile = out
            .iter()
            .position(|a| matches!(a, Action::Reconcile { audit: true, .. }))
            .unwrap();
        let first_spawn = out
            .iter()
            .position(|a| matches!(a, Action::Spawn { .. }))
            .unwrap();
        assert!(
            reconcile < first_spawn,
            "nannies start once the services exist"
        );
        let first_log = out
            .iter()
            .position(|a| matches!(a, Action::Log(_)))
            .unwrap();
        assert!(
            reconcile < first_log,
            "the start-up lines do not delay the table"
        );
        assert_eq!(desired_services(&out)[0].len(), 2);
        // The exact legacy command line.
        let Some(Action::Spawn { spec, .. }) =
            out.iter().find(|a| matches!(a, Action::Spawn { .. }))
        else {
            unreachable!()
        };
        let argv = spec.to_argv();
        assert_eq!(argv[..4], ["/usr/sbin/nanny", "-c", "-h", "10.0.0.1"]);
        assert_eq!(argv.last().unwrap(), "--lvs");
    }

    #[test]
    fn integrated_monitors_are_asked_for_in_every_spawn_when_lvs_cf_says_so() {
        let integrated = |out: &[Action]| -> Vec<bool> {
            out.iter()
                .filter_map(|a| match a {
                    Action::Spawn { integrated, .. } => Some(*integrated),
                    _ => None,
                })
                .collect()
        };
        let (_, out) = Sim::start(BASE);
        assert_eq!(integrated(&out), [false, false, false]);
        let (_, out) = Sim::start(&format!("integrated_monitors = 1\n{BASE}"));
        assert_eq!(integrated(&out), [true, true, true]);
    }

    #[test]
    fn a_service_ipvs_refused_gets_no_nannies_until_an_audit_succeeds() {
        let (mut sim, out) = Sim::start_failing(BASE, [web()].into());
        // Each service's lines in their legacy order: starting, then why it failed.
        assert_eq!(
            logs(&out)[..4],
            [
                "starting virtual service web active: 80",
                "starting virtual service dns active: 53",
                "IPVS: add TCP 192.0.2.1:80: refused",
                "ipvsadm failed for virtual server web!",
            ]
        );
        let swept: Vec<String> = out
            .iter()
            .filter_map(|a| match a {
                Action::Sweep(items) => Some(items.iter().map(|i| i.key.server.to_string())),
                _ => None,
            })
            .flatten()
            .collect();
        assert_eq!(
            swept,
            ["10.0.0.3"],
            "no sweep for a service that is not there"
        );
        assert_eq!(spawned(&out), ["10.0.0.3"]);
        sim.d.exec.fail.clear();
        let out = sim.at(AUDIT_EVERY.as_secs_f64());
        assert_eq!(spawned(&out), ["10.0.0.1", "10.0.0.2"]);
    }

    #[test]
    fn a_dead_nanny_is_restarted_with_backoff_then_abandoned() {
        let (mut sim, _) = Sim::start(BASE);
        let out = sim.exit("10.0.0.3");
        assert_eq!(
            logs(&out),
            [
                "nanny for child dns/c died (exit status 1)",
                "restarting nanny for dns/c in 1 s"
            ]
        );
        assert!(spawned(&sim.at(0.5)).is_empty(), "not before the delay");
        assert_eq!(spawned(&sim.at(1.0)), ["10.0.0.3"]);
        // It keeps dying: 2, 4, 8 s, then lvsd gives up (hard_shutdown = 0: lvs goes on).
        for (t, delay) in [(2.0, 2.0), (5.0, 4.0), (10.0, 8.0)] {
            sim.at(t);
            let out = sim.exit("10.0.0.3");
            assert!(logs(&out)[1].ends_with(&format!("in {delay} s")), "{out:?}");
            assert_eq!(spawned(&sim.at(t + delay)), ["10.0.0.3"]);
        }
        let out = sim.exit("10.0.0.3");
        assert_eq!(
            logs(&out)[1],
            "nanny for child dns/c died! manual action needed!"
        );
        assert_eq!(
            ipvs_ops(&out),
            [Op::DelDest(
                ServiceKey::udp(testbed::ip("192.0.2.2"), 53),
                DestKey {
                    addr: testbed::ip("10.0.0.3"),
                    port: 53
                }
            )],
            "an unwatched server leaves the table"
        );
        assert!(spawned(&sim.at(100.0)).is_empty());
        assert!(!out.iter().any(|a| matches!(a, Action::Exit(_))));
    }

    #[test]
    fn hard_shutdown_stops_the_lvs_once_the_policy_gives_up() {
        let text = BASE.replace("hard_shutdown = 0", "hard_shutdown = 1");
        let (mut sim, _) = Sim::start_with(&text, BTreeSet::new(), Backoff::giving_up_after(1));
        let out = sim.exit("10.0.0.1");
        assert_eq!(
            logs(&out)[..2],
            [
                "nanny for child web/a died (exit status 1)",
                "nanny for child web/a died! shutting down lvs"
            ]
        );
        assert_eq!(stopped(&out), [101, 102]);
        let mut all = Vec::new();
        for s in ["10.0.0.2", "10.0.0.3"] {
            all.extend(sim.exit(s));
        }
        assert_eq!(desired_services(&all), [Vec::<ServiceKey>::new()]);
        assert_eq!(all.last(), Some(&Action::Exit(Exit::Failed)));
    }

    #[test]
    fn sorry_server_waits_for_reports_then_follows_them() {
        let (mut sim, out) = Sim::start(BASE);
        assert!(
            ipvs_ops(&out).is_empty(),
            "no sorry server before any report"
        );
        assert!(
            ipvs_ops(&sim.status("10.0.0.1", false)).is_empty(),
            "b not heard yet"
        );
        let out = sim.status("10.0.0.2", false);
        let sorry = Destination::new(testbed::ip("10.0.9.9"), 80, ForwardMethod::Masq, 1);
        assert_eq!(ipvs_ops(&out), [Op::AddDest(web(), sorry.clone())]);
        assert_eq!(
            logs(&out),
            ["Virtual Server web: No real servers; activate sorry_server 10.0.9.9"]
        );
        assert!(ipvs_ops(&sim.at(30.0)).is_empty(), "added once");
        let out = sim.status("10.0.0.2", true);
        assert_eq!(ipvs_ops(&out), [Op::DelDest(web(), sorry.key())]);
        assert_eq!(
            logs(&out),
            ["Virtual Server web: 1 real servers; deactivate sorry_server 10.0.9.9"]
        );
        // A client monitor that never reports (a site's own program) keeps the sorry
        // server out: its server may be up. Said once.
        let (mut sim, _) = Sim::start(BASE);
        sim.status("10.0.0.1", false);
        assert!(ipvs_ops(&sim.at(7.0)).is_empty());
        let out = sim.at(8.0);
        assert!(ipvs_ops(&out).is_empty());
        assert_eq!(
            logs(&out),
            [
                "nanny for web/b does not report its state (LVSD_STATUS_FD); the sorry server \
              of web is not activated while it runs"
            ]
        );
        assert!(logs(&sim.at(9.0)).is_empty());
        // A nanny that died and waits for its restart counts as down.
        let (mut sim, _) = Sim::start(BASE);
        sim.status("10.0.0.1", false);
        sim.exit("10.0.0.2");
        assert!(
            ipvs_ops(&sim.at(0.5)).is_empty(),
            "restarting within its probe time"
        );
        let out = sim.at(1.0);
        assert_eq!(spawned(&out), ["10.0.0.2"]);
        let out = sim.status("10.0.0.2", false);
        assert_eq!(ipvs_ops(&out).len(), 1, "both down: sorry in");
    }

    #[test]
    fn reload_removing_a_server_quiesces_it_and_deletes_it_after_the_grace() {
        let (mut sim, _) = Sim::start(BASE);
        let b = sim.pid("10.0.0.2");
        let new = BASE.replace("server b {\n address = 10.0.0.2\n active = 1\n }\n", "");
        assert_ne!(new, BASE);
        let out = sim.feed(Event::Reload(Box::new(cfg(&new))));
        let killed: Vec<&Action> = out
            .iter()
            .filter(|a| matches!(a, Action::Kill { .. } | Action::Stop { .. }))
            .collect();
        assert_eq!(
            killed,
            [&Action::Kill { pid: b }],
            "a stopped nanny deletes at once"
        );
        let dest = DestKey {
            addr: testbed::ip("10.0.0.2"),
            port: 80,
        };
        let ops = ipvs_ops(&out);
        assert!(
            matches!(&ops[..], [Op::EditDest(s, d)] if *s == web() && d.key() == dest && d.weight == 0),
            "weight 0 at once, not deleted: {ops:?}"
        );
        assert!(spawned(&out).is_empty());
        assert!(logs(&out).is_empty(), "no service went: {out:?}");
        assert_eq!(desired_services(&out)[0].len(), 2, "the virtual stays");
        assert!(
            !out.iter().any(|a| matches!(a, Action::SetTimeouts(_))),
            "timeouts unchanged"
        );
        sim.feed(Event::Exited {
            pid: b,
            status: ExitStatus::Signal(libc::SIGKILL),
        });
        let grace = LEAVE_GRACE.as_secs_f64();
        assert!(ipvs_ops(&sim.at(grace - 0.1)).is_empty(), "still draining");
        assert_eq!(
            sim.d.core.next_deadline(sim.d.exec.now),
            Some(sim.t0 + LEAVE_GRACE),
            "the driver wakes up for it"
        );
        let out = sim.at(grace);
        assert_eq!(
            ipvs_ops(&out),
            [Op::DelDest(web(), dest)],
            "deleted after the grace"
        );
        assert!(ipvs_ops(&sim.at(2.0 * grace)).is_empty(), "once");
    }

    #[test]
    fn a_leaving_server_put_back_by_a_reload_starts_afresh() {
        let (mut sim, _) = Sim::start(BASE);
        let b = sim.pid("10.0.0.2");
        let without = BASE.replace("server b {\n address = 10.0.0.2\n active = 1\n }\n", "");
        sim.feed(Event::Reload(Box::new(cfg(&without))));
        sim.feed(Event::Exited {
            pid: b,
            status: ExitStatus::Signal(libc::SIGKILL),
        });
        let out = sim.feed(Event::Reload(Box::new(cfg(BASE))));
        let dest = DestKey {
            addr: testbed::ip("10.0.0.2"),
            port: 80,
        };
        assert_eq!(
            ipvs_ops(&out),
            [Op::DelDest(web(), dest)],
            "its weight-0 entry goes"
        );
        let later = sim.at(2.0 * LEAVE_GRACE.as_secs_f64());
        assert!(
            !ipvs_ops(&later).contains(&Op::DelDest(web(), dest)),
            "no late deletion under the new nanny: {later:?}"
        );
    }

    #[test]
    fn reload_restarts_a_changed_nanny_after_its_predecessor_exits() {
        let (mut sim, _) = Sim::start(BASE);
        let old = sim.pid("10.0.0.3");
        let new = BASE.replace("protocol = udp\n", "protocol = udp\n timeout = 3\n");
        let out = sim.feed(Event::Reload(Box::new(cfg(&new))));
        assert_eq!(
            out.iter()
                .filter(|a| matches!(a, Action::Kill { .. } | Action::Stop { .. }))
                .collect::<Vec<_>>(),
            [&Action::Kill { pid: old }],
            "killed: a stopped nanny would remove its server"
        );
        assert!(
            ipvs_ops(&out).is_empty(),
            "the entry stays for the new nanny"
        );
        assert!(spawned(&out).is_empty(), "the old nanny is still there");
        let out = sim.feed(Event::Exited {
            pid: old,
            status: ExitStatus::Code(0),
        });
        assert_eq!(spawned(&out), ["10.0.0.3"]);
        let Some(Action::Spawn { spec, .. }) =
            out.iter().find(|a| matches!(a, Action::Spawn { .. }))
        else {
            unreachable!()
        };
        assert!(spec.to_argv().windows(2).any(|w| w == ["-t", "3"]));
        assert!(!logs(&out).iter().any(|l| l.contains("died")), "{out:?}");
    }

    #[test]
    fn reload_adds_and_removes_virtuals_and_changes_timeouts() {
        let (mut sim, _) = Sim::start(BASE);
        let dns_pid = sim.pid("10.0.0.3");
        let new = BASE
            .replace("tcp_timeout = 900", "tcp_timeout = 600")
            .replace("virtual dns {\n active = 1", "virtual dns {\n active = 0")
            + "virtual mail {\n active = 1\n address = 192.0.2.3 eth0:3\n port = 25\n\
               server m {\n address = 10.0.0.4\n active = 1\n }\n}\n";
        let out = sim.feed(Event::Reload(Box::new(cfg(&new))));
        assert!(matches!(out[0], Action::SetTimeouts(t) if t.tcp == 600));
        assert_eq!(
            logs(&out),
            [
                "shutting down virtual service dns",
                "starting virtual service mail active: 25",
                "check of the new real servers: 1 of 1 real servers healthy and added",
                "create_monitor for mail/m running as pid 103",
            ]
        );
        let swept: Vec<NannyKey> = out
            .iter()
            .filter_map(|a| match a {
                Action::Sweep(items) => Some(items.iter().map(|i| i.key)),
                _ => None,
            })
            .flatten()
            .collect();
        assert_eq!(
            swept.len(),
            1,
            "only the new server is checked first: {swept:?}"
        );
        let pos = |f: &dyn Fn(&Action) -> bool| out.iter().position(f).unwrap();
        assert!(
            pos(&|a| matches!(a, Action::Sweep(_))) < pos(&|a| matches!(a, Action::Stop { .. })),
            "the table is made right before nannies are signalled: {out:#?}"
        );
        assert_eq!(stopped(&out), [dns_pid]);
        let services = &desired_services(&out)[0];
        assert!(services.contains(&ServiceKey::tcp(testbed::ip("192.0.2.3"), 25)));
        assert!(!services.contains(&ServiceKey::udp(testbed::ip("192.0.2.2"), 53)));
    }

    #[test]
    fn reload_dropping_the_sorry_server_removes_it() {
        let (mut sim, _) = Sim::start(BASE);
        sim.status("10.0.0.1", false);
        sim.status("10.0.0.2", false);
        let new = BASE.replace("sorry_server = 10.0.9.9\n", "");
        assert_ne!(new, BASE);
        let out = sim.feed(Event::Reload(Box::new(cfg(&new))));
        assert_eq!(
            ipvs_ops(&out),
            [Op::DelDest(
                web(),
                DestKey {
                    addr: testbed::ip("10.0.9.9"),
                    port: 80
                }
            )]
        );
        // Legacy passes `--nodaemon` to the nannies of a virtual with a sorry server: their
        // command line changed, so they restart (killed, their entries kept); dns's does not.
        let killed: Vec<u32> = out
            .iter()
            .filter_map(|a| match a {
                Action::Kill { pid } => Some(*pid),
                _ => None,
            })
            .collect();
        assert_eq!(killed, [sim.pid("10.0.0.1"), sim.pid("10.0.0.2")]);
    }

    #[test]
    fn shutdown_stops_nannies_then_deletes_the_services() {
        let (mut sim, _) = Sim::start(BASE);
        let out = sim.feed(Event::Terminate(15));
        assert_eq!(
            logs(&out),
            [
                "shutting down due to signal 15",
                "shutting down virtual service web",
                "shutting down virtual service dns"
            ]
        );
        assert_eq!(stopped(&out), [100, 101, 102]);
        assert!(
            desired_services(&out).is_empty(),
            "services stay until nannies exit"
        );
        let mut all = sim.exit("10.0.0.1");
        all.extend(sim.exit("10.0.0.2"));
        assert!(all.is_empty(), "{all:?}");
        // The third does not stop: killed after the grace time.
        let out = sim.at(STOP_GRACE.as_secs_f64());
        assert_eq!(out[0], Action::Kill { pid: 102 });
        assert_eq!(desired_services(&out), [Vec::<ServiceKey>::new()]);
        assert_eq!(out.last(), Some(&Action::Exit(Exit::Stopped)));
        assert!(sim.feed(Event::Tick).is_empty(), "done");
    }

    #[test]
    fn deadlines_already_past_are_not_reported_again() {
        // A nanny that never reports must not make the shell spin.
        let (mut sim, _) = Sim::start(BASE);
        sim.at(30.0);
        let now = sim.d.exec.now;
        let next = sim.d.next_deadline().unwrap();
        assert!(next > now);
        assert_eq!(next, sim.t0 + AUDIT_EVERY, "only the audit is left");
    }

    #[test]
    fn test_start_starts_no_nanny() {
        let (m, out) = Manager::start(cfg(BASE), LvsdFlags::default(), true, Instant::now());
        let mut m = m;
        let mut all = out;
        all.extend(m.handle(
            Event::Reconciled {
                failed: BTreeSet::new(),
                errors: Vec::new(),
            },
            Instant::now(),
        ));
        assert!(spawned(&all).is_empty());
    }

    /// Runs `set_drained` through the sim's driver; the actions carried out.
    fn drain(sim: &mut Sim, vs: &str, rs: &str, on: bool) -> (String, Vec<Action>) {
        let now = sim.d.exec.now;
        let (message, actions) = sim.d.core.set_drained(vs, rs, on, now).unwrap();
        sim.d.carry_out(actions);
        (message, std::mem::take(&mut sim.d.exec.seen))
    }

    fn spawned_weight(out: &[Action]) -> Option<String> {
        out.iter().find_map(|a| match a {
            Action::Spawn { spec, .. } => {
                let argv = spec.to_argv();
                let i = argv.iter().position(|x| x == "-w")?;
                Some(argv[i + 1].clone())
            }
            _ => None,
        })
    }

    #[test]
    fn drain_restarts_the_nanny_at_weight_0_and_enable_gives_the_weight_back() {
        let (mut sim, _) = Sim::start(BASE);
        let old = sim.pid("10.0.0.1");
        let (message, out) = drain(&mut sim, "web", "a", true);
        assert_eq!(message, "web/a drained");
        assert_eq!(
            logs(&out),
            ["web/a drained by the operator (weight 0 until enabled)"]
        );
        let key = NannyKey {
            service: ServiceKey::tcp(testbed::ip("192.0.2.1"), 80),
            server: testbed::ip("10.0.0.1"),
            port: 80,
        };
        assert!(out.contains(&Action::StoreDrained([key].into())), "{out:?}");
        // Killed, not stopped: the entry stays for the new nanny, which adopts it at 0.
        assert!(out.contains(&Action::Kill { pid: old }), "{out:?}");
        assert!(ipvs_ops(&out).is_empty(), "{out:?}");
        let out = sim.feed(Event::Exited {
            pid: old,
            status: ExitStatus::Code(0),
        });
        assert_eq!(spawned_weight(&out).as_deref(), Some("0"));
        assert!(sim.d.core.status().0[0].real_servers[0].drained);
        // Again: nothing to do.
        let (message, out) = drain(&mut sim, "web", "a", true);
        assert_eq!(
            (message.as_str(), out.len()),
            ("web/a is already drained", 0)
        );
        // A reload that changes nothing else keeps it drained (its nanny untouched).
        let out = sim.feed(Event::Reload(Box::new(cfg(BASE))));
        assert!(spawned(&out).is_empty() && !out.iter().any(|a| matches!(a, Action::Kill { .. })));
        // Enabled: the configured weight (1) again.
        let drained_pid = sim.pid("10.0.0.1");
        let (_, out) = drain(&mut sim, "web", "a", false);
        assert!(out.contains(&Action::StoreDrained(BTreeSet::new())));
        assert!(out.contains(&Action::Kill { pid: drained_pid }));
        let out = sim.feed(Event::Exited {
            pid: drained_pid,
            status: ExitStatus::Code(0),
        });
        assert_eq!(spawned_weight(&out).as_deref(), Some("1"));
        assert!(!sim.d.core.status().0[0].real_servers[0].drained);
    }

    #[test]
    fn unknown_names_are_refused_and_a_drained_server_survives_a_restart() {
        let (mut sim, _) = Sim::start(BASE);
        let now = sim.d.exec.now;
        assert_eq!(
            sim.d.core.set_drained("www", "a", true, now).unwrap_err(),
            "no active virtual service \"www\""
        );
        assert_eq!(
            sim.d.core.set_drained("web", "c", true, now).unwrap_err(),
            "no active real server \"c\" in web"
        );
        // lvsd restarted with lvs.drained: the nanny starts at 0, the sweep adds it at 0;
        // a key lvs.cf no longer names is forgotten.
        let key = |server: &str| NannyKey {
            service: ServiceKey::tcp(testbed::ip("192.0.2.1"), 80),
            server: testbed::ip(server),
            port: 80,
        };
        let (m, first) = Manager::start_drained(
            cfg(BASE),
            LvsdFlags::default(),
            false,
            [key("10.0.0.2"), key("10.9.9.9")].into(),
            now,
        );
        let spawns: Vec<(String, String)> = first
            .iter()
            .chain(
                m.sweep_items(None)
                    .iter()
                    .map(|i| Action::Spawn {
                        key: i.key,
                        spec: i.spec.clone(),
                        integrated: false,
                    })
                    .collect::<Vec<_>>()
                    .iter(),
            )
            .filter_map(|a| match a {
                Action::Spawn { key, spec, .. } => {
                    let argv = spec.to_argv();
                    let i = argv.iter().position(|x| x == "-w")?;
                    Some((key.server.to_string(), argv[i + 1].clone()))
                }
                _ => None,
            })
            .collect();
        assert!(
            spawns.contains(&("10.0.0.2".into(), "0".into())),
            "{spawns:?}"
        );
        assert!(
            spawns.contains(&("10.0.0.1".into(), "1".into())),
            "{spawns:?}"
        );
        let sweep = m.sweep_items(None);
        let b = sweep.iter().find(|i| i.key == key("10.0.0.2")).unwrap();
        assert_eq!(b.dest.weight, 0, "added at 0, not at the slow-start weight");
        assert_eq!(m.drained, [key("10.0.0.2")].into());
    }
}
