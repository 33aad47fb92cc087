//! Hostile frames from the physical network through the encap wire's
//! decapsulation: never a panic; a data verdict's inner range lies inside
//! the frame and holds at least an Ethernet header; re-encapsulating a data
//! verdict's inner frame (or re-emitting a control verdict) and decapsulating
//! again gives back the same VNI and bytes; the per-wire peer state takes
//! whatever the decap lets through.
#![no_main]

use std::net::{Ipv4Addr, SocketAddrV4};

use encap::decap::{decapsulate_counted, DecapConfig, DecapCounters, Verdict};
use encap::{Encap, Peer, PeerConfig, Template, TemplateConfig};
use libfuzzer_sys::fuzz_target;

const LOCAL: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const LOCAL_MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x77, 0x00, 0x02];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, frame)) = data.split_first() else {
        return;
    };
    let encap = if sel & 1 == 0 {
        Encap::Geneve
    } else {
        Encap::Vxlan
    };
    // Bit 2: repair the IPv4 header checksum first, so that the fuzzer
    // explores the layers behind it instead of stopping at it.
    let mut repaired;
    let frame = if sel & 4 != 0 {
        repaired = frame.to_vec();
        fix_ipv4_checksum(&mut repaired);
        &repaired[..]
    } else {
        frame
    };
    let cfg = DecapConfig {
        local_mac: LOCAL_MAC,
        local: LOCAL,
        encap,
        port: encap.default_port(),
    };
    let mut counters = DecapCounters::new();
    let verdict = decapsulate_counted(&cfg, frame, &mut counters);
    let (vni, src) = match &verdict {
        Verdict::Data { vni, inner, src } => {
            assert!(inner.start <= inner.end && inner.end <= frame.len());
            assert!(inner.len() >= 14);
            (*vni, *src)
        }
        Verdict::Control { vni, src, .. } => (*vni, *src),
        Verdict::Drop(_) => {
            assert_eq!(counters.data + counters.control, 0);
            return;
        }
    };
    assert_ne!(*src.ip(), LOCAL);
    // Back the other way: a template toward the sender.
    let t = Template::new(&TemplateConfig {
        encap,
        vni,
        src_mac: [2, 0, 0, 0, 0, 2],
        dst_mac: LOCAL_MAC,
        vlan: (sel & 2 != 0).then_some(10),
        local: *src.ip(),
        remote: LOCAL,
        dst_port: cfg.port,
        underlay_mtu: u16::MAX,
    });
    let Ok(t) = t else {
        return; // a source the template would not send from (never, after decap's checks)
    };
    let mut out = vec![0u8; frame.len() + 64];
    match &verdict {
        Verdict::Data { inner, .. } => {
            let inner_bytes = &frame[inner.clone()];
            let n = t
                .encapsulate(inner_bytes, &mut out)
                .expect("re-encapsulate");
            match decapsulate_counted(&cfg, &out[..n], &mut counters) {
                Verdict::Data {
                    vni: v2, inner: r2, ..
                } => {
                    assert_eq!(v2, vni);
                    assert_eq!(&out[r2], inner_bytes);
                }
                other => panic!("re-encapsulated data came back as {other:?}"),
            }
        }
        Verdict::Control { msg, .. } => {
            let n = t.control(msg, &mut out).expect("re-emit control");
            match decapsulate_counted(&cfg, &out[..n], &mut counters) {
                Verdict::Control {
                    vni: v2, msg: m2, ..
                } => assert_eq!((v2, &m2), (vni, msg)),
                other => panic!("re-emitted control came back as {other:?}"),
            }
        }
        Verdict::Drop(_) => unreachable!(),
    }
    // The peer takes it (or drops it as foreign) without panicking.
    let mut peer = Peer::new(PeerConfig {
        vni,
        remote: SocketAddrV4::new(*src.ip(), cfg.port),
        local_epoch: 1,
        control: true,
    });
    match verdict {
        Verdict::Data { vni, src, .. } => peer.accept_data(vni, src, 1).expect("own peer"),
        Verdict::Control { vni, src, msg } => {
            peer.on_control(vni, src, msg, 1).expect("first control");
        }
        Verdict::Drop(_) => unreachable!(),
    }
    while peer.poll(2).is_some() {}
});

fn fix_ipv4_checksum(f: &mut [u8]) {
    let at = if f.get(12..14) == Some(&[0x81, 0x00]) {
        18
    } else {
        14
    };
    let Some(ihl) = f.get(at).map(|b| usize::from(b & 0x0F) * 4) else {
        return;
    };
    let Some(h) = f.get_mut(at..at + ihl) else {
        return;
    };
    if h.len() < 20 {
        return;
    }
    h[10] = 0;
    h[11] = 0;
    let mut acc: u32 = h
        .chunks(2)
        .map(|w| u32::from(w[0]) << 8 | u32::from(w[1]))
        .sum();
    while acc >> 16 != 0 {
        acc = (acc & 0xFFFF) + (acc >> 16);
    }
    h[10..12].copy_from_slice(&(!(acc as u16)).to_be_bytes());
}
