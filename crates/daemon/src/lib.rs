//! Plumbing shared by the piranha daemons: legacy command lines ([`cli`]), legacy logging
//! ([`log`]), pid files ([`pidfile`]) and signals on the main thread ([`signals`]).

pub mod cli;
pub mod log;
pub mod pidfile;
pub mod signals;
