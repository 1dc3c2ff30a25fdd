//! `fos`: failover services (docs/legacy.md, "fos"). Reads the options and lvs.cf, then
//! runs [`fos::machine::Fos`]: commands on a worker thread (no shell, with a time
//! limit), monitors as children, signals through the event loop.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use daemon::cli::{self, OptSpec};
use daemon::event_loop::{EventLoop, Ready};
use daemon::log::{LegacyLog, Sinks};
use daemon::pidfile::PidFile;
use daemon::process::{ExitStatus, RunError, Spawn};
use daemon::worker::Worker;
use fos::machine::{Action, Event, Fos, Mode};
use fos::service::{nanny_argv, Service};
use log::{debug, info};
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Id {
    Config,
    NoDaemon,
    Monitor,
    Active,
    Verbose,
    TestStart,
    NoFork,
    Version,
    Help,
    PidFile,
}

/// The legacy option table (docs/legacy.md, "fos") plus `--pidfile`.
const OPTIONS: &[OptSpec<Id>] = &[
    OptSpec::value(Id::Config, Some('c'), &["configfile"]),
    OptSpec::flag(Id::NoDaemon, Some('n'), &["nodaemon"]),
    OptSpec::flag(Id::Monitor, Some('f'), &["monitor"]),
    OptSpec::flag(Id::Active, Some('F'), &["active"]),
    OptSpec::flag(Id::Verbose, Some('v'), &["verbose"]),
    OptSpec::flag(Id::TestStart, Some('t'), &["test-start"]),
    OptSpec::flag(Id::NoFork, None, &["nofork"]),
    OptSpec::flag(Id::Version, None, &["version"]),
    OptSpec::flag(Id::Help, Some('?'), &["help", "usage"]),
    OptSpec::value(Id::PidFile, None, &["pidfile"]),
];

const USAGE: &str = "Usage: fos --monitor|--active [OPTION...]
  -c, --configfile=FILE   configuration file (default /etc/sysconfig/ha/lvs.cf)
  -n, --nodaemon          run in the foreground, log to stdout
  -f, --monitor           watch the partner's services (inactive director)
  -F, --active            run the services here (active director)
  -v, --verbose           debug logging, -v to every monitor
  -t, --test-start        start no command and no monitor
      --nofork            daemon mode without forking (how pulse starts fos)
      --pidfile=FILE      pid file in daemon mode (default /var/run/fos.pid)
      --version           print the version
  -?, --help              this text
";

/// How long a `start_cmd` or `stop_cmd` may run before it is killed (legacy waited
/// forever, so a hanging command froze fos and, with it, the failover).
const COMMAND_LIMIT: Duration = Duration::from_secs(60);
/// The event loop's token for a finished command.
const COMMAND_DONE: usize = 0;

struct Flags {
    verbose: bool,
    nodaemon: bool,
    test_start: bool,
}

fn main() {
    let opts = cli::parse_args_or_exit("fos", OPTIONS);
    if opts.has(Id::Help) {
        print!("{USAGE}");
        return;
    }
    if opts.has(Id::Version) {
        print!("{}", cli::version_text("fos 1.13"));
        return;
    }
    let mode = match (opts.has(Id::Monitor), opts.has(Id::Active)) {
        (true, false) => Mode::Monitor,
        (false, true) => Mode::Active,
        _ => fail("exactly one of --monitor and --active must be given"),
    };
    let flags = Flags {
        verbose: opts.has(Id::Verbose),
        nodaemon: opts.has(Id::NoDaemon),
        test_start: opts.has(Id::TestStart),
    };
    let path = PathBuf::from(opts.value(Id::Config).unwrap_or(lvscf::DEFAULT_CONFIG_PATH));
    let config = load(&path);
    let partner = partner_of(&config);
    let pid_path = PathBuf::from(opts.value(Id::PidFile).unwrap_or(daemon::pidfile::FOS));
    let mut pid_file = (!flags.nodaemon)
        .then(|| PidFile::lock(&pid_path).unwrap_or_else(|e| fail(&e.to_string())));
    if !flags.nodaemon {
        daemon::detach(opts.has(Id::NoFork));
    }
    let sinks = Sinks {
        stdout: flags.nodaemon,
        syslog: !flags.nodaemon,
    };
    LegacyLog::new("fos", sinks, flags.verbose).install();
    if let Some(Err(e)) = pid_file.as_mut().map(PidFile::write_pid) {
        info!("cannot write {}: {e}", pid_path.display());
    }
    let code = run(mode, &config, partner, &flags);
    drop(pid_file);
    std::process::exit(code);
}

fn fail(text: &str) -> ! {
    eprintln!("fos: {text}");
    std::process::exit(1);
}

/// lvs.cf, or the legacy refusal (`fos: error parsing FILE on line N.`).
fn load(path: &Path) -> lvscf::Config {
    match lvscf::parse_file(path, &lvscf::ParseOptions::default()) {
        Ok(p) => p.config,
        Err(f) => {
            let e = f.first_error();
            if e.code == lvscf::Code::Read {
                fail(&format!("failed to open {}", path.display()));
            }
            eprintln!("fos: error parsing {} on line {}.", path.display(), e.line);
            eprintln!("fos: {e}");
            std::process::exit(1);
        }
    }
}

/// The other director (lvs.cf's rule, as pulse's); none when this host's addresses
/// cannot be listed and lvs.cf names no other.
fn partner_of(c: &lvscf::Config) -> Option<IpAddr> {
    let local = hostnet::Rtnl::open()
        .and_then(|mut r| r.local_ips())
        .unwrap_or_default();
    c.partner(&local)
}

/// Runs the machine until it exits; returns the exit code.
fn run(mode: Mode, c: &lvscf::Config, partner: Option<IpAddr>, flags: &Flags) -> i32 {
    let (blocks, services): (Vec<&lvscf::VirtualServer>, Vec<Service>) = c
        .failovers
        .iter()
        .filter_map(|v| Service::of(v).map(|s| (v, s)))
        .unzip();
    let mut events = match EventLoop::new(&[SIGTERM, SIGINT, SIGHUP, SIGCHLD]) {
        Ok(e) => e,
        Err(e) => {
            info!("cannot install signal handlers: {e}");
            return 1;
        }
    };
    let worker = Worker::start("fos-command", 256 * 1024, run_command)
        .and_then(|w| events.register(w.done_fd(), COMMAND_DONE).map(|()| w));
    let worker = match worker {
        Ok(w) => w,
        Err(e) => {
            info!("cannot start the command runner: {e}");
            return 1;
        }
    };
    let mut fos = Fos::new(mode, services);
    let mut monitors: Vec<u32> = Vec::new();
    let mut queue = vec![Event::Start];
    loop {
        while !queue.is_empty() {
            let event = queue.remove(0);
            for action in fos.handle(event) {
                match action {
                    Action::Log(line) => info!("{line}"),
                    Action::Run(argv) if flags.test_start => {
                        debug!("DEBUG -- not running '{}' (test start)", argv.join(" "));
                        queue.push(Event::CommandDone(Ok(true)));
                    }
                    Action::Run(argv) => {
                        debug!("DEBUG -- Executing '{}'", argv.join(" "));
                        worker.submit(argv);
                    }
                    Action::StartMonitor(_) if flags.test_start => {}
                    Action::StartMonitor(i) => {
                        let event = start_monitor(i, blocks[i], partner, flags);
                        if let Event::MonitorStarted { pid, .. } = event {
                            monitors.push(pid);
                        }
                        queue.push(event);
                    }
                    Action::Kill(pid) => {
                        daemon::process::signal(pid, nix::sys::signal::Signal::SIGTERM)
                    }
                    Action::Exit(code) => return code,
                }
            }
        }
        let ready = events.wait(None).unwrap_or_default();
        for r in ready {
            match r {
                Ready::Source(COMMAND_DONE) => {
                    for (text, result) in worker.finished() {
                        queue.push(Event::CommandDone(command_result(&text, result)));
                    }
                }
                Ready::Signal(SIGTERM | SIGINT | SIGHUP) => queue.push(Event::Stop),
                _ => {}
            }
        }
        // Only the monitors: a command's process is the worker's to reap.
        for (pid, _) in daemon::process::reap_these(monitors.clone()) {
            monitors.retain(|p| *p != pid);
            queue.push(Event::Exited { pid });
        }
    }
}

/// A command, run on the worker thread: its text and how it ended.
fn run_command(argv: Vec<String>) -> (String, Result<ExitStatus, RunError>) {
    // The service a start_cmd leaves behind is the point of running it.
    let result = daemon::process::run_service_command(&argv, COMMAND_LIMIT).map(|o| o.status);
    (argv.join(" "), result)
}

/// Logs how a command ended and turns it into the machine's event.
fn command_result(text: &str, result: Result<ExitStatus, RunError>) -> Result<bool, String> {
    match result {
        Ok(status) if status.success() => {
            debug!("DEBUG -- '{text}' finished with {status}");
            Ok(true)
        }
        Ok(status) => {
            info!("'{text}' finished with {status}");
            Ok(false)
        }
        Err(e) => {
            info!("'{text}': {e}");
            Err(e.to_string())
        }
    }
}

fn start_monitor(
    i: usize,
    v: &lvscf::VirtualServer,
    partner: Option<IpAddr>,
    flags: &Flags,
) -> Event {
    let (Some(vip), Some(partner)) = (v.address.as_ref().map(|a| a.addr()), partner) else {
        return Event::MonitorFailed {
            service: i,
            reason: "no partner director in lvs.cf".into(),
        };
    };
    let argv = nanny_argv(
        &v.client_monitor,
        v,
        vip,
        partner,
        flags.verbose,
        flags.nodaemon,
    );
    debug!("DEBUG -- Executing '{}'", argv.join(" "));
    match daemon::process::spawn(&Spawn {
        argv,
        ..Spawn::default()
    }) {
        Ok(pid) => Event::MonitorStarted { service: i, pid },
        Err(e) => Event::MonitorFailed {
            service: i,
            reason: format!("{}: {e}", v.client_monitor),
        },
    }
}
