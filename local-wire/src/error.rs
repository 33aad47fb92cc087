//! What can go wrong on a wire, as types the caller can match.

use pv_runtime::ring::RingOverflow;

/// Shared memory that no correct peer could have produced.
///
/// Detected before any byte is used; the half that saw it stays poisoned
/// (every later call returns the same error), and the domain tears the wire
/// down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Corruption {
    /// The control page does not start with [`MAGIC`](crate::MAGIC).
    #[error("control page magic {0:#010x}")]
    BadMagic(u32),
    /// The control page has a layout version this crate does not know.
    #[error("control page version {0}")]
    BadVersion(u32),
    /// The control page's K differs from the mapped (published) K.
    #[error("control page says {found} pages per direction, {mapped} mapped")]
    PagesMismatch {
        /// The value in the control page.
        found: u32,
        /// The value the memory was mapped with.
        mapped: u32,
    },
    /// The peer's `prod` claims more unread bytes than the ring holds.
    #[error("peer producer index: {0}")]
    ProdOverflow(RingOverflow),
    /// The peer's `cons` is ahead of what we published or behind what it
    /// already freed.
    #[error("peer consumer index: {0}")]
    ConsOverflow(RingOverflow),
    /// Fewer unread bytes than a record header: producers publish whole
    /// records only.
    #[error("{available} unread bytes, less than a record header")]
    HeaderTruncated {
        /// Unread bytes.
        available: u32,
    },
    /// A record header announces an empty body, or one that could never fit
    /// the ring.
    #[error("record of {len} bytes in a ring whose largest record is {max}")]
    RecordTooLong {
        /// The announced body length.
        len: u32,
        /// The largest body the ring can hold.
        max: u32,
    },
    /// A record header announces more bytes than were published.
    #[error("record of {len} bytes but only {available} published after its header")]
    RecordTruncated {
        /// The announced body length.
        len: u32,
        /// Published bytes after the header.
        available: u32,
    },
    /// A record runs past the end of the ring (records never wrap: the
    /// producer pads the tail instead).
    #[error("record of {len} bytes runs past the end of the ring")]
    RecordWraps {
        /// The announced body length.
        len: u32,
    },
    /// At attach, the acceptor's own ring already holds data.
    #[error("acceptor's ring is not empty at attach")]
    NotFresh,
}

/// Why a wire half cannot be used any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The peer broke the protocol; tear down.
    #[error("corrupt wire: {0}")]
    Corrupt(#[from] Corruption),
    /// We called [`close`](crate::WireEnd::close).
    #[error("wire closed locally")]
    Closed,
    /// The peer set its closed flag (and, for receive, everything it
    /// published before has been read).
    #[error("peer closed the wire")]
    PeerClosed,
    /// The mapped memory's K is not a valid ring size.
    #[error("{0} data pages per direction is not a power of two in 1..=64")]
    Geometry(usize),
}

/// Why [`send_record`](crate::Producer::send_record) did not take a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Not enough room now. The producer has asked to be kicked once the
    /// consumer frees enough; keep the record, [`flush`](crate::Producer::flush),
    /// and retry on the next event.
    #[error("ring full")]
    Full,
    /// The record can never fit this ring.
    #[error("record of {len} bytes, the ring takes at most {max}")]
    TooLarge {
        /// The record's body length.
        len: usize,
        /// [`RingPages::max_record`](crate::RingPages::max_record).
        max: usize,
    },
    /// The wire is unusable.
    #[error(transparent)]
    Wire(#[from] WireError),
}

/// Why [`recv_record`](crate::Consumer::recv_record) returned no record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecvError {
    /// The next record is longer than the buffer; it stays in the ring.
    #[error("next record needs a {need}-byte buffer")]
    BufferTooSmall {
        /// The record's body length.
        need: usize,
    },
    /// The wire is unusable.
    #[error(transparent)]
    Wire(#[from] WireError),
}

impl From<Corruption> for SendError {
    fn from(c: Corruption) -> Self {
        SendError::Wire(WireError::Corrupt(c))
    }
}

impl From<Corruption> for RecvError {
    fn from(c: Corruption) -> Self {
        RecvError::Wire(WireError::Corrupt(c))
    }
}
