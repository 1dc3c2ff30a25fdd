//! `lvsd`: virtual service manager and nanny supervisor (docs/legacy.md, "lvsd"). Reads
//! the options, then [`lvsd::start`] reads lvs.cf and runs [`lvsd::manager::Manager`] on
//! the daemons' runtime, with [`lvsd::shell::Shell`] carrying its actions out and
//! [`lvsd::sources::Listen`] turning what it hears into events.

use std::path::PathBuf;

use daemon::cli::OptSpec;

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

fn main() {
    // One malloc arena: lvsd's threads (the start-up check's, the rereader, the
    // integrated monitors and their check threads) allocate little each, and an arena per
    // thread would keep megabytes of freed memory (docs/differences.md, "Integrated
    // monitors").
    // SAFETY: called first, before any thread exists; mallopt only sets a limit.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
    let opts = lvsd::start::LVSD.options_or_exit(OPTIONS, Id::Help, Id::Version);
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
    let start = lvsd::start::Start {
        config_path,
        pid_path: PathBuf::from(opts.value(Id::PidFile).unwrap_or(daemon::pidfile::LVSD)),
        test_start: opts.has(Id::TestStart),
        flags: lvsd::monitor_spec::LvsdFlags {
            verbose: opts.has(Id::Verbose),
            nodaemon: opts.has(Id::NoDaemon),
        },
        nofork: opts.has(Id::NoFork),
    };
    std::process::exit(start.run());
}
