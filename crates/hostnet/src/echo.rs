//! ICMP echo: can this director reach a neighbour (its default gateway)? pulse's
//! connectivity check in fos mode (docs/legacy.md, "fos": legacy forked `/bin/ping -n -c 1
//! -w 1 GATEWAY` up to three times). [`Echo`] is the wire, pure; [`ping`] sends one
//! request on a raw socket and waits for its reply, bounded by a timeout.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{
    recvfrom, sendto, socket, AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType,
    SockaddrStorage,
};

const ECHO_REQUEST_V4: u8 = 8;
const ECHO_REPLY_V4: u8 = 0;
const ECHO_REQUEST_V6: u8 = 128;
const ECHO_REPLY_V6: u8 = 129;
/// Type, code, checksum, identifier, sequence, and 8 bytes of data.
const ECHO_LEN: usize = 16;

/// One echo request/reply pair's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Echo {
    pub ident: u16,
    pub seq: u16,
}

impl Echo {
    /// The request's ICMP message. The ICMPv6 checksum is left to the kernel (it covers
    /// a pseudo-header only the kernel knows; raw ICMPv6 sockets always fill it in).
    pub fn encode(&self, v6: bool) -> [u8; ECHO_LEN] {
        let mut m = [0u8; ECHO_LEN];
        m[0] = if v6 { ECHO_REQUEST_V6 } else { ECHO_REQUEST_V4 };
        m[4..6].copy_from_slice(&self.ident.to_be_bytes());
        m[6..8].copy_from_slice(&self.seq.to_be_bytes());
        m[8..].copy_from_slice(b"piranha!");
        if !v6 {
            let sum = checksum(&m);
            m[2..4].copy_from_slice(&sum.to_be_bytes());
        }
        m
    }

    /// Whether `icmp` (an ICMP message, without any IP header) is the reply to this.
    pub(crate) fn is_reply(&self, v6: bool, icmp: &[u8]) -> bool {
        let want = if v6 { ECHO_REPLY_V6 } else { ECHO_REPLY_V4 };
        icmp.len() >= 8
            && icmp[0] == want
            && icmp[1] == 0
            && icmp[4..6] == self.ident.to_be_bytes()
            && icmp[6..8] == self.seq.to_be_bytes()
    }
}

/// The Internet checksum (RFC 1071).
fn checksum(b: &[u8]) -> u16 {
    let mut sum: u32 = b
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The ICMP message of what a raw socket received: IPv4 sockets deliver the IP header
/// too, IPv6 ones do not.
fn icmp_part(v6: bool, packet: &[u8]) -> &[u8] {
    if v6 {
        return packet;
    }
    let header = packet.first().map_or(0, |b| usize::from(b & 0x0f) * 4);
    packet.get(header..).unwrap_or(&[])
}

/// Sends one echo request to `to` and waits up to `timeout` for its reply: `Ok(true)`
/// when it came, `Ok(false)` when it did not. Needs CAP_NET_RAW.
pub fn ping(to: IpAddr, echo: Echo, timeout: Duration) -> io::Result<bool> {
    let (family, protocol, v6) = match to {
        IpAddr::V4(_) => (AddressFamily::Inet, SockProtocol::Icmp, false),
        IpAddr::V6(_) => (AddressFamily::Inet6, SockProtocol::IcmpV6, true),
    };
    let fd = socket(family, SockType::Raw, SockFlag::SOCK_CLOEXEC, protocol)?;
    let dest = SockaddrStorage::from(SocketAddr::new(to, 0));
    match sendto(fd.as_raw_fd(), &echo.encode(v6), &dest, MsgFlags::empty()) {
        Ok(_) => {}
        // No route, no link, no neighbour: as unanswered as a lost reply.
        Err(Errno::ENETUNREACH | Errno::EHOSTUNREACH | Errno::ENETDOWN | Errno::EHOSTDOWN) => {
            return Ok(false)
        }
        Err(e) => return Err(e.into()),
    }
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 1500];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        let ms = PollTimeout::try_from(left.as_millis().max(1) as i32).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        if poll(&mut fds, ms)? == 0 {
            return Ok(false);
        }
        // Every ICMP message reaching this host is delivered to every raw socket: only
        // the reply from `to` with our identity counts.
        let (n, from) = recvfrom::<SockaddrStorage>(fd.as_raw_fd(), &mut buf)?;
        let from_ip = from.and_then(|a| {
            a.as_sockaddr_in()
                .map(|s| IpAddr::V4(s.ip()))
                .or_else(|| a.as_sockaddr_in6().map(|s| IpAddr::V6(s.ip())))
        });
        if from_ip == Some(to) && echo.is_reply(v6, icmp_part(v6, &buf[..n])) {
            return Ok(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_carries_its_identity_and_a_valid_checksum() {
        let e = Echo {
            ident: 0x1234,
            seq: 7,
        };
        let m = e.encode(false);
        assert_eq!(&m[..8], &[8, 0, m[2], m[3], 0x12, 0x34, 0, 7]);
        assert_eq!(checksum(&m), 0, "a message with its checksum sums to zero");
        assert_eq!(e.encode(true)[0], 128);
        assert_eq!(&e.encode(true)[2..4], &[0, 0], "the kernel fills ICMPv6's");
    }

    #[test]
    fn only_our_reply_matches() {
        let e = Echo { ident: 9, seq: 1 };
        let mut reply = e.encode(false);
        reply[0] = ECHO_REPLY_V4;
        assert!(e.is_reply(false, &reply));
        assert!(!e.is_reply(false, &e.encode(false)), "our own request");
        assert!(!Echo { ident: 9, seq: 2 }.is_reply(false, &reply));
        assert!(!Echo { ident: 8, seq: 1 }.is_reply(false, &reply));
        assert!(!e.is_reply(false, &reply[..6]));
        let mut v6 = e.encode(true);
        v6[0] = ECHO_REPLY_V6;
        assert!(e.is_reply(true, &v6));
    }

    #[test]
    fn the_ipv4_header_is_skipped() {
        let mut packet = vec![0x46u8; 24]; // IHL 6: 24 bytes of header
        packet.extend_from_slice(&[0, 0, 1, 2]);
        assert_eq!(icmp_part(false, &packet), &[0, 0, 1, 2]);
        assert_eq!(icmp_part(true, &packet), &packet[..]);
        assert_eq!(
            icmp_part(false, &[0x4f]),
            &[] as &[u8],
            "header longer than the packet"
        );
    }

    #[test]
    fn the_loopback_answers() {
        // Raw sockets need CAP_NET_RAW: without it (an unprivileged run) there is nothing
        // to learn here, and the namespace tests cover the real path.
        let e = Echo {
            ident: std::process::id() as u16,
            seq: 1,
        };
        match ping("127.0.0.1".parse().unwrap(), e, Duration::from_secs(1)) {
            Ok(answered) => assert!(answered, "127.0.0.1 did not answer an echo request"),
            Err(err) => assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}"),
        }
    }
}
