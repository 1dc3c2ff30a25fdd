//! `pulse`: director heartbeat and VIP takeover (docs/legacy.md, "pulse"). This release implements
//! the legacy command line and `--check-config`; the daemon itself comes with its issue.

use std::path::PathBuf;

use daemon::cli::{self, OptSpec};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Id {
    Config,
    NoDaemon,
    TestStart,
    Verbose,
    ForceActive,
    Lvsd,
    Fos,
    Version,
    Help,
    CheckConfig,
    Json,
}

/// The legacy popt table (docs/legacy.md, "pulse") plus `--check-config` and `--json`.
const OPTIONS: &[OptSpec<Id>] = &[
    OptSpec::value(Id::Config, Some('c'), &["configfile"]),
    OptSpec::flag(Id::NoDaemon, Some('n'), &["nodaemon"]),
    OptSpec::flag(Id::TestStart, Some('t'), &["test-start", "norun"]),
    OptSpec::flag(Id::Verbose, Some('v'), &["verbose"]),
    OptSpec::flag(Id::ForceActive, None, &["forceactive"]),
    // `--lvs` is the 0.4.x spelling the man page still shows.
    OptSpec::value(Id::Lvsd, None, &["lvsd", "lvs"]),
    OptSpec::value(Id::Fos, None, &["fos"]),
    OptSpec::flag(Id::Version, None, &["version"]),
    OptSpec::flag(Id::Help, Some('?'), &["help", "usage"]),
    OptSpec::flag(Id::CheckConfig, None, &["check-config"]),
    OptSpec::flag(Id::Json, None, &["json"]),
];

const USAGE: &str = "Usage: pulse [OPTION...]
  -c, --configfile=FILE   configuration file (default /etc/sysconfig/ha/lvs.cf)
  -n, --nodaemon          run in the foreground, log to stdout
  -t, --test-start        do not start lvsd/fos (also --norun)
  -v, --verbose           debug logging
      --forceactive       become active at start
      --lvsd=PATH         lvsd program (also --lvs)
      --fos=PATH          fos program
      --check-config      check the configuration file and print a summary
      --json              with --check-config: print the parsed model as JSON
      --version           print the version
  -?, --help              this text
";

fn main() {
    let opts = cli::parse_args_or_exit("pulse", OPTIONS);
    let config = opts
        .value(Id::Config)
        .unwrap_or(lvscf::DEFAULT_CONFIG_PATH)
        .to_string();
    if opts.has(Id::Help) {
        print!("{USAGE}");
        return;
    }
    if opts.has(Id::Version) {
        print!("{}", cli::version_text("pulse 1.56"));
        return;
    }
    if opts.has(Id::CheckConfig) {
        let code = lvscf::report::check_config_command(
            &PathBuf::from(&config),
            opts.has(Id::Json),
            lvscf::validate::Consumer::Pulse,
            &mut std::io::stdout(),
        );
        std::process::exit(code);
    }
    eprintln!(
        "pulse: the heartbeat daemon is not part of this release yet; \
         `pulse --check-config -c {config}` checks the configuration"
    );
    std::process::exit(1);
}
