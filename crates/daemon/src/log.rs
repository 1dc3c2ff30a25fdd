//! Legacy logging: syslog with ident `<name>`, `LOG_PID`, `LOG_DAEMON`, every message at
//! `LOG_INFO`; and, in the foreground, one line per message on stdout as
//! `<name>: <message>` (truncated to 255 characters, as legacy did).
//!
//! Legacy passed the message as syslog's format string, so a `%` in a name or argument was
//! interpreted (reference §7.1-19); here the format is always `"%s"`.

use std::ffi::CString;
use std::io::Write;
use std::sync::Mutex;

/// Where messages go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sinks {
    pub stdout: bool,
    pub syslog: bool,
}

pub struct Logger {
    /// The stdout prefix (the syslog ident is set once, at `new`).
    name: String,
    sinks: Sinks,
    verbose: bool,
    /// Lines written to stdout, kept for tests when `capture` is on.
    captured: Option<Mutex<Vec<String>>>,
}

const LEGACY_MAX: usize = 255;

impl Logger {
    /// `name` is the syslog ident and the stdout prefix (`nanny`, `lvs`, `pulse`).
    pub fn new(name: &str, sinks: Sinks, verbose: bool) -> Logger {
        if sinks.syslog {
            // openlog keeps the pointer: the ident must live for the whole process.
            let ident: &'static CString =
                Box::leak(Box::new(CString::new(name).unwrap_or_default()));
            // SAFETY: ident is a valid, leaked C string.
            unsafe { libc::openlog(ident.as_ptr(), libc::LOG_PID, libc::LOG_DAEMON) };
        }
        Logger {
            name: name.to_string(),
            sinks,
            verbose,
            captured: None,
        }
    }

    /// Uses another stdout prefix than the syslog ident (lvsd logs as `lvsd` to syslog
    /// and prints `lvs: ...`, legacy's name from before 0.8.0).
    pub fn with_stdout_prefix(mut self, prefix: &str) -> Logger {
        self.name = prefix.to_string();
        self
    }

    /// A logger that records stdout lines instead of printing them (tests).
    pub fn capturing(name: &str, verbose: bool) -> Logger {
        Logger {
            name: name.to_string(),
            sinks: Sinks {
                stdout: true,
                syslog: false,
            },
            verbose,
            captured: Some(Mutex::new(Vec::new())),
        }
    }

    pub fn verbose(&self) -> bool {
        self.verbose
    }

    /// The stdout line for a message: `<name>: <message>`, at most 255 characters.
    pub fn format_line(&self, message: &str) -> String {
        let mut line = format!("{}: {}", self.name, message.trim_end_matches('\n'));
        if line.len() > LEGACY_MAX {
            let mut cut = LEGACY_MAX;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            line.truncate(cut);
        }
        line
    }

    pub fn info(&self, message: &str) {
        if self.sinks.syslog {
            if let Ok(c) = CString::new(message.replace('\0', " ")) {
                // SAFETY: constant "%s" format with one C string argument.
                unsafe { libc::syslog(libc::LOG_INFO, c"%s".as_ptr(), c.as_ptr()) };
            }
        }
        if self.sinks.stdout {
            let line = self.format_line(message);
            match &self.captured {
                Some(c) => c.lock().unwrap().push(line),
                None => {
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "{line}");
                    let _ = out.flush();
                }
            }
        }
    }

    /// Logged only with `-v`.
    pub fn debug(&self, message: &str) {
        if self.verbose {
            self.info(message);
        }
    }

    /// What a capturing logger recorded.
    pub fn lines(&self) -> Vec<String> {
        self.captured
            .as_ref()
            .map(|c| c.lock().unwrap().clone())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdout_lines_have_the_legacy_prefix_and_length() {
        let l = Logger::capturing("nanny", false);
        l.info("[ active ] making 10.0.0.1:80 available");
        l.debug("hidden without -v");
        l.info(&"x".repeat(400));
        let lines = l.lines();
        assert_eq!(lines[0], "nanny: [ active ] making 10.0.0.1:80 available");
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].len(), 255);
    }

    #[test]
    fn percent_signs_are_not_formats() {
        // Legacy passed messages as syslog formats; a syslog call with %s must not crash.
        let l = Logger::new(
            "piranha-test",
            Sinks {
                stdout: false,
                syslog: true,
            },
            true,
        );
        l.info("virtual %s%n%x 100%");
    }
}
