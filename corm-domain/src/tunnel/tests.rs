//! The underlay against frames a Linux VTEP would send (built with the
//! encap crate's template from the peer's side) and hostile ones.

use alloc::vec::Vec;

use super::*;
use crate::switch::arp::{parse, OP_REPLY};

const US: Mac = [0x52, 0x54, 0, 0x77, 0, 3];
const PEER_MAC: Mac = [0x02, 0x42, 0, 0, 0, 1];
const OURS: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 40);
const PEER: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const SEC: u64 = 1_000_000_000;

fn underlay() -> Underlay {
    let mut u = Underlay::new(UnderlayConfig::parse("10.77.0.40/24", None).unwrap(), US, 1);
    u.add(tunnel(7, 1, 42, PEER)).unwrap();
    u
}

fn tunnel(wire: u32, endpoint: u16, vni: u32, remote: Ipv4Addr) -> TunnelConfig {
    TunnelConfig {
        wire,
        endpoint,
        encap: Encap::Vxlan,
        vni: Vni::new(vni).unwrap(),
        remote: SocketAddrV4::new(remote, 4789),
        control: false,
        wireguard: None,
    }
}

/// A guest's frame: broadcast ARP-sized, then `len` bytes.
fn inner(len: usize) -> Vec<u8> {
    let mut f: Vec<u8> = (0..len).map(|i| i as u8).collect();
    f[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x51]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f
}

/// What the peer VTEP (`from`, VNI `vni`) sends us carrying `inner`.
fn from_peer(from: Ipv4Addr, vni: u32, inner: &[u8]) -> Vec<u8> {
    let t = Template::new(&TemplateConfig {
        encap: Encap::Vxlan,
        vni: Vni::new(vni).unwrap(),
        src_mac: PEER_MAC,
        dst_mac: US,
        vlan: None,
        local: from,
        remote: OURS,
        dst_port: 4789,
        underlay_mtu: 1500,
    })
    .unwrap();
    let mut out = alloc::vec![0u8; 1600];
    let n = t.encapsulate(inner, &mut out).unwrap();
    out.truncate(n);
    out
}

fn arp_reply_from_peer() -> Vec<u8> {
    let req = parse(&arp::request(US, OURS, PEER)).unwrap();
    arp::reply(&req, PEER_MAC, PEER).to_vec()
}

#[test]
fn underlay_config_is_strict() {
    let c = UnderlayConfig::parse("10.77.0.40/24", Some("10.77.0.254")).unwrap();
    assert_eq!(
        (c.addr, c.prefix, c.gateway, c.mtu),
        (OURS, 24, Some(Ipv4Addr::new(10, 77, 0, 254)), 1500)
    );
    assert_eq!(c.next_hop(PEER), Some(PEER));
    assert_eq!(
        c.next_hop(Ipv4Addr::new(192, 0, 2, 1)),
        Some(Ipv4Addr::new(10, 77, 0, 254))
    );
    let no_gw = UnderlayConfig::parse("10.77.0.40/32", None).unwrap();
    assert_eq!(no_gw.next_hop(PEER), None);
    for (a, g) in [
        ("10.77.0.40", None),
        ("10.77.0.40/0", None),
        ("10.77.0.40/33", None),
        ("10.77.0.40/024", None),
        ("255.255.255.255/24", None),
        ("224.0.0.1/24", None),
        ("0.0.0.0/8", None),
        ("10.77.0.40/24", Some("10.78.0.1")),
        ("10.77.0.40/24", Some("10.77.0.40")),
        ("10.77.0.40/24", Some("x")),
    ] {
        assert_eq!(UnderlayConfig::parse(a, g), None, "{a} {g:?}");
    }
}

#[test]
fn first_frame_asks_arp_then_frames_go_to_the_answer() {
    let mut u = underlay();
    let f = inner(100);
    let mut sent: Vec<Vec<u8>> = Vec::new();
    let mut hdr = [0u8; MAX_HEADER_LEN];
    // Unknown next hop: dropped, one request out (not one per frame).
    for _ in 0..3 {
        assert_eq!(
            u.header_for(1, &f, f.len(), SEC, &mut hdr, &mut |b| sent
                .push(b.to_vec())),
            Err(TxDrop::NoNextHop)
        );
    }
    assert_eq!(sent.len(), 1);
    let q = parse(&sent[0]).unwrap();
    assert_eq!((q.sha, q.spa, q.tpa), (US, OURS, PEER));
    // The answer is taken; the frame goes.
    assert_eq!(
        u.receive(&mut arp_reply_from_peer().to_vec(), SEC, &mut |_| panic!(
            "no answer to a reply"
        )),
        Rx::Consumed
    );
    let n = u
        .header_for(1, &f, f.len(), SEC, &mut hdr, &mut |_| {})
        .unwrap();
    let mut outer = hdr[..n].to_vec();
    outer.extend_from_slice(&f);
    // The peer decapsulates it.
    let peer_cfg = DecapConfig {
        local_mac: PEER_MAC,
        local: PEER,
        encap: Encap::Vxlan,
        port: 4789,
    };
    match decapsulate(&peer_cfg, &outer) {
        Verdict::Data { vni, inner, src } => {
            assert_eq!((vni.get(), *src.ip()), (42, OURS));
            assert_eq!(&outer[inner], &f[..]);
        }
        v => panic!("{v:?}"),
    }
    let (_, c, _) = u.tunnel_counters().next().unwrap();
    assert_eq!((c.tx_frames, c.dropped_no_next_hop), (1, 3));
    assert_eq!(u.counters.arp_requests, 1);
    // Not a tunnel endpoint: nothing.
    assert_eq!(
        u.header_for(2, &f, f.len(), SEC, &mut hdr, &mut |_| {}),
        Err(TxDrop::NotTunnel)
    );
    // Too big for a 1500 underlay (1464 inner bytes at most).
    let big = inner(1465);
    assert_eq!(
        u.header_for(1, &big[..128], big.len(), SEC, &mut hdr, &mut |_| {}),
        Err(TxDrop::TooBig { mtu: 1450 })
    );
    let (_, c, _) = u.tunnel_counters().next().unwrap();
    assert_eq!(c.dropped_too_big, 1);
}

#[test]
fn an_unsolicited_reply_plants_nothing() {
    let mut u = underlay();
    assert_eq!(
        u.receive(&mut arp_reply_from_peer().to_vec(), SEC, &mut |_| {}),
        Rx::Consumed
    );
    let mut hdr = [0u8; MAX_HEADER_LEN];
    let f = inner(60);
    assert_eq!(
        u.header_for(1, &f, f.len(), SEC, &mut hdr, &mut |_| {}),
        Err(TxDrop::NoNextHop)
    );
}

#[test]
fn requests_for_our_address_are_answered() {
    let mut u = underlay();
    let q = arp::request(PEER_MAC, PEER, OURS);
    let mut sent = Vec::new();
    // A broadcast: answered, and still switched (hosts may share the segment).
    assert_eq!(
        u.receive(&mut q.to_vec(), 0, &mut |b| sent.push(b.to_vec())),
        Rx::Foreign
    );
    let r = parse(&sent[0]).unwrap();
    assert_eq!(
        (r.op, r.sha, r.spa, r.tha, r.tpa),
        (OP_REPLY, US, OURS, PEER_MAC, PEER)
    );
    assert_eq!(&sent[0][..6], &PEER_MAC);
    // Another address: not ours to answer.
    let other = arp::request(PEER_MAC, PEER, Ipv4Addr::new(10, 77, 0, 41));
    assert_eq!(
        u.receive(&mut other.to_vec(), 0, &mut |_| panic!(
            "answered for another"
        )),
        Rx::Foreign
    );
    assert_eq!(u.counters.arp_answered, 1);
}

#[test]
fn tunnel_traffic_enters_from_its_endpoint_and_nothing_else_does() {
    let mut u = underlay();
    let f = inner(200);
    let frame = from_peer(PEER, 42, &f);
    match u.receive(&mut frame.to_vec(), 0, &mut |_| {}) {
        Rx::Inner { endpoint, inner } => {
            assert_eq!(endpoint, 1);
            assert_eq!(&frame[inner], &f[..]);
        }
        r => panic!("{r:?}"),
    }
    // A spoofed source with our VNI, an unknown VNI, a bad checksum: taken
    // off the wire and counted, never switched.
    let spoof = from_peer(Ipv4Addr::new(10, 77, 0, 99), 42, &f);
    assert_eq!(u.receive(&mut spoof.to_vec(), 0, &mut |_| {}), Rx::Consumed);
    let other_vni = from_peer(PEER, 43, &f);
    assert_eq!(
        u.receive(&mut other_vni.to_vec(), 0, &mut |_| {}),
        Rx::Consumed
    );
    let mut bad = frame.clone();
    bad[24] ^= 0xff; // the outer IPv4 checksum
    assert_eq!(u.receive(&mut bad.to_vec(), 0, &mut |_| {}), Rx::Consumed);
    let (_, c, p) = u.tunnel_counters().next().unwrap();
    assert_eq!((c.rx_frames, p.dropped_spoofed), (1, 1));
    assert_eq!(u.counters.dropped_unknown_vni, 1);
    assert_eq!(u.decap.get(encap::Reason::Ipv4BadChecksum), 1);
    // Other traffic to our MAC is not flooded to the endpoints.
    let mut tcp = frame.clone();
    tcp[23] = 6;
    assert_eq!(u.receive(&mut tcp.to_vec(), 0, &mut |_| {}), Rx::Consumed);
    // Frames for other MACs are the switch's.
    let mut guest = frame;
    guest[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x51]);
    assert_eq!(u.receive(&mut guest.to_vec(), 0, &mut |_| {}), Rx::Foreign);
    assert_eq!(
        u.receive(&mut [0u8; 10].to_vec(), 0, &mut |_| {}),
        Rx::Foreign
    );
}

#[test]
fn tunnels_are_checked_when_added() {
    let mut u = underlay();
    assert_eq!(
        u.add(tunnel(7, 2, 50, PEER)),
        Err(TunnelError::WireExists(7))
    );
    assert_eq!(
        u.add(tunnel(8, 1, 50, PEER)),
        Err(TunnelError::EndpointInUse(1))
    );
    assert_eq!(
        u.add(tunnel(8, 2, 42, PEER)),
        Err(TunnelError::Duplicate {
            vni: 42,
            remote: PEER
        })
    );
    assert_eq!(
        u.add(tunnel(8, 2, 42, Ipv4Addr::new(192, 0, 2, 1))),
        Err(TunnelError::NoRoute(Ipv4Addr::new(192, 0, 2, 1)))
    );
    u.add(tunnel(8, 2, 42, Ipv4Addr::new(10, 77, 0, 2)))
        .unwrap();
    assert!(u.serves(2));
    assert_eq!(u.remove(8, 0).map(|c| c.endpoint), Some(2));
    assert!(!u.serves(2));
}

#[test]
fn tunnel_keys_are_strict() {
    let good = [
        ("endpoint", "1"),
        ("encap", "vxlan"),
        ("vni", "42"),
        ("remote", "10.77.0.1"),
        ("port", "4789"),
    ];
    let read = |over: &[(&str, &str)]| {
        let over: Vec<(alloc::string::String, alloc::string::String)> = over
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        TunnelConfig::from_keys(7, |k| {
            over.iter()
                .find(|(o, _)| o == k)
                .map(|(_, v)| v.clone())
                .or_else(|| good.iter().find(|(g, _)| *g == k).map(|(_, v)| (*v).into()))
                .filter(|v: &alloc::string::String| v != "<absent>")
        })
    };
    assert_eq!(read(&[]), Ok(tunnel(7, 1, 42, PEER)));
    assert!(read(&[("control", "1")]).unwrap().control);
    assert!(!read(&[("control", "0")]).unwrap().control);
    let g = read(&[("encap", "geneve"), ("port", "6081"), ("vni", "16777215")]).unwrap();
    assert_eq!(
        (g.encap, g.vni.get(), g.remote.port()),
        (Encap::Geneve, 16_777_215, 6081)
    );
    for (k, v) in [
        ("endpoint", "64"),
        ("endpoint", "01"),
        ("endpoint", "-1"),
        ("encap", "VXLAN"),
        ("vni", "16777216"),
        ("vni", " 42"),
        ("remote", "10.77.0.255x"),
        ("remote", "224.0.0.1"),
        ("remote", "0.0.0.0"),
        ("port", "0"),
        ("port", "65536"),
        ("port", "<absent>"),
        ("control", "yes"),
        ("control", "01"),
    ] {
        let e = read(&[(k, v)]).unwrap_err();
        assert!(
            e.starts_with(&alloc::format!("tunnel/7/{k}")),
            "{k}={v}: {e}"
        );
    }
}

/// Two Corms, A (10.77.0.40) and B (10.77.0.41), with a Geneve tunnel each
/// way that speaks control; frames go between them through `wire`.
mod corm_to_corm {
    use super::*;

    const A_MAC: Mac = US;
    const B_MAC: Mac = [0x52, 0x54, 0, 0x77, 0, 4];
    const A_IP: Ipv4Addr = OURS;
    const B_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 41);

    fn corm(ip: &str, mac: Mac, remote: Ipv4Addr, epoch: u32) -> Underlay {
        let mut u = Underlay::new(UnderlayConfig::parse(ip, None).unwrap(), mac, epoch);
        u.add(TunnelConfig {
            wire: 5,
            endpoint: 0,
            encap: Encap::Geneve,
            vni: Vni::new(5).unwrap(),
            remote: SocketAddrV4::new(remote, 6081),
            control: true,
            wireguard: None,
        })
        .unwrap();
        u
    }

    /// Polls both at `now` and delivers what each sends to the other until
    /// nothing more is sent; returns each one's events.
    fn exchange(
        a: &mut Underlay,
        b: &mut Underlay,
        now: u64,
    ) -> (Vec<TunnelEvent>, Vec<TunnelEvent>) {
        let (mut to_b, mut to_a): (Vec<Vec<u8>>, Vec<Vec<u8>>) = (Vec::new(), Vec::new());
        a.poll(now, &mut |f| to_b.push(f.to_vec()));
        b.poll(now, &mut |f| to_a.push(f.to_vec()));
        for _ in 0..8 {
            if to_a.is_empty() && to_b.is_empty() {
                break;
            }
            let (in_b, in_a) = (core::mem::take(&mut to_b), core::mem::take(&mut to_a));
            for f in in_b {
                let _ = b.receive(&mut f.to_vec(), now, &mut |r| to_a.push(r.to_vec()));
            }
            for f in in_a {
                let _ = a.receive(&mut f.to_vec(), now, &mut |r| to_b.push(r.to_vec()));
            }
            a.poll(now, &mut |f| to_b.push(f.to_vec()));
            b.poll(now, &mut |f| to_a.push(f.to_vec()));
        }
        let drain = |u: &mut Underlay| core::iter::from_fn(|| u.take_event()).collect();
        (drain(a), drain(b))
    }

    fn kinds(ev: &[TunnelEvent]) -> Vec<TunnelEventKind> {
        ev.iter().map(|e| e.kind).collect()
    }

    #[test]
    fn hellos_bring_both_ends_up_and_silence_takes_them_down() {
        let mut a = corm("10.77.0.40/24", A_MAC, B_IP, 100);
        let mut b = corm("10.77.0.41/24", B_MAC, A_IP, 200);
        assert_eq!((a.peer_up(5), b.peer_up(5)), (Some(false), Some(false)));
        // The first polls resolve each other's MAC (ARP), the next hellos
        // (one a second) and their answers bring both up.
        let mut up = (Vec::new(), Vec::new());
        for s in 1..=3 {
            let (ea, eb) = exchange(&mut a, &mut b, s * SEC);
            up.0.extend(kinds(&ea));
            up.1.extend(kinds(&eb));
        }
        assert_eq!(up, (vec![TunnelEventKind::Up], vec![TunnelEventKind::Up]));
        assert_eq!((a.peer_up(5), b.peer_up(5)), (Some(true), Some(true)));
        // Keepalives keep them up.
        for s in 4..=20 {
            let (ea, eb) = exchange(&mut a, &mut b, s * SEC);
            assert!(ea.is_empty() && eb.is_empty(), "{ea:?} {eb:?}");
        }
        // B goes silent: A declares it dead after 10 s.
        let mut events = Vec::new();
        for s in 21..=32 {
            a.poll(s * SEC, &mut |_| {});
            events.extend(core::iter::from_fn(|| a.take_event()).map(|e| e.kind));
        }
        assert_eq!(events, [TunnelEventKind::Dead]);
        assert_eq!(a.peer_up(5), Some(false));
        // B comes back as a new start (a newer epoch): A sees the restart.
        let mut b2 = corm("10.77.0.41/24", B_MAC, A_IP, 300);
        let mut seen = Vec::new();
        for s in 33..=36 {
            let (ea, _) = exchange(&mut a, &mut b2, s * SEC);
            seen.extend(kinds(&ea));
        }
        assert!(seen.contains(&TunnelEventKind::Restarted), "{seen:?}");
        assert_eq!(a.peer_up(5), Some(true));
        // The old B's control, replayed, is refused (an older epoch).
        let (_, _, p) = a.tunnel_counters().next().unwrap();
        let old = p.dropped_old_epoch;
        let mut replay = Vec::new();
        b.poll(40 * SEC, &mut |f| replay.push(f.to_vec()));
        for f in &replay {
            a.receive(&mut f.clone(), 40 * SEC, &mut |_| {});
        }
        let (_, _, p) = a.tunnel_counters().next().unwrap();
        assert!(replay.is_empty() || p.dropped_old_epoch > old, "{replay:?}");
    }

    #[test]
    fn a_removed_wire_tells_its_peer_at_once_and_comes_back_when_connected_again() {
        let mut a = corm("10.77.0.40/24", A_MAC, B_IP, 100);
        let mut b = corm("10.77.0.41/24", B_MAC, A_IP, 200);
        for s in 1..=3 {
            exchange(&mut a, &mut b, s * SEC);
        }
        assert_eq!((a.peer_up(5), b.peer_up(5)), (Some(true), Some(true)));
        let cfg = a.remove(5, 4 * SEC).expect("A had wire 5");
        assert_eq!(
            a.next_deadline(),
            Some(0),
            "the Close waits for the next poll"
        );
        let (_, eb) = exchange(&mut a, &mut b, 4 * SEC);
        assert_eq!(kinds(&eb), [TunnelEventKind::Closed], "B hears the Close");
        assert_eq!(b.peer_up(5), Some(false));
        let (_, _, p) = b.tunnel_counters().next().unwrap();
        assert_eq!(p.peer_closes, 1);
        // B keeps saying hello; A connected again answers: up both ends,
        // same epoch (no restart).
        a.add(cfg).unwrap();
        let mut seen = (Vec::new(), Vec::new());
        for s in 5..=7 {
            let (ea, eb) = exchange(&mut a, &mut b, s * SEC);
            seen.0.extend(kinds(&ea));
            seen.1.extend(kinds(&eb));
        }
        assert_eq!(seen, (vec![TunnelEventKind::Up], vec![TunnelEventKind::Up]));
    }

    #[test]
    fn a_removed_vtep_wire_sends_nothing() {
        let mut u = underlay();
        assert!(u.remove(7, 0).is_some());
        let mut sent = 0;
        u.poll(0, &mut |_| sent += 1);
        assert_eq!(sent, 0, "a standard VTEP speaks no control");
    }
}

/// A ping from the underlay: answered from our address and MAC, counted;
/// one for another address is not ours.
#[test]
fn the_underlay_address_answers_ping() {
    let mut u = underlay();
    let ping = |dst: Ipv4Addr| {
        let mut f = Vec::new();
        f.extend_from_slice(&US);
        f.extend_from_slice(&PEER_MAC);
        f.extend_from_slice(&[0x08, 0x00, 0x45, 0, 0, 36, 0, 1, 0x40, 0, 64, 1, 0, 0]);
        f.extend_from_slice(&PEER.octets());
        f.extend_from_slice(&dst.octets());
        let c = net_offload::checksum::checksum(&f[14..34]);
        f[24..26].copy_from_slice(&c.to_be_bytes());
        f.extend_from_slice(&[
            8, 0, 0, 0, 0, 9, 0, 1, b'b', b'a', b'n', b'a', b'n', b'a', 0, 0,
        ]);
        let c = net_offload::checksum::checksum(&f[34..]);
        f[36..38].copy_from_slice(&c.to_be_bytes());
        f
    };
    let mut sent = Vec::new();
    assert_eq!(
        u.receive(&mut ping(OURS).to_vec(), 0, &mut |f| sent.push(f.to_vec())),
        Rx::Consumed
    );
    assert_eq!(sent.len(), 1);
    assert_eq!((&sent[0][0..6], &sent[0][6..12]), (&PEER_MAC[..], &US[..]));
    assert_eq!(&sent[0][26..30], &OURS.octets()[..]);
    assert_eq!(sent[0][34], 0, "an echo reply");
    assert_eq!(u.echo_counters.echo_answered, 1);
    assert_eq!(u.counters.dropped_to_us, 0);
    let other = ping(Ipv4Addr::new(10, 77, 0, 99));
    sent.clear();
    assert_eq!(
        u.receive(&mut other.to_vec(), 0, &mut |f| sent.push(f.to_vec())),
        Rx::Consumed
    );
    assert!(sent.is_empty());
    assert_eq!(u.echo_counters.echo_answered, 1);
    assert_eq!(
        u.counters.dropped_to_us, 1,
        "ICMP to our MAC for another address"
    );
}
