//! Receive coalescing toward an endpoint, built in place: the first segment
//! of a flow is copied into a slot reserved in the endpoint's ring for the
//! largest frame, the payloads of the segments that continue it are
//! appended there (`net_offload::Merge`), and the record is committed at its
//! final length with GSO metadata. One copy per byte, NIC buffer to ring;
//! the Spike then grant-copies the merge into the guest's buffers.

use local_wire::WireMemory;
use net_offload::checksum;
use net_offload::{Merge, Pushed, TcpSegment};
use netframe::{Checksum, FrameMeta, Gso, GsoKind, MAX_FRAME_LEN};
use pv_runtime::capture_ring::Direction;
use wire_proto::Features;

use super::{received_meta, reserve, Dataplane, Pending};

impl<M: WireMemory> Dataplane<M> {
    /// A NIC frame for endpoint `e` alone: merged with the pending merge,
    /// or the start of one, or passed on as it is.
    pub(super) fn gro_push(&mut self, e: u16, frame: &[u8]) {
        let seg = TcpSegment::parse(frame);
        // Only toward a wire that agreed GSO of that kind (a Spike offers
        // none for a guest that takes none).
        let agreed = |s: &TcpSegment| {
            let want = match s.kind() {
                GsoKind::TcpV4 => Features::GSO_TCPV4,
                GsoKind::TcpV6 => Features::GSO_TCPV6,
            };
            self.endpoints
                .get(&e)
                .and_then(|x| x.wire.as_ref())
                .and_then(|w| w.channel.params())
                .is_some_and(|p| p.features.contains(want))
        };
        let Some(s) = seg.filter(|s| s.mergeable(frame.len()) && agreed(s)) else {
            self.flush_gro();
            self.deliver(e, frame, &[], received_meta(seg));
            return;
        };
        let mut pushed = Pushed::Refused;
        if let Some(p) = self.pending.as_mut().filter(|p| p.endpoint == e) {
            if let Some(w) = self.endpoints.get_mut(&e).and_then(|x| x.wire.as_mut()) {
                // SAFETY: the Corm's send direction is read-only to the Spike.
                let buf = unsafe { w.channel.tx_frame_mut(&p.slot) };
                let limit = buf.len();
                pushed = p.merge.push(buf, frame, &s, limit);
            }
        }
        // The tap sees each segment as it came (as tcpdump on a NIC without
        // GRO would), not the merge; `deliver` taps what goes through it.
        match pushed {
            Pushed::Merged => return self.tap(e, Direction::ToEndpoint, frame, &[]),
            Pushed::Complete => {
                self.tap(e, Direction::ToEndpoint, frame, &[]);
                return self.flush_gro();
            }
            Pushed::Refused => {}
        }
        self.flush_gro();
        if s.push_flag() {
            // It would end the merge it starts.
            self.deliver(e, frame, &[], received_meta(seg));
            return;
        }
        self.tap(e, Direction::ToEndpoint, frame, &[]);
        let c = &mut self.counters;
        let Some(w) = self.endpoints.get_mut(&e).and_then(|x| x.wire.as_mut()) else {
            c.to_wire_dropped += 1;
            return;
        };
        // Room for the largest merge if the ring has it, else for this frame.
        let slot = match w.channel.tx_reserve(MAX_FRAME_LEN) {
            Ok(s) => s,
            Err(_) => match reserve(&mut w.channel, c, frame.len()) {
                Some(s) => s,
                None => return,
            },
        };
        // SAFETY: as above.
        let buf = unsafe { w.channel.tx_frame_mut(&slot) };
        match Merge::start(frame, &s, buf) {
            Some(merge) => {
                self.pending = Some(Pending {
                    endpoint: e,
                    slot,
                    merge,
                })
            }
            None => w.channel.tx_cancel(slot),
        }
    }

    /// Commits the pending merge, if any, as Linux GRO leaves one
    /// (`tcp_gro_complete`): GSO metadata and a partial checksum (the
    /// pseudo-header sum in the field), which the Spike passes to netfront
    /// as `csum_blank | data_validated`; a lone segment as validated.
    pub(super) fn flush_gro(&mut self) {
        let Some(Pending {
            endpoint,
            slot,
            merge,
        }) = self.pending.take()
        else {
            return;
        };
        let c = &mut self.counters;
        let Some(w) = self
            .endpoints
            .get_mut(&endpoint)
            .and_then(|x| x.wire.as_mut())
        else {
            return;
        };
        // SAFETY: as above.
        let buf = unsafe { w.channel.tx_frame_mut(&slot) };
        let (len, count) = (merge.len(), merge.count());
        let meta = match merge.finish(buf) {
            Some((kind, size)) => {
                let frame = &mut buf[..len];
                let partial = checksum::locate(frame)
                    .ok()
                    .filter(|loc| checksum::set_pseudo(frame, loc).is_ok());
                let Some(loc) = partial else {
                    // Cannot happen for what the coalescer merged.
                    w.channel.tx_cancel(slot);
                    c.to_wire_dropped += 1;
                    return;
                };
                c.gro_merges += 1;
                c.gro_segments += count as u64;
                FrameMeta {
                    checksum: Checksum::Partial {
                        start: loc.start,
                        offset: loc.offset,
                    },
                    gso: Some(Gso { kind, size }),
                }
            }
            None => FrameMeta {
                checksum: Checksum::Validated,
                gso: None,
            },
        };
        if w.channel.tx_commit(slot, len, meta).is_err() {
            c.to_wire_dropped += 1;
        }
    }
}
