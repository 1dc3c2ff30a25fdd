//! The fleet director's IO ([`FleetShell`] carries out [`Fleet`]'s actions): the
//! interface the routes hang on, the VIPs on loopback, the sysctls, the IPVS sync
//! daemons, lvsd, the kernel table survey, BIRD's control socket and the reports.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use daemon::driver::{Executor, Reply, Step};
use daemon::process;
use hostnet::ledger::Ledger;
use hostnet::tun::OwnedInterface;
use hostnet::Rtnl;
use log::{debug, info};

use super::bird::{self, Include, ReplyReader};
use super::status::host_prefix;
use super::{Action, Event, Fleet, Survey, Vip};
use crate::settings::TakeoverAddress;
use crate::shell::{
    add_addresses, links_of, receive_all, remove_recorded, run_sync_daemons, signal_of, Children,
};

/// How long one exchange with BIRD may take: pulse's loop waits for it.
const BIRD_TIMEOUT: Duration = Duration::from_millis(500);
/// Reports longer than this are cut on receipt (and refused).
const MAX_DATAGRAM: usize = super::report::MAX_REPORT + 1;

/// The sysctls a fleet director needs (docs/fleet.md, "What pulse sets up"): the VIP on
/// loopback is never answered for by ARP (the router reaches it by the BGP next hop), and
/// IPVS takes up a connection whose first packets went to another director.
const SYSCTLS: &[(&str, &str)] = &[
    ("net/ipv4/conf/all/arp_ignore", "1"),
    ("net/ipv4/conf/all/arp_announce", "2"),
    ("net/ipv4/vs/sloppy_tcp", "1"),
];

/// Where BIRD is and what pulse writes for it.
pub struct BirdPaths {
    pub socket: PathBuf,
    pub include: PathBuf,
}

pub struct FleetShell {
    pub(crate) socket: UdpSocket,
    others: Vec<SocketAddr>,
    vips: Vec<Vip>,
    children: Children,
    sync: Option<(String, u32)>,
    include: Include,
    paths: BirdPaths,
    bird: Option<UnixStream>,
    tie: Option<OwnedInterface>,
    rtnl: Option<Rtnl>,
    ipvs: Option<ipvs::Ipvs>,
    ledger: Ledger,
}

/// What the shell is built from.
pub struct Parts {
    pub settings: super::FleetSettings,
    pub port: u16,
    pub children: Children,
    pub sync: Option<(String, u32)>,
    pub include: Include,
    pub paths: BirdPaths,
    pub ledger: PathBuf,
}

impl FleetShell {
    pub fn new(p: Parts) -> io::Result<FleetShell> {
        let socket = UdpSocket::bind(SocketAddr::new(p.settings.own, p.port))?;
        socket.set_nonblocking(true)?;
        let own = p.settings.own;
        let others = p.settings.directors.iter().filter(|d| **d != own);
        Ok(FleetShell {
            socket,
            others: others.map(|d| SocketAddr::new(*d, p.port)).collect(),
            vips: p.settings.vips,
            children: p.children,
            sync: p.sync,
            include: p.include,
            paths: p.paths,
            bird: None,
            tie: None,
            rtnl: Rtnl::open()
                .map_err(|e| info!("cannot open rtnetlink: {e}"))
                .ok(),
            ipvs: None,
            ledger: Ledger::load(&p.ledger),
        })
    }

    /// The reports waiting on the heartbeat socket, as events.
    pub fn receive(&self) -> Vec<Event> {
        let datagrams = receive_all::<MAX_DATAGRAM>(&self.socket).into_iter();
        datagrams
            .map(|(from, bytes)| Event::Report { from, bytes })
            .collect()
    }

    fn set_up(&mut self) {
        for (key, value) in SYSCTLS {
            if let Err(e) = write_sysctl(key, value) {
                info!("cannot set {key} = {value}: {e}");
            }
        }
        match OwnedInterface::create(bird::TIE_INTERFACE) {
            Ok(t) => self.tie = Some(t),
            Err(e) => info!(
                "cannot create {}: {e}; BIRD will not announce the VIPs",
                bird::TIE_INTERFACE
            ),
        }
        self.remove_vips();
        self.add_vips();
        self.sync_daemons(true);
    }

    fn tear_down(&mut self) {
        self.remove_vips();
        self.sync_daemons(false);
        // Dropping it removes the interface; BIRD's routes through it go with it.
        self.tie = None;
    }

    /// The sync daemon as master and as backup at once, same syncid on every director
    /// (docs/fleet.md, "Connection state"); `run` false: both stopped.
    fn sync_daemons(&mut self, run: bool) {
        let Some((iface, id)) = &self.sync else {
            return;
        };
        let both = [ipvs::SyncState::Master, ipvs::SyncState::Backup];
        run_sync_daemons(iface, *id, if run { &both } else { &[] });
    }

    /// Each VIP as a host address on loopback (pulse's shared address code: recorded in
    /// the ledger, one already there left alone).
    fn add_vips(&mut self) {
        let links = links_of(self.rtnl.as_mut());
        let on_lo: Vec<TakeoverAddress> = self.vips.iter().map(|v| on_loopback(v.addr)).collect();
        if let Some(rtnl) = self.rtnl.as_mut() {
            add_addresses(rtnl, &mut self.ledger, &links, &on_lo);
        }
    }

    /// The addresses the ledger says pulse added (this run's, or a crashed one's).
    fn remove_vips(&mut self) {
        let links = links_of(self.rtnl.as_mut());
        remove_recorded(self.rtnl.as_mut(), &mut self.ledger, &links);
    }

    fn start_lvsd(&mut self) -> Step<Event> {
        Step::Answer(match self.children.spawn(self.children.lvsd_argv()) {
            Ok(pid) => Event::LvsdStarted { pid },
            Err(e) => Event::LvsdFailedToStart {
                reason: format!("cannot start {e}"),
            },
        })
    }

    /// The kernel table's fleet services, their available real servers and the
    /// connections this director scheduled,
    /// and the VIPs' interfaces that are down.
    fn survey(&mut self) -> Survey {
        let mut s = Survey::default();
        let keys: Vec<ipvs::ServiceKey> = self
            .vips
            .iter()
            .flat_map(|v| v.services.iter().copied())
            .collect();
        if let Err(e) = self.read_table(&keys, &mut s) {
            debug!("cannot read the IPVS table: {e}");
            self.ipvs = None;
        }
        let links = links_of(self.rtnl.as_mut());
        for v in &self.vips {
            let up = links.iter().any(|l| l.name == v.device && l.is_up());
            if !up && !s.links_down.contains(&v.device) {
                s.links_down.push(v.device.clone());
            }
        }
        s
    }

    fn read_table(&mut self, keys: &[ipvs::ServiceKey], s: &mut Survey) -> ipvs::Result<()> {
        if self.ipvs.is_none() {
            self.ipvs = Some(ipvs::Ipvs::open()?);
        }
        let Some(ipvs) = self.ipvs.as_mut() else {
            return Ok(());
        };
        let present = ipvs.services()?;
        for key in keys {
            let Some(e) = present.iter().find(|e| e.service.key == *key) else {
                continue;
            };
            let dests = ipvs.destinations(key)?;
            let up = dests.iter().filter(|d| d.dest.weight > 0).count() as u32;
            s.available.push((*key, up));
            // Not the table's entries: those include what the other directors synced.
            s.connections += e.stats.conns;
            s.connections_per_second += e.stats.cps;
        }
        Ok(())
    }

    /// Tells BIRD: the include file first (so that a later `birdc configure` keeps it),
    /// then, after a reconnect, `configure`, then one enable/disable per VIP.
    fn bird(&mut self, vips: &[(IpAddr, bool)], reconnect: bool) -> Result<(), String> {
        self.write_include(vips)
            .map_err(|e| format!("cannot write {}: {e}", self.paths.include.display()))?;
        if reconnect || self.bird.is_none() {
            self.bird = None;
            let mut c = connect(&self.paths.socket)?;
            exchange(&mut c, bird::CONFIGURE)?;
            self.bird = Some(c);
        }
        let Some(c) = self.bird.as_mut() else {
            return Err("not connected".into());
        };
        for (vip, on) in vips {
            if let Err(e) = exchange(c, &bird::switch_command(*vip, *on)) {
                self.bird = None;
                return Err(e);
            }
        }
        Ok(())
    }

    fn write_include(&self, vips: &[(IpAddr, bool)]) -> io::Result<()> {
        if let Some(dir) = self.paths.include.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let text = self.include.render(vips);
        daemon::files::write_atomic(&self.paths.include, text.as_bytes(), 0o644)
    }

    fn send_report(&self, bytes: &[u8]) {
        for to in &self.others {
            if let Err(e) = self.socket.send_to(bytes, to) {
                debug!("cannot send the fleet report to {to}: {e}");
            }
        }
    }
}

/// A VIP as a host address on loopback.
fn on_loopback(vip: IpAddr) -> TakeoverAddress {
    TakeoverAddress {
        addr: vip,
        prefix: host_prefix(vip),
        device: "lo".into(),
    }
}

/// Writes one value under /proc/sys (an existing file: never created).
fn write_sysctl(key: &str, value: &str) -> io::Result<()> {
    let path = format!("/proc/sys/{key}");
    let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
    f.write_all(value.as_bytes())
}

/// Connects to BIRD's control socket and reads its greeting.
fn connect(path: &std::path::Path) -> Result<UnixStream, String> {
    let shown = path.display();
    let mut c = UnixStream::connect(path).map_err(|e| format!("{shown}: {e}"))?;
    c.set_read_timeout(Some(BIRD_TIMEOUT))
        .and_then(|()| c.set_write_timeout(Some(BIRD_TIMEOUT)))
        .map_err(|e| format!("{shown}: {e}"))?;
    read_reply(&mut c).map_err(|e| format!("{shown}: {e}"))?;
    Ok(c)
}

/// Sends one command; its reply, or BIRD's error.
fn exchange(c: &mut UnixStream, command: &str) -> Result<bird::Reply, String> {
    c.write_all(command.as_bytes())
        .map_err(|e| format!("cannot send `{}`: {e}", command.trim()))?;
    let reply = read_reply(c)?;
    match reply.error() {
        Some(e) => Err(format!("`{}`: {e}", command.trim())),
        None => Ok(reply),
    }
}

fn read_reply(c: &mut UnixStream) -> Result<bird::Reply, String> {
    let mut reader = ReplyReader::default();
    let mut buf = [0u8; 4096];
    loop {
        let n = match c.read(&mut buf) {
            Ok(0) => return Err("BIRD closed the control socket".into()),
            Ok(n) => n,
            Err(e) => return Err(format!("no reply from BIRD: {e}")),
        };
        if let Some(reply) = reader.push(&buf[..n])? {
            return Ok(reply);
        }
    }
}

impl Executor<Fleet> for FleetShell {
    fn execute(&mut self, action: Action) -> Step<Event> {
        match action {
            Action::Log(text) => info!("{text}"),
            Action::Debug(text) => debug!("{text}"),
            Action::SetUp => self.set_up(),
            Action::TearDown => self.tear_down(),
            Action::StartLvsd => return self.start_lvsd(),
            Action::SignalLvsd { pid, signal } => process::signal(pid, signal_of(signal)),
            Action::Survey => return Step::Answer(Event::Surveyed(self.survey())),
            Action::Bird { vips, reconnect } => {
                return Step::Answer(Event::Bird(self.bird(&vips, reconnect)))
            }
            Action::SendReport(bytes) => self.send_report(&bytes),
            Action::Answer { client, answer } => return Step::Reply(Reply { client, answer }),
            Action::AnswerStatus { client, status } => {
                let answer = daemon::control::status(&status);
                return Step::Reply(Reply { client, answer });
            }
            Action::Exit(code) => return Step::Exit(code.code()),
        }
        Step::Done
    }
}
