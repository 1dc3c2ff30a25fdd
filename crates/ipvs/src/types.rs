//! IPVS objects: virtual services, destinations (real servers), timeouts, sync daemons,
//! statistics. Independent of how they reach the kernel.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

pub use lvs::{Family, ForwardMethod, Protocol, ServiceKey};

/// Service flags (`IP_VS_SVC_F_*`).
pub mod svc_flags {
    pub const PERSISTENT: u32 = 0x1;
    /// Set by the kernel; never part of a desired state.
    pub(crate) const HASHED: u32 = 0x2;
    pub const ONEPACKET: u32 = 0x4;
    /// sh: fallback; mh: fallback.
    pub const SCHED1: u32 = 0x8;
    /// sh: port; mh: port.
    pub const SCHED2: u32 = 0x10;
    pub const SCHED3: u32 = 0x20;
    /// Flags a caller may set.
    pub const SETTABLE: u32 = PERSISTENT | ONEPACKET | SCHED1 | SCHED2 | SCHED3;
}

/// Persistence granularity: a netmask for IPv4 services, a prefix length for IPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Netmask {
    V4(Ipv4Addr),
    V6Prefix(u8),
}

impl Netmask {
    /// The kernel's (and ipvsadm's) default: 255.255.255.255 or /128.
    pub fn full(family: Family) -> Netmask {
        match family {
            Family::V4 => Netmask::V4(Ipv4Addr::BROADCAST),
            Family::V6 => Netmask::V6Prefix(128),
        }
    }
}

/// A virtual service's settings.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Service {
    pub key: ServiceKey,
    /// Scheduler name (`wlc`, `rr`, ...), at most 15 bytes.
    pub scheduler: String,
    /// `svc_flags::*`; `HASHED` is ignored.
    pub flags: u32,
    /// Persistence timeout in seconds (used with `svc_flags::PERSISTENT`).
    pub timeout: u32,
    pub netmask: Netmask,
    /// Persistence engine (`sip`), if any.
    pub pe_name: Option<String>,
}

impl Service {
    /// A service with the kernel defaults: no persistence, full netmask.
    pub fn new(key: ServiceKey, scheduler: &str) -> Service {
        Service {
            key,
            scheduler: scheduler.to_string(),
            flags: 0,
            timeout: 0,
            netmask: Netmask::full(key.family()),
            pe_name: None,
        }
    }

    /// Persistence of `seconds` (ipvsadm `-p`).
    pub fn persistent(mut self, seconds: u32) -> Service {
        self.flags |= svc_flags::PERSISTENT;
        self.timeout = seconds;
        self
    }

    /// Whether two settings are the same for the kernel (kernel-set flags ignored).
    pub fn same_settings(&self, other: &Service) -> bool {
        self.key == other.key
            && self.scheduler == other.scheduler
            && (self.flags & !svc_flags::HASHED) == (other.flags & !svc_flags::HASHED)
            && self.timeout == other.timeout
            && self.netmask == other.netmask
            && self.pe_name == other.pe_name
    }
}

/// The largest weight IPVS accepts (the kernel keeps it in an `int`; above it the
/// request is refused with EINVAL).
pub const MAX_WEIGHT: u32 = i32::MAX as u32;

/// Tunnel encapsulation for `ForwardMethod::Tunnel` (kernel 5.3+ for GUE and GRE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum TunnelType {
    Ipip,
    /// GUE to this UDP port.
    Gue {
        port: u16,
    },
    Gre,
}

/// Tunnel checksum flags (`IP_VS_TUNNEL_ENCAP_FLAG_*`).
pub mod tun_flags {
    pub const NOCSUM: u16 = 0;
    pub const CSUM: u16 = 1;
    pub const REMCSUM: u16 = 2;
}

/// How a destination is identified within its service.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct DestKey {
    pub addr: IpAddr,
    pub port: u16,
}

impl fmt::Display for DestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        SocketAddr::new(self.addr, self.port).fmt(f)
    }
}

/// A destination's settings.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Destination {
    pub addr: IpAddr,
    pub port: u16,
    pub forward: ForwardMethod,
    /// 0..=i32::MAX.
    pub weight: u32,
    /// Upper and lower connection thresholds (0 = none).
    pub upper_threshold: u32,
    pub lower_threshold: u32,
    /// Tunnel encapsulation (only with `ForwardMethod::Tunnel`).
    pub tunnel: Option<TunnelType>,
    pub tunnel_flags: u16,
}

impl Destination {
    /// A destination with this weight, clamped to what IPVS accepts ([`MAX_WEIGHT`]).
    pub fn new(addr: IpAddr, port: u16, forward: ForwardMethod, weight: u32) -> Destination {
        Destination {
            addr,
            port,
            forward,
            weight: weight.min(MAX_WEIGHT),
            upper_threshold: 0,
            lower_threshold: 0,
            tunnel: None,
            tunnel_flags: 0,
        }
    }

    pub fn key(&self) -> DestKey {
        DestKey {
            addr: self.addr,
            port: self.port,
        }
    }

    /// Whether two settings are the same for the kernel. The tunnel type matters only
    /// for tunnelled destinations (the kernel reports IPIP for the others).
    pub fn same_settings(&self, other: &Destination) -> bool {
        let tunnel = |d: &Destination| match d.forward {
            ForwardMethod::Tunnel => (d.tunnel.unwrap_or(TunnelType::Ipip), d.tunnel_flags),
            _ => (TunnelType::Ipip, 0),
        };
        self.key() == other.key()
            && self.forward == other.forward
            && self.weight == other.weight
            && self.upper_threshold == other.upper_threshold
            && self.lower_threshold == other.lower_threshold
            && tunnel(self) == tunnel(other)
    }
}

/// Traffic counters and rates of a service or destination (64-bit where the kernel has
/// them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub conns: u64,
    pub in_packets: u64,
    pub out_packets: u64,
    pub in_bytes: u64,
    pub out_bytes: u64,
    pub cps: u64,
    pub in_pps: u64,
    pub out_pps: u64,
    pub in_bps: u64,
    pub out_bps: u64,
}

/// A service as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEntry {
    pub service: Service,
    pub stats: Stats,
}

/// A destination as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestEntry {
    pub dest: Destination,
    pub active_conns: u32,
    pub inactive_conns: u32,
    pub persistent_conns: u32,
    pub stats: Stats,
}

/// Connection timeouts in seconds; 0 in a request leaves a value unchanged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Timeouts {
    pub tcp: u32,
    pub tcp_fin: u32,
    pub udp: u32,
}

/// Role of a connection synchronisation daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum SyncState {
    Master,
    Backup,
}

impl SyncState {
    pub fn code(self) -> u32 {
        match self {
            SyncState::Master => 1,
            SyncState::Backup => 2,
        }
    }

    pub fn from_code(c: u32) -> Option<SyncState> {
        match c {
            1 => Some(SyncState::Master),
            2 => Some(SyncState::Backup),
            _ => None,
        }
    }
}

/// A connection synchronisation daemon (`ipvsadm --start-daemon`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SyncDaemon {
    pub state: SyncState,
    pub interface: String,
    pub sync_id: u32,
    /// Optional settings (netlink only); `None` keeps the kernel default.
    pub max_len: Option<u16>,
    pub group: Option<IpAddr>,
    pub port: Option<u16>,
    pub ttl: Option<u8>,
}

impl SyncDaemon {
    pub fn new(state: SyncState, interface: &str, sync_id: u32) -> SyncDaemon {
        SyncDaemon {
            state,
            interface: interface.to_string(),
            sync_id,
            max_len: None,
            group: None,
            port: None,
            ttl: None,
        }
    }
}

/// `GET_INFO`: the IPVS version and connection table size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Info {
    /// e.g. 0x010201 for 1.2.1.
    pub version: u32,
    pub conn_table_size: u32,
}

impl Info {
    pub fn version_string(&self) -> String {
        format!(
            "{}.{}.{}",
            (self.version >> 16) & 0xff,
            (self.version >> 8) & 0xff,
            self.version & 0xff
        )
    }
}

/// Parses an address literal, for the unit tests: `ip("10.0.0.1")` (other crates' tests
/// have `testbed::ip`).
#[cfg(test)]
pub(crate) fn ip(s: &str) -> IpAddr {
    s.parse().expect("a valid IP address literal")
}
