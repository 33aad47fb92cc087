//! The Corm's underlay (`tunnel::Underlay`): every frame from the NIC goes
//! through `receive` first, so anyone on the physical network reaches it.
//! Frames are arbitrary bytes or valid VXLAN/Geneve/ARP frames the input
//! then corrupts; tunnels' outer headers are asked for arbitrary inner
//! frames; time moves as the input says.
//!
//! Asserted, besides "no panic":
//! * an `Inner` verdict names a tunnel's endpoint and a range inside the
//!   frame of at least an Ethernet header, and comes only from a frame sent
//!   to our MAC from that tunnel's remote address with its VNI;
//! * whatever the underlay sends on its own is a 60-byte ARP frame from our
//!   MAC and address;
//! * outer headers are 50 bytes, for inner frames of 14..=1464 bytes only;
//! * the counters never go down.
#![no_main]

use core::net::{Ipv4Addr, SocketAddrV4};

use corm_domain::switch::arp::{parse, ARP_LEN};
use corm_domain::tunnel::{arp, Rx, TunnelConfig, Underlay, UnderlayConfig};
use encap::template::MAX_HEADER_LEN;
use encap::{Encap, Template, TemplateConfig, Vni};
use libfuzzer_sys::arbitrary::{Result as AResult, Unstructured};
use libfuzzer_sys::fuzz_target;

const US: [u8; 6] = [0x52, 0x54, 0, 0x77, 0, 3];
const OURS: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 40);
const PEER_MAC: [u8; 6] = [0x02, 0x42, 0, 0, 0, 1];
/// (wire, endpoint, encap, vni, remote)
const TUNNELS: [(u32, u16, Encap, u32, Ipv4Addr); 2] = [
    (7, 1, Encap::Vxlan, 42, Ipv4Addr::new(10, 77, 0, 1)),
    (8, 2, Encap::Geneve, 43, Ipv4Addr::new(10, 77, 0, 2)),
];
const MAX_STEPS: usize = 64;

fn vtep_frame(u: &mut Unstructured, encap: Encap, vni: u32, from: Ipv4Addr) -> AResult<Vec<u8>> {
    let port = match encap {
        Encap::Vxlan => 4789,
        Encap::Geneve => 6081,
    };
    let t = Template::new(&TemplateConfig {
        encap,
        vni: Vni::new(vni).unwrap(),
        src_mac: PEER_MAC,
        dst_mac: US,
        vlan: None,
        local: from,
        remote: OURS,
        dst_port: port,
        underlay_mtu: 1500,
    })
    .unwrap();
    let len = u.int_in_range(14..=200usize)?;
    let mut inner = u.bytes(len.min(u.len()))?.to_vec();
    inner.resize(len, 0);
    let mut out = vec![0u8; 1600];
    Ok(match t.encapsulate(&inner, &mut out) {
        Ok(n) => out[..n].to_vec(),
        Err(_) => inner,
    })
}

fn frame(u: &mut Unstructured) -> AResult<Vec<u8>> {
    let mut f = match u.int_in_range(0..=5u8)? {
        0 => {
            let n = u.int_in_range(0..=300usize)?;
            u.bytes(n.min(u.len()))?.to_vec()
        }
        1 => {
            let (_, _, e, vni, from) = TUNNELS[u.choose_index(2)?];
            vtep_frame(u, e, vni, from)?
        }
        2 => {
            // A right VNI from the wrong remote, or a wrong VNI.
            let (_, _, e, vni, _) = TUNNELS[u.choose_index(2)?];
            let from = Ipv4Addr::from(u.arbitrary::<u32>()?);
            if from.is_unspecified() || from.is_broadcast() || from.is_multicast() || from.is_loopback() {
                return Ok(Vec::new());
            }
            let vni = if u.arbitrary()? { vni } else { u.int_in_range(0..=0xFF_FFFFu32)? };
            vtep_frame(u, e, vni, from)?
        }
        3 => arp::request(PEER_MAC, Ipv4Addr::new(10, 77, 0, 1), OURS).to_vec(),
        4 => {
            let q = parse(&arp::request(US, OURS, Ipv4Addr::new(10, 77, 0, 1))).unwrap();
            arp::reply(&q, PEER_MAC, Ipv4Addr::new(10, 77, 0, 1)).to_vec()
        }
        _ => {
            let q = parse(&arp::request(US, OURS, Ipv4Addr::from(u.arbitrary::<u32>()?))).unwrap();
            arp::reply(&q, u.arbitrary()?, q.tpa).to_vec()
        }
    };
    // Corrupt some bytes.
    for _ in 0..u.int_in_range(0..=3u8)? {
        if f.is_empty() {
            break;
        }
        let i = u.choose_index(f.len())?;
        f[i] = u.arbitrary()?;
    }
    Ok(f)
}

fn check_sent(b: &[u8]) {
    assert_eq!(b.len(), arp::FRAME_LEN, "the underlay sent a {}-byte frame", b.len());
    assert_eq!(&b[6..12], &US);
    let a = parse(b).expect("the underlay sent something that is not ARP");
    assert_eq!((a.sha, a.spa), (US, OURS));
    assert!(b.len() >= 14 + ARP_LEN);
}

fn totals(u: &Underlay) -> u64 {
    let mut t: u64 = u.counters.iter().map(|(_, v)| v).sum();
    t += u.decap.iter().map(|(_, v)| v).sum::<u64>();
    for (_, c, p) in u.tunnel_counters() {
        t += c.iter().map(|(_, v)| v).sum::<u64>();
        t += p.iter().map(|(_, v)| v).sum::<u64>();
    }
    t
}

fn run(u: &mut Unstructured) -> AResult<()> {
    let cfg = UnderlayConfig::parse("10.77.0.40/24", None).unwrap();
    let mut ul = Underlay::new(cfg, US, 1);
    for (wire, endpoint, encap, vni, remote) in TUNNELS {
        let port = match encap {
            Encap::Vxlan => 4789,
            Encap::Geneve => 6081,
        };
        ul.add(TunnelConfig {
            wire,
            endpoint,
            encap,
            vni: Vni::new(vni).unwrap(),
            remote: SocketAddrV4::new(remote, port),
            control: wire == 8,
            wireguard: None,
        })
        .unwrap();
    }
    let mut now: u64 = 0;
    let mut before = 0;
    for _ in 0..MAX_STEPS {
        if u.is_empty() {
            break;
        }
        now = match u.int_in_range(0..=3u8)? {
            0 => now,
            1 => now + u.int_in_range(0..=5_000_000_000u64)?,
            2 => now.saturating_sub(u.int_in_range(0..=1_000_000_000u64)?),
            _ => now + 70_000_000_000,
        };
        if u.arbitrary()? {
            // Received in place (a tunnel wire's datagram is opened there).
            let mut f = frame(u)?;
            match ul.receive(&mut f, now, &mut check_sent) {
                Rx::Inner { endpoint, inner } => {
                    let t = TUNNELS.iter().find(|t| t.1 == endpoint).expect("Inner for a non-tunnel endpoint");
                    assert!(inner.end <= f.len() && inner.len() >= 14, "{inner:?} of {}", f.len());
                    assert_eq!(&f[..6], &US, "Inner from a frame not to our MAC");
                    // The outer IPv4 source, after at most one 802.1Q tag.
                    let at = if f[12..14] == [0x81, 0x00] { 30 } else { 26 };
                    let src = Ipv4Addr::new(f[at], f[at + 1], f[at + 2], f[at + 3]);
                    assert_eq!(src, t.4, "Inner from another source than the remote");
                }
                Rx::Consumed | Rx::Foreign => {}
            }
        } else {
            let endpoint = u.int_in_range(0..=3u16)?;
            let len = u.int_in_range(0..=1600usize)?;
            let head_len = u.int_in_range(0..=128usize)?.min(len);
            let mut head = u.bytes(head_len.min(u.len()))?.to_vec();
            head.resize(head_len, 0);
            let mut out = [0u8; MAX_HEADER_LEN];
            if let Ok(n) = ul.header_for(endpoint, &head, len, now, &mut out, &mut check_sent) {
                assert_eq!(n, 50);
                assert!((14..=1464).contains(&len), "headers for a {len}-byte inner frame");
                assert!(endpoint == 1 || endpoint == 2);
            }
        }
        let after = totals(&ul);
        assert!(after >= before, "a counter went down");
        before = after;
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
