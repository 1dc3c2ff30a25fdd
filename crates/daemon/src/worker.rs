//! Blocking work off the main thread: one thread takes jobs one after another and
//! hands each result back through a channel, with a byte on a pipe the event loop
//! watches, so the main thread never blocks on the work (nanny's probes, lvsd's reread
//! of lvs.cf) and acts on signals meanwhile.

use crate::inbox::{inbox, Inbox};
use std::fs::File;
use std::sync::mpsc;

pub struct Worker<J, R> {
    jobs: mpsc::Sender<J>,
    results: Inbox<R>,
}

impl<J: Send + 'static, R: Send + 'static> Worker<J, R> {
    /// Starts the thread (`name`, `stack` bytes of stack); it runs `work` on each job.
    pub fn start(
        name: &str,
        stack: usize,
        mut work: impl FnMut(J) -> R + Send + 'static,
    ) -> std::io::Result<Worker<J, R>> {
        let (outbox, results) = inbox()?;
        let (jobs, job_rx) = mpsc::channel::<J>();
        std::thread::Builder::new()
            .name(name.into())
            .stack_size(stack)
            .spawn(move || {
                for job in job_rx {
                    if !outbox.send(work(job)) {
                        return;
                    }
                }
            })?;
        Ok(Worker { jobs, results })
    }

    /// Queues a job (run after those queued before it).
    pub fn submit(&self, job: J) {
        let _ = self.jobs.send(job);
    }

    /// The descriptor that becomes readable when a job has finished (register it with
    /// the event loop).
    pub fn done_fd(&self) -> &File {
        self.results.fd()
    }

    /// The results of the jobs finished since the last call.
    pub fn finished(&self) -> Vec<R> {
        self.results.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event_loop::{EventLoop, Ready};
    use std::time::{Duration, Instant};

    #[test]
    fn results_wake_the_event_loop_in_order_while_it_stays_free() {
        let w = Worker::start("test", 64 * 1024, |ms: u64| {
            std::thread::sleep(Duration::from_millis(ms));
            ms * 2
        })
        .unwrap();
        let mut l = EventLoop::new(&[libc::SIGWINCH]).unwrap();
        l.register(w.done_fd(), 9).unwrap();
        let start = Instant::now();
        w.submit(200);
        w.submit(1);
        // The loop is not held up by the work: its own deadline fires first.
        let r = l
            .wait(Some(Instant::now() + Duration::from_millis(20)))
            .unwrap();
        assert_eq!(r, [Ready::Deadline]);
        let mut got = Vec::new();
        while got.len() < 2 {
            let r = l.wait(Some(start + Duration::from_secs(10))).unwrap();
            assert!(r.contains(&Ready::Source(9)), "{r:?}");
            got.extend(w.finished());
        }
        assert_eq!(got, [400, 2]);
    }
}
