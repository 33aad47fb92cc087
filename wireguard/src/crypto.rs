//! WireGuard's cryptographic primitives, as the whitepaper names them
//! (J. A. Donenfeld, "WireGuard: Next Generation Kernel Network Tunnel",
//! §5.4 "Messages", the list of functions): `HASH`, `MAC`, `HMAC`, `KDFn`,
//! `AEAD`, `XAEAD` and `DH`, on RustCrypto's BLAKE2s and ChaCha20-Poly1305
//! and dalek's X25519. Every secret this module hands out is zeroed when it
//! is dropped, and no key type prints its bytes.

use blake2::digest::consts::U16;
use blake2::digest::{Digest, KeyInit, Mac};
use blake2::{Blake2s256, Blake2sMac};
use chacha20poly1305::aead::AeadInPlace;
use chacha20poly1305::{ChaCha20Poly1305, XChaCha20Poly1305};
use hmac::SimpleHmac;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// The Noise protocol name, the handshake's first hash input (§5.4).
pub const CONSTRUCTION: &[u8] = b"Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";
/// WireGuard's identifier, mixed into the handshake hash (§5.4).
pub const IDENTIFIER: &[u8] = b"WireGuard v1 zx2c4 Jason@zx2c4.com";
/// Label of the key of `mac1` (§5.4.4).
pub const LABEL_MAC1: &[u8] = b"mac1----";
/// Label of the key that encrypts cookies (§5.4.7).
pub const LABEL_COOKIE: &[u8] = b"cookie--";

/// Length of an AEAD tag (Poly1305, RFC 8439 §2.5).
pub const TAG_LEN: usize = 16;

/// An authentication tag did not verify, or a Diffie-Hellman result was
/// all zeros (the peer sent a low-order point).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The AEAD tag is wrong: forged, corrupted, or the wrong key.
    #[error("authentication failed")]
    Unauthentic,
    /// X25519 gave the all-zero value (RFC 7748 §6.1 allows a check).
    #[error("non-contributory Diffie-Hellman result")]
    WeakPoint,
}

/// A Curve25519 public key, as WireGuard's `wg` prints in base64.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(pub [u8; 32]);

impl core::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Public, but long: the first bytes identify it in a log.
        write!(
            f,
            "PublicKey({:02x}{:02x}{:02x}{:02x}…)",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

/// A Curve25519 private key. Its bytes never print and are zeroed on drop.
#[derive(Clone, ZeroizeOnDrop)]
pub struct PrivateKey(x25519_dalek::StaticSecret);

impl PrivateKey {
    /// Takes 32 random bytes (clamped by X25519 itself, RFC 7748 §5).
    pub fn from_bytes(bytes: [u8; 32]) -> PrivateKey {
        let mut bytes = Zeroizing::new(bytes);
        PrivateKey(x25519_dalek::StaticSecret::from(core::mem::take(
            &mut *bytes,
        )))
    }

    /// The key's bytes (clamped), for [`crate::key_text`] only.
    pub(crate) fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// This key's public half.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(x25519_dalek::PublicKey::from(&self.0).to_bytes())
    }

    /// `DH(self, public)`; refuses an all-zero result, as Linux's
    /// `curve25519()` callers do (drivers/net/wireguard/noise.c, `mix_dh`).
    pub fn dh(&self, public: &PublicKey) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
        let shared = self
            .0
            .diffie_hellman(&x25519_dalek::PublicKey::from(public.0));
        if !shared.was_contributory() {
            return Err(CryptoError::WeakPoint);
        }
        Ok(Zeroizing::new(shared.to_bytes()))
    }
}

impl core::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("PrivateKey(<redacted>)")
    }
}

/// An optional pre-shared symmetric key (`Q` in §5.4.3; all zeros when
/// none is configured). Never printed, zeroed on drop.
#[derive(Clone, Default, Zeroize, ZeroizeOnDrop)]
pub struct PresharedKey(pub [u8; 32]);

impl core::fmt::Debug for PresharedKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("PresharedKey(<redacted>)")
    }
}

/// `HASH(parts…)`: BLAKE2s-256 of the concatenation.
pub fn hash(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Blake2s256::new();
    for p in parts {
        Digest::update(&mut h, p);
    }
    h.finalize().into()
}

/// `MAC(key, parts…)`: keyed BLAKE2s with a 16-byte output (RFC 7693 §2.5
/// keyed mode). Keys are 16 or 32 bytes here; BLAKE2s takes up to 32.
pub fn mac<const N: usize>(key: &[u8; N], parts: &[&[u8]]) -> [u8; 16] {
    const { assert!(N >= 1 && N <= 32, "BLAKE2s keys are 1 to 32 bytes") };
    let Ok(mut m) = <Blake2sMac<U16> as KeyInit>::new_from_slice(key) else {
        // Unreachable: the length is checked at compile time above.
        return [0; 16];
    };
    for p in parts {
        Mac::update(&mut m, p);
    }
    m.finalize().into_bytes().into()
}

/// `HMAC(key, parts…)`: HMAC (RFC 2104) over BLAKE2s-256.
fn hmac(key: &[u8], parts: &[&[u8]]) -> Zeroizing<[u8; 32]> {
    // HMAC takes keys of any length: new_from_slice cannot fail.
    let Ok(mut m) = <SimpleHmac<Blake2s256> as KeyInit>::new_from_slice(key) else {
        return Zeroizing::new([0; 32]);
    };
    for p in parts {
        Mac::update(&mut m, p);
    }
    Zeroizing::new(m.finalize().into_bytes().into())
}

/// `KDFn(key, input)`: HKDF (RFC 5869) with HMAC-BLAKE2s and an empty
/// info, giving `N` 32-byte outputs (§5.4: τ0 = HMAC(key, input),
/// τ1 = HMAC(τ0, 0x1), τi = HMAC(τ0, τi−1 ‖ i)).
pub fn kdf<const N: usize>(key: &[u8; 32], input: &[u8]) -> [Zeroizing<[u8; 32]>; N] {
    const { assert!(N >= 1 && N <= 3) };
    let prk = hmac(key, &[input]);
    let mut out: [Zeroizing<[u8; 32]>; N] = core::array::from_fn(|_| Zeroizing::new([0; 32]));
    let mut prev: Zeroizing<[u8; 32]> = Zeroizing::new([0; 32]);
    for (i, slot) in out.iter_mut().enumerate() {
        let counter = [i as u8 + 1];
        let t = if i == 0 {
            hmac(&*prk, &[&counter])
        } else {
            hmac(&*prk, &[&*prev, &counter])
        };
        *prev = *t;
        **slot = *t;
    }
    out
}

/// The 96-bit nonce of `AEAD`: 32 zero bits, then the counter
/// little-endian (§5.4.6).
fn nonce(counter: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&counter.to_le_bytes());
    n
}

/// `AEAD(key, counter, plain, ad)` in place: `buf` holds the plaintext and
/// becomes the ciphertext; the tag is returned.
pub fn seal(key: &[u8; 32], counter: u64, buf: &mut [u8], ad: &[u8]) -> [u8; TAG_LEN] {
    let cipher = ChaCha20Poly1305::new(key.into());
    match cipher.encrypt_in_place_detached(&nonce(counter).into(), ad, buf) {
        Ok(tag) => tag.into(),
        // Only for a buffer beyond ChaCha20's 256 GiB: never here.
        Err(_) => [0; TAG_LEN],
    }
}

/// Opens what [`seal`] made, in place. On failure `buf` is garbage.
pub fn open(
    key: &[u8; 32],
    counter: u64,
    buf: &mut [u8],
    tag: &[u8; TAG_LEN],
    ad: &[u8],
) -> Result<(), CryptoError> {
    let cipher = ChaCha20Poly1305::new(key.into());
    cipher
        .decrypt_in_place_detached(&nonce(counter).into(), ad, buf, tag.into())
        .map_err(|_| CryptoError::Unauthentic)
}

/// `XAEAD(key, nonce, plain, ad)` in place (XChaCha20-Poly1305, §5.4.7).
pub fn xseal(key: &[u8; 32], nonce: &[u8; 24], buf: &mut [u8], ad: &[u8]) -> [u8; TAG_LEN] {
    let cipher = XChaCha20Poly1305::new(key.into());
    match cipher.encrypt_in_place_detached(nonce.into(), ad, buf) {
        Ok(tag) => tag.into(),
        Err(_) => [0; TAG_LEN],
    }
}

/// Opens what [`xseal`] made, in place.
pub fn xopen(
    key: &[u8; 32],
    nonce: &[u8; 24],
    buf: &mut [u8],
    tag: &[u8; TAG_LEN],
    ad: &[u8],
) -> Result<(), CryptoError> {
    let cipher = XChaCha20Poly1305::new(key.into());
    cipher
        .decrypt_in_place_detached(nonce.into(), ad, buf, tag.into())
        .map_err(|_| CryptoError::Unauthentic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_construction_hash_is_linux_s_precomputed_one() {
        // drivers/net/wireguard/noise.c computes HASH(CONSTRUCTION) at init;
        // its first bytes are widely quoted: 60 e2 6d ae.
        let c = hash(&[CONSTRUCTION]);
        assert_eq!(&c[..4], &[0x60, 0xe2, 0x6d, 0xae]);
    }

    #[test]
    fn kdf_outputs_chain() {
        let key = [7u8; 32];
        let [a] = kdf::<1>(&key, b"x");
        let [b, c] = kdf::<2>(&key, b"x");
        assert_eq!(*a, *b, "τ1 is the same whatever n");
        assert_ne!(*b, *c);
    }

    #[test]
    fn aead_round_trips_and_rejects_tampering() {
        let key = [1u8; 32];
        let mut buf = *b"hello, tunnel";
        let tag = seal(&key, 5, &mut buf, b"ad");
        let mut copy = buf;
        open(&key, 5, &mut copy, &tag, b"ad").unwrap();
        assert_eq!(&copy, b"hello, tunnel");
        let mut copy = buf;
        assert_eq!(
            open(&key, 6, &mut copy, &tag, b"ad"),
            Err(CryptoError::Unauthentic)
        );
        let mut copy = buf;
        copy[0] ^= 1;
        assert_eq!(
            open(&key, 5, &mut copy, &tag, b"ad"),
            Err(CryptoError::Unauthentic)
        );
    }

    #[test]
    fn dh_refuses_a_low_order_point() {
        let k = PrivateKey::from_bytes([9u8; 32]);
        assert_eq!(
            k.dh(&PublicKey([0u8; 32])).err(),
            Some(CryptoError::WeakPoint)
        );
        let other = PrivateKey::from_bytes([3u8; 32]);
        assert_eq!(
            *k.dh(&other.public_key()).unwrap(),
            *other.dh(&k.public_key()).unwrap()
        );
    }

    #[test]
    fn keys_do_not_print() {
        let k = PrivateKey::from_bytes([0xAB; 32]);
        let s = format!("{k:?} {:?}", PresharedKey([0xCD; 32]));
        assert!(
            !s.contains("ab") && !s.contains("AB") && !s.contains("171"),
            "{s}"
        );
    }
}
