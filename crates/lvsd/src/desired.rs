//! What lvs.cf asks of IPVS (docs/legacy.md, "lvsd"): one virtual service per active `virtual`
//! block, with its scheduler and persistence. lvsd owns the services; their destinations
//! belong to the nannies (and the sorry server), so the planner leaves them alone.

use std::net::IpAddr;

use ipvs::{svc_flags, Desired, DesiredService, Netmask, Service, Timeouts};
use lvscf::{Config, VirtualServer};

/// The IPVS service of a `virtual` block: legacy `-s SCHED [-p PERSISTENT [-M PMASK]]`.
pub fn service(vs: &VirtualServer) -> Option<Service> {
    let key = vs.service_key()?;
    let mut s = Service::new(key, &vs.scheduler);
    s.flags |= scheduler_flags(&vs.scheduler_flags);
    if vs.persistent > 0 {
        s.flags |= svc_flags::PERSISTENT;
        s.timeout = vs.persistent;
        if let (Some(mask), IpAddr::V4(_)) = (vs.pmask, vs.vip()?) {
            s.netmask = Netmask::V4(mask);
        }
    }
    Some(s)
}

/// `scheduler_flags`: ipvsadm's `-b` names to IPVS's scheduler flag bits (the
/// `*-fallback` flags are SCHED1, the `*-port` ones SCHED2, for mh and sh alike).
fn scheduler_flags(names: &[String]) -> u32 {
    names
        .iter()
        .map(|n| match n.rsplit('-').next() {
            Some("fallback") => svc_flags::SCHED1,
            Some("port") => svc_flags::SCHED2,
            _ => 0,
        })
        .fold(0, |a, b| a | b)
}

/// Every active virtual service of the file (`service = lvs`).
pub fn desired(c: &Config) -> Desired {
    let mut d = Desired::default();
    for vs in c.active_virtuals() {
        if let Some(s) = service(vs) {
            d.insert(DesiredService::without_dests(s));
        }
    }
    d
}

/// The connection timeouts to set, if any is configured (0 leaves one unchanged).
pub fn timeouts(c: &Config) -> Option<Timeouts> {
    let t = Timeouts {
        tcp: c.tcp_timeout,
        tcp_fin: c.tcpfin_timeout,
        udp: c.udp_timeout,
    };
    (t != Timeouts::default()).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipvs::{Family, ServiceKey};

    fn config() -> Config {
        lvscf::parse_str(
            include_str!("../../lvscf/tests/data/reference-1.9.cf"),
            "lvs.cf",
            &Default::default(),
        )
        .unwrap()
        .config
    }

    #[test]
    fn services_of_the_reference_example() {
        // docs/legacy.md, "The worked example": -A -t 192.168.0.100:80 -s wlc -p 300 -M 255.255.255.0,
        // -A -u 192.168.0.101:53 -s rr, -A -f 80 -s wlc -p 600.
        let d = desired(&config());
        let services: Vec<&Service> = d.services.values().map(|s| &s.service).collect();
        assert_eq!(services.len(), 3);
        let www = Service {
            netmask: Netmask::V4("255.255.255.0".parse().unwrap()),
            ..Service::new(ServiceKey::tcp(testbed::ip("192.168.0.100"), 80), "wlc").persistent(300)
        };
        let dns = Service::new(ServiceKey::udp(testbed::ip("192.168.0.101"), 53), "rr");
        let fwm = Service::new(
            ServiceKey::Fwmark {
                family: Family::V4,
                mark: 80,
            },
            "wlc",
        )
        .persistent(600);
        for want in [&www, &dns, &fwm] {
            assert!(
                services.iter().any(|s| s.same_settings(want)),
                "{want:?} not in {services:?}"
            );
        }
        assert!(
            d.services.values().all(|s| s.dests.is_none()),
            "destinations are the nannies'"
        );
        assert_eq!(
            timeouts(&config()),
            Some(Timeouts {
                tcp: 900,
                tcp_fin: 120,
                udp: 300
            })
        );
    }

    #[test]
    fn fleet_services_are_mh_with_their_flags() {
        let c = lvscf::parse_str(
            "director = 10.0.0.1\ndirector = 10.0.0.2\nnetwork = direct\n\
             virtual a {\n active = 1\n address = 10.0.0.100 eth0:1\n \
             scheduler_flags = mh-port,mh-fallback\n}\n",
            "f",
            &Default::default(),
        )
        .unwrap()
        .config;
        let d = desired(&c);
        let s = &d.services.values().next().unwrap().service;
        assert_eq!(s.scheduler, "mh");
        assert_eq!(s.flags, svc_flags::SCHED1 | svc_flags::SCHED2);
    }

    #[test]
    fn inactive_blocks_and_pmask_without_persistence() {
        let c = lvscf::parse_str(
            "virtual a {\n active = 1\n address = 10.0.0.1 eth0:1\n pmask = 255.255.0.0\n}\n\
             virtual b {\n active = 0\n address = 10.0.0.2 eth0:2\n}\n",
            "f",
            &Default::default(),
        )
        .unwrap()
        .config;
        let d = desired(&c);
        assert_eq!(d.services.len(), 1);
        let s = &d.services.values().next().unwrap().service;
        assert_eq!(s.flags & svc_flags::PERSISTENT, 0);
        assert_eq!(
            s.netmask,
            Netmask::full(Family::V4),
            "pmask only goes with -p, as legacy"
        );
        assert_eq!(timeouts(&c), None);
    }
}
