//! Flood limiting: a token bucket per ingress port, so one guest (or a storm
//! on the uplink) cannot make the switch copy every broadcast to every port at
//! line rate. Time is explicit; the bucket never reads a clock.

/// Floods allowed per ingress port: `rate` per second on average, up to
/// `burst` back to back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FloodLimit {
    pub rate: u32,
    pub burst: u32,
}

/// Tokens are kept in billionths so that a refill over any number of
/// nanoseconds is exact integer arithmetic.
const SCALE: u64 = 1_000_000_000;

/// One port's bucket. It starts full at the first flood it sees.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TokenBucket {
    /// Tokens times [`SCALE`]; `None` until the first flood.
    state: Option<(u64, u64)>,
}

impl TokenBucket {
    /// Takes one token at `now_ns` if there is one. Time going backwards
    /// refills nothing (and does not move the bucket's clock back).
    pub(crate) fn take(&mut self, limit: FloodLimit, now_ns: u64) -> bool {
        let cap = u64::from(limit.burst) * SCALE;
        let (mut tokens, mut last) = self.state.unwrap_or((cap, now_ns));
        let elapsed = now_ns.saturating_sub(last);
        last = last.max(now_ns);
        let refill = u128::from(elapsed) * u128::from(limit.rate);
        tokens = u64::try_from(u128::from(tokens) + refill)
            .unwrap_or(u64::MAX)
            .min(cap);
        let ok = tokens >= SCALE;
        if ok {
            tokens -= SCALE;
        }
        self.state = Some((tokens, last));
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_rate() {
        let limit = FloodLimit { rate: 10, burst: 3 };
        let mut b = TokenBucket::default();
        assert!((0..3).all(|_| b.take(limit, 5)));
        assert!(!b.take(limit, 5));
        assert!(!b.take(limit, 5 + 99_999_999));
        assert!(b.take(limit, 5 + 100_000_000));
        assert!(!b.take(limit, 0), "time going back refills nothing");
        // A long pause refills to the burst, no more.
        assert!((0..3).all(|_| b.take(limit, u64::MAX)));
        assert!(!b.take(limit, u64::MAX));
    }
}
