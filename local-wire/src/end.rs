//! A wire end: one side's view of the control page and both rings.

use core::sync::atomic::{fence, Ordering};

use crate::error::{Corruption, WireError};
use crate::layout::{
    Direction, RingPages, Side, MAGIC, OFF_MAGIC, OFF_PAGES, OFF_VERSION, PAGE_SIZE, VERSION,
};
use crate::memory::{load, store, WireMemory};
use crate::ring::{Consumer, Counters, Producer, RxState, TxState};

/// One side of a local wire over memory `M`.
pub struct WireEnd<M: WireMemory> {
    mem: M,
    side: Side,
    pages: RingPages,
    tx: TxState,
    rx: RxState,
}

fn geometry<M: WireMemory>(mem: &M) -> Result<RingPages, WireError> {
    let k = mem.pages_per_dir();
    u32::try_from(k)
        .ok()
        .and_then(RingPages::new)
        .ok_or(WireError::Geometry(k))
}

impl<M: WireMemory> WireEnd<M> {
    /// The offerer's end over freshly allocated pages: writes the whole
    /// control page (both rings empty at free-running index `start`, the
    /// consumer of each asking for a kick on the first byte), magic last.
    ///
    /// Call this before granting the pages. `start` is arbitrary (rounded
    /// down to a record boundary); a value just below 2^32 exercises index
    /// wrap-around early.
    pub fn offer(mem: M, start: u32) -> Result<WireEnd<M>, WireError> {
        let pages = geometry(&mem)?;
        let start = start & !(wire_proto::RECORD_ALIGN as u32 - 1);
        for off in (0..PAGE_SIZE).step_by(4) {
            store(&mem, off, 0);
        }
        for d in [Direction::AtoB, Direction::BtoA] {
            store(&mem, d.prod(), start);
            store(&mem, d.cons(), start);
            store(&mem, d.cons_event(), start);
            store(&mem, d.prod_event(), start.wrapping_add(1));
        }
        store(&mem, OFF_VERSION, VERSION);
        store(&mem, OFF_PAGES, pages.get());
        // An acceptor that sees the magic sees everything above.
        fence(Ordering::Release);
        store(&mem, OFF_MAGIC, MAGIC);
        Ok(Self::at(mem, Side::A, pages, start, start))
    }

    /// The acceptor's end over pages just mapped from an offer whose
    /// `ring-pages` was `mem.pages_per_dir()`. Refuses a control page with
    /// the wrong magic, version or K, a b→a ring that is not empty (a page
    /// some earlier acceptor already used), or an a→b ring that overflows.
    pub fn accept(mem: M) -> Result<WireEnd<M>, WireError> {
        let pages = geometry(&mem)?;
        let magic = load(&mem, OFF_MAGIC);
        if magic != MAGIC {
            return Err(Corruption::BadMagic(magic).into());
        }
        fence(Ordering::Acquire);
        let version = load(&mem, OFF_VERSION);
        if version != VERSION {
            return Err(Corruption::BadVersion(version).into());
        }
        let found = load(&mem, OFF_PAGES);
        if found != pages.get() {
            return Err(Corruption::PagesMismatch {
                found,
                mapped: pages.get(),
            }
            .into());
        }
        let size = pages.ring_size();
        let (rx, tx) = (Side::B.rx(), Side::B.tx());
        let rx_cons = load(&mem, rx.cons());
        size.used(load(&mem, rx.prod()), rx_cons)
            .map_err(Corruption::ProdOverflow)?;
        let tx_prod = load(&mem, tx.prod());
        if load(&mem, tx.cons()) != tx_prod {
            return Err(Corruption::NotFresh.into());
        }
        let align = wire_proto::RECORD_ALIGN as u32;
        if tx_prod % align != 0 || rx_cons % align != 0 {
            return Err(Corruption::HeaderTruncated {
                available: tx_prod % align,
            }
            .into());
        }
        Ok(Self::at(mem, Side::B, pages, tx_prod, rx_cons))
    }

    fn at(mem: M, side: Side, pages: RingPages, prod: u32, cons: u32) -> WireEnd<M> {
        WireEnd {
            mem,
            side,
            pages,
            tx: TxState {
                prod_pvt: prod,
                prod_pub: prod,
                closed: false,
                poison: None,
                counters: Counters::default(),
            },
            rx: RxState {
                cons_pvt: cons,
                cons_pub: cons,
                cursor: cons,
                closed: false,
                poison: None,
                counters: Counters::default(),
            },
        }
    }

    /// Both halves at once, e.g. to forward received records while sending.
    pub fn split(&mut self) -> (Producer<'_, M>, Consumer<'_, M>) {
        let producer = Producer {
            mem: &self.mem,
            side: self.side,
            pages: self.pages,
            st: &mut self.tx,
        };
        let consumer = Consumer {
            mem: &self.mem,
            side: self.side,
            pages: self.pages,
            st: &mut self.rx,
        };
        (producer, consumer)
    }

    /// The sending half.
    pub fn tx(&mut self) -> Producer<'_, M> {
        self.split().0
    }

    /// The receiving half.
    pub fn rx(&mut self) -> Consumer<'_, M> {
        self.split().1
    }

    /// Publishes what was sent, then sets our closed flag. Both halves
    /// return [`WireError::Closed`] from then on. Always kick the peer
    /// afterwards so it notices.
    pub fn close(&mut self) -> bool {
        let _ = self.tx().flush();
        // The peer sees every published record before it sees the flag.
        fence(Ordering::Release);
        store(&self.mem, self.side.tx().closed(), 1);
        self.tx.closed = true;
        self.rx.closed = true;
        self.tx.counters.notifies += 1;
        true
    }

    /// Whether the peer set its closed flag.
    pub fn peer_closed(&self) -> bool {
        load(&self.mem, self.side.rx().closed()) != 0
    }

    /// The first corruption either half detected.
    pub fn error(&self) -> Option<WireError> {
        self.tx.poison.or(self.rx.poison)
    }

    /// Both halves' counters added up.
    pub fn counters(&self) -> Counters {
        self.tx.counters.add(self.rx.counters)
    }

    /// Which side this end is.
    pub fn side(&self) -> Side {
        self.side
    }

    /// K.
    pub fn pages(&self) -> RingPages {
        self.pages
    }

    /// The memory, e.g. to find the pages to unmap or free.
    pub fn memory(&self) -> &M {
        &self.mem
    }

    /// Gives the memory back (after `close`, before unmapping or freeing).
    pub fn into_memory(self) -> M {
        self.mem
    }
}
