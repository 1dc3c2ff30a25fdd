//! `lvsd`: virtual service manager and nanny supervisor (reference §3). The IO shell
//! around [`lvsd::manager::Manager`]: it reads lvs.cf, programs IPVS through the
//! reconciler, starts and reaps the nannies, reads their status channel and turns
//! signals into events.

use std::collections::BTreeSet;
use std::collections::VecDeque;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use daemon::cli::{self, OptSpec};
use daemon::log::{Logger, Sinks};
use daemon::pidfile::PidFile;
use daemon::signals::Signals;
use ipvs::{Ipvs, Op, Reconciler, ServiceKey};
use lvsd::manager::{Action, Event, Manager, SweepItem};
use lvsd::nanny_argv::LvsdFlags;
use lvsd::reload::NannyKey;
use nanny::check::Check;
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};

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
    PidFile,
}

/// The legacy option table (reference §3.1) plus `--check-config`, `--json`, `--pidfile`.
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
    OptSpec::value(Id::PidFile, None, &["pidfile"]),
];

const USAGE: &str = "Usage: lvsd [OPTION...]
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
";

const DEFAULT_PIDFILE: &str = "/var/run/lvs.pid";
/// The longest wait between two looks at the world (legacy: `alarm(5)`).
const MAX_WAIT: Duration = Duration::from_secs(5);

fn main() {
    // Legacy lvsd prints its messages as `lvs: ...`.
    let opts = cli::parse_args_or_exit("lvs", OPTIONS);
    let config_path = PathBuf::from(opts.value(Id::Config).unwrap_or(lvscf::DEFAULT_CONFIG_PATH));
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
            &config_path,
            opts.has(Id::Json),
            lvscf::validate::Consumer::Lvsd,
            &mut std::io::stdout(),
        );
        std::process::exit(code);
    }
    let nodaemon = opts.has(Id::NoDaemon);
    let test_start = opts.has(Id::TestStart);
    let flags = LvsdFlags {
        verbose: opts.has(Id::Verbose),
        nodaemon,
    };
    let pid_path = PathBuf::from(opts.value(Id::PidFile).unwrap_or(DEFAULT_PIDFILE));
    let state_path = pid_path.with_extension("services");

    // Everything that can fail at start-up fails here, on the terminal, before detaching.
    let parse_opts = lvscf::ParseOptions::default();
    let loaded = match lvsd::config_file::load(&config_path, &parse_opts) {
        Ok(l) => l,
        Err(messages) => {
            for m in messages {
                eprintln!("lvs: {m}");
            }
            std::process::exit(1);
        }
    };
    let reconciler = if test_start {
        None
    } else {
        match Ipvs::open() {
            Ok(i) => Some(Reconciler::new(i).with_owned(lvsd::owned::load(&state_path))),
            Err(e) => {
                eprintln!("lvs: cannot reach IPVS: {e}");
                std::process::exit(1);
            }
        }
    };
    if !nodaemon {
        daemon::detach(opts.has(Id::NoFork));
    }
    let log = Logger::new(
        "lvsd",
        Sinks {
            stdout: nodaemon,
            syslog: !nodaemon,
        },
        flags.verbose,
    )
    .with_stdout_prefix("lvs");
    for w in &loaded.warnings {
        log.debug(w);
    }
    let pid_file = if nodaemon {
        None
    } else {
        match PidFile::create(&pid_path) {
            Ok(p) => Some(p),
            Err(e) => {
                log.info(&format!("cannot write {}: {e}", pid_path.display()));
                None
            }
        }
    };
    let signals = match Signals::install(&[SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGUSR1, SIGUSR2]) {
        Ok(s) => s,
        Err(e) => {
            log.info(&format!("cannot install signal handlers: {e}"));
            std::process::exit(1);
        }
    };
    // The nannies' status channel: the read end stays here, the write end is passed to
    // each nanny. Non-blocking: a nanny never stalls on a full pipe.
    let (status_read, status_write) = match daemon::nonblocking_pipe() {
        Ok(p) => p,
        Err(e) => {
            log.info(&format!("cannot create the nanny status pipe: {e}"));
            std::process::exit(1);
        }
    };
    let mut shell = Shell {
        log,
        reconciler,
        state_path,
        owned_stored: None,
        status_write,
        monitors: Default::default(),
    };
    let (mut manager, first) = Manager::start(loaded.config, flags, test_start, Instant::now());
    let code = 'run: {
        if let Some(code) = shell.carry_out(&mut manager, first) {
            break 'run code;
        }
        let mut pending_status = Vec::new();
        loop {
            let now = Instant::now();
            let wait = manager
                .next_deadline(now)
                .map_or(MAX_WAIT, |d| d.saturating_duration_since(now))
                .min(MAX_WAIT);
            let mut events = Vec::new();
            let first_sig = signals.wait_with(&[status_read.as_raw_fd()], wait);
            let sigs: Vec<i32> = first_sig
                .into_iter()
                .chain(std::iter::from_fn(|| signals.pending()))
                .collect();
            // Reports first: a nanny that reported and then died did both in that order.
            events.extend(read_status(&status_read, &mut pending_status));
            events.extend(reap());
            for sig in sigs {
                match sig {
                    SIGHUP => {
                        shell.log.info("rereading configuration file");
                        match lvsd::config_file::load(&config_path, &parse_opts) {
                            Ok(l) => events.push(Event::Reload(Box::new(l.config))),
                            Err(messages) => {
                                for m in messages {
                                    shell.log.info(&m);
                                }
                                shell.log.info("keeping the running configuration");
                            }
                        }
                    }
                    SIGTERM | SIGINT => events.push(Event::Terminate(sig)),
                    // SIGCHLD: reaped above. SIGUSR1/2 killed legacy lvsd; ignored here.
                    _ => {}
                }
            }
            events.push(Event::Tick);
            for e in events {
                let actions = manager.handle(e, Instant::now());
                if let Some(code) = shell.carry_out(&mut manager, actions) {
                    break 'run code;
                }
            }
        }
    };
    // Reap what is left (nannies killed at the end of a shutdown).
    for pid in manager.nanny_pids() {
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(pid as i32, std::ptr::null_mut(), libc::WNOHANG) };
    }
    drop(pid_file);
    std::process::exit(code);
}

/// How long a sweep may take.
const SWEEP_LIMIT: Duration = Duration::from_secs(1);
/// Threads running the sweep's checks.
const SWEEP_THREADS: usize = 32;

/// Runs the checks on a few threads; returns the items whose check passed within
/// `limit`. Checks still running then are abandoned (their threads end with their own
/// time limit, which is `limit` too).
fn run_checks(
    jobs: Vec<(SweepItem, Box<nanny::options::Options>)>,
    limit: Duration,
) -> Vec<SweepItem> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{mpsc, Arc, Mutex};
    let total = jobs.len();
    if total == 0 {
        return Vec::new();
    }
    let queue = Arc::new(Mutex::new(
        jobs.into_iter().enumerate().collect::<VecDeque<_>>(),
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    for _ in 0..SWEEP_THREADS.min(total) {
        let (queue, stop, tx) = (queue.clone(), stop.clone(), tx.clone());
        let spawned = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Some((i, (item, o))) = queue.lock().unwrap().pop_front() else {
                        return;
                    };
                    // Built here: a compiled regex stays on its thread.
                    let (check, _) = Check::from_options(&o);
                    let ok = check.with_timeout(limit).run().is_ok();
                    if tx.send((i, item, ok)).is_err() {
                        return;
                    }
                }
            });
        if spawned.is_err() {
            break;
        }
    }
    drop(tx);
    let deadline = Instant::now() + limit;
    let mut healthy = Vec::new();
    for _ in 0..total {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            break;
        };
        match rx.recv_timeout(left) {
            Ok((i, item, true)) => healthy.push((i, item)),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    stop.store(true, Ordering::Relaxed);
    // In configuration order, for a deterministic batch.
    healthy.sort_by_key(|(i, _)| *i);
    healthy.into_iter().map(|(_, item)| item).collect()
}

fn read_status(fd: &OwnedFd, partial: &mut Vec<u8>) -> Vec<Event> {
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: reading into a valid buffer from our own non-blocking descriptor.
        let n = unsafe {
            libc::read(
                fd.as_raw_fd(),
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
            )
        };
        if n <= 0 {
            break;
        }
        partial.extend_from_slice(&buf[..n as usize]);
    }
    let (reports, rest) = nanny::status::decode_stream(partial);
    let events = reports
        .into_iter()
        .map(|r| Event::Status {
            pid: r.pid,
            active: r.active,
        })
        .collect();
    *partial = rest.to_vec();
    events
}

/// Every child that ended, with how it ended.
fn reap() -> Vec<Event> {
    let mut out = Vec::new();
    loop {
        let mut status = 0;
        // SAFETY: waitpid with a valid status pointer.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            return out;
        }
        let how = if libc::WIFSIGNALED(status) {
            format!("signal {}", libc::WTERMSIG(status))
        } else {
            format!("exit status {}", libc::WEXITSTATUS(status))
        };
        out.push(Event::Exited {
            pid: pid as u32,
            how,
        });
    }
}

struct Shell {
    log: Logger,
    /// None with `--test-start`.
    reconciler: Option<Reconciler>,
    state_path: PathBuf,
    owned_stored: Option<BTreeSet<ServiceKey>>,
    status_write: OwnedFd,
    /// Client monitor paths and whether they adopt existing entries.
    monitors: std::collections::HashMap<String, bool>,
}

impl Shell {
    /// Carries actions out in order, feeding answers back; returns the exit code once done.
    fn carry_out(&mut self, m: &mut Manager, actions: Vec<Action>) -> Option<i32> {
        let mut queue: VecDeque<Action> = actions.into();
        while let Some(action) = queue.pop_front() {
            let answer = match action {
                Action::Log(msg) => {
                    self.log.info(&msg);
                    None
                }
                Action::Print(msg) => {
                    println!("{msg}");
                    None
                }
                Action::SetTimeouts(t) => {
                    if let Some(r) = self.reconciler.as_mut() {
                        if let Err(e) = r.ipvs().set_timeouts(t) {
                            self.log.info(&format!(
                                "ipvsadm failed to set timeouts ({} {} {}): {e}",
                                t.tcp, t.tcp_fin, t.udp
                            ));
                        }
                    }
                    None
                }
                Action::Reconcile { desired, audit } => Some(Event::Reconciled {
                    failed: self.reconcile(&desired, audit),
                }),
                Action::Ipvs(op) => {
                    if let Some(r) = self.reconciler.as_mut() {
                        match r.ipvs().apply(std::slice::from_ref(&op)).pop() {
                            // Already as wanted (the sorry server was there; the
                            // server, or its whole service, had gone).
                            Some(Err(e))
                                if e.is_exists() || e.is_no_destination() || e.is_no_service() => {}
                            Some(Err(e)) => self.log.info(&format!("IPVS: {op:?}: {e}")),
                            _ => {}
                        }
                    }
                    None
                }
                Action::Sweep(items) => {
                    let checked = items.len();
                    Some(Event::Swept {
                        admitted: self.sweep(items),
                        checked,
                    })
                }
                Action::Spawn { key, argv } => Some(match self.spawn(&argv) {
                    Ok(pid) => Event::Spawned { key, pid },
                    Err(e) => Event::SpawnFailed {
                        key,
                        error: e.to_string(),
                    },
                }),
                Action::Stop { pid } => {
                    // SAFETY: signalling our own child.
                    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
                    None
                }
                Action::Kill { pid } => {
                    // SAFETY: signalling our own child.
                    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                    None
                }
                Action::Exit(code) => return Some(code),
            };
            // What follows from an answer comes first (depth first): the sweep right
            // after its reconcile, before the nannies of a reload are signalled.
            if let Some(e) = answer {
                for a in m.handle(e, Instant::now()).into_iter().rev() {
                    queue.push_front(a);
                }
            }
        }
        None
    }

    /// The sweep: each real server's check, run once from here (in parallel, at most
    /// [`SWEEP_LIMIT`]), and the healthy servers added in one batch, so that a director
    /// taking over (or a reload adding servers) serves at once instead of after the
    /// nannies' process starts. Checks that run a program are left to the nannies.
    /// Returns what was added.
    fn sweep(&mut self, items: Vec<SweepItem>) -> BTreeSet<NannyKey> {
        if self.reconciler.is_none() {
            return BTreeSet::new();
        }
        let items: Vec<SweepItem> = items
            .into_iter()
            .filter(|item| self.adopts_entries(&item.argv[0]))
            .collect();
        let Some(r) = self.reconciler.as_mut() else {
            return BTreeSet::new();
        };
        let jobs: Vec<(SweepItem, Box<nanny::options::Options>)> = items
            .into_iter()
            .filter_map(|item| match nanny::options::parse(&item.argv[1..]) {
                Ok(nanny::options::Command::Run(o)) if o.send_program.is_none() => Some((item, o)),
                _ => None,
            })
            .collect();
        let healthy = run_checks(jobs, SWEEP_LIMIT);
        let ops: Vec<Op> = healthy
            .iter()
            .map(|i| Op::AddDest(i.key.service, i.dest.clone()))
            .collect();
        let results = r.ipvs().apply(&ops);
        healthy
            .into_iter()
            .zip(results)
            .filter_map(|(item, result)| match result {
                Ok(()) => Some(item.key),
                Err(e) if e.is_exists() => Some(item.key),
                Err(e) => {
                    self.log.info(&format!("IPVS: adding {:?}: {e}", item.dest));
                    None
                }
            })
            .collect()
    }

    /// Whether the client monitor at `path` is this project's nanny (directly or
    /// through a wrapper that execs it), which adopts an entry already in IPVS. A legacy
    /// nanny would fail to add it (`ipvsadm -a` of an existing entry) and exit, so its
    /// servers are left to it. Asked once per path, with `--version`.
    fn adopts_entries(&mut self, path: &str) -> bool {
        if let Some(known) = self.monitors.get(path) {
            return *known;
        }
        let ours = std::process::Command::new(path)
            .arg("--version")
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).contains("(piranha-rs "))
            .unwrap_or(false);
        if !ours {
            self.log.info(&format!(
                "{path} is not piranha-rs's nanny: its real servers are not checked by lvsd first"
            ));
        }
        self.monitors.insert(path.to_string(), ours);
        ours
    }

    /// Reconciles; returns the services that could not be set up.
    fn reconcile(&mut self, desired: &ipvs::Desired, audit: bool) -> BTreeSet<ServiceKey> {
        let Some(r) = self.reconciler.as_mut() else {
            return BTreeSet::new();
        };
        let result = if audit {
            r.audit(desired)
        } else {
            r.reconcile(desired)
        };
        let failed = match result {
            Ok(report) => report
                .failed
                .iter()
                .map(|(op, e)| {
                    self.log.info(&format!("IPVS: {op:?}: {e}"));
                    *op.service_key()
                })
                .collect(),
            Err(e) => {
                self.log.info(&format!("IPVS: {e}"));
                desired.services.keys().copied().collect()
            }
        };
        let owned = r.owned().clone();
        if self.owned_stored.as_ref() != Some(&owned) {
            match lvsd::owned::store(&self.state_path, &owned) {
                Ok(()) => self.owned_stored = Some(owned),
                Err(e) => self
                    .log
                    .info(&format!("cannot write {}: {e}", self.state_path.display())),
            }
        }
        failed
    }

    /// Starts a nanny: stdin on /dev/null, stdout and stderr shared with lvsd, the
    /// status channel in `LVSD_STATUS_FD`, and SIGTERM when lvsd dies.
    ///
    /// A plain fork and execv, without waiting for the exec to finish (std's `Command`
    /// waits): lvsd starts hundreds of nannies, and their execs then run in parallel.
    /// A program that cannot be run is caught before the fork; an exec that fails
    /// anyway shows as a nanny dying with status 127.
    fn spawn(&self, argv: &[String]) -> std::io::Result<u32> {
        use std::ffi::CString;
        let status_fd: RawFd = self.status_write.as_raw_fd();
        let cstr = |s: &str| {
            CString::new(s).map_err(|_| std::io::Error::other(format!("NUL byte in {s:?}")))
        };
        let prog = cstr(&argv[0])?;
        // SAFETY: access on a valid C string.
        if unsafe { libc::access(prog.as_ptr(), libc::X_OK) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let args: Vec<CString> = argv.iter().map(|a| cstr(a)).collect::<Result<_, _>>()?;
        let mut env: Vec<CString> = std::env::vars_os()
            .filter(|(k, _)| k != nanny::status::ENV)
            .filter_map(|(k, v)| {
                let mut kv = k.into_encoded_bytes();
                kv.push(b'=');
                kv.extend(v.into_encoded_bytes());
                CString::new(kv).ok()
            })
            .collect();
        env.push(cstr(&format!("{}={status_fd}", nanny::status::ENV))?);
        let ptrs = |v: &[CString]| -> Vec<*const libc::c_char> {
            v.iter()
                .map(|c| c.as_ptr())
                .chain(std::iter::once(std::ptr::null()))
                .collect()
        };
        let (argp, envp) = (ptrs(&args), ptrs(&env));
        // SAFETY: getpid has no preconditions.
        let parent = unsafe { libc::getpid() };
        // SAFETY: lvsd is single-threaded; between fork and exec the child makes only
        // async-signal-safe calls on data prepared above.
        unsafe {
            match libc::fork() {
                -1 => Err(std::io::Error::last_os_error()),
                0 => {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong);
                    if libc::getppid() != parent {
                        // lvsd died before the death signal was armed.
                        libc::_exit(0);
                    }
                    let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY);
                    if null > 0 {
                        libc::dup2(null, 0);
                        libc::close(null);
                    }
                    // The status channel survives the exec; what else lvsd holds does not.
                    libc::fcntl(status_fd, libc::F_SETFD, 0);
                    let mut empty: libc::sigset_t = std::mem::zeroed();
                    libc::sigemptyset(&mut empty);
                    libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
                    libc::execve(prog.as_ptr(), argp.as_ptr(), envp.as_ptr());
                    libc::_exit(127)
                }
                pid => Ok(pid as u32),
            }
        }
    }
}
