//! The Noise_IKpsk2 handshake as WireGuard runs it (whitepaper §5.4.2 and
//! §5.4.3, the same steps as Linux's drivers/net/wireguard/noise.c): the
//! initiator knows the responder's static key, sends its own encrypted
//! with a timestamp; the responder answers with an ephemeral key; both
//! derive the transport keys (§5.4.5). Each step below is a line of the
//! whitepaper, in its order and with its names (`C` chaining key, `H`
//! hash, `E` ephemeral, `S` static).
//!
//! These functions do the cryptography only. Who may handshake, how often,
//! and with which timestamp is [`crate::peer`]'s business.

use zeroize::Zeroizing;

use crate::crypto::{self, CryptoError, PresharedKey, PrivateKey, PublicKey, TAG_LEN};
use crate::message::{self, Initiation, Response, INITIATION_LEN, RESPONSE_LEN};
use crate::tai64n::Tai64n;
use crate::Random;

/// Our static key pair.
#[derive(Clone, Debug)]
pub struct LocalKeys {
    /// Our private key.
    pub private: PrivateKey,
    /// Its public half.
    pub public: PublicKey,
}

impl LocalKeys {
    /// The pair of `private`.
    pub fn new(private: PrivateKey) -> LocalKeys {
        let public = private.public_key();
        LocalKeys { private, public }
    }
}

/// The transport keys a handshake produced (§5.4.5), with the indices that
/// name them on the wire.
pub struct SessionKeys {
    /// Seals what we send.
    pub send: Zeroizing<[u8; 32]>,
    /// Opens what we receive.
    pub receive: Zeroizing<[u8; 32]>,
    /// Our index: the receiver field of the transport messages we get.
    pub local_index: u32,
    /// The peer's index: the receiver field of what we send.
    pub remote_index: u32,
    /// Whether we initiated (only an initiator rekeys on time, §6.2).
    pub initiator: bool,
}

/// `C` and `H` before anything peer-specific: `HASH(CONSTRUCTION)` and
/// `HASH(C ‖ IDENTIFIER)`.
fn initial_chain() -> ([u8; 32], [u8; 32]) {
    let c = crypto::hash(&[crypto::CONSTRUCTION]);
    let h = crypto::hash(&[&c, crypto::IDENTIFIER]);
    (c, h)
}

fn random_private(rng: &mut dyn Random) -> PrivateKey {
    let mut b = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(&mut *b);
    PrivateKey::from_bytes(*b)
}

/// What the initiator keeps between its initiation and the response.
pub struct InitiatorState {
    /// Our index for this handshake (the initiation's sender field).
    pub local_index: u32,
    chaining: Zeroizing<[u8; 32]>,
    hash: [u8; 32],
    ephemeral: PrivateKey,
}

/// Builds an initiation to `remote` into `out` (its MAC fields are left
/// for [`crate::cookie::CookieJar::stamp`]).
pub fn initiate(
    local: &LocalKeys,
    remote: &PublicKey,
    local_index: u32,
    timestamp: Tai64n,
    rng: &mut dyn Random,
    out: &mut [u8; INITIATION_LEN],
) -> Result<InitiatorState, CryptoError> {
    use message::initiation::*;
    let (c, h) = initial_chain();
    let mut c = Zeroizing::new(c);
    let mut h = crypto::hash(&[&h, &remote.0]);
    let ephemeral = random_private(rng);
    let e_pub = ephemeral.public_key();
    out.fill(0);
    message::put_type(out, message::TYPE_INITIATION);
    message::put_le32(out, SENDER, local_index);
    // C = KDF1(C, Epub_i); msg.ephemeral = Epub_i; H = HASH(H ‖ msg.ephemeral)
    let [c1] = crypto::kdf::<1>(&c, &e_pub.0);
    *c = *c1;
    out[EPHEMERAL..EPHEMERAL + 32].copy_from_slice(&e_pub.0);
    h = crypto::hash(&[&h, &e_pub.0]);
    // (C, k) = KDF2(C, DH(Epriv_i, Spub_r)); msg.static = AEAD(k, 0, Spub_i, H)
    let [c2, k] = crypto::kdf::<2>(&c, &*ephemeral.dh(remote)?);
    *c = *c2;
    let s = &mut out[STATIC..STATIC + 48];
    s[..32].copy_from_slice(&local.public.0);
    let tag = crypto::seal(&k, 0, &mut s[..32], &h);
    s[32..].copy_from_slice(&tag);
    h = crypto::hash(&[&h, &out[STATIC..STATIC + 48]]);
    // (C, k) = KDF2(C, DH(Spriv_i, Spub_r)); msg.timestamp = AEAD(k, 0, TAI64N(), H)
    let [c3, k] = crypto::kdf::<2>(&c, &*local.private.dh(remote)?);
    *c = *c3;
    let t = &mut out[TIMESTAMP..TIMESTAMP + 28];
    t[..12].copy_from_slice(&timestamp.0);
    let tag = crypto::seal(&k, 0, &mut t[..12], &h);
    t[12..].copy_from_slice(&tag);
    h = crypto::hash(&[&h, &out[TIMESTAMP..TIMESTAMP + 28]]);
    Ok(InitiatorState {
        local_index,
        chaining: c,
        hash: h,
        ephemeral,
    })
}

/// A valid initiation as the responder read it: who sent it and when, and
/// the handshake state to answer it with.
pub struct ConsumedInitiation {
    /// The initiator's static key: which peer it is.
    pub remote: PublicKey,
    /// The initiator's index (the response's receiver field).
    pub remote_index: u32,
    /// Its timestamp, to compare with the greatest one seen from that peer.
    pub timestamp: Tai64n,
    remote_ephemeral: PublicKey,
    chaining: Zeroizing<[u8; 32]>,
    hash: [u8; 32],
}

/// Opens an initiation to us (its `mac1` already checked).
pub fn consume_initiation(
    local: &LocalKeys,
    msg: &Initiation<'_>,
) -> Result<ConsumedInitiation, CryptoError> {
    let (c, h) = initial_chain();
    let mut c = Zeroizing::new(c);
    let mut h = crypto::hash(&[&h, &local.public.0]);
    let e_pub = PublicKey(msg.ephemeral());
    let [c1] = crypto::kdf::<1>(&c, &e_pub.0);
    *c = *c1;
    h = crypto::hash(&[&h, &e_pub.0]);
    // (C, k) = KDF2(C, DH(Spriv_r, Epub_i)); Spub_i = AEAD-open(k, 0, msg.static, H)
    let [c2, k] = crypto::kdf::<2>(&c, &*local.private.dh(&e_pub)?);
    *c = *c2;
    let sealed = msg.encrypted_static();
    let mut remote = [0u8; 32];
    remote.copy_from_slice(&sealed[..32]);
    crypto::open(&k, 0, &mut remote, &tag_of(&sealed[32..]), &h)?;
    let remote = PublicKey(remote);
    h = crypto::hash(&[&h, &sealed]);
    // (C, k) = KDF2(C, DH(Spriv_r, Spub_i)); timestamp = AEAD-open(k, 0, msg.timestamp, H)
    let [c3, k] = crypto::kdf::<2>(&c, &*local.private.dh(&remote)?);
    *c = *c3;
    let sealed = msg.encrypted_timestamp();
    let mut ts = [0u8; 12];
    ts.copy_from_slice(&sealed[..12]);
    crypto::open(&k, 0, &mut ts, &tag_of(&sealed[12..]), &h)?;
    h = crypto::hash(&[&h, &sealed]);
    Ok(ConsumedInitiation {
        remote,
        remote_index: msg.sender(),
        timestamp: Tai64n(ts),
        remote_ephemeral: e_pub,
        chaining: c,
        hash: h,
    })
}

fn tag_of(b: &[u8]) -> [u8; TAG_LEN] {
    let mut t = [0u8; TAG_LEN];
    t.copy_from_slice(b);
    t
}

/// The steps both sides take after the responder's ephemeral key:
/// `(C, τ, k) = KDF3(C, Q)`, `H = HASH(H ‖ τ)`; returns `k` and `H`.
fn mix_psk(
    c: &mut Zeroizing<[u8; 32]>,
    h: &[u8; 32],
    psk: &PresharedKey,
) -> (Zeroizing<[u8; 32]>, [u8; 32]) {
    let [c4, tau, k] = crypto::kdf::<3>(c, &psk.0);
    **c = *c4;
    (k, crypto::hash(&[h, &*tau]))
}

/// `(T_send_i, T_recv_i) = KDF2(C, ε)` (§5.4.5); the responder's are swapped.
fn transport_keys(
    c: &[u8; 32],
    initiator: bool,
    local_index: u32,
    remote_index: u32,
) -> SessionKeys {
    let [first, second] = crypto::kdf::<2>(c, &[]);
    let (send, receive) = if initiator {
        (first, second)
    } else {
        (second, first)
    };
    SessionKeys {
        send,
        receive,
        local_index,
        remote_index,
        initiator,
    }
}

/// Answers a consumed initiation into `out` (MACs left to the caller);
/// returns the responder's transport keys.
pub fn respond(
    init: ConsumedInitiation,
    psk: &PresharedKey,
    local_index: u32,
    rng: &mut dyn Random,
    out: &mut [u8; RESPONSE_LEN],
) -> Result<SessionKeys, CryptoError> {
    use message::response::*;
    let ConsumedInitiation {
        remote,
        remote_index,
        remote_ephemeral,
        mut chaining,
        hash,
        ..
    } = init;
    let ephemeral = random_private(rng);
    let e_pub = ephemeral.public_key();
    out.fill(0);
    message::put_type(out, message::TYPE_RESPONSE);
    message::put_le32(out, SENDER, local_index);
    message::put_le32(out, RECEIVER, remote_index);
    // C = KDF1(C, Epub_r); msg.ephemeral = Epub_r; H = HASH(H ‖ msg.ephemeral)
    let [c1] = crypto::kdf::<1>(&chaining, &e_pub.0);
    *chaining = *c1;
    out[EPHEMERAL..EPHEMERAL + 32].copy_from_slice(&e_pub.0);
    let h = crypto::hash(&[&hash, &e_pub.0]);
    // C = KDF1(C, DH(Epriv_r, Epub_i)); C = KDF1(C, DH(Epriv_r, Spub_i))
    let [c2] = crypto::kdf::<1>(&chaining, &*ephemeral.dh(&remote_ephemeral)?);
    *chaining = *c2;
    let [c3] = crypto::kdf::<1>(&chaining, &*ephemeral.dh(&remote)?);
    *chaining = *c3;
    let (k, h) = mix_psk(&mut chaining, &h, psk);
    // msg.empty = AEAD(k, 0, ε, H)
    let tag = crypto::seal(&k, 0, &mut [], &h);
    out[EMPTY..EMPTY + TAG_LEN].copy_from_slice(&tag);
    Ok(transport_keys(&chaining, false, local_index, remote_index))
}

/// Reads the response to our initiation `state` (its `mac1` checked and
/// its receiver index matched by the caller); returns our transport keys.
pub fn consume_response(
    state: &InitiatorState,
    local: &LocalKeys,
    psk: &PresharedKey,
    msg: &Response<'_>,
) -> Result<SessionKeys, CryptoError> {
    let mut c = state.chaining.clone();
    let e_pub = PublicKey(msg.ephemeral());
    let [c1] = crypto::kdf::<1>(&c, &e_pub.0);
    *c = *c1;
    let h = crypto::hash(&[&state.hash, &e_pub.0]);
    // C = KDF1(C, DH(Epriv_i, Epub_r)); C = KDF1(C, DH(Spriv_i, Epub_r))
    let [c2] = crypto::kdf::<1>(&c, &*state.ephemeral.dh(&e_pub)?);
    *c = *c2;
    let [c3] = crypto::kdf::<1>(&c, &*local.private.dh(&e_pub)?);
    *c = *c3;
    let (k, h) = mix_psk(&mut c, &h, psk);
    crypto::open(&k, 0, &mut [], &msg.empty_tag(), &h)?;
    Ok(transport_keys(&c, true, state.local_index, msg.sender()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;
    use crate::test_rng::CountingRng;

    #[test]
    fn both_sides_derive_the_same_keys() {
        let i = LocalKeys::new(PrivateKey::from_bytes([1; 32]));
        let r = LocalKeys::new(PrivateKey::from_bytes([2; 32]));
        let psk = PresharedKey([9; 32]);
        let mut rng = CountingRng(3);
        let mut init = [0u8; INITIATION_LEN];
        let ts = Tai64n::from_unix_ns(1_000_000_000_000);
        let state = initiate(&i, &r.public, 11, ts, &mut rng, &mut init).unwrap();
        let Ok(Message::Initiation(m)) = Message::parse(&init) else {
            panic!()
        };
        let consumed = consume_initiation(&r, &m).unwrap();
        assert_eq!(consumed.remote, i.public);
        assert_eq!(consumed.remote_index, 11);
        assert_eq!(consumed.timestamp, ts);
        let mut resp = [0u8; RESPONSE_LEN];
        let rk = respond(consumed, &psk, 22, &mut rng, &mut resp).unwrap();
        let Ok(Message::Response(m)) = Message::parse(&resp) else {
            panic!()
        };
        assert_eq!(m.receiver(), 11);
        let ik = consume_response(&state, &i, &psk, &m).unwrap();
        assert_eq!(*ik.send, *rk.receive);
        assert_eq!(*ik.receive, *rk.send);
        assert_ne!(*ik.send, *ik.receive);
        assert_eq!((ik.local_index, ik.remote_index), (11, 22));
        assert_eq!((rk.local_index, rk.remote_index), (22, 11));
        assert!(ik.initiator && !rk.initiator);

        // A different pre-shared key: the response does not open.
        assert!(consume_response(&state, &i, &PresharedKey([8; 32]), &m).is_err());
        // An initiation to someone else does not open.
        let other = LocalKeys::new(PrivateKey::from_bytes([4; 32]));
        let Ok(Message::Initiation(m)) = Message::parse(&init) else {
            panic!()
        };
        assert!(consume_initiation(&other, &m).is_err());
    }
}
