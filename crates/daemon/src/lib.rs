//! The core every piranha daemon runs on:
//!
//! * [`cli`]: legacy command lines;
//! * [`log`]: the legacy log sinks behind the `log` facade;
//! * [`pidfile`]: pid files, locked (one instance per pid file);
//! * [`files`]: files a root daemon writes, created safely and replaced atomically;
//! * [`control`]: the operator's control socket (JSON lines, bounded, root only);
//! * [`event_loop`]: one wait for descriptors, signals and the next deadline (mio);
//! * [`runtime`]: every daemon's start-up and loop, on the one [`driver`];
//! * [`driver`]: the driver of the sans-IO cores (`handle(event, now)`, `next_deadline`),
//!   with the one answer order;
//! * [`timer`]: a core's timers in one table;
//! * [`trace`]: a daemon's events and actions as JSON lines, recorded and replayed;
//! * [`process`]: children: spawn with the legacy argv, reap, run with a timeout,
//!   restart backoff, line channels;
//! * [`inbox`]: results from a thread that wake the event loop (channel and pipe);
//! * [`worker`]: blocking work on a thread whose results wake the event loop;
//! * [`vitals`]: what the process itself costs (memory, CPU, descriptors), from /proc;
//! * [`notify`]: systemd's readiness protocol and watchdog (`Type=notify` units);
//! * [`detach`]: the legacy daemon modes.

pub mod cli;
pub mod control;
pub mod driver;
pub mod event_loop;
pub mod files;
pub mod inbox;
pub(crate) mod log;
pub(crate) mod notify;
pub mod pidfile;
pub mod process;
pub mod runtime;
pub mod timer;
pub mod trace;
pub(crate) mod vitals;
pub mod worker;

/// A pipe whose two ends are non-blocking and close on exec: lvsd's nanny availability
/// channel, the tests' fake children.
pub fn nonblocking_pipe() -> std::io::Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    use nix::fcntl::OFlag;
    Ok(nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)?)
}

/// Legacy daemon modes: fork and detach, or (`nofork`: `-c`/`--nofork`, how lvsd and pulse
/// start their children) detach without forking: new session, stdio on /dev/null. Call it
/// at start-up, before any thread exists.
pub(crate) fn detach(nofork: bool) {
    use nix::unistd::{dup2, fork, setsid, ForkResult};
    use std::os::fd::AsRawFd;
    if !nofork {
        // SAFETY: called at start-up, before any thread exists, so the child may do
        // anything; the parent only exits.
        if let Ok(ForkResult::Parent { .. }) = unsafe { fork() } {
            // SAFETY: _exit ends the process at once, without atexit handlers or buffer flushes
            // that belong to the child.
            unsafe { libc::_exit(0) };
        }
    }
    let _ = setsid();
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        for fd in 0..3 {
            let _ = dup2(null.as_raw_fd(), fd);
        }
    }
}
