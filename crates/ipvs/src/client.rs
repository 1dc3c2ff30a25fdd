//! [`Ipvs`]: one API over the two kernel interfaces, generic netlink (preferred) and the
//! legacy socket options (fallback when the kernel has no IPVS netlink family).

use crate::error::{Error, Result};
use crate::genl::Netlink;
use crate::packet::{self, Request};
use crate::sockopt::Connection as Sockopt;
use crate::table::{Op, Table, TableService};
use crate::types::*;

/// Which kernel interface a client uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interface {
    Netlink,
    SocketOptions,
}

enum Backend {
    Netlink(Netlink),
    Sockopt(Sockopt),
}

/// A connection to the kernel's IPVS.
pub struct Ipvs {
    backend: Backend,
}

/// Whether a failure to open the netlink interface means "use the socket options".
pub(crate) fn should_fall_back(netlink_error: &Error) -> bool {
    matches!(netlink_error, Error::FamilyNotFound)
}

impl Ipvs {
    /// Generic netlink, or the legacy socket options if the kernel has no IPVS family.
    pub fn open() -> Result<Ipvs> {
        match Netlink::open() {
            Ok(c) => Ok(Ipvs {
                backend: Backend::Netlink(c),
            }),
            Err(e) if should_fall_back(&e) => Self::open_sockopt(),
            Err(e) => Err(e),
        }
    }

    pub fn open_netlink() -> Result<Ipvs> {
        Ok(Ipvs {
            backend: Backend::Netlink(Netlink::open()?),
        })
    }

    pub fn open_sockopt() -> Result<Ipvs> {
        Ok(Ipvs {
            backend: Backend::Sockopt(Sockopt::open()?),
        })
    }

    pub fn interface(&self) -> Interface {
        match self.backend {
            Backend::Netlink(_) => Interface::Netlink,
            Backend::Sockopt(_) => Interface::SocketOptions,
        }
    }

    pub fn info(&mut self) -> Result<Info> {
        match &mut self.backend {
            Backend::Netlink(c) => {
                let r = c.query(&Request::GetInfo, "read IPVS info")?;
                let body = r.first().map(|r| r.body.as_slice()).unwrap_or(&[]);
                packet::decode_info(body).map_err(|e| decode_err("read IPVS info", e))
            }
            Backend::Sockopt(c) => Ok(c.info()?.0),
        }
    }

    /// Every service the kernel holds (this network namespace).
    pub fn services(&mut self) -> Result<Vec<ServiceEntry>> {
        match &mut self.backend {
            Backend::Netlink(c) => c
                .query(&Request::DumpServices, "list IPVS services")?
                .iter()
                .filter(|r| r.cmd == packet::cmd::NEW_SERVICE)
                .map(|r| {
                    packet::top_nest(&r.body, packet::ATTR_SERVICE)
                        .and_then(packet::decode_service)
                        .map_err(|e| decode_err("list IPVS services", e))
                })
                .collect(),
            Backend::Sockopt(c) => Ok(c.services()?.into_iter().map(|(e, _)| e).collect()),
        }
    }

    /// One service, or `None` if it does not exist.
    pub fn service(&mut self, key: &ServiceKey) -> Result<Option<ServiceEntry>> {
        match &mut self.backend {
            Backend::Netlink(c) => {
                let context = format!("read service {key}");
                match c.query(&Request::GetService(*key), &context) {
                    Err(e) if e.is_no_service() => Ok(None),
                    Err(e) => Err(e),
                    Ok(r) => match r.iter().find(|r| r.cmd == packet::cmd::NEW_SERVICE) {
                        Some(r) => packet::top_nest(&r.body, packet::ATTR_SERVICE)
                            .and_then(packet::decode_service)
                            .map(Some)
                            .map_err(|e| decode_err(&context, e)),
                        None => Ok(None),
                    },
                }
            }
            Backend::Sockopt(c) => Ok(c.service(key)?.map(|(e, _)| e)),
        }
    }

    /// The destinations of a service (ESRCH if it does not exist).
    pub fn destinations(&mut self, key: &ServiceKey) -> Result<Vec<DestEntry>> {
        match &mut self.backend {
            Backend::Netlink(c) => {
                let context = format!("list destinations of {key}");
                c.query(&Request::DumpDests(*key), &context)?
                    .iter()
                    .filter(|r| r.cmd == packet::cmd::NEW_DEST)
                    .map(|r| {
                        packet::top_nest(&r.body, packet::ATTR_DEST)
                            .and_then(|n| packet::decode_dest(n, key.family()))
                            .map_err(|e| decode_err(&context, e))
                    })
                    .collect()
            }
            Backend::Sockopt(c) => c.destinations(key),
        }
    }

    /// Applies operations in order, pipelined over netlink; one result per operation.
    /// IPVS has no transactions: a failure does not undo the others.
    pub fn apply(&mut self, ops: &[Op]) -> Vec<Result<()>> {
        match &mut self.backend {
            Backend::Netlink(c) => {
                let requests: Vec<Request> = ops.iter().map(op_request).collect();
                c.execute(&requests, &|i| ops[i].to_string())
            }
            Backend::Sockopt(c) => ops.iter().map(|op| c.apply(op)).collect(),
        }
    }

    fn apply_one(&mut self, op: Op) -> Result<()> {
        self.apply(std::slice::from_ref(&op))
            .pop()
            .expect("one result per operation")
    }

    pub fn add_service(&mut self, s: &Service) -> Result<()> {
        self.apply_one(Op::AddService(s.clone()))
    }

    pub fn edit_service(&mut self, s: &Service) -> Result<()> {
        self.apply_one(Op::EditService(s.clone()))
    }

    pub fn delete_service(&mut self, key: &ServiceKey) -> Result<()> {
        self.apply_one(Op::DelService(*key))
    }

    pub fn add_destination(&mut self, key: &ServiceKey, d: &Destination) -> Result<()> {
        self.apply_one(Op::AddDest(*key, d.clone()))
    }

    pub fn edit_destination(&mut self, key: &ServiceKey, d: &Destination) -> Result<()> {
        self.apply_one(Op::EditDest(*key, d.clone()))
    }

    pub fn delete_destination(&mut self, key: &ServiceKey, d: &DestKey) -> Result<()> {
        self.apply_one(Op::DelDest(*key, *d))
    }

    pub fn timeouts(&mut self) -> Result<Timeouts> {
        match &mut self.backend {
            Backend::Netlink(c) => {
                let r = c.query(&Request::GetTimeouts, "read IPVS timeouts")?;
                let body = r.first().map(|r| r.body.as_slice()).unwrap_or(&[]);
                packet::decode_timeouts(body).map_err(|e| decode_err("read IPVS timeouts", e))
            }
            Backend::Sockopt(c) => c.timeouts(),
        }
    }

    /// Sets connection timeouts; a 0 leaves that timeout unchanged.
    pub fn set_timeouts(&mut self, t: Timeouts) -> Result<()> {
        match &mut self.backend {
            Backend::Netlink(c) => c
                .execute(&[Request::SetTimeouts(t)], &|_| "set IPVS timeouts".into())
                .pop()
                .expect("one result"),
            Backend::Sockopt(c) => c.set_timeouts(t),
        }
    }

    pub fn sync_daemons(&mut self) -> Result<Vec<SyncDaemon>> {
        match &mut self.backend {
            Backend::Netlink(c) => c
                .query(&Request::DumpDaemons, "list sync daemons")?
                .iter()
                .map(|r| {
                    packet::top_nest(&r.body, packet::ATTR_DAEMON)
                        .and_then(packet::decode_daemon)
                        .map_err(|e| decode_err("list sync daemons", e))
                })
                .collect(),
            Backend::Sockopt(c) => c.sync_daemons(),
        }
    }

    pub fn start_sync_daemon(&mut self, d: &SyncDaemon) -> Result<()> {
        match &mut self.backend {
            Backend::Netlink(c) => {
                let context = format!("start {:?} sync daemon on {}", d.state, d.interface);
                c.execute(&[Request::NewDaemon(d.clone())], &|_| context.clone())
                    .pop()
                    .expect("one result")
            }
            Backend::Sockopt(c) => c.start_sync_daemon(d),
        }
    }

    pub fn stop_sync_daemon(&mut self, state: SyncState) -> Result<()> {
        match &mut self.backend {
            Backend::Netlink(c) => c
                .execute(&[Request::DelDaemon(state)], &|_| {
                    format!("stop {state:?} sync daemon")
                })
                .pop()
                .expect("one result"),
            Backend::Sockopt(c) => c.stop_sync_daemon(state),
        }
    }

    /// Zeroes the counters of one service, or of every service.
    pub fn zero(&mut self, key: Option<&ServiceKey>) -> Result<()> {
        match &mut self.backend {
            Backend::Netlink(c) => c
                .execute(&[Request::Zero(key.copied())], &|_| {
                    "zero IPVS counters".into()
                })
                .pop()
                .expect("one result"),
            Backend::Sockopt(c) => c.zero(key),
        }
    }

    /// Reads services and, for those `with_dests` accepts, their destinations.
    pub fn read_table(&mut self, with_dests: &dyn Fn(&ServiceKey) -> bool) -> Result<Table> {
        let mut t = Table::default();
        for entry in self.services()? {
            let key = entry.service.key;
            let mut ts = TableService::new(entry.service);
            if with_dests(&key) {
                match self.destinations(&key) {
                    Ok(ds) => ts.dests = ds.into_iter().map(|d| (d.dest.key(), d.dest)).collect(),
                    // Deleted between the two dumps.
                    Err(e) if e.is_no_service() => continue,
                    Err(e) => return Err(e),
                }
            }
            t.insert(ts);
        }
        Ok(t)
    }
}

fn decode_err(context: &str, source: netlink::wire::DecodeError) -> Error {
    Error::decode(context, source)
}

fn op_request(op: &Op) -> Request {
    match op {
        Op::AddService(s) => Request::NewService(s.clone()),
        Op::EditService(s) => Request::SetService(s.clone()),
        Op::DelService(k) => Request::DelService(*k),
        Op::AddDest(k, d) => Request::NewDest(*k, d.clone()),
        Op::EditDest(k, d) => Request::SetDest(*k, d.clone()),
        Op::DelDest(k, d) => Request::DelDest(*k, *d),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn falls_back_only_when_the_family_is_missing() {
        assert!(should_fall_back(&Error::FamilyNotFound));
        assert!(!should_fall_back(&Error::kernel(libc::EPERM, "x", None)));
        assert!(!should_fall_back(&Error::io(
            "x",
            std::io::Error::from_raw_os_error(libc::EMFILE)
        )));
    }

    #[test]
    fn ops_map_to_their_requests() {
        let k = ServiceKey::tcp(ip("10.0.0.1"), 80);
        let d = Destination::new(ip("10.0.1.1"), 80, ForwardMethod::Masq, 1);
        let s = Service::new(k, "rr");
        let pairs = [
            (Op::AddService(s.clone()), Request::NewService(s.clone())),
            (Op::EditService(s.clone()), Request::SetService(s)),
            (Op::DelService(k), Request::DelService(k)),
            (Op::AddDest(k, d.clone()), Request::NewDest(k, d.clone())),
            (Op::EditDest(k, d.clone()), Request::SetDest(k, d.clone())),
            (Op::DelDest(k, d.key()), Request::DelDest(k, d.key())),
        ];
        for (op, request) in pairs {
            assert_eq!(op_request(&op), request);
        }
    }
}
