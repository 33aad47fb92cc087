//! Datagram sequence tracking: drop late and duplicate datagrams with one compare.
//!
//! Ethernet tolerates loss but upper layers dislike reordering and duplication less than
//! they dislike loss, so the rule is the simplest one that removes both: accept a datagram
//! only if its sequence number is *newer* than the newest one accepted so far, in RFC 1982
//! serial-number arithmetic (so the 32-bit counter may wrap). A gap (loss) is fine.

/// Tracks the newest accepted sequence number of one sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SeqTracker {
    newest: Option<u32>,
}

impl SeqTracker {
    /// A tracker that accepts any first sequence number.
    pub const fn new() -> Self {
        SeqTracker { newest: None }
    }

    /// The newest accepted sequence number, if any.
    pub fn newest(&self) -> Option<u32> {
        self.newest
    }

    /// Whether `seq` would be accepted (does not record it).
    pub fn is_fresh(&self, seq: u32) -> bool {
        match self.newest {
            None => true,
            // Newer iff the forward distance is in 1..2^31.
            Some(newest) => {
                let ahead = seq.wrapping_sub(newest);
                ahead != 0 && ahead < 1 << 31
            }
        }
    }

    /// Record `seq` as accepted if it is fresh; returns whether it was.
    pub fn accept(&mut self, seq: u32) -> bool {
        let fresh = self.is_fresh(seq);
        if fresh {
            self.newest = Some(seq);
        }
        fresh
    }

    /// Forget the history (the peer restarted its counter: a new `Hello` was received).
    pub fn reset(&mut self) {
        self.newest = None;
    }
}
