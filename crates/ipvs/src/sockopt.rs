//! The legacy IPVS socket options (`IP_VS_SO_*` on a raw IPv4 socket), the fallback when
//! the kernel has no IPVS generic netlink family. IPv4 only; no persistence engines,
//! tunnel types or extended sync-daemon settings (docs/ipvs.md).
//!
//! The structs are encoded by hand at the x86_64 offsets of `linux/ip_vs.h`, as pure
//! functions, so the layout is tested without a kernel.

use std::io;

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::error::{Error, Result};
use crate::table::Op;
use crate::types::*;

const BASE: i32 = 64 + 1024 + 64;
mod set {
    use super::BASE;
    pub(crate) const ADD: i32 = BASE + 2;
    pub(crate) const EDIT: i32 = BASE + 3;
    pub(crate) const DEL: i32 = BASE + 4;
    pub(crate) const ADDDEST: i32 = BASE + 7;
    pub(crate) const DELDEST: i32 = BASE + 8;
    pub(crate) const EDITDEST: i32 = BASE + 9;
    pub const TIMEOUT: i32 = BASE + 10;
    pub(crate) const STARTDAEMON: i32 = BASE + 11;
    pub(crate) const STOPDAEMON: i32 = BASE + 12;
    pub const ZERO: i32 = BASE + 15;
}
mod get {
    use super::BASE;
    pub(crate) const INFO: i32 = BASE + 1;
    pub const SERVICES: i32 = BASE + 2;
    pub(crate) const SERVICE: i32 = BASE + 3;
    pub const DESTS: i32 = BASE + 4;
    pub const TIMEOUT: i32 = BASE + 6;
    pub(crate) const DAEMON: i32 = BASE + 7;
}

pub(crate) const SERVICE_USER_LEN: usize = 44;
pub(crate) const DEST_USER_LEN: usize = 24;
pub(crate) const STATS_USER_LEN: usize = 56;
pub(crate) const SERVICE_ENTRY_LEN: usize = 104;
pub(crate) const DEST_ENTRY_LEN: usize = 96;
pub(crate) const GET_SERVICES_LEN: usize = 8;
pub(crate) const GET_DESTS_LEN: usize = 24;
pub(crate) const DAEMON_USER_LEN: usize = 24;

fn v4(addr: &IpAddr, what: &str) -> Result<Ipv4Addr> {
    match addr {
        IpAddr::V4(a) => Ok(*a),
        IpAddr::V6(_) => Err(Error::Unsupported(format!(
            "IPv6 {what} (the legacy socket options are IPv4 only)"
        ))),
    }
}

fn put_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_ne_bytes());
}
fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_ne_bytes());
}
fn get_u16(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes(b[at..at + 2].try_into().unwrap())
}
fn get_u32(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(b[at..at + 4].try_into().unwrap())
}
fn get_u64(b: &[u8], at: usize) -> u64 {
    u64::from_ne_bytes(b[at..at + 8].try_into().unwrap())
}

/// The key fields of `struct ip_vs_service_user` (protocol, addr, port, fwmark).
fn put_key(b: &mut [u8], key: &ServiceKey) -> Result<()> {
    match key {
        ServiceKey::Addr {
            protocol,
            addr,
            port,
        } => {
            put_u16(b, 0, protocol.number());
            b[4..8].copy_from_slice(&v4(addr, "service")?.octets());
            b[8..10].copy_from_slice(&port.to_be_bytes());
        }
        ServiceKey::Fwmark {
            family: Family::V4,
            mark,
        } => {
            // ipvsadm sends TCP as the protocol of fwmark services.
            put_u16(b, 0, Protocol::Tcp.number());
            put_u32(b, 12, *mark);
        }
        ServiceKey::Fwmark {
            family: Family::V6, ..
        } => return Err(Error::Unsupported("IPv6 firewall-mark service".into())),
    }
    Ok(())
}

/// `struct ip_vs_service_user` (44 bytes).
pub(crate) fn encode_service_user(
    key: &ServiceKey,
    service: Option<&Service>,
) -> Result<[u8; SERVICE_USER_LEN]> {
    let mut b = [0u8; SERVICE_USER_LEN];
    put_key(&mut b, key)?;
    if let Some(s) = service {
        if s.pe_name.is_some() {
            return Err(Error::Unsupported("persistence engines".into()));
        }
        let name = s.scheduler.as_bytes();
        if name.len() >= 16 {
            return Err(Error::Unsupported(format!(
                "scheduler name `{}` longer than 15 bytes",
                s.scheduler
            )));
        }
        b[16..16 + name.len()].copy_from_slice(name);
        put_u32(&mut b, 32, s.flags & !svc_flags::HASHED);
        put_u32(&mut b, 36, s.timeout);
        let mask = match s.netmask {
            Netmask::V4(m) => m,
            Netmask::V6Prefix(_) => {
                return Err(Error::Unsupported("IPv6 persistence prefix".into()))
            }
        };
        b[40..44].copy_from_slice(&mask.octets());
    }
    Ok(b)
}

/// `struct ip_vs_dest_user` (24 bytes).
pub(crate) fn encode_dest_user(
    addr: &IpAddr,
    port: u16,
    dest: Option<&Destination>,
) -> Result<[u8; DEST_USER_LEN]> {
    let mut b = [0u8; DEST_USER_LEN];
    b[0..4].copy_from_slice(&v4(addr, "destination")?.octets());
    b[4..6].copy_from_slice(&port.to_be_bytes());
    if let Some(d) = dest {
        if d.forward == ForwardMethod::Tunnel && !matches!(d.tunnel, None | Some(TunnelType::Ipip))
        {
            return Err(Error::Unsupported("GUE/GRE tunnels".into()));
        }
        put_u32(&mut b, 8, d.forward.code());
        put_u32(&mut b, 12, d.weight);
        put_u32(&mut b, 16, d.upper_threshold);
        put_u32(&mut b, 20, d.lower_threshold);
    }
    Ok(b)
}

/// `struct ip_vs_stats_user` (56 bytes, with padding after the three u32s).
pub(crate) fn decode_stats_user(b: &[u8]) -> Stats {
    Stats {
        conns: get_u32(b, 0).into(),
        in_packets: get_u32(b, 4).into(),
        out_packets: get_u32(b, 8).into(),
        in_bytes: get_u64(b, 16),
        out_bytes: get_u64(b, 24),
        cps: get_u32(b, 32).into(),
        in_pps: get_u32(b, 36).into(),
        out_pps: get_u32(b, 40).into(),
        in_bps: get_u32(b, 44).into(),
        out_bps: get_u32(b, 48).into(),
    }
}

/// `struct ip_vs_service_entry` (104 bytes); returns the entry and its number of dests.
pub(crate) fn decode_service_entry(b: &[u8]) -> (ServiceEntry, u32) {
    let fwmark = get_u32(b, 12);
    let key = if fwmark != 0 {
        ServiceKey::Fwmark {
            family: Family::V4,
            mark: fwmark,
        }
    } else {
        ServiceKey::Addr {
            protocol: Protocol::from_number(get_u16(b, 0)).unwrap_or(Protocol::Tcp),
            addr: IpAddr::V4(Ipv4Addr::new(b[4], b[5], b[6], b[7])),
            port: u16::from_be_bytes([b[8], b[9]]),
        }
    };
    let name_end = b[16..32].iter().position(|&c| c == 0).unwrap_or(16);
    let service = Service {
        key,
        scheduler: String::from_utf8_lossy(&b[16..16 + name_end]).into_owned(),
        flags: get_u32(b, 32),
        timeout: get_u32(b, 36),
        netmask: Netmask::V4(Ipv4Addr::new(b[40], b[41], b[42], b[43])),
        pe_name: None,
    };
    (
        ServiceEntry {
            service,
            stats: decode_stats_user(&b[48..48 + STATS_USER_LEN]),
        },
        get_u32(b, 44),
    )
}

/// `struct ip_vs_dest_entry` (96 bytes).
pub(crate) fn decode_dest_entry(b: &[u8]) -> DestEntry {
    let forward = ForwardMethod::from_code(get_u32(b, 8)).unwrap_or(ForwardMethod::Masq);
    DestEntry {
        dest: Destination {
            addr: IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])),
            port: u16::from_be_bytes([b[4], b[5]]),
            forward,
            weight: get_u32(b, 12),
            upper_threshold: get_u32(b, 16),
            lower_threshold: get_u32(b, 20),
            tunnel: (forward == ForwardMethod::Tunnel).then_some(TunnelType::Ipip),
            tunnel_flags: 0,
        },
        active_conns: get_u32(b, 24),
        inactive_conns: get_u32(b, 28),
        persistent_conns: get_u32(b, 32),
        stats: decode_stats_user(&b[40..40 + STATS_USER_LEN]),
    }
}

/// `struct ip_vs_daemon_user` (24 bytes).
pub(crate) fn encode_daemon_user(
    state: SyncState,
    interface: &str,
    sync_id: u32,
) -> Result<[u8; DAEMON_USER_LEN]> {
    let mut b = [0u8; DAEMON_USER_LEN];
    put_u32(&mut b, 0, state.code());
    if interface.len() >= 16 {
        return Err(Error::Unsupported(format!(
            "interface name `{interface}` longer than 15 bytes"
        )));
    }
    b[4..4 + interface.len()].copy_from_slice(interface.as_bytes());
    put_u32(&mut b, 20, sync_id);
    Ok(b)
}

/// A connection over the legacy socket options.
pub struct Connection {
    fd: OwnedFd,
}

impl Connection {
    pub fn open() -> Result<Connection> {
        // SAFETY: plain socket(2) call; the fd is owned below.
        let fd = unsafe {
            libc::socket(
                libc::AF_INET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::IPPROTO_RAW,
            )
        };
        if fd < 0 {
            return Err(Error::io(
                "open raw socket for IPVS socket options",
                io::Error::last_os_error(),
            ));
        }
        // SAFETY: fresh descriptor owned by nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let c = Connection { fd };
        // Probe: ENOPROTOOPT here means ip_vs is not loaded.
        match c.info() {
            Err(e) if e.errno() == Some(libc::ENOPROTOOPT) => Err(Error::NotLoaded),
            Err(e) => Err(e),
            Ok(_) => Ok(c),
        }
    }

    fn set(&self, opt: i32, data: &[u8], context: &dyn Fn() -> String) -> Result<()> {
        // SAFETY: data is valid for its length.
        let rc = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                libc::IPPROTO_IP,
                opt,
                data.as_ptr() as *const libc::c_void,
                data.len() as u32,
            )
        };
        if rc < 0 {
            let e = io::Error::last_os_error();
            return Err(Error::kernel(
                e.raw_os_error().unwrap_or(libc::EIO),
                context(),
                None,
            ));
        }
        Ok(())
    }

    /// getsockopt with `buf` as input and output.
    fn get(&self, opt: i32, buf: &mut [u8], context: &str) -> Result<()> {
        let mut len = buf.len() as libc::socklen_t;
        // SAFETY: buf is valid for len bytes, len is updated by the kernel.
        let rc = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::IPPROTO_IP,
                opt,
                buf.as_mut_ptr() as *mut libc::c_void,
                &mut len,
            )
        };
        if rc < 0 {
            let e = io::Error::last_os_error();
            return Err(Error::kernel(
                e.raw_os_error().unwrap_or(libc::EIO),
                context,
                None,
            ));
        }
        Ok(())
    }

    pub fn info(&self) -> Result<(Info, u32)> {
        let mut b = [0u8; 12];
        self.get(get::INFO, &mut b, "read IPVS info")?;
        Ok((
            Info {
                version: get_u32(&b, 0),
                conn_table_size: get_u32(&b, 4),
            },
            get_u32(&b, 8),
        ))
    }

    pub fn apply(&self, op: &Op) -> Result<()> {
        let context = || op.to_string();
        match op {
            Op::AddService(s) | Op::EditService(s) => {
                let b = encode_service_user(&s.key, Some(s))?;
                self.set(
                    if matches!(op, Op::AddService(_)) {
                        set::ADD
                    } else {
                        set::EDIT
                    },
                    &b,
                    &context,
                )
            }
            Op::DelService(k) => self.set(set::DEL, &encode_service_user(k, None)?, &context),
            Op::AddDest(k, d) | Op::EditDest(k, d) => {
                let mut b = Vec::with_capacity(SERVICE_USER_LEN + DEST_USER_LEN);
                b.extend_from_slice(&encode_service_user(k, None)?);
                b.extend_from_slice(&encode_dest_user(&d.addr, d.port, Some(d))?);
                self.set(
                    if matches!(op, Op::AddDest(..)) {
                        set::ADDDEST
                    } else {
                        set::EDITDEST
                    },
                    &b,
                    &context,
                )
            }
            Op::DelDest(k, d) => {
                let mut b = Vec::with_capacity(SERVICE_USER_LEN + DEST_USER_LEN);
                b.extend_from_slice(&encode_service_user(k, None)?);
                b.extend_from_slice(&encode_dest_user(&d.addr, d.port, None)?);
                self.set(set::DELDEST, &b, &context)
            }
        }
    }

    pub fn services(&self) -> Result<Vec<(ServiceEntry, u32)>> {
        // The count can change between the two calls; the kernel then returns EAGAIN.
        for _ in 0..5 {
            let (_, n) = self.info()?;
            let mut b = vec![0u8; GET_SERVICES_LEN + n as usize * SERVICE_ENTRY_LEN];
            put_u32(&mut b, 0, n);
            match self.get(get::SERVICES, &mut b, "list IPVS services") {
                Err(e) if e.errno() == Some(libc::EAGAIN) => continue,
                Err(e) => return Err(e),
                Ok(()) => {}
            }
            let count = get_u32(&b, 0).min(n) as usize;
            return Ok((0..count)
                .map(|i| {
                    decode_service_entry(
                        &b[GET_SERVICES_LEN + i * SERVICE_ENTRY_LEN..][..SERVICE_ENTRY_LEN],
                    )
                })
                .collect());
        }
        Err(Error::kernel(libc::EAGAIN, "list IPVS services", None))
    }

    pub fn service(&self, key: &ServiceKey) -> Result<Option<(ServiceEntry, u32)>> {
        let mut b = vec![0u8; SERVICE_ENTRY_LEN];
        // ip_vs_service_entry starts with the same key fields as ip_vs_service_user.
        let user = encode_service_user(key, None)?;
        b[..16].copy_from_slice(&user[..16]);
        match self.get(get::SERVICE, &mut b, &format!("read service {key}")) {
            Err(e) if e.errno() == Some(libc::ESRCH) => Ok(None),
            Err(e) => Err(e),
            Ok(()) => Ok(Some(decode_service_entry(&b))),
        }
    }

    pub fn destinations(&self, key: &ServiceKey) -> Result<Vec<DestEntry>> {
        for _ in 0..5 {
            let Some((_, n)) = self.service(key)? else {
                return Err(Error::kernel(
                    libc::ESRCH,
                    format!("list destinations of {key}"),
                    None,
                ));
            };
            let mut b = vec![0u8; GET_DESTS_LEN + n as usize * DEST_ENTRY_LEN];
            let user = encode_service_user(key, None)?;
            b[..16].copy_from_slice(&user[..16]);
            put_u32(&mut b, 16, n);
            match self.get(get::DESTS, &mut b, &format!("list destinations of {key}")) {
                Err(e) if e.errno() == Some(libc::EAGAIN) => continue,
                Err(e) => return Err(e),
                Ok(()) => {}
            }
            let count = get_u32(&b, 16).min(n) as usize;
            return Ok((0..count)
                .map(|i| {
                    decode_dest_entry(&b[GET_DESTS_LEN + i * DEST_ENTRY_LEN..][..DEST_ENTRY_LEN])
                })
                .collect());
        }
        Err(Error::kernel(
            libc::EAGAIN,
            format!("list destinations of {key}"),
            None,
        ))
    }

    pub fn timeouts(&self) -> Result<Timeouts> {
        let mut b = [0u8; 12];
        self.get(get::TIMEOUT, &mut b, "read IPVS timeouts")?;
        Ok(Timeouts {
            tcp: get_u32(&b, 0),
            tcp_fin: get_u32(&b, 4),
            udp: get_u32(&b, 8),
        })
    }

    pub fn set_timeouts(&self, t: Timeouts) -> Result<()> {
        let mut b = [0u8; 12];
        put_u32(&mut b, 0, t.tcp);
        put_u32(&mut b, 4, t.tcp_fin);
        put_u32(&mut b, 8, t.udp);
        self.set(set::TIMEOUT, &b, &|| "set IPVS timeouts".to_string())
    }

    pub fn sync_daemons(&self) -> Result<Vec<SyncDaemon>> {
        let mut b = [0u8; 2 * DAEMON_USER_LEN];
        self.get(get::DAEMON, &mut b, "list sync daemons")?;
        Ok(b.chunks(DAEMON_USER_LEN)
            .filter_map(|c| {
                let state = SyncState::from_code(get_u32(c, 0))?;
                let end = c[4..20].iter().position(|&x| x == 0).unwrap_or(16);
                Some(SyncDaemon::new(
                    state,
                    &String::from_utf8_lossy(&c[4..4 + end]),
                    get_u32(c, 20),
                ))
            })
            .collect())
    }

    pub fn start_sync_daemon(&self, d: &SyncDaemon) -> Result<()> {
        if d.max_len.is_some() || d.group.is_some() || d.port.is_some() || d.ttl.is_some() {
            return Err(Error::Unsupported(
                "sync daemon group, port, TTL or maximum length".into(),
            ));
        }
        let b = encode_daemon_user(d.state, &d.interface, d.sync_id)?;
        self.set(set::STARTDAEMON, &b, &|| {
            format!("start {:?} sync daemon", d.state)
        })
    }

    pub fn stop_sync_daemon(&self, state: SyncState) -> Result<()> {
        let b = encode_daemon_user(state, "", 0)?;
        self.set(set::STOPDAEMON, &b, &|| {
            format!("stop {state:?} sync daemon")
        })
    }

    pub fn zero(&self, key: Option<&ServiceKey>) -> Result<()> {
        let b = match key {
            Some(k) => encode_service_user(k, None)?,
            None => [0u8; SERVICE_USER_LEN],
        };
        self.set(set::ZERO, &b, &|| "zero IPVS counters".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_numbers_match_the_header() {
        assert_eq!((set::ADD, set::DELDEST, set::ZERO), (1154, 1160, 1167));
        assert_eq!(
            (
                get::INFO,
                get::SERVICES,
                get::DESTS,
                get::TIMEOUT,
                get::DAEMON
            ),
            (1153, 1154, 1156, 1158, 1159)
        );
    }

    #[test]
    fn service_user_layout() {
        let s = Service::new(ServiceKey::udp(ip("192.168.1.2"), 53), "wrr").persistent(60);
        let b = encode_service_user(&s.key, Some(&s)).unwrap();
        assert_eq!(get_u16(&b, 0), 17);
        assert_eq!(&b[4..8], &[192, 168, 1, 2]);
        assert_eq!(&b[8..10], &[0, 53]);
        assert_eq!(&b[16..20], b"wrr\0");
        assert_eq!(get_u32(&b, 32), svc_flags::PERSISTENT);
        assert_eq!(get_u32(&b, 36), 60);
        assert_eq!(&b[40..44], &[255; 4]);
        let b = encode_service_user(
            &ServiceKey::Fwmark {
                family: Family::V4,
                mark: 9,
            },
            None,
        )
        .unwrap();
        assert_eq!(get_u32(&b, 12), 9);
    }

    #[test]
    fn dest_user_layout() {
        let d = Destination {
            upper_threshold: 7,
            lower_threshold: 3,
            ..Destination::new(ip("10.0.0.5"), 8080, ForwardMethod::Route, 42)
        };
        let b = encode_dest_user(&d.addr, d.port, Some(&d)).unwrap();
        assert_eq!(&b[0..4], &[10, 0, 0, 5]);
        assert_eq!(&b[4..6], &8080u16.to_be_bytes());
        assert_eq!(
            (
                get_u32(&b, 8),
                get_u32(&b, 12),
                get_u32(&b, 16),
                get_u32(&b, 20)
            ),
            (3, 42, 7, 3)
        );
    }

    #[test]
    fn ipv6_and_netlink_only_features_are_unsupported() {
        let k6 = ServiceKey::tcp(ip("2001:db8::1"), 80);
        assert!(matches!(
            encode_service_user(&k6, None),
            Err(Error::Unsupported(_))
        ));
        let mut s = Service::new(ServiceKey::tcp(ip("10.0.0.1"), 80), "rr");
        s.pe_name = Some("sip".into());
        assert!(matches!(
            encode_service_user(&s.key, Some(&s)),
            Err(Error::Unsupported(_))
        ));
        let mut d = Destination::new(ip("10.0.0.2"), 80, ForwardMethod::Tunnel, 1);
        d.tunnel = Some(TunnelType::Gre);
        assert!(matches!(
            encode_dest_user(&d.addr, d.port, Some(&d)),
            Err(Error::Unsupported(_))
        ));
    }

    #[test]
    fn service_entry_round_trip_through_the_layout() {
        // Build an entry as the kernel lays it out and decode it.
        let mut b = vec![0u8; SERVICE_ENTRY_LEN];
        let s = Service::new(ServiceKey::tcp(ip("1.2.3.4"), 443), "lblcr").persistent(300);
        b[..SERVICE_USER_LEN].copy_from_slice(&encode_service_user(&s.key, Some(&s)).unwrap());
        put_u32(&mut b, 44, 3);
        put_u32(&mut b, 48, 11); // conns
        b[48 + 16..48 + 24].copy_from_slice(&(1u64 << 33).to_ne_bytes()); // inbytes
        let (e, n) = decode_service_entry(&b);
        assert_eq!(e.service, s);
        assert_eq!(n, 3);
        assert_eq!((e.stats.conns, e.stats.in_bytes), (11, 1 << 33));
    }

    #[test]
    fn dest_entry_decodes_counters() {
        let mut b = vec![0u8; DEST_ENTRY_LEN];
        b[..DEST_USER_LEN].copy_from_slice(
            &encode_dest_user(
                &ip("10.9.8.7"),
                80,
                Some(&Destination::new(
                    ip("10.9.8.7"),
                    80,
                    ForwardMethod::Masq,
                    5,
                )),
            )
            .unwrap(),
        );
        put_u32(&mut b, 24, 4);
        put_u32(&mut b, 28, 6);
        let e = decode_dest_entry(&b);
        assert_eq!((e.dest.weight, e.active_conns, e.inactive_conns), (5, 4, 6));
        assert_eq!(e.dest.addr, ip("10.9.8.7"));
    }
}
