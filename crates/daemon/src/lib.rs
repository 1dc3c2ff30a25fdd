//! Plumbing shared by the piranha daemons: legacy command lines ([`cli`]) and legacy
//! logging ([`log`]).

pub mod cli;
pub mod log;
