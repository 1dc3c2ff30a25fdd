//! `netlink`: netlink for the piranha daemons, for any family (generic netlink's IPVS
//! today, rtnetlink's addresses and links next).
//!
//! * [`wire`]: the wire format, pure: headers, attributes, nests, a message builder for
//!   any family, error messages.
//! * [`socket`]: the socket (`netlink-sys`), blocking or not, multicast groups, `AsFd`.
//! * [`connection`]: sequence numbers, the pipelined batch engine generic over a
//!   family's [`Request`] type, with each error matched to its request, and queries.
//! * [`genl`]: generic netlink family resolution.
//!
//! A family's messages live with the crate that uses them (`ipvs::packet`); this crate
//! knows no family but the generic netlink controller.

pub(crate) mod connection;
pub(crate) mod error;
pub mod genl;
pub(crate) mod socket;
pub mod wire;

pub use connection::{Connection, Reply, Request};
pub use error::{Error, Result};
pub use socket::Socket;
