//! Plumbing shared by the piranha daemons: legacy command lines (more to come: logging,
//! pid files, signals, child supervision).

pub mod cli;
