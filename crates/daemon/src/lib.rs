//! Plumbing shared by the piranha daemons: legacy command lines ([`cli`]), legacy logging
//! ([`log`]), pid files ([`pidfile`]), signals on the main thread ([`signals`]) and the
//! legacy daemon modes ([`detach`]).

pub mod cli;
pub mod log;
pub mod pidfile;
pub mod signals;

/// A pipe whose two ends are non-blocking and close on exec: the signals' self-pipe,
/// lvsd's nanny status channel.
pub fn nonblocking_pipe() -> std::io::Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two descriptors that are owned below.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fresh descriptors owned by nothing else.
    Ok(unsafe {
        (
            std::os::fd::OwnedFd::from_raw_fd(fds[0]),
            std::os::fd::OwnedFd::from_raw_fd(fds[1]),
        )
    })
}

/// Legacy daemon modes: fork and detach, or (`nofork`: `-c`/`--nofork`, how lvsd and pulse
/// start their children) detach without forking: new session, stdio on /dev/null. Call it
/// at start-up, before any thread exists.
pub fn detach(nofork: bool) {
    // SAFETY: fork/setsid/dup2 at start-up, before any thread exists.
    unsafe {
        if !nofork {
            match libc::fork() {
                -1 => {}
                0 => {}
                _ => libc::_exit(0),
            }
        }
        libc::setsid();
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null >= 0 {
            for fd in 0..3 {
                libc::dup2(null, fd);
            }
            if null > 2 {
                libc::close(null);
            }
        }
    }
}
