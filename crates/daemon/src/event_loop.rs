//! One wait for everything a daemon listens to: descriptors (sockets, pipes), signals
//! and the next deadline, on `mio` (epoll). Signals arrive through `signal-hook-mio` on
//! the main thread (no signal thread: one nanny runs per real server, threads cost).
//! The deadline is a `timerfd` in the same epoll set, so it fires with the kernel's
//! timer precision rather than epoll's whole milliseconds.

use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use signal_hook_mio::v1_0::Signals;

/// What woke the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ready {
    /// A signal (one per delivery round, in the order asked for at [`EventLoop::new`]).
    Signal(i32),
    /// The descriptor registered with this token is readable (or closed), or writable
    /// when asked for ([`EventLoop::watch_writable`]).
    Source(usize),
    /// The deadline passed.
    Deadline,
}

const SIGNALS: Token = Token(usize::MAX);
const TIMER: Token = Token(usize::MAX - 1);

pub struct EventLoop {
    poll: Poll,
    events: Events,
    signals: Signals,
    order: Vec<i32>,
    timer: TimerFd,
}

impl EventLoop {
    /// Handles `signals` from now on (their default actions no longer apply).
    pub fn new(signals: &[i32]) -> io::Result<EventLoop> {
        let poll = Poll::new()?;
        let mut sigs = Signals::new(signals)?;
        poll.registry()
            .register(&mut sigs, SIGNALS, Interest::READABLE)?;
        let timer = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )?;
        let raw = timer.as_fd().as_raw_fd();
        poll.registry()
            .register(&mut SourceFd(&raw), TIMER, Interest::READABLE)?;
        Ok(EventLoop {
            poll,
            events: Events::with_capacity(64),
            signals: sigs,
            order: signals.to_vec(),
            timer,
        })
    }

    /// Watches `fd` for reading; it is reported as [`Ready::Source`]`(token)`.
    pub fn register(&self, fd: &impl AsRawFd, token: usize) -> io::Result<()> {
        let raw: RawFd = fd.as_raw_fd();
        self.poll
            .registry()
            .register(&mut SourceFd(&raw), Token(token), Interest::READABLE)
    }

    /// Changes what `fd` (registered with `token`) is watched for: readable always, and
    /// writable while `writable` (a client with output pending).
    pub(crate) fn watch_writable(
        &self,
        fd: &impl AsRawFd,
        token: usize,
        writable: bool,
    ) -> io::Result<()> {
        let raw: RawFd = fd.as_raw_fd();
        let interest = if writable {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        self.poll
            .registry()
            .reregister(&mut SourceFd(&raw), Token(token), interest)
    }

    /// Stops watching `fd` (before it is closed).
    pub(crate) fn deregister(&self, fd: &impl AsRawFd) -> io::Result<()> {
        let raw: RawFd = fd.as_raw_fd();
        self.poll.registry().deregister(&mut SourceFd(&raw))
    }

    /// Waits until something is ready or `deadline` passes (forever with `None`).
    /// Returns everything ready, signals first.
    pub fn wait(&mut self, deadline: Option<Instant>) -> io::Result<Vec<Ready>> {
        let mut ready = Vec::new();
        if let Some(d) = deadline {
            let left = d.saturating_duration_since(Instant::now());
            if left.is_zero() {
                // Already due: look at the sources without blocking.
                self.poll_once(Some(Duration::ZERO), &mut ready)?;
                ready.push(Ready::Deadline);
                return Ok(ready);
            }
            self.arm(left)?;
        } else {
            self.timer.unset()?;
        }
        while ready.is_empty() {
            self.poll_once(None, &mut ready)?;
        }
        Ok(ready)
    }

    fn arm(&self, after: Duration) -> io::Result<()> {
        self.timer.set(
            Expiration::OneShot(TimeSpec::from_duration(after)),
            TimerSetTimeFlags::empty(),
        )?;
        Ok(())
    }

    fn poll_once(&mut self, timeout: Option<Duration>, ready: &mut Vec<Ready>) -> io::Result<()> {
        match self.poll.poll(&mut self.events, timeout) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            other => other?,
        }
        let mut sources = Vec::new();
        let mut signalled = false;
        let mut expired = false;
        for e in self.events.iter() {
            match e.token() {
                SIGNALS => signalled = true,
                TIMER => expired = true,
                Token(t) => sources.push(Ready::Source(t)),
            }
        }
        if signalled {
            let mut got: Vec<i32> = self.signals.pending().collect();
            got.sort_by_key(|s| self.order.iter().position(|o| o == s));
            got.dedup();
            ready.extend(got.into_iter().map(Ready::Signal));
        }
        ready.extend(sources);
        if expired {
            // Consume the expiry (non-blocking read of the counter).
            let _ = nix::unistd::read(self.timer.as_fd().as_raw_fd(), &mut [0u8; 8]);
            ready.push(Ready::Deadline);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::{raise, Signal};

    #[test]
    fn a_signal_wakes_the_wait_and_is_reported_once() {
        let mut l = EventLoop::new(&[libc::SIGUSR1, libc::SIGUSR2]).unwrap();
        let start = Instant::now();
        let r = l
            .wait(Some(Instant::now() + Duration::from_millis(50)))
            .unwrap();
        assert_eq!(r, [Ready::Deadline], "times out without a signal");
        assert!(start.elapsed() >= Duration::from_millis(50));
        std::thread::spawn(|| {
            std::thread::sleep(Duration::from_millis(50));
            raise(Signal::SIGUSR2).unwrap();
        });
        let start = Instant::now();
        let r = l
            .wait(Some(Instant::now() + Duration::from_secs(10)))
            .unwrap();
        assert_eq!(r, [Ready::Signal(libc::SIGUSR2)]);
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "woken by the signal"
        );
        let r = l
            .wait(Some(Instant::now() + Duration::from_millis(20)))
            .unwrap();
        assert_eq!(r, [Ready::Deadline], "reported once");
    }

    #[test]
    fn a_readable_descriptor_names_its_token() {
        let mut l = EventLoop::new(&[libc::SIGWINCH]).unwrap();
        let (r, mut w) = std::os::unix::net::UnixStream::pair().unwrap();
        l.register(&r, 3).unwrap();
        std::io::Write::write_all(&mut w, b"x").unwrap();
        let got = l
            .wait(Some(Instant::now() + Duration::from_secs(10)))
            .unwrap();
        assert_eq!(got, [Ready::Source(3)]);
    }

    #[test]
    fn deadlines_are_kept_below_a_millisecond() {
        // epoll alone rounds a timeout up to whole milliseconds; the timerfd does not.
        let mut l = EventLoop::new(&[libc::SIGWINCH]).unwrap();
        let mut late = Vec::new();
        for _ in 0..21 {
            let deadline = Instant::now() + Duration::from_micros(300);
            assert_eq!(l.wait(Some(deadline)).unwrap(), [Ready::Deadline]);
            let now = Instant::now();
            assert!(now >= deadline, "woken before the deadline");
            late.push(now - deadline);
        }
        late.sort();
        assert!(
            late[10] < Duration::from_micros(700),
            "median lateness {:?}",
            late[10]
        );
    }

    #[test]
    fn a_deadline_already_past_returns_at_once_with_what_is_ready() {
        let mut l = EventLoop::new(&[libc::SIGWINCH]).unwrap();
        let (r, mut w) = std::os::unix::net::UnixStream::pair().unwrap();
        l.register(&r, 1).unwrap();
        std::io::Write::write_all(&mut w, b"x").unwrap();
        let got = l
            .wait(Some(Instant::now() - Duration::from_secs(1)))
            .unwrap();
        assert_eq!(got, [Ready::Source(1), Ready::Deadline]);
    }
}
