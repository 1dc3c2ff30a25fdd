//! `pulse`: director heartbeat and VIP takeover (docs/legacy.md, "pulse"). Reads the
//! options and lvs.cf, works out the role, binds the heartbeat sockets, then runs
//! [`pulse::machine::Pulse`] on `daemon`'s event loop and driver, with
//! [`pulse::shell::Shell`] carrying its actions out.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use daemon::cli::{self, OptSpec};
use daemon::control::{ClientId, ControlServer};
use daemon::driver::Driver;
use daemon::event_loop::{EventLoop, Ready};
use daemon::log::{LegacyLog, Sinks};
use daemon::pidfile::PidFile;
use daemon::worker::Worker;
use hostnet::monitor::LinkMonitor;
use log::info;
use pulse::machine::{Event, Pulse};
use pulse::settings::{Settings, StartupError, Switches};
use pulse::shell::{self, Children, Shell};
use pulse::sync::{ConfigSync, Outcome, Push};
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};

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
    PidFile,
}

/// The legacy popt table (docs/legacy.md, "pulse") plus `--check-config`, `--json` and `--pidfile`.
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
    OptSpec::value(Id::PidFile, None, &["pidfile"]),
];

const USAGE: &str = "Usage: pulse [OPTION...]
  -c, --configfile=FILE   configuration file (default /etc/sysconfig/ha/lvs.cf)
  -n, --nodaemon          run in the foreground, log to stdout
  -t, --test-start        do not start lvsd/fos (also --norun)
  -v, --verbose           debug logging
      --forceactive       become active at start
      --lvsd=PATH         lvsd program (also --lvs)
      --fos=PATH          fos program
      --pidfile=FILE      pid file (default /var/run/pulse.pid); pulse's other files
                          (pulse.addresses) and lvsd's pid file go beside it
      --check-config      check the configuration file and print a summary
      --json              with --check-config: print the parsed model as JSON
      --version           print the version
  -?, --help              this text
";

const DEFAULT_LVSD: &str = "/usr/sbin/lvsd";
const DEFAULT_FOS: &str = "/usr/sbin/fos";
/// The event loop's tokens: heartbeat channels 0 and 1, link events.
const LINKS: usize = 2;
/// The control socket, and its clients after it.
const CONTROL: usize = 10;
/// The configuration sync worker's wake-up.
const SYNCED: usize = 3;
/// A connectivity check (fos mode) finished.
const GATEWAY: usize = 4;
/// The longest wait between two looks at the world.
const MAX_WAIT: Duration = Duration::from_secs(5);

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
    let switches = Switches {
        test_start: opts.has(Id::TestStart),
        force_active: opts.has(Id::ForceActive),
        nodaemon: opts.has(Id::NoDaemon),
        verbose: opts.has(Id::Verbose),
    };
    let pid_path = PathBuf::from(opts.value(Id::PidFile).unwrap_or(daemon::pidfile::PULSE));
    let children = Children {
        lvsd: opts.value(Id::Lvsd).unwrap_or(DEFAULT_LVSD).to_string(),
        fos: opts.value(Id::Fos).unwrap_or(DEFAULT_FOS).to_string(),
        config: config.clone(),
        nodaemon: switches.nodaemon,
        verbose: switches.verbose,
        // Beside our own pid file when it is not the default (two pulses on one host).
        pid_dir: opts
            .value(Id::PidFile)
            .map(|_| pid_path.parent().unwrap_or(Path::new("/")).to_path_buf()),
        pulse_socket: pid_path.with_extension("sock"),
    };
    std::process::exit(run(Path::new(&config), &pid_path, switches, children));
}

/// Fails on the terminal like legacy pulse: `pulse: TEXT`, exit 1.
fn fail(text: &str) -> ! {
    eprintln!("pulse: {text}");
    std::process::exit(1);
}

fn load_config(path: &Path) -> lvscf::Config {
    let report = lvscf::report::check_file_for(
        path,
        &lvscf::ParseOptions::default(),
        lvscf::validate::Consumer::Pulse,
    );
    let file = path.display().to_string();
    let errors: Vec<&lvscf::Diagnostic> =
        report.diagnostics.iter().filter(|d| d.is_error()).collect();
    if let Some(first) = errors.first() {
        if first.code == lvscf::diag::Code::Read {
            fail(&format!("failed to open {file}"));
        }
        // Legacy's own refusal for a file without active services comes first.
        if let Some(Err(e)) = report.config.as_ref().map(pulse::settings::check_services) {
            fail(&e.legacy_text(&file));
        }
        eprintln!(
            "pulse: error parsing {file} at line {}: {}",
            first.line, first.message
        );
        for d in &errors {
            eprintln!("pulse: {d}");
        }
        std::process::exit(1);
    }
    report
        .config
        .unwrap_or_else(|| fail(&format!("failed to open {file}")))
}

/// Every address of this host (role detection).
fn local_addresses() -> Vec<IpAddr> {
    match hostnet::Rtnl::open().and_then(|mut r| r.local_ips()) {
        Ok(a) => a,
        Err(e) => fail(&format!("cannot list this host's addresses: {e}")),
    }
}

/// This start's epoch for signed heartbeats (crate::auth): random, from the kernel's
/// generator; should that fail, the clock and the pid, which still differ per start.
fn epoch() -> u64 {
    let mut b = [0u8; 8];
    let random = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b));
    let e = match random {
        Ok(()) => u64::from_ne_bytes(b),
        Err(_) => {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            nanos ^ (u64::from(std::process::id()) << 40)
        }
    };
    e.max(1)
}

/// The settings, or the legacy refusal on the terminal; `None` for a backup whose file
/// says `backup_active = 0` (legacy says so once running, then exits 255).
fn settings_or_exit(c: &lvscf::Config, file: &str, switches: Switches) -> Option<Settings> {
    let mut settings = match Settings::new(c, &local_addresses(), switches) {
        Ok(s) => s,
        Err(StartupError::BackupInactive) => return None,
        Err(e) => fail(&e.legacy_text(file)),
    };
    if settings.auth != lvscf::HeartbeatAuth::Off {
        let path = c.heartbeat_key.as_deref().unwrap_or_default();
        settings.key = Some(
            pulse::auth::Key::load(Path::new(path), c.heartbeat_key_id)
                .unwrap_or_else(|e| fail(&e)),
        );
    }
    Some(settings)
}

/// The legacy daemon start: the pid file locked on the terminal, detached, the log sinks.
/// Under systemd (`notified`) pulse does not fork: the unit's main process stays pulse.
fn become_daemon(switches: Switches, pid_path: &Path, notified: bool) -> Option<PidFile> {
    let mut pid_file = (!switches.nodaemon)
        .then(|| PidFile::lock(pid_path).unwrap_or_else(|e| fail(&e.to_string())));
    if !switches.nodaemon {
        daemon::detach(notified);
    }
    let sinks = Sinks {
        stdout: switches.nodaemon,
        syslog: !switches.nodaemon,
    };
    LegacyLog::new("pulse", sinks, switches.verbose).install();
    if let Some(Err(e)) = pid_file.as_mut().map(PidFile::write_pid) {
        info!("cannot write {}: {e}", pid_path.display());
    }
    pid_file
}

fn run(config_path: &Path, pid_path: &Path, switches: Switches, children: Children) -> i32 {
    // Read (and cleared from the environment) before any thread exists.
    let notifier = daemon::notify::Notifier::from_env();
    let c = load_config(config_path);
    let file = config_path.display().to_string();
    let Some(settings) = settings_or_exit(&c, &file, switches) else {
        let _pid_file = become_daemon(switches, pid_path, notifier.is_some());
        info!("STARTING PULSE AS BACKUP");
        info!("{}", StartupError::BackupInactive.legacy_text(&file));
        return 255;
    };
    let channels = shell::bind_channels(&settings).unwrap_or_else(|e| {
        eprintln!("pulse: failed to bind to heartbeat address: {e}");
        fail("cannot create heartbeat socket. running as root?")
    });
    let pid_file = become_daemon(switches, pid_path, notifier.is_some());
    // Signals are ours from here on: a SIGHUP right after start-up must not kill pulse.
    let events = match EventLoop::new(&[SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGUSR1, SIGUSR2]) {
        Ok(e) => e,
        Err(e) => {
            info!("cannot install signal handlers: {e}");
            return 1;
        }
    };
    if c.backup_active && c.backup.is_none() {
        info!("Undefined backup node marked as active? -- clearing that!");
    }
    info!(
        "STARTING PULSE AS {}",
        match settings.role {
            pulse::settings::Role::Primary => "MASTER",
            pulse::settings::Role::Backup => "BACKUP",
        }
    );
    if c.service == lvscf::ServiceType::Fos
        && c.primary_shared.is_some()
        && c.backup_shared.is_some()
    {
        info!("{}", lvscf::validate::SHARED_SCSI_UNSUPPORTED);
    }
    let code = serve(events, settings, channels, children, pid_path, notifier);
    drop(pid_file);
    code
}

fn serve(
    mut events: EventLoop,
    settings: Settings,
    channels: Vec<shell::HeartbeatChannel>,
    children: Children,
    pid_path: &Path,
    notifier: Option<daemon::notify::Notifier>,
) -> i32 {
    let mut around = Around::new(&settings, &children, pid_path, notifier, &events);
    let mut shell = Shell::new(
        &settings,
        channels,
        children,
        pid_path.with_file_name("pulse.addresses"),
    );
    shell.remove_leftovers();
    for (i, c) in shell.channels().iter().enumerate() {
        if let Err(e) = events.register(&c.socket, i) {
            info!("cannot watch the heartbeat socket: {e}");
            return 1;
        }
    }
    if let Err(e) = shell
        .gateway_fd()
        .map_or(Ok(()), |fd| events.register(fd, GATEWAY))
    {
        info!("cannot watch the gateway check: {e}");
        return 1;
    }
    if settings.monitor_links {
        shell.watch_links(&settings);
        match LinkMonitor::open().and_then(|m| events.register(&m, LINKS).map(|()| m)) {
            Ok(m) => around.monitor = Some(m),
            Err(e) => info!("cannot watch link changes: {e}"),
        }
    }
    let mut driver = Driver::new(Pulse::new(settings, Instant::now(), epoch()), shell);
    let mut first = vec![Event::Start];
    if around.monitor.is_some() {
        first.push(driver.exec.relist_links());
    }
    if let Some(code) = driver.dispatch_all(first) {
        return code;
    }
    // Sockets bound, pid file written, first decisions taken: systemd's start is done.
    if let Some(n) = &around.notifier {
        n.ready();
    }
    loop {
        let ready = events.wait(around.deadline(&driver)).unwrap_or_default();
        let queue = around.handle(ready, &events, &mut driver);
        if let Some(code) = driver.dispatch_all(queue) {
            return code;
        }
        around.after(&driver);
    }
}

/// What pulse runs around its heartbeat: the operator's control socket, the status
/// listener, the link monitor, systemd's notifications and the configuration sync.
struct Around {
    control: Option<ControlServer>,
    /// Kept for pulse's lifetime (the listener stops when dropped).
    _http: status_view::http::StatusHttp,
    monitor: Option<LinkMonitor>,
    notifier: Option<daemon::notify::Notifier>,
    sync: Option<SyncShell>,
    was_active: bool,
}

impl Around {
    fn new(
        settings: &Settings,
        children: &Children,
        pid_path: &Path,
        notifier: Option<daemon::notify::Notifier>,
        events: &EventLoop,
    ) -> Around {
        // The status page and metrics (docs/control.md, "HTTP"): pulse serves them for
        // the director, with lvsd's part when lvsd runs.
        let mut http = status_view::http::StatusHttp::default();
        http.apply(
            settings.status_http,
            &status_view::Sockets {
                pulse: pid_path.with_extension("sock"),
                lvsd: children.lvsd_pid_path().with_extension("sock"),
            },
        );
        Around {
            // The operator's socket (docs/control.md).
            control: ControlServer::beside_pid_file(pid_path, CONTROL, events),
            _http: http,
            monitor: None,
            notifier,
            // Configuration sync (docs/operations.md): lvs.cf to the partner.
            sync: SyncShell::new(settings, Path::new(&children.config), events),
            was_active: false,
        }
    }

    /// The next time anything is due.
    fn deadline(&self, driver: &Driver<Pulse, Shell>) -> Option<Instant> {
        [
            driver.next_deadline(),
            driver.exec.next_deadline(),
            self.control.as_ref().and_then(ControlServer::next_deadline),
            self.notifier.as_ref().and_then(|n| n.next_deadline()),
            self.sync.as_ref().and_then(|s| s.state.next_deadline()),
            Some(Instant::now() + MAX_WAIT),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// What woke the loop, as events for the state machine (and answers to the operator).
    fn handle(
        &mut self,
        ready: Vec<Ready>,
        events: &EventLoop,
        driver: &mut Driver<Pulse, Shell>,
    ) -> Vec<Event> {
        driver.exec.enforce_limits(Instant::now());
        // Only the children pulse started: a push's command is the sync worker's to reap.
        let ours: Vec<u32> = driver
            .exec
            .command_pids()
            .chain(driver.core.child_pid())
            .collect();
        let mut queue = driver.exec.reaped(daemon::process::reap_these(ours));
        for r in ready {
            match r {
                Ready::Source(LINKS) => {
                    if let Some(m) = self.monitor.as_mut() {
                        queue.push(shell::read_links(m, &mut driver.exec));
                    }
                }
                Ready::Source(t) if self.control.as_ref().is_some_and(|c| c.owns(t)) => {
                    if let Some(c) = self.control.as_mut() {
                        answer(c, t, events, &driver.core, self.sync.as_mut());
                    }
                }
                Ready::Source(SYNCED) => self.synced(events),
                Ready::Source(GATEWAY) => queue.extend(driver.exec.checked()),
                Ready::Source(i) => queue.extend(driver.exec.receive(i)),
                Ready::Signal(SIGHUP) => {
                    // lvsd rereads lvs.cf; the partner gets it too (sync = 1).
                    if let Some(s) = self.sync.as_mut().filter(|_| driver.core.is_active()) {
                        s.changed();
                    }
                    queue.push(Event::Hangup)
                }
                Ready::Signal(sig @ (SIGTERM | SIGINT)) => {
                    if let Some(n) = &self.notifier {
                        n.stopping();
                    }
                    queue.push(Event::Terminate(sig))
                }
                // SIGCHLD: reaped above. SIGUSR1/2 killed legacy pulse; ignored here.
                _ => {}
            }
        }
        if let Some(c) = self.control.as_mut() {
            c.expire(events, Instant::now());
        }
        if let Some(n) = self.notifier.as_mut() {
            n.tick(Instant::now());
        }
        queue.push(Event::Tick);
        queue
    }

    /// Pushes that ended: their answers to the `lvsctl sync` that asked.
    fn synced(&mut self, events: &EventLoop) {
        let answers = self.sync.as_mut().map(|s| s.finished(Instant::now()));
        for (client, a) in answers.into_iter().flatten() {
            if let Some(c) = self.control.as_mut() {
                c.reply(client, &a, events, Instant::now());
            }
        }
    }

    /// After the state machine's turn: a director that became active pushes its lvs.cf
    /// (sync = 1), and a due push starts.
    fn after(&mut self, driver: &Driver<Pulse, Shell>) {
        let active = driver.core.is_active();
        if let Some(s) = self.sync.as_mut() {
            if active && !self.was_active {
                s.changed();
            }
            s.start_due(Instant::now());
        }
        self.was_active = active;
    }
}

/// Answers the control requests that arrived on `token` (docs/control.md).
fn answer(
    control: &mut ControlServer,
    token: usize,
    events: &EventLoop,
    pulse: &Pulse,
    mut sync: Option<&mut SyncShell>,
) {
    for req in control.ready(token, events, Instant::now()) {
        let response = match req.command.as_str() {
            "status" => daemon::control::status(&pulse.status(Instant::now())),
            // Answered when the push ends (SyncShell::finished).
            "sync" => match sync.as_deref_mut() {
                Some(s) => match s.asked(req.client) {
                    Some(refusal) => refusal,
                    None => continue,
                },
                None => daemon::control::error("configuration sync could not be set up"),
            },
            other => daemon::control::unknown(other),
        };
        control.reply(req.client, &response, events, Instant::now());
    }
}

/// Configuration sync carried out (pulse::sync): pushes on a worker thread, their
/// outcomes logged and told to the `lvsctl sync` that asked.
struct SyncShell {
    state: ConfigSync,
    /// `sync = 1`: push at activation and at each reload while active.
    automatic: bool,
    /// What to push where; `None` without a partner.
    push: Option<Push>,
    worker: Worker<Push, Outcome>,
    waiting: Vec<ClientId>,
}

impl SyncShell {
    fn new(s: &Settings, config: &Path, events: &EventLoop) -> Option<SyncShell> {
        let receiver = std::env::current_exe()
            .map(|e| e.with_file_name("lvsctl"))
            .unwrap_or_else(|_| PathBuf::from("/usr/sbin/lvsctl"));
        let push = s.partner_public.map(|partner| Push {
            rsh_command: s.rsh_command.clone(),
            partner,
            config: config.to_path_buf(),
            receiver,
        });
        let worker = Worker::start("config-sync", 256 * 1024, |p: Push| pulse::sync::push(&p))
            .and_then(|w| events.register(w.done_fd(), SYNCED).map(|()| w));
        match worker {
            Ok(worker) => Some(SyncShell {
                state: ConfigSync::default(),
                automatic: s.config_sync,
                push,
                worker,
                waiting: Vec::new(),
            }),
            Err(e) => {
                info!("cannot set up configuration sync: {e}");
                None
            }
        }
    }

    /// The director became active or reloaded: push if `sync = 1`.
    fn changed(&mut self) {
        if self.automatic && self.push.is_some() {
            self.state.request();
        }
    }

    /// `lvsctl sync`: push now; the answer goes to `client` when the push ends.
    fn asked(&mut self, client: ClientId) -> Option<serde_json::Value> {
        if self.push.is_none() {
            return Some(daemon::control::error("no partner director in lvs.cf"));
        }
        self.state.request();
        self.waiting.push(client);
        None
    }

    fn start_due(&mut self, now: Instant) {
        if let Some(p) = self.push.as_ref().filter(|_| self.state.poll(now)) {
            self.worker.submit(p.clone());
        }
    }

    /// Pushes that ended: logged; the answers for those who asked.
    fn finished(&mut self, now: Instant) -> Vec<(ClientId, serde_json::Value)> {
        let mut answers = Vec::new();
        for outcome in self.worker.finished() {
            let line = self.state.finished(&outcome, now);
            info!("{line}");
            let answer = match outcome {
                Outcome::Installed(_) => serde_json::json!({"ok": true, "message": line}),
                _ => daemon::control::error(line),
            };
            answers.extend(self.waiting.drain(..).map(|c| (c, answer.clone())));
        }
        answers
    }
}
