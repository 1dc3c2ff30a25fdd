//! `nanny`: the piranha real-server monitor. One nanny runs per real server, started by
//! lvsd with the legacy command line; it probes the server and keeps its IPVS destination
//! in step.
//!
//! * [`spec`]: one monitor, typed, and its legacy command line;
//! * [`expect`]: what a probe expects back (escapes and the regex are lvscf's);
//! * [`check`]: the check a command line asks for; [`probe`], [`load`]: running it, and
//!   the load query;
//! * [`monitor`]: the decisions, sans IO; [`schedule`]: the monitor with its probe
//!   timer, as one core for `daemon`'s driver;
//! * [`shell`]: the driver's executor; [`southbound`]: IPVS changes;
//! * [`availability`]: the availability channel to lvsd;
//! * [`integrated`] and [`exchange`]: every server's monitor in one thread of lvsd
//!   (`integrated_monitors = 1`), with non-blocking probes;
//! * `main.rs`: the command line, then the runtime (`daemon::runtime`).

pub mod availability;
pub mod check;
pub(crate) mod exchange;
pub mod expect;
pub mod integrated;
pub mod load;
pub mod monitor;
pub mod probe;
pub mod schedule;
pub mod shell;
pub mod southbound;
pub mod spec;
