//! `nanny`: the piranha real-server monitor. One nanny runs per real server, started by
//! lvsd with the legacy command line; it probes the server and keeps its IPVS destination
//! in step.
//!
//! * [`options`]: the legacy command line;
//! * [`escape`], [`expect`]: send/expect strings;
//! * [`monitor`]: the decisions, sans IO;
//! * [`status`]: the availability channel to lvsd;
//! * the IO shell (probes, load command, IPVS changes, signals) follows in `main.rs`.

pub mod check;
pub mod escape;
pub mod expect;
pub mod load;
pub mod monitor;
pub mod options;
pub mod probe;
pub mod southbound;
pub mod status;
