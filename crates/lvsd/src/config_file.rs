//! Reading lvs.cf at start-up and on SIGHUP. A file with errors is refused as a whole:
//! at start-up lvsd exits, on reload it keeps running on the last good configuration.

use std::path::Path;

use lvscf::{Config, ParseOptions};

/// A configuration that can be used, with the warnings found in it (shown with `-v`
/// only, so formatted only then: a file of 5,000 virtuals may carry as many).
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<lvscf::Diagnostic>,
}

/// Reads, parses and validates `path`. On failure: the messages to report, first the
/// legacy one (`failed to open <f>` or `error parsing <f> on line <n>.`), then one
/// `file:line:column: error: ...` per error.
pub fn load(path: &Path, opts: &ParseOptions) -> Result<Loaded, Vec<String>> {
    let report = lvscf::report::check_file(path, opts);
    let file = path.display().to_string();
    let errors: Vec<&lvscf::Diagnostic> =
        report.diagnostics.iter().filter(|d| d.is_error()).collect();
    if let Some(first) = errors.first() {
        let legacy = if first.code == lvscf::diag::Code::Read {
            format!("failed to open {file}")
        } else {
            format!("error parsing {file} on line {}.", first.line)
        };
        let mut out = vec![legacy];
        out.extend(errors.iter().map(|d| d.to_string()));
        return Err(out);
    }
    let warnings = report.diagnostics;
    match report.config {
        Some(config) => Ok(Loaded { config, warnings }),
        None => Err(vec![format!("error parsing {file} on line 0.")]),
    }
}

/// Reads lvs.cf on a thread of its own at each SIGHUP (`daemon::worker`), so that the
/// main loop keeps handling signals, nannies and timers while a file is read and its
/// host names are resolved (at most `lvscf::value::RESOLVE_BUDGET`). A SIGHUP during a
/// read is served by one more read after it (and any number of them by one).
pub(crate) struct Reloader {
    worker: daemon::worker::Worker<(), Result<Loaded, Vec<String>>>,
    /// Reads queued or running: at most the running one and one after it.
    pending: usize,
}

impl Reloader {
    pub fn new(path: &Path) -> std::io::Result<Reloader> {
        let path = path.to_path_buf();
        let worker = daemon::worker::Worker::start("reload", 2 << 20, move |()| {
            load(&path, &ParseOptions::default())
        })?;
        Ok(Reloader { worker, pending: 0 })
    }

    /// The descriptor that becomes readable when a read has finished.
    pub(crate) fn wake_fd(&self) -> &std::fs::File {
        self.worker.done_fd()
    }

    /// SIGHUP: starts a read, or asks for one more after the one running.
    pub fn request(&mut self) {
        if self.pending < 2 {
            self.pending += 1;
            self.worker.submit(());
        }
    }

    /// The reads finished since the last call, in order (call it when the wake
    /// descriptor is readable).
    pub fn finished(&mut self) -> Vec<Result<Loaded, Vec<String>>> {
        let done = self.worker.finished();
        self.pending -= done.len().min(self.pending);
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("lvsd-cf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn legacy_messages_first_then_details() {
        let p = write("bad.cf", "serial_no = 1\nvirtual v {\n active = maybe\n}\n");
        let err = load(&p, &Default::default()).err().unwrap();
        assert_eq!(err[0], format!("error parsing {} on line 3.", p.display()));
        assert!(
            err[1].starts_with(&format!("{}:3:", p.display())),
            "{err:?}"
        );
        let missing = p.with_file_name("missing.cf");
        let err = load(&missing, &Default::default()).err().unwrap();
        assert_eq!(err[0], format!("failed to open {}", missing.display()));
    }

    #[test]
    fn semantic_errors_refuse_the_file_too() {
        // timeout = 0 made legacy nanny divide by zero.
        let p = write(
            "zero.cf",
            "virtual v {\n active = 1\n address = 192.0.2.1 eth0:1\n timeout = 0\n}\n",
        );
        let err = load(&p, &Default::default()).err().unwrap();
        // Reported at the virtual block.
        assert_eq!(err[0], format!("error parsing {} on line 1.", p.display()));
        assert!(err[1].contains("timeout of virtual v is 0"), "{err:?}");
        let ok = write(
            "ok.cf",
            "virtual v {\n active = 1\n address = 192.0.2.1 eth0:1\n}\n",
        );
        assert_eq!(
            load(&ok, &Default::default())
                .ok()
                .unwrap()
                .config
                .virtuals
                .len(),
            1
        );
    }
}
