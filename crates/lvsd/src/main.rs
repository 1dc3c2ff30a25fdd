//! `lvsd`: virtual service manager and nanny supervisor (reference §3). This release
//! implements the legacy command line and `--check-config`; the daemon itself comes with
//! its issue.

use std::path::PathBuf;

use daemon::cli::{self, OptSpec};

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
}

/// The legacy option table (reference §3.1) plus `--check-config` and `--json`.
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
];

const USAGE: &str = "Usage: lvsd [OPTION...]
  -c, --configfile=FILE   configuration file (default /etc/sysconfig/ha/lvs.cf)
  -v, --verbose           pass -v to every nanny
  -n, --nodaemon          run in the foreground, log to stdout
  -t, --test-start        do not change IPVS, do not start nannies
      --nofork            daemon mode without forking (how pulse starts lvsd)
      --check-config      check the configuration file and print a summary
      --json              with --check-config: print the parsed model as JSON
      --version           print the version
  -?, --help              this text
";

fn main() {
    // Legacy lvsd prints its messages as `lvs: ...`.
    let opts = cli::parse_args_or_exit("lvs", OPTIONS);
    let config = opts
        .value(Id::Config)
        .unwrap_or(lvscf::DEFAULT_CONFIG_PATH)
        .to_string();
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
            &PathBuf::from(&config),
            opts.has(Id::Json),
            lvscf::validate::Consumer::Lvsd,
            &mut std::io::stdout(),
        );
        std::process::exit(code);
    }
    eprintln!(
        "lvs: the virtual service manager is not part of this release yet; \
         `lvsd --check-config -c {config}` checks the configuration"
    );
    std::process::exit(1);
}
