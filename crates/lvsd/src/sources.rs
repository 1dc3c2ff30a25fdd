//! What lvsd listens to, turned into the manager's events (`daemon::runtime::Sources`):
//! the nannies' reports (the availability pipe and the integrated monitors), their
//! exits, SIGHUP's reread of lvs.cf (on a thread, [`Reloader`]), SIGTERM and SIGINT. The
//! control socket is the runtime's; the status listener follows lvs.cf (`status_http`).

use std::path::Path;

use daemon::driver::Driver;
use daemon::event_loop::{EventLoop, Ready};
use daemon::runtime::{Sources, StartError};
use log::info;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use crate::config_file::{Loaded, Reloader};
use crate::manager::{Event, Manager};
use crate::shell::Shell;

/// The event loop's tokens: the nannies' availability channel, a finished reread, the
/// integrated monitors' reports.
const AVAILABILITY: usize = 0;
const RELOADED: usize = 1;
const MONITORS: usize = 2;

pub struct Listen {
    reloader: Reloader,
    http: status_view::http::StatusHttp,
    /// Where the status listener finds the daemons; `None` under pulse, which serves it.
    http_sockets: Option<status_view::Sockets>,
}

impl Listen {
    /// Watches the shell's channels and sets up rereading `config_path`.
    pub fn new(
        events: &EventLoop,
        shell: &Shell,
        config_path: &Path,
        pid_path: &Path,
    ) -> Result<Listen, StartError> {
        events
            .register(shell.availability_fd(), AVAILABILITY)
            .map_err(|e| StartError::cannot("watch the nanny status pipe", e))?;
        let reloader =
            Reloader::new(config_path).map_err(|e| StartError::cannot("set up rereading", e))?;
        events
            .register(reloader.wake_fd(), RELOADED)
            .map_err(|e| StartError::cannot("watch the rereading", e))?;
        Ok(Listen {
            reloader,
            http: status_view::http::StatusHttp::default(),
            http_sockets: http_sockets(pid_path),
        })
    }

    /// Serves the status page where lvs.cf says (nothing under pulse).
    pub fn serve_http(&mut self, c: &lvscf::Config) {
        if let Some(s) = &self.http_sockets {
            self.http.apply(c.status_http, s);
        }
    }

    /// A reread file, or the reasons it is refused (the running one is kept).
    fn reread(&mut self, result: Result<Loaded, Vec<String>>) -> Option<Event> {
        match result {
            Ok(l) => {
                self.serve_http(&l.config);
                Some(Event::Reload(Box::new(l.config)))
            }
            Err(messages) => {
                for m in messages {
                    info!("{m}");
                }
                info!("keeping the running configuration");
                None
            }
        }
    }
}

/// The sockets the status listener asks (docs/control.md, "HTTP"): none when pulse
/// started this lvsd (it says so in the environment) and serves the listener itself.
fn http_sockets(pid_path: &Path) -> Option<status_view::Sockets> {
    if std::env::var_os(status_view::http::PULSE_SOCKET_ENV).is_some() {
        return None;
    }
    Some(status_view::Sockets {
        lvsd: pid_path.with_extension("sock"),
        ..status_view::Sockets::default()
    })
}

impl Sources<Manager, Shell> for Listen {
    fn turn(
        &mut self,
        ready: Vec<Ready>,
        d: &mut Driver<Manager, Shell>,
        _: &EventLoop,
    ) -> Vec<Event> {
        // Reports first: a nanny that reported and then died did both in that order.
        let mut queue = d.exec.read_availability();
        let reaped = d.exec.reap().into_iter();
        queue.extend(reaped.map(|(pid, status)| Event::Exited { pid, status }));
        queue.extend(d.exec.monitor_events());
        for r in ready {
            match r {
                Ready::Signal(SIGHUP) => {
                    info!("rereading configuration file");
                    self.reloader.request();
                }
                Ready::Source(RELOADED) => {
                    let finished = self.reloader.finished();
                    queue.extend(finished.into_iter().filter_map(|r| self.reread(r)));
                }
                Ready::Signal(sig @ (SIGTERM | SIGINT)) => queue.push(Event::Terminate(sig)),
                // SIGCHLD: reaped above. SIGUSR1/2 killed legacy lvsd; ignored here.
                _ => {}
            }
        }
        queue.push(Event::Tick);
        queue
    }

    /// Integrated monitors started by the last turn (the first at start-up).
    fn watch(&mut self, d: &mut Driver<Manager, Shell>, events: &EventLoop) {
        if let Some(fd) = d.exec.monitors_to_watch() {
            if let Err(e) = events.register(fd, MONITORS) {
                info!("cannot watch the integrated monitors: {e}");
            }
        }
    }
}
