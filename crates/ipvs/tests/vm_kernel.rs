//! IPVS operations against a real kernel, checked with `ipvsadm -Ln` as the independent
//! witness. These tests need the VM test bed; run them with `tests/vm/run-tests`.
//! (`cargo test` on a host without IPVS lists them as ignored.)

use ipvs::*;
use testbed::ip;
use testbed::TestNs;

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

fn all_services(ipvs: &mut Ipvs) -> Vec<Service> {
    ipvs.services()
        .unwrap()
        .into_iter()
        .map(|e| e.service)
        .collect()
}

/// Adds the services, then checks them with ipvsadm (`lines`) and by reading them back.
fn add_and_check_services(ns: &TestNs, ipvs: &mut Ipvs, services: &[&Service], lines: &[&str]) {
    for s in services {
        ipvs.add_service(s).unwrap();
    }
    ns.ipvsadm().assert_has(lines);
    let back = all_services(ipvs);
    assert_eq!(back.len(), services.len());
    for s in services {
        assert!(
            back.iter().any(|b| b.same_settings(s)),
            "{s:?} not read back: {back:?}"
        );
    }
}

#[test]
#[ignore = "needs the IPVS test VM: tests/vm/run-tests"]
fn every_protocol_and_family() {
    let ns = TestNs::enter("proto");
    let mut ipvs = Ipvs::open().unwrap();
    let services = [
        Service::new(ServiceKey::tcp(ip("192.0.2.1"), 80), "wlc"),
        Service::new(ServiceKey::udp(ip("192.0.2.1"), 53), "rr"),
        Service::new(
            ServiceKey::Addr {
                protocol: Protocol::Sctp,
                addr: ip("192.0.2.1"),
                port: 5000,
            },
            "wlc",
        ),
        Service::new(ServiceKey::tcp(ip("2001:db8::1"), 443), "rr"),
        Service::new(
            ServiceKey::Fwmark {
                family: Family::V4,
                mark: 5,
            },
            "wlc",
        ),
        Service::new(
            ServiceKey::Fwmark {
                family: Family::V6,
                mark: 6,
            },
            "rr",
        ),
    ];
    let refs: Vec<&Service> = services.iter().collect();
    add_and_check_services(
        &ns,
        &mut ipvs,
        &refs,
        &[
            "TCP 192.0.2.1:80 wlc",
            "UDP 192.0.2.1:53 rr",
            "SCTP 192.0.2.1:5000 wlc",
            "TCP [2001:db8::1]:443 rr",
            "FWM 5 wlc",
            "FWM 6 IPv6 rr",
        ],
    );
    // IPv6 destinations, including in an fwmark service.
    let k6 = services[5].key;
    ipvs.add_destination(
        &k6,
        &Destination::new(ip("2001:db8::5"), 0, ForwardMethod::Masq, 4),
    )
    .unwrap();
    assert!(ns.ipvsadm().has("FWM 6 -> [2001:db8::5]:0 Masq 4"));
    assert_eq!(
        ipvs.destinations(&k6).unwrap()[0].dest.addr,
        ip("2001:db8::5")
    );
}

#[test]
#[ignore = "needs the IPVS test VM: tests/vm/run-tests"]
fn every_kernel_scheduler() {
    let ns = TestNs::enter("sched");
    let mut ipvs = Ipvs::open().unwrap();
    let scheds = [
        "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh",
    ];
    for (i, s) in scheds.iter().enumerate() {
        ipvs.add_service(&Service::new(
            ServiceKey::tcp(ip("192.0.2.1"), 1000 + i as u16),
            s,
        ))
        .unwrap();
    }
    let w = ns.ipvsadm();
    for (i, s) in scheds.iter().enumerate() {
        assert!(
            w.has(&format!("TCP 192.0.2.1:{} {s}", 1000 + i)),
            "{s}: {w:?}"
        );
    }
    // A scheduler this kernel does not have: typed error with context.
    let e = ipvs
        .add_service(&Service::new(ServiceKey::tcp(ip("192.0.2.1"), 9), "nosuch"))
        .unwrap_err();
    assert_eq!(e.errno(), Some(libc::ENOENT), "{e}");
    assert!(e.to_string().contains("add service TCP 192.0.2.1:9"), "{e}");
}

#[test]
#[ignore = "needs the IPVS test VM: tests/vm/run-tests"]
fn persistence_one_packet_and_scheduler_flags() {
    let ns = TestNs::enter("flags");
    let mut ipvs = Ipvs::open().unwrap();
    let mut sh = Service::new(ServiceKey::tcp(ip("192.0.2.1"), 80), "sh").persistent(300);
    sh.netmask = Netmask::V4(ip4("255.255.255.0"));
    sh.flags |= svc_flags::SCHED1 | svc_flags::SCHED2;
    let mut ops = Service::new(ServiceKey::udp(ip("192.0.2.1"), 53), "rr");
    ops.flags |= svc_flags::ONEPACKET;
    let mut mh = Service::new(ServiceKey::tcp(ip("2001:db8::1"), 443), "mh").persistent(100);
    mh.netmask = Netmask::V6Prefix(96);
    mh.flags |= svc_flags::SCHED1;
    let mut fwm6 = Service::new(
        ServiceKey::Fwmark {
            family: Family::V6,
            mark: 6,
        },
        "rr",
    )
    .persistent(60);
    fwm6.netmask = Netmask::V6Prefix(64);
    add_and_check_services(
        &ns,
        &mut ipvs,
        &[&sh, &ops, &mh, &fwm6],
        &[
            "TCP 192.0.2.1:80 sh (sh-fallback,sh-port) persistent 300 mask 255.255.255.0",
            "UDP 192.0.2.1:53 rr ops",
            "TCP [2001:db8::1]:443 mh (mh-fallback) persistent 100 mask 96",
            "FWM 6 IPv6 rr persistent 60 mask 64",
        ],
    );
    // Turning persistence off is an in-place edit.
    ipvs.edit_service(&Service::new(sh.key, "sh")).unwrap();
    assert!(ns.ipvsadm().has("TCP 192.0.2.1:80 sh"));
}

fn ip4(s: &str) -> std::net::Ipv4Addr {
    s.parse().unwrap()
}

#[test]
#[ignore = "needs the IPVS test VM: tests/vm/run-tests"]
fn forwarding_methods_tunnels_and_thresholds() {
    let ns = TestNs::enter("fwd");
    let mut ipvs = Ipvs::open().unwrap();
    let key = ServiceKey::tcp(ip("192.0.2.1"), 80);
    ipvs.add_service(&Service::new(key, "wlc")).unwrap();
    let route = Destination {
        upper_threshold: 100,
        lower_threshold: 50,
        ..Destination::new(ip("10.0.0.1"), 80, ForwardMethod::Route, 2)
    };
    let gue = Destination {
        tunnel: Some(TunnelType::Gue { port: 6080 }),
        tunnel_flags: tun_flags::NOCSUM,
        ..Destination::new(ip("10.0.0.2"), 80, ForwardMethod::Tunnel, 1)
    };
    let gre = Destination {
        tunnel: Some(TunnelType::Gre),
        tunnel_flags: tun_flags::CSUM,
        ..Destination::new(ip("10.0.0.3"), 80, ForwardMethod::Tunnel, 1)
    };
    let ipip = Destination::new(ip("10.0.0.4"), 80, ForwardMethod::Tunnel, 1);
    let nat = Destination::new(ip("10.0.0.5"), 8080, ForwardMethod::Masq, 9);
    for d in [&route, &gue, &gre, &ipip, &nat] {
        ipvs.add_destination(&key, d).unwrap();
    }
    let w = ns.ipvsadm();
    assert!(w.has("TCP 192.0.2.1:80 -> 10.0.0.1:80 Route 2"));
    assert!(w.has("TCP 192.0.2.1:80 -> 10.0.0.2:80 Tunnel 1"));
    assert!(w.has("TCP 192.0.2.1:80 -> 10.0.0.5:8080 Masq 9"));
    let tun = ns.exec(&["ipvsadm", "-Ln", "--tun-info"]);
    assert!(
        tun.contains("10.0.0.2:80                  Tunnel  gue:6080:-c"),
        "{tun}"
    );
    assert!(
        tun.contains("10.0.0.3:80                  Tunnel  gre:+c"),
        "{tun}"
    );
    assert!(
        tun.contains("10.0.0.4:80                  Tunnel  ipip"),
        "{tun}"
    );
    let thr = ns.exec(&["ipvsadm", "-Ln", "--thresholds"]);
    assert!(
        thr.contains("10.0.0.1:80                  100        50"),
        "{thr}"
    );
    let back = ipvs.destinations(&key).unwrap();
    for d in [&route, &gue, &gre, &ipip, &nat] {
        assert!(
            back.iter().any(|b| b.dest.same_settings(d)),
            "{d:?} not read back: {back:?}"
        );
    }
    // Forwarding method and tunnel type change in place.
    ipvs.edit_destination(
        &key,
        &Destination {
            forward: ForwardMethod::Masq,
            ..route.clone()
        },
    )
    .unwrap();
    ipvs.edit_destination(
        &key,
        &Destination {
            tunnel: Some(TunnelType::Ipip),
            tunnel_flags: 0,
            ..gre.clone()
        },
    )
    .unwrap();
    let w = ns.ipvsadm();
    assert!(w.has("TCP 192.0.2.1:80 -> 10.0.0.1:80 Masq 2"));
    assert!(ns
        .exec(&["ipvsadm", "-Ln", "--tun-info"])
        .contains("10.0.0.3:80                  Tunnel  ipip"));
}

#[test]
#[ignore = "needs the IPVS test VM: tests/vm/run-tests"]
fn timeouts_get_and_set() {
    let ns = TestNs::enter("timeouts");
    let mut ipvs = Ipvs::open().unwrap();
    ipvs.set_timeouts(Timeouts {
        tcp: 900,
        tcp_fin: 120,
        udp: 300,
    })
    .unwrap();
    assert_eq!(
        ns.exec(&["ipvsadm", "-l", "--timeout"]).trim(),
        "Timeout (tcp tcpfin udp): 900 120 300"
    );
    // 0 leaves a value unchanged.
    ipvs.set_timeouts(Timeouts {
        tcp: 0,
        tcp_fin: 0,
        udp: 60,
    })
    .unwrap();
    assert_eq!(
        ipvs.timeouts().unwrap(),
        Timeouts {
            tcp: 900,
            tcp_fin: 120,
            udp: 60
        }
    );
    assert_eq!(
        ns.exec(&["ipvsadm", "-l", "--timeout"]).trim(),
        "Timeout (tcp tcpfin udp): 900 120 60"
    );
}

#[test]
#[ignore = "needs the IPVS test VM: tests/vm/run-tests"]
fn sync_daemons_start_list_stop() {
    let ns = TestNs::enter("syncd");
    ns.exec(&[
        "ip", "link", "add", "sync0", "type", "veth", "peer", "name", "sync1",
    ]);
    ns.exec(&["ip", "link", "set", "sync0", "up"]);
    let mut ipvs = Ipvs::open().unwrap();
    ipvs.start_sync_daemon(&SyncDaemon::new(SyncState::Master, "sync0", 7))
        .unwrap();
    let listed = ns.exec(&["ipvsadm", "-L", "--daemon"]);
    assert!(
        // ipvsadm prints the kernel's defaults too (maxlen, group, port, ttl).
        listed.contains("master sync daemon (mcast=sync0, syncid=7,"),
        "{listed}"
    );
    let ds = ipvs.sync_daemons().unwrap();
    assert_eq!(ds.len(), 1);
    assert_eq!(
        (ds[0].state, ds[0].interface.as_str(), ds[0].sync_id),
        (SyncState::Master, "sync0", 7)
    );
    // The legacy pulse sequence: stop both, start as backup.
    ipvs.stop_sync_daemon(SyncState::Master).unwrap();
    let mut backup = SyncDaemon::new(SyncState::Backup, "sync0", 7);
    backup.port = Some(8850);
    ipvs.start_sync_daemon(&backup).unwrap();
    let listed = ns.exec(&["ipvsadm", "-L", "--daemon"]);
    assert!(
        listed.contains("backup sync daemon (mcast=sync0, syncid=7"),
        "{listed}"
    );
    assert!(!listed.contains("master"), "{listed}");
    assert_eq!(ipvs.sync_daemons().unwrap()[0].port, Some(8850));
    ipvs.stop_sync_daemon(SyncState::Backup).unwrap();
    assert!(ipvs.sync_daemons().unwrap().is_empty());
}

/// Sends one TCP SYN to `addr:port` from inside the namespace (IPVS schedules locally
/// generated connections too); the connection itself need not succeed.
fn poke(addr: &str, port: u16) {
    let sa: std::net::SocketAddr = format!("{addr}:{port}").parse().unwrap();
    let _ = std::net::TcpStream::connect_timeout(&sa, std::time::Duration::from_millis(300));
}

#[test]
#[ignore = "needs the IPVS test VM: tests/vm/run-tests"]
fn stats_and_zero() {
    let ns = TestNs::enter("stats");
    ns.exec(&["ip", "addr", "add", "192.0.2.1/32", "dev", "lo"]);
    let mut ipvs = Ipvs::open().unwrap();
    let key = ServiceKey::tcp(ip("192.0.2.1"), 80);
    ipvs.add_service(&Service::new(key, "rr")).unwrap();
    ipvs.add_destination(
        &key,
        &Destination::new(ip("127.0.0.1"), 9, ForwardMethod::Masq, 1),
    )
    .unwrap();
    for _ in 0..3 {
        poke("192.0.2.1", 80);
    }
    // The kernel folds its per-CPU counters into the reported ones every 2 s.
    let mut s = Stats::default();
    for _ in 0..50 {
        s = ipvs.service(&key).unwrap().unwrap().stats;
        if s.conns >= 3 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(s.conns >= 3 && s.in_packets >= 3, "{s:?}");
    let d = &ipvs.destinations(&key).unwrap()[0];
    assert!(d.stats.conns >= 3, "{d:?}");
    let witness = ns.exec(&["ipvsadm", "-Ln", "--stats"]);
    let conns: u64 = witness
        .lines()
        .find(|l| l.starts_with("TCP  192.0.2.1:80"))
        .and_then(|l| l.split_whitespace().nth(2))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(conns, s.conns, "{witness}");
    ipvs.zero(Some(&key)).unwrap();
    assert_eq!(ipvs.service(&key).unwrap().unwrap().stats.conns, 0);
    poke("192.0.2.1", 80);
    ipvs.zero(None).unwrap();
    assert_eq!(ipvs.service(&key).unwrap().unwrap().stats.conns, 0);
}

#[test]
#[ignore = "needs the IPVS test VM: tests/vm/run-tests"]
fn errors_are_typed() {
    let _ns = TestNs::enter("errors");
    let mut ipvs = Ipvs::open().unwrap();
    let key = ServiceKey::tcp(ip("192.0.2.1"), 80);
    let d = Destination::new(ip("10.0.0.1"), 80, ForwardMethod::Masq, 1);
    assert!(ipvs.add_destination(&key, &d).unwrap_err().is_no_service());
    assert!(ipvs
        .edit_service(&Service::new(key, "rr"))
        .unwrap_err()
        .is_no_service());
    assert!(ipvs.delete_service(&key).unwrap_err().is_no_service());
    ipvs.add_service(&Service::new(key, "rr")).unwrap();
    let e = ipvs.add_service(&Service::new(key, "rr")).unwrap_err();
    assert!(e.is_exists(), "{e}");
    assert_eq!(
        e.to_string(),
        "add service TCP 192.0.2.1:80 (rr): it exists already"
    );
    assert!(ipvs
        .delete_destination(&key, &d.key())
        .unwrap_err()
        .is_no_destination());
    assert!(ipvs
        .edit_destination(&key, &d)
        .unwrap_err()
        .is_no_destination());
    ipvs.add_destination(&key, &d).unwrap();
    assert!(ipvs.add_destination(&key, &d).unwrap_err().is_exists());
    assert!(ipvs
        .service(&ServiceKey::udp(ip("192.0.2.1"), 1))
        .unwrap()
        .is_none());
}

#[test]
#[ignore = "needs the IPVS test VM: tests/vm/run-tests"]
fn pipelined_batch_reports_each_failure_at_its_index() {
    let ns = TestNs::enter("batch");
    let mut ipvs = Ipvs::open().unwrap();
    let (a, b, c) = (
        ServiceKey::tcp(ip("192.0.2.1"), 80),
        ServiceKey::tcp(ip("192.0.2.2"), 80),
        ServiceKey::tcp(ip("192.0.2.3"), 80),
    );
    let d = Destination::new(ip("10.0.0.1"), 80, ForwardMethod::Masq, 1);
    let results = ipvs.apply(&[
        Op::AddService(Service::new(a, "rr")),
        Op::AddService(Service::new(a, "rr")),
        Op::AddDest(a, d.clone()),
        Op::AddDest(b, d.clone()),
        Op::AddService(Service::new(c, "wlc")),
    ]);
    assert!(
        results[0].is_ok() && results[2].is_ok() && results[4].is_ok(),
        "{results:?}"
    );
    assert!(results[1].as_ref().unwrap_err().is_exists());
    assert!(results[3].as_ref().unwrap_err().is_no_service());
    let w = ns.ipvsadm();
    assert!(
        w.has("TCP 192.0.2.1:80 -> 10.0.0.1:80 Masq 1") && w.has("TCP 192.0.2.3:80 wlc"),
        "{w:?}"
    );
    assert_eq!(w.services().len(), 2);
}

fn big_table(services: u32, dests: u32) -> Vec<Op> {
    let mut ops = Vec::new();
    for s in 0..services {
        let key = ServiceKey::tcp(ip(&format!("172.16.{}.{}", s / 250, s % 250 + 1)), 80);
        ops.push(Op::AddService(Service::new(key, "wlc")));
        for d in 0..dests {
            let n = s * dests + d;
            let addr = ip(&format!(
                "10.{}.{}.{}",
                n >> 16 & 255,
                n >> 8 & 255,
                n & 255
            ));
            ops.push(Op::AddDest(
                key,
                Destination::new(addr, 8080, ForwardMethod::Masq, 1),
            ));
        }
    }
    ops
}

#[test]
#[ignore = "needs the IPVS test VM: tests/vm/run-tests"]
fn thousands_of_operations_in_one_call() {
    let ns = TestNs::enter("large");
    let mut ipvs = Ipvs::open().unwrap();
    let ops = big_table(1000, 10);
    let results = ipvs.apply(&ops);
    assert_eq!(results.len(), 11_000);
    assert!(
        results.iter().all(|r| r.is_ok()),
        "{:?}",
        results.iter().find(|r| r.is_err())
    );
    let w = ns.ipvsadm();
    assert_eq!((w.services().len(), w.dests().len()), (1000, 10_000));
    // The same batch again: every single operation fails, each reported, none lost.
    let again = ipvs.apply(&ops);
    assert_eq!(
        again
            .iter()
            .filter(|r| r.as_ref().is_err_and(|e| e.is_exists()))
            .count(),
        11_000
    );
    let t = ipvs.read_table(&|_| true).unwrap();
    assert_eq!((t.services.len(), t.dest_count()), (1000, 10_000));
}

#[test]
#[ignore = "needs the IPVS test VM: tests/vm/run-tests"]
fn socket_option_backend_does_the_same() {
    let ns = TestNs::enter("sockopt");
    ns.exec(&[
        "ip", "link", "add", "sync0", "type", "veth", "peer", "name", "sync1",
    ]);
    let mut ipvs = Ipvs::open_sockopt().unwrap();
    assert_eq!(ipvs.interface(), Interface::SocketOptions);
    let info = ipvs.info().unwrap();
    assert!(ns.ipvsadm().header.contains(&info.version_string()));
    let key = ServiceKey::tcp(ip("192.0.2.1"), 80);
    let mut s = Service::new(key, "wlc").persistent(300);
    s.netmask = Netmask::V4(ip4("255.255.255.0"));
    ipvs.add_service(&s).unwrap();
    let fwm = ServiceKey::Fwmark {
        family: Family::V4,
        mark: 9,
    };
    ipvs.add_service(&Service::new(fwm, "rr")).unwrap();
    let d = Destination {
        upper_threshold: 10,
        ..Destination::new(ip("10.0.0.1"), 8080, ForwardMethod::Route, 3)
    };
    ipvs.add_destination(&key, &d).unwrap();
    ipvs.add_destination(
        &fwm,
        &Destination::new(ip("10.0.0.2"), 0, ForwardMethod::Tunnel, 1),
    )
    .unwrap();
    let w = ns.ipvsadm();
    assert!(
        w.has("TCP 192.0.2.1:80 wlc persistent 300 mask 255.255.255.0"),
        "{w:?}"
    );
    assert!(w.has("TCP 192.0.2.1:80 -> 10.0.0.1:8080 Route 3"), "{w:?}");
    assert!(w.has("FWM 9 -> 10.0.0.2:0 Tunnel 1"), "{w:?}");
    // Read back through the socket options.
    let back = all_services(&mut ipvs);
    assert!(back.iter().any(|b| b.same_settings(&s)));
    assert!(ipvs.destinations(&key).unwrap()[0].dest.same_settings(&d));
    ipvs.edit_destination(
        &key,
        &Destination {
            weight: 8,
            ..d.clone()
        },
    )
    .unwrap();
    ipvs.edit_service(&Service::new(key, "rr")).unwrap();
    assert!(ns
        .ipvsadm()
        .has("TCP 192.0.2.1:80 -> 10.0.0.1:8080 Route 8"));
    assert!(ns.ipvsadm().has("TCP 192.0.2.1:80 rr"));
    // Errors are typed the same way.
    assert!(ipvs
        .add_service(&Service::new(key, "rr"))
        .unwrap_err()
        .is_exists());
    assert!(ipvs
        .add_destination(&ServiceKey::udp(ip("192.0.2.9"), 1), &d)
        .unwrap_err()
        .is_no_service());
    // Timeouts, sync daemon, zero.
    ipvs.set_timeouts(Timeouts {
        tcp: 901,
        tcp_fin: 121,
        udp: 301,
    })
    .unwrap();
    assert_eq!(
        ipvs.timeouts().unwrap(),
        Timeouts {
            tcp: 901,
            tcp_fin: 121,
            udp: 301
        }
    );
    ipvs.start_sync_daemon(&SyncDaemon::new(SyncState::Backup, "sync0", 3))
        .unwrap();
    let listed = ns.exec(&["ipvsadm", "-L", "--daemon"]);
    assert!(
        listed.contains("backup sync daemon (mcast=sync0, syncid=3,"),
        "{listed}"
    );
    assert_eq!(ipvs.sync_daemons().unwrap()[0].sync_id, 3);
    ipvs.stop_sync_daemon(SyncState::Backup).unwrap();
    ipvs.zero(None).unwrap();
    ipvs.delete_destination(&key, &d.key()).unwrap();
    ipvs.delete_service(&key).unwrap();
    assert_eq!(ns.ipvsadm().services().len(), 1);
    // What the legacy interface cannot express is refused, not mangled.
    let v6 = Service::new(ServiceKey::tcp(ip("2001:db8::1"), 80), "rr");
    assert!(matches!(ipvs.add_service(&v6), Err(Error::Unsupported(_))));
}

// ---- the reconciler against the kernel ----

fn desired_web(weights: &[u32]) -> Desired {
    let key = ServiceKey::tcp(ip("192.0.2.10"), 80);
    let dests = weights.iter().enumerate().map(|(i, w)| {
        Destination::new(
            ip(&format!("10.0.1.{}", i + 1)),
            8080,
            ForwardMethod::Masq,
            *w,
        )
    });
    let mut d = Desired::default();
    d.insert(DesiredService::with_dests(
        Service::new(key, "wlc").persistent(60),
        dests,
    ));
    d.insert(DesiredService::without_dests(Service::new(
        ServiceKey::udp(ip("192.0.2.10"), 53),
        "rr",
    )));
    d
}

#[test]
#[ignore = "needs the IPVS test VM: tests/vm/run-tests"]
fn reconcile_cold_start_then_nothing_to_do() {
    let ns = TestNs::enter("rec-cold");
    let mut r = Reconciler::new(Ipvs::open().unwrap());
    let want = desired_web(&[1, 2, 3]);
    let report = r.reconcile(&want).unwrap();
    assert!(report.is_ok());
    assert_eq!(report.applied.len(), 5);
    let w = ns.ipvsadm();
    assert!(w.has("TCP 192.0.2.10:80 wlc persistent 60"));
    assert!(w.has("TCP 192.0.2.10:80 -> 10.0.1.3:8080 Masq 3"));
    assert!(w.has("UDP 192.0.2.10:53 rr"));
    assert!(r.reconcile(&want).unwrap().applied.is_empty(), "converged");
    assert!(
        r.audit(&want).unwrap().applied.is_empty(),
        "the kernel agrees"
    );
}

#[test]
#[ignore = "needs the IPVS test VM: tests/vm/run-tests"]
fn reconcile_adopts_matching_entries_and_edits_differing_ones() {
    let ns = TestNs::enter("rec-adopt");
    // Left over from an earlier run: one identical, one with another scheduler and weight.
    ns.exec(&[
        "ipvsadm",
        "-A",
        "-t",
        "192.0.2.10:80",
        "-s",
        "wlc",
        "-p",
        "60",
    ]);
    ns.exec(&[
        "ipvsadm",
        "-a",
        "-t",
        "192.0.2.10:80",
        "-r",
        "10.0.1.1:8080",
        "-m",
        "-w",
        "1",
    ]);
    ns.exec(&[
        "ipvsadm",
        "-a",
        "-t",
        "192.0.2.10:80",
        "-r",
        "10.0.1.2:8080",
        "-m",
        "-w",
        "9",
    ]);
    ns.exec(&["ipvsadm", "-A", "-u", "192.0.2.10:53", "-s", "wrr"]);
    let mut r = Reconciler::new(Ipvs::open().unwrap());
    let report = r.reconcile(&desired_web(&[1, 2])).unwrap();
    assert!(report.is_ok());
    // In place: no service or destination deleted and re-added.
    assert_eq!(report.applied.len(), 2, "{:?}", report.applied);
    assert!(report
        .applied
        .iter()
        .all(|op| matches!(op, Op::EditService(_) | Op::EditDest(..))));
    let w = ns.ipvsadm();
    assert!(
        w.has("UDP 192.0.2.10:53 rr") && w.has("TCP 192.0.2.10:80 -> 10.0.1.2:8080 Masq 2"),
        "{w:?}"
    );
    assert_eq!(r.owned().len(), 2, "adopted");
}

#[test]
#[ignore = "needs the IPVS test VM: tests/vm/run-tests"]
fn audit_repairs_drift_and_leaves_foreign_entries_alone() {
    let ns = TestNs::enter("rec-drift");
    let mut r = Reconciler::new(Ipvs::open().unwrap());
    let want = desired_web(&[1, 2, 3]);
    r.reconcile(&want).unwrap();
    // A nanny's destination in the service whose destinations lvsd does not manage.
    r.ipvs()
        .add_destination(
            &ServiceKey::udp(ip("192.0.2.10"), 53),
            &Destination::new(ip("10.0.2.1"), 53, ForwardMethod::Masq, 1),
        )
        .unwrap();
    let before = ns.ipvsadm();
    // Behind our back, with ipvsadm:
    ns.exec(&[
        "ipvsadm",
        "-d",
        "-t",
        "192.0.2.10:80",
        "-r",
        "10.0.1.1:8080",
    ]); // deleted
    ns.exec(&[
        "ipvsadm",
        "-e",
        "-t",
        "192.0.2.10:80",
        "-r",
        "10.0.1.2:8080",
        "-m",
        "-w",
        "50",
    ]); // changed
    ns.exec(&[
        "ipvsadm",
        "-a",
        "-t",
        "192.0.2.10:80",
        "-r",
        "10.0.1.9:8080",
        "-m",
        "-w",
        "1",
    ]); // added
    ns.exec(&["ipvsadm", "-E", "-t", "192.0.2.10:80", "-s", "rr"]); // scheduler changed
    ns.exec(&["ipvsadm", "-D", "-u", "192.0.2.10:53"]); // owned service deleted
    ns.exec(&["ipvsadm", "-A", "-t", "198.51.100.1:22", "-s", "rr"]); // foreign service
    ns.exec(&[
        "ipvsadm",
        "-a",
        "-t",
        "198.51.100.1:22",
        "-r",
        "10.9.9.9:22",
        "-g",
    ]);
    let report = r.audit(&want).unwrap();
    assert!(report.is_ok(), "{:?}", report.failed);
    assert_eq!(report.applied.len(), 5, "{:?}", report.applied);
    let after = ns.ipvsadm();
    let foreign: Vec<&String> = after
        .lines
        .iter()
        .filter(|l| l.contains("198.51.100.1"))
        .collect();
    assert_eq!(foreign.len(), 2, "foreign service untouched: {after:?}");
    let ours_after: std::collections::BTreeSet<_> = after
        .lines
        .iter()
        .filter(|l| !l.contains("198.51.100.1"))
        .cloned()
        .collect();
    let mut ours_before = before.lines.clone();
    // The nanny's destination went with the deleted service; the rest is restored.
    ours_before.remove("UDP 192.0.2.10:53 -> 10.0.2.1:53 Masq 1");
    assert_eq!(ours_after, ours_before);
}

#[test]
#[ignore = "needs the IPVS test VM: tests/vm/run-tests"]
fn cached_reconcile_recovers_when_the_cache_is_stale() {
    let ns = TestNs::enter("rec-stale");
    let mut r = Reconciler::new(Ipvs::open().unwrap());
    r.reconcile(&desired_web(&[1, 1])).unwrap();
    ns.exec(&["ipvsadm", "-D", "-t", "192.0.2.10:80"]);
    // The cache still believes the service exists; adding a destination fails (ESRCH),
    // the reconciler re-reads that service and re-creates it.
    let want = desired_web(&[1, 1, 4]);
    let report = r.reconcile(&want).unwrap();
    assert!(report.is_ok(), "{:?}", report.failed);
    let w = ns.ipvsadm();
    assert!(w.has("TCP 192.0.2.10:80 wlc persistent 60"), "{w:?}");
    assert_eq!(
        w.dests()
            .iter()
            .filter(|l| l.starts_with("TCP 192.0.2.10:80"))
            .count(),
        3
    );
    assert!(r.audit(&want).unwrap().applied.is_empty());
}

#[test]
#[ignore = "needs the IPVS test VM: tests/vm/run-tests"]
fn owned_services_are_removed_foreign_ones_never() {
    let ns = TestNs::enter("rec-remove");
    ns.exec(&["ipvsadm", "-A", "-t", "198.51.100.1:22", "-s", "rr"]);
    let mut r = Reconciler::new(Ipvs::open().unwrap());
    r.reconcile(&desired_web(&[1])).unwrap();
    let report = r.reconcile(&Desired::default()).unwrap();
    assert_eq!(report.applied.len(), 2);
    assert!(report
        .applied
        .iter()
        .all(|op| matches!(op, Op::DelService(_))));
    let w = ns.ipvsadm();
    assert_eq!(w.services(), vec!["TCP 198.51.100.1:22 rr"]);
    assert!(r.audit(&Desired::default()).unwrap().applied.is_empty());
}

/// Drops CAP_NET_ADMIN from this thread's effective set (capabilities are per thread).
fn drop_net_admin_for_this_thread() {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    const CAP_NET_ADMIN: u32 = 12;
    let mut h = Header {
        version: VERSION_3,
        pid: 0,
    };
    let mut d = [Data::default(); 2];
    // SAFETY: capget/capset with a valid header and two data structs (version 3).
    unsafe {
        assert_eq!(
            libc::syscall(libc::SYS_capget, &mut h as *mut Header, d.as_mut_ptr()),
            0
        );
        d[0].effective &= !(1 << CAP_NET_ADMIN);
        assert_eq!(
            libc::syscall(libc::SYS_capset, &mut h as *mut Header, d.as_ptr()),
            0
        );
    }
}

#[test]
#[ignore = "needs the IPVS test VM: tests/vm/run-tests"]
fn without_cap_net_admin_changes_are_refused_with_eperm() {
    let ns = TestNs::enter("eperm");
    let mut ipvs = Ipvs::open().unwrap();
    drop_net_admin_for_this_thread();
    let e = ipvs
        .add_service(&Service::new(ServiceKey::tcp(ip("192.0.2.1"), 80), "rr"))
        .unwrap_err();
    assert!(e.is_permission(), "{e}");
    assert!(
        e.to_string()
            .contains("permission denied (CAP_NET_ADMIN needed)"),
        "{e}"
    );
    assert!(ns.ipvsadm().lines.is_empty());
}
