//! lvsd's IO: carries the manager's actions out ([`Shell`] is the driver's executor):
//! IPVS through the reconciler, the start-up check ("sweep"), nanny processes, and the
//! nannies' availability channel.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use daemon::driver::{Executor, Reply, Step};
use daemon::process::{self, LineReader, Spawn};
use ipvs::{Op, Reconciler, ServiceKey};
use log::info;
use nanny::check::Check;
use nanny::integrated::{Monitors, Report};
use nanny::spec::MonitorSpec;
use nix::sys::signal::Signal;

use crate::manager::{Action, Event, Manager, SweepItem};
use crate::reload::NannyKey;

/// How long a sweep may take.
const SWEEP_LIMIT: Duration = Duration::from_secs(1);
/// Threads running the sweep's checks.
const SWEEP_THREADS: usize = 32;
/// How long a client monitor gets to answer `--version` (docs/differences.md): one that
/// does not answer delays the table by at most this, and is then taken for a foreign
/// program.
pub(crate) const VERSION_TIMEOUT: Duration = Duration::from_secs(1);
/// The longest availability line accepted (`<pid> inactive` is 16 bytes).
const MAX_REPORT: usize = 64;

pub struct Shell {
    /// None with `--test-start`.
    reconciler: Option<Reconciler>,
    state_path: PathBuf,
    owned_stored: Option<BTreeSet<ServiceKey>>,
    availability_read: File,
    availability_write: OwnedFd,
    reports: LineReader,
    /// Client monitor paths and whether they adopt existing entries.
    monitors: HashMap<String, bool>,
    /// The nanny processes started and not reaped yet (lvsd reaps only these: a check
    /// program of the integrated monitors is its own thread's to wait for).
    children: BTreeSet<u32>,
    /// `integrated_monitors = 1`: the real servers' monitors inside lvsd, started when
    /// first needed; whether the event loop watches them yet.
    integrated: Option<(Monitors, bool)>,
    /// The configuration file, as the status answer names it.
    pub config_path: String,
}

impl Shell {
    /// The real servers drained by the operator, kept across restarts (`lvs.drained`
    /// beside the pid file, as the services lvsd created are in `lvs.services`).
    pub fn drained_path(&self) -> PathBuf {
        self.state_path.with_extension("drained")
    }

    /// The answer to `status` for these services.
    fn status(&self, services: Vec<status_schema::Service>) -> status_schema::LvsdStatus {
        status_schema::LvsdStatus {
            schema: status_schema::SCHEMA,
            daemon: "lvsd".into(),
            pid: std::process::id(),
            config: self.config_path.clone(),
            services,
            integrated_monitors: self.monitor_stats().map(crate::status::monitor_figures),
            process: None,
        }
    }

    /// Adds the kernel's figures to a status (nothing with `--test-start`).
    fn kernel_status(
        &mut self,
        services: &mut [status_schema::Service],
        keys: &[Option<ipvs::ServiceKey>],
    ) {
        if let Some(r) = self.reconciler.as_mut() {
            crate::status::with_kernel(services, keys, r.ipvs());
        }
    }

    pub fn new(reconciler: Option<Reconciler>, state_path: PathBuf) -> std::io::Result<Shell> {
        // The read end stays here, the write end is passed to each nanny. Non-blocking:
        // a nanny never stalls on a full pipe.
        let (read, write) = daemon::nonblocking_pipe()?;
        Ok(Shell {
            reconciler,
            state_path,
            owned_stored: None,
            availability_read: File::from(read),
            availability_write: write,
            reports: LineReader::new(MAX_REPORT),
            monitors: HashMap::new(),
            children: BTreeSet::new(),
            integrated: None,
            config_path: String::new(),
        })
    }

    /// The integrated monitors' descriptor, once, when they have just started: the
    /// event loop is to watch it.
    pub(crate) fn monitors_to_watch(&mut self) -> Option<&File> {
        match self.integrated.as_mut() {
            Some((m, watched)) if !*watched => {
                *watched = true;
                Some(m.done_fd())
            }
            _ => None,
        }
    }

    /// What the integrated monitors reported, as the events nanny processes cause.
    pub(crate) fn monitor_events(&mut self) -> Vec<Event> {
        let Some((m, _)) = self.integrated.as_ref() else {
            return Vec::new();
        };
        m.finished()
            .into_iter()
            .map(|r| match r {
                Report::Status { id, active } => Event::Status { pid: id, active },
                Report::Exited { id, status } => Event::Exited { pid: id, status },
            })
            .collect()
    }

    /// The integrated monitors' figures (none in process mode).
    pub(crate) fn monitor_stats(&self) -> Option<&nanny::integrated::Stats> {
        self.integrated.as_ref().map(|(m, _)| m.stats())
    }

    /// The nanny processes that ended, reaped.
    pub fn reap(&mut self) -> Vec<(u32, process::ExitStatus)> {
        let reaped = process::reap_these(self.children.iter().copied().collect::<Vec<u32>>());
        for (pid, _) in &reaped {
            self.children.remove(pid);
        }
        reaped
    }

    /// The descriptor the event loop watches for the nannies' reports.
    pub(crate) fn availability_fd(&self) -> &File {
        &self.availability_read
    }

    /// The reports that arrived, as events.
    pub(crate) fn read_availability(&mut self) -> Vec<Event> {
        self.reports
            .read_from(&self.availability_read)
            .iter()
            .filter_map(|line| nanny::availability::Report::decode(line))
            .map(|r| Event::Status {
                pid: r.pid,
                active: r.active,
            })
            .collect()
    }

    fn set_timeouts(&mut self, t: ipvs::Timeouts) {
        if let Some(Err(e)) = self.reconciler.as_mut().map(|r| r.ipvs().set_timeouts(t)) {
            info!(
                "ipvsadm failed to set timeouts ({} {} {}): {e}",
                t.tcp, t.tcp_fin, t.udp
            );
        }
    }

    fn apply(&mut self, op: Op) {
        let Some(r) = self.reconciler.as_mut() else {
            return;
        };
        match r.ipvs().apply(std::slice::from_ref(&op)).pop() {
            // Already as wanted (the sorry server was there; the server, or its whole
            // service, had gone).
            Some(Err(e)) if e.is_exists() || e.is_no_destination() || e.is_no_service() => {}
            Some(Err(e)) => info!("IPVS: {}", failure(&op, &e)),
            _ => {}
        }
    }

    /// Reconciles; answers with the services that could not be set up and why (the
    /// manager logs it, in order with its own lines).
    fn reconcile(&mut self, desired: &ipvs::Desired, audit: bool) -> Event {
        let Some(r) = self.reconciler.as_mut() else {
            return Event::Reconciled {
                failed: BTreeSet::new(),
                errors: Vec::new(),
            };
        };
        let result = if audit {
            r.audit(desired)
        } else {
            r.reconcile(desired)
        };
        let (failed, errors) = match result {
            Ok(report) => report
                .failed
                .iter()
                .map(|(op, e)| (*op.service_key(), failure(op, e)))
                .unzip(),
            Err(e) => (
                desired.services.keys().copied().collect(),
                vec![e.to_string()],
            ),
        };
        let owned = r.owned().clone();
        if self.owned_stored.as_ref() != Some(&owned) {
            match crate::owned::store(&self.state_path, &owned) {
                Ok(()) => self.owned_stored = Some(owned),
                Err(e) => info!("cannot write {}: {e}", self.state_path.display()),
            }
        }
        Event::Reconciled { failed, errors }
    }

    /// The sweep: each real server's check, run once from here (in parallel, at most
    /// [`SWEEP_LIMIT`]), and the healthy servers added in one batch, so that a director
    /// taking over (or a reload adding servers) serves at once instead of after the
    /// nannies' process starts. Checks that run a program are left to the nannies.
    /// Returns what was added.
    fn sweep(&mut self, items: Vec<SweepItem>) -> BTreeSet<NannyKey> {
        if self.reconciler.is_none() {
            return BTreeSet::new();
        }
        // A check program is left to its nanny; a spec nanny would refuse, to its nanny's
        // message.
        let jobs: Vec<SweepItem> = items
            .into_iter()
            .filter(|item| self.adopts_entries(&item.spec.program))
            .filter(|item| item.spec.send_program.is_none() && item.spec.validate().is_ok())
            .collect();
        let order: Vec<SweepItem> = jobs.clone();
        let healthy = sweep_batch(order, run_checks(jobs, SWEEP_LIMIT));
        let ops: Vec<Op> = healthy
            .iter()
            .map(|i| Op::AddDest(i.key.service, i.dest.clone()))
            .collect();
        let Some(r) = self.reconciler.as_mut() else {
            return BTreeSet::new();
        };
        let results = r.ipvs().apply(&ops);
        healthy
            .into_iter()
            .zip(results)
            .filter_map(|(item, result)| match result {
                Ok(()) => Some(item.key),
                Err(e) if e.is_exists() => Some(item.key),
                Err(e) => {
                    let op = Op::AddDest(item.key.service, item.dest.clone());
                    info!("IPVS: {}", failure(&op, &e));
                    None
                }
            })
            .collect()
    }

    /// Whether the client monitor at `path` is this project's nanny (directly or
    /// through a wrapper that execs it), which adopts an entry already in IPVS. A legacy
    /// nanny would fail to add it (`ipvsadm -a` of an existing entry) and exit, so its
    /// servers are left to it. Asked once per path, with `--version`, for at most
    /// [`VERSION_TIMEOUT`].
    fn adopts_entries(&mut self, path: &str) -> bool {
        if let Some(known) = self.monitors.get(path) {
            return *known;
        }
        let argv = [path.to_string(), "--version".to_string()];
        let answer = process::run(&argv, VERSION_TIMEOUT, 4096);
        let ours =
            matches!(&answer, Ok(o) if String::from_utf8_lossy(&o.stdout).contains("(piranha-rs "));
        if !ours {
            let why = match answer {
                Err(process::RunError::TimedOut) => " (no answer to --version)",
                _ => "",
            };
            info!("{path} is not piranha-rs's nanny{why}: its real servers are not checked by lvsd first");
        }
        self.monitors.insert(path.to_string(), ours);
        ours
    }

    /// Starts a nanny: inside lvsd when `integrated` and the monitor is our nanny's for
    /// netlink, else a process (its legacy command line) with the availability channel
    /// in `LVSD_STATUS_FD`.
    fn spawn(&mut self, spec: MonitorSpec, integrated: bool) -> std::io::Result<u32> {
        if integrated && Monitors::accepts(&spec) && self.adopts_entries(&spec.program) {
            if self.integrated.is_none() {
                self.integrated = Some((Monitors::start()?, false));
            }
            if let Some((m, _)) = self.integrated.as_mut() {
                return Ok(m.spawn(spec));
            }
        }
        let fd = self.availability_write.as_raw_fd();
        let pid = process::spawn(&Spawn {
            argv: spec.to_argv(),
            env: vec![(nanny::availability::ENV.to_string(), fd.to_string())],
            keep_fds: vec![fd],
        })?;
        self.children.insert(pid);
        Ok(pid)
    }

    /// A nanny's signal, to its process or its integrated monitor.
    fn signal(&self, pid: u32, signal: Signal) {
        match self.integrated.as_ref().filter(|_| Monitors::owns(pid)) {
            Some((m, _)) => m.signal(pid, signal as i32),
            None => process::signal(pid, signal),
        }
    }
}

impl Executor<Manager> for Shell {
    fn execute(&mut self, action: Action) -> Step<Event> {
        match action {
            Action::Log(msg) => info!("{msg}"),
            Action::Print(msg) => println!("{msg}"),
            Action::SetTimeouts(t) => self.set_timeouts(t),
            Action::Reconcile { desired, audit } => {
                return Step::Answer(self.reconcile(&desired, audit))
            }
            Action::Ipvs(op) => self.apply(op),
            Action::Sweep(items) => {
                let checked = items.len();
                let admitted = self.sweep(items);
                return Step::Answer(Event::Swept { admitted, checked });
            }
            Action::Spawn {
                key,
                spec,
                integrated,
            } => {
                return Step::Answer(match self.spawn(*spec, integrated) {
                    Ok(pid) => Event::Spawned { key, pid },
                    Err(e) => Event::SpawnFailed {
                        key,
                        error: e.to_string(),
                    },
                })
            }
            Action::Stop { pid } => self.signal(pid, Signal::SIGTERM),
            Action::Kill { pid } => self.signal(pid, Signal::SIGKILL),
            Action::StoreDrained(keys) => {
                let path = self.drained_path();
                if let Err(e) = crate::drained::store(&path, &keys) {
                    info!("cannot write {}: {e}", path.display());
                }
            }
            Action::Answer { client, answer } => return Step::Reply(Reply { client, answer }),
            Action::AnswerStatus {
                client,
                mut services,
                keys,
            } => {
                self.kernel_status(&mut services, &keys);
                let answer = daemon::control::status(&self.status(services));
                return Step::Reply(Reply { client, answer });
            }
            Action::Exit(code) => return Step::Exit(code.code()),
        }
        Step::Done
    }
}

/// What failed and why, once: a kernel refusal already names the operation (with IPv6
/// addresses in brackets), a transport failure does not.
fn failure(op: &Op, e: &ipvs::Error) -> String {
    let (what, why) = (op.to_string(), e.to_string());
    if why.starts_with(&what) {
        why
    } else {
        format!("{what}: {why}")
    }
}

/// What the sweep adds: the healthy servers, and a fleet service's other servers at
/// weight 0, all in configuration order, so that every director's IPVS list (and so its
/// Maglev table) is the same (docs/fleet.md, "Same choice on every director").
fn sweep_batch(order: Vec<SweepItem>, healthy: Vec<SweepItem>) -> Vec<SweepItem> {
    let up: BTreeSet<NannyKey> = healthy.iter().map(|i| i.key).collect();
    order
        .into_iter()
        .filter(|i| i.fleet || up.contains(&i.key))
        .map(|mut i| {
            if !up.contains(&i.key) {
                i.dest.weight = 0;
            }
            i
        })
        .collect()
}

/// Runs the checks on a few threads; returns the items whose check passed within
/// `limit`. Checks still running then are abandoned (their threads end with their own
/// time limit, which is `limit` too).
fn run_checks(jobs: Vec<SweepItem>, limit: Duration) -> Vec<SweepItem> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{mpsc, Arc, Mutex};
    let total = jobs.len();
    if total == 0 {
        return Vec::new();
    }
    let queue = Arc::new(Mutex::new(
        jobs.into_iter().enumerate().collect::<VecDeque<_>>(),
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    for _ in 0..SWEEP_THREADS.min(total) {
        let (queue, stop, tx) = (queue.clone(), stop.clone(), tx.clone());
        let spawned = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Some((i, item)) = queue.lock().unwrap().pop_front() else {
                        return;
                    };
                    // Built here: a compiled regex stays on its thread.
                    let (check, _) = Check::from_options(&item.spec);
                    let ok = check.with_timeout(limit).run().is_ok();
                    if tx.send((i, item, ok)).is_err() {
                        return;
                    }
                }
            });
        if spawned.is_err() {
            break;
        }
    }
    drop(tx);
    let deadline = Instant::now() + limit;
    let mut healthy = Vec::new();
    for _ in 0..total {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            break;
        };
        match rx.recv_timeout(left) {
            Ok((i, item, true)) => healthy.push((i, item)),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    stop.store(true, Ordering::Relaxed);
    // In configuration order, for a deterministic batch.
    healthy.sort_by_key(|(i, _)| *i);
    healthy.into_iter().map(|(_, item)| item).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(last: u8, fleet: bool) -> SweepItem {
        let c = lvscf::Config::default();
        let vs = lvscf::VirtualServer::new("v", 0);
        let mut rs = lvscf::RealServer {
            name: "r".into(),
            line: 0,
            address: None,
            active: true,
            port: 80,
            weight: 5,
        };
        rs.address = Some(lvscf::Host::literal(testbed::ip(&format!("10.0.0.{last}"))));
        let spec = crate::monitor_spec::monitor_spec(&c, &vs, &rs, Default::default());
        let service = ipvs::ServiceKey::tcp(testbed::ip("10.0.0.100"), 80);
        let server = testbed::ip(&format!("10.0.0.{last}"));
        SweepItem {
            key: NannyKey {
                service,
                server,
                port: 80,
            },
            spec: Box::new(spec),
            dest: ipvs::Destination::new(server, 80, ipvs::ForwardMethod::Route, 5),
            fleet,
        }
    }

    #[test]
    fn a_fleet_sweep_adds_every_server_in_file_order_the_failed_at_weight_zero() {
        let order = vec![item(1, true), item(2, true), item(3, true)];
        let healthy = vec![item(3, true), item(1, true)];
        let batch = sweep_batch(order, healthy);
        let got: Vec<(String, u32)> = batch
            .iter()
            .map(|i| (i.dest.addr.to_string(), i.dest.weight))
            .collect();
        assert_eq!(
            got,
            [
                ("10.0.0.1".into(), 5),
                ("10.0.0.2".into(), 0),
                ("10.0.0.3".into(), 5)
            ]
        );
        let pair = sweep_batch(vec![item(1, false), item(2, false)], vec![item(2, false)]);
        assert_eq!(pair.len(), 1, "a pair's sweep adds the healthy only");
        assert_eq!(pair[0].dest.addr, testbed::ip("10.0.0.2"));
    }

    #[test]
    fn failures_name_the_operation_once_with_ipv6_in_brackets() {
        let key = ipvs::ServiceKey::tcp(testbed::ip("2001:db8::80"), 80);
        let dest = ipvs::Destination::new(
            testbed::ip("2001:db8::21"),
            8080,
            ipvs::ForwardMethod::Masq,
            1,
        );
        let op = Op::AddDest(key, dest);
        let kernel = ipvs::Error::kernel(libc::EEXIST, op.to_string(), None);
        assert_eq!(
            failure(&op, &kernel),
            "add destination [2001:db8::21]:8080 to TCP [2001:db8::80]:80: it exists already"
        );
        let transport = ipvs::Error::io(
            "send netlink requests",
            std::io::Error::from_raw_os_error(libc::ENOBUFS),
        );
        assert!(failure(&op, &transport).starts_with(
            "add destination [2001:db8::21]:8080 to TCP [2001:db8::80]:80: send netlink requests: "
        ));
    }
}
