//! The operator's requests on pulse's control socket (docs/control.md) and the
//! configuration sync's decisions (docs/operations.md, "Configuration sync"), as the
//! state machine's: `status` and `sync` arrive as [`Event::Control`], a push's end as
//! [`Event::Pushed`]; pushes leave as [`Action::Push`], answers as [`Action::Answer`] and
//! [`Action::AnswerStatus`]. A director that becomes active, or reloads while active,
//! pushes its lvs.cf when `sync = 1`.

use std::time::Instant;

use daemon::control::{ClientId, Request};

use super::{Action, Pulse, Timer};
use crate::sync::{ConfigSync, Outcome};

/// Where the configuration sync stands.
#[derive(Debug, Default)]
pub(crate) struct SyncDecisions {
    when: ConfigSync,
    /// `sync = 1`: push at activation and at each reload while active.
    automatic: bool,
    /// There is a partner to push to.
    partner: bool,
    /// The shell could set the push up (its worker thread).
    available: bool,
    /// The `lvsctl sync` clients waiting for the push under way.
    waiting: Vec<ClientId>,
    was_active: bool,
}

impl SyncDecisions {
    pub(crate) fn new(automatic: bool, partner: bool) -> SyncDecisions {
        SyncDecisions {
            automatic,
            partner,
            available: true,
            ..SyncDecisions::default()
        }
    }
}

impl Pulse {
    /// The shell cannot push (it said why in the log): `lvsctl sync` is refused.
    pub(crate) fn without_sync(mut self) -> Pulse {
        self.sync.available = false;
        self
    }

    pub(super) fn control(&mut self, req: Request, now: Instant) -> Vec<Action> {
        let client = req.client;
        let answer = match req.command.as_str() {
            "status" => {
                let status = Box::new(self.status(now));
                return vec![Action::AnswerStatus { client, status }];
            }
            // Answered when the push ends.
            "sync" => match self.sync_refusal() {
                None => {
                    self.sync.when.request();
                    self.sync.waiting.push(client);
                    return Vec::new();
                }
                Some(refusal) => daemon::control::error(refusal),
            },
            other => daemon::control::unknown(other),
        };
        vec![Action::Answer { client, answer }]
    }

    fn sync_refusal(&self) -> Option<&'static str> {
        if !self.sync.available {
            Some("configuration sync could not be set up")
        } else if !self.sync.partner {
            Some("no partner director in lvs.cf")
        } else {
            None
        }
    }

    /// lvs.cf was reread or the director became active: push if `sync = 1`.
    pub(super) fn sync_changed(&mut self) {
        if self.sync.automatic && self.sync.partner && self.sync.available {
            self.sync.when.request();
        }
    }

    /// A push ended: logged, and told to those who asked.
    pub(super) fn pushed(&mut self, outcome: Outcome, now: Instant) -> Vec<Action> {
        let line = self.sync.when.finished(&outcome, now);
        let answer = match outcome {
            Outcome::Installed(_) => serde_json::json!({"ok": true, "message": line}),
            _ => daemon::control::error(&line),
        };
        let mut out = vec![Action::Log(line)];
        out.extend(self.sync.waiting.drain(..).map(|client| Action::Answer {
            client,
            answer: answer.clone(),
        }));
        out
    }

    /// After every event: a director that became active pushes (sync = 1), and a due
    /// push starts.
    pub(super) fn after_sync(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.active && !self.sync.was_active {
            self.sync_changed();
        }
        self.sync.was_active = self.active;
        if self.sync.when.poll(now) {
            out.push(Action::Push);
        }
        // A push due now has just started: what is left to wait for is a retry.
        match self.sync.when.next_deadline() {
            Some(at) => self.timers.set(Timer::SyncRetry, at),
            None => self.timers.clear(Timer::SyncRetry),
        }
    }
}
