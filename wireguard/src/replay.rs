//! The receive side's replay window (whitepaper §5.4.6; RFC 6479's
//! bitmap without a bit shift): 128 64-bit words, one of which is always
//! being reused, so the last 8128 counters are remembered, as Linux
//! remembers them (drivers/net/wireguard/receive.c, `counter_validate`,
//! `COUNTER_WINDOW_SIZE`). A counter is marked only after its packet
//! authenticated: [`ReplayWindow::may_accept`] first, decrypt, then
//! [`ReplayWindow::accept`], so forged packets cannot move the window.

/// Counters at or above this are never accepted (`REJECT_AFTER_MESSAGES`,
/// whitepaper §6.1: 2^64 − 2^13 − 1).
pub const REJECT_AFTER_MESSAGES: u64 = u64::MAX - (1 << 13);

const WORDS: usize = 128;
/// How far behind the greatest counter seen a counter may be.
pub const WINDOW: u64 = (WORDS as u64 - 1) * 64;

/// Which of the recent counters were received.
#[derive(Clone, Debug)]
pub struct ReplayWindow {
    /// One more than the greatest counter accepted (0: none yet).
    next: u64,
    bitmap: [u64; WORDS],
}

impl Default for ReplayWindow {
    fn default() -> Self {
        ReplayWindow {
            next: 0,
            bitmap: [0; WORDS],
        }
    }
}

impl ReplayWindow {
    /// False if `counter` is certainly a replay, too old, or out of range.
    pub fn may_accept(&self, counter: u64) -> bool {
        if counter >= REJECT_AFTER_MESSAGES {
            return false;
        }
        let c = counter + 1;
        if c + WINDOW < self.next {
            return false;
        }
        if c > self.next {
            return true;
        }
        let (word, bit) = Self::slot(c);
        self.bitmap[word] & (1 << bit) == 0
    }

    /// Marks `counter` received; false (and nothing marked) if it may not
    /// be accepted.
    pub fn accept(&mut self, counter: u64) -> bool {
        if !self.may_accept(counter) {
            return false;
        }
        let c = counter + 1;
        if c > self.next {
            // Clear the words between the old top and the new one (all of
            // them if it jumped further than the window).
            let old = self.next >> 6;
            let new = c >> 6;
            let clear = (new - old).min(WORDS as u64);
            for i in 1..=clear {
                self.bitmap[((old + i) % WORDS as u64) as usize] = 0;
            }
            self.next = c;
        }
        let (word, bit) = Self::slot(c);
        self.bitmap[word] |= 1 << bit;
        true
    }

    fn slot(c: u64) -> (usize, u32) {
        (((c >> 6) % WORDS as u64) as usize, (c & 63) as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_out_of_order_replays_and_the_edge_of_the_window() {
        let mut w = ReplayWindow::default();
        assert!(w.accept(0));
        assert!(!w.accept(0), "replay");
        assert!(w.accept(2));
        assert!(w.accept(1), "late but new");
        assert!(!w.accept(1));
        assert!(w.accept(10_000));
        assert!(w.accept(10_000 - WINDOW), "the oldest still in the window");
        assert!(!w.accept(10_000 - WINDOW - 1), "just behind it");
        assert!(!w.accept(3), "far behind");
        assert!(w.accept(10_001));
        assert!(!w.accept(REJECT_AFTER_MESSAGES));
        assert!(w.accept(REJECT_AFTER_MESSAGES - 1));
        assert!(!w.accept(REJECT_AFTER_MESSAGES - 1));
    }

    #[test]
    fn agrees_with_a_naive_model() {
        // A set of every counter ever accepted and the greatest one: a
        // counter is accepted iff new and within WINDOW of the greatest.
        let mut w = ReplayWindow::default();
        let mut seen = std::collections::BTreeSet::new();
        let mut greatest: Option<u64> = None;
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let base = greatest.unwrap_or(0);
            let c = match x % 4 {
                0 => base + (x >> 40) % 300,
                1 => base.saturating_sub((x >> 40) % 9000),
                2 => base + (x >> 40) % 20_000,
                _ => base.saturating_sub((x >> 40) % 100),
            };
            let want = !seen.contains(&c) && greatest.is_none_or(|g| c + WINDOW >= g);
            assert_eq!(w.accept(c), want, "counter {c}, greatest {greatest:?}");
            if want {
                seen.insert(c);
                greatest = Some(greatest.map_or(c, |g| g.max(c)));
            }
        }
    }
}
