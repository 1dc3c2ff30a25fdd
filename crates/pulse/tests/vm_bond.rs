//! `monitor_links` on a bonded interface (VM test bed, tests/vm/run-tests: the host kernel
//! of CI has no bonding module). Legacy pulse skipped bonds; ours watches the bond as the
//! interface holding the heartbeat address: down when the bond has no carrier.

mod common;

use std::time::Duration;

use testbed::lan::Lan;
use testbed::{Daemon, TempDir};

#[test]
#[ignore = "needs the IPVS test VM: tests/vm/run-tests"]
fn a_bond_losing_its_last_slave_is_a_link_failure() {
    assert!(
        std::env::var_os("PIRANHA_VM").is_some(),
        "tests/vm/run-tests"
    );
    let lan = Lan::create();
    // d1's eth0 becomes the only slave of bond0, which takes over its address.
    for args in [
        &[
            "ip",
            "link",
            "add",
            "bond0",
            "type",
            "bond",
            "mode",
            "active-backup",
            "miimon",
            "50",
        ][..],
        &["ip", "addr", "flush", "dev", "eth0"],
        &["ip", "link", "set", "eth0", "down"],
        &["ip", "link", "set", "eth0", "master", "bond0"],
        &["ip", "link", "set", "bond0", "up"],
        &["ip", "addr", "add", "192.168.77.10/24", "dev", "bond0"],
    ] {
        lan.exec("d1", args);
    }
    let dir = TempDir::new("pulse-bond");
    let cf = "primary = 192.168.77.10\nbackup = 192.168.77.11\nbackup_active = 1\n\
              keepalive = 0.2\ndeadtime = 0.8\nnetwork = direct\nmonitor_links = 1\n\
              virtual web {\n active = 1\n address = 192.168.77.100 bond0:1\n \
              vip_nmask = 255.255.255.0\n port = 80\n server a {\n address = 192.168.77.60\n active = 1\n }\n}\n";
    std::fs::write(dir.join("lvs.cf"), cf).unwrap();
    dir.script("lvsd", "#!/bin/sh\nexec sleep 1000\n");
    let lvsd = dir.join("lvsd").display().to_string();
    let d = Daemon::spawn(&mut common::pulse_in(&lan.ns("d1"), dir.path(), &lvsd));
    d.wait_for("partner dead: activating lvs", 10);
    std::thread::sleep(Duration::from_millis(300));
    assert!(lan
        .addresses_of("d1", "bond0")
        .contains("192.168.77.100/24"));
    lan.cable("d1", false);
    d.wait_for("Primary NIC: link down", 5);
    d.wait_for("local link failure: deactivating LVS", 2);
    lan.cable("d1", true);
    d.wait_for("Local NIC link(s) restored: Pulse enabled", 5);
}
