//! Plumbing shared by the piranha daemons: legacy command lines ([`cli`]) and legacy
//! logging ([`log`]), signals on the main thread ([`signals`]).

pub mod cli;
pub mod log;
pub mod signals;
