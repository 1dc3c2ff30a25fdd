//! A daemon's run as data: every event a core handled, when, and the actions it gave, one
//! JSON object a line (docs/architecture.md, "Traces"). Recording is opt-in
//! (`PIRANHA_TRACE=FILE` in a daemon's environment) and bounded (`PIRANHA_TRACE_LIMIT`
//! bytes, 16 MiB by default: the trace ends with `{"truncated":true}`). [`replay`] feeds a
//! trace back to a fresh core and compares the actions, so a trace captured at a site
//! becomes a test as it is; the conformance tests are such files, written by hand.
//!
//! A line: `{"ms": 1500.0, "event": E, "actions": [A, ...]}`, `ms` since the start of
//! the trace. `actions` may be left out of a hand-written line (not compared); lines that
//! start with `#` are comments.

use std::fs::File;
use std::io::{self, BufRead, BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use crate::driver::Core;

/// The environment variable naming the trace file.
pub const TRACE_ENV: &str = "PIRANHA_TRACE";
/// The environment variable naming a directory for the integrated monitors' traces
/// (lvsd's `integrated_monitors = 1`): one file per real server, `ADDRESS:PORT.jsonl`.
pub const MONITOR_TRACES_ENV: &str = "PIRANHA_TRACE_MONITORS";
/// The environment variable bounding a trace's size, in bytes.
pub(crate) const TRACE_LIMIT_ENV: &str = "PIRANHA_TRACE_LIMIT";
const DEFAULT_LIMIT: u64 = 16 << 20;

/// A trace being written.
pub struct Trace {
    out: BufWriter<File>,
    start: Instant,
    written: u64,
    limit: u64,
}

impl Trace {
    /// A new trace at `path` (replaced, never followed through a symlink; mode 0600: the
    /// events hold what the daemon heard).
    pub fn create(path: &Path, limit: u64, start: Instant) -> io::Result<Trace> {
        let file = crate::files::create_replacing(path, 0o600)?;
        Ok(Trace {
            out: BufWriter::new(file),
            start,
            written: 0,
            limit,
        })
    }

    /// The trace the environment asks for, if any (and why it cannot be written).
    pub fn from_env(start: Instant) -> Option<io::Result<Trace>> {
        let path = std::env::var_os(TRACE_ENV)?;
        Some(Trace::create(Path::new(&path), limit_from_env(), start))
    }

    /// The event, serialised before the core takes it; `None` once the trace is full.
    pub(crate) fn event(&mut self, event: &impl Serialize, now: Instant) -> Option<Value> {
        (self.written < self.limit).then(|| {
            let ms = now.saturating_duration_since(self.start).as_secs_f64() * 1e3;
            json!({ "ms": ms, "event": event })
        })
    }

    /// Writes the event's line with the actions it gave.
    pub(crate) fn actions(&mut self, line: Option<Value>, actions: &[impl Serialize]) {
        let Some(mut line) = line else {
            return;
        };
        line["actions"] = serde_json::to_value(actions).unwrap_or(Value::Null);
        let mut text = line.to_string();
        text.push('\n');
        self.written += text.len() as u64;
        let mut result = self.out.write_all(text.as_bytes());
        if self.written >= self.limit {
            result = result.and_then(|()| self.out.write_all(b"{\"truncated\":true}\n"));
        }
        // A full disk ends the trace, never the daemon.
        if result.and_then(|()| self.out.flush()).is_err() {
            self.limit = 0;
        }
    }
}

/// `handle(event)`, the event and the actions it gave recorded when there is a trace:
/// how the driver, and each integrated monitor, hand an event to their core.
pub fn handled<E: Serialize, A: Serialize>(
    trace: Option<&mut Trace>,
    event: E,
    now: Instant,
    handle: impl FnOnce(E) -> Vec<A>,
) -> Vec<A> {
    let Some(trace) = trace else {
        return handle(event);
    };
    let line = trace.event(&event, now);
    let actions = handle(event);
    trace.actions(line, &actions);
    actions
}

/// The size limit of a trace (`PIRANHA_TRACE_LIMIT`, 16 MiB by default).
pub fn limit_from_env() -> u64 {
    std::env::var(TRACE_LIMIT_ENV)
        .ok()
        .and_then(|l| l.parse().ok())
        .unwrap_or(DEFAULT_LIMIT)
}

/// One line of a trace.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceLine {
    /// Its line number in the file.
    pub line: usize,
    pub ms: f64,
    pub event: Value,
    pub actions: Option<Value>,
}

/// Why a trace could not be read or did not replay.
#[derive(Debug)]
pub enum TraceError {
    Read(io::Error),
    /// A line that is not a trace line.
    Malformed {
        line: usize,
        reason: String,
    },
    /// The core gave other actions than the trace's.
    Mismatch {
        line: usize,
        event: Value,
        want: Value,
        got: Value,
    },
}

impl std::fmt::Display for TraceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TraceError::Read(e) => write!(f, "cannot read the trace: {e}"),
            TraceError::Malformed { line, reason } => write!(f, "line {line}: {reason}"),
            TraceError::Mismatch {
                line,
                event,
                want,
                got,
            } => write!(
                f,
                "line {line}: {event}\n  want {}\n  got  {}",
                pretty(want),
                pretty(got)
            ),
        }
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// Reads a trace file.
pub fn read(path: &Path) -> Result<Vec<TraceLine>, TraceError> {
    let file = File::open(path).map_err(TraceError::Read)?;
    let mut lines = Vec::new();
    for (i, text) in io::BufReader::new(file).lines().enumerate() {
        let text = text.map_err(TraceError::Read)?;
        if let Some(line) = parse_line(i + 1, &text)? {
            lines.push(line);
        }
    }
    Ok(lines)
}

fn parse_line(line: usize, text: &str) -> Result<Option<TraceLine>, TraceError> {
    let text = text.trim();
    if text.is_empty() || text.starts_with('#') {
        return Ok(None);
    }
    let malformed = |reason: String| TraceError::Malformed { line, reason };
    let mut v: Value = serde_json::from_str(text).map_err(|e| malformed(e.to_string()))?;
    if v.get("truncated").is_some() {
        return Ok(None);
    }
    let ms = v["ms"]
        .as_f64()
        .ok_or_else(|| malformed("no \"ms\"".into()))?;
    let event = v
        .get_mut("event")
        .map(Value::take)
        .ok_or_else(|| malformed("no \"event\"".into()))?;
    let actions = v.get_mut("actions").map(Value::take);
    Ok(Some(TraceLine {
        line,
        ms,
        event,
        actions,
    }))
}

/// Feeds the trace's events to `core`, each at `start` plus its time, and compares the
/// actions with the trace's. Answers are events of the trace like any other.
pub fn replay<C: Core>(core: &mut C, lines: &[TraceLine], start: Instant) -> Result<(), TraceError>
where
    C::Event: DeserializeOwned,
{
    for l in lines {
        let event: C::Event =
            serde_json::from_value(l.event.clone()).map_err(|e| TraceError::Malformed {
                line: l.line,
                reason: format!("not an event: {e}"),
            })?;
        let now = start + Duration::from_secs_f64(l.ms.max(0.0) / 1e3);
        let got = serde_json::to_value(core.handle(event, now)).unwrap_or(Value::Null);
        match &l.actions {
            Some(want) if *want != got => {
                return Err(TraceError::Mismatch {
                    line: l.line,
                    event: l.event.clone(),
                    want: want.clone(),
                    got,
                })
            }
            _ => {}
        }
    }
    Ok(())
}

/// Reads and replays a trace file; panics with the first difference (for tests).
pub fn replay_file<C: Core>(core: &mut C, path: &Path, start: Instant)
where
    C::Event: DeserializeOwned,
{
    let result = read(path).and_then(|lines| replay(core, &lines, start));
    if let Err(e) = result {
        panic!("{}: {e}", path.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::{Driver, Executor, Step};

    /// Counts "tick"s; says "due" when asked after two.
    #[derive(Default)]
    struct Counter(u32);
    impl Core for Counter {
        type Event = String;
        type Action = String;
        fn handle(&mut self, e: String, _: Instant) -> Vec<String> {
            match e.as_str() {
                "tick" => {
                    self.0 += 1;
                    vec![]
                }
                _ if self.0 >= 2 => vec!["due".into()],
                _ => vec!["not yet".into()],
            }
        }
        fn next_deadline(&self, _: Instant) -> Option<Instant> {
            None
        }
    }
    struct Nothing;
    impl Executor<Counter> for Nothing {
        fn execute(&mut self, _: String) -> Step<String> {
            Step::Done
        }
    }

    #[test]
    fn a_recorded_trace_replays_and_a_changed_one_fails_at_its_line() {
        let d = testbed::TempDir::new("trace-roundtrip");
        let path = d.join("lvsd.trace");
        let start = Instant::now();
        let mut driver = Driver::new(Counter::default(), Nothing);
        driver.record(Trace::create(&path, 1 << 20, start).unwrap());
        driver.dispatch_all(["ask", "tick", "tick", "ask"].map(String::from));
        drop(driver);
        let lines = read(&path).unwrap();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[3].actions, Some(json!(["due"])));
        replay(&mut Counter::default(), &lines, Instant::now()).unwrap();
        let mut changed = lines.clone();
        changed.remove(2);
        let err = replay(&mut Counter::default(), &changed, Instant::now()).unwrap_err();
        assert!(
            matches!(&err, TraceError::Mismatch { line: 4, .. }),
            "{err}"
        );
    }

    #[test]
    fn the_trace_stops_at_its_limit_and_says_so() {
        let d = testbed::TempDir::new("trace-limit");
        let path = d.join("t");
        let mut driver = Driver::new(Counter::default(), Nothing);
        driver.record(Trace::create(&path, 200, Instant::now()).unwrap());
        driver.dispatch_all((0..100).map(|_| "tick".to_string()));
        drop(driver);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.len() < 400, "{} bytes", text.len());
        assert!(text.ends_with("{\"truncated\":true}\n"), "{text}");
    }

    #[test]
    fn comments_and_missing_actions_are_allowed_other_lines_are_named() {
        let l = parse_line(3, "# a comment").unwrap();
        assert_eq!(l, None);
        let l = parse_line(4, r#"{"ms": 5, "event": "tick"}"#)
            .unwrap()
            .unwrap();
        assert_eq!((l.ms, l.actions), (5.0, None));
        let err = parse_line(7, r#"{"event": "tick"}"#).unwrap_err();
        assert_eq!(err.to_string(), "line 7: no \"ms\"");
    }
}
