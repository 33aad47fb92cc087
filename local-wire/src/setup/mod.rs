//! Wire setup over xenstore, as two sans-IO state machines.
//!
//! The keys and the handshake are described in the crate documentation.
//! Each machine takes what the domain observed (the peer's keys after a
//! watch fired, "my local step finished", "my local step failed") and
//! answers with [`Action`]s for the domain to carry out in order. Text read
//! from the peer's directory goes in raw: parsing it strictly is part of the
//! machine, so hostile values are tested here, not in each domain.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use pv_runtime::abi::DomId;
use pv_runtime::xenbus::XenbusState;
use pv_runtime::xenstore::{Errno, XsError};

use crate::layout::RingPages;

mod acceptor;
mod backoff;
mod offer;
mod offerer;

pub use acceptor::{Acceptor, AcceptorState};
pub use backoff::Backoff;
pub use offer::{Key, Offer, Refusal};
pub use offerer::{Offerer, OffererState};

/// The controller's name for a wire (`wire-proto`'s `wire` id).
pub type WireId = u32;

/// `state` key.
pub const KEY_STATE: &str = "state";
/// Acceptor's `request` key.
pub const KEY_REQUEST: &str = "request";
/// Acceptor's `max-ring-pages` key: the largest K it maps (a power of two);
/// the offerer offers no more. Absent (an older acceptor): [`RingPages::FOR_FRAMES`].
pub const KEY_MAX_PAGES: &str = "max-ring-pages";

/// `/local/domain/<dom>/data/banana/wire/<wire>`: a side's wire directory.
pub fn wire_dir(dom: DomId, wire: WireId) -> String {
    xs_schema::data::wire(u32::from(dom), wire)
}

/// A peer's key: `Ok(None)` when the peer does not have it, `Err` when we
/// cannot tell. A peer that is gone reads as ENOENT, or EACCES once its
/// whole domain directory is gone (we may not read /local/domain). Any
/// other error (a timeout while xenstored is stalled) says nothing about
/// the peer: taken as absence, it would tear down a working wire and then
/// leave both ends waiting for each other (seen in the nested lab during a
/// 60 s xenstored stall).
pub fn peer_value(r: Result<String, XsError>) -> Result<Option<String>, XsError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(XsError::Xenstored(Errno::ENOENT | Errno::EACCES)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `<dir>/<key>`.
pub fn key_path(dir: &str, key: &str) -> String {
    format!("{dir}/{key}")
}

/// Something the domain must do for a setup machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Create our wire directory (if missing), owned by us and readable by
    /// `reader` (xenstore perms `n<us>`, `r<reader>`).
    CreateDir {
        /// The directory.
        path: String,
        /// The peer domain.
        reader: DomId,
    },
    /// Write one key.
    Write {
        /// Full path.
        path: String,
        /// Decimal text.
        value: String,
    },
    /// Write these keys in one transaction, in order (`state` comes last).
    WriteAll(Vec<(String, String)>),
    /// Offerer: allocate `1 + 2K` fresh pages, build the end with
    /// [`WireEnd::offer`](crate::WireEnd::offer), grant every page to
    /// `peer`, allocate an unbound event channel for `peer`; then call
    /// [`Offerer::offer_ready`] (or [`Offerer::local_error`]).
    Allocate {
        /// K.
        pages: RingPages,
        /// The acceptor's domain id.
        peer: DomId,
    },
    /// Acceptor: call [`Acceptor::offer_read`] with a lookup that reads
    /// full paths from xenstore.
    ReadOffer,
    /// Acceptor: map the grants (control, then a→b, then b→a), bind the
    /// event channel, build the end with
    /// [`WireEnd::accept`](crate::WireEnd::accept); then call
    /// [`Acceptor::mapped`] (or [`Acceptor::local_error`], e.g. when
    /// `accept` refuses the page).
    Map(Offer),
    /// The wire is up: start moving records, and process the ring once
    /// right away (kicks sent before binding were lost).
    Connect,
    /// Stop using the wire: [`close`](crate::WireEnd::close) it and kick,
    /// then release whatever this side holds. The acceptor unmaps and
    /// unbinds. The offerer closes its port and ends foreign access to each
    /// page, retrying while the acceptor still maps it (until it unmaps or
    /// dies), before freeing it. Then call `torn_down`.
    TearDown,
    /// Call the machine's `retry` after a backoff ([`Backoff`]): the link
    /// failed, and setting it up again at once could spin against a peer
    /// that fails every attempt.
    RetryLater,
}

/// What a machine does once its teardown finishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Then {
    /// Set up again with the same peer.
    Restart,
    /// Stop for good ([`shutdown`](Offerer::shutdown) was called).
    Close,
    /// After a failure: the offerer stops for good (local resource
    /// exhaustion); the acceptor waits for its backoff, then requests again.
    Fail,
}

/// Strict decimal: ASCII digits only, no sign, no leading zero (except
/// `"0"`), no whitespace, within range. Two texts never mean one number.
pub(crate) fn parse_u64(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    let canonical = match b {
        [] => false,
        [b'0'] => true,
        [b'0', ..] => false,
        _ => b.iter().all(u8::is_ascii_digit),
    };
    if canonical {
        text.parse().ok()
    } else {
        None
    }
}

pub(crate) fn parse_u32(text: &str) -> Option<u32> {
    parse_u64(text).and_then(|v| u32::try_from(v).ok())
}

pub(crate) fn parse_state(text: Option<&str>) -> Option<XenbusState> {
    XenbusState::parse(text?.as_bytes()).ok()
}

pub(crate) fn write_state(dir: &str, s: XenbusState) -> Action {
    Action::Write {
        path: key_path(dir, KEY_STATE),
        value: format!("{}", s as u32),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_absence_reads_as_an_absent_peer() {
        assert_eq!(peer_value(Ok("4".into())), Ok(Some("4".into())));
        for gone in [Errno::ENOENT, Errno::EACCES] {
            assert_eq!(peer_value(Err(XsError::Xenstored(gone))), Ok(None));
        }
        // A stalled xenstored, or any other failure, says nothing about the
        // peer: the caller must not act on it.
        for unknown in [
            XsError::Timeout,
            XsError::Broken,
            XsError::Xenstored(Errno::EAGAIN),
            XsError::Xenstored(Errno::EIO),
        ] {
            assert_eq!(peer_value(Err(unknown)), Err(unknown));
        }
    }

    #[test]
    fn strict_decimal() {
        assert_eq!(parse_u64("0"), Some(0));
        assert_eq!(parse_u64("42"), Some(42));
        assert_eq!(parse_u64("18446744073709551615"), Some(u64::MAX));
        for bad in [
            "",
            "00",
            "042",
            "+1",
            "-1",
            " 1",
            "1 ",
            "1\0",
            "0x10",
            "18446744073709551616",
            "١",
        ] {
            assert_eq!(parse_u64(bad), None, "{bad:?}");
        }
        assert_eq!(parse_u32("4294967295"), Some(u32::MAX));
        assert_eq!(parse_u32("4294967296"), None);
    }

    #[test]
    fn paths() {
        assert_eq!(wire_dir(7, 3), "/local/domain/7/data/banana/wire/3");
        assert_eq!(key_path("/d", KEY_STATE), "/d/state");
        assert_eq!(
            write_state("/d", XenbusState::InitWait),
            Action::Write {
                path: "/d/state".into(),
                value: "2".into()
            }
        );
    }
}
