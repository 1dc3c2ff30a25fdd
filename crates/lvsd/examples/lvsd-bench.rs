//! Helper for tests/bench/lvsd-vs-keepalived.sh (runs in the VM test bed):
//!
//!   lvsd-bench wait WANT_FILE SINCE TIMEOUT [BEFORE_FILE]
//!
//! Polls the IPVS table (netlink, every 10 ms) until its destinations with a non-zero
//! weight are exactly the lines of WANT_FILE (`VIP:PORT RIP:PORT`), then prints the
//! seconds elapsed since SINCE (a `date +%s.%N` taken when the daemon was started or
//! signalled). Exits 1 after TIMEOUT seconds.
//!
//! With BEFORE_FILE (the table before a reload) only the services whose lines differ
//! are polled, since reading 1,000 destinations takes a good part of a second in the
//! emulated VM and would blur the figure; once they match, the whole table must match
//! too, or polling goes on over everything.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn table(ipvs: &mut ipvs::Ipvs) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Ok(t) = ipvs.read_table(&|_| true) else {
        return out;
    };
    for ts in t.services.values() {
        let ipvs::ServiceKey::Addr { addr, port, .. } = ts.service.key else {
            continue;
        };
        for d in ts.dests.values().filter(|d| d.weight > 0) {
            out.insert(format!(
                "{} {}",
                SocketAddr::new(addr, port),
                SocketAddr::new(d.addr, d.port)
            ));
        }
    }
    out
}

fn lines(path: &str) -> BTreeSet<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// The services (`VIP:PORT`) of the lines that differ between two tables.
fn changed_services(a: &BTreeSet<String>, b: &BTreeSet<String>) -> BTreeSet<String> {
    a.symmetric_difference(b)
        .filter_map(|l| l.split(' ').next().map(String::from))
        .collect()
}

/// The lines of the given services only.
fn table_of(ipvs: &mut ipvs::Ipvs, services: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for s in services {
        let sa: SocketAddr = s.parse().unwrap();
        let key = ipvs::ServiceKey::tcp(sa.ip(), sa.port());
        for d in ipvs.destinations(&key).unwrap_or_default() {
            if d.dest.weight > 0 {
                out.insert(format!("{s} {}", SocketAddr::new(d.dest.addr, d.dest.port)));
            }
        }
    }
    out
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if !(5..=6).contains(&args.len()) || args[1] != "wait" {
        eprintln!("usage: lvsd-bench wait WANT_FILE SINCE TIMEOUT [BEFORE_FILE]");
        std::process::exit(2);
    }
    let want = lines(&args[2]);
    let since: f64 = args[3].parse().unwrap();
    let timeout: f64 = args[4].parse().unwrap();
    let mut focus = args
        .get(5)
        .map(|before| changed_services(&lines(before), &want));
    let mut ipvs = ipvs::Ipvs::open().expect("IPVS");
    loop {
        if let Some(services) = &focus {
            let part: BTreeSet<String> = want
                .iter()
                .filter(|l| services.contains(l.split(' ').next().unwrap_or("")))
                .cloned()
                .collect();
            if table_of(&mut ipvs, services) == part {
                let at = now() - since;
                if table(&mut ipvs) == want {
                    println!("{at:.3}");
                    return;
                }
                focus = None;
            }
        } else if table(&mut ipvs) == want {
            println!("{:.3}", now() - since);
            return;
        }
        if now() - since > timeout {
            let have = table(&mut ipvs);
            let missing = want.difference(&have).count();
            let extra = have.difference(&want).count();
            eprintln!("not converged after {timeout} s: {missing} missing, {extra} extra");
            std::process::exit(1);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
