//! The first IPVS request loads the ip_vs module through the generic netlink family
//! alias (`net-pf-16-proto-16-family-IPVS`). `tests/vm/run-tests` runs this binary first
//! in a fresh VM, before anything else has used IPVS.

use std::path::Path;

#[test]
#[ignore = "needs the IPVS test VM: tests/vm/run-tests"]
fn opening_a_client_loads_ip_vs() {
    assert!(
        std::env::var_os("PIRANHA_VM").is_some(),
        "run it in the VM test bed"
    );
    assert!(
        !Path::new("/sys/module/ip_vs").exists(),
        "ip_vs is loaded already: this test must run first in a fresh VM"
    );
    let mut ipvs = ipvs::Ipvs::open().expect("the family resolves once the module is loaded");
    assert_eq!(ipvs.interface(), ipvs::Interface::Netlink);
    assert!(Path::new("/sys/module/ip_vs").exists());
    assert!(ipvs.info().unwrap().version > 0);
}
