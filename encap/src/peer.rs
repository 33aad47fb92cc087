//! One encap wire's view of its peer, sans-IO: who may send on the wire,
//! which incarnation of the peer is current, whether it is alive, and how
//! lossy the path looks.
//!
//! * **Source.** Only the configured remote underlay address, with the
//!   wire's VNI, may send on the wire; anything else is a spoof (dropped and
//!   counted). The outer UDP *source* port is not checked: it is the
//!   sender's flow-hash entropy (RFC 8926 §3.3, RFC 7348 §5), different for
//!   every inner flow. The configured remote port is where we send.
//! * **Epochs.** Each end (re)starting the wire picks a new epoch (the
//!   controller hands out one per start, `docs/encap.md`) and puts it in every
//!   control message. Compared in RFC 1982 serial arithmetic: a newer epoch
//!   means the peer restarted (its control sequence starts over, we answer at
//!   once); control from an older epoch, once a newer one was seen, is a
//!   reordered or replayed leftover and is dropped. Data frames carry no
//!   epoch (they are plain Geneve/VXLAN, so standard VTEPs interoperate), so
//!   the epoch filter applies to control only.
//! * **Liveness.** As the local wire's channel: a keepalive every
//!   [`KEEPALIVE_NS`] (1 s), the peer dead after [`DEAD_NS`] (10 s) without
//!   anything (data or control) from it, hellos every [`HELLO_RETRY_NS`]
//!   while down. Unlike the local wire, keepalives go out even when data
//!   flows: they are the only frames with a sequence number.
//! * **Loss.** Data frames carry no sequence number: one would need a private
//!   option on every data frame, 8 more bytes of overhead (a 1442-byte guest
//!   MTU instead of 1450), and standard VTEPs would neither send nor need it.
//!   Instead the control sequence samples the path at 1 message a second:
//!   gaps count as lost, late or repeated messages as stale. A rate estimate
//!   of the underlay path, not a per-frame count.
//! * **Standard VTEPs** send no control: with [`PeerConfig::control`] off the
//!   wire sends none either, data is accepted from the remote address, and
//!   liveness is not tracked.

use core::net::SocketAddrV4;

use wire_proto::SeqTracker;

use crate::{Control, ControlKind, Vni};

/// A keepalive goes out this often (`local_wire::channel::KEEPALIVE_NS`).
pub const KEEPALIVE_NS: u64 = 1_000_000_000;
/// A peer silent this long is dead (`local_wire::channel::DEAD_NS`).
pub const DEAD_NS: u64 = 10_000_000_000;
/// A hello goes out this often while the peer is down
/// (`local_wire::channel::HELLO_RETRY_NS`).
pub const HELLO_RETRY_NS: u64 = 1_000_000_000;

/// One wire's configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerConfig {
    /// The wire's VNI.
    pub vni: Vni,
    /// The peer's underlay address and the port we send to.
    pub remote: SocketAddrV4,
    /// Our epoch for this start of the wire.
    pub local_epoch: u32,
    /// Whether the peer speaks Banana control (a Banana Corm) or is a
    /// standard VTEP.
    pub control: bool,
}

/// Whether the peer is alive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// No control from the peer yet, or it went silent or closed.
    Down,
    /// Control arrived and the peer is not silent.
    Up,
    /// We closed the wire: nothing more is sent.
    Closed,
}

/// Why a frame was not accepted on this wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PeerDrop {
    /// From another underlay address than the peer's.
    #[error("spoofed source")]
    Spoofed,
    /// With another VNI than the wire's.
    #[error("wrong VNI")]
    WrongVni,
    /// Control from an epoch older than the newest seen.
    #[error("old epoch")]
    OldEpoch,
    /// Control whose sequence number is not newer than the newest accepted.
    #[error("stale control")]
    Stale,
}

/// What the caller must do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send this control message (`Template::control`).
    Send(Control),
    /// The peer went silent for [`DEAD_NS`]: report the wire down.
    Dead,
}

/// A change in the peer, for logs and status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The peer is up (first control of an epoch, or back after silence).
    Up,
    /// A newer epoch: the peer restarted.
    Restarted,
    /// The peer closed the wire.
    Closed,
}

xs_schema::counters! {
    /// One wire's peer counters.
    pub struct PeerCounters {
        /// Data frames accepted.
        rx_data,
        /// Control messages accepted.
        rx_control,
        /// Frames from another address than the peer's.
        dropped_spoofed,
        /// Frames with another VNI.
        dropped_wrong_vni,
        /// Control from an older epoch.
        dropped_old_epoch,
        /// Late or repeated control (reordered or duplicated on the path).
        control_stale,
        /// Control messages missing from the sequence (lost on the path).
        control_lost,
        /// Newer epochs seen (peer restarts).
        peer_restarts,
        /// Closes received.
        peer_closes,
        /// Times the peer was declared dead.
        peer_deaths,
        /// Control messages sent.
        tx_control,
    }
}

/// One encap wire's peer state.
#[derive(Clone, Debug)]
pub struct Peer {
    cfg: PeerConfig,
    state: State,
    remote_epoch: Option<u32>,
    rx_seq: SeqTracker,
    tx_seq: u32,
    last_rx_ns: u64,
    last_tx_ns: Option<u64>,
    reply_due: bool,
    /// The counters.
    pub counters: PeerCounters,
}

/// `a` is newer than `b` in RFC 1982 serial arithmetic (32 bits).
fn newer(a: u32, b: u32) -> bool {
    let ahead = a.wrapping_sub(b);
    ahead != 0 && ahead < 1 << 31
}

impl Peer {
    /// A wire that has heard nothing yet.
    pub fn new(cfg: PeerConfig) -> Self {
        Self {
            cfg,
            state: State::Down,
            remote_epoch: None,
            rx_seq: SeqTracker::new(),
            tx_seq: 0,
            last_rx_ns: 0,
            last_tx_ns: None,
            reply_due: false,
            counters: PeerCounters::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &PeerConfig {
        &self.cfg
    }
    /// Whether the peer is up.
    pub fn state(&self) -> State {
        self.state
    }
    /// The peer's newest epoch.
    pub fn remote_epoch(&self) -> Option<u32> {
        self.remote_epoch
    }

    fn check_source(&mut self, vni: Vni, src: SocketAddrV4) -> Result<(), PeerDrop> {
        if src.ip() != self.cfg.remote.ip() {
            self.counters.dropped_spoofed += 1;
            return Err(PeerDrop::Spoofed);
        }
        if vni != self.cfg.vni {
            self.counters.dropped_wrong_vni += 1;
            return Err(PeerDrop::WrongVni);
        }
        Ok(())
    }

    /// Whether a data frame (a decap `Data` verdict) may enter the wire.
    /// Data is accepted whatever the state: the address and VNI are the
    /// filter, and the peer may send data before its first keepalive lands.
    pub fn accept_data(
        &mut self,
        vni: Vni,
        src: SocketAddrV4,
        now_ns: u64,
    ) -> Result<(), PeerDrop> {
        self.check_source(vni, src)?;
        self.counters.rx_data += 1;
        self.last_rx_ns = now_ns;
        Ok(())
    }

    /// Takes a control message (a decap `Control` verdict).
    pub fn on_control(
        &mut self,
        vni: Vni,
        src: SocketAddrV4,
        msg: Control,
        now_ns: u64,
    ) -> Result<Option<Event>, PeerDrop> {
        self.check_source(vni, src)?;
        let mut event = None;
        match self.remote_epoch {
            Some(cur) if msg.epoch == cur => {}
            Some(cur) if !newer(msg.epoch, cur) => {
                self.counters.dropped_old_epoch += 1;
                return Err(PeerDrop::OldEpoch);
            }
            prev => {
                if prev.is_some() {
                    self.counters.peer_restarts += 1;
                    event = Some(Event::Restarted);
                }
                self.remote_epoch = Some(msg.epoch);
                self.rx_seq.reset();
            }
        }
        if !self.rx_seq.is_fresh(msg.seq) {
            self.counters.control_stale += 1;
            return Err(PeerDrop::Stale);
        }
        if let Some(newest) = self.rx_seq.newest() {
            let gap = msg.seq.wrapping_sub(newest).wrapping_sub(1);
            self.counters.control_lost += u64::from(gap);
        }
        self.rx_seq.accept(msg.seq);
        self.counters.rx_control += 1;
        self.last_rx_ns = now_ns;
        if self.state == State::Closed {
            return Ok(event);
        }
        match msg.kind {
            ControlKind::Close => {
                self.counters.peer_closes += 1;
                self.state = State::Down;
                return Ok(Some(Event::Closed));
            }
            // Answer a hello at once: the peer is (re)starting and waits to
            // hear our epoch.
            ControlKind::Hello => self.reply_due = true,
            ControlKind::Keepalive => {}
        }
        if self.state == State::Down {
            self.state = State::Up;
            event = event.or(Some(Event::Up));
        }
        Ok(event)
    }

    fn message(&mut self, kind: ControlKind, now_ns: u64) -> Control {
        self.tx_seq = self.tx_seq.wrapping_add(1);
        self.last_tx_ns = Some(now_ns);
        self.counters.tx_control += 1;
        Control {
            kind,
            epoch: self.cfg.local_epoch,
            seq: self.tx_seq,
        }
    }

    /// What is due at `now_ns`; call until `None`, then again at
    /// [`next_deadline`](Self::next_deadline) or when a frame arrives.
    pub fn poll(&mut self, now_ns: u64) -> Option<Action> {
        if !self.cfg.control || self.state == State::Closed {
            return None;
        }
        if self.state == State::Up && now_ns.saturating_sub(self.last_rx_ns) >= DEAD_NS {
            self.state = State::Down;
            self.counters.peer_deaths += 1;
            return Some(Action::Dead);
        }
        let (kind, every) = match self.state {
            State::Up => (ControlKind::Keepalive, KEEPALIVE_NS),
            _ => (ControlKind::Hello, HELLO_RETRY_NS),
        };
        let due = self.reply_due
            || self
                .last_tx_ns
                .is_none_or(|t| now_ns.saturating_sub(t) >= every);
        if !due {
            return None;
        }
        let kind = if self.reply_due {
            ControlKind::Keepalive
        } else {
            kind
        };
        self.reply_due = false;
        Some(Action::Send(self.message(kind, now_ns)))
    }

    /// When [`poll`](Self::poll) next has something to do.
    pub fn next_deadline(&self) -> Option<u64> {
        if !self.cfg.control || self.state == State::Closed {
            return None;
        }
        let every = if self.state == State::Up {
            KEEPALIVE_NS
        } else {
            HELLO_RETRY_NS
        };
        let send = match self.last_tx_ns {
            Some(t) if !self.reply_due => t.saturating_add(every),
            _ => 0,
        };
        Some(match self.state {
            State::Up => send.min(self.last_rx_ns.saturating_add(DEAD_NS)),
            _ => send,
        })
    }

    /// Closes the wire from our side: returns the `Close` to send (when the
    /// peer speaks control); nothing is sent after it.
    pub fn close(&mut self, now_ns: u64) -> Option<Control> {
        let send = self.cfg.control && self.state != State::Closed;
        self.state = State::Closed;
        send.then(|| self.message(ControlKind::Close, now_ns))
    }
}

#[cfg(test)]
#[path = "peer_tests.rs"]
mod tests;
