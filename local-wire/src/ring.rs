//! One direction's ring of records: the producer and consumer halves, with
//! `io/ring.h`'s notification hold-off.
//!
//! Indices are free-running `u32` byte counts ([`pv_runtime::ring`]), always
//! multiples of [`RECORD_ALIGN`]. A record is a `u32` LE body length, the
//! body, and zero padding to the next multiple of 8 (wire-proto's byte-ring
//! framing); it never wraps: when the next record would run past the end of
//! the ring, the producer first fills the tail with a *padding* record (body
//! kind byte 0), which the consumer skips. So every record body is one
//! contiguous run of the (contiguously mapped) data area, and records move
//! in place:
//!
//! * **Producer.** [`Producer::reserve`] takes room for a body of up to `len`
//!   bytes and marks it as padding until [`Producer::commit`] gives it its real
//!   length (which may be shorter: a receive coalescer reserves for the
//!   largest merge and commits what it merged). Between the two the caller
//!   fills the body: by volatile copies ([`Producer::write`]), by a grant copy
//!   another domain's pages straight into it ([`Producer::body_offset`] says
//!   where), or in place ([`Producer::body_mut`], when the peer cannot write
//!   these pages). Records are published in one store at [`Producer::flush`],
//!   exactly like `req_prod_pvt` / `RING_PUSH_REQUESTS_AND_CHECK_NOTIFY`;
//!   whatever was reserved and not yet committed is published as padding, so
//!   a consumer never sees a half-written record.
//! * **Consumer.** [`Consumer::next`] hands out the next record (validated:
//!   length, alignment, never wrapping, inside what was published) from a
//!   private cursor; the bytes stay in the ring, readable with
//!   [`Consumer::read`] or by a grant copy from [`Consumer::body_offset`],
//!   until [`Consumer::release`] gives their room back. [`Consumer::rewind`]
//!   takes back records handed out but not released (a receiver that cannot
//!   deliver them yet leaves them in the ring: backpressure).
//!
//! Notifications (`io/ring.h`, "Notification hold-off"): the consumer
//! publishes `prod_event` = "kick me once `prod` passes this" (`req_event`),
//! and a full producer publishes `cons_event` = "kick me once `cons` passes
//! this". Whoever moves an index kicks iff the event value lies in
//! `(old, new]`, and every "arm, then sleep" re-checks the index after a
//! full barrier (`RING_FINAL_CHECK_FOR_REQUESTS`), so with the mirror-image
//! barrier after the index store one of the two always sees the other.

use core::sync::atomic::{fence, Ordering};

use pv_runtime::ring::RingSize;
use wire_proto::{record_len, PAD_KIND, RECORD_ALIGN};

use crate::error::{Corruption, RecvError, SendError, WireError};
use crate::layout::{Direction, RingPages, Side, MAGIC, OFF_MAGIC, RECORD_HEADER_LEN};
use crate::memory::{data_mut, data_ptr, load, read_data, store, write_data, WireMemory};

const HDR: u32 = RECORD_HEADER_LEN as u32;
const ALIGN: u32 = RECORD_ALIGN as u32;

/// What a wire end has done so far. Each half counts its own events;
/// [`WireEnd::counters`](crate::WireEnd::counters) adds them up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Records committed.
    pub records_sent: u64,
    /// Body bytes of those records (headers and padding not counted).
    pub bytes_sent: u64,
    /// Records handed out by `next` (each once, even if rewound).
    pub records_received: u64,
    /// Body bytes of those records.
    pub bytes_received: u64,
    /// `reserve` calls that returned [`SendError::Full`].
    pub full_events: u64,
    /// Times `flush`, `rx_done` or `close` asked the caller to notify.
    pub notifies: u64,
    /// Corruption detected (at most one per half: it poisons the half).
    pub corrupt: u64,
}

impl Counters {
    pub(crate) fn add(self, o: Counters) -> Counters {
        Counters {
            records_sent: self.records_sent + o.records_sent,
            bytes_sent: self.bytes_sent + o.bytes_sent,
            records_received: self.records_received + o.records_received,
            bytes_received: self.bytes_received + o.bytes_received,
            full_events: self.full_events + o.full_events,
            notifies: self.notifies + o.notifies,
            corrupt: self.corrupt + o.corrupt,
        }
    }
}

/// `event` lies in `(old, new]`: the index just passed the peer's mark
/// (`io/ring.h`: `(RING_IDX)(__new - event) < (RING_IDX)(__new - __old)`).
pub(crate) const fn passed(event: u32, old: u32, new: u32) -> bool {
    new.wrapping_sub(event) < new.wrapping_sub(old)
}

/// The producer's private state for its direction.
#[derive(Debug)]
pub(crate) struct TxState {
    pub(crate) prod_pvt: u32,
    pub(crate) prod_pub: u32,
    pub(crate) closed: bool,
    pub(crate) poison: Option<WireError>,
    pub(crate) counters: Counters,
}

/// The consumer's private state for its direction.
#[derive(Debug)]
pub(crate) struct RxState {
    /// Everything before this is released to the producer (at `rx_done`).
    pub(crate) cons_pvt: u32,
    pub(crate) cons_pub: u32,
    /// Where `next` looks: at or past `cons_pvt`.
    pub(crate) cursor: u32,
    pub(crate) closed: bool,
    pub(crate) poison: Option<WireError>,
    pub(crate) counters: Counters,
}

/// Room reserved for one record body; see [`Producer::reserve`].
#[derive(Debug, PartialEq, Eq)]
#[must_use = "commit or cancel the slot"]
pub struct Slot {
    /// Free-running index of the record header.
    at: u32,
    /// Body bytes reserved.
    cap: u32,
}

impl Slot {
    /// The body bytes reserved.
    pub fn capacity(&self) -> usize {
        self.cap as usize
    }
}

/// A record handed out by [`Consumer::next`]: where it is, how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// Free-running index of the record header.
    at: u32,
    /// Body length (at least 1).
    len: u32,
}

impl Record {
    /// The body length.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Never: a record body holds at least its kind byte.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The index just past this record (header, body and padding).
    fn next(&self) -> u32 {
        self.at.wrapping_add(record_len(self.len as usize) as u32)
    }
}

/// Bytes of a record still in the ring, named without being read.
#[derive(Clone, Copy, Debug)]
pub struct RingBytes {
    ptr: core::ptr::NonNull<u8>,
    len: usize,
}

impl RingBytes {
    /// How many bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bytes as a slice, for one copy.
    ///
    /// # Safety
    /// The record is not yet released (its ring is still mapped and the
    /// producer does not reuse the bytes), the slice is dropped before it is,
    /// and the caller only copies the bytes once, acting on none of them:
    /// the peer may still change them, which changes only what is copied of
    /// its own frame (whatever the caller acts on comes from a private copy,
    /// [`Consumer::read`]).
    pub unsafe fn as_slice<'a>(&self) -> &'a [u8] {
        // SAFETY: the range lies in the data area (`Consumer::bytes`), which
        // stays mapped while the record is held (the caller's contract).
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

/// The sending half of a wire end.
pub struct Producer<'a, M: WireMemory> {
    pub(crate) mem: &'a M,
    pub(crate) side: Side,
    pub(crate) pages: RingPages,
    pub(crate) st: &'a mut TxState,
}

/// The receiving half of a wire end.
pub struct Consumer<'a, M: WireMemory> {
    pub(crate) mem: &'a M,
    pub(crate) side: Side,
    pub(crate) pages: RingPages,
    pub(crate) st: &'a mut RxState,
}

/// The outcome of [`Consumer::rx_done`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct RxDone {
    /// Kick the peer: it was waiting for the space we just freed.
    pub notify: bool,
    /// Records arrived past the cursor during the final check: keep
    /// receiving instead of sleeping (`RING_FINAL_CHECK_FOR_REQUESTS`'s
    /// `work_to_do`).
    pub more: bool,
}

fn peer_closed<M: WireMemory>(mem: &M, side: Side) -> bool {
    load(mem, side.rx().closed()) != 0
}

/// Writes a padding record of `total` bytes (a multiple of 8, at least 8)
/// at ring offset `off`.
fn write_pad<M: WireMemory>(mem: &M, dir: Direction, off: usize, total: u32) {
    write_data(mem, dir, off, &(total - HDR).to_le_bytes());
    write_data(mem, dir, off + RECORD_HEADER_LEN, &[PAD_KIND]);
}

impl<M: WireMemory> Producer<'_, M> {
    fn dir(&self) -> Direction {
        self.side.tx()
    }

    fn size(&self) -> RingSize {
        self.pages.ring_size()
    }

    fn poison(&mut self, c: Corruption) -> SendError {
        let e = WireError::Corrupt(c);
        self.st.poison = Some(e);
        self.st.counters.corrupt += 1;
        e.into()
    }

    fn usable(&self) -> Result<(), SendError> {
        if let Some(e) = self.st.poison {
            return Err(e.into());
        }
        if self.st.closed {
            return Err(WireError::Closed.into());
        }
        if peer_closed(self.mem, self.side) {
            return Err(WireError::PeerClosed.into());
        }
        Ok(())
    }

    /// Free bytes after `prod_pvt`, validating the peer's `cons` against
    /// what we published.
    fn free(&mut self) -> Result<u32, SendError> {
        let cons = load(self.mem, self.dir().cons());
        // The consumer read the bytes before `cons` moved past them; we may
        // now overwrite them.
        fence(Ordering::Acquire);
        let size = self.size();
        let checked = size
            .used(self.st.prod_pub, cons)
            .and_then(|_| size.free(self.st.prod_pvt, cons));
        checked.map_err(|e| self.poison(Corruption::ConsOverflow(e)))
    }

    /// At least `need` bytes free after `prod_pvt`, else `cons_event` is
    /// armed for exactly that much and [`SendError::Full`] returned.
    fn room(&mut self, need: u32) -> Result<(), SendError> {
        if self.free()? >= need {
            return Ok(());
        }
        let mark = self
            .st
            .prod_pvt
            .wrapping_add(need)
            .wrapping_sub(self.size().get());
        store(self.mem, self.dir().cons_event(), mark);
        // Our mark is visible before we re-read `cons`; the consumer stores
        // `cons` before reading the mark. One of us sees the other.
        fence(Ordering::SeqCst);
        if self.free()? >= need {
            return Ok(());
        }
        self.st.counters.full_events += 1;
        Err(SendError::Full)
    }

    /// Reserves a record whose body holds up to `len` bytes, contiguous in
    /// the data area, and marks it as padding until [`commit`](Self::commit).
    ///
    /// On [`SendError::Full`] the producer has armed `cons_event` for this
    /// record, so the peer's `rx_done` reports `notify` once enough is free
    /// (a padding record for the ring's tail may already be written, to be
    /// published by the next [`flush`](Self::flush)): call `flush`, keep the
    /// data, retry when kicked. [`SendError::TooLarge`]: the body can never
    /// fit this ring.
    pub fn reserve(&mut self, len: usize) -> Result<Slot, SendError> {
        self.usable()?;
        let max = self.pages.max_record();
        if len == 0 || len > max {
            return Err(SendError::TooLarge { len, max });
        }
        let need = record_len(len) as u32;
        let size = self.size();
        let tail = size.get() - size.mask(self.st.prod_pvt) as u32;
        if need > tail {
            // Fill the tail first: the record starts at the ring's beginning.
            self.room(tail)?;
            write_pad(self.mem, self.dir(), size.mask(self.st.prod_pvt), tail);
            self.st.prod_pvt = self.st.prod_pvt.wrapping_add(tail);
        }
        self.room(need)?;
        let slot = Slot {
            at: self.st.prod_pvt,
            cap: len as u32,
        };
        write_pad(self.mem, self.dir(), size.mask(slot.at), need);
        self.st.prod_pvt = self.st.prod_pvt.wrapping_add(need);
        Ok(slot)
    }

    /// The body's byte offset in this direction's data area (for a grant
    /// copy straight into it: page `offset / 4096`, at `offset % 4096`).
    pub fn body_offset(&self, slot: &Slot) -> usize {
        self.size().mask(slot.at) + RECORD_HEADER_LEN
    }

    /// Copies `bytes` into the slot's body at `at`.
    ///
    /// # Panics
    /// If `at + bytes.len()` exceeds the slot's capacity (a caller bug).
    pub fn write(&mut self, slot: &Slot, at: usize, bytes: &[u8]) {
        assert!(
            at.checked_add(bytes.len())
                .is_some_and(|end| end <= slot.capacity()),
            "write past the reserved body"
        );
        write_data(self.mem, self.dir(), self.body_offset(slot) + at, bytes);
    }

    /// The slot's body, to fill in place.
    ///
    /// # Safety
    /// The peer cannot write this direction's pages (this side granted them
    /// read-only), and no other view of the slot is used while the slice
    /// lives.
    pub unsafe fn body_mut(&mut self, slot: &Slot) -> &mut [u8] {
        let off = self.body_offset(slot);
        // SAFETY: the body lies inside the data area (reserve), is not yet
        // published (so the peer does not read it), and the caller promised
        // the peer cannot write it and nothing else views it.
        unsafe { data_mut(self.mem, self.dir(), off, slot.capacity()) }
    }

    /// Gives the slot's record its length, `len` bytes of the body (1 up to
    /// the capacity; its first byte is the message kind, which must not be
    /// 0). Room left over becomes padding, or is given back when the slot is
    /// the latest reservation.
    ///
    /// # Panics
    /// If `len` is 0 or above the capacity (a caller bug).
    pub fn commit(&mut self, slot: Slot, len: usize) {
        assert!(
            (1..=slot.capacity()).contains(&len),
            "commit outside the reserved body"
        );
        let size = self.size();
        let end = slot.at.wrapping_add(record_len(slot.capacity()) as u32);
        let used = slot.at.wrapping_add(record_len(len) as u32);
        if used != end {
            if self.st.prod_pvt == end {
                self.st.prod_pvt = used;
            } else {
                write_pad(
                    self.mem,
                    self.dir(),
                    size.mask(used),
                    end.wrapping_sub(used),
                );
            }
        }
        write_data(
            self.mem,
            self.dir(),
            size.mask(slot.at),
            &(len as u32).to_le_bytes(),
        );
        self.st.counters.records_sent += 1;
        self.st.counters.bytes_sent += len as u64;
    }

    /// Gives up a reservation: its room is given back when it is the latest,
    /// and stays padding otherwise.
    pub fn cancel(&mut self, slot: Slot) {
        let end = slot.at.wrapping_add(record_len(slot.capacity()) as u32);
        if self.st.prod_pvt == end {
            self.st.prod_pvt = slot.at;
        }
    }

    /// Appends one record holding `body` (all or nothing), for small
    /// messages built in private memory; see [`reserve`](Self::reserve) for
    /// the errors.
    pub fn send_record(&mut self, body: &[u8]) -> Result<(), SendError> {
        let slot = self.reserve(body.len())?;
        self.write(&slot, 0, body);
        self.commit(slot, body.len());
        Ok(())
    }

    /// Publishes every record reserved since the last flush in one `prod`
    /// store (uncommitted ones as padding); `true` means the peer asked to be
    /// kicked (`RING_PUSH_REQUESTS_AND_CHECK_NOTIFY`).
    #[must_use = "kick the peer's event channel when this is true"]
    pub fn flush(&mut self) -> bool {
        let (old, new) = (self.st.prod_pub, self.st.prod_pvt);
        if old == new || self.st.poison.is_some() {
            return false;
        }
        // The record bytes are visible before the index that covers them.
        fence(Ordering::Release);
        store(self.mem, self.dir().prod(), new);
        self.st.prod_pub = new;
        // `prod` is visible before we read the peer's `prod_event`.
        fence(Ordering::SeqCst);
        let event = load(self.mem, self.dir().prod_event());
        let notify = passed(event, old, new);
        self.st.counters.notifies += u64::from(notify);
        notify
    }

    /// Bytes reserved but not yet published.
    pub fn unflushed(&self) -> u32 {
        self.st.prod_pvt.wrapping_sub(self.st.prod_pub)
    }

    /// The largest body [`reserve`](Self::reserve) can ever take.
    pub fn max_record(&self) -> usize {
        self.pages.max_record()
    }
}

impl<M: WireMemory> Consumer<'_, M> {
    fn dir(&self) -> Direction {
        self.side.rx()
    }

    fn size(&self) -> RingSize {
        self.pages.ring_size()
    }

    fn poison(&mut self, c: Corruption) -> RecvError {
        let e = WireError::Corrupt(c);
        self.st.poison = Some(e);
        self.st.counters.corrupt += 1;
        e.into()
    }

    /// The next record after the cursor, validated, padding skipped; `None`
    /// when the ring holds nothing more. The cursor moves past it; its room
    /// stays taken until [`release`](Self::release). After the peer closed,
    /// the records it published first are still returned, then
    /// [`WireError::PeerClosed`].
    #[allow(clippy::should_implement_trait)] // fallible, and borrows the ring
    pub fn next(&mut self) -> Result<Option<Record>, RecvError> {
        if let Some(e) = self.st.poison {
            return Err(e.into());
        }
        if self.st.closed {
            return Err(WireError::Closed.into());
        }
        let closed = peer_closed(self.mem, self.side);
        // Everything the peer published before closing is visible below.
        fence(Ordering::Acquire);
        let prod = load(self.mem, self.dir().prod());
        // Record bytes are read only after the `prod` that covers them.
        fence(Ordering::Acquire);
        let size = self.size();
        if let Err(e) = size.used(prod, self.st.cons_pvt) {
            return Err(self.poison(Corruption::ProdOverflow(e)));
        }
        // Nor may `prod` move back behind records already handed out: the
        // bytes after it are no longer published, and the distance from the
        // cursor to it would wrap (a walk through 4 GiB of padding).
        if let Err(e) = size.used(prod, self.st.cursor) {
            return Err(self.poison(Corruption::ProdOverflow(e)));
        }
        // Each pass consumes at least 8 bytes of what was published: bounded.
        loop {
            let avail = prod.wrapping_sub(self.st.cursor);
            if avail == 0 {
                let magic = load(self.mem, OFF_MAGIC);
                if magic != MAGIC {
                    return Err(self.poison(Corruption::BadMagic(magic)));
                }
                return if closed {
                    Err(WireError::PeerClosed.into())
                } else {
                    Ok(None)
                };
            }
            if avail < ALIGN || !avail.is_multiple_of(ALIGN) {
                return Err(self.poison(Corruption::HeaderTruncated { available: avail }));
            }
            let off = size.mask(self.st.cursor);
            let mut hdr = [0u8; RECORD_HEADER_LEN + 1];
            read_data(self.mem, self.dir(), off, &mut hdr);
            let len = u32::from_le_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]);
            let max = self.pages.max_record() as u32;
            if len == 0 || len > max {
                return Err(self.poison(Corruption::RecordTooLong { len, max }));
            }
            let total = record_len(len as usize) as u32;
            if total > avail {
                let available = avail - HDR;
                return Err(self.poison(Corruption::RecordTruncated { len, available }));
            }
            if off as u32 + total > size.get() {
                return Err(self.poison(Corruption::RecordWraps { len }));
            }
            let rec = Record {
                at: self.st.cursor,
                len,
            };
            if hdr[RECORD_HEADER_LEN] == PAD_KIND {
                // Padding nobody holds anything before is released at once,
                // so a ring that only ever shows padding still frees room.
                if self.st.cons_pvt == self.st.cursor {
                    self.st.cons_pvt = rec.next();
                }
                self.st.cursor = rec.next();
                continue;
            }
            self.st.cursor = rec.next();
            self.st.counters.records_received += 1;
            self.st.counters.bytes_received += u64::from(len);
            return Ok(Some(rec));
        }
    }

    /// The body's byte offset in this direction's data area (for a grant
    /// copy straight out of it).
    pub fn body_offset(&self, rec: &Record) -> usize {
        self.size().mask(rec.at) + RECORD_HEADER_LEN
    }

    /// Copies body bytes `at..at + dst.len()` of `rec` into private memory:
    /// one read of shared memory per byte (the peer may change them; what
    /// the caller acts on is this copy).
    ///
    /// # Panics
    /// If the range is not inside the body (a caller bug).
    pub fn read(&self, rec: &Record, at: usize, dst: &mut [u8]) {
        assert!(
            at.checked_add(dst.len())
                .is_some_and(|end| end <= rec.len()),
            "read past the record body"
        );
        read_data(self.mem, self.dir(), self.body_offset(rec) + at, dst);
    }

    /// Body bytes `at..at + len` of `rec` named in place, to be copied once
    /// somewhere else (a NIC's transmit buffers, another ring) without a
    /// private copy first; see [`RingBytes::as_slice`].
    ///
    /// # Panics
    /// If the range is not inside the body (a caller bug).
    pub fn bytes(&self, rec: &Record, at: usize, len: usize) -> RingBytes {
        assert!(
            at.checked_add(len).is_some_and(|end| end <= rec.len()),
            "bytes past the record body"
        );
        let off = self.body_offset(rec) + at;
        RingBytes {
            ptr: data_ptr(self.mem, self.dir(), off, len),
            len,
        }
    }

    /// Releases every record up to and including `rec` (handed out by
    /// [`next`](Self::next)); the room reaches the peer at
    /// [`rx_done`](Self::rx_done).
    pub fn release(&mut self, rec: &Record) {
        let next = rec.next();
        // Only forward, and never past the cursor.
        let ahead = next.wrapping_sub(self.st.cons_pvt);
        if ahead != 0 && ahead <= self.st.cursor.wrapping_sub(self.st.cons_pvt) {
            self.st.cons_pvt = next;
        }
    }

    /// Releases everything handed out so far (and the padding after it).
    pub fn release_all(&mut self) {
        self.st.cons_pvt = self.st.cursor;
    }

    /// Takes back the records handed out but not released: `next` returns
    /// them again.
    pub fn rewind(&mut self) {
        self.st.cursor = self.st.cons_pvt;
    }

    /// Copies the next record's body into `buf` and releases it; `Ok(None)`
    /// when the ring is empty. For small control messages; a record longer
    /// than `buf` stays in the ring ([`RecvError::BufferTooSmall`]).
    pub fn recv_record(&mut self, buf: &mut [u8]) -> Result<Option<usize>, RecvError> {
        let Some(rec) = self.next()? else {
            return Ok(None);
        };
        let n = rec.len();
        let Some(dst) = buf.get_mut(..n) else {
            self.rewind();
            return Err(RecvError::BufferTooSmall { need: n });
        };
        self.read(&rec, 0, dst);
        self.release(&rec);
        Ok(Some(n))
    }

    /// Ends a receive batch: publishes `cons` (reporting whether the peer
    /// waits for that space), re-arms `prod_event` for the byte after the
    /// cursor, and re-checks `prod` (`RING_FINAL_CHECK_FOR_REQUESTS`). Sleep
    /// only when `more` is false.
    pub fn rx_done(&mut self) -> RxDone {
        if self.st.poison.is_some() || self.st.closed {
            return RxDone {
                notify: false,
                more: false,
            };
        }
        let (old, new) = (self.st.cons_pub, self.st.cons_pvt);
        let mut notify = false;
        if old != new {
            // Our reads of the consumed bytes finish before the producer
            // may reuse them.
            fence(Ordering::Release);
            store(self.mem, self.dir().cons(), new);
            self.st.cons_pub = new;
            // `cons` is visible before we read the producer's mark.
            fence(Ordering::SeqCst);
            notify = passed(load(self.mem, self.dir().cons_event()), old, new);
        }
        let cursor = self.st.cursor;
        store(self.mem, self.dir().prod_event(), cursor.wrapping_add(1));
        // The mark is visible before the final look at `prod`.
        fence(Ordering::SeqCst);
        let more = load(self.mem, self.dir().prod()) != cursor;
        self.st.counters.notifies += u64::from(notify);
        RxDone { notify, more }
    }

    /// Whether the peer set its closed flag.
    pub fn peer_closed(&self) -> bool {
        peer_closed(self.mem, self.side)
    }
}

#[cfg(test)]
mod tests {
    use super::passed;

    #[test]
    fn passed_matches_ring_h_across_wrap() {
        assert!(passed(1, 0, 1));
        assert!(!passed(1, 1, 5));
        assert!(passed(5, 1, 5));
        assert!(!passed(6, 1, 5));
        assert!(passed(2, u32::MAX - 3, 10));
        assert!(passed(u32::MAX, u32::MAX - 3, 10));
        assert!(!passed(u32::MAX - 3, u32::MAX - 3, 10));
        assert!(!passed(0, 0, 0));
    }
}
