//! rtnetlink addresses and links: the messages (pure: [`AddressRequest`] encodes,
//! [`Address::decode`] and [`Link::decode`] read replies and events) and [`Rtnl`], the
//! connection that lists and changes them.
//!
//! Written on the project's `netlink` wire layer rather than `netlink-packet-route`: pulse
//! needs four address attributes and five link attributes, and the wire layer already
//! encodes straight into the connection's batch buffer (docs/architecture.md).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink::wire::{self, MessageBuilder};
use netlink::{Connection, Request};

use crate::frame::MacAddr;

const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;
const RTM_GETADDR: u16 = 22;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;

const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_LABEL: u16 = 3;
const IFA_BROADCAST: u16 = 4;
const IFA_CACHEINFO: u16 = 6;
/// `ifa_cacheinfo` of an IPv6 address pulse adds: preferred lifetime 0 (deprecated), valid
/// forever. A deprecated address receives and answers neighbour solicitations but is never
/// picked as a source address, as an IPv4 secondary is not: the director's own
/// connections (health checks to direct-routing real servers, which hold the VIP on their
/// loopback and could not answer a VIP) keep its own address.
const VIP6_CACHEINFO: [u32; 4] = [0, u32::MAX, 0, 0];
/// No duplicate address detection: a taken-over IPv6 VIP must answer at once.
const IFA_F_NODAD: u8 = 0x02;
const RT_SCOPE_UNIVERSE: u8 = 0;

const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MASTER: u16 = 10;
const IFLA_OPERSTATE: u16 = 16;
const IFF_UP: u32 = 0x1;
/// The driver reports carrier (RFC 2863 "lower layer up").
const IFF_LOWER_UP: u32 = 0x10000;
/// IF_OPER_UP and IF_OPER_UNKNOWN: the states in which a link passes traffic.
const OPER_UP: u8 = 6;
const OPER_UNKNOWN: u8 = 0;

/// An interface address as pulse manages it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address {
    pub ifindex: u32,
    pub addr: IpAddr,
    pub prefix: u8,
    /// IPv4 only; legacy `ifconfig` set `(ip & mask) | ~mask` when a mask was given.
    pub broadcast: Option<Ipv4Addr>,
    /// The `eth0:1`-style label (IPv4 only: IPv6 addresses have no labels).
    pub label: Option<String>,
}

impl Address {
    /// The broadcast address legacy pulse passed to `ifconfig` for `ip` and `prefix`.
    pub fn legacy_broadcast(ip: Ipv4Addr, prefix: u8) -> Ipv4Addr {
        let mask = prefix_mask(prefix);
        Ipv4Addr::from((u32::from(ip) & mask) | !mask)
    }

    /// Reads an RTM_NEWADDR message's payload.
    pub fn decode(payload: &[u8]) -> Result<Address, wire::DecodeError> {
        let h = payload
            .get(..8)
            .ok_or_else(|| wire::DecodeError("short ifaddrmsg".into()))?;
        let (family, prefix) = (h[0], h[1]);
        let ifindex = u32::from_ne_bytes([h[4], h[5], h[6], h[7]]);
        let (mut local, mut address, mut label, mut broadcast) = (None, None, None, None);
        for a in wire::attrs(&payload[8..]) {
            let a = a?;
            match a.kind {
                IFA_LOCAL => local = ip_of(family, a.payload),
                IFA_ADDRESS => address = ip_of(family, a.payload),
                IFA_LABEL => label = Some(a.string()?),
                IFA_BROADCAST => {
                    broadcast = match ip_of(family, a.payload) {
                        Some(IpAddr::V4(b)) => Some(b),
                        _ => None,
                    }
                }
                _ => {}
            }
        }
        // IPv4 puts the interface's own address in IFA_LOCAL (IFA_ADDRESS is the peer
        // on point-to-point links); IPv6 only sends IFA_ADDRESS.
        let addr = local
            .or(address)
            .ok_or_else(|| wire::DecodeError("address message without an address".into()))?;
        Ok(Address {
            ifindex,
            addr,
            prefix,
            broadcast,
            label,
        })
    }

    /// Same address on the same interface (what the kernel matches on removal).
    pub fn same_place(&self, other: &Address) -> bool {
        self.ifindex == other.ifindex && self.addr == other.addr
    }
}

fn prefix_mask(prefix: u8) -> u32 {
    match prefix {
        0 => 0,
        p if p >= 32 => u32::MAX,
        p => u32::MAX << (32 - p),
    }
}

fn ip_of(family: u8, b: &[u8]) -> Option<IpAddr> {
    match (i32::from(family), b.len()) {
        (libc::AF_INET, 4) => Some(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))),
        (libc::AF_INET6, 16) => {
            let mut o = [0u8; 16];
            o.copy_from_slice(b);
            Some(IpAddr::V6(Ipv6Addr::from(o)))
        }
        _ => None,
    }
}

fn ip_bytes(ip: &IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// An address request: add (refused if present), remove, or list every address.
#[derive(Debug, Clone)]
pub(crate) enum AddressRequest {
    Add(Address),
    Remove(Address),
    Dump,
}

impl Request for AddressRequest {
    fn encode(&self, buf: &mut Vec<u8>, seq: u32, flags: u16) {
        let (kind, flags, a) = match self {
            AddressRequest::Add(a) => (
                RTM_NEWADDR,
                flags | wire::NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL,
                Some(a),
            ),
            AddressRequest::Remove(a) => (RTM_DELADDR, flags | wire::NLM_F_REQUEST, Some(a)),
            AddressRequest::Dump => (
                RTM_GETADDR,
                flags | wire::NLM_F_REQUEST | wire::NLM_F_DUMP,
                None,
            ),
        };
        let mut header = [0u8; 8];
        if let Some(a) = a {
            header[0] = if a.addr.is_ipv4() {
                libc::AF_INET
            } else {
                libc::AF_INET6
            } as u8;
            header[1] = a.prefix;
            header[2] = if a.addr.is_ipv6() { IFA_F_NODAD } else { 0 };
            header[3] = RT_SCOPE_UNIVERSE;
            header[4..8].copy_from_slice(&a.ifindex.to_ne_bytes());
        }
        let mut m = MessageBuilder::new(buf, kind, flags, seq);
        m.header(&header);
        if let Some(a) = a {
            let ip = ip_bytes(&a.addr);
            m.attr(IFA_LOCAL, &ip).attr(IFA_ADDRESS, &ip);
            if let Some(b) = a.broadcast {
                m.attr(IFA_BROADCAST, &b.octets());
            }
            if let Some(l) = &a.label {
                m.string(IFA_LABEL, l);
            }
            if a.addr.is_ipv6() && matches!(self, AddressRequest::Add(_)) {
                let info: Vec<u8> = VIP6_CACHEINFO
                    .iter()
                    .flat_map(|v| v.to_ne_bytes())
                    .collect();
                m.attr(IFA_CACHEINFO, &info);
            }
        }
        m.finish();
    }

    fn is_dump(&self) -> bool {
        matches!(self, AddressRequest::Dump)
    }
}

/// An interface as pulse watches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub flags: u32,
    pub mac: Option<MacAddr>,
    pub operstate: Option<u8>,
    /// The bond (or bridge) this interface is enslaved to.
    pub master: Option<u32>,
}

impl Link {
    /// Whether the link passes traffic: administratively up with carrier, and not
    /// reported down by its driver. A bond has carrier while any slave has.
    pub fn is_up(&self) -> bool {
        self.flags & IFF_UP != 0
            && self.flags & IFF_LOWER_UP != 0
            && self
                .operstate
                .map_or(true, |s| s == OPER_UP || s == OPER_UNKNOWN)
    }

    /// Reads an RTM_NEWLINK message's payload.
    pub fn decode(payload: &[u8]) -> Result<Link, wire::DecodeError> {
        let h = payload
            .get(..16)
            .ok_or_else(|| wire::DecodeError("short ifinfomsg".into()))?;
        let index = u32::from_ne_bytes([h[4], h[5], h[6], h[7]]);
        let flags = u32::from_ne_bytes([h[8], h[9], h[10], h[11]]);
        let mut link = Link {
            index,
            name: String::new(),
            flags,
            mac: None,
            operstate: None,
            master: None,
        };
        for a in wire::attrs(&payload[16..]) {
            let a = a?;
            match a.kind {
                IFLA_IFNAME => link.name = a.string()?,
                IFLA_ADDRESS if a.payload.len() == 6 => link.mac = Some(MacAddr(a.fixed::<6>()?)),
                IFLA_OPERSTATE => link.operstate = Some(a.u8()?),
                IFLA_MASTER => link.master = Some(a.u32()?),
                _ => {}
            }
        }
        Ok(link)
    }
}

/// RTM_GETLINK: every interface.
pub(crate) struct DumpLinks;

impl Request for DumpLinks {
    fn encode(&self, buf: &mut Vec<u8>, seq: u32, flags: u16) {
        let mut m = MessageBuilder::new(
            buf,
            RTM_GETLINK,
            flags | wire::NLM_F_REQUEST | wire::NLM_F_DUMP,
            seq,
        );
        m.header(&[0u8; 16]);
        m.finish();
    }

    fn is_dump(&self) -> bool {
        true
    }
}

const RTM_NEWROUTE: u16 = 24;
const RTM_GETROUTE: u16 = 26;
const RTA_GATEWAY: u16 = 5;
const RTA_TABLE: u16 = 15;
const RT_TABLE_MAIN: u32 = 254;
const RTN_UNICAST: u8 = 1;

/// A route dump of one address family.
pub(crate) struct DumpRoutes(pub u8);

impl Request for DumpRoutes {
    fn encode(&self, buf: &mut Vec<u8>, seq: u32, flags: u16) {
        let mut m = MessageBuilder::new(
            buf,
            RTM_GETROUTE,
            flags | wire::NLM_F_REQUEST | wire::NLM_F_DUMP,
            seq,
        );
        // struct rtmsg: family first, the rest zero (every table, every type).
        let mut rtmsg = [0u8; 12];
        rtmsg[0] = self.0;
        m.header(&rtmsg);
        m.finish();
    }

    fn is_dump(&self) -> bool {
        true
    }
}

/// The gateway of a default route of the main table (`default via X`), from an
/// RTM_NEWROUTE payload; `None` for any other route.
pub(crate) fn default_gateway_of(payload: &[u8]) -> Result<Option<IpAddr>, wire::DecodeError> {
    let h = payload
        .get(..12)
        .ok_or_else(|| wire::DecodeError("short rtmsg".into()))?;
    let (family, dst_len, table, kind) = (h[0], h[1], u32::from(h[4]), h[7]);
    if dst_len != 0 || kind != RTN_UNICAST {
        return Ok(None);
    }
    let (mut gateway, mut table) = (None, table);
    for a in wire::attrs(&payload[12..]) {
        let a = a?;
        match a.kind {
            RTA_GATEWAY => gateway = ip_of(family, a.payload),
            RTA_TABLE => table = a.u32()?,
            _ => {}
        }
    }
    Ok(gateway.filter(|_| table == RT_TABLE_MAIN))
}

/// Whether a netlink message type is a link message (events and dump replies).
pub(crate) fn is_link_message(kind: u16) -> bool {
    kind == RTM_NEWLINK
}

/// A blocking rtnetlink connection for pulse's changes and lists.
pub struct Rtnl {
    conn: Connection,
}

impl Rtnl {
    pub fn open() -> netlink::Result<Rtnl> {
        Ok(Rtnl {
            conn: Connection::open(libc::NETLINK_ROUTE as isize)?,
        })
    }

    pub fn links(&mut self) -> netlink::Result<Vec<Link>> {
        self.dump(&DumpLinks, RTM_NEWLINK, Link::decode, "list interfaces")
    }

    /// Every address of this host, without the rest of each entry (role detection).
    pub fn local_ips(&mut self) -> netlink::Result<Vec<std::net::IpAddr>> {
        Ok(self.addresses()?.into_iter().map(|a| a.addr).collect())
    }

    pub fn addresses(&mut self) -> netlink::Result<Vec<Address>> {
        self.dump(
            &AddressRequest::Dump,
            RTM_NEWADDR,
            Address::decode,
            "list addresses",
        )
    }

    /// The default gateway of the main routing table for this address's family (the
    /// first, as `ip route show` lists it), if there is one.
    pub fn default_gateway(&mut self, like: IpAddr) -> netlink::Result<Option<IpAddr>> {
        let family = match like {
            IpAddr::V4(_) => libc::AF_INET,
            IpAddr::V6(_) => libc::AF_INET6,
        } as u8;
        let routes = self.dump(
            &DumpRoutes(family),
            RTM_NEWROUTE,
            default_gateway_of,
            "list routes",
        )?;
        Ok(routes.into_iter().flatten().next())
    }

    /// A dump's messages of one type, decoded.
    fn dump<R: Request, T>(
        &mut self,
        request: &R,
        kind: u16,
        decode: fn(&[u8]) -> Result<T, wire::DecodeError>,
        context: &str,
    ) -> netlink::Result<Vec<T>> {
        let replies = self.conn.query(request, context)?;
        replies
            .iter()
            .filter(|r| r.kind == kind)
            .map(|r| decode(&r.payload).map_err(|e| netlink::Error::decode(context, e)))
            .collect()
    }

    /// Adds an address; the kernel refuses one already present (EEXIST).
    pub fn add(&mut self, a: &Address) -> netlink::Result<()> {
        let context = format!("add {}/{}", a.addr, a.prefix);
        self.one(AddressRequest::Add(a.clone()), context)
    }

    pub fn remove(&mut self, a: &Address) -> netlink::Result<()> {
        let context = format!("remove {}/{}", a.addr, a.prefix);
        self.one(AddressRequest::Remove(a.clone()), context)
    }

    fn one(&mut self, r: AddressRequest, context: String) -> netlink::Result<()> {
        self.conn
            .execute(&[r], &|_| context.clone())
            .pop()
            .unwrap_or(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_add_request_carries_label_prefix_and_broadcast() {
        let a = Address {
            ifindex: 3,
            addr: "192.168.0.100".parse().unwrap(),
            prefix: 24,
            broadcast: Some(Address::legacy_broadcast(
                "192.168.0.100".parse().unwrap(),
                24,
            )),
            label: Some("eth0:1".into()),
        };
        let mut buf = Vec::new();
        AddressRequest::Add(a.clone()).encode(&mut buf, 7, 0);
        let msg = wire::messages(&buf).next().unwrap().unwrap();
        assert_eq!(msg.header.kind, RTM_NEWADDR);
        assert_eq!(
            msg.header.flags & (NLM_F_CREATE | NLM_F_EXCL),
            NLM_F_CREATE | NLM_F_EXCL
        );
        assert_eq!(&msg.payload[..8], &[2, 24, 0, 0, 3, 0, 0, 0]);
        let back = Address::decode(msg.payload).unwrap();
        assert_eq!(back, a);
        assert_eq!(back.broadcast, Some(Ipv4Addr::new(192, 168, 0, 255)));
    }

    #[test]
    fn ipv6_addresses_skip_duplicate_address_detection() {
        let a = Address {
            ifindex: 2,
            addr: "2001:db8::100".parse().unwrap(),
            prefix: 64,
            broadcast: None,
            label: None,
        };
        let mut buf = Vec::new();
        AddressRequest::Add(a.clone()).encode(&mut buf, 1, 0);
        let msg = wire::messages(&buf).next().unwrap().unwrap();
        assert_eq!(msg.payload[0], libc::AF_INET6 as u8);
        assert_eq!(msg.payload[2], IFA_F_NODAD);
        assert_eq!(Address::decode(msg.payload).unwrap(), a);
        // Deprecated from the start: preferred lifetime 0, valid forever.
        let info: Vec<u8> = [0u32, u32::MAX, 0, 0]
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect();
        let attr = wire::attrs(&msg.payload[8..])
            .map(Result::unwrap)
            .find(|a| a.kind == IFA_CACHEINFO)
            .map(|a| a.payload.to_vec());
        assert_eq!(attr, Some(info));
    }

    #[test]
    fn the_legacy_broadcast_is_the_network_with_host_bits_set() {
        let b = |ip: &str, p| Address::legacy_broadcast(ip.parse().unwrap(), p).to_string();
        assert_eq!(b("10.0.0.254", 24), "10.0.0.255");
        assert_eq!(b("10.1.2.3", 8), "10.255.255.255");
        assert_eq!(b("10.1.2.3", 32), "10.1.2.3");
        assert_eq!(b("10.1.2.3", 0), "255.255.255.255");
    }

    #[test]
    fn a_link_is_up_only_when_up_with_carrier() {
        let mut l = Link {
            index: 2,
            name: "eth0".into(),
            flags: IFF_UP | IFF_LOWER_UP,
            mac: None,
            operstate: Some(OPER_UP),
            master: None,
        };
        assert!(l.is_up());
        l.flags = IFF_UP;
        assert!(!l.is_up(), "no carrier");
        l.flags = IFF_LOWER_UP;
        assert!(!l.is_up(), "administratively down");
        l.flags = IFF_UP | IFF_LOWER_UP;
        l.operstate = Some(2); // IF_OPER_DOWN
        assert!(!l.is_up());
    }

    #[test]
    fn only_a_main_table_default_route_names_a_gateway() {
        let route = |dst_len: u8, table: u8, kind: u8, extra_table: Option<u32>| {
            let mut p = vec![
                libc::AF_INET as u8,
                dst_len,
                0,
                0,
                table,
                3,
                0,
                kind,
                0,
                0,
                0,
                0,
            ];
            p.extend_from_slice(&[8, 0, RTA_GATEWAY as u8, 0, 192, 0, 2, 1]);
            if let Some(t) = extra_table {
                p.extend_from_slice(&[8, 0, RTA_TABLE as u8, 0]);
                p.extend_from_slice(&t.to_ne_bytes());
            }
            default_gateway_of(&p).unwrap()
        };
        let gw: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(route(0, 254, RTN_UNICAST, None), Some(gw));
        assert_eq!(route(0, 254, RTN_UNICAST, Some(254)), Some(gw));
        assert_eq!(
            route(24, 254, RTN_UNICAST, None),
            None,
            "not a default route"
        );
        assert_eq!(route(0, 255, RTN_UNICAST, None), None, "the local table");
        assert_eq!(
            route(0, 252, RTN_UNICAST, Some(1000)),
            None,
            "another table"
        );
        assert_eq!(route(0, 254, 2, None), None, "not unicast");
        assert!(default_gateway_of(&[2, 0]).is_err());
    }
}
