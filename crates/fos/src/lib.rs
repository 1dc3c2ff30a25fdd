//! `fos`: piranha's failover services (`service = fos`; docs/legacy.md, "fos"): services
//! run on the directors themselves, kept on exactly one of them. On the active director
//! `fos --active` runs every `stop_cmd`, then every `start_cmd`, and the `stop_cmd`s again
//! when told to stop; on the inactive one `fos --monitor` runs the `stop_cmd`s, then one
//! `nanny --fos` per service, probing it through its virtual address on the partner, and
//! exits (which tells pulse) when one of them does.
//!
//! * [`service`]: the failover blocks of lvs.cf as fos uses them: their commands and
//!   their nanny command lines.
//! * [`machine`]: the decisions, sans IO: events in, actions out;
//! * [`shell`]: the IO that carries them out on the daemons' runtime (`daemon::runtime`),
//!   and the sources of fos's events.

pub mod machine;
pub mod service;
pub mod shell;
