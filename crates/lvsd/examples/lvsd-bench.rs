//! Helper for tests/bench/lvsd-vs-keepalived.sh (runs in the VM test bed):
//!
//!   lvsd-bench wait WANT_FILE SINCE TIMEOUT
//!
//! Polls the IPVS table (netlink, every 10 ms) until its destinations with a non-zero
//! weight are exactly the lines of WANT_FILE (`VIP:PORT RIP:PORT`), then prints the
//! seconds elapsed since SINCE (a `date +%s.%N` taken when the daemon was started or
//! signalled). Exits 1 after TIMEOUT seconds.

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

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 || args[1] != "wait" {
        eprintln!("usage: lvsd-bench wait WANT_FILE SINCE TIMEOUT");
        std::process::exit(2);
    }
    let want: BTreeSet<String> = std::fs::read_to_string(&args[2])
        .unwrap()
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    let since: f64 = args[3].parse().unwrap();
    let timeout: f64 = args[4].parse().unwrap();
    let mut ipvs = ipvs::Ipvs::open().expect("IPVS");
    loop {
        let have = table(&mut ipvs);
        if have == want {
            println!("{:.3}", now() - since);
            return;
        }
        if now() - since > timeout {
            let missing = want.difference(&have).count();
            let extra = have.difference(&want).count();
            eprintln!("not converged after {timeout} s: {missing} missing, {extra} extra");
            std::process::exit(1);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
