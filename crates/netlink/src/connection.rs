//! Requests and replies over one socket, with sequence numbers: the pipelined batch engine
//! (any family, any request type) and single queries.
//!
//! Pipelining: many requests go out in one `sendmsg`; only the last request of each batch
//! asks for an acknowledgement. The kernel handles the messages of one `sendmsg` in order
//! and reports every failure (with its sequence number) even without an ACK request, so
//! when the batch's ACK arrives every earlier request has been handled and every error
//! for it has been received. Each batch costs one `sendmsg` and one `recv` plus one per
//! failed request, instead of a round trip per request.

use std::io;

use crate::error::{Error, Result};
use crate::socket::Socket;
use crate::wire::{self, ErrorMessage};

/// At most this many requests per `sendmsg`...
const BATCH_MESSAGES: usize = 1024;
/// ...and at most this many bytes (below the socket's send buffer).
const BATCH_BYTES: usize = 128 * 1024;

/// A request a family's messages module can put on the wire.
pub trait Request {
    /// Appends the request as one netlink message with this sequence number and these
    /// extra header flags (NLM_F_ACK on a batch's last message).
    fn encode(&self, buf: &mut Vec<u8>, seq: u32, flags: u16);
    /// Whether the answer is a multi-part dump ending in NLMSG_DONE.
    fn is_dump(&self) -> bool {
        false
    }
}

/// One message of a reply: its netlink message type and payload (a generic netlink
/// family's payload starts with its command header: [`Reply::genl`]).
#[derive(Debug, Clone)]
pub struct Reply {
    pub kind: u16,
    pub payload: Vec<u8>,
}

impl Reply {
    /// A generic netlink reply's command and attributes.
    pub fn genl(&self) -> std::result::Result<(u8, &[u8]), wire::DecodeError> {
        wire::genl_split(&self.payload).map(|(cmd, _, body)| (cmd, body))
    }
}

/// A socket with its sequence numbers and buffers.
pub struct Connection {
    sock: Socket,
    seq: u32,
    rx: Vec<u8>,
    tx: Vec<u8>,
}

impl Connection {
    pub fn open(protocol: isize) -> Result<Connection> {
        let sock = Socket::open(protocol).map_err(|e| Error::io("open netlink socket", e))?;
        Ok(Connection::new(sock))
    }

    pub fn new(sock: Socket) -> Connection {
        Connection {
            sock,
            seq: 0,
            rx: Vec::new(),
            tx: Vec::new(),
        }
    }

    pub fn socket(&self) -> &Socket {
        &self.sock
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        if self.seq == 0 {
            self.seq = 1;
        }
        self.seq
    }

    /// Runs change requests (no replies expected), pipelined. Returns one result per
    /// request, in order; `describe(i)` words request `i` for its error.
    pub fn execute<R: Request>(
        &mut self,
        requests: &[R],
        describe: &dyn Fn(usize) -> String,
    ) -> Vec<Result<()>> {
        let mut results: Vec<Result<()>> = Vec::with_capacity(requests.len());
        let mut start = 0;
        while start < requests.len() {
            let end = self.build_batch(requests, start);
            let first_seq = self.seq.wrapping_sub((end - start - 1) as u32);
            let mut batch: Vec<Option<Result<()>>> = (start..end).map(|_| None).collect();
            if let Err(e) = self.sock.send(&self.tx) {
                let kind = e.kind();
                for r in batch.iter_mut() {
                    *r = Some(Err(Error::io(
                        "send netlink requests",
                        io::Error::from(kind),
                    )));
                }
            } else if let Err(e) = self.collect_batch(first_seq, &mut batch, start, describe) {
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

    /// Encodes requests from `start` into the send buffer until a batch is full, with an
    /// ACK asked on whichever message ended up last; returns the end of the batch.
    fn build_batch<R: Request>(&mut self, requests: &[R], start: usize) -> usize {
        self.tx.clear();
        let mut end = start;
        let mut last_header = 0;
        while end < requests.len() && end - start < BATCH_MESSAGES && self.tx.len() < BATCH_BYTES {
            last_header = self.tx.len();
            let seq = self.next_seq();
            requests[end].encode(&mut self.tx, seq, 0);
            end += 1;
        }
        wire::add_flags(&mut self.tx[last_header..], wire::NLM_F_ACK);
        end
    }

    /// Receives until the batch's last request is acknowledged, filing every error by its
    /// sequence number.
    fn collect_batch(
        &mut self,
        first_seq: u32,
        batch: &mut [Option<Result<()>>],
        offset: usize,
        describe: &dyn Fn(usize) -> String,
    ) -> Result<()> {
        let last = batch.len() - 1;
        loop {
            match self.sock.recv(&mut self.rx) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    return Err(Error::Overrun {
                        context: "netlink batch".into(),
                    })
                }
                Err(e) => return Err(Error::io("receive netlink replies", e)),
            }
            let mut done = false;
            for msg in wire::messages(&self.rx) {
                let msg = msg.map_err(|e| Error::decode("netlink reply", e))?;
                if msg.header.kind != wire::NLMSG_ERROR {
                    continue;
                }
                let err =
                    ErrorMessage::decode(&msg).map_err(|e| Error::decode("netlink reply", e))?;
                let index = err.request.seq.wrapping_sub(first_seq) as usize;
                if index > last {
                    continue; // a stale reply from an earlier exchange
                }
                batch[index] = Some(match err.errno {
                    0 => Ok(()),
                    errno => Err(Error::kernel(errno, describe(offset + index), err.text)),
                });
                done |= index == last;
            }
            if done {
                return Ok(());
            }
        }
    }

    /// Sends a query (get or dump) and returns the reply messages.
    pub fn query<R: Request>(&mut self, request: &R, context: &str) -> Result<Vec<Reply>> {
        let seq = self.next_seq();
        self.tx.clear();
        let flags = if request.is_dump() {
            0
        } else {
            wire::NLM_F_ACK
        };
        request.encode(&mut self.tx, seq, flags);
        self.sock
            .send(&self.tx)
            .map_err(|e| Error::io(context, e))?;
        let mut replies = Vec::new();
        loop {
            self.sock
                .recv(&mut self.rx)
                .map_err(|e| Error::io(context, e))?;
            for msg in wire::messages(&self.rx) {
                let msg = msg.map_err(|e| Error::decode(context, e))?;
                if msg.header.seq != seq {
                    continue;
                }
                match msg.header.kind {
                    wire::NLMSG_DONE => return Ok(replies),
                    wire::NLMSG_ERROR => {
                        let err =
                            ErrorMessage::decode(&msg).map_err(|e| Error::decode(context, e))?;
                        return match err.errno {
                            0 => Ok(replies),
                            errno => Err(Error::kernel(errno, context, err.text)),
                        };
                    }
                    wire::NLMSG_NOOP | wire::NLMSG_OVERRUN => {}
                    kind => replies.push(Reply {
                        kind,
                        payload: msg.payload.to_vec(),
                    }),
                }
            }
        }
    }
}
