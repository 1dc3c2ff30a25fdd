//! IPVS operations against a real kernel, checked with `ipvsadm -Ln` as the independent
//! witness. These tests need the VM test bed; run them with `tests/vm/run-tests`.
//! (`cargo test` on a host without IPVS lists them as ignored.)

mod support;

use ipvs::*;
use support::TestNs;

const VM: &str = "needs the IPVS test VM: tests/vm/run-tests";

#[test]
#[ignore = "needs the IPVS test VM: tests/vm/run-tests"]
fn info_matches_ipvsadm() {
    let ns = TestNs::enter("info");
    let mut ipvs = Ipvs::open().unwrap();
    assert_eq!(ipvs.interface(), Interface::Netlink);
    let info = ipvs.info().unwrap();
    let header = ns.ipvsadm().header;
    assert_eq!(
        header,
        format!(
            "IP Virtual Server version {} (size={})",
            info.version_string(),
            info.conn_table_size
        )
    );
    let _ = VM;
}

#[test]
#[ignore = "needs the IPVS test VM: tests/vm/run-tests"]
fn add_edit_delete_a_service_and_its_destinations() {
    let ns = TestNs::enter("basic");
    let mut ipvs = Ipvs::open().unwrap();
    let key = ServiceKey::tcp(ip("192.0.2.1"), 80);
    ipvs.add_service(&Service::new(key, "wlc")).unwrap();
    let d1 = Destination::new(ip("10.0.0.1"), 8080, ForwardMethod::Masq, 3);
    let d2 = Destination::new(ip("10.0.0.2"), 8080, ForwardMethod::Masq, 1);
    ipvs.add_destination(&key, &d1).unwrap();
    ipvs.add_destination(&key, &d2).unwrap();
    let w = ns.ipvsadm();
    assert!(w.has("TCP 192.0.2.1:80 wlc"), "{w:?}");
    assert!(w.has("TCP 192.0.2.1:80 -> 10.0.0.1:8080 Masq 3"), "{w:?}");
    assert!(w.has("TCP 192.0.2.1:80 -> 10.0.0.2:8080 Masq 1"), "{w:?}");

    ipvs.edit_service(&Service::new(key, "rr").persistent(300))
        .unwrap();
    ipvs.edit_destination(
        &key,
        &Destination {
            weight: 7,
            ..d1.clone()
        },
    )
    .unwrap();
    ipvs.delete_destination(&key, &d2.key()).unwrap();
    let w = ns.ipvsadm();
    assert!(w.has("TCP 192.0.2.1:80 rr persistent 300"), "{w:?}");
    assert!(w.has("TCP 192.0.2.1:80 -> 10.0.0.1:8080 Masq 7"), "{w:?}");
    assert_eq!(w.dests().len(), 1);

    // Read back through the library.
    let s = ipvs.service(&key).unwrap().unwrap();
    assert_eq!(s.service.scheduler, "rr");
    assert!(s
        .service
        .same_settings(&Service::new(key, "rr").persistent(300)));
    let ds = ipvs.destinations(&key).unwrap();
    assert_eq!(ds.len(), 1);
    assert!(ds[0].dest.same_settings(&Destination { weight: 7, ..d1 }));

    ipvs.delete_service(&key).unwrap();
    assert!(ns.ipvsadm().lines.is_empty());
    assert!(ipvs.service(&key).unwrap().is_none());
}
