//! A local wire carrying wire-proto messages, one per ring record: the
//! [`Link`] set-up plus the hello exchange (wire-proto/PROTOCOL.md
//! "Negotiation") and bounded queueing. Both the Spike (one per guest vif)
//! and the Corm (one per endpoint) run their wires through this.
//!
//! The hello goes out once the link is up and the caller has its MACs to
//! announce (a Spike waits for its guest's; a Corm announces none). Frames
//! that find the ring full wait in a bounded queue; beyond it they are
//! dropped and counted, never blocking the caller's other ports.

use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;

use crate::domain::{Link, WireConfig};
use crate::SendError;
use pv_runtime::abi::Port;
use pv_runtime::println;
use pv_runtime::runtime::Runtime;
use pv_runtime::xenstore::WatchEvent;
use wire_proto::{
    EndpointId, Features, Frame, Hello, MacAddr, Message, Negotiator, Params, Role, Step, WireId,
};

/// Records waiting for ring space (a full ring means the peer is slow).
const TX_QUEUE_MAX: usize = 512;
/// Largest record we accept: a whole GSO frame plus message overhead.
const RX_BUF: usize = 64 * 1024 + 128;

/// Who we are on a wire: what our hello says, and the console tag of our
/// markers (`<tag>-WIRE-UP wire=…`, which the lab tests wait for).
#[derive(Clone, Copy, Debug)]
pub struct Identity {
    /// Spike or Corm (two Corms never share a wire).
    pub role: Role,
    /// Our endpoint index (a Corm's port; 0 for a Spike).
    pub endpoint: u32,
    /// Offloads we can take from the peer.
    pub features: Features,
    /// The largest L3 payload we carry.
    pub mtu: u16,
    /// Console marker prefix.
    pub tag: &'static str,
}

/// What one [`Channel::poll`] changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PollOutcome {
    /// Negotiation just finished: [`Channel::params`] and
    /// [`Channel::peer_macs`] are now meaningful.
    pub established: bool,
    /// The wire failed or the peer closed it; it will be set up again.
    pub lost: bool,
}

/// Per-wire counters, published under the domain's xenstore path with the
/// names [`ChannelCounters::iter`] gives them.
#[derive(Clone, Copy, Debug, Default)]
#[allow(missing_docs)]
pub struct ChannelCounters {
    pub tx_frames: u64,
    pub tx_bytes: u64,
    pub rx_frames: u64,
    pub rx_bytes: u64,
    pub tx_queue_full: u64,
    pub tx_not_established: u64,
    pub tx_too_large: u64,
    pub rx_bad_message: u64,
    pub rx_refused_frame: u64,
    pub wire_errors: u64,
}

impl ChannelCounters {
    /// Each counter with its published name.
    pub fn iter(&self) -> [(&'static str, u64); 10] {
        [
            ("tx-frames", self.tx_frames),
            ("tx-bytes", self.tx_bytes),
            ("rx-frames", self.rx_frames),
            ("rx-bytes", self.rx_bytes),
            ("tx-queue-full", self.tx_queue_full),
            ("tx-not-established", self.tx_not_established),
            ("tx-too-large", self.tx_too_large),
            ("rx-bad-message", self.rx_bad_message),
            ("rx-refused-frame", self.rx_refused_frame),
            ("wire-errors", self.wire_errors),
        ]
    }
}

/// One wire end carrying wire-proto messages.
pub struct Channel {
    me: Identity,
    link: Link,
    nego: Option<Negotiator>,
    queue: VecDeque<Vec<u8>>,
    rx_buf: Vec<u8>,
    /// What went through, and what was dropped and why.
    pub counters: ChannelCounters,
}

impl Channel {
    /// Starts setting the wire up (offering or accepting, per `config`).
    pub fn start(rt: &mut Runtime, config: WireConfig, me: Identity) -> Self {
        Self {
            me,
            link: Link::start(rt, config),
            nego: None,
            queue: VecDeque::new(),
            rx_buf: vec![0; RX_BUF],
            counters: ChannelCounters::default(),
        }
    }

    /// What the wire was started with.
    pub fn config(&self) -> WireConfig {
        self.link.config
    }

    /// The controller's wire id.
    pub fn wire(&self) -> u32 {
        self.link.config.wire
    }

    /// The event channel, once set up.
    pub fn port(&self) -> Option<Port> {
        self.link.port()
    }

    /// Connected and negotiated: frames may flow.
    pub fn is_established(&self) -> bool {
        self.link.is_connected() && self.nego.as_ref().is_some_and(Negotiator::is_established)
    }

    /// The agreed parameters, once established.
    pub fn params(&self) -> Option<&Params> {
        self.nego.as_ref().and_then(Negotiator::params)
    }

    /// The MACs the peer announced in its hello (a Spike: its guest's).
    pub fn peer_macs(&self) -> impl Iterator<Item = [u8; 6]> + '_ {
        self.nego
            .as_ref()
            .and_then(Negotiator::peer)
            .into_iter()
            .flat_map(|h| h.macs.iter().map(|m| m.0))
    }

    /// Feeds a xenstore watch event to the set-up; `true` if it was ours.
    pub fn on_watch(&mut self, rt: &mut Runtime, ev: &WatchEvent) -> bool {
        let was = self.link.is_connected();
        let mine = self.link.on_watch(rt, ev);
        if was && !self.link.is_connected() {
            self.reset();
        }
        mine
    }

    fn reset(&mut self) {
        self.nego = None;
        self.queue.clear();
    }

    /// Leaves the wire (the peer sees it closed).
    pub fn shutdown(&mut self, rt: &mut Runtime) {
        self.link.shutdown(rt);
        self.reset();
    }

    /// Sends the hello once there is a link and the MACs to announce.
    fn ensure_hello(&mut self, rt: &mut Runtime, announce: Option<&[[u8; 6]]>) {
        if self.nego.is_some() || !self.link.is_connected() {
            return;
        }
        let Some(macs) = announce else { return };
        let mut hello = Hello::new(
            self.me.role,
            WireId(self.link.config.wire),
            EndpointId(self.me.endpoint),
            self.me.mtu,
            self.me.features,
        );
        for &mac in macs {
            let _ = hello.push_mac(MacAddr(mac));
        }
        let nego = Negotiator::new(hello);
        let msg = nego.hello();
        self.nego = Some(nego);
        self.send_message(rt, &msg, true);
        println!("{}-WIRE-HELLO wire={}", self.me.tag, self.link.config.wire);
    }

    /// Encodes and sends `msg`, queueing it if the ring is full (control
    /// messages always queue; frames drop beyond the bound).
    fn send_message(&mut self, rt: &mut Runtime, msg: &Message<'_>, control: bool) -> bool {
        let mut rec = vec![0u8; msg.encoded_len()];
        if msg.encode(&mut rec).is_err() {
            return false;
        }
        if !self.queue.is_empty() {
            return self.enqueue(rec, control);
        }
        let Some(end) = self.link.end() else {
            return false;
        };
        match end.tx().send_record(&rec) {
            Ok(()) => true,
            Err(SendError::Full) => self.enqueue(rec, control),
            // A data-path error costs the frame, never the wire (the ring
            // holds every legal frame: this is a bug or a hostile sender).
            Err(SendError::TooLarge { .. }) => {
                self.counters.tx_too_large += 1;
                false
            }
            Err(SendError::Wire(_)) => {
                self.counters.wire_errors += 1;
                self.link.link_failed(rt);
                self.reset();
                false
            }
        }
    }

    fn enqueue(&mut self, rec: Vec<u8>, control: bool) -> bool {
        if !control && self.queue.len() >= TX_QUEUE_MAX {
            self.counters.tx_queue_full += 1;
            return false;
        }
        self.queue.push_back(rec);
        true
    }

    /// One frame from a guest. Returns false when it was dropped.
    pub fn send_frame(&mut self, rt: &mut Runtime, frame: Frame<'_>) -> bool {
        if !self.is_established() {
            self.counters.tx_not_established += 1;
            return false;
        }
        let len = frame.payload.len() as u64;
        let ok = self.send_message(rt, &Message::Frame(frame), false);
        if ok {
            self.counters.tx_frames += 1;
            self.counters.tx_bytes += len;
        }
        ok
    }

    /// Pushes queued records, publishes and kicks the peer if needed.
    pub fn flush(&mut self, rt: &mut Runtime) {
        let Some(port) = self.link.port() else { return };
        let Some(end) = self.link.end() else { return };
        let mut tx = end.tx();
        while let Some(rec) = self.queue.front() {
            match tx.send_record(rec) {
                Ok(()) => {
                    self.queue.pop_front();
                }
                Err(_) => break,
            }
        }
        if tx.flush() {
            let _ = rt.events.notify(port);
        }
    }

    /// Takes everything the peer sent: negotiation is handled here, frames go
    /// to `deliver`. Call on the wire's port and right after connecting.
    /// `announce`: the MACs for our hello, `None` while we have none yet.
    pub fn poll(
        &mut self,
        rt: &mut Runtime,
        announce: Option<&[[u8; 6]]>,
        mut deliver: impl FnMut(&Frame<'_>),
    ) -> PollOutcome {
        let mut outcome = PollOutcome::default();
        self.ensure_hello(rt, announce);
        // Without our own hello there is nothing to negotiate with: leave the
        // peer's records in the ring until we have MACs to announce.
        if self.nego.is_none() {
            return outcome;
        }
        let Some(port) = self.link.port() else {
            return outcome;
        };
        let wire = self.link.config.wire;
        let tag = self.me.tag;
        let mut replies: Vec<Vec<u8>> = Vec::new();
        let mut fatal = false;
        // Bounded: at most two ring's worth of passes per wake-up.
        for _ in 0..64 {
            let Some(end) = self.link.end() else {
                return outcome;
            };
            let mut rx = end.rx();
            loop {
                let n = match rx.recv_record(&mut self.rx_buf) {
                    Ok(Some(n)) => n,
                    Ok(None) => break,
                    Err(_) => {
                        fatal = true;
                        break;
                    }
                };
                let Some(nego) = self.nego.as_mut() else {
                    break;
                };
                let msg = match Message::decode(&self.rx_buf[..n]) {
                    Ok(m) => m,
                    Err(_) => {
                        self.counters.rx_bad_message += 1;
                        continue;
                    }
                };
                match nego.on_message(msg) {
                    Ok(Step::Frame(f)) => {
                        self.counters.rx_frames += 1;
                        self.counters.rx_bytes += f.payload.len() as u64;
                        deliver(&f);
                    }
                    Ok(Step::Reply(ack)) => replies.push(encode(&Message::HelloAck(ack))),
                    Ok(Step::Established(p)) => {
                        outcome.established = true;
                        println!(
                            "{tag}-WIRE-UP wire={} mtu={} features={:?}",
                            wire, p.mtu, p.features
                        )
                    }
                    Ok(Step::Refuse { reply, reason }) => {
                        replies.push(encode(&Message::HelloAck(reply)));
                        println!("{tag}-WIRE-REFUSED wire={} {reason:?}", wire);
                    }
                    Ok(Step::PeerClosed(r)) => {
                        println!("{tag}-WIRE-PEER-CLOSED wire={} {r:?}", wire);
                        fatal = true;
                    }
                    Ok(Step::Nothing | Step::Keepalive(_)) => {}
                    Err(e) if e.is_fatal() => {
                        println!("{tag}-WIRE-ERROR wire={} {e}", wire);
                        fatal = true;
                    }
                    Err(_) => self.counters.rx_refused_frame += 1,
                }
                if fatal {
                    break;
                }
            }
            let done = rx.rx_done();
            if done.notify {
                let _ = rt.events.notify(port);
            }
            if fatal || !done.more {
                break;
            }
        }
        for r in replies {
            if !r.is_empty() {
                self.queue.push_back(r);
            }
        }
        if fatal {
            self.counters.wire_errors += 1;
            self.link.link_failed(rt);
            self.reset();
            outcome.lost = true;
            return outcome;
        }
        self.flush(rt);
        outcome
    }
}

fn encode(msg: &Message<'_>) -> Vec<u8> {
    let mut rec = vec![0u8; msg.encoded_len()];
    match msg.encode(&mut rec) {
        Ok(n) => {
            rec.truncate(n);
            rec
        }
        Err(_) => Vec::new(),
    }
}
