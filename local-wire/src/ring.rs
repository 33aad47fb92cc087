//! One direction's byte ring of length-prefixed records: the producer and
//! consumer halves, with `io/ring.h`'s notification hold-off.
//!
//! Indices are free-running `u32` byte counts ([`pv_runtime::ring`]). The
//! producer writes records into private-index space (`prod_pvt`) and
//! publishes them in one store at [`Producer::flush`], exactly like
//! `req_prod_pvt` / `RING_PUSH_REQUESTS_AND_CHECK_NOTIFY`. A consumer only
//! ever sees whole records, so a partial record is corruption, not "wait".
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

use crate::error::{Corruption, RecvError, SendError, WireError};
use crate::layout::{Direction, RingPages, Side, MAGIC, OFF_MAGIC, RECORD_HEADER_LEN};
use crate::memory::{load, read_data, store, write_data, WireMemory};

const HDR: u32 = RECORD_HEADER_LEN as u32;

/// What a wire end has done so far. Each half counts its own events;
/// [`WireEnd::counters`](crate::WireEnd::counters) adds them up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Records accepted by `send_record`.
    pub records_sent: u64,
    /// Body bytes of those records (headers not counted).
    pub bytes_sent: u64,
    /// Records returned by `recv_record`.
    pub records_received: u64,
    /// Body bytes of those records.
    pub bytes_received: u64,
    /// `send_record` calls that returned [`SendError::Full`].
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
    pub(crate) cons_pvt: u32,
    pub(crate) cons_pub: u32,
    pub(crate) closed: bool,
    pub(crate) poison: Option<WireError>,
    pub(crate) counters: Counters,
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
    /// More data arrived during the final check: keep receiving instead of
    /// sleeping (`RING_FINAL_CHECK_FOR_REQUESTS`'s `work_to_do`).
    pub more: bool,
}

fn read_ring<M: WireMemory>(mem: &M, dir: Direction, size: RingSize, idx: u32, dst: &mut [u8]) {
    let first = size.contiguous(idx, dst.len() as u32) as usize;
    let (a, b) = dst.split_at_mut(first);
    read_data(mem, dir, size.mask(idx), a);
    read_data(mem, dir, 0, b);
}

fn write_ring<M: WireMemory>(mem: &M, dir: Direction, size: RingSize, idx: u32, src: &[u8]) {
    let first = size.contiguous(idx, src.len() as u32) as usize;
    let (a, b) = src.split_at(first);
    write_data(mem, dir, size.mask(idx), a);
    write_data(mem, dir, 0, b);
}

fn peer_closed<M: WireMemory>(mem: &M, side: Side) -> bool {
    load(mem, side.rx().closed()) != 0
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

    /// Appends one record (`u32` LE length, then `body`), all or nothing.
    /// The peer sees it at the next [`flush`](Self::flush).
    ///
    /// On [`SendError::Full`] the producer has already armed `cons_event`
    /// for exactly this record's size, so the peer's `rx_done` will report
    /// `notify` once enough is free: keep the record, call `flush`, and
    /// retry when kicked.
    pub fn send_record(&mut self, body: &[u8]) -> Result<(), SendError> {
        if let Some(e) = self.st.poison {
            return Err(e.into());
        }
        if self.st.closed {
            return Err(WireError::Closed.into());
        }
        if peer_closed(self.mem, self.side) {
            return Err(WireError::PeerClosed.into());
        }
        let max = self.pages.max_record();
        if body.len() > max {
            return Err(SendError::TooLarge {
                len: body.len(),
                max,
            });
        }
        let need = HDR + body.len() as u32;
        if self.free()? < need {
            let size = self.size().get();
            let mark = self.st.prod_pvt.wrapping_add(need).wrapping_sub(size);
            store(self.mem, self.dir().cons_event(), mark);
            // Our mark is visible before we re-read `cons`; the consumer
            // stores `cons` before reading the mark. One of us sees the other.
            fence(Ordering::SeqCst);
            if self.free()? < need {
                self.st.counters.full_events += 1;
                return Err(SendError::Full);
            }
        }
        let (dir, size, at) = (self.dir(), self.size(), self.st.prod_pvt);
        write_ring(self.mem, dir, size, at, &(body.len() as u32).to_le_bytes());
        write_ring(self.mem, dir, size, at.wrapping_add(HDR), body);
        self.st.prod_pvt = at.wrapping_add(need);
        self.st.counters.records_sent += 1;
        self.st.counters.bytes_sent += body.len() as u64;
        Ok(())
    }

    /// Publishes every record sent since the last flush in one `prod`
    /// store; `true` means the peer asked to be kicked
    /// (`RING_PUSH_REQUESTS_AND_CHECK_NOTIFY`).
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

    /// Bytes sent but not yet flushed.
    pub fn unflushed(&self) -> u32 {
        self.st.prod_pvt.wrapping_sub(self.st.prod_pub)
    }

    /// The largest body [`send_record`](Self::send_record) can ever take.
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

    /// The body length of the next whole record, validated against the
    /// ring and the published bytes; `None` when the ring is empty.
    fn next_len(&mut self) -> Result<Option<u32>, RecvError> {
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
        let used = match size.used(prod, self.st.cons_pvt) {
            Ok(u) => u,
            Err(e) => return Err(self.poison(Corruption::ProdOverflow(e))),
        };
        if used == 0 {
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
        if used < HDR {
            return Err(self.poison(Corruption::HeaderTruncated { available: used }));
        }
        let mut hdr = [0u8; RECORD_HEADER_LEN];
        read_ring(self.mem, self.dir(), size, self.st.cons_pvt, &mut hdr);
        let len = u32::from_le_bytes(hdr);
        let max = self.pages.max_record() as u32;
        if len > max {
            return Err(self.poison(Corruption::RecordTooLong { len, max }));
        }
        if len > used - HDR {
            let available = used - HDR;
            return Err(self.poison(Corruption::RecordTruncated { len, available }));
        }
        Ok(Some(len))
    }

    /// The body length of the next record, without consuming it.
    pub fn peek_len(&mut self) -> Result<Option<usize>, RecvError> {
        Ok(self.next_len()?.map(|l| l as usize))
    }

    /// Copies the next record's body into `buf` and consumes it; `Ok(None)`
    /// when the ring is empty. The freed space reaches the peer at
    /// [`rx_done`](Self::rx_done). After the peer closed, the records it
    /// published first are still returned, then [`WireError::PeerClosed`].
    pub fn recv_record(&mut self, buf: &mut [u8]) -> Result<Option<usize>, RecvError> {
        let Some(len) = self.next_len()? else {
            return Ok(None);
        };
        let n = len as usize;
        let Some(dst) = buf.get_mut(..n) else {
            return Err(RecvError::BufferTooSmall { need: n });
        };
        let at = self.st.cons_pvt.wrapping_add(HDR);
        read_ring(self.mem, self.dir(), self.size(), at, dst);
        self.st.cons_pvt = at.wrapping_add(len);
        self.st.counters.records_received += 1;
        self.st.counters.bytes_received += u64::from(len);
        Ok(Some(n))
    }

    /// Ends a receive batch: publishes `cons` (reporting whether the peer
    /// waits for that space), re-arms `prod_event` for the very next byte,
    /// and re-checks `prod` (`RING_FINAL_CHECK_FOR_REQUESTS`). Sleep only
    /// when `more` is false.
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
        store(self.mem, self.dir().prod_event(), new.wrapping_add(1));
        // The mark is visible before the final look at `prod`.
        fence(Ordering::SeqCst);
        let more = load(self.mem, self.dir().prod()) != new;
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
