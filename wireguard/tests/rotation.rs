//! Two of our interfaces: a static key rotated on one side and the peer
//! replaced on the other (what `banana corm rekey` does), peers removed
//! without moving the others' ids.

use wireguard::message::TRANSPORT_HEADER_LEN;
use wireguard::{
    Csprng, Interface, Now, PeerConfig, PresharedKey, PrivateKey, Reason, Received, MAX_REPLY_LEN,
};

type Wg = Interface<Csprng, 4>;

fn cfg(k: &PrivateKey) -> PeerConfig {
    PeerConfig {
        public: k.public_key(),
        psk: PresharedKey::default(),
        persistent_keepalive_s: 0,
    }
}

fn ipv4(tag: u8) -> Vec<u8> {
    let mut p = vec![0u8; 24];
    p[0] = 0x45;
    p[3] = 24;
    p[20] = tag;
    p
}

fn deliver(from: &mut Wg, to: &mut Wg, d: &mut [u8], now: Now) -> Received {
    let mut reply = [0u8; MAX_REPLY_LEN];
    let r = to.receive(d, &[1], now, &mut reply);
    if let Received::Reply { len, .. } = r {
        deliver(to, from, &mut reply[..len].to_vec(), now);
    }
    r
}

/// `from` sends a packet to its peer `peer` (a handshake first if needed).
fn send(from: &mut Wg, to: &mut Wg, peer: usize, tag: u8, now: Now) -> (Received, Vec<u8>) {
    let p = ipv4(tag);
    let mut buf = vec![0u8; 96];
    buf[TRANSPORT_HEADER_LEN..][..p.len()].copy_from_slice(&p);
    if from
        .send(peer, &mut buf.clone(), p.len(), 1420, now)
        .is_err()
    {
        let mut out = [0u8; 256];
        while let Some((_, n)) = from.poll(now, &mut out) {
            deliver(from, to, &mut out[..n].to_vec(), now);
        }
    }
    let n = from
        .send(peer, &mut buf, p.len(), 1420, now)
        .expect("a session");
    buf.truncate(n);
    let sent = buf.clone();
    (deliver(from, to, &mut buf, now), sent)
}

#[test]
fn a_rotated_key_replaces_every_session() {
    let (a1, a2, b) = (
        PrivateKey::from_bytes([1; 32]),
        PrivateKey::from_bytes([9; 32]),
        PrivateKey::from_bytes([2; 32]),
    );
    let mut a = Wg::new(a1.clone(), Csprng::from_seed(&[3; 32]));
    let mut bb = Wg::new(b.clone(), Csprng::from_seed(&[4; 32]));
    let c = PrivateKey::from_bytes([5; 32]);
    let a_on_b = bb.add_peer(cfg(&a1)).unwrap();
    let c_on_b = bb.add_peer(cfg(&c)).unwrap();
    a.add_peer(cfg(&b)).unwrap();
    let mut now = Now {
        mono_ns: 1 << 40,
        unix_ns: 1 << 60,
    };
    let (r, old) = send(&mut a, &mut bb, 0, 1, now);
    assert!(
        matches!(r, Received::Packet { peer, .. } if peer == a_on_b),
        "{r:?}"
    );

    // A rotates; B forgets A's old key and learns the new one.
    a.set_private_key(a2.clone());
    assert!(bb.remove_peer(a_on_b));
    assert!(!bb.remove_peer(a_on_b), "gone once");
    assert_eq!(bb.find_peer(&a1.public_key()), None);
    assert_eq!(
        bb.find_peer(&c.public_key()),
        Some(c_on_b),
        "the others keep their ids"
    );
    let a_new = bb.add_peer(cfg(&a2)).unwrap();
    assert_eq!(a_new, a_on_b, "the free slot is reused");
    // A datagram of the old session finds no keypair on B any more.
    assert_eq!(
        deliver(&mut a, &mut bb, &mut old.clone(), now),
        Received::Dropped(Reason::UnknownIndex)
    );
    now.mono_ns += 6_000_000_000;
    now.unix_ns += 6_000_000_000;
    let (r, _) = send(&mut a, &mut bb, 0, 2, now);
    assert!(
        matches!(r, Received::Packet { peer, .. } if peer == a_new),
        "{r:?}"
    );
}
