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

use serde_json::{json, Value};

/// What one daemon answered, or why it did not.
pub type Answer = Result<Value, String>;

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
pub fn collect(sockets: &Sockets, limit: Duration) -> (Answer, Answer) {
    (
        ask(&sockets.pulse, "status", limit),
        ask(&sockets.lvsd, "status", limit),
    )
}

/// One request without arguments; a refusal or an unreachable socket is the `Err`.
pub fn ask(path: &Path, command: &str, limit: Duration) -> Answer {
    match daemon::control::ask(path, &json!({ "command": command }), limit) {
        Ok(v) if v["ok"] == true => Ok(v),
        Ok(v) => Err(format!(
            "{}: {}",
            path.display(),
            v["error"].as_str().unwrap_or("refused")
        )),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// A string field of an answer, `?` when absent.
pub(crate) fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("?")
}

/// A count of an answer, `-` when absent (a real server out of the table has none).
pub(crate) fn count(v: &Value) -> String {
    v.as_u64()
        .map_or_else(|| "-".to_string(), |n| n.to_string())
}

/// What the director last heard from its partner: `alive, said running 120 ms ago`.
pub(crate) fn heard(partner: &Value) -> String {
    let Some(ms) = partner["last_heard_ms_ago"].as_u64() else {
        return "never heard".into();
    };
    let alive = if partner["alive"] == true {
        "alive"
    } else {
        "silent"
    };
    let said = partner["last_said"].as_str().unwrap_or("?");
    format!("{alive}, said {said} {ms} ms ago")
}

/// `lvsctl status --json`: both answers, and for each daemon that did not answer, why.
pub fn json(pulse: &Answer, lvsd: &Answer) -> Value {
    let part = |a: &Answer| match a {
        Ok(v) => (v.clone(), Value::Null),
        Err(e) => (Value::Null, Value::String(e.clone())),
    };
    let ((p, pe), (l, le)) = (part(pulse), part(lvsd));
    json!({"pulse": p, "pulse_error": pe, "lvsd": l, "lvsd_error": le})
}
