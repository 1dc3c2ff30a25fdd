//! The integrated monitors (lvs.cf `integrated_monitors = 1`; docs/differences.md,
//! "Integrated monitors"): every real server's nanny inside lvsd, on one thread, instead
//! of one process each. Each monitor is exactly a nanny: built from the same spec
//! ([`crate::spec`]), with the same core ([`Nanny`]: counting, re-entry,
//! quiesce, slow start, load weighting, retries), the same checks and log lines, the
//! same IPVS changes ([`Southbound`], over one shared netlink socket) and the same
//! reports. What changes is the IO: network probes are non-blocking
//! ([`Exchange`]) on one `mio` poll, so no server, however slow, delays another's
//! probe; a check or load program runs on a short-lived thread of its own, bounded by
//! its time limit as in a nanny.
//!
//! lvsd talks to it as to processes: [`Monitors::spawn`] takes the monitor's spec (what
//! a nanny process gets as its command line) and gives an id (never a real pid),
//! [`Monitors::signal`] takes nanny's signals, and [`Monitors::finished`] returns the
//! availability reports and the exits.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fs::File;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use daemon::driver::{Carrier, Core, Step};
use daemon::inbox::{inbox, Inbox, Outbox};
use daemon::process::ExitStatus;
use daemon::trace::Trace;
use log::{debug, info};
use mio::{Events, Poll, Token, Waker};

use crate::check::Check;
use crate::exchange::Exchange;
use crate::monitor::{self, Mode, Monitor, Settings};
use crate::schedule::{Action, Event, Nanny};
use crate::southbound::{SharedIpvs, Southbound, SouthboundError};
use crate::spec::{self, MonitorSpec};

/// The first monitor id: above any pid (the kernel's `pid_max` is at most 2^22), so lvsd
/// tells its monitors from its processes by number.
pub const FIRST_ID: u32 = 1 << 30;
const WAKE: Token = Token(usize::MAX);
/// Timers due within this are fired together (a probe starts at most this early).
const BATCH: Duration = Duration::from_millis(10);
/// After a turn that had answers to handle, the next begins this long after it: a
/// thousand servers answer a thousand times a second, and one wake-up each cost more
/// than the probes' own work in the VM. An answer waits at most this long; a timer
/// fires at most this late (within the 100 ms a probe may be late).
const TURN: Duration = Duration::from_millis(10);
/// lvsd's commands taken per turn of the loop.
const COMMANDS_PER_TURN: usize = 32;
/// Probes started between two readings of the clock in one batch of due timers.
const CLOCK_EVERY: usize = 32;
/// The stack of a thread running one check or load program.
const PROGRAM_STACK: usize = 128 * 1024;

/// What lvsd hears back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// The server behind monitor `id` is serving, or not (sent on changes).
    Status { id: u32, active: bool },
    /// Monitor `id` ended as a nanny would have exited.
    Exited { id: u32, status: ExitStatus },
}

enum Command {
    Start { id: u32, spec: Box<MonitorSpec> },
    Signal { id: u32, signal: i32 },
    Shutdown,
}

/// How the monitors keep to their schedule, for the status and the benchmark.
#[derive(Debug, Default)]
pub struct Stats {
    pub monitors: AtomicU64,
    pub probes: AtomicU64,
    /// The latest start of a probe after its due time so far, in microseconds.
    pub worst_lateness_us: AtomicU64,
}

/// lvsd's handle on the monitors' thread.
pub struct Monitors {
    commands: mpsc::Sender<Command>,
    waker: Arc<Waker>,
    reports: Inbox<Report>,
    stats: Arc<Stats>,
    next_id: u32,
    thread: Option<JoinHandle<()>>,
}

impl Monitors {
    /// Starts the thread (it opens IPVS's netlink socket when a monitor first needs it).
    /// Raises the process's descriptor limit to its hard limit: every probe under way
    /// holds a socket, and a thousand servers that all stop answering hold a thousand
    /// for their timeout (the usual soft limit, 1,024, would fail the rest at once).
    pub fn start() -> std::io::Result<Monitors> {
        let traces = std::env::var_os(daemon::trace::MONITOR_TRACES_ENV);
        Monitors::start_traced(traces.map(std::path::PathBuf::from))
    }

    /// As [`Monitors::start`], each monitor recording its trace in `traces`
    /// (`ADDRESS:PORT.jsonl`, as a nanny process records its own with `PIRANHA_TRACE`).
    pub fn start_traced(traces: Option<std::path::PathBuf>) -> std::io::Result<Monitors> {
        use nix::sys::resource::{getrlimit, setrlimit, Resource};
        if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
            if soft < hard {
                let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
            }
        }
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
        let (commands, command_rx) = mpsc::channel();
        let (report_tx, reports) = inbox()?;
        let stats = Arc::new(Stats::default());
        let (w, st) = (waker.clone(), stats.clone());
        // Built on its thread: the shared IPVS connection never leaves it.
        let thread = std::thread::Builder::new()
            .name("monitors".into())
            .spawn(move || Engine::new(poll, w, command_rx, report_tx, st, traces).run())?;
        Ok(Monitors {
            commands,
            waker,
            reports,
            stats,
            next_id: FIRST_ID,
            thread: Some(thread),
        })
    }

    /// Whether an id is one of these monitors' (and not a process's).
    pub fn owns(id: u32) -> bool {
        id >= FIRST_ID
    }

    /// Whether this monitor can run here: an LVS monitor whose IPVS changes go over
    /// netlink (an `-I` wrapper program runs for up to 10 s per change, which would hold
    /// every other monitor up: such a server keeps its process).
    pub fn accepts(spec: &MonitorSpec) -> bool {
        spec.mode == Mode::Lvs && spec.ipvsadm == lvscf::DEFAULT_IPVSADM
    }

    /// Starts this monitor (its program is not run); its id.
    pub fn spawn(&mut self, spec: MonitorSpec) -> u32 {
        let id = self.next_id;
        self.next_id = self.next_id.checked_add(1).unwrap_or(FIRST_ID);
        self.send(Command::Start {
            id,
            spec: Box::new(spec),
        });
        id
    }

    /// nanny's signals: TERM and INT stop the monitor (its server removed), KILL ends it
    /// at once, USR1, USR2 and HUP as in nanny.
    pub fn signal(&self, id: u32, signal: i32) {
        self.send(Command::Signal { id, signal });
    }

    fn send(&self, c: Command) {
        if self.commands.send(c).is_ok() {
            let _ = self.waker.wake();
        }
    }

    /// Readable when reports wait (register it with the event loop).
    pub fn done_fd(&self) -> &File {
        self.reports.fd()
    }

    pub fn finished(&self) -> Vec<Report> {
        self.reports.take()
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }
}

impl Drop for Monitors {
    fn drop(&mut self) {
        self.send(Command::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The probe a monitor has under way.
enum Probe {
    Idle,
    Net {
        exchange: Exchange,
        deadline: Instant,
    },
    /// A check program, or a load query, on a thread of its own.
    Away,
}

/// One real server's nanny.
struct Slot {
    core: Nanny,
    southbound: Option<Southbound>,
    check: Arc<Check>,
    load_argv: Option<Arc<Vec<String>>>,
    interval: Duration,
    server: String,
    probe: Probe,
    /// Counts the probes and load queries sent off; an answer from an earlier one is
    /// dropped.
    generation: u64,
    last_report: Option<bool>,
    /// The wake-up last put in the timer heap (older entries are stale).
    timer: Option<Instant>,
    trace: Option<Trace>,
}

impl Slot {
    /// The core's answer to `event` (recorded when the monitor is traced).
    fn handle(&mut self, event: Event, now: Instant) -> Vec<Action> {
        let core = &mut self.core;
        daemon::trace::handled(self.trace.as_mut(), event, now, |e| core.handle(e, now))
    }

    fn wake_at(&self, now: Instant) -> Instant {
        let core = self.core.next_deadline(now).unwrap_or_else(|| far(now));
        match &self.probe {
            Probe::Net { deadline, .. } => core.min(*deadline),
            _ => core,
        }
    }
}

fn far(now: Instant) -> Instant {
    now + Duration::from_secs(3600)
}

/// Hashes a monitor id by one multiplication (Fibonacci hashing): ids are lvsd's own
/// sequential numbers, not attacker-chosen keys, so the default SipHash (a tenth of the
/// engine's own time at 10,000 servers) buys nothing here. The product's high bits,
/// which the table also uses, differ between neighbouring ids.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, id: u32) {
        self.0 = u64::from(id).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// One monitor of the engine as the driver's [`Carrier`]: its core in its slot, its
/// actions carried out by the engine.
struct OneMonitor<'e> {
    engine: &'e mut Engine,
    id: u32,
}

impl Carrier for OneMonitor<'_> {
    type Event = Event;
    type Action = Action;
    fn execute(&mut self, action: Action) -> Step<Event> {
        match self.engine.execute(self.id, action) {
            Some(answer) => Step::Answer(answer),
            None => Step::Done,
        }
    }
    fn answer(&mut self, event: Event) -> Option<Vec<Action>> {
        let now = self.engine.now;
        let slot = self.engine.slots.get_mut(&self.id)?;
        Some(slot.handle(event, now))
    }
}

/// What a check or load thread hands back: monitor, generation, event.
type Answer = (u32, u64, Event);

struct Engine {
    poll: Poll,
    waker: Arc<Waker>,
    commands: mpsc::Receiver<Command>,
    reports: Outbox<Report>,
    stats: Arc<Stats>,
    slots: HashMap<u32, Slot, BuildHasherDefault<IdHasher>>,
    timers: BinaryHeap<Reverse<(Instant, u32)>>,
    answers_tx: mpsc::Sender<Answer>,
    answers: mpsc::Receiver<Answer>,
    ipvs: Option<SharedIpvs>,
    /// Reports sent since lvsd was last woken.
    told: bool,
    /// The time, read once per turn of the loop (and every [`CLOCK_EVERY`] probes
    /// started): where the clocksource has no vDSO (hpet, acpi_pm: many virtual
    /// machines) every read is a system call, and reading it per action cost more
    /// system calls than the probes themselves.
    now: Instant,
    /// Where each monitor records its trace, if anywhere.
    traces: Option<std::path::PathBuf>,
}

impl Engine {
    fn new(
        poll: Poll,
        waker: Arc<Waker>,
        commands: mpsc::Receiver<Command>,
        reports: Outbox<Report>,
        stats: Arc<Stats>,
        traces: Option<std::path::PathBuf>,
    ) -> Engine {
        let (answers_tx, answers) = mpsc::channel();
        Engine {
            poll,
            waker,
            commands,
            reports,
            stats,
            slots: HashMap::default(),
            timers: BinaryHeap::new(),
            answers_tx,
            answers,
            ipvs: None,
            told: false,
            now: Instant::now(),
            traces,
        }
    }

    /// A monitor's trace for `server` (`ADDRESS:PORT`), when traces are asked for.
    fn trace_for(&self, server: &str, now: Instant) -> Option<Trace> {
        let path = self.traces.as_ref()?.join(format!("{server}.jsonl"));
        let limit = daemon::trace::limit_from_env();
        Trace::create(&path, limit, now)
            .map_err(|e| info!("cannot write the trace {}: {e}", path.display()))
            .ok()
    }

    fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        let mut more_commands = false;
        let mut busy = false;
        loop {
            if busy {
                // Answers arriving meanwhile are handled together, in one wake-up.
                let since = self.now.elapsed();
                if since < TURN {
                    std::thread::sleep(TURN - since);
                }
            }
            let timeout = match more_commands {
                true => Some(Duration::ZERO),
                false => self
                    .timers
                    .peek()
                    .map(|Reverse((t, _))| t.saturating_duration_since(Instant::now())),
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    info!("monitors: poll failed: {e}");
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            self.now = Instant::now();
            busy = !events.is_empty();
            for e in events.iter().filter(|e| e.token() != WAKE) {
                let failed = e.is_error() || e.is_write_closed();
                self.probe_ready(e.token().0 as u32, e.is_writable(), failed);
            }
            match self.take_commands() {
                Some(more) => more_commands = more,
                None => return self.shut_down(),
            }
            while let Ok((id, generation, event)) = self.answers.try_recv() {
                if let Some(s) = self
                    .slots
                    .get_mut(&id)
                    .filter(|s| s.generation == generation)
                {
                    s.probe = Probe::Idle;
                    self.dispatch(id, event);
                }
            }
            self.now = Instant::now();
            self.fire_timers();
            if std::mem::take(&mut self.told) {
                self.reports.wake();
            }
        }
    }

    /// Up to [`COMMANDS_PER_TURN`] of lvsd's commands: `Some(true)` if more wait, `None`
    /// at shutdown. Starting a monitor reads IPVS and logs, so a thousand starts in one
    /// go (lvsd's start, a reload) would make the monitors already running late; in
    /// slices, their timers fire in between.
    fn take_commands(&mut self) -> Option<bool> {
        for _ in 0..COMMANDS_PER_TURN {
            match self.commands.try_recv() {
                Ok(Command::Start { id, spec }) => self.add(id, &spec),
                Ok(Command::Signal { id, signal }) => self.signal(id, signal),
                Ok(Command::Shutdown) => return None,
                Err(_) => return Some(false),
            }
        }
        Some(true)
    }

    /// lvsd is going: the monitors end without touching IPVS (lvsd stops them first
    /// when it wants their servers removed).
    fn shut_down(&mut self) {
        self.slots.clear();
    }

    fn tell(&mut self, r: Report) {
        self.reports.put(r);
        self.told = true;
    }

    /// A monitor from its spec, as nanny's `main` builds it (and refuses it: a nanny
    /// process would exit 1 at once).
    fn add(&mut self, id: u32, o: &MonitorSpec) {
        let slot = o.validate().map_err(|e| e.to_string());
        match slot.and_then(|()| self.slot(o, id).map_err(|e| e.to_string())) {
            Ok(slot) => {
                self.slots.insert(id, slot);
                self.stats.monitors.fetch_add(1, Ordering::Relaxed);
                self.adopt(id);
                self.reschedule(id);
            }
            Err(msg) => {
                info!("{msg}");
                self.tell(Report::Exited {
                    id,
                    status: ExitStatus::Code(1),
                });
            }
        }
    }

    fn slot(&mut self, o: &MonitorSpec, id: u32) -> Result<Slot, SouthboundError> {
        let (check, notes) = Check::from_options(o);
        for n in notes {
            info!("{n}");
        }
        info!("{}", spec::start_line(o));
        let server = std::net::SocketAddr::new(o.server, o.rport).to_string();
        // A dry run (`--test-start`) needs no IPVS at all.
        let shared = match o.test_start {
            true => None,
            false => Some(self.shared_ipvs()?.clone()),
        };
        let southbound = Southbound::for_options(o, shared.as_ref())?;
        let load_argv = crate::load::load_argv(o.load_query(), &o.server.to_string());
        let monitor = Monitor::new(Settings::of_options(o, load_argv.is_some(), server.clone()));
        let interval = Duration::from_secs(o.interval.max(1).into());
        self.now = Instant::now();
        let now = self.now;
        let mut core = Nanny::new(monitor, now);
        // Spread over the interval (golden-ratio steps by id): no herd of probes at
        // start or after a reload. lvsd's start-up check has already admitted the
        // healthy servers, so a first probe up to one interval later loses nothing.
        let spread = (u64::from(id).wrapping_mul(0x9E37_79B9) & 0xffff) as f64 / 65536.0;
        core.delay_first_probe(now + interval.mul_f64(spread));
        let trace = self.trace_for(&server, now);
        Ok(Slot {
            core,
            southbound,
            check: Arc::new(check),
            load_argv: load_argv.map(Arc::new),
            interval,
            server,
            probe: Probe::Idle,
            generation: 0,
            last_report: None,
            timer: None,
            trace,
        })
    }

    fn shared_ipvs(&mut self) -> Result<&SharedIpvs, SouthboundError> {
        if self.ipvs.is_none() {
            let ipvs = ipvs::Ipvs::open()
                .map_err(|e| SouthboundError::Unreachable(format!("cannot reach IPVS: {e}")))?;
            self.ipvs = Some(std::rc::Rc::new(std::cell::RefCell::new(ipvs)));
        }
        Ok(self.ipvs.as_ref().expect("opened above"))
    }

    /// A destination already in IPVS is adopted, as nanny does at start.
    fn adopt(&mut self, id: u32) {
        let Some(s) = self.slots.get_mut(&id) else {
            return;
        };
        let existing = s.southbound.as_mut().and_then(|sb| sb.existing_weight());
        if let Some(w) = existing {
            self.dispatch(id, Event::Adopt(w));
        }
    }

    fn signal(&mut self, id: u32, signal: i32) {
        if signal == libc::SIGKILL {
            if let Some(mut s) = self.slots.remove(&id) {
                self.forget(&mut s);
                self.tell(Report::Exited {
                    id,
                    status: ExitStatus::Signal(libc::SIGKILL),
                });
            }
            return;
        }
        if self.slots.contains_key(&id) {
            self.dispatch(id, Event::Monitor(monitor::Event::of_signal(signal)));
        }
    }

    /// A monitor gone (its probe's socket closes with it, which takes it out of the poll).
    fn forget(&mut self, _s: &mut Slot) {
        self.stats.monitors.fetch_sub(1, Ordering::Relaxed);
    }

    /// Hands an event to a monitor and carries out what it decides, answers included.
    fn dispatch(&mut self, id: u32, event: Event) {
        let Some(s) = self.slots.get_mut(&id) else {
            return;
        };
        let actions = s.handle(event, self.now);
        self.carry_out(id, actions);
    }

    /// Carries out a monitor's actions in the daemons' one answer order
    /// (`daemon::driver::carry_out`, as a nanny process does), then reschedules it.
    fn carry_out(&mut self, id: u32, actions: Vec<Action>) {
        daemon::driver::carry_out(&mut OneMonitor { engine: self, id }, actions);
        self.reschedule(id);
    }

    /// One action; `Some` is the event that answers it at once.
    fn execute(&mut self, id: u32, action: Action) -> Option<Event> {
        match action {
            Action::Probe => self.start_probe(id),
            Action::Report(active) => {
                let s = self.slots.get_mut(&id)?;
                if s.last_report != Some(active) {
                    s.last_report = Some(active);
                    self.tell(Report::Status { id, active });
                }
                None
            }
            Action::Monitor(monitor::Action::Log(m)) => {
                info!("{m}");
                None
            }
            Action::Monitor(monitor::Action::Debug(m)) => {
                debug!("{m}");
                None
            }
            Action::Monitor(monitor::Action::Exit(code)) => {
                let mut s = self.slots.remove(&id)?;
                self.forget(&mut s);
                self.tell(Report::Exited {
                    id,
                    status: ExitStatus::Code(code.code()),
                });
                None
            }
            Action::Monitor(monitor::Action::QueryLoad) => {
                self.query_load(id);
                None
            }
            Action::Monitor(change) => {
                let s = self.slots.get_mut(&id)?;
                match s.southbound.as_mut().map(|sb| sb.apply(&change)) {
                    Some(Err(msg)) => {
                        info!("{msg}");
                        Some(Event::IpvsFailed)
                    }
                    _ => None,
                }
            }
        }
    }

    /// Starts the probe the core asked for; `Some` when it failed at once.
    fn start_probe(&mut self, id: u32) -> Option<Event> {
        let registry = self.poll.registry();
        let s = self.slots.get_mut(&id)?;
        s.generation += 1;
        self.stats.probes.fetch_add(1, Ordering::Relaxed);
        match &*s.check {
            Check::Net(p) => {
                let started = Exchange::start(p).and_then(|mut exchange| {
                    exchange
                        .register(p, registry, Token(id as usize))
                        .map_err(|e| format!("monitors: cannot watch a probe: {e}"))?;
                    Ok(exchange)
                });
                match started {
                    Ok(exchange) => {
                        s.probe = Probe::Net {
                            exchange,
                            deadline: self.now + p.timeout,
                        };
                        None
                    }
                    Err(msg) => {
                        info!("{msg}");
                        Some(Event::Probed { ok: false })
                    }
                }
            }
            Check::Program { .. } | Check::Broken => {
                let check = s.check.clone();
                let job = move || {
                    let outcome = check.run();
                    if let Err(msg) = &outcome {
                        info!("{msg}");
                    }
                    Event::Probed {
                        ok: outcome.is_ok(),
                    }
                };
                self.away(id, job)
            }
        }
    }

    /// The load query, on a thread of its own (as nanny's probe thread ran it).
    fn query_load(&mut self, id: u32) {
        let Some(s) = self.slots.get(&id) else { return };
        let (argv, interval, host) = (s.load_argv.clone(), s.interval, s.server.clone());
        let job = move || {
            let reading = argv.and_then(|argv| match crate::load::read_load(&argv, interval) {
                Ok(l) => {
                    debug!("Loadavg of {host} is {l}");
                    Some(l)
                }
                Err(msg) => {
                    info!("{msg}");
                    None
                }
            });
            Event::Monitor(monitor::Event::Load(reading))
        };
        if let Some(e) = self.away(id, job) {
            self.dispatch(id, e);
        }
    }

    /// Runs `job` on a thread; its event comes back through the answers channel.
    /// `Some` (a failed probe) if no thread could be started.
    fn away(&mut self, id: u32, job: impl FnOnce() -> Event + Send + 'static) -> Option<Event> {
        let s = self.slots.get_mut(&id)?;
        s.generation += 1;
        let generation = s.generation;
        let (tx, waker) = (self.answers_tx.clone(), self.waker.clone());
        let spawned = std::thread::Builder::new()
            .name("monitor-check".into())
            .stack_size(PROGRAM_STACK)
            .spawn(move || {
                let event = job();
                if tx.send((id, generation, event)).is_ok() {
                    let _ = waker.wake();
                }
            });
        match spawned {
            Ok(_) => {
                s.probe = Probe::Away;
                None
            }
            Err(e) => {
                info!("monitors: cannot start a check thread: {e}");
                Some(Event::Probed { ok: false })
            }
        }
    }

    /// A probe's socket is ready: on with the conversation.
    fn probe_ready(&mut self, id: u32, writable: bool, failed: bool) {
        let Some(s) = self.slots.get_mut(&id) else {
            return;
        };
        let (Probe::Net { exchange, .. }, Check::Net(p)) = (&mut s.probe, &*s.check) else {
            return;
        };
        if let Some(outcome) = exchange.advance(p, writable, failed) {
            self.probe_done(id, outcome);
        }
    }

    fn probe_done(&mut self, id: u32, outcome: crate::probe::Outcome) {
        let Some(s) = self.slots.get_mut(&id) else {
            return;
        };
        // Dropping the exchange closes its socket, which takes it out of the poll.
        s.probe = Probe::Idle;
        if let Err(msg) = &outcome {
            info!("{msg}");
        }
        self.dispatch(
            id,
            Event::Probed {
                ok: outcome.is_ok(),
            },
        );
    }

    /// Puts the monitor's next wake-up in the heap if it moved.
    fn reschedule(&mut self, id: u32) {
        let Some(s) = self.slots.get_mut(&id) else {
            return;
        };
        let at = s.wake_at(self.now);
        if s.timer != Some(at) {
            s.timer = Some(at);
            self.timers.push(Reverse((at, id)));
        }
    }

    /// Every wake-up that is due: probe deadlines, and the cores' timers with up to
    /// [`BATCH`] of slack, so that probes falling due close together start in one turn
    /// of the loop instead of one wake-up each.
    fn fire_timers(&mut self) {
        let now = self.now;
        let mut due = Vec::new();
        while let Some(&Reverse((at, id))) = self.timers.peek() {
            if at > now + BATCH {
                break;
            }
            self.timers.pop();
            if let Some(s) = self.slots.get_mut(&id).filter(|s| s.timer == Some(at)) {
                s.timer = None;
                due.push(id);
            }
        }
        for (n, id) in due.into_iter().enumerate() {
            if n % CLOCK_EVERY == CLOCK_EVERY - 1 {
                // A long batch: later probes start later than `now`, and are counted so.
                self.now = Instant::now();
            }
            let now = self.now;
            let Some(s) = self.slots.get(&id) else {
                continue;
            };
            let expired = match &s.probe {
                Probe::Net { exchange, deadline } if *deadline <= now => Some(exchange.timed_out()),
                _ => None,
            };
            if let Some(msg) = expired {
                self.probe_done(id, Err(msg));
            }
            self.tick(id, now);
        }
    }

    /// The core's timer, if due within the batch: a probe that starts now is `now - due`
    /// late (or early, by at most [`BATCH`]).
    fn tick(&mut self, id: u32, now: Instant) {
        let Some(s) = self.slots.get_mut(&id) else {
            return;
        };
        let due = s.core.next_deadline(now).unwrap_or_else(|| far(now));
        if due > now + BATCH {
            return self.reschedule(id);
        }
        let actions = s.core.handle(Event::Tick, due.max(now));
        if actions.contains(&Action::Probe) {
            let late = now.saturating_duration_since(due).as_micros() as u64;
            self.stats
                .worst_lateness_us
                .fetch_max(late, Ordering::Relaxed);
        }
        self.carry_out(id, actions);
    }
}
