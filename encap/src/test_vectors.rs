//! Interop vectors written out by hand (as Linux's `geneve` and `vxlan`
//! devices send them, RFC 8926 §3 / RFC 7348 §5 layouts), round trips
//! through the template and the decap, and every malformed case the decap
//! names.

use core::net::{Ipv4Addr, SocketAddrV4};

use crate::control::{Control, ControlKind};
use crate::decap::{decapsulate, decapsulate_counted, DecapConfig, DecapCounters, Reason, Verdict};
use crate::template::{EncapError, Template, TemplateConfig};
use crate::underlay::{fill_udp_checksum, Ipv4Packet, UdpPacket};
use crate::{peer, Encap, Vni};

const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const MAC_A: [u8; 6] = [0x52, 0x54, 0x00, 0x77, 0x00, 0x01];
const MAC_B: [u8; 6] = [0x52, 0x54, 0x00, 0x77, 0x00, 0x02];

/// Geneve, no options, UDP checksum 0, VNI 100, source port 0xd431: 14 +
/// 20 + 8 + 8 bytes of headers in front of a 50-byte inner ICMP echo from
/// 00:16:3e:00:00:01 (10.0.0.1) to 00:16:3e:00:00:02 (10.0.0.2).
#[rustfmt::skip]
const GENEVE_PLAIN: [u8; 100] = [
    0x52, 0x54, 0x00, 0x77, 0x00, 0x02, 0x52, 0x54, 0x00, 0x77, 0x00, 0x01, 0x08, 0x00, 0x45, 0x00,
    0x00, 0x56, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb6, 0x93, 0xc0, 0x00, 0x02, 0x01, 0xc0, 0x00,
    0x02, 0x02, 0xd4, 0x31, 0x17, 0xc1, 0x00, 0x42, 0x00, 0x00, 0x00, 0x00, 0x65, 0x58, 0x00, 0x00,
    0x64, 0x00, 0x00, 0x16, 0x3e, 0x00, 0x00, 0x02, 0x00, 0x16, 0x3e, 0x00, 0x00, 0x01, 0x08, 0x00,
    0x45, 0x00, 0x00, 0x24, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x01, 0x0a, 0x91, 0x0a, 0x00, 0x00, 0x01,
    0x0a, 0x00, 0x00, 0x02, 0x08, 0x00, 0x54, 0x35, 0x12, 0x34, 0x00, 0x01, 0x61, 0x62, 0x63, 0x64,
    0x65, 0x66, 0x67, 0x68,
];

/// The same inner frame with a UDP checksum (0xb26a) and one non-critical
/// option (class 0x0102, type 0x03, one word 0xdeadbeef) as a
/// metadata-carrying VTEP (OVS `tun_metadata`) sends.
#[rustfmt::skip]
const GENEVE_OPTION_CSUM: [u8; 108] = [
    0x52, 0x54, 0x00, 0x77, 0x00, 0x02, 0x52, 0x54, 0x00, 0x77, 0x00, 0x01, 0x08, 0x00, 0x45, 0x00,
    0x00, 0x5e, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb6, 0x8b, 0xc0, 0x00, 0x02, 0x01, 0xc0, 0x00,
    0x02, 0x02, 0xc0, 0x01, 0x17, 0xc1, 0x00, 0x4a, 0xb2, 0x6a, 0x02, 0x00, 0x65, 0x58, 0x00, 0x00,
    0x64, 0x00, 0x01, 0x02, 0x03, 0x01, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x16, 0x3e, 0x00, 0x00, 0x02,
    0x00, 0x16, 0x3e, 0x00, 0x00, 0x01, 0x08, 0x00, 0x45, 0x00, 0x00, 0x24, 0x1c, 0x46, 0x40, 0x00,
    0x40, 0x01, 0x0a, 0x91, 0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x02, 0x08, 0x00, 0x54, 0x35,
    0x12, 0x34, 0x00, 0x01, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
];

/// VXLAN (I flag, VNI 100) to port 4789, UDP checksum 0, same inner frame.
#[rustfmt::skip]
const VXLAN: [u8; 100] = [
    0x52, 0x54, 0x00, 0x77, 0x00, 0x02, 0x52, 0x54, 0x00, 0x77, 0x00, 0x01, 0x08, 0x00, 0x45, 0x00,
    0x00, 0x56, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb6, 0x93, 0xc0, 0x00, 0x02, 0x01, 0xc0, 0x00,
    0x02, 0x02, 0xe2, 0xb7, 0x12, 0xb5, 0x00, 0x42, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x64, 0x00, 0x00, 0x16, 0x3e, 0x00, 0x00, 0x02, 0x00, 0x16, 0x3e, 0x00, 0x00, 0x01, 0x08, 0x00,
    0x45, 0x00, 0x00, 0x24, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x01, 0x0a, 0x91, 0x0a, 0x00, 0x00, 0x01,
    0x0a, 0x00, 0x00, 0x02, 0x08, 0x00, 0x54, 0x35, 0x12, 0x34, 0x00, 0x01, 0x61, 0x62, 0x63, 0x64,
    0x65, 0x66, 0x67, 0x68,
];

fn vni(v: u32) -> Vni {
    Vni::new(v).unwrap()
}

fn rx(encap: Encap) -> DecapConfig {
    DecapConfig {
        local_mac: MAC_B,
        local: B,
        encap,
        port: encap.default_port(),
    }
}

fn tx(encap: Encap, vlan: Option<u16>) -> Template {
    Template::new(&TemplateConfig {
        encap,
        vni: vni(100),
        src_mac: MAC_A,
        dst_mac: MAC_B,
        vlan,
        local: A,
        remote: B,
        dst_port: encap.default_port(),
        underlay_mtu: 1500,
    })
    .unwrap()
}

fn data(v: &Verdict) -> (Vni, core::ops::Range<usize>, SocketAddrV4) {
    match v {
        Verdict::Data { vni, inner, src } => (*vni, inner.clone(), *src),
        other => panic!("not data: {other:?}"),
    }
}

#[test]
fn linux_style_vectors_decode() {
    let (v, inner, src) = data(&decapsulate(&rx(Encap::Geneve), &GENEVE_PLAIN));
    assert_eq!(
        (v, inner.clone(), src),
        (vni(100), 50..100, SocketAddrV4::new(A, 0xd431))
    );
    assert_eq!(&GENEVE_PLAIN[inner][..6], &[0, 0x16, 0x3e, 0, 0, 2]);
    let (v, inner, src) = data(&decapsulate(&rx(Encap::Geneve), &GENEVE_OPTION_CSUM));
    assert_eq!((v, inner, src.port()), (vni(100), 58..108, 0xc001));
    let (v, inner, _) = data(&decapsulate(&rx(Encap::Vxlan), &VXLAN));
    assert_eq!((v, inner), (vni(100), 50..100));
    // The wire's port, not the other encap's.
    assert_eq!(
        decapsulate(&rx(Encap::Vxlan), &GENEVE_PLAIN),
        Verdict::Drop(Reason::WrongPort)
    );
    let not_us = DecapConfig {
        local: A,
        ..rx(Encap::Geneve)
    };
    assert_eq!(
        decapsulate(&not_us, &GENEVE_PLAIN),
        Verdict::Drop(Reason::NotForUs)
    );
}

#[test]
fn template_builds_the_linux_bytes() {
    for (encap, vector) in [(Encap::Geneve, &GENEVE_PLAIN), (Encap::Vxlan, &VXLAN)] {
        let t = tx(encap, None);
        assert_eq!(t.header_len(), crate::OVERHEAD);
        let mut out = [0u8; 200];
        let n = t.encapsulate(&vector[50..], &mut out).unwrap();
        assert_eq!(n, 100);
        let port = u16::from_be_bytes([out[34], out[35]]);
        assert!(port >= 49152, "ephemeral source port {port}");
        out[34..36].copy_from_slice(&vector[34..36]);
        assert_eq!(&out[..n], &vector[..], "{encap:?}");
    }
}

#[test]
fn round_trips_and_mtu() {
    for encap in [Encap::Geneve, Encap::Vxlan] {
        for vlan in [None, Some(20)] {
            let t = tx(encap, vlan);
            assert_eq!((t.inner_mtu(), t.max_inner_len()), (1450, 1464));
            let mut out = vec![0u8; 1600];
            for len in [14, 60, 1000, 1464] {
                let inner: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
                let n = t.encapsulate(&inner, &mut out).unwrap();
                let ip_len = Ipv4Packet::new_checked(&out[t.header_len() - 36..n]).unwrap();
                assert!(ip_len.total_len() <= 1500);
                let (v, range, src) = data(&decapsulate(&rx(encap), &out[..n]));
                assert_eq!((v, src.ip(), &out[range]), (vni(100), &A, &inner[..]));
                // In place: the same bytes.
                let mut buf = vec![0u8; t.header_len() + len];
                buf[t.header_len()..].copy_from_slice(&inner);
                assert_eq!(t.encapsulate_in_place(&mut buf, len), Ok(n));
                assert_eq!(&buf[..], &out[..n]);
                // Headers alone, for an inner frame gathered from pieces:
                // the same bytes, from its head only.
                let mut hdr = [0u8; crate::template::MAX_HEADER_LEN];
                let head = &inner[..inner.len().min(128)];
                assert_eq!(t.header_for(head, len, &mut hdr), Ok(t.header_len()));
                assert_eq!(&hdr[..t.header_len()], &out[..t.header_len()]);
            }
            let big = vec![0u8; 1465];
            assert_eq!(
                t.encapsulate(&big, &mut out),
                Err(EncapError::TooBig { mtu: 1450 })
            );
            assert_eq!(t.encapsulate(&[0; 13], &mut out), Err(EncapError::Runt));
            let mut hdr = [0u8; crate::template::MAX_HEADER_LEN];
            assert_eq!(
                t.header_for(&big[..128], 1465, &mut hdr),
                Err(EncapError::TooBig { mtu: 1450 })
            );
            assert_eq!(
                t.header_for(&big[..10], 60, &mut hdr),
                Err(EncapError::Runt)
            );
            assert_eq!(
                t.encapsulate(&[0; 60], &mut out[..60]),
                Err(EncapError::NoRoom {
                    need: 60 + t.header_len()
                })
            );
            assert!(t.encapsulate_in_place(&mut out[..10], 60).is_err());
        }
    }
}

#[test]
fn control_round_trips() {
    let msg = Control {
        kind: ControlKind::Keepalive,
        epoch: 9,
        seq: 1234,
    };
    for encap in [Encap::Geneve, Encap::Vxlan] {
        for vlan in [None, Some(7)] {
            let t = tx(encap, vlan);
            let mut out = [0u8; 200];
            let n = t.control(&msg, &mut out).unwrap();
            let v = decapsulate(&rx(encap), &out[..n]);
            let want = Verdict::Control {
                vni: vni(100),
                msg,
                src: match v {
                    Verdict::Control { src, .. } => src,
                    _ => panic!("{v:?}"),
                },
            };
            assert_eq!(v, want);
            assert!(t.control(&msg, &mut out[..n - 1]).is_err());
        }
    }
    // A guest frame dressed as VXLAN control is refused on the way out.
    let mut fake = [0u8; 60];
    msg.emit_vxlan_frame(&mut fake).unwrap();
    let mut out = [0u8; 200];
    assert_eq!(
        tx(Encap::Vxlan, None).encapsulate(&fake, &mut out),
        Err(EncapError::LooksLikeControl)
    );
    assert!(
        tx(Encap::Geneve, None).encapsulate(&fake, &mut out).is_ok(),
        "just data on Geneve"
    );
}

#[test]
fn template_config_checks() {
    let good = TemplateConfig {
        encap: Encap::Geneve,
        vni: vni(1),
        src_mac: MAC_A,
        dst_mac: MAC_B,
        vlan: None,
        local: A,
        remote: B,
        dst_port: 6081,
        underlay_mtu: 1500,
    };
    assert!(Template::new(&good).is_ok());
    for bad in [
        TemplateConfig {
            vlan: Some(0),
            ..good
        },
        TemplateConfig {
            vlan: Some(4095),
            ..good
        },
        TemplateConfig {
            underlay_mtu: 575,
            ..good
        },
        TemplateConfig {
            local: Ipv4Addr::UNSPECIFIED,
            ..good
        },
        TemplateConfig {
            remote: Ipv4Addr::new(224, 0, 0, 1),
            ..good
        },
        TemplateConfig {
            remote: Ipv4Addr::BROADCAST,
            ..good
        },
        TemplateConfig {
            src_mac: [1, 0, 0, 0, 0, 0],
            ..good
        },
    ] {
        assert_eq!(Template::new(&bad).err(), Some(EncapError::Config));
    }
    let mut t = Template::new(&good).unwrap();
    t.set_next_hop([2, 0, 0, 0, 0, 9]);
    assert_eq!(&t.header()[..6], &[2, 0, 0, 0, 0, 9]);
}

#[test]
fn source_port_follows_the_flow() {
    let t = tx(Encap::Geneve, None);
    let mut out = [0u8; 200];
    let port_of = |inner: &[u8], out: &mut [u8]| {
        t.encapsulate(inner, out).unwrap();
        u16::from_be_bytes([out[34], out[35]])
    };
    let mut frame = GENEVE_PLAIN[50..].to_vec();
    let p1 = port_of(&frame, &mut out);
    frame[90 - 50] ^= 0xFF; // payload bytes: same flow
    assert_eq!(port_of(&frame, &mut out), p1);
    let mut ports = std::collections::BTreeSet::new();
    for host in 1..=32u8 {
        frame[14 + 15] = host; // inner source address
        ports.insert(port_of(&frame, &mut out));
    }
    assert!(ports.len() > 16, "{ports:?}");
    assert!(ports.iter().all(|&p| p >= 49152));
}

/// Wraps a UDP payload in valid Ethernet/IPv4/UDP from A to B, port `port`.
fn wrap(udp_payload: &[u8], port: u16) -> Vec<u8> {
    let mut f = GENEVE_PLAIN[..42].to_vec();
    f.extend_from_slice(udp_payload);
    let ip_len = (f.len() - 14) as u16;
    f[16..18].copy_from_slice(&ip_len.to_be_bytes());
    f[24..26].copy_from_slice(&[0, 0]);
    let c = net_offload::checksum::checksum(&f[14..34]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    f[36..38].copy_from_slice(&port.to_be_bytes());
    f[38..40].copy_from_slice(&(ip_len - 20).to_be_bytes());
    f
}

fn drop_of(encap: Encap, frame: &[u8]) -> Reason {
    match decapsulate(&rx(encap), frame) {
        Verdict::Drop(r) => r,
        v => panic!("not dropped: {v:?}"),
    }
}

fn refix_ip(f: &mut [u8]) {
    f[24..26].copy_from_slice(&[0, 0]);
    let c = net_offload::checksum::checksum(&f[14..34]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
}

#[test]
fn truncated_at_every_boundary() {
    let g = Encap::Geneve;
    for cut in 0..14 {
        assert_eq!(drop_of(g, &GENEVE_PLAIN[..cut]), Reason::Runt);
    }
    for cut in 14..GENEVE_PLAIN.len() {
        assert_eq!(
            drop_of(g, &GENEVE_PLAIN[..cut]),
            Reason::Ipv4Truncated,
            "cut {cut}"
        );
    }
    // Consistent lengths, UDP payload cut: inside Geneve, inside its option,
    // inside the inner Ethernet header.
    let udp_payload = &GENEVE_OPTION_CSUM[42..];
    for cut in 0..8 {
        assert_eq!(
            drop_of(g, &wrap(&udp_payload[..cut], 6081)),
            Reason::TunnelTruncated
        );
    }
    for cut in 8..16 {
        assert_eq!(
            drop_of(g, &wrap(&udp_payload[..cut], 6081)),
            Reason::TunnelTruncated
        );
    }
    for cut in 16..30 {
        assert_eq!(
            drop_of(g, &wrap(&udp_payload[..cut], 6081)),
            Reason::InnerRunt
        );
    }
    assert!(matches!(
        decapsulate(&rx(g), &wrap(&udp_payload[..30], 6081)),
        Verdict::Data { .. }
    ));
    let vx = &VXLAN[42..];
    for cut in 0..8 {
        assert_eq!(
            drop_of(Encap::Vxlan, &wrap(&vx[..cut], 4789)),
            Reason::TunnelTruncated
        );
    }
    for cut in 8..22 {
        assert_eq!(
            drop_of(Encap::Vxlan, &wrap(&vx[..cut], 4789)),
            Reason::InnerRunt
        );
    }
    // IP payload shorter than a UDP header, lengths consistent.
    let mut f = GENEVE_PLAIN[..40].to_vec();
    f[16..18].copy_from_slice(&26u16.to_be_bytes());
    refix_ip(&mut f);
    assert_eq!(drop_of(g, &f), Reason::UdpTruncated);
}

#[test]
fn every_outer_layer_is_checked() {
    let g = Encap::Geneve;
    let mut counters = DecapCounters::new();
    let mut check = |f: &[u8], want: Reason| {
        assert_eq!(
            decapsulate_counted(&rx(g), f, &mut counters),
            Verdict::Drop(want)
        );
    };
    let mut other_mac = GENEVE_PLAIN.to_vec();
    other_mac[5] = 3;
    check(&other_mac, Reason::NotOurMac);
    other_mac[..6].copy_from_slice(&[0xFF; 6]);
    check(&other_mac, Reason::NotOurMac);
    let mut arp = GENEVE_PLAIN.to_vec();
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    check(&arp, Reason::NotIpv4);
    for tpid in [[0x88, 0xa8], [0x91, 0x00]] {
        let mut qinq = GENEVE_PLAIN.to_vec();
        qinq[12..14].copy_from_slice(&tpid);
        check(&qinq, Reason::StackedTag);
    }
    let mut two_tags = GENEVE_PLAIN[..12].to_vec();
    two_tags.extend_from_slice(&[0x81, 0, 0, 5, 0x81, 0, 0, 6]);
    two_tags.extend_from_slice(&GENEVE_PLAIN[12..]);
    check(&two_tags, Reason::StackedTag);
    let mut v6 = GENEVE_PLAIN.to_vec();
    v6[14] = 0x65;
    check(&v6, Reason::Ipv4BadHeader);
    let mut ihl = GENEVE_PLAIN.to_vec();
    ihl[14] = 0x44;
    check(&ihl, Reason::Ipv4BadHeader);
    let mut csum = GENEVE_PLAIN.to_vec();
    csum[25] ^= 1;
    check(&csum, Reason::Ipv4BadChecksum);
    for frag in [0x2000u16, 0x0001, 0x6000 | 0x00B9] {
        let mut f = GENEVE_PLAIN.to_vec();
        f[20..22].copy_from_slice(&frag.to_be_bytes());
        refix_ip(&mut f);
        check(&f, Reason::Ipv4Fragment);
    }
    let mut tcp = GENEVE_PLAIN.to_vec();
    tcp[23] = 6;
    refix_ip(&mut tcp);
    check(&tcp, Reason::NotUdp);
    for bad_src in [
        B,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::BROADCAST,
        Ipv4Addr::new(224, 0, 0, 5),
        Ipv4Addr::LOCALHOST,
    ] {
        let mut f = GENEVE_PLAIN.to_vec();
        f[26..30].copy_from_slice(&bad_src.octets());
        refix_ip(&mut f);
        check(&f, Reason::BadSource);
    }
    let mut udp_len = GENEVE_PLAIN.to_vec();
    udp_len[39] -= 1;
    check(&udp_len, Reason::UdpBadLength);
    let mut port = GENEVE_PLAIN.to_vec();
    port[37] = 0xC2;
    check(&port, Reason::WrongPort);
    let mut ucsum = GENEVE_OPTION_CSUM.to_vec();
    ucsum[41] ^= 1;
    check(&ucsum, Reason::UdpBadChecksum);
    // An intact checksum over a tampered payload.
    let mut tampered = GENEVE_OPTION_CSUM.to_vec();
    tampered[100] ^= 1;
    check(&tampered, Reason::UdpBadChecksum);
    // Ethernet padding after the IP packet is ignored.
    let mut padded = GENEVE_PLAIN.to_vec();
    padded.extend_from_slice(&[0; 8]);
    assert_eq!(data(&decapsulate(&rx(g), &padded)).1, 50..100);
    // A tagged outer frame.
    let mut tagged = GENEVE_PLAIN[..12].to_vec();
    tagged.extend_from_slice(&[0x81, 0, 0, 5]);
    tagged.extend_from_slice(&GENEVE_PLAIN[12..]);
    assert_eq!(data(&decapsulate(&rx(g), &tagged)).1, 54..104);
    assert_eq!(counters.get(Reason::BadSource), 5);
    assert_eq!(counters.get(Reason::Ipv4Fragment), 3);
    assert_eq!(counters.get(Reason::StackedTag), 3);
    assert_eq!(counters.iter().count(), Reason::COUNT + 2);
    assert!(Reason::ALL
        .iter()
        .all(|r| r.name().starts_with("dropped_") != r.is_foreign()));
}

#[test]
fn geneve_rules() {
    let g = Encap::Geneve;
    let body = &GENEVE_PLAIN[42..];
    let with = |edit: &dyn Fn(&mut Vec<u8>)| {
        let mut b = body.to_vec();
        edit(&mut b);
        wrap(&b, 6081)
    };
    assert_eq!(drop_of(g, &with(&|b| b[0] |= 0x40)), Reason::GeneveVersion);
    assert_eq!(
        drop_of(g, &with(&|b| b[2..4].copy_from_slice(&[0x08, 0x00]))),
        Reason::GeneveProtocol
    );
    assert_eq!(drop_of(g, &with(&|b| b[1] = 0x80)), Reason::OamNotOurs);
    // Opt Len 1 with an option claiming 2 data words.
    let overrun = with(&|b| {
        b[0] = 1;
        b.splice(8..8, [0x01, 0x02, 0x03, 0x02]);
    });
    assert_eq!(drop_of(g, &overrun), Reason::GeneveOptionOverrun);
    // An unknown critical option: dropped even if the C bit lies.
    for c_bit in [0x40, 0] {
        let crit = with(&|b| {
            b[0] = 1;
            b[1] = c_bit;
            b.splice(8..8, [0x01, 0x02, 0x83, 0x00]);
        });
        assert_eq!(drop_of(g, &crit), Reason::GeneveCritical);
    }
    // A data packet carrying our control option.
    let msg = Control {
        kind: ControlKind::Hello,
        epoch: 1,
        seq: 1,
    };
    let mut ctl = [0u8; 24];
    msg.emit_geneve(&mut ctl, vni(100)).unwrap();
    let as_data = with(&|b| {
        b.splice(0..8, ctl);
        b[1] = 0x40;
    });
    assert_eq!(drop_of(g, &as_data), Reason::BadControl);
    // Control with a payload, without C, with a bad body.
    let mut with_payload = ctl.to_vec();
    with_payload.extend_from_slice(&GENEVE_PLAIN[50..]);
    assert_eq!(drop_of(g, &wrap(&with_payload, 6081)), Reason::BadControl);
    let mut no_c = ctl;
    no_c[1] = 0x80;
    assert_eq!(drop_of(g, &wrap(&no_c, 6081)), Reason::BadControl);
    let mut bad_kind = ctl;
    bad_kind[13] = 9;
    assert_eq!(drop_of(g, &wrap(&bad_kind, 6081)), Reason::BadControl);
    let mut two = ctl.to_vec();
    two[0] = 8;
    two.extend_from_slice(&ctl[8..]);
    assert_eq!(drop_of(g, &wrap(&two, 6081)), Reason::BadControl);
    assert!(matches!(
        decapsulate(&rx(g), &wrap(&ctl, 6081)),
        Verdict::Control { .. }
    ));
}

#[test]
fn vxlan_rules() {
    let x = Encap::Vxlan;
    let mut no_i = VXLAN[42..].to_vec();
    no_i[0] = 0;
    assert_eq!(drop_of(x, &wrap(&no_i, 4789)), Reason::VxlanNoVni);
    let mut reserved = VXLAN[42..].to_vec();
    reserved[0] = 0xFF;
    reserved[7] = 0xFF;
    assert!(matches!(
        decapsulate(&rx(x), &wrap(&reserved, 4789)),
        Verdict::Data { .. }
    ));
    let msg = Control {
        kind: ControlKind::Close,
        epoch: 3,
        seq: 4,
    };
    let mut inner = [0u8; 60];
    msg.emit_vxlan_frame(&mut inner).unwrap();
    let mut bad = VXLAN[42..50].to_vec();
    bad.extend_from_slice(&inner);
    bad[8 + 14] = 0;
    assert_eq!(drop_of(x, &wrap(&bad, 4789)), Reason::BadControl);
    bad[8 + 14] = 0xBA;
    assert!(
        matches!(decapsulate(&rx(x), &wrap(&bad, 4789)), Verdict::Control { msg: m, .. } if m == msg)
    );
}

#[test]
fn a_spoofer_with_a_valid_frame_is_stopped_by_the_peer() {
    let mut p = peer::Peer::new(peer::PeerConfig {
        vni: vni(100),
        remote: SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 9), 6081),
        local_epoch: 1,
        control: true,
    });
    let (v, _, src) = data(&decapsulate(&rx(Encap::Geneve), &GENEVE_PLAIN));
    assert_eq!(p.accept_data(v, src, 0), Err(peer::PeerDrop::Spoofed));
    // A valid checksum can be made by anyone: the checksum is integrity, not origin.
    let mut f = GENEVE_OPTION_CSUM.to_vec();
    let (ip, udp) = f[14..].split_at_mut(20);
    ip[12..16].copy_from_slice(&[192, 0, 2, 7]);
    fill_udp_checksum(udp, Ipv4Addr::new(192, 0, 2, 7), B);
    refix_ip(&mut f);
    assert!(UdpPacket::new_checked(&f[34..])
        .unwrap()
        .verify_checksum(Ipv4Addr::new(192, 0, 2, 7), B));
    let (v, _, src) = data(&decapsulate(&rx(Encap::Geneve), &f));
    assert_eq!(p.accept_data(v, src, 0), Err(peer::PeerDrop::Spoofed));
}
