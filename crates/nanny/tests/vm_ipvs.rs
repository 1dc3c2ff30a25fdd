//! nanny against real IPVS in the VM test bed (tests/vm/run-tests): a real server in
//! its own namespace, nanny in the director's, `ipvsadm -Ln` as the witness.

use std::process::{Child, Command, Stdio};

use testbed::{eventually, RealServer, TestNs};

const DEST: &str = "TCP 192.0.2.1:80 -> 10.1.0.2:8080";

fn director(label: &str) -> TestNs {
    let ns = TestNs::enter(label);
    ns.exec(&["ipvsadm", "-A", "-t", "192.0.2.1:80", "-s", "wlc"]);
    ns
}

/// Starts nanny in this thread's namespace (the director's) as lvsd would.
fn nanny(extra: &[&str]) -> Child {
    let mut args = vec![
        "-c",
        "-h",
        "10.1.0.2",
        "-p",
        "80",
        "-r",
        "8080",
        "-s",
        r"GET / HTTP/1.0\r\n\r\n",
        "-x",
        "HTTP/1.0 200",
        "-I",
        "/sbin/ipvsadm",
        "-t",
        "1",
        "-V",
        "192.0.2.1",
        "-M",
        "m",
        "-U",
        "none",
        "--nodaemon",
        "--lvs",
    ];
    args.extend_from_slice(extra);
    Command::new(env!("CARGO_BIN_EXE_nanny"))
        .args(&args)
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

fn dest_line(ns: &TestNs) -> Option<String> {
    ns.ipvsadm().lines.into_iter().find(|l| l.starts_with(DEST))
}

/// Waits until the destination has this weight; fails with the table otherwise.
fn await_weight(ns: &TestNs, secs: u64, weight: u32) {
    let want = format!("{DEST} Masq {weight}");
    assert!(
        eventually(secs, || dest_line(ns).as_deref() == Some(want.as_str())),
        "weight {weight} not reached in {secs} s: {:?}",
        ns.ipvsadm()
    );
}

fn terminate(mut n: Child) -> Option<i32> {
    testbed::signal(n.id(), libc::SIGTERM);
    n.wait().unwrap().code()
}

#[test]
#[ignore = "needs the IPVS test VM: tests/vm/run-tests"]
fn added_removed_readded_and_cleaned_up() {
    let ns = director("nanny-life");
    let mut rs = RealServer::new(&ns, 1);
    rs.start_http(8080);
    let n = nanny(&["-a", "3", "-w", "1"]);
    await_weight(&ns, 10, 1);
    rs.stop_all();
    assert!(
        eventually(5, || dest_line(&ns).is_none()),
        "removed after the failure: {:?}",
        ns.ipvsadm()
    );
    rs.start_http(8080);
    assert!(
        eventually(10, || dest_line(&ns).is_some()),
        "re-added after reentry"
    );
    assert_eq!(terminate(n), Some(0));
    assert!(
        dest_line(&ns).is_none(),
        "SIGTERM removes the server: {:?}",
        ns.ipvsadm()
    );
    assert!(
        ns.ipvsadm().has("TCP 192.0.2.1:80 wlc"),
        "the service itself is lvsd's"
    );
}

#[test]
#[ignore = "needs the IPVS test VM: tests/vm/run-tests"]
fn weights_ramp_up_to_the_configured_weight() {
    let ns = director("nanny-ramp");
    let mut rs = RealServer::new(&ns, 1);
    rs.start_http(8080);
    // reentry 19 / interval 1: the first probe admits at 4 >> 5 -> 1 and doubles to 2 in
    // the same round; every 20 probes it doubles again.
    let n = nanny(&["-a", "19", "-w", "4"]);
    await_weight(&ns, 10, 2);
    await_weight(&ns, 30, 4);
    assert_eq!(terminate(n), Some(0));
}

#[test]
#[ignore = "needs the IPVS test VM: tests/vm/run-tests"]
fn quiesce_keeps_the_entry_at_weight_zero() {
    let ns = director("nanny-quiesce");
    let mut rs = RealServer::new(&ns, 1);
    rs.start_http(8080);
    let n = nanny(&["-a", "2", "-w", "1", "-q"]);
    await_weight(&ns, 10, 1);
    rs.stop_all();
    await_weight(&ns, 5, 0);
    rs.start_http(8080);
    await_weight(&ns, 10, 1);
    assert_eq!(terminate(n), Some(0));
}

#[test]
#[ignore = "needs the IPVS test VM: tests/vm/run-tests"]
fn an_existing_destination_is_adopted() {
    // Legacy: `ipvsadm -a` failed with "exists" and nanny exited, taking the LVS down.
    let ns = director("nanny-adopt");
    ns.exec(&[
        "ipvsadm",
        "-a",
        "-t",
        "192.0.2.1:80",
        "-r",
        "10.1.0.2:8080",
        "-m",
        "-w",
        "7",
    ]);
    let mut rs = RealServer::new(&ns, 1);
    rs.start_http(8080);
    let mut n = nanny(&["-a", "2", "-w", "1"]);
    await_weight(&ns, 10, 1);
    assert!(n.try_wait().unwrap().is_none(), "nanny keeps running");
    assert_eq!(terminate(n), Some(0));
}

#[test]
#[ignore = "needs the IPVS test VM: tests/vm/run-tests"]
fn a_destination_deleted_behind_its_back_is_restored() {
    let ns = director("nanny-resync");
    let mut rs = RealServer::new(&ns, 1);
    rs.start_http(8080);
    // weight 64: 2, then 4 after 20 probes; the edit finds no destination and re-adds it.
    let n = nanny(&["-a", "19", "-w", "64"]);
    assert!(eventually(10, || dest_line(&ns).is_some()));
    ns.exec(&["ipvsadm", "-d", "-t", "192.0.2.1:80", "-r", "10.1.0.2:8080"]);
    await_weight(&ns, 30, 8);
    assert_eq!(terminate(n), Some(0));
}

#[test]
#[ignore = "needs the IPVS test VM: tests/vm/run-tests"]
fn an_entry_already_in_ipvs_is_adopted_and_removed_when_the_server_is_down() {
    // Left by a nanny that was killed, or added by lvsd's start-up check: legacy nanny
    // assumed it absent and never removed it while the server was down.
    let ns = director("nanny-adopt");
    let _rs = RealServer::new(&ns, 1); // no HTTP server: every probe fails
    ns.exec(&[
        "ipvsadm",
        "-a",
        "-t",
        "192.0.2.1:80",
        "-r",
        "10.1.0.2:8080",
        "-m",
        "-w",
        "5",
    ]);
    assert_eq!(
        dest_line(&ns).as_deref(),
        Some(&format!("{DEST} Masq 5")[..])
    );
    let n = nanny(&["-a", "2", "-w", "5"]);
    assert!(
        eventually(10, || dest_line(&ns).is_none()),
        "the stale entry stayed: {:?}",
        ns.ipvsadm()
    );
    assert_eq!(terminate(n), Some(0));
}
