//! What pulse tells `lvsctl status` (docs/control.md): this director's role and state,
//! what it last heard from its partner, and the addresses it holds.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub daemon: &'static str,
    pub pid: u32,
    /// `primary` or `backup` (which director lvs.cf names this one).
    pub role: &'static str,
    /// `active`, `standby`, `link failure`, `lvsd failure`, `stopping`; in fos mode also
    /// `fos failure`, `checking the network`, `network fault`.
    pub state: &'static str,
    pub partner: Partner,
    /// The takeover addresses this director holds (`ADDRESS/PREFIX DEVICE`).
    pub addresses: Vec<String>,
    /// `lvs` or `fos` (lvs.cf's `service`).
    pub service: &'static str,
    pub lvsd_pid: Option<u32>,
    /// fos mode: the running fos (`--active` or `--monitor`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fos_pid: Option<u32>,
    pub keepalive_ms: u64,
    pub deadtime_ms: u64,
    pub heartbeat_auth: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Partner {
    pub address: Option<String>,
    /// Heard within the deadtime.
    pub alive: bool,
    /// What its last heartbeat said: `running` or `stopped` (or a FOS or control word).
    pub last_said: Option<&'static str>,
    pub last_heard_ms_ago: Option<u64>,
}
