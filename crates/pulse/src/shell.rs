//! pulse's IO: carries the state machine's actions out ([`Shell`] is the driver's
//! executor): the heartbeat sockets, the takeover addresses (rtnetlink, recorded in the
//! ledger), the announcements (packet socket), lvsd, `active_cmd`/`inactive_cmd`, and the
//! IPVS connection sync daemon.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use daemon::driver::{Executor, Reply, Step};
use daemon::process::{self, ExitStatus, Spawn};
use daemon::worker::Worker;
use hostnet::ledger::{Entry, Ledger};
use hostnet::monitor::LinkMonitor;
use hostnet::packet_socket::PacketSender;
use hostnet::{Address, ArpFrame, Link, NeighbourAdvert, Rtnl};
use log::{debug, info};
use nix::sys::signal::Signal;

use crate::machine::{
    Action, Channel, ChildSignal, Connectivity, Event, FosRole, Pulse, SyncState,
};
use crate::settings::{Settings, TakeoverAddress};
use crate::sync::{Outcome, Push};

/// How long `active_cmd`/`inactive_cmd` may run before they are killed (legacy: forever).
pub const COMMAND_LIMIT: Duration = Duration::from_secs(30);
/// Datagrams longer than this are cut (the legacy heartbeat is 4 bytes, ours 52).
const MAX_DATAGRAM: usize = 128;

/// How pulse starts lvsd and fos (docs/legacy.md "pulse activation", "fos").
#[derive(Debug, Clone)]
pub struct Children {
    pub lvsd: String,
    pub fos: String,
    pub config: String,
    pub nodaemon: bool,
    pub verbose: bool,
    /// Where their pid files go (`--pidfile=`) when pulse itself runs with a
    /// non-default pid file: beside it.
    pub pid_dir: Option<PathBuf>,
    /// Pulse's control socket, told to lvsd in its environment.
    pub pulse_socket: PathBuf,
}

impl Children {
    /// `lvsd --nofork -c FILE` (daemon) or `lvsd --nodaemon -c FILE`, `-v` appended.
    pub(crate) fn lvsd_argv(&self) -> Vec<String> {
        let mut argv = vec![self.lvsd.clone(), self.fork_flag(), "-c".into()];
        argv.push(self.config.clone());
        self.append_common(&mut argv, "lvs.pid");
        argv
    }

    /// `fos --active|--monitor -c FILE --nofork|--nodaemon`, `-v` appended.
    pub(crate) fn fos_argv(&self, role: FosRole) -> Vec<String> {
        let mode = match role {
            FosRole::Active => "--active",
            FosRole::Monitor => "--monitor",
        };
        let mut argv = vec![self.fos.clone(), mode.into(), "-c".into()];
        argv.extend([self.config.clone(), self.fork_flag()]);
        self.append_common(&mut argv, "fos.pid");
        argv
    }

    fn fork_flag(&self) -> String {
        if self.nodaemon {
            "--nodaemon"
        } else {
            "--nofork"
        }
        .into()
    }

    fn append_common(&self, argv: &mut Vec<String>, pid_file: &str) {
        if self.verbose {
            argv.push("-v".into());
        }
        if let Some(d) = &self.pid_dir {
            argv.push(format!("--pidfile={}", d.join(pid_file).display()));
        }
    }

    /// lvsd's pid file: beside pulse's, or the legacy one.
    pub(crate) fn lvsd_pid_path(&self) -> PathBuf {
        match &self.pid_dir {
            Some(d) => d.join("lvs.pid"),
            None => PathBuf::from(daemon::pidfile::LVSD),
        }
    }

    fn env(&self) -> Vec<(String, String)> {
        vec![(
            status_view::http::PULSE_SOCKET_ENV.to_string(),
            self.pulse_socket.display().to_string(),
        )]
    }

    /// Starts one of pulse's children (lvsd, fos) with pulse's socket in its
    /// environment: its pid, or why not (`PROGRAM: error`).
    pub(crate) fn spawn(&self, argv: Vec<String>) -> Result<u32, String> {
        debug!("DEBUG -- Executing '{}'", argv.join(" "));
        let program = argv[0].clone();
        let env = self.env();
        process::spawn(&Spawn {
            argv,
            env,
            ..Spawn::default()
        })
        .map_err(|e| format!("{program}: {e}"))
    }
}

/// One heartbeat channel: our socket and the partner's address on it.
pub struct HeartbeatChannel {
    pub channel: Channel,
    pub socket: UdpSocket,
    pub partner: Option<SocketAddr>,
}

/// Binds the heartbeat sockets: the public one, and the private one when configured
/// (legacy: no SO_REUSEADDR, so a second pulse on the same address fails).
pub fn bind_channels(s: &Settings) -> io::Result<Vec<HeartbeatChannel>> {
    let mut out = Vec::new();
    for (channel, own, partner) in [
        (Channel::Public, Some(s.own_public), s.partner_public),
        (Channel::Private, s.own_private, s.partner_private),
    ] {
        let Some(own) = own else { continue };
        let socket = UdpSocket::bind(SocketAddr::new(own, s.port))?;
        socket.set_nonblocking(true)?;
        out.push(HeartbeatChannel {
            channel,
            socket,
            partner: partner.map(|p| SocketAddr::new(p, s.port)),
        });
    }
    Ok(out)
}

/// A running `active_cmd`/`inactive_cmd`.
struct Command {
    name: &'static str,
    text: String,
    deadline: Instant,
}

pub struct Shell {
    channels: Vec<HeartbeatChannel>,
    takeover: Vec<TakeoverAddress>,
    active_cmd: Option<Vec<String>>,
    inactive_cmd: Option<Vec<String>>,
    sync_daemon: Option<(String, u8)>,
    services: Vec<ipvs::ServiceKey>,
    children: Children,
    /// This director's public heartbeat address (its family picks the gateway checked).
    own_public: IpAddr,
    /// fos mode: the connectivity checks, on a thread of their own.
    gateway: Option<Worker<IpAddr, Connectivity>>,
    rtnl: Option<Rtnl>,
    packets: Option<PacketSender>,
    ledger: Ledger,
    commands: HashMap<u32, Command>,
    /// The interfaces holding our heartbeat addresses (public, private) and their state.
    watched: (Option<u32>, Option<u32>),
    link_up: HashMap<u32, bool>,
    /// Configuration sync: what to push where (none without a partner), and the worker
    /// thread that pushes (a slow partner never holds up the heartbeat).
    push: Option<Push>,
    pusher: Option<Worker<Push, Outcome>>,
}

impl Shell {
    pub fn new(
        s: &Settings,
        channels: Vec<HeartbeatChannel>,
        children: Children,
        ledger_path: PathBuf,
    ) -> Shell {
        let gateway = (s.mode == lvscf::ServiceType::Fos)
            .then(|| Worker::start("gateway-check", 256 * 1024, check_connectivity))
            .and_then(|w| {
                w.map_err(|e| info!("cannot start the gateway check: {e}"))
                    .ok()
            });
        let rtnl = Rtnl::open()
            .map_err(|e| info!("cannot open rtnetlink: {e}"))
            .ok();
        let packets = PacketSender::open()
            .map_err(|e| info!("cannot open a packet socket for announcements: {e}"))
            .ok();
        Shell {
            channels,
            takeover: s.takeover.clone(),
            active_cmd: s.active_cmd.clone(),
            inactive_cmd: s.inactive_cmd.clone(),
            sync_daemon: s.sync_daemon.clone(),
            services: s.services.clone(),
            children,
            own_public: s.own_public,
            gateway,
            rtnl,
            packets,
            ledger: Ledger::load(&ledger_path),
            push: None,
            pusher: None,
            commands: HashMap::new(),
            watched: (None, None),
            link_up: HashMap::new(),
        }
    }

    pub fn channels(&self) -> &[HeartbeatChannel] {
        &self.channels
    }

    /// Removes the addresses an earlier pulse added and did not remove (it crashed).
    pub(crate) fn remove_leftovers(&mut self) {
        for e in self.ledger.entries() {
            info!(
                "removing {}/{} on {}, left by an earlier pulse",
                e.addr, e.prefix, e.device
            );
        }
        self.remove_addresses();
    }

    /// The datagrams waiting on one channel, as events.
    pub fn receive(&self, index: usize) -> Vec<Event> {
        let Some(c) = self.channels.get(index) else {
            return Vec::new();
        };
        let datagrams = receive_all::<MAX_DATAGRAM>(&c.socket).into_iter();
        datagrams
            .map(|(from, bytes)| Event::Datagram {
                from,
                channel: c.channel,
                bytes,
            })
            .collect()
    }

    /// Children reaped: our commands are logged here; the rest go to the state machine.
    pub fn reaped(&mut self, reaped: Vec<(u32, ExitStatus)>) -> Vec<Event> {
        reaped
            .into_iter()
            .filter_map(|(pid, status)| match self.commands.remove(&pid) {
                Some(c) => {
                    let line =
                        format!("{} `{}` (pid {pid}) finished with {status}", c.name, c.text);
                    if status.success() {
                        debug!("{line}");
                    } else {
                        info!("{line}");
                    }
                    None
                }
                None => Some(Event::ChildExited { pid, status }),
            })
            .collect()
    }

    /// The `active_cmd`/`inactive_cmd` children still running.
    pub(crate) fn command_pids(&self) -> impl Iterator<Item = u32> + '_ {
        self.commands.keys().copied()
    }

    /// When a command must next be checked for its time limit.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.commands.values().map(|c| c.deadline).min()
    }

    /// Kills commands past their time limit.
    pub(crate) fn enforce_limits(&mut self, now: Instant) {
        for (pid, c) in self.commands.iter_mut().filter(|(_, c)| c.deadline <= now) {
            info!(
                "{} `{}` (pid {pid}) did not finish within {} s; killing it",
                c.name,
                c.text,
                COMMAND_LIMIT.as_secs()
            );
            process::signal(*pid, Signal::SIGKILL);
            c.deadline = now + COMMAND_LIMIT;
        }
    }

    /// Finds the interfaces holding our heartbeat addresses, for link monitoring.
    pub(crate) fn watch_links(&mut self, s: &Settings) {
        let Some(rtnl) = self.rtnl.as_mut() else {
            return;
        };
        let addrs = rtnl.addresses().unwrap_or_default();
        let holder = |ip: IpAddr| addrs.iter().find(|a| a.addr == ip).map(|a| a.ifindex);
        self.watched = (holder(s.own_public), s.own_private.and_then(holder));
        for l in self.links() {
            self.link_up.insert(l.index, l.is_up());
        }
    }

    /// The state of the watched links after these changes.
    pub(crate) fn link_event(&mut self, changes: Vec<Link>) -> Event {
        for l in changes {
            self.link_up.insert(l.index, l.is_up());
        }
        let up = |i: Option<u32>| i.map_or(true, |i| self.link_up.get(&i).copied().unwrap_or(true));
        Event::Links {
            public_up: up(self.watched.0),
            private_up: up(self.watched.1),
        }
    }

    /// After lost link events: every link afresh.
    pub(crate) fn relist_links(&mut self) -> Event {
        let links = self.links();
        self.link_event(links)
    }

    fn send(&self, bytes: &[u8]) {
        for c in &self.channels {
            let Some(to) = c.partner else { continue };
            if let Err(e) = c.socket.send_to(bytes, to) {
                let which = match c.channel {
                    Channel::Public => "public",
                    Channel::Private => "private",
                };
                debug!("Warning -- failed to send heartbeat ({which} if): {e}");
            }
        }
    }

    fn run_command(&mut self, name: &'static str, argv: Option<Vec<String>>) {
        let Some(argv) = argv.filter(|a| !a.is_empty()) else {
            return;
        };
        let text = argv.join(" ");
        debug!("DEBUG -- Executing '{text}'");
        match process::spawn(&Spawn {
            argv,
            ..Spawn::default()
        }) {
            Ok(pid) => {
                self.commands.insert(
                    pid,
                    Command {
                        name,
                        text,
                        deadline: Instant::now() + COMMAND_LIMIT,
                    },
                );
            }
            Err(e) => info!("cannot run {name} `{text}`: {e}"),
        }
    }

    /// Starts lvsd or fos; the machine hears how it went.
    fn start_child(&mut self, argv: Vec<String>) -> Step<Event> {
        Step::Answer(match self.children.spawn(argv) {
            Ok(pid) => Event::ChildStarted { pid },
            Err(reason) => Event::ChildFailedToStart { reason },
        })
    }

    /// The file descriptor that is readable when a connectivity check has finished.
    pub(crate) fn gateway_fd(&self) -> Option<&std::fs::File> {
        self.gateway.as_ref().map(Worker::done_fd)
    }

    /// The connectivity checks that finished, as events.
    pub fn checked(&self) -> Vec<Event> {
        self.gateway
            .as_ref()
            .map(Worker::finished)
            .unwrap_or_default()
            .into_iter()
            .map(Event::Connectivity)
            .collect()
    }

    fn check_connectivity(&mut self) -> Step<Event> {
        match &self.gateway {
            // The heartbeat's family says which default route matters.
            Some(w) => w.submit(self.own_public),
            None => {
                return Step::Answer(Event::Connectivity(Connectivity::Unknown(
                    "the check could not be started".into(),
                )))
            }
        }
        Step::Done
    }

    fn sync_daemon(&mut self, state: SyncState) {
        if let Some((iface, id)) = self.sync_daemon.clone() {
            run_sync_daemons(&iface, u32::from(id), &[state]);
        }
    }

    /// Whether every service lvs.cf names is in IPVS (lvsd has created them).
    fn services_ready(&mut self) -> bool {
        let present = match ipvs::Ipvs::open().and_then(|mut i| i.services()) {
            Ok(list) => list,
            Err(e) => {
                info!("cannot list IPVS services: {e}");
                return false;
            }
        };
        self.services
            .iter()
            .all(|k| present.iter().any(|s| s.service.key == *k))
    }

    /// The kernel's interfaces, listed once per action rather than once per address:
    /// activation is on the failover's critical path.
    fn links(&mut self) -> Vec<Link> {
        links_of(self.rtnl.as_mut())
    }

    /// Brings each takeover address up (see [`add_addresses`]).
    fn add_addresses(&mut self) {
        let links = self.links();
        if let Some(rtnl) = self.rtnl.as_mut() {
            add_addresses(rtnl, &mut self.ledger, &links, &self.takeover);
        }
    }

    /// Removes the takeover addresses this pulse added (as its ledger says).
    fn remove_addresses(&mut self) {
        let links = self.links();
        remove_recorded(self.rtnl.as_mut(), &mut self.ledger, &links);
    }

    /// One round of announcements: a gratuitous ARP per IPv4 address, an unsolicited
    /// neighbour advertisement per IPv6 one, out of its interface.
    fn announce(&mut self) {
        let links = self.links();
        for t in &self.takeover {
            let Some(link) = link_named(&links, t.base_device()) else {
                continue;
            };
            let Some(mac) = link.mac else {
                debug!("{} has no MAC address; nothing to announce", link.name);
                continue;
            };
            let frame: Vec<u8> = match t.addr {
                IpAddr::V4(v4) => ArpFrame::gratuitous(mac, v4).encode().to_vec(),
                IpAddr::V6(v6) => NeighbourAdvert::unsolicited(mac, v6).encode().to_vec(),
            };
            debug!("DEBUG -- announcing {} on {} as {}", t.addr, link.name, mac);
            if let Some(p) = &self.packets {
                if let Err(e) = p.send(link.index, &frame) {
                    info!("cannot announce {} on {}: {e}", t.addr, link.name);
                }
            }
        }
    }
}

/// The IPVS sync daemons: both stopped, then those of `states` started (as legacy: a
/// pair's director runs one, a fleet's both; stopping one not running fails harmlessly).
pub(crate) fn run_sync_daemons(iface: &str, id: u32, states: &[SyncState]) {
    let mut ipvs = match ipvs::Ipvs::open() {
        Ok(i) => i,
        Err(e) => return info!("cannot reach IPVS for the sync daemon: {e}"),
    };
    let _ = ipvs.stop_sync_daemon(SyncState::Backup);
    let _ = ipvs.stop_sync_daemon(SyncState::Master);
    for state in states {
        debug!("DEBUG -- Executing 'ipvsadm --start-daemon {state:?} --mcast-interface {iface} --syncid {id}'");
        if let Err(e) = ipvs.start_sync_daemon(&ipvs::SyncDaemon::new(*state, iface, id)) {
            info!("cannot start the {state:?} sync daemon on {iface}: {e}");
        }
    }
}

/// The kernel's interfaces (none, said once, when they cannot be listed).
pub(crate) fn links_of(rtnl: Option<&mut Rtnl>) -> Vec<Link> {
    match rtnl.map(Rtnl::links) {
        Some(Ok(links)) => links,
        Some(Err(e)) => {
            info!("cannot list interfaces: {e}");
            Vec::new()
        }
        None => Vec::new(),
    }
}

/// Brings each address of `wanted` up; one already present is left alone (and not
/// recorded: it is not ours to remove). The ledger is written once, before the
/// addresses are added, so a crash right after adding still finds them.
pub(crate) fn add_addresses(
    rtnl: &mut Rtnl,
    ledger: &mut Ledger,
    links: &[Link],
    wanted: &[TakeoverAddress],
) {
    let present = rtnl.addresses().unwrap_or_default();
    let new: Vec<(&TakeoverAddress, Address)> = wanted
        .iter()
        .filter_map(|t| Some((t, address_of(links, t)?)))
        .filter(|(_, a)| !present.iter().any(|x| x.same_place(a)))
        .collect();
    if let Err(e) = ledger.record(new.iter().map(|(t, _)| entry_of(t))) {
        info!("cannot record the addresses in the address ledger: {e}");
    }
    let mut failed = Vec::new();
    for (t, a) in &new {
        debug!("DEBUG -- adding {}/{} on {}", t.addr, t.prefix, t.device);
        if let Err(e) = rtnl.add(a) {
            info!("cannot add {}/{} on {}: {e}", t.addr, t.prefix, t.device);
            failed.push(entry_of(t));
        }
    }
    if let Err(e) = ledger.forget(&failed) {
        info!("cannot update the address ledger: {e}");
    }
}

/// Removes the addresses the ledger records (this pulse's, or a crashed one's).
pub(crate) fn remove_recorded(mut rtnl: Option<&mut Rtnl>, ledger: &mut Ledger, links: &[Link]) {
    let ours: Vec<Entry> = ledger.entries().to_vec();
    let gone: Vec<Entry> = ours
        .into_iter()
        .filter(|e| remove_entry(rtnl.as_deref_mut(), links, e))
        .collect();
    if let Err(err) = ledger.forget(&gone) {
        info!("cannot update the address ledger: {err}");
    }
}

/// Removes one recorded address; whether it is gone (or its interface is).
fn remove_entry(rtnl: Option<&mut Rtnl>, links: &[Link], e: &Entry) -> bool {
    let t = TakeoverAddress {
        addr: e.addr,
        prefix: e.prefix,
        device: e.label.clone().unwrap_or_else(|| e.device.clone()),
    };
    let (Some(a), Some(rtnl)) = (address_of(links, &t), rtnl) else {
        return true;
    };
    debug!(
        "DEBUG -- removing {}/{} from {}",
        e.addr, e.prefix, t.device
    );
    match rtnl.remove(&a) {
        Ok(()) => true,
        // Already gone.
        Err(err)
            if matches!(
                err.errno(),
                Some(libc::EADDRNOTAVAIL | libc::ENOENT | libc::ESRCH)
            ) =>
        {
            true
        }
        Err(err) => {
            info!(
                "cannot remove {}/{} from {}: {err}",
                e.addr, e.prefix, t.device
            );
            false
        }
    }
}

/// Every datagram waiting on a non-blocking socket, each cut to `MAX` bytes, with its
/// sender.
pub(crate) fn receive_all<const MAX: usize>(socket: &UdpSocket) -> Vec<(IpAddr, Vec<u8>)> {
    let mut out = Vec::new();
    let mut buf = [0u8; MAX];
    loop {
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => out.push((from.ip(), buf[..n].to_vec())),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return out,
            // Legacy ignored ECONNREFUSED (an ICMP port unreachable from the partner).
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => continue,
            Err(e) => {
                info!("recvfrom() failed: {e}");
                return out;
            }
        }
    }
}

/// The signal sent to a child for the state machine's word.
pub(crate) fn signal_of(s: ChildSignal) -> Signal {
    match s {
        ChildSignal::Term => Signal::SIGTERM,
        ChildSignal::Kill => Signal::SIGKILL,
        ChildSignal::Hup => Signal::SIGHUP,
    }
}

/// Tries of the gateway check, each waiting this long for an answer (legacy: `ping -c 1
/// -w 1`, up to three times).
const GATEWAY_TRIES: u16 = 3;
const GATEWAY_WAIT: Duration = Duration::from_secs(1);

/// The connectivity check, on the worker thread: the default gateway for the family of
/// `like`, then up to [`GATEWAY_TRIES`] echo requests to it.
fn check_connectivity(like: IpAddr) -> Connectivity {
    let gateway = match Rtnl::open().and_then(|mut r| r.default_gateway(like)) {
        Ok(Some(g)) => g,
        Ok(None) => return Connectivity::NoGateway,
        Err(e) => return Connectivity::Unknown(format!("cannot list routes: {e}")),
    };
    let ident = std::process::id() as u16;
    for seq in 1..=GATEWAY_TRIES {
        match hostnet::echo::ping(gateway, hostnet::echo::Echo { ident, seq }, GATEWAY_WAIT) {
            Ok(true) => return Connectivity::Reachable(gateway),
            Ok(false) => debug!("DEBUG -- gateway {gateway} did not answer echo request {seq}"),
            Err(e) => return Connectivity::Unknown(format!("cannot ping {gateway}: {e}")),
        }
    }
    Connectivity::Unreachable(gateway)
}

fn link_named<'a>(links: &'a [Link], name: &str) -> Option<&'a Link> {
    let link = links.iter().find(|l| l.name == name);
    if link.is_none() {
        info!("interface {name} does not exist");
    }
    link
}

/// The address to add for a takeover address, on its interface.
fn address_of(links: &[Link], t: &TakeoverAddress) -> Option<Address> {
    Some(Address {
        ifindex: link_named(links, t.base_device())?.index,
        addr: t.addr,
        prefix: t.prefix,
        broadcast: match t.addr {
            IpAddr::V4(v4) if t.prefix < 31 => Some(Address::legacy_broadcast(v4, t.prefix)),
            _ => None,
        },
        label: t.label().map(str::to_string),
    })
}

/// How the ledger records a takeover address.
fn entry_of(t: &TakeoverAddress) -> Entry {
    Entry {
        addr: t.addr,
        prefix: t.prefix,
        device: t.base_device().to_string(),
        label: t.label().map(str::to_string),
    }
}

impl Executor<Pulse> for Shell {
    fn execute(&mut self, action: Action) -> Step<Event> {
        match action {
            Action::Log(text) => info!("{text}"),
            Action::Debug(text) => debug!("{text}"),
            Action::Send(bytes) => self.send(&bytes),
            Action::RunActiveCmd => self.run_command("active_cmd", self.active_cmd.clone()),
            Action::RunInactiveCmd => self.run_command("inactive_cmd", self.inactive_cmd.clone()),
            Action::StartLvsd => return self.start_child(self.children.lvsd_argv()),
            Action::StartFos(role) => return self.start_child(self.children.fos_argv(role)),
            Action::CheckConnectivity => return self.check_connectivity(),
            Action::SignalChild { pid, signal } => process::signal(pid, signal_of(signal)),
            Action::SyncDaemon(state) => self.sync_daemon(state),
            Action::AddAddresses => self.add_addresses(),
            Action::RemoveAddresses => self.remove_addresses(),
            Action::Announce => self.announce(),
            Action::CheckServices => {
                return Step::Answer(Event::Services {
                    ready: self.services_ready(),
                })
            }
            Action::Push => self.start_push(),
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

impl Shell {
    /// Sets configuration sync up (docs/operations.md): the push of lvs.cf to the
    /// partner, on a worker thread whose "done" the event loop watches as `token`. `Err`
    /// when the thread cannot be started or watched.
    pub(crate) fn set_up_sync(
        &mut self,
        s: &Settings,
        config: &std::path::Path,
        events: &daemon::event_loop::EventLoop,
        token: usize,
    ) -> io::Result<()> {
        let receiver = std::env::current_exe()
            .map(|e| e.with_file_name("lvsctl"))
            .unwrap_or_else(|_| PathBuf::from("/usr/sbin/lvsctl"));
        self.push = s.partner_public.map(|partner| Push {
            rsh_command: s.rsh_command.clone(),
            partner,
            config: config.to_path_buf(),
            receiver,
        });
        let worker = Worker::start("config-sync", 256 * 1024, |p: Push| crate::sync::push(&p))?;
        events.register(worker.done_fd(), token)?;
        self.pusher = Some(worker);
        Ok(())
    }

    fn start_push(&mut self) {
        if let (Some(p), Some(w)) = (&self.push, &self.pusher) {
            w.submit(p.clone());
        }
    }

    /// The pushes that ended, as the state machine's events.
    pub fn pushed(&self) -> Vec<Event> {
        let outcomes = self.pusher.as_ref().map(Worker::finished);
        outcomes.into_iter().flatten().map(Event::Pushed).collect()
    }
}

/// Reads link events; on lost events lists the links afresh.
pub(crate) fn read_links(monitor: &mut LinkMonitor, shell: &mut Shell) -> Event {
    match monitor.read() {
        Ok(changes) => shell.link_event(changes),
        Err(_) => shell.relist_links(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn children(nodaemon: bool, verbose: bool, pid_dir: Option<&str>) -> Children {
        Children {
            lvsd: "/usr/sbin/lvsd".into(),
            fos: "/usr/sbin/fos".into(),
            config: "/etc/sysconfig/ha/lvs.cf".into(),
            nodaemon,
            verbose,
            pid_dir: pid_dir.map(PathBuf::from),
            pulse_socket: "/var/run/pulse.sock".into(),
        }
    }

    fn command(nodaemon: bool, verbose: bool, pid_dir: Option<&str>) -> Vec<String> {
        children(nodaemon, verbose, pid_dir).lvsd_argv()
    }

    #[test]
    fn fos_gets_the_legacy_command_line() {
        let c = children(false, false, None);
        assert_eq!(
            c.fos_argv(FosRole::Monitor),
            [
                "/usr/sbin/fos",
                "--monitor",
                "-c",
                "/etc/sysconfig/ha/lvs.cf",
                "--nofork"
            ]
        );
        assert_eq!(
            children(true, true, Some("/tmp/x")).fos_argv(FosRole::Active),
            [
                "/usr/sbin/fos",
                "--active",
                "-c",
                "/etc/sysconfig/ha/lvs.cf",
                "--nodaemon",
                "-v",
                "--pidfile=/tmp/x/fos.pid"
            ]
        );
    }

    #[test]
    fn lvsd_gets_the_legacy_command_line() {
        assert_eq!(
            command(false, false, None),
            [
                "/usr/sbin/lvsd",
                "--nofork",
                "-c",
                "/etc/sysconfig/ha/lvs.cf"
            ]
        );
        assert_eq!(
            command(true, true, None),
            [
                "/usr/sbin/lvsd",
                "--nodaemon",
                "-c",
                "/etc/sysconfig/ha/lvs.cf",
                "-v"
            ]
        );
        assert_eq!(
            command(false, false, Some("/tmp/x")).last().unwrap(),
            "--pidfile=/tmp/x/lvs.pid"
        );
    }
}
