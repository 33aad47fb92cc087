//! The Banana *local wire*: two domains on one host joined by a pair of
//! shared-memory byte rings of length-prefixed records, one event channel,
//! set up through xenstore and grant tables (docs/architecture.md).
//!
//! Sans-IO: this crate never maps, grants, notifies or talks to xenstore. The
//! domain maps pages and hands them over behind [`WireMemory`], kicks the
//! event channel when a call returns `true`, and executes the [`setup`]
//! state machines' [`Action`]s.
//!
//! # Shared memory layout (version 2)
//!
//! The offerer (side A) allocates `1 + 2K` pages, K a power of two in
//! `1..=64` ([`RingPages`]; a Corm offers [`RingPages::PREFERRED`], 256 KiB
//! a direction, or less if the acceptor maps less): a control page, then K data pages for the a→b ring and
//! K for the b→a ring. Each ring is `K × 4096` bytes, its pages mapped side
//! by side in both domains ([`WireMemory::data`]), so a record is one
//! contiguous run of bytes. The a→b pages are granted read-only: the
//! acceptor only reads them (or grant-copies from them), which lets the
//! offerer build records in place there ([`Producer::body_mut`]).
//!
//! Control page (all words `u32`, little-endian, naturally aligned; each
//! 64-byte line is written by one side only):
//!
//! | offset | field        | written by | meaning |
//! |-------:|--------------|-----------|---------|
//! | 0      | `magic`      | A, at offer, last | `"BnLw"` ([`MAGIC`]) |
//! | 4      | `version`    | A, at offer | [`VERSION`] = 1 |
//! | 8      | `ring_pages` | A, at offer | K; must equal the xenstore `ring-pages` |
//! | 64     | a→b `prod`       | A | bytes published into a→b (free-running) |
//! | 68     | a→b `cons_event` | A | "kick me when a→b `cons` passes this" (A is full) |
//! | 72     | A `closed`       | A | nonzero: A has left the wire |
//! | 128    | a→b `cons`       | B | bytes of a→b consumed |
//! | 132    | a→b `prod_event` | B | "kick me when a→b `prod` passes this" (`req_event`) |
//! | 192    | b→a `prod`       | B | |
//! | 196    | b→a `cons_event` | B | |
//! | 200    | B `closed`       | B | |
//! | 256    | b→a `cons`       | A | |
//! | 260    | b→a `prod_event` | A | |
//!
//! A ring's content is a sequence of records, each a `u32` LE body length,
//! the body, and zeros to the next multiple of 8 (`wire-proto`'s byte-ring
//! framing, so the bytes of a ring are a valid wire-proto stream). A record
//! never wraps: a producer that would run past the ring's end first fills
//! the tail with a padding record (body kind byte 0), which consumers skip.
//! A body is at most `K × 4096 − 4` bytes. `prod` only moves by whole
//! records, so a consumer never waits for the rest of a record: a partial,
//! misaligned or wrapping one is [`Corruption`].
//!
//! Memory ordering is `io/ring.h`'s: write data, release fence, store
//! `prod`, full fence, read `prod_event`; read `prod`, acquire fence, read
//! data, release fence, store `cons`, full fence, read `cons_event`. See
//! [`ring`] for the notification hold-off and the lost-wake-up argument.
//!
//! # Using an end
//!
//! Records move in place ([`ring`]): a producer [`reserve`](Producer::reserve)s
//! a body, fills it (a copy, a grant copy, or in place) and
//! [`commit`](Producer::commit)s it; a consumer takes records with
//! [`next`](Consumer::next), reads or grant-copies them where they are, and
//! [`release`](Consumer::release)s them. On every event (and once right
//! after connecting, since kicks sent before the acceptor bound the port are
//! lost): receive until `Ok(None)`, call [`Consumer::rx_done`] and kick if
//! `notify`, loop while `more`; send until [`SendError::Full`] (keep the
//! rest: backpressure), call [`Producer::flush`] once and kick if it says
//! so. Corruption poisons the half; tear the wire down. [`channel`] does all
//! this for wire-proto messages.
//!
//! # Lifecycle
//!
//! [`WireEnd::close`] sets our `closed` flag; the peer drains what was
//! published and then gets [`WireError::PeerClosed`]. A control page is
//! never reused: after either side restarts, the offerer allocates fresh
//! pages for a fresh offer (the old grants are ended only once the old
//! acceptor has unmapped them or died), and an acceptor unmaps its old
//! pages before it asks for a new offer. [`WireEnd::accept`] refuses a page
//! whose b→a ring has already been used.
//!
//! # Setup over xenstore
//!
//! The controller decides the roles: side A (offerer) is the Corm when one
//! end is a Corm, otherwise the end listed first. `<id>` is the wire id
//! (decimal `u32`), `<a>`/`<b>` the domain ids.
//!
//! Offerer, under `/local/domain/<a>/data/banana/wire/<id>/` (owner a,
//! readable by b):
//!
//! | key | value |
//! |-----|-------|
//! | `ring-pages`    | K |
//! | `control-ref`   | grant ref of the control page |
//! | `data-refs`     | the 2K data grants, decimal, single spaces: a→b pages `0..K`, then b→a pages `K..2K` |
//! | `event-channel` | port allocated unbound for b |
//! | `offer-for`     | the acceptor `request` this offer answers |
//! | `offer-id`      | unique per offer, so the acceptor notices a re-offer |
//! | `state`         | 1 Initialising, 2 InitWait (offer published), 4 Connected, 5 Closing, 6 Closed |
//!
//! Acceptor, under `/local/domain/<b>/data/banana/wire/<id>/` (owner b,
//! readable by a): `request` (a nonce, unique per incarnation and per
//! re-request, e.g. Xen system time in ns), `max-ring-pages` (the largest K
//! it maps; the offer's K is at most that, 32 when absent or malformed) and
//! `state` (1 requesting, 4 Connected, 5 Closing, 6 Closed).
//!
//! Handshake: B writes `request` = n and `state` = 1. A, seeing B at 1 with a
//! request it has not offered for, allocates fresh pages, grants them,
//! allocates the port, and writes the offer keys and `state` = 2 in one
//! transaction. B, seeing A at 2 with `offer-for` = n, reads and validates
//! the offer, maps, binds, [`accept`](WireEnd::accept)s, and writes
//! `state` = 4; A, seeing B at 4 with `request` = n, writes 4. Whenever
//! either side sees the other leave (state 5, 6, 1, missing, or a changed
//! `offer-id`/`request`), it tears down and starts again: A back to 1 to wait
//! for a request, B with a new nonce. Each side is a [`setup::Offerer`] or
//! [`setup::Acceptor`].
#![cfg_attr(not(test), no_std)]
#![warn(missing_docs)]

extern crate alloc;

pub mod channel;
#[cfg(target_os = "none")]
pub mod domain;
mod end;
mod error;
mod layout;
mod memory;
pub mod page_ref;
pub mod ring;
pub mod setup;

pub use end::WireEnd;
pub use error::{Corruption, RecvError, SendError, WireError};
pub use layout::{
    Direction, RingPages, Side, MAGIC, MAX_PAGES_PER_DIR, PAGE_SIZE, RECORD_HEADER_LEN, VERSION,
};
pub use memory::{GeometryError, HeapMemory, RawMemory, WireMemory};
pub use page_ref::{CopyEnd, PageRef, RingRefs};
pub use ring::{Consumer, Counters, Producer, Record, RingBytes, RxDone, Slot};
pub use setup::Action;
