//! lvsd's start-up (docs/legacy.md, "lvsd"): its legacy identity, lvs.cf and IPVS
//! reached on the terminal (every refusal before detaching), then the runtime with the
//! manager, its shell and its sources.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use daemon::driver::Driver;
use daemon::runtime::{Legacy, Mode, Runtime, StartError};
use ipvs::{Ipvs, Reconciler};
use log::{debug, info};
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};

use crate::config_file::Loaded;
use crate::manager::{Event, Exit, Manager};
use crate::monitor_spec::LvsdFlags;
use crate::shell::Shell;
use crate::sources::Listen;

/// Legacy lvsd prints its messages as `lvs: ...` and logs to syslog as `lvsd`.
pub const LVSD: Legacy = Legacy {
    prog: "lvs",
    ident: "lvsd",
    stdout_prefix: Some("lvs"),
    version: "lvs 1.38",
    usage: "Usage: lvsd [OPTION...]
  -c, --configfile=FILE   configuration file (default /etc/sysconfig/ha/lvs.cf)
  -v, --verbose           pass -v to every nanny
  -n, --nodaemon          run in the foreground, log to stdout
  -t, --test-start        do not change IPVS, do not start nannies
      --nofork            daemon mode without forking (how pulse starts lvsd)
      --pidfile=FILE      pid file in daemon mode (default /var/run/lvs.pid); the list
                          of services lvsd created is kept beside it (lvs.services)
      --check-config      check the configuration file and print a summary
      --json              with --check-config: print the parsed model as JSON
      --version           print the version
  -?, --help              this text
",
};

/// The longest wait between two looks at the world (legacy: `alarm(5)`).
const MAX_WAIT: Duration = Duration::from_secs(5);

/// What lvsd's command line asks for.
pub struct Start {
    pub config_path: PathBuf,
    pub pid_path: PathBuf,
    pub test_start: bool,
    pub flags: LvsdFlags,
    pub nofork: bool,
}

impl Start {
    /// Starts lvsd and runs it until it exits; the exit code.
    pub fn run(self) -> i32 {
        // Everything that can fail at start-up fails here, on the terminal, before
        // detaching.
        let (loaded, reconciler) = self.reach_or_exit();
        let mut daemonized = LVSD.become_daemon(&Mode {
            nodaemon: self.flags.nodaemon,
            nofork: self.nofork,
            pid_file: Some(self.pid_path.clone()),
            verbose: self.flags.verbose,
            notify: true,
            ..Mode::default()
        });
        for w in &loaded.warnings {
            debug!("{w}");
        }
        let notifier = daemonized.notifier.take();
        let code = Shell::new(reconciler, self.pid_path.with_extension("services"))
            .map_err(|e| StartError::cannot("create the nanny status pipe", e))
            .and_then(|mut shell| {
                shell.config_path = self.config_path.display().to_string();
                let signals = [SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGUSR1, SIGUSR2];
                let mut runtime = Runtime::new(&signals)?;
                runtime.notifier(notifier);
                self.serve(&mut runtime, shell, loaded.config)
                // The runtime goes here, and its control socket with it.
            });
        daemonized.release();
        code.unwrap_or_else(|e| {
            info!("{e}");
            Exit::Failed.code()
        })
    }

    /// Reads lvs.cf and reaches IPVS, or exits with the reason on the terminal.
    fn reach_or_exit(&self) -> (Loaded, Option<Reconciler>) {
        let loaded = crate::config_file::load(&self.config_path, &lvscf::ParseOptions::default())
            .unwrap_or_else(|messages| {
                for m in messages {
                    eprintln!("lvs: {m}");
                }
                std::process::exit(Exit::Failed.code())
            });
        if self.test_start {
            return (loaded, None);
        }
        match Ipvs::open() {
            Ok(i) => {
                let owned = crate::owned::load(&self.pid_path.with_extension("services"));
                (loaded, Some(Reconciler::new(i).with_owned(owned)))
            }
            Err(e) => LVSD.fail(&format!("cannot reach IPVS: {e}")),
        }
    }

    /// Runs the manager until it exits; its exit code.
    fn serve(
        &self,
        runtime: &mut Runtime<Event>,
        shell: Shell,
        config: lvscf::Config,
    ) -> Result<i32, StartError> {
        let pid_path: &Path = &self.pid_path;
        let mut listen = Listen::new(&runtime.events, &shell, &self.config_path, pid_path)?;
        listen.serve_http(&config);
        // The operator's socket (docs/control.md).
        runtime.control_beside(pid_path, Event::Control);
        runtime.max_wait(MAX_WAIT);
        let drained = crate::drained::load(&shell.drained_path());
        let (manager, first) =
            Manager::start_drained(config, self.flags, self.test_start, drained, Instant::now());
        let mut driver = Driver::new(manager, shell);
        daemon::runtime::trace_from_env(&mut driver);
        if let Some(code) = driver.carry_out(first) {
            return Ok(code);
        }
        // The start-up check's buffers are freed: give the memory back to the system.
        // SAFETY: malloc_trim only releases free heap memory; no precondition.
        unsafe { libc::malloc_trim(0) };
        Ok(runtime.run(&mut driver, &mut listen))
    }
}
