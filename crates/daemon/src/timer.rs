//! A core's timers in one table (quinn-proto's `TimerTable` habit): each timer is a
//! variant of the core's own enum, set to an instant or not, and the core's
//! `next_deadline` is the table's earliest.

use std::time::Instant;

/// The timers of one core, by name.
#[derive(Debug, Clone)]
pub struct TimerTable<T> {
    set: Vec<(T, Instant)>,
}

impl<T> Default for TimerTable<T> {
    fn default() -> Self {
        TimerTable { set: Vec::new() }
    }
}

impl<T: Copy + Eq> TimerTable<T> {
    /// Sets `timer` to fire at `at` (replacing an earlier setting).
    pub fn set(&mut self, timer: T, at: Instant) {
        match self.set.iter_mut().find(|(t, _)| *t == timer) {
            Some(entry) => entry.1 = at,
            None => self.set.push((timer, at)),
        }
    }

    pub fn clear(&mut self, timer: T) {
        self.set.retain(|(t, _)| *t != timer);
    }

    pub fn get(&self, timer: T) -> Option<Instant> {
        self.set
            .iter()
            .find(|(t, _)| *t == timer)
            .map(|(_, at)| *at)
    }

    pub fn is_set(&self, timer: T) -> bool {
        self.get(timer).is_some()
    }

    /// Whether `timer` is set and due at `now`.
    pub fn is_due(&self, timer: T, now: Instant) -> bool {
        self.get(timer).is_some_and(|at| now >= at)
    }

    /// Clears `timer` if it is due at `now`; whether it was.
    pub fn take_due(&mut self, timer: T, now: Instant) -> bool {
        let due = self.is_due(timer, now);
        if due {
            self.clear(timer);
        }
        due
    }

    /// The earliest timer set.
    pub fn next(&self) -> Option<Instant> {
        self.set.iter().map(|(_, at)| *at).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum T {
        Send,
        Need,
    }

    #[test]
    fn the_earliest_set_timer_is_next_and_a_due_one_is_taken_once() {
        let t0 = Instant::now();
        let mut t = TimerTable::default();
        assert_eq!(t.next(), None);
        t.set(T::Need, t0 + Duration::from_secs(5));
        t.set(T::Send, t0 + Duration::from_secs(2));
        assert_eq!(t.next(), Some(t0 + Duration::from_secs(2)));
        t.set(T::Send, t0 + Duration::from_secs(9));
        assert_eq!(
            t.next(),
            Some(t0 + Duration::from_secs(5)),
            "reset, not added"
        );
        assert!(!t.take_due(T::Need, t0 + Duration::from_secs(4)));
        assert!(t.take_due(T::Need, t0 + Duration::from_secs(5)));
        assert!(!t.is_set(T::Need));
        assert_eq!(t.next(), Some(t0 + Duration::from_secs(9)));
        t.clear(T::Send);
        assert_eq!(t.next(), None);
    }
}
