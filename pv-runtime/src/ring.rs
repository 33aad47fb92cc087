//! Free-running ring index arithmetic, shared by every Xen ring.
//!
//! Xen rings (the console and xenstore byte rings, and the slot rings of
//! `io/ring.h` used by netif) never store "head" and "tail" modulo the ring
//! size. Each side owns a `u32` counter that only ever increments and wraps
//! at 2^32 (`docs/misc/xenstore-ring.txt`, "free-running offsets"; `io/ring.h`,
//! `RING_IDX`). The number of items in flight is `prod - cons` in wrapping
//! arithmetic, and an item's position in the buffer is `idx & (size - 1)`,
//! which is why every ring size is a power of two.
//!
//! The counters live in memory the peer can write. A buggy or hostile peer can
//! publish a producer that claims more items than the ring holds; following it
//! would make us re-read stale data as if it were new. `io/ring.h` guards
//! against exactly this with `RING_REQUEST_PROD_OVERFLOW` /
//! `RING_RESPONSE_PROD_OVERFLOW`; [`RingSize::used`] is the same check, and
//! there is no way to get a count without it.

/// A ring index as published in shared memory (`RING_IDX`, `XENSTORE_RING_IDX`).
pub type RingIdx = u32;

/// The peer's indices claim more in-flight items than the ring can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("ring indices claim {used} items in flight in a ring of {size}")]
pub struct RingOverflow {
    /// `prod - cons` as published (wrapping).
    pub used: u32,
    /// The ring's capacity.
    pub size: u32,
}

/// The capacity of a ring: a power of two between 1 and 2^31.
///
/// 2^31 is the largest size for which "`prod - cons` ≤ size" can still tell a
/// full ring apart from a corrupt one in 32-bit wrapping arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingSize(u32);

impl RingSize {
    /// `XENSTORE_RING_SIZE` (`io/xs_wire.h`): each direction of the xenstore page.
    pub const XENSTORE: RingSize = RingSize(1024);

    /// `size` if it is a power of two no larger than 2^31.
    pub const fn new(size: u32) -> Option<RingSize> {
        if size.is_power_of_two() && size <= 1 << 31 {
            Some(RingSize(size))
        } else {
            None
        }
    }

    /// The capacity in items (bytes for byte rings, slots for `io/ring.h` rings).
    pub const fn get(self) -> u32 {
        self.0
    }

    /// The buffer position of free-running index `idx` (`MASK_XENSTORE_IDX`,
    /// `RING_GET_REQUEST`'s `& (RING_SIZE - 1)`).
    pub const fn mask(self, idx: RingIdx) -> usize {
        (idx & (self.0 - 1)) as usize
    }

    /// Items published by the producer and not yet consumed, or an error if
    /// the indices claim more than the ring holds.
    pub const fn used(self, prod: RingIdx, cons: RingIdx) -> Result<u32, RingOverflow> {
        let used = prod.wrapping_sub(cons);
        if used > self.0 {
            Err(RingOverflow { used, size: self.0 })
        } else {
            Ok(used)
        }
    }

    /// Room left for the producer, with the same corruption check as [`used`](Self::used).
    pub const fn free(self, prod: RingIdx, cons: RingIdx) -> Result<u32, RingOverflow> {
        match self.used(prod, cons) {
            Ok(used) => Ok(self.0 - used),
            Err(e) => Err(e),
        }
    }

    /// How many of `count` items starting at index `idx` fit before the buffer
    /// end, i.e. the length of the first of at most two copies.
    pub const fn contiguous(self, idx: RingIdx, count: u32) -> u32 {
        let to_end = self.0 - self.mask(idx) as u32;
        if count < to_end {
            count
        } else {
            to_end
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sizes() {
        assert_eq!(RingSize::new(0), None);
        assert_eq!(RingSize::new(3), None);
        assert_eq!(RingSize::new(1).map(RingSize::get), Some(1));
        assert_eq!(RingSize::new(1 << 31).map(RingSize::get), Some(1 << 31));
        assert_eq!(RingSize::new(u32::MAX), None);
        assert_eq!(RingSize::XENSTORE.get(), 1024);
    }

    #[test]
    fn wraps_at_2_pow_32() {
        let s = RingSize::XENSTORE;
        assert_eq!(s.used(5, u32::MAX - 4), Ok(10));
        assert_eq!(s.free(5, u32::MAX - 4), Ok(1014));
        assert_eq!(s.mask(u32::MAX), 1023);
        assert_eq!(s.mask(1024), 0);
        assert_eq!(s.used(1024, 0), Ok(1024));
        assert_eq!(s.free(1024, 0), Ok(0));
        assert_eq!(
            s.used(1025, 0),
            Err(RingOverflow {
                used: 1025,
                size: 1024
            })
        );
        // A producer "behind" the consumer is a huge wrapping distance: corrupt.
        assert!(s.used(0, 1).is_err());
        assert_eq!(s.contiguous(1020, 10), 4);
        assert_eq!(s.contiguous(1024, 10), 10);
        assert_eq!(s.contiguous(u32::MAX, 1024), 1);
    }

    proptest! {
        #[test]
        fn used_matches_model(cons: u32, n in 0u32..=1024, shift in 0u32..12) {
            let s = RingSize::new(1 << shift).unwrap_or(RingSize::XENSTORE);
            let n = n % (s.get() + 1);
            let prod = cons.wrapping_add(n);
            prop_assert_eq!(s.used(prod, cons), Ok(n));
            prop_assert_eq!(s.free(prod, cons), Ok(s.get() - n));
        }

        #[test]
        fn hostile_producer_rejected(cons: u32, excess in 1u32..=u32::MAX - 1024) {
            let s = RingSize::XENSTORE;
            let prod = cons.wrapping_add(1024).wrapping_add(excess);
            prop_assert!(s.used(prod, cons).is_err());
            prop_assert!(s.free(prod, cons).is_err());
        }

        #[test]
        fn mask_and_contiguous_in_bounds(idx: u32, count in 0u32..=1024) {
            let s = RingSize::XENSTORE;
            prop_assert!(s.mask(idx) < 1024);
            let c = s.contiguous(idx, count);
            prop_assert!(c <= count);
            prop_assert!(s.mask(idx) + c as usize <= 1024);
            // The remainder always starts at buffer position 0.
            prop_assert!(c == count || s.mask(idx.wrapping_add(c)) == 0);
        }
    }
}
