//! Sends whole Ethernet frames out of one interface: an AF_PACKET raw socket, the
//! successor of the obsolete `SOCK_PACKET` socket legacy `send_arp` used (same frame).

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};

/// A send-only packet socket (protocol 0: the kernel delivers nothing to it).
pub struct PacketSender {
    fd: OwnedFd,
}

impl PacketSender {
    /// Needs CAP_NET_RAW.
    pub fn open() -> io::Result<PacketSender> {
        let fd = socket(
            AddressFamily::Packet,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
            None,
        )?;
        Ok(PacketSender { fd })
    }

    /// Sends `frame` (Ethernet header included) out of interface `ifindex`. Never blocks:
    /// a full queue is an error, and announcements are repeated anyway.
    pub fn send(&self, ifindex: u32, frame: &[u8]) -> io::Result<()> {
        if frame.len() < 14 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "frame shorter than an Ethernet header",
            ));
        }
        let mut addr: libc::sockaddr_ll = zeroed_sockaddr_ll();
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_protocol = u16::from_be_bytes([frame[12], frame[13]]).to_be();
        addr.sll_ifindex = ifindex as i32;
        addr.sll_halen = 6;
        addr.sll_addr[..6].copy_from_slice(&frame[..6]);
        // SAFETY: nix offers no safe constructor for a sockaddr_ll (its `LinkAddr` is
        // made only from raw pointers), so sendto(2) is called directly. The buffer
        // pointer and length come from one live slice, the address is a fully
        // initialised sockaddr_ll on the stack with its true size, and the descriptor is
        // owned by self for the duration of the call.
        let sent = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&addr as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        if sent as usize != frame.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "frame sent in part",
            ));
        }
        Ok(())
    }
}

/// An all-zero sockaddr_ll, built field by field (no unsafe needed).
fn zeroed_sockaddr_ll() -> libc::sockaddr_ll {
    libc::sockaddr_ll {
        sll_family: 0,
        sll_protocol: 0,
        sll_ifindex: 0,
        sll_hatype: 0,
        sll_pkttype: 0,
        sll_halen: 0,
        sll_addr: [0; 8],
    }
}
