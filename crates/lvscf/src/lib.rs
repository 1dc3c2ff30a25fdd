//! `lvscf`: the legacy piranha configuration file `/etc/sysconfig/ha/lvs.cf`.
//!
//! Every daemon reads lvs.cf through this crate, so it is the single model of the
//! configuration. The layers, in the order data flows:
//!
//! * [`lexer`]: physical lines and tokens (pest grammar `lvs_cf.pest`);
//! * [`value`]: the legacy value types (C integers, `inet_aton`, service names, ...);
//! * [`parser`]: statements and blocks into the typed [`model`], with legacy error texts
//!   ([`diag`]);
//! * [`validate`]: semantic checks that are not syntax;
//! * [`escape`], [`expect_regex`]: what a `send`/`expect` value means to nanny (backslash
//!   escapes, the linear-time regex), shared so the check refuses what nanny could not use;
//! * [`writer`]: the canonical layout the piranha GUI writes;
//! * [`report`]: the `--check-config` summary and JSON;
//! * [`transfer`]: the header (length, SHA-256) a pushed lvs.cf must match to be installed.
//!
//! Differences from the legacy parser are listed in `docs/differences.md`.

// pest_derive without `std` refers to `::alloc`.
extern crate alloc;

pub mod as_text;
pub mod diag;
pub mod escape;
pub mod expect_regex;
pub mod fleet;
pub mod lexer;
pub(crate) mod model;
pub mod parser;
pub mod report;
pub mod transfer;
pub mod validate;
pub mod value;
pub(crate) mod writer;

pub use diag::{Code, Diagnostic, Severity};
pub use fleet::{BgpPeer, Fleet};
pub use model::*;
pub use parser::{
    parse_bytes, parse_file, parse_str, read_file, ParseFailure, ParseOptions, Parsed,
};
pub use writer::write_config;
