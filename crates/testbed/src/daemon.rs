//! A daemon under test (host or VM): started with stdout on a pipe, its lines read on a
//! thread so the test can wait for one with a time limit; killed when dropped. And
//! temporary directories that go away with the test.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

pub struct Daemon {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    /// Every line read so far.
    seen: Mutex<Vec<String>>,
    /// How many of them a `wait_for` has consumed.
    consumed: Mutex<usize>,
}

impl Daemon {
    /// Starts `cmd` with its stdout piped to the test.
    pub fn spawn(cmd: &mut Command) -> Daemon {
        let mut child = cmd
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the daemon");
        let out = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        Daemon {
            child,
            lines: rx,
            seen: Mutex::new(Vec::new()),
            consumed: Mutex::new(0),
        }
    }

    /// Waits up to `secs` for a line containing `needle` among the lines no earlier
    /// wait returned; returns those lines up to and including it. Panics with what was
    /// printed if none comes.
    pub fn wait_for(&self, needle: &str, secs: u64) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            self.drain(Duration::ZERO);
            let seen = self.seen.lock().unwrap();
            let mut consumed = self.consumed.lock().unwrap();
            if let Some(i) = seen[*consumed..].iter().position(|l| l.contains(needle)) {
                let lines = seen[*consumed..*consumed + i + 1].to_vec();
                *consumed += i + 1;
                return lines;
            }
            drop((seen, consumed));
            match deadline.checked_duration_since(Instant::now()) {
                Some(left) => self.drain(left.min(Duration::from_millis(100))),
                None => panic!(
                    "`{needle}` not printed within {secs} s; saw {:#?}",
                    self.printed()
                ),
            }
        }
    }

    /// Every line printed so far.
    pub fn printed(&self) -> Vec<String> {
        self.drain(Duration::ZERO);
        self.seen.lock().unwrap().clone()
    }

    fn drain(&self, first_wait: Duration) {
        let mut seen = self.seen.lock().unwrap();
        if let Ok(l) = self.lines.recv_timeout(first_wait) {
            seen.push(l);
        }
        while let Ok(l) = self.lines.try_recv() {
            seen.push(l);
        }
    }

    pub fn signal(&self, sig: i32) {
        signal(self.child.id(), sig);
    }

    /// Waits for the exit; the exit code (None if killed by a signal).
    pub fn wait(&mut self) -> Option<i32> {
        let code = self.child.wait().expect("wait for the daemon").code();
        self.printed();
        code
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

static DIRS: AtomicU32 = AtomicU32::new(0);

/// A fresh directory under the system's temporary directory, removed when dropped.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!(
            "piranha-{label}-{}-{}",
            std::process::id(),
            DIRS.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create a temporary directory");
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Writes an executable script (a fake wrapper, a client monitor) into the directory.
    pub fn script(&self, name: &str, text: &str) -> String {
        use std::os::unix::fs::PermissionsExt;
        let p = self.join(name);
        std::fs::write(&p, text).expect("write the script");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        p.display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Sends a signal to a process of the test's (no `unsafe`); whether it was delivered.
pub fn signal(pid: u32, sig: i32) -> bool {
    nix::sys::signal::Signal::try_from(sig)
        .and_then(|sig| nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig))
        .is_ok()
}
