//! pulse as a fleet director (docs/fleet.md): every director active, the router choosing
//! among them by the routes each announces through BIRD. sans-IO: [`Fleet`] takes
//! events and time and returns actions; [`shell::FleetShell`] carries them out.
//!
//! * [`bird`]: the include file, BIRD's control commands and replies, pure.
//! * [`report`]: the datagram the directors hear each other by (status only), pure.
//! * [`shell`], [`sources`]: the IO, and what pulse listens to as events.
//!
//! The one decision: a VIP is announced exactly while this director can serve it (lvsd
//! running, the VIP's interface up, every announced virtual service on it in the kernel
//! with an available real server), and never while pulse stops. Nothing heard from the
//! other directors changes it: the router decides by the announcements.

pub mod bird;
pub mod report;
pub mod shell;
pub mod sources;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use daemon::control::{ClientId, Request};
use daemon::process::ExitStatus;
use daemon::process::{Backoff, Decision};
use daemon::timer::TimerTable;
use ipvs::ServiceKey;

use crate::machine::{ChildSignal, Exit};
use report::{Report, Signer};

/// How often pulse looks at the kernel table, the links and lvsd.
pub const SURVEY_EVERY: Duration = Duration::from_millis(100);
/// After withdrawing at a clean stop, how long the VIPs and lvsd stay, so that the
/// router has moved the flows away before this director stops forwarding.
pub const DRAIN: Duration = Duration::from_millis(1000);
/// BIRD retries: from the first delay, doubled up to the longest.
const BIRD_RETRY_FIRST: Duration = Duration::from_millis(250);
const BIRD_RETRY_MAX: Duration = Duration::from_secs(5);

/// One VIP and what it takes to serve it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vip {
    pub addr: IpAddr,
    /// The interface lvs.cf names for it (`eth0:1` read as `eth0`): where its traffic
    /// arrives.
    pub device: String,
    pub services: Vec<ServiceKey>,
}

/// lvs.cf worked out for a fleet director.
#[derive(Debug, Clone)]
pub struct FleetSettings {
    pub own: IpAddr,
    /// Every director, in file order, this one included.
    pub directors: Vec<IpAddr>,
    pub vips: Vec<Vip>,
    pub keepalive: Duration,
    pub deadtime: Duration,
    pub signer: Option<Signer>,
    pub auth: String,
    /// `--test-start`: set nothing up, start no lvsd, tell BIRD nothing.
    pub test_start: bool,
}

impl FleetSettings {
    /// `None` when lvs.cf names none of this host's addresses as a director.
    pub fn new(c: &lvscf::Config, local: &[IpAddr]) -> Option<FleetSettings> {
        let own = c.fleet.this_director(local)?;
        let mut vips: Vec<Vip> = Vec::new();
        for vs in c.announced_virtuals() {
            let (Some(a), Some(key)) = (&vs.address, vs.service_key()) else {
                continue;
            };
            match vips.iter_mut().find(|v| v.addr == a.addr()) {
                Some(v) => v.services.push(key),
                None => vips.push(Vip {
                    addr: a.addr(),
                    device: a.device.split(':').next().unwrap_or("").to_string(),
                    services: vec![key],
                }),
            }
        }
        Some(FleetSettings {
            own,
            directors: c.fleet.directors.iter().map(|h| h.addr).collect(),
            vips,
            keepalive: c.keepalive,
            deadtime: c.deadtime,
            signer: None,
            auth: c.heartbeat_auth.to_string(),
            test_start: false,
        })
    }
}

/// What the shell found on one look.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Survey {
    /// Each fleet service in the kernel table, with its real servers of weight > 0.
    pub available: Vec<(ServiceKey, u32)>,
    /// The VIPs' interfaces that are down (or missing).
    pub links_down: Vec<String>,
    /// Connections this director scheduled for the fleet's services (the kernel's
    /// counter: those it learned from the sync daemon are not counted).
    pub connections: u64,
    /// The kernel's estimate of new connections per second, the same way.
    #[serde(default)]
    pub connections_per_second: u64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Event {
    Start,
    Tick,
    /// The answer to [`Action::Survey`].
    Surveyed(Survey),
    /// The answer to [`Action::Bird`]: BIRD took it, or why not.
    Bird(Result<(), String>),
    LvsdStarted {
        pid: u32,
    },
    LvsdFailedToStart {
        reason: String,
    },
    ChildExited {
        pid: u32,
        status: ExitStatus,
    },
    /// A datagram on the heartbeat port.
    Report {
        from: IpAddr,
        bytes: Vec<u8>,
    },
    Hangup,
    Terminate(i32),
    Control(Request),
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Action {
    Log(String),
    Debug(String),
    /// The interface the routes hang on, the VIPs on loopback, the ARP and IPVS
    /// settings, the sync daemons (docs/fleet.md, "What pulse sets up").
    SetUp,
    /// The VIPs removed, the sync daemons stopped, the interface dropped.
    TearDown,
    StartLvsd,
    SignalLvsd {
        pid: u32,
        signal: ChildSignal,
    },
    Survey,
    /// Tell BIRD which VIPs to announce; `reconnect`: (re)connect first and have it
    /// read pulse's include file.
    Bird {
        vips: Vec<(IpAddr, bool)>,
        reconnect: bool,
    },
    /// To every other director.
    SendReport(Vec<u8>),
    Answer {
        client: ClientId,
        answer: serde_json::Value,
    },
    AnswerStatus {
        client: ClientId,
        status: Box<status_schema::PulseStatus>,
    },
    Exit(Exit),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    Survey,
    Report,
    BirdRetry,
    LvsdRestart,
    Drain,
}

/// Where pulse stands with BIRD.
#[derive(Debug, Clone, PartialEq)]
enum BirdLink {
    /// Not tried yet.
    Unknown,
    Connected,
    Down {
        reason: String,
        retry_at: Instant,
    },
}

/// What another director last said.
#[derive(Debug, Clone)]
struct Heard {
    at: Instant,
    report: Report,
}

pub struct Fleet {
    s: FleetSettings,
    timers: TimerTable<Timer>,
    lvsd: Option<u32>,
    lvsd_backoff: Backoff,
    bird: BirdLink,
    bird_delay: Duration,
    /// What BIRD holds, as far as pulse knows (`None`: it must be told everything).
    told: Option<Vec<(IpAddr, bool)>>,
    asked: Option<Vec<(IpAddr, bool)>>,
    last: Option<Survey>,
    peers: BTreeMap<IpAddr, Heard>,
    epoch: u64,
    seq: u64,
    stopping: bool,
}

mod decide;
mod status;

impl Fleet {
    pub fn new(s: FleetSettings, epoch: u64) -> Fleet {
        Fleet {
            s,
            timers: TimerTable::default(),
            lvsd: None,
            lvsd_backoff: lvsd_backoff(),
            bird: BirdLink::Unknown,
            bird_delay: BIRD_RETRY_FIRST,
            told: None,
            asked: None,
            last: None,
            peers: BTreeMap::new(),
            epoch,
            seq: 0,
            stopping: false,
        }
    }

    pub fn lvsd_pid(&self) -> Option<u32> {
        self.lvsd
    }
}

/// A fleet director never gives up on lvsd: while it cannot run, the director is simply
/// not announced. The first restart is quick (the table stays meanwhile).
fn lvsd_backoff() -> Backoff {
    let mut b = Backoff::default();
    b.max_deaths = usize::MAX;
    b.first_delay = Duration::from_millis(200);
    b.max_delay = Duration::from_secs(10);
    b
}

impl daemon::driver::Core for Fleet {
    type Event = Event;
    type Action = Action;

    fn handle(&mut self, event: Event, now: Instant) -> Vec<Action> {
        match event {
            Event::Start => self.start(now),
            Event::Tick => self.tick(now),
            Event::Surveyed(s) => self.surveyed(s, now),
            Event::Bird(result) => self.bird_answered(result, now),
            Event::LvsdStarted { pid } => {
                self.lvsd = Some(pid);
                Vec::new()
            }
            Event::LvsdFailedToStart { reason } => self.lvsd_gone(&reason, now),
            Event::ChildExited { pid, status } if Some(pid) == self.lvsd => {
                self.lvsd = None;
                self.lvsd_gone(&format!("lvsd (pid {pid}) exited with {status}"), now)
            }
            Event::ChildExited { .. } => Vec::new(),
            Event::Report { from, bytes } => self.heard(from, &bytes, now),
            Event::Hangup => self.hangup(),
            Event::Terminate(sig) => self.terminate(sig, now),
            Event::Control(req) => self.control(req, now),
        }
    }

    fn next_deadline(&self, _: Instant) -> Option<Instant> {
        self.timers.next()
    }
}
