//! Which nannies a reload starts, stops and restarts (legacy lvsd, docs/legacy.md "lvsd", compared
//! virtuals by (VIP, protocol, port) only, used a wrong index, never applied changed
//! checks, and dropped a whole virtual when one real server was removed).
//!
//! A nanny is identified by its virtual service (as IPVS knows it) and its real server;
//! it is restarted only when its command line changes. Service settings (scheduler,
//! persistence) are the IPVS planner's business, not this one's.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ipvs::ServiceKey;
use lvscf::{Config, RealServer, VirtualServer};

use nanny::spec::MonitorSpec;

use crate::monitor_spec::{monitor_spec, LvsdFlags};

/// One nanny: its virtual service and its real server.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct NannyKey {
    pub service: ServiceKey,
    pub server: IpAddr,
    pub port: u16,
}

impl NannyKey {
    /// The IPVS destination this nanny's real server is.
    pub fn dest(&self) -> ipvs::DestKey {
        ipvs::DestKey {
            addr: self.server,
            port: self.port,
        }
    }
}

/// Every active real server of every active virtual, in file order, with the key of its
/// nanny.
pub fn real_servers(c: &Config) -> impl Iterator<Item = (NannyKey, &VirtualServer, &RealServer)> {
    c.active_virtuals()
        .flat_map(|vs| servers_of(vs).map(move |(key, rs)| (key, vs, rs)))
}

/// The active real servers of one virtual, with the key of each one's nanny.
pub(crate) fn servers_of(vs: &VirtualServer) -> impl Iterator<Item = (NannyKey, &RealServer)> {
    let service = vs.service_key();
    vs.active_servers().filter_map(move |rs| {
        let key = NannyKey {
            service: service?,
            server: rs.address.as_ref()?.addr,
            port: rs.port,
        };
        Some((key, rs))
    })
}

/// Every nanny a configuration runs, with its monitor; a `drained` server's nanny
/// gets weight 0 (nanny keeps a configured 0: the server stays in the table, its
/// established connections finish, new ones go elsewhere).
pub fn nannies(
    c: &Config,
    flags: LvsdFlags,
    drained: &BTreeSet<NannyKey>,
) -> BTreeMap<NannyKey, MonitorSpec> {
    real_servers(c)
        .map(|(key, vs, rs)| {
            let argv = if drained.contains(&key) {
                let at_zero = RealServer {
                    weight: 0,
                    ..rs.clone()
                };
                monitor_spec(c, vs, &at_zero, flags)
            } else {
                monitor_spec(c, vs, rs, flags)
            };
            (key, argv)
        })
        .collect()
}

/// What a reload does to the nannies.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct NannyPlan {
    /// Gone from the file, deactivated, or about to be restarted.
    pub stop: Vec<NannyKey>,
    /// New, re-activated, or restarted with a new monitor.
    pub start: Vec<(NannyKey, MonitorSpec)>,
    /// Left running untouched.
    pub keep: Vec<NannyKey>,
}

#[cfg(test)]
pub(crate) fn plan(old: &Config, new: &Config, flags: LvsdFlags) -> NannyPlan {
    let none = BTreeSet::new();
    let before = nannies(old, flags, &none);
    diff(before.iter(), nannies(new, flags, &none))
}

/// The plan from the running nannies' monitors to the wanted ones.
pub(crate) fn diff<'a>(
    before: impl IntoIterator<Item = (&'a NannyKey, &'a MonitorSpec)>,
    after: BTreeMap<NannyKey, MonitorSpec>,
) -> NannyPlan {
    let mut p = NannyPlan::default();
    let mut unchanged = BTreeSet::new();
    for (k, argv) in before {
        match after.get(k) {
            Some(a) if a == argv => {
                p.keep.push(*k);
                unchanged.insert(*k);
            }
            _ => p.stop.push(*k),
        }
    }
    p.start = after
        .into_iter()
        .filter(|(k, _)| !unchanged.contains(k))
        .collect();
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str =
        "virtual web {\n active = 1\n address = 192.0.2.1 eth0:1\n port = 80\n timeout = 6\n\
        server a {\n address = 10.0.0.1\n active = 1\n weight = 1\n }\n\
        server b {\n address = 10.0.0.2\n active = 1\n weight = 1\n }\n}\n\
        virtual dns {\n active = 1\n address = 192.0.2.2 eth0:2\n port = 53\n protocol = udp\n\
        server c {\n address = 10.0.0.3\n active = 1\n }\n}\n";

    fn cfg(text: &str) -> Config {
        lvscf::parse_str(text, "lvs.cf", &Default::default())
            .unwrap()
            .config
    }

    fn servers(keys: &[NannyKey]) -> Vec<String> {
        keys.iter().map(|k| k.server.to_string()).collect()
    }

    fn started(p: &NannyPlan) -> Vec<String> {
        p.start.iter().map(|(k, _)| k.server.to_string()).collect()
    }

    #[test]
    fn unchanged_file_changes_nothing() {
        let p = plan(&cfg(BASE), &cfg(BASE), LvsdFlags::default());
        assert!(p.stop.is_empty() && p.start.is_empty());
        assert_eq!(p.keep.len(), 3);
    }

    #[test]
    fn removing_one_real_server_stops_only_its_nanny() {
        // Legacy dropped the whole virtual service here.
        let new = BASE.replace(
            "server b {\n address = 10.0.0.2\n active = 1\n weight = 1\n }\n",
            "",
        );
        assert_ne!(new, BASE);
        let p = plan(&cfg(BASE), &cfg(&new), LvsdFlags::default());
        assert_eq!(servers(&p.stop), ["10.0.0.2"]);
        assert!(p.start.is_empty());
        assert_eq!(p.keep.len(), 2);
    }

    #[test]
    fn adding_and_deactivating_servers() {
        let new = BASE
            .replace(
                "address = 10.0.0.2\n active = 1",
                "address = 10.0.0.2\n active = 0",
            )
            .replace(
                "server c {",
                "server d {\n address = 10.0.0.4\n active = 1\n }\n server c {",
            );
        assert_ne!(new, BASE);
        let p = plan(&cfg(BASE), &cfg(&new), LvsdFlags::default());
        assert_eq!(servers(&p.stop), ["10.0.0.2"]);
        assert_eq!(started(&p), ["10.0.0.4"]);
    }

    #[test]
    fn changed_checks_restart_the_virtuals_nannies_only() {
        // Legacy kept old nannies running with old arguments.
        let new = BASE.replace("timeout = 6", "timeout = 3");
        let p = plan(&cfg(BASE), &cfg(&new), LvsdFlags::default());
        assert_eq!(servers(&p.stop), ["10.0.0.1", "10.0.0.2"]);
        assert_eq!(started(&p), ["10.0.0.1", "10.0.0.2"]);
        assert_eq!(servers(&p.keep), ["10.0.0.3"]);
        assert!(p.start[0].1.to_argv().windows(2).any(|w| w == ["-t", "3"]));
        // A weight change restarts that server's nanny only.
        let new = BASE.replacen("weight = 1", "weight = 5", 1);
        let p = plan(&cfg(BASE), &cfg(&new), LvsdFlags::default());
        assert_eq!(servers(&p.stop), ["10.0.0.1"]);
    }

    #[test]
    fn scheduler_changes_leave_nannies_alone() {
        let new = BASE.replace("port = 80\n", "port = 80\n scheduler = rr\n");
        let p = plan(&cfg(BASE), &cfg(&new), LvsdFlags::default());
        assert!(p.stop.is_empty() && p.start.is_empty());
    }

    #[test]
    fn virtuals_are_matched_by_identity_not_by_position_or_name() {
        // Reordered and renamed blocks: same services, nothing restarted (legacy compared
        // the wrong index when the order changed).
        let (web, dns) = BASE.split_at(BASE.find("virtual dns").unwrap());
        let swapped = format!("{}{}", dns.replace("virtual dns", "virtual names"), web);
        let p = plan(&cfg(BASE), &cfg(&swapped), LvsdFlags::default());
        assert!(p.stop.is_empty() && p.start.is_empty(), "{p:?}");
        // A new VIP is a different service: its nannies move.
        let moved = BASE.replace("192.0.2.2 eth0:2", "192.0.2.9 eth0:2");
        let p = plan(&cfg(BASE), &cfg(&moved), LvsdFlags::default());
        assert_eq!(servers(&p.stop), ["10.0.0.3"]);
        assert_eq!(started(&p), ["10.0.0.3"]);
    }
}
