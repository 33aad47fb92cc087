//! The Spike's wire: a local-wire link to the peer endpoint (a Corm port or
//! another Spike) carrying wire-proto messages, one per ring record.
//!
//! The hello goes out once the link is up and a vif's MAC is known (a Spike
//! announces its guest's MAC, wire-proto/PROTOCOL.md "Negotiation"). Frames
//! that find the ring full wait in a bounded queue; beyond it they are
//! dropped and counted, never blocking the guest's TX ring.

use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;

use local_wire::domain::{Link, WireConfig};
use local_wire::SendError;
use pv_runtime::abi::Port;
use pv_runtime::println;
use pv_runtime::runtime::Runtime;
use pv_runtime::xenstore::WatchEvent;
use wire_proto::{
    EndpointId, Features, Frame, Hello, MacAddr, Message, Negotiator, Role, Step, WireId,
};

/// Records waiting for ring space (a full ring means the peer is slow).
const TX_QUEUE_MAX: usize = 512;
/// Largest record we accept: a whole GSO frame plus message overhead.
const RX_BUF: usize = 64 * 1024 + 128;

/// Per-wire counters, published under the Spike's xenstore path.
#[derive(Clone, Copy, Debug, Default)]
pub struct UplinkCounters {
    pub tx_frames: u64,
    pub tx_bytes: u64,
    pub rx_frames: u64,
    pub rx_bytes: u64,
    pub tx_queue_full: u64,
    pub tx_not_established: u64,
    pub rx_bad_message: u64,
    pub rx_refused_frame: u64,
    pub wire_errors: u64,
}

impl UplinkCounters {
    pub fn iter(&self) -> [(&'static str, u64); 9] {
        [
            ("tx-frames", self.tx_frames),
            ("tx-bytes", self.tx_bytes),
            ("rx-frames", self.rx_frames),
            ("rx-bytes", self.rx_bytes),
            ("tx-queue-full", self.tx_queue_full),
            ("tx-not-established", self.tx_not_established),
            ("rx-bad-message", self.rx_bad_message),
            ("rx-refused-frame", self.rx_refused_frame),
            ("wire-errors", self.wire_errors),
        ]
    }
}

pub struct Uplink {
    link: Link,
    nego: Option<Negotiator>,
    queue: VecDeque<Vec<u8>>,
    rx_buf: Vec<u8>,
    pub counters: UplinkCounters,
}

impl Uplink {
    pub fn start(rt: &mut Runtime, config: WireConfig) -> Self {
        Self {
            link: Link::start(rt, config),
            nego: None,
            queue: VecDeque::new(),
            rx_buf: vec![0; RX_BUF],
            counters: UplinkCounters::default(),
        }
    }

    pub fn config(&self) -> WireConfig {
        self.link.config
    }

    pub fn wire(&self) -> u32 {
        self.link.config.wire
    }

    pub fn port(&self) -> Option<Port> {
        self.link.port()
    }

    pub fn is_established(&self) -> bool {
        self.link.is_connected() && self.nego.as_ref().is_some_and(Negotiator::is_established)
    }

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

    pub fn shutdown(&mut self, rt: &mut Runtime) {
        self.link.shutdown(rt);
        self.reset();
    }

    /// Sends the hello once there is a link and a MAC to announce.
    fn ensure_hello(&mut self, rt: &mut Runtime, mac: Option<[u8; 6]>) {
        if self.nego.is_some() || !self.link.is_connected() {
            return;
        }
        let Some(mac) = mac else { return };
        let mut hello = Hello::new(
            Role::Spike,
            WireId(self.link.config.wire),
            EndpointId(0),
            1500,
            Features::CSUM | Features::GSO_TCPV4 | Features::GSO_TCPV6,
        );
        let _ = hello.push_mac(MacAddr(mac));
        let nego = Negotiator::new(hello);
        let msg = nego.hello();
        self.nego = Some(nego);
        self.send_message(rt, &msg, true);
        println!("SPIKE-WIRE-HELLO wire={}", self.link.config.wire);
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
            Err(_) => {
                self.counters.wire_errors += 1;
                self.link.local_error(rt);
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
    pub fn poll(
        &mut self,
        rt: &mut Runtime,
        mac: Option<[u8; 6]>,
        mut deliver: impl FnMut(&Frame<'_>),
    ) {
        self.ensure_hello(rt, mac);
        // Without our own hello there is nothing to negotiate with: leave the
        // peer's records in the ring until a vif gives us a MAC.
        if self.nego.is_none() {
            return;
        }
        let Some(port) = self.link.port() else { return };
        let wire = self.link.config.wire;
        let mut replies: Vec<Vec<u8>> = Vec::new();
        let mut fatal = false;
        // Bounded: at most two ring's worth of passes per wake-up.
        for _ in 0..64 {
            let Some(end) = self.link.end() else { return };
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
                    Ok(Step::Established(p)) => println!(
                        "SPIKE-WIRE-UP wire={} mtu={} features={:?}",
                        wire, p.mtu, p.features
                    ),
                    Ok(Step::Refuse { reply, reason }) => {
                        replies.push(encode(&Message::HelloAck(reply)));
                        println!("SPIKE-WIRE-REFUSED wire={} {reason:?}", wire);
                    }
                    Ok(Step::PeerClosed(r)) => {
                        println!("SPIKE-WIRE-PEER-CLOSED wire={} {r:?}", wire);
                        fatal = true;
                    }
                    Ok(Step::Nothing | Step::Keepalive(_)) => {}
                    Err(e) if e.is_fatal() => {
                        println!("SPIKE-WIRE-ERROR wire={} {e}", wire);
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
            self.link.local_error(rt);
            self.reset();
            return;
        }
        self.flush(rt);
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
