//! Typed errors with context: what was being done, and what the kernel said.

use std::fmt;
use std::io;

use netlink::wire::DecodeError;

/// An IPVS operation failed.
#[derive(Debug)]
pub enum Error {
    /// The kernel refused an operation.
    Kernel {
        /// Positive errno.
        errno: i32,
        /// What was being done, e.g. "add service TCP 10.0.0.1:80".
        context: String,
        /// The kernel's extended-ack message, if it sent one.
        text: Option<String>,
    },
    /// The generic netlink family "IPVS" does not exist (ip_vs is not loaded and could
    /// not be loaded).
    FamilyNotFound,
    /// The way to the kernel failed: a system call, replies that were lost (the receive
    /// buffer overflowed: the outcome of a batch is unknown and the table must be read
    /// back), or replies this library cannot read. The `netlink` crate's error, which
    /// the socket-option backend uses too.
    Transport(netlink::Error),
    /// The backend cannot express this (e.g. IPv6 over the legacy socket options).
    Unsupported(String),
    /// Neither interface answers: the ip_vs module is not loaded (and the kernel did not
    /// load it on demand).
    NotLoaded,
}

impl Error {
    pub fn kernel(errno: i32, context: impl Into<String>, text: Option<String>) -> Error {
        netlink::Error::kernel(errno, context, text).into()
    }

    pub fn io(context: impl Into<String>, source: io::Error) -> Error {
        Error::Transport(netlink::Error::io(context, source))
    }

    pub fn decode(context: impl Into<String>, source: DecodeError) -> Error {
        Error::Transport(netlink::Error::decode(context, source))
    }

    /// The errno behind the error, if there is one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Kernel { errno, .. } => Some(*errno),
            Error::Transport(e) => e.errno(),
            Error::FamilyNotFound => Some(libc::ENOENT),
            Error::NotLoaded => Some(libc::ENOPROTOOPT),
            _ => None,
        }
    }

    /// The object to add exists already (EEXIST).
    pub fn is_exists(&self) -> bool {
        self.errno() == Some(libc::EEXIST)
    }

    /// The service does not exist (ESRCH).
    pub fn is_no_service(&self) -> bool {
        self.errno() == Some(libc::ESRCH)
    }

    /// The destination does not exist (ENOENT from a destination command).
    pub fn is_no_destination(&self) -> bool {
        matches!(self, Error::Kernel { errno, .. } if *errno == libc::ENOENT)
    }

    /// The caller lacks CAP_NET_ADMIN (EPERM).
    pub fn is_permission(&self) -> bool {
        self.errno() == Some(libc::EPERM)
    }

    /// Worth retrying as is: the kernel was busy or interrupted.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.errno(),
            Some(libc::EAGAIN | libc::EBUSY | libc::EINTR | libc::ENOBUFS | libc::ENOMEM)
        ) || matches!(self, Error::Transport(netlink::Error::Overrun { .. }))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Kernel {
                errno,
                context,
                text,
            } => {
                let why = match *errno {
                    libc::EEXIST => "it exists already".to_string(),
                    libc::ESRCH => "no such service".to_string(),
                    libc::ENOENT => "no such destination".to_string(),
                    libc::EPERM => "permission denied (CAP_NET_ADMIN needed)".to_string(),
                    e => io::Error::from_raw_os_error(e).to_string(),
                };
                write!(f, "{context}: {why}")?;
                if let Some(t) = text {
                    write!(f, " ({t})")?;
                }
                Ok(())
            }
            Error::FamilyNotFound => write!(
                f,
                "the kernel has no IPVS generic netlink family (is the ip_vs module available?)"
            ),
            Error::Transport(e) => e.fmt(f),
            Error::Unsupported(what) => write!(f, "not supported by this IPVS interface: {what}"),
            Error::NotLoaded => write!(f, "the ip_vs kernel module is not loaded (modprobe ip_vs)"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Transport(e) => e.source(),
            _ => None,
        }
    }
}

impl From<netlink::Error> for Error {
    fn from(e: netlink::Error) -> Error {
        match e {
            netlink::Error::Kernel {
                errno,
                context,
                text,
            } => Error::Kernel {
                errno,
                context,
                text,
            },
            netlink::Error::FamilyNotFound(_) => Error::FamilyNotFound,
            other => Error::Transport(other),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_messages() {
        let e = Error::kernel(libc::EEXIST, "add service TCP 10.0.0.1:80", None);
        assert!(e.is_exists() && !e.is_no_service());
        assert_eq!(
            e.to_string(),
            "add service TCP 10.0.0.1:80: it exists already"
        );
        let e = Error::kernel(libc::ESRCH, "add destination", Some("x".into()));
        assert!(e.is_no_service());
        assert_eq!(e.to_string(), "add destination: no such service (x)");
        assert!(Error::kernel(libc::ENOENT, "d", None).is_no_destination());
        assert!(Error::kernel(libc::EPERM, "d", None).is_permission());
        assert!(Error::Transport(netlink::Error::Overrun {
            context: "c".into()
        })
        .is_transient());
        assert!(!Error::kernel(libc::EINVAL, "d", None).is_transient());
        assert_eq!(Error::FamilyNotFound.errno(), Some(libc::ENOENT));
    }
}
