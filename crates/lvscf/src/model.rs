//! The typed model of an lvs.cf file, shared by every daemon.
//!
//! Field names follow the lvs.cf keywords; defaults are the legacy ones (docs/legacy.md,
//! "lvs.cf", and docs/lvs.cf.5). Keywords the legacy daemons parse but never use (`heartbeat`, `debug_level`,
//! `serial_no`, `sync`, `master`, `dirs`) are kept so that a rewrite preserves them.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use lvs::ServiceKey;
use serde::Serialize;

use crate::lexer::Quote;

/// Legacy default path of the configuration file.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/sysconfig/ha/lvs.cf";
/// Legacy default `ipvsadm` path (`ipvsadm =`, nanny `-I`).
pub const DEFAULT_IPVSADM: &str = "/sbin/ipvsadm";
/// Legacy default `client_monitor`.
pub(crate) const DEFAULT_CLIENT_MONITOR: &str = "/usr/sbin/nanny";

/// `service = lvs | fos`: which section drives the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceType {
    #[default]
    Lvs,
    Fos,
}

impl ServiceType {
    pub fn keyword(self) -> &'static str {
        match self {
            ServiceType::Lvs => "lvs",
            ServiceType::Fos => "fos",
        }
    }
}

/// `network = nat | direct | tunnel`: the IPVS forwarding method of every real server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    #[default]
    Nat,
    Direct,
    Tunnel,
}

impl Network {
    pub fn keyword(self) -> &'static str {
        match self {
            Network::Nat => "nat",
            Network::Direct => "direct",
            Network::Tunnel => "tunnel",
        }
    }

    /// The letter nanny's `-M` takes (and ipvsadm's `-m`/`-g`/`-i`).
    pub fn nanny_letter(self) -> char {
        match self {
            Network::Nat => 'm',
            Network::Direct => 'g',
            Network::Tunnel => 'i',
        }
    }

    /// nanny's `-M` value: legacy nanny skipped a leading `-`, looked at the first
    /// letter only, and took anything but `g` and `i` for NAT.
    pub fn from_nanny_letter(s: &str) -> Network {
        match s.strip_prefix('-').unwrap_or(s).chars().next() {
            Some('g') => Network::Direct,
            Some('i') => Network::Tunnel,
            _ => Network::Nat,
        }
    }

    /// ipvsadm's flag for it (`-m`, `-g`, `-i`), as nanny's `-I` wrapper gets it.
    pub fn ipvsadm_flag(self) -> &'static str {
        match self {
            Network::Nat => "-m",
            Network::Direct => "-g",
            Network::Tunnel => "-i",
        }
    }

    /// The IPVS forwarding method: the one mapping from configuration to kernel, used
    /// by lvsd (sorry server, start-up check) and nanny alike.
    pub fn forward_method(self) -> lvs::ForwardMethod {
        match self {
            Network::Nat => lvs::ForwardMethod::Masq,
            Network::Direct => lvs::ForwardMethod::Route,
            Network::Tunnel => lvs::ForwardMethod::Tunnel,
        }
    }
}

/// `protocol = tcp | udp` (`sctp` is an extension): IPVS's own type, one representation
/// from lvs.cf to the kernel.
pub use lvs::Protocol;

/// Schedulers legacy lvs.cf accepted.
pub const LEGACY_SCHEDULERS: &[&str] = &["lc", "rr", "wlc", "wrr", "lblc", "lblcr", "dh", "sh"];
/// Further kernel IPVS schedulers accepted as an extension.
pub const EXTENSION_SCHEDULERS: &[&str] = &["sed", "nq", "fo", "ovf", "mh", "twos"];

/// `reservation_conflict_action = nothing | preempt` (FOS shared SCSI).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReservationConflictAction {
    Nothing,
    Preempt,
}

impl ReservationConflictAction {
    pub fn keyword(self) -> &'static str {
        match self {
            ReservationConflictAction::Nothing => "nothing",
            ReservationConflictAction::Preempt => "preempt",
        }
    }
}

/// `heartbeat_auth = off | permissive | enforce` (extension, docs/differences.md): whether
/// pulse signs its heartbeats and what it does with unsigned ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum HeartbeatAuth {
    /// Legacy: bare 4-byte heartbeats, nothing checked.
    #[default]
    Off,
    /// Signed heartbeats sent; unsigned ones accepted (a rolling upgrade from legacy pulse),
    /// signed ones that fail the check rejected.
    Permissive,
    /// Only correctly signed, fresh heartbeats accepted.
    Enforce,
}

impl HeartbeatAuth {
    pub fn keyword(self) -> &'static str {
        match self {
            HeartbeatAuth::Off => "off",
            HeartbeatAuth::Permissive => "permissive",
            HeartbeatAuth::Enforce => "enforce",
        }
    }
}

impl std::fmt::Display for HeartbeatAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.keyword())
    }
}

/// A host as written (`name`) and as resolved at parse time (`addr`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Host {
    pub name: String,
    pub addr: IpAddr,
}

impl Host {
    pub fn literal(addr: IpAddr) -> Self {
        Host {
            name: addr.to_string(),
            addr,
        }
    }
}

/// `IP DEVICE` pairs: a VIP (`address = 192.168.0.100 eth0:1`) or the NAT router.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AddressDevice {
    pub host: Host,
    /// Interface label as written, e.g. `eth0:1`.
    pub device: String,
}

impl AddressDevice {
    pub fn addr(&self) -> IpAddr {
        self.host.addr
    }

    /// The physical device: the label up to the first `:` (`eth0:1` → `eth0`).
    pub fn base_device(&self) -> &str {
        self.device.split(':').next().unwrap_or(&self.device)
    }
}

/// A string value with the quote it was written with. Legacy stored `send`, `expect`,
/// `send_program`, `start_cmd` and `stop_cmd` re-wrapped in their quotes and stripped only
/// double quotes when passing them on, so the quote is part of the value's meaning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuotedString {
    pub text: String,
    #[serde(serialize_with = "serialize_quote")]
    pub quote: Quote,
}

fn serialize_quote<S: serde::Serializer>(q: &Quote, s: S) -> Result<S::Ok, S::Error> {
    match q.char() {
        Some(c) => s.serialize_some(&c.to_string()),
        None => s.serialize_none(),
    }
}

impl QuotedString {
    /// The value as lvsd/fos hand it to nanny or run it: legacy strips a double quote at
    /// the start and one at the end; single quotes stay part of the value.
    pub fn as_passed(&self) -> String {
        match self.quote {
            Quote::Single => format!("'{}'", self.text),
            _ => self.text.clone(),
        }
    }
}

/// `sorry_server = IP [PORT]` (the port is an extension).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SorryServer {
    pub addr: IpAddr,
    pub port: Option<u16>,
}

/// A `server NAME { ... }` block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RealServer {
    pub name: String,
    /// Physical line of the `server` line (for diagnostics; ignored by [`Config::same_settings`]).
    pub line: u32,
    pub address: Option<Host>,
    pub active: bool,
    pub port: u16,
    pub weight: u32,
}

/// A `virtual NAME { ... }` or `failover NAME { ... }` block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VirtualServer {
    pub name: String,
    pub line: u32,
    pub active: bool,
    pub address: Option<AddressDevice>,
    pub vip_nmask: Option<Ipv4Addr>,
    pub port: u16,
    pub protocol: Protocol,
    pub fwmark: u32,
    pub scheduler: String,
    pub persistent: u32,
    pub pmask: Option<Ipv4Addr>,
    pub timeout: u32,
    pub reentry: u32,
    pub send: Option<QuotedString>,
    pub expect: Option<QuotedString>,
    /// Line and column of the `expect` value (diagnostics; zeroed by
    /// [`Config::without_positions`], not serialised).
    #[serde(skip)]
    pub expect_at: (u32, u32),
    pub use_regex: bool,
    pub send_program: Option<QuotedString>,
    pub load_monitor: Option<String>,
    pub quiesce_server: bool,
    pub sorry_server: Option<SorryServer>,
    /// Extension: this virtual service's forwarding method, overriding the global
    /// `network` (one director serving NAT and direct-routing services); see
    /// [`Config::network_of`].
    pub network: Option<Network>,
    pub client_monitor: String,
    pub start_cmd: Option<QuotedString>,
    pub stop_cmd: Option<QuotedString>,
    /// Extension (fleet): whether the directors announce this service's VIP.
    pub announce: bool,
    /// Extension: the scheduler's flags, ipvsadm's `-b` names (`mh-port`, `mh-fallback`).
    pub scheduler_flags: Vec<String>,
    /// Parsed, unused.
    pub master: Option<Host>,
    /// Parsed, unused.
    pub dirs: Option<Vec<String>>,
    pub servers: Vec<RealServer>,
}

impl VirtualServer {
    /// A block with the legacy defaults (`lvsInitVirtualServer`).
    pub fn new(name: &str, line: u32) -> Self {
        VirtualServer {
            name: name.to_string(),
            line,
            active: false,
            address: None,
            vip_nmask: None,
            port: 80,
            protocol: Protocol::Tcp,
            fwmark: 0,
            scheduler: "wlc".to_string(),
            persistent: 0,
            pmask: None,
            timeout: 10,
            reentry: 180,
            send: None,
            expect: None,
            expect_at: (0, 0),
            use_regex: false,
            send_program: None,
            load_monitor: None,
            quiesce_server: false,
            sorry_server: None,
            network: None,
            client_monitor: DEFAULT_CLIENT_MONITOR.to_string(),
            start_cmd: None,
            stop_cmd: None,
            announce: true,
            scheduler_flags: Vec::new(),
            master: None,
            dirs: None,
            servers: Vec::new(),
        }
    }

    pub fn vip(&self) -> Option<IpAddr> {
        self.address.as_ref().map(|a| a.addr())
    }

    /// Active real servers, in file order.
    pub fn active_servers(&self) -> impl Iterator<Item = &RealServer> {
        self.servers.iter().filter(|s| s.active)
    }

    /// How IPVS identifies this virtual service (a VIP not given yet counts as
    /// 0.0.0.0, so that a file with errors can still be described).
    pub fn identity(&self) -> ServiceKey {
        let vip = self.vip().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        ServiceKey::for_virtual(self.protocol, vip, self.port, self.fwmark)
    }

    /// The IPVS service of this virtual server, if it has a VIP.
    pub fn service_key(&self) -> Option<ServiceKey> {
        let vip = self.vip()?;
        Some(ServiceKey::for_virtual(
            self.protocol,
            vip,
            self.port,
            self.fwmark,
        ))
    }
}

/// A whole lvs.cf file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Config {
    pub serial_no: i64,
    pub service: ServiceType,
    pub primary: Option<Host>,
    pub primary_private: Option<Host>,
    pub primary_shared: Option<String>,
    pub backup: Option<Host>,
    pub backup_private: Option<Host>,
    pub backup_shared: Option<String>,
    pub backup_active: bool,
    /// Parsed, unused (heartbeats depend on `backup_active` only).
    pub heartbeat: bool,
    pub heartbeat_port: u16,
    #[serde(serialize_with = "serialize_secs")]
    pub keepalive: Duration,
    #[serde(serialize_with = "serialize_secs")]
    pub deadtime: Duration,
    pub network: Network,
    pub nat_router: Option<AddressDevice>,
    pub nat_nmask: Option<Ipv4Addr>,
    pub rsh_command: String,
    pub ipvsadm: String,
    pub syncdaemon: bool,
    pub syncd_iface: String,
    pub syncd_id: u32,
    pub tcp_timeout: u32,
    pub tcpfin_timeout: u32,
    pub udp_timeout: u32,
    pub hard_shutdown: bool,
    pub monitor_links: bool,
    pub active_cmd: Option<String>,
    pub inactive_cmd: Option<String>,
    /// Parsed, unused.
    pub debug_level: String,
    /// Parsed, unused.
    pub sync: bool,
    pub reservation_conflict_action: Option<ReservationConflictAction>,
    /// Extension: heartbeat authentication mode.
    pub heartbeat_auth: HeartbeatAuth,
    /// Extension: the file holding the heartbeat key.
    pub heartbeat_key: Option<String>,
    /// Extension: the key's id, carried in each signed heartbeat (0-255).
    pub heartbeat_key_id: u8,
    /// Extension: the primary takes the active role back after being healthy this long
    /// while the backup is active; `None` (legacy) never preempts.
    #[serde(serialize_with = "serialize_opt_secs")]
    pub preempt_delay: Option<Duration>,
    /// Extension: lvsd also runs on the inactive director, so activation is addresses
    /// and announcements only.
    pub warm_standby: bool,
    /// Extension: lvsd runs every real server's monitor itself, in one thread, instead
    /// of one nanny process each (for servers whose `client_monitor` is our nanny).
    pub integrated_monitors: bool,
    /// Extension: after the legacy five announcements, announce the addresses again this
    /// often while active; `None` (legacy) stops after five.
    #[serde(serialize_with = "serialize_opt_secs")]
    pub arp_refresh: Option<Duration>,
    /// Extension: the address and port of the HTTP listener serving the status page and
    /// the Prometheus metrics (docs/control.md); `None` (the default) serves nothing.
    pub status_http: Option<SocketAddr>,
    /// Extension: active-active directors behind BGP ECMP (docs/fleet.md).
    pub fleet: crate::fleet::Fleet,
    /// `virtual` blocks in file order.
    pub virtuals: Vec<VirtualServer>,
    /// `failover` blocks in file order.
    pub failovers: Vec<VirtualServer>,
}

fn serialize_opt_secs<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_f64(d.as_secs_f64()),
        None => s.serialize_none(),
    }
}

fn serialize_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl Default for Config {
    /// The legacy defaults of an empty file (`lvsParseConfig`).
    fn default() -> Self {
        Config {
            serial_no: 0,
            service: ServiceType::Lvs,
            primary: None,
            primary_private: None,
            primary_shared: None,
            backup: None,
            backup_private: None,
            backup_shared: None,
            backup_active: false,
            heartbeat: false,
            heartbeat_port: 539,
            keepalive: Duration::from_secs(2),
            deadtime: Duration::from_secs(5),
            network: Network::Nat,
            nat_router: None,
            nat_nmask: None,
            rsh_command: "rsh".to_string(),
            ipvsadm: DEFAULT_IPVSADM.to_string(),
            syncdaemon: false,
            syncd_iface: "eth0".to_string(),
            syncd_id: 0,
            tcp_timeout: 0,
            tcpfin_timeout: 0,
            udp_timeout: 0,
            hard_shutdown: true,
            monitor_links: false,
            active_cmd: None,
            inactive_cmd: None,
            debug_level: "NONE".to_string(),
            sync: false,
            reservation_conflict_action: None,
            heartbeat_auth: HeartbeatAuth::Off,
            heartbeat_key: None,
            heartbeat_key_id: 0,
            preempt_delay: None,
            warm_standby: false,
            integrated_monitors: false,
            arp_refresh: None,
            status_http: None,
            fleet: crate::fleet::Fleet::default(),
            virtuals: Vec::new(),
            failovers: Vec::new(),
        }
    }
}

impl Config {
    /// Legacy role detection: this director is the primary iff one of its addresses
    /// (`local`) is `primary`.
    pub fn is_primary(&self, local: &[IpAddr]) -> bool {
        self.primary
            .as_ref()
            .is_some_and(|p| local.contains(&p.addr))
    }

    /// The other director's public address, seen from the director holding `local`.
    pub fn partner(&self, local: &[IpAddr]) -> Option<IpAddr> {
        let other = if self.is_primary(local) {
            &self.backup
        } else {
            &self.primary
        };
        other.as_ref().map(|h| h.addr)
    }

    /// Whether the directors run as a fleet (docs/fleet.md) rather than a pair.
    pub fn is_fleet(&self) -> bool {
        self.fleet.is_configured()
    }

    /// The active virtual services the fleet announces.
    pub fn announced_virtuals(&self) -> impl Iterator<Item = &VirtualServer> {
        let fleet = self.is_fleet();
        self.active_virtuals().filter(move |v| fleet && v.announce)
    }

    /// Active `virtual` blocks, in file order.
    pub fn active_virtuals(&self) -> impl Iterator<Item = &VirtualServer> {
        self.virtuals.iter().filter(|v| v.active)
    }

    /// Active `failover` blocks, in file order.
    pub(crate) fn active_failovers(&self) -> impl Iterator<Item = &VirtualServer> {
        self.failovers.iter().filter(|v| v.active)
    }

    /// Active services of the type `service` selects.
    pub fn active_services(&self) -> Box<dyn Iterator<Item = &VirtualServer> + '_> {
        match self.service {
            ServiceType::Lvs => Box::new(self.active_virtuals()),
            ServiceType::Fos => Box::new(self.active_failovers()),
        }
    }

    /// The forwarding method of a virtual service's real servers: its own `network`
    /// (extension) or the global one.
    pub fn network_of(&self, vs: &VirtualServer) -> Network {
        vs.network.unwrap_or(self.network)
    }

    /// Whether the directors need the `nat_router` address: legacy says whenever the
    /// global `network` is `nat`; once a virtual service names its own method, whenever
    /// an active one forwards by NAT.
    pub fn uses_nat(&self) -> bool {
        if self.virtuals.iter().all(|v| v.network.is_none()) {
            return self.network == Network::Nat;
        }
        self.virtuals
            .iter()
            .any(|v| v.active && self.network_of(v) == Network::Nat)
    }

    /// Whether heartbeats go to a backup: `backup_active` with a defined backup (legacy
    /// pulse clears `backup_active` when `backup` is 0.0.0.0).
    pub fn effective_backup_active(&self) -> bool {
        self.backup_active && self.backup.is_some()
    }

    /// Compares everything but source positions: the meaning of two files.
    pub fn same_settings(&self, other: &Config) -> bool {
        self.without_positions() == other.without_positions()
    }

    /// A copy with every source position zeroed.
    pub(crate) fn without_positions(&self) -> Config {
        let mut c = self.clone();
        for v in c.virtuals.iter_mut().chain(c.failovers.iter_mut()) {
            v.line = 0;
            v.expect_at = (0, 0);
            for s in &mut v.servers {
                s.line = 0;
            }
        }
        c
    }
}
