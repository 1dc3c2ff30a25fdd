//! What can go wrong talking netlink: typed, with what was being done.

use std::fmt;
use std::io;

use crate::wire::DecodeError;

#[derive(Debug)]
pub enum Error {
    /// The kernel refused a request: positive errno, what the request was, and the
    /// kernel's extended-ack text if it sent one.
    Kernel {
        errno: i32,
        context: String,
        text: Option<String>,
    },
    /// The generic netlink family of this name does not exist (module not loaded).
    FamilyNotFound(String),
    Io {
        context: String,
        source: io::Error,
    },
    Decode {
        context: String,
        source: DecodeError,
    },
    /// Replies were lost (receive buffer overrun): the outcome is unknown.
    Overrun {
        context: String,
    },
}

impl Error {
    pub fn kernel(errno: i32, context: impl Into<String>, text: Option<String>) -> Error {
        Error::Kernel {
            errno,
            context: context.into(),
            text,
        }
    }

    pub fn io(context: impl Into<String>, source: io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub fn decode(context: impl Into<String>, source: DecodeError) -> Error {
        Error::Decode {
            context: context.into(),
            source,
        }
    }

    /// The errno behind the error, if there is one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Kernel { errno, .. } => Some(*errno),
            Error::Io { source, .. } => source.raw_os_error(),
            Error::FamilyNotFound(_) => Some(libc::ENOENT),
            _ => None,
        }
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
                write!(f, "{context}: {}", io::Error::from_raw_os_error(*errno))?;
                if let Some(t) = text {
                    write!(f, " ({t})")?;
                }
                Ok(())
            }
            Error::FamilyNotFound(name) => {
                write!(f, "the kernel has no {name} generic netlink family")
            }
            Error::Io { context, source } => write!(f, "{context}: {source}"),
            Error::Decode { context, source } => write!(f, "{context}: {source}"),
            Error::Overrun { context } => write!(
                f,
                "{context}: kernel replies were lost (receive buffer overrun)"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::Decode { source, .. } => Some(source),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
