//! Starting a long-lived child with its legacy command line.
//!
//! A plain fork and execv, without waiting for the exec to finish (std's `Command`
//! waits): lvsd starts hundreds of nannies, and their execs then run in parallel. A
//! program that cannot be run is caught before the fork; an exec that fails anyway shows
//! as the child exiting with status 127.

use std::ffi::{CString, OsString};
use std::io;
use std::os::fd::RawFd;

/// What to start.
#[derive(Debug, Clone, Default)]
pub struct Spawn {
    pub argv: Vec<String>,
    /// Variables set for the child (replacing any of the same name in ours).
    pub env: Vec<(String, String)>,
    /// Descriptors the child keeps across the exec (everything else is close-on-exec).
    pub keep_fds: Vec<RawFd>,
}

fn cstring(bytes: Vec<u8>) -> io::Result<CString> {
    CString::new(bytes).map_err(|e| {
        io::Error::other(format!(
            "NUL byte in {:?}",
            String::from_utf8_lossy(&e.into_vec())
        ))
    })
}

fn environment(extra: &[(String, String)]) -> io::Result<Vec<CString>> {
    let mut env: Vec<(OsString, OsString)> = std::env::vars_os()
        .filter(|(k, _)| !extra.iter().any(|(name, _)| k == name.as_str()))
        .collect();
    env.extend(extra.iter().map(|(k, v)| (k.into(), v.into())));
    env.into_iter()
        .map(|(k, v)| {
            let mut kv = k.into_encoded_bytes();
            kv.push(b'=');
            kv.extend(v.into_encoded_bytes());
            cstring(kv)
        })
        .collect()
}

fn pointers(v: &[CString]) -> Vec<*const libc::c_char> {
    v.iter()
        .map(|c| c.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// Starts the child: stdin on /dev/null, stdout and stderr shared with us, SIGTERM when
/// we die (`PR_SET_PDEATHSIG`), every signal at its default disposition and none blocked.
/// Returns its pid.
///
/// Every signal is blocked across the fork, and the child unblocks them only once it has
/// restored the default dispositions: until then the child runs with our handlers, and a
/// signal sent to the new pid at once (pulse stopping lvsd just after starting it) would
/// run our handler in the child and be lost there (docs/differences.md). Blocked, it waits
/// and then does what it would do to the program about to be exec'd.
pub fn spawn(s: &Spawn) -> io::Result<u32> {
    let prog = cstring(s.argv.first().cloned().unwrap_or_default().into_bytes())?;
    nix::unistd::access(prog.as_c_str(), nix::unistd::AccessFlags::X_OK)?;
    let args: Vec<CString> = s
        .argv
        .iter()
        .map(|a| cstring(a.clone().into_bytes()))
        .collect::<Result<_, _>>()?;
    let env = environment(&s.env)?;
    let (argp, envp) = (pointers(&args), pointers(&env));
    let parent = nix::unistd::getpid().as_raw();
    let all = nix::sys::signal::SigSet::all();
    let mut ours = nix::sys::signal::SigSet::empty();
    nix::sys::signal::pthread_sigmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&all),
        Some(&mut ours),
    )?;
    // SAFETY: see fork_exec.
    let forked = unsafe { fork_exec(&prog, &argp, &envp, &s.keep_fds, parent) };
    // Signals that came for us meanwhile are delivered now.
    nix::sys::signal::pthread_sigmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&ours),
        None,
    )?;
    forked
}

/// The fork, and in the child everything up to the exec.
///
/// # Safety
/// Call it with every signal blocked. Between fork and exec the child makes only
/// async-signal-safe system calls on data prepared by the caller (no allocation: other
/// threads may hold the allocator's lock).
unsafe fn fork_exec(
    prog: &CString,
    argp: &[*const libc::c_char],
    envp: &[*const libc::c_char],
    keep_fds: &[RawFd],
    parent: libc::pid_t,
) -> io::Result<u32> {
    // SAFETY: the caller's contract above: the child runs only async-signal-safe calls
    // on `prog`, `argp`, `envp` and `keep_fds`, which stay valid until exec or _exit.
    unsafe {
        match libc::fork() {
            -1 => Err(io::Error::last_os_error()),
            0 => {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong);
                if libc::getppid() != parent {
                    // The parent died before the death signal was armed.
                    libc::_exit(0);
                }
                let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY);
                if null > 0 {
                    libc::dup2(null, 0);
                    libc::close(null);
                }
                for &fd in keep_fds {
                    libc::fcntl(fd, libc::F_SETFD, 0);
                }
                // Our handlers (and Rust's ignored SIGPIPE) are not the program's.
                let mut default: libc::sigaction = std::mem::zeroed();
                default.sa_sigaction = libc::SIG_DFL;
                for sig in 1..=libc::SIGRTMAX() {
                    if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                        libc::sigaction(sig, &default, std::ptr::null_mut());
                    }
                }
                let mut empty: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut empty);
                libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
                libc::execve(prog.as_ptr(), argp.as_ptr(), envp.as_ptr());
                libc::_exit(127)
            }
            pid => Ok(pid as u32),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::ExitStatus;
    use std::time::{Duration, Instant};

    fn wait_for(pid: u32) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
            match waitpid(
                nix::unistd::Pid::from_raw(pid as i32),
                Some(WaitPidFlag::WNOHANG),
            ) {
                Ok(WaitStatus::Exited(_, c)) => return ExitStatus::Code(c),
                Ok(WaitStatus::Signaled(_, s, _)) => return ExitStatus::Signal(s as i32),
                _ if Instant::now() > deadline => panic!("child {pid} did not end"),
                _ => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    }

    #[test]
    fn the_child_gets_its_argv_env_kept_fd_and_a_null_stdin() {
        let (read, write) = crate::nonblocking_pipe().unwrap();
        use std::os::fd::AsRawFd;
        let fd = write.as_raw_fd();
        let script = format!("read x; echo \"$1 $PIRANHA_TEST [$x]\" >&{fd}; exit 4");
        let pid = spawn(&Spawn {
            argv: vec![
                "/bin/sh".into(),
                "-c".into(),
                script,
                "sh".into(),
                "arg1".into(),
            ],
            env: vec![("PIRANHA_TEST".into(), "yes".into())],
            keep_fds: vec![fd],
        })
        .unwrap();
        assert_eq!(wait_for(pid), ExitStatus::Code(4));
        let mut r = crate::process::LineReader::new(100);
        assert_eq!(
            r.read_from(std::fs::File::from(read)),
            [b"arg1 yes []".to_vec()]
        );
    }

    #[test]
    fn a_program_that_cannot_run_is_an_error_before_the_fork() {
        let e = spawn(&Spawn {
            argv: vec!["/nonexistent/nanny".into()],
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }
}
