//! Semantic validation, separate from syntax: a file can be well-formed and still be
//! unusable (legacy nanny divides by `timeout = 0`) or silently surprising (two VIPs on one
//! alias label). Errors stop a daemon from using the file; warnings are reported.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};

use crate::diag::{Code, Diagnostic, Severity};
use crate::model::*;

/// Legacy pulse reserved a shared SCSI disk before going active (`primary_shared`,
/// `backup_shared`, `reservation_conflict_action`; docs/legacy.md "fos"). piranha-rs
/// parses the keywords and says so, once here and once in pulse's log.
pub const SHARED_SCSI_UNSUPPORTED: &str =
    "shared SCSI reservation (primary_shared, backup_shared) is not supported: \
     the failover takes no reservation";
const SHARED_SCSI_HINT: &str = "fence the shared disk by other means (active_cmd and inactive_cmd \
     run on every change), or remove the keywords";

/// Which daemon the file is checked for: pulse cannot work out its role without
/// `primary`, the others do not use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Consumer {
    #[default]
    Lvsd,
    Pulse,
}

/// Checks a parsed configuration for lvsd. `file` names the source in diagnostics.
pub fn validate(config: &Config, file: &str) -> Vec<Diagnostic> {
    validate_for(config, file, Consumer::Lvsd)
}

/// Checks a parsed configuration for the given daemon.
pub fn validate_for(config: &Config, file: &str, consumer: Consumer) -> Vec<Diagnostic> {
    let mut v = Validator {
        file,
        consumer,
        out: Vec::new(),
        runnable: HashMap::new(),
    };
    v.globals(config);
    v.services(config);
    v.fleet(config);
    v.out
}

/// What the running kernel cannot do for this file: the Maglev scheduler (`mh`, which a
/// fleet's virtual services default to) came with Linux 4.18. `release` is `uname -r`.
pub fn kernel_support(config: &Config, file: &str, release: &str) -> Vec<Diagnostic> {
    let Some(version) = crate::fleet::kernel_version(release) else {
        return Vec::new();
    };
    if version >= crate::fleet::MH_KERNEL {
        return Vec::new();
    }
    config
        .active_virtuals()
        .filter(|v| v.scheduler == "mh")
        .map(|v| Diagnostic {
            severity: Severity::Error,
            code: Code::Semantic,
            file: file.to_string(),
            line: v.line,
            column: 0,
            message: format!(
                "virtual {} uses the mh scheduler, which this kernel ({release}) lacks",
                v.name
            ),
            hint: "IPVS's Maglev scheduler needs Linux 4.18 or later; upgrade the kernel, \
                   or name another scheduler (sh keeps a flow's server while the real \
                   servers do not change)"
                .into(),
        })
        .collect()
}

/// The running kernel's release (`uname -r`), empty when it cannot be read.
pub fn running_kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Whether any diagnostic is an error.
pub fn has_errors(diags: &[Diagnostic]) -> bool {
    diags.iter().any(Diagnostic::is_error)
}

struct Validator<'a> {
    file: &'a str,
    consumer: Consumer,
    out: Vec<Diagnostic>,
    /// Each program's check, once per distinct name: 5,000 virtual services name one
    /// client monitor, and a `stat` per service was a third of lvsd's start-up.
    runnable: HashMap<String, Result<(), &'static str>>,
}

impl Validator<'_> {
    fn push(&mut self, severity: Severity, line: u32, message: String, hint: String) {
        self.push_at(severity, (line, 0), message, hint);
    }

    /// At a value's line and column, as the parser's value errors are.
    fn push_at(&mut self, severity: Severity, at: (u32, u32), message: String, hint: String) {
        self.out.push(Diagnostic {
            severity,
            code: Code::Semantic,
            file: self.file.to_string(),
            line: at.0,
            column: at.1,
            message,
            hint,
        });
    }

    fn error(&mut self, line: u32, message: String, hint: impl Into<String>) {
        self.push(Severity::Error, line, message, hint.into());
    }

    fn warning(&mut self, line: u32, message: String, hint: impl Into<String>) {
        self.push(Severity::Warning, line, message, hint.into());
    }

    /// `use_regex = 1`: the expression nanny will compile (after its escape conversion)
    /// must compile, or every probe fails and every real server of the service goes.
    fn expect_regex(&mut self, vs: &VirtualServer) {
        let Some(expect) = vs.expect.as_ref().filter(|_| vs.use_regex) else {
            return;
        };
        let (pattern, _) = crate::escape::convert(&expect.as_passed());
        if pattern == "*" {
            return;
        }
        if let Err(why) = crate::expect_regex::ExpectRegex::new(&pattern) {
            // At the `expect` line, where every other value error points (the virtual's
            // line for a block made without a parser).
            let at = match vs.expect_at {
                (0, _) => (vs.line, 0),
                at => at,
            };
            self.push_at(
                Severity::Error,
                at,
                format!(
                    "expect of {} is not a usable regular expression: {why}",
                    vs.name
                ),
                "nanny would fail every probe and remove every real server; fix the \
                 expression, or set use_regex = 0 for a plain prefix match"
                    .into(),
            );
        }
    }

    /// A command the daemons will run: warn when its program does not exist or is not
    /// executable (`rsh` and other bare names are looked up in PATH, as execvp does).
    fn program(&mut self, line: u32, what: &str, command: &str) {
        let Some(prog) = command.split_whitespace().next() else {
            return;
        };
        let verdict = *self
            .runnable
            .entry(prog.to_string())
            .or_insert_with(|| runnable(prog));
        if let Err(why) = verdict {
            self.warning(
                line,
                format!("{what}: {prog} {why}"),
                "the daemon will fail to run it; install it or fix the path",
            );
        }
    }

    fn globals(&mut self, c: &Config) {
        self.global_programs(c);
        self.directors(c);
        self.heartbeat(c);
        self.takeover(c);
    }

    /// The programs the global settings name, as far as they run.
    fn global_programs(&mut self, c: &Config) {
        for (what, cmd) in [
            ("active_cmd", &c.active_cmd),
            ("inactive_cmd", &c.inactive_cmd),
        ] {
            if let Some(cmd) = cmd {
                self.program(0, what, cmd);
            }
        }
        // The default ipvsadm is not run (IPVS is programmed over netlink); a wrapper is.
        if c.ipvsadm != crate::DEFAULT_IPVSADM {
            self.program(0, "ipvsadm", &c.ipvsadm.clone());
        }
        let uptime = c
            .active_virtuals()
            .any(|vs| vs.load_monitor.as_deref() == Some("uptime"));
        if uptime {
            self.program(0, "rsh_command", &c.rsh_command.clone());
        }
    }

    /// The two directors' addresses.
    fn directors(&mut self, c: &Config) {
        if c.primary.is_none() && !c.is_fleet() {
            let severity = match self.consumer {
                Consumer::Pulse => Severity::Error,
                Consumer::Lvsd => Severity::Warning,
            };
            self.push(
                severity,
                0,
                "primary is not set".into(),
                "pulse needs it to tell the primary from the backup director".into(),
            );
        }
        if c.backup_active && c.backup.is_none() {
            // Legacy pulse logs this and carries on without a backup.
            self.warning(
                0,
                "backup_active = 1 but backup is 0.0.0.0 or not set".into(),
                "pulse clears backup_active and runs without a backup (legacy: \"Undefined \
                 backup node marked as active? -- clearing that!\"); set backup to the backup \
                 director's address",
            );
        }
        if let (Some(p), Some(b)) = (&c.primary, &c.backup) {
            if p.addr == b.addr {
                self.error(
                    0,
                    format!("primary and backup are the same address {}", p.addr),
                    "each director needs its own address",
                );
            }
        }
    }

    /// The heartbeat's timers, port and authentication.
    fn heartbeat(&mut self, c: &Config) {
        if c.keepalive.is_zero() {
            self.error(
                0,
                "keepalive is 0".into(),
                "the heartbeat interval must be positive, e.g. keepalive = 2",
            );
        }
        if c.deadtime.is_zero() {
            self.error(
                0,
                "deadtime is 0".into(),
                "the partner would be declared dead at once; e.g. deadtime = 5",
            );
        } else if c.deadtime <= c.keepalive && c.effective_backup_active() {
            self.warning(
                0,
                format!(
                    "deadtime ({}) is not longer than keepalive ({})",
                    crate::value::format_seconds(c.deadtime),
                    crate::value::format_seconds(c.keepalive)
                ),
                "one late heartbeat would cause a failover; make deadtime a few keepalives long",
            );
        }
        if c.heartbeat_port == 0 && c.effective_backup_active() {
            self.error(
                0,
                "heartbeat_port is 0".into(),
                "use the legacy default 539 on both directors",
            );
        }
    }

    /// What moves with the active director: the NAT router, shared storage.
    fn takeover(&mut self, c: &Config) {
        if c.uses_nat() && c.nat_router.is_none() && c.effective_backup_active() {
            self.warning(
                0,
                "network = nat with a backup director but no nat_router".into(),
                "real servers route replies through the NAT router address, which must move \
                 with the active director; set nat_router = IP DEVICE",
            );
        }
        if c.heartbeat_auth != HeartbeatAuth::Off && c.heartbeat_key.is_none() {
            self.error(
                0,
                format!("heartbeat_auth = {} without heartbeat_key", c.heartbeat_auth),
                "name the key file shared by both directors: heartbeat_key = /etc/sysconfig/ha/heartbeat.key",
            );
        }
        if c.primary_shared.is_some() != c.backup_shared.is_some() {
            self.warning(
                0,
                "only one of primary_shared and backup_shared is set".into(),
                "shared SCSI reservation is used only when both are set",
            );
        } else if c.primary_shared.is_some() && c.service == ServiceType::Fos {
            self.warning(0, SHARED_SCSI_UNSUPPORTED.into(), SHARED_SCSI_HINT);
        }
    }

    /// The fleet extension (docs/fleet.md): enough directors, a BGP side, and virtual
    /// services every director can serve alike.
    fn fleet(&mut self, c: &Config) {
        if !c.is_fleet() {
            return;
        }
        self.fleet_globals(c);
        for vs in c.announced_virtuals() {
            self.fleet_virtual(c, vs);
        }
    }

    fn fleet_globals(&mut self, c: &Config) {
        let f = &c.fleet;
        if f.directors.len() < 2 {
            self.error(
                0,
                format!(
                    "a fleet needs at least two directors, this file names {}",
                    f.directors.len()
                ),
                "list every director with its own `director = ADDRESS` line",
            );
        }
        let mut seen = HashSet::new();
        for d in &f.directors {
            if !seen.insert(d.addr) {
                self.error(
                    0,
                    format!("director {} is listed twice", d.addr),
                    "each director once",
                );
            }
        }
        if f.local_as.is_none() || f.peers.is_empty() {
            self.error(
                0,
                "a fleet needs bgp_local_as and at least one bgp_peer".into(),
                "the directors announce their VIPs to the router by BGP: e.g. bgp_local_as = \
                 65001 and bgp_peer = 10.0.0.1 65000",
            );
        }
        if !c.syncdaemon {
            self.warning(
                0,
                "a fleet without syncdaemon = 1".into(),
                "connections that the router moves to another director are known there only \
                 through the IPVS sync daemon; set syncdaemon = 1 and syncd_iface",
            );
        }
    }

    fn fleet_virtual(&mut self, c: &Config, vs: &VirtualServer) {
        if c.network_of(vs) == Network::Nat {
            self.error(
                vs.line,
                format!("virtual {} forwards by NAT in a fleet", vs.name),
                "replies must pass the director that forwarded the request, which ECMP does \
                 not promise; use network = direct or tunnel for fleet services",
            );
        }
        if !matches!(vs.scheduler.as_str(), "mh" | "sh" | "dh") {
            self.warning(
                vs.line,
                format!(
                    "virtual {} uses the {} scheduler, which picks differently on each director",
                    vs.name, vs.scheduler
                ),
                "a flow the router moves to another director then lands on another real \
                 server; use scheduler = mh (the fleet default)",
            );
        }
        let prefix = format!("{}-", vs.scheduler);
        if vs.scheduler_flags.iter().any(|f| !f.starts_with(&prefix)) {
            self.warning(
                vs.line,
                format!(
                    "scheduler_flags of {} do not belong to {}",
                    vs.name, vs.scheduler
                ),
                "mh-* flags go with scheduler = mh, sh-* with sh",
            );
        }
        if vs.load_monitor.is_some() {
            self.warning(
                vs.line,
                format!("virtual {} has a load_monitor in a fleet", vs.name),
                "load-based weights differ between directors, and so would their Maglev \
                 tables; remove load_monitor",
            );
        }
    }

    fn services(&mut self, c: &Config) {
        let selected: Vec<&VirtualServer> = c.active_services().collect();
        self.selection(c, selected.is_empty());
        self.block_names(c);
        let mut identities: HashMap<lvs::ServiceKey, &VirtualServer> = HashMap::new();
        // label -> (VIP, service) of the first active service using it.
        let mut labels: HashMap<&str, (IpAddr, &VirtualServer)> = HashMap::new();
        for vs in &selected {
            self.service(c, vs);
            if c.service == ServiceType::Lvs {
                if let Some(first) = identities.insert(vs.identity(), vs) {
                    self.error(
                        vs.line,
                        format!(
                            "virtual {} is the same IPVS service ({}) as virtual {} (line {})",
                            vs.name,
                            vs.identity(),
                            first.name,
                            first.line
                        ),
                        "IPVS holds one service per address, protocol and port (or fwmark); \
                         merge the blocks or deactivate one",
                    );
                }
            }
            self.vip_label(vs, &mut labels, c.is_fleet());
        }
    }

    /// Whether there is anything to run, and what the file's `service` leaves aside.
    fn selection(&mut self, c: &Config, none_selected: bool) {
        if none_selected {
            // pulse: "no active lvs services defined in <file>".
            self.error(
                0,
                format!("no active {} services defined", c.service.keyword()),
                format!(
                    "pulse refuses to start; set `active = 1` in at least one {} block",
                    match c.service {
                        ServiceType::Lvs => "virtual",
                        ServiceType::Fos => "failover",
                    }
                ),
            );
        }
        let unused = match c.service {
            ServiceType::Lvs => c.active_failovers().count(),
            ServiceType::Fos => c.active_virtuals().count(),
        };
        if unused > 0 {
            self.warning(
                0,
                format!(
                    "{unused} active {} block(s) are ignored because service = {}",
                    match c.service {
                        ServiceType::Lvs => "failover",
                        ServiceType::Fos => "virtual",
                    },
                    c.service.keyword()
                ),
                "set `service` to the kind of blocks you mean to run",
            );
        }
    }

    /// Every block's name once (log messages name services by them).
    fn block_names(&mut self, c: &Config) {
        let mut names: HashSet<&str> = HashSet::new();
        for vs in c.virtuals.iter().chain(c.failovers.iter()) {
            if !names.insert(&vs.name) {
                self.warning(
                    vs.line,
                    format!("there is more than one block named {}", vs.name),
                    "log messages name services by block name; make the names unique",
                );
            }
        }
    }

    /// A VIP's interface label: one VIP per label, and a label on an IPv4 VIP.
    fn vip_label<'c>(
        &mut self,
        vs: &'c VirtualServer,
        labels: &mut HashMap<&'c str, (IpAddr, &'c VirtualServer)>,
        fleet: bool,
    ) {
        if let Some(addr) = &vs.address {
            match labels.get(addr.device.as_str()) {
                Some((ip, first)) if *ip != addr.addr() => self.error(
                    vs.line,
                    format!(
                        "VIP {} of {} uses the interface label {} that {} already uses for {}",
                        addr.addr(),
                        vs.name,
                        addr.device,
                        first.name,
                        ip
                    ),
                    "legacy pulse would replace one VIP with the other; give each VIP its \
                     own label such as eth0:2",
                ),
                Some(_) => {}
                None => {
                    labels.insert(&addr.device, (addr.addr(), vs));
                }
            }
            // A fleet director puts its VIPs on lo, never on this interface.
            if addr.addr().is_ipv4() && !addr.device.contains(':') && !fleet {
                self.warning(
                    vs.line,
                    format!(
                        "VIP {} of {} is on {} without an alias label",
                        addr.addr(),
                        vs.name,
                        addr.device
                    ),
                    "legacy pulse re-addressed (and downed) the whole interface in that \
                     case; this project adds the VIP as an extra address, but use a label \
                     such as eth0:1 if legacy directors share this file",
                );
            }
        }
    }

    /// Checks one active service of the selected type.
    fn service(&mut self, c: &Config, vs: &VirtualServer) {
        let kind = match c.service {
            ServiceType::Lvs => "virtual",
            ServiceType::Fos => "failover",
        };
        let vip = match &vs.address {
            Some(a) if !a.addr().is_unspecified() => Some(a.addr()),
            _ => {
                self.error(
                    vs.line,
                    format!("{kind} {} has no address", vs.name),
                    "set `address = VIP DEVICE`, e.g. `address = 192.168.0.100 eth0:1`",
                );
                None
            }
        };
        if vs.timeout == 0 {
            self.error(
                vs.line,
                format!("timeout of {kind} {} is 0", vs.name),
                "timeout is the probe interval and timeout in seconds; legacy nanny crashed \
                 (division by zero) on 0. Use e.g. timeout = 10",
            );
        } else if vs.reentry != 0 && vs.reentry < vs.timeout {
            self.warning(
                vs.line,
                format!(
                    "reentry ({}) of {} is shorter than its timeout ({})",
                    vs.reentry, vs.name, vs.timeout
                ),
                "a recovered server is re-added after one good probe",
            );
        }
        if kind == "virtual" && vs.fwmark == 0 && vs.port == 0 {
            self.error(
                vs.line,
                format!("virtual {} has port 0", vs.name),
                "set the service port, or a fwmark for a firewall-mark service",
            );
        }
        self.probe_settings(vs);
        if kind == "failover" {
            if vs.start_cmd.is_none() || vs.stop_cmd.is_none() {
                self.warning(
                    vs.line,
                    format!("failover {} lacks start_cmd or stop_cmd", vs.name),
                    "fos runs both to move the service between directors",
                );
            }
            return;
        }
        if vs.active_servers().next().is_none() && vs.sorry_server.is_none() {
            self.warning(
                vs.line,
                format!("virtual {} has no active real server", vs.name),
                "the service will be created with no destination",
            );
        }
        self.real_servers(c, vs, vip);
    }

    /// How a service is probed: its programs, and settings that cancel each other.
    fn probe_settings(&mut self, vs: &VirtualServer) {
        self.expect_regex(vs);
        self.program(
            vs.line,
            &format!("client_monitor of {}", vs.name),
            &vs.client_monitor,
        );
        if let Some(p) = &vs.send_program {
            self.program(
                vs.line,
                &format!("send_program of {}", vs.name),
                &p.as_passed(),
            );
        }
        if vs.send_program.is_some() && vs.send.is_some() {
            self.warning(
                vs.line,
                format!("{} has both send_program and send", vs.name),
                "nanny uses send_program and ignores send",
            );
        }
        if vs.pmask.is_some() && vs.persistent == 0 {
            self.warning(
                vs.line,
                format!("{} has pmask but no persistent timeout", vs.name),
                "pmask only matters with persistent > 0",
            );
        }
    }

    /// A virtual service's real servers and sorry server: addresses, ports, families.
    fn real_servers(&mut self, c: &Config, vs: &VirtualServer, vip: Option<IpAddr>) {
        let mut seen: HashMap<(IpAddr, u16), &RealServer> = HashMap::new();
        for rs in vs.active_servers() {
            let Some(host) = &rs.address else {
                self.error(
                    rs.line,
                    format!("server {} of {} has no address", rs.name, vs.name),
                    "set `address = IP` in the server block",
                );
                continue;
            };
            if let Some(first) = seen.insert((host.addr, rs.port), rs) {
                self.error(
                    rs.line,
                    format!(
                        "servers {} and {} of {} are the same destination {}",
                        first.name,
                        rs.name,
                        vs.name,
                        SocketAddr::new(host.addr, rs.port)
                    ),
                    "IPVS holds each real server address and port once per service",
                );
            }
            if let Some(vip) = vip {
                if vip.is_ipv4() != host.addr.is_ipv4() && c.network_of(vs) != Network::Tunnel {
                    self.error(
                        rs.line,
                        format!(
                            "server {} ({}) of {} is not in the VIP's address family",
                            rs.name, host.addr, vs.name
                        ),
                        "the kernel mixes IPv4 and IPv6 only with network = tunnel",
                    );
                }
            }
            if rs.port == 0 && vs.fwmark == 0 {
                self.error(
                    rs.line,
                    format!("server {} of {} has port 0", rs.name, vs.name),
                    "set `port` in the server block",
                );
            }
        }
        if let (Some(sorry), Some(vip)) = (&vs.sorry_server, vip) {
            if sorry.addr.is_ipv4() != vip.is_ipv4() && c.network_of(vs) != Network::Tunnel {
                self.error(
                    vs.line,
                    format!(
                        "sorry_server {} of {} is not in the VIP's address family",
                        sorry.addr, vs.name
                    ),
                    "use a sorry server of the VIP's family",
                );
            }
        }
    }
}

/// Whether `prog` can be run: `Err` says why not.
fn runnable(prog: &str) -> Result<(), &'static str> {
    use std::os::unix::fs::PermissionsExt;
    let is_runnable = |p: &std::path::Path| {
        std::fs::metadata(p).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if prog.contains('/') {
        return match is_runnable(std::path::Path::new(prog)) {
            Ok(true) => Ok(()),
            Ok(false) => Err("is not an executable file"),
            Err(_) => Err("does not exist"),
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    if std::env::split_paths(&path).any(|d| is_runnable(&d.join(prog)).unwrap_or(false)) {
        Ok(())
    } else {
        Err("is not found in PATH")
    }
}
