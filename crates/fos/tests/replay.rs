//! fos's decisions replayed: scripted events in, the actions compared (docs/legacy.md,
//! "fos").

use fos::machine::{Action, Event, Exit, Fos, Mode};
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

fn log(s: &str) -> Action {
    Action::Log(s.into())
}

fn run(s: &str) -> Action {
    Action::Run(argv(s))
}

/// Feeds each event and checks the actions it gives.
fn replay(fos: &mut Fos, script: Vec<(Event, Vec<Action>)>) {
    for (i, (event, want)) in script.into_iter().enumerate() {
        let got = fos.handle(event.clone());
        assert_eq!(got, want, "step {i}: {event:?}");
    }
}

#[test]
fn active_stops_then_starts_every_service_and_stops_them_when_told() {
    let mut f = Fos::new(Mode::Active, services());
    replay(
        &mut f,
        vec![
            (Event::Start, vec![run("/srv/a stop")]),
            (Event::CommandDone(Ok(true)), vec![run("/srv/a start")]),
            // A start_cmd that fails is said, and the next service still starts.
            (
                Event::CommandDone(Ok(false)),
                vec![
                    log("Failed to start service 192.0.2.100:80!"),
                    run("/srv/b start"),
                ],
            ),
            (
                Event::CommandDone(Err("timed out".into())),
                vec![log("Failed to start service 192.0.2.101:21!")],
            ),
            (Event::Stop, vec![run("/srv/a stop")]),
            (Event::Stop, vec![]),
            (Event::CommandDone(Ok(true)), vec![Action::Exit(Exit::Done)]),
        ],
    );
}

#[test]
fn a_stop_during_start_up_waits_for_the_command_under_way_then_stops_everything() {
    let mut f = Fos::new(Mode::Active, services());
    replay(
        &mut f,
        vec![
            (Event::Start, vec![run("/srv/a stop")]),
            (Event::CommandDone(Ok(true)), vec![run("/srv/a start")]),
            (Event::Stop, vec![]),
            (Event::CommandDone(Ok(true)), vec![run("/srv/a stop")]),
            (
                Event::CommandDone(Err("exit status 1".into())),
                vec![
                    log("cannot stop service 192.0.2.100:80: exit status 1"),
                    Action::Exit(Exit::Done),
                ],
            ),
        ],
    );
}

#[test]
fn monitor_stops_local_services_then_watches_each_and_the_first_exit_is_a_failover() {
    let mut f = Fos::new(Mode::Monitor, services());
    replay(
        &mut f,
        vec![
            (
                Event::Start,
                vec![log("Stopping local services (if any)"), run("/srv/a stop")],
            ),
            (
                Event::CommandDone(Ok(true)),
                vec![Action::StartMonitor(0), Action::StartMonitor(1)],
            ),
            (
                Event::MonitorStarted {
                    service: 0,
                    pid: 100,
                },
                vec![],
            ),
            (
                Event::MonitorStarted {
                    service: 1,
                    pid: 101,
                },
                vec![],
            ),
            // Not a monitor: nothing.
            (Event::Exited { pid: 7 }, vec![]),
            (
                Event::Exited { pid: 101 },
                vec![
                    log("Monitor for service 192.0.2.101:21 exited. This is a failover condition!"),
                    Action::Kill(100),
                    log("will now exit to notify pulse..."),
                    Action::Exit(Exit::Done),
                ],
            ),
            // The killed one's end changes nothing.
            (Event::Exited { pid: 100 }, vec![]),
        ],
    );
}

#[test]
fn monitor_told_to_stop_stops_its_monitors_and_a_monitor_that_cannot_start_fails_over() {
    let mut f = Fos::new(Mode::Monitor, services());
    f.handle(Event::Start);
    f.handle(Event::CommandDone(Ok(true)));
    f.handle(Event::MonitorStarted {
        service: 0,
        pid: 100,
    });
    f.handle(Event::MonitorStarted {
        service: 1,
        pid: 101,
    });
    assert_eq!(
        f.handle(Event::Stop),
        [
            Action::Kill(100),
            Action::Kill(101),
            Action::Exit(Exit::Done)
        ]
    );
    assert_eq!(f.handle(Event::Exited { pid: 100 }), []);

    let mut f = Fos::new(Mode::Monitor, services());
    f.handle(Event::Start);
    f.handle(Event::CommandDone(Ok(true)));
    f.handle(Event::MonitorStarted {
        service: 0,
        pid: 100,
    });
    assert_eq!(
        f.handle(Event::MonitorFailed {
            service: 1,
            reason: "no such file".into()
        }),
        [
            log("cannot start the monitor for service 192.0.2.101:21: no such file"),
            log("Monitor for service 192.0.2.101:21 exited. This is a failover condition!"),
            Action::Kill(100),
            log("will now exit to notify pulse..."),
            Action::Exit(Exit::Done),
        ]
    );
}

#[test]
fn services_without_commands_go_straight_on() {
    let mut quiet = services();
    for s in &mut quiet {
        s.start = None;
        s.stop = None;
    }
    let mut f = Fos::new(Mode::Monitor, quiet.clone());
    assert_eq!(
        f.handle(Event::Start),
        [
            log("Stopping local services (if any)"),
            Action::StartMonitor(0),
            Action::StartMonitor(1)
        ]
    );
    let mut f = Fos::new(Mode::Active, quiet);
    assert_eq!(f.handle(Event::Start), []);
    assert_eq!(f.handle(Event::Stop), [Action::Exit(Exit::Done)]);
}
