//! The client side of the xenstore protocol (`io/xs_wire.h`,
//! `docs/misc/xenstore.txt`, `docs/misc/xenstore-ring.txt`).
//!
//! Layered bottom-up, each sans-IO and host-tested:
//!
//! * [`ring`]: the shared interface page and its two byte rings;
//! * [`codec`] / [`decoder`]: `xsd_sockmsg` framing, request encoding, and
//!   reassembly of messages from arbitrarily split reads;
//! * [`reply`], [`perms`], [`path`], [`watch`]: payload formats and validation;
//! * [`client`]: [`Xenstore`], a synchronous client over a ring plus a
//!   [`StoreIo`] (event channel and clock) supplied by the domain.
//!
//! A domain builds the client from the mapped page:
//!
//! ```ignore
//! // SAFETY: `page` is the mapped store page (start_info.store_mfn) and
//! // nothing else touches it.
//! let xs = unsafe { Xenstore::from_raw(page, io) }.ok_or(..)?;
//! ```

pub mod client;
pub mod codec;
pub mod decoder;
pub mod path;
pub mod perms;
pub mod reply;
pub mod ring;
pub mod watch;

#[cfg(test)]
mod client_tests;
/// An in-memory xenstored for host tests of code built on the client (feature `fake`).
#[cfg(any(test, feature = "fake"))]
pub mod fake;
#[cfg(test)]
mod header_probe;

pub use client::{Config, Counters, StoreIo, Tx, TxId, Xenstore, XsError};
pub use codec::{Errno, MsgType, PAYLOAD_MAX};
pub use perms::{Access, Perm};
pub use ring::{HeapPage, RawPage, SharedPage, StoreRing};
pub use watch::WatchEvent;

/// A strict unsigned decimal xenstore value: digits only, no sign, space or
/// leading `+`, no leading zero (but `"0"` itself), at most `u32` (every
/// value from another domain is hostile): two texts never mean one number,
/// so `"08"` and `"8"` cannot name one device or ring twice.
pub fn parse_decimal(s: &str) -> Option<u32> {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 10 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if b[0] == b'0' && b.len() > 1 {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod decimal_tests {
    use super::parse_decimal;

    /// Found by the Spike's `xenbus_values` fuzz target: `"08"` parsed as 8,
    /// so `scan` named directory `08` as device 8 and a ring ref's text did
    /// not round-trip.
    #[test]
    fn canonical_decimal_only() {
        assert_eq!(parse_decimal("0"), Some(0));
        assert_eq!(parse_decimal("8"), Some(8));
        assert_eq!(parse_decimal("4294967295"), Some(u32::MAX));
        for bad in ["", "00", "08", "0000000008", "4294967296", "+8", "8 ", "٨"] {
            assert_eq!(parse_decimal(bad), None, "{bad:?}");
        }
    }
}
