//! The fleet director's decisions: when to survey, what to announce, lvsd's restarts, the
//! reports, a clean stop.

use std::net::IpAddr;
use std::time::Instant;

use super::*;

impl Fleet {
    pub(super) fn start(&mut self, now: Instant) -> Vec<Action> {
        self.timers.set(Timer::Report, now);
        let text = format!("STARTING PULSE AS FLEET DIRECTOR {}", self.s.own);
        if self.s.test_start {
            let test = "--test-start: nothing set up, lvsd not started, nothing announced";
            return vec![Action::Log(text), Action::Log(test.into()), Action::Survey];
        }
        vec![
            Action::Log(text),
            Action::SetUp,
            Action::StartLvsd,
            Action::Survey,
        ]
    }

    pub(super) fn tick(&mut self, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        if self.timers.take_due(Timer::Drain, now) {
            return self.finish();
        }
        if self.timers.take_due(Timer::Survey, now) {
            out.push(Action::Survey);
        }
        if self.timers.take_due(Timer::Report, now) {
            self.timers.set(Timer::Report, now + self.s.keepalive);
            out.push(Action::SendReport(self.report()));
        }
        if self.timers.take_due(Timer::LvsdRestart, now) && !self.stopping {
            out.push(Action::Log("restarting lvsd".into()));
            out.push(Action::StartLvsd);
        }
        if self.timers.take_due(Timer::BirdRetry, now) {
            out.extend(self.tell_bird(now));
        }
        out
    }

    pub(super) fn surveyed(&mut self, s: Survey, now: Instant) -> Vec<Action> {
        self.last = Some(s);
        if !self.stopping {
            self.timers.set(Timer::Survey, now + SURVEY_EVERY);
        }
        self.tell_bird(now)
    }

    /// Whether this director can serve `vip` now, or why not.
    pub(super) fn servable(&self, vip: &Vip) -> Result<(), String> {
        if self.stopping {
            return Err("pulse is stopping".into());
        }
        if self.lvsd.is_none() {
            return Err("lvsd is not running".into());
        }
        let s = self
            .last
            .as_ref()
            .ok_or("the table has not been read yet")?;
        if s.links_down.contains(&vip.device) {
            return Err(format!("{} is down", vip.device));
        }
        for key in &vip.services {
            match s.available.iter().find(|(k, _)| k == key) {
                None => return Err(format!("{key} is not in the IPVS table")),
                Some((_, 0)) => return Err(format!("{key} has no available real server")),
                Some(_) => {}
            }
        }
        Ok(())
    }

    fn wanted(&self) -> Vec<(IpAddr, bool)> {
        let vips = self.s.vips.iter();
        vips.map(|v| (v.addr, self.servable(v).is_ok())).collect()
    }

    /// Tells BIRD what changed (everything after a reconnect), unless it is down and
    /// its retry is not due.
    pub(super) fn tell_bird(&mut self, now: Instant) -> Vec<Action> {
        if self.s.test_start {
            return Vec::new();
        }
        if let BirdLink::Down { retry_at, .. } = self.bird {
            if retry_at > now {
                return Vec::new();
            }
        }
        let wanted = self.wanted();
        if self.told.as_ref() == Some(&wanted) {
            return Vec::new();
        }
        let reconnect = self.told.is_none();
        self.asked = Some(wanted.clone());
        vec![Action::Bird {
            vips: wanted,
            reconnect,
        }]
    }

    pub(super) fn bird_answered(
        &mut self,
        result: Result<(), String>,
        now: Instant,
    ) -> Vec<Action> {
        let asked = self.asked.take().unwrap_or_default();
        match result {
            Ok(()) => {
                let mut out = self.changes_logged(&asked);
                if self.bird != BirdLink::Connected {
                    out.insert(0, Action::Log("BIRD: connected".into()));
                }
                self.bird = BirdLink::Connected;
                self.bird_delay = BIRD_RETRY_FIRST;
                self.told = Some(asked);
                out
            }
            Err(reason) => self.bird_down(reason, now),
        }
    }

    /// BIRD did not take it: everything is told again once it is back.
    fn bird_down(&mut self, reason: String, now: Instant) -> Vec<Action> {
        let retry_at = now + self.bird_delay;
        let same = matches!(&self.bird, BirdLink::Down { reason: r, .. } if *r == reason);
        let text = format!(
            "cannot drive BIRD: {reason}; retrying in {} ms",
            self.bird_delay.as_millis()
        );
        self.bird = BirdLink::Down { reason, retry_at };
        self.told = None;
        self.timers.set(Timer::BirdRetry, retry_at);
        self.bird_delay = (self.bird_delay * 2).min(BIRD_RETRY_MAX);
        // Said once per reason, not at every retry.
        vec![if same {
            Action::Debug(text)
        } else {
            Action::Log(text)
        }]
    }

    /// One line per VIP whose announcement changed, with the reason for a withdrawal.
    fn changes_logged(&self, asked: &[(IpAddr, bool)]) -> Vec<Action> {
        let before = self.told.clone().unwrap_or_default();
        let mut out = Vec::new();
        for (addr, on) in asked {
            // Not announced before (nothing told yet counts as withdrawn): no news.
            let was = before.iter().any(|(a, b)| a == addr && *b);
            if was == *on {
                continue;
            }
            let vip = self.s.vips.iter().find(|v| v.addr == *addr);
            out.push(Action::Log(match (on, vip.map(|v| self.servable(v))) {
                (true, _) => format!("announcing {addr}"),
                (false, Some(Err(why))) => format!("withdrawing {addr}: {why}"),
                (false, _) => format!("withdrawing {addr}"),
            }));
        }
        out
    }

    /// lvsd is gone (or never came): withdraw at once, restart it after the backoff.
    pub(super) fn lvsd_gone(&mut self, why: &str, now: Instant) -> Vec<Action> {
        let mut out = self.tell_bird(now);
        if self.stopping {
            return out;
        }
        let Decision::RestartAfter(delay) = self.lvsd_backoff.died(now) else {
            return out;
        };
        self.timers.set(Timer::LvsdRestart, now + delay);
        let text = format!("{why}; restarting it in {} ms", delay.as_millis());
        out.insert(0, Action::Log(text));
        out
    }

    pub(super) fn hangup(&mut self) -> Vec<Action> {
        let mut out = vec![Action::Log(
            "SIGHUP: lvsd rereads lvs.cf (the fleet and BGP settings take a pulse restart)".into(),
        )];
        if let Some(pid) = self.lvsd {
            out.push(Action::SignalLvsd {
                pid,
                signal: ChildSignal::Hup,
            });
        }
        out
    }

    /// A clean stop: withdraw, give the router [`DRAIN`] to move the flows, then stop.
    pub(super) fn terminate(&mut self, sig: i32, now: Instant) -> Vec<Action> {
        if self.stopping {
            return self.finish();
        }
        self.stopping = true;
        self.timers.clear(Timer::Survey);
        self.timers.set(Timer::Drain, now + DRAIN);
        let mut out = vec![Action::Log(format!(
            "Terminating due to signal {sig}: withdrawing, then stopping in {} ms",
            DRAIN.as_millis()
        ))];
        out.extend(self.tell_bird(now));
        out
    }

    fn finish(&mut self) -> Vec<Action> {
        let mut out = Vec::new();
        if let Some(pid) = self.lvsd.take() {
            out.push(Action::SignalLvsd {
                pid,
                signal: ChildSignal::Term,
            });
        }
        out.extend([Action::TearDown, Action::Exit(Exit::Stopped)]);
        out
    }

    fn report(&mut self) -> Vec<u8> {
        self.seq += 1;
        let r = Report {
            director: self.s.own,
            epoch: self.epoch,
            seq: self.seq,
            announced: self.announced(),
            connections: self.last.as_ref().map_or(0, |s| s.connections),
            connections_per_second: self.last.as_ref().map_or(0, |s| s.connections_per_second),
        };
        report::encode(&r, self.s.signer.as_ref())
    }

    /// The VIPs BIRD was last told to announce.
    pub(super) fn announced(&self) -> Vec<IpAddr> {
        let told = self.told.iter().flatten();
        told.filter(|(_, on)| *on).map(|(a, _)| *a).collect()
    }

    /// A report from another director: kept when it is signed as it must be, comes from
    /// the director it names, and is newer than the last one of that director's start.
    pub(super) fn heard(&mut self, from: IpAddr, bytes: &[u8], now: Instant) -> Vec<Action> {
        if from == self.s.own || !self.s.directors.contains(&from) {
            return vec![Action::Debug(format!("ignoring a datagram from {from}"))];
        }
        let r = match report::decode(bytes, from, self.s.signer.as_ref()) {
            Ok(r) => r,
            Err(e) => return vec![Action::Debug(format!("from {from}: {e}"))],
        };
        if let Some(h) = self.peers.get(&from) {
            if h.report.epoch == r.epoch && r.seq <= h.report.seq {
                return vec![Action::Debug(format!("from {from}: an old fleet report"))];
            }
        }
        self.peers.insert(from, Heard { at: now, report: r });
        Vec::new()
    }
}
