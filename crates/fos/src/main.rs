//! `fos`: failover services (docs/legacy.md, "fos"). Reads the options and lvs.cf, then
//! runs [`fos::machine::Fos`] on the daemons' runtime, with [`fos::shell::Shell`]
//! carrying its actions out.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use daemon::cli::Common::{self, *};
use daemon::cli::OptSpec;
use daemon::driver::Driver;
use daemon::runtime::{Legacy, Mode as DaemonMode, Runtime, StartError};
use fos::machine::{Exit, Fos, Mode};
use fos::service::Service;
use fos::shell::{Flags, Listen, Shell};
use log::info;
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM};

/// fos's own options (docs/legacy.md, "fos").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Own {
    Monitor,
    Active,
}

/// The legacy option table plus `--pidfile`.
const COMMON: &[Common] = &[
    Config, NoDaemon, Verbose, TestStart, NoFork, Version, Help, PidFile,
];
const OWN: &[OptSpec<Own>] = &[
    OptSpec::flag(Own::Monitor, Some('f'), &["monitor"]),
    OptSpec::flag(Own::Active, Some('F'), &["active"]),
];

const FOS: Legacy = Legacy {
    prog: "fos",
    ident: "fos",
    stdout_prefix: None,
    version: "fos 1.13",
    usage: "Usage: fos --monitor|--active [OPTION...]
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
",
};

fn main() {
    let opts = FOS.options_or_exit(COMMON, OWN);
    let mode = match (opts.own(Own::Monitor), opts.own(Own::Active)) {
        (true, false) => Mode::Monitor,
        (false, true) => Mode::Active,
        _ => FOS.fail("exactly one of --monitor and --active must be given"),
    };
    let flags = Flags {
        verbose: opts.common(Verbose),
        nodaemon: opts.common(NoDaemon),
        test_start: opts.common(TestStart),
    };
    let config = load(&PathBuf::from(
        opts.common_value(Config)
            .unwrap_or(lvscf::DEFAULT_CONFIG_PATH),
    ));
    let mut daemonized = FOS.become_daemon(&DaemonMode {
        nodaemon: flags.nodaemon,
        nofork: opts.common(NoFork),
        pid_file: Some(
            opts.common_value(PidFile)
                .unwrap_or(daemon::pidfile::FOS)
                .into(),
        ),
        verbose: flags.verbose,
        ..DaemonMode::default()
    });
    let code = run(mode, &config, flags).unwrap_or_else(|e| {
        info!("{e}");
        Exit::StartFailed.code()
    });
    daemonized.release();
    std::process::exit(code);
}

/// lvs.cf, or the legacy refusal (`fos: error parsing FILE on line N.`).
fn load(path: &Path) -> lvscf::Config {
    match lvscf::parse_file(path, &lvscf::ParseOptions::default()) {
        Ok(p) => p.config,
        Err(f) => {
            let e = f.first_error();
            if e.code == lvscf::Code::Read {
                FOS.fail(&format!("failed to open {}", path.display()));
            }
            eprintln!("fos: error parsing {} on line {}.", path.display(), e.line);
            FOS.fail(&e.to_string())
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

/// Runs the machine until it exits; its exit code.
fn run(mode: Mode, c: &lvscf::Config, flags: Flags) -> Result<i32, StartError> {
    let partner = partner_of(c);
    let (argv, services): (Vec<_>, Vec<Service>) = c
        .failovers
        .iter()
        .filter_map(|v| Service::of(v).map(|s| (fos::shell::monitor_argv(v, partner, flags), s)))
        .unzip();
    let mut runtime = Runtime::new(&[SIGTERM, SIGINT, SIGHUP, SIGCHLD])?;
    let shell = Shell::new(&runtime.events, argv, flags)?;
    let mut driver = Driver::new(Fos::new(mode, services), shell);
    daemon::runtime::trace_from_env(&mut driver);
    if let Some(code) = driver.dispatch(fos::machine::Event::Start) {
        return Ok(code);
    }
    Ok(runtime.run(&mut driver, &mut Listen))
}
