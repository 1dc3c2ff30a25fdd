//! The generic netlink socket: family resolution and pipelined requests.
//!
//! Pipelining: many requests go out in one `sendmsg`; only the last request of each batch
//! asks for an acknowledgement. The kernel handles the messages of one `sendmsg` in order
//! and reports every failure (with its sequence number) even without an ACK request, so
//! when the batch's ACK arrives every earlier request has been handled and every error
//! for it has been received. Each batch costs one `sendmsg` and one `recv` plus one per
//! failed request, instead of a round trip per request.

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::packet::{self, Request};
use super::wire::{self, ErrorMessage, MessageBuilder};
use crate::error::{Error, Result};

const GENL_ID_CTRL: u16 = 0x10;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;

const NETLINK_CAP_ACK: libc::c_int = 10;
const NETLINK_EXT_ACK: libc::c_int = 11;

/// At most this many requests per `sendmsg`...
const BATCH_MESSAGES: usize = 1024;
/// ...and at most this many bytes (below the socket's send buffer).
const BATCH_BYTES: usize = 128 * 1024;
/// Socket buffer sizes: large enough for a batch of failures (one skb each).
const SOCKET_BUFFER: usize = 8 << 20;
const RECV_BUFFER: usize = 256 * 1024;

/// A raw netlink socket.
pub struct Socket {
    fd: OwnedFd,
}

fn setsockopt_int(fd: i32, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: `value` outlives the call and its size is passed.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            &value as *const i32 as *const libc::c_void,
            mem::size_of::<i32>() as u32,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

impl Socket {
    pub fn open(protocol: i32) -> io::Result<Socket> {
        // SAFETY: plain socket(2) call; the fd is owned below.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                protocol,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh, valid descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let raw = fd.as_raw_fd();
        // Large buffers so a batch's replies never overflow; the FORCE variants exceed
        // rmem_max/wmem_max as root, the plain ones are the fallback.
        let size = SOCKET_BUFFER as i32;
        if setsockopt_int(raw, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, size).is_err() {
            setsockopt_int(raw, libc::SOL_SOCKET, libc::SO_RCVBUF, size)?;
        }
        if setsockopt_int(raw, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, size).is_err() {
            setsockopt_int(raw, libc::SOL_SOCKET, libc::SO_SNDBUF, size)?;
        }
        // Errors echo only the request header (small replies), with the kernel's text.
        let _ = setsockopt_int(raw, libc::SOL_NETLINK, NETLINK_CAP_ACK, 1);
        let _ = setsockopt_int(raw, libc::SOL_NETLINK, NETLINK_EXT_ACK, 1);
        // SAFETY: zeroed sockaddr_nl is valid; nl_pid 0 lets the kernel pick.
        let mut addr: libc::sockaddr_nl = unsafe { mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as u16;
        // SAFETY: addr is a valid sockaddr_nl of the given size.
        let rc = unsafe {
            libc::bind(
                raw,
                &addr as *const _ as *const libc::sockaddr,
                mem::size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Socket { fd })
    }

    pub fn send(&self, buf: &[u8]) -> io::Result<()> {
        // SAFETY: zeroed sockaddr_nl addresses the kernel (pid 0).
        let mut addr: libc::sockaddr_nl = unsafe { mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as u16;
        loop {
            // SAFETY: buf and addr are valid for the given lengths.
            let n = unsafe {
                libc::sendto(
                    self.fd.as_raw_fd(),
                    buf.as_ptr() as *const libc::c_void,
                    buf.len(),
                    0,
                    &addr as *const _ as *const libc::sockaddr,
                    mem::size_of::<libc::sockaddr_nl>() as u32,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if n as usize != buf.len() {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "short netlink send",
                ));
            }
            return Ok(());
        }
    }

    /// Receives one datagram into `buf` (resized to what arrived).
    pub fn recv(&self, buf: &mut Vec<u8>) -> io::Result<()> {
        buf.resize(RECV_BUFFER, 0);
        loop {
            // SAFETY: buf is valid for its length. MSG_TRUNC returns the real length.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr() as *mut libc::c_void,
                    buf.len(),
                    libc::MSG_TRUNC,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let n = n as usize;
            if n > buf.len() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "netlink datagram larger than the receive buffer",
                ));
            }
            buf.truncate(n);
            return Ok(());
        }
    }
}

/// A generic netlink connection to the IPVS family.
pub struct Connection {
    sock: Socket,
    family: u16,
    seq: u32,
    rx: Vec<u8>,
    tx: Vec<u8>,
}

/// One message of a reply: its generic netlink command and attributes.
#[derive(Debug, Clone)]
pub struct Reply {
    pub cmd: u8,
    pub body: Vec<u8>,
}

impl Connection {
    /// Opens a socket and resolves the "IPVS" family. The first lookup may trigger the
    /// module's autoload (`net-pf-16-proto-16-family-IPVS`), so a miss is retried.
    pub fn open() -> Result<Connection> {
        let sock = Socket::open(libc::NETLINK_GENERIC)
            .map_err(|e| Error::io("open generic netlink socket", e))?;
        let mut c = Connection {
            sock,
            family: 0,
            seq: 0,
            rx: Vec::new(),
            tx: Vec::new(),
        };
        let mut last = Error::FamilyNotFound;
        for attempt in 0..3 {
            match c.resolve_family(packet::FAMILY_NAME) {
                Ok(id) => {
                    c.family = id;
                    return Ok(c);
                }
                Err(e @ Error::FamilyNotFound) => last = e,
                Err(e) => return Err(e),
            }
            std::thread::sleep(std::time::Duration::from_millis(50 << attempt));
        }
        Err(last)
    }

    pub fn family_id(&self) -> u16 {
        self.family
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        if self.seq == 0 {
            self.seq = 1;
        }
        self.seq
    }

    fn resolve_family(&mut self, name: &str) -> Result<u16> {
        let seq = self.next_seq();
        let mut buf = Vec::new();
        let mut m = MessageBuilder::genl(
            &mut buf,
            GENL_ID_CTRL,
            wire::NLM_F_REQUEST | wire::NLM_F_ACK,
            seq,
            CTRL_CMD_GETFAMILY,
            1,
        );
        m.string(CTRL_ATTR_FAMILY_NAME, name);
        m.finish();
        self.sock
            .send(&buf)
            .map_err(|e| Error::io("resolve generic netlink family", e))?;
        let mut id = None;
        loop {
            self.sock
                .recv(&mut self.rx)
                .map_err(|e| Error::io("resolve generic netlink family", e))?;
            for msg in wire::messages(&self.rx) {
                let msg = msg.map_err(|e| Error::Decode {
                    context: "family reply".into(),
                    source: e,
                })?;
                if msg.header.seq != seq {
                    continue;
                }
                if msg.header.kind == wire::NLMSG_ERROR {
                    let err = ErrorMessage::decode(&msg).map_err(|e| Error::Decode {
                        context: "family reply".into(),
                        source: e,
                    })?;
                    return match (err.errno, id) {
                        (0, Some(id)) => Ok(id),
                        (0, None) => Err(Error::FamilyNotFound),
                        (libc::ENOENT, _) => Err(Error::FamilyNotFound),
                        (e, _) => Err(Error::kernel(e, "resolve generic netlink family", err.text)),
                    };
                }
                if msg.header.kind == GENL_ID_CTRL {
                    let (_, _, body) =
                        wire::genl_split(msg.payload).map_err(|e| Error::Decode {
                            context: "family reply".into(),
                            source: e,
                        })?;
                    for a in wire::attrs(body).flatten() {
                        if a.kind == CTRL_ATTR_FAMILY_ID {
                            id = a.u16().ok();
                        }
                    }
                }
            }
        }
    }

    /// Runs change requests (no replies expected), pipelined. Returns one result per
    /// request, in order; `describe(i)` words request `i` for its error.
    pub fn execute(
        &mut self,
        requests: &[Request],
        describe: &dyn Fn(usize) -> String,
    ) -> Vec<Result<()>> {
        let mut results: Vec<Result<()>> = Vec::with_capacity(requests.len());
        let mut start = 0;
        while start < requests.len() {
            // Build one batch, then ask for an ACK on whichever message ended up last.
            self.tx.clear();
            let first_seq = self.seq.wrapping_add(1);
            let mut end = start;
            let mut last_header = 0;
            while end < requests.len()
                && end - start < BATCH_MESSAGES
                && self.tx.len() < BATCH_BYTES
            {
                last_header = self.tx.len();
                let seq = self.next_seq();
                requests[end].encode(&mut self.tx, self.family, seq, 0);
                end += 1;
            }
            wire::add_flags(&mut self.tx[last_header..], wire::NLM_F_ACK);
            let count = end - start;
            let last_seq = self.seq;
            let mut batch: Vec<Option<Result<()>>> = (0..count).map(|_| None).collect();
            if let Err(e) = self.sock.send(&self.tx) {
                let kind = e.kind();
                for r in batch.iter_mut() {
                    *r = Some(Err(Error::io("send IPVS requests", io::Error::from(kind))));
                }
            } else if let Err(e) =
                self.collect_batch(first_seq, last_seq, &mut batch, start, describe)
            {
                // Lost replies: outcomes unknown for everything not yet answered.
                let text = e.to_string();
                for r in batch.iter_mut().filter(|r| r.is_none()) {
                    *r = Some(Err(Error::Overrun {
                        context: text.clone(),
                    }));
                }
            }
            // Requests the kernel did not complain about before the final ACK succeeded.
            results.extend(batch.into_iter().map(|r| r.unwrap_or(Ok(()))));
            start = end;
        }
        results
    }

    fn collect_batch(
        &mut self,
        first_seq: u32,
        last_seq: u32,
        batch: &mut [Option<Result<()>>],
        offset: usize,
        describe: &dyn Fn(usize) -> String,
    ) -> Result<()> {
        loop {
            match self.sock.recv(&mut self.rx) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    return Err(Error::Overrun {
                        context: "IPVS batch".into(),
                    })
                }
                Err(e) => return Err(Error::io("receive IPVS replies", e)),
            }
            let mut done = false;
            for msg in wire::messages(&self.rx) {
                let msg = msg.map_err(|e| Error::Decode {
                    context: "IPVS reply".into(),
                    source: e,
                })?;
                if msg.header.kind != wire::NLMSG_ERROR {
                    continue;
                }
                let err = ErrorMessage::decode(&msg).map_err(|e| Error::Decode {
                    context: "IPVS reply".into(),
                    source: e,
                })?;
                let index = err.request.seq.wrapping_sub(first_seq) as usize;
                if index >= batch.len() {
                    continue; // a stale reply from an earlier exchange
                }
                batch[index] = Some(if err.errno == 0 {
                    Ok(())
                } else {
                    Err(Error::kernel(err.errno, describe(offset + index), err.text))
                });
                if err.request.seq == last_seq {
                    done = true;
                }
            }
            if done {
                return Ok(());
            }
        }
    }

    /// Sends a query (get or dump) and returns the reply messages.
    pub fn query(&mut self, request: &Request, context: &str) -> Result<Vec<Reply>> {
        let seq = self.next_seq();
        self.tx.clear();
        let flags = if request.is_dump() {
            0
        } else {
            wire::NLM_F_ACK
        };
        request.encode(&mut self.tx, self.family, seq, flags);
        self.sock
            .send(&self.tx)
            .map_err(|e| Error::io(context, e))?;
        let mut replies = Vec::new();
        loop {
            self.sock
                .recv(&mut self.rx)
                .map_err(|e| Error::io(context, e))?;
            for msg in wire::messages(&self.rx) {
                let msg = msg.map_err(|e| Error::Decode {
                    context: context.into(),
                    source: e,
                })?;
                if msg.header.seq != seq {
                    continue;
                }
                match msg.header.kind {
                    wire::NLMSG_DONE => return Ok(replies),
                    wire::NLMSG_ERROR => {
                        let err = ErrorMessage::decode(&msg).map_err(|e| Error::Decode {
                            context: context.into(),
                            source: e,
                        })?;
                        return if err.errno == 0 {
                            Ok(replies)
                        } else {
                            Err(Error::kernel(err.errno, context, err.text))
                        };
                    }
                    wire::NLMSG_NOOP | wire::NLMSG_OVERRUN => {}
                    _ => {
                        let (cmd, _, body) =
                            wire::genl_split(msg.payload).map_err(|e| Error::Decode {
                                context: context.into(),
                                source: e,
                            })?;
                        replies.push(Reply {
                            cmd,
                            body: body.to_vec(),
                        });
                    }
                }
            }
        }
    }
}
