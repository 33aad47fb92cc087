//! The data plane against real wire rings in heap memory (each endpoint's
//! Spike played by a channel) and a fake NIC: every route of a frame.

mod admission;
mod fake_nic;
mod routes;
mod spoof;
mod tap;
mod tunnel;

use std::vec::Vec;

use local_wire::channel::{Channel, Identity};
use local_wire::{HeapMemory, RingPages, WireEnd};
use netframe::FrameMeta;
use wire_proto::{Features, Role};

use super::*;
use crate::switch::SwitchConfig;
use fake_nic::FakeNic;

pub const GUEST: [[u8; 6]; 3] = [
    [0, 0x16, 0x3e, 0, 0, 1],
    [0, 0x16, 0x3e, 0, 0, 2],
    [0, 0x16, 0x3e, 0, 0, 3],
];
pub const PEER: [u8; 6] = [0x52, 0x54, 0, 0x77, 0, 1];
const ALL: Features = Features(Features::CSUM.0 | Features::GSO_TCPV4.0 | Features::GSO_TCPV6.0);

fn corm_identity(endpoint: u16) -> Identity {
    Identity {
        role: Role::Corm,
        endpoint: u32::from(endpoint),
        features: ALL,
        mtu: 1500,
    }
}

/// How a test Spike is wired to its endpoint.
pub struct Spike<'a> {
    pub vlan: Option<u16>,
    /// The MAC its hello announces.
    pub announce: [u8; 6],
    /// The MACs the Corm allows it (`None`: any).
    pub allow: Option<&'a [[u8; 6]]>,
    pub features: Features,
}

/// A Corm data plane with endpoints wired to test Spikes.
pub struct Lab {
    pub dp: Dataplane<HeapMemory>,
    pub spikes: Vec<Channel<HeapMemory>>,
    pub nic: FakeNic,
    pub now: u64,
}

impl Lab {
    /// `vlans[i]`: endpoint i's VLAN; each endpoint's Spike serves `GUEST[i]`.
    pub fn new(vlans: &[Option<u16>]) -> Lab {
        Self::with_spike_features(vlans, ALL)
    }

    /// The same, the Spikes offering `features`.
    pub fn with_spike_features(vlans: &[Option<u16>], features: Features) -> Lab {
        let spikes: Vec<Spike> = vlans
            .iter()
            .enumerate()
            .map(|(i, vlan)| Spike {
                vlan: *vlan,
                announce: GUEST[i],
                allow: None,
                features,
            })
            .collect();
        let (lab, events) = Lab::build(&spikes);
        let ups = events
            .iter()
            .filter(|e| matches!(e, Event::Up { .. }))
            .count();
        assert_eq!(ups, vlans.len(), "every wire came up");
        lab
    }

    /// Endpoint i wired to a Spike as `spikes[i]` says, everything polled
    /// until settled; the events the data plane reported.
    pub fn build(spikes: &[Spike]) -> (Lab, Vec<Event>) {
        let mut dp = Dataplane::new(Switch::new(SwitchConfig::default()));
        let mut chans = Vec::new();
        for (i, sp) in spikes.iter().enumerate() {
            let id = i as u16;
            dp.add_endpoint(id, sp.vlan).unwrap();
            assert!(dp.plug(id, 10 + u32::from(id), corm_identity(id)));
            let mem = HeapMemory::new(RingPages::FOR_FRAMES);
            let ch = dp.channel(id).unwrap();
            if let Some(allow) = sp.allow {
                ch.allow_macs(Some(allow));
            }
            ch.attach(WireEnd::offer(mem.clone(), 0).unwrap(), 0);
            let mut s = Channel::new(
                10 + u32::from(id),
                Identity {
                    role: Role::Spike,
                    endpoint: 0,
                    features: sp.features,
                    mtu: 1500,
                },
            );
            s.attach(WireEnd::accept(mem).unwrap(), 0);
            s.announce(&[sp.announce]);
            chans.push(s);
        }
        let mut lab = Lab {
            dp,
            spikes: chans,
            nic: FakeNic::new(),
            now: 1,
        };
        let mut events = Vec::new();
        for _ in 0..6 {
            lab.dp.poll_wires(lab.now, &mut |ev| events.push(ev));
            for s in &mut lab.spikes {
                s.poll(lab.now);
            }
        }
        (lab, events)
    }

    /// Everything endpoint `i`'s Spike received, with metadata.
    pub fn received(&mut self, i: usize) -> Vec<(Vec<u8>, FrameMeta)> {
        let s = &mut self.spikes[i];
        let mut out = Vec::new();
        while let Some(f) = s.recv(self.now) {
            let mut b = vec![0; f.len()];
            s.rx_read(&f, 0, &mut b);
            s.rx_release(&f);
            out.push((b, f.meta));
        }
        let _ = s.rx_finish();
        out
    }

    /// Endpoint `i`'s Spike sends `frame`.
    pub fn spike_sends(&mut self, i: usize, frame: &[u8], meta: FrameMeta) {
        let s = &mut self.spikes[i];
        s.send(frame, meta).unwrap();
        let _ = s.tx_flush(self.now);
    }

    pub fn pump_from_nic(&mut self) -> usize {
        self.dp.from_nic(&mut self.nic, 64, self.now)
    }

    pub fn pump_to_nic(&mut self) -> bool {
        self.dp.to_nic(&mut self.nic, 64, self.now)
    }
}

/// An Ethernet frame `dst` <- `src` with `payload` bytes after the header.
pub fn eth(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: usize) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend((0..payload).map(|i| (i * 7 + 1) as u8));
    f
}
