//! The one driver of the daemons' sans-IO cores (lvsd's manager, pulse's heartbeat, fos,
//! nanny's monitor, and each integrated monitor inside lvsd), shared by the daemons
//! ([`crate::runtime`]) and by the tests' simulators.
//!
//! A core takes events and the time and returns actions ([`Core::handle`]) and says when
//! it next wants to be woken ([`Core::next_deadline`]). An [`Executor`] carries one
//! action out (the daemon's IO, or a test's fake world) and may answer it with an event
//! (a reconcile with its result, a spawn with the pid) or with a control reply.
//! [`carry_out`] is the one answer order every core runs with, depth first: what an
//! answer leads to comes before the actions queued after the one answered.

use std::collections::VecDeque;
use std::time::Instant;

use crate::control::ClientId;
use crate::trace::Trace;

/// A sans-IO state machine. Its events and actions are data (`serde`), so that a
/// daemon's run can be recorded ([`crate::trace`]) and replayed.
pub trait Core {
    type Event: serde::Serialize;
    type Action: serde::Serialize;
    fn handle(&mut self, event: Self::Event, now: Instant) -> Vec<Self::Action>;
    /// When the core next wants [`Core::handle`] called with its tick event, if ever.
    fn next_deadline(&self, now: Instant) -> Option<Instant>;
}

/// The answer to one control request (docs/control.md), carried out by the runtime.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub client: ClientId,
    pub answer: serde_json::Value,
}

/// What carrying out one action led to.
#[derive(Debug, Clone, PartialEq)]
pub enum Step<E> {
    Done,
    /// An answer to feed back to the core at once.
    Answer(E),
    /// An answer for a control client.
    Reply(Reply),
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

/// One core and the carrying out of its actions, as [`carry_out`] needs them: a
/// [`Driver`], or one integrated monitor among many in lvsd.
pub trait Carrier {
    type Event;
    type Action;
    fn execute(&mut self, action: Self::Action) -> Step<Self::Event>;
    /// The core's actions for an answer; `None` when the core is gone (a monitor that
    /// exited while its actions were being carried out).
    fn answer(&mut self, event: Self::Event) -> Option<Vec<Self::Action>>;
    fn reply(&mut self, _reply: Reply) {}
}

/// Carries out actions in order, answers first (depth first). `Some(code)` once the core
/// exits.
pub fn carry_out<T: Carrier>(t: &mut T, actions: Vec<T::Action>) -> Option<i32> {
    let mut queue: VecDeque<T::Action> = actions.into();
    while let Some(action) = queue.pop_front() {
        match t.execute(action) {
            Step::Done => {}
            Step::Exit(code) => return Some(code),
            Step::Reply(r) => t.reply(r),
            Step::Answer(e) => {
                let next = t.answer(e)?;
                for a in next.into_iter().rev() {
                    queue.push_front(a);
                }
            }
        }
    }
    None
}

/// A core and the executor of its actions.
pub struct Driver<C, X> {
    pub core: C,
    pub exec: X,
    /// Control replies the actions produced, for the runtime to send.
    replies: Vec<Reply>,
    trace: Option<Trace>,
}

impl<C: Core, X: Executor<C>> Driver<C, X> {
    pub fn new(core: C, exec: X) -> Self {
        Driver {
            core,
            exec,
            replies: Vec::new(),
            trace: None,
        }
    }

    /// Records every event and the actions it gave from now on.
    pub fn record(&mut self, trace: Trace) {
        self.trace = Some(trace);
    }

    /// Feeds one event and carries out what follows. `Some(code)` once the core exits.
    pub fn dispatch(&mut self, event: C::Event) -> Option<i32> {
        let actions = self.handle(event);
        self.carry_out(actions)
    }

    /// Feeds events in order; stops at the first that makes the core exit. `Some(code)`
    /// once the core exits.
    pub fn dispatch_all(&mut self, events: impl IntoIterator<Item = C::Event>) -> Option<i32> {
        events.into_iter().find_map(|e| self.dispatch(e))
    }

    /// Carries out actions in order, answers first. `Some(code)` once the core exits.
    pub fn carry_out(&mut self, actions: Vec<C::Action>) -> Option<i32> {
        carry_out(self, actions)
    }

    /// The core's next deadline, as of the executor's clock.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.core.next_deadline(self.exec.now())
    }

    /// The control replies produced since the last call.
    pub(crate) fn take_replies(&mut self) -> Vec<Reply> {
        std::mem::take(&mut self.replies)
    }

    fn handle(&mut self, event: C::Event) -> Vec<C::Action> {
        let now = self.exec.now();
        let core = &mut self.core;
        crate::trace::handled(self.trace.as_mut(), event, now, |e| core.handle(e, now))
    }
}

impl<C: Core, X: Executor<C>> Carrier for Driver<C, X> {
    type Event = C::Event;
    type Action = C::Action;
    fn execute(&mut self, action: C::Action) -> Step<C::Event> {
        self.exec.execute(action)
    }
    fn answer(&mut self, event: C::Event) -> Option<Vec<C::Action>> {
        Some(self.handle(event))
    }
    fn reply(&mut self, reply: Reply) {
        self.replies.push(reply);
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

    /// A carrier whose core is gone after its first answer.
    struct Vanishing(Vec<String>, bool);
    impl Carrier for Vanishing {
        type Event = ();
        type Action = &'static str;
        fn execute(&mut self, a: &'static str) -> Step<()> {
            self.0.push(a.into());
            Step::Answer(())
        }
        fn answer(&mut self, (): ()) -> Option<Vec<&'static str>> {
            std::mem::replace(&mut self.1, false).then(|| vec!["answered"])
        }
    }

    #[test]
    fn a_core_that_is_gone_ends_the_carrying_out() {
        let mut v = Vanishing(Vec::new(), true);
        assert_eq!(carry_out(&mut v, vec!["a", "b"]), None);
        assert_eq!(
            v.0,
            ["a", "answered"],
            "b is not carried out for a gone core"
        );
    }
}
