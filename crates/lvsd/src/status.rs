//! What lvsd tells `lvsctl status` (docs/control.md): the manager's view of each virtual
//! service (its real servers, their nannies and last reports, the configured weights, the
//! sorry server), joined with the kernel's (current weights, connections, counters and
//! rates) by [`with_kernel`].

use serde::Serialize;

/// The answer to `status`.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub daemon: &'static str,
    pub pid: u32,
    pub config: String,
    pub services: Vec<Service>,
    /// With `integrated_monitors = 1`: how the monitors inside lvsd keep their schedule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integrated_monitors: Option<MonitorFigures>,
}

/// The integrated monitors' figures (docs/control.md).
#[derive(Debug, Clone, Serialize)]
pub struct MonitorFigures {
    pub monitors: u64,
    /// Probes started since lvsd started.
    pub probes: u64,
    /// The latest any probe started after its due time, since lvsd started.
    pub worst_lateness_ms: f64,
}

impl MonitorFigures {
    pub fn of(s: &nanny::integrated::Stats) -> MonitorFigures {
        use std::sync::atomic::Ordering::Relaxed;
        MonitorFigures {
            monitors: s.monitors.load(Relaxed),
            probes: s.probes.load(Relaxed),
            worst_lateness_ms: s.worst_lateness_us.load(Relaxed) as f64 / 1000.0,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Service {
    pub name: String,
    /// How IPVS knows it: `TCP 192.0.2.1:80`, `FWM 5`.
    pub service: String,
    #[serde(skip)]
    pub key: Option<ipvs::ServiceKey>,
    pub scheduler: String,
    pub persistent: u32,
    pub forwarding: &'static str,
    /// The service could not be set up in IPVS (its nannies wait).
    pub failed: bool,
    pub sorry_server: Option<Sorry>,
    pub real_servers: Vec<RealServer>,
    /// The kernel's counters for the whole service (absent with `--test-start`).
    pub stats: Option<Counters>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Sorry {
    pub address: String,
    /// In the table now (no real server available).
    pub active: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct RealServer {
    pub name: String,
    pub address: String,
    #[serde(skip)]
    pub addr: std::net::SocketAddr,
    pub configured_weight: u32,
    /// Drained by the operator (`lvsctl drain`): weight 0 until enabled.
    pub drained: bool,
    /// The nanny's last report: `up`, `down`, or `unknown` before its first.
    pub health: &'static str,
    /// The nanny: `running`, `starting`, `restarting`, `gave up`.
    pub monitor: &'static str,
    pub monitor_pid: Option<u32>,
    /// The kernel's entry; absent while the server is out of the table.
    pub kernel: Option<KernelEntry>,
}

#[derive(Debug, Clone, Serialize)]
pub struct KernelEntry {
    pub weight: u32,
    pub active_connections: u32,
    pub inactive_connections: u32,
    pub persistent_connections: u32,
    pub stats: Counters,
}

/// IPVS statistics: 64-bit totals and the kernel's rate estimates (per second).
#[derive(Debug, Clone, Serialize)]
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

impl From<&ipvs::Stats> for Counters {
    fn from(s: &ipvs::Stats) -> Counters {
        Counters {
            connections: s.conns,
            packets_in: s.in_packets,
            packets_out: s.out_packets,
            bytes_in: s.in_bytes,
            bytes_out: s.out_bytes,
            connections_per_second: s.cps,
            packets_in_per_second: s.in_pps,
            packets_out_per_second: s.out_pps,
            bytes_in_per_second: s.in_bps,
            bytes_out_per_second: s.out_bps,
        }
    }
}

/// Fills in what the kernel holds: the services' counters, and for each real server its
/// entry (the sorry server's entry shows in `sorry_server.active`). A kernel that cannot
/// be read leaves the figures absent.
pub fn with_kernel(services: &mut [Service], ipvs: &mut ipvs::Ipvs) {
    let Ok(entries) = ipvs.services() else {
        return;
    };
    for s in services.iter_mut() {
        let Some(key) = s.key else { continue };
        let Some(entry) = entries.iter().find(|e| e.service.key == key) else {
            continue;
        };
        s.stats = Some(Counters::from(&entry.stats));
        let Ok(dests) = ipvs.destinations(&key) else {
            continue;
        };
        for rs in s.real_servers.iter_mut() {
            rs.kernel = dests
                .iter()
                .find(|d| d.dest.addr == rs.addr.ip() && d.dest.port == rs.addr.port())
                .map(|d| KernelEntry {
                    weight: d.dest.weight,
                    active_connections: d.active_conns,
                    inactive_connections: d.inactive_conns,
                    persistent_connections: d.persistent_conns,
                    stats: Counters::from(&d.stats),
                });
        }
    }
}
