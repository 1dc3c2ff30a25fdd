//! A network probe that never blocks: the same conversation as [`NetProbe::run`]
//! (connect, send, read until the expect string decides), stepped by an event loop, for
//! the integrated monitors that probe every real server from one thread
//! (docs/differences.md, "Integrated monitors"). The verdicts and messages are
//! [`crate::probe`]'s, so a probe fails with the same log line in both modes.

use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;

use ipvs::Protocol;
use mio::net::{TcpStream, UdpSocket};
use mio::{Interest, Registry, Token};

use crate::expect::Verdict;
use crate::probe::{
    failed, judge_final, mismatch, read_failure, strerror, CheckFailed, NetProbe, Outcome,
    MAX_ANSWER,
};

/// Where a conversation stands.
enum Step {
    Connecting,
    /// Sending; this many bytes are out.
    Writing(usize),
    Reading(Vec<u8>),
}

enum Socket {
    Stream(TcpStream),
    Datagram(UdpSocket),
}

/// One probe under way.
pub(crate) struct Exchange {
    socket: Socket,
    step: Step,
    /// For the messages (formatted only when one is needed).
    target: SocketAddr,
}

impl Exchange {
    /// Opens the socket and starts connecting; `Err` is the probe's failure.
    pub fn start(p: &NetProbe) -> Result<Exchange, CheckFailed> {
        let target = p.target;
        let socket = match p.protocol {
            Protocol::Udp => Socket::Datagram(udp(p.target)?),
            Protocol::Tcp | Protocol::Sctp => Socket::Stream(stream(p)?),
        };
        let step = match socket {
            Socket::Stream(_) => Step::Connecting,
            Socket::Datagram(_) => Step::Writing(0),
        };
        Ok(Exchange {
            socket,
            step,
            target,
        })
    }

    /// Registers the socket (edge-triggered: [`Exchange::advance`] goes as far as it can
    /// at each readiness). A bare connect check waits for writability alone: the
    /// server's greeting or close then wakes nobody (errors and hang-ups are reported
    /// whatever the interest).
    pub fn register(
        &mut self,
        p: &NetProbe,
        registry: &Registry,
        token: Token,
    ) -> std::io::Result<()> {
        let interest = match (&self.socket, &p.send, &p.expect) {
            (Socket::Stream(_), None, None) => Interest::WRITABLE,
            _ => Interest::READABLE | Interest::WRITABLE,
        };
        match &mut self.socket {
            Socket::Stream(s) => registry.register(s, token, interest),
            Socket::Datagram(s) => registry.register(s, token, interest),
        }
    }

    /// Goes on with the conversation after a readiness (`writable`: the event says the
    /// socket is; a connect has ended only then; `failed`: it also says error or
    /// hang-up): `Some` once decided. Dropping the exchange closes the socket, which
    /// also takes it out of the poll.
    pub(crate) fn advance(
        &mut self,
        p: &NetProbe,
        writable: bool,
        failed: bool,
    ) -> Option<Outcome> {
        loop {
            let next = match &mut self.step {
                Step::Connecting => self.connected(p, writable, failed)?,
                Step::Writing(sent) => {
                    let sent = *sent;
                    self.write(p, sent)?
                }
                Step::Reading(_) => return self.read(p),
            };
            if let Err(e) = next {
                return Some(Err(e));
            }
        }
    }

    /// The failure when the probe's deadline passes, in the blocking probe's words.
    pub(crate) fn timed_out(&self) -> CheckFailed {
        let t = &self.target;
        match self.step {
            Step::Connecting => failed!("CONNECT to {t} timed out"),
            Step::Writing(_) => failed!("WRITE operation for {t} timed out"),
            Step::Reading(_) => failed!("READ to {t} timed out"),
        }
    }

    /// Connecting: `None` while it is not done, else the next step (or the failure).
    /// A non-blocking connect has ended when the socket turns writable. The kernel
    /// reports a failed one with an error or hang-up beside it, and only then is
    /// SO_ERROR read for its reason: a connect check is then five system calls, not six
    /// (docs/architecture.md, "Performance").
    fn connected(&mut self, p: &NetProbe, writable: bool, failed: bool) -> Option<Outcome> {
        let Socket::Stream(s) = &self.socket else {
            return Some(Ok(()));
        };
        let t = &self.target;
        if failed {
            let e = match s.take_error() {
                Ok(Some(e)) | Err(e) => e,
                // A hang-up without a pending error: the server reset or closed it.
                Ok(None) => std::io::Error::from_raw_os_error(libc::ECONNRESET),
            };
            return Some(Err(failed!("CONNECT to {t} failed: {}", strerror(&e))));
        }
        if !writable {
            return None;
        }
        self.step = if p.send.is_some() {
            Step::Writing(0)
        } else {
            Step::Reading(Vec::new())
        };
        Some(Ok(()))
    }

    /// Sending what is left; `None` while the socket is full.
    fn write(&mut self, p: &NetProbe, sent: usize) -> Option<Outcome> {
        let data = p.send.as_deref().unwrap_or_default();
        let t = self.target;
        let failed = |e: &std::io::Error| {
            Some(Err(failed!(
                "WRITE operation for {t} returned error: {}",
                strerror(e)
            )))
        };
        let written = match &mut self.socket {
            // A datagram goes whole or not at all (an empty one too, as the blocking
            // probe sends nothing then).
            Socket::Datagram(_) if data.is_empty() => Ok(0),
            Socket::Datagram(s) => s.send(data),
            Socket::Stream(_) if sent >= data.len() => Ok(0),
            Socket::Stream(s) => s.write(&data[sent..]),
        };
        match written {
            Ok(n) if matches!(self.socket, Socket::Stream(_)) && sent + n < data.len() => {
                self.step = Step::Writing(sent + n);
                Some(Ok(()))
            }
            Ok(_) => {
                self.step = Step::Reading(Vec::new());
                Some(Ok(()))
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => None,
            Err(e) if e.kind() == ErrorKind::Interrupted => Some(Ok(())),
            Err(e) => failed(&e),
        }
    }

    /// Reading until the expect string decides (or, without one, for a stream, never:
    /// the connection was the check).
    fn read(&mut self, p: &NetProbe) -> Option<Outcome> {
        let t = self.target;
        let Step::Reading(received) = &mut self.step else {
            return None;
        };
        match (&mut self.socket, &p.expect) {
            (Socket::Stream(_), None) => Some(Ok(())),
            (Socket::Stream(s), Some(expect)) => {
                let mut buf = [0u8; 4096];
                loop {
                    match s.read(&mut buf) {
                        Ok(0) => return Some(judge_final(expect, received, t)),
                        Ok(n) => {
                            let room = MAX_ANSWER.saturating_sub(received.len());
                            received.extend_from_slice(&buf[..n.min(room)]);
                            match expect.judge(received, received.len() >= MAX_ANSWER) {
                                Verdict::Pass => return Some(Ok(())),
                                Verdict::Fail => return Some(Err(mismatch(t))),
                                Verdict::Undecided => {}
                            }
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => return None,
                        Err(e) => {
                            if let Some(msg) = read_failure(&e, t) {
                                return Some(Err(msg));
                            }
                        }
                    }
                }
            }
            (Socket::Datagram(s), expect) => {
                let mut buf = vec![0u8; 65536];
                loop {
                    match s.recv(&mut buf) {
                        Ok(n) => {
                            return Some(match expect {
                                None => Ok(()),
                                Some(e) => match e.judge(&buf[..n], true) {
                                    Verdict::Pass => Ok(()),
                                    _ => Err(mismatch(t)),
                                },
                            })
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => return None,
                        // Includes ICMP port unreachable.
                        Err(e) => {
                            if let Some(msg) = read_failure(&e, t) {
                                return Some(Err(msg));
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A non-blocking stream socket of the probe's protocol, connecting.
fn stream(p: &NetProbe) -> Result<TcpStream, CheckFailed> {
    let t = p.target;
    let domain = socket2::Domain::for_address(p.target);
    let protocol = match p.protocol {
        Protocol::Sctp => Some(socket2::Protocol::from(libc::IPPROTO_SCTP)),
        _ => None,
    };
    let s = socket2::Socket::new(
        domain,
        socket2::Type::STREAM.nonblocking().cloexec(),
        protocol,
    )
    .map_err(|e| format!("CONNECT to {t} failed: {}", strerror(&e)))?;
    match s.connect(&p.target.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(failed!("CONNECT to {t} failed: {}", strerror(&e))),
    }
    Ok(TcpStream::from_std(std::net::TcpStream::from(s)))
}

/// A non-blocking UDP socket connected to the server (so ICMP errors reach it).
fn udp(target: SocketAddr) -> Result<UdpSocket, CheckFailed> {
    let t = target;
    let local: SocketAddr = match target {
        SocketAddr::V4(_) => "0.0.0.0:0".parse().unwrap(),
        SocketAddr::V6(_) => "[::]:0".parse().unwrap(),
    };
    let s = UdpSocket::bind(local).map_err(|e| format!("UDP socket for {t}: {e}"))?;
    s.connect(target)
        .map_err(|e| format!("CONNECT to {t} failed: {}", strerror(&e)))?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Drives one bare connect check to its end on a poll of its own.
    fn connect_check(target: SocketAddr) -> Outcome {
        let p = NetProbe {
            target,
            protocol: Protocol::Tcp,
            send: None,
            expect: None,
            timeout: Duration::from_secs(2),
        };
        let mut poll = mio::Poll::new().unwrap();
        let mut events = mio::Events::with_capacity(4);
        let mut x = Exchange::start(&p)?;
        x.register(&p, poll.registry(), Token(1)).unwrap();
        loop {
            poll.poll(&mut events, Some(Duration::from_secs(2)))
                .unwrap();
            assert!(!events.is_empty(), "no readiness within 2 s");
            for e in events.iter() {
                let failed = e.is_error() || e.is_write_closed();
                if let Some(outcome) = x.advance(&p, e.is_writable(), failed) {
                    return outcome;
                }
            }
        }
    }

    #[test]
    fn a_connect_check_passes_on_writability_and_names_the_errno_of_a_refusal() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let open = listener.local_addr().unwrap();
        assert_eq!(connect_check(open), Ok(()));
        drop(listener);
        // The same port, closed now: the error event's SO_ERROR gives the reason.
        assert_eq!(
            connect_check(open),
            Err(failed!("CONNECT to {open} failed: Connection refused"))
        );
    }
}
