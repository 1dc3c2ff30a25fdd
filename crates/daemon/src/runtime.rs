//! The runtime every daemon runs on (docs/architecture.md, "The runtime"): the legacy
//! start-up ([`Legacy`]: options, help, version, the pid file and its lock, detaching or
//! systemd's notify, the log sinks) and the loop ([`Runtime::run`]): one wait for
//! descriptors, signals and deadlines, the daemon's [`Sources`] turning what woke it into
//! its core's events, the control socket's requests delivered as events and their replies
//! sent, systemd's watchdog, and the [`Driver`] carrying out what the core decides.
//!
//! A daemon's `main` is then: its option table, its core, its executor and its sources.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use log::info;

use crate::cli::{self, Common, DaemonOpt, OptSpec, Options};
use crate::control::{ControlServer, Request};
use crate::driver::{Core, Driver, Executor};
use crate::event_loop::{EventLoop, Ready};
use crate::log::{LegacyLog, Sinks};
use crate::notify::Notifier;
use crate::pidfile::PidFile;
use crate::trace::Trace;

/// Why a daemon could not start: what it was doing and the reason, one line for its log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartError(pub String);

impl StartError {
    /// `cannot WHAT: REASON`.
    pub fn cannot(what: &str, reason: impl std::fmt::Display) -> StartError {
        StartError(format!("cannot {what}: {reason}"))
    }
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for StartError {
    fn from(reason: String) -> StartError {
        StartError(reason)
    }
}

/// A daemon's exit statuses: one enum of its legacy values, data like its actions, with
/// `code()` for the process's exit.
///
/// ```
/// daemon::exit_statuses! {
///     /// How a daemon ends.
///     pub enum Exit {
///         /// Stopped when told.
///         Stopped = 0,
///     }
/// }
/// assert_eq!(Exit::Stopped.code(), 0);
/// ```
#[macro_export]
macro_rules! exit_statuses {
    ($(#[$m:meta])* pub enum $name:ident { $($(#[$vm:meta])* $variant:ident = $value:expr,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vm])* $variant = $value,)*
        }

        impl $name {
            /// The process's exit status.
            pub fn code(self) -> i32 {
                self as i32
            }
        }
    };
}

/// The first event-loop token of the control socket (and its clients after it): daemons
/// number their own sources below it.
pub(crate) const CONTROL_TOKEN: usize = 1 << 20;

/// A daemon's legacy identity: the names its messages, log lines and `--version` use.
#[derive(Debug, Clone, Copy)]
pub struct Legacy {
    /// The prefix of messages on the terminal (`lvs: ...`, `pulse: ...`).
    pub prog: &'static str,
    /// The syslog ident.
    pub ident: &'static str,
    /// The prefix of log lines on stdout in the foreground, when it is not `ident`.
    pub stdout_prefix: Option<&'static str>,
    /// `--version`'s program (`lvs 1.38`).
    pub version: &'static str,
    pub usage: &'static str,
}

/// How a daemon runs, from its command line.
#[derive(Debug, Clone, Default)]
pub struct Mode {
    /// `--nodaemon`: the foreground, log lines on stdout.
    pub nodaemon: bool,
    /// `--nofork`: detach without forking (how pulse and lvsd start their children).
    pub nofork: bool,
    /// The pid file to lock and write in daemon mode; `None` for a daemon without one.
    pub pid_file: Option<PathBuf>,
    pub verbose: bool,
    /// Log to syslog in the foreground too (nanny).
    pub syslog_in_foreground: bool,
    /// Take systemd's notify socket (the unit's main process only).
    pub notify: bool,
}

/// What start-up leaves the daemon: its locked pid file, held until the daemon ends, and
/// systemd's notifier.
pub struct Daemonized {
    pid_file: Option<PidFile>,
    pub notifier: Option<Notifier>,
}

impl Legacy {
    /// Ends the process on the terminal like the legacy daemons: `PROG: TEXT`, exit 1.
    pub fn fail(&self, text: &str) -> ! {
        eprintln!("{}: {text}", self.prog);
        std::process::exit(1);
    }

    /// The command line: the shared options `common` and the daemon's `own`; `--help`
    /// and `--version` are answered here, and a bad command line ends the process with
    /// the legacy message.
    pub fn options_or_exit<Own: Copy + PartialEq>(
        &self,
        common: &[Common],
        own: &[OptSpec<Own>],
    ) -> Options<DaemonOpt<Own>> {
        let opts = cli::parse_args_or_exit(self.prog, &cli::table(common, own));
        if opts.common(Common::Help) {
            print!("{}", self.usage);
            std::process::exit(0);
        }
        if opts.common(Common::Version) {
            print!("{}", cli::version_text(self.version));
            std::process::exit(0);
        }
        opts
    }

    /// Becomes the daemon `mode` asks for. The pid file is locked on the terminal (a
    /// second instance is refused there), then the process detaches (without forking
    /// under `--nofork` or systemd's notify) and installs the legacy log sinks; the pid
    /// is written once detached.
    pub fn become_daemon(&self, mode: &Mode) -> Daemonized {
        let daemon_pid = mode.pid_file.as_deref().filter(|_| !mode.nodaemon);
        let mut pid_file =
            daemon_pid.map(|p| PidFile::lock(p).unwrap_or_else(|e| self.fail(&e.to_string())));
        let notifier = if mode.notify {
            Notifier::from_env()
        } else {
            None
        };
        if !mode.nodaemon {
            crate::detach(mode.nofork || notifier.is_some());
        }
        let sinks = Sinks {
            stdout: mode.nodaemon,
            syslog: !mode.nodaemon || mode.syslog_in_foreground,
        };
        let log = LegacyLog::new(self.ident, sinks, mode.verbose);
        match self.stdout_prefix {
            Some(p) => log.with_stdout_prefix(p).install(),
            None => log.install(),
        }
        if let Some(Err(e)) = pid_file.as_mut().map(PidFile::write_pid) {
            info!(
                "cannot write {}: {e}",
                daemon_pid.unwrap_or(Path::new("")).display()
            );
        }
        Daemonized { pid_file, notifier }
    }
}

impl Daemonized {
    /// Gives up the pid file (before the process exits).
    pub fn release(&mut self) {
        self.pid_file = None;
    }
}

/// A daemon's sources: what it listens to besides the control socket, turned into its
/// core's events.
pub trait Sources<C: Core, X: Executor<C>> {
    /// What woke the loop (the control socket's traffic aside), as events in the order
    /// the core is to handle them; a daemon with a tick event appends it.
    fn turn(
        &mut self,
        ready: Vec<Ready>,
        driver: &mut Driver<C, X>,
        events: &EventLoop,
    ) -> Vec<C::Event>;
    /// When something besides the core is due (the shell's own timers).
    fn deadline(&self, _driver: &Driver<C, X>) -> Option<Instant> {
        None
    }
    /// Before each wait: watches the descriptors that appeared in the last turn.
    fn watch(&mut self, _driver: &mut Driver<C, X>, _events: &EventLoop) {}
}

/// How a control request becomes the core's event (`Event::Control`).
pub(crate) type ToEvent<E> = fn(Request) -> E;

/// The loop of one daemon.
pub struct Runtime<E> {
    pub events: EventLoop,
    control: Option<(ControlServer, ToEvent<E>)>,
    notifier: Option<Notifier>,
    /// The longest wait between two turns (lvsd's and pulse's legacy five seconds).
    max_wait: Option<Duration>,
}

impl<E> Runtime<E> {
    /// Takes `signals` from now on (their default actions no longer apply).
    pub fn new(signals: &[i32]) -> Result<Runtime<E>, StartError> {
        let events = EventLoop::new(signals)
            .map_err(|e| StartError::cannot("install signal handlers", e))?;
        Ok(Runtime {
            events,
            control: None,
            notifier: None,
            max_wait: None,
        })
    }

    /// Serves the control socket beside `pid_file` (docs/control.md); each request reaches
    /// the core as `to_event(request)`. Without the socket the daemon runs on, saying why.
    pub fn control_beside(&mut self, pid_file: &Path, to_event: ToEvent<E>) {
        let server = ControlServer::beside_pid_file(pid_file, CONTROL_TOKEN, &self.events);
        self.control = server.map(|s| (s, to_event));
    }

    pub fn notifier(&mut self, notifier: Option<Notifier>) {
        self.notifier = notifier;
    }

    pub fn max_wait(&mut self, wait: Duration) {
        self.max_wait = Some(wait);
    }

    /// Runs `driver` until its core exits; the exit code. Start-up is done when this is
    /// called: systemd hears READY here.
    pub fn run<C, X, S>(&mut self, driver: &mut Driver<C, X>, sources: &mut S) -> i32
    where
        C: Core<Event = E>,
        X: Executor<C>,
        S: Sources<C, X>,
    {
        if let Some(n) = &self.notifier {
            n.ready();
        }
        loop {
            sources.watch(driver, &self.events);
            let ready = self
                .events
                .wait(self.deadline(driver, sources))
                .unwrap_or_default();
            let queue = self.turn(ready, driver, sources);
            for event in queue {
                let exit = driver.dispatch(event);
                self.send_replies(driver);
                if let Some(code) = exit {
                    return code;
                }
            }
        }
    }

    fn deadline<C: Core, X: Executor<C>, S: Sources<C, X>>(
        &self,
        driver: &Driver<C, X>,
        sources: &S,
    ) -> Option<Instant> {
        let now = Instant::now();
        [
            driver.next_deadline(),
            sources.deadline(driver),
            self.control.as_ref().and_then(|(c, _)| c.next_deadline()),
            self.notifier.as_ref().and_then(Notifier::next_deadline),
            self.max_wait.map(|w| now + w),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The events of one turn: control requests first (answered as promptly as before
    /// the runtime existed), then the sources'.
    fn turn<C, X, S>(
        &mut self,
        ready: Vec<Ready>,
        driver: &mut Driver<C, X>,
        sources: &mut S,
    ) -> Vec<E>
    where
        C: Core<Event = E>,
        X: Executor<C>,
        S: Sources<C, X>,
    {
        let now = Instant::now();
        let mut queue = Vec::new();
        let mut rest = Vec::with_capacity(ready.len());
        for r in ready {
            match (r, self.control.as_mut()) {
                (Ready::Source(t), Some((c, to_event))) if c.owns(t) => {
                    queue.extend(c.ready(t, &self.events, now).into_iter().map(*to_event));
                }
                (Ready::Signal(libc::SIGTERM | libc::SIGINT), _) => {
                    if let Some(n) = &self.notifier {
                        n.stopping();
                    }
                    rest.push(r);
                }
                _ => rest.push(r),
            }
        }
        queue.extend(sources.turn(rest, driver, &self.events));
        if let Some((c, _)) = self.control.as_mut() {
            c.expire(&self.events, now);
        }
        if let Some(n) = self.notifier.as_mut() {
            n.tick(now);
        }
        queue
    }

    fn send_replies<C: Core, X: Executor<C>>(&mut self, driver: &mut Driver<C, X>) {
        let replies = driver.take_replies();
        let Some((c, _)) = self.control.as_mut() else {
            return;
        };
        for r in replies {
            c.reply(r.client, &r.answer, &self.events, Instant::now());
        }
    }
}

/// Records the driver's events and actions if the environment asks for it
/// ([`crate::trace`]); a trace that cannot be written is logged, never fatal.
pub fn trace_from_env<C: Core, X: Executor<C>>(driver: &mut Driver<C, X>) {
    match Trace::from_env(Instant::now()) {
        Some(Ok(t)) => driver.record(t),
        Some(Err(e)) => info!("cannot write the trace: {e}"),
        None => {}
    }
}
