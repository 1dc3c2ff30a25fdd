//! An external command with a deadline that really fires: the command runs in a process
//! group of its own, its output is read without a thread, and at the deadline the whole
//! group is killed and our end of the pipe closed, whoever else still holds it (a
//! descendant that left the group, `setsid sleep &`, cannot hold the caller up).

use std::io::Read;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use super::ExitStatus;

/// What a command that finished in time printed and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub status: ExitStatus,
    /// Standard output, at most the `max_output` asked for (the rest is discarded).
    pub stdout: Vec<u8>,
}

#[derive(Debug)]
pub enum RunError {
    /// The command could not be started (no such file, not executable, ...).
    Spawn(std::io::Error),
    /// The deadline passed: the command's process group was killed.
    TimedOut,
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Spawn(e) => write!(f, "{e}"),
            RunError::TimedOut => write!(f, "timed out"),
        }
    }
}

/// The process group of the command `run` is running, 0 if none: what
/// [`kill_running`] kills when the daemon exits in the middle of a run.
static RUNNING_GROUP: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// Kills the process group of a command still being run (a daemon exiting while a
/// check runs on another thread leaves nothing behind).
pub fn kill_running() {
    let group = RUNNING_GROUP.swap(0, std::sync::atomic::Ordering::SeqCst);
    if group > 0 {
        let _ = killpg(Pid::from_raw(group), Signal::SIGKILL);
    }
}

/// How often a command whose output is closed (or held by a stray descendant) is checked
/// for having exited.
const EXIT_CHECK: u16 = 5;

/// Runs `argv` (no shell) with stdin on /dev/null and stderr discarded, for at most
/// `timeout`; keeps at most `max_output` bytes of its standard output.
pub fn run(argv: &[String], timeout: Duration, max_output: usize) -> Result<Output, RunError> {
    run_from(argv, Stdio::null(), timeout, max_output, Leftovers::Kill)
}

/// [`run`] for a command that starts or stops a service (fos's `start_cmd`/`stop_cmd`):
/// what it leaves running when it exits in time is the service and stays (its daemon
/// may not have left the group yet); only at the deadline is the group killed. Its
/// output is discarded.
pub fn run_service_command(argv: &[String], timeout: Duration) -> Result<Output, RunError> {
    run_from(argv, Stdio::null(), timeout, 0, Leftovers::Keep)
}

/// What happens to the processes a command leaves in its group when it exits in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leftovers {
    /// A check's stray children go with it.
    Kill,
    /// A daemon being started (it may not have left the group yet) stays.
    Keep,
}

/// [`run`] with `input` on the command's standard input. The input is handed over in an
/// anonymous memory file, not a pipe: a command that never reads it cannot block us.
pub fn run_with_input(
    argv: &[String],
    input: &[u8],
    timeout: Duration,
    max_output: usize,
) -> Result<Output, RunError> {
    use std::io::{Seek, Write};
    let memfd =
        nix::sys::memfd::memfd_create(c"input", nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC)
            .map_err(|e| RunError::Spawn(e.into()))?;
    let mut file = std::fs::File::from(memfd);
    file.write_all(input)
        .and_then(|()| file.rewind())
        .map_err(RunError::Spawn)?;
    run_from(
        argv,
        Stdio::from(file),
        timeout,
        max_output,
        Leftovers::Kill,
    )
}

fn run_from(
    argv: &[String],
    stdin: Stdio,
    timeout: Duration,
    max_output: usize,
    leftovers: Leftovers,
) -> Result<Output, RunError> {
    let deadline = Instant::now() + timeout;
    let (prog, args) = argv
        .split_first()
        .ok_or_else(|| RunError::Spawn(std::io::Error::other("empty command")))?;
    let mut child = Command::new(prog)
        .args(args)
        .stdin(stdin)
        .stderr(Stdio::null())
        .stdout(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(RunError::Spawn)?;
    let group = Pid::from_raw(child.id() as i32);
    RUNNING_GROUP.store(group.as_raw(), std::sync::atomic::Ordering::SeqCst);
    let outcome = wait_for(&mut child, group, deadline, max_output, leftovers);
    RUNNING_GROUP.store(0, std::sync::atomic::Ordering::SeqCst);
    outcome
}

/// Reads the command's output and waits for it until `deadline`.
fn wait_for(
    child: &mut Child,
    group: Pid,
    deadline: Instant,
    max_output: usize,
    leftovers: Leftovers,
) -> Result<Output, RunError> {
    let mut stdout = child.stdout.take();
    if let Some(out) = &stdout {
        let _ = fcntl(out.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK));
    }
    let mut collected = Vec::new();
    loop {
        if let Some(out) = stdout.as_mut() {
            if !drain(out, &mut collected, max_output) {
                stdout = None; // end of output
            }
        }
        match child.try_wait() {
            Ok(Some(status)) => {
                if leftovers == Leftovers::Kill {
                    // What the command left running in its group goes with it.
                    let _ = killpg(group, Signal::SIGKILL);
                }
                if let Some(out) = stdout.as_mut() {
                    drain(out, &mut collected, max_output);
                }
                return Ok(Output {
                    status: ExitStatus::of(status),
                    stdout: collected,
                });
            }
            Ok(None) if Instant::now() >= deadline => return Err(kill(child, group)),
            Ok(None) => wait_readable(stdout.as_ref(), deadline),
            Err(e) => {
                kill(child, group);
                return Err(RunError::Spawn(e));
            }
        }
    }
}

/// Reads what is there now; false at end of output.
fn drain(out: &mut ChildStdout, collected: &mut Vec<u8>, max: usize) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match out.read(&mut buf) {
            Ok(0) => return false,
            Ok(n) => {
                let room = max.saturating_sub(collected.len());
                collected.extend_from_slice(&buf[..n.min(room)]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
            Err(_) => return false,
        }
    }
}

/// Waits a little for output (or, with none left to read, for the exit).
fn wait_readable(stdout: Option<&ChildStdout>, deadline: Instant) {
    let left = deadline.saturating_duration_since(Instant::now());
    let ms = (left.as_millis() as u64).clamp(1, EXIT_CHECK as u64) as u16;
    match stdout {
        Some(out) => {
            let mut fds = [PollFd::new(out.as_fd(), PollFlags::POLLIN)];
            let _ = poll(&mut fds, PollTimeout::from(ms));
        }
        None => std::thread::sleep(Duration::from_millis(ms as u64)),
    }
}

fn kill(child: &mut Child, group: Pid) -> RunError {
    log::debug!("killing process group {group} at its deadline");
    let _ = killpg(group, Signal::SIGKILL);
    let _ = child.kill();
    let _ = child.wait();
    RunError::TimedOut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Vec<String> {
        vec!["/bin/sh".into(), "-c".into(), script.into()]
    }

    #[test]
    fn input_reaches_the_command_and_one_that_never_reads_it_holds_nothing_up() {
        let out =
            run_with_input(&sh("wc -c"), &[b'x'; 300_000], Duration::from_secs(10), 64).unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "300000");
        let start = Instant::now();
        let out =
            run_with_input(&sh("exit 4"), &[0; 1 << 20], Duration::from_secs(10), 64).unwrap();
        assert_eq!(out.status, ExitStatus::Code(4));
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn output_and_exit_code() {
        let out = run(&sh("echo hello; exit 3"), Duration::from_secs(10), 1024).unwrap();
        assert_eq!(out.status, ExitStatus::Code(3));
        assert_eq!(out.stdout, b"hello\n");
    }

    #[test]
    fn a_signalled_command_says_so() {
        let out = run(&sh("kill -9 $$"), Duration::from_secs(10), 1024).unwrap();
        assert_eq!(out.status, ExitStatus::Signal(9));
    }

    #[test]
    fn the_deadline_kills_the_command_even_if_it_ignores_sigterm() {
        let start = Instant::now();
        let r = run(
            &sh("trap '' TERM; sleep 30"),
            Duration::from_millis(200),
            1024,
        );
        assert!(matches!(r, Err(RunError::TimedOut)), "{r:?}");
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
    }

    #[test]
    fn a_descendant_that_left_the_group_cannot_hold_the_caller() {
        // The background sleep keeps the output pipe open in a session of its own.
        let start = Instant::now();
        let out = run(
            &sh("setsid sleep 30 & echo done"),
            Duration::from_secs(20),
            1024,
        )
        .unwrap();
        assert_eq!(out.status, ExitStatus::Code(0));
        assert_eq!(out.stdout, b"done\n");
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        // And with the command itself hanging, the deadline still fires.
        let start = Instant::now();
        let r = run(
            &sh("setsid sleep 30 & sleep 30"),
            Duration::from_millis(300),
            1024,
        );
        assert!(matches!(r, Err(RunError::TimedOut)));
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_service_started_by_a_start_command_stays_and_a_checks_leftover_goes() {
        // Running, not a zombie waiting for whoever inherited it.
        let alive = |pid: i32| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|st| {
                st.rsplit(')')
                    .next()
                    .is_some_and(|r| !r.trim_start().starts_with('Z'))
            })
        };
        // The background sleep is still in the command's group when the command exits
        // (a daemon that has not called setsid yet).
        let start = sh("sleep 30 & echo $!");
        let out = run(&start, Duration::from_secs(10), 64).unwrap();
        let pid: i32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        assert!(!alive(pid), "a check's leftover survived");

        let dir = std::env::temp_dir().join(format!("run-service-{}", std::process::id()));
        let start = sh(&format!("sleep 30 & echo $! > {}", dir.display()));
        let out = run_service_command(&start, Duration::from_secs(10)).unwrap();
        assert_eq!(out.status, ExitStatus::Code(0));
        let pid: i32 = std::fs::read_to_string(&dir)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let _ = std::fs::remove_file(&dir);
        std::thread::sleep(Duration::from_millis(100));
        assert!(alive(pid), "the started service was killed");
        let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
    }

    #[test]
    fn a_service_command_that_hangs_is_killed_at_its_deadline() {
        let start = Instant::now();
        let r = run_service_command(&sh("sleep 30"), Duration::from_millis(300));
        assert!(matches!(r, Err(RunError::TimedOut)), "{r:?}");
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
    }

    #[test]
    fn output_is_bounded() {
        let out = run(
            &sh("head -c 1000000 /dev/zero"),
            Duration::from_secs(10),
            1000,
        )
        .unwrap();
        assert_eq!(out.stdout.len(), 1000);
    }

    #[test]
    fn a_missing_program_is_a_spawn_error() {
        let r = run(
            &["/nonexistent/prog".to_string()],
            Duration::from_secs(1),
            10,
        );
        assert!(matches!(r, Err(RunError::Spawn(_))));
    }
}
