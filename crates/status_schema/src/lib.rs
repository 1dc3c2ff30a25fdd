//! The status schema (docs/control.md, "status"): what lvsd ([`LvsdStatus`]) and pulse
//! ([`PulseStatus`]) answer to `status`, one definition that the daemons write and
//! `status_view`/`lvsctl` read, so a renamed field is a compile error on both sides and
//! never a blank on the page. States are enums; their JSON words are the legacy ones.
//!
//! [`SCHEMA`] counts incompatible changes: a reader takes an answer without the field as
//! version 1 (the answers before the field existed), and adding a field is compatible.

use serde::{Deserialize, Serialize};

/// The schema's version, in every answer as `schema`.
pub const SCHEMA: u32 = 1;

fn first_schema() -> u32 {
    1
}

/// The process's own figures (`process` in every answer); each absent when `/proc` did
/// not tell.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Process {
    pub resident_bytes: Option<u64>,
    /// User plus system time.
    pub cpu_seconds: Option<f64>,
    /// Since the epoch.
    pub start_time_seconds: Option<f64>,
    pub open_fds: Option<u64>,
    pub threads: Option<u64>,
}

/// lvsd's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LvsdStatus {
    #[serde(default = "first_schema")]
    pub schema: u32,
    pub daemon: String,
    pub pid: u32,
    pub config: String,
    pub services: Vec<Service>,
    /// With `integrated_monitors = 1`: how the monitors inside lvsd keep their schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integrated_monitors: Option<MonitorFigures>,
    /// Added by the control socket's answer (`daemon::control::status`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<Process>,
}

/// The integrated monitors' figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitorFigures {
    pub monitors: u64,
    /// Probes started since lvsd started.
    pub probes: u64,
    /// The latest any probe started after its due time, since lvsd started.
    pub worst_lateness_ms: f64,
}

/// One virtual service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    pub name: String,
    /// How IPVS knows it: `TCP 192.0.2.1:80`, `FWM 5`.
    pub service: String,
    pub scheduler: String,
    pub persistent: u32,
    /// lvs.cf's word for it: `nat`, `direct`, `tunnel`.
    pub forwarding: String,
    /// The service could not be set up in IPVS (its nannies wait).
    pub failed: bool,
    pub sorry_server: Option<Sorry>,
    pub real_servers: Vec<RealServer>,
    /// The kernel's counters for the whole service (absent with `--test-start`).
    pub stats: Option<Counters>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sorry {
    pub address: String,
    /// In the table now (no real server available).
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RealServer {
    pub name: String,
    pub address: String,
    pub configured_weight: u32,
    /// Drained by the operator (`lvsctl drain`): weight 0 until enabled.
    pub drained: bool,
    pub health: Health,
    pub monitor: MonitorState,
    pub monitor_pid: Option<u32>,
    /// The kernel's entry; absent while the server is out of the table.
    pub kernel: Option<KernelEntry>,
}

/// The nanny's last report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Up,
    Down,
    /// Before its first report.
    Unknown,
}

/// Where a real server's nanny is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MonitorState {
    #[serde(rename = "running")]
    Running,
    #[serde(rename = "starting")]
    Starting,
    /// Waiting to be started again after it died.
    #[serde(rename = "restarting")]
    Restarting,
    #[serde(rename = "gave up")]
    GaveUp,
    /// `--test-start`.
    #[serde(rename = "not started")]
    NotStarted,
}

impl Health {
    pub fn word(self) -> &'static str {
        match self {
            Health::Up => "up",
            Health::Down => "down",
            Health::Unknown => "unknown",
        }
    }
}

impl MonitorState {
    pub fn word(self) -> &'static str {
        match self {
            MonitorState::Running => "running",
            MonitorState::Starting => "starting",
            MonitorState::Restarting => "restarting",
            MonitorState::GaveUp => "gave up",
            MonitorState::NotStarted => "not started",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KernelEntry {
    pub weight: u32,
    pub active_connections: u32,
    pub inactive_connections: u32,
    pub persistent_connections: u32,
    pub stats: Counters,
}

/// IPVS statistics: 64-bit totals and the kernel's rate estimates (per second).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    pub connections: u64,
    pub packets_in: u64,
    pub packets_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub connections_per_second: u64,
    pub packets_in_per_second: u64,
    pub packets_out_per_second: u64,
    pub bytes_in_per_second: u64,
    pub bytes_out_per_second: u64,
}

/// pulse's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PulseStatus {
    #[serde(default = "first_schema")]
    pub schema: u32,
    pub daemon: String,
    pub pid: u32,
    /// Which director lvs.cf names this one.
    pub role: Role,
    pub state: DirectorState,
    pub partner: Partner,
    /// The takeover addresses this director holds (`ADDRESS/PREFIX DEVICE`).
    pub addresses: Vec<String>,
    /// lvs.cf's `service`.
    pub service: ServiceKind,
    pub lvsd_pid: Option<u32>,
    /// fos mode: the running fos (`--active` or `--monitor`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fos_pid: Option<u32>,
    pub keepalive_ms: u64,
    pub deadtime_ms: u64,
    pub heartbeat_auth: String,
    /// A fleet director (docs/fleet.md): the fleet as this director hears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<Fleet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<Process>,
}

/// The fleet view (docs/fleet.md, "Who is up"): status only, no decision depends on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fleet {
    /// `connected`, or why pulse cannot drive BIRD and when it tries again.
    pub bird: String,
    /// Every director lvs.cf names, this one included, in file order.
    pub directors: Vec<FleetDirector>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetDirector {
    pub address: String,
    /// This director.
    pub this: bool,
    /// Heard within the deadtime (this director: always).
    pub up: bool,
    /// The VIPs it announces to the router.
    pub announced: Vec<String>,
    /// Connections it scheduled for the fleet's services (the kernel's counter; those
    /// learned from the other directors by sync are not counted).
    pub connections: u64,
    /// The kernel's estimate of its new connections per second.
    #[serde(default)]
    pub connections_per_second: u64,
    /// Its part of the fleet's connections, in percent (of the directors that are up).
    pub share_percent: f64,
    pub last_heard_ms_ago: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Primary,
    Backup,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceKind {
    Lvs,
    Fos,
}

/// What a director is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DirectorState {
    #[serde(rename = "active")]
    Active,
    #[serde(rename = "standby")]
    Standby,
    #[serde(rename = "link failure")]
    LinkFailure,
    #[serde(rename = "lvsd failure")]
    LvsdFailure,
    #[serde(rename = "fos failure")]
    FosFailure,
    #[serde(rename = "checking the network")]
    CheckingNetwork,
    #[serde(rename = "network fault")]
    NetworkFault,
    #[serde(rename = "stopping")]
    Stopping,
}

impl DirectorState {
    pub fn word(self) -> &'static str {
        match self {
            DirectorState::Active => "active",
            DirectorState::Standby => "standby",
            DirectorState::LinkFailure => "link failure",
            DirectorState::LvsdFailure => "lvsd failure",
            DirectorState::FosFailure => "fos failure",
            DirectorState::CheckingNetwork => "checking the network",
            DirectorState::NetworkFault => "network fault",
            DirectorState::Stopping => "stopping",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Partner {
    pub address: Option<String>,
    /// Heard within the deadtime.
    pub alive: bool,
    /// What its last heartbeat said: `running`, `stopped` (or a FOS or control word).
    pub last_said: Option<String>,
    pub last_heard_ms_ago: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(v: &impl Serialize) -> String {
        serde_json::to_value(v)
            .unwrap()
            .as_str()
            .unwrap()
            .to_string()
    }

    #[test]
    fn each_state_s_word_is_its_json_word() {
        use DirectorState::*;
        for s in [
            Active,
            Standby,
            LinkFailure,
            LvsdFailure,
            FosFailure,
            CheckingNetwork,
            NetworkFault,
            Stopping,
        ] {
            assert_eq!(word(&s), s.word());
        }
        use MonitorState::*;
        for m in [Running, Starting, Restarting, GaveUp, NotStarted] {
            assert_eq!(word(&m), m.word());
        }
        for h in [Health::Up, Health::Down, Health::Unknown] {
            assert_eq!(word(&h), h.word());
        }
    }

    #[test]
    fn an_answer_without_a_schema_field_is_version_one() {
        let p: Partner = serde_json::from_str(
            r#"{"address":null,"alive":false,"last_said":null,"last_heard_ms_ago":null}"#,
        )
        .unwrap();
        let v = serde_json::json!({"daemon":"pulse","pid":1,"role":"backup","state":"standby",
            "partner":p,"addresses":[],"service":"lvs","lvsd_pid":null,"keepalive_ms":2000,
            "deadtime_ms":5000,"heartbeat_auth":"off"});
        let s: PulseStatus = serde_json::from_value(v).unwrap();
        assert_eq!(
            (s.schema, s.role, s.state),
            (1, Role::Backup, DirectorState::Standby)
        );
    }
}
