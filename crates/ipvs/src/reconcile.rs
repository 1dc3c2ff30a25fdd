//! The reconciler: keeps the kernel's table in line with a desired state, owning only
//! what it created or adopted. This is the IO shell around the pure [`crate::plan`].
//!
//! * [`Reconciler::reconcile`] plans against the cached view of what it programmed: no
//!   kernel dump, so a small change costs only its own operations. A failed operation
//!   (someone changed the table behind our back) makes it re-read just the services
//!   involved and re-plan them once.
//! * [`Reconciler::audit`] reads the kernel's table (1 + N dumps), repairs any drift in
//!   owned and desired services, and refreshes the cache. Run it at start-up and now and
//!   then.

use std::collections::BTreeSet;

use crate::client::Ipvs;
use crate::error::{Error, Result};
use crate::plan::{self, Desired};
use crate::table::{Op, Table, TableService};
use crate::types::ServiceKey;

/// What a reconcile did.
#[derive(Debug, Default)]
pub struct Report {
    /// Operations applied successfully.
    pub applied: Vec<Op>,
    /// Operations that failed even after re-reading their services.
    pub failed: Vec<(Op, Error)>,
}

impl Report {
    pub fn is_ok(&self) -> bool {
        self.failed.is_empty()
    }
}

pub struct Reconciler {
    ipvs: Ipvs,
    /// Services this reconciler created or adopted.
    owned: BTreeSet<ServiceKey>,
    /// What the kernel holds for the owned services, as far as we know.
    cache: Table,
    /// Whether `cache` was filled from the kernel at least once.
    synced: bool,
}

impl Reconciler {
    pub fn new(ipvs: Ipvs) -> Reconciler {
        Reconciler {
            ipvs,
            owned: BTreeSet::new(),
            cache: Table::default(),
            synced: false,
        }
    }

    /// Takes over services created earlier (by a previous run of the same owner): they
    /// are deleted if no longer desired.
    pub fn with_owned(mut self, owned: impl IntoIterator<Item = ServiceKey>) -> Reconciler {
        self.owned.extend(owned);
        self
    }

    pub fn ipvs(&mut self) -> &mut Ipvs {
        &mut self.ipvs
    }

    pub fn owned(&self) -> &BTreeSet<ServiceKey> {
        &self.owned
    }

    /// The cached view of the owned services.
    pub fn cached(&self) -> &Table {
        &self.cache
    }

    /// Brings the kernel to `desired` using the cached view (an audit the first time).
    pub fn reconcile(&mut self, desired: &Desired) -> Result<Report> {
        if !self.synced {
            return self.audit(desired);
        }
        let ops = plan::plan(desired, &self.owned, &self.cache);
        let mut report = self.apply(desired, ops);
        if !report.failed.is_empty() {
            // The cache was wrong for these services: read them back and try once more.
            let keys: BTreeSet<ServiceKey> = report
                .failed
                .iter()
                .map(|(op, _)| *op.service_key())
                .collect();
            report.failed.clear();
            self.refresh(&keys)?;
            let mut subset = Desired::default();
            for k in &keys {
                if let Some(d) = desired.services.get(k) {
                    subset.insert(d.clone());
                }
            }
            let owned: BTreeSet<ServiceKey> = self.owned.intersection(&keys).copied().collect();
            let ops = plan::plan(&subset, &owned, &self.cache);
            let again = self.apply(desired, ops);
            report.applied.extend(again.applied);
            report.failed.extend(again.failed);
        }
        Ok(report)
    }

    /// Reads the kernel's table, repairs drift and refreshes the cache.
    pub fn audit(&mut self, desired: &Desired) -> Result<Report> {
        let interesting =
            |k: &ServiceKey| desired.services.contains_key(k) || self.owned.contains(k);
        let current = self.ipvs.read_table(&interesting)?;
        self.cache = Table {
            services: current
                .services
                .into_iter()
                .filter(|(k, _)| interesting(k))
                .collect(),
        };
        self.synced = true;
        let ops = plan::plan(desired, &self.owned, &self.cache);
        Ok(self.apply(desired, ops))
    }

    /// Re-reads the given services from the kernel into the cache.
    fn refresh(&mut self, keys: &BTreeSet<ServiceKey>) -> Result<()> {
        for k in keys {
            match self.ipvs.service(k)? {
                None => {
                    self.cache.services.remove(k);
                }
                Some(entry) => {
                    let dests = match self.ipvs.destinations(k) {
                        Ok(d) => d,
                        Err(e) if e.is_no_service() => {
                            self.cache.services.remove(k);
                            continue;
                        }
                        Err(e) => return Err(e),
                    };
                    self.cache.insert(TableService::with_dests(
                        entry.service,
                        dests.into_iter().map(|d| d.dest),
                    ));
                }
            }
        }
        Ok(())
    }

    fn apply(&mut self, desired: &Desired, ops: Vec<Op>) -> Report {
        let results = self.ipvs.apply(&ops);
        let mut report = Report::default();
        for (op, result) in ops.into_iter().zip(results) {
            match result {
                Ok(()) => {
                    // Keep the cache in step; it follows the kernel's rules, so a
                    // successful op applies cleanly unless the cache was stale (then the
                    // next audit corrects it).
                    let _ = self.cache.apply(&op);
                    match &op {
                        Op::AddService(s) => {
                            self.owned.insert(s.key);
                        }
                        Op::DelService(k) => {
                            self.owned.remove(k);
                        }
                        _ => {}
                    }
                    report.applied.push(op);
                }
                Err(e) => report.failed.push((op, e)),
            }
        }
        // Desired services that exist are adopted: they are ours from now on.
        for k in desired.services.keys() {
            if self.cache.services.contains_key(k) {
                self.owned.insert(*k);
            }
        }
        report
    }
}
