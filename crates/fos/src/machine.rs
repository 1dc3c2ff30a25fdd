//! fos's decisions, sans IO (docs/legacy.md, "fos"): events in, actions out; the shell
//! that runs commands and monitors and reports back is the binary's.
//!
//! Active (`--active`): every `stop_cmd`, then every `start_cmd`, one at a time; then
//! wait. A stop request (SIGTERM, SIGINT, SIGHUP) runs every `stop_cmd` and exits 0, once
//! the command under way has finished.
//!
//! Monitor (`--monitor`): every `stop_cmd` (the services must not run on both
//! directors), then one monitor per service. The first monitor to exit is a failover
//! condition: the others are stopped and fos exits 0, which pulse reads as "the partner's
//! service failed". A stop request stops the monitors and exits 0.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::service::Service;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    Active,
    Monitor,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    Start,
    /// The command of the last [`Action::Run`] ended.
    CommandDone(CommandEnd),
    /// The monitor of service `service` runs as `pid`, or could not be started.
    MonitorStarted {
        service: usize,
        pid: u32,
    },
    MonitorFailed {
        service: usize,
        reason: String,
    },
    /// A child ended.
    Exited {
        pid: u32,
    },
    /// SIGTERM, SIGINT or SIGHUP.
    Stop,
}

daemon::exit_statuses! {
    /// How fos ends (docs/legacy.md, "fos"): the legacy exit statuses.
    pub enum Exit {
        /// Stopped when told, or a monitor ended (pulse reads this as the partner's
        /// service failing).
        Done = 0,
        /// It could not start (command line, lvs.cf, signals).
        StartFailed = 1,
    }
}

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandEnd {
    /// Exit 0.
    Succeeded,
    /// Another exit status, or a signal.
    Failed,
    /// It could not run, or ran out of time (the reason).
    CouldNotRun(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    Log(String),
    /// Run this command (no shell, with a time limit) and report [`Event::CommandDone`].
    Run(Vec<String>),
    /// Start service `service`'s monitor and report [`Event::MonitorStarted`].
    StartMonitor(usize),
    /// SIGTERM to a monitor.
    Kill(u32),
    Exit(Exit),
}

/// What a command in the queue is for (the log line after it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Stop(usize),
    Start(usize),
}

pub struct Fos {
    mode: Mode,
    services: Vec<Service>,
    /// Commands still to run, and the one under way.
    queue: Vec<Purpose>,
    running: Option<Purpose>,
    /// Running monitors: (service, pid).
    monitors: Vec<(usize, u32)>,
    stopping: bool,
}

impl Fos {
    pub fn new(mode: Mode, services: Vec<Service>) -> Fos {
        Fos {
            mode,
            services,
            queue: Vec::new(),
            running: None,
            monitors: Vec::new(),
            stopping: false,
        }
    }

    pub fn handle(&mut self, event: Event) -> Vec<Action> {
        match event {
            Event::Start => self.start(),
            Event::CommandDone(result) => self.command_done(result),
            Event::MonitorStarted { service, pid } => {
                self.monitors.push((service, pid));
                Vec::new()
            }
            Event::MonitorFailed { service, reason } => {
                let label = self.services[service].label();
                let mut out = vec![Action::Log(format!(
                    "cannot start the monitor for service {label}: {reason}"
                ))];
                out.extend(self.failover(&label));
                out
            }
            Event::Exited { pid } => self.exited(pid),
            Event::Stop => self.stop(),
        }
    }

    fn start(&mut self) -> Vec<Action> {
        let stops = (0..self.services.len()).map(Purpose::Stop);
        self.queue = match self.mode {
            Mode::Active => stops
                .chain((0..self.services.len()).map(Purpose::Start))
                .collect(),
            Mode::Monitor => stops.collect(),
        };
        let mut out = Vec::new();
        if self.mode == Mode::Monitor {
            out.push(Action::Log("Stopping local services (if any)".into()));
        }
        out.extend(self.next_command());
        out
    }

    /// Runs the next queued command that is set; when none is left, goes on.
    fn next_command(&mut self) -> Vec<Action> {
        while !self.queue.is_empty() {
            let purpose = self.queue.remove(0);
            let s = &self.services[match purpose {
                Purpose::Stop(i) | Purpose::Start(i) => i,
            }];
            let command = match purpose {
                Purpose::Stop(_) => s.stop.clone(),
                Purpose::Start(_) => s.start.clone(),
            };
            if let Some(argv) = command.filter(|a| !a.is_empty()) {
                self.running = Some(purpose);
                return vec![Action::Run(argv)];
            }
        }
        self.commands_finished()
    }

    fn commands_finished(&mut self) -> Vec<Action> {
        if self.stopping {
            return vec![Action::Exit(Exit::Done)];
        }
        match self.mode {
            Mode::Active => Vec::new(),
            Mode::Monitor => (0..self.services.len()).map(Action::StartMonitor).collect(),
        }
    }

    fn command_done(&mut self, result: CommandEnd) -> Vec<Action> {
        let Some(purpose) = self.running.take() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        match (purpose, result) {
            (Purpose::Start(i), CommandEnd::Failed | CommandEnd::CouldNotRun(_)) => {
                out.push(Action::Log(format!(
                    "Failed to start service {}!",
                    self.services[i].label()
                )))
            }
            (Purpose::Stop(i), CommandEnd::CouldNotRun(reason)) => out.push(Action::Log(format!(
                "cannot stop service {}: {reason}",
                self.services[i].label()
            ))),
            _ => {}
        }
        out.extend(self.next_command());
        out
    }

    fn exited(&mut self, pid: u32) -> Vec<Action> {
        let Some(at) = self.monitors.iter().position(|(_, p)| *p == pid) else {
            return Vec::new();
        };
        let (service, _) = self.monitors.remove(at);
        if self.stopping {
            return Vec::new();
        }
        let label = self.services[service].label();
        self.failover(&label)
    }

    /// A monitor is gone: the partner's service failed (or cannot be watched).
    fn failover(&mut self, label: &str) -> Vec<Action> {
        self.stopping = true;
        let mut out = vec![Action::Log(format!(
            "Monitor for service {label} exited. This is a failover condition!"
        ))];
        out.extend(self.monitors.drain(..).map(|(_, pid)| Action::Kill(pid)));
        out.push(Action::Log("will now exit to notify pulse...".into()));
        out.push(Action::Exit(Exit::Done));
        out
    }

    fn stop(&mut self) -> Vec<Action> {
        if self.stopping {
            return Vec::new();
        }
        self.stopping = true;
        let mut out: Vec<Action> = self
            .monitors
            .drain(..)
            .map(|(_, pid)| Action::Kill(pid))
            .collect();
        match self.mode {
            Mode::Monitor => {
                self.queue.clear();
                if self.running.is_none() {
                    out.push(Action::Exit(Exit::Done));
                }
            }
            Mode::Active => {
                self.queue = (0..self.services.len()).map(Purpose::Stop).collect();
                if self.running.is_none() {
                    out.extend(self.next_command());
                }
            }
        }
        out
    }
}

/// fos on the daemons' driver: its decisions take no time.
impl daemon::driver::Core for Fos {
    type Event = Event;
    type Action = Action;
    fn handle(&mut self, event: Event, _now: Instant) -> Vec<Action> {
        Fos::handle(self, event)
    }
    fn next_deadline(&self, _now: Instant) -> Option<Instant> {
        None
    }
}
