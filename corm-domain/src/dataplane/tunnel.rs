//! Endpoints served by a tunnel (`crate::tunnel`): what the switch sends
//! them is encapsulated and goes to the NIC; what the underlay decapsulates
//! for them is switched as their frames. Frames for the NIC that come up
//! while the NIC is receiving (the NIC is lent to the receive loop) wait in a
//! small bounded queue, copied, until the batch ends.
//!
//! The outer headers are built per frame (`Underlay::header_for`) and sent
//! as the frame's first piece; the inner frame's head (the private copy the
//! switch acted on) and the rest follow, gathered once into the NIC's
//! buffers. GSO frames are cut into segments first, each encapsulated; a
//! partial checksum is completed in the driver's copy at its inner offset
//! (no NIC here offloads inside a tunnel).

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use encap::template::MAX_HEADER_LEN;
use local_wire::WireMemory;
use net_offload::Segmenter;
use netframe::{Checksum, FrameMeta, HEADER_COPY_LEN};
use pv_runtime::capture_ring::Direction;

use super::head::Head;
use super::uplink::{self, Sent};
use super::{Dataplane, DataplaneCounters, Out};
use crate::nic::{Nic, TxError, TxFrame, MAX_FRAME};
use crate::switch::Port;
use crate::tunnel::{too_big, wg, TunnelConfig, TunnelError, TxDrop, Underlay};
use net_offload::checksum::complete;
use netframe::ETH_HLEN;

/// Frames the deferred queue holds at most: every frame of a receive
/// batch (64) twice over (a broadcast goes to the uplink and a tunnel).
/// With 32, a Corm relaying a guest's TCP from a tunnel to its NIC dropped
/// 1.3 % of it at the end of full batches (`nic_deferred_dropped`), which
/// TCP pays for in throughput.
pub const DEFERRED_MAX: usize = 128;
/// Bytes the deferred queue holds at most (a batch of jumbo frames).
pub const DEFERRED_MAX_BYTES: usize = 640 * 1024;

/// Frames for the NIC that came while it was receiving (its receive batch
/// lends the frames it holds, so nothing is sent until the batch ends):
/// bounded in frames and bytes; what does not fit is dropped and counted.
#[derive(Default)]
pub(super) struct DeferQueue {
    q: VecDeque<Deferred>,
    bytes: usize,
}

impl DeferQueue {
    fn pop_front(&mut self) -> Option<Deferred> {
        let d = self.q.pop_front()?;
        self.bytes -= d.bytes.len();
        Some(d)
    }
}

/// A frame waiting for the NIC: where it goes and its bytes.
pub(super) struct Deferred {
    to: Port,
    out: Out,
    bytes: Vec<u8>,
}

/// Queues a copy of `frame` for `to`, or counts it dropped.
pub(super) fn defer(
    q: &mut DeferQueue,
    c: &mut DataplaneCounters,
    to: Port,
    out: Out,
    frame: &[u8],
) {
    let full = q.q.len() >= DEFERRED_MAX || q.bytes + frame.len() > DEFERRED_MAX_BYTES;
    if full || frame.len() > MAX_FRAME {
        c.nic_deferred_dropped += 1;
        return;
    }
    c.nic_deferred += 1;
    q.bytes += frame.len();
    q.q.push_back(Deferred {
        to,
        out,
        bytes: frame.to_vec(),
    });
}

fn head_of(frame: &[u8]) -> (Head, &[u8]) {
    let n = frame.len().min(HEADER_COPY_LEN);
    let mut h = Head::with_len(n);
    h.bytes_mut().copy_from_slice(&frame[..n]);
    (h, &frame[n..])
}

fn send(nic: &mut dyn Nic, f: &TxFrame<'_>, c: &mut DataplaneCounters) -> Sent {
    match nic.transmit_frame(f, None) {
        Ok(()) => {
            c.nic_tx += 1;
            Sent::Done
        }
        Err(TxError::Full) => Sent::Full,
        Err(_) => {
            c.nic_tx_refused += 1;
            Sent::Done
        }
    }
}

/// The underlay's own frames (ARP requests) go to the NIC at once.
fn arp_to(nic: &mut dyn Nic) -> impl FnMut(&[u8]) + '_ {
    move |b: &[u8]| {
        let _ = nic.transmit_frame(&TxFrame::from(b), None);
    }
}

/// A tunnel wire's frame (`crate::tunnel::wg`): the inner packet is built
/// at `wg::INNER_IP_AT` of `buf` (the template's headers, then `parts`),
/// its partial checksum completed here (no NIC reaches inside a sealed
/// payload), sealed in place, and the outer headers written in front. Two
/// passes over the payload: the copy into `buf`, and the cipher.
#[allow(clippy::too_many_arguments)]
fn transmit_sealed(
    nic: &mut dyn Nic,
    underlay: &mut Underlay,
    ep: u16,
    parts: &[&[u8]],
    csum: Option<(u16, u16)>,
    now_ns: u64,
    c: &mut DataplaneCounters,
    buf: &mut Vec<u8>,
) -> Result<Sent, TxDrop> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let mut outer = [0u8; MAX_HEADER_LEN];
    let head = parts.first().copied().unwrap_or(&[]);
    let n = underlay.header_for(ep, head, len, now_ns, &mut outer, &mut arp_to(nic))?;
    if buf.is_empty() {
        // Once, for the largest frame: never a per-frame allocation.
        buf.resize(SEALING_BUF_LEN, 0);
    }
    let at = wg::INNER_IP_AT - ETH_HLEN;
    // The sealed packet may grow by padding (to 16) and the tag.
    if at + n + len + 32 > buf.len() {
        c.oversize += 1;
        return Ok(Sent::Done);
    }
    buf[at..at + n].copy_from_slice(&outer[..n]);
    let mut p = at + n;
    for part in parts {
        buf[p..p + part.len()].copy_from_slice(part);
        p += part.len();
    }
    if let Some((start, offset)) = csum {
        let frame = &mut buf[at..p];
        if complete(frame, usize::from(start) + n, usize::from(offset)).is_err() {
            c.offload_errors += 1;
            return Ok(Sent::Done);
        }
        c.csum_software += 1;
    }
    let total = underlay.wireguard_seal(ep, buf, n - ETH_HLEN + len, now_ns, &mut arp_to(nic))?;
    Ok(send(nic, &TxFrame::from(&buf[..total]), c))
}

/// The sealing buffer's size: the largest frame, its tunnel headers, and
/// WireGuard's padding and tag.
pub(super) const SEALING_BUF_LEN: usize = MAX_FRAME + 256;

/// Sends an inner frame (its head privately in `head`, the rest in `tail`)
/// through endpoint `ep`'s tunnel. [`Sent::Full`]: nothing went. `Err`: the
/// tunnel refused it (counted there); [`TxDrop::TooBig`] lets the caller
/// tell the sender.
#[allow(clippy::too_many_arguments)]
pub(super) fn transmit(
    nic: &mut dyn Nic,
    underlay: &mut Underlay,
    ep: u16,
    head: &Head,
    tail: &[u8],
    meta: FrameMeta,
    now_ns: u64,
    c: &mut DataplaneCounters,
    sealing: &mut Vec<u8>,
) -> Result<Sent, TxDrop> {
    let len = head.bytes().len() + tail.len();
    let mut outer = [0u8; MAX_HEADER_LEN];
    let sealed = underlay.is_wireguard(ep);
    if let Some(gso) = meta.gso {
        let Ok(segs) = Segmenter::new(head.bytes(), len, gso.kind, gso.size) else {
            c.offload_errors += 1;
            return Ok(Sent::Done);
        };
        if nic.tx_space() < segs.segments() + 1 {
            nic.flush_tx();
            if nic.tx_space() < segs.segments() + 1 {
                return Ok(Sent::Full);
            }
        }
        c.gso_frames += 1;
        for seg in segs {
            let h = seg.header();
            let inner_len = h.len() + seg.payload.len();
            if sealed {
                let [a, b] = uplink::split(head.bytes(), tail, seg.payload.clone());
                let csum = Some((seg.csum_start, seg.csum_offset));
                c.gso_segments += 1;
                let sent = transmit_sealed(nic, underlay, ep, &[h, a, b], csum, now_ns, c, sealing);
                if sent? == Sent::Full {
                    c.nic_tx_full += 1;
                    break;
                }
                continue;
            }
            // Refused: counted by the tunnel; the other segments would
            // fare alike.
            let n = underlay.header_for(ep, h, inner_len, now_ns, &mut outer, &mut arp_to(nic))?;
            let [a, b] = uplink::split(head.bytes(), tail, seg.payload.clone());
            let Some(f) = TxFrame::gather(&[&outer[..n], h, a, b]) else {
                c.offload_errors += 1;
                continue;
            };
            let f = f.with_checksum(seg.csum_start + n as u16, seg.csum_offset);
            c.gso_segments += 1;
            if send(nic, &f, c) == Sent::Full {
                c.nic_tx_full += 1;
                break;
            }
        }
        return Ok(Sent::Done);
    }
    if sealed {
        let csum = match meta.checksum {
            Checksum::Partial { start, offset } => Some((start, offset)),
            Checksum::None | Checksum::Validated => None,
        };
        return transmit_sealed(
            nic,
            underlay,
            ep,
            &[head.bytes(), tail],
            csum,
            now_ns,
            c,
            sealing,
        );
    }
    let n = underlay.header_for(ep, head.bytes(), len, now_ns, &mut outer, &mut arp_to(nic))?;
    if n + len > MAX_FRAME {
        c.oversize += 1;
        return Ok(Sent::Done);
    }
    let Some(f) = TxFrame::gather(&[&outer[..n], head.bytes(), tail]) else {
        c.offload_errors += 1;
        return Ok(Sent::Done);
    };
    let f = match meta.checksum {
        Checksum::Partial { start, offset } => {
            c.csum_software += 1;
            f.with_checksum(start + n as u16, offset)
        }
        Checksum::None | Checksum::Validated => f,
    };
    Ok(send(nic, &f, c))
}

impl<M: WireMemory> Dataplane<M> {
    /// Gives the data plane an underlay (the Corm's address for tunnels);
    /// `None` removes it and every tunnel with it.
    pub fn set_underlay(&mut self, underlay: Option<Underlay>) {
        if let Some(old) = self.underlay.take() {
            for t in old.tunnels() {
                let _ = self.switch.set_learning(t.endpoint, false);
            }
        }
        self.underlay = underlay;
    }

    pub fn underlay(&self) -> Option<&Underlay> {
        self.underlay.as_ref()
    }

    pub fn underlay_mut(&mut self) -> Option<&mut Underlay> {
        self.underlay.as_mut()
    }

    /// Serves endpoint `cfg.endpoint` with a tunnel: its remote hosts are
    /// learned. The endpoint must exist and have no local wire.
    pub fn add_tunnel(&mut self, cfg: TunnelConfig) -> Result<(), TunnelError> {
        let free = self
            .endpoints
            .get(&cfg.endpoint)
            .is_some_and(|e| e.wire.is_none());
        if !free {
            return Err(TunnelError::EndpointInUse(cfg.endpoint));
        }
        let u = self.underlay.as_mut().ok_or(TunnelError::NoUnderlay)?;
        u.add(cfg)?;
        let _ = self.switch.set_learning(cfg.endpoint, true);
        Ok(())
    }

    /// Removes wire `wire`'s tunnel (its `Close` goes out with the next
    /// [`poll_tunnels`](Self::poll_tunnels)).
    pub fn remove_tunnel(&mut self, wire: u32, now_ns: u64) -> Option<TunnelConfig> {
        let cfg = self.underlay.as_mut()?.remove(wire, now_ns)?;
        let _ = self.switch.set_learning(cfg.endpoint, false);
        Some(cfg)
    }

    /// The wire id of the tunnel serving endpoint `e`.
    pub fn tunnel_of(&self, e: u16) -> Option<u32> {
        self.underlay
            .as_ref()?
            .tunnels()
            .find(|t| t.endpoint == e)
            .map(|t| t.wire)
    }

    /// Closes every tunnel, its `Close` sent at once (a Corm shutting down:
    /// its peers report the wire down now, not after their dead time).
    pub fn close_tunnels(&mut self, nic: &mut dyn Nic, now_ns: u64) {
        let wires: alloc::vec::Vec<u32> = self
            .underlay
            .as_ref()
            .map(|u| u.tunnels().map(|t| t.wire).collect())
            .unwrap_or_default();
        for wire in wires {
            self.remove_tunnel(wire, now_ns);
        }
        self.poll_tunnels(nic, now_ns);
    }

    /// Runs the tunnels' control at `now_ns` (hellos, keepalives, liveness:
    /// `crate::tunnel::Underlay::poll`), straight to the NIC.
    pub fn poll_tunnels(&mut self, nic: &mut dyn Nic, now_ns: u64) {
        if let Some(u) = self.underlay.as_mut() {
            u.poll(now_ns, &mut arp_to(nic));
            nic.flush_tx();
        }
    }

    /// When the tunnels' control next has something to do.
    pub fn tunnel_deadline(&self) -> Option<u64> {
        self.underlay.as_ref()?.next_deadline()
    }

    /// The oldest change of a tunnel's peer not yet taken.
    pub fn take_tunnel_event(&mut self) -> Option<crate::tunnel::TunnelEvent> {
        self.underlay.as_mut()?.take_event()
    }

    /// Whether endpoint `e` is a tunnel's.
    pub(super) fn is_tunnel(&self, e: u16) -> bool {
        self.underlay.as_ref().is_some_and(|u| u.serves(e))
    }

    /// An inner frame the underlay took off the NIC for endpoint `from`:
    /// switched like its frames (copies for the NIC wait, as the NIC is
    /// receiving).
    pub(super) fn tunnel_frame(&mut self, from: u16, frame: &[u8], now_ns: u64) {
        self.tap(from, Direction::FromEndpoint, frame, &[]);
        let targets = self.decide(Port::Endpoint(from), frame, now_ns);
        if targets.is_empty() {
            return;
        }
        // A remote host's TCP for one local endpoint merges like the NIC's
        // own (the segments were cut to the tunnel's MTU on the far side).
        if let [(Port::Endpoint(g), _)] = *targets.as_slice() {
            if !self.is_tunnel(g) {
                self.gro_push(g, frame);
                return;
            }
        }
        self.flush_gro();
        let meta = super::received_meta(net_offload::TcpSegment::parse(frame));
        for &(port, out) in &targets {
            match port {
                Port::Endpoint(g) if !self.is_tunnel(g) => self.deliver(g, frame, &[], meta),
                _ => defer(&mut self.deferred, &mut self.counters, port, out, frame),
            }
        }
    }

    /// Sends endpoint `from`'s frame (head and tail) into endpoint `to`'s
    /// tunnel; one too big for it is answered to `from` with ICMP
    /// Fragmentation Needed / Packet Too Big.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn send_to_tunnel(
        &mut self,
        nic: &mut dyn Nic,
        from: u16,
        to: u16,
        head: &Head,
        tail: &[u8],
        meta: FrameMeta,
        now_ns: u64,
    ) {
        self.tap(to, Direction::ToEndpoint, head.bytes(), tail);
        let Some(u) = self.underlay.as_mut() else {
            return;
        };
        let c = &mut self.counters;
        match transmit(nic, u, to, head, tail, meta, now_ns, c, &mut self.sealing) {
            Ok(Sent::Full) => c.nic_tx_full += 1,
            Ok(Sent::Done) => {}
            Err(TxDrop::TooBig { mtu }) => {
                if let Some(icmp) = too_big::answer(head.bytes(), mtu) {
                    u.counters.too_big_answered += 1;
                    self.deliver(from, &icmp, &[], FrameMeta::default());
                }
            }
            Err(_) => {}
        }
    }

    /// Sends what waited while the NIC was receiving.
    pub(super) fn flush_deferred(&mut self, nic: &mut dyn Nic, now_ns: u64) {
        while let Some(d) = self.deferred.pop_front() {
            let (head, tail) = head_of(&d.bytes);
            let meta = FrameMeta::default();
            let c = &mut self.counters;
            let sent = match (d.to, self.underlay.as_mut()) {
                (Port::Uplink, _) => {
                    let vid = match d.out {
                        Out::Tag(v) => Some(v),
                        _ => None,
                    };
                    uplink::transmit(nic, &head, tail, meta, vid, c)
                }
                // From outside (the uplink, a tunnel): nobody to tell.
                (Port::Endpoint(g), Some(u)) => {
                    if let Some(t) = self.tap.as_mut().filter(|t| t.endpoint() == g) {
                        t.record(Direction::ToEndpoint, head.bytes(), tail, now_ns);
                    }
                    transmit(nic, u, g, &head, tail, meta, now_ns, c, &mut self.sealing)
                        .unwrap_or(Sent::Done)
                }
                (Port::Endpoint(_), None) => Sent::Done,
            };
            if sent == Sent::Full {
                c.nic_tx_full += 1;
            }
        }
    }
}
