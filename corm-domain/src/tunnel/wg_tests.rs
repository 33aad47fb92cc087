//! Tunnel wires between two Corms' underlays: the encap wire's Geneve
//! inside WireGuard, control and data, and what may not get in.

use alloc::vec::Vec;

use ::wireguard::{Csprng, Interface, PrivateKey};

use super::wg::{Wireguard, INNER_IP_AT, PORT};
use super::*;

const A_MAC: Mac = [0x52, 0x54, 0, 0x77, 0, 3];
const B_MAC: Mac = [0x52, 0x54, 0, 0x77, 0, 4];
const A_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 40);
const B_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 41);
const A_TUN: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 1);
const B_TUN: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 2);
const SEC: u64 = 1_000_000_000;

fn key(seed: u8) -> PrivateKey {
    PrivateKey::from_bytes([seed; 32])
}

/// A Corm at `ip` (tunnel address `tun`, key `seed`) with tunnel wire 5 on
/// endpoint 0 to the peer at `peer_ip`/`peer_tun` whose key is `peer_seed`.
fn corm(
    ip: Ipv4Addr,
    mac: Mac,
    tun: Ipv4Addr,
    seed: u8,
    peer: (Ipv4Addr, Ipv4Addr, u8),
) -> Underlay {
    let cfg = UnderlayConfig::parse(&alloc::format!("{ip}/24"), None).unwrap();
    let mut u = Underlay::new(cfg, mac, u32::from(seed));
    let iface = Interface::new(key(seed), Csprng::from_seed(&[seed ^ 0x55; 32]));
    u.set_wireguard(Wireguard::new(iface, tun));
    u.add(TunnelConfig {
        wire: 5,
        endpoint: 0,
        encap: Encap::Geneve,
        vni: Vni::new(5).unwrap(),
        remote: SocketAddrV4::new(peer.1, 6081),
        control: true,
        wireguard: Some(WireguardPeer {
            public: key(peer.2).public_key(),
            endpoint: SocketAddrV4::new(peer.0, PORT),
        }),
    })
    .unwrap();
    u
}

fn pair() -> (Underlay, Underlay) {
    (
        corm(A_IP, A_MAC, A_TUN, 1, (B_IP, B_TUN, 2)),
        corm(B_IP, B_MAC, B_TUN, 2, (A_IP, A_TUN, 1)),
    )
}

/// ARP, or UDP to the WireGuard port: nothing else may cross.
fn assert_sealed(f: &[u8]) {
    if f[12..14] == [0x08, 0x06] {
        return;
    }
    assert_eq!(&f[12..14], &[0x08, 0x00], "{f:02x?}");
    assert_eq!(f[14 + 9], 17, "not UDP");
    assert_eq!(
        u16::from_be_bytes([f[36], f[37]]),
        PORT,
        "not to WireGuard's port"
    );
}

/// Polls both at `now`, delivering what each sends to the other until
/// quiet; returns the Inner frames each took.
fn exchange(a: &mut Underlay, b: &mut Underlay, now: u64) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let (mut to_b, mut to_a): (Vec<Vec<u8>>, Vec<Vec<u8>>) = (Vec::new(), Vec::new());
    let mut got = (Vec::new(), Vec::new());
    for _ in 0..10 {
        a.poll(now, &mut |f| to_b.push(f.to_vec()));
        b.poll(now, &mut |f| to_a.push(f.to_vec()));
        if to_a.is_empty() && to_b.is_empty() {
            break;
        }
        for mut f in core::mem::take(&mut to_b) {
            assert_sealed(&f);
            if let Rx::Inner { inner, .. } = b.receive(&mut f, now, &mut |r| to_a.push(r.to_vec()))
            {
                got.1.push(f[inner].to_vec());
            }
        }
        for mut f in core::mem::take(&mut to_a) {
            assert_sealed(&f);
            if let Rx::Inner { inner, .. } = a.receive(&mut f, now, &mut |r| to_b.push(r.to_vec()))
            {
                got.0.push(f[inner].to_vec());
            }
        }
    }
    got
}

/// A's guest frame through A's tunnel wire: the frame B's NIC gets.
fn seal_from_a(a: &mut Underlay, frame: &[u8], now: u64) -> Result<Vec<u8>, TxDrop> {
    let mut outer = [0u8; encap::template::MAX_HEADER_LEN];
    let n = a.header_for(0, frame, frame.len(), now, &mut outer, &mut |_| {})?;
    let mut buf = alloc::vec![0u8; 2048];
    let at = INNER_IP_AT - eth::ETH_HLEN;
    buf[at..at + n].copy_from_slice(&outer[..n]);
    buf[at + n..at + n + frame.len()].copy_from_slice(frame);
    let len = a.wireguard_seal(
        0,
        &mut buf,
        n - eth::ETH_HLEN + frame.len(),
        now,
        &mut |_| {},
    )?;
    buf.truncate(len);
    Ok(buf)
}

fn guest_frame() -> Vec<u8> {
    let mut f: Vec<u8> = (0..300).map(|i| i as u8).collect();
    f[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x51]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f
}

#[test]
fn control_comes_up_inside_wireguard_and_data_follows() {
    let (mut a, mut b) = pair();
    for s in 1..=4 {
        exchange(&mut a, &mut b, s * SEC);
    }
    assert_eq!((a.peer_up(5), b.peer_up(5)), (Some(true), Some(true)));
    let wa = a.wireguard().unwrap().counters();
    assert!(wa.tx_initiations + wa.rx_initiations >= 1, "{wa:?}");
    assert_eq!(wa.dropped_unauthentic, 0);

    let frame = guest_frame();
    let mut sealed = seal_from_a(&mut a, &frame, 5 * SEC).unwrap();
    assert_sealed(&sealed);
    assert!(
        !sealed.windows(40).any(|w| w == &frame[100..140]),
        "in clear"
    );
    match b.receive(&mut sealed, 5 * SEC, &mut |_| {}) {
        Rx::Inner { endpoint: 0, inner } => assert_eq!(sealed[inner], frame[..]),
        other => panic!("{other:?}"),
    }
    let (_, t, _) = b.tunnel_counters().next().unwrap();
    assert_eq!(t.rx_frames, 1);
    // Replayed: dropped by WireGuard's window.
    let mut again = seal_from_a(&mut a, &frame, 5 * SEC).unwrap();
    let copy = again.clone();
    assert!(matches!(
        b.receive(&mut again, 5 * SEC, &mut |_| {}),
        Rx::Inner { .. }
    ));
    assert_eq!(
        b.receive(&mut copy.clone(), 5 * SEC, &mut |_| {}),
        Rx::Consumed
    );
    assert_eq!(b.wireguard().unwrap().counters().dropped_replay, 1);
}

#[test]
fn no_session_drops_and_asks_for_a_handshake_at_once() {
    let (mut a, _) = pair();
    // The first poll asks for B's MAC (and makes no handshake: it would be
    // lost); B answers.
    let mut sent = Vec::new();
    a.poll(0, &mut |f| sent.push(f.to_vec()));
    assert!(sent.iter().all(|f| f[12..14] == [0x08, 0x06]), "ARP only");
    assert!(!sent.is_empty());
    let mut reply = alloc::vec![0u8; 42];
    reply[..6].copy_from_slice(&A_MAC);
    reply[6..12].copy_from_slice(&B_MAC);
    reply[12..14].copy_from_slice(&[0x08, 0x06]);
    reply[14..22].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, 2]);
    reply[22..28].copy_from_slice(&B_MAC);
    reply[28..32].copy_from_slice(&B_IP.octets());
    reply[32..38].copy_from_slice(&A_MAC);
    reply[38..42].copy_from_slice(&A_IP.octets());
    assert_eq!(a.receive(&mut reply, 1, &mut |_| {}), Rx::Consumed);
    // A guest frame finds no session: dropped, counted, poll at once.
    assert_eq!(
        seal_from_a(&mut a, &guest_frame(), 2),
        Err(TxDrop::NoSession)
    );
    assert_eq!(a.next_deadline(), Some(0));
    let (_, t, _) = a.tunnel_counters().next().unwrap();
    assert_eq!(t.dropped_no_session, 1);
    let mut sent = Vec::new();
    a.poll(3, &mut |f| sent.push(f.to_vec()));
    let init = sent
        .iter()
        .find(|f| f.len() == OUTER_LEN_FOR_TEST + ::wireguard::message::INITIATION_LEN)
        .expect("an initiation");
    assert_sealed(init);
    assert_eq!(&init[..6], &B_MAC);
}

const OUTER_LEN_FOR_TEST: usize = super::wg::OUTER_LEN;

#[test]
fn geneve_in_clear_and_another_peer_s_packets_are_refused() {
    let (mut a, mut b) = pair();
    for s in 1..=4 {
        exchange(&mut a, &mut b, s * SEC);
    }
    // The wire's Geneve in clear, from A's tunnel address to B's underlay.
    let t = Template::new(&TemplateConfig {
        encap: Encap::Geneve,
        vni: Vni::new(5).unwrap(),
        src_mac: A_MAC,
        dst_mac: B_MAC,
        vlan: None,
        local: A_TUN,
        remote: B_IP,
        dst_port: 6081,
        underlay_mtu: 1500,
    })
    .unwrap();
    let mut clear = alloc::vec![0u8; 1600];
    let n = t.encapsulate(&guest_frame(), &mut clear).unwrap();
    clear.truncate(n);
    assert_eq!(b.receive(&mut clear, 5 * SEC, &mut |_| {}), Rx::Consumed);
    assert_eq!(b.counters.dropped_clear, 1);

    // C, a WireGuard peer of B for another wire, speaks as A's wire.
    let mut b2 = corm(B_IP, B_MAC, B_TUN, 2, (A_IP, A_TUN, 1));
    let c_key = key(3).public_key();
    b2.add(TunnelConfig {
        wire: 6,
        endpoint: 1,
        encap: Encap::Geneve,
        vni: Vni::new(6).unwrap(),
        remote: SocketAddrV4::new(Ipv4Addr::new(100, 64, 0, 3), 6081),
        control: true,
        wireguard: Some(WireguardPeer {
            public: c_key,
            endpoint: SocketAddrV4::new(Ipv4Addr::new(10, 77, 0, 42), PORT),
        }),
    })
    .unwrap();
    // C uses A's tunnel address and wire 5's VNI.
    let mut c = corm(
        Ipv4Addr::new(10, 77, 0, 42),
        [0x52, 0x54, 0, 0x77, 0, 5],
        A_TUN,
        3,
        (B_IP, B_TUN, 2),
    );
    for s in 1..=4 {
        exchange(&mut c, &mut b2, s * SEC);
    }
    let mut forged = seal_from_a(&mut c, &guest_frame(), 5 * SEC).unwrap();
    assert_eq!(b2.receive(&mut forged, 5 * SEC, &mut |_| {}), Rx::Consumed);
    assert!(b2.counters.dropped_wrong_peer >= 1);
}

#[test]
fn a_rotated_key_brings_the_wire_back_by_itself() {
    let (mut a, mut b) = pair();
    // Up for a while: the wire's control sequence is well past 0.
    for s in 1..=20 {
        exchange(&mut a, &mut b, s * SEC);
    }
    assert_eq!(b.peer_up(5), Some(true));
    // A's key rotated; B's wire written again naming the new key (what the
    // controller does), which B's reconcile applies in place: removing and
    // adding the wire would restart its control sequence, which A (same
    // epoch) takes for stale until it passes the old one: A would declare
    // B dead (a bug the nested test found).
    let new = key(7);
    a.wireguard_mut()
        .unwrap()
        .rekey(new.clone(), Csprng::from_seed(&[8; 32]));
    let cfg = *b.tunnels().next().unwrap();
    let peer = WireguardPeer {
        public: new.public_key(),
        ..cfg.wireguard.unwrap()
    };
    b.update_peer(5, peer).unwrap();
    assert_eq!(
        b.wireguard().unwrap().iface.find_peer(&key(1).public_key()),
        None,
        "the old key is forgotten"
    );
    assert_eq!(b.tunnels().next().unwrap().wireguard, Some(peer));
    // Both ends stay up well past the 10 s dead time: the wire's control
    // goes on where it was.
    let mut events = Vec::new();
    for s in 21..=50 {
        exchange(&mut a, &mut b, s * SEC);
        events.extend(core::iter::from_fn(|| a.take_event()).map(|e| e.kind));
        events.extend(core::iter::from_fn(|| b.take_event()).map(|e| e.kind));
    }
    assert!(!events.contains(&TunnelEventKind::Dead), "{events:?}");
    assert_eq!((a.peer_up(5), b.peer_up(5)), (Some(true), Some(true)));
    let frame = guest_frame();
    let mut sealed = seal_from_a(&mut a, &frame, 51 * SEC).unwrap();
    match b.receive(&mut sealed, 51 * SEC, &mut |_| {}) {
        Rx::Inner { inner, .. } => assert_eq!(sealed[inner], frame[..]),
        other => panic!("{other:?}"),
    }
}
