//! nanny's IO: carries the [`Nanny`] core's actions out (the driver's executor): the
//! probe and the load query (on the probe thread, [`Worker`], so the main thread is always
//! waiting in the event loop and a signal is acted on at once whatever a probe is doing),
//! the IPVS changes and the reports to lvsd.

use std::time::Duration;

use daemon::driver::{Driver, Executor, Step};
use daemon::event_loop::{EventLoop, Ready};
use daemon::runtime::Sources;
use log::{debug, info};

use crate::availability::Channel;
use crate::check::Check;
use crate::monitor;
use crate::schedule::{Action, Event, Nanny};
use crate::southbound::Southbound;

pub struct Shell {
    pub worker: Worker,
    /// None for a FOS monitor (no IPVS).
    pub southbound: Option<Southbound>,
    pub channel: Option<Channel>,
}

/// What the worker does.
pub enum Job {
    Probe,
    Load,
}

/// The thread that runs the probes and load queries one after another
/// (`daemon::worker`). A check program it runs is in a process group of its own, killed
/// at its deadline (`daemon::process::run`) or when nanny exits.
pub type Worker = daemon::worker::Worker<Job, Event>;

/// Starts the probe thread. `load_argv`: the load command, if load monitoring is on;
/// `interval` is its time limit too; `server` is the address the load messages show.
pub fn start_worker(
    check: Check,
    load_argv: Option<Vec<String>>,
    interval: Duration,
    server: String,
) -> std::io::Result<Worker> {
    daemon::worker::Worker::start("probe", 256 * 1024, move |job| match job {
        Job::Probe => probe(&check),
        Job::Load => query_load(load_argv.as_deref(), interval, &server),
    })
}

fn probe(check: &Check) -> Event {
    let outcome = check.run();
    if let Err(msg) = &outcome {
        // Legacy logged every failed probe (`CONNECT to ... timed out`, ...).
        info!("{msg}");
    }
    Event::Probed {
        ok: outcome.is_ok(),
    }
}

fn query_load(argv: Option<&[String]>, interval: Duration, server: &str) -> Event {
    let reading = argv.and_then(|argv| match crate::load::read_load(argv, interval) {
        Ok(l) => {
            debug!("Loadavg of {server} is {l}");
            Some(l)
        }
        Err(msg) => {
            info!("{msg}");
            None
        }
    });
    Event::Monitor(monitor::Event::Load(reading))
}

impl Executor<Nanny> for Shell {
    fn execute(&mut self, action: Action) -> Step<Event> {
        match action {
            Action::Probe => {
                self.worker.submit(Job::Probe);
                Step::Done
            }
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
            Action::Monitor(monitor::Action::Exit(code)) => {
                // A check program still running goes with nanny.
                daemon::process::kill_running();
                Step::Exit(code.code())
            }
            Action::Monitor(monitor::Action::QueryLoad) => {
                self.worker.submit(Job::Load);
                Step::Done
            }
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

/// The event loop's token for the probe thread's "done" pipe.
pub const PROBED: usize = 0;

/// nanny listens to its signals, its probe thread and the time.
pub struct Listen;

impl Sources<Nanny, Shell> for Listen {
    fn turn(
        &mut self,
        ready: Vec<Ready>,
        d: &mut Driver<Nanny, Shell>,
        _: &EventLoop,
    ) -> Vec<Event> {
        let mut queue = Vec::new();
        for r in ready {
            match r {
                Ready::Signal(sig) => queue.push(Event::Monitor(monitor::Event::of_signal(sig))),
                Ready::Source(PROBED) => queue.extend(d.exec.worker.finished()),
                _ => queue.push(Event::Tick),
            }
        }
        queue
    }
}
