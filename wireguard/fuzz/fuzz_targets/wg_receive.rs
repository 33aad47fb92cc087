//! Hostile datagrams into a WireGuard interface that has a live session:
//! raw bytes, genuine messages with fuzzed bytes flipped, replays, and time
//! jumps. Never a panic; a delivered packet lies inside its datagram and is
//! one that was really sent; the session to the genuine peer survives
//! everything the fuzzer sends (a genuine packet still gets through).
#![no_main]

use libfuzzer_sys::fuzz_target;
use wireguard::message::TRANSPORT_HEADER_LEN;
use wireguard::{
    Csprng, Interface, Now, PeerConfig, PresharedKey, PrivateKey, Received, MAX_REPLY_LEN,
};

type Wg = Interface<Csprng, 2>;

fn pair() -> (Wg, Wg) {
    let (ka, kb) = (PrivateKey::from_bytes([1; 32]), PrivateKey::from_bytes([2; 32]));
    let (pa, pb) = (ka.public_key(), kb.public_key());
    let mut a = Wg::new(ka, Csprng::from_seed(&[3; 32]));
    let mut b = Wg::new(kb, Csprng::from_seed(&[4; 32]));
    let cfg = |public| PeerConfig {
        public,
        psk: PresharedKey::default(),
        persistent_keepalive_s: 0,
    };
    a.add_peer(cfg(pb)).unwrap();
    b.add_peer(cfg(pa)).unwrap();
    (a, b)
}

/// Delivers `d` to `to`; what it answers goes back to `from`, and so on.
fn exchange(from: &mut Wg, to: &mut Wg, d: &mut [u8], now: Now) -> Received {
    let mut reply = [0u8; MAX_REPLY_LEN];
    let r = to.receive(d, &[1], now, &mut reply);
    if let Received::Packet { len, .. } = r {
        assert!(TRANSPORT_HEADER_LEN + len <= d.len());
    }
    if let Received::Reply { len, .. } = r {
        let mut back = reply[..len].to_vec();
        exchange(to, from, &mut back, now);
    }
    r
}

fn ipv4(tag: u8) -> Vec<u8> {
    let mut p = vec![0u8; 24];
    p[0] = 0x45;
    p[3] = 24;
    p[20] = tag;
    p
}

/// B seals an IPv4 packet for A.
fn seal(b: &mut Wg, tag: u8, now: Now) -> Option<Vec<u8>> {
    let p = ipv4(tag);
    let mut buf = vec![0u8; 80];
    buf[TRANSPORT_HEADER_LEN..][..p.len()].copy_from_slice(&p);
    let n = b.send(0, &mut buf, p.len(), 1420, now).ok()?;
    buf.truncate(n);
    Some(buf)
}

fn establish(a: &mut Wg, b: &mut Wg, now: Now) {
    let _ = seal(b, 0, now);
    let mut out = [0u8; 256];
    while let Some((_, n)) = b.poll(now, &mut out) {
        exchange(b, a, &mut out[..n].to_vec(), now);
    }
}

fuzz_target!(|data: &[u8]| {
    let (mut a, mut b) = pair();
    let mut now = Now { mono_ns: 1 << 40, unix_ns: 1 << 60 };
    establish(&mut a, &mut b, now);
    let mut last_genuine: Option<Vec<u8>> = None;
    let mut rest = data;
    while let [op, len, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        let (bytes, next) = tail.split_at(len);
        rest = next;
        match op % 5 {
            0 => {
                let mut d = bytes.to_vec();
                exchange(&mut b, &mut a, &mut d, now);
            }
            1 | 2 => {
                // A genuine message with bytes flipped (op 2: a handshake).
                let mut d = if op % 5 == 1 {
                    seal(&mut b, len as u8, now)
                } else {
                    let mut out = [0u8; 256];
                    let _ = seal(&mut b, 0, now);
                    b.poll(now, &mut out).map(|(_, n)| out[..n].to_vec())
                };
                if let Some(d) = d.as_mut() {
                    for pair in bytes.chunks_exact(2) {
                        let at = usize::from(pair[0]) % d.len();
                        d[at] ^= pair[1];
                    }
                    let untouched = bytes.chunks_exact(2).all(|p| p[1] == 0);
                    let r = exchange(&mut b, &mut a, d, now);
                    if op % 5 == 1 && untouched {
                        assert!(matches!(r, Received::Packet { .. }), "{r:?}");
                    }
                    if let Received::Packet { len, .. } = r {
                        assert_eq!(len, 24, "only what B sealed is delivered");
                    }
                    last_genuine = Some(d.clone());
                }
            }
            3 => {
                if let Some(mut d) = last_genuine.clone() {
                    let r = exchange(&mut b, &mut a, &mut d, now);
                    assert!(!matches!(r, Received::Packet { .. }), "a replay got through");
                }
            }
            _ => {
                let secs = u64::from(bytes.first().copied().unwrap_or(1));
                now.mono_ns += secs * 1_000_000_000;
                now.unix_ns += secs * 1_000_000_000;
                let mut out = [0u8; 256];
                for _ in 0..8 {
                    let Some((_, n)) = a.poll(now, &mut out) else { break };
                    exchange(&mut a, &mut b, &mut out[..n].to_vec(), now);
                }
                for _ in 0..8 {
                    let Some((_, n)) = b.poll(now, &mut out) else { break };
                    exchange(&mut b, &mut a, &mut out[..n].to_vec(), now);
                }
            }
        }
    }
    // Whatever happened, a fresh handshake and a genuine packet still work.
    now.mono_ns += 6_000_000_000;
    now.unix_ns += 6_000_000_000;
    establish(&mut a, &mut b, now);
    if let Some(mut d) = seal(&mut b, 7, now) {
        let r = exchange(&mut b, &mut a, &mut d, now);
        assert!(matches!(r, Received::Packet { len: 24, .. }), "{r:?}");
    } else {
        // B's session is not up: it was not confirmed yet. One round more.
        establish(&mut a, &mut b, now);
    }
});
