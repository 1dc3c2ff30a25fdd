//! The real-server monitor's decisions, sans IO (docs/legacy.md, "nanny"): fed with
//! probe results, load readings and signals, it returns what to do to the IPVS
//! destination and what to log. The IO shell ([`crate::shell`], or the integrated
//! monitors' engine in lvsd) runs probes on a timer and carries the actions out.
//!
//! Legacy behaviour kept: `count` of consecutive good probes starts at the re-entry
//! threshold (so the first good probe adds the server), re-entry needs
//! `reentry / interval` good probes, quiesce sets weight 0 instead of deleting, slow
//! start begins at `max(1, weight >> 5)` and doubles every `20 / interval` probes, load
//! weighting uses the legacy formula, SIGUSR1/SIGUSR2 force the server down/up until
//! SIGHUP. Fixed (docs/differences.md): a configured weight of 0 stays 0; `retries`
//! consecutive failures (default 1, the legacy behaviour) eject a server; load weighting
//! can also lower a busy server below its configured weight (down to weight / scale).

use serde::{Deserialize, Serialize};

/// Whether this nanny watches a real server for LVS or a partner's service for FOS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Mode {
    Lvs,
    Fos,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub mode: Mode,
    /// Configured weight (`-w`).
    pub weight: u32,
    /// Seconds between probes (`-t`), at least 1.
    pub interval: u32,
    /// Seconds a recovered server must stay healthy (`-a`, already defaulted).
    pub reentry: u32,
    pub quiesce: bool,
    /// Cap factor for load weighting (`-S`).
    pub scale: u32,
    /// Consecutive failed probes that eject a server (1 = legacy).
    pub retries: u32,
    /// Whether a load command is configured.
    pub load_monitoring: bool,
    /// `RIP:RPORT` as the messages show it.
    pub server: String,
}

impl Settings {
    /// A command line's settings; `server` is `RIP:RPORT` as the messages show it.
    pub fn of_options(
        o: &crate::spec::MonitorSpec,
        load_monitoring: bool,
        server: String,
    ) -> Settings {
        Settings {
            mode: o.mode,
            weight: o.weight,
            interval: o.interval,
            reentry: o.reentry(),
            quiesce: o.quiesce,
            scale: o.scale,
            retries: o.retries,
            load_monitoring,
            server,
        }
    }

    /// Good probes needed to re-admit a server (legacy integer division).
    pub(crate) fn reentry_threshold(&self) -> u32 {
        match self.mode {
            Mode::Lvs => self.reentry / self.interval.max(1),
            Mode::Fos => 1,
        }
    }

    /// The first weight after (re-)admission.
    pub fn initial_weight(&self) -> u32 {
        initial_weight(self.weight)
    }
}

/// The first weight of a server admitted with configured weight `weight`: slow start
/// at `max(1, weight >> 5)`; a configured 0 stays 0.
pub fn initial_weight(weight: u32) -> u32 {
    if weight == 0 {
        0
    } else {
        (weight >> 5).max(1)
    }
}

impl Event {
    /// What a signal means (docs/legacy.md, "nanny"): USR1 forces the server down, USR2
    /// up, HUP resumes probing; TERM and INT end nanny, removing its server (logged).
    pub(crate) fn of_signal(sig: i32) -> Event {
        match sig {
            libc::SIGUSR1 => Event::ForceDown,
            libc::SIGUSR2 => Event::ForceUp,
            libc::SIGHUP => Event::Resume,
            _ => {
                log::info!("Terminating due to signal {sig}");
                Event::Terminate
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Event {
    /// A probe finished.
    Probe { ok: bool },
    /// The real server's load average, or None if it could not be read.
    Load(Option<f64>),
    /// SIGUSR1.
    ForceDown,
    /// SIGUSR2.
    ForceUp,
    /// SIGHUP.
    Resume,
    /// SIGTERM/SIGINT.
    Terminate,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// Add the destination with this weight.
    Add(u32),
    /// Set the destination's weight.
    SetWeight(u32),
    /// Remove the destination.
    Delete,
    /// Read the real server's load; answer with `Event::Load`.
    QueryLoad,
    Log(String),
    /// Logged with `-v` only.
    Debug(String),
    /// Exit with this status.
    Exit(Exit),
}

daemon::exit_statuses! {
    /// How a nanny ends (docs/legacy.md, "nanny"): the legacy exit statuses.
    pub enum Exit {
        /// Told to stop (SIGTERM, SIGINT), or, watching a partner's service for fos, the
        /// service it had seen failed.
        Done = 0,
        /// Its command line or its start failed; for fos, the partner's service never
        /// answered (a failover condition).
        Failed = 1,
    }
}

#[derive(Debug, Clone)]
pub struct Monitor {
    s: Settings,
    /// Serving traffic (in IPVS with a non-zero weight, or added at weight 0 when so
    /// configured).
    active: bool,
    /// The destination exists in IPVS (possibly quiesced).
    in_ipvs: bool,
    /// Consecutive good probes.
    count: u32,
    /// Consecutive failed probes while active.
    failures: u32,
    last_weight: u32,
    /// Forced up (true) or down (false) by a signal; probing is suspended meanwhile.
    forced: Option<bool>,
    /// FOS: the partner's service was seen available.
    available: bool,
}

impl Monitor {
    pub fn new(settings: Settings) -> Monitor {
        let count = settings.reentry_threshold();
        Monitor {
            s: settings,
            active: false,
            in_ipvs: false,
            count,
            failures: 0,
            last_weight: 0,
            forced: None,
            available: false,
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.s
    }

    pub fn is_active(&self) -> bool {
        self.active
    }

    pub fn in_ipvs(&self) -> bool {
        self.in_ipvs
    }

    pub fn weight(&self) -> u32 {
        self.last_weight
    }

    /// Probes are suspended while a signal forces the state.
    pub(crate) fn probing_suspended(&self) -> bool {
        self.forced.is_some()
    }

    /// The destination exists in IPVS already, with this weight (put there by lvsd's
    /// start-up sweep, or left by a nanny that crashed): take it over instead of
    /// assuming it absent, so a failed probe removes it. Legacy nanny assumed it absent
    /// and then never removed an entry it had not added itself.
    ///
    /// lvsd restarts a nanny whose command line changed this way (kill, start, adopt),
    /// so a weight above the configured one (the weight was lowered) is brought down at
    /// once; a lower one climbs by slow start as usual.
    pub fn adopt(&mut self, weight: u32) -> Vec<Action> {
        self.in_ipvs = true;
        self.active = weight > 0 || self.s.weight == 0;
        let mut out = vec![Action::Debug(format!(
            "adopting {} (weight {weight}) already in IPVS",
            self.s.server
        ))];
        if self.active {
            self.count = self.s.reentry_threshold();
            self.last_weight = weight;
            if weight > self.s.weight && !self.s.load_monitoring {
                self.last_weight = self.s.weight;
                out.push(Action::SetWeight(self.s.weight));
            }
        }
        out
    }

    /// The actions that restore the believed IPVS state (after a failed IPVS change).
    pub fn resync(&self) -> Vec<Action> {
        if self.in_ipvs {
            vec![Action::SetWeight(if self.active {
                self.last_weight
            } else {
                0
            })]
        } else {
            vec![Action::Delete]
        }
    }

    pub fn handle(&mut self, event: Event) -> Vec<Action> {
        match self.s.mode {
            Mode::Fos => self.handle_fos(event),
            Mode::Lvs => self.handle_lvs(event),
        }
    }

    fn activate(&mut self, out: &mut Vec<Action>) {
        self.active = true;
        self.failures = 0;
        self.last_weight = self.s.initial_weight();
        out.push(Action::Log(format!(
            "[ active ] making {} available",
            self.s.server
        )));
        if self.s.quiesce && self.in_ipvs {
            out.push(Action::SetWeight(self.last_weight));
        } else {
            out.push(Action::Add(self.last_weight));
            self.in_ipvs = true;
        }
    }

    fn deactivate(&mut self, out: &mut Vec<Action>) {
        self.active = false;
        self.count = 0;
        self.failures = 0;
        out.push(Action::Log(format!(
            "[inactive] shutting down {} due to connection failure",
            self.s.server
        )));
        if self.s.quiesce && self.in_ipvs {
            // Quiesced: the entry stays (weight 0) so established connections finish.
            self.last_weight = 0;
            out.push(Action::SetWeight(0));
        } else if self.in_ipvs {
            self.in_ipvs = false;
            out.push(Action::Delete);
        }
    }

    fn handle_lvs(&mut self, event: Event) -> Vec<Action> {
        let mut out = Vec::new();
        match event {
            Event::Probe { ok } => {
                if self.forced.is_some() {
                    return out;
                }
                if ok {
                    self.count = self.count.saturating_add(1);
                    self.failures = 0;
                    if !self.active && self.count >= self.s.reentry_threshold() {
                        self.activate(&mut out);
                    }
                } else if self.active {
                    self.failures += 1;
                    if self.failures >= self.s.retries.max(1) {
                        self.deactivate(&mut out);
                    } else {
                        out.push(Action::Debug(format!(
                            "probe of {} failed ({} of {} before removal)",
                            self.s.server, self.failures, self.s.retries
                        )));
                    }
                } else {
                    self.count = 0;
                    out.push(Action::Debug("No service active & available...".into()));
                }
                if self.active && self.due_for_weight_adjustment() {
                    self.adjust_weight(&mut out);
                }
            }
            Event::Load(load) => self.apply_load(load, &mut out),
            Event::ForceDown => {
                out.push(Action::Log("opaque glasses on".into()));
                self.forced = Some(false);
                if self.in_ipvs {
                    self.active = false;
                    self.in_ipvs = false;
                    out.push(Action::Delete);
                }
            }
            Event::ForceUp => {
                out.push(Action::Log("rose-colored glasses on".into()));
                self.forced = Some(true);
                if !self.active {
                    self.activate(&mut out);
                }
            }
            Event::Resume => {
                out.push(Action::Log("DEBUG -- removing glasses".into()));
                self.forced = None;
                self.count = self.s.reentry_threshold();
            }
            Event::Terminate => {
                if self.in_ipvs {
                    self.in_ipvs = false;
                    self.active = false;
                    out.push(Action::Delete);
                }
                out.push(Action::Exit(Exit::Done));
            }
        }
        out
    }

    /// Legacy: every `20 / interval` good probes, or every probe when interval > 20.
    fn due_for_weight_adjustment(&self) -> bool {
        let i = self.s.interval.max(1);
        i > 20 || self.count % (20 / i) == 0
    }

    fn adjust_weight(&mut self, out: &mut Vec<Action>) {
        if self.last_weight < self.s.weight && self.last_weight > 0 {
            // Slow start: double up to the configured weight.
            self.last_weight = (self.last_weight * 2).min(self.s.weight);
            out.push(Action::Debug(format!(
                "Adjusting weight of {} to {}",
                self.s.server, self.last_weight
            )));
            out.push(Action::SetWeight(self.last_weight));
        } else if self.s.load_monitoring && self.s.weight > 0 {
            out.push(Action::QueryLoad);
        }
    }

    /// Legacy formula: `k = weight / 2`, threshold `weight / 4`; below load 1 the weight
    /// rises by `k * cbrt(1 - load)` up to `scale * weight`, above it sinks by
    /// `k * cbrt(load - 1)`; changes smaller than the threshold are ignored.
    fn apply_load(&mut self, load: Option<f64>, out: &mut Vec<Action>) {
        let Some(load) = load else {
            out.push(Action::Log("failed to read remote load".into()));
            return;
        };
        if !self.active || load < 0.0 || load == 1.0 || self.s.weight == 0 {
            return;
        }
        let w = self.s.weight as f64;
        let k = w / 2.0;
        let last = self.last_weight as f64;
        let new = if load < 1.0 {
            (last + k * (1.0 - load).cbrt())
                .trunc()
                .min(self.s.scale as f64 * w)
                // scale * weight can pass what IPVS accepts.
                .min(ipvs::MAX_WEIGHT as f64)
        } else {
            // Legacy floored at the configured weight, so load could only raise weights.
            let floor = (w / self.s.scale.max(1) as f64).max(1.0);
            (last - k * (load - 1.0).cbrt()).trunc().max(floor)
        };
        out.push(Action::Debug(format!(
            "Computing new weight {new} based on last weight {} and load {load}",
            self.last_weight
        )));
        if (new - last).abs() >= w / 4.0 && new as u32 != self.last_weight {
            self.last_weight = new as u32;
            out.push(Action::Debug(format!(
                "Adjusting weight of {} to {}",
                self.s.server, self.last_weight
            )));
            out.push(Action::SetWeight(self.last_weight));
        }
    }

    fn handle_fos(&mut self, event: Event) -> Vec<Action> {
        let mut out = Vec::new();
        match event {
            Event::Probe { ok: true } => {
                self.failures = 0;
                if !self.available {
                    self.available = true;
                    out.push(Action::Log(format!(
                        "Remote service {} is available",
                        self.s.server
                    )));
                }
            }
            Event::Probe { ok: false } => {
                if self.available {
                    out.push(Action::Log(format!(
                        "Exiting due to connection failure of {}",
                        self.s.server
                    )));
                    out.push(Action::Exit(Exit::Done));
                } else {
                    self.failures += 1;
                    if self.failures >= 2 {
                        out.push(Action::Log(
                            "Timeout waiting for remote service -- triggering failover!".into(),
                        ));
                        out.push(Action::Exit(Exit::Failed));
                    }
                }
            }
            Event::Terminate => out.push(Action::Exit(Exit::Done)),
            _ => {}
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(weight: u32, interval: u32, reentry: u32) -> Settings {
        Settings {
            mode: Mode::Lvs,
            weight,
            interval,
            reentry,
            quiesce: false,
            scale: 10,
            retries: 1,
            load_monitoring: false,
            server: "10.0.0.21:8080".into(),
        }
    }

    fn ipvs_actions(a: &[Action]) -> Vec<Action> {
        a.iter()
            .filter(|a| !matches!(a, Action::Log(_) | Action::Debug(_)))
            .cloned()
            .collect()
    }

    fn run(m: &mut Monitor, probes: &[bool]) -> Vec<Action> {
        probes
            .iter()
            .flat_map(|ok| ipvs_actions(&m.handle(Event::Probe { ok: *ok })))
            .collect()
    }

    #[test]
    fn an_existing_destination_is_adopted_and_removed_on_failure() {
        // Serving (lvsd's sweep put it there): a good probe changes nothing, a bad one
        // removes it.
        let mut m = Monitor::new(settings(100, 10, 20));
        m.adopt(3);
        assert!(m.is_active() && m.in_ipvs());
        assert_eq!(run(&mut m, &[true]), []);
        assert_eq!(run(&mut m, &[false]), [Action::Delete]);
        // Quiesced (weight 0) by an earlier nanny: re-admitted by an edit, not an add.
        let mut m = Monitor::new(Settings {
            quiesce: true,
            ..settings(100, 10, 20)
        });
        m.adopt(0);
        assert!(!m.is_active() && m.in_ipvs());
        assert_eq!(run(&mut m, &[true]), [Action::SetWeight(3)]);
        // A lowered weight is applied at once; a raised one is reached by slow start.
        let mut m = Monitor::new(settings(4, 10, 20));
        assert_eq!(ipvs_actions(&m.adopt(100)), [Action::SetWeight(4)]);
        assert_eq!(m.weight(), 4);
        let mut m = Monitor::new(settings(100, 10, 20));
        assert_eq!(ipvs_actions(&m.adopt(3)), []);
        assert_eq!(m.weight(), 3);
        // Without adoption a failing first probe would leave the entry behind.
        let mut m = Monitor::new(settings(100, 10, 20));
        m.adopt(3);
        assert_eq!(run(&mut m, &[false]), [Action::Delete]);
    }

    #[test]
    fn first_good_probe_adds_the_server_with_the_slow_start_weight() {
        let mut m = Monitor::new(settings(100, 10, 20));
        let a = m.handle(Event::Probe { ok: true });
        assert_eq!(
            a[0],
            Action::Log("[ active ] making 10.0.0.21:8080 available".into())
        );
        assert_eq!(ipvs_actions(&a), vec![Action::Add(3)]);
        // As in legacy nanny, the weight check runs in the same round as the admission:
        // with timeout 6 and reentry 15 the count (3) is already a multiple of 20 / 6.
        let mut m = Monitor::new(settings(100, 6, 15));
        assert_eq!(
            run(&mut m, &[true]),
            vec![Action::Add(3), Action::SetWeight(6)]
        );
        assert!(m.is_active() && m.in_ipvs());
    }

    #[test]
    fn slow_start_doubles_every_20_over_interval_probes() {
        // docs/legacy.md, "The worked example": weight 100, timeout 6: 3 -> 6 -> 12 -> 24 -> 48 -> 96 -> 100.
        let mut m = Monitor::new(settings(100, 6, 15));
        let actions = run(&mut m, &[true; 25]);
        let weights: Vec<u32> = actions
            .iter()
            .map(|a| match a {
                Action::Add(w) | Action::SetWeight(w) => *w,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(weights, [3, 6, 12, 24, 48, 96, 100]);
    }

    #[test]
    fn one_failure_removes_and_reentry_needs_reentry_over_interval_probes() {
        let mut m = Monitor::new(settings(1, 6, 30));
        assert_eq!(run(&mut m, &[true]), vec![Action::Add(1)]);
        let a = m.handle(Event::Probe { ok: false });
        assert_eq!(
            a[0],
            Action::Log("[inactive] shutting down 10.0.0.21:8080 due to connection failure".into())
        );
        assert_eq!(ipvs_actions(&a), vec![Action::Delete]);
        // 30 / 6 = 5 good probes before re-admission.
        assert_eq!(run(&mut m, &[true; 4]), vec![]);
        assert_eq!(run(&mut m, &[true]), vec![Action::Add(1)]);
        // A failure in between restarts the count.
        run(&mut m, &[false, true, true, false]);
        assert!(!m.is_active());
        assert_eq!(run(&mut m, &[true; 5]), vec![Action::Add(1)]);
    }

    #[test]
    fn quiesce_keeps_the_entry_at_weight_zero() {
        let mut s = settings(4, 10, 10);
        s.quiesce = true;
        let mut m = Monitor::new(s);
        assert_eq!(
            run(&mut m, &[true]),
            vec![Action::Add(1), Action::SetWeight(2)]
        );
        assert_eq!(run(&mut m, &[false]), vec![Action::SetWeight(0)]);
        assert!(m.in_ipvs());
        assert_eq!(
            run(&mut m, &[true]),
            vec![Action::SetWeight(1)],
            "re-enabled in place"
        );
    }

    #[test]
    fn retries_tolerate_single_lost_probes() {
        let mut s = settings(1, 10, 10);
        s.retries = 3;
        let mut m = Monitor::new(s);
        run(&mut m, &[true]);
        assert_eq!(run(&mut m, &[false, false, true, false, false]), vec![]);
        assert_eq!(run(&mut m, &[false]), vec![Action::Delete]);
    }

    #[test]
    fn configured_weight_zero_stays_zero() {
        // Legacy added the server at weight 1.
        let mut s = settings(0, 1, 1);
        s.load_monitoring = true;
        let mut m = Monitor::new(s);
        assert_eq!(run(&mut m, &[true; 50]), vec![Action::Add(0)]);
        m.handle(Event::Load(Some(0.0)));
        assert_eq!(m.weight(), 0);
    }

    #[test]
    fn load_weighting_follows_the_legacy_formula_in_both_directions() {
        let mut s = settings(8, 30, 30);
        s.load_monitoring = true;
        let mut m = Monitor::new(s);
        // 8 >> 5 = 0 -> 1, doubling each probe (interval > 20): 1, 2, 4, 8, then load queries.
        let a = run(&mut m, &[true; 4]);
        assert_eq!(
            a,
            vec![
                Action::Add(1),
                Action::SetWeight(2),
                Action::SetWeight(4),
                Action::SetWeight(8),
                Action::QueryLoad
            ]
        );
        // Idle server: 8 + 4 * cbrt(1) = 12.
        assert_eq!(
            ipvs_actions(&m.handle(Event::Load(Some(0.0)))),
            vec![Action::SetWeight(12)]
        );
        // Capped at scale * weight = 80.
        for _ in 0..30 {
            m.handle(Event::Load(Some(0.0)));
        }
        assert_eq!(m.weight(), 80);
        // Tiny changes (below weight / 4 = 2) are ignored.
        assert_eq!(ipvs_actions(&m.handle(Event::Load(Some(0.99)))), vec![]);
        // Busy: 80 - 4 * cbrt(7) = 72.
        assert_eq!(
            ipvs_actions(&m.handle(Event::Load(Some(8.0)))),
            vec![Action::SetWeight(72)]
        );
        // Under sustained load it falls below the configured weight (legacy: never), to
        // weight / scale at the least.
        for _ in 0..100 {
            m.handle(Event::Load(Some(9.0)));
        }
        assert_eq!(m.weight(), 1);
        // Load exactly 1.0 or negative: ignored, as legacy.
        assert_eq!(ipvs_actions(&m.handle(Event::Load(Some(1.0)))), vec![]);
        assert_eq!(ipvs_actions(&m.handle(Event::Load(Some(-1.0)))), vec![]);
        assert_eq!(
            m.handle(Event::Load(None)),
            vec![Action::Log("failed to read remote load".into())]
        );
    }

    #[test]
    fn signals_force_state_until_sighup() {
        let mut m = Monitor::new(settings(2, 10, 30));
        run(&mut m, &[true]);
        let a = m.handle(Event::ForceDown);
        assert_eq!(
            a,
            vec![Action::Log("opaque glasses on".into()), Action::Delete]
        );
        assert!(m.probing_suspended());
        assert_eq!(
            run(&mut m, &[true, true]),
            vec![],
            "probes ignored while forced"
        );
        let a = m.handle(Event::ForceUp);
        assert_eq!(ipvs_actions(&a), vec![Action::Add(1)]);
        assert_eq!(a[0], Action::Log("rose-colored glasses on".into()));
        assert_eq!(
            m.handle(Event::Resume),
            vec![Action::Log("DEBUG -- removing glasses".into())]
        );
        assert!(!m.probing_suspended());
        assert_eq!(run(&mut m, &[false]), vec![Action::Delete]);
        // After SIGHUP the count is the threshold again: one good probe re-admits.
        m.handle(Event::ForceDown);
        m.handle(Event::Resume);
        assert_eq!(
            run(&mut m, &[true]),
            vec![Action::Add(1), Action::SetWeight(2)]
        );
    }

    #[test]
    fn terminate_removes_the_server() {
        let mut m = Monitor::new(settings(2, 10, 30));
        run(&mut m, &[true]);
        assert_eq!(
            m.handle(Event::Terminate),
            vec![Action::Delete, Action::Exit(Exit::Done)]
        );
        let mut idle = Monitor::new(settings(2, 10, 30));
        assert_eq!(
            idle.handle(Event::Terminate),
            vec![Action::Exit(Exit::Done)]
        );
    }

    #[test]
    fn fos_mode() {
        let mut s = settings(1, 10, 0);
        s.mode = Mode::Fos;
        let mut m = Monitor::new(s.clone());
        assert_eq!(
            m.handle(Event::Probe { ok: true }),
            vec![Action::Log(
                "Remote service 10.0.0.21:8080 is available".into()
            )]
        );
        assert_eq!(m.handle(Event::Probe { ok: true }), vec![]);
        let a = m.handle(Event::Probe { ok: false });
        assert_eq!(a.last(), Some(&Action::Exit(Exit::Done)));
        let mut never = Monitor::new(s);
        assert_eq!(never.handle(Event::Probe { ok: false }), vec![]);
        let a = never.handle(Event::Probe { ok: false });
        assert_eq!(
            a,
            vec![
                Action::Log("Timeout waiting for remote service -- triggering failover!".into()),
                Action::Exit(Exit::Failed)
            ]
        );
    }

    #[test]
    fn fos_mode_a_first_failure_is_forgotten_once_the_service_answers() {
        // Legacy never reset the counter: a failed first probe made any later failure,
        // even after the service was available, a "Timeout waiting" with exit 1.
        let mut s = settings(1, 10, 0);
        s.mode = Mode::Fos;
        let mut m = Monitor::new(s);
        assert_eq!(m.handle(Event::Probe { ok: false }), vec![]);
        assert_eq!(m.handle(Event::Probe { ok: true }).len(), 1);
        let a = m.handle(Event::Probe { ok: false });
        assert_eq!(
            a,
            vec![
                Action::Log("Exiting due to connection failure of 10.0.0.21:8080".into()),
                Action::Exit(Exit::Done)
            ]
        );
    }

    #[test]
    fn load_weighting_never_passes_the_largest_weight_ipvs_accepts() {
        let max = ipvs::MAX_WEIGHT;
        let mut s = settings(max, 1, 10);
        s.scale = 1000;
        s.load_monitoring = true;
        let mut m = Monitor::new(s);
        m.adopt(max);
        for _ in 0..50 {
            for a in m.handle(Event::Load(Some(0.0))) {
                if let Action::SetWeight(w) | Action::Add(w) = a {
                    assert!(w <= max, "weight {w} above {max}");
                }
            }
        }
        assert_eq!(m.weight(), max);
        // The smallest: sustained load brings it down to weight / scale, never to 0.
        for _ in 0..10_000 {
            m.handle(Event::Load(Some(100.0)));
        }
        assert_eq!(m.weight(), max / 1000);
    }
}
