//! Plumbing shared by the piranha daemons: legacy command lines ([`cli`]), legacy logging
//! ([`log`]), pid files ([`pidfile`]), signals on the main thread ([`signals`]) and the
//! legacy daemon modes ([`detach`]).

pub mod cli;
pub mod log;
pub mod pidfile;
pub mod signals;

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
