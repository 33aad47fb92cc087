//! What a domain publishes as counters, from either place a domain may keep
//! them (controller/README.md, "Counters"):
//!
//! * a **counter page** (pv_runtime::counter_page): pages granted read-only
//!   to dom0, advertised at `data/banana/counters/page-refs`; read through
//!   a [`PageSource`] (the grant device, [`crate::gntdev`]) and validated as
//!   hostile input;
//! * the older **xenstore counters**: numeric leaves under `data/banana/`.
//!
//! A domain that advertises a page is read from the page only (one xenstore
//! read for the refs, no walk of its tree); the xenstore leaves are read only
//! from domains without a page. A page that cannot be read becomes an error
//! for that domain only.

use serde::Serialize;
use serde_json::Number;

use pv_runtime::counter_page::{parse, ReadError, Snapshot, MAX_PAGES};

/// Where a domain advertises its counter page, relative to its `data/banana/`.
pub fn page_refs_key() -> &'static str {
    xs_schema::data::COUNTER_PAGE_REFS.below()
}

/// Leaves under this directory of `data/banana/` describe the page, they are
/// not counters.
const PAGE_DIR: &str = "counters/";

#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("bad page-refs {0:?}: expected 1 to 32 decimal grant references separated by spaces")]
    BadRefs(String),
    #[error("{0}")]
    Device(String),
    #[error("counter page: {0}")]
    Layout(#[from] ReadError),
}

/// Copies a domain's counter pages: a consistent image of the pages behind
/// `refs` (in order), not yet validated.
pub trait PageSource {
    fn read(&self, domid: u32, refs: &[u32]) -> Result<Vec<u8>, PageError>;
}

/// A [`PageSource`] without a grant device: every read is an error (fuzzing,
/// hosts without Xen).
pub struct NoPages;

impl PageSource for NoPages {
    fn read(&self, domid: u32, refs: &[u32]) -> Result<Vec<u8>, PageError> {
        Err(PageError::Device(format!(
            "no grant device to read references {refs:?} of domain {domid}"
        )))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The counter page.
    Page,
    /// xenstore only.
    Xenstore,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Source::Page => "page",
            Source::Xenstore => "xenstore",
        })
    }
}

/// The page as read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PageInfo {
    pub refs: Vec<u32>,
    pub seq: u64,
}

/// One domain's counters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Published {
    /// `None`: the domain publishes no counters.
    pub source: Option<Source>,
    pub page: Option<PageInfo>,
    /// `(name, value)`, names sorted; wire counters included (`wire/<id>/…`).
    pub counters: Vec<(String, Number)>,
    /// Why the advertised page could not be read.
    pub error: Option<String>,
}

/// Strict `page-refs`: 1..=32 decimal `u32`s separated by single spaces.
pub fn parse_refs(text: &str) -> Result<Vec<u32>, PageError> {
    let bad = || PageError::BadRefs(text.chars().take(80).collect());
    let refs = text
        .split(' ')
        .map(|t| {
            if t.is_empty() || t.len() > 10 || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            t.parse::<u32>().map_err(|_| bad())
        })
        .collect::<Result<Vec<u32>, PageError>>()?;
    if refs.is_empty() || refs.len() > MAX_PAGES {
        return Err(bad());
    }
    Ok(refs)
}

/// Reads and validates the pages behind `refs_text`.
pub fn read_page(
    pages: &dyn PageSource,
    domid: u32,
    refs_text: &str,
) -> Result<(Vec<u32>, Snapshot), PageError> {
    let refs = parse_refs(refs_text)?;
    let image = pages.read(domid, &refs)?;
    // parse checks every header against the number of pages read.
    Ok((refs, parse(&image)?))
}

/// A domain's counters from the counter page behind `refs_text` (the value
/// of its `page-refs` key). A page that cannot be read is an error for that
/// domain only: no counters, the reason in `error`.
pub fn from_page(pages: &dyn PageSource, domid: u32, refs_text: &str) -> Published {
    let mut out = Published {
        source: Some(Source::Page),
        ..Default::default()
    };
    match read_page(pages, domid, refs_text) {
        Ok((refs, snap)) => {
            let counters: std::collections::BTreeMap<String, Number> = snap
                .counters
                .into_iter()
                .map(|c| (c.name, Number::from(c.value)))
                .collect();
            out.counters = counters.into_iter().collect();
            out.page = Some(PageInfo {
                refs,
                seq: snap.seq,
            });
        }
        Err(e) => out.error = Some(e.to_string()),
    }
    out
}

/// A domain's counters from its `data/banana/` leaves (relative paths and
/// values): the counter page if it advertises one (and then only the page:
/// the other numeric leaves are state, not counters), else the numeric
/// leaves themselves (domains that predate counter pages).
pub fn gather(leaves: &[(String, String)], pages: &dyn PageSource, domid: u32) -> Published {
    if let Some((_, refs)) = leaves.iter().find(|(k, _)| k == page_refs_key()) {
        return from_page(pages, domid, refs);
    }
    let counters: std::collections::BTreeMap<String, Number> = leaves
        .iter()
        .filter(|(k, _)| !k.starts_with(PAGE_DIR))
        .filter_map(|(k, v)| Some((k.clone(), v.trim().parse::<Number>().ok()?)))
        .collect();
    Published {
        source: (!counters.is_empty()).then_some(Source::Xenstore),
        counters: counters.into_iter().collect(),
        ..Default::default()
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use pv_runtime::counter_page::{copy_shared, CounterTable, READ_TRIES};
    use pv_runtime::shared_page::HeapPage;
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    /// Page images by (domid, first ref), as a domain's pages would read.
    #[derive(Default)]
    pub struct FakePages {
        pub images: RefCell<BTreeMap<(u32, u32), Vec<u8>>>,
        pub reads: RefCell<Vec<(u32, Vec<u32>)>>,
    }

    impl FakePages {
        /// A valid table of `pages` pages holding `counters`.
        pub fn table(pages: usize, counters: &[(&str, u64)]) -> Vec<u8> {
            let p: Vec<HeapPage> = (0..pages).map(|_| HeapPage::new()).collect();
            let mut t = CounterTable::new(p.clone()).unwrap();
            for &(n, v) in counters {
                let id = t.register(n).unwrap();
                t.set(id, v);
            }
            copy_shared(&p, READ_TRIES).unwrap()
        }

        pub fn put(&self, domid: u32, first_ref: u32, image: Vec<u8>) {
            self.images.borrow_mut().insert((domid, first_ref), image);
        }
    }

    impl PageSource for FakePages {
        fn read(&self, domid: u32, refs: &[u32]) -> Result<Vec<u8>, PageError> {
            self.reads.borrow_mut().push((domid, refs.to_vec()));
            // Like the device: as many pages as references.
            self.images
                .borrow()
                .get(&(domid, refs[0]))
                .map(|i| i[..i.len().min(refs.len() * 4096)].to_vec())
                .ok_or_else(|| {
                    PageError::Device(format!(
                        "cannot map grant references {refs:?} of domain {domid}"
                    ))
                })
        }
    }

    fn leaves(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn refs_are_strict() {
        assert_eq!(parse_refs("8").unwrap(), [8]);
        assert_eq!(parse_refs("8 9 4294967295").unwrap(), [8, 9, u32::MAX]);
        for bad in [
            "",
            " ",
            "8 ",
            " 8",
            "8  9",
            "8,9",
            "-1",
            "+8",
            "0x8",
            "4294967296",
            "8\n",
        ] {
            assert!(parse_refs(bad).is_err(), "{bad:?}");
        }
        let many = vec!["1"; 33].join(" ");
        assert!(parse_refs(&many).is_err());
        assert!(parse_refs(&vec!["1"; 32].join(" ")).is_ok());
    }

    #[test]
    fn a_page_replaces_the_xenstore_leaves() {
        let pages = FakePages::default();
        pages.put(
            4,
            8,
            FakePages::table(
                2,
                &[("vif/1/0/rx_packets", 47), ("wire/2/counters/tx-frames", 5)],
            ),
        );
        let l = leaves(&[
            ("counters/page-refs", "8 9"),
            ("vif/1/0/rx_packets", "3"),
            ("nic/irq", "17"),
            ("role", "spike"),
        ]);
        let p = gather(&l, &pages, 4);
        assert_eq!(p.source, Some(Source::Page));
        assert_eq!(p.error, None);
        assert_eq!(
            p.page,
            Some(PageInfo {
                refs: vec![8, 9],
                seq: 4
            })
        );
        let got: Vec<(&str, u64)> = p
            .counters
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_u64().unwrap()))
            .collect();
        assert_eq!(
            got,
            [("vif/1/0/rx_packets", 47), ("wire/2/counters/tx-frames", 5)]
        );
        assert_eq!(*pages.reads.borrow(), [(4, vec![8, 9])]);
    }

    #[test]
    fn without_a_page_xenstore_counters_are_used() {
        let pages = FakePages::default();
        let p = gather(&leaves(&[("vif/1/0/rx_packets", "3")]), &pages, 4);
        assert_eq!(p.source, Some(Source::Xenstore));
        assert_eq!(p.counters.len(), 1);
        assert!(pages.reads.borrow().is_empty());
        assert_eq!(gather(&[], &pages, 4), Published::default());
    }

    #[test]
    fn a_bad_page_is_an_error_for_that_domain_only() {
        let pages = FakePages::default();
        let mut junk = FakePages::table(1, &[("a", 1)]);
        junk[0] = b'X';
        pages.put(5, 8, junk);
        let mut ctl = FakePages::table(1, &[("a", 1)]);
        ctl[64 + 9] = b'\x07';
        pages.put(5, 10, ctl);
        pages.put(5, 12, FakePages::table(2, &[("a", 1)]));
        let err = |refs: &str| {
            let p = gather(
                &leaves(&[("counters/page-refs", refs), ("x", "1")]),
                &pages,
                5,
            );
            assert!(p.counters.is_empty(), "no xenstore leaves instead");
            assert_eq!(p.source, Some(Source::Page));
            p.error.unwrap()
        };
        assert_eq!(
            err("8"),
            "counter page: page 0: bad magic 0x50434e58 (not a counter page)"
        );
        assert_eq!(
            err("10"),
            "counter page: page 0 entry 0: name is not printable ASCII followed by NUL padding"
        );
        assert!(err("12").starts_with("counter page: page 0: header says page 0 of 2"));
        assert!(err("99").starts_with("cannot map grant references [99]"));
        assert!(err("8 x").starts_with("bad page-refs"));
    }
}
