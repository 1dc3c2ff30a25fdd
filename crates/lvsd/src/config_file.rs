//! Reading lvs.cf at start-up and on SIGHUP. A file with errors is refused as a whole:
//! at start-up lvsd exits, on reload it keeps running on the last good configuration.

use std::path::Path;

use lvscf::{Config, ParseOptions};

/// A configuration that can be used, with the warnings found in it.
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<String>,
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
    let warnings = report.diagnostics.iter().map(|d| d.to_string()).collect();
    match report.config {
        Some(config) => Ok(Loaded { config, warnings }),
        None => Err(vec![format!("error parsing {file} on line 0.")]),
    }
}

/// Reads lvs.cf on a thread of its own at each SIGHUP, so that the main loop keeps
/// handling signals, nannies and timers while a file is read and its host names are
/// resolved (at most `lvscf::value::RESOLVE_BUDGET`). The result arrives on a pipe the
/// event loop watches; a SIGHUP during a read is served by one more read after it.
pub struct Reloader {
    path: std::path::PathBuf,
    wake_read: std::fs::File,
    wake_write: std::sync::Arc<std::os::fd::OwnedFd>,
    results: std::sync::mpsc::Receiver<Result<Loaded, Vec<String>>>,
    send: std::sync::mpsc::Sender<Result<Loaded, Vec<String>>>,
    running: bool,
    again: bool,
}

impl Reloader {
    pub fn new(path: &Path) -> std::io::Result<Reloader> {
        let (read, write) = daemon::nonblocking_pipe()?;
        let (send, results) = std::sync::mpsc::channel();
        Ok(Reloader {
            path: path.to_path_buf(),
            wake_read: std::fs::File::from(read),
            wake_write: std::sync::Arc::new(write),
            results,
            send,
            running: false,
            again: false,
        })
    }

    /// The descriptor that becomes readable when a read has finished.
    pub fn wake_fd(&self) -> &std::fs::File {
        &self.wake_read
    }

    /// SIGHUP: starts a read, or asks for one more after the one running.
    pub fn request(&mut self) {
        if self.running {
            self.again = true;
            return;
        }
        self.running = true;
        let (path, send, wake) = (
            self.path.clone(),
            self.send.clone(),
            self.wake_write.clone(),
        );
        let spawned = std::thread::Builder::new()
            .name("reload".into())
            .spawn(move || {
                let _ = send.send(load(&path, &ParseOptions::default()));
                let _ = nix::unistd::write(&*wake, b"x");
            });
        if let Err(e) = spawned {
            self.running = false;
            let _ = self
                .send
                .send(Err(vec![format!("cannot start reading the file: {e}")]));
        }
    }

    /// The finished read, if any (call it when the wake descriptor is readable).
    pub fn finished(&mut self) -> Option<Result<Loaded, Vec<String>>> {
        let mut buf = [0u8; 64];
        while matches!(std::io::Read::read(&mut &self.wake_read, &mut buf), Ok(n) if n > 0) {}
        let result = self.results.try_recv().ok()?;
        self.running = false;
        if std::mem::take(&mut self.again) {
            self.request();
        }
        Some(result)
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
