//! The one-screen status: this director and its partner (pulse), then each virtual
//! service with its real servers (lvsd and the kernel). A daemon that did not answer is
//! named with the reason, and the rest is shown.

use std::fmt::Write as _;

use status_schema::{DirectorState, LvsdStatus, PulseStatus, RealServer, Service, ServiceKind};

use crate::{count, LvsdAnswer, PulseAnswer};

pub fn render(pulse: &PulseAnswer, lvsd: &LvsdAnswer) -> String {
    let mut o = String::new();
    match pulse {
        Ok(p) => director(&mut o, &p.status),
        Err(e) => {
            let _ = writeln!(o, "director   pulse is not answering: {e}");
        }
    }
    // Failover services run fos, not lvsd: no virtual services to show.
    let fos = pulse
        .as_ref()
        .is_ok_and(|p| p.status.service == ServiceKind::Fos);
    match lvsd {
        Ok(l) => services(&mut o, &l.status),
        Err(_) if fos => {}
        Err(e) => {
            let _ = writeln!(o, "services   lvsd is not answering: {e}");
        }
    }
    o
}

fn director(o: &mut String, p: &PulseStatus) {
    let heard = crate::heard(&p.partner);
    let _ = writeln!(
        o,
        "director   {} ({}), pulse pid {}",
        p.state.word(),
        role(p),
        p.pid
    );
    match &p.fleet {
        Some(f) => fleet(o, f),
        None => {
            let partner = p.partner.address.as_deref().unwrap_or("?");
            let _ = writeln!(o, "partner    {partner}: {heard}");
        }
    }
    let held = if p.addresses.is_empty() {
        "none held".to_string()
    } else {
        p.addresses.join(", ")
    };
    let _ = writeln!(o, "addresses  {held}");
    if p.service == ServiceKind::Fos {
        let _ = match p.fos_pid {
            Some(pid) if p.state == DirectorState::Active => {
                writeln!(o, "fos        --active, pid {pid}")
            }
            Some(pid) => writeln!(o, "fos        --monitor, pid {pid}"),
            None => writeln!(o, "fos        not running"),
        };
    }
    let _ = writeln!(
        o,
        "heartbeat  every {} ms, dead after {} ms, authentication {}",
        p.keepalive_ms, p.deadtime_ms, p.heartbeat_auth
    );
}

/// One line per director of the fleet, then BIRD's state.
fn fleet(o: &mut String, f: &status_schema::Fleet) {
    for d in &f.directors {
        let who = if d.this { " (this one)" } else { "" };
        let state = if d.up { "up" } else { "not heard" };
        let vips = if d.announced.is_empty() {
            "nothing announced".to_string()
        } else {
            format!("announces {}", d.announced.join(", "))
        };
        let _ = writeln!(
            o,
            "fleet      {}{who}: {state}, {vips}, {} connections ({}%), {}/s",
            d.address, d.connections, d.share_percent, d.connections_per_second
        );
    }
    let _ = writeln!(o, "bird       {}", f.bird);
}

pub(crate) fn role(p: &PulseStatus) -> &'static str {
    match p.role {
        status_schema::Role::Primary => "primary",
        status_schema::Role::Backup => "backup",
    }
}

fn services(o: &mut String, l: &LvsdStatus) {
    let _ = writeln!(o, "lvsd       pid {}, {}", l.pid, l.config);
    for s in &l.services {
        service(o, s);
    }
}

fn service(o: &mut String, s: &Service) {
    let persistent = match s.persistent {
        0 => String::new(),
        p => format!(" persistent {p} s"),
    };
    let failed = if s.failed {
        "  NOT IN IPVS (see the log)"
    } else {
        ""
    };
    let _ = writeln!(
        o,
        "\n{}  {}  {}{persistent}  {}{failed}",
        s.name, s.service, s.scheduler, s.forwarding
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
    for rs in &s.real_servers {
        real_server(o, rs);
    }
    if let Some(sorry) = &s.sorry_server {
        let serving = if sorry.active {
            "SERVING (no real server available)"
        } else {
            "standing by"
        };
        let _ = writeln!(o, "  {:<12} {:<24} {serving}", "sorry", sorry.address);
    }
}

fn real_server(o: &mut String, rs: &RealServer) {
    let drained = if rs.drained { "  DRAINED" } else { "" };
    let k = rs.kernel.as_ref();
    let stats = k.map(|k| &k.stats);
    let _ = writeln!(
        o,
        "  {:<12} {:<24} {:<8} {:<11} {:>6} {:>6} {:>7} {:>7} {:>9} {:>6} {:>10} {:>10}{drained}",
        rs.name,
        rs.address,
        rs.health.word(),
        rs.monitor.word(),
        k.map_or_else(|| "out".to_string(), |k| k.weight.to_string()),
        rs.configured_weight,
        count(k.map(|k| k.active_connections)),
        count(k.map(|k| k.inactive_connections)),
        count(stats.map(|s| s.connections)),
        count(stats.map(|s| s.connections_per_second)),
        count(stats.map(|s| s.bytes_in_per_second)),
        count(stats.map(|s| s.bytes_out_per_second)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{self, said};
    use serde_json::json;

    #[test]
    fn in_fos_mode_the_running_fos_is_shown_and_no_lvsd_is_missed() {
        let mut p = fixtures::pulse();
        p["service"] = json!("fos");
        p["fos_pid"] = json!(12);
        p["state"] = json!("standby");
        let silent = || Err("/var/run/lvs.sock: no such file".to_string());
        let s = render(&said(p.clone()), &silent());
        assert!(s.contains("fos        --monitor, pid 12"), "{s}");
        assert!(!s.contains("lvsd is not answering"), "{s}");
        p["state"] = json!("active");
        let s = render(&said(p), &silent());
        assert!(s.contains("fos        --active, pid 12"), "{s}");
        // LVS mode still names a silent lvsd.
        let s = render(&said(fixtures::pulse()), &silent());
        assert!(s.contains("lvsd is not answering"), "{s}");
    }

    #[test]
    fn a_fleet_director_lists_the_fleet_instead_of_a_partner() {
        let mut pulse = fixtures::pulse();
        pulse["fleet"] = serde_json::json!({"bird": "connected", "directors": [
            {"address": "10.77.0.11", "this": true, "up": true, "announced": ["10.77.100.1"],
             "connections": 7, "share_percent": 70.0, "last_heard_ms_ago": null}]});
        let t = render(&said(pulse), &said(fixtures::lvsd()));
        assert!(t.contains("fleet      10.77.0.11 (this one): up, announces 10.77.100.1, 7 connections (70%), 0/s\n"), "{t}");
        assert!(
            t.contains("bird       connected\n") && !t.contains("partner"),
            "{t}"
        );
    }

    #[test]
    fn one_screen_with_the_director_and_each_real_server() {
        let s = render(&said(fixtures::pulse()), &said(fixtures::lvsd()));
        assert!(
            s.contains("director   active (primary), pulse pid 4242"),
            "{s}"
        );
        assert!(
            s.contains("partner    192.0.2.2: alive, said running 812 ms ago"),
            "{s}"
        );
        assert!(s.contains("web  TCP 192.0.2.100:80  wlc  direct"), "{s}");
        let row = |name: &str| {
            let line = s
                .lines()
                .find(|l| l.trim_start().starts_with(name))
                .unwrap();
            (line, line.split_whitespace().collect::<Vec<_>>())
        };
        let (a, cols) = row("a ");
        assert_eq!(
            cols,
            [
                "a",
                "10.0.0.1:80",
                "up",
                "running",
                "100",
                "100",
                "12",
                "40",
                "5012",
                "14",
                "20480",
                "0"
            ]
        );
        let (b, cols) = row("b ");
        assert_eq!(&cols[2..6], ["down", "restarting", "out", "50"], "{b}");
        assert!(b.ends_with("  DRAINED"), "{b}");
        assert!(!a.contains("DRAINED"), "{a}");
        assert!(
            s.contains("sorry        127.0.0.1:80             standing by"),
            "{s}"
        );
        assert!(s.contains("dns  UDP 192.0.2.100:53  rr persistent 300 s  nat  NOT IN IPVS"));
    }

    #[test]
    fn a_daemon_that_does_not_answer_is_named_and_the_rest_shown() {
        let gone = "/var/run/pulse.sock: No such file or directory".to_string();
        let s = render(&Err(gone), &said(fixtures::lvsd()));
        assert!(s.starts_with(
            "director   pulse is not answering: /var/run/pulse.sock: No such file or directory\n"
        ));
        assert!(s.contains("web  TCP 192.0.2.100:80"), "{s}");
        let s = render(&said(fixtures::pulse()), &Err("refused".into()));
        assert!(
            s.contains("services   lvsd is not answering: refused"),
            "{s}"
        );
    }

    #[test]
    fn an_answer_of_another_schema_is_named_not_shown_blank() {
        let mut l = fixtures::lvsd();
        l["services"][0]["real_servers"][0]["health"] = json!("sideways");
        let a: crate::LvsdAnswer = crate::parse_answer(l);
        let e = a.unwrap_err();
        assert!(
            e.contains("an answer this version cannot read (schema 1)"),
            "{e}"
        );
        assert!(e.contains("sideways"), "{e}");
    }
}
