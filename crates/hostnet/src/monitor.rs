//! Link changes as they happen: a non-blocking rtnetlink socket in the RTNLGRP_LINK
//! group, for an event loop (pulse's `monitor_links`, docs/legacy.md "pulse"). Legacy
//! polled ethtool/MII on every loop turn and skipped bonds; a netlink event carries the
//! kernel's own carrier view, bonds and VLANs included, the moment it changes.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use netlink::{wire, Socket};

use crate::rtnl::{is_link_message, Link};

const RTNLGRP_LINK: u32 = 1;

pub struct LinkMonitor {
    sock: Socket,
    buf: Vec<u8>,
}

impl LinkMonitor {
    pub fn open() -> io::Result<LinkMonitor> {
        let sock = Socket::open(libc::NETLINK_ROUTE as isize)?;
        sock.set_nonblocking(true)?;
        sock.join_group(RTNLGRP_LINK)?;
        Ok(LinkMonitor {
            sock,
            buf: Vec::new(),
        })
    }

    /// Every link message waiting. `Err` when events were lost (the receive buffer
    /// overran): the caller must then list the links afresh.
    pub fn read(&mut self) -> io::Result<Vec<Link>> {
        let mut links = Vec::new();
        loop {
            match self.sock.recv(&mut self.buf) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(links),
                Err(e) => return Err(e),
            }
            for msg in wire::messages(&self.buf).flatten() {
                if is_link_message(msg.header.kind) {
                    if let Ok(l) = Link::decode(msg.payload) {
                        links.push(l);
                    }
                }
            }
        }
    }
}

impl AsFd for LinkMonitor {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

impl std::os::fd::AsRawFd for LinkMonitor {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.sock.as_raw_fd()
    }
}
