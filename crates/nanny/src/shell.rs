//! nanny's IO: carries the [`Nanny`] core's actions out (the driver's executor): the
//! probe and the load query (on the [`Worker`] thread, so the main thread is always
//! waiting in the event loop and a signal is acted on at once whatever a probe is doing),
//! the IPVS changes and the reports to lvsd.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::sync::mpsc;
use std::time::Duration;

use daemon::driver::{Executor, Step};
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
enum Job {
    Probe,
    Load,
}

/// One thread that runs the probes and load queries one after another, and says when one
/// is done on a pipe the event loop watches. A check program it runs is in a process
/// group of its own, killed at its deadline (`daemon::process::run`) or when nanny exits
/// ([`Worker::abandon`]).
pub struct Worker {
    jobs: mpsc::Sender<Job>,
    results: mpsc::Receiver<Event>,
    done: File,
}

impl Worker {
    /// `load_argv`: the load command, if load monitoring is on; `interval` is its time
    /// limit too; `server` is the address the load messages show.
    pub fn start(
        check: Check,
        load_argv: Option<Vec<String>>,
        interval: Duration,
        server: String,
    ) -> std::io::Result<Worker> {
        let (done_read, done_write) = daemon::nonblocking_pipe()?;
        let (jobs, job_rx) = mpsc::channel();
        let (result_tx, results) = mpsc::channel();
        std::thread::Builder::new()
            .name("probe".into())
            .stack_size(256 * 1024)
            .spawn(move || {
                for job in job_rx {
                    let event = match job {
                        Job::Probe => probe(&check),
                        Job::Load => query_load(load_argv.as_deref(), interval, &server),
                    };
                    if result_tx.send(event).is_err() {
                        return;
                    }
                    wake(&done_write);
                }
            })?;
        Ok(Worker {
            jobs,
            results,
            done: File::from(done_read),
        })
    }

    /// The descriptor the event loop watches for finished jobs.
    pub fn done_fd(&self) -> &File {
        &self.done
    }

    /// The answers of the jobs finished since the last call.
    pub fn finished(&self) -> Vec<Event> {
        let mut buf = [0u8; 64];
        while matches!(std::io::Read::read(&mut &self.done, &mut buf), Ok(n) if n > 0) {}
        self.results.try_iter().collect()
    }

    /// nanny is exiting: a check program still running goes with it.
    pub fn abandon(&self) {
        daemon::process::kill_running();
    }

    fn submit(&self, job: Job) {
        let _ = self.jobs.send(job);
    }
}

fn wake(fd: &OwnedFd) {
    let _ = nix::unistd::write(fd, b"x");
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
                self.worker.abandon();
                Step::Exit(code)
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
