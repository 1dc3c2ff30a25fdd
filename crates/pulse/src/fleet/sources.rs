//! What a fleet director listens to, as [`Fleet`]'s events (the reports on the heartbeat
//! port, lvsd's exit, SIGHUP, SIGTERM, SIGINT), and its start: [`serve`].

use std::path::PathBuf;
use std::time::Duration;

use daemon::driver::Driver;
use daemon::event_loop::{EventLoop, Ready};
use daemon::runtime::{Runtime, Sources, StartError};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use super::shell::{BirdPaths, FleetShell, Parts};
use super::{bird, Event, Fleet, FleetSettings};
use crate::shell::Children;

const REPORTS: usize = 0;

pub struct Listen {
    /// Kept for pulse's lifetime (the listener stops when dropped).
    pub http: status_view::http::StatusHttp,
}

impl Sources<Fleet, FleetShell> for Listen {
    fn turn(
        &mut self,
        ready: Vec<Ready>,
        d: &mut Driver<Fleet, FleetShell>,
        _: &EventLoop,
    ) -> Vec<Event> {
        let lvsd = d.core.lvsd_pid();
        let reaped = daemon::process::reap_these(lvsd);
        let mut queue: Vec<Event> = reaped
            .into_iter()
            .map(|(pid, status)| Event::ChildExited { pid, status })
            .collect();
        for r in ready {
            match r {
                Ready::Source(REPORTS) => queue.extend(d.exec.receive()),
                Ready::Signal(SIGHUP) => queue.push(Event::Hangup),
                Ready::Signal(sig @ (SIGTERM | SIGINT)) => queue.push(Event::Terminate(sig)),
                _ => {}
            }
        }
        queue.push(Event::Tick);
        queue
    }
}

/// What a fleet director runs with, from lvs.cf and the command line.
pub struct Start {
    pub config: lvscf::Config,
    pub settings: FleetSettings,
    pub children: Children,
    pub pid_path: PathBuf,
    pub epoch: u64,
}

/// Runs the fleet director on `runtime` until it exits; its exit code.
pub fn serve(runtime: &mut Runtime<Event>, start: Start) -> Result<i32, StartError> {
    runtime.control_beside(&start.pid_path, Event::Control);
    let c = &start.config;
    let own = start.settings.own;
    let parts = Parts {
        settings: start.settings.clone(),
        port: c.heartbeat_port,
        sync: c.syncdaemon.then(|| (c.syncd_iface.clone(), c.syncd_id)),
        include: bird::Include::from_config(c, own),
        paths: BirdPaths {
            socket: PathBuf::from(&c.fleet.bird_socket),
            include: PathBuf::from(&c.fleet.bird_include),
        },
        ledger: start.pid_path.with_file_name("pulse.addresses"),
        children: start.children.clone(),
    };
    let shell =
        FleetShell::new(parts).map_err(|e| StartError::cannot("bind the heartbeat port", e))?;
    runtime
        .events
        .register(&shell.socket, REPORTS)
        .map_err(|e| StartError::cannot("watch the heartbeat socket", e))?;
    let mut listen = Listen {
        http: status_view::http::StatusHttp::default(),
    };
    let sockets = status_view::Sockets {
        pulse: start.pid_path.with_extension("sock"),
        lvsd: start.children.lvsd_pid_path().with_extension("sock"),
    };
    listen.http.apply(c.status_http, &sockets);
    let mut driver = Driver::new(Fleet::new(start.settings, start.epoch), shell);
    daemon::runtime::trace_from_env(&mut driver);
    if let Some(code) = driver.dispatch(Event::Start) {
        return Ok(code);
    }
    runtime.max_wait(Duration::from_secs(1));
    Ok(runtime.run(&mut driver, &mut listen))
}

/// A fleet director from its start-up on (daemonized, its settings worked out) to its
/// exit code.
pub fn run(
    config: lvscf::Config,
    settings: FleetSettings,
    children: Children,
    pid_path: &std::path::Path,
    mut daemonized: daemon::runtime::Daemonized,
) -> i32 {
    let start = Start {
        config,
        settings,
        children,
        pid_path: pid_path.to_path_buf(),
        epoch: crate::start::epoch(),
    };
    let code = crate::start::runtime(&mut daemonized)
        .and_then(|mut runtime| serve(&mut runtime, start))
        .unwrap_or_else(|e| {
            log::info!("{e}");
            crate::machine::Exit::Failed.code()
        });
    daemonized.release();
    code
}
