//! nanny as one sans-IO core for the shared driver: the [`Monitor`]'s decisions plus
//! the probe timer (fixed rate, start to start, so a failure is seen at most interval +
//! timeout after it happens), the re-synchronisation after a failed IPVS change, and
//! the reports on lvsd's availability channel.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::monitor::{self, Mode, Monitor};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Event {
    /// Time passed (the deadline asked for, or any wake-up).
    Tick,
    /// The probe asked for ended: the server passed it or not.
    Probed { ok: bool },
    /// A signal or a load reading, for the monitor.
    Monitor(monitor::Event),
    /// An IPVS change failed: restore what the monitor believes before the next probe.
    IpvsFailed,
    /// At start: the destination is already in IPVS with this weight; take it over.
    Adopt(u32),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Action {
    /// Run the probe; answer with [`Event::Probed`].
    Probe,
    /// The monitor's own action (IPVS change, load query, log, exit).
    Monitor(monitor::Action),
    /// Tell lvsd whether the server is serving: after every event whose outcome is
    /// known (not while a probe or load query is still to answer, or the report would be
    /// stale by the time it is sent). The channel writes only changes, and retries one
    /// that did not fit in the pipe.
    Report(bool),
}

pub struct Nanny {
    monitor: Monitor,
    interval: Duration,
    next_probe: Instant,
    resync: bool,
    /// A probe asked for and not answered yet: no second one meanwhile.
    probing: bool,
    /// A probe fell due while one was out: it starts as soon as the answer is in (as
    /// when probes ran one after another), not a whole interval later.
    overdue: bool,
}

impl Nanny {
    /// The first probe is due at `now`.
    pub fn new(monitor: Monitor, now: Instant) -> Nanny {
        let interval = Duration::from_secs(monitor.settings().interval.max(1).into());
        Nanny {
            monitor,
            interval,
            next_probe: now,
            resync: false,
            probing: false,
            overdue: false,
        }
    }

    /// Moves the first probe to `at` (the integrated monitors spread their first probes
    /// over the interval).
    pub(crate) fn delay_first_probe(&mut self, at: Instant) {
        self.next_probe = self.next_probe.max(at);
    }

    pub fn monitor(&self) -> &Monitor {
        &self.monitor
    }

    /// Takes over a destination already in IPVS with this weight (no report: the first
    /// probe's outcome is the first lvsd hears).
    fn adopt(&mut self, weight: u32) -> Vec<Action> {
        self.monitor
            .adopt(weight)
            .into_iter()
            .map(Action::Monitor)
            .collect()
    }

    fn tick(&mut self, now: Instant) -> Vec<Action> {
        if now < self.next_probe {
            return Vec::new();
        }
        self.next_probe += self.interval;
        if self.next_probe < now {
            self.next_probe = now;
        }
        if self.probing {
            self.overdue = true;
            return Vec::new();
        }
        self.start_probe()
    }

    fn start_probe(&mut self) -> Vec<Action> {
        if self.monitor.probing_suspended() {
            return Vec::new();
        }
        self.probing = true;
        let mut out = Vec::new();
        if std::mem::take(&mut self.resync) {
            out.extend(self.monitor.resync().into_iter().map(Action::Monitor));
        }
        out.push(Action::Probe);
        out
    }

    fn report(&self, out: &mut Vec<Action>) {
        let answer_pending = out.iter().any(|a| {
            matches!(
                a,
                Action::Probe | Action::Monitor(monitor::Action::QueryLoad)
            )
        });
        if self.monitor.settings().mode == Mode::Lvs && !answer_pending {
            out.push(Action::Report(self.monitor.is_active()));
        }
    }
}

impl daemon::driver::Core for Nanny {
    type Event = Event;
    type Action = Action;

    fn handle(&mut self, event: Event, now: Instant) -> Vec<Action> {
        let mut out = match event {
            Event::Adopt(weight) => return self.adopt(weight),
            Event::Tick => self.tick(now),
            Event::Probed { ok } => {
                self.probing = false;
                self.monitor_actions(monitor::Event::Probe { ok })
            }
            Event::Monitor(e) => self.monitor_actions(e),
            Event::IpvsFailed => {
                self.resync = true;
                Vec::new()
            }
        };
        self.report(&mut out);
        // After the report of what the answer changed: a probe that fell due meanwhile.
        if !self.probing && std::mem::take(&mut self.overdue) {
            out.extend(self.start_probe());
        }
        out
    }

    fn next_deadline(&self, _now: Instant) -> Option<Instant> {
        Some(self.next_probe)
    }
}

impl Nanny {
    fn monitor_actions(&mut self, e: monitor::Event) -> Vec<Action> {
        self.monitor
            .handle(e)
            .into_iter()
            .map(Action::Monitor)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::Settings;
    use daemon::driver::Core;

    fn nanny(now: Instant) -> Nanny {
        Nanny::new(
            Monitor::new(Settings {
                mode: Mode::Lvs,
                weight: 1,
                interval: 2,
                reentry: 0,
                quiesce: false,
                scale: 10,
                retries: 1,
                load_monitoring: false,
                server: "10.0.0.1:80".into(),
            }),
            now,
        )
    }

    /// Replays scripted events at scripted times; returns the actions, in order.
    fn replay(script: &[(f64, Event)]) -> Vec<(f64, Action)> {
        let t0 = Instant::now();
        let mut n = nanny(t0);
        let mut out = Vec::new();
        for (at, e) in script {
            let now = t0 + Duration::from_secs_f64(*at);
            let actions = n.handle(e.clone(), now);
            // Every event ends with the current availability, unless an answer is due.
            if !actions.contains(&Action::Probe) {
                assert_eq!(
                    actions.last(),
                    Some(&Action::Report(n.monitor().is_active()))
                );
            }
            out.extend(actions.into_iter().map(|a| (*at, a)));
        }
        out
    }

    #[test]
    fn probes_run_at_a_fixed_rate_and_failures_eject_then_resync() {
        use monitor::Action::{Add, Delete, Log};
        let got = replay(&[
            (0.0, Event::Tick),
            (0.1, Event::Probed { ok: true }),
            (1.0, Event::Tick),
            (2.0, Event::Tick),
            (2.2, Event::Probed { ok: false }),
            (2.3, Event::IpvsFailed),
            (4.0, Event::Tick),
        ]);
        let got: Vec<(f64, Action)> = got
            .into_iter()
            .filter(|(_, a)| !matches!(a, Action::Report(_)))
            .collect();
        let want = vec![
            (0.0, Action::Probe),
            (
                0.1,
                Action::Monitor(Log("[ active ] making 10.0.0.1:80 available".into())),
            ),
            (0.1, Action::Monitor(Add(1))),
            (2.0, Action::Probe),
            (
                2.2,
                Action::Monitor(Log(
                    "[inactive] shutting down 10.0.0.1:80 due to connection failure".into(),
                )),
            ),
            (2.2, Action::Monitor(Delete)),
            (4.0, Action::Monitor(Delete)),
            (4.0, Action::Probe),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn a_forced_state_suspends_probes_until_resumed() {
        let t0 = Instant::now();
        let mut n = nanny(t0);
        n.handle(Event::Monitor(monitor::Event::ForceDown), t0);
        assert_eq!(n.handle(Event::Tick, t0), [Action::Report(false)]);
        assert_eq!(n.next_deadline(t0), Some(t0 + Duration::from_secs(2)));
        n.handle(Event::Monitor(monitor::Event::Resume), t0);
        let later = t0 + Duration::from_secs(2);
        assert_eq!(n.handle(Event::Tick, later), [Action::Probe]);
    }

    /// Through the driver, answers come before what was queued after the question: a
    /// report queued behind a probe would have been stale.
    #[test]
    fn reports_through_the_driver_are_never_stale() {
        use daemon::driver::{Driver, Executor, Step};
        struct Up(Vec<bool>);
        impl Executor<Nanny> for Up {
            fn execute(&mut self, a: Action) -> Step<Event> {
                match a {
                    Action::Probe => Step::Answer(Event::Probed { ok: true }),
                    Action::Report(r) => {
                        self.0.push(r);
                        Step::Done
                    }
                    _ => Step::Done,
                }
            }
        }
        let mut d = Driver::new(nanny(Instant::now()), Up(Vec::new()));
        d.dispatch(Event::Tick);
        assert_eq!(d.exec.0, [true]);
    }

    #[test]
    fn a_probe_due_while_one_is_out_starts_when_the_answer_is_in() {
        let t0 = Instant::now();
        let mut n = nanny(t0);
        let at = |s: f64| t0 + Duration::from_secs_f64(s);
        assert_eq!(n.handle(Event::Tick, at(0.0)), [Action::Probe]);
        // Interval 2 s: the next probe is due at 2.0, while the first is still out.
        assert!(n
            .handle(Event::Tick, at(2.0))
            .iter()
            .all(|a| *a != Action::Probe));
        let out = n.handle(Event::Probed { ok: false }, at(2.5));
        assert!(out.contains(&Action::Probe), "{out:?}");
        // And not twice.
        assert!(!n.handle(Event::Tick, at(2.6)).contains(&Action::Probe));
    }
}
