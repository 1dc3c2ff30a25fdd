//! Carrying the monitor's IPVS actions out: over netlink through the `ipvs` crate, or,
//! when the operator named a wrapper program with `-I`, by running it with the legacy
//! ipvsadm argument lists (docs/legacy.md, "nanny").
//!
//! Legacy nanny exited on any failed ipvsadm run, which made lvsd shut the director down.
//! Here a destination that already exists is adopted, a missing one is added or left
//! alone as the action needs, transient kernel errors are retried, and other failures
//! are reported to the caller, which logs them and re-synchronises later.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ipvs::{Destination, Ipvs, ServiceKey};
use lvscf::Network;

use crate::monitor::Action;
use crate::spec::MonitorSpec;

/// Where the destination lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub service: ServiceKey,
    pub server: IpAddr,
    pub rport: u16,
    pub method: Network,
}

/// Why a monitor's IPVS side cannot work, in the words nanny logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SouthboundError {
    /// The monitor names no IPVS service (its command line).
    Target(String),
    /// IPVS cannot be reached.
    Unreachable(String),
    /// An IPVS change failed.
    ChangeFailed(String),
}

impl std::fmt::Display for SouthboundError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SouthboundError::Target(m) | SouthboundError::Unreachable(m) => f.write_str(m),
            SouthboundError::ChangeFailed(m) => f.write_str(m),
        }
    }
}

impl From<SouthboundError> for daemon::runtime::StartError {
    fn from(e: SouthboundError) -> daemon::runtime::StartError {
        daemon::runtime::StartError(e.to_string())
    }
}

impl Target {
    /// The service and destination the command line names: the service as
    /// `ipvs::ServiceKey::for_virtual` derives it, as lvsd does from lvs.cf. A fwmark
    /// service without `-V` (a nanny started by hand) takes the server's family.
    pub fn from_options(o: &MonitorSpec) -> Result<Target, SouthboundError> {
        let vip = match o.virtual_address.as_deref() {
            Some(vip) => lvscf::value::parse_addr_literal(vip)
                .ok_or_else(|| SouthboundError::Target(format!("bad IP address -- {vip}")))?,
            None if o.fwmark != 0 => o.server,
            None => {
                let no_vip = "no virtual address (-V) for the IPVS service";
                return Err(SouthboundError::Target(no_vip.into()));
            }
        };
        Ok(Target {
            service: ServiceKey::for_virtual(o.protocol, vip, o.port, o.fwmark),
            server: o.server,
            rport: o.rport,
            method: o.method,
        })
    }

    /// The destination with this weight.
    pub fn dest(&self, weight: u32) -> Destination {
        Destination::new(
            self.server,
            self.rport,
            self.method.forward_method(),
            weight,
        )
    }

    /// The legacy ipvsadm service argument: `-t VIP:PORT`, `-u VIP:PORT` or `-f MARK`.
    fn service_args(&self) -> Vec<String> {
        match self.service {
            ServiceKey::Fwmark { mark, .. } => vec!["-f".into(), mark.to_string()],
            ServiceKey::Addr {
                protocol,
                addr,
                port,
            } => vec![
                protocol.ipvsadm_flag().into(),
                SocketAddr::new(addr, port).to_string(),
            ],
        }
    }

    /// The legacy argument list for an action (add, edit, delete).
    pub(crate) fn ipvsadm_args(&self, action: &Action) -> Option<Vec<String>> {
        let rs = SocketAddr::new(self.server, self.rport).to_string();
        let (op, weight) = match action {
            Action::Add(w) => ("-a", Some(*w)),
            Action::SetWeight(w) => ("-e", Some(*w)),
            Action::Delete => ("-d", None),
            _ => return None,
        };
        let mut args = vec![op.to_string()];
        args.extend(self.service_args());
        args.extend(["-r".to_string(), rs]);
        if let Some(w) = weight {
            args.extend([
                self.method.ipvsadm_flag().to_string(),
                "-w".into(),
                w.to_string(),
            ]);
        }
        Some(args)
    }
}

/// How long an ipvsadm wrapper (`-I`) may take for one change: legacy nanny waited for
/// ever, so a wrapper that hung froze the nanny and its signals (docs/differences.md).
pub(crate) const WRAPPER_TIMEOUT: Duration = Duration::from_secs(10);

/// An IPVS netlink connection, shared by the monitors of one thread (the integrated
/// monitors: one socket for every real server, not one each).
pub(crate) type SharedIpvs = std::rc::Rc<std::cell::RefCell<Ipvs>>;

pub enum Backend {
    Netlink(SharedIpvs),
    /// `-I PATH` with a path other than the default: run it as legacy nanny ran ipvsadm,
    /// for at most `timeout`.
    Wrapper {
        path: String,
        timeout: Duration,
    },
    /// `--test-start`: change nothing.
    DryRun,
}

impl Backend {
    /// The `-I PATH` wrapper with the default time limit.
    pub fn wrapper(path: &str) -> Backend {
        Backend::Wrapper {
            path: path.to_string(),
            timeout: WRAPPER_TIMEOUT,
        }
    }
}

pub struct Southbound {
    pub target: Target,
    pub backend: Backend,
}

impl Southbound {
    /// Where a command line's IPVS changes go: none for FOS, the wrapper program with
    /// `-I`, a dry run with `--test-start`, netlink otherwise (over `shared` when given,
    /// else a connection of its own).
    pub fn for_options(
        o: &MonitorSpec,
        shared: Option<&SharedIpvs>,
    ) -> Result<Option<Southbound>, SouthboundError> {
        if o.mode == crate::monitor::Mode::Fos {
            return Ok(None);
        }
        let target = Target::from_options(o)?;
        let backend = if o.test_start {
            Backend::DryRun
        } else if o.ipvsadm != lvscf::DEFAULT_IPVSADM {
            Backend::wrapper(&o.ipvsadm)
        } else if let Some(ipvs) = shared {
            Backend::Netlink(ipvs.clone())
        } else {
            let ipvs = Ipvs::open()
                .map_err(|e| SouthboundError::Unreachable(format!("cannot reach IPVS: {e}")))?;
            Backend::Netlink(std::rc::Rc::new(std::cell::RefCell::new(ipvs)))
        };
        Ok(Some(Southbound { target, backend }))
    }

    /// The weight of this nanny's destination if it is in IPVS already (netlink only:
    /// a wrapper program cannot be asked).
    pub fn existing_weight(&mut self) -> Option<u32> {
        let Backend::Netlink(ipvs) = &mut self.backend else {
            return None;
        };
        let dests = ipvs.borrow_mut().destinations(&self.target.service).ok()?;
        dests
            .into_iter()
            .find(|d| d.dest.addr == self.target.server && d.dest.port == self.target.rport)
            .map(|d| d.dest.weight)
    }

    /// Carries out one IPVS action.
    pub fn apply(&mut self, action: &Action) -> Result<(), SouthboundError> {
        match &mut self.backend {
            Backend::DryRun => Ok(()),
            Backend::Wrapper { path, timeout } => {
                let Some(args) = self.target.ipvsadm_args(action) else {
                    return Ok(());
                };
                let mut argv = vec![path.clone()];
                argv.extend(args);
                match daemon::process::run(&argv, *timeout, 0) {
                    Ok(out) if out.status.success() => Ok(()),
                    Ok(_) => Err(SouthboundError::ChangeFailed(format!(
                        "{path} command failed!"
                    ))),
                    Err(e) => Err(SouthboundError::ChangeFailed(format!(
                        "{path} command failed! ({e})"
                    ))),
                }
            }
            Backend::Netlink(ipvs) => {
                let mut ipvs = ipvs.borrow_mut();
                let key = self.target.service;
                let mut attempt = 0;
                loop {
                    let result = match action {
                        Action::Add(w) | Action::SetWeight(w) => {
                            let d = self.target.dest(*w);
                            let first = if matches!(action, Action::Add(_)) {
                                ipvs.add_destination(&key, &d)
                            } else {
                                ipvs.edit_destination(&key, &d)
                            };
                            match first {
                                // Already there (a previous nanny, a restart): adopt it.
                                Err(e) if e.is_exists() => ipvs.edit_destination(&key, &d),
                                // Gone behind our back: put it back.
                                Err(e) if e.is_no_destination() => ipvs.add_destination(&key, &d),
                                other => other,
                            }
                        }
                        Action::Delete => match ipvs.delete_destination(
                            &key,
                            &ipvs::DestKey {
                                addr: self.target.server,
                                port: self.target.rport,
                            },
                        ) {
                            Err(e) if e.is_no_destination() || e.is_no_service() => Ok(()),
                            other => other,
                        },
                        _ => Ok(()),
                    };
                    match result {
                        Ok(()) => return Ok(()),
                        Err(e) if e.is_transient() && attempt < 3 => {
                            attempt += 1;
                            std::thread::sleep(Duration::from_millis(50 << attempt));
                        }
                        Err(e) => {
                            let failed = format!("IPVS change failed: {e}");
                            return Err(SouthboundError::ChangeFailed(failed));
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(udp: bool, fwmark: u32) -> Target {
        let mut args = vec![
            "-h",
            "10.0.0.21",
            "-p",
            "80",
            "-r",
            "8080",
            "-V",
            "192.168.0.100",
            "-M",
            "g",
            "--lvs",
        ];
        if udp {
            args.push("-u");
        }
        let mark = fwmark.to_string();
        if fwmark != 0 {
            args.extend(["-f", &mark]);
        }
        let args: Vec<String> = args.into_iter().map(String::from).collect();
        match crate::spec::parse(&args).unwrap() {
            crate::spec::Command::Run(o) => Target::from_options(&o).unwrap(),
            _ => unreachable!(),
        }
    }

    #[test]
    fn legacy_ipvsadm_argument_lists() {
        let t = target(false, 0);
        assert_eq!(
            t.ipvsadm_args(&Action::Add(3)).unwrap().join(" "),
            "-a -t 192.168.0.100:80 -r 10.0.0.21:8080 -g -w 3"
        );
        assert_eq!(
            t.ipvsadm_args(&Action::SetWeight(0)).unwrap().join(" "),
            "-e -t 192.168.0.100:80 -r 10.0.0.21:8080 -g -w 0"
        );
        assert_eq!(
            t.ipvsadm_args(&Action::Delete).unwrap().join(" "),
            "-d -t 192.168.0.100:80 -r 10.0.0.21:8080"
        );
        assert_eq!(
            target(true, 0)
                .ipvsadm_args(&Action::Delete)
                .unwrap()
                .join(" "),
            "-d -u 192.168.0.100:80 -r 10.0.0.21:8080"
        );
        assert_eq!(
            target(false, 80)
                .ipvsadm_args(&Action::Add(1))
                .unwrap()
                .join(" "),
            "-a -f 80 -r 10.0.0.21:8080 -g -w 1"
        );
        assert_eq!(t.ipvsadm_args(&Action::QueryLoad), None);
    }

    #[test]
    fn a_wrapper_program_is_run_and_its_failure_reported() {
        let mut sb = Southbound {
            target: target(false, 0),
            backend: Backend::wrapper("true"),
        };
        assert_eq!(sb.apply(&Action::Add(1)), Ok(()));
        sb.backend = Backend::wrapper("false");
        assert_eq!(
            sb.apply(&Action::Delete),
            Err(SouthboundError::ChangeFailed(
                "false command failed!".into()
            ))
        );
    }

    #[test]
    fn a_wrapper_that_hangs_is_killed_at_its_time_limit() {
        let script = std::env::temp_dir().join(format!("nanny-ipvsadm-{}.sh", std::process::id()));
        std::fs::write(&script, "#!/bin/sh\nsleep 30\n").unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let path = script.display().to_string();
        let mut sb = Southbound {
            target: target(false, 0),
            backend: Backend::Wrapper {
                path: path.clone(),
                timeout: Duration::from_millis(300),
            },
        };
        let start = std::time::Instant::now();
        let r = sb.apply(&Action::Add(1));
        let _ = std::fs::remove_file(&script);
        assert_eq!(
            r,
            Err(SouthboundError::ChangeFailed(format!(
                "{path} command failed! (timed out)"
            )))
        );
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
    }
}
