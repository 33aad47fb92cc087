//! Where every shared word lives: the control page and the data areas.
//!
//! The crate documentation has the table; this module is its only encoding.
//! Every word is written by exactly one side and sits on a 64-byte line that
//! only that side writes, so the two vCPUs never bounce a line on a store
//! (the same reason `libxenvchan.h` separates `left` and `right`).

use pv_runtime::ring::RingSize;

/// The page size of every shared page (`XEN_PAGE_SIZE`).
pub const PAGE_SIZE: usize = pv_runtime::abi::PAGE_SIZE;

/// `"BnLw"` read as a little-endian `u32`: the first word of a control page.
pub const MAGIC: u32 = u32::from_le_bytes(*b"BnLw");

/// The layout version this crate reads and writes: 2, records aligned to 8
/// bytes that never wrap (wire-proto 2's byte-ring framing), each direction's
/// pages mapped contiguously.
pub const VERSION: u32 = 2;

/// The largest K (data pages per direction) an acceptor maps: 256 KiB per
/// direction.
pub const MAX_PAGES_PER_DIR: u32 = 64;

/// The bytes of the `u32` little-endian length in front of every record.
pub const RECORD_HEADER_LEN: usize = 4;

pub(crate) const OFF_MAGIC: usize = 0;
pub(crate) const OFF_VERSION: usize = 4;
pub(crate) const OFF_PAGES: usize = 8;

const LINE: usize = 64;
const DIR_BASE: usize = LINE;
const DIR_STRIDE: usize = 2 * LINE;

/// One of the two domains joined by a wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The offerer: allocates and grants the pages, allocates the event channel.
    A,
    /// The acceptor: maps the pages, binds the event channel.
    B,
}

impl Side {
    /// The direction this side produces into.
    pub const fn tx(self) -> Direction {
        match self {
            Side::A => Direction::AtoB,
            Side::B => Direction::BtoA,
        }
    }

    /// The direction this side consumes from.
    pub const fn rx(self) -> Direction {
        match self {
            Side::A => Direction::BtoA,
            Side::B => Direction::AtoB,
        }
    }

    /// The other side.
    pub const fn peer(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
}

/// One of the two byte rings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Produced by the offerer, consumed by the acceptor; data refs `0..K`.
    AtoB = 0,
    /// Produced by the acceptor, consumed by the offerer; data refs `K..2K`.
    BtoA = 1,
}

impl Direction {
    /// The side that writes `prod` (and the data) of this ring.
    pub const fn producer(self) -> Side {
        match self {
            Direction::AtoB => Side::A,
            Direction::BtoA => Side::B,
        }
    }

    /// Index of this direction's first page in `data-refs`.
    pub const fn first_ref(self, pages: RingPages) -> usize {
        self as usize * pages.get() as usize
    }

    const fn base(self) -> usize {
        DIR_BASE + self as usize * DIR_STRIDE
    }

    /// Producer line: `prod`.
    pub(crate) const fn prod(self) -> usize {
        self.base()
    }

    /// Producer line: "kick me when `cons` passes this" (`rsp_event`'s role
    /// for a full sender).
    pub(crate) const fn cons_event(self) -> usize {
        self.base() + 4
    }

    /// Producer line: the producer's `closed` flag (one per side, since each
    /// side produces exactly one direction).
    pub(crate) const fn closed(self) -> usize {
        self.base() + 8
    }

    /// Consumer line: `cons`.
    pub(crate) const fn cons(self) -> usize {
        self.base() + LINE
    }

    /// Consumer line: "kick me when `prod` passes this" (`req_event`).
    pub(crate) const fn prod_event(self) -> usize {
        self.base() + LINE + 4
    }
}

/// K, the number of data pages per direction: a power of two in
/// `1..=MAX_PAGES_PER_DIR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RingPages(u32);

impl RingPages {
    /// One page per direction.
    pub const ONE: RingPages = RingPages(1);

    /// What the domains offer: 128 KiB per direction, the smallest ring
    /// whose record holds the largest wire-proto message (a 65,535-byte
    /// frame, netif's `XEN_NETIF_MAX_TX_SIZE`, plus its metadata), so no
    /// frame that may legally exist on either side is ever too large for
    /// the wire, with room for a second one behind it.
    pub const FOR_FRAMES: RingPages = RingPages(32);

    /// What a Corm offers when the acceptor can map it: 256 KiB per
    /// direction, four of the largest frames (a full GRO merge each) in
    /// flight, so a burst from the NIC or a guest's GSO train does not stall
    /// on the ring. An acceptor that says it maps less gets less
    /// ([`Offerer::peer_max_pages`](crate::setup::Offerer::peer_max_pages)).
    pub const PREFERRED: RingPages = RingPages(64);

    /// `k` if it is a power of two no larger than [`MAX_PAGES_PER_DIR`].
    pub const fn new(k: u32) -> Option<RingPages> {
        if k.is_power_of_two() && k <= MAX_PAGES_PER_DIR {
            Some(RingPages(k))
        } else {
            None
        }
    }

    /// K.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// The byte capacity of one direction's ring (K × 4096, a power of two).
    pub const fn ring_size(self) -> RingSize {
        match RingSize::new(self.0 * PAGE_SIZE as u32) {
            Some(s) => s,
            None => panic!("K * PAGE_SIZE is a power of two by construction"),
        }
    }

    /// The longest record body that fits: the ring minus one header (such a
    /// record fills the whole ring).
    pub const fn max_record(self) -> usize {
        self.0 as usize * PAGE_SIZE - RECORD_HEADER_LEN
    }

    /// Grant refs the offer publishes: one control page and 2K data pages.
    pub const fn total_pages(self) -> usize {
        1 + 2 * self.0 as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_in_page_and_disjoint_lines() {
        let mut words = std::vec![OFF_MAGIC, OFF_VERSION, OFF_PAGES];
        for d in [Direction::AtoB, Direction::BtoA] {
            words.extend([
                d.prod(),
                d.cons_event(),
                d.closed(),
                d.cons(),
                d.prod_event(),
            ]);
            assert_eq!(d.prod() / LINE, d.cons_event() / LINE);
            assert_ne!(d.prod() / LINE, d.cons() / LINE);
        }
        let mut sorted = words.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), words.len());
        assert!(words.iter().all(|&w| w % 4 == 0 && w + 4 <= PAGE_SIZE));
        assert_ne!(Direction::AtoB.prod() / LINE, 0);
        assert_ne!(Direction::AtoB.cons() / LINE, Direction::BtoA.prod() / LINE);
    }

    #[test]
    fn ring_pages() {
        assert_eq!(RingPages::new(0), None);
        assert_eq!(RingPages::new(3), None);
        assert_eq!(RingPages::new(128), None);
        assert_eq!(RingPages::new(64).map(RingPages::get), Some(64));
        let k = RingPages::new(16).unwrap();
        assert_eq!(k.ring_size().get(), 65536);
        assert_eq!(k.max_record(), 65532);
        assert_eq!(k.total_pages(), 33);
        assert_eq!(Direction::BtoA.first_ref(k), 16);
        assert_eq!(Side::A.tx(), Side::B.rx());
        assert_eq!(Direction::BtoA.producer(), Side::B);
    }
}
