//! The fleet director's control requests: `status`, with the fleet view (docs/fleet.md,
//! "Who is up").

use std::time::Instant;

use status_schema::{DirectorState, FleetDirector, Partner, PulseStatus};

use super::*;

impl Fleet {
    pub(super) fn control(&mut self, req: Request, now: Instant) -> Vec<Action> {
        let client = req.client;
        if req.command == "status" {
            let status = Box::new(self.status(now));
            return vec![Action::AnswerStatus { client, status }];
        }
        let text = format!(
            "{}: not for a fleet director (it has no partner to hand over to)",
            req.command
        );
        vec![Action::Answer {
            client,
            answer: daemon::control::error(text),
        }]
    }

    pub fn status(&self, now: Instant) -> PulseStatus {
        let announced = self.announced();
        PulseStatus {
            schema: status_schema::SCHEMA,
            daemon: "pulse".into(),
            pid: std::process::id(),
            role: status_schema::Role::Primary,
            state: match (self.stopping, announced.is_empty()) {
                (true, _) => DirectorState::Stopping,
                (false, false) => DirectorState::Active,
                (false, true) if self.lvsd.is_none() => DirectorState::LvsdFailure,
                (false, true) => DirectorState::Standby,
            },
            partner: Partner {
                address: None,
                alive: false,
                last_said: None,
                last_heard_ms_ago: None,
            },
            addresses: self
                .s
                .vips
                .iter()
                .map(|v| format!("{}/{} lo", v.addr, host_prefix(v.addr)))
                .collect(),
            service: status_schema::ServiceKind::Lvs,
            lvsd_pid: self.lvsd,
            fos_pid: None,
            keepalive_ms: self.s.keepalive.as_millis() as u64,
            deadtime_ms: self.s.deadtime.as_millis() as u64,
            heartbeat_auth: self.s.auth.clone(),
            fleet: Some(self.fleet_view(now)),
            process: None,
        }
    }

    fn fleet_view(&self, now: Instant) -> status_schema::Fleet {
        let mut directors: Vec<FleetDirector> = self
            .s
            .directors
            .iter()
            .map(|d| self.director(*d, now))
            .collect();
        let total: u64 = directors
            .iter()
            .filter(|d| d.up)
            .map(|d| d.connections)
            .sum();
        for d in directors.iter_mut().filter(|d| d.up && total > 0) {
            d.share_percent = (d.connections as f64 * 1000.0 / total as f64).round() / 10.0;
        }
        status_schema::Fleet {
            bird: match &self.bird {
                BirdLink::Unknown => "not yet contacted".into(),
                BirdLink::Connected => "connected".into(),
                BirdLink::Down { reason, retry_at } => format!(
                    "{reason}; retrying in {} ms",
                    retry_at.saturating_duration_since(now).as_millis()
                ),
            },
            directors,
        }
    }

    fn director(&self, addr: IpAddr, now: Instant) -> FleetDirector {
        let text = |v: Vec<IpAddr>| v.iter().map(IpAddr::to_string).collect();
        if addr == self.s.own {
            return FleetDirector {
                address: addr.to_string(),
                this: true,
                up: true,
                announced: text(self.announced()),
                connections: self.last.as_ref().map_or(0, |s| s.connections),
                connections_per_second: self.last.as_ref().map_or(0, |s| s.connections_per_second),
                share_percent: 0.0,
                last_heard_ms_ago: None,
            };
        }
        let heard = self.peers.get(&addr);
        let ago = heard.map(|h| now.saturating_duration_since(h.at));
        FleetDirector {
            address: addr.to_string(),
            this: false,
            up: ago.is_some_and(|a| a < self.s.deadtime),
            announced: text(
                heard
                    .map(|h| h.report.announced.clone())
                    .unwrap_or_default(),
            ),
            connections: heard.map_or(0, |h| h.report.connections),
            connections_per_second: heard.map_or(0, |h| h.report.connections_per_second),
            share_percent: 0.0,
            last_heard_ms_ago: ago.map(|a| a.as_millis() as u64),
        }
    }
}

pub(crate) fn host_prefix(a: IpAddr) -> u8 {
    if a.is_ipv4() {
        32
    } else {
        128
    }
}
