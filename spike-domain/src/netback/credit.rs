//! TX credit: the vif `rate` key, honoured as Linux netback does.
//!
//! libxl writes `rate = "<bytes>,<usecs>"` in the backend directory for a
//! vif configured with `rate=10Mb/s` (`xl` turns it into bytes per 50 ms
//! window: `"62500,50000"`). Linux (`drivers/net/xen-netback`) reads it with
//! `xen_net_read_rate` and schedules the guest's transmissions on a credit:
//!
//! * the vif starts with `credit_bytes` of credit;
//! * a packet costs its size (the first TX request's `size`, the whole
//!   frame) when it is taken from the ring, good or bad;
//! * a packet larger than the remaining credit stays on the ring: if a
//!   window (`credit_usec`) has passed since the window started, a window's
//!   credit is added first (`tx_credit_exceeded`); if that is still not
//!   enough, a timer is set for the end of the window and the ring is left
//!   alone until it fires (`xenvif_tx_credit_callback`: add credit, look
//!   again). When the window was only just renewed, Linux's timer is set in
//!   the past and fires at the next jiffy: after an idle spell a big frame
//!   gathers a window or two of credit per jiffy ([`JIFFY_NS`]). No busy
//!   loop: the caller arms a timer at [`TxCredit::take`]'s `Err` time and
//!   runs a TX pass then.
//! * adding credit never takes it past `max(128 KiB, credit_bytes)`
//!   (`tx_add_credit`): enough for the largest frame (64 KiB), so a frame
//!   larger than one window's credit goes once the credit has built up to it
//!   and the vif never seizes up; an idle vif bursts at most that much.
//!
//! One deliberate difference: Linux rounds the window down to whole
//! jiffies (`msecs_to_jiffies(credit_usec / 1000)`); here it is exact to the
//! nanosecond. Unlike Linux, which ignores a malformed value (unlimited
//! traffic, a warning), a `rate` that does not parse refuses the vif (an
//! `error` node; see `xenbus_backend`): a limit the toolstack asked for is
//! never silently dropped.

/// The burst floor Linux allows (`tx_add_credit`: "a jumbo packet of up to
/// 128kB").
pub const MIN_BURST: u64 = 131_072;

/// A timer Linux arms in the past fires at the next jiffy: one with
/// `HZ=1000`. That is the shortest wait [`TxCredit::take`] asks for.
pub const JIFFY_NS: u64 = 1_000_000;

/// A transmit limit: `bytes` per `usecs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxRate {
    /// Credit per window (`credit_bytes`), at least 1.
    pub bytes: u64,
    /// The window (`credit_usec`), 1..=`u32::MAX` (libxl's
    /// `rate_interval_usecs` is a `uint32_t`).
    pub usecs: u32,
}

impl TxRate {
    /// Parses the `rate` key: `<bytes>,<usecs>`, two decimal numbers, digits
    /// only (no sign, space or other text), neither zero: a window without
    /// time or credit is no limit libxl writes. `None` if malformed.
    pub fn parse(s: &str) -> Option<TxRate> {
        let (b, u) = s.split_once(',')?;
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|c| c.is_ascii_digit());
        if !digits(b) || !digits(u) {
            return None;
        }
        let bytes: u64 = b.parse().ok()?;
        let usecs: u32 = u.parse().ok()?;
        (bytes > 0 && usecs > 0).then_some(TxRate { bytes, usecs })
    }

    /// The window in nanoseconds.
    pub fn window_ns(&self) -> u64 {
        u64::from(self.usecs) * 1000
    }

    /// The largest credit the vif may hold.
    pub fn max_burst(&self) -> u64 {
        self.bytes.max(MIN_BURST)
    }
}

/// One vif's credit state (Linux: `remaining_credit`,
/// `credit_window_start`, the pending `credit_timeout`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxCredit {
    rate: Option<TxRate>,
    remaining: u64,
    window_start_ns: u64,
    /// When the credit timer fires, while frames wait for it.
    timer_ns: Option<u64>,
}

impl TxCredit {
    /// Full credit for `rate`; `None`: unlimited.
    pub fn new(rate: Option<TxRate>) -> Self {
        Self {
            rate,
            remaining: rate.map_or(u64::MAX, |r| r.bytes),
            window_start_ns: 0,
            timer_ns: None,
        }
    }

    pub fn rate(&self) -> Option<TxRate> {
        self.rate
    }

    /// Credit left now (`u64::MAX` when unlimited).
    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    /// When frames waiting for credit may go (the timer), if they wait.
    pub fn waiting_until(&self) -> Option<u64> {
        self.timer_ns
    }

    /// Linux `tx_add_credit`: one window's credit, capped at the burst.
    fn add(&mut self, r: TxRate) {
        self.remaining = self.remaining.saturating_add(r.bytes).min(r.max_burst());
    }

    /// Charges a packet of `size` bytes at `now_ns` if the credit allows it
    /// (Linux `xenvif_tx_build_gops`: `size > remaining_credit &&
    /// tx_credit_exceeded()` leaves it on the ring, else the credit is
    /// charged). `Err(t)`: it waits; take it again at `t`, not before.
    pub fn take(&mut self, size: u64, now_ns: u64) -> Result<(), u64> {
        let Some(r) = self.rate else {
            return Ok(());
        };
        if let Some(t) = self.timer_ns {
            if now_ns < t {
                return Err(t);
            }
            // The timer has fired: `xenvif_tx_credit_callback`.
            self.timer_ns = None;
            self.add(r);
        }
        if size > self.remaining {
            let next = self.window_start_ns.saturating_add(r.window_ns());
            if now_ns >= next {
                self.window_start_ns = now_ns;
                self.add(r);
            }
            if size > self.remaining {
                // Linux sets the timer to `next`, already past if the window
                // was just renewed: then it fires at the next jiffy.
                let at = if next > now_ns {
                    next
                } else {
                    now_ns.saturating_add(JIFFY_NS)
                };
                self.timer_ns = Some(at);
                self.window_start_ns = next;
                return Err(at);
            }
        }
        self.remaining -= size;
        Ok(())
    }

    /// Gives back what [`take`](Self::take) just charged for a packet that
    /// stays on the ring after all (the wire was full): it is charged again
    /// when it is taken for good.
    pub fn refund(&mut self, size: u64) {
        if self.rate.is_some() {
            self.remaining = self.remaining.saturating_add(size);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn strict_rate_parse() {
        assert_eq!(
            TxRate::parse("62500,50000"),
            Some(TxRate {
                bytes: 62500,
                usecs: 50000
            })
        );
        assert_eq!(
            TxRate::parse("18446744073709551615,4294967295").map(|r| r.usecs),
            Some(u32::MAX)
        );
        for bad in [
            "",
            ",",
            "62500",
            "62500,",
            ",50000",
            "0,50000",
            "62500,0",
            "+1,50000",
            "-1,50000",
            " 1,50000",
            "1,50000 ",
            "1,50000,3",
            "1;50000",
            "0x10,50000",
            "18446744073709551616,1",
            "1,4294967296",
            "1.5,50000",
        ] {
            assert_eq!(TxRate::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn unlimited_never_waits() {
        let mut c = TxCredit::new(None);
        for i in 0..1000 {
            assert_eq!(c.take(65535, i), Ok(()));
        }
        assert_eq!(c.waiting_until(), None);
    }

    /// 1000 bytes a millisecond: full credit first, then a window's worth
    /// per window, the wait ending exactly at the window's end.
    #[test]
    fn credit_per_window_and_the_timer() {
        let r = TxRate {
            bytes: 1000,
            usecs: 1000,
        };
        let mut c = TxCredit::new(Some(r));
        let t0 = 10 * MS;
        assert_eq!(c.take(600, t0), Ok(()));
        // 400 left; a window has passed since 0: one window's credit added.
        assert_eq!(c.take(600, t0), Ok(()));
        assert_eq!(c.remaining(), 800);
        assert_eq!(c.take(600, t0), Ok(()));
        // 200 left, the window started at t0: wait for its end.
        assert_eq!(c.take(600, t0), Err(t0 + MS));
        assert_eq!(c.take(1, t0 + MS - 1), Err(t0 + MS), "the timer is pending");
        assert_eq!(c.waiting_until(), Some(t0 + MS));
        // It fires: 1200 of credit.
        assert_eq!(c.take(600, t0 + MS), Ok(()));
        assert_eq!(c.take(600, t0 + MS), Ok(()));
        assert_eq!(c.take(600, t0 + MS), Err(t0 + 2 * MS));
    }

    /// A frame larger than a window's credit waits until the credit has
    /// built up to it and then goes: never a stall, never a busy loop.
    #[test]
    fn a_frame_larger_than_the_credit_goes_once_it_builds_up() {
        let r = TxRate {
            bytes: 1000,
            usecs: 1000,
        };
        let mut c = TxCredit::new(Some(r));
        let mut now = 0;
        let mut waits = 0;
        while let Err(t) = c.take(9000, now) {
            assert!(t > now, "no busy loop: the wait ends later");
            now = t;
            waits += 1;
            assert!(waits < 20);
        }
        assert_eq!(now, 8 * MS, "1000 at start + 8 windows");
        assert_eq!(c.remaining(), 0);
    }

    /// After an idle spell (the credit spent, the window long over), a
    /// 64 KiB frame gathers two windows a jiffy, as Linux's past timer
    /// does; the credit never passes the burst.
    #[test]
    fn after_idle_credit_gathers_a_jiffy_at_a_time_up_to_the_burst() {
        let r = TxRate {
            bytes: 62_500,
            usecs: 50_000,
        };
        let mut c = TxCredit::new(Some(r));
        assert_eq!(c.take(62_500, 0), Ok(()));
        let mut now = 3_600_000 * MS;
        let start = now;
        while let Err(t) = c.take(65_535, now) {
            assert!(t >= now + JIFFY_NS, "at least a jiffy");
            now = t;
        }
        assert_eq!(
            now - start,
            JIFFY_NS,
            "one window at once, one more a jiffy later"
        );
        // A big burst rate still stops at its own size.
        let big = TxRate {
            bytes: 200_000,
            usecs: 1000,
        };
        let mut c = TxCredit::new(Some(big));
        for i in 1..50 {
            let _ = c.take(u64::from(u16::MAX) * 4, i * MS);
            assert!(c.remaining() <= big.max_burst());
        }
        let mut small = TxCredit::new(Some(r));
        for i in 1..50 {
            let _ = small.take(200_000, i * 100 * MS);
            assert!(small.remaining() <= MIN_BURST);
        }
    }
}
