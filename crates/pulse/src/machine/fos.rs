//! pulse in fos mode (`service = fos`; docs/legacy.md "fos"): the active director runs
//! `fos --active` (every `stop_cmd`, then every `start_cmd`), the other `fos --monitor`,
//! whose nannies probe the services through the VIPs on the partner. A monitor that
//! exits is a failover condition, unless this director cannot see its default gateway:
//! then the fault is its own network's, and it waits for a heartbeat on the public
//! channel before it watches again. A director that takes a failed service over says
//! "stop, I take over" (STOPME) in its heartbeats until the partner has yielded.
//!
//! Kept from legacy: the messages, the STOPME exchange, the restart of an `--active`
//! fos that exits, the gateway check after a monitor exit. Fixed (docs/differences.md,
//! "fos"): a monitor that fails for its own reasons (exit status other than 0: a bad
//! file, a missing nanny) is restarted, not taken for a failed service; "partner dead"
//! also checks the gateway first, so a director cut off from the network does not take
//! the service when it comes back; two directors that both take over settle at once
//! (the primary keeps it); the child is started again after [`FOS_RESTART_DELAY`], not
//! in a tight loop.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use daemon::process::ExitStatus;

use super::{Action, Child, ChildSignal, Pulse, Timer};
use crate::settings::Role;

/// The least time between fos exiting on its own and pulse starting it again.
pub const FOS_RESTART_DELAY: Duration = Duration::from_secs(1);
/// How long `fos --active` gets to stop after SIGTERM: it runs every `stop_cmd` first,
/// each limited to 60 s by fos.
pub const FOS_STOP_LIMIT: Duration = Duration::from_secs(70);

/// How pulse runs fos: `--active` on the active director, `--monitor` on the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FosRole {
    Active,
    Monitor,
}

/// What the connectivity check found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Connectivity {
    /// The default gateway answered an echo request.
    Reachable(IpAddr),
    /// It did not, after every try.
    Unreachable(IpAddr),
    /// There is no default route to check.
    NoGateway,
    /// The check itself failed (no rtnetlink, no raw socket): the reason.
    Unknown(String),
}

/// Why a connectivity check runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Checking {
    MonitorExited,
    PartnerDead,
}

#[derive(Debug, Default)]
pub(super) struct FosState {
    /// Which fos the child is (while starting, running or stopping).
    pub(super) role: Option<FosRole>,
    /// Legacy FAILPARTNER: this director took the service from a partner whose service
    /// failed; its heartbeats say STOPME until the partner says "stopped".
    pub(super) failpartner: bool,
    /// The gateway did not answer: monitors stay off until a public heartbeat arrives.
    pub(super) network_fault: bool,
    pub(super) checking: Option<Checking>,
}

impl FosState {
    /// The director's state for `lvsctl status`, when fos mode has one of its own.
    pub(super) fn state(&self) -> Option<status_schema::DirectorState> {
        if self.network_fault {
            Some(status_schema::DirectorState::NetworkFault)
        } else if self.checking.is_some() {
            Some(status_schema::DirectorState::CheckingNetwork)
        } else {
            None
        }
    }
}

impl Pulse {
    /// Which fos should run now, if any.
    fn wanted_fos(&self) -> Option<FosRole> {
        let f = &self.fos;
        if self.exiting || self.s.switches.test_start || self.childfail {
            None
        } else if self.active {
            Some(FosRole::Active)
        } else if f.network_fault || f.checking.is_some() {
            None
        } else {
            Some(FosRole::Monitor)
        }
    }

    /// Starts or stops fos so that the wanted one runs: one at a time, the old one gone
    /// before the new one starts (they share the pid file and the services).
    pub(super) fn reconcile_fos(&mut self, out: &mut Vec<Action>, now: Instant) {
        if !self.is_fos() {
            return;
        }
        let wanted = self.wanted_fos();
        match self.child {
            Child::Running(pid) if self.fos.role != wanted => {
                self.signal_stopping(out, pid, ChildSignal::Term, now)
            }
            Child::Stopped if self.timers.get(Timer::FosRestart).is_some_and(|t| now < t) => {}
            Child::Stopped => {
                self.timers.clear(Timer::FosRestart);
                let Some(role) = wanted else { return };
                if role == FosRole::Monitor {
                    Self::log(out, "Starting Failover Service Monitors");
                }
                self.fos.role = Some(role);
                self.set_child(Child::Starting);
                out.push(Action::StartFos(role));
            }
            _ => {}
        }
    }

    /// Deactivation's fos part: the addresses go, `fos --active` is stopped (running
    /// every `stop_cmd`), and the monitors start once it has gone.
    pub(super) fn fos_deactivated(
        &mut self,
        out: &mut Vec<Action>,
        was_active: bool,
        now: Instant,
    ) {
        self.fos.failpartner = false;
        if was_active && !self.s.switches.test_start {
            out.push(Action::RemoveAddresses);
        }
        self.reconcile_fos(out, now);
    }

    /// fos exited: a stop pulse asked for, an active one to restart, or a monitor's
    /// failover condition.
    pub(super) fn fos_exited(&mut self, out: &mut Vec<Action>, status: ExitStatus, now: Instant) {
        let role = self.fos.role.take();
        let asked = matches!(self.child, Child::Stopping { .. });
        self.set_child(Child::Stopped);
        if asked || self.exiting {
            return self.reconcile_fos(out, now);
        }
        match role {
            Some(FosRole::Monitor) if status == ExitStatus::Code(0) => {
                Self::log(out, "fos process exited -- checking network connectivity");
                self.check(out, Checking::MonitorExited);
            }
            Some(FosRole::Monitor) => {
                // fos itself failed (its file, its nanny): no service was seen failing.
                let text = format!(
                    "fos process exited with {status}, not a failover condition -- restarting it"
                );
                Self::log(out, &text);
                self.timers.set(Timer::FosRestart, now + FOS_RESTART_DELAY);
            }
            _ => {
                Self::log(out, "fos process exited -- restarting it");
                self.timers.set(Timer::FosRestart, now + FOS_RESTART_DELAY);
            }
        }
        self.reconcile_fos(out, now);
    }

    fn check(&mut self, out: &mut Vec<Action>, why: Checking) {
        if self.fos.checking.is_none() {
            out.push(Action::CheckConnectivity);
        }
        // A monitor's exit outranks a silent partner: both mean take over when the
        // network is fine, and the monitor's says why.
        if self.fos.checking != Some(Checking::MonitorExited) {
            self.fos.checking = Some(why);
        }
    }

    /// No heartbeat for deadtime: take over, once the gateway shows that the silence
    /// is the partner's and not this director's network.
    pub(super) fn fos_partner_dead(&mut self, out: &mut Vec<Action>) {
        if self.may_activate() {
            self.check(out, Checking::PartnerDead);
        }
    }

    pub(super) fn connectivity(&mut self, c: Connectivity, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        let Some(why) = self.fos.checking.take() else {
            return out;
        };
        let fine = match &c {
            Connectivity::Reachable(_) => true,
            Connectivity::Unreachable(_) => false,
            Connectivity::NoGateway => {
                Self::log(
                    &mut out,
                    "no default gateway to check; taking the network as working",
                );
                true
            }
            Connectivity::Unknown(why) => {
                let text =
                    format!("cannot check the gateway ({why}); taking the network as working");
                Self::log(&mut out, &text);
                true
            }
        };
        match (fine, why) {
            (false, Checking::MonitorExited) => {
                Self::log(&mut out, "remote service unavailable; gateway unavailable");
                self.network_fault(&mut out);
            }
            (false, Checking::PartnerDead) => {
                Self::log(&mut out, "partner dead; gateway unavailable");
                self.network_fault(&mut out);
            }
            (true, _) if !self.may_activate() => {}
            (true, Checking::MonitorExited) => self.take_over_failed_service(&mut out, now),
            (true, Checking::PartnerDead) => {
                Self::log(&mut out, "partner dead: activating failover services");
                self.activate(&mut out, now);
            }
        }
        self.reconcile_fos(&mut out, now);
        out
    }

    fn network_fault(&mut self, out: &mut Vec<Action>) {
        Self::log(out, "I SEEM TO HAVE A NETWORK FAULT!");
        self.fos.network_fault = true;
        self.timers.clear(Timer::Preempt);
    }

    /// The partner's service failed and the network is fine: take it, and tell the
    /// partner at once rather than at the next keepalive.
    fn take_over_failed_service(&mut self, out: &mut Vec<Action>, now: Instant) {
        Self::log(out, "remote service unavailable but we can see the gateway");
        Self::log(
            out,
            "seems like a remote network fault; performing service failover",
        );
        self.fos.failpartner = true;
        self.activate(out, now);
        Self::log(out, "Notifying partner WE are taking control!");
        self.send(out);
    }

    /// A heartbeat on the public channel ends a network fault.
    pub(super) fn fos_heard_public(&mut self, out: &mut Vec<Action>, now: Instant) {
        if std::mem::take(&mut self.fos.network_fault) {
            Self::log(out, "Network fault seems to be fixed");
            self.reconcile_fos(out, now);
        }
    }

    /// STOPME: the partner took this director's service. An active director yields
    /// (and says so at once); an inactive one takes it as "running". When both took
    /// over at the same moment, the primary keeps the service, as after a split brain.
    pub(super) fn partner_stop_me(&mut self, out: &mut Vec<Action>, now: Instant) {
        if !self.active {
            return self.partner_running(out, now);
        }
        match (self.s.role, self.fos.failpartner) {
            (Role::Primary, true) => Self::log(out, "partner active: we want control!"),
            (Role::Primary, false) => {
                Self::log(out, "PARTNER HAS TOLD US TO GO INACTIVE!");
                self.deactivate(out, now);
                self.send(out);
            }
            (Role::Backup, _) => {
                Self::log(out, "partner active: deactivating FOS");
                self.deactivate(out, now);
                self.send(out);
            }
        }
    }
}
