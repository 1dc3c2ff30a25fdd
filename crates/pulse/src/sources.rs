//! What pulse listens to, turned into the state machine's events
//! (`daemon::runtime::Sources`): the heartbeat sockets, link changes, the gateway check
//! (fos mode), the configuration push, its children's exits, SIGHUP, SIGTERM and SIGINT.
//! The control socket is the runtime's; the status listener (`status_http`) lives here,
//! for pulse's lifetime.

use std::time::Instant;

use daemon::driver::Driver;
use daemon::event_loop::{EventLoop, Ready};
use daemon::runtime::{Sources, StartError};
use hostnet::monitor::LinkMonitor;
use log::info;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use crate::machine::{Event, Pulse};
use crate::shell::{self, Shell};

/// The event loop's tokens: heartbeat channels 0 and 1 (their index), then these.
pub(crate) const LINKS: usize = 2;
pub(crate) const SYNCED: usize = 3;
pub const GATEWAY: usize = 4;

pub struct Listen {
    pub monitor: Option<LinkMonitor>,
    /// Kept for pulse's lifetime (the listener stops when dropped).
    pub http: status_view::http::StatusHttp,
}

impl Listen {
    /// Watches the heartbeat sockets, the gateway check and, with `monitor_links`, the
    /// links.
    pub fn new(
        events: &EventLoop,
        shell: &mut Shell,
        monitor_links: bool,
    ) -> Result<Listen, StartError> {
        for (i, c) in shell.channels().iter().enumerate() {
            events
                .register(&c.socket, i)
                .map_err(|e| StartError::cannot("watch the heartbeat socket", e))?;
        }
        if let Some(fd) = shell.gateway_fd() {
            events
                .register(fd, GATEWAY)
                .map_err(|e| StartError::cannot("watch the gateway check", e))?;
        }
        let monitor = monitor_links.then(|| {
            let m = LinkMonitor::open().and_then(|m| events.register(&m, LINKS).map(|()| m));
            m.map_err(|e| info!("cannot watch link changes: {e}")).ok()
        });
        Ok(Listen {
            monitor: monitor.flatten(),
            http: status_view::http::StatusHttp::default(),
        })
    }
}

impl Sources<Pulse, Shell> for Listen {
    fn turn(
        &mut self,
        ready: Vec<Ready>,
        d: &mut Driver<Pulse, Shell>,
        _: &EventLoop,
    ) -> Vec<Event> {
        d.exec.enforce_limits(Instant::now());
        // Only the children pulse started: a push's command is the sync worker's to reap.
        let ours: Vec<u32> = d.exec.command_pids().chain(d.core.child_pid()).collect();
        let mut queue = d.exec.reaped(daemon::process::reap_these(ours));
        for r in ready {
            match r {
                Ready::Source(LINKS) => {
                    if let Some(m) = self.monitor.as_mut() {
                        queue.push(shell::read_links(m, &mut d.exec));
                    }
                }
                Ready::Source(SYNCED) => queue.extend(d.exec.pushed()),
                Ready::Source(GATEWAY) => queue.extend(d.exec.checked()),
                Ready::Source(i) => queue.extend(d.exec.receive(i)),
                Ready::Signal(SIGHUP) => queue.push(Event::Hangup),
                Ready::Signal(sig @ (SIGTERM | SIGINT)) => queue.push(Event::Terminate(sig)),
                // SIGCHLD: reaped above. SIGUSR1/2 killed legacy pulse; ignored here.
                _ => {}
            }
        }
        queue.push(Event::Tick);
        queue
    }

    fn deadline(&self, d: &Driver<Pulse, Shell>) -> Option<Instant> {
        d.exec.next_deadline()
    }
}
