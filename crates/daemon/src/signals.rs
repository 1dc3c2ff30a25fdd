//! Signals handled on the daemon's main thread: a flag per signal and a self-pipe that
//! wakes [`Signals::wait`], so the event loop waits for "a signal or the next timer" in
//! one `poll` without a signal thread (one nanny runs per real server: threads cost).

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub struct Signals {
    flags: Vec<(i32, Arc<AtomicBool>)>,
    wake: OwnedFd,
    _write: OwnedFd,
}

impl Signals {
    /// Handles `signals`; when several are pending, [`Signals::pending`] returns them in
    /// this order.
    pub fn install(signals: &[i32]) -> std::io::Result<Signals> {
        let (wake, write) = crate::nonblocking_pipe()?;
        let mut flags = Vec::new();
        for &sig in signals {
            let flag = Arc::new(AtomicBool::new(false));
            signal_hook::flag::register(sig, flag.clone())?;
            signal_hook::low_level::pipe::register_raw(sig, write.as_raw_fd())?;
            flags.push((sig, flag));
        }
        Ok(Signals {
            flags,
            wake,
            _write: write,
        })
    }

    /// A signal that arrived since the last call, if any.
    pub fn pending(&self) -> Option<i32> {
        self.flags
            .iter()
            .find(|(_, f)| f.swap(false, Ordering::SeqCst))
            .map(|(sig, _)| *sig)
    }

    /// Waits up to `timeout` for a signal; returns it, or None when the time is up.
    pub fn wait(&self, timeout: Duration) -> Option<i32> {
        self.wait_with(&[], timeout)
    }

    /// Like [`Signals::wait`], but also returns (None) as soon as one of `fds` is
    /// readable; the caller then reads them without blocking.
    pub fn wait_with(&self, fds: &[RawFd], timeout: Duration) -> Option<i32> {
        if let Some(sig) = self.pending() {
            return Some(sig);
        }
        let mut pfds: Vec<libc::pollfd> = std::iter::once(self.wake.as_raw_fd())
            .chain(fds.iter().copied())
            .map(|fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: a valid array of pollfds of the given length.
        unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) };
        let mut buf = [0u8; 64];
        // Drain the wake-up bytes. SAFETY: buf is valid for its length.
        while unsafe {
            libc::read(
                self.wake.as_raw_fd(),
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
            )
        } > 0
        {}
        self.pending()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_signal_wakes_the_wait_and_is_reported_once() {
        let s = Signals::install(&[libc::SIGUSR1, libc::SIGUSR2]).unwrap();
        let start = Instant::now();
        assert_eq!(
            s.wait(Duration::from_millis(50)),
            None,
            "times out without a signal"
        );
        assert!(start.elapsed() >= Duration::from_millis(40));
        std::thread::spawn(|| {
            std::thread::sleep(Duration::from_millis(50));
            // SAFETY: signalling our own process.
            unsafe { libc::kill(libc::getpid(), libc::SIGUSR2) };
        });
        let start = Instant::now();
        assert_eq!(s.wait(Duration::from_secs(10)), Some(libc::SIGUSR2));
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "woken by the signal, not the timeout"
        );
        assert_eq!(s.pending(), None);
    }

    #[test]
    fn a_readable_descriptor_ends_the_wait_too() {
        let s = Signals::install(&[libc::SIGWINCH]).unwrap();
        let (r, mut w) = std::os::unix::net::UnixStream::pair().unwrap();
        let start = Instant::now();
        std::io::Write::write_all(&mut w, b"x").unwrap();
        assert_eq!(s.wait_with(&[r.as_raw_fd()], Duration::from_secs(10)), None);
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "woken by the descriptor"
        );
    }
}
