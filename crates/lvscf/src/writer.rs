//! Writes a [`Config`] in the canonical layout of the piranha GUI (docs/legacy.md, "lvs.cf"), so that
//! parse → write → parse yields the same model.
//!
//! Layout: `key = value` lines; globals in the GUI's order, then the keywords the GUI never
//! wrote (only when they differ from the default), then `failover` blocks, then `virtual`
//! blocks. Block keys are indented 5 spaces, `server` lines 5, server keys 9; block `}` at
//! column 0. Keys the GUI writes but the daemons reject (`expect_program`, `nmask`, ...) are
//! never written.

use std::fmt::Write as _;

use crate::lexer::Quote;
use crate::model::*;
use crate::value::format_seconds;

/// Renders the whole file.
pub fn write_config(c: &Config) -> String {
    let mut w = Writer {
        out: String::with_capacity(256 + 512 * (c.virtuals.len() + c.failovers.len())),
        indent: "",
    };
    let d = Config::default();
    // The GUI's global order.
    w.kv("serial_no", c.serial_no);
    w.opt("primary", c.primary.as_ref().map(host));
    w.opt("primary_private", c.primary_private.as_ref().map(host));
    w.opt("primary_shared", c.primary_shared.as_deref().map(string));
    w.kv("service", c.service.keyword());
    w.kv("rsh_command", string(&c.rsh_command));
    w.kv("backup_active", bool01(c.backup_active));
    w.opt("backup", c.backup.as_ref().map(host));
    w.opt("backup_private", c.backup_private.as_ref().map(host));
    w.opt("backup_shared", c.backup_shared.as_deref().map(string));
    w.kv("heartbeat", bool01(c.heartbeat));
    w.kv("heartbeat_port", c.heartbeat_port);
    w.kv("keepalive", format_seconds(c.keepalive));
    w.kv("deadtime", format_seconds(c.deadtime));
    w.kv("network", c.network.keyword());
    w.opt("nat_router", c.nat_router.as_ref().map(address_device));
    w.opt("nat_nmask", c.nat_nmask.map(|m| m.to_string()));
    w.opt(
        "reservation_conflict_action",
        c.reservation_conflict_action
            .map(|r| r.keyword().to_string()),
    );
    w.kv("debug_level", string(&c.debug_level));
    w.opt("active_cmd", c.active_cmd.as_deref().map(string));
    w.opt("inactive_cmd", c.inactive_cmd.as_deref().map(string));
    w.kv("monitor_links", bool01(c.monitor_links));
    w.kv("syncdaemon", bool01(c.syncdaemon));
    // Keywords the GUI never wrote: only when not at their default.
    w.changed(
        "syncd_iface",
        string(&c.syncd_iface),
        string(&d.syncd_iface),
    );
    w.changed("syncd_id", c.syncd_id, d.syncd_id);
    w.changed("tcp_timeout", c.tcp_timeout, d.tcp_timeout);
    w.changed("tcpfin_timeout", c.tcpfin_timeout, d.tcpfin_timeout);
    w.changed("udp_timeout", c.udp_timeout, d.udp_timeout);
    w.changed(
        "hard_shutdown",
        bool01(c.hard_shutdown),
        bool01(d.hard_shutdown),
    );
    w.changed("ipvsadm", string(&c.ipvsadm), string(&d.ipvsadm));
    w.changed("sync", bool01(c.sync), bool01(d.sync));
    // Extensions: only when used, so a legacy file stays legacy.
    w.changed("heartbeat_auth", c.heartbeat_auth, d.heartbeat_auth);
    w.opt("heartbeat_key", c.heartbeat_key.as_deref().map(string));
    w.changed("heartbeat_key_id", c.heartbeat_key_id, d.heartbeat_key_id);
    w.opt("preempt_delay", c.preempt_delay.map(format_seconds));
    w.changed(
        "warm_standby",
        bool01(c.warm_standby),
        bool01(d.warm_standby),
    );
    w.opt("arp_refresh", c.arp_refresh.map(format_seconds));
    w.changed(
        "integrated_monitors",
        bool01(c.integrated_monitors),
        bool01(d.integrated_monitors),
    );
    w.opt("status_http", c.status_http.map(|a| a.to_string()));
    w.fleet(&c.fleet);
    for f in &c.failovers {
        w.block("failover", f);
    }
    for v in &c.virtuals {
        w.block("virtual", v);
    }
    w.out
}

struct Writer {
    out: String,
    indent: &'static str,
}

impl Writer {
    fn kv(&mut self, key: &str, value: impl std::fmt::Display) {
        let _ = writeln!(self.out, "{}{key} = {value}", self.indent);
    }

    fn opt(&mut self, key: &str, value: Option<String>) {
        if let Some(v) = value {
            self.kv(key, v);
        }
    }

    fn changed<T: PartialEq + std::fmt::Display>(&mut self, key: &str, value: T, default: T) {
        if value != default {
            self.kv(key, value);
        }
    }

    /// The fleet extension's keywords (crate::fleet), only when a fleet is configured.
    fn fleet(&mut self, f: &crate::fleet::Fleet) {
        let d = crate::fleet::Fleet::default();
        for h in &f.directors {
            self.kv("director", host(h));
        }
        self.opt("bgp_local_as", f.local_as.map(|a| a.to_string()));
        for p in &f.peers {
            self.kv("bgp_peer", format!("{} {}", p.addr, p.asn));
        }
        self.opt("bgp_next_hop", f.next_hop.map(|a| a.to_string()));
        self.changed("bgp_bfd", bool01(f.bfd), bool01(d.bfd));
        self.changed(
            "bird_socket",
            string(&f.bird_socket),
            string(&d.bird_socket),
        );
        self.changed(
            "bird_include",
            string(&f.bird_include),
            string(&d.bird_include),
        );
    }

    fn block(&mut self, kind: &str, v: &VirtualServer) {
        let d = VirtualServer::new(&v.name, 0);
        let _ = writeln!(self.out, "{kind} {} {{", string(&v.name));
        self.indent = "     ";
        // The GUI's virtual order.
        self.kv("active", bool01(v.active));
        self.opt("address", v.address.as_ref().map(address_device));
        self.opt(
            "sorry_server",
            v.sorry_server.as_ref().map(|s| match s.port {
                Some(p) => format!("{} {p}", s.addr),
                None => s.addr.to_string(),
            }),
        );
        self.opt("vip_nmask", v.vip_nmask.map(|m| m.to_string()));
        self.changed("fwmark", v.fwmark, 0);
        self.kv("port", v.port);
        self.changed("persistent", v.persistent, 0);
        self.opt("pmask", v.pmask.map(|m| m.to_string()));
        self.opt("send", v.send.as_ref().map(quoted));
        self.opt("expect", v.expect.as_ref().map(quoted));
        self.changed("use_regex", bool01(v.use_regex), "0");
        self.opt("send_program", v.send_program.as_ref().map(quoted));
        self.opt("load_monitor", v.load_monitor.as_deref().map(string));
        self.kv("scheduler", &v.scheduler);
        self.kv("protocol", v.protocol.keyword());
        self.kv("timeout", v.timeout);
        self.kv("reentry", v.reentry);
        self.changed("quiesce_server", bool01(v.quiesce_server), "0");
        // Keys the GUI never wrote.
        self.opt("network", v.network.map(|n| n.keyword().to_string()));
        self.changed("announce", bool01(v.announce), "1");
        if !v.scheduler_flags.is_empty() {
            self.kv("scheduler_flags", v.scheduler_flags.join(","));
        }
        self.changed(
            "client_monitor",
            string(&v.client_monitor),
            string(&d.client_monitor),
        );
        self.opt("start_cmd", v.start_cmd.as_ref().map(quoted));
        self.opt("stop_cmd", v.stop_cmd.as_ref().map(quoted));
        self.opt("master", v.master.as_ref().map(host));
        if let Some(dirs) = &v.dirs {
            let items: Vec<String> = dirs.iter().map(|s| string(s)).collect();
            if items.is_empty() {
                self.kv("dirs", "[ ]");
            } else {
                self.kv("dirs", format!("[ {} ]", items.join(" ")));
            }
        }
        for s in &v.servers {
            let _ = writeln!(self.out, "     server {} {{", string(&s.name));
            self.indent = "         ";
            self.opt("address", s.address.as_ref().map(host));
            self.kv("active", bool01(s.active));
            // Always explicit: a defaulted port depends on where the block stood.
            self.kv("port", s.port);
            self.kv("weight", s.weight);
            self.indent = "     ";
            self.out.push_str("     }\n");
        }
        self.indent = "";
        self.out.push_str("}\n");
    }
}

fn bool01(b: bool) -> &'static str {
    if b {
        "1"
    } else {
        "0"
    }
}

fn host(h: &Host) -> String {
    string(&h.name)
}

fn address_device(a: &AddressDevice) -> String {
    format!("{} {}", host(&a.host), string(&a.device))
}

/// A one-token string value: written bare when that reads back the same, else quoted.
fn string(s: &str) -> String {
    let needs_quotes = s.is_empty()
        || s.contains([' ', '\t'])
        || s.starts_with(['"', '\''])
        || s == "="
        || s.starts_with('#');
    if !needs_quotes {
        return s.to_string();
    }
    // Pick a quote that the value does not end a token with.
    let q = if ends_quote(s, '"') { '\'' } else { '"' };
    format!("{q}{s}{q}")
}

/// Whether `q` inside `s` would be read as the closing quote (a `q` followed by a blank).
fn ends_quote(s: &str, q: char) -> bool {
    let chars: Vec<char> = s.chars().collect();
    chars
        .windows(2)
        .any(|w| w[0] == q && (w[1] == ' ' || w[1] == '\t'))
        || chars.last() == Some(&q)
}

/// A value whose quote is part of its meaning: written with the quote it was read with.
fn quoted(q: &QuotedString) -> String {
    match q.quote {
        Quote::Double => format!("\"{}\"", q.text),
        Quote::Single => format!("'{}'", q.text),
        // Read bare, written bare when it can be: quoting it would change its meaning.
        // A bare `#` after `=` is a value, not a comment (`expect = #OK` reads `#OK`).
        Quote::None if bare(&q.text) => q.text.clone(),
        Quote::None => string(&q.text),
    }
}

/// Whether `s` reads back as one bare token.
fn bare(s: &str) -> bool {
    !s.is_empty() && !s.contains([' ', '\t']) && !s.starts_with(['"', '\'']) && s != "="
}
