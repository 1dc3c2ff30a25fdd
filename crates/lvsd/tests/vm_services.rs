//! lvs.cf to IPVS on a real kernel (VM test bed): the services of the reference example
//! are created by the reconciler, matching what legacy lvsd's ipvsadm calls produced, and
//! a service lvs.cf does not name is left alone (legacy ran `ipvsadm -C`).

use testbed::TestNs;

#[test]
#[ignore = "needs the IPVS test VM: tests/vm/run-tests"]
fn the_reference_services_are_created_and_foreign_ones_kept() {
    let ns = TestNs::enter("lvsd-start");
    ns.exec(&["ipvsadm", "-A", "-t", "198.51.100.1:22", "-s", "rr"]);
    let config = lvscf::parse_str(
        include_str!("../../lvscf/tests/data/reference-1.9.cf"),
        "lvs.cf",
        &Default::default(),
    )
    .unwrap()
    .config;
    let mut r = ipvs::Reconciler::new(ipvs::Ipvs::open().unwrap());
    let t = lvsd::desired::timeouts(&config).unwrap();
    r.ipvs().set_timeouts(t).unwrap();
    let report = r.reconcile(&lvsd::desired::desired(&config)).unwrap();
    assert!(report.is_ok(), "{:?}", report.failed);
    // What legacy lvsd ran: -A -t 192.168.0.100:80 -s wlc -p 300 -M 255.255.255.0,
    // -A -u 192.168.0.101:53 -s rr, -A -f 80 -s wlc -p 600.
    ns.ipvsadm().assert_has(&[
        "TCP 192.168.0.100:80 wlc persistent 300 mask 255.255.255.0",
        "UDP 192.168.0.101:53 rr",
        "FWM 80 wlc persistent 600",
        "TCP 198.51.100.1:22 rr",
    ]);
    assert_eq!(
        ns.exec(&["ipvsadm", "-l", "--timeout"]).trim(),
        "Timeout (tcp tcpfin udp): 900 120 300"
    );
    // A second start finds everything in place.
    let mut again = ipvs::Reconciler::new(ipvs::Ipvs::open().unwrap());
    assert!(again
        .reconcile(&lvsd::desired::desired(&config))
        .unwrap()
        .applied
        .is_empty());
}
