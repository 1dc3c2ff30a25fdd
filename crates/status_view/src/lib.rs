//! The operator's view of a director (docs/control.md): what pulse and lvsd answer on
//! their control sockets, shown as [`text`] (`lvsctl status`), [`metrics`] (the
//! Prometheus exposition) and [`page`] (the status page). [`http`] is the opt-in
//! listener (`status_http` in lvs.cf) that serves the last two from inside a daemon.
//!
//! Everything is built from the same two answers, collected the same way, so the page,
//! the metrics and `lvsctl status` never disagree about what a daemon said.

pub mod http;
pub mod metrics;
pub mod page;
pub mod text;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use status_schema::{LvsdStatus, Partner, PulseStatus};

/// What one daemon answered, in the schema and as it was said (for `--json`, which
/// passes it on whole: a newer daemon's fields are not lost on an older `lvsctl`).
#[derive(Debug, Clone, PartialEq)]
pub struct Said<T> {
    pub status: T,
    pub raw: Value,
}

/// What one daemon answered, or why it did not.
pub type Answer<T> = Result<Said<T>, String>;
pub(crate) type PulseAnswer = Answer<PulseStatus>;
pub(crate) type LvsdAnswer = Answer<LvsdStatus>;

/// Where the two daemons answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sockets {
    pub pulse: PathBuf,
    pub lvsd: PathBuf,
}

impl Default for Sockets {
    /// Beside the legacy pid files: `/var/run/pulse.sock`, `/var/run/lvs.sock`.
    fn default() -> Sockets {
        Sockets {
            pulse: Path::new(daemon::pidfile::PULSE).with_extension("sock"),
            lvsd: Path::new(daemon::pidfile::LVSD).with_extension("sock"),
        }
    }
}

/// Both daemons' `status`, each given at most `limit` to answer.
pub fn collect(sockets: &Sockets, limit: Duration) -> (PulseAnswer, LvsdAnswer) {
    (
        ask(&sockets.pulse, "status", limit),
        ask(&sockets.lvsd, "status", limit),
    )
}

/// One request without arguments; a refusal, an answer not in the schema or an
/// unreachable socket is the `Err`.
pub fn ask<T: DeserializeOwned>(path: &Path, command: &str, limit: Duration) -> Answer<T> {
    match daemon::control::ask(path, &json!({ "command": command }), limit) {
        Ok(v) if v["ok"] == true => parse_answer(v).map_err(|e| format!("{}: {e}", path.display())),
        Ok(v) => Err(format!(
            "{}: {}",
            path.display(),
            v["error"].as_str().unwrap_or("refused")
        )),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// A served answer read in the schema.
pub fn parse_answer<T: DeserializeOwned>(raw: Value) -> Answer<T> {
    match T::deserialize(&raw) {
        Ok(status) => Ok(Said { status, raw }),
        Err(e) => Err(format!(
            "an answer this version cannot read (schema {}): {e}",
            raw["schema"].as_u64().unwrap_or(1)
        )),
    }
}

/// A count, `-` when absent (a real server out of the table has none).
pub(crate) fn count<N: std::fmt::Display>(n: Option<N>) -> String {
    n.map_or_else(|| "-".to_string(), |n| n.to_string())
}

/// What the director last heard from its partner: `alive, said running 120 ms ago`.
pub(crate) fn heard(partner: &Partner) -> String {
    let Some(ms) = partner.last_heard_ms_ago else {
        return "never heard".into();
    };
    let alive = if partner.alive { "alive" } else { "silent" };
    let said = partner.last_said.as_deref().unwrap_or("?");
    format!("{alive}, said {said} {ms} ms ago")
}

/// `lvsctl status --json`: both answers as said, and for each daemon that did not
/// answer, why.
pub fn json<P, L>(pulse: &Answer<P>, lvsd: &Answer<L>) -> Value {
    fn part<T>(a: &Answer<T>) -> (Value, Value) {
        match a {
            Ok(s) => (s.raw.clone(), Value::Null),
            Err(e) => (Value::Null, Value::String(e.clone())),
        }
    }
    let ((p, pe), (l, le)) = (part(pulse), part(lvsd));
    json!({"pulse": p, "pulse_error": pe, "lvsd": l, "lvsd_error": le})
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Whole answers for the views' tests: the recorded ones, changed as a test needs.
    use serde_json::Value;

    pub fn pulse() -> Value {
        serde_json::from_str(include_str!("../tests/data/pulse-answer.json")).unwrap()
    }

    pub fn lvsd() -> Value {
        serde_json::from_str(include_str!("../tests/data/lvsd-answer.json")).unwrap()
    }

    pub fn said<T: serde::de::DeserializeOwned + std::fmt::Debug>(v: Value) -> crate::Answer<T> {
        let a = crate::parse_answer(v);
        assert!(a.is_ok(), "{a:?}");
        a
    }
}
