//! `pulse`: director heartbeat and VIP takeover (docs/legacy.md, "pulse"). Reads the
//! options and lvs.cf, works out the role, binds the heartbeat sockets, then runs
//! [`pulse::machine::Pulse`] on the daemons' runtime, with [`pulse::shell::Shell`]
//! carrying its actions out and [`pulse::sources::Listen`] turning what it hears into
//! events.

use std::path::{Path, PathBuf};

use daemon::cli::Common::{self, *};
use daemon::cli::OptSpec;
use daemon::runtime::{Daemonized, Mode};
use log::info;
use pulse::machine::Exit;
use pulse::settings::{StartupError, Switches};
use pulse::shell::{self, Children};
use pulse::start::PULSE;

/// pulse's own options (docs/legacy.md, "pulse").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Own {
    NoRun,
    ForceActive,
    Lvsd,
    Fos,
}

/// The legacy popt table plus `--check-config`, `--json` and `--pidfile`.
const COMMON: &[Common] = &[
    Config,
    NoDaemon,
    TestStart,
    Verbose,
    Version,
    Help,
    CheckConfig,
    Json,
    PidFile,
];
const OWN: &[OptSpec<Own>] = &[
    // pulse's older spelling of --test-start.
    OptSpec::flag(Own::NoRun, None, &["norun"]),
    OptSpec::flag(Own::ForceActive, None, &["forceactive"]),
    // `--lvs` is the 0.4.x spelling the man page still shows.
    OptSpec::value(Own::Lvsd, None, &["lvsd", "lvs"]),
    OptSpec::value(Own::Fos, None, &["fos"]),
];

fn main() {
    let opts = PULSE.options_or_exit(COMMON, OWN);
    let config = PathBuf::from(
        opts.common_value(Config)
            .unwrap_or(lvscf::DEFAULT_CONFIG_PATH),
    );
    if opts.common(CheckConfig) {
        let (json, consumer) = (opts.common(Json), lvscf::validate::Consumer::Pulse);
        let code =
            lvscf::report::check_config_command(&config, json, consumer, &mut std::io::stdout());
        std::process::exit(code);
    }
    let switches = Switches {
        test_start: opts.common(TestStart) || opts.own(Own::NoRun),
        force_active: opts.own(Own::ForceActive),
        nodaemon: opts.common(NoDaemon),
        verbose: opts.common(Verbose),
    };
    let pid_path = PathBuf::from(opts.common_value(PidFile).unwrap_or(daemon::pidfile::PULSE));
    let children = Children {
        lvsd: opts
            .own_value(Own::Lvsd)
            .unwrap_or("/usr/sbin/lvsd")
            .to_string(),
        fos: opts
            .own_value(Own::Fos)
            .unwrap_or("/usr/sbin/fos")
            .to_string(),
        config: config.display().to_string(),
        nodaemon: switches.nodaemon,
        verbose: switches.verbose,
        // Beside our own pid file when it is not the default (two pulses on one host).
        pid_dir: opts
            .common_value(PidFile)
            .map(|_| pid_path.parent().unwrap_or(Path::new("/")).to_path_buf()),
        pulse_socket: pid_path.with_extension("sock"),
    };
    std::process::exit(start(&config, &pid_path, switches, children));
}

fn become_daemon(switches: Switches, pid_path: &Path) -> Daemonized {
    PULSE.become_daemon(&Mode {
        nodaemon: switches.nodaemon,
        pid_file: Some(pid_path.to_path_buf()),
        verbose: switches.verbose,
        notify: true,
        ..Mode::default()
    })
}

fn start(config_path: &Path, pid_path: &Path, switches: Switches, children: Children) -> i32 {
    let c = pulse::start::load_config(config_path);
    let file = config_path.display().to_string();
    if c.is_fleet() {
        let settings = pulse::start::fleet_settings_or_exit(&c, &file, switches);
        let daemonized = become_daemon(switches, pid_path);
        return pulse::fleet::sources::run(c, settings, children, pid_path, daemonized);
    }
    let Some(settings) = pulse::start::settings_or_exit(&c, &file, switches) else {
        let _daemon = become_daemon(switches, pid_path);
        info!("STARTING PULSE AS BACKUP");
        info!("{}", StartupError::BackupInactive.legacy_text(&file));
        return Exit::BackupInactive.code();
    };
    let channels = shell::bind_channels(&settings).unwrap_or_else(|e| {
        eprintln!("pulse: failed to bind to heartbeat address: {e}");
        PULSE.fail("cannot create heartbeat socket. running as root?")
    });
    let mut daemonized = become_daemon(switches, pid_path);
    // Signals are ours from here on: a SIGHUP right after start-up must not kill pulse.
    let code = pulse::start::runtime(&mut daemonized)
        .and_then(|mut runtime| {
            pulse::start::log_start(&c, &settings);
            pulse::start::serve(&mut runtime, settings, channels, children, pid_path)
        })
        .unwrap_or_else(|e| {
            info!("{e}");
            Exit::Failed.code()
        });
    daemonized.release();
    code
}
