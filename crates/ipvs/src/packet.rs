//! The IPVS generic netlink family: commands, attribute numbers, and encode/decode of the
//! IPVS objects (`include/uapi/linux/ip_vs.h`; see docs/ipvs.md). Pure: the wire layer is the
//! `netlink` crate's.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::types::*;
use netlink::wire::{self, Attr, Attrs, DecodeError, MessageBuilder};

pub(crate) const FAMILY_NAME: &str = "IPVS";
pub(crate) const FAMILY_VERSION: u8 = 1;

/// `IPVS_CMD_*`.
/// The kernel's whole command vocabulary (`IPVS_CMD_*`), those not sent included.
#[allow(dead_code)]
pub(crate) mod cmd {
    pub(crate) const NEW_SERVICE: u8 = 1;
    pub(crate) const SET_SERVICE: u8 = 2;
    pub(crate) const DEL_SERVICE: u8 = 3;
    pub(crate) const GET_SERVICE: u8 = 4;
    pub(crate) const NEW_DEST: u8 = 5;
    pub(crate) const SET_DEST: u8 = 6;
    pub(crate) const DEL_DEST: u8 = 7;
    pub(crate) const GET_DEST: u8 = 8;
    pub(crate) const NEW_DAEMON: u8 = 9;
    pub(crate) const DEL_DAEMON: u8 = 10;
    pub(crate) const GET_DAEMON: u8 = 11;
    pub(crate) const SET_CONFIG: u8 = 12;
    pub(crate) const GET_CONFIG: u8 = 13;
    pub(crate) const SET_INFO: u8 = 14;
    pub(crate) const GET_INFO: u8 = 15;
    pub(crate) const ZERO: u8 = 16;
}

/// `IPVS_CMD_ATTR_*`.
mod cmd_attr {
    pub(crate) const SERVICE: u16 = 1;
    pub const DEST: u16 = 2;
    pub(crate) const DAEMON: u16 = 3;
    pub(crate) const TIMEOUT_TCP: u16 = 4;
    pub(crate) const TIMEOUT_TCP_FIN: u16 = 5;
    pub(crate) const TIMEOUT_UDP: u16 = 6;
}

/// `IPVS_SVC_ATTR_*`.
mod svc {
    pub(crate) const AF: u16 = 1;
    pub(crate) const PROTOCOL: u16 = 2;
    pub const ADDR: u16 = 3;
    pub const PORT: u16 = 4;
    pub(crate) const FWMARK: u16 = 5;
    pub(crate) const SCHED_NAME: u16 = 6;
    pub(crate) const FLAGS: u16 = 7;
    pub const TIMEOUT: u16 = 8;
    pub(crate) const NETMASK: u16 = 9;
    pub(crate) const STATS: u16 = 10;
    pub(crate) const PE_NAME: u16 = 11;
    pub(crate) const STATS64: u16 = 12;
}

/// `IPVS_DEST_ATTR_*`.
mod dest {
    pub const ADDR: u16 = 1;
    pub const PORT: u16 = 2;
    pub(crate) const FWD_METHOD: u16 = 3;
    pub const WEIGHT: u16 = 4;
    pub(crate) const U_THRESH: u16 = 5;
    pub(crate) const L_THRESH: u16 = 6;
    pub(crate) const ACTIVE_CONNS: u16 = 7;
    pub(crate) const INACT_CONNS: u16 = 8;
    pub(crate) const PERSIST_CONNS: u16 = 9;
    pub(crate) const STATS: u16 = 10;
    pub(crate) const ADDR_FAMILY: u16 = 11;
    pub(crate) const STATS64: u16 = 12;
    pub(crate) const TUN_TYPE: u16 = 13;
    pub(crate) const TUN_PORT: u16 = 14;
    pub(crate) const TUN_FLAGS: u16 = 15;
}

/// `IPVS_DAEMON_ATTR_*`.
mod daemon {
    pub(crate) const STATE: u16 = 1;
    pub(crate) const MCAST_IFN: u16 = 2;
    pub(crate) const SYNC_ID: u16 = 3;
    pub(crate) const SYNC_MAXLEN: u16 = 4;
    pub(crate) const MCAST_GROUP: u16 = 5;
    pub(crate) const MCAST_GROUP6: u16 = 6;
    pub(crate) const MCAST_PORT: u16 = 7;
    pub(crate) const MCAST_TTL: u16 = 8;
}

/// `IPVS_STATS_ATTR_*`.
mod stats {
    pub const CONNS: u16 = 1;
    pub(crate) const INPKTS: u16 = 2;
    pub(crate) const OUTPKTS: u16 = 3;
    pub(crate) const INBYTES: u16 = 4;
    pub(crate) const OUTBYTES: u16 = 5;
    pub const CPS: u16 = 6;
    pub(crate) const INPPS: u16 = 7;
    pub(crate) const OUTPPS: u16 = 8;
    pub(crate) const INBPS: u16 = 9;
    pub(crate) const OUTBPS: u16 = 10;
}

/// `IPVS_INFO_ATTR_*`.
mod info {
    pub(crate) const VERSION: u16 = 1;
    pub(crate) const CONN_TAB_SIZE: u16 = 2;
}

const TUN_IPIP: u8 = 0;
const TUN_GUE: u8 = 1;
const TUN_GRE: u8 = 2;

/// One IPVS request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    NewService(Service),
    SetService(Service),
    DelService(ServiceKey),
    GetService(ServiceKey),
    DumpServices,
    NewDest(ServiceKey, Destination),
    SetDest(ServiceKey, Destination),
    DelDest(ServiceKey, DestKey),
    DumpDests(ServiceKey),
    NewDaemon(SyncDaemon),
    DelDaemon(SyncState),
    DumpDaemons,
    SetTimeouts(Timeouts),
    GetTimeouts,
    GetInfo,
    /// Zero the counters of one service, or of all with `None`.
    Zero(Option<ServiceKey>),
}

impl Request {
    pub fn command(&self) -> u8 {
        match self {
            Request::NewService(_) => cmd::NEW_SERVICE,
            Request::SetService(_) => cmd::SET_SERVICE,
            Request::DelService(_) => cmd::DEL_SERVICE,
            Request::GetService(_) | Request::DumpServices => cmd::GET_SERVICE,
            Request::NewDest(..) => cmd::NEW_DEST,
            Request::SetDest(..) => cmd::SET_DEST,
            Request::DelDest(..) => cmd::DEL_DEST,
            Request::DumpDests(_) => cmd::GET_DEST,
            Request::NewDaemon(_) => cmd::NEW_DAEMON,
            Request::DelDaemon(_) => cmd::DEL_DAEMON,
            Request::DumpDaemons => cmd::GET_DAEMON,
            Request::SetTimeouts(_) => cmd::SET_CONFIG,
            Request::GetTimeouts => cmd::GET_CONFIG,
            Request::GetInfo => cmd::GET_INFO,
            Request::Zero(_) => cmd::ZERO,
        }
    }

    /// Whether the reply is a multi-part dump.
    pub fn is_dump(&self) -> bool {
        matches!(
            self,
            Request::DumpServices | Request::DumpDests(_) | Request::DumpDaemons
        )
    }

    /// Appends the request as one netlink message to `buf`.
    pub fn encode(&self, buf: &mut Vec<u8>, family: u16, seq: u32, flags: u16) {
        let flags = flags | wire::NLM_F_REQUEST | if self.is_dump() { wire::NLM_F_DUMP } else { 0 };
        let mut m = MessageBuilder::genl(buf, family, flags, seq, self.command(), FAMILY_VERSION);
        match self {
            Request::NewService(s) | Request::SetService(s) => {
                m.begin_nest(cmd_attr::SERVICE);
                put_service(&mut m, s);
                m.end_nest();
            }
            Request::DelService(k)
            | Request::GetService(k)
            | Request::DumpDests(k)
            | Request::Zero(Some(k)) => {
                m.begin_nest(cmd_attr::SERVICE);
                put_service_key(&mut m, k);
                m.end_nest();
            }
            Request::NewDest(k, d) | Request::SetDest(k, d) => {
                m.begin_nest(cmd_attr::SERVICE);
                put_service_key(&mut m, k);
                m.end_nest();
                m.begin_nest(cmd_attr::DEST);
                put_dest(&mut m, d);
                m.end_nest();
            }
            Request::DelDest(k, d) => {
                m.begin_nest(cmd_attr::SERVICE);
                put_service_key(&mut m, k);
                m.end_nest();
                m.begin_nest(cmd_attr::DEST);
                m.attr(dest::ADDR, &addr_bytes(&d.addr));
                m.be16(dest::PORT, d.port);
                m.u16(dest::ADDR_FAMILY, Family::of(&d.addr).af());
                m.end_nest();
            }
            Request::NewDaemon(d) => {
                m.begin_nest(cmd_attr::DAEMON);
                m.u32(daemon::STATE, d.state.code());
                m.string(daemon::MCAST_IFN, &d.interface);
                m.u32(daemon::SYNC_ID, d.sync_id);
                if let Some(v) = d.max_len {
                    m.u16(daemon::SYNC_MAXLEN, v);
                }
                match d.group {
                    Some(IpAddr::V4(g)) => {
                        m.attr(daemon::MCAST_GROUP, &g.octets());
                    }
                    Some(IpAddr::V6(g)) => {
                        m.attr(daemon::MCAST_GROUP6, &g.octets());
                    }
                    None => {}
                }
                if let Some(p) = d.port {
                    m.be16(daemon::MCAST_PORT, p);
                }
                if let Some(t) = d.ttl {
                    m.u8(daemon::MCAST_TTL, t);
                }
                m.end_nest();
            }
            Request::DelDaemon(state) => {
                m.begin_nest(cmd_attr::DAEMON);
                m.u32(daemon::STATE, state.code());
                m.end_nest();
            }
            Request::SetTimeouts(t) => {
                m.u32(cmd_attr::TIMEOUT_TCP, t.tcp);
                m.u32(cmd_attr::TIMEOUT_TCP_FIN, t.tcp_fin);
                m.u32(cmd_attr::TIMEOUT_UDP, t.udp);
            }
            Request::DumpServices
            | Request::DumpDaemons
            | Request::GetTimeouts
            | Request::GetInfo
            | Request::Zero(None) => {}
        }
        m.finish();
    }
}

/// `union nf_inet_addr`: 16 bytes, an IPv4 address in the first 4.
pub(crate) fn addr_bytes(addr: &IpAddr) -> [u8; 16] {
    let mut b = [0u8; 16];
    match addr {
        IpAddr::V4(a) => b[..4].copy_from_slice(&a.octets()),
        IpAddr::V6(a) => b = a.octets(),
    }
    b
}

fn addr_from(bytes: &[u8], family: Family) -> Result<IpAddr, DecodeError> {
    match family {
        Family::V4 if bytes.len() >= 4 => Ok(IpAddr::V4(Ipv4Addr::new(
            bytes[0], bytes[1], bytes[2], bytes[3],
        ))),
        Family::V6 if bytes.len() >= 16 => {
            let a: [u8; 16] = bytes[..16].try_into().unwrap();
            Ok(IpAddr::V6(Ipv6Addr::from(a)))
        }
        _ => Err(DecodeError(format!(
            "address of {} bytes for {family:?}",
            bytes.len()
        ))),
    }
}

fn put_service_key(m: &mut MessageBuilder, k: &ServiceKey) {
    m.u16(svc::AF, k.family().af());
    match k {
        ServiceKey::Fwmark { mark, .. } => {
            m.u32(svc::FWMARK, *mark);
        }
        ServiceKey::Addr {
            protocol,
            addr,
            port,
        } => {
            m.u16(svc::PROTOCOL, protocol.number());
            m.attr(svc::ADDR, &addr_bytes(addr));
            m.be16(svc::PORT, *port);
        }
    }
}

fn put_service(m: &mut MessageBuilder, s: &Service) {
    put_service_key(m, &s.key);
    m.string(svc::SCHED_NAME, &s.scheduler);
    if let Some(pe) = &s.pe_name {
        m.string(svc::PE_NAME, pe);
    }
    let mut flags = [0u8; 8];
    flags[..4].copy_from_slice(&(s.flags & !svc_flags::HASHED).to_ne_bytes());
    flags[4..].copy_from_slice(&u32::MAX.to_ne_bytes()); // mask: set every flag as given
    m.attr(svc::FLAGS, &flags);
    m.u32(svc::TIMEOUT, s.timeout);
    match s.netmask {
        // IPv4: the mask in network byte order; IPv6: the prefix length as a plain u32.
        Netmask::V4(mask) => m.attr(svc::NETMASK, &mask.octets()),
        Netmask::V6Prefix(len) => m.u32(svc::NETMASK, len.into()),
    };
}

fn put_dest(m: &mut MessageBuilder, d: &Destination) {
    m.attr(dest::ADDR, &addr_bytes(&d.addr));
    m.be16(dest::PORT, d.port);
    m.u32(dest::FWD_METHOD, d.forward.code());
    m.u32(dest::WEIGHT, d.weight);
    m.u32(dest::U_THRESH, d.upper_threshold);
    m.u32(dest::L_THRESH, d.lower_threshold);
    m.u16(dest::ADDR_FAMILY, Family::of(&d.addr).af());
    if d.forward == ForwardMethod::Tunnel {
        let tunnel = d.tunnel.unwrap_or(TunnelType::Ipip);
        match tunnel {
            TunnelType::Ipip => {
                m.u8(dest::TUN_TYPE, TUN_IPIP);
            }
            TunnelType::Gue { port } => {
                m.u8(dest::TUN_TYPE, TUN_GUE);
                m.be16(dest::TUN_PORT, port);
            }
            TunnelType::Gre => {
                m.u8(dest::TUN_TYPE, TUN_GRE);
            }
        }
        if tunnel != TunnelType::Ipip {
            m.u16(dest::TUN_FLAGS, d.tunnel_flags);
        }
    }
}

/// Finds the single nested attribute `kind` among a message's top-level attributes.
pub(crate) fn top_nest<'a>(body: &'a [u8], kind: u16) -> Result<Attrs<'a>, DecodeError> {
    for a in wire::attrs(body) {
        let a = a?;
        if a.kind == kind {
            return Ok(a.nested());
        }
    }
    Err(DecodeError(format!("reply has no attribute {kind}")))
}

fn decode_stats(nest: Attrs, wide: bool) -> Result<Stats, DecodeError> {
    let mut s = Stats::default();
    for a in nest {
        let a = a?;
        let v = if wide || matches!(a.kind, stats::INBYTES | stats::OUTBYTES) {
            a.u64()?
        } else {
            a.u32()? as u64
        };
        match a.kind {
            stats::CONNS => s.conns = v,
            stats::INPKTS => s.in_packets = v,
            stats::OUTPKTS => s.out_packets = v,
            stats::INBYTES => s.in_bytes = v,
            stats::OUTBYTES => s.out_bytes = v,
            stats::CPS => s.cps = v,
            stats::INPPS => s.in_pps = v,
            stats::OUTPPS => s.out_pps = v,
            stats::INBPS => s.in_bps = v,
            stats::OUTBPS => s.out_bps = v,
            _ => {}
        }
    }
    Ok(s)
}

/// Decodes the SERVICE nest of a NEW_SERVICE reply.
pub(crate) fn decode_service(nest: Attrs) -> Result<ServiceEntry, DecodeError> {
    let (mut af, mut protocol, mut addr, mut port, mut fwmark) =
        (None, None, None::<Attr>, 0u16, 0u32);
    let (mut sched, mut flags, mut timeout, mut netmask, mut pe) =
        (String::new(), 0u32, 0u32, None::<Attr>, None);
    let (mut st, mut st64) = (None, None);
    for a in nest {
        let a = a?;
        match a.kind {
            svc::AF => af = Family::from_af(a.u16()?),
            svc::PROTOCOL => protocol = Protocol::from_number(a.u16()?),
            svc::ADDR => addr = Some(a),
            svc::PORT => port = a.be16()?,
            svc::FWMARK => fwmark = a.u32()?,
            svc::SCHED_NAME => sched = a.string()?,
            svc::FLAGS => flags = u32::from_ne_bytes(a.fixed::<4>()?),
            svc::TIMEOUT => timeout = a.u32()?,
            svc::NETMASK => netmask = Some(a),
            svc::PE_NAME => pe = Some(a.string()?).filter(|s| !s.is_empty()),
            svc::STATS => st = Some(decode_stats(a.nested(), false)?),
            svc::STATS64 => st64 = Some(decode_stats(a.nested(), true)?),
            _ => {}
        }
    }
    let family = af.ok_or_else(|| DecodeError("service without a known address family".into()))?;
    let key = if fwmark != 0 {
        ServiceKey::Fwmark {
            family,
            mark: fwmark,
        }
    } else {
        let addr = addr.ok_or_else(|| DecodeError("service without an address".into()))?;
        ServiceKey::Addr {
            protocol: protocol
                .ok_or_else(|| DecodeError("service with an unknown protocol".into()))?,
            addr: addr_from(addr.payload, family)?,
            port,
        }
    };
    let netmask = match (family, netmask) {
        (Family::V4, Some(a)) => Netmask::V4(Ipv4Addr::from(a.fixed::<4>()?)),
        (Family::V6, Some(a)) => Netmask::V6Prefix(a.u32()?.min(128) as u8),
        (f, None) => Netmask::full(f),
    };
    Ok(ServiceEntry {
        service: Service {
            key,
            scheduler: sched,
            flags,
            timeout,
            netmask,
            pe_name: pe,
        },
        stats: st64.or(st).unwrap_or_default(),
    })
}

/// Decodes the DEST nest of a NEW_DEST reply; `family` is the service's.
pub(crate) fn decode_dest(nest: Attrs, family: Family) -> Result<DestEntry, DecodeError> {
    let mut addr = None::<Attr>;
    let mut e = DestEntry {
        dest: Destination::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0, ForwardMethod::Masq, 0),
        active_conns: 0,
        inactive_conns: 0,
        persistent_conns: 0,
        stats: Stats::default(),
    };
    let (mut dest_family, mut st, mut st64, mut tun_type, mut tun_port) =
        (family, None, None, None, 0u16);
    for a in nest {
        let a = a?;
        match a.kind {
            dest::ADDR => addr = Some(a),
            dest::PORT => e.dest.port = a.be16()?,
            dest::FWD_METHOD => {
                e.dest.forward = ForwardMethod::from_code(a.u32()?)
                    .ok_or_else(|| DecodeError("unknown forwarding method".into()))?
            }
            dest::WEIGHT => e.dest.weight = a.u32()?,
            dest::U_THRESH => e.dest.upper_threshold = a.u32()?,
            dest::L_THRESH => e.dest.lower_threshold = a.u32()?,
            dest::ACTIVE_CONNS => e.active_conns = a.u32()?,
            dest::INACT_CONNS => e.inactive_conns = a.u32()?,
            dest::PERSIST_CONNS => e.persistent_conns = a.u32()?,
            dest::STATS => st = Some(decode_stats(a.nested(), false)?),
            dest::STATS64 => st64 = Some(decode_stats(a.nested(), true)?),
            dest::ADDR_FAMILY => {
                dest_family = Family::from_af(a.u16()?)
                    .ok_or_else(|| DecodeError("destination of an unknown family".into()))?
            }
            dest::TUN_TYPE => tun_type = Some(a.u8()?),
            dest::TUN_PORT => tun_port = a.be16()?,
            dest::TUN_FLAGS => e.dest.tunnel_flags = a.u16()?,
            _ => {}
        }
    }
    e.dest.addr = addr_from(
        addr.ok_or_else(|| DecodeError("destination without an address".into()))?
            .payload,
        dest_family,
    )?;
    if e.dest.forward == ForwardMethod::Tunnel {
        e.dest.tunnel = Some(match tun_type.unwrap_or(TUN_IPIP) {
            TUN_GUE => TunnelType::Gue { port: tun_port },
            TUN_GRE => TunnelType::Gre,
            _ => TunnelType::Ipip,
        });
    } else {
        e.dest.tunnel_flags = 0;
    }
    e.stats = st64.or(st).unwrap_or_default();
    Ok(e)
}

/// Decodes the DAEMON nest of a NEW_DAEMON reply.
pub(crate) fn decode_daemon(nest: Attrs) -> Result<SyncDaemon, DecodeError> {
    let mut d = SyncDaemon::new(SyncState::Master, "", 0);
    let mut state = None;
    for a in nest {
        let a = a?;
        match a.kind {
            daemon::STATE => state = SyncState::from_code(a.u32()?),
            daemon::MCAST_IFN => d.interface = a.string()?,
            daemon::SYNC_ID => d.sync_id = a.u32()?,
            daemon::SYNC_MAXLEN => d.max_len = Some(a.u16()?),
            daemon::MCAST_GROUP => d.group = Some(IpAddr::V4(Ipv4Addr::from(a.fixed::<4>()?))),
            daemon::MCAST_GROUP6 => d.group = Some(IpAddr::V6(Ipv6Addr::from(a.fixed::<16>()?))),
            daemon::MCAST_PORT => d.port = Some(a.be16()?),
            daemon::MCAST_TTL => d.ttl = Some(a.u8()?),
            _ => {}
        }
    }
    d.state = state.ok_or_else(|| DecodeError("sync daemon without a state".into()))?;
    Ok(d)
}

/// Decodes a SET_CONFIG reply (to GET_CONFIG).
pub(crate) fn decode_timeouts(body: &[u8]) -> Result<Timeouts, DecodeError> {
    let mut t = Timeouts::default();
    for a in wire::attrs(body) {
        let a = a?;
        match a.kind {
            cmd_attr::TIMEOUT_TCP => t.tcp = a.u32()?,
            cmd_attr::TIMEOUT_TCP_FIN => t.tcp_fin = a.u32()?,
            cmd_attr::TIMEOUT_UDP => t.udp = a.u32()?,
            _ => {}
        }
    }
    Ok(t)
}

/// Decodes a SET_INFO reply (to GET_INFO).
pub(crate) fn decode_info(body: &[u8]) -> Result<Info, DecodeError> {
    let mut i = Info {
        version: 0,
        conn_table_size: 0,
    };
    for a in wire::attrs(body) {
        let a = a?;
        match a.kind {
            info::VERSION => i.version = a.u32()?,
            info::CONN_TAB_SIZE => i.conn_table_size = a.u32()?,
            _ => {}
        }
    }
    Ok(i)
}

pub(crate) const ATTR_SERVICE: u16 = cmd_attr::SERVICE;
pub(crate) const ATTR_DEST: u16 = cmd_attr::DEST;
pub(crate) const ATTR_DAEMON: u16 = cmd_attr::DAEMON;

#[cfg(test)]
mod tests {
    use super::*;
    use netlink::wire::{genl_split, messages};
    use proptest::prelude::*;

    /// Encodes a request and returns the attributes of its only message.
    fn body_of(req: &Request) -> (u8, u16, Vec<u8>) {
        let mut buf = Vec::new();
        req.encode(&mut buf, 0x20, 1, 0);
        let msg = messages(&buf).next().unwrap().unwrap();
        let (cmd, version, body) = genl_split(msg.payload).unwrap();
        assert_eq!(version, FAMILY_VERSION);
        (cmd, msg.header.flags, body.to_vec())
    }

    #[test]
    fn service_attributes_match_the_kernel_layout() {
        let s = Service::new(ServiceKey::tcp(ip("192.168.0.1"), 80), "wlc").persistent(300);
        let (cmd, flags, body) = body_of(&Request::NewService(s));
        assert_eq!(cmd, cmd::NEW_SERVICE);
        assert_eq!(flags, wire::NLM_F_REQUEST);
        let attrs: Vec<Attr> = top_nest(&body, ATTR_SERVICE)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let get = |k| attrs.iter().find(|a| a.kind == k).unwrap();
        assert_eq!(get(svc::AF).u16().unwrap(), libc::AF_INET as u16);
        assert_eq!(get(svc::PROTOCOL).u16().unwrap(), 6);
        assert_eq!(
            get(svc::ADDR).payload,
            &[192, 168, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            get(svc::PORT).payload,
            &[0, 80],
            "port in network byte order"
        );
        assert_eq!(get(svc::SCHED_NAME).payload, b"wlc\0");
        assert_eq!(get(svc::TIMEOUT).u32().unwrap(), 300);
        assert_eq!(
            get(svc::NETMASK).payload,
            &[255, 255, 255, 255],
            "IPv4 mask in network order"
        );
        let f = get(svc::FLAGS).payload;
        assert_eq!(
            u32::from_ne_bytes(f[..4].try_into().unwrap()),
            svc_flags::PERSISTENT
        );
        assert_eq!(u32::from_ne_bytes(f[4..].try_into().unwrap()), u32::MAX);
        assert!(attrs.iter().all(|a| a.kind != svc::FWMARK));
    }

    #[test]
    fn fwmark_service_key_has_no_address() {
        let (_, _, body) = body_of(&Request::DelService(ServiceKey::Fwmark {
            family: Family::V6,
            mark: 7,
        }));
        let kinds: Vec<u16> = top_nest(&body, ATTR_SERVICE)
            .unwrap()
            .map(|a| a.unwrap().kind)
            .collect();
        assert_eq!(kinds, [svc::AF, svc::FWMARK]);
    }

    #[test]
    fn ipv6_netmask_is_a_prefix_length() {
        let mut s = Service::new(ServiceKey::tcp(ip("2001:db8::1"), 443), "rr");
        s.netmask = Netmask::V6Prefix(64);
        let (_, _, body) = body_of(&Request::NewService(s));
        let a = top_nest(&body, ATTR_SERVICE)
            .unwrap()
            .map(|a| a.unwrap())
            .find(|a| a.kind == svc::NETMASK)
            .unwrap();
        assert_eq!(a.u32().unwrap(), 64);
    }

    #[test]
    fn dumps_carry_the_dump_flag() {
        assert_eq!(
            body_of(&Request::DumpServices).1,
            wire::NLM_F_REQUEST | wire::NLM_F_DUMP
        );
        let (cmd, flags, _) = body_of(&Request::DumpDests(ServiceKey::udp(ip("10.0.0.1"), 53)));
        assert_eq!(
            (cmd, flags),
            (cmd::GET_DEST, wire::NLM_F_REQUEST | wire::NLM_F_DUMP)
        );
        assert_eq!(body_of(&Request::GetInfo).1, wire::NLM_F_REQUEST);
    }

    #[test]
    fn tunnel_attributes_only_for_tunnels() {
        let k = ServiceKey::tcp(ip("10.0.0.1"), 80);
        let mut d = Destination::new(ip("10.1.0.1"), 80, ForwardMethod::Route, 5);
        let (_, _, body) = body_of(&Request::NewDest(k, d.clone()));
        let kinds: Vec<u16> = top_nest(&body, ATTR_DEST)
            .unwrap()
            .map(|a| a.unwrap().kind)
            .collect();
        assert!(!kinds.contains(&dest::TUN_TYPE));
        d.forward = ForwardMethod::Tunnel;
        d.tunnel = Some(TunnelType::Gue { port: 6080 });
        d.tunnel_flags = tun_flags::CSUM;
        let (_, _, body) = body_of(&Request::NewDest(k, d));
        let a: Vec<Attr> = top_nest(&body, ATTR_DEST)
            .unwrap()
            .map(|a| a.unwrap())
            .collect();
        let get = |k| a.iter().find(|x| x.kind == k).unwrap();
        assert_eq!(get(dest::TUN_TYPE).u8().unwrap(), TUN_GUE);
        assert_eq!(get(dest::TUN_PORT).payload, &6080u16.to_be_bytes());
        assert_eq!(get(dest::TUN_FLAGS).u16().unwrap(), tun_flags::CSUM);
    }

    // Round trips: what we encode for a service or destination decodes to the same
    // object (the kernel echoes the same attributes in its replies).

    fn arb_ip() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            any::<[u8; 4]>().prop_map(|b| IpAddr::V4(Ipv4Addr::from(b))),
            any::<[u8; 16]>().prop_map(|b| IpAddr::V6(Ipv6Addr::from(b))),
        ]
    }

    fn arb_key() -> impl Strategy<Value = ServiceKey> {
        prop_oneof![
            (
                prop::sample::select(vec![Protocol::Tcp, Protocol::Udp, Protocol::Sctp]),
                arb_ip(),
                any::<u16>()
            )
                .prop_map(|(protocol, addr, port)| ServiceKey::Addr {
                    protocol,
                    addr,
                    port
                }),
            (prop::sample::select(vec![Family::V4, Family::V6]), 1u32..)
                .prop_map(|(family, mark)| ServiceKey::Fwmark { family, mark }),
        ]
    }

    fn arb_service() -> impl Strategy<Value = Service> {
        (
            arb_key(),
            "[a-z]{1,15}",
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            0u8..=128,
            proptest::option::of("[a-z]{1,15}"),
        )
            .prop_map(
                |(key, scheduler, flags, timeout, mask, prefix, pe_name)| Service {
                    netmask: match key.family() {
                        Family::V4 => Netmask::V4(Ipv4Addr::from(mask)),
                        Family::V6 => Netmask::V6Prefix(prefix),
                    },
                    key,
                    scheduler,
                    flags: flags & !svc_flags::HASHED,
                    timeout,
                    pe_name,
                },
            )
    }

    fn arb_dest() -> impl Strategy<Value = Destination> {
        let fwd = prop::sample::select(vec![
            ForwardMethod::Masq,
            ForwardMethod::Local,
            ForwardMethod::Tunnel,
            ForwardMethod::Route,
            ForwardMethod::Bypass,
        ]);
        let tun = prop_oneof![
            Just(TunnelType::Ipip),
            Just(TunnelType::Gre),
            any::<u16>().prop_map(|port| TunnelType::Gue { port })
        ];
        (
            arb_ip(),
            any::<u16>(),
            fwd,
            0u32..=i32::MAX as u32,
            any::<u32>(),
            any::<u32>(),
            tun,
            0u16..3,
        )
            .prop_map(|(addr, port, forward, weight, u, l, tun, flags)| {
                let tunnel = (forward == ForwardMethod::Tunnel).then_some(tun);
                Destination {
                    addr,
                    port,
                    forward,
                    weight,
                    upper_threshold: u,
                    lower_threshold: l,
                    tunnel,
                    tunnel_flags: if matches!(
                        tunnel,
                        Some(TunnelType::Gue { .. } | TunnelType::Gre)
                    ) {
                        flags
                    } else {
                        0
                    },
                }
            })
    }

    proptest! {
        #[test]
        fn services_round_trip(s in arb_service()) {
            let (_, _, body) = body_of(&Request::NewService(s.clone()));
            let back = decode_service(top_nest(&body, ATTR_SERVICE).unwrap()).unwrap();
            prop_assert_eq!(back.service, s);
        }

        #[test]
        fn destinations_round_trip(k in arb_key(), d in arb_dest()) {
            let (_, _, body) = body_of(&Request::NewDest(k, d.clone()));
            let back = decode_dest(top_nest(&body, ATTR_DEST).unwrap(), k.family()).unwrap();
            prop_assert_eq!(back.dest, d);
        }

        #[test]
        fn daemons_round_trip(
            master in any::<bool>(), ifname in "[a-z0-9]{1,15}", id in any::<u32>(),
            max_len in proptest::option::of(any::<u16>()), group in proptest::option::of(arb_ip()),
            port in proptest::option::of(any::<u16>()), ttl in proptest::option::of(any::<u8>()),
        ) {
            let d = SyncDaemon {
                state: if master { SyncState::Master } else { SyncState::Backup },
                interface: ifname, sync_id: id, max_len, group, port, ttl,
            };
            let (_, _, body) = body_of(&Request::NewDaemon(d.clone()));
            prop_assert_eq!(decode_daemon(top_nest(&body, ATTR_DAEMON).unwrap()).unwrap(), d);
        }

        #[test]
        fn timeouts_round_trip(tcp in any::<u32>(), fin in any::<u32>(), udp in any::<u32>()) {
            let t = Timeouts { tcp, tcp_fin: fin, udp };
            let (_, _, body) = body_of(&Request::SetTimeouts(t));
            prop_assert_eq!(decode_timeouts(&body).unwrap(), t);
        }

        #[test]
        fn decoding_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_service(wire::attrs(&bytes));
            let _ = decode_dest(wire::attrs(&bytes), Family::V6);
            let _ = decode_daemon(wire::attrs(&bytes));
            let _ = decode_timeouts(&bytes);
            let _ = decode_info(&bytes);
        }
    }

    #[test]
    fn stats_prefer_64_bit_counters() {
        let mut buf = Vec::new();
        let mut m = MessageBuilder::genl(&mut buf, 1, 0, 1, cmd::NEW_SERVICE, 1);
        m.begin_nest(ATTR_SERVICE);
        put_service(
            &mut m,
            &Service::new(ServiceKey::tcp(ip("1.2.3.4"), 80), "rr"),
        );
        m.begin_nest(svc::STATS)
            .u32(stats::CONNS, 7)
            .attr(stats::INBYTES, &9u64.to_ne_bytes())
            .end_nest();
        m.begin_nest(svc::STATS64)
            .attr(stats::CONNS, &(1u64 << 40).to_ne_bytes())
            .end_nest();
        m.end_nest();
        m.finish();
        let msg = messages(&buf).next().unwrap().unwrap();
        let (_, _, body) = genl_split(msg.payload).unwrap();
        let e = decode_service(top_nest(body, ATTR_SERVICE).unwrap()).unwrap();
        assert_eq!(e.stats.conns, 1 << 40);
    }
}
