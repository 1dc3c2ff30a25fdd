//! A signal sent to a child at once, before its exec, reaches it (issue 24, point 1): the
//! daemons install their handlers (signal-hook, through the event loop), and a child that
//! ran one of those handlers between fork and exec swallowed the signal and lived on.
//! A process of its own: the handlers are process-wide.

use std::time::{Duration, Instant};

use daemon::process::{spawn, ExitStatus, Spawn};
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// How child `pid` ended, or None if it still runs after `limit`.
fn ended(pid: u32, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        match waitpid(Pid::from_raw(pid as i32), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, c)) => return Some(ExitStatus::Code(c)),
            Ok(WaitStatus::Signaled(_, s, _)) => return Some(ExitStatus::Signal(s as i32)),
            _ if Instant::now() > deadline => return None,
            _ => std::thread::sleep(Duration::from_millis(2)),
        }
    }
}

#[test]
fn a_sigterm_right_after_the_spawn_always_reaches_the_child() {
    // The daemons' handlers, as pulse and lvsd install them.
    let _events = daemon::event_loop::EventLoop::new(&[libc::SIGTERM, libc::SIGHUP]).unwrap();
    let child = Spawn {
        argv: vec!["/bin/sleep".into(), "30".into()],
        ..Default::default()
    };
    let mut lost = 0;
    for _ in 0..100 {
        let pid = spawn(&child).unwrap();
        daemon::process::signal(pid, Signal::SIGTERM);
        match ended(pid, Duration::from_secs(2)) {
            Some(status) => assert_eq!(status, ExitStatus::Signal(libc::SIGTERM)),
            None => {
                lost += 1;
                daemon::process::signal(pid, Signal::SIGKILL);
                ended(pid, Duration::from_secs(5));
            }
        }
    }
    assert_eq!(lost, 0, "children that never saw their SIGTERM, of 100");
}

#[test]
fn the_child_starts_with_default_dispositions_and_nothing_blocked() {
    let _events = daemon::event_loop::EventLoop::new(&[libc::SIGTERM]).unwrap();
    // SIGPIPE ignored, as Rust programs have it: the child must not inherit that.
    let dir = std::env::temp_dir().join(format!("spawn-signals-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("status");
    let script = format!(
        "grep -E '^(SigBlk|SigIgn|SigCgt)' /proc/self/status > {}",
        out.display()
    );
    let pid = spawn(&Spawn {
        argv: vec!["/bin/sh".into(), "-c".into(), script],
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        ended(pid, Duration::from_secs(10)),
        Some(ExitStatus::Code(0))
    );
    let text = std::fs::read_to_string(&out).unwrap();
    for line in text.lines() {
        let (name, mask) = line.split_once(':').unwrap();
        let mask = u64::from_str_radix(mask.trim(), 16).unwrap();
        // sh catches what it catches; nothing may be blocked, and SIGPIPE not ignored.
        match name {
            "SigBlk" => assert_eq!(mask, 0, "{line}"),
            "SigIgn" => assert_eq!(mask & (1 << (libc::SIGPIPE - 1)), 0, "{line}"),
            _ => {}
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
