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
    OptSpec {
        id: Id::Config,
        short: Some('c'),
        long: &["configfile"],
        takes_value: true,
    },
    OptSpec {
        id: Id::Verbose,
        short: Some('v'),
        long: &["verbose"],
        takes_value: false,
    },
    OptSpec {
        id: Id::NoDaemon,
        short: Some('n'),
        long: &["nodaemon"],
        takes_value: false,
    },
    OptSpec {
        id: Id::TestStart,
        short: Some('t'),
        long: &["test-start"],
        takes_value: false,
    },
    OptSpec {
        id: Id::NoFork,
        short: None,
        long: &["nofork"],
        takes_value: false,
    },
    OptSpec {
        id: Id::Version,
        short: None,
        long: &["version"],
        takes_value: false,
    },
    OptSpec {
        id: Id::Help,
        short: Some('?'),
        long: &["help", "usage"],
        takes_value: false,
    },
    OptSpec {
        id: Id::CheckConfig,
        short: None,
        long: &["check-config"],
        takes_value: false,
    },
    OptSpec {
        id: Id::Json,
        short: None,
        long: &["json"],
        takes_value: false,
    },
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
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Legacy lvsd prints its messages as `lvs: ...`.
    let opts = match cli::parse(OPTIONS, &args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{}", e.legacy_message("lvs"));
            std::process::exit(1);
        }
    };
    let has = |id| opts.iter().any(|o| o.id == id);
    let config = opts
        .iter()
        .rev()
        .find(|o| o.id == Id::Config)
        .and_then(|o| o.value.clone())
        .unwrap_or_else(|| lvscf::DEFAULT_CONFIG_PATH.to_string());
    if has(Id::Help) {
        print!("{USAGE}");
        return;
    }
    if has(Id::Version) {
        print!("{}", cli::version_text("lvs 1.38"));
        return;
    }
    if has(Id::CheckConfig) {
        let code = lvscf::report::check_config_command(
            &PathBuf::from(&config),
            has(Id::Json),
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
