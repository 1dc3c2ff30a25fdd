//! `lvsd`: the virtual service manager and nanny supervisor (reference §3).
//!
//! * [`manager`]: the decisions, sans IO (start-up, nanny supervision, sorry server,
//!   diff reload, shutdown): events in, actions out;
//! * [`desired`]: the IPVS services lvs.cf asks for; [`nanny_argv`]: the legacy nanny
//!   command lines; [`reload`]: which nannies a reload starts, stops and keeps;
//!   [`supervise`]: the restart policy;
//! * [`config_file`]: reading lvs.cf; [`owned`]: the services lvsd created, across restarts;
//! * the IO shell (IPVS, processes, signals, the status pipe) is `main.rs`.

pub mod config_file;
pub mod desired;
pub mod manager;
pub mod nanny_argv;
pub mod owned;
pub mod reload;
pub mod supervise;
