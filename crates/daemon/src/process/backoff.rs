//! When to restart a child that died (legacy lvsd never restarted a nanny: with
//! `hard_shutdown = 1` it shut the whole LVS down, and its lookup bug did the same with
//! `hard_shutdown = 0`). Pure policy: restarts with exponential backoff, and "give up"
//! when a child keeps dying, at which point the caller decides (lvsd: `hard_shutdown`).

use std::time::{Duration, Instant};

/// Restart policy for one child.
#[derive(Debug, Clone)]
pub struct Backoff {
    /// Deaths within `window` after which lvsd gives up on this nanny.
    pub max_deaths: usize,
    pub window: Duration,
    pub first_delay: Duration,
    pub max_delay: Duration,
    deaths: Vec<Instant>,
}

/// What to do about a child that died.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    RestartAfter(Duration),
    GiveUp,
}

impl Default for Backoff {
    /// 5 deaths within 60 s: delays 1, 2, 4, 8 s, then give up.
    fn default() -> Self {
        Backoff {
            max_deaths: 5,
            window: Duration::from_secs(60),
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            deaths: Vec::new(),
        }
    }
}

impl Backoff {
    /// Gives up after `max_deaths` deaths within the default window.
    pub fn giving_up_after(max_deaths: usize) -> Backoff {
        Backoff {
            max_deaths,
            ..Backoff::default()
        }
    }

    /// Records a death at `now` and decides.
    pub fn died(&mut self, now: Instant) -> Decision {
        self.deaths.retain(|t| now.duration_since(*t) < self.window);
        self.deaths.push(now);
        if self.deaths.len() >= self.max_deaths {
            return Decision::GiveUp;
        }
        let shift = (self.deaths.len() - 1).min(16) as u32;
        Decision::RestartAfter((self.first_delay * 2u32.pow(shift)).min(self.max_delay))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backs_off_then_gives_up() {
        let mut b = Backoff::default();
        let t0 = Instant::now();
        let s = Duration::from_secs;
        assert_eq!(b.died(t0), Decision::RestartAfter(s(1)));
        assert_eq!(b.died(t0 + s(2)), Decision::RestartAfter(s(2)));
        assert_eq!(b.died(t0 + s(5)), Decision::RestartAfter(s(4)));
        assert_eq!(b.died(t0 + s(10)), Decision::RestartAfter(s(8)));
        assert_eq!(b.died(t0 + s(20)), Decision::GiveUp);
    }

    #[test]
    fn deaths_outside_the_window_are_forgotten() {
        let mut b = Backoff::default();
        let t0 = Instant::now();
        for i in 0..4 {
            b.died(t0 + Duration::from_secs(i * 100));
        }
        assert_eq!(
            b.died(t0 + Duration::from_secs(500)),
            Decision::RestartAfter(Duration::from_secs(1))
        );
    }
}
