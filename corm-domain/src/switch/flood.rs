//! Flood limiting: a token bucket per ingress port, so one guest (or a storm
//! on the uplink) cannot make the switch copy every broadcast to every port at
//! line rate. Time is explicit; the bucket never reads a clock.

use pv_runtime::xenstore::parse_decimal;

/// Floods allowed per ingress port: `rate` per second on average, up to
/// `burst` back to back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FloodLimit {
    pub rate: u32,
    pub burst: u32,
}

impl FloodLimit {
    /// Highest `rate` an operator may set: a million floods per second is
    /// far beyond what a Corm copies, so it means "unlimited" in practice.
    pub const MAX_RATE: u32 = 1_000_000;
    /// Highest `burst`: a bucket deeper than this only hides a storm.
    pub const MAX_BURST: u32 = 65_535;

    /// `RATE/BURST` in strict decimal (`banana corm create --flood`, which the
    /// controller passes in the Corm's `flood` config key), both at least 1
    /// and at most [`Self::MAX_RATE`] / [`Self::MAX_BURST`]. A rate of 0
    /// would silence ARP and DHCP for good, so it is refused, not obeyed.
    pub fn parse(text: &str) -> Option<Self> {
        let (rate, burst) = text.split_once('/')?;
        let number = |t: &str, max: u32| parse_decimal(t).filter(|n| (1..=max).contains(n));
        Some(FloodLimit {
            rate: number(rate, Self::MAX_RATE)?,
            burst: number(burst, Self::MAX_BURST)?,
        })
    }
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
    fn parses_rate_slash_burst() {
        assert_eq!(
            FloodLimit::parse("200/64"),
            Some(FloodLimit {
                rate: 200,
                burst: 64
            })
        );
        assert_eq!(
            FloodLimit::parse("1000000/65535"),
            Some(FloodLimit {
                rate: FloodLimit::MAX_RATE,
                burst: FloodLimit::MAX_BURST
            })
        );
        for bad in [
            "",
            "200",
            "/64",
            "200/",
            "0/64",
            "200/0",
            "1000001/1",
            "1/65536",
            "+1/1",
            "01/1",
            "1/ 1",
            "1/1/1",
            "1.5/2",
            "4294967297/1",
            "99999999/1",
        ] {
            assert_eq!(FloodLimit::parse(bad), None, "{bad:?}");
        }
    }

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
