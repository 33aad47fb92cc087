//! TAI64N timestamps (D. J. Bernstein, "TAI64, TAI64N, and TAI64NA"), the
//! handshake initiation's replay protection (whitepaper §5.1, §5.4.2): a
//! responder accepts an initiation from a peer only if its timestamp is
//! greater than every earlier one. So the timestamp must come from a clock
//! that survives a restart: the Corm reads Xen's wall clock (shared info's
//! `wc_*` plus system time); a counter from boot would be refused by every
//! peer until it had caught up with the last run.

/// A TAI64N label: seconds (with TAI64's 2^62 offset) then nanoseconds,
/// both big-endian, so byte order is time order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tai64n(pub [u8; 12]);

/// TAI64's label for 1970-01-01 00:00:10 TAI, which Linux's WireGuard uses
/// for the Unix epoch (drivers/net/wireguard/noise.c, `tai64n_now`).
const TAI64_EPOCH: u64 = 0x4000_0000_0000_000a;

/// Linux rounds the nanoseconds down to a multiple of 2^24 ns (~16.8 ms),
/// the power of two below 1 s / 50 initiations, so a timestamp does not
/// leak the clock's fine phase (`tai64n_now`).
const NANOS_MASK: u32 = !((1 << 24) - 1);

impl Tai64n {
    /// The label of `unix_ns` nanoseconds since the Unix epoch.
    pub fn from_unix_ns(unix_ns: u64) -> Tai64n {
        let secs = TAI64_EPOCH.wrapping_add(unix_ns / 1_000_000_000);
        let nanos = ((unix_ns % 1_000_000_000) as u32) & NANOS_MASK;
        let mut b = [0u8; 12];
        b[..8].copy_from_slice(&secs.to_be_bytes());
        b[8..].copy_from_slice(&nanos.to_be_bytes());
        Tai64n(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_is_greater_and_the_phase_is_hidden() {
        let a = Tai64n::from_unix_ns(1_700_000_000_000_000_000);
        let b = Tai64n::from_unix_ns(1_700_000_000_020_000_000);
        let c = Tai64n::from_unix_ns(1_700_000_001_000_000_000);
        assert!(a < b && b < c);
        assert_eq!(
            Tai64n::from_unix_ns(1_700_000_000_000_000_001),
            a,
            "within one 16.8 ms step"
        );
        assert_eq!(&a.0[..8], &(TAI64_EPOCH + 1_700_000_000).to_be_bytes());
    }
}
