//! The one driver for the daemons' sans-IO cores (lvsd's manager, nanny's monitor, and
//! pulse and fos next), shared by the daemons and by the tests' simulators.
//!
//! A core takes events and the time and returns actions ([`Core::handle`]) and says when
//! it next wants to be woken ([`Core::next_deadline`]). An [`Executor`] carries one
//! action out (the daemon's IO, or a test's fake world) and may answer it with an event
//! (a reconcile with its result, a spawn with the pid). [`Driver::dispatch`] feeds an
//! event and carries out everything that follows, depth first: what an answer leads to
//! comes before the actions queued after the one answered.

use std::collections::VecDeque;
use std::time::Instant;

/// A sans-IO state machine.
pub trait Core {
    type Event;
    type Action;
    fn handle(&mut self, event: Self::Event, now: Instant) -> Vec<Self::Action>;
    /// When the core next wants [`Core::handle`] called with its tick event, if ever.
    fn next_deadline(&self, now: Instant) -> Option<Instant>;
}

/// What carrying out one action led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step<E> {
    Done,
    /// An answer to feed back to the core at once.
    Answer(E),
    /// The daemon is finished, with this exit code.
    Exit(i32),
}

/// Carries actions out.
pub trait Executor<C: Core> {
    fn execute(&mut self, action: C::Action) -> Step<C::Event>;
    /// The time given to the core (a simulator's clock; the real one by default).
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A core and the executor of its actions.
pub struct Driver<C, X> {
    pub core: C,
    pub exec: X,
}

impl<C: Core, X: Executor<C>> Driver<C, X> {
    pub fn new(core: C, exec: X) -> Self {
        Driver { core, exec }
    }

    /// Feeds one event and carries out what follows. `Some(code)` once the core exits.
    pub fn dispatch(&mut self, event: C::Event) -> Option<i32> {
        let now = self.exec.now();
        let actions = self.core.handle(event, now);
        self.carry_out(actions)
    }

    /// Feeds events in order; stops at the first that makes the core exit. `Some(code)`
    /// once the core exits.
    pub fn dispatch_all(&mut self, events: impl IntoIterator<Item = C::Event>) -> Option<i32> {
        events.into_iter().find_map(|e| self.dispatch(e))
    }

    /// Carries out actions in order, answers first. `Some(code)` once the core exits.
    pub fn carry_out(&mut self, actions: Vec<C::Action>) -> Option<i32> {
        let mut queue: VecDeque<C::Action> = actions.into();
        while let Some(action) = queue.pop_front() {
            match self.exec.execute(action) {
                Step::Done => {}
                Step::Exit(code) => return Some(code),
                Step::Answer(e) => {
                    let now = self.exec.now();
                    for a in self.core.handle(e, now).into_iter().rev() {
                        queue.push_front(a);
                    }
                }
            }
        }
        None
    }

    /// The core's next deadline, as of the executor's clock.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.core.next_deadline(self.exec.now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A core that asks for "work" and, once answered, logs; exits on "stop".
    struct Toy;
    impl Core for Toy {
        type Event = &'static str;
        type Action = String;
        fn handle(&mut self, e: &'static str, _: Instant) -> Vec<String> {
            match e {
                "go" => vec!["work".into(), "after".into()],
                "worked" => vec!["log".into()],
                "stop" => vec!["exit".into(), "never".into()],
                _ => vec![],
            }
        }
        fn next_deadline(&self, _: Instant) -> Option<Instant> {
            None
        }
    }

    #[derive(Default)]
    struct Record(Vec<String>);
    impl Executor<Toy> for Record {
        fn execute(&mut self, a: String) -> Step<&'static str> {
            self.0.push(a.clone());
            match a.as_str() {
                "work" => Step::Answer("worked"),
                "exit" => Step::Exit(3),
                _ => Step::Done,
            }
        }
    }

    #[test]
    fn answers_are_handled_depth_first_and_exit_stops_at_once() {
        let mut d = Driver::new(Toy, Record::default());
        assert_eq!(d.dispatch("go"), None);
        assert_eq!(d.exec.0, ["work", "log", "after"]);
        assert_eq!(d.dispatch("stop"), Some(3));
        assert_eq!(d.exec.0.last().unwrap(), "exit");
    }

    #[test]
    fn dispatch_all_stops_at_the_event_that_exits() {
        let mut d = Driver::new(Toy, Record::default());
        assert_eq!(d.dispatch_all(["go", "stop", "go"]), Some(3));
        assert_eq!(d.exec.0, ["work", "log", "after", "exit"]);
        assert_eq!(d.dispatch_all(["go"]), None);
    }
}
