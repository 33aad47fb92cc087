//! The domain's random numbers: a ChaCha20 generator with fast key erasure
//! (D. J. Bernstein, "Fast-key-erasure random-number generators", 2017).
//! A unikernel has no OS to ask: the controller hands the Corm a 32-byte
//! seed from dom0's CSPRNG through its private xenstore config, and the
//! Corm mixes in what the CPU offers (RDRAND/RDSEED) with [`Csprng::mix`].
//!
//! Every output block re-keys the generator first, so a later compromise
//! of its state does not reveal earlier outputs (ephemeral keys, indices).

use chacha20::cipher::{KeyIvInit, StreamCipher};
use chacha20::ChaCha20;
use zeroize::Zeroizing;

use crate::crypto;
use crate::Random;

/// Domain separation for the seed's hash.
const LABEL: &[u8] = b"banana wireguard csprng v1";

/// A seeded ChaCha20 generator.
pub struct Csprng {
    key: Zeroizing<[u8; 32]>,
}

impl Csprng {
    /// A generator from a secret seed (at least 32 random bytes).
    pub fn from_seed(seed: &[u8]) -> Csprng {
        Csprng {
            key: Zeroizing::new(crypto::hash(&[LABEL, seed])),
        }
    }

    /// Mixes more entropy into the key (`key = HASH(key ‖ entropy)`):
    /// what it adds cannot make the output worse.
    pub fn mix(&mut self, entropy: &[u8]) {
        *self.key = crypto::hash(&[&*self.key, entropy]);
    }
}

impl core::fmt::Debug for Csprng {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Csprng(<redacted>)")
    }
}

impl Random for Csprng {
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        // Each round: 32 bytes of keystream become the next key, up to 224
        // more are output.
        const CHUNK: usize = 224;
        for out in dst.chunks_mut(CHUNK) {
            let mut block = Zeroizing::new([0u8; 32 + CHUNK]);
            let mut cipher = ChaCha20::new(&(*self.key).into(), &[0u8; 12].into());
            let used = 32 + out.len();
            cipher.apply_keystream(&mut block[..used]);
            self.key.copy_from_slice(&block[..32]);
            out.copy_from_slice(&block[32..used]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_repeats_and_depends_on_seed_and_mix() {
        let mut a = Csprng::from_seed(&[1; 32]);
        let mut b = Csprng::from_seed(&[1; 32]);
        let (mut x, mut y) = ([0u8; 300], [0u8; 300]);
        a.fill_bytes(&mut x);
        b.fill_bytes(&mut y);
        assert_eq!(x, y, "deterministic for one seed");
        a.fill_bytes(&mut y);
        assert_ne!(x, y, "the key moved on");
        let mut c = Csprng::from_seed(&[1; 32]);
        c.mix(b"rdrand");
        c.fill_bytes(&mut y);
        assert_ne!(x, y);
        assert!(!format!("{a:?}").contains('1'));
    }
}
