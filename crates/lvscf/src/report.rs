//! What `pulse --check-config` and `lvsd --check-config` print: a one-screen summary of the
//! file, or its diagnostics; and the same as JSON for scripts (schema in
//! `docs/check-config-json.md`).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;

use serde::Serialize;

use crate::diag::Diagnostic;
use crate::model::*;
use crate::parser::{self, ParseOptions};
use crate::validate::{self, Consumer};
use crate::value::format_seconds;

/// Bumped when the JSON document changes incompatibly.
pub(crate) const JSON_SCHEMA_VERSION: u32 = 1;

/// The outcome of checking one file.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub schema_version: u32,
    pub file: String,
    /// True when the file parsed and has no semantic errors.
    pub ok: bool,
    /// The model, when the file parsed (even with semantic errors).
    pub config: Option<Config>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses and validates `bytes` (read from `file`) for `consumer`: the model, or the
/// first error. For a file that arrives other than from disk (configuration sync).
pub fn check_bytes(
    bytes: &[u8],
    file: &str,
    opts: &ParseOptions,
    consumer: Consumer,
) -> Result<Config, Diagnostic> {
    if bytes.len() as u64 > crate::parser::MAX_FILE_SIZE {
        return Err(crate::parser::read_failure(file, crate::parser::too_big()));
    }
    let parsed = crate::parse_bytes(bytes, file, opts).map_err(|f| f.first_error().clone())?;
    let diagnostics = crate::validate::validate_for(&parsed.config, file, consumer);
    match diagnostics.into_iter().find(Diagnostic::is_error) {
        Some(e) => Err(e),
        None => Ok(parsed.config),
    }
}

/// Parses and validates a file for lvsd.
pub fn check_file(path: &Path, opts: &ParseOptions) -> CheckReport {
    check_file_for(path, opts, Consumer::Lvsd)
}

/// Parses and validates a file for the given daemon.
pub fn check_file_for(path: &Path, opts: &ParseOptions, consumer: Consumer) -> CheckReport {
    let file = path.display().to_string();
    match parser::parse_file(path, opts) {
        Ok(parsed) => {
            let mut diagnostics = parsed.warnings;
            diagnostics.extend(validate::validate_for(&parsed.config, &file, consumer));
            let release = validate::running_kernel();
            diagnostics.extend(validate::kernel_support(&parsed.config, &file, &release));
            CheckReport {
                schema_version: JSON_SCHEMA_VERSION,
                ok: !validate::has_errors(&diagnostics),
                file,
                config: Some(parsed.config),
                diagnostics,
            }
        }
        Err(failure) => CheckReport {
            schema_version: JSON_SCHEMA_VERSION,
            file,
            ok: false,
            config: None,
            diagnostics: failure.diagnostics,
        },
    }
}

impl CheckReport {
    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("the report serializes")
    }

    /// The human summary (on success) or the diagnostics (on failure).
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let errors = self.diagnostics.iter().filter(|d| d.is_error()).count();
        match (&self.config, self.ok) {
            (Some(c), true) => {
                let _ = writeln!(out, "{}: configuration OK", self.file);
                out.push_str(&summary(c));
            }
            _ => {
                let _ = writeln!(
                    out,
                    "{}: configuration has {errors} error{}",
                    self.file,
                    if errors == 1 { "" } else { "s" }
                );
            }
        }
        let mut diags: Vec<&Diagnostic> = self.diagnostics.iter().collect();
        // Errors first; keep file order within each severity.
        diags.sort_by_key(|d| !d.is_error());
        if !diags.is_empty() {
            out.push('\n');
        }
        for d in diags {
            let _ = writeln!(out, "{d}");
        }
        out
    }
}

fn host(h: &Option<Host>) -> String {
    match h {
        Some(h) if h.name != h.addr.to_string() => format!("{} ({})", h.addr, h.name),
        Some(h) => h.addr.to_string(),
        None => "none".to_string(),
    }
}

/// The one-screen summary of a valid configuration.
pub fn summary(c: &Config) -> String {
    let mut o = String::new();
    globals_summary(c, &mut o);
    let kind = match c.service {
        ServiceType::Lvs => "virtual",
        ServiceType::Fos => "failover",
    };
    let blocks = match c.service {
        ServiceType::Lvs => &c.virtuals,
        ServiceType::Fos => &c.failovers,
    };
    let mut inactive: Vec<String> = Vec::new();
    let (mut active_services, mut active_servers) = (0, 0);
    for vs in blocks {
        if !vs.active {
            inactive.push(format!("{kind} {}", vs.name));
            continue;
        }
        active_services += 1;
        block_summary(c, vs, kind, &mut o);
        for rs in &vs.servers {
            if !rs.active {
                inactive.push(format!("server {} of {}", rs.name, vs.name));
                continue;
            }
            active_servers += 1;
            let addr = rs
                .address
                .as_ref()
                .map(|h| SocketAddr::new(h.addr, rs.port).to_string())
                .unwrap_or_else(|| "no address".into());
            let _ = writeln!(o, "    -> {:<12} {addr:<24} weight {}", rs.name, rs.weight);
        }
    }
    let _ = writeln!(
        o,
        "\n  {active_services} active {kind} service{}, {active_servers} active real server{}",
        if active_services == 1 { "" } else { "s" },
        if active_servers == 1 { "" } else { "s" }
    );
    if !inactive.is_empty() {
        let _ = writeln!(o, "  inactive: {}", inactive.join(", "));
    }
    o
}

/// The pair's directors: primary and backup, with their private addresses.
fn pair_summary(
    c: &Config,
    o: &mut String,
    private: &dyn Fn(&Option<Host>, &Option<Host>) -> String,
) {
    let primary = (host(&c.primary), private(&c.primary_private, &c.primary));
    let _ = writeln!(o, "  primary       {}{}", primary.0, primary.1);
    let backup_state = if c.effective_backup_active() {
        "active"
    } else {
        "not used"
    };
    let backup = (host(&c.backup), private(&c.backup_private, &c.backup));
    let _ = writeln!(
        o,
        "  backup        {}{} ({backup_state})",
        backup.0, backup.1
    );
}

/// The summary's global lines: service, directors, heartbeat, network, options.
fn globals_summary(c: &Config, o: &mut String) {
    let private = |p: &Option<Host>, public: &Option<Host>| -> String {
        if p.as_ref().map(|h| h.addr) != public.as_ref().map(|h| h.addr) {
            format!(", private {}", host(p))
        } else {
            String::new()
        }
    };
    let _ = writeln!(o, "  service       {}", c.service.keyword());
    // A fleet has no primary and no backup: its directors are the `fleet` line.
    if !c.is_fleet() {
        pair_summary(c, o, &private);
    }
    let _ = writeln!(
        o,
        "  heartbeat     udp port {}, keepalive {} s, deadtime {} s",
        c.heartbeat_port,
        format_seconds(c.keepalive),
        format_seconds(c.deadtime)
    );
    let mut network = c.network.keyword().to_string();
    if let Some(nat) = &c.nat_router {
        let _ = write!(network, ", nat_router {} on {}", nat.addr(), nat.device);
        if let Some(m) = c.nat_nmask {
            let _ = write!(network, "/{m}");
        }
    }
    let _ = writeln!(o, "  network       {network}");
    if c.syncdaemon {
        let id = c.syncd_id & 0xff;
        let _ = writeln!(o, "  sync daemon   on {}, syncid {id}", c.syncd_iface);
    }
    if c.tcp_timeout + c.tcpfin_timeout + c.udp_timeout > 0 {
        let _ = writeln!(
            o,
            "  timeouts      tcp {} tcpfin {} udp {} (0 = unchanged)",
            c.tcp_timeout, c.tcpfin_timeout, c.udp_timeout
        );
    }
    fleet_summary(&c.fleet, o);
    let _ = writeln!(
        o,
        "  options       hard_shutdown {}, monitor_links {}",
        c.hard_shutdown as u8, c.monitor_links as u8
    );
}

/// The fleet's line (docs/fleet.md), when there is one.
fn fleet_summary(f: &crate::fleet::Fleet, o: &mut String) {
    if !f.is_configured() {
        return;
    }
    let directors: Vec<String> = f.directors.iter().map(|h| h.addr.to_string()).collect();
    let peers: Vec<String> = f
        .peers
        .iter()
        .map(|p| format!("{} AS {}", p.addr, p.asn))
        .collect();
    let _ = writeln!(
        o,
        "  fleet         {} directors: {}",
        directors.len(),
        directors.join(", ")
    );
    let _ = writeln!(
        o,
        "  bgp           AS {} to {}, BFD {}, through BIRD at {}",
        f.local_as.map_or("?".into(), |a| a.to_string()),
        peers.join(", "),
        if f.bfd { "on" } else { "off" },
        f.bird_socket
    );
}

/// One active block's lines: what it is, then how it is probed.
fn block_summary(c: &Config, vs: &VirtualServer, kind: &str, o: &mut String) {
    let where_ = match &vs.address {
        Some(a) => format!(" on {}", a.device),
        None => String::new(),
    };
    let mut line = format!("\n  {kind} {}: {}{where_}", vs.name, vs.identity());
    if vs.fwmark != 0 {
        if let Some(vip) = vs.vip() {
            let _ = write!(line, " (VIP {vip})");
        }
    }
    if c.service == ServiceType::Lvs {
        let _ = write!(line, ", {}", vs.scheduler);
        if let Some(n) = vs.network {
            let _ = write!(line, ", network {}", n.keyword());
        }
        if vs.persistent > 0 {
            let _ = write!(line, ", persistent {} s", vs.persistent);
            if let Some(m) = vs.pmask {
                let _ = write!(line, " ({m})");
            }
        }
        if vs.quiesce_server {
            line.push_str(", quiesce");
        }
    }
    let _ = writeln!(o, "{line}");
    probe_summary(vs, o);
}

/// `probe ..., every N s, reentry N s[, load_monitor ...][, sorry_server ...]`.
fn probe_summary(vs: &VirtualServer, o: &mut String) {
    let probe = if let Some(p) = &vs.send_program {
        format!("program {}", p.as_passed())
    } else if vs.send.is_some() || vs.expect.is_some() {
        "send/expect".to_string()
    } else {
        "connect".to_string()
    };
    let reentry = if vs.reentry == 0 { 180 } else { vs.reentry };
    let _ = write!(
        o,
        "    probe {probe}, every {} s, reentry {reentry} s",
        vs.timeout
    );
    if let Some(lm) = &vs.load_monitor {
        let _ = write!(o, ", load_monitor {lm}");
    }
    if let Some(s) = &vs.sorry_server {
        let sorry = SocketAddr::new(s.addr, s.port.unwrap_or(vs.port));
        let _ = write!(o, ", sorry_server {sorry}");
    }
    o.push('\n');
}

/// The `--check-config` command shared by the daemons: prints the report (text or JSON) to
/// `out` and returns the exit status (0 valid, 1 not).
pub fn check_config_command(
    path: &Path,
    json: bool,
    consumer: Consumer,
    out: &mut dyn std::io::Write,
) -> i32 {
    let report = check_file_for(path, &ParseOptions::default(), consumer);
    let text = if json {
        report.to_json() + "\n"
    } else {
        report.to_text()
    };
    let _ = out.write_all(text.as_bytes());
    if report.ok {
        0
    } else {
        1
    }
}
