//! The Spike's data plane: the route of every frame, in one place.
//!
//! ```text
//! guest netfront TX ring ──GNTTABOP_copy: guest page → wire ring page──▶ Corm
//!   (headers: guest page → private copy, checked, then written into the slot)
//! Corm ──wire ring──GNTTABOP_copy: wire ring page → guest rx buffer──▶ guest
//! ```
//!
//! One copy per byte each way, done by Xen between the guest's pages and the
//! wire's: the Spike's own memory only ever holds frame headers. Sans-IO:
//! the domain maps the wire and the guests' rings, and hands them here with
//! a [`GrantCopier`]; host tests use heap rings and a fake Xen.

use local_wire::channel::{Channel, RxFrame as WireFrame, TxError, TxSlot};
use local_wire::{CopyEnd, RingRefs, Side, WireMemory};

use crate::netback::{
    Fatal, FrameMeta, GrantCopier, LocalPages, RxFrame, RxPlan, RxSource, SharedPage, SinkError,
    TxPass, TxSink, Vif,
};

/// How long a guest may leave a unicast frame for it waiting (no rx buffers
/// posted) before its frames are dropped instead of holding up the wire
/// (Linux netback drains after `rx_drain_timeout_msecs`, 10 s).
pub const RX_STALL_NS: u64 = 1_000_000_000;

/// The wire to the Corm (or another Spike), as the data plane uses it.
pub struct Uplink<M: WireMemory> {
    /// The protocol end.
    pub channel: Channel<M>,
    /// Where the rings' pages are (for grant copies), while attached.
    pub refs: Option<RingRefs>,
    /// Our side of the wire.
    pub side: Side,
    /// The peer must be notified.
    pub kick: bool,
    /// What the wire's frames met on the way to the guests.
    pub counters: UplinkCounters,
}

xs_schema::counters! {
    /// Frames from the wire that reached no guest.
    pub struct UplinkCounters {
        /// Unicast frames for a MAC no connected vif has.
        rx_no_vif,
        /// Frames left in the wire because a guest had no buffers (waits).
        rx_waits,
    }
}

impl<M: WireMemory> Uplink<M> {
    /// A wire on `side`, not attached yet.
    pub fn new(channel: Channel<M>, side: Side) -> Self {
        Self {
            channel,
            refs: None,
            side,
            kick: false,
            counters: UplinkCounters::default(),
        }
    }
}

/// The wire as the netback's [`TxSink`]: room in its ring, filled by grant
/// copy from the guest's pages.
struct WireSink<'a, M: WireMemory> {
    ch: &'a mut Channel<M>,
    refs: &'a RingRefs,
    side: Side,
}

impl<M: WireMemory> TxSink for WireSink<'_, M> {
    type Slot = TxSlot;

    fn reserve(&mut self, len: usize) -> Result<TxSlot, SinkError> {
        match self.ch.tx_reserve(len) {
            Ok(s) => Ok(s),
            Err(TxError::Full) => Err(SinkError::Full),
            Err(_) => Err(SinkError::Refused),
        }
    }

    fn target(&mut self, slot: &TxSlot, at: usize) -> Option<CopyEnd> {
        let off = self.ch.tx_offset(slot) + at;
        self.refs.at(self.side.tx(), off)
    }

    fn commit(&mut self, slot: TxSlot, header: &[u8], len: usize, meta: FrameMeta) -> bool {
        self.ch.tx_write(&slot, 0, header);
        self.ch.tx_commit(slot, len, meta).is_ok()
    }

    fn cancel(&mut self, slot: TxSlot) {
        self.ch.tx_cancel(slot);
    }
}

/// No wire: every frame is refused (dropped and answered, so the guest's
/// ring keeps moving, as a Linux netback without its bridge).
struct Refuse;

impl TxSink for Refuse {
    type Slot = ();

    fn reserve(&mut self, _: usize) -> Result<(), SinkError> {
        Err(SinkError::Refused)
    }

    fn target(&mut self, _: &(), _: usize) -> Option<CopyEnd> {
        None
    }

    fn commit(&mut self, _: (), _: &[u8], _: usize, _: FrameMeta) -> bool {
        false
    }

    fn cancel(&mut self, _: ()) {}
}

/// One wire frame as the netback's [`RxSource`].
struct WireSource<'a, M: WireMemory> {
    ch: &'a mut Channel<M>,
    refs: &'a RingRefs,
    side: Side,
    frame: WireFrame,
    base: usize,
}

impl<M: WireMemory> RxSource for WireSource<'_, M> {
    fn origin(&mut self, at: usize) -> Option<CopyEnd> {
        self.refs.at(self.side.rx(), self.base + at)
    }

    fn read(&mut self, at: usize, dst: &mut [u8]) {
        self.ch.rx_read(&self.frame, at, dst);
    }
}

/// A connected guest vif, as the data plane serves it.
pub struct Guest<'a, P: SharedPage> {
    pub vif: &'a mut Vif<P>,
    /// Its MAC (unicast frames for it).
    pub mac: [u8; 6],
    /// Header pages for its TX passes.
    pub pool: &'a mut LocalPages,
    /// Since when a frame for it waits for rx buffers.
    pub stalled_since: &'a mut Option<u64>,
    /// It must be notified.
    pub kick: bool,
    /// It broke the protocol: disconnect it.
    pub fatal: Option<Fatal>,
}

/// What a pass left to do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Work {
    /// Frames are left for another pass now (a budget ran out).
    pub more: bool,
    /// A guest's frames wait for TX credit (its vif `rate`) until then: run
    /// a pass at that time (a timer), not before.
    pub wake_at: Option<u64>,
}

impl Work {
    /// What is left after this work and `other`.
    pub fn merge(&mut self, other: Work) {
        self.more |= other.more;
        self.wake_at = match (self.wake_at, other.wake_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}

/// Delivers up to `budget` frames from the wire to the guests they are for,
/// in one grant-copy batch per guest, and releases them from the ring. A
/// unicast frame for a guest without buffers stays in the ring (with every
/// frame behind it) until the guest posts some, or until it has waited
/// [`RX_STALL_NS`]: then it is dropped and counted.
pub fn wire_to_guests<M: WireMemory, P: SharedPage>(
    up: &mut Uplink<M>,
    guests: &mut [Guest<'_, P>],
    copier: &mut impl GrantCopier,
    now_ns: u64,
    budget: usize,
) -> Work {
    let mut work = Work::default();
    let Some(refs) = up.refs.as_ref() else {
        return work;
    };
    let mut last: Option<WireFrame> = None;
    let mut taken = 0;
    let mut waiting = false;
    'frames: while taken < budget {
        let Some(f) = up.channel.recv(now_ns) else {
            break;
        };
        taken += 1;
        let mut dst = [0u8; 6];
        up.channel.rx_read(&f, 0, &mut dst);
        let group = dst[0] & 1 != 0;
        let frame = RxFrame {
            len: f.len(),
            meta: f.meta,
        };
        let base = up.channel.rx_offset(&f);
        let mut matched = false;
        for g in guests.iter_mut().filter(|g| g.fatal.is_none()) {
            if !group && g.mac != dst {
                continue;
            }
            matched = true;
            let mut src = WireSource {
                ch: &mut up.channel,
                refs,
                side: up.side,
                frame: f,
                base,
            };
            let mut plan = g.vif.rx_plan(&frame, &mut src);
            if plan == Ok(RxPlan::Later) {
                // Its batch is full: deliver it, then plan this frame again.
                commit(g, copier);
                plan = g.vif.rx_plan(&frame, &mut src);
            }
            match plan {
                Ok(RxPlan::Planned | RxPlan::Dropped(_)) => *g.stalled_since = None,
                Ok(RxPlan::NoRoom | RxPlan::Later) => {
                    let since = *g.stalled_since.get_or_insert(now_ns);
                    if group || now_ns.saturating_sub(since) >= RX_STALL_NS {
                        g.vif.rx_dropped_no_buffers();
                    } else {
                        // Leave it (and what follows) in the ring.
                        up.counters.rx_waits += 1;
                        waiting = true;
                        break 'frames;
                    }
                }
                Err(e) => g.fatal = Some(e),
            }
        }
        if !matched && !group {
            up.counters.rx_no_vif += 1;
        }
        last = Some(f);
    }
    if let Some(l) = last {
        up.channel.rx_release(&l);
    }
    // A frame that waits goes back to the ring, with any taken after it.
    up.channel.rx_rewind();
    for g in guests.iter_mut() {
        commit(g, copier);
    }
    let done = up.channel.rx_finish();
    up.kick |= done.notify;
    // `done.more`: frames arrived while the kick was re-armed: their
    // producer will not kick again, look now (RING_FINAL_CHECK_FOR_REQUESTS).
    // A frame that waits for the guest does not count: its kick comes from
    // the guest.
    work.more = taken == budget || (done.more && !waiting);
    work
}

fn commit<P: SharedPage>(g: &mut Guest<'_, P>, copier: &mut impl GrantCopier) {
    // Even with nothing planned: it ends the batch (the next one reads the
    // guest's requests afresh).
    if g.fatal.is_some() {
        return;
    }
    match g.vif.rx_commit(copier) {
        Ok(p) => g.kick |= p.notify,
        Err(e) => g.fatal = Some(e),
    }
}

/// Runs up to `passes` TX passes of one guest into the wire (publish with
/// `tx_flush` after the last guest). Returns whether its ring still has work
/// for now, or at what time ([`Work::wake_at`]: its TX credit is spent);
/// frames that wait for room in the wire go when the wire kicks.
pub fn guest_to_wire<M: WireMemory, P: SharedPage>(
    up: &mut Uplink<M>,
    g: &mut Guest<'_, P>,
    copier: &mut impl GrantCopier,
    passes: usize,
    now_ns: u64,
) -> Work {
    let mut work = Work::default();
    if g.fatal.is_some() {
        return work;
    }
    let Some(refs) = up.refs.as_ref() else {
        match g.vif.process_tx(copier, g.pool, &mut Refuse, now_ns) {
            Ok(p) => {
                g.kick |= p.notify;
                work.more = p.more;
                work.wake_at = p.credit_wait;
            }
            Err(e) => g.fatal = Some(e),
        }
        return work;
    };
    for _ in 0..passes {
        let mut sink = WireSink {
            ch: &mut up.channel,
            refs,
            side: up.side,
        };
        match g.vif.process_tx(copier, g.pool, &mut sink, now_ns) {
            Ok(TxPass {
                notify,
                more,
                blocked,
                credit_wait,
                ..
            }) => {
                g.kick |= notify;
                if blocked {
                    // The wire's kick brings us back.
                    return work;
                }
                if credit_wait.is_some() {
                    // The credit timer brings us back.
                    work.wake_at = credit_wait;
                    return work;
                }
                if !more && !g.vif.tx_final_check() {
                    return work;
                }
            }
            Err(e) => {
                g.fatal = Some(e);
                return work;
            }
        }
    }
    work.more = true;
    work
}

#[cfg(test)]
mod tests;
