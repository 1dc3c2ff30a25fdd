//! `lvsd`: the virtual service manager and nanny supervisor (docs/legacy.md, "lvsd").
//!
//! * [`manager`]: the decisions, sans IO (start-up, nanny supervision, sorry server,
//!   diff reload, shutdown): events in, actions out;
//! * [`desired`]: the IPVS services lvs.cf asks for; [`monitor_spec`]: each real server's
//!   monitor (a nanny's legacy command line); [`reload`]: which nannies a reload starts, stops and keeps (the
//!   restart policy is `daemon::process::Backoff`);
//! * [`config_file`]: reading lvs.cf; [`owned`]: the services lvsd created, across restarts;
//!   [`drained`]: the real servers the operator drained, across restarts;
//! * [`status`]: the kernel's part of what `lvsctl status` shows (the control socket,
//!   docs/control.md; the schema is `status_schema`'s);
//! * [`shell`]: the IO that carries the manager's actions out (IPVS, processes, the
//!   availability pipe, the integrated monitors, control answers); [`sources`]: what
//!   lvsd listens to, as the manager's events; [`start`]: lvsd's start-up, running them on
//!   `daemon::runtime`.

pub mod config_file;
pub mod desired;
pub mod drained;
pub mod manager;
pub mod monitor_spec;
pub mod owned;
pub(crate) mod reload;
pub mod shell;
pub mod sources;
pub mod start;
pub(crate) mod status;
