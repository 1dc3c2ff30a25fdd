//! The netlink socket: rust-netlink's `netlink-sys` socket, set up the way the daemons
//! need it (large buffers, capped and extended acks), blocking or not, with multicast
//! group membership, and usable in an event loop through [`AsFd`].

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use nix::sys::socket::{setsockopt, sockopt};

/// Socket buffer sizes: large enough for a batch of failures (one skb each).
const SOCKET_BUFFER: usize = 8 << 20;
/// The largest datagram we accept (the kernel's dumps use at most 32 KiB per skb).
const RECV_BUFFER: usize = 256 * 1024;

/// A netlink socket of one protocol (`NETLINK_GENERIC`, `NETLINK_ROUTE`, ...), bound to
/// a port id the kernel chose.
pub struct Socket {
    inner: netlink_sys::Socket,
}

impl Socket {
    pub fn open(protocol: isize) -> io::Result<Socket> {
        let mut inner = netlink_sys::Socket::new(protocol)?;
        inner.bind_auto()?;
        let sock = Socket { inner };
        // Large buffers so a batch's replies never overflow; the FORCE variants exceed
        // rmem_max/wmem_max as root, the plain ones are the fallback.
        let fd = sock.as_fd();
        if setsockopt(&fd, sockopt::RcvBufForce, &SOCKET_BUFFER).is_err() {
            setsockopt(&fd, sockopt::RcvBuf, &SOCKET_BUFFER)?;
        }
        if setsockopt(&fd, sockopt::SndBufForce, &SOCKET_BUFFER).is_err() {
            setsockopt(&fd, sockopt::SndBuf, &SOCKET_BUFFER)?;
        }
        // Errors echo only the request header (small replies), with the kernel's text;
        // older kernels lack both, which costs only size and text.
        let _ = sock.inner.set_cap_ack(true);
        let _ = sock.inner.set_ext_ack(true);
        Ok(sock)
    }

    /// Non-blocking mode: [`Socket::recv`] then returns `WouldBlock` when nothing waits.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.inner.set_non_blocking(nonblocking)
    }

    /// Joins a multicast group (rtnetlink's `RTNLGRP_LINK`, ...): the kernel then sends
    /// this socket its notifications.
    pub fn join_group(&self, group: u32) -> io::Result<()> {
        self.inner.add_membership(group)
    }

    pub fn leave_group(&self, group: u32) -> io::Result<()> {
        self.inner.drop_membership(group)
    }

    /// Sends one datagram (any number of messages) to the kernel.
    pub fn send(&self, buf: &[u8]) -> io::Result<()> {
        let kernel = netlink_sys::SocketAddr::new(0, 0);
        loop {
            match self.inner.send_to(buf, &kernel, 0) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
                Ok(n) if n != buf.len() => {
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "short netlink send",
                    ))
                }
                Ok(_) => return Ok(()),
            }
        }
    }

    /// Receives one datagram into `buf` (resized to what arrived). A datagram larger
    /// than the buffer is an error, never silently cut.
    pub fn recv(&self, buf: &mut Vec<u8>) -> io::Result<()> {
        buf.clear();
        buf.reserve(RECV_BUFFER);
        loop {
            // MSG_TRUNC: the real length comes back even when the datagram was larger.
            match self.inner.recv(buf, libc::MSG_TRUNC) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
                Ok(n) if n > buf.len() => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "netlink datagram larger than the receive buffer",
                    ))
                }
                Ok(_) => return Ok(()),
            }
        }
    }
}

impl AsFd for Socket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

impl AsRawFd for Socket {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}
