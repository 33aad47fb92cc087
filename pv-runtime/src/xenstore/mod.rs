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
/// leading `+`, at most `u32` (every value from another domain is hostile).
pub fn parse_decimal(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}
