//! How long a failed wire waits before it is set up again.
//!
//! Every failure of a link (a refused hello, a corrupt ring, a silent peer,
//! a hostile offer) tears it down and sets it up again, forever: a wire
//! never gives up on a peer's error. The wait doubles from [`Backoff::MIN_NS`]
//! up to [`Backoff::MAX_NS`], so a peer that fails every attempt costs one
//! set-up (a few xenstore writes, 1 + 2K page grants) per period rather than
//! a busy loop, and a link that stayed up for [`Backoff::STABLE_NS`] starts
//! from the minimum again.

/// Exponential backoff with a cap, reset by a stable connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    next_ns: u64,
    connected_at: Option<u64>,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

impl Backoff {
    /// The first wait: long enough for the peer to finish its own teardown.
    pub const MIN_NS: u64 = 200_000_000;
    /// The cap: a wire whose peer was fixed comes back within this.
    pub const MAX_NS: u64 = 10_000_000_000;
    /// A link up this long counts as healthy: its failure starts over.
    pub const STABLE_NS: u64 = 10_000_000_000;

    /// Nothing failed yet.
    pub const fn new() -> Self {
        Self {
            next_ns: Self::MIN_NS,
            connected_at: None,
        }
    }

    /// The link came up at `now_ns`.
    pub fn connected(&mut self, now_ns: u64) {
        self.connected_at = Some(now_ns);
    }

    /// The link failed at `now_ns`: how long to wait before the next attempt.
    pub fn failed(&mut self, now_ns: u64) -> u64 {
        if self
            .connected_at
            .take()
            .is_some_and(|t| now_ns.saturating_sub(t) >= Self::STABLE_NS)
        {
            self.next_ns = Self::MIN_NS;
        }
        let wait = self.next_ns;
        self.next_ns = self.next_ns.saturating_mul(2).min(Self::MAX_NS);
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_cap_and_a_stable_link_resets_it() {
        let mut b = Backoff::new();
        let waits: alloc::vec::Vec<u64> = (0..9).map(|i| b.failed(i)).collect();
        assert_eq!(waits[0], Backoff::MIN_NS);
        assert_eq!(waits[1], 2 * Backoff::MIN_NS);
        assert!(waits.windows(2).all(|w| w[1] >= w[0]));
        assert_eq!(*waits.last().unwrap(), Backoff::MAX_NS);
        // Up briefly: still backing off.
        b.connected(100);
        assert_eq!(b.failed(200), Backoff::MAX_NS);
        // Up long enough: from the start.
        b.connected(1_000);
        assert_eq!(b.failed(1_000 + Backoff::STABLE_NS), Backoff::MIN_NS);
    }
}
