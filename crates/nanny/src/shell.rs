//! nanny's IO: carries the [`Nanny`] core's actions out (the driver's executor): the
//! probe, the load query, the IPVS changes and the reports to lvsd.

use std::time::Duration;

use daemon::driver::{Executor, Step};
use log::{debug, info};

use crate::availability::Channel;
use crate::check::Check;
use crate::monitor;
use crate::schedule::{Action, Event, Nanny};
use crate::southbound::Southbound;

pub struct Shell {
    pub check: Check,
    /// None for a FOS monitor (no IPVS).
    pub southbound: Option<Southbound>,
    /// The load command line, if load monitoring is on.
    pub load_argv: Option<Vec<String>>,
    /// The real server's address, as the load messages show it.
    pub server: String,
    /// The probe interval: the load query's time limit too.
    pub interval: Duration,
    pub channel: Option<Channel>,
}

impl Shell {
    fn probe(&self) -> Event {
        let outcome = self.check.run();
        if let Err(msg) = &outcome {
            // Legacy logged every failed probe (`CONNECT to ... timed out`, ...).
            info!("{msg}");
        }
        Event::Probed {
            ok: outcome.is_ok(),
        }
    }

    fn query_load(&self) -> Event {
        let reading = self.load_argv.as_ref().and_then(|argv| {
            match crate::load::read_load(argv, self.interval) {
                Ok(l) => {
                    debug!("Loadavg of {} is {l}", self.server);
                    Some(l)
                }
                Err(msg) => {
                    info!("{msg}");
                    None
                }
            }
        });
        Event::Monitor(monitor::Event::Load(reading))
    }
}

impl Executor<Nanny> for Shell {
    fn execute(&mut self, action: Action) -> Step<Event> {
        match action {
            Action::Probe => Step::Answer(self.probe()),
            Action::Report(active) => {
                if let Some(c) = self.channel.as_mut() {
                    c.report(active);
                }
                Step::Done
            }
            Action::Monitor(monitor::Action::Log(m)) => {
                info!("{m}");
                Step::Done
            }
            Action::Monitor(monitor::Action::Debug(m)) => {
                debug!("{m}");
                Step::Done
            }
            Action::Monitor(monitor::Action::Exit(code)) => Step::Exit(code),
            Action::Monitor(monitor::Action::QueryLoad) => Step::Answer(self.query_load()),
            Action::Monitor(ipvs_action) => {
                match self.southbound.as_mut().map(|s| s.apply(&ipvs_action)) {
                    Some(Err(msg)) => {
                        info!("{msg}");
                        Step::Answer(Event::IpvsFailed)
                    }
                    _ => Step::Done,
                }
            }
        }
    }
}
