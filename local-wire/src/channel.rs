//! A wire end carrying wire-proto messages, one per ring record: the hello
//! exchange and keepalives (wire-proto/PROTOCOL.md "Negotiation") handled
//! here, frames moved in place for the domain's data plane.
//!
//! Sans-IO and generic over the memory, so the host tests run it over
//! [`HeapMemory`](crate::HeapMemory): the domain attaches the [`WireEnd`]
//! its set-up produced, feeds it the clock, and kicks the event channel
//! whenever a call says `notify`.
//!
//! * **Receive** is pull: [`Channel::recv`] hands out the next frame (control
//!   records before it are handled and released on the way), checked against
//!   the agreement; its bytes stay in the ring for one move (a private copy
//!   with [`Channel::rx_read`], a grant copy from [`Channel::rx_offset`]) until
//!   [`Channel::rx_release`]. [`Channel::rx_rewind`] leaves frames the caller
//!   cannot take yet in the ring.
//! * **Send** is in place: [`Channel::tx_reserve`] takes room for a frame,
//!   the caller moves the bytes into it (a grant copy to [`Channel::tx_offset`],
//!   a volatile copy, or directly when the peer cannot write our ring), and
//!   [`Channel::tx_commit`] writes the fixed frame header with the metadata,
//!   after checking it against the agreement.
//!
//! Data-path errors (a frame too large, not agreed, a full ring) cost the
//! frame and a counter, never the wire; only a broken ring (the peer wrote
//! what no correct peer writes, or closed) or a failed negotiation reports
//! [`Lost`].

use heapless::Deque;
use wire_proto::{
    frame, DecodeError, EndpointId, Features, FrameError, FrameMeta, Hello, Keepalive, MacAddr,
    Message, NegotiationError, Negotiator, Params, RefusalReason, Role, Step, WireId,
    FRAME_HEADER_LEN, MAX_FRAME_LEN,
};

use crate::error::{RecvError, SendError, WireError};
use crate::memory::WireMemory;
use crate::ring::{Record, RingBytes, RxDone, Slot};
use crate::WireEnd;

/// Who we are on a wire: what our hello says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    /// Spike or Corm (two Corms never share a wire).
    pub role: Role,
    /// Our endpoint index (a Corm's port; 0 for a Spike).
    pub endpoint: u32,
    /// Offloads we can take from the peer.
    pub features: Features,
    /// The largest L3 payload we carry.
    pub mtu: u16,
}

/// Liveness: a keepalive goes out after this long without sending anything.
pub const KEEPALIVE_NS: u64 = 1_000_000_000;
/// An established peer silent for this long is dead: the wire is set up
/// again. Generous, because a nested lab under load can stall a domain for
/// seconds.
pub const DEAD_NS: u64 = 10_000_000_000;
/// An unanswered hello is sent again after this long.
pub const HELLO_RETRY_NS: u64 = 1_000_000_000;

/// Control records longer than this are refused (the largest, a hello with
/// four MACs, is about 40 bytes).
const CONTROL_MAX: usize = 64;
/// Records (control messages, refused frames) one `recv` takes before it
/// returns.
const RECV_SKIP_MAX: usize = 256;
/// Control records waiting for ring space: a hello, an ack, a keepalive and
/// a close at most; a peer that makes us answer more than that while our
/// ring is full loses the excess (it will send its hello again).
const CONTROL_QUEUE: usize = 4;

xs_schema::counters! {
    /// Per-wire counters.
    pub struct ChannelCounters {
        /// Frames committed to the ring.
        tx_frames,
        /// Their bytes (frames only).
        tx_bytes,
        /// Frames handed to the caller.
        rx_frames,
        /// Their bytes.
        rx_bytes,
        /// Frames that found the ring full (backpressure; the caller keeps or drops them).
        tx_ring_full,
        /// Frames offered before the wire was established.
        tx_not_established,
        /// Frames longer than any frame may be.
        tx_too_large,
        /// Frames whose metadata was not agreed (features, MTU).
        tx_refused,
        /// Control records dropped because the control queue was full.
        tx_control_dropped,
        /// Records that were not valid messages (dropped).
        rx_bad_message,
        /// Frames that broke the agreement (dropped).
        rx_refused_frame,
        /// Frames and keepalives that arrived before the wire was established.
        rx_not_established,
        /// Keepalives sent.
        keepalives_sent,
        /// Peer hellos refused (MAC not allowed, wrong wire or peer, ...).
        hellos_refused,
        /// Times the wire was lost (ring broken, peer closed, refused, or silent).
        wire_errors,
    }
}

/// Why the wire must be set up again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lost {
    /// The ring broke or the peer closed it.
    Wire(WireError),
    /// Negotiation failed or must be redone (a fatal protocol violation,
    /// our hello changed).
    Negotiation,
    /// We refused the peer's hello (or its MACs, [`Channel::reject`]).
    Refused(RefusalReason),
    /// The peer refused our hello.
    PeerRefused(RefusalReason),
    /// The established peer sent nothing for [`DEAD_NS`].
    Silent,
}

/// Why a frame was not sent; each has a counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxError {
    /// The wire is not established.
    NotEstablished,
    /// No room now: keep the frame (backpressure) or drop it; the peer kicks
    /// once room is free.
    Full,
    /// Longer than [`MAX_FRAME_LEN`].
    TooLarge,
    /// The metadata uses what was not agreed.
    Refused(FrameError),
    /// The metadata does not fit the frame (checksum field outside it, GSO
    /// without a partial checksum, ...), or the length is 0 or beyond the
    /// reservation.
    Invalid,
    /// The wire is broken (see [`Channel::poll`]).
    Lost,
}

/// A frame handed out by [`Channel::recv`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxFrame {
    rec: Record,
    /// Its metadata, checked against the agreement.
    pub meta: FrameMeta,
}

impl RxFrame {
    /// The frame's length (Ethernet header to the end of the L2 payload).
    pub fn len(&self) -> usize {
        self.rec.len() - FRAME_HEADER_LEN
    }

    /// Never: a frame holds at least an Ethernet header.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Room for one frame; see [`Channel::tx_reserve`].
#[derive(Debug, PartialEq, Eq)]
#[must_use = "commit or cancel the frame"]
pub struct TxSlot {
    slot: Slot,
}

impl TxSlot {
    /// The frame bytes reserved.
    pub fn capacity(&self) -> usize {
        self.slot.capacity() - FRAME_HEADER_LEN
    }
}

/// What [`Channel::poll`] changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PollOutcome {
    /// Negotiation just finished.
    pub established: bool,
    /// The wire must be set up again (the domain tears it down).
    pub lost: Option<Lost>,
    /// Kick the peer.
    pub notify: bool,
}

/// One wire end carrying wire-proto messages.
pub struct Channel<M: WireMemory> {
    me: Identity,
    wire: WireId,
    macs: heapless::Vec<MacAddr, { wire_proto::MAX_MACS }>,
    allowed: Option<heapless::Vec<MacAddr, { wire_proto::MAX_MACS }>>,
    end: Option<WireEnd<M>>,
    nego: Option<Negotiator>,
    control: Deque<heapless::Vec<u8, CONTROL_MAX>, CONTROL_QUEUE>,
    lost: Option<Lost>,
    last_rx_ns: u64,
    last_tx_ns: u64,
    hello_ns: u64,
    keepalive_seq: u32,
    /// What went through, and what was dropped and why.
    pub counters: ChannelCounters,
}

impl<M: WireMemory> Channel<M> {
    /// A channel for wire `wire`, not yet attached.
    pub fn new(wire: u32, me: Identity) -> Self {
        Self {
            me,
            wire: WireId(wire),
            macs: heapless::Vec::new(),
            allowed: None,
            end: None,
            nego: None,
            control: Deque::new(),
            lost: None,
            last_rx_ns: 0,
            last_tx_ns: 0,
            hello_ns: 0,
            keepalive_seq: 0,
            counters: ChannelCounters::default(),
        }
    }

    /// The controller's wire id.
    pub fn wire(&self) -> u32 {
        self.wire.0
    }

    /// The MACs our hello announces (a Spike: its guests'; a Corm: none; a
    /// Spike sends no hello before it has one). A change after the hello
    /// went out renegotiates: the wire is set up again ([`Lost::Negotiation`]).
    pub fn announce(&mut self, macs: &[[u8; 6]]) {
        let new: heapless::Vec<MacAddr, { wire_proto::MAX_MACS }> = macs
            .iter()
            .take(wire_proto::MAX_MACS)
            .map(|m| MacAddr(*m))
            .collect();
        if new == self.macs {
            return;
        }
        self.macs = new;
        if self.nego.is_some() {
            self.lose(Lost::Negotiation);
        }
    }

    /// The MACs the peer may announce (`None`: any). The controller names
    /// them for a Corm's endpoints; a hello claiming others is refused
    /// ([`RefusalReason::MacNotAllowed`]). A change renegotiates.
    pub fn allow_macs(&mut self, macs: Option<&[[u8; 6]]>) {
        let new = macs.map(|m| {
            m.iter()
                .take(wire_proto::MAX_MACS)
                .map(|m| MacAddr(*m))
                .collect::<heapless::Vec<_, { wire_proto::MAX_MACS }>>()
        });
        if new == self.allowed {
            return;
        }
        self.allowed = new;
        if self.nego.is_some() {
            self.lose(Lost::Negotiation);
        }
    }

    /// Refuses the established peer after the fact (the switch would not
    /// take its MACs): the wire is set up again, after the set-up's backoff.
    pub fn reject(&mut self, reason: RefusalReason) {
        if self.end.is_some() {
            self.counters.hellos_refused += 1;
            self.lose(Lost::Refused(reason));
        }
    }

    /// The offloads our hello offers (a Spike: what all its guests take). A
    /// change after the hello went out renegotiates, like [`announce`](Self::announce).
    pub fn offer(&mut self, features: Features) {
        if features == self.me.features {
            return;
        }
        self.me.features = features;
        if self.nego.is_some() {
            self.lose(Lost::Negotiation);
        }
    }

    /// The ring end the set-up produced: negotiation starts at the next
    /// [`poll`](Self::poll).
    pub fn attach(&mut self, end: WireEnd<M>, now_ns: u64) {
        self.end = Some(end);
        self.nego = None;
        self.control.clear();
        self.lost = None;
        self.last_rx_ns = now_ns;
        self.last_tx_ns = now_ns;
    }

    /// The ring end, taken back (the set-up tears it down).
    pub fn detach(&mut self) -> Option<WireEnd<M>> {
        self.nego = None;
        self.control.clear();
        self.lost = None;
        self.end.take()
    }

    /// The set-up is about to take the end back because the peer moved on
    /// (its xenstore state changed): reads the control records the peer
    /// published before it closed, and returns why the wire is lost if they
    /// say so and nothing had said so before. A refusal is queued, pushed and
    /// then followed at once by the refuser's teardown, so its xenstore state
    /// change often arrives in the same wake-up as the kick for the record;
    /// without this read the refused end would restart without knowing why.
    pub fn drain_control(&mut self, now_ns: u64) -> Option<Lost> {
        if self.end.is_none() || self.lost.is_some() {
            return None;
        }
        self.take_control(now_ns);
        self.lost
    }

    /// Whether a ring end is attached.
    pub fn is_attached(&self) -> bool {
        self.end.is_some()
    }

    /// Attached and negotiated: frames may flow.
    pub fn is_established(&self) -> bool {
        self.end.is_some()
            && self.lost.is_none()
            && self.nego.as_ref().is_some_and(Negotiator::is_established)
    }

    /// The agreed parameters, once established.
    pub fn params(&self) -> Option<&Params> {
        self.nego.as_ref().and_then(Negotiator::params)
    }

    /// The MACs the peer announced in its hello (a Spike: its guests').
    pub fn peer_macs(&self) -> impl Iterator<Item = [u8; 6]> + '_ {
        self.nego
            .as_ref()
            .and_then(Negotiator::peer)
            .into_iter()
            .flat_map(|h| h.macs.iter().map(|m| m.0))
    }

    /// Why the wire must be set up again, if it must.
    pub fn lost(&self) -> Option<Lost> {
        self.lost
    }

    fn lose(&mut self, why: Lost) {
        if self.lost.is_none() {
            self.lost = Some(why);
            self.counters.wire_errors += 1;
        }
    }

    fn queue_control(&mut self, msg: &Message<'_>) {
        let mut rec = heapless::Vec::<u8, CONTROL_MAX>::new();
        let _ = rec.resize(CONTROL_MAX, 0);
        match msg.encode(&mut rec) {
            Ok(n) => rec.truncate(n),
            Err(_) => return,
        }
        // One of each is enough: a peer repeating its hello while our ring
        // is full gets one pending ack, not a queue of them.
        if self.control.iter().any(|r| *r == rec) {
            return;
        }
        if self.control.push_back(rec).is_err() {
            self.counters.tx_control_dropped += 1;
        }
    }

    /// Sends queued control records; false once the ring is full.
    fn push_control(&mut self, now_ns: u64) {
        let Some(end) = self.end.as_mut() else { return };
        while let Some(rec) = self.control.front() {
            match end.tx().send_record(rec) {
                Ok(()) => {
                    self.control.pop_front();
                    self.last_tx_ns = now_ns;
                }
                Err(SendError::Full) => break,
                Err(SendError::TooLarge { .. }) => {
                    self.control.pop_front();
                }
                Err(SendError::Wire(e)) => {
                    self.lose(Lost::Wire(e));
                    break;
                }
            }
        }
    }

    /// Sends the hello once attached and there is something to announce (a
    /// Spike waits for its guest's MAC), again while unanswered, and
    /// keepalives once established; notices a silent or broken peer. Call on
    /// every wake-up of the wire (its port, a timer).
    pub fn poll(&mut self, now_ns: u64) -> PollOutcome {
        let mut out = PollOutcome::default();
        if self.end.is_none() || self.lost.is_some() {
            out.lost = self.lost;
            return out;
        }
        let spike = self.me.role == Role::Spike;
        if self.nego.is_none() && (!spike || !self.macs.is_empty()) {
            let mut hello = Hello::new(
                self.me.role,
                self.wire,
                EndpointId(self.me.endpoint),
                self.me.mtu,
                self.me.features,
            );
            for m in &self.macs {
                let _ = hello.push_mac(*m);
            }
            let mut nego = Negotiator::new(hello);
            if let Some(ok) = &self.allowed {
                nego = nego.allow_macs(ok);
            }
            self.queue_control(&nego.hello());
            self.nego = Some(nego);
            self.hello_ns = now_ns;
        }
        let was = self.is_established();
        // Control records at the head of the ring are handled here; frames
        // wait for the data plane's `recv`.
        self.take_control(now_ns);
        match &self.nego {
            Some(n) if n.is_established() => {
                if now_ns.saturating_sub(self.last_tx_ns) >= KEEPALIVE_NS {
                    self.keepalive_seq = self.keepalive_seq.wrapping_add(1);
                    let k = Message::Keepalive(Keepalive {
                        seq: self.keepalive_seq,
                    });
                    self.queue_control(&k);
                    self.counters.keepalives_sent += 1;
                }
                if now_ns.saturating_sub(self.last_rx_ns) >= DEAD_NS {
                    self.lose(Lost::Silent);
                }
            }
            Some(n) if !n.is_failed() && now_ns.saturating_sub(self.hello_ns) >= HELLO_RETRY_NS => {
                let hello = n.hello();
                self.queue_control(&hello);
                self.hello_ns = now_ns;
            }
            _ => {}
        }
        out.notify = self.tx_flush(now_ns);
        if let Some(end) = self.end.as_mut() {
            let done = end.rx().rx_done();
            out.notify |= done.notify;
        }
        out.established = !was && self.is_established();
        out.lost = self.lost;
        out
    }

    /// Handles control records until the next frame (left in the ring).
    fn take_control(&mut self, now_ns: u64) {
        for _ in 0..CONTROL_QUEUE * 4 {
            let Some(end) = self.end.as_mut() else { return };
            let mut rx = end.rx();
            let rec = match rx.next() {
                Ok(Some(r)) => r,
                Ok(None) => return,
                Err(RecvError::Wire(e)) => return self.lose(Lost::Wire(e)),
                Err(RecvError::BufferTooSmall { .. }) => return,
            };
            let mut kind = [0u8];
            rx.read(&rec, 0, &mut kind);
            if kind[0] == wire_proto::MessageKind::Frame as u8 {
                rx.rewind();
                return;
            }
            let mut buf = [0u8; CONTROL_MAX];
            let n = rec.len().min(CONTROL_MAX);
            rx.read(&rec, 0, &mut buf[..n]);
            rx.release(&rec);
            self.last_rx_ns = now_ns;
            self.on_control(&buf[..n]);
            if self.lost.is_some() {
                return;
            }
        }
    }

    fn on_control(&mut self, bytes: &[u8]) {
        let msg = match Message::decode(bytes) {
            Ok(m) => m,
            Err(DecodeError::UnknownVersion(v)) => {
                if let Some(n) = self.nego.as_mut() {
                    let step = n.on_incompatible_hello(v);
                    self.on_step(step);
                }
                return;
            }
            Err(_) => {
                self.counters.rx_bad_message += 1;
                return;
            }
        };
        let Some(nego) = self.nego.as_mut() else {
            // No hello of ours yet (a Spike without a guest): nothing to
            // negotiate with; the peer sends its hello again.
            return;
        };
        match nego.on_message(msg) {
            Ok(step) => self.on_step(step),
            Err(NegotiationError::PeerRefused(r)) => self.lose(Lost::PeerRefused(r)),
            Err(e) if e.is_fatal() => self.lose(Lost::Negotiation),
            Err(_) => self.counters.rx_not_established += 1,
        }
    }

    fn on_step(&mut self, step: Step<'_>) {
        match step {
            Step::Reply(ack) => self.queue_control(&Message::HelloAck(ack)),
            Step::Refuse { reply, reason } => {
                self.queue_control(&Message::HelloAck(reply));
                self.counters.hellos_refused += 1;
                self.lose(Lost::Refused(reason));
            }
            Step::PeerClosed(_) => self.lose(Lost::Negotiation),
            Step::Established(_) | Step::Nothing | Step::Keepalive(_) | Step::Frame(_) => {}
        }
    }

    /// The next frame from the peer, control records before it handled on
    /// the way; `None` when there is none (or the wire is not usable). A
    /// frame that breaks the agreement or is malformed is released and
    /// counted, never returned.
    pub fn recv(&mut self, now_ns: u64) -> Option<RxFrame> {
        // Bounded: a ring of bad records costs one call this many, then
        // `None`; `rx_finish` says `more`, and the caller comes back.
        for _ in 0..RECV_SKIP_MAX {
            if self.lost.is_some() {
                return None;
            }
            let end = self.end.as_mut()?;
            let mut rx = end.rx();
            let rec = match rx.next() {
                Ok(Some(r)) => r,
                Ok(None) => return None,
                Err(RecvError::Wire(e)) => {
                    self.lose(Lost::Wire(e));
                    return None;
                }
                Err(RecvError::BufferTooSmall { .. }) => return None,
            };
            self.last_rx_ns = now_ns;
            let mut hdr = [0u8; FRAME_HEADER_LEN];
            if rec.len() < FRAME_HEADER_LEN {
                // Too short to be a frame: a control message.
                let mut buf = [0u8; FRAME_HEADER_LEN];
                rx.read(&rec, 0, &mut buf[..rec.len()]);
                rx.release(&rec);
                self.on_control(&buf[..rec.len()]);
                continue;
            }
            rx.read(&rec, 0, &mut hdr);
            if hdr[0] != wire_proto::MessageKind::Frame as u8 {
                let mut buf = [0u8; CONTROL_MAX];
                let n = rec.len().min(CONTROL_MAX);
                rx.read(&rec, 0, &mut buf[..n]);
                rx.release(&rec);
                if rec.len() > CONTROL_MAX {
                    self.counters.rx_bad_message += 1;
                } else {
                    self.on_control(&buf[..n]);
                }
                continue;
            }
            let len = rec.len() - FRAME_HEADER_LEN;
            let meta = match frame::parse_header(&hdr) {
                Ok(m) if m.check(len).is_ok() => m,
                _ => {
                    rx.release(&rec);
                    self.counters.rx_bad_message += 1;
                    continue;
                }
            };
            let Some(params) = self.nego.as_ref().and_then(Negotiator::params) else {
                rx.release(&rec);
                self.counters.rx_not_established += 1;
                continue;
            };
            if params.check_meta(&meta, len).is_err() {
                rx.release(&rec);
                self.counters.rx_refused_frame += 1;
                continue;
            }
            self.counters.rx_frames += 1;
            self.counters.rx_bytes += len as u64;
            return Some(RxFrame { rec, meta });
        }
        None
    }

    /// Copies frame bytes `at..at + dst.len()` of `f` into private memory.
    ///
    /// # Panics
    /// If the range is not inside the frame, or no end is attached (a caller
    /// bug: frames come from an attached channel).
    pub fn rx_read(&mut self, f: &RxFrame, at: usize, dst: &mut [u8]) {
        let end = self.end.as_mut().expect("frame from an attached channel");
        end.rx().read(&f.rec, FRAME_HEADER_LEN + at, dst);
    }

    /// Frame bytes `at..` of `f` named in place, for one copy elsewhere
    /// (see [`RingBytes::as_slice`]).
    pub fn rx_bytes(&mut self, f: &RxFrame, at: usize) -> RingBytes {
        let end = self.end.as_mut().expect("frame from an attached channel");
        let len = f.len().saturating_sub(at);
        end.rx()
            .bytes(&f.rec, FRAME_HEADER_LEN + at.min(f.len()), len)
    }

    /// Frame byte 0's offset in the receive direction's data area (a grant
    /// copy source: page `offset / 4096` of the ring, at `offset % 4096`).
    pub fn rx_offset(&mut self, f: &RxFrame) -> usize {
        let end = self.end.as_mut().expect("frame from an attached channel");
        end.rx().body_offset(&f.rec) + FRAME_HEADER_LEN
    }

    /// Releases `f` and every frame handed out before it.
    pub fn rx_release(&mut self, f: &RxFrame) {
        if let Some(end) = self.end.as_mut() {
            end.rx().release(&f.rec);
        }
    }

    /// Puts back the frames handed out but not released.
    pub fn rx_rewind(&mut self) {
        if let Some(end) = self.end.as_mut() {
            end.rx().rewind();
        }
    }

    /// Ends a receive batch (see [`Consumer::rx_done`](crate::Consumer::rx_done)).
    pub fn rx_finish(&mut self) -> RxDone {
        match self.end.as_mut() {
            Some(end) => end.rx().rx_done(),
            None => RxDone {
                notify: false,
                more: false,
            },
        }
    }

    /// Reserves room for a frame of up to `len` bytes.
    pub fn tx_reserve(&mut self, len: usize) -> Result<TxSlot, TxError> {
        if self.lost.is_some() {
            return Err(TxError::Lost);
        }
        if !self.is_established() {
            self.counters.tx_not_established += 1;
            return Err(TxError::NotEstablished);
        }
        if len > MAX_FRAME_LEN {
            self.counters.tx_too_large += 1;
            return Err(TxError::TooLarge);
        }
        let end = self.end.as_mut().ok_or(TxError::Lost)?;
        match end.tx().reserve(FRAME_HEADER_LEN + len) {
            Ok(slot) => Ok(TxSlot { slot }),
            Err(SendError::Full) => {
                self.counters.tx_ring_full += 1;
                Err(TxError::Full)
            }
            Err(SendError::TooLarge { .. }) => {
                self.counters.tx_too_large += 1;
                Err(TxError::TooLarge)
            }
            Err(SendError::Wire(e)) => {
                self.lose(Lost::Wire(e));
                Err(TxError::Lost)
            }
        }
    }

    /// Frame byte 0's offset in the send direction's data area (a grant copy
    /// target).
    pub fn tx_offset(&mut self, s: &TxSlot) -> usize {
        let end = self.end.as_mut().expect("slot from an attached channel");
        end.tx().body_offset(&s.slot) + FRAME_HEADER_LEN
    }

    /// Copies `bytes` into the frame at `at`.
    ///
    /// # Panics
    /// If the range is not inside the reservation (a caller bug).
    pub fn tx_write(&mut self, s: &TxSlot, at: usize, bytes: &[u8]) {
        let end = self.end.as_mut().expect("slot from an attached channel");
        end.tx().write(&s.slot, FRAME_HEADER_LEN + at, bytes);
    }

    /// The reserved frame bytes, to fill in place.
    ///
    /// # Safety
    /// The peer cannot write our send direction (its pages are granted to it
    /// read-only), and no other view of the slot is used while the slice
    /// lives.
    pub unsafe fn tx_frame_mut(&mut self, s: &TxSlot) -> &mut [u8] {
        let end = self.end.as_mut().expect("slot from an attached channel");
        let mut tx = end.tx();
        // SAFETY: forwarded contract. The slice outlives the `Producer`
        // borrow only in name: it points into the memory `end` owns, which
        // lives as long as `self`, and `&mut self` is held for its lifetime.
        let body = unsafe { tx.body_mut(&s.slot) };
        let (ptr, len) = (body.as_mut_ptr(), body.len());
        // SAFETY: as above.
        unsafe {
            core::slice::from_raw_parts_mut(ptr.add(FRAME_HEADER_LEN), len - FRAME_HEADER_LEN)
        }
    }

    /// Writes the frame header and gives the record its length: `len` frame
    /// bytes (at most the capacity) with metadata `meta`. A frame whose
    /// metadata does not fit it or was not agreed is cancelled and counted.
    pub fn tx_commit(&mut self, s: TxSlot, len: usize, meta: FrameMeta) -> Result<(), TxError> {
        let check = match self.params() {
            None => Err(TxError::NotEstablished),
            Some(_) if len > s.capacity() || meta.check(len).is_err() => Err(TxError::Invalid),
            Some(p) => p.check_meta(&meta, len).map_err(TxError::Refused),
        };
        let Some(end) = self.end.as_mut() else {
            return Err(TxError::Lost);
        };
        let mut tx = end.tx();
        if let Err(e) = check {
            tx.cancel(s.slot);
            self.counters.tx_refused += 1;
            return Err(e);
        }
        tx.write(&s.slot, 0, &frame::emit_header(&meta));
        tx.commit(s.slot, FRAME_HEADER_LEN + len);
        self.counters.tx_frames += 1;
        self.counters.tx_bytes += len as u64;
        Ok(())
    }

    /// Gives up a reservation.
    pub fn tx_cancel(&mut self, s: TxSlot) {
        if let Some(end) = self.end.as_mut() {
            end.tx().cancel(s.slot);
        }
    }

    /// Sends one frame from private memory (reserve, copy, commit).
    pub fn send(&mut self, frame: &[u8], meta: FrameMeta) -> Result<(), TxError> {
        let s = self.tx_reserve(frame.len())?;
        self.tx_write(&s, 0, frame);
        self.tx_commit(s, frame.len(), meta)
    }

    /// Sends queued control records and publishes everything; `true`: kick
    /// the peer.
    pub fn tx_flush(&mut self, now_ns: u64) -> bool {
        self.push_control(now_ns);
        match self.end.as_mut() {
            Some(end) => {
                let mut tx = end.tx();
                if tx.unflushed() > 0 {
                    self.last_tx_ns = now_ns;
                }
                tx.flush()
            }
            None => false,
        }
    }
}
