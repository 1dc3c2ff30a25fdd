//! fos's decisions replayed from the conformance traces in `tests/conformance/`
//! (docs/architecture.md, "Traces"): each line's event in, the actions compared
//! (docs/legacy.md, "fos"). A trace recorded at a site (`PIRANHA_TRACE`) replays the same
//! way against the services of its lvs.cf.

use std::path::PathBuf;
use std::time::Instant;

use fos::machine::{Fos, Mode};
use fos::service::Service;

fn argv(s: &str) -> Vec<String> {
    s.split(' ').map(str::to_string).collect()
}

/// a (192.0.2.100:80) with both commands, b (192.0.2.101:21) with a start_cmd only.
fn services() -> Vec<Service> {
    vec![
        Service {
            name: "a".into(),
            vip: "192.0.2.100".parse().unwrap(),
            port: 80,
            start: Some(argv("/srv/a start")),
            stop: Some(argv("/srv/a stop")),
        },
        Service {
            name: "b".into(),
            vip: "192.0.2.101".parse().unwrap(),
            port: 21,
            start: Some(argv("/srv/b start")),
            stop: None,
        },
    ]
}

/// The same services without any command.
fn quiet() -> Vec<Service> {
    let mut quiet = services();
    for s in &mut quiet {
        s.start = None;
        s.stop = None;
    }
    quiet
}

fn replay(name: &str, mode: Mode, services: Vec<Service>) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/conformance")
        .join(format!("{name}.jsonl"));
    daemon::trace::replay_file(&mut Fos::new(mode, services), &path, Instant::now());
}

#[test]
fn active_stops_then_starts_every_service_and_stops_them_when_told() {
    replay("active-start-and-stop", Mode::Active, services());
}

#[test]
fn a_stop_during_start_up_waits_for_the_command_under_way_then_stops_everything() {
    replay("active-stop-during-start-up", Mode::Active, services());
}

#[test]
fn monitor_stops_local_services_then_watches_each_and_the_first_exit_is_a_failover() {
    replay(
        "monitor-first-exit-is-a-failover",
        Mode::Monitor,
        services(),
    );
}

#[test]
fn monitor_told_to_stop_stops_its_monitors_and_a_monitor_that_cannot_start_fails_over() {
    replay("monitor-told-to-stop", Mode::Monitor, services());
    replay("monitor-that-cannot-start", Mode::Monitor, services());
}

#[test]
fn services_without_commands_go_straight_on() {
    replay("quiet-monitor", Mode::Monitor, quiet());
    replay("quiet-active", Mode::Active, quiet());
}

#[test]
fn a_trace_that_says_otherwise_fails_at_its_line() {
    let d = testbed::TempDir::new("fos-trace-mismatch");
    let path = d.join("t.jsonl");
    let good = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/quiet-active.jsonl"),
    )
    .unwrap();
    std::fs::write(
        &path,
        good.replace("{\"Exit\": \"Done\"}", "{\"Exit\": \"StartFailed\"}"),
    )
    .unwrap();
    let lines = daemon::trace::read(&path).unwrap();
    let err = daemon::trace::replay(&mut Fos::new(Mode::Active, quiet()), &lines, Instant::now())
        .unwrap_err();
    assert!(err.to_string().contains("want"), "{err}");
}
