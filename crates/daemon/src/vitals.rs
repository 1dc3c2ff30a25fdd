//! What the daemon itself costs, for the status answers and the metrics' process health
//! (docs/control.md): resident memory, CPU time, open descriptors, threads and start
//! time, read from `/proc/self`. Best effort: a figure that cannot be read is absent.

use serde::Serialize;

/// The process's own figures; each `None` when `/proc` did not tell.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct Vitals {
    pub resident_bytes: Option<u64>,
    /// User plus system time.
    pub cpu_seconds: Option<f64>,
    /// Since the epoch.
    pub start_time_seconds: Option<f64>,
    pub open_fds: Option<u64>,
    pub threads: Option<u64>,
}

impl Vitals {
    pub fn read() -> Vitals {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        let boot = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
        let fds = std::fs::read_dir("/proc/self/fd").map(|d| d.count() as u64);
        let mut v = from_proc(&stat, &boot, &statm, ticks_per_second(), page_size());
        v.open_fds = fds.ok();
        v
    }
}

fn ticks_per_second() -> f64 {
    use nix::unistd::{sysconf, SysconfVar};
    sysconf(SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .map_or(100.0, |t| t as f64)
}

fn page_size() -> u64 {
    use nix::unistd::{sysconf, SysconfVar};
    sysconf(SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .map_or(4096, |p| p as u64)
}

/// The figures from the texts of `/proc/self/stat`, `/proc/stat` and `/proc/self/statm`.
pub(crate) fn from_proc(stat: &str, boot: &str, statm: &str, hz: f64, page: u64) -> Vitals {
    // The command name (field 2) is in parentheses and may hold blanks: count the fields
    // after its closing parenthesis, where field 3 (state) is the first.
    let after = stat.rfind(')').map_or("", |i| &stat[i + 1..]);
    let field = |n: usize| -> Option<f64> { after.split_whitespace().nth(n - 3)?.parse().ok() };
    let cpu = field(14).zip(field(15)).map(|(u, s)| (u + s) / hz);
    let boot_time = boot
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|t| t.trim().parse::<f64>().ok());
    let start = field(22).zip(boot_time).map(|(t, b)| b + t / hz);
    let resident = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse::<u64>().ok())
        .map(|p| p * page);
    Vitals {
        resident_bytes: resident,
        cpu_seconds: cpu,
        start_time_seconds: start,
        open_fds: None,
        threads: field(20).map(|t| t as u64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_from_proc_texts_with_a_command_name_holding_blanks_and_parentheses() {
        let stat = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 \
                    1000 12345678 321 18446744073709551615";
        let v = from_proc(
            stat,
            "cpu 1 2 3\nbtime 1700000000\n",
            "3000 321 100 1 0 50 0",
            100.0,
            4096,
        );
        assert_eq!(v.cpu_seconds, Some(3.0));
        assert_eq!(v.start_time_seconds, Some(1_700_000_010.0));
        assert_eq!(v.resident_bytes, Some(321 * 4096));
        assert_eq!(v.threads, Some(3));
        assert_eq!(from_proc("", "", "", 100.0, 4096), Vitals::default());
    }

    #[test]
    fn this_process_reads_plausible_figures() {
        let v = Vitals::read();
        assert!(v.resident_bytes.is_some_and(|b| b > 100_000), "{v:?}");
        assert!(v.open_fds.is_some_and(|n| n >= 3), "{v:?}");
        assert!(v.threads.is_some_and(|n| n >= 1), "{v:?}");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let started = v.start_time_seconds.unwrap();
        assert!(started <= now + 1.0 && started > now - 3600.0, "{v:?}");
    }
}
