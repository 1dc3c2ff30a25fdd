//! The status page (docs/control.md, "Status page"): the successor of the piranha GUI's
//! monitoring panel, with what `lvsctl status` shows. One HTML document, no script: the
//! browser refreshes it (`<meta http-equiv="refresh">`), and a narrow screen (a phone)
//! drops the secondary columns. A real server that is down is red; one drained, blue;
//! anything else worth a look (a daemon not answering, the sorry server serving), amber.

use std::fmt::Write as _;

use status_schema::{LvsdStatus, PulseStatus, RealServer, Service};

use crate::{count, LvsdAnswer, PulseAnswer};

/// The colours the page and its test agree on.
pub const RED: (u8, u8, u8) = (0xc6, 0x28, 0x28);
pub const GREEN: (u8, u8, u8) = (0x2e, 0x7d, 0x32);

const STYLE: &str = "
body{font-family:system-ui,sans-serif;margin:0;padding:.5em 1em;color:#212121;background:#fafafa}
h1{font-size:1.3em;margin:.3em 0}h2{font-size:1.1em;margin:1em 0 .3em}
h2 small{font-weight:normal;color:#616161}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.1em 1em;margin:.3em 0}
dt{color:#616161}dd{margin:0}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{text-align:left;padding:.3em .5em;border-bottom:1px solid #e0e0e0;white-space:nowrap}
td.n,th.n{text-align:right}
.badge{display:inline-block;padding:.1em .5em;border-radius:.3em;color:#fff;font-weight:bold}
.up{background:#2e7d32}.down{background:#c62828}.unknown{background:#757575}
.drained{background:#1565c0}.note{background:#f9a825;color:#212121}
tr.is-down td{background:#ffebee}
.scroll{overflow-x:auto}
footer{margin:1.5em 0 .5em;color:#757575;font-size:.85em}
@media (max-width:600px){.wide{display:none}body{padding:.3em .5em;font-size:14px}th,td{padding:.25em .3em}}
";

/// The whole page; `refresh` seconds between the browser's reloads.
pub fn render(pulse: &PulseAnswer, lvsd: &LvsdAnswer, refresh: u32) -> String {
    let mut o = String::new();
    let title = match pulse {
        Ok(p) => format!("LVS director: {}", esc(p.status.state.word())),
        Err(_) => "LVS director".to_string(),
    };
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta http-equiv=\"refresh\" content=\"{refresh}\">\
         <title>{title}</title><style>{STYLE}</style></head><body>\n"
    );
    match pulse {
        Ok(p) => director(&mut o, &p.status),
        Err(e) => {
            let _ = writeln!(
                o,
                "<h1>LVS director</h1><p><span class=\"badge note\">pulse is not answering</span> {}</p>",
                esc(e)
            );
        }
    }
    match lvsd {
        Ok(l) => services(&mut o, &l.status),
        Err(e) => {
            let _ = writeln!(
                o,
                "<p><span class=\"badge note\">lvsd is not answering</span> {}</p>",
                esc(e)
            );
        }
    }
    let _ = writeln!(
        o,
        "<footer>Refreshes every {refresh} s. The same figures: <code>lvsctl status</code>, \
         <a href=\"metrics\">metrics</a>, <a href=\"status.json\">status.json</a>.</footer>\
         </body></html>"
    );
    o
}

/// `s` safe inside HTML text and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn director(o: &mut String, p: &PulseStatus) {
    let heard = esc(&crate::heard(&p.partner));
    let held: Vec<String> = p.addresses.iter().map(|a| esc(a)).collect();
    let _ = writeln!(
        o,
        "<h1>Director: {} <small>({})</small></h1><dl>\
         <dt>Partner</dt><dd>{}: {heard}</dd><dt>Addresses</dt><dd>{}</dd>\
         <dt>Heartbeat</dt><dd>every {} ms, dead after {} ms, authentication {}</dd>\
         <dt>pulse</dt><dd>pid {}</dd></dl>",
        esc(p.state.word()),
        esc(crate::text::role(p)),
        esc(p.partner.address.as_deref().unwrap_or("?")),
        if held.is_empty() {
            "none held".into()
        } else {
            held.join(", ")
        },
        p.keepalive_ms,
        p.deadtime_ms,
        esc(&p.heartbeat_auth),
        p.pid,
    );
}

fn services(o: &mut String, l: &LvsdStatus) {
    if l.services.is_empty() {
        let _ = writeln!(o, "<p>No active virtual service.</p>");
    }
    for s in &l.services {
        service(o, s);
    }
}

fn service(o: &mut String, s: &Service) {
    let persistent = match s.persistent {
        0 => String::new(),
        p => format!(" · persistent {p} s"),
    };
    let _ = writeln!(
        o,
        "<h2>{} <small>{} · {} · {}{persistent}</small>{}</h2><div class=\"scroll\"><table>\
         <tr><th>Server</th><th class=\"wide\">Address</th><th>Health</th>\
         <th class=\"n\">Weight</th><th class=\"n\">Active</th>\
         <th class=\"n wide\">Inactive</th><th class=\"n\">Conn/s</th>\
         <th class=\"n wide\">In B/s</th><th class=\"n wide\">Out B/s</th></tr>",
        esc(&s.name),
        esc(&s.service),
        esc(&s.scheduler),
        esc(&s.forwarding),
        if s.failed {
            " <span class=\"badge down\">not in IPVS (see the log)</span>"
        } else {
            ""
        }
    );
    for rs in &s.real_servers {
        real_server(o, rs);
    }
    let _ = writeln!(o, "</table></div>");
    if let Some(sorry) = &s.sorry_server {
        let _ = writeln!(
            o,
            "<p>Sorry server {}: {}</p>",
            esc(&sorry.address),
            if sorry.active {
                "<span class=\"badge note\">serving: no real server available</span>"
            } else {
                "standing by"
            }
        );
    }
}

fn real_server(o: &mut String, rs: &RealServer) {
    let health = rs.health.word();
    let k = rs.kernel.as_ref();
    let stats = k.map(|k| &k.stats);
    let weight = k.map_or_else(|| "out".to_string(), |k| k.weight.to_string());
    let _ = writeln!(
        o,
        "<tr class=\"is-{health}\"><td>{}</td><td class=\"wide\">{}</td>\
         <td><span class=\"badge {health}\">{health}</span>{}</td>\
         <td class=\"n\">{weight} / {}</td><td class=\"n\">{}</td><td class=\"n wide\">{}</td>\
         <td class=\"n\">{}</td><td class=\"n wide\">{}</td><td class=\"n wide\">{}</td></tr>",
        esc(&rs.name),
        esc(&rs.address),
        if rs.drained {
            " <span class=\"badge drained\">drained</span>"
        } else {
            ""
        },
        rs.configured_weight,
        count(k.map(|k| k.active_connections)),
        count(k.map(|k| k.inactive_connections)),
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

    fn lvsd(health_b: &str) -> LvsdAnswer {
        let mut l = fixtures::lvsd();
        l["services"][0]["name"] = json!("web<1>");
        l["services"][0]["real_servers"][1]["name"] = json!("b&c");
        l["services"][0]["real_servers"][1]["health"] = json!(health_b);
        said(l)
    }

    #[test]
    fn a_real_server_down_is_a_red_row_and_names_are_escaped() {
        let up = render(&Err("/run/pulse.sock: gone".into()), &lvsd("up"), 5);
        let down = render(&Err("/run/pulse.sock: gone".into()), &lvsd("down"), 5);
        assert!(!up.contains("class=\"is-down\"><td>b&amp;c"), "{up}");
        assert!(down.contains(
            "<tr class=\"is-down\"><td>b&amp;c</td><td class=\"wide\">10.0.0.2:80</td>\
             <td><span class=\"badge down\">down</span> <span class=\"badge drained\">drained</span>"
        ), "{down}");
        assert!(down.contains("<h2>web&lt;1&gt; <small>TCP 192.0.2.100:80 · wlc · direct</small>"));
        assert!(
            down.contains("<td class=\"n\">100 / 100</td><td class=\"n\">12</td>"),
            "{down}"
        );
        assert!(down.contains("<td class=\"n\">out / 50</td>"), "{down}");
        assert!(up.contains("<meta http-equiv=\"refresh\" content=\"5\">"));
        assert!(up.contains("pulse is not answering</span> /run/pulse.sock: gone"));
        assert!(!up.contains("<script"), "no script on the page");
        // The red the test of the screenshot looks for is the red of the stylesheet.
        let (r, g, b) = RED;
        assert!(STYLE.contains(&format!(".down{{background:#{r:02x}{g:02x}{b:02x}}}")));
        let (r, g, b) = GREEN;
        assert!(STYLE.contains(&format!(".up{{background:#{r:02x}{g:02x}{b:02x}}}")));
    }

    #[test]
    fn the_director_heads_the_page() {
        let mut p = fixtures::pulse();
        p["addresses"] = json!(["192.0.2.100/24 eth0:1"]);
        let page = render(&said(p), &Err("lvsd gone".into()), 2);
        assert!(page.contains("<title>LVS director: active</title>"));
        assert!(page.contains("<h1>Director: active <small>(primary)</small></h1>"));
        assert!(page.contains("<dd>192.0.2.2: alive, said running 812 ms ago</dd>"));
        assert!(page.contains("<dd>192.0.2.100/24 eth0:1</dd>"));
        assert!(page.contains("lvsd is not answering</span> lvsd gone"));
    }
}
