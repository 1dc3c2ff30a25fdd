//! fos's IO (docs/legacy.md, "fos"): [`Shell`] carries [`Fos`]'s actions out on the
//! daemons' driver (commands on a worker thread, no shell, with a time limit; monitors
//! as children) and [`Shell`]'s sources turn a finished command, a signal or a monitor's
//! exit into its events.

use std::net::IpAddr;
use std::time::Duration;

use daemon::driver::{Driver, Executor, Step};
use daemon::event_loop::{EventLoop, Ready};
use daemon::process::{ExitStatus, RunError, Spawn};
use daemon::runtime::{Sources, StartError};
use daemon::worker::Worker;
use log::{debug, info};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use crate::machine::{Action, CommandEnd, Event, Fos};

/// How long a `start_cmd` or `stop_cmd` may run before it is killed (legacy waited
/// forever, so a hanging command froze fos and, with it, the failover).
const COMMAND_LIMIT: Duration = Duration::from_secs(60);
/// The event loop's token for a finished command.
const COMMAND_DONE: usize = 0;

/// What fos was told on its command line.
#[derive(Debug, Clone, Copy)]
pub struct Flags {
    pub verbose: bool,
    pub nodaemon: bool,
    pub test_start: bool,
}

pub struct Shell {
    worker: Worker<Vec<String>, (String, Result<ExitStatus, RunError>)>,
    /// Each service's monitor command line, by service.
    monitor_argv: Vec<Result<Vec<String>, String>>,
    flags: Flags,
    /// The monitors running (a command's process is the worker's to reap).
    monitors: Vec<u32>,
}

impl Shell {
    /// The command runner, watched by `events`; `monitor_argv` is each service's monitor
    /// command line, or why there is none.
    pub fn new(
        events: &EventLoop,
        monitor_argv: Vec<Result<Vec<String>, String>>,
        flags: Flags,
    ) -> Result<Shell, StartError> {
        let worker = Worker::start("fos-command", 256 * 1024, run_command)
            .and_then(|w| events.register(w.done_fd(), COMMAND_DONE).map(|()| w))
            .map_err(|e| StartError::cannot("start the command runner", e))?;
        Ok(Shell {
            worker,
            monitor_argv,
            flags,
            monitors: Vec::new(),
        })
    }

    fn start_monitor(&mut self, service: usize) -> Event {
        let argv = match self.monitor_argv.get(service).cloned() {
            Some(Ok(argv)) => argv,
            Some(Err(reason)) => return Event::MonitorFailed { service, reason },
            None => {
                return Event::MonitorFailed {
                    service,
                    reason: "no such service".into(),
                }
            }
        };
        debug!("DEBUG -- Executing '{}'", argv.join(" "));
        let program = argv[0].clone();
        match daemon::process::spawn(&Spawn {
            argv,
            ..Spawn::default()
        }) {
            Ok(pid) => {
                self.monitors.push(pid);
                Event::MonitorStarted { service, pid }
            }
            Err(e) => Event::MonitorFailed {
                service,
                reason: format!("{program}: {e}"),
            },
        }
    }
}

impl Executor<Fos> for Shell {
    fn execute(&mut self, action: Action) -> Step<Event> {
        match action {
            Action::Log(line) => info!("{line}"),
            Action::Run(argv) if self.flags.test_start => {
                debug!("DEBUG -- not running '{}' (test start)", argv.join(" "));
                return Step::Answer(Event::CommandDone(CommandEnd::Succeeded));
            }
            Action::Run(argv) => {
                debug!("DEBUG -- Executing '{}'", argv.join(" "));
                self.worker.submit(argv);
            }
            Action::StartMonitor(_) if self.flags.test_start => {}
            Action::StartMonitor(i) => return Step::Answer(self.start_monitor(i)),
            Action::Kill(pid) => daemon::process::signal(pid, nix::sys::signal::Signal::SIGTERM),
            Action::Exit(code) => return Step::Exit(code.code()),
        }
        Step::Done
    }
}

/// fos listens to its finished commands, its stop signals and its monitors' exits.
pub struct Listen;

impl Sources<Fos, Shell> for Listen {
    fn turn(&mut self, ready: Vec<Ready>, d: &mut Driver<Fos, Shell>, _: &EventLoop) -> Vec<Event> {
        let mut queue = Vec::new();
        for r in ready {
            match r {
                Ready::Source(COMMAND_DONE) => {
                    for (text, result) in d.exec.worker.finished() {
                        queue.push(Event::CommandDone(command_result(&text, result)));
                    }
                }
                Ready::Signal(SIGTERM | SIGINT | SIGHUP) => queue.push(Event::Stop),
                _ => {}
            }
        }
        for (pid, _) in daemon::process::reap_these(d.exec.monitors.clone()) {
            d.exec.monitors.retain(|p| *p != pid);
            queue.push(Event::Exited { pid });
        }
        queue
    }
}

/// A command, run on the worker thread: its text and how it ended.
fn run_command(argv: Vec<String>) -> (String, Result<ExitStatus, RunError>) {
    // The service a start_cmd leaves behind is the point of running it.
    let result = daemon::process::run_service_command(&argv, COMMAND_LIMIT).map(|o| o.status);
    (argv.join(" "), result)
}

/// Logs how a command ended and turns it into the machine's event.
fn command_result(text: &str, result: Result<ExitStatus, RunError>) -> CommandEnd {
    match result {
        Ok(status) if status.success() => {
            debug!("DEBUG -- '{text}' finished with {status}");
            CommandEnd::Succeeded
        }
        Ok(status) => {
            info!("'{text}' finished with {status}");
            CommandEnd::Failed
        }
        Err(e) => {
            info!("'{text}': {e}");
            CommandEnd::CouldNotRun(e.to_string())
        }
    }
}

/// Each block's monitor as a nanny command line: it needs the service's address and the
/// partner.
pub fn monitor_argv(
    v: &lvscf::VirtualServer,
    partner: Option<IpAddr>,
    flags: Flags,
) -> Result<Vec<String>, String> {
    let (Some(vip), Some(partner)) = (v.address.as_ref().map(|a| a.addr()), partner) else {
        return Err("no partner director in lvs.cf".into());
    };
    let spec = crate::service::monitor_spec(
        &v.client_monitor,
        v,
        vip,
        partner,
        flags.verbose,
        flags.nodaemon,
    );
    Ok(spec.to_argv())
}
