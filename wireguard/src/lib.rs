//! The tunnel wire's core: WireGuard (J. A. Donenfeld, "WireGuard: Next
//! Generation Kernel Network Tunnel", NDSS 2017; the protocol of Linux's
//! drivers/net/wireguard), so that a Corm's encrypted wire is understood by
//! `wg`, the kernel's WireGuard and every other implementation.
//!
//! Sans-IO and `no_std`, on RustCrypto's BLAKE2s and ChaCha20-Poly1305 and
//! dalek's X25519: the caller hands in datagrams, packets and the time, and
//! gets back datagrams to send and packets to deliver. Only adding a peer
//! allocates (its state, ~3 KiB with its replay windows, lives on the heap);
//! transport messages are sealed and opened in place. Every received byte
//! is hostile: views are checked once ([`message::Message::parse`]), every
//! drop has a [`Reason`] and a counter, secrets are zeroed on drop and never
//! printed.
//!
//! * [`message`]: the four messages, checked views and field offsets.
//! * [`crypto`]: `HASH`, `MAC`, `KDF`, `AEAD`, `XAEAD`, `DH`, key types.
//! * [`handshake`]: Noise_IKpsk2, initiator and responder.
//! * [`cookie`]: `mac1`/`mac2`, cookie replies, the load meter.
//! * [`keypair`]: a session's keys, counters and replay window ([`replay`]).
//! * [`timers`]: §6's constants; [`peer`] applies them.
//! * [`interface`]: our key and our peers, the route of every datagram.
//! * [`key_text`]: keys in `wg`'s base64.
//! * [`tai64n`], [`rng`]: the timestamp and the seeded generator a
//!   unikernel needs.
//!
//! `docs/tunnel.md` says how the Corm uses it.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod cookie;
pub mod crypto;
pub mod handshake;
pub mod interface;
pub mod key_text;
pub mod keypair;
pub mod message;
pub mod peer;
pub mod replay;
pub mod rng;
pub mod tai64n;
pub mod timers;

pub use crypto::{PresharedKey, PrivateKey, PublicKey};
pub use interface::{Counters, Interface, Now, PeerId, Reason, Received, SendError, MAX_REPLY_LEN};
pub use peer::PeerConfig;
pub use rng::Csprng;
pub use tai64n::Tai64n;

/// Where the protocol's randomness comes from: ephemeral keys, indices,
/// cookie secrets and nonces, retry jitter. In a domain, [`Csprng`].
pub trait Random {
    /// Fills `dst` with unpredictable bytes.
    fn fill_bytes(&mut self, dst: &mut [u8]);
}

impl<R: Random + ?Sized> Random for &mut R {
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        (**self).fill_bytes(dst)
    }
}

/// A predictable generator for unit tests only.
#[cfg(test)]
pub(crate) mod test_rng {
    /// Counts: every byte differs from the last, nothing is secret.
    pub struct CountingRng(pub u8);

    impl crate::Random for CountingRng {
        fn fill_bytes(&mut self, dst: &mut [u8]) {
            for b in dst {
                self.0 = self.0.wrapping_mul(31).wrapping_add(7);
                *b = self.0;
            }
        }
    }
}
