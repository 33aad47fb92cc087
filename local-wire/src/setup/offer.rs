//! The offer: the keys the offerer publishes, written and strictly parsed in
//! one place.
//!
//! Six keys, whatever K: the 2K data grants travel in one `data-refs` value.
//! The acceptor reads an offer key by key (xenstore has no multi-read), and
//! on a loaded dom0 each read is a round trip through xenstored: one key per
//! page (133 reads at K = 64) took seconds in the nested lab, long enough
//! for reads to time out and the offer to be refused.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use pv_runtime::abi::grant_table::NR_RESERVED_ENTRIES;
use pv_runtime::abi::{GrantRef, Port};

use super::{key_path, parse_u32, parse_u64};
use crate::layout::{RingPages, MAX_PAGES_PER_DIR};

/// The largest event channel port accepted (`EVTCHN_FIFO_NR_CHANNELS`).
const MAX_PORT: Port = 1 << 17;

/// An offer key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// `ring-pages`.
    RingPages,
    /// `control-ref`.
    ControlRef,
    /// `data-refs`: the 2K data grants, decimal, separated by single spaces.
    DataRefs,
    /// `event-channel`.
    EventChannel,
    /// `offer-for`.
    OfferFor,
    /// `offer-id`.
    OfferId,
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::RingPages => f.write_str("ring-pages"),
            Key::ControlRef => f.write_str("control-ref"),
            Key::DataRefs => f.write_str("data-refs"),
            Key::EventChannel => f.write_str("event-channel"),
            Key::OfferFor => f.write_str("offer-for"),
            Key::OfferId => f.write_str("offer-id"),
        }
    }
}

/// Why an acceptor refused an offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A key is absent.
    #[error("offer key {0} missing")]
    Missing(Key),
    /// A key is not a canonical decimal number in range.
    #[error("offer key {0} is not a valid number")]
    NotNumeric(Key),
    /// `ring-pages` is not a power of two in `1..=64`.
    #[error("ring-pages {0} is not a power of two in 1..=64")]
    RingPages(u32),
    /// A grant ref in the range Xen reserves for the toolstack.
    #[error("offer key {key} names reserved grant ref {gref}")]
    ReservedRef {
        /// The key.
        key: Key,
        /// The ref.
        gref: GrantRef,
    },
    /// `data-refs` does not hold exactly `2 * ring-pages` refs.
    #[error("data-refs holds {got} refs, not 2 x ring-pages = {want}")]
    DataRefCount {
        /// 2K.
        want: u32,
        /// What it held (counting stops past 2K).
        got: u32,
    },
    /// The same grant ref is offered for two pages.
    #[error("grant ref {0} offered twice")]
    DuplicateRef(GrantRef),
    /// Port 0 or beyond any event channel ABI.
    #[error("event channel {0} out of range")]
    BadPort(Port),
}

/// A validated offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// K.
    pub pages: RingPages,
    /// The control page's grant.
    pub control_ref: GrantRef,
    /// `2K` data page grants: a→b `0..K`, then b→a `K..2K`.
    pub data_refs: Vec<GrantRef>,
    /// The port allocated unbound for the acceptor.
    pub event_channel: Port,
    /// The acceptor request this offer answers.
    pub offer_for: u64,
    /// Unique per offer.
    pub offer_id: u64,
}

impl Offer {
    /// The keys under the offerer's wire directory `dir`, in write order
    /// (the caller appends `state` = 2).
    pub fn entries(&self, dir: &str) -> Vec<(String, String)> {
        let mut out = Vec::with_capacity(6);
        let mut put = |k: Key, v: String| out.push((key_path(dir, &format!("{k}")), v));
        put(Key::RingPages, format!("{}", self.pages.get()));
        put(Key::ControlRef, format!("{}", self.control_ref));
        let refs: Vec<String> = self.data_refs.iter().map(|r| format!("{r}")).collect();
        put(Key::DataRefs, refs.join(" "));
        put(Key::EventChannel, format!("{}", self.event_channel));
        put(Key::OfferFor, format!("{}", self.offer_for));
        put(Key::OfferId, format!("{}", self.offer_id));
        out
    }

    /// Reads and validates an offer from the offerer's directory `dir`;
    /// `lookup` returns the value at a full path, `None` when absent. Reads
    /// six keys whatever the peer wrote.
    pub fn parse(
        dir: &str,
        mut lookup: impl FnMut(&str) -> Option<String>,
    ) -> Result<Offer, Refusal> {
        let mut text = |k: Key| lookup(&key_path(dir, &format!("{k}"))).ok_or(Refusal::Missing(k));
        let number = |k: Key, t: String| parse_u64(&t).ok_or(Refusal::NotNumeric(k));
        let small = |k: Key, t: String| parse_u32(&t).ok_or(Refusal::NotNumeric(k));
        let gref = |k: Key, t: String| {
            let gref = small(k, t)?;
            if gref < NR_RESERVED_ENTRIES {
                Err(Refusal::ReservedRef { key: k, gref })
            } else {
                Ok(gref)
            }
        };

        let k = small(Key::RingPages, text(Key::RingPages)?)?;
        let pages = RingPages::new(k).ok_or(Refusal::RingPages(k))?;
        debug_assert!(pages.get() <= MAX_PAGES_PER_DIR);
        let control_ref = gref(Key::ControlRef, text(Key::ControlRef)?)?;
        let want = 2 * k;
        let refs = text(Key::DataRefs)?;
        let mut data_refs = Vec::with_capacity(want as usize);
        // Bounded by `want`: a value holding more refs is refused after
        // counting one past it, however long it is.
        for part in refs.split(' ') {
            if data_refs.len() as u32 == want {
                return Err(Refusal::DataRefCount {
                    want,
                    got: want + 1,
                });
            }
            let r = gref(Key::DataRefs, part.into())?;
            if r == control_ref || data_refs.contains(&r) {
                return Err(Refusal::DuplicateRef(r));
            }
            data_refs.push(r);
        }
        if data_refs.len() as u32 != want {
            return Err(Refusal::DataRefCount {
                want,
                got: data_refs.len() as u32,
            });
        }
        let event_channel = small(Key::EventChannel, text(Key::EventChannel)?)?;
        if event_channel == 0 || event_channel >= MAX_PORT {
            return Err(Refusal::BadPort(event_channel));
        }
        Ok(Offer {
            pages,
            control_ref,
            data_refs,
            event_channel,
            offer_for: number(Key::OfferFor, text(Key::OfferFor)?)?,
            offer_id: number(Key::OfferId, text(Key::OfferId)?)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn sample() -> Offer {
        Offer {
            pages: RingPages::new(2).unwrap(),
            control_ref: 8,
            data_refs: std::vec![9, 10, 11, 12],
            event_channel: 5,
            offer_for: 77,
            offer_id: 1000,
        }
    }

    fn store(o: &Offer) -> BTreeMap<String, String> {
        o.entries("/w").into_iter().collect()
    }

    fn parse(s: &BTreeMap<String, String>) -> Result<Offer, Refusal> {
        Offer::parse("/w", |p| s.get(p).cloned())
    }

    #[test]
    fn roundtrip_and_key_names() {
        let o = sample();
        let s = store(&o);
        assert_eq!(s["/w/ring-pages"], "2");
        assert_eq!(s["/w/data-refs"], "9 10 11 12");
        assert_eq!(s["/w/event-channel"], "5");
        assert_eq!(s.len(), 6);
        assert_eq!(parse(&s), Ok(o));
    }

    #[test]
    fn hostile_values_refused() {
        let cases: &[(&str, &str, Refusal)] = &[
            ("/w/ring-pages", "3", Refusal::RingPages(3)),
            ("/w/ring-pages", "128", Refusal::RingPages(128)),
            ("/w/ring-pages", "0", Refusal::RingPages(0)),
            (
                "/w/ring-pages",
                "4294967296",
                Refusal::NotNumeric(Key::RingPages),
            ),
            ("/w/control-ref", "x", Refusal::NotNumeric(Key::ControlRef)),
            ("/w/control-ref", "-9", Refusal::NotNumeric(Key::ControlRef)),
            (
                "/w/data-refs",
                "9  10 11 12",
                Refusal::NotNumeric(Key::DataRefs),
            ),
            (
                "/w/data-refs",
                "9 10 11 12 ",
                Refusal::DataRefCount { want: 4, got: 5 },
            ),
            (
                "/w/data-refs",
                " 9 10 11 12",
                Refusal::NotNumeric(Key::DataRefs),
            ),
            ("/w/data-refs", "9 10 11 9", Refusal::DuplicateRef(9)),
            ("/w/data-refs", "8 10 11 12", Refusal::DuplicateRef(8)),
            (
                "/w/data-refs",
                "1 10 11 12",
                Refusal::ReservedRef {
                    key: Key::DataRefs,
                    gref: 1,
                },
            ),
            (
                "/w/data-refs",
                "9 10 11",
                Refusal::DataRefCount { want: 4, got: 3 },
            ),
            (
                "/w/data-refs",
                "9 10 11 12 13 x",
                Refusal::DataRefCount { want: 4, got: 5 },
            ),
            ("/w/data-refs", "", Refusal::NotNumeric(Key::DataRefs)),
            ("/w/event-channel", "0", Refusal::BadPort(0)),
            ("/w/event-channel", "131072", Refusal::BadPort(131072)),
            ("/w/offer-id", "1e3", Refusal::NotNumeric(Key::OfferId)),
        ];
        for (key, value, want) in cases {
            let mut s = store(&sample());
            s.insert((*key).into(), (*value).into());
            assert_eq!(parse(&s), Err(*want), "{key} = {value:?}");
        }
        let mut s = store(&sample());
        s.remove("/w/data-refs");
        assert_eq!(parse(&s), Err(Refusal::Missing(Key::DataRefs)));
        // A bigger K than the refs present.
        let mut s = store(&sample());
        s.insert("/w/ring-pages".into(), "16".into());
        assert_eq!(parse(&s), Err(Refusal::DataRefCount { want: 32, got: 4 }));
    }

    #[test]
    fn reads_a_bounded_number_of_keys() {
        let mut reads = 0;
        let r = Offer::parse("/w", |p| {
            reads += 1;
            Some(if p.ends_with("ring-pages") {
                format!("{MAX_PAGES_PER_DIR}")
            } else if p.ends_with("data-refs") {
                let refs: Vec<String> = (0..2 * MAX_PAGES_PER_DIR)
                    .map(|i| format!("{}", 1000 + i))
                    .collect();
                refs.join(" ")
            } else {
                format!("{}", 100 + reads)
            })
        });
        assert!(r.is_ok(), "{r:?}");
        assert_eq!(reads, 6);
    }
}
