//! Benchmark driver for tests/bench/ipvs-program.sh (runs in the VM, as root, inside a
//! network namespace the script creates). Prints one `key=value` line per figure.
//!
//!   ipvs-bench cold SERVICES DESTS            program a table from empty; time it
//!   ipvs-bench reconcile SERVICES DESTS PCT   program, change PCT % of the
//!                                             destinations, reconcile from the cache;
//!                                             then inject PCT % drift behind its back
//!                                             and time a full audit
//!   ipvs-bench restore-file SERVICES DESTS    print the same table as `ipvsadm -R` input
//!   ipvs-bench lvs-cf SERVICES MONITOR        print an lvs.cf of the same services, each
//!                                             with one inactive real server (lvsd's cold
//!                                             start: the services alone go in)
//!   ipvs-bench wait SERVICES DESTS            wait until the kernel holds the last
//!                                             service with its destinations (for timing
//!                                             another program; check with `count`)
//!   ipvs-bench flush                          delete every service (between runs)

use std::time::Instant;

use ipvs::*;

fn ip(s: &str) -> std::net::IpAddr {
    s.parse().expect("an address literal")
}

fn key(s: u32) -> ServiceKey {
    ServiceKey::tcp(
        ip(&format!(
            "172.{}.{}.{}",
            16 + (s >> 16),
            (s >> 8) & 255,
            s & 255
        )),
        80,
    )
}

fn dest(s: u32, d: u32, dests: u32, weight: u32) -> Destination {
    let n = s * dests + d + 1;
    Destination::new(
        ip(&format!(
            "10.{}.{}.{}",
            (n >> 16) & 255,
            (n >> 8) & 255,
            n & 255
        )),
        8080,
        ForwardMethod::Masq,
        weight,
    )
}

fn desired(services: u32, dests: u32, weight: &dyn Fn(u32, u32) -> u32) -> Desired {
    let mut want = Desired::default();
    for s in 0..services {
        want.insert(DesiredService::with_dests(
            Service::new(key(s), "wlc"),
            (0..dests).map(|d| dest(s, d, dests, weight(s, d))),
        ));
    }
    want
}

fn arg(i: usize) -> u32 {
    std::env::args()
        .nth(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("argument {i} missing"))
}

fn main() {
    // RUST_LOG=debug shows what the libraries log (netlink family resolution, ...).
    env_logger::init();
    let mode = std::env::args().nth(1).unwrap_or_default();
    match mode.as_str() {
        "cold" => cold(),
        "reconcile" => reconcile(),
        "restore-file" => restore_file(),
        "lvs-cf" => lvs_cf(),
        "keepalived-conf" => keepalived_conf(),
        "wait" => wait_for_table(),
        "count" => count(),
        "flush" => flush(),
        _ => {
            eprintln!("usage: see the comment at the top of crates/ipvs/examples/ipvs-bench.rs");
            std::process::exit(2);
        }
    }
}

fn cold() {
    let (services, dests) = (arg(2), arg(3));
    let want = desired(services, dests, &|_, _| 1);
    let ops = plan(&want, &Default::default(), &Table::default());
    let mut ipvs = Ipvs::open().expect("open IPVS");
    let t = Instant::now();
    let results = ipvs.apply(&ops);
    let secs = t.elapsed().as_secs_f64();
    assert!(
        results.iter().all(|r| r.is_ok()),
        "{:?}",
        results.iter().find(|r| r.is_err())
    );
    println!("cold_seconds={secs:.4}");
    println!("cold_ops={}", ops.len());
}

fn reconcile() {
    let (services, dests, pct) = (arg(2), arg(3), arg(4));
    let mut r = Reconciler::new(Ipvs::open().expect("open IPVS"));
    let t = Instant::now();
    let report = r
        .reconcile(&desired(services, dests, &|_, _| 1))
        .expect("cold reconcile");
    println!("cold_seconds={:.4}", t.elapsed().as_secs_f64());
    assert!(report.is_ok());
    // Change pct % of the destinations: every (100/pct)-th gets a new weight.
    let step = 100 / pct.max(1);
    let changed = |s: u32, d: u32| (s * dests + d) % step == 0;
    let want = desired(services, dests, &|s, d| if changed(s, d) { 5 } else { 1 });
    let t = Instant::now();
    let report = r.reconcile(&want).expect("reconcile");
    println!("reconcile_seconds={:.4}", t.elapsed().as_secs_f64());
    println!("reconcile_ops={}", report.applied.len());
    assert!(report.is_ok());
    // Drift behind the reconciler's back: another client changes pct % of the
    // weights and deletes a few destinations.
    let mut other = Ipvs::open().expect("open IPVS");
    let mut drift = Vec::new();
    for s in 0..services {
        for d in 0..dests {
            if (s * dests + d + step / 2) % step == 0 {
                drift.push(if d == 0 {
                    Op::DelDest(key(s), dest(s, d, dests, 1).key())
                } else {
                    Op::EditDest(key(s), dest(s, d, dests, 9))
                });
            }
        }
    }
    assert!(other.apply(&drift).iter().all(|r| r.is_ok()));
    println!("drift_ops={}", drift.len());
    let t = Instant::now();
    let report = r.audit(&want).expect("audit");
    println!("audit_seconds={:.4}", t.elapsed().as_secs_f64());
    println!("audit_repair_ops={}", report.applied.len());
    assert!(report.is_ok());
    assert_eq!(
        report.applied.len(),
        drift.len(),
        "every drifted entry repaired"
    );
}

fn restore_file() {
    let (services, dests) = (arg(2), arg(3));
    for s in 0..services {
        let k = key(s);
        let ServiceKey::Addr { addr, port, .. } = k else {
            unreachable!()
        };
        println!("-A -t {addr}:{port} -s wlc");
        for d in 0..dests {
            let x = dest(s, d, dests, 1);
            println!("-a -t {addr}:{port} -r {}:{} -m -w 1", x.addr, x.port);
        }
    }
}

fn lvs_cf() {
    let services = arg(2);
    let monitor = std::env::args().nth(3).expect("argument 3 missing");
    println!("serial_no = 1\nservice = lvs\nnetwork = nat");
    for s in 0..services {
        let ServiceKey::Addr { addr, port, .. } = key(s) else {
            unreachable!()
        };
        let x = dest(s, 0, 1, 1);
        println!(
            "virtual v{s} {{\n active = 1\n address = {addr} eth0:{s}\n port = {port}\n \
             scheduler = wlc\n client_monitor = {monitor}\n server r0 {{\n  \
             address = {}\n  port = {}\n  active = 0\n }}\n}}",
            x.addr, x.port
        );
    }
}

fn keepalived_conf() {
    let (services, dests) = (arg(2), arg(3));
    println!("global_defs {{\n    router_id bench\n}}");
    for s in 0..services {
        let ServiceKey::Addr { addr, port, .. } = key(s) else {
            unreachable!()
        };
        println!(
            "virtual_server {addr} {port} {{\n    lb_algo wlc\n    lb_kind NAT\n    protocol TCP"
        );
        for d in 0..dests {
            let x = dest(s, d, dests, 1);
            println!(
                "    real_server {} {} {{\n        weight 1\n    }}",
                x.addr, x.port
            );
        }
        println!("}}");
    }
}

fn wait_for_table() {
    // Polls the last service's destinations: keepalived programs in file order.
    let (services, dests) = (arg(2), arg(3));
    let mut ipvs = Ipvs::open().expect("open IPVS");
    let last = key(services - 1);
    let t = Instant::now();
    loop {
        // A missing service has no destinations either: with none wanted, ask
        // for the service itself.
        let complete = match dests {
            0 => matches!(ipvs.service(&last), Ok(Some(_))),
            _ => ipvs
                .destinations(&last)
                .is_ok_and(|ds| ds.len() as u32 == dests),
        };
        if complete {
            break;
        }
        assert!(t.elapsed().as_secs() < 600, "table never complete");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

fn count() {
    let mut ipvs = Ipvs::open().expect("open IPVS");
    let t = ipvs.read_table(&|_| true).expect("read");
    println!("services={} dests={}", t.services.len(), t.dest_count());
}

fn flush() {
    let mut ipvs = Ipvs::open().expect("open IPVS");
    let ops: Vec<Op> = ipvs
        .services()
        .expect("list")
        .into_iter()
        .map(|e| Op::DelService(e.service.key))
        .collect();
    assert!(ipvs.apply(&ops).iter().all(|r| r.is_ok()));
}
