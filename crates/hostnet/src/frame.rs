//! Announcement frames, pure (smoltcp-style: a typed representation, `encode` to bytes,
//! `decode` from bytes), so the bytes are tested without a network.
//!
//! * [`ArpFrame`]: legacy `send_arp`'s 60-byte frame (docs/legacy.md, "send_arp"): an ARP
//!   *reply* whose sender and target are both the announced address and MAC, sent to the
//!   Ethernet broadcast address, padded with 18 zero bytes.
//! * [`NeighbourAdvert`]: the IPv6 counterpart (RFC 4861 section 7.2.6): an unsolicited
//!   neighbour advertisement to all nodes (ff02::1) with the Override flag and the target
//!   link-layer address option, so neighbours replace their cached MAC at once.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// An Ethernet MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);

    /// Legacy `send_arp`'s spelling: 12 hex digits, either case, an optional `:` between
    /// bytes.
    pub fn parse(text: &str) -> Option<MacAddr> {
        let digits: Vec<u8> = text.bytes().filter(|b| *b != b':').collect();
        if digits.len() != 12 || text.starts_with(':') || text.ends_with(':') {
            return None;
        }
        let mut mac = [0u8; 6];
        for (i, pair) in digits.chunks(2).enumerate() {
            let s = std::str::from_utf8(pair).ok()?;
            mac[i] = u8::from_str_radix(s, 16).ok()?;
        }
        Some(MacAddr(mac))
    }

    /// As pulse passed it to `send_arp`: 12 upper-case hex digits.
    pub fn legacy_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02X}")).collect()
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

/// Why bytes are not the frame expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError(pub &'static str);

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for FrameError {}

pub(crate) const ETHERTYPE_ARP: u16 = 0x0806;
pub(crate) const ETHERTYPE_IPV6: u16 = 0x86dd;
/// ARP opcodes.
#[allow(dead_code)] // The request is never sent: announcements are replies.
pub(crate) const ARP_REQUEST: u16 = 1;
pub(crate) const ARP_REPLY: u16 = 2;

/// An Ethernet ARP frame for IPv4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpFrame {
    pub eth_dst: MacAddr,
    pub eth_src: MacAddr,
    pub opcode: u16,
    pub sender_mac: MacAddr,
    pub sender_ip: Ipv4Addr,
    pub target_mac: MacAddr,
    pub target_ip: Ipv4Addr,
}

impl ArpFrame {
    /// The frame's length on the wire: the Ethernet minimum, as legacy `send_arp` sent.
    pub(crate) const LEN: usize = 60;

    /// What pulse announces for an address it took over: legacy `send_arp -i DEV IP MAC
    /// BCAST ffffffffffff` (the target IP argument is ignored by `send_arp`).
    pub fn gratuitous(mac: MacAddr, ip: Ipv4Addr) -> ArpFrame {
        ArpFrame {
            eth_dst: MacAddr::BROADCAST,
            eth_src: mac,
            opcode: ARP_REPLY,
            sender_mac: mac,
            sender_ip: ip,
            target_mac: mac,
            target_ip: ip,
        }
    }

    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut b = [0u8; Self::LEN];
        b[0..6].copy_from_slice(&self.eth_dst.0);
        b[6..12].copy_from_slice(&self.eth_src.0);
        b[12..14].copy_from_slice(&ETHERTYPE_ARP.to_be_bytes());
        b[14..16].copy_from_slice(&1u16.to_be_bytes()); // hardware: Ethernet
        b[16..18].copy_from_slice(&0x0800u16.to_be_bytes()); // protocol: IPv4
        b[18] = 6;
        b[19] = 4;
        b[20..22].copy_from_slice(&self.opcode.to_be_bytes());
        b[22..28].copy_from_slice(&self.sender_mac.0);
        b[28..32].copy_from_slice(&self.sender_ip.octets());
        b[32..38].copy_from_slice(&self.target_mac.0);
        b[38..42].copy_from_slice(&self.target_ip.octets());
        // 42..60: zero padding.
        b
    }

    pub fn decode(b: &[u8]) -> Result<ArpFrame, FrameError> {
        if b.len() < 42 {
            return Err(FrameError("shorter than an Ethernet ARP frame"));
        }
        if be16(b, 12) != ETHERTYPE_ARP {
            return Err(FrameError("not an ARP frame"));
        }
        if be16(b, 14) != 1 || be16(b, 16) != 0x0800 || b[18] != 6 || b[19] != 4 {
            return Err(FrameError("not Ethernet/IPv4 ARP"));
        }
        Ok(ArpFrame {
            eth_dst: mac_at(b, 0),
            eth_src: mac_at(b, 6),
            opcode: be16(b, 20),
            sender_mac: mac_at(b, 22),
            sender_ip: ipv4_at(b, 28),
            target_mac: mac_at(b, 32),
            target_ip: ipv4_at(b, 38),
        })
    }
}

/// An unsolicited IPv6 neighbour advertisement in an Ethernet frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighbourAdvert {
    pub eth_src: MacAddr,
    /// The address announced (also the IPv6 source: it is assigned to the interface).
    pub target: Ipv6Addr,
    /// The Override flag: replace cached entries (set for takeovers).
    pub override_flag: bool,
}

/// All-nodes multicast, and its Ethernet mapping (RFC 2464).
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
const ALL_NODES_MAC: MacAddr = MacAddr([0x33, 0x33, 0, 0, 0, 1]);
const ICMPV6: u8 = 58;
const ND_NEIGHBOR_ADVERT: u8 = 136;
const OPT_TARGET_LINK_ADDR: u8 = 2;
const ICMP_LEN: usize = 32;

impl NeighbourAdvert {
    pub(crate) const LEN: usize = 14 + 40 + ICMP_LEN;

    pub fn unsolicited(mac: MacAddr, target: Ipv6Addr) -> NeighbourAdvert {
        NeighbourAdvert {
            eth_src: mac,
            target,
            override_flag: true,
        }
    }

    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut b = [0u8; Self::LEN];
        b[0..6].copy_from_slice(&ALL_NODES_MAC.0);
        b[6..12].copy_from_slice(&self.eth_src.0);
        b[12..14].copy_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
        let ip = &mut b[14..54];
        ip[0] = 0x60;
        ip[4..6].copy_from_slice(&(ICMP_LEN as u16).to_be_bytes());
        ip[6] = ICMPV6;
        ip[7] = 255; // hop limit: RFC 4861 requires 255
        ip[8..24].copy_from_slice(&self.target.octets());
        ip[24..40].copy_from_slice(&ALL_NODES.octets());
        let icmp = &mut b[54..];
        icmp[0] = ND_NEIGHBOR_ADVERT;
        if self.override_flag {
            icmp[4] = 0x20;
        }
        icmp[8..24].copy_from_slice(&self.target.octets());
        icmp[24] = OPT_TARGET_LINK_ADDR;
        icmp[25] = 1; // in units of 8 bytes
        icmp[26..32].copy_from_slice(&self.eth_src.0);
        let sum = icmpv6_checksum(&self.target, &ALL_NODES, icmp);
        icmp[2..4].copy_from_slice(&sum.to_be_bytes());
        b
    }

    pub fn decode(b: &[u8]) -> Result<NeighbourAdvert, FrameError> {
        if b.len() < Self::LEN {
            return Err(FrameError("shorter than a neighbour advertisement"));
        }
        if be16(b, 12) != ETHERTYPE_IPV6 || b[14] >> 4 != 6 || b[20] != ICMPV6 {
            return Err(FrameError("not ICMPv6 over IPv6"));
        }
        let src = ipv6_at(b, 22);
        let dst = ipv6_at(b, 38);
        let len = be16(b, 18) as usize;
        let icmp = b.get(54..54 + len).ok_or(FrameError("truncated ICMPv6"))?;
        if icmp[0] != ND_NEIGHBOR_ADVERT || len < 24 {
            return Err(FrameError("not a neighbour advertisement"));
        }
        if icmpv6_checksum(&src, &dst, icmp) != 0 {
            return Err(FrameError("bad ICMPv6 checksum"));
        }
        Ok(NeighbourAdvert {
            eth_src: mac_at(b, 6),
            target: ipv6_at(icmp, 8),
            override_flag: icmp[4] & 0x20 != 0,
        })
    }
}

/// The ICMPv6 checksum over the pseudo-header and the message; 0 when a message with
/// its checksum in place is intact.
fn icmpv6_checksum(src: &Ipv6Addr, dst: &Ipv6Addr, icmp: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut add = |bytes: &[u8]| {
        for pair in bytes.chunks(2) {
            let hi = u32::from(pair[0]) << 8;
            let lo = pair.get(1).copied().map_or(0, u32::from);
            sum += hi | lo;
        }
    };
    add(&src.octets());
    add(&dst.octets());
    add(&(icmp.len() as u32).to_be_bytes());
    add(&[0, 0, 0, ICMPV6]);
    add(icmp);
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn mac_at(b: &[u8], at: usize) -> MacAddr {
    let mut m = [0u8; 6];
    m.copy_from_slice(&b[at..at + 6]);
    MacAddr(m)
}

fn ipv4_at(b: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3])
}

fn ipv6_at(b: &[u8], at: usize) -> Ipv6Addr {
    let mut o = [0u8; 16];
    o.copy_from_slice(&b[at..at + 16]);
    Ipv6Addr::from(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: MacAddr = MacAddr([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);

    #[test]
    fn mac_addresses_parse_as_send_arp_takes_them() {
        assert_eq!(MacAddr::parse("525400123456"), Some(MAC));
        assert_eq!(MacAddr::parse("52:54:00:12:34:56"), Some(MAC));
        assert_eq!(
            MacAddr::parse("52:54:00:12:34:56").unwrap().legacy_hex(),
            "525400123456"
        );
        assert_eq!(
            MacAddr::parse("525400abcdEF").unwrap().legacy_hex(),
            "525400ABCDEF"
        );
        for bad in [
            "",
            "52540012345",
            "5254001234567",
            "52540012345g",
            ":525400123456",
            "52:54:00:12:34:56:",
        ] {
            assert_eq!(MacAddr::parse(bad), None, "{bad}");
        }
        assert_eq!(MAC.to_string(), "52:54:00:12:34:56");
    }

    #[test]
    fn the_gratuitous_arp_is_legacy_send_arps_60_bytes() {
        let f = ArpFrame::gratuitous(MAC, Ipv4Addr::new(192, 168, 0, 100)).encode();
        #[rustfmt::skip]
        let expected: [u8; 60] = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff,       // to: broadcast
            0x52, 0x54, 0x00, 0x12, 0x34, 0x56,       // from: our MAC
            0x08, 0x06,                               // ARP
            0x00, 0x01, 0x08, 0x00, 6, 4,             // Ethernet/IPv4
            0x00, 0x02,                               // reply
            0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 192, 168, 0, 100, // sender
            0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 192, 168, 0, 100, // target = sender
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // padding
        ];
        assert_eq!(f, expected);
        assert_eq!(
            ArpFrame::decode(&f).unwrap(),
            ArpFrame::gratuitous(MAC, Ipv4Addr::new(192, 168, 0, 100))
        );
    }

    #[test]
    fn arp_decoding_refuses_what_is_not_ethernet_ipv4_arp() {
        let good = ArpFrame::gratuitous(MAC, Ipv4Addr::new(10, 0, 0, 1)).encode();
        assert!(ArpFrame::decode(&good[..41]).is_err());
        let mut ipv6 = good;
        ipv6[12..14].copy_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
        assert_eq!(ArpFrame::decode(&ipv6), Err(FrameError("not an ARP frame")));
        let mut hlen = good;
        hlen[18] = 8;
        assert!(ArpFrame::decode(&hlen).is_err());
    }

    #[test]
    fn the_unsolicited_advert_has_the_rfc_4861_layout_and_checksum() {
        let target: Ipv6Addr = "2001:db8::100".parse().unwrap();
        let f = NeighbourAdvert::unsolicited(MAC, target).encode();
        assert_eq!(f.len(), 86);
        assert_eq!(&f[0..6], &[0x33, 0x33, 0, 0, 0, 1]);
        assert_eq!(&f[6..12], &MAC.0);
        assert_eq!(&f[12..14], &[0x86, 0xdd]);
        assert_eq!(f[14], 0x60);
        assert_eq!(&f[18..20], &[0, 32]); // payload length
        assert_eq!(f[20], 58); // ICMPv6
        assert_eq!(f[21], 255); // hop limit
        assert_eq!(&f[22..38], &target.octets());
        assert_eq!(&f[38..54], &ALL_NODES.octets());
        assert_eq!(f[54], 136);
        assert_eq!(f[55], 0);
        assert_eq!(&f[58..62], &[0x20, 0, 0, 0]); // Override only
        assert_eq!(&f[62..78], &target.octets());
        assert_eq!(&f[78..86], &[2, 1, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
        // A checksum computed independently, by the one's-complement sum of 16-bit words.
        let mut words: u64 = 0;
        for chunk in [&f[22..38], &f[38..54]] {
            words += chunk
                .chunks(2)
                .map(|p| u64::from(u16::from_be_bytes([p[0], p[1]])))
                .sum::<u64>();
        }
        words += 32 + 58;
        words += f[54..86]
            .chunks(2)
            .map(|p| u64::from(u16::from_be_bytes([p[0], p[1]])))
            .sum::<u64>();
        while words > 0xffff {
            words = (words & 0xffff) + (words >> 16);
        }
        assert_eq!(
            words, 0xffff,
            "the sum with the checksum in place is all ones"
        );
        assert_eq!(
            NeighbourAdvert::decode(&f).unwrap(),
            NeighbourAdvert::unsolicited(MAC, target)
        );
    }

    #[test]
    fn a_corrupted_advert_fails_its_checksum() {
        let target: Ipv6Addr = "2001:db8::100".parse().unwrap();
        let mut f = NeighbourAdvert::unsolicited(MAC, target).encode();
        f[70] ^= 1;
        assert_eq!(
            NeighbourAdvert::decode(&f),
            Err(FrameError("bad ICMPv6 checksum"))
        );
        assert!(NeighbourAdvert::decode(&f[..80]).is_err());
    }
}
