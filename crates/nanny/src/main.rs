//! The nanny process: reads the legacy command line, then runs the
//! [`nanny::schedule::Nanny`] core on `daemon`'s event loop and driver, with
//! [`nanny::shell::Shell`] carrying its actions out (probes, load queries, IPVS changes
//! through [`nanny::southbound`], reports to lvsd).

use std::time::{Duration, Instant};

use daemon::driver::Driver;
use daemon::event_loop::{EventLoop, Ready};
use daemon::log::{LegacyLog, Sinks};
use log::info;
use nanny::check::Check;
use nanny::monitor::{self, Monitor, Settings};
use nanny::options::{self, Command, Options};
use nanny::schedule::{Event, Nanny};
use nanny::shell::Shell;
use nanny::southbound::Southbound;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};

/// The event loop's token for the probe thread's "done" pipe.
const PROBED: usize = 0;

fn main() {
    // One malloc arena: the probe thread allocates little, and an arena of its own would
    // cost each of hundreds of nannies about 100 KiB.
    // SAFETY: called first, before any thread exists; mallopt only sets a limit.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = match options::parse(&args) {
        Ok(Command::Help) => {
            print!("{}", options::USAGE);
            return;
        }
        Ok(Command::Version) => {
            print!("{}", daemon::cli::version_text("nanny 1.46"));
            return;
        }
        Ok(Command::Run(o)) => *o,
        Err(msg) => {
            eprintln!("{msg}");
            std::process::exit(1);
        }
    };
    // Before anything else runs: the channel is hidden from the programs nanny starts.
    let channel = nanny::availability::Channel::from_env();
    if !o.nodaemon {
        daemon::detach(o.nofork);
    }
    let sinks = Sinks {
        stdout: o.nodaemon,
        syslog: true,
    };
    LegacyLog::new("nanny", sinks, o.verbose).install();
    std::process::exit(run(o, channel));
}

fn run(o: Options, channel: Option<nanny::availability::Channel>) -> i32 {
    // First: a SIGTERM during start-up (lvsd stopping us, or dying) must still lead to
    // the clean-up of an entry adopted below, not to the default action.
    let mut events = match EventLoop::new(&[SIGTERM, SIGINT, SIGUSR1, SIGUSR2, SIGHUP]) {
        Ok(l) => l,
        Err(e) => {
            info!("cannot install signal handlers: {e}");
            return 1;
        }
    };
    let server = std::net::SocketAddr::new(o.server, o.rport).to_string();
    let (check, notes) = Check::from_options(&o);
    for n in notes {
        info!("{n}");
    }
    info!("{}", nanny::options::start_line(&o));
    let (monitor, shell) = match core_and_shell(&o, check, server, channel, &events) {
        Ok(pair) => pair,
        Err(msg) => {
            info!("{msg}");
            return 1;
        }
    };
    let mut driver = Driver::new(Nanny::new(monitor, Instant::now()), shell);
    let existing = driver
        .exec
        .southbound
        .as_mut()
        .and_then(|sb| sb.existing_weight());
    if let Some(w) = existing {
        let adopt = driver.core.adopt(w);
        driver.carry_out(adopt);
    }
    loop {
        let ready = events.wait(driver.next_deadline()).unwrap_or_default();
        for r in ready {
            let events = match r {
                Ready::Signal(sig) => vec![Event::Monitor(monitor::Event::of_signal(sig))],
                Ready::Source(PROBED) => driver.exec.worker.finished(),
                _ => vec![Event::Tick],
            };
            for event in events {
                if let Some(code) = driver.dispatch(event) {
                    return code;
                }
            }
        }
    }
}

/// The monitor, and the shell that carries its actions out: the IPVS target, the probe
/// thread (watched by the event loop), the channel to lvsd.
fn core_and_shell(
    o: &Options,
    check: Check,
    server: String,
    channel: Option<nanny::availability::Channel>,
    events: &EventLoop,
) -> Result<(Monitor, Shell), String> {
    let southbound = Southbound::for_options(o, None)?;
    let load_argv = nanny::load::load_argv(&o.load_cmd, &o.server.to_string());
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
