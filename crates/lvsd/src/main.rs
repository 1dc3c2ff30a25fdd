//! `lvsd`: virtual service manager and nanny supervisor (docs/legacy.md, "lvsd"). Reads
//! the options and lvs.cf, then runs [`lvsd::manager::Manager`] on the daemons' runtime,
//! with [`lvsd::shell::Shell`] carrying its actions out and [`lvsd::sources::Listen`]
//! turning what it hears into events.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use daemon::cli::OptSpec;
use daemon::driver::Driver;
use daemon::runtime::{Legacy, Mode, Runtime, StartError};
use ipvs::{Ipvs, Reconciler};
use log::{debug, info};
use lvsd::manager::{Event, Exit, Manager};
use lvsd::monitor_spec::LvsdFlags;
use lvsd::shell::Shell;
use lvsd::sources::Listen;
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

/// Legacy lvsd prints its messages as `lvs: ...` and logs to syslog as `lvsd`.
const LVSD: Legacy = Legacy {
    prog: "lvs",
    ident: "lvsd",
    stdout_prefix: Some("lvs"),
    version: "lvs 1.38",
    usage: "Usage: lvsd [OPTION...]
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
",
};

/// The longest wait between two looks at the world (legacy: `alarm(5)`).
const MAX_WAIT: Duration = Duration::from_secs(5);

fn main() {
    // One malloc arena: lvsd's threads (the start-up check's, the rereader, the
    // integrated monitors and their check threads) allocate little each, and an arena per
    // thread would keep megabytes of freed memory (docs/differences.md, "Integrated
    // monitors").
    // SAFETY: called first, before any thread exists; mallopt only sets a limit.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
    let opts = LVSD.options_or_exit(OPTIONS, Id::Help, Id::Version);
    let config_path = PathBuf::from(opts.value(Id::Config).unwrap_or(lvscf::DEFAULT_CONFIG_PATH));
    if opts.has(Id::CheckConfig) {
        let consumer = lvscf::validate::Consumer::Lvsd;
        let mut out = std::io::stdout();
        let code = lvscf::report::check_config_command(
            &config_path,
            opts.has(Id::Json),
            consumer,
            &mut out,
        );
        std::process::exit(code);
    }
    let (test_start, nodaemon) = (opts.has(Id::TestStart), opts.has(Id::NoDaemon));
    let flags = LvsdFlags {
        verbose: opts.has(Id::Verbose),
        nodaemon,
    };
    let pid_path = PathBuf::from(opts.value(Id::PidFile).unwrap_or(daemon::pidfile::LVSD));
    // Everything that can fail at start-up fails here, on the terminal, before detaching.
    let (loaded, reconciler) = start_up_or_exit(&config_path, &pid_path, test_start);
    let mut daemonized = LVSD.become_daemon(&Mode {
        nodaemon,
        nofork: opts.has(Id::NoFork),
        pid_file: Some(pid_path.clone()),
        verbose: flags.verbose,
        notify: true,
        ..Mode::default()
    });
    for w in &loaded.warnings {
        debug!("{w}");
    }
    let notifier = daemonized.notifier.take();
    let shell = Shell::new(reconciler, pid_path.with_extension("services"))
        .map_err(|e| StartError::cannot("create the nanny status pipe", e));
    let code = shell.and_then(|mut shell| {
        shell.config_path = config_path.display().to_string();
        let mut runtime = Runtime::new(&[SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGUSR1, SIGUSR2])?;
        runtime.notifier(notifier);
        run(
            &mut runtime,
            shell,
            loaded.config,
            flags,
            test_start,
            &pid_path,
            &config_path,
        )
        // The runtime goes here, and its control socket with it.
    });
    daemonized.release();
    std::process::exit(code.unwrap_or_else(|e| {
        info!("{e}");
        Exit::Failed.code()
    }));
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
            std::process::exit(Exit::Failed.code())
        });
    if test_start {
        return (loaded, None);
    }
    match Ipvs::open() {
        Ok(i) => {
            let owned = lvsd::owned::load(&pid_path.with_extension("services"));
            (loaded, Some(Reconciler::new(i).with_owned(owned)))
        }
        Err(e) => LVSD.fail(&format!("cannot reach IPVS: {e}")),
    }
}

/// Runs the manager until it exits; its exit code.
fn run(
    runtime: &mut Runtime<Event>,
    shell: Shell,
    config: lvscf::Config,
    flags: LvsdFlags,
    test_start: bool,
    pid_path: &Path,
    config_path: &Path,
) -> Result<i32, StartError> {
    let mut listen = Listen::new(&runtime.events, &shell, config_path, pid_path)?;
    listen.serve_http(&config);
    // The operator's socket (docs/control.md).
    runtime.control_beside(pid_path, Event::Control);
    runtime.max_wait(MAX_WAIT);
    let drained = lvsd::drained::load(&shell.drained_path());
    let (manager, first) =
        Manager::start_drained(config, flags, test_start, drained, Instant::now());
    let mut driver = Driver::new(manager, shell);
    daemon::runtime::trace_from_env(&mut driver);
    if let Some(code) = driver.carry_out(first) {
        return Ok(code);
    }
    // The start-up check's buffers are freed: give the memory back to the system.
    // SAFETY: malloc_trim only releases free heap memory; no precondition.
    unsafe { libc::malloc_trim(0) };
    Ok(runtime.run(&mut driver, &mut listen))
}
