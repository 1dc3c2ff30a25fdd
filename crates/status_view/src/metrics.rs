//! The Prometheus text exposition (format 0.0.4) of the two status answers
//! (docs/control.md, "Metrics"): what `lvsctl metrics` prints, for node_exporter's
//! textfile collector or any scraper. Pure: the daemons' answers in, text out.

use std::fmt::Write as _;

use status_schema::{
    Counters, DirectorState, Health, Process, PulseStatus, RealServer, Role, Service,
};

use crate::{LvsdAnswer, PulseAnswer};

/// One metric family: its samples are written under one HELP/TYPE header.
struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    samples: Vec<(String, f64)>,
}

#[derive(Default)]
struct Exposition {
    families: Vec<Family>,
}

impl Exposition {
    fn add(
        &mut self,
        name: &'static str,
        kind: &'static str,
        help: &'static str,
        labels: &[(&str, &str)],
        value: f64,
    ) {
        let labels = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
            .collect::<Vec<_>>()
            .join(",");
        let sample = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        match self.families.iter_mut().find(|f| f.name == name) {
            Some(f) => f.samples.push((sample, value)),
            None => self.families.push(Family {
                name,
                kind,
                help,
                samples: vec![(sample, value)],
            }),
        }
    }

    fn text(&self) -> String {
        let mut o = String::new();
        for f in &self.families {
            let _ = writeln!(o, "# HELP {} {}", f.name, f.help);
            let _ = writeln!(o, "# TYPE {} {}", f.name, f.kind);
            for (labels, v) in &f.samples {
                let _ = writeln!(o, "{}{labels} {v}", f.name);
            }
        }
        o
    }
}

/// A label value as the format wants it: `\`, `"` and newlines escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn flag(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

pub fn render(pulse: &PulseAnswer, lvsd: &LvsdAnswer) -> String {
    let mut e = Exposition::default();
    let up = [("pulse", pulse.is_ok()), ("lvsd", lvsd.is_ok())];
    for (daemon, answered) in up {
        e.add(
            "piranha_up",
            "gauge",
            "Whether the daemon answered on its control socket.",
            &[("daemon", daemon)],
            flag(answered),
        );
    }
    let pulse = pulse.as_ref().ok().map(|p| &p.status);
    let lvsd = lvsd.as_ref().ok().map(|l| &l.status);
    let processes = [
        ("pulse", pulse.and_then(|p| p.process.as_ref())),
        ("lvsd", lvsd.and_then(|l| l.process.as_ref())),
    ];
    for (daemon, p) in processes {
        if let Some(p) = p {
            process(&mut e, daemon, p);
        }
    }
    if let Some(p) = pulse {
        director(&mut e, p);
    }
    if let Some(f) = pulse.and_then(|p| p.fleet.as_ref()) {
        fleet(&mut e, f);
    }
    for s in lvsd.into_iter().flat_map(|l| &l.services) {
        service(&mut e, s);
    }
    e.text()
}

/// The daemon's own figures (`"process"` in its status answer): process health.
fn process(e: &mut Exposition, daemon: &str, p: &Process) {
    let labels = [("daemon", daemon)];
    let as_f64 = |v: Option<u64>| v.map(|v| v as f64);
    for (value, name, kind, help) in [
        (
            as_f64(p.resident_bytes),
            "piranha_process_resident_memory_bytes",
            "gauge",
            "Resident memory of the daemon.",
        ),
        (
            p.cpu_seconds,
            "piranha_process_cpu_seconds_total",
            "counter",
            "User and system CPU time of the daemon.",
        ),
        (
            p.start_time_seconds,
            "piranha_process_start_time_seconds",
            "gauge",
            "When the daemon started, in seconds since the epoch.",
        ),
        (
            as_f64(p.open_fds),
            "piranha_process_open_fds",
            "gauge",
            "Open file descriptors of the daemon.",
        ),
        (
            as_f64(p.threads),
            "piranha_process_threads",
            "gauge",
            "Threads of the daemon.",
        ),
    ] {
        if let Some(v) = value {
            e.add(name, kind, help, &labels, v);
        }
    }
}

const STATES: [DirectorState; 5] = [
    DirectorState::Active,
    DirectorState::Standby,
    DirectorState::LinkFailure,
    DirectorState::LvsdFailure,
    DirectorState::Stopping,
];

fn director(e: &mut Exposition, p: &PulseStatus) {
    for s in STATES {
        e.add(
            "piranha_director_state",
            "gauge",
            "This director's state (pulse): 1 for the current one.",
            &[("state", s.word())],
            flag(s == p.state),
        );
    }
    e.add(
        "piranha_director_primary",
        "gauge",
        "1 when lvs.cf names this director the primary, 0 for the backup.",
        &[],
        flag(p.role == Role::Primary),
    );
    e.add(
        "piranha_partner_alive",
        "gauge",
        "1 when a heartbeat from the partner was heard within deadtime.",
        &[],
        flag(p.partner.alive),
    );
    if let Some(ms) = p.partner.last_heard_ms_ago {
        e.add(
            "piranha_partner_heartbeat_age_seconds",
            "gauge",
            "Seconds since the partner's last heartbeat.",
            &[],
            ms as f64 / 1000.0,
        );
    }
    e.add(
        "piranha_director_addresses_held",
        "gauge",
        "Takeover addresses (VIPs, NAT router) this director holds.",
        &[],
        p.addresses.len() as f64,
    );
}

/// A fleet director's view of the fleet (docs/fleet.md, "Who is up").
fn fleet(e: &mut Exposition, f: &status_schema::Fleet) {
    e.add(
        "piranha_fleet_bird_connected",
        "gauge",
        "1 while pulse drives BIRD, which announces the VIPs.",
        &[],
        flag(f.bird == "connected"),
    );
    for d in &f.directors {
        let labels = [("director", d.address.as_str())];
        e.add(
            "piranha_fleet_director_up",
            "gauge",
            "1 for this director and each director heard within deadtime.",
            &labels,
            flag(d.up),
        );
        e.add(
            "piranha_fleet_director_announced_vips",
            "gauge",
            "VIPs the director announces to the router.",
            &labels,
            d.announced.len() as f64,
        );
        e.add(
            "piranha_fleet_director_connections_total",
            "counter",
            "Connections the director scheduled for the fleet's services.",
            &labels,
            d.connections as f64,
        );
        e.add(
            "piranha_fleet_director_connections_per_second",
            "gauge",
            "The kernel's estimate of the director's new connections per second.",
            &labels,
            d.connections_per_second as f64,
        );
    }
}

/// Counters and rates of a service or a real server.
fn traffic(e: &mut Exposition, real: bool, labels: &[(&str, &str)], stats: &Counters) {
    let pick = |a: &'static str, b: &'static str| if real { b } else { a };
    e.add(
        pick(
            "piranha_virtual_connections_total",
            "piranha_real_server_connections_total",
        ),
        "counter",
        "Connections scheduled (IPVS).",
        labels,
        stats.connections as f64,
    );
    let directions = [
        (
            "in",
            stats.packets_in,
            stats.bytes_in,
            stats.bytes_in_per_second,
        ),
        (
            "out",
            stats.packets_out,
            stats.bytes_out,
            stats.bytes_out_per_second,
        ),
    ];
    for (dir, packets, bytes, rate) in directions {
        let mut l = labels.to_vec();
        l.push(("direction", dir));
        for (value, name_v, name_r, help) in [
            (
                packets,
                "piranha_virtual_packets_total",
                "piranha_real_server_packets_total",
                "Packets (IPVS).",
            ),
            (
                bytes,
                "piranha_virtual_bytes_total",
                "piranha_real_server_bytes_total",
                "Bytes (IPVS).",
            ),
        ] {
            e.add(pick(name_v, name_r), "counter", help, &l, value as f64);
        }
        e.add(
            pick(
                "piranha_virtual_bytes_per_second",
                "piranha_real_server_bytes_per_second",
            ),
            "gauge",
            "Bytes per second, the kernel's estimate.",
            &l,
            rate as f64,
        );
    }
    e.add(
        pick(
            "piranha_virtual_connections_per_second",
            "piranha_real_server_connections_per_second",
        ),
        "gauge",
        "Connections per second, the kernel's estimate.",
        labels,
        stats.connections_per_second as f64,
    );
}

fn service(e: &mut Exposition, s: &Service) {
    let labels = [
        ("virtual", s.name.as_str()),
        ("service", s.service.as_str()),
    ];
    e.add(
        "piranha_virtual_in_ipvs",
        "gauge",
        "1 when the virtual service is set up in IPVS.",
        &labels,
        flag(!s.failed),
    );
    if let Some(sorry) = &s.sorry_server {
        e.add(
            "piranha_sorry_server_serving",
            "gauge",
            "1 while the sorry server serves (no real server available).",
            &labels,
            flag(sorry.active),
        );
    }
    if let Some(stats) = &s.stats {
        traffic(e, false, &labels, stats);
    }
    for rs in &s.real_servers {
        real_server(e, &s.name, rs);
    }
}

fn real_server(e: &mut Exposition, virtual_name: &str, rs: &RealServer) {
    let labels = [
        ("virtual", virtual_name),
        ("server", rs.name.as_str()),
        ("address", rs.address.as_str()),
    ];
    for h in [Health::Up, Health::Down, Health::Unknown] {
        let mut l = labels.to_vec();
        l.push(("health", h.word()));
        e.add(
            "piranha_real_server_health",
            "gauge",
            "The real server's health from its nanny: 1 for the current one.",
            &l,
            flag(h == rs.health),
        );
    }
    e.add(
        "piranha_real_server_in_table",
        "gauge",
        "1 while the real server is in the IPVS table.",
        &labels,
        flag(rs.kernel.is_some()),
    );
    e.add(
        "piranha_real_server_drained",
        "gauge",
        "1 while drained by the operator (lvsctl drain).",
        &labels,
        flag(rs.drained),
    );
    e.add(
        "piranha_real_server_configured_weight",
        "gauge",
        "The weight lvs.cf gives the real server.",
        &labels,
        f64::from(rs.configured_weight),
    );
    let Some(k) = &rs.kernel else {
        return;
    };
    for (value, name, help) in [
        (
            k.weight,
            "piranha_real_server_weight",
            "The real server's current IPVS weight.",
        ),
        (
            k.active_connections,
            "piranha_real_server_active_connections",
            "Active connections (IPVS).",
        ),
        (
            k.inactive_connections,
            "piranha_real_server_inactive_connections",
            "Inactive connections (IPVS).",
        ),
    ] {
        e.add(name, "gauge", help, &labels, f64::from(value));
    }
    traffic(e, true, &labels, &k.stats);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{self, said};
    use serde_json::json;

    #[test]
    fn families_once_with_their_samples_and_escaped_labels() {
        let mut pulse = fixtures::pulse();
        pulse["role"] = json!("backup");
        pulse["partner"]["alive"] = json!(false);
        pulse["partner"]["last_heard_ms_ago"] = json!(2500);
        pulse["process"]["threads"] = json!(null);
        let mut lvsd = fixtures::lvsd();
        lvsd["services"][0]["name"] = json!("we\"b");
        lvsd["services"][0]["real_servers"][0]["kernel"]["weight"] = json!(0);
        let t = render(&said(pulse), &said(lvsd));
        assert_eq!(t.matches("# TYPE piranha_up gauge").count(), 1, "{t}");
        assert!(t.contains("piranha_up{daemon=\"pulse\"} 1\n"), "{t}");
        assert!(t.contains("piranha_director_state{state=\"active\"} 1\n"));
        assert!(t.contains("piranha_director_state{state=\"standby\"} 0\n"));
        assert!(t.contains("piranha_director_primary 0\n"));
        assert!(t.contains("piranha_partner_heartbeat_age_seconds 2.5\n"));
        assert!(t.contains("piranha_director_addresses_held 2\n"));
        assert!(t.contains("piranha_process_resident_memory_bytes{daemon=\"pulse\"} 5836800\n"));
        assert!(t.contains("piranha_process_cpu_seconds_total{daemon=\"pulse\"} 1.25\n"));
        assert!(t.contains("# TYPE piranha_process_cpu_seconds_total counter\n"));
        assert!(
            !t.contains("piranha_process_threads{daemon=\"pulse\"}"),
            "an unknown figure is left out"
        );
        assert!(t.contains(
            "piranha_virtual_connections_total{virtual=\"we\\\"b\",service=\"TCP 192.0.2.100:80\"} 5012\n"
        ), "{t}");
        assert!(t.contains("piranha_virtual_bytes_total{virtual=\"we\\\"b\",service=\"TCP 192.0.2.100:80\",direction=\"out\"} 0\n"), "{t}");
        let a = "virtual=\"we\\\"b\",server=\"a\",address=\"10.0.0.1:80\"";
        assert!(
            t.contains(&format!("piranha_real_server_weight{{{a}}} 0\n")),
            "{t}"
        );
        assert!(t.contains(&format!(
            "piranha_real_server_health{{{a},health=\"up\"}} 1\n"
        )));
        let b = "virtual=\"we\\\"b\",server=\"b\",address=\"10.0.0.2:80\"";
        assert!(t.contains(&format!("piranha_real_server_drained{{{b}}} 1\n")));
        assert!(t.contains(&format!("piranha_real_server_in_table{{{b}}} 0\n")));
        assert!(
            !t.contains(&format!("piranha_real_server_weight{{{b}}}")),
            "out: no weight"
        );
    }

    #[test]
    fn a_fleet_director_shows_each_director() {
        let mut pulse = fixtures::pulse();
        pulse["fleet"] = serde_json::json!({"bird": "connected", "directors": [
            {"address": "10.77.0.11", "this": true, "up": true, "announced": ["10.77.100.1"],
             "connections": 7, "share_percent": 70.0, "last_heard_ms_ago": null},
            {"address": "10.77.0.12", "this": false, "up": false, "announced": [],
             "connections": 0, "share_percent": 0.0, "last_heard_ms_ago": 9000}]});
        let t = render(&said(pulse), &said(fixtures::lvsd()));
        assert!(t.contains("piranha_fleet_bird_connected 1\n"), "{t}");
        assert!(t.contains("piranha_fleet_director_up{director=\"10.77.0.12\"} 0\n"));
        assert!(t.contains("piranha_fleet_director_connections_total{director=\"10.77.0.11\"} 7\n"));
        assert!(t.contains("piranha_fleet_director_announced_vips{director=\"10.77.0.11\"} 1\n"));
    }

    #[test]
    fn a_daemon_that_does_not_answer_is_a_zero_up() {
        let t = render(&Err("gone".into()), &Err("gone".into()));
        assert_eq!(
            t,
            "# HELP piranha_up Whether the daemon answered on its control socket.\n\
             # TYPE piranha_up gauge\npiranha_up{daemon=\"pulse\"} 0\npiranha_up{daemon=\"lvsd\"} 0\n"
        );
    }
}
