//! The nanny process: the IO shell around [`nanny::monitor::Monitor`]. Probes run on a
//! fixed-rate timer (every `interval` seconds, start to start, so a failure is seen at
//! most interval + timeout after it happens); signals arrive through a channel; IPVS
//! changes go through [`nanny::southbound`].

use std::time::{Duration, Instant};

use daemon::log::{Logger, Sinks};
use daemon::signals::Signals;
use nanny::check::Check;
use nanny::monitor::{Action, Event, Mode, Monitor, Settings};
use nanny::options::{self, Command, Options};
use nanny::southbound::{Backend, Southbound, Target};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};

fn main() {
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
    let channel = nanny::status::Channel::from_env();
    if !o.nodaemon {
        daemon::detach(o.nofork);
    }
    let log = Logger::new(
        "nanny",
        Sinks {
            stdout: o.nodaemon,
            syslog: true,
        },
        o.verbose,
    );
    std::process::exit(run(o, &log, channel));
}

fn run(o: Options, log: &Logger, mut channel: Option<nanny::status::Channel>) -> i32 {
    // First: a SIGTERM during start-up (lvsd stopping us, or dying) must still lead to
    // the clean-up of an entry adopted below, not to the default action.
    let signals = match Signals::install(&[SIGTERM, SIGINT, SIGUSR1, SIGUSR2, SIGHUP]) {
        Ok(s) => Some(s),
        Err(e) => {
            log.info(&format!("cannot install signal handlers: {e}"));
            None
        }
    };
    let server = std::net::SocketAddr::new(o.server, o.rport).to_string();
    let (probe, notes) = Check::from_options(&o);
    for n in notes {
        log.info(&n);
    }
    let vip = o.virtual_address.clone().unwrap_or_else(|| "(null)".into());
    match o.mode {
        Mode::Fos => log.info(&format!(
            "Failover service monitor for {vip}:{} started",
            o.port
        )),
        Mode::Lvs => log.info(&format!(
            "starting LVS client monitor for {vip}:{} -> {server}",
            o.port
        )),
    }
    let mut southbound = if o.mode == Mode::Fos {
        None
    } else {
        let target = match Target::from_options(&o) {
            Ok(t) => t,
            Err(msg) => {
                log.info(&msg);
                return 1;
            }
        };
        let backend = if o.test_start {
            Backend::DryRun
        } else if o.ipvsadm != lvscf::DEFAULT_IPVSADM {
            Backend::Wrapper(o.ipvsadm.clone())
        } else {
            match ipvs::Ipvs::open() {
                Ok(i) => Backend::Netlink(i),
                Err(e) => {
                    log.info(&format!("cannot reach IPVS: {e}"));
                    return 1;
                }
            }
        };
        Some(Southbound { target, backend })
    };
    let load_argv = nanny::load::load_argv(&o.load_cmd, &o.server.to_string());
    let mut monitor = Monitor::new(Settings {
        mode: o.mode,
        weight: o.weight,
        interval: o.interval,
        reentry: o.reentry,
        quiesce: o.quiesce,
        scale: o.scale,
        retries: o.retries,
        load_monitoring: load_argv.is_some(),
        server: server.clone(),
    });

    if let Some(sb) = southbound.as_mut() {
        if let Some(w) = sb.existing_weight() {
            for a in monitor.adopt(w) {
                match a {
                    Action::Debug(m) => log.debug(&m),
                    ipvs_action => {
                        if let Err(msg) = sb.apply(&ipvs_action) {
                            log.info(&msg);
                        }
                    }
                }
            }
        }
    }

    let interval = Duration::from_secs(o.interval.into());
    let mut next = Instant::now();
    let mut resync = false;
    loop {
        let wait = next.saturating_duration_since(Instant::now());
        let event = match signals.as_ref().and_then(|s| s.wait(wait)) {
            Some(sig) => Some(match sig {
                SIGUSR1 => Event::ForceDown,
                SIGUSR2 => Event::ForceUp,
                SIGHUP => Event::Resume,
                _ => {
                    log.info(&format!("Terminating due to signal {sig}"));
                    Event::Terminate
                }
            }),
            None => {
                if signals.is_none() {
                    std::thread::sleep(wait);
                }
                if Instant::now() < next {
                    continue;
                }
                None
            }
        };
        let event = match event {
            Some(e) => e,
            None => {
                next += interval;
                if next < Instant::now() {
                    next = Instant::now();
                }
                if monitor.probing_suspended() {
                    continue;
                }
                if resync {
                    // An earlier IPVS change failed: restore what the monitor believes.
                    resync = false;
                    for a in monitor.resync() {
                        if let Err(msg) = southbound.as_mut().map_or(Ok(()), |s| s.apply(&a)) {
                            log.info(&msg);
                            resync = true;
                        }
                    }
                }
                let outcome = probe.run();
                if let Err(msg) = &outcome {
                    // Legacy logged every failed probe (`CONNECT to ... timed out`, ...).
                    log.info(msg);
                }
                Event::Probe {
                    ok: outcome.is_ok(),
                }
            }
        };
        let mut queue: std::collections::VecDeque<Action> = monitor.handle(event).into();
        while let Some(action) = queue.pop_front() {
            match action {
                Action::Log(m) => log.info(&m),
                Action::Debug(m) => log.debug(&m),
                Action::Exit(code) => return code,
                Action::QueryLoad => {
                    let reading = match &load_argv {
                        Some(argv) => match nanny::load::read_load(argv, interval) {
                            Ok(l) => {
                                log.debug(&format!("Loadavg of {} is {l}", o.server));
                                Some(l)
                            }
                            Err(msg) => {
                                log.info(&msg);
                                None
                            }
                        },
                        None => None,
                    };
                    queue.extend(monitor.handle(Event::Load(reading)));
                }
                ipvs_action => {
                    if let Some(sb) = southbound.as_mut() {
                        if let Err(msg) = sb.apply(&ipvs_action) {
                            log.info(&msg);
                            resync = true;
                        }
                    }
                }
            }
        }
        if let (Some(c), Mode::Lvs) = (channel.as_mut(), o.mode) {
            c.report(monitor.is_active());
        }
    }
}
