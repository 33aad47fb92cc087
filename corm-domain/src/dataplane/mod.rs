//! The Corm's data plane: the route of every frame, in one place.
//!
//! ```text
//! NIC ──receive (frame lent in its DMA buffer)──▶ switch ──▶ endpoint e: GRO merges it in
//!                                                             place in e's ring slot, or it is
//!                                                             copied once into a slot
//! endpoint e's ring ──private copy of the head──▶ switch ──▶ NIC: head + ring bytes gathered once
//!                                                             into DMA buffers (TSO/checksum by the
//!                                                             NIC, or segments cut from the head)
//!                                                        └─▶ endpoint g: copied once into g's ring
//! ```
//!
//! Sans-IO: the domain (`main.rs`) owns the NIC, the wires' set-up and the
//! event channels, and calls [`Dataplane::from_nic`], [`Dataplane::to_nic`]
//! and [`Dataplane::poll_wires`] on its events, then kicks the endpoints
//! [`Dataplane::take_kicks`] names. Host tests drive the same code over heap
//! rings and a fake NIC.
//!
//! Trust: everything a Spike writes into its ring is hostile. The switch and
//! the offload logic act only on a private copy of a frame's first
//! [`HEADER_COPY_LEN`] bytes, which is also what is sent; the rest is copied
//! once without being interpreted. A frame that does not fit, is refused, or
//! finds a full ring costs that frame and a counter, never the wire.

pub mod counters;
mod gro;
pub mod head;
pub mod tap;
mod tunnel;
pub mod uplink;

/// Room for `len` frame bytes in an endpoint's ring, or why not, counted:
/// full (backpressure: the frame is dropped, the peer is slow) or refused.
fn reserve<M: WireMemory>(
    ch: &mut Channel<M>,
    c: &mut DataplaneCounters,
    len: usize,
) -> Option<local_wire::channel::TxSlot> {
    match ch.tx_reserve(len) {
        Ok(s) => Some(s),
        Err(WireTxError::Full) => {
            c.to_wire_full += 1;
            None
        }
        Err(_) => {
            c.to_wire_dropped += 1;
            None
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;

use alloc::collections::BTreeMap;

use local_wire::channel::{Channel, Identity, Lost, TxError as WireTxError};
use local_wire::WireMemory;
use net_offload::TcpSegment;
use netframe::{Checksum, FrameMeta, HEADER_COPY_LEN, VLAN_HLEN};
use pv_runtime::capture_ring::Direction;

use crate::nic::Nic;
use crate::switch::frame::ETHERTYPE_OFFSET;
use crate::switch::{ConfigError, Egress, EndpointConfig, Port, Switch};
use crate::tunnel::{Rx, Underlay};

pub use counters::DataplaneCounters;
use head::Head;
use tunnel::DeferQueue;
pub use tunnel::DEFERRED_MAX;
use uplink::Sent;

/// Endpoints a Corm offers at most (each costs a wire's rings when wired).
pub const MAX_ENDPOINTS: usize = 64;
/// Copies of one frame: every endpoint plus the uplink.
const MAX_TARGETS: usize = MAX_ENDPOINTS + 1;
/// Transmit descriptors the NIC must have free before an endpoint frame is
/// taken (the most one frame can need: a TSO context plus 33 data
/// descriptors), so a frame is never taken and then left half sent.
const TX_SPACE_PER_FRAME: usize = 34;

/// How one copy of a frame leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Out {
    AsIs,
    Tag(u16),
    Untag,
}

/// Where a switched frame goes.
type Targets = heapless::Vec<(Port, Out), MAX_TARGETS>;

/// One endpoint: a switch port, maybe wired to a Spike.
pub struct Endpoint<M: WireMemory> {
    /// The VLAN it is an access port of (`None`: the untagged segment).
    pub vlan: Option<u16>,
    wire: Option<Wired<M>>,
}

struct Wired<M: WireMemory> {
    id: u32,
    channel: Channel<M>,
    /// The switch holds the peer's MACs for this endpoint.
    registered: bool,
    /// The peer must be notified.
    kick: bool,
}

/// Something the domain reports (console, status).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The wire is established and the peer's MACs registered.
    Up { endpoint: u16, wire: u32 },
    /// The wire went down: the set-up must start over.
    Down { endpoint: u16, wire: u32, why: Lost },
    /// The peer's MACs were refused (taken by another endpoint, invalid).
    Refused {
        endpoint: u16,
        wire: u32,
        err: ConfigError,
    },
}

/// A merge being built in an endpoint's ring slot.
struct Pending {
    endpoint: u16,
    slot: local_wire::channel::TxSlot,
    merge: net_offload::Merge,
}

/// The switch, the endpoints' wires and the frames between them and the NIC.
pub struct Dataplane<M: WireMemory> {
    /// The learning switch.
    pub switch: Switch,
    endpoints: BTreeMap<u16, Endpoint<M>>,
    pending: Option<Pending>,
    /// Endpoint served first by the next `to_nic` (round robin).
    next_first: u16,
    /// What happened to frames beyond the switch's and the NIC's counters.
    pub counters: DataplaneCounters,
    /// The Corm's underlay address and tunnels, if it has one.
    underlay: Option<Underlay>,
    /// Frames for the NIC from its own receive batch (bounded).
    deferred: DeferQueue,
    /// Where tunnel wires' frames are built and sealed (sized once).
    sealing: alloc::vec::Vec<u8>,
    /// The capture tap, if an endpoint is tapped.
    tap: Option<alloc::boxed::Box<dyn tap::Tap>>,
    /// The time of the batch being forwarded (what the tap stamps).
    batch_ns: u64,
}

impl<M: WireMemory> Dataplane<M> {
    /// A data plane around `switch`, with no endpoints.
    pub fn new(switch: Switch) -> Self {
        Self {
            switch,
            endpoints: BTreeMap::new(),
            pending: None,
            next_first: 0,
            counters: DataplaneCounters::default(),
            underlay: None,
            deferred: DeferQueue::default(),
            sealing: alloc::vec::Vec::new(),
            tap: None,
            batch_ns: 0,
        }
    }

    /// Adds endpoint `id` (no MACs until a wire's peer announces them).
    pub fn add_endpoint(&mut self, id: u16, vlan: Option<u16>) -> Result<(), ConfigError> {
        let cfg = EndpointConfig {
            vlan,
            macs: heapless::Vec::new(),
        };
        self.switch.add_endpoint(id, cfg)?;
        self.endpoints.insert(id, Endpoint { vlan, wire: None });
        Ok(())
    }

    /// The endpoints, by id.
    pub fn endpoints(&self) -> impl Iterator<Item = (u16, &Endpoint<M>)> + '_ {
        self.endpoints.iter().map(|(id, e)| (*id, e))
    }

    /// The wire serving endpoint `id`, and whether its peer's MACs are
    /// registered (the endpoint is up).
    pub fn wire_of(&self, id: u16) -> Option<(u32, bool)> {
        let w = self.endpoints.get(&id)?.wire.as_ref()?;
        Some((w.id, w.registered))
    }

    /// Every wire's id and counters.
    pub fn wire_counters(
        &self,
    ) -> impl Iterator<Item = (u32, &local_wire::channel::ChannelCounters)> + '_ {
        self.endpoints
            .values()
            .filter_map(|e| e.wire.as_ref())
            .map(|w| (w.id, &w.channel.counters))
    }

    /// Plugs wire `wire` into endpoint `id` (its channel not yet attached);
    /// `false` if there is no such endpoint or it is already wired.
    pub fn plug(&mut self, id: u16, wire: u32, me: Identity) -> bool {
        if self.is_tunnel(id) {
            return false;
        }
        match self.endpoints.get_mut(&id) {
            Some(e) if e.wire.is_none() => {
                e.wire = Some(Wired {
                    id: wire,
                    channel: Channel::new(wire, me),
                    registered: false,
                    kick: false,
                });
                true
            }
            _ => false,
        }
    }

    /// Unplugs endpoint `id`'s wire, withdrawing its MACs; returns the
    /// channel (to detach its end).
    pub fn unplug(&mut self, id: u16) -> Option<Channel<M>> {
        self.flush_gro();
        self.withdraw(id);
        self.endpoints.get_mut(&id)?.wire.take().map(|w| w.channel)
    }

    /// Endpoint `id`'s channel, for the set-up to attach or detach its end.
    pub fn channel(&mut self, id: u16) -> Option<&mut Channel<M>> {
        if self.pending.as_ref().is_some_and(|p| p.endpoint == id) {
            self.flush_gro();
        }
        self.endpoints
            .get_mut(&id)?
            .wire
            .as_mut()
            .map(|w| &mut w.channel)
    }

    fn withdraw(&mut self, id: u16) -> bool {
        let Some(e) = self.endpoints.get_mut(&id) else {
            return false;
        };
        let Some(w) = e.wire.as_mut().filter(|w| w.registered) else {
            return false;
        };
        w.registered = false;
        let cfg = EndpointConfig {
            vlan: e.vlan,
            macs: heapless::Vec::new(),
        };
        let _ = self.switch.reconfigure_endpoint(id, cfg);
        true
    }

    /// Runs every wire's negotiation and keepalives and keeps the switch's
    /// registrations in line: the peer's MACs while established, none
    /// otherwise. Call on every wake-up.
    pub fn poll_wires(&mut self, now_ns: u64, events: &mut dyn FnMut(Event)) {
        let ids: heapless::Vec<u16, { MAX_ENDPOINTS }> =
            self.endpoints.keys().copied().take(MAX_ENDPOINTS).collect();
        for id in ids {
            let Some(e) = self.endpoints.get_mut(&id) else {
                continue;
            };
            let vlan = e.vlan;
            let Some(w) = e.wire.as_mut() else { continue };
            let out = w.channel.poll(now_ns);
            w.kick |= out.notify;
            let wire = w.id;
            if w.channel.is_established() && !w.registered {
                let mut macs = heapless::Vec::new();
                for m in w.channel.peer_macs() {
                    let _ = macs.push(m);
                }
                match self
                    .switch
                    .reconfigure_endpoint(id, EndpointConfig { vlan, macs })
                {
                    Ok(()) => {
                        w.registered = true;
                        events(Event::Up { endpoint: id, wire });
                    }
                    Err(err) => {
                        // Counted, and the wire set up again after its
                        // backoff: never a refusal per loop iteration.
                        w.channel.reject(wire_proto::RefusalReason::MacNotAllowed);
                        events(Event::Refused {
                            endpoint: id,
                            wire,
                            err,
                        })
                    }
                }
            }
            if let Some(why) = out.lost {
                self.withdraw(id);
                events(Event::Down {
                    endpoint: id,
                    wire,
                    why,
                });
            } else if !self.wired(id).is_some_and(|w| w.channel.is_established()) {
                self.withdraw(id);
            }
        }
    }

    fn wired(&mut self, id: u16) -> Option<&mut Wired<M>> {
        self.endpoints.get_mut(&id)?.wire.as_mut()
    }

    /// Calls `kick` for every endpoint whose peer must be notified.
    pub fn take_kicks(&mut self, kick: &mut dyn FnMut(u16)) {
        for (id, e) in self.endpoints.iter_mut() {
            if let Some(w) = e.wire.as_mut() {
                if core::mem::take(&mut w.kick) {
                    kick(*id);
                }
            }
        }
    }

    /// Switches one frame: where its copies go.
    fn decide(&mut self, from: Port, frame: &[u8], now_ns: u64) -> Targets {
        let mut t = Targets::new();
        self.switch.ingress(from, frame, now_ns, &mut |port, eg| {
            let out = match eg {
                Egress::AsIs(_) => Out::AsIs,
                Egress::Tagged { vid, .. } => Out::Tag(vid),
                Egress::Untagged { .. } => Out::Untag,
            };
            let _ = t.push((port, out));
        });
        t
    }

    /// Takes up to `budget` frames from the NIC and switches them to the
    /// endpoints; returns how many it took (fewer than `budget`: drained).
    pub fn from_nic(&mut self, nic: &mut dyn Nic, budget: usize, now_ns: u64) -> usize {
        self.batch_ns = now_ns;
        let got = nic.receive(budget, &mut |frame| self.nic_frame(frame, now_ns));
        self.flush_gro();
        self.flush_deferred(nic, now_ns);
        nic.flush_tx();
        self.flush_wires();
        got
    }

    fn nic_frame(&mut self, frame: &mut [u8], now_ns: u64) {
        if let Some(u) = self.underlay.as_mut() {
            let (q, c) = (&mut self.deferred, &mut self.counters);
            let rx = u.receive(frame, now_ns, &mut |b| {
                tunnel::defer(q, c, Port::Uplink, Out::AsIs, b);
            });
            match rx {
                Rx::Foreign => {}
                Rx::Consumed => return,
                Rx::Inner { endpoint, inner } => {
                    if let Some(inner) = frame.get(inner) {
                        self.tunnel_frame(endpoint, inner, now_ns);
                    }
                    return;
                }
            }
        }
        let targets = self.decide(Port::Uplink, frame, now_ns);
        if targets.is_empty() {
            return;
        }
        // A tagged uplink frame goes to access ports of its VLAN only: strip
        // the tag in place, in the DMA buffer.
        let frame: &mut [u8] = if targets.iter().any(|(_, o)| *o == Out::Untag) {
            frame.copy_within(..ETHERTYPE_OFFSET, VLAN_HLEN);
            &mut frame[VLAN_HLEN..]
        } else {
            frame
        };
        if let [(Port::Endpoint(e), _)] = *targets.as_slice() {
            if !self.is_tunnel(e) {
                self.gro_push(e, frame);
                return;
            }
        }
        self.flush_gro();
        let meta = received_meta(TcpSegment::parse(frame));
        for &(port, out) in &targets {
            match port {
                Port::Endpoint(e) if self.is_tunnel(e) => {
                    tunnel::defer(&mut self.deferred, &mut self.counters, port, out, frame)
                }
                Port::Endpoint(e) => self.deliver(e, frame, &[], meta),
                Port::Uplink => {}
            }
        }
    }

    /// Copies a frame (`first` then `rest`) into endpoint `e`'s ring.
    fn deliver(&mut self, e: u16, first: &[u8], rest: &[u8], meta: FrameMeta) {
        self.tap(e, Direction::ToEndpoint, first, rest);
        let c = &mut self.counters;
        let Some(w) = self.endpoints.get_mut(&e).and_then(|e| e.wire.as_mut()) else {
            c.to_wire_dropped += 1;
            return;
        };
        let len = first.len() + rest.len();
        let Some(slot) = reserve(&mut w.channel, c, len) else {
            return;
        };
        // SAFETY: the Corm is side A of every wire: its send direction is
        // granted read-only to the Spike, which cannot write it.
        let buf = unsafe { w.channel.tx_frame_mut(&slot) };
        buf[..first.len()].copy_from_slice(first);
        buf[first.len()..len].copy_from_slice(rest);
        if w.channel.tx_commit(slot, len, meta).is_err() {
            c.to_wire_dropped += 1;
        }
    }

    /// Publishes what was written into the wires, noting the kicks.
    fn flush_wires(&mut self) {
        for e in self.endpoints.values_mut() {
            if let Some(w) = e.wire.as_mut() {
                // The clock only dates the last send (keepalives); the
                // publication itself needs none.
                w.kick |= w.channel.tx_flush(0);
            }
        }
    }

    /// Takes up to `budget` frames from each endpoint's ring, in turn, and
    /// switches them (to the NIC, to other endpoints). Stops early, leaving
    /// frames in their rings, when the NIC's transmit ring is full; returns
    /// whether frames may be left (call again once the NIC has room or at
    /// the next wake-up). The NIC's doorbell is rung once, at the end
    /// ([`Nic::flush_tx`]), or also when its ring fills up.
    pub fn to_nic(&mut self, nic: &mut dyn Nic, budget: usize, now_ns: u64) -> bool {
        self.batch_ns = now_ns;
        self.flush_gro();
        let ids: heapless::Vec<u16, { MAX_ENDPOINTS }> = self
            .endpoints
            .keys()
            .copied()
            .filter(|&id| id >= self.next_first)
            .chain(
                self.endpoints
                    .keys()
                    .copied()
                    .filter(|&id| id < self.next_first),
            )
            .take(MAX_ENDPOINTS)
            .collect();
        let mut more = false;
        for (i, &id) in ids.iter().enumerate() {
            match self.endpoint_to_nic(nic, id, budget, now_ns) {
                Drain::Empty => {}
                Drain::Budget => more = true,
                Drain::NicFull => {
                    self.counters.nic_backpressure += 1;
                    // Serve this endpoint first next time.
                    self.next_first = ids[i];
                    more = true;
                    break;
                }
            }
        }
        if !more {
            self.next_first = ids.first().map_or(0, |f| f.wrapping_add(1));
        }
        // One doorbell for the whole batch.
        nic.flush_tx();
        self.flush_wires();
        more
    }

    /// Whether the NIC has room for the largest frame; when it has not,
    /// what it holds is handed to the device first (a doorbell mid-batch),
    /// since frames it was not told about can never make room.
    fn nic_has_room(nic: &mut dyn Nic) -> bool {
        if nic.tx_space() >= TX_SPACE_PER_FRAME {
            return true;
        }
        nic.flush_tx();
        nic.tx_space() >= TX_SPACE_PER_FRAME
    }

    fn endpoint_to_nic(&mut self, nic: &mut dyn Nic, e: u16, budget: usize, now_ns: u64) -> Drain {
        let mut drain = Drain::Budget;
        for _ in 0..budget {
            if !Self::nic_has_room(nic) {
                drain = Drain::NicFull;
                break;
            }
            let Some(w) = self.wired(e) else {
                return Drain::Empty;
            };
            let Some(f) = w.channel.recv(now_ns) else {
                drain = Drain::Empty;
                break;
            };
            let mut head = Head::with_len(f.len().min(HEADER_COPY_LEN));
            w.channel.rx_read(&f, 0, head.bytes_mut());
            let tail = w.channel.rx_bytes(&f, head.bytes().len());
            let targets = self.decide(Port::Endpoint(e), head.bytes(), now_ns);
            // SAFETY: `f` is released only after the copies below; they copy
            // the bytes once and act on none of them (the switch and the
            // offloads read `head`, our own copy).
            let tail = unsafe { tail.as_slice() };
            self.tap(e, Direction::FromEndpoint, head.bytes(), tail);
            for &(port, out) in &targets {
                match port {
                    Port::Uplink => {
                        let vid = match out {
                            Out::Tag(v) => Some(v),
                            _ => None,
                        };
                        let c = &mut self.counters;
                        if uplink::transmit(nic, &head, tail, f.meta, vid, c) == Sent::Full {
                            c.nic_tx_full += 1;
                        }
                    }
                    Port::Endpoint(g) if self.is_tunnel(g) => {
                        self.send_to_tunnel(nic, e, g, &head, tail, f.meta, now_ns)
                    }
                    Port::Endpoint(g) => self.deliver(g, head.bytes(), tail, f.meta),
                }
            }
            if let Some(w) = self.wired(e) {
                w.channel.rx_release(&f);
            }
        }
        if let Some(w) = self.wired(e) {
            let done = w.channel.rx_finish();
            w.kick |= done.notify;
            // Frames arrived while the kick was re-armed: their producer
            // will not kick again (RING_FINAL_CHECK_FOR_REQUESTS).
            if done.more && matches!(drain, Drain::Empty) {
                drain = Drain::Budget;
            }
        }
        drain
    }
}

/// How an endpoint's turn ended.
enum Drain {
    /// Its ring is empty.
    Empty,
    /// It used its budget: frames may be left.
    Budget,
    /// The NIC's ring filled up: frames are left.
    NicFull,
}

/// The metadata of a frame received from the NIC and passed on unmerged:
/// validated when its TCP checksum verified (Xen `NETRXF_data_validated`).
fn received_meta(seg: Option<TcpSegment>) -> FrameMeta {
    FrameMeta {
        checksum: if seg.is_some_and(|s| s.verified()) {
            Checksum::Validated
        } else {
            Checksum::None
        },
        gso: None,
    }
}
