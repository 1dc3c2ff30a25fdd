//! `lvsd`: virtual service manager and nanny supervisor (docs/legacy.md, "lvsd"). Reads
//! the options and lvs.cf, then runs [`lvsd::manager::Manager`] on `daemon`'s event loop
//! and driver, with [`lvsd::shell::Shell`] carrying its actions out.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use daemon::cli::{self, OptSpec};
use daemon::control::ControlServer;
use daemon::driver::Driver;
use daemon::event_loop::{EventLoop, Ready};
use daemon::log::{LegacyLog, Sinks};
use daemon::pidfile::PidFile;
use ipvs::{Ipvs, Reconciler};
use log::{debug, info};
use lvsd::config_file::Reloader;
use lvsd::manager::{Event, Manager};
use lvsd::nanny_argv::LvsdFlags;
use lvsd::shell::Shell;
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Id {
    Config,
    Verbose,
    NoDaemon,
    TestStart,
    NoFork,
    Version,
    Help,
    CheckConfig,
    Json,
    PidFile,
}

/// The legacy option table (docs/legacy.md, "lvsd") plus `--check-config`, `--json`, `--pidfile`.
const OPTIONS: &[OptSpec<Id>] = &[
    OptSpec::value(Id::Config, Some('c'), &["configfile"]),
    OptSpec::flag(Id::Verbose, Some('v'), &["verbose"]),
    OptSpec::flag(Id::NoDaemon, Some('n'), &["nodaemon"]),
    OptSpec::flag(Id::TestStart, Some('t'), &["test-start"]),
    OptSpec::flag(Id::NoFork, None, &["nofork"]),
    OptSpec::flag(Id::Version, None, &["version"]),
    OptSpec::flag(Id::Help, Some('?'), &["help", "usage"]),
    OptSpec::flag(Id::CheckConfig, None, &["check-config"]),
    OptSpec::flag(Id::Json, None, &["json"]),
    OptSpec::value(Id::PidFile, None, &["pidfile"]),
];

const USAGE: &str = "Usage: lvsd [OPTION...]
  -c, --configfile=FILE   configuration file (default /etc/sysconfig/ha/lvs.cf)
  -v, --verbose           pass -v to every nanny
  -n, --nodaemon          run in the foreground, log to stdout
  -t, --test-start        do not change IPVS, do not start nannies
      --nofork            daemon mode without forking (how pulse starts lvsd)
      --pidfile=FILE      pid file in daemon mode (default /var/run/lvs.pid); the list
                          of services lvsd created is kept beside it (lvs.services)
      --check-config      check the configuration file and print a summary
      --json              with --check-config: print the parsed model as JSON
      --version           print the version
  -?, --help              this text
";

/// The longest wait between two looks at the world (legacy: `alarm(5)`).
const MAX_WAIT: Duration = Duration::from_secs(5);
/// The event loop's tokens: the nannies' availability channel, a finished reread, the
/// control socket (and its clients after it).
const AVAILABILITY: usize = 0;
const RELOADED: usize = 1;
/// The integrated monitors' reports (`integrated_monitors = 1`).
const MONITORS: usize = 2;
const CONTROL: usize = 10;

fn main() {
    // One malloc arena: lvsd's threads (the start-up check's, the rereader, the
    // integrated monitors and their check threads) allocate little each, and an arena per
    // thread would keep megabytes of freed memory (docs/differences.md, "Integrated
    // monitors").
    // SAFETY: called first, before any thread exists; mallopt only sets a limit.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
    // Legacy lvsd prints its messages as `lvs: ...`.
    let opts = cli::parse_args_or_exit("lvs", OPTIONS);
    let config_path = PathBuf::from(opts.value(Id::Config).unwrap_or(lvscf::DEFAULT_CONFIG_PATH));
    if opts.has(Id::Help) {
        print!("{USAGE}");
        return;
    }
    if opts.has(Id::Version) {
        print!("{}", cli::version_text("lvs 1.38"));
        return;
    }
    if opts.has(Id::CheckConfig) {
        let code = lvscf::report::check_config_command(
            &config_path,
            opts.has(Id::Json),
            lvscf::validate::Consumer::Lvsd,
            &mut std::io::stdout(),
        );
        std::process::exit(code);
    }
    let nodaemon = opts.has(Id::NoDaemon);
    let test_start = opts.has(Id::TestStart);
    let flags = LvsdFlags {
        verbose: opts.has(Id::Verbose),
        nodaemon,
    };
    let pid_path = PathBuf::from(opts.value(Id::PidFile).unwrap_or(daemon::pidfile::LVSD));
    // Everything that can fail at start-up fails here, on the terminal, before detaching.
    let (loaded, reconciler) = start_up_or_exit(&config_path, &pid_path, test_start);
    // One lvsd per pid file, refused on the terminal (the pid is written once detached).
    let mut pid_file = (!nodaemon).then(|| {
        PidFile::lock(&pid_path).unwrap_or_else(|e| {
            eprintln!("lvs: {e}");
            std::process::exit(1);
        })
    });
    // Under systemd (a Type=notify unit) lvsd does not fork: the unit's main process
    // stays lvsd. Read before any thread exists.
    let notifier = daemon::notify::Notifier::from_env();
    if !nodaemon {
        daemon::detach(opts.has(Id::NoFork) || notifier.is_some());
    }
    let sinks = Sinks {
        stdout: nodaemon,
        syslog: !nodaemon,
    };
    LegacyLog::new("lvsd", sinks, flags.verbose)
        .with_stdout_prefix("lvs")
        .install();
    for w in &loaded.warnings {
        debug!("{w}");
    }
    if let Some(Err(e)) = pid_file.as_mut().map(PidFile::write_pid) {
        info!("cannot write {}: {e}", pid_path.display());
    }
    let code = match Setup::new(reconciler, &pid_path, &config_path) {
        Ok(setup) => run(setup, loaded.config, flags, test_start, notifier),
        Err(e) => {
            info!("{e}");
            1
        }
    };
    drop(pid_file);
    std::process::exit(code);
}

/// Reads lvs.cf and reaches IPVS, or exits with the reason on the terminal.
fn start_up_or_exit(
    config_path: &Path,
    pid_path: &Path,
    test_start: bool,
) -> (lvsd::config_file::Loaded, Option<Reconciler>) {
    let loaded = lvsd::config_file::load(config_path, &lvscf::ParseOptions::default())
        .unwrap_or_else(|messages| {
            for m in messages {
                eprintln!("lvs: {m}");
            }
            std::process::exit(1);
        });
    if test_start {
        return (loaded, None);
    }
    match Ipvs::open() {
        Ok(i) => {
            let owned = lvsd::owned::load(&pid_path.with_extension("services"));
            (loaded, Some(Reconciler::new(i).with_owned(owned)))
        }
        Err(e) => {
            eprintln!("lvs: cannot reach IPVS: {e}");
            std::process::exit(1);
        }
    }
}

/// The event loop, the shell and the rereader, set up before the manager starts.
struct Setup {
    events: EventLoop,
    shell: Shell,
    reloader: Reloader,
    control: Option<ControlServer>,
    config_path: PathBuf,
    /// Where the status listener finds the daemons; `None` under pulse, which serves it.
    http_sockets: Option<status_view::Sockets>,
}

impl Setup {
    fn new(
        reconciler: Option<Reconciler>,
        pid_path: &Path,
        config_path: &Path,
    ) -> Result<Setup, String> {
        let events = EventLoop::new(&[SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGUSR1, SIGUSR2])
            .map_err(|e| format!("cannot install signal handlers: {e}"))?;
        let shell = Shell::new(reconciler, pid_path.with_extension("services"))
            .map_err(|e| format!("cannot create the nanny status pipe: {e}"))?;
        events
            .register(shell.availability_fd(), AVAILABILITY)
            .map_err(|e| format!("cannot watch the nanny status pipe: {e}"))?;
        let reloader =
            Reloader::new(config_path).map_err(|e| format!("cannot set up rereading: {e}"))?;
        events
            .register(reloader.wake_fd(), RELOADED)
            .map_err(|e| format!("cannot watch the rereading: {e}"))?;
        // The operator's socket (docs/control.md).
        let control = ControlServer::beside_pid_file(pid_path, CONTROL, &events);
        Ok(Setup {
            events,
            shell,
            reloader,
            control,
            config_path: config_path.to_path_buf(),
            http_sockets: http_sockets(pid_path),
        })
    }
}

/// The sockets the status listener asks (docs/control.md, "HTTP"): none when pulse
/// started this lvsd (it says so in the environment) and serves the listener itself.
fn http_sockets(pid_path: &Path) -> Option<status_view::Sockets> {
    if std::env::var_os(status_view::http::PULSE_SOCKET_ENV).is_some() {
        return None;
    }
    Some(status_view::Sockets {
        lvsd: pid_path.with_extension("sock"),
        ..status_view::Sockets::default()
    })
}

/// Runs the manager until it exits; returns the exit code.
fn run(
    setup: Setup,
    config: lvscf::Config,
    flags: LvsdFlags,
    test_start: bool,
    mut notifier: Option<daemon::notify::Notifier>,
) -> i32 {
    let Setup {
        mut events,
        shell,
        mut reloader,
        mut control,
        config_path,
        http_sockets,
    } = setup;
    let mut http = status_view::http::StatusHttp::default();
    let mut serve_http = |c: &lvscf::Config| {
        if let Some(s) = &http_sockets {
            http.apply(c.status_http, s);
        }
    };
    serve_http(&config);
    let drained = lvsd::drained::load(&shell.drained_path());
    let (manager, first) =
        Manager::start_drained(config, flags, test_start, drained, Instant::now());
    let mut driver = Driver::new(manager, shell);
    if let Some(code) = driver.carry_out(first) {
        return code;
    }
    // The start-up check's buffers are freed: give the memory back to the system.
    // SAFETY: malloc_trim only releases free heap memory; no precondition.
    unsafe { libc::malloc_trim(0) };
    if let Some(n) = &notifier {
        n.ready();
    }
    loop {
        // Integrated monitors started by the last turn (the first at start-up).
        if let Some(fd) = driver.exec.monitors_to_watch() {
            if let Err(e) = events.register(fd, MONITORS) {
                info!("cannot watch the integrated monitors: {e}");
            }
        }
        let now = Instant::now();
        let deadline = driver
            .next_deadline()
            .map_or(now + MAX_WAIT, |d| d.min(now + MAX_WAIT));
        let deadline = [
            control.as_ref().and_then(ControlServer::next_deadline),
            notifier.as_ref().and_then(|n| n.next_deadline()),
        ]
        .into_iter()
        .flatten()
        .fold(deadline, Instant::min);
        let ready = events.wait(Some(deadline)).unwrap_or_default();
        // Reports first: a nanny that reported and then died did both in that order.
        let mut queue = driver.exec.read_availability();
        queue.extend(
            driver
                .exec
                .reap()
                .into_iter()
                .map(|(pid, status)| Event::Exited { pid, status }),
        );
        queue.extend(driver.exec.monitor_events());
        for r in ready {
            match r {
                Ready::Signal(SIGHUP) => {
                    info!("rereading configuration file");
                    reloader.request();
                }
                Ready::Source(RELOADED) => {
                    for event in reloader.finished().into_iter().filter_map(reread) {
                        if let Event::Reload(c) = &event {
                            serve_http(c);
                        }
                        queue.push(event);
                    }
                }
                Ready::Signal(sig @ (SIGTERM | SIGINT)) => {
                    if let Some(n) = &notifier {
                        n.stopping();
                    }
                    queue.push(Event::Terminate(sig))
                }
                Ready::Source(t) if control.as_ref().is_some_and(|c| c.owns(t)) => {
                    if let Some(c) = control.as_mut() {
                        if let Some(code) = answer(c, t, &events, &mut driver, &config_path) {
                            return code;
                        }
                    }
                }
                // SIGCHLD: reaped above. SIGUSR1/2 killed legacy lvsd; ignored here.
                _ => {}
            }
        }
        if let Some(c) = control.as_mut() {
            c.expire(&events, Instant::now());
        }
        if let Some(n) = notifier.as_mut() {
            n.tick(Instant::now());
        }
        queue.push(Event::Tick);
        if let Some(code) = driver.dispatch_all(queue) {
            return code;
        }
    }
}

/// Answers the control requests that arrived on `token` (docs/control.md). `Some(code)`
/// if what a request led to ended lvsd.
fn answer(
    control: &mut ControlServer,
    token: usize,
    events: &EventLoop,
    driver: &mut Driver<Manager, Shell>,
    config_path: &Path,
) -> Option<i32> {
    let mut exit = None;
    for req in control.ready(token, events, Instant::now()) {
        let response = match req.command.as_str() {
            "status" => {
                let mut services = driver.core.status();
                driver.exec.kernel_status(&mut services);
                daemon::control::status(&lvsd::status::Status {
                    daemon: "lvsd",
                    pid: std::process::id(),
                    config: config_path.display().to_string(),
                    services,
                    integrated_monitors: driver
                        .exec
                        .monitor_stats()
                        .map(lvsd::status::MonitorFigures::of),
                })
            }
            command @ ("drain" | "enable") => {
                let (response, code) = drain(driver, command == "drain", &req.body);
                exit = exit.or(code);
                response
            }
            other => daemon::control::unknown(other),
        };
        control.reply(req.client, &response, events, Instant::now());
    }
    exit
}

/// `{"command":"drain"|"enable","virtual":NAME,"server":NAME}` (docs/control.md).
fn drain(
    driver: &mut Driver<Manager, Shell>,
    drain: bool,
    body: &serde_json::Value,
) -> (serde_json::Value, Option<i32>) {
    let (Some(vs), Some(rs)) = (body["virtual"].as_str(), body["server"].as_str()) else {
        let e = "name the \"virtual\" service and the \"server\"";
        return (daemon::control::error(e), None);
    };
    match driver.core.set_drained(vs, rs, drain, Instant::now()) {
        Ok((message, actions)) => {
            let code = driver.carry_out(actions);
            (serde_json::json!({"ok": true, "message": message}), code)
        }
        Err(e) => (daemon::control::error(e), None),
    }
}

/// A reread file, or the reasons it is refused (the running one is kept).
fn reread(result: Result<lvsd::config_file::Loaded, Vec<String>>) -> Option<Event> {
    match result {
        Ok(l) => Some(Event::Reload(Box::new(l.config))),
        Err(messages) => {
            for m in messages {
                info!("{m}");
            }
            info!("keeping the running configuration");
            None
        }
    }
}
