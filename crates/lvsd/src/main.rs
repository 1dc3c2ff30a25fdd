//! `lvsd`: virtual service manager and nanny supervisor (docs/legacy.md, "lvsd"). Reads
//! the options, then [`lvsd::start`] reads lvs.cf and runs [`lvsd::manager::Manager`] on
//! the daemons' runtime, with [`lvsd::shell::Shell`] carrying its actions out and
//! [`lvsd::sources::Listen`] turning what it hears into events.

use std::path::PathBuf;

use daemon::cli::Common::{self, *};
use daemon::cli::NoOwn;

/// The legacy option table (docs/legacy.md, "lvsd") plus `--check-config`, `--json`,
/// `--pidfile`: lvsd has no option the other daemons lack.
const OPTIONS: &[Common] = &[
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
];

fn main() {
    // One malloc arena: lvsd's threads (the start-up check's, the rereader, the
    // integrated monitors and their check threads) allocate little each, and an arena per
    // thread would keep megabytes of freed memory (docs/differences.md, "Integrated
    // monitors").
    // SAFETY: called first, before any thread exists; mallopt only sets a limit.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
    let opts = lvsd::start::LVSD.options_or_exit::<NoOwn>(OPTIONS, &[]);
    let config_path = PathBuf::from(
        opts.common_value(Config)
            .unwrap_or(lvscf::DEFAULT_CONFIG_PATH),
    );
    if opts.common(CheckConfig) {
        let consumer = lvscf::validate::Consumer::Lvsd;
        let mut out = std::io::stdout();
        let code = lvscf::report::check_config_command(
            &config_path,
            opts.common(Json),
            consumer,
            &mut out,
        );
        std::process::exit(code);
    }
    let start = lvsd::start::Start {
        config_path,
        pid_path: PathBuf::from(opts.common_value(PidFile).unwrap_or(daemon::pidfile::LVSD)),
        test_start: opts.common(TestStart),
        flags: lvsd::monitor_spec::LvsdFlags {
            verbose: opts.common(Verbose),
            nodaemon: opts.common(NoDaemon),
        },
        nofork: opts.common(NoFork),
    };
    std::process::exit(start.run());
}
