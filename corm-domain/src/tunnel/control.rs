//! Banana's in-band control on tunnels to another Corm (`docs/encap.md`,
//! "Control"): hellos until the peer answers, a keepalive a second, the
//! peer dead after 10 s of silence, its restarts seen by their new epoch.
//! The peer state is `encap::Peer`'s; this sends what it asks for through
//! the tunnel's own template and next hop, and keeps the changes for the
//! domain to report. Tunnels to standard VTEPs send no control.

use encap::peer::Event;
use encap::Action;

use super::{resolve, TunnelConfig, Underlay};

/// Control frames are at most a VXLAN control frame behind tagged headers,
/// or a Geneve one sealed for a tunnel wire (42 + 16 + 64 + 16 = 138).
const CONTROL_FRAME_MAX: usize = 160;

/// A control frame (or the ARP request it needs) waiting for the next poll.
pub(super) type ControlFrame = heapless::Vec<u8, CONTROL_FRAME_MAX>;

/// A change of a tunnel's peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TunnelEvent {
    pub wire: u32,
    pub kind: TunnelEventKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TunnelEventKind {
    /// The peer answered (first control of an epoch, or back after silence).
    Up,
    /// The peer restarted: a newer epoch.
    Restarted,
    /// The peer closed the wire.
    Closed,
    /// Nothing from the peer for 10 s.
    Dead,
}

impl From<Event> for TunnelEventKind {
    fn from(e: Event) -> Self {
        match e {
            Event::Up => TunnelEventKind::Up,
            Event::Restarted => TunnelEventKind::Restarted,
            Event::Closed => TunnelEventKind::Closed,
        }
    }
}

impl Underlay {
    /// Keeps an event for [`take_event`](Self::take_event).
    pub(super) fn note(&mut self, wire: u32, kind: TunnelEventKind) {
        if self.events.is_full() {
            self.events.pop_front();
        }
        let _ = self.events.push_back(TunnelEvent { wire, kind });
    }

    /// The oldest change not yet taken.
    pub fn take_event(&mut self) -> Option<TunnelEvent> {
        self.events.pop_front()
    }

    /// Removes wire `wire`'s tunnel; returns its configuration. A Corm
    /// peer is told by a `Close` (sent by the next [`poll`](Self::poll)),
    /// so that it reports the wire down at once instead of after 10 s of
    /// silence; it goes on saying hello, and the wire comes up again if it
    /// is connected again. With no next hop known for the remote, no
    /// `Close` goes (the ARP request does): the peer sees the silence.
    pub fn remove(&mut self, wire: u32, now_ns: u64) -> Option<TunnelConfig> {
        let mut t = self.tunnels.remove(&wire)?;
        let Some(msg) = t.peer.close(now_ns) else {
            self.forget_peer_of(&t);
            return Some(t.cfg);
        };
        if t.cfg.wireguard.is_some() {
            let mut frames: heapless::Vec<ControlFrame, 2> = heapless::Vec::new();
            self.seal_control(&t, &msg, now_ns, &mut |f| {
                if let Ok(f) = ControlFrame::from_slice(f) {
                    let _ = frames.push(f);
                }
            });
            for f in frames {
                if self.outbox.is_full() {
                    self.outbox.pop_front();
                }
                let _ = self.outbox.push_back(f);
            }
            self.forget_peer_of(&t);
            return Some(t.cfg);
        }
        let Underlay {
            cfg,
            mac,
            nexthops,
            counters,
            outbox,
            ..
        } = self;
        let mut queue = |f: &[u8]| {
            if outbox.is_full() {
                outbox.pop_front();
            }
            if let Ok(f) = ControlFrame::from_slice(f) {
                let _ = outbox.push_back(f);
            }
        };
        if resolve(cfg, *mac, nexthops, counters, &mut t, now_ns, &mut queue).is_ok() {
            let mut buf = [0u8; CONTROL_FRAME_MAX];
            if let Ok(n) = t.template.control(&msg, &mut buf) {
                queue(&buf[..n]);
            }
        }
        Some(t.cfg)
    }

    /// Sends the control that is due at `now_ns` (`send`: to the NIC) and
    /// notes silent peers. Call on every wake-up, and by
    /// [`next_deadline`](Self::next_deadline).
    pub fn poll(&mut self, now_ns: u64, send: &mut dyn FnMut(&[u8])) {
        while let Some(f) = self.outbox.pop_front() {
            send(&f);
        }
        let mut dead = heapless::Vec::<u32, { super::MAX_TUNNELS }>::new();
        let mut sealed = heapless::Vec::<(u32, encap::Control), { 2 * super::MAX_TUNNELS }>::new();
        let Underlay {
            cfg,
            mac,
            nexthops,
            tunnels,
            counters,
            ..
        } = self;
        for (wire, t) in tunnels.iter_mut() {
            // A peer asks for at most a message and a death per call.
            for _ in 0..2 {
                match t.peer.poll(now_ns) {
                    None => break,
                    Some(Action::Dead) => {
                        let _ = dead.push(*wire);
                    }
                    Some(Action::Send(msg)) if t.cfg.wireguard.is_some() => {
                        let _ = sealed.push((*wire, msg));
                    }
                    Some(Action::Send(msg)) => {
                        if resolve(cfg, *mac, nexthops, counters, t, now_ns, send).is_err() {
                            continue;
                        }
                        let mut buf = [0u8; CONTROL_FRAME_MAX];
                        if let Ok(n) = t.template.control(&msg, &mut buf) {
                            send(&buf[..n]);
                        }
                    }
                }
            }
        }
        for wire in dead {
            self.note(wire, TunnelEventKind::Dead);
        }
        for (wire, msg) in sealed {
            if let Some(t) = self.tunnels.remove(&wire) {
                self.seal_control(&t, &msg, now_ns, send);
                self.tunnels.insert(wire, t);
            }
        }
        self.wireguard_poll(now_ns, send);
    }

    /// The WireGuard peer of a removed tunnel wire goes with its last wire
    /// (a wire connected again, or to a peer with a new key, adds it anew).
    fn forget_peer_of(&mut self, t: &super::Tunnel) {
        let Some(p) = t.wg_peer else {
            return;
        };
        if !self.tunnels.values().any(|o| o.wg_peer == Some(p)) {
            if let Some(wg) = self.wireguard.as_mut() {
                wg.iface.remove_peer(p);
            }
        }
    }

    /// Sends tunnel wire `t`'s control message inside WireGuard.
    fn seal_control(
        &mut self,
        t: &super::Tunnel,
        msg: &encap::Control,
        now_ns: u64,
        send: &mut dyn FnMut(&[u8]),
    ) {
        let (Some(peer), Some(w)) = (t.wg_peer, t.cfg.wireguard) else {
            return;
        };
        let mut buf = [0u8; CONTROL_FRAME_MAX];
        let at = super::wg::INNER_IP_AT - netframe::eth::ETH_HLEN;
        let Ok(n) = t.template.control(msg, &mut buf[at..]) else {
            return;
        };
        let ip_len = n - netframe::eth::ETH_HLEN;
        if let Ok(len) = self.seal_to(peer, w.endpoint, t.cfg.wire, &mut buf, ip_len, now_ns, send)
        {
            send(&buf[..len]);
        }
    }

    /// When [`poll`](Self::poll) next has something to do.
    pub fn next_deadline(&self) -> Option<u64> {
        let soon = self.wireguard.as_ref().is_some_and(|w| w.poll_soon);
        let outbox = (!self.outbox.is_empty() || soon).then_some(0);
        self.tunnels
            .values()
            .filter_map(|t| t.peer.next_deadline())
            .chain(outbox)
            .min()
    }

    /// Whether wire `wire`'s peer is up: always for a standard VTEP (no
    /// control to tell), by its control for a Corm.
    pub fn peer_up(&self, wire: u32) -> Option<bool> {
        let t = self.tunnels.get(&wire)?;
        Some(!t.cfg.control || t.peer.state() == encap::peer::State::Up)
    }
}
