//! `ipvs`: Linux IP Virtual Server control.
//!
//! * [`types`]: services, destinations, timeouts, sync daemons, statistics.
//! * [`packet`]: the IPVS generic netlink family's messages (pure codec, on the
//!   `netlink` crate's wire layer); `genl` carries them over the `netlink` crate's
//!   pipelined connection.
//! * [`sockopt`]: the legacy socket options, the fallback behind the same API.
//! * [`client`]: [`Ipvs`], the one API over both.
//! * [`table`] and [`plan`]: the table model and the pure reconcile planner.
//! * [`reconcile`]: the reconciler that applies plans, owning only what it created.
//!
//! IPVS state is per network namespace: a client acts on the namespace of the thread
//! that opened it.

pub(crate) mod client;
pub(crate) mod error;
mod genl;
pub mod packet;
pub mod plan;
pub(crate) mod reconcile;
pub(crate) mod sockopt;
pub(crate) mod table;
pub(crate) mod types;

pub use client::{Interface, Ipvs};
pub use error::{Error, Result};
pub use plan::{plan, Desired, DesiredService};
pub use reconcile::{Reconciler, Report};
pub use table::{Op, Table, TableService};
pub use types::*;
