//! The Prometheus text exposition (format 0.0.4) of the two status answers
//! (docs/control.md, "Metrics"): what `lvsctl metrics` prints, for node_exporter's
//! textfile collector or any scraper. Pure: the daemons' answers in, text out.

use std::fmt::Write as _;

use serde_json::Value;

use crate::Answer;

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

fn num(v: &Value) -> Option<f64> {
    v.as_f64()
}

fn flag(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

pub fn render(pulse: &Answer, lvsd: &Answer) -> String {
    let mut e = Exposition::default();
    for (daemon, answer) in [("pulse", pulse), ("lvsd", lvsd)] {
        e.add(
            "piranha_up",
            "gauge",
            "Whether the daemon answered on its control socket.",
            &[("daemon", daemon)],
            flag(answer.is_ok()),
        );
    }
    for (daemon, answer) in [("pulse", pulse), ("lvsd", lvsd)] {
        if let Ok(v) = answer {
            process(&mut e, daemon, &v["process"]);
        }
    }
    if let Ok(p) = pulse {
        director(&mut e, p);
    }
    if let Ok(l) = lvsd {
        for s in l["services"].as_array().into_iter().flatten() {
            service(&mut e, s);
        }
    }
    e.text()
}

/// The daemon's own figures (`"process"` in its status answer): process health.
fn process(e: &mut Exposition, daemon: &str, p: &Value) {
    let labels = [("daemon", daemon)];
    for (key, name, kind, help) in [
        (
            "resident_bytes",
            "piranha_process_resident_memory_bytes",
            "gauge",
            "Resident memory of the daemon.",
        ),
        (
            "cpu_seconds",
            "piranha_process_cpu_seconds_total",
            "counter",
            "User and system CPU time of the daemon.",
        ),
        (
            "start_time_seconds",
            "piranha_process_start_time_seconds",
            "gauge",
            "When the daemon started, in seconds since the epoch.",
        ),
        (
            "open_fds",
            "piranha_process_open_fds",
            "gauge",
            "Open file descriptors of the daemon.",
        ),
        (
            "threads",
            "piranha_process_threads",
            "gauge",
            "Threads of the daemon.",
        ),
    ] {
        if let Some(v) = num(&p[key]) {
            e.add(name, kind, help, &labels, v);
        }
    }
}

const STATES: [&str; 5] = [
    "active",
    "standby",
    "link failure",
    "lvsd failure",
    "stopping",
];

fn director(e: &mut Exposition, p: &Value) {
    let state = p["state"].as_str().unwrap_or("");
    for s in STATES {
        e.add(
            "piranha_director_state",
            "gauge",
            "This director's state (pulse): 1 for the current one.",
            &[("state", s)],
            flag(s == state),
        );
    }
    let role = p["role"].as_str().unwrap_or("");
    e.add(
        "piranha_director_primary",
        "gauge",
        "1 when lvs.cf names this director the primary, 0 for the backup.",
        &[],
        flag(role == "primary"),
    );
    let partner = &p["partner"];
    e.add(
        "piranha_partner_alive",
        "gauge",
        "1 when a heartbeat from the partner was heard within deadtime.",
        &[],
        flag(partner["alive"] == true),
    );
    if let Some(ms) = num(&partner["last_heard_ms_ago"]) {
        e.add(
            "piranha_partner_heartbeat_age_seconds",
            "gauge",
            "Seconds since the partner's last heartbeat.",
            &[],
            ms / 1000.0,
        );
    }
    e.add(
        "piranha_director_addresses_held",
        "gauge",
        "Takeover addresses (VIPs, NAT router) this director holds.",
        &[],
        p["addresses"].as_array().map_or(0, Vec::len) as f64,
    );
}

/// Counters and rates of a service or a real server, under `prefix`.
fn traffic(e: &mut Exposition, real: bool, labels: &[(&str, &str)], stats: &Value) {
    let pick = |a: &'static str, b: &'static str| if real { b } else { a };
    if let Some(v) = num(&stats["connections"]) {
        e.add(
            pick(
                "piranha_virtual_connections_total",
                "piranha_real_server_connections_total",
            ),
            "counter",
            "Connections scheduled (IPVS).",
            labels,
            v,
        );
    }
    for dir in ["in", "out"] {
        let mut l = labels.to_vec();
        l.push(("direction", dir));
        for (key, name_v, name_r, help) in [
            (
                "packets",
                "piranha_virtual_packets_total",
                "piranha_real_server_packets_total",
                "Packets (IPVS).",
            ),
            (
                "bytes",
                "piranha_virtual_bytes_total",
                "piranha_real_server_bytes_total",
                "Bytes (IPVS).",
            ),
        ] {
            if let Some(v) = num(&stats[format!("{key}_{dir}")]) {
                e.add(pick(name_v, name_r), "counter", help, &l, v);
            }
        }
        if let Some(v) = num(&stats[format!("bytes_{dir}_per_second")]) {
            e.add(
                pick(
                    "piranha_virtual_bytes_per_second",
                    "piranha_real_server_bytes_per_second",
                ),
                "gauge",
                "Bytes per second, the kernel's estimate.",
                &l,
                v,
            );
        }
    }
    if let Some(v) = num(&stats["connections_per_second"]) {
        e.add(
            pick(
                "piranha_virtual_connections_per_second",
                "piranha_real_server_connections_per_second",
            ),
            "gauge",
            "Connections per second, the kernel's estimate.",
            labels,
            v,
        );
    }
}

fn service(e: &mut Exposition, s: &Value) {
    let name = s["name"].as_str().unwrap_or("");
    let id = s["service"].as_str().unwrap_or("");
    let labels = [("virtual", name), ("service", id)];
    e.add(
        "piranha_virtual_in_ipvs",
        "gauge",
        "1 when the virtual service is set up in IPVS.",
        &labels,
        flag(s["failed"] != true),
    );
    if let Some(sorry) = s.get("sorry_server").filter(|v| !v.is_null()) {
        e.add(
            "piranha_sorry_server_serving",
            "gauge",
            "1 while the sorry server serves (no real server available).",
            &labels,
            flag(sorry["active"] == true),
        );
    }
    traffic(e, false, &labels, &s["stats"]);
    for rs in s["real_servers"].as_array().into_iter().flatten() {
        real_server(e, name, rs);
    }
}

fn real_server(e: &mut Exposition, virtual_name: &str, rs: &Value) {
    let labels = [
        ("virtual", virtual_name),
        ("server", rs["name"].as_str().unwrap_or("")),
        ("address", rs["address"].as_str().unwrap_or("")),
    ];
    let health = rs["health"].as_str().unwrap_or("unknown");
    for h in ["up", "down", "unknown"] {
        let mut l = labels.to_vec();
        l.push(("health", h));
        e.add(
            "piranha_real_server_health",
            "gauge",
            "The real server's health from its nanny: 1 for the current one.",
            &l,
            flag(h == health),
        );
    }
    let k = &rs["kernel"];
    e.add(
        "piranha_real_server_in_table",
        "gauge",
        "1 while the real server is in the IPVS table.",
        &labels,
        flag(!k.is_null()),
    );
    e.add(
        "piranha_real_server_drained",
        "gauge",
        "1 while drained by the operator (lvsctl drain).",
        &labels,
        flag(rs["drained"] == true),
    );
    if let Some(w) = num(&rs["configured_weight"]) {
        e.add(
            "piranha_real_server_configured_weight",
            "gauge",
            "The weight lvs.cf gives the real server.",
            &labels,
            w,
        );
    }
    if k.is_null() {
        return;
    }
    for (key, name, help) in [
        (
            "weight",
            "piranha_real_server_weight",
            "The real server's current IPVS weight.",
        ),
        (
            "active_connections",
            "piranha_real_server_active_connections",
            "Active connections (IPVS).",
        ),
        (
            "inactive_connections",
            "piranha_real_server_inactive_connections",
            "Inactive connections (IPVS).",
        ),
    ] {
        if let Some(v) = num(&k[key]) {
            e.add(name, "gauge", help, &labels, v);
        }
    }
    traffic(e, true, &labels, &k["stats"]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn families_once_with_their_samples_and_escaped_labels() {
        let pulse = json!({"state": "active", "role": "backup", "addresses": ["a", "b"],
                           "partner": {"alive": false, "last_heard_ms_ago": 2500},
                           "process": {"resident_bytes": 4096000, "cpu_seconds": 1.25,
                                       "open_fds": 9, "threads": null}});
        let lvsd = json!({"services": [{"name": "we\"b", "service": "TCP 192.0.2.1:80",
            "failed": false, "sorry_server": null,
            "stats": {"connections": 7, "packets_in": 1, "packets_out": 2, "bytes_in": 3,
                      "bytes_out": 4, "connections_per_second": 0, "bytes_in_per_second": 5,
                      "bytes_out_per_second": 6},
            "real_servers": [{"name": "a", "address": "10.0.0.1:80", "health": "up",
                              "configured_weight": 3, "drained": true,
                              "kernel": {"weight": 0, "active_connections": 2,
                                         "inactive_connections": 1, "stats": {"connections": 7}}},
                             {"name": "b", "address": "10.0.0.2:80", "health": "down",
                              "configured_weight": 1, "kernel": null}]}]});
        let t = render(&Ok(pulse), &Ok(lvsd));
        assert_eq!(t.matches("# TYPE piranha_up gauge").count(), 1, "{t}");
        assert!(t.contains("piranha_up{daemon=\"pulse\"} 1\n"), "{t}");
        assert!(t.contains("piranha_director_state{state=\"active\"} 1\n"));
        assert!(t.contains("piranha_director_state{state=\"standby\"} 0\n"));
        assert!(t.contains("piranha_director_primary 0\n"));
        assert!(t.contains("piranha_partner_heartbeat_age_seconds 2.5\n"));
        assert!(t.contains("piranha_director_addresses_held 2\n"));
        assert!(t.contains("piranha_process_resident_memory_bytes{daemon=\"pulse\"} 4096000\n"));
        assert!(t.contains("piranha_process_cpu_seconds_total{daemon=\"pulse\"} 1.25\n"));
        assert!(t.contains("# TYPE piranha_process_cpu_seconds_total counter\n"));
        assert!(
            !t.contains("piranha_process_threads"),
            "an unknown figure is left out"
        );
        assert!(t.contains(
            "piranha_virtual_connections_total{virtual=\"we\\\"b\",service=\"TCP 192.0.2.1:80\"} 7\n"
        ), "{t}");
        assert!(t.contains("piranha_virtual_bytes_total{virtual=\"we\\\"b\",service=\"TCP 192.0.2.1:80\",direction=\"out\"} 4\n"), "{t}");
        let a = "virtual=\"we\\\"b\",server=\"a\",address=\"10.0.0.1:80\"";
        assert!(
            t.contains(&format!("piranha_real_server_weight{{{a}}} 0\n")),
            "{t}"
        );
        assert!(t.contains(&format!("piranha_real_server_drained{{{a}}} 1\n")));
        assert!(t.contains(&format!(
            "piranha_real_server_health{{{a},health=\"up\"}} 1\n"
        )));
        let b = "virtual=\"we\\\"b\",server=\"b\",address=\"10.0.0.2:80\"";
        assert!(t.contains(&format!("piranha_real_server_in_table{{{b}}} 0\n")));
        assert!(
            !t.contains(&format!("piranha_real_server_weight{{{b}}}")),
            "out: no weight"
        );
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
