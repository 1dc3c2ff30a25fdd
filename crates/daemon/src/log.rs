//! The legacy log sinks as a [`log::Log`]: libraries and daemons log through the `log`
//! facade (`log::info!`, `log::debug!`), and a daemon installs this logger at start-up.
//!
//! Legacy behaviour (docs/legacy.md, "Logging"): syslog with ident `<name>`, `LOG_PID`,
//! `LOG_DAEMON`, every message at `LOG_INFO`; and, in the foreground, one line per message
//! on stdout as `<prefix>: <message>`, truncated to 255 characters. Debug messages are
//! the legacy `-v` ones: shown only with `-v`.
//!
//! Legacy passed the message as syslog's format string, so a `%` in a name or argument
//! was interpreted; here the format is always `"%s"` (docs/differences.md).

use std::ffi::CString;
use std::io::Write;
use std::sync::Mutex;

/// Where messages go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sinks {
    pub stdout: bool,
    pub syslog: bool,
}

pub(crate) struct LegacyLog {
    /// The stdout prefix (the syslog ident is set once, at `new`).
    prefix: String,
    sinks: Sinks,
    verbose: bool,
    /// Lines written to stdout, kept instead when capturing (tests).
    captured: Option<Mutex<Vec<String>>>,
}

const LEGACY_MAX: usize = 255;

impl LegacyLog {
    /// `name` is the syslog ident and the stdout prefix (`nanny`, `lvsd`, `pulse`).
    pub fn new(name: &str, sinks: Sinks, verbose: bool) -> LegacyLog {
        if sinks.syslog {
            // openlog keeps the pointer: the ident must live for the whole process.
            let ident: &'static CString =
                Box::leak(Box::new(CString::new(name).unwrap_or_default()));
            // SAFETY: ident is a valid C string that is never freed.
            unsafe { libc::openlog(ident.as_ptr(), libc::LOG_PID, libc::LOG_DAEMON) };
        }
        LegacyLog {
            prefix: name.to_string(),
            sinks,
            verbose,
            captured: None,
        }
    }

    /// Uses another stdout prefix than the syslog ident (lvsd logs as `lvsd` to syslog
    /// and prints `lvs: ...`, legacy's name from before 0.8.0).
    pub(crate) fn with_stdout_prefix(mut self, prefix: &str) -> LegacyLog {
        self.prefix = prefix.to_string();
        self
    }

    /// A logger that records stdout lines instead of printing them (tests).
    #[cfg(test)]
    pub(crate) fn capturing(name: &str, verbose: bool) -> LegacyLog {
        LegacyLog {
            prefix: name.to_string(),
            sinks: Sinks {
                stdout: true,
                syslog: false,
            },
            verbose,
            captured: Some(Mutex::new(Vec::new())),
        }
    }

    /// Makes this the process's logger: `info` and above always, `debug` with `-v`.
    pub fn install(self) {
        let level = if self.verbose {
            log::LevelFilter::Debug
        } else {
            log::LevelFilter::Info
        };
        if log::set_boxed_logger(Box::new(self)).is_ok() {
            log::set_max_level(level);
        }
    }

    /// The stdout line for a message: `<prefix>: <message>`, at most 255 characters.
    pub(crate) fn format_line(&self, message: &str) -> String {
        let mut line = format!("{}: {}", self.prefix, message.trim_end_matches('\n'));
        if line.len() > LEGACY_MAX {
            let mut cut = LEGACY_MAX;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            line.truncate(cut);
        }
        line
    }

    fn emit(&self, message: &str) {
        if self.sinks.syslog {
            if let Ok(c) = CString::new(message.replace('\0', " ")) {
                // SAFETY: constant "%s" format with one C string argument.
                unsafe { libc::syslog(libc::LOG_INFO, c"%s".as_ptr(), c.as_ptr()) };
            }
        }
        if self.sinks.stdout {
            let line = self.format_line(message);
            match &self.captured {
                Some(c) => c.lock().unwrap_or_else(|e| e.into_inner()).push(line),
                None => {
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "{line}");
                    let _ = out.flush();
                }
            }
        }
    }

    /// What a capturing logger recorded.
    #[cfg(test)]
    pub(crate) fn lines(&self) -> Vec<String> {
        self.captured
            .as_ref()
            .map(|c| c.lock().unwrap_or_else(|e| e.into_inner()).clone())
            .unwrap_or_default()
    }
}

impl log::Log for LegacyLog {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::Level::Info
            || (self.verbose && metadata.level() == log::Level::Debug)
    }

    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            self.emit(&record.args().to_string());
        }
    }

    fn flush(&self) {
        let _ = std::io::stdout().flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use log::Log;

    fn record(level: log::Level, text: &str, f: impl FnOnce(&log::Record)) {
        f(&log::Record::builder()
            .level(level)
            .args(format_args!("{text}"))
            .build())
    }

    #[test]
    fn stdout_lines_have_the_legacy_prefix_and_length() {
        let l = LegacyLog::capturing("nanny", false);
        record(
            log::Level::Info,
            "[ active ] making 10.0.0.1:80 available",
            |r| l.log(r),
        );
        record(log::Level::Debug, "hidden without -v", |r| l.log(r));
        record(log::Level::Info, &"x".repeat(400), |r| l.log(r));
        let lines = l.lines();
        assert_eq!(lines[0], "nanny: [ active ] making 10.0.0.1:80 available");
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].len(), 255);
        let v = LegacyLog::capturing("lvs", true);
        record(log::Level::Debug, "shown with -v", |r| v.log(r));
        assert_eq!(v.lines(), ["lvs: shown with -v"]);
    }

    #[test]
    fn percent_signs_are_not_formats() {
        // Legacy passed messages as syslog formats; a syslog call with %s must not crash.
        let l = LegacyLog::new(
            "piranha-test",
            Sinks {
                stdout: false,
                syslog: true,
            },
            true,
        );
        record(log::Level::Info, "virtual %s%n%x 100%", |r| l.log(r));
    }
}
