//! The reconcile planner: from the desired services of one owner and the table the
//! kernel holds, the minimal list of operations that makes the kernel match. Pure.
//!
//! Rules:
//! * never flush, and never touch a service that is neither desired nor owned (another
//!   program's, or the administrator's);
//! * a desired service that exists already is adopted: edited in place if its settings
//!   differ, never deleted and re-added (that would drop its connections);
//! * destinations are edited in place (weight, forwarding method, thresholds, tunnel);
//! * an owned service that is no longer desired is deleted;
//! * destinations are managed only where the caller says so: lvsd owns its services but
//!   leaves their destinations to the nannies.

use std::collections::{BTreeMap, BTreeSet};

use crate::table::{Op, Table};
use crate::types::*;

/// What the caller wants for one service.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DesiredService {
    pub service: Service,
    /// The destinations, when the caller manages them; `None` leaves the service's
    /// destinations as they are.
    pub dests: Option<BTreeMap<DestKey, Destination>>,
}

impl DesiredService {
    pub fn with_dests(
        service: Service,
        dests: impl IntoIterator<Item = Destination>,
    ) -> DesiredService {
        DesiredService {
            service,
            dests: Some(dests.into_iter().map(|d| (d.key(), d)).collect()),
        }
    }

    pub fn without_dests(service: Service) -> DesiredService {
        DesiredService {
            service,
            dests: None,
        }
    }
}

/// The desired services of one owner.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Desired {
    pub services: BTreeMap<ServiceKey, DesiredService>,
}

impl Desired {
    pub fn insert(&mut self, d: DesiredService) {
        self.services.insert(d.service.key, d);
    }
}

/// The operations that turn `current` into `desired` for the services in
/// `desired ∪ owned`, in an order the kernel accepts: service deletions, service
/// additions and edits, then destination deletions, edits and additions.
pub fn plan(desired: &Desired, owned: &BTreeSet<ServiceKey>, current: &Table) -> Vec<Op> {
    let mut del_services = Vec::new();
    let mut services = Vec::new();
    let mut del_dests = Vec::new();
    let mut edit_dests = Vec::new();
    let mut add_dests = Vec::new();

    for key in owned {
        if !desired.services.contains_key(key) && current.services.contains_key(key) {
            del_services.push(Op::DelService(*key));
        }
    }
    for (key, want) in &desired.services {
        let have = current.services.get(key);
        match have {
            None => services.push(Op::AddService(want.service.clone())),
            Some(ts) if !ts.service.same_settings(&want.service) => {
                services.push(Op::EditService(want.service.clone()))
            }
            Some(_) => {}
        }
        let Some(want_dests) = &want.dests else {
            continue;
        };
        let empty = BTreeMap::new();
        let have_dests = have.map(|ts| &ts.dests).unwrap_or(&empty);
        for dk in have_dests.keys() {
            if !want_dests.contains_key(dk) {
                del_dests.push(Op::DelDest(*key, *dk));
            }
        }
        for (dk, d) in want_dests {
            match have_dests.get(dk) {
                None => add_dests.push(Op::AddDest(*key, d.clone())),
                Some(h) if !h.same_settings(d) => edit_dests.push(Op::EditDest(*key, d.clone())),
                Some(_) => {}
            }
        }
    }
    let mut ops = del_services;
    ops.extend(services);
    ops.extend(del_dests);
    ops.extend(edit_dests);
    ops.extend(add_dests);
    ops
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::TableService;
    use proptest::prelude::*;
    use std::net::{IpAddr, Ipv4Addr};

    /// The table `current` becomes when a plan for `desired` and `owned` is applied: owned
    /// services that are not desired are gone, desired services have their desired settings
    /// (and destinations, where managed), everything else is as it was.
    fn expected(desired: &Desired, owned: &BTreeSet<ServiceKey>, current: &Table) -> Table {
        let mut t = current.clone();
        for key in owned {
            if !desired.services.contains_key(key) {
                t.services.remove(key);
            }
        }
        for (key, want) in &desired.services {
            let entry = t
                .services
                .entry(*key)
                .or_insert_with(|| TableService::new(want.service.clone()));
            entry.service = want.service.clone();
            if let Some(d) = &want.dests {
                entry.dests = d.clone();
            }
        }
        t
    }

    fn key(n: u8) -> ServiceKey {
        ServiceKey::tcp(IpAddr::V4(Ipv4Addr::new(192, 0, 2, n)), 80)
    }

    fn dest(n: u8, weight: u32) -> Destination {
        Destination::new(
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, n)),
            80,
            ForwardMethod::Masq,
            weight,
        )
    }

    #[test]
    fn cold_start_adds_everything() {
        let mut want = Desired::default();
        want.insert(DesiredService::with_dests(
            Service::new(key(1), "wlc"),
            [dest(1, 1), dest(2, 1)],
        ));
        let ops = plan(&want, &BTreeSet::new(), &Table::default());
        assert_eq!(ops.len(), 3);
        assert!(matches!(ops[0], Op::AddService(_)));
    }

    #[test]
    fn changed_settings_are_edited_in_place() {
        let mut cur = Table::default();
        cur.insert(TableService::with_dests(
            Service::new(key(1), "wlc"),
            [dest(1, 1), dest(2, 1)],
        ));
        let mut want = Desired::default();
        want.insert(DesiredService::with_dests(
            Service::new(key(1), "rr"),
            [dest(1, 5), dest(2, 1)],
        ));
        let ops = plan(&want, &BTreeSet::new(), &cur);
        assert_eq!(
            ops,
            vec![
                Op::EditService(Service::new(key(1), "rr")),
                Op::EditDest(key(1), dest(1, 5))
            ]
        );
    }

    #[test]
    fn foreign_services_are_left_alone_and_owned_ones_removed() {
        let mut cur = Table::default();
        cur.insert(TableService::new(Service::new(key(1), "wlc"))); // foreign
        cur.insert(TableService::new(Service::new(key(2), "wlc"))); // ours, no longer wanted
        let owned: BTreeSet<_> = [key(2)].into();
        assert_eq!(
            plan(&Desired::default(), &owned, &cur),
            vec![Op::DelService(key(2))]
        );
    }

    #[test]
    fn unmanaged_destinations_are_not_touched() {
        let mut cur = Table::default();
        cur.insert(TableService::with_dests(
            Service::new(key(1), "wlc"),
            [dest(9, 3)],
        ));
        let mut want = Desired::default();
        want.insert(DesiredService::without_dests(Service::new(key(1), "wlc")));
        assert!(plan(&want, &[key(1)].into(), &cur).is_empty());
    }

    #[test]
    fn kernel_set_hashed_flag_is_not_a_difference() {
        let mut cur = Table::default();
        let mut s = Service::new(key(1), "wlc").persistent(60);
        s.flags |= svc_flags::HASHED;
        cur.insert(TableService::new(s));
        let mut want = Desired::default();
        want.insert(DesiredService::with_dests(
            Service::new(key(1), "wlc").persistent(60),
            [],
        ));
        assert!(plan(&want, &BTreeSet::new(), &cur).is_empty());
    }

    // ---- property tests ----

    fn arb_service(k: ServiceKey) -> impl Strategy<Value = Service> {
        (
            prop::sample::select(vec!["rr", "wlc", "sh"]),
            prop::option::of(1u32..1000),
        )
            .prop_map(move |(s, p)| {
                let svc = Service::new(k, s);
                match p {
                    Some(t) => svc.persistent(t),
                    None => svc,
                }
            })
    }

    fn arb_dests() -> impl Strategy<Value = BTreeMap<DestKey, Destination>> {
        prop::collection::btree_map(
            0u8..8,
            (
                0u32..4,
                prop::sample::select(vec![ForwardMethod::Masq, ForwardMethod::Route]),
            ),
            0..5,
        )
        .prop_map(|m| {
            m.into_iter()
                .map(|(n, (w, f))| {
                    let d = Destination::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, n)), 80, f, w);
                    (d.key(), d)
                })
                .collect()
        })
    }

    fn arb_table() -> impl Strategy<Value = Table> {
        prop::collection::btree_map(0u8..10, (0u8..3, arb_dests()), 0..8).prop_flat_map(|m| {
            let entries: Vec<_> = m.into_iter().collect();
            let strategies: Vec<_> = entries
                .into_iter()
                .map(|(n, (_, dests))| {
                    arb_service(key(n)).prop_map(move |s| TableService {
                        service: s,
                        dests: dests.clone(),
                    })
                })
                .collect();
            strategies.prop_map(|services| {
                let mut t = Table::default();
                for s in services {
                    t.insert(s);
                }
                t
            })
        })
    }

    fn arb_desired() -> impl Strategy<Value = Desired> {
        prop::collection::btree_map(0u8..10, (any::<bool>(), arb_dests()), 0..8).prop_flat_map(
            |m| {
                let strategies: Vec<_> = m
                    .into_iter()
                    .map(|(n, (managed, dests))| {
                        arb_service(key(n)).prop_map(move |s| DesiredService {
                            service: s,
                            dests: managed.then(|| dests.clone()),
                        })
                    })
                    .collect();
                strategies.prop_map(|v| {
                    let mut d = Desired::default();
                    for s in v {
                        d.insert(s);
                    }
                    d
                })
            },
        )
    }

    fn arb_owned() -> impl Strategy<Value = BTreeSet<ServiceKey>> {
        prop::collection::btree_set(0u8..10, 0..8).prop_map(|s| s.into_iter().map(key).collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn applying_the_plan_yields_the_desired_state(
            want in arb_desired(), owned in arb_owned(), cur in arb_table()
        ) {
            let ops = plan(&want, &owned, &cur);
            let mut t = cur.clone();
            for op in &ops {
                prop_assert!(t.apply(op).is_ok(), "{} failed on {:?}", op, t);
            }
            prop_assert!(t.same_settings(&expected(&want, &owned, &cur)));
            // Converged: nothing more to do.
            prop_assert_eq!(plan(&want, &owned, &t), vec![]);
        }

        #[test]
        fn services_neither_desired_nor_owned_are_never_touched(
            want in arb_desired(), owned in arb_owned(), cur in arb_table()
        ) {
            for op in plan(&want, &owned, &cur) {
                let k = op.service_key();
                prop_assert!(want.services.contains_key(k) || owned.contains(k), "{} touches a foreign service", op);
            }
        }

        #[test]
        fn the_plan_is_minimal(want in arb_desired(), owned in arb_owned(), cur in arb_table()) {
            let ops = plan(&want, &owned, &cur);
            let exp = expected(&want, &owned, &cur);
            // Count the differences between current and expected, one op each.
            let mut diffs = 0;
            for (k, e) in &exp.services {
                match cur.services.get(k) {
                    None => diffs += 1 + e.dests.len(),
                    Some(c) => {
                        diffs += usize::from(!c.service.same_settings(&e.service));
                        for (dk, d) in &e.dests {
                            diffs += usize::from(c.dests.get(dk).map_or(true, |cd| !cd.same_settings(d)));
                        }
                        diffs += c.dests.keys().filter(|dk| !e.dests.contains_key(dk)).count();
                    }
                }
            }
            diffs += cur.services.keys().filter(|k| !exp.services.contains_key(k)).count();
            prop_assert_eq!(ops.len(), diffs);
            // Never delete and re-add the same service.
            for op in &ops {
                if let Op::DelService(k) = op {
                    prop_assert!(!ops.iter().any(|o| matches!(o, Op::AddService(s) if s.key == *k)));
                }
            }
        }
    }
}
