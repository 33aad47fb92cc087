//! `mac1`, `mac2` and cookies: WireGuard's defence against handshake floods
//! (whitepaper §5.3, §5.4.4, §5.4.7).
//!
//! * Every handshake message carries `mac1`, keyed with the receiver's
//!   public key: a responder checks it before any Curve25519 work, so a
//!   sender who does not know our public key costs us one BLAKE2s.
//! * Under load a responder also wants `mac2`, keyed with a *cookie*: a MAC
//!   of the sender's address under a secret that changes every two
//!   minutes. Without a valid one it answers with a cookie reply (64 bytes,
//!   smaller than the 148-byte initiation: no amplification) and does no
//!   Diffie-Hellman. The sender can decrypt the cookie only if it sent the
//!   message (the reply is bound to its `mac1`), and only from the address
//!   the cookie names.

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::crypto::{self, PublicKey, LABEL_COOKIE, LABEL_MAC1};
use crate::message::{self, COOKIE_REPLY_LEN};
use crate::Random;

/// How long a cookie secret is used, and a received cookie trusted
/// (whitepaper §5.4.7: "changes every two minutes"; Linux subtracts
/// `COOKIE_SECRET_LATENCY`, 5 s, on the sender's side).
pub const COOKIE_SECRET_MAX_AGE_NS: u64 = 120_000_000_000;
const COOKIE_SECRET_LATENCY_NS: u64 = 5_000_000_000;

/// The keys derived from one party's public key that the other uses to
/// authenticate handshake messages to it and to open its cookies.
#[derive(Clone)]
pub struct MacKeys {
    /// `HASH(LABEL_MAC1 ‖ Spub)`.
    pub mac1: [u8; 32],
    /// `HASH(LABEL_COOKIE ‖ Spub)`.
    pub cookie: [u8; 32],
}

impl MacKeys {
    /// The keys for messages *to* the owner of `public`.
    pub fn for_receiver(public: &PublicKey) -> MacKeys {
        MacKeys {
            mac1: crypto::hash(&[LABEL_MAC1, &public.0]),
            cookie: crypto::hash(&[LABEL_COOKIE, &public.0]),
        }
    }
}

/// Splits a handshake message into what `mac1` covers, `mac1`, and `mac2`.
fn mac_offsets(msg: &[u8]) -> (usize, usize) {
    let mac2 = msg.len() - 16;
    (mac2 - 16, mac2)
}

/// The sender's side: the last cookie a responder gave us, and the `mac1`
/// of our last handshake message (a cookie reply is bound to it).
#[derive(Clone, Default)]
pub struct CookieJar {
    cookie: Option<(Zeroizing<[u8; 16]>, u64)>,
    last_mac1: Option<[u8; 16]>,
}

impl CookieJar {
    /// Writes `mac1`, and `mac2` if we hold a fresh cookie, into the last
    /// 32 bytes of a handshake message `msg` to the peer with `keys`.
    pub fn stamp(&mut self, keys: &MacKeys, msg: &mut [u8], now_ns: u64) {
        let (at1, at2) = mac_offsets(msg);
        let mac1 = crypto::mac(&keys.mac1, &[&msg[..at1]]);
        msg[at1..at2].copy_from_slice(&mac1);
        self.last_mac1 = Some(mac1);
        let fresh = self.cookie.as_ref().filter(|(_, at)| {
            now_ns.saturating_sub(*at) < COOKIE_SECRET_MAX_AGE_NS - COOKIE_SECRET_LATENCY_NS
        });
        let mac2 = match fresh {
            Some((cookie, _)) => crypto::mac(cookie, &[&msg[..at2]]),
            None => [0; 16],
        };
        msg[at2..].copy_from_slice(&mac2);
    }

    /// Takes the cookie from a reply to our last message; false if it does
    /// not open (not for our last message, forged, or a replay).
    pub fn consume(
        &mut self,
        keys: &MacKeys,
        reply: &message::CookieReply<'_>,
        now_ns: u64,
    ) -> bool {
        let Some(mac1) = self.last_mac1 else {
            return false;
        };
        let sealed = reply.encrypted_cookie();
        let mut cookie = Zeroizing::new([0u8; 16]);
        cookie.copy_from_slice(&sealed[..16]);
        let mut tag = [0u8; 16];
        tag.copy_from_slice(&sealed[16..]);
        if crypto::xopen(&keys.cookie, &reply.nonce(), &mut *cookie, &tag, &mac1).is_err() {
            return false;
        }
        self.cookie = Some((cookie, now_ns));
        // One cookie per message: a replayed reply finds no mac1 to match.
        self.last_mac1 = None;
        true
    }
}

/// What a responder concludes from a handshake message's MACs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MacVerdict {
    /// Go on with the handshake.
    Valid,
    /// `mac1` is wrong: drop silently (the sender does not know our key).
    BadMac1,
    /// Under load and no valid `mac2`: answer with a cookie reply, do no
    /// Diffie-Hellman.
    NeedCookie,
}

/// The responder's side: our `mac1` key, our cookie key, and the rotating
/// cookie secret.
pub struct CookieChecker {
    keys: MacKeys,
    secret: Zeroizing<[u8; 32]>,
    secret_born_ns: Option<u64>,
}

impl CookieChecker {
    /// The checker for messages to the owner of `local`.
    pub fn new(local: &PublicKey) -> CookieChecker {
        CookieChecker {
            keys: MacKeys::for_receiver(local),
            secret: Zeroizing::new([0; 32]),
            secret_born_ns: None,
        }
    }

    /// Checks `msg`'s MACs; `source` is the sender's address as the
    /// caller names it (IPv4 address and UDP port: a cookie is valid from
    /// that address only).
    pub fn check(
        &mut self,
        msg: &[u8],
        source: &[u8],
        under_load: bool,
        now_ns: u64,
    ) -> MacVerdict {
        let (at1, at2) = mac_offsets(msg);
        let mac1 = crypto::mac(&self.keys.mac1, &[&msg[..at1]]);
        if !bool::from(mac1.ct_eq(&msg[at1..at2])) {
            return MacVerdict::BadMac1;
        }
        if !under_load {
            return MacVerdict::Valid;
        }
        match self.current_cookie(source, now_ns) {
            Some(cookie) => {
                let mac2 = crypto::mac(&cookie, &[&msg[..at2]]);
                if bool::from(mac2.ct_eq(&msg[at2..])) {
                    MacVerdict::Valid
                } else {
                    MacVerdict::NeedCookie
                }
            }
            None => MacVerdict::NeedCookie,
        }
    }

    /// The cookie of `source` under the current secret, if the secret is
    /// still young enough (a stale one is never honoured).
    fn current_cookie(&self, source: &[u8], now_ns: u64) -> Option<Zeroizing<[u8; 16]>> {
        let born = self.secret_born_ns?;
        if now_ns.saturating_sub(born) >= COOKIE_SECRET_MAX_AGE_NS {
            return None;
        }
        Some(Zeroizing::new(crypto::mac(&self.secret, &[source])))
    }

    /// The cookie reply to `msg` (whose `mac1` was valid) from `source`:
    /// `XAEAD(cookie key, nonce, MAC(secret, source), mac1)`.
    pub fn reply(
        &mut self,
        msg: &[u8],
        sender_index: u32,
        source: &[u8],
        now_ns: u64,
        rng: &mut dyn Random,
    ) -> [u8; COOKIE_REPLY_LEN] {
        let stale = self
            .secret_born_ns
            .is_none_or(|b| now_ns.saturating_sub(b) >= COOKIE_SECRET_MAX_AGE_NS);
        if stale {
            rng.fill_bytes(&mut *self.secret);
            self.secret_born_ns = Some(now_ns);
        }
        let mut cookie = Zeroizing::new(crypto::mac(&self.secret, &[source]));
        let (at1, at2) = mac_offsets(msg);
        let mut out = [0u8; COOKIE_REPLY_LEN];
        message::put_type(&mut out, message::TYPE_COOKIE_REPLY);
        message::put_le32(&mut out, message::cookie_reply::RECEIVER, sender_index);
        let mut nonce = [0u8; 24];
        rng.fill_bytes(&mut nonce);
        out[message::cookie_reply::NONCE..][..24].copy_from_slice(&nonce);
        let tag = crypto::xseal(&self.keys.cookie, &nonce, &mut *cookie, &msg[at1..at2]);
        let at = message::cookie_reply::COOKIE;
        out[at..at + 16].copy_from_slice(&*cookie);
        out[at + 16..at + 32].copy_from_slice(&tag);
        out
    }
}

/// Decides when a responder is *under load*: more than `limit` handshake
/// messages in the current second, and for a second after. Linux looks at
/// its handshake queue's length instead (`wg_packet_receive`, 1/8 full);
/// a unikernel handling handshakes inline has no queue, so it counts.
#[derive(Clone, Debug)]
pub struct LoadMeter {
    limit: u32,
    window_start_ns: u64,
    seen: u32,
    loaded_until_ns: u64,
}

impl LoadMeter {
    /// Under load above `limit` handshake messages a second.
    pub fn new(limit: u32) -> LoadMeter {
        LoadMeter {
            limit,
            window_start_ns: 0,
            seen: 0,
            loaded_until_ns: 0,
        }
    }

    /// Counts one handshake message; true if we are under load.
    pub fn tick(&mut self, now_ns: u64) -> bool {
        if now_ns.saturating_sub(self.window_start_ns) >= 1_000_000_000 {
            self.window_start_ns = now_ns;
            self.seen = 0;
        }
        self.seen = self.seen.saturating_add(1);
        if self.seen > self.limit {
            self.loaded_until_ns = now_ns + 1_000_000_000;
        }
        now_ns < self.loaded_until_ns
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::PrivateKey;
    use crate::test_rng::CountingRng;

    fn message(len: usize) -> std::vec::Vec<u8> {
        (0..len).map(|i| i as u8).collect()
    }

    #[test]
    fn mac1_and_the_cookie_round_trip() {
        let responder = PrivateKey::from_bytes([5; 32]).public_key();
        let keys = MacKeys::for_receiver(&responder);
        let mut jar = CookieJar::default();
        let mut checker = CookieChecker::new(&responder);
        let mut rng = CountingRng(1);
        let src = [10, 0, 0, 1, 0x1f, 0x90];

        let mut msg = message(148);
        jar.stamp(&keys, &mut msg, 0);
        assert_eq!(checker.check(&msg, &src, false, 0), MacVerdict::Valid);
        assert_eq!(checker.check(&msg, &src, true, 0), MacVerdict::NeedCookie);
        let reply = checker.reply(&msg, 7, &src, 0, &mut rng);
        let Ok(message::Message::CookieReply(r)) = message::Message::parse(&reply) else {
            panic!("not a cookie reply");
        };
        assert_eq!(r.receiver(), 7);
        assert!(jar.consume(&keys, &r, 1));
        assert!(!jar.consume(&keys, &r, 1), "one cookie per message");

        jar.stamp(&keys, &mut msg, 2);
        assert_eq!(checker.check(&msg, &src, true, 2), MacVerdict::Valid);
        assert_eq!(
            checker.check(&msg, &[10, 0, 0, 2, 0x1f, 0x90], true, 2),
            MacVerdict::NeedCookie,
            "a cookie is valid from its address only"
        );
        msg[0] ^= 1;
        assert_eq!(checker.check(&msg, &src, false, 2), MacVerdict::BadMac1);
        msg[0] ^= 1;
        // The secret expires: the same mac2 is no longer honoured.
        assert_eq!(
            checker.check(&msg, &src, true, COOKIE_SECRET_MAX_AGE_NS),
            MacVerdict::NeedCookie
        );
    }

    #[test]
    fn a_reply_to_someone_else_s_message_does_not_open() {
        let responder = PrivateKey::from_bytes([5; 32]).public_key();
        let keys = MacKeys::for_receiver(&responder);
        let mut checker = CookieChecker::new(&responder);
        let mut rng = CountingRng(1);
        let mut mine = message(92);
        let mut jar = CookieJar::default();
        jar.stamp(&keys, &mut mine, 0);
        let mut theirs = message(92);
        theirs[20] = 0xFF;
        CookieJar::default().stamp(&keys, &mut theirs, 0);
        let reply = checker.reply(&theirs, 1, &[1], 0, &mut rng);
        let Ok(message::Message::CookieReply(r)) = message::Message::parse(&reply) else {
            panic!()
        };
        assert!(!jar.consume(&keys, &r, 0));
    }

    #[test]
    fn load_is_a_rate_and_lasts_a_second() {
        let mut m = LoadMeter::new(3);
        assert!(!(0..3).any(|i| m.tick(i)));
        assert!(m.tick(10));
        assert!(m.tick(1_000_000_005), "a new second, still loaded");
        assert!(!m.tick(2_600_000_000));
    }
}
