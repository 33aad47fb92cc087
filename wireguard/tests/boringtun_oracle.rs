//! Our WireGuard against boringtun (Cloudflare's WireGuard in Rust, which
//! interoperates with the kernel's): handshakes either way, data both ways,
//! rekeying, replays, cookies under load, forgeries. boringtun's clock is
//! `mock_instant`'s (per thread), moved in step with ours.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use boringtun::noise::rate_limiter::RateLimiter;
use boringtun::noise::{Tunn, TunnResult};
use boringtun::x25519;
use mock_instant::MockClock;
use wireguard::message::TRANSPORT_HEADER_LEN;
use wireguard::{
    Csprng, Interface, Now, PeerConfig, PresharedKey, PrivateKey, PublicKey, Random, Reason,
    Received, SendError, MAX_REPLY_LEN,
};

const OUR_ADDR: [u8; 6] = [10, 77, 0, 43, 0xca, 0x6c];
const THEIR_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 77, 0, 44));
const MTU: usize = 1420;
const S: u64 = 1_000_000_000;

/// An IPv4/UDP packet with `payload` (boringtun delivers IP only).
fn ipv4(payload: &[u8]) -> Vec<u8> {
    let total = 28 + payload.len();
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&[192, 168, 7, 1]);
    p[16..20].copy_from_slice(&[192, 168, 7, 2]);
    p[28..].copy_from_slice(payload);
    p
}

struct Lab {
    us: Interface<Csprng, 4>,
    them: Tunn,
    peer: usize,
    now: Now,
    to_us: VecDeque<Vec<u8>>,
    to_them: VecDeque<Vec<u8>>,
    we_got: Vec<Vec<u8>>,
    they_got: Vec<Vec<u8>>,
    their_errors: Vec<String>,
    our_drops: Vec<Reason>,
}

fn keypair(seed: u8) -> (PrivateKey, [u8; 32]) {
    let mut rng = Csprng::from_seed(&[seed; 32]);
    let mut b = [0u8; 32];
    rng.fill_bytes(&mut b);
    let k = PrivateKey::from_bytes(b);
    (k, b)
}

impl Lab {
    fn new(psk: Option<[u8; 32]>, their_limiter: Option<Arc<RateLimiter>>) -> Lab {
        let (ours, _) = keypair(1);
        let (_, their_bytes) = keypair(2);
        let their_secret = x25519::StaticSecret::from(their_bytes);
        let their_public = x25519::PublicKey::from(&their_secret);
        let our_public = ours.public_key();
        let mut us = Interface::new(ours, Csprng::from_seed(&[3; 32]));
        let peer = us
            .add_peer(PeerConfig {
                public: PublicKey(their_public.to_bytes()),
                psk: PresharedKey(psk.unwrap_or([0; 32])),
                persistent_keepalive_s: 0,
            })
            .unwrap();
        let them = Tunn::new(
            their_secret,
            x25519::PublicKey::from(our_public.0),
            psk,
            None,
            7,
            their_limiter,
        );
        Lab {
            us,
            them,
            peer,
            now: Now {
                mono_ns: 1_000 * S,
                unix_ns: 1_800_000_000 * S,
            },
            to_us: VecDeque::new(),
            to_them: VecDeque::new(),
            we_got: vec![],
            they_got: vec![],
            their_errors: vec![],
            our_drops: vec![],
        }
    }

    /// Moves both clocks.
    fn advance(&mut self, secs: u64) {
        self.advance_ms(secs * 1000);
    }

    fn advance_ms(&mut self, ms: u64) {
        self.now.mono_ns += ms * 1_000_000;
        self.now.unix_ns += ms * 1_000_000;
        MockClock::advance(Duration::from_millis(ms));
    }

    /// Seals `packet` for them; false if we had no session.
    fn we_send(&mut self, packet: &[u8]) -> Result<(), SendError> {
        let mut buf = vec![0u8; TRANSPORT_HEADER_LEN + packet.len() + 32];
        buf[TRANSPORT_HEADER_LEN..][..packet.len()].copy_from_slice(packet);
        let n = self
            .us
            .send(self.peer, &mut buf, packet.len(), MTU, self.now)?;
        buf.truncate(n);
        self.to_them.push_back(buf);
        Ok(())
    }

    fn they_send(&mut self, packet: &[u8]) {
        let mut dst = vec![0u8; 2048];
        let r = self.them.encapsulate(packet, &mut dst);
        self.their_result(r);
    }

    fn their_result(&mut self, r: TunnResult<'_>) -> bool {
        match r {
            TunnResult::WriteToNetwork(d) => {
                self.to_us.push_back(d.to_vec());
                true
            }
            TunnResult::WriteToTunnelV4(p, _) => {
                self.they_got.push(p.to_vec());
                false
            }
            TunnResult::Err(e) => {
                self.their_errors.push(format!("{e:?}"));
                false
            }
            _ => false,
        }
    }

    /// Runs our timers once (poll until quiet).
    fn our_timers(&mut self) {
        let mut out = [0u8; 256];
        while let Some((peer, n)) = self.us.poll(self.now, &mut out) {
            assert_eq!(peer, self.peer);
            self.to_them.push_back(out[..n].to_vec());
        }
    }

    fn their_timers(&mut self) {
        let mut dst = vec![0u8; 2048];
        let r = self.them.update_timers(&mut dst);
        self.their_result(r);
    }

    /// Delivers every datagram in flight, both ways, until none is left.
    fn pump(&mut self) {
        for _ in 0..100 {
            self.our_timers();
            if self.to_us.is_empty() && self.to_them.is_empty() {
                return;
            }
            while let Some(mut d) = self.to_us.pop_front() {
                let mut reply = [0u8; MAX_REPLY_LEN];
                match self.us.receive(&mut d, &OUR_ADDR, self.now, &mut reply) {
                    Received::Packet { len, .. } => {
                        self.we_got.push(d[TRANSPORT_HEADER_LEN..][..len].to_vec())
                    }
                    Received::Reply { len, .. } => self.to_them.push_back(reply[..len].to_vec()),
                    Received::Consumed { .. } => {}
                    Received::Dropped(why) => self.our_drops.push(why),
                }
            }
            while let Some(d) = self.to_them.pop_front() {
                let mut dst = vec![0u8; 2048];
                let r = self.them.decapsulate(Some(THEIR_IP), &d, &mut dst);
                if self.their_result(r) {
                    // boringtun: repeat with an empty datagram to flush its queue.
                    loop {
                        let mut dst = vec![0u8; 2048];
                        let r = self.them.decapsulate(None, &[], &mut dst);
                        if !self.their_result(r) {
                            break;
                        }
                    }
                }
            }
        }
        panic!("the two never went quiet");
    }

    fn handshake_from_us(&mut self) {
        assert_eq!(self.we_send(&ipv4(b"first")), Err(SendError::NoSession));
        self.pump();
        assert!(self
            .us
            .peer(self.peer)
            .unwrap()
            .has_session(self.now.mono_ns));
    }
}

#[test]
fn we_initiate_and_data_flows_both_ways() {
    let mut lab = Lab::new(None, None);
    lab.handshake_from_us();
    assert_eq!(lab.us.counters.tx_initiations, 1);
    assert_eq!(lab.us.counters.rx_responses, 1);
    assert_eq!(
        lab.us.counters.tx_keepalives, 1,
        "the session is confirmed at once"
    );
    for i in 0..20u8 {
        let p = ipv4(&vec![i; 1 + 60 * i as usize]);
        lab.we_send(&p).unwrap();
        lab.they_send(&ipv4(&[i; 3]));
        lab.pump();
        assert_eq!(lab.they_got.last(), Some(&p));
        assert_eq!(lab.we_got.last(), Some(&ipv4(&[i; 3])), "padding trimmed");
    }
    assert_eq!((lab.they_got.len(), lab.we_got.len()), (20, 20));
    assert!(lab.their_errors.is_empty(), "{:?}", lab.their_errors);
    assert!(lab.our_drops.is_empty(), "{:?}", lab.our_drops);
}

#[test]
fn they_initiate_with_a_preshared_key_and_we_confirm_on_their_data() {
    let mut lab = Lab::new(Some([0x55; 32]), None);
    lab.they_send(&ipv4(b"hello")); // queued by boringtun, initiation out
    lab.pump();
    assert_eq!(
        lab.we_got,
        vec![ipv4(b"hello")],
        "their queued packet arrives"
    );
    assert_eq!(lab.us.counters.rx_initiations, 1);
    assert_eq!(
        lab.us.counters.sessions, 1,
        "confirmed by their first packet"
    );
    lab.we_send(&ipv4(b"back")).unwrap();
    lab.pump();
    assert_eq!(lab.they_got, vec![ipv4(b"back")]);
}

#[test]
fn both_rekey_in_time_without_losing_traffic() {
    let mut lab = Lab::new(None, None);
    lab.handshake_from_us();
    // Traffic every 10 s for 10 minutes: five rekeys at least, no loss.
    for round in 0..60u32 {
        lab.advance(10);
        lab.their_timers();
        let p = ipv4(&round.to_le_bytes());
        lab.we_send(&p).expect("a session is always up");
        lab.they_send(&p);
        lab.pump();
        assert_eq!(lab.they_got.last(), Some(&p), "round {round}");
        assert_eq!(lab.we_got.last(), Some(&p), "round {round}");
    }
    let c = &lab.us.counters;
    assert!(c.tx_initiations + c.rx_initiations >= 5, "{c:?}");
    assert!(lab.our_drops.is_empty(), "{:?}", lab.our_drops);
    assert!(lab.their_errors.is_empty(), "{:?}", lab.their_errors);
}

#[test]
fn replays_are_refused_on_both_sides() {
    let mut lab = Lab::new(None, None);
    lab.handshake_from_us();
    lab.we_send(&ipv4(b"once")).unwrap();
    let ours = lab.to_them.back().unwrap().clone();
    lab.they_send(&ipv4(b"once"));
    let theirs = lab.to_us.back().unwrap().clone();
    lab.pump();
    lab.to_us.push_back(theirs);
    lab.to_them.push_back(ours);
    lab.pump();
    assert_eq!(lab.our_drops, vec![Reason::Replay]);
    assert_eq!(lab.us.counters.dropped_replay, 1);
    assert_eq!(lab.their_errors, vec!["DuplicateCounter"]);
    assert_eq!((lab.we_got.len(), lab.they_got.len()), (1, 1));
}

#[test]
fn a_replayed_initiation_is_refused() {
    let mut lab = Lab::new(None, None);
    lab.they_send(&ipv4(b"x"));
    let init = lab.to_us.back().unwrap().clone();
    lab.pump();
    lab.advance(1);
    lab.to_us.push_back(init);
    lab.pump();
    assert_eq!(lab.our_drops, vec![Reason::ReplayedInitiation]);
    assert_eq!(lab.us.counters.rx_initiations, 1);
}

#[test]
fn forgeries_and_garbage_are_dropped_and_counted() {
    let mut lab = Lab::new(None, None);
    lab.handshake_from_us();
    lab.they_send(&ipv4(b"genuine"));
    let mut forged = lab.to_us.pop_back().unwrap();
    let last = forged.len() - 1;
    forged[last] ^= 0x80;
    lab.to_us.push_back(forged);
    lab.to_us.push_back(vec![4, 0, 0, 0, 1, 2]);
    lab.to_us.push_back(vec![9; 148]);
    // An initiation from someone we do not know, with our mac1 right.
    let (_, stranger) = keypair(9);
    let mut outsider = Tunn::new(
        x25519::StaticSecret::from(stranger),
        x25519::PublicKey::from(lab.us.public_key().0),
        None,
        None,
        1,
        None,
    );
    let mut dst = vec![0u8; 256];
    if let TunnResult::WriteToNetwork(d) = outsider.format_handshake_initiation(&mut dst, false) {
        lab.to_us.push_back(d.to_vec());
    }
    lab.pump();
    assert_eq!(
        lab.our_drops,
        vec![
            Reason::Unauthentic,
            Reason::Malformed,
            Reason::Malformed,
            Reason::UnknownPeer
        ]
    );
    assert!(lab.we_got.is_empty());
    // The session survives all of it.
    lab.they_send(&ipv4(b"still here"));
    lab.pump();
    assert_eq!(lab.we_got, vec![ipv4(b"still here")]);
}

#[test]
fn they_are_under_load_and_we_come_back_with_their_cookie() {
    let (_, their_bytes) = keypair(2);
    let their_public = x25519::PublicKey::from(&x25519::StaticSecret::from(their_bytes));
    // A limit of 0: every handshake needs a cookie.
    let limiter = Arc::new(RateLimiter::new(&their_public, 0));
    let mut lab = Lab::new(None, Some(limiter));
    assert_eq!(lab.we_send(&ipv4(b"x")), Err(SendError::NoSession));
    lab.pump();
    assert_eq!(lab.us.counters.rx_cookie_replies, 1, "{:?}", lab.our_drops);
    assert!(!lab.us.peer(lab.peer).unwrap().has_session(lab.now.mono_ns));
    // Our retry, 5 s (and some jitter) later, carries mac2.
    lab.advance(6);
    lab.pump();
    assert!(lab.us.peer(lab.peer).unwrap().has_session(lab.now.mono_ns));
    assert_eq!(lab.us.counters.tx_initiations, 2);
    lab.we_send(&ipv4(b"through")).unwrap();
    lab.pump();
    assert_eq!(lab.they_got, vec![ipv4(b"through")]);
}

#[test]
fn we_are_under_load_and_they_come_back_with_our_cookie() {
    let mut lab = Lab::new(None, None);
    lab.us.set_load_limit(0);
    lab.they_send(&ipv4(b"queued"));
    lab.pump();
    assert_eq!(lab.us.counters.tx_cookie_replies, 1);
    assert_eq!(
        lab.us.counters.rx_initiations, 0,
        "no Diffie-Hellman without a cookie"
    );
    lab.advance(6);
    lab.their_timers(); // boringtun retries with mac2
    lab.pump();
    assert_eq!(lab.us.counters.rx_initiations, 1, "{:?}", lab.our_drops);
    assert_eq!(lab.we_got, vec![ipv4(b"queued")]);
}

#[test]
fn a_silent_peer_is_given_up_after_the_attempt_time() {
    let mut lab = Lab::new(None, None);
    let _ = lab.we_send(&ipv4(b"x"));
    let mut out = [0u8; 256];
    let mut sent = 0;
    for _ in 0..1000 {
        while lab.us.poll(lab.now, &mut out).is_some() {
            sent += 1;
        }
        lab.advance_ms(100);
    }
    // One attempt every 5–5.33 s for 90 s, then silence.
    assert!((17..=19).contains(&sent), "{sent} initiations");
    assert_eq!(lab.us.counters.handshake_timeouts, 1);
    lab.to_them.clear();
}
