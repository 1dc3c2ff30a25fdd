//! Legacy command lines. The piranha daemons parsed their options with popt; operators'
//! init scripts and the argument vectors the daemons pass each other depend on its forms:
//! `-c FILE`, `-cFILE`, `--configfile FILE`, `--configfile=FILE`, bundled flags (`-nv`) and
//! `--` to end options. Errors use popt's texts in the legacy format
//! `<prog>: bad argument <opt>: <popt error>`.

/// One accepted option. `id` is what [`parse`] reports back.
#[derive(Debug, Clone, Copy)]
pub struct OptSpec<Id: Copy> {
    pub id: Id,
    pub short: Option<char>,
    /// Every long spelling (the source's and the man page's).
    pub long: &'static [&'static str],
    pub takes_value: bool,
}

impl<Id: Copy> OptSpec<Id> {
    /// An option without a value.
    pub const fn flag(id: Id, short: Option<char>, long: &'static [&'static str]) -> Self {
        OptSpec {
            id,
            short,
            long,
            takes_value: false,
        }
    }

    /// An option that takes a value.
    pub const fn value(id: Id, short: Option<char>, long: &'static [&'static str]) -> Self {
        OptSpec {
            id,
            short,
            long,
            takes_value: true,
        }
    }
}

/// The options of one command line, in order.
#[derive(Debug, Clone)]
pub struct Options<Id> {
    pub opts: Vec<Opt<Id>>,
}

impl<Id: Copy + PartialEq> Options<Id> {
    pub fn has(&self, id: Id) -> bool {
        self.opts.iter().any(|o| o.id == id)
    }

    /// The value of the last occurrence of `id` (popt: the last one wins).
    pub fn value(&self, id: Id) -> Option<&str> {
        self.opts
            .iter()
            .rev()
            .find(|o| o.id == id)
            .and_then(|o| o.value.as_deref())
    }
}

/// The options the daemons share, with the same spellings in each (docs/legacy.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Common {
    /// `-c FILE`, `--configfile FILE`.
    Config,
    /// `-n`, `--nodaemon`.
    NoDaemon,
    /// `-v`, `--verbose`.
    Verbose,
    /// `-t`, `--test-start`.
    TestStart,
    /// `--nofork`.
    NoFork,
    /// `--pidfile FILE`.
    PidFile,
    /// `--check-config`, and `--json` with it.
    CheckConfig,
    Json,
    Version,
    /// `-?`, `--help`, `--usage`.
    Help,
}

impl Common {
    fn spec<Own: Copy>(self) -> OptSpec<DaemonOpt<Own>> {
        let id = DaemonOpt::Common(self);
        match self {
            Common::Config => OptSpec::value(id, Some('c'), &["configfile"]),
            Common::NoDaemon => OptSpec::flag(id, Some('n'), &["nodaemon"]),
            Common::Verbose => OptSpec::flag(id, Some('v'), &["verbose"]),
            Common::TestStart => OptSpec::flag(id, Some('t'), &["test-start"]),
            Common::NoFork => OptSpec::flag(id, None, &["nofork"]),
            Common::PidFile => OptSpec::value(id, None, &["pidfile"]),
            Common::CheckConfig => OptSpec::flag(id, None, &["check-config"]),
            Common::Json => OptSpec::flag(id, None, &["json"]),
            Common::Version => OptSpec::flag(id, None, &["version"]),
            Common::Help => OptSpec::flag(id, Some('?'), &["help", "usage"]),
        }
    }
}

/// One of a daemon's options: a shared one, or one of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaemonOpt<Own> {
    Common(Common),
    Own(Own),
}

/// A daemon without options of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoOwn {}

/// A daemon's option table: the shared options it takes, then its own.
pub fn table<Own: Copy>(common: &[Common], own: &[OptSpec<Own>]) -> Vec<OptSpec<DaemonOpt<Own>>> {
    let own = own.iter().map(|o| OptSpec {
        id: DaemonOpt::Own(o.id),
        short: o.short,
        long: o.long,
        takes_value: o.takes_value,
    });
    common.iter().map(|c| c.spec()).chain(own).collect()
}

impl<Own: Copy + PartialEq> Options<DaemonOpt<Own>> {
    /// Whether a shared option was given.
    pub fn common(&self, c: Common) -> bool {
        self.has(DaemonOpt::Common(c))
    }

    /// A shared option's value.
    pub fn common_value(&self, c: Common) -> Option<&str> {
        self.value(DaemonOpt::Common(c))
    }

    pub fn own(&self, o: Own) -> bool {
        self.has(DaemonOpt::Own(o))
    }

    pub fn own_value(&self, o: Own) -> Option<&str> {
        self.value(DaemonOpt::Own(o))
    }
}

/// Parses the process's own arguments; on error prints the legacy message for `prog` to
/// stderr and exits 1, as the legacy daemons did.
pub(crate) fn parse_args_or_exit<Id: Copy>(prog: &str, specs: &[OptSpec<Id>]) -> Options<Id> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse(specs, &args) {
        Ok(opts) => Options { opts },
        Err(e) => {
            eprintln!("{}", e.legacy_message(prog));
            std::process::exit(1);
        }
    }
}

/// A recognised option and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opt<Id> {
    pub id: Id,
    pub value: Option<String>,
}

/// Why a command line was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CliError {
    /// popt: "unknown option".
    Unknown(String),
    /// popt: "missing argument".
    MissingValue(String),
    /// A long flag given `=value`.
    UnexpectedValue(String),
    /// Words that are not options (legacy: `<prog>: unexpected arguments`).
    Stray(Vec<String>),
}

impl CliError {
    /// The legacy message for `prog`.
    pub fn legacy_message(&self, prog: &str) -> String {
        match self {
            CliError::Unknown(o) => format!("{prog}: bad argument {o}: unknown option"),
            CliError::MissingValue(o) => format!("{prog}: bad argument {o}: missing argument"),
            CliError::UnexpectedValue(o) => {
                format!("{prog}: bad argument {o}: option does not take an argument")
            }
            CliError::Stray(_) => format!("{prog}: unexpected arguments"),
        }
    }
}

/// Parses `args` (without the program name).
pub fn parse<Id: Copy>(specs: &[OptSpec<Id>], args: &[String]) -> Result<Vec<Opt<Id>>, CliError> {
    let mut out = Vec::new();
    let mut stray = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            stray.extend(args[i..].iter().cloned());
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let spec = specs
                .iter()
                .find(|s| s.long.contains(&name))
                .ok_or_else(|| CliError::Unknown(arg.clone()))?;
            let value = if spec.takes_value {
                match inline {
                    Some(v) => Some(v),
                    None => {
                        let v = args
                            .get(i)
                            .cloned()
                            .ok_or_else(|| CliError::MissingValue(arg.clone()))?;
                        i += 1;
                        Some(v)
                    }
                }
            } else if inline.is_some() {
                return Err(CliError::UnexpectedValue(arg.clone()));
            } else {
                None
            };
            out.push(Opt { id: spec.id, value });
        } else if arg.len() > 1 && arg.starts_with('-') {
            // Bundled short options: -nv, -cFILE, -c FILE.
            let chars: Vec<char> = arg[1..].chars().collect();
            let mut j = 0;
            while j < chars.len() {
                let c = chars[j];
                j += 1;
                let spec = specs
                    .iter()
                    .find(|s| s.short == Some(c))
                    .ok_or_else(|| CliError::Unknown(format!("-{c}")))?;
                let value = if spec.takes_value {
                    if j < chars.len() {
                        let v: String = chars[j..].iter().collect();
                        j = chars.len();
                        Some(v)
                    } else {
                        let v = args
                            .get(i)
                            .cloned()
                            .ok_or_else(|| CliError::MissingValue(format!("-{c}")))?;
                        i += 1;
                        Some(v)
                    }
                } else {
                    None
                };
                out.push(Opt { id: spec.id, value });
            }
        } else {
            stray.push(arg.clone());
        }
    }
    if !stray.is_empty() {
        return Err(CliError::Stray(stray));
    }
    Ok(out)
}

/// The legacy `--version` text: `Program Version:\t<name> <version>` and so on.
pub fn version_text(component: &str) -> String {
    format!(
        "Program Version:\t{component}\nBuilt:\t\t\t(piranha-rs {})\nA component of:\t\tpiranha-0.8.6-1 (Rust drop-in replacement)\n",
        env!("CARGO_PKG_VERSION")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Id {
        Config,
        NoDaemon,
        Verbose,
        Lvsd,
    }

    const SPECS: &[OptSpec<Id>] = &[
        OptSpec {
            id: Id::Config,
            short: Some('c'),
            long: &["configfile"],
            takes_value: true,
        },
        OptSpec {
            id: Id::NoDaemon,
            short: Some('n'),
            long: &["nodaemon"],
            takes_value: false,
        },
        OptSpec {
            id: Id::Verbose,
            short: Some('v'),
            long: &["verbose"],
            takes_value: false,
        },
        OptSpec {
            id: Id::Lvsd,
            short: None,
            long: &["lvsd", "lvs"],
            takes_value: true,
        },
    ];

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn ids(s: &str) -> Vec<(Id, Option<String>)> {
        parse(SPECS, &args(s))
            .unwrap()
            .into_iter()
            .map(|o| (o.id, o.value))
            .collect()
    }

    #[test]
    fn every_value_form_is_accepted() {
        let want = vec![(Id::Config, Some("/x".to_string()))];
        assert_eq!(ids("-c /x"), want);
        assert_eq!(ids("-c/x"), want);
        assert_eq!(ids("--configfile /x"), want);
        assert_eq!(ids("--configfile=/x"), want);
    }

    #[test]
    fn bundled_flags_and_aliases() {
        assert_eq!(ids("-nv"), vec![(Id::NoDaemon, None), (Id::Verbose, None)]);
        assert_eq!(
            ids("-nc /x"),
            vec![(Id::NoDaemon, None), (Id::Config, Some("/x".into()))]
        );
        assert_eq!(ids("--lvs=/a"), vec![(Id::Lvsd, Some("/a".into()))]);
        assert_eq!(ids("--lvsd /a"), vec![(Id::Lvsd, Some("/a".into()))]);
    }

    #[test]
    fn errors_use_the_legacy_texts() {
        let err = |s: &str| parse(SPECS, &args(s)).unwrap_err().legacy_message("pulse");
        assert_eq!(
            err("--bogus"),
            "pulse: bad argument --bogus: unknown option"
        );
        assert_eq!(err("-x"), "pulse: bad argument -x: unknown option");
        assert_eq!(err("-c"), "pulse: bad argument -c: missing argument");
        assert_eq!(
            err("--configfile"),
            "pulse: bad argument --configfile: missing argument"
        );
        assert_eq!(err("stray"), "pulse: unexpected arguments");
        assert_eq!(err("-- -n"), "pulse: unexpected arguments");
        assert_eq!(
            err("--nodaemon=1"),
            "pulse: bad argument --nodaemon=1: option does not take an argument"
        );
    }
}
