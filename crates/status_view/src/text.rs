//! The one-screen status: this director and its partner (pulse), then each virtual
//! service with its real servers (lvsd and the kernel). A daemon that did not answer is
//! named with the reason, and the rest is shown.

use std::fmt::Write as _;

use serde_json::Value;

use crate::{count, text, Answer};

pub fn render(pulse: &Answer, lvsd: &Answer) -> String {
    let mut o = String::new();
    match pulse {
        Ok(p) => director(&mut o, p),
        Err(e) => {
            let _ = writeln!(o, "director   pulse is not answering: {e}");
        }
    }
    // Failover services run fos, not lvsd: no virtual services to show.
    let fos = pulse.as_ref().is_ok_and(|p| p["service"] == "fos");
    match lvsd {
        Ok(l) => services(&mut o, l),
        Err(_) if fos => {}
        Err(e) => {
            let _ = writeln!(o, "services   lvsd is not answering: {e}");
        }
    }
    o
}

fn director(o: &mut String, p: &Value) {
    let partner = &p["partner"];
    let heard = crate::heard(partner);
    let _ = writeln!(
        o,
        "director   {} ({}), pulse pid {}",
        text(p, "state"),
        text(p, "role"),
        p["pid"]
    );
    let _ = writeln!(o, "partner    {}: {heard}", text(partner, "address"));
    let held: Vec<&str> = p["addresses"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let _ = writeln!(
        o,
        "addresses  {}",
        if held.is_empty() {
            "none held".to_string()
        } else {
            held.join(", ")
        }
    );
    if p["service"] == "fos" {
        let _ = match p["fos_pid"].as_u64() {
            Some(pid) if p["state"] == "active" => writeln!(o, "fos        --active, pid {pid}"),
            Some(pid) => writeln!(o, "fos        --monitor, pid {pid}"),
            None => writeln!(o, "fos        not running"),
        };
    }
    let _ = writeln!(
        o,
        "heartbeat  every {} ms, dead after {} ms, authentication {}",
        p["keepalive_ms"],
        p["deadtime_ms"],
        text(p, "heartbeat_auth")
    );
}

fn services(o: &mut String, l: &Value) {
    let _ = writeln!(o, "lvsd       pid {}, {}", l["pid"], text(l, "config"));
    let empty = Vec::new();
    for s in l["services"].as_array().unwrap_or(&empty) {
        let _ = writeln!(
            o,
            "\n{}  {}  {}{}  {}{}",
            text(s, "name"),
            text(s, "service"),
            text(s, "scheduler"),
            match s["persistent"].as_u64() {
                Some(p) if p > 0 => format!(" persistent {p} s"),
                _ => String::new(),
            },
            text(s, "forwarding"),
            if s["failed"] == true {
                "  NOT IN IPVS (see the log)"
            } else {
                ""
            }
        );
        let _ = writeln!(
            o,
            "  {:<12} {:<24} {:<8} {:<11} {:>6} {:>6} {:>7} {:>7} {:>9} {:>6} {:>10} {:>10}",
            "SERVER",
            "ADDRESS",
            "HEALTH",
            "NANNY",
            "WEIGHT",
            "CONF",
            "ACTIVE",
            "INACT",
            "CONNS",
            "CPS",
            "IN B/s",
            "OUT B/s"
        );
        for rs in s["real_servers"].as_array().unwrap_or(&empty) {
            real_server(o, rs);
        }
        if let Some(sorry) = s.get("sorry_server").filter(|v| !v.is_null()) {
            let _ = writeln!(
                o,
                "  {:<12} {:<24} {}",
                "sorry",
                text(sorry, "address"),
                if sorry["active"] == true {
                    "SERVING (no real server available)"
                } else {
                    "standing by"
                }
            );
        }
    }
}

fn real_server(o: &mut String, rs: &Value) {
    let drained = if rs["drained"] == true {
        "  DRAINED"
    } else {
        ""
    };
    let k = &rs["kernel"];
    let _ = writeln!(
        o,
        "  {:<12} {:<24} {:<8} {:<11} {:>6} {:>6} {:>7} {:>7} {:>9} {:>6} {:>10} {:>10}{drained}",
        text(rs, "name"),
        text(rs, "address"),
        text(rs, "health"),
        text(rs, "monitor"),
        if k.is_null() {
            "out".to_string()
        } else {
            count(&k["weight"])
        },
        count(&rs["configured_weight"]),
        count(&k["active_connections"]),
        count(&k["inactive_connections"]),
        count(&k["stats"]["connections"]),
        count(&k["stats"]["connections_per_second"]),
        count(&k["stats"]["bytes_in_per_second"]),
        count(&k["stats"]["bytes_out_per_second"]),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pulse() -> Value {
        json!({"daemon": "pulse", "pid": 7, "role": "primary", "state": "active",
               "partner": {"address": "192.0.2.11", "alive": true, "last_said": "stopped",
                           "last_heard_ms_ago": 120},
               "addresses": ["192.0.2.100/24 eth0:1"], "lvsd_pid": 8,
               "keepalive_ms": 2000, "deadtime_ms": 5000, "heartbeat_auth": "off"})
    }

    fn lvsd() -> Value {
        json!({"daemon": "lvsd", "pid": 8, "config": "/etc/sysconfig/ha/lvs.cf",
               "services": [{"name": "web", "service": "TCP 192.0.2.100:80", "scheduler": "wlc",
                             "persistent": 0, "forwarding": "nat", "failed": false,
                             "sorry_server": {"address": "10.0.0.99:80", "active": false},
                             "stats": null,
                             "real_servers": [
                {"name": "a", "address": "10.0.0.21:80", "configured_weight": 5, "health": "up",
                 "monitor": "running", "monitor_pid": 9,
                 "kernel": {"weight": 5, "active_connections": 3, "inactive_connections": 4,
                            "persistent_connections": 0,
                            "stats": {"connections": 120, "connections_per_second": 2,
                                      "bytes_in_per_second": 100, "bytes_out_per_second": 900}}},
                {"name": "b", "address": "10.0.0.22:80", "configured_weight": 1, "health": "down",
                 "drained": true,
                 "monitor": "restarting", "monitor_pid": null, "kernel": null}]}]})
    }

    #[test]
    fn in_fos_mode_the_running_fos_is_shown_and_no_lvsd_is_missed() {
        let mut p = pulse();
        p["service"] = json!("fos");
        p["fos_pid"] = json!(12);
        p["state"] = json!("standby");
        let s = render(
            &Ok(p.clone()),
            &Err("/var/run/lvs.sock: no such file".into()),
        );
        assert!(s.contains("fos        --monitor, pid 12"), "{s}");
        assert!(!s.contains("lvsd is not answering"), "{s}");
        p["state"] = json!("active");
        let s = render(&Ok(p), &Err("x".into()));
        assert!(s.contains("fos        --active, pid 12"), "{s}");
        // LVS mode still names a silent lvsd.
        let s = render(&Ok(pulse()), &Err("x".into()));
        assert!(s.contains("lvsd is not answering"), "{s}");
    }

    #[test]
    fn one_screen_with_the_director_and_each_real_server() {
        let s = render(&Ok(pulse()), &Ok(lvsd()));
        assert!(
            s.contains("director   active (primary), pulse pid 7"),
            "{s}"
        );
        assert!(
            s.contains("partner    192.0.2.11: alive, said stopped 120 ms ago"),
            "{s}"
        );
        assert!(s.contains("addresses  192.0.2.100/24 eth0:1"), "{s}");
        assert!(s.contains("web  TCP 192.0.2.100:80  wlc  nat"), "{s}");
        let a = s
            .lines()
            .find(|l| l.trim_start().starts_with("a "))
            .unwrap();
        let cols: Vec<&str> = a.split_whitespace().collect();
        assert_eq!(
            cols,
            [
                "a",
                "10.0.0.21:80",
                "up",
                "running",
                "5",
                "5",
                "3",
                "4",
                "120",
                "2",
                "100",
                "900"
            ]
        );
        let b = s
            .lines()
            .find(|l| l.trim_start().starts_with("b "))
            .unwrap();
        let cols: Vec<&str> = b.split_whitespace().collect();
        assert_eq!(&cols[2..6], ["down", "restarting", "out", "1"], "{b}");
        assert!(b.ends_with("  DRAINED"), "{b}");
        assert!(!a.contains("DRAINED"), "{a}");
        assert!(
            s.contains("sorry        10.0.0.99:80             standing by"),
            "{s}"
        );
    }

    #[test]
    fn a_daemon_that_does_not_answer_is_named_and_the_rest_shown() {
        let s = render(
            &Err("/var/run/pulse.sock: No such file or directory".into()),
            &Ok(lvsd()),
        );
        assert!(s.starts_with(
            "director   pulse is not answering: /var/run/pulse.sock: No such file or directory\n"
        ));
        assert!(s.contains("web  TCP 192.0.2.100:80"), "{s}");
        let s = render(&Ok(pulse()), &Err("refused".into()));
        assert!(
            s.contains("services   lvsd is not answering: refused"),
            "{s}"
        );
    }
}
