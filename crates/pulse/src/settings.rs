//! What pulse takes from lvs.cf and its command line, worked out once at start-up: the
//! role, the partner's addresses, the timers, the addresses to take over and the
//! commands. Pure: the local addresses come from the caller.

use std::net::IpAddr;
use std::time::Duration;

use lvscf::{Config, HeartbeatAuth, ServiceType};

use crate::auth::Key;

/// Which director this is: legacy "MASTER" (holds `primary`) or "BACKUP".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Primary,
    Backup,
}

impl Role {
    /// The role byte of authenticated heartbeats.
    pub fn wire(self) -> u8 {
        match self {
            Role::Primary => 1,
            Role::Backup => 2,
        }
    }

    pub fn partner(self) -> Role {
        match self {
            Role::Primary => Role::Backup,
            Role::Backup => Role::Primary,
        }
    }
}

/// An address pulse brings up on activation: a VIP or the NAT router address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakeoverAddress {
    pub addr: IpAddr,
    pub prefix: u8,
    /// As written in lvs.cf: `eth0:1` (the label) or `eth0`.
    pub device: String,
}

impl TakeoverAddress {
    /// The interface itself: the device up to the first `:`.
    pub fn base_device(&self) -> &str {
        self.device.split(':').next().unwrap_or(&self.device)
    }

    /// The alias label (IPv4 only; IPv6 addresses have none).
    pub fn label(&self) -> Option<&str> {
        (self.addr.is_ipv4() && self.device.contains(':')).then_some(self.device.as_str())
    }
}

/// pulse's command-line switches that shape its behaviour.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Switches {
    pub test_start: bool,
    pub force_active: bool,
    pub nodaemon: bool,
    pub verbose: bool,
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// `service = lvs` (lvsd on the active director) or `fos` (fos on both).
    pub mode: ServiceType,
    pub role: Role,
    pub port: u16,
    /// This director's public and private heartbeat addresses.
    pub own_public: IpAddr,
    pub own_private: Option<IpAddr>,
    pub partner_public: Option<IpAddr>,
    pub partner_private: Option<IpAddr>,
    /// Heartbeats are sent (legacy: only with `backup_active = 1`).
    pub heartbeats: bool,
    pub keepalive: Duration,
    pub deadtime: Duration,
    pub monitor_links: bool,
    pub takeover: Vec<TakeoverAddress>,
    pub active_cmd: Option<Vec<String>>,
    pub inactive_cmd: Option<Vec<String>>,
    /// `syncd_iface` and `syncd_id & 0xff` with `syncdaemon = 1`.
    pub sync_daemon: Option<(String, u8)>,
    /// The IPVS services lvsd creates (the active virtual services), which an
    /// activation with a sync daemon waits for before it takes the addresses.
    pub services: Vec<ipvs::ServiceKey>,
    pub switches: Switches,
    pub warm_standby: bool,
    pub preempt_delay: Option<Duration>,
    pub arp_refresh: Option<Duration>,
    /// Where pulse serves the status page and metrics (docs/control.md, "HTTP").
    pub status_http: Option<std::net::SocketAddr>,
    /// `sync = 1`: push lvs.cf to the partner (docs/operations.md), over `rsh_command`.
    pub config_sync: bool,
    pub rsh_command: String,
    pub auth: HeartbeatAuth,
    pub key: Option<Key>,
}

/// Why pulse cannot start with this file on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartupError {
    NoPrimary,
    /// No active block of the type `service` selects.
    NoActiveServices(ServiceType),
    /// `backup_active = 0` on the backup: legacy logs this and exits.
    BackupInactive,
    NoBackupAddress,
}

impl StartupError {
    /// What pulse says (docs/legacy.md "Pulse start-up"; on the terminal after `pulse: `,
    /// except the backup's, which is logged once running).
    pub fn legacy_text(&self, file: &str) -> String {
        match self {
            StartupError::NoPrimary => {
                format!("error parsing {file} at line 0: primary is not set")
            }
            StartupError::NoActiveServices(kind) => {
                format!("no active {} services defined in {file}", kind.keyword())
            }
            StartupError::BackupInactive => {
                "We are backup node and backup is marked inactive -- exiting pulse".into()
            }
            StartupError::NoBackupAddress => {
                "this host does not hold primary, and no backup is set".into()
            }
        }
    }
}

/// Legacy pulse refuses a file without an active service of the selected type.
pub(crate) fn check_services(c: &Config) -> Result<(), StartupError> {
    match c.active_services().next() {
        Some(_) => Ok(()),
        None => Err(StartupError::NoActiveServices(c.service)),
    }
}

impl Settings {
    /// Role detection (legacy: master iff a local interface holds `primary`) and the rest.
    pub fn new(c: &Config, local: &[IpAddr], switches: Switches) -> Result<Settings, StartupError> {
        let primary = c.primary.as_ref().ok_or(StartupError::NoPrimary)?.addr;
        check_services(c)?;
        let role = if c.is_primary(local) {
            Role::Primary
        } else {
            Role::Backup
        };
        let backup = c.backup.as_ref().map(|h| h.addr);
        let (own_public, own_private, partner_public, partner_private) = match role {
            Role::Primary => (
                primary,
                c.primary_private.as_ref(),
                backup,
                c.backup_private.as_ref(),
            ),
            Role::Backup => (
                backup.ok_or(StartupError::NoBackupAddress)?,
                c.backup_private.as_ref(),
                Some(primary),
                c.primary_private.as_ref(),
            ),
        };
        if role == Role::Backup && !c.backup_active {
            return Err(StartupError::BackupInactive);
        }
        let lvs = c.service == ServiceType::Lvs;
        Ok(Settings {
            mode: c.service,
            role,
            port: c.heartbeat_port,
            own_public,
            own_private: own_private.map(|h| h.addr).filter(|a| *a != own_public),
            partner_public,
            partner_private: partner_private.map(|h| h.addr),
            heartbeats: c.effective_backup_active(),
            keepalive: c.keepalive,
            deadtime: c.deadtime,
            monitor_links: c.monitor_links && c.effective_backup_active(),
            takeover: takeover_addresses(c),
            active_cmd: c.active_cmd.as_deref().map(split_command),
            inactive_cmd: c.inactive_cmd.as_deref().map(split_command),
            // Connection sync is IPVS's, and the services are lvsd's: LVS mode only.
            sync_daemon: (c.syncdaemon && lvs)
                .then(|| (c.syncd_iface.clone(), (c.syncd_id & 0xff) as u8)),
            services: c
                .active_virtuals()
                .filter(|_| lvs)
                .filter_map(|v| v.service_key())
                .collect(),
            switches,
            warm_standby: c.warm_standby,
            preempt_delay: c.preempt_delay,
            arp_refresh: c.arp_refresh,
            status_http: c.status_http,
            config_sync: c.sync,
            rsh_command: c.rsh_command.clone(),
            auth: c.heartbeat_auth,
            key: None,
        })
    }

    /// Whether `from` is one of the partner's addresses (the port is not checked, as
    /// legacy did not).
    pub(crate) fn is_partner(&self, from: IpAddr) -> bool {
        Some(from) == self.partner_public || Some(from) == self.partner_private
    }
}

/// Legacy splits commands on blanks (runs collapse, no quoting, no shell).
pub(crate) fn split_command(cmd: &str) -> Vec<String> {
    cmd.split([' ', '\t'])
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// The NAT router (when a service forwards by NAT, [`Config::uses_nat`]) then each
/// distinct active VIP, in file order; in fos mode each distinct failover VIP.
fn takeover_addresses(c: &Config) -> Vec<TakeoverAddress> {
    let mut out: Vec<TakeoverAddress> = Vec::new();
    if c.uses_nat() && c.service == ServiceType::Lvs {
        if let Some(r) = &c.nat_router {
            out.push(TakeoverAddress {
                addr: r.addr(),
                prefix: prefix_of(r.addr(), c.nat_nmask),
                device: r.device.clone(),
            });
        }
    }
    for vs in c.active_services() {
        let Some(a) = &vs.address else { continue };
        if out.iter().any(|t| t.addr == a.addr()) {
            continue;
        }
        out.push(TakeoverAddress {
            addr: a.addr(),
            prefix: prefix_of(a.addr(), vs.vip_nmask),
            device: a.device.clone(),
        });
    }
    out
}

/// The prefix legacy `ifconfig` gave: the mask's, or without one the kernel's classful
/// default for IPv4 (`ifconfig DEV IP up`); IPv6 VIPs are host addresses.
fn prefix_of(addr: IpAddr, mask: Option<std::net::Ipv4Addr>) -> u8 {
    match (addr, mask) {
        (IpAddr::V6(_), _) => 128,
        (IpAddr::V4(_), Some(m)) => u32::from(m).leading_ones() as u8,
        (IpAddr::V4(a), None) => match a.octets()[0] {
            0..=127 => 8,
            128..=191 => 16,
            192..=223 => 24,
            _ => 32,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"primary = 192.168.0.10
primary_private = 10.11.12.1
backup = 192.168.0.11
backup_private = 10.11.12.2
backup_active = 1
network = nat
nat_router = 10.0.0.254 eth1:1
nat_nmask = 255.255.255.0
active_cmd = "/usr/local/sbin/became-active  --now"
syncdaemon = 1
syncd_iface = eth1
syncd_id = 263
virtual www {
  active = 1
  address = 192.168.0.100 eth0:1
  vip_nmask = 255.255.255.0
  server a {
    address = 10.0.0.21
    active = 1
  }
}
virtual www-again {
  active = 1
  address = 192.168.0.100 eth0:1
  port = 443
  server a {
    address = 10.0.0.21
    active = 1
  }
}
virtual dns {
  active = 1
  address = 172.16.0.5 eth0:2
  server a {
    address = 10.0.0.21
    active = 1
  }
}
virtual off {
  active = 0
  address = 192.168.0.200 eth0:9
}
"#;

    fn config(text: &str) -> Config {
        lvscf::parse_str(text, "lvs.cf", &lvscf::ParseOptions::default())
            .unwrap()
            .config
    }

    #[test]
    fn the_role_follows_which_director_holds_primary() {
        let c = config(FILE);
        let p = Settings::new(&c, &["192.168.0.10".parse().unwrap()], Switches::default()).unwrap();
        assert_eq!(p.role, Role::Primary);
        assert_eq!(p.own_private, Some("10.11.12.1".parse().unwrap()));
        assert_eq!(p.partner_public, Some("192.168.0.11".parse().unwrap()));
        assert!(p.is_partner("10.11.12.2".parse().unwrap()));
        assert!(!p.is_partner("10.11.12.1".parse().unwrap()));
        let b = Settings::new(&c, &["192.168.0.11".parse().unwrap()], Switches::default()).unwrap();
        assert_eq!(b.role, Role::Backup);
        assert_eq!(b.own_public, "192.168.0.11".parse::<IpAddr>().unwrap());
        assert!(b.is_partner("192.168.0.10".parse().unwrap()));
    }

    #[test]
    fn takeover_addresses_are_the_nat_router_then_each_distinct_active_vip() {
        let s = Settings::new(&config(FILE), &[], Switches::default()).unwrap();
        let got: Vec<(String, u8, &str)> = s
            .takeover
            .iter()
            .map(|t| (t.addr.to_string(), t.prefix, t.device.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("10.0.0.254".to_string(), 24, "eth1:1"),
                ("192.168.0.100".to_string(), 24, "eth0:1"),
                ("172.16.0.5".to_string(), 16, "eth0:2"),
            ]
        );
        assert_eq!(s.takeover[0].base_device(), "eth1");
        assert_eq!(s.takeover[0].label(), Some("eth1:1"));
        assert_eq!(
            s.active_cmd.as_deref().unwrap(),
            ["/usr/local/sbin/became-active", "--now"]
        );
        assert_eq!(s.sync_daemon, Some(("eth1".to_string(), 7)));
    }

    #[test]
    fn the_nat_router_follows_the_services_that_forward_by_nat() {
        let nat_router = |text: &str| {
            Settings::new(&config(text), &[], Switches::default())
                .unwrap()
                .takeover
                .iter()
                .any(|t| t.addr.to_string() == "10.0.0.254")
        };
        assert!(nat_router(FILE), "legacy: global network = nat");
        let block = "{\n  active = 1\n  address";
        let dr = "{\n  active = 1\n  network = direct\n  address";
        assert!(
            nat_router(&FILE.replacen(block, dr, 2)),
            "dns still forwards by NAT"
        );
        let all_dr = FILE.replace(block, dr);
        assert!(!nat_router(&all_dr), "no NAT service, no NAT router");
    }

    #[test]
    fn start_up_refusals_are_the_legacy_ones() {
        let no_services = "primary = 192.168.0.10\nbackup = 192.168.0.11\nbackup_active = 1\n";
        assert_eq!(
            Settings::new(&config(no_services), &[], Switches::default()).unwrap_err(),
            StartupError::NoActiveServices(lvscf::ServiceType::Lvs)
        );
        let inactive = FILE.replace("backup_active = 1", "backup_active = 0");
        assert_eq!(
            Settings::new(&config(&inactive), &[], Switches::default()).unwrap_err(),
            StartupError::BackupInactive
        );
        let primary_alone = Settings::new(
            &config(&inactive),
            &["192.168.0.10".parse().unwrap()],
            Switches::default(),
        )
        .unwrap();
        assert!(
            !primary_alone.heartbeats,
            "no heartbeats without backup_active"
        );
    }
}
