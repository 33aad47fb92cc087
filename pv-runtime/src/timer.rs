//! Deadline timers for the run loop: a small bounded set of (deadline, id).
//! The loop sleeps until [`Timers::next_deadline`] (the `SCHEDOP_poll` timeout)
//! and then takes what expired. No I/O here.

use heapless::Vec;

/// Identifies a timer to its owner.
pub type TimerId = u32;

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TimerError {
    #[error("timer set is full")]
    Full,
}

/// Up to `N` armed timers; re-arming an id replaces its deadline.
#[derive(Default)]
pub struct Timers<const N: usize> {
    armed: Vec<(u64, TimerId), N>,
}

impl<const N: usize> Timers<N> {
    pub const fn new() -> Self {
        Self { armed: Vec::new() }
    }

    pub fn arm(&mut self, id: TimerId, deadline_ns: u64) -> Result<(), TimerError> {
        self.cancel(id);
        self.armed
            .push((deadline_ns, id))
            .map_err(|_| TimerError::Full)
    }

    /// Returns whether `id` was armed.
    pub fn cancel(&mut self, id: TimerId) -> bool {
        match self.armed.iter().position(|&(_, i)| i == id) {
            Some(pos) => {
                self.armed.swap_remove(pos);
                true
            }
            None => false,
        }
    }

    pub fn next_deadline(&self) -> Option<u64> {
        self.armed.iter().map(|&(d, _)| d).min()
    }

    /// Removes and returns one timer whose deadline is `<= now`, earliest first.
    pub fn pop_expired(&mut self, now_ns: u64) -> Option<TimerId> {
        let (pos, _) = self
            .armed
            .iter()
            .enumerate()
            .filter(|(_, &(d, _))| d <= now_ns)
            .min_by_key(|(_, &(d, _))| d)?;
        Some(self.armed.swap_remove(pos).1)
    }

    pub fn len(&self) -> usize {
        self.armed.len()
    }

    pub fn is_empty(&self) -> bool {
        self.armed.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_in_deadline_order_and_rearm_replaces() {
        let mut t: Timers<4> = Timers::new();
        t.arm(1, 300).unwrap();
        t.arm(2, 100).unwrap();
        t.arm(3, 200).unwrap();
        t.arm(1, 50).unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(t.next_deadline(), Some(50));
        assert_eq!(t.pop_expired(40), None);
        assert_eq!(t.pop_expired(250), Some(1));
        assert_eq!(t.pop_expired(250), Some(2));
        assert_eq!(t.pop_expired(250), Some(3));
        assert_eq!(t.pop_expired(250), None);
        assert!(t.is_empty());
    }

    #[test]
    fn bounded_and_cancel() {
        let mut t: Timers<2> = Timers::new();
        t.arm(1, 1).unwrap();
        t.arm(2, 2).unwrap();
        assert_eq!(t.arm(3, 3), Err(TimerError::Full));
        assert!(t.cancel(1));
        assert!(!t.cancel(1));
        t.arm(3, 3).unwrap();
        assert_eq!(t.next_deadline(), Some(2));
    }
}
