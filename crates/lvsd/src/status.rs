//! What lvsd tells `lvsctl status` (docs/control.md), in the one status schema
//! (`status_schema`): the manager's view of each virtual service (its real servers, their
//! nannies and last reports, the configured weights, the sorry server), joined with the
//! kernel's (current weights, connections, counters and rates) by [`with_kernel`].

use status_schema::{Counters, KernelEntry, MonitorFigures, Service};

/// The integrated monitors' figures.
pub(crate) fn monitor_figures(s: &nanny::integrated::Stats) -> MonitorFigures {
    use std::sync::atomic::Ordering::Relaxed;
    MonitorFigures {
        monitors: s.monitors.load(Relaxed),
        probes: s.probes.load(Relaxed),
        worst_lateness_ms: s.worst_lateness_us.load(Relaxed) as f64 / 1000.0,
    }
}

fn counters(s: &ipvs::Stats) -> Counters {
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

/// Fills in what the kernel holds: the services' counters (`keys[i]` is service `i`'s
/// identity in IPVS), and for each real server its entry (the sorry server's entry shows
/// in `sorry_server.active`). A kernel that cannot be read leaves the figures absent.
pub(crate) fn with_kernel(
    services: &mut [Service],
    keys: &[Option<ipvs::ServiceKey>],
    ipvs: &mut ipvs::Ipvs,
) {
    let Ok(entries) = ipvs.services() else {
        return;
    };
    for (s, key) in services.iter_mut().zip(keys) {
        let Some(key) = key else { continue };
        let Some(entry) = entries.iter().find(|e| e.service.key == *key) else {
            continue;
        };
        s.stats = Some(counters(&entry.stats));
        let Ok(dests) = ipvs.destinations(key) else {
            continue;
        };
        for rs in s.real_servers.iter_mut() {
            let Ok(addr) = rs.address.parse::<std::net::SocketAddr>() else {
                continue;
            };
            rs.kernel = dests
                .iter()
                .find(|d| d.dest.addr == addr.ip() && d.dest.port == addr.port())
                .map(|d| KernelEntry {
                    weight: d.dest.weight,
                    active_connections: d.active_conns,
                    inactive_connections: d.inactive_conns,
                    persistent_connections: d.persistent_conns,
                    stats: counters(&d.stats),
                });
        }
    }
}
