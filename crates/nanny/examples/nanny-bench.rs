//! Helpers for tests/bench/nanny-vs-keepalived.sh (runs in the VM):
//!
//!   nanny-bench responder PORT          accept TCP connections on 0.0.0.0:PORT and close
//!                                       them (a real server that is up)
//!   nanny-bench pss PID...              sum of the processes' PSS in KiB
//!   nanny-bench cpu PID...              their user+system CPU time in clock ticks
//!   nanny-bench gone VIP PORT RIP RPORT NS
//!                                       take RIP down (delete it in namespace NS) and
//!                                       print the seconds until IPVS no longer uses it
//!   nanny-bench integrated COUNT SECS   COUNT integrated monitors (lvsd's engine, with
//!                                       --test-start: IPVS untouched) probing
//!                                       10.1.X.Y:8080 every second; once all are up,
//!                                       print their CPU share over SECS and the worst
//!                                       lateness of a probe

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
        Some("responder") => responder(&args),
        Some("pss") => pss(),
        Some("cpu") => cpu(),
        Some("gone") => gone(&args),
        Some("integrated") => integrated(args[2].parse().unwrap(), args[3].parse().unwrap()),
        _ => {
            eprintln!("usage: see crates/nanny/examples/nanny-bench.rs");
            std::process::exit(2);
        }
    }
}

/// User+system CPU seconds of this process.
fn own_cpu() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap();
    let rest = &s[s.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    ticks as f64 / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

fn integrated(count: u32, secs: u64) {
    use nanny::integrated::{Monitors, Report};
    use std::sync::atomic::Ordering::Relaxed;
    let mut m = Monitors::start().unwrap();
    let start = Instant::now();
    for n in 1..=count {
        let rip = format!("10.1.{}.{}", n / 250, n % 250 + 1);
        let vip = format!("198.18.{}.{}", (n / 10) / 250, (n / 10) % 250 + 1);
        let argv = [
            "nanny",
            "-c",
            "-h",
            &rip,
            "-p",
            "8080",
            "-r",
            "8080",
            "-a",
            "1",
            "-t",
            "1",
            "-w",
            "1",
            "-V",
            &vip,
            "-M",
            "m",
            "-U",
            "none",
            "--test-start",
            "--lvs",
        ];
        let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        m.spawn(nanny::spec::MonitorSpec::from_argv(&argv).expect("a monitor's command line"));
    }
    let mut active = std::collections::HashSet::new();
    while active.len() < count as usize && start.elapsed().as_secs() < 120 {
        for r in m.finished() {
            if let Report::Status { id, active: true } = r {
                active.insert(id);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let up = start.elapsed().as_secs_f64();
    let (c0, p0) = (own_cpu(), m.stats().probes.load(Relaxed));
    std::thread::sleep(std::time::Duration::from_secs(secs));
    let (c1, p1) = (own_cpu(), m.stats().probes.load(Relaxed));
    let late = m.stats().worst_lateness_us.load(Relaxed) as f64 / 1000.0;
    println!(
        "{count} monitors, {} up after {up:.1} s; over {secs} s: {} probes, CPU {:.1}% of one core; worst lateness of a probe {late:.1} ms",
        active.len(),
        p1 - p0,
        (c1 - c0) / secs as f64 * 100.0
    );
}

fn responder(args: &[String]) {
    // A deep accept queue: thousands of probes a second arrive in bursts.
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.set_reuse_address(true).unwrap();
    let addr: std::net::SocketAddr = ([0, 0, 0, 0], args[2].parse::<u16>().unwrap()).into();
    s.bind(&addr.into()).unwrap();
    s.listen(4096).unwrap();
    let l: TcpListener = s.into();
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

fn pss() {
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

fn cpu() {
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

fn gone(args: &[String]) {
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
    // 1,000 nanny processes in a busy VM make a healthy server flap now and
    // then: wait for it to be in use.
    let wait = Instant::now();
    while !present(&mut ipvs) {
        assert!(
            wait.elapsed().as_secs() < 30,
            "{rip} is not in use before the test"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
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
