//! What the replay tests of both modes share: reading the actions a script produced,
//! and recording a scripted run as a conformance trace (`tests/conformance/`, replayed by
//! `tests/conformance.rs`; docs/architecture.md, "Traces").

#![allow(dead_code)]

use std::cell::Cell;
use std::time::Instant;

use pulse::auth::Key;
use pulse::machine::{Action, Event, Pulse};
use pulse::settings::{Settings, Switches};

/// The log lines among the actions.
pub fn logs(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Log(t) => Some(t.clone()),
            _ => None,
        })
        .collect()
}

/// The actions without logs and debug lines.
pub fn effects(actions: &[Action]) -> Vec<Action> {
    actions
        .iter()
        .filter(|a| !matches!(a, Action::Log(_) | Action::Debug(_)))
        .cloned()
        .collect()
}

/// Set to record every scripted single-director run as a trace in `tests/conformance/`
/// (only when a behaviour is meant to change; the traces are the record of the old one).
pub const RECORD_ENV: &str = "PULSE_RECORD_CONFORMANCE";

thread_local! {
    static RUNS: Cell<usize> = const { Cell::new(0) };
}

/// A scripted run being recorded: how its state machine was made, and each event it
/// handled with the actions it gave.
pub struct Recording {
    setup: serde_json::Value,
    t0: Instant,
    lines: Vec<String>,
}

impl Recording {
    /// A recording when [`RECORD_ENV`] asks for one.
    pub fn new(setup: serde_json::Value, t0: Instant) -> Option<Recording> {
        std::env::var_os(RECORD_ENV).map(|_| Recording {
            setup,
            t0,
            lines: Vec::new(),
        })
    }

    pub fn record(&mut self, now: Instant, event: &Event, actions: &[Action]) {
        let ms = (now - self.t0).as_secs_f64() * 1e3;
        let (event, actions) = (serde_json::to_string(event), serde_json::to_string(actions));
        self.lines.push(format!(
            "{{\"ms\": {ms}, \"event\": {}, \"actions\": {}}}",
            event.unwrap(),
            actions.unwrap()
        ));
    }
}

/// The state machine's answer to `e` at `now`, recorded when a recording runs.
pub fn handle(
    recording: &mut Option<Recording>,
    pulse: &mut Pulse,
    e: Event,
    now: Instant,
) -> Vec<Action> {
    use daemon::driver::Core;
    let recorded = recording.as_ref().map(|_| e.clone());
    let out = pulse.handle(e, now);
    if let (Some(r), Some(e)) = (recording.as_mut(), recorded) {
        r.record(now, &e, &out);
    }
    out
}

impl Drop for Recording {
    fn drop(&mut self) {
        if self.lines.is_empty() || std::thread::panicking() {
            return;
        }
        let test = std::thread::current()
            .name()
            .unwrap_or("run")
            .replace("::", "-");
        let n = RUNS.with(|r| r.replace(r.get() + 1));
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
        std::fs::create_dir_all(&dir).unwrap();
        let text = format!(
            "# Recorded from the scripted run of tests/{test} (run {n}).\n# setup: {}\n{}\n",
            self.setup,
            self.lines.join("\n")
        );
        std::fs::write(dir.join(format!("{test}-{n}.jsonl")), text).unwrap();
    }
}

const PRIMARY: &str = "192.168.0.10";
const BACKUP: &str = "192.168.0.11";
const BACKUP_PRIVATE: &str = "10.11.12.2";

/// The LVS pair's lvs.cf of the replay tests, with `extra` settings.
pub fn lvs_file(extra: &str) -> String {
    format!(
        r#"primary = {PRIMARY}
primary_private = 10.11.12.1
backup = {BACKUP}
backup_private = {BACKUP_PRIVATE}
backup_active = 1
keepalive = 1
deadtime = 3
network = direct
active_cmd = /bin/true
inactive_cmd = /bin/true
syncdaemon = 1
monitor_links = 1
{extra}
virtual www {{
  active = 1
  address = 192.168.0.100 eth0:1
  server a {{
    address = 10.0.0.21
    active = 1
  }}
}}
"#
    )
}

/// The fos pair's lvs.cf of the replay tests (without a backup: a lone director).
pub fn fos_file(backup: bool) -> String {
    let partner = if backup {
        format!("backup = {BACKUP}\nbackup_private = {BACKUP_PRIVATE}\nbackup_active = 1\n")
    } else {
        String::new()
    };
    format!(
        r#"service = fos
primary = {PRIMARY}
primary_private = 10.11.12.1
{partner}keepalive = 1
deadtime = 3
failover web {{
  active = 1
  address = 192.168.0.100 eth0:1
  port = 80
  start_cmd = "/etc/init.d/web start"
  stop_cmd = "/etc/init.d/web stop"
  timeout = 2
}}
"#
    )
}

/// The heartbeat key of the signed replay tests.
pub fn key() -> Key {
    Key::new(9, b"a shared key of enough length!!".to_vec()).unwrap()
}

/// The state machine a recorded run's setup describes, made at `t0`.
pub fn pulse_of(setup: &serde_json::Value, t0: Instant) -> Pulse {
    let switches: Switches = serde_json::from_value(setup["switches"].clone()).unwrap();
    let (text, epoch) = match setup["harness"].as_str() {
        Some("fos") => (fos_file(setup["backup"] == true), 1),
        _ => (lvs_file(setup["extra"].as_str().unwrap_or("")), 1_000),
    };
    let c = lvscf::parse_str(&text, "lvs.cf", &lvscf::ParseOptions::default())
        .unwrap()
        .config;
    let local = if setup["primary"] == true {
        PRIMARY
    } else {
        BACKUP
    };
    let mut s = Settings::new(&c, &[local.parse().unwrap()], switches).unwrap();
    if c.heartbeat_auth != lvscf::HeartbeatAuth::Off {
        s.key = Some(key());
    }
    Pulse::new(s, t0, epoch)
}
