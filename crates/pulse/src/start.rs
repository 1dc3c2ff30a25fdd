//! pulse's start-up (docs/legacy.md, "pulse"): its legacy identity, lvs.cf read and
//! checked as pulse reads it, the settings for this host, this start's epoch. Every
//! refusal here happens on the terminal, before pulse detaches, in legacy's words.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use daemon::driver::Driver;
use daemon::runtime::{Daemonized, Legacy, Runtime, StartError};
use log::info;
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};

use crate::machine::{Event, Pulse};
use crate::settings::{Settings, StartupError, Switches};
use crate::shell::{self, Children, Shell};
use crate::sources::{Listen, SYNCED};

/// The longest wait between two looks at the world.
const MAX_WAIT: Duration = Duration::from_secs(5);

pub const PULSE: Legacy = Legacy {
    prog: "pulse",
    ident: "pulse",
    stdout_prefix: None,
    version: "pulse 1.56",
    usage: "Usage: pulse [OPTION...]
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
",
};

/// lvs.cf as pulse reads it, or the legacy refusal on the terminal.
pub fn load_config(path: &Path) -> lvscf::Config {
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
            PULSE.fail(&format!("failed to open {file}"));
        }
        // Legacy's own refusal for a file without active services comes first.
        if let Some(Err(e)) = report.config.as_ref().map(crate::settings::check_services) {
            PULSE.fail(&e.legacy_text(&file));
        }
        eprintln!(
            "pulse: error parsing {file} at line {}: {}",
            first.line, first.message
        );
        for d in &errors {
            eprintln!("pulse: {d}");
        }
        std::process::exit(crate::machine::Exit::Failed.code());
    }
    report
        .config
        .unwrap_or_else(|| PULSE.fail(&format!("failed to open {file}")))
}

/// Every address of this host (role detection).
fn local_addresses() -> Vec<IpAddr> {
    match hostnet::Rtnl::open().and_then(|mut r| r.local_ips()) {
        Ok(a) => a,
        Err(e) => PULSE.fail(&format!("cannot list this host's addresses: {e}")),
    }
}

/// This start's epoch for signed heartbeats (crate::auth): random, from the kernel's
/// generator; should that fail, the clock and the pid, which still differ per start.
pub fn epoch() -> u64 {
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
pub fn settings_or_exit(c: &lvscf::Config, file: &str, switches: Switches) -> Option<Settings> {
    let mut settings = match Settings::new(c, &local_addresses(), switches) {
        Ok(s) => s,
        Err(StartupError::BackupInactive) => return None,
        Err(e) => PULSE.fail(&e.legacy_text(file)),
    };
    if settings.auth != lvscf::HeartbeatAuth::Off {
        let path = c.heartbeat_key.as_deref().unwrap_or_default();
        settings.key = Some(
            crate::auth::Key::load(Path::new(path), c.heartbeat_key_id)
                .unwrap_or_else(|e| PULSE.fail(&e.0)),
        );
    }
    Some(settings)
}

/// A fleet director's settings, or the refusal on the terminal: lvs.cf must name one of
/// this host's addresses as a `director`.
pub fn fleet_settings_or_exit(
    c: &lvscf::Config,
    file: &str,
    switches: Switches,
) -> crate::fleet::FleetSettings {
    let Some(mut s) = crate::fleet::FleetSettings::new(c, &local_addresses()) else {
        PULSE.fail(&format!(
            "none of this host's addresses is a director in {file}"
        ))
    };
    if c.heartbeat_auth != lvscf::HeartbeatAuth::Off {
        let path = c.heartbeat_key.as_deref().unwrap_or_default();
        let key = crate::auth::Key::load(Path::new(path), c.heartbeat_key_id)
            .unwrap_or_else(|e| PULSE.fail(&e.0));
        s.signer = Some(key.signer());
    }
    s.test_start = switches.test_start;
    s
}

/// The lines legacy pulse logs once running.
pub fn log_start(c: &lvscf::Config, s: &Settings) {
    if c.backup_active && c.backup.is_none() {
        info!("Undefined backup node marked as active? -- clearing that!");
    }
    let role = match s.role {
        crate::settings::Role::Primary => "MASTER",
        crate::settings::Role::Backup => "BACKUP",
    };
    info!("STARTING PULSE AS {role}");
    if c.service == lvscf::ServiceType::Fos
        && c.primary_shared.is_some()
        && c.backup_shared.is_some()
    {
        info!("{}", lvscf::validate::SHARED_SCSI_UNSUPPORTED);
    }
}

/// pulse's runtime: from here on its signals are handled, not fatal.
pub fn runtime<E>(daemonized: &mut Daemonized) -> Result<Runtime<E>, StartError> {
    let mut runtime = Runtime::new(&[SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGUSR1, SIGUSR2])?;
    runtime.notifier(daemonized.notifier.take());
    runtime.max_wait(MAX_WAIT);
    Ok(runtime)
}

/// Runs the state machine on the runtime until it exits; its exit code.
pub fn serve(
    runtime: &mut Runtime<Event>,
    settings: Settings,
    channels: Vec<shell::HeartbeatChannel>,
    children: Children,
    pid_path: &Path,
) -> Result<i32, StartError> {
    // The operator's socket (docs/control.md).
    runtime.control_beside(pid_path, Event::Control);
    let (config, lvsd_socket) = (
        PathBuf::from(&children.config),
        children.lvsd_pid_path().with_extension("sock"),
    );
    let mut shell = Shell::new(
        &settings,
        channels,
        children,
        pid_path.with_file_name("pulse.addresses"),
    );
    shell.remove_leftovers();
    let mut listen = Listen::new(&runtime.events, &mut shell, settings.monitor_links)?;
    // The status page and metrics (docs/control.md, "HTTP"): pulse serves them for the
    // director, with lvsd's part when lvsd runs.
    let sockets = status_view::Sockets {
        pulse: pid_path.with_extension("sock"),
        lvsd: lvsd_socket,
    };
    listen.http.apply(settings.status_http, &sockets);
    if listen.monitor.is_some() {
        shell.watch_links(&settings);
    }
    // Configuration sync (docs/operations.md): lvs.cf to the partner.
    let synced = shell.set_up_sync(&settings, &config, &runtime.events, SYNCED);
    let mut pulse = Pulse::new(settings, Instant::now(), epoch());
    if let Err(e) = synced {
        info!("cannot set up configuration sync: {e}");
        pulse = pulse.without_sync();
    }
    let mut driver = Driver::new(pulse, shell);
    daemon::runtime::trace_from_env(&mut driver);
    let mut first = vec![Event::Start];
    if listen.monitor.is_some() {
        first.push(driver.exec.relist_links());
    }
    if let Some(code) = driver.dispatch_all(first) {
        return Ok(code);
    }
    // Sockets bound, pid file written, first decisions taken: systemd's start is done.
    Ok(runtime.run(&mut driver, &mut listen))
}
