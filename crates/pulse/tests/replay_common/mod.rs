//! What the replay tests of both modes share: reading the actions a script produced.

use pulse::machine::Action;

/// The log lines among the actions.
pub fn logs(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Log(t) => Some(t.clone()),
            _ => None,
        })
        .collect()
}

/// The actions without logs and debug lines.
pub fn effects(actions: &[Action]) -> Vec<Action> {
    actions
        .iter()
        .filter(|a| !matches!(a, Action::Log(_) | Action::Debug(_)))
        .cloned()
        .collect()
}
