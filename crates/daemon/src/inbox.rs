//! Results handed from a thread to the event loop: a channel for the results and a
//! pipe the event loop watches, so the loop sleeps in one wait for descriptors, signals
//! and deadlines, and wakes when something was posted. Used by [`crate::worker`] and by
//! lvsd's integrated monitors.

use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::sync::mpsc;

/// The posting end (on the thread that produces results).
pub struct Outbox<T> {
    tx: mpsc::Sender<T>,
    ready: OwnedFd,
}

/// The receiving end (in the event loop).
pub struct Inbox<T> {
    rx: mpsc::Receiver<T>,
    ready: File,
}

/// A new pair.
pub fn inbox<T>() -> std::io::Result<(Outbox<T>, Inbox<T>)> {
    let (read, write) = crate::nonblocking_pipe()?;
    let (tx, rx) = mpsc::channel();
    Ok((
        Outbox { tx, ready: write },
        Inbox {
            rx,
            ready: File::from(read),
        },
    ))
}

impl<T> Outbox<T> {
    /// Posts a result without waking the loop (a batch wakes it once, with
    /// [`Outbox::wake`]); false if the inbox is gone.
    pub fn put(&self, item: T) -> bool {
        self.tx.send(item).is_ok()
    }

    /// Wakes the loop for what was put. A full pipe already holds a wake-up, so a
    /// failed write loses nothing.
    pub fn wake(&self) {
        let _ = nix::unistd::write(&self.ready, b"x");
    }

    /// Posts a result and wakes the loop (the result is in the channel first).
    pub fn send(&self, item: T) -> bool {
        let sent = self.put(item);
        if sent {
            self.wake();
        }
        sent
    }
}

impl<T> Inbox<T> {
    /// The descriptor that becomes readable when something was posted (register it with
    /// the event loop).
    pub fn fd(&self) -> &File {
        &self.ready
    }

    /// Everything posted since the last call.
    pub fn take(&self) -> Vec<T> {
        let mut buf = [0u8; 64];
        while matches!((&self.ready).read(&mut buf), Ok(n) if n > 0) {}
        self.rx.try_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event_loop::{EventLoop, Ready};
    use std::time::{Duration, Instant};

    #[test]
    fn put_waits_for_wake_and_take_drains_the_wake_ups() {
        let (out, inbox) = inbox::<u32>().unwrap();
        let mut l = EventLoop::new(&[libc::SIGWINCH]).unwrap();
        l.register(inbox.fd(), 3).unwrap();
        let soon = || Some(Instant::now() + Duration::from_millis(30));
        assert!(out.put(1) && out.put(2));
        assert_eq!(
            l.wait(soon()).unwrap(),
            [Ready::Deadline],
            "put alone wakes nothing"
        );
        out.wake();
        assert_eq!(l.wait(soon()).unwrap(), [Ready::Source(3)]);
        assert_eq!(inbox.take(), [1, 2]);
        assert_eq!(
            l.wait(soon()).unwrap(),
            [Ready::Deadline],
            "the wake-up was drained"
        );
        assert!(out.send(7));
        assert_eq!(l.wait(soon()).unwrap(), [Ready::Source(3)]);
        assert_eq!(inbox.take(), [7]);
        drop(inbox);
        assert!(!out.send(8), "posting to a dropped inbox says so");
    }
}
