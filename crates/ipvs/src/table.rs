//! An IPVS table in memory (services and their destinations) and the operations that
//! change one. [`Table::apply`] models the kernel's rules (EEXIST, ESRCH, ENOENT), so the
//! planner can be property-tested and the reconciler can keep a cached view of what it
//! programmed.

use std::collections::BTreeMap;
use std::fmt;

use crate::types::*;

/// One change to the IPVS table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Op {
    AddService(Service),
    EditService(Service),
    DelService(ServiceKey),
    AddDest(ServiceKey, Destination),
    EditDest(ServiceKey, Destination),
    DelDest(ServiceKey, DestKey),
}

impl Op {
    pub fn service_key(&self) -> &ServiceKey {
        match self {
            Op::AddService(s) | Op::EditService(s) => &s.key,
            Op::DelService(k) | Op::AddDest(k, _) | Op::EditDest(k, _) | Op::DelDest(k, _) => k,
        }
    }
}

impl fmt::Display for Op {
    /// What the operation does, for error messages and logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::AddService(s) => write!(f, "add service {} ({})", s.key, s.scheduler),
            Op::EditService(s) => write!(f, "edit service {} ({})", s.key, s.scheduler),
            Op::DelService(k) => write!(f, "delete service {k}"),
            Op::AddDest(k, d) => write!(f, "add destination {} to {k}", d.key()),
            Op::EditDest(k, d) => write!(f, "edit destination {} of {k}", d.key()),
            Op::DelDest(k, d) => write!(f, "delete destination {d} of {k}"),
        }
    }
}

/// A service and its destinations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableService {
    pub service: Service,
    pub dests: BTreeMap<DestKey, Destination>,
}

impl TableService {
    pub fn new(service: Service) -> TableService {
        TableService {
            service,
            dests: BTreeMap::new(),
        }
    }

    pub fn with_dests(
        service: Service,
        dests: impl IntoIterator<Item = Destination>,
    ) -> TableService {
        TableService {
            service,
            dests: dests.into_iter().map(|d| (d.key(), d)).collect(),
        }
    }

    /// Same settings as `other` (kernel-set flags ignored), destinations included.
    pub fn same_settings(&self, other: &TableService) -> bool {
        self.service.same_settings(&other.service)
            && self.dests.len() == other.dests.len()
            && self
                .dests
                .iter()
                .all(|(k, d)| other.dests.get(k).is_some_and(|o| d.same_settings(o)))
    }
}

/// Services by key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    pub services: BTreeMap<ServiceKey, TableService>,
}

/// Why [`Table::apply`] refused an operation: the errno the kernel would return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyError {
    /// EEXIST.
    Exists,
    /// ESRCH: no such service.
    NoService,
    /// ENOENT: no such destination.
    NoDest,
}

impl ApplyError {
    pub fn errno(self) -> i32 {
        match self {
            ApplyError::Exists => libc::EEXIST,
            ApplyError::NoService => libc::ESRCH,
            ApplyError::NoDest => libc::ENOENT,
        }
    }
}

impl Table {
    pub fn insert(&mut self, ts: TableService) {
        self.services.insert(ts.service.key, ts);
    }

    pub fn dest_count(&self) -> usize {
        self.services.values().map(|s| s.dests.len()).sum()
    }

    /// Applies one operation with the kernel's rules.
    pub fn apply(&mut self, op: &Op) -> Result<(), ApplyError> {
        match op {
            Op::AddService(s) => {
                if self.services.contains_key(&s.key) {
                    return Err(ApplyError::Exists);
                }
                self.services.insert(s.key, TableService::new(s.clone()));
            }
            Op::EditService(s) => {
                let ts = self.services.get_mut(&s.key).ok_or(ApplyError::NoService)?;
                ts.service = s.clone();
            }
            Op::DelService(k) => {
                self.services.remove(k).ok_or(ApplyError::NoService)?;
            }
            Op::AddDest(k, d) => {
                let ts = self.services.get_mut(k).ok_or(ApplyError::NoService)?;
                if ts.dests.contains_key(&d.key()) {
                    return Err(ApplyError::Exists);
                }
                ts.dests.insert(d.key(), d.clone());
            }
            Op::EditDest(k, d) => {
                let ts = self.services.get_mut(k).ok_or(ApplyError::NoService)?;
                let slot = ts.dests.get_mut(&d.key()).ok_or(ApplyError::NoDest)?;
                *slot = d.clone();
            }
            Op::DelDest(k, d) => {
                let ts = self.services.get_mut(k).ok_or(ApplyError::NoService)?;
                ts.dests.remove(d).ok_or(ApplyError::NoDest)?;
            }
        }
        Ok(())
    }

    /// Same settings as `other` for every service (kernel-set flags ignored).
    pub fn same_settings(&self, other: &Table) -> bool {
        self.services.len() == other.services.len()
            && self
                .services
                .iter()
                .all(|(k, s)| other.services.get(k).is_some_and(|o| s.same_settings(o)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_rules() {
        let k = ServiceKey::tcp(ip("10.0.0.1"), 80);
        let s = Service::new(k, "wlc");
        let d = Destination::new(ip("10.1.0.1"), 80, ForwardMethod::Masq, 1);
        let mut t = Table::default();
        assert_eq!(
            t.apply(&Op::AddDest(k, d.clone())),
            Err(ApplyError::NoService)
        );
        assert_eq!(
            t.apply(&Op::EditService(s.clone())),
            Err(ApplyError::NoService)
        );
        t.apply(&Op::AddService(s.clone())).unwrap();
        assert_eq!(t.apply(&Op::AddService(s.clone())), Err(ApplyError::Exists));
        assert_eq!(
            t.apply(&Op::EditDest(k, d.clone())),
            Err(ApplyError::NoDest)
        );
        t.apply(&Op::AddDest(k, d.clone())).unwrap();
        assert_eq!(t.apply(&Op::AddDest(k, d.clone())), Err(ApplyError::Exists));
        t.apply(&Op::EditDest(
            k,
            Destination {
                weight: 5,
                ..d.clone()
            },
        ))
        .unwrap();
        assert_eq!(t.services[&k].dests[&d.key()].weight, 5);
        t.apply(&Op::DelDest(k, d.key())).unwrap();
        assert_eq!(t.apply(&Op::DelDest(k, d.key())), Err(ApplyError::NoDest));
        t.apply(&Op::DelService(k)).unwrap();
        assert!(t.services.is_empty());
        assert_eq!(ApplyError::NoService.errno(), libc::ESRCH);
    }

    #[test]
    fn ops_describe_themselves() {
        let k = ServiceKey::tcp(ip("10.0.0.1"), 80);
        let d = Destination::new(ip("2001:db8::5"), 8080, ForwardMethod::Masq, 1);
        assert_eq!(
            Op::AddService(Service::new(k, "rr")).to_string(),
            "add service TCP 10.0.0.1:80 (rr)"
        );
        assert_eq!(
            Op::AddDest(k, d.clone()).to_string(),
            "add destination [2001:db8::5]:8080 to TCP 10.0.0.1:80"
        );
        assert_eq!(
            Op::DelDest(k, d.key()).to_string(),
            "delete destination [2001:db8::5]:8080 of TCP 10.0.0.1:80"
        );
    }
}
