//! Helpers for tests/bench/nanny-vs-keepalived.sh (runs in the VM):
//!
//!   nanny-bench responder PORT          accept TCP connections on 0.0.0.0:PORT and close
//!                                       them (a real server that is up)
//!   nanny-bench pss PID...              sum of the processes' PSS in KiB
//!   nanny-bench cpu PID...              their user+system CPU time in clock ticks
//!   nanny-bench gone VIP PORT RIP RPORT NS
//!                                       take RIP down (delete it in namespace NS) and
//!                                       print the seconds until IPVS no longer uses it

use std::io::Write;
use std::net::TcpListener;
use std::time::Instant;

fn pids() -> Vec<u32> {
    std::env::args()
        .skip(2)
        .filter_map(|a| a.parse().ok())
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("responder") => {
            let l = TcpListener::bind(("0.0.0.0", args[2].parse::<u16>().unwrap())).unwrap();
            let l = std::sync::Arc::new(l);
            let threads: Vec<_> = (0..4)
                .map(|_| {
                    let l = l.clone();
                    std::thread::spawn(move || {
                        for mut s in l.incoming().flatten() {
                            let _ = s.write_all(b"HTTP/1.0 200 OK\r\n\r\n");
                        }
                    })
                })
                .collect();
            for t in threads {
                let _ = t.join();
            }
        }
        Some("pss") => {
            let mut total = 0u64;
            for pid in pids() {
                if let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) {
                    for l in s.lines() {
                        if let Some(v) = l.strip_prefix("Pss:") {
                            total += v
                                .trim()
                                .trim_end_matches(" kB")
                                .trim()
                                .parse::<u64>()
                                .unwrap_or(0);
                        }
                    }
                }
            }
            println!("{total}");
        }
        Some("cpu") => {
            let mut ticks = 0u64;
            for pid in pids() {
                if let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
                    // Fields after the command name (which may contain blanks).
                    let rest = &s[s.rfind(')').unwrap() + 2..];
                    let f: Vec<&str> = rest.split_whitespace().collect();
                    ticks += f[11].parse::<u64>().unwrap_or(0) + f[12].parse::<u64>().unwrap_or(0);
                }
            }
            println!("{ticks}");
        }
        Some("gone") => {
            let (vip, port, rip, rport, ns) = (&args[2], &args[3], &args[4], &args[5], &args[6]);
            let key = ipvs::ServiceKey::tcp(vip.parse().unwrap(), port.parse().unwrap());
            let dest = ipvs::DestKey {
                addr: rip.parse().unwrap(),
                port: rport.parse().unwrap(),
            };
            let mut ipvs = ipvs::Ipvs::open().unwrap();
            let present = |ipvs: &mut ipvs::Ipvs| {
                ipvs.destinations(&key)
                    .map(|ds| ds.iter().any(|d| d.dest.key() == dest && d.dest.weight > 0))
                    .unwrap_or(false)
            };
            assert!(present(&mut ipvs), "{rip} is not in use before the test");
            let start = Instant::now();
            let status = std::process::Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    ns,
                    "ip",
                    "addr",
                    "del",
                    &format!("{rip}/16"),
                    "dev",
                    "vr",
                ])
                .status()
                .unwrap();
            assert!(status.success());
            while present(&mut ipvs) {
                assert!(start.elapsed().as_secs() < 60, "never removed");
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            println!("{:.3}", start.elapsed().as_secs_f64());
        }
        _ => {
            eprintln!("usage: see crates/nanny/examples/nanny-bench.rs");
            std::process::exit(2);
        }
    }
}
