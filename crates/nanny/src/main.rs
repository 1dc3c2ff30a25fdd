//! The nanny process: reads the legacy command line, then runs the
//! [`nanny::schedule::Nanny`] core on the daemons' runtime, with [`nanny::shell::Shell`]
//! carrying its actions out (probes, load queries, IPVS changes through
//! [`nanny::southbound`], reports to lvsd).

use std::time::{Duration, Instant};

use daemon::driver::Driver;
use daemon::event_loop::EventLoop;
use daemon::runtime::{Legacy, Mode, Runtime, StartError};
use log::info;
use nanny::check::Check;
use nanny::monitor::{Monitor, Settings};
use nanny::schedule::{Event, Nanny};
use nanny::shell::{Listen, Shell, PROBED};
use nanny::southbound::Southbound;
use nanny::spec::{self, Command, MonitorSpec};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};

const NANNY: Legacy = Legacy {
    prog: "nanny",
    ident: "nanny",
    stdout_prefix: None,
    version: "nanny 1.46",
    usage: spec::USAGE,
};

fn main() {
    // One malloc arena: the probe thread allocates little, and an arena of its own would
    // cost each of hundreds of nannies about 100 KiB.
    // SAFETY: called first, before any thread exists; mallopt only sets a limit.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = match spec::parse(&args) {
        Ok(Command::Help) => {
            print!("{}", NANNY.usage);
            return;
        }
        Ok(Command::Version) => {
            print!("{}", daemon::cli::version_text(NANNY.version));
            return;
        }
        Ok(Command::Run(o)) => *o,
        Err(msg) => {
            eprintln!("{msg}");
            std::process::exit(nanny::monitor::Exit::Failed.code());
        }
    };
    // Before anything else runs: the channel is hidden from the programs nanny starts.
    let channel = nanny::availability::Channel::from_env();
    NANNY.become_daemon(&Mode {
        nodaemon: o.nodaemon,
        nofork: o.nofork,
        verbose: o.verbose,
        syslog_in_foreground: true,
        ..Mode::default()
    });
    std::process::exit(run(o, channel).unwrap_or_else(|msg| {
        info!("{msg}");
        nanny::monitor::Exit::Failed.code()
    }));
}

fn run(o: MonitorSpec, channel: Option<nanny::availability::Channel>) -> Result<i32, StartError> {
    // First: a SIGTERM during start-up (lvsd stopping us, or dying) must still lead to
    // the clean-up of an entry adopted below, not to the default action.
    let mut runtime = Runtime::new(&[SIGTERM, SIGINT, SIGUSR1, SIGUSR2, SIGHUP])?;
    let (check, notes) = Check::from_options(&o);
    for n in notes {
        info!("{n}");
    }
    info!("{}", spec::start_line(&o));
    let (monitor, shell) = core_and_shell(&o, check, channel, &runtime.events)?;
    let mut driver = Driver::new(Nanny::new(monitor, Instant::now()), shell);
    daemon::runtime::trace_from_env(&mut driver);
    let existing = driver
        .exec
        .southbound
        .as_mut()
        .and_then(|sb| sb.existing_weight());
    if let Some(w) = existing {
        if let Some(code) = driver.dispatch(Event::Adopt(w)) {
            return Ok(code);
        }
    }
    Ok(runtime.run(&mut driver, &mut Listen))
}

/// The monitor, and the shell that carries its actions out: the IPVS target, the probe
/// thread (watched by the event loop), the channel to lvsd.
fn core_and_shell(
    o: &MonitorSpec,
    check: Check,
    channel: Option<nanny::availability::Channel>,
    events: &EventLoop,
) -> Result<(Monitor, Shell), StartError> {
    let server = std::net::SocketAddr::new(o.server, o.rport).to_string();
    let southbound = Southbound::for_options(o, None)?;
    let load_argv = nanny::load::load_argv(o.load_query(), &o.server.to_string());
    let monitor = Monitor::new(Settings::of_options(o, load_argv.is_some(), server));
    let interval = Duration::from_secs(o.interval.into());
    let worker = nanny::shell::start_worker(check, load_argv, interval, o.server.to_string())
        .map_err(|e| format!("cannot start the probe thread: {e}"))?;
    events
        .register(worker.done_fd(), PROBED)
        .map_err(|e| format!("cannot watch the probe thread: {e}"))?;
    let shell = Shell {
        worker,
        southbound,
        channel,
    };
    Ok((monitor, shell))
}
