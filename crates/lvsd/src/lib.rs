//! `lvsd`: the virtual service manager and nanny supervisor (docs/legacy.md, "lvsd").
//!
//! * [`manager`]: the decisions, sans IO (start-up, nanny supervision, sorry server,
//!   diff reload, shutdown): events in, actions out;
//! * [`desired`]: the IPVS services lvs.cf asks for; [`nanny_argv`]: the legacy nanny
//!   command lines; [`reload`]: which nannies a reload starts, stops and keeps (the
//!   restart policy is `daemon::process::Backoff`);
//! * [`config_file`]: reading lvs.cf; [`owned`]: the services lvsd created, across restarts;
//!   [`drained`]: the real servers the operator drained, across restarts;
//! * [`status`]: what `lvsctl status` shows (the control socket, docs/control.md);
//! * the IO shell (IPVS, processes, signals, the availability pipe) is `main.rs`, on
//!   `daemon`'s event loop and driver.

pub mod config_file;
pub mod desired;
pub mod drained;
pub mod manager;
pub mod nanny_argv;
pub mod owned;
pub mod reload;
pub mod shell;
pub mod status;
