//! pulse replayed from the conformance traces in `tests/conformance/` (docs/architecture.md,
//! "Traces"): each trace says how its state machine is made (`# setup:`), then each event
//! it handled, when, and the actions it gave. The traces were recorded from the scripted
//! runs of `replay.rs` and `replay_fos.rs` (`PULSE_RECORD_CONFORMANCE=1`), so a change of
//! behaviour shows here as the first line that differs; a trace from a site
//! (`PIRANHA_TRACE`) can join them.

mod replay_common;

use std::path::PathBuf;
use std::time::Instant;

fn traces() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let mut all: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    all.sort();
    all
}

fn setup(path: &PathBuf) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap();
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("# setup: "))
        .unwrap_or_else(|| panic!("{}: no setup line", path.display()));
    serde_json::from_str(line).unwrap()
}

#[test]
fn every_conformance_trace_replays() {
    let all = traces();
    assert!(all.len() >= 40, "only {} traces", all.len());
    for path in all {
        let t0 = Instant::now();
        let mut pulse = replay_common::pulse_of(&setup(&path), t0);
        daemon::trace::replay_file(&mut pulse, &path, t0);
    }
}
