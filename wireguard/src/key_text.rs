//! Keys as text: standard base64 with padding, 44 characters for 32 bytes,
//! the form `wg genkey`, `wg pubkey` and `wg show` use (wireguard-tools,
//! `key_to_base64`), so an operator can paste a Corm's public key into a
//! Linux peer's configuration and the other way round.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use zeroize::Zeroizing;

use crate::crypto::{PresharedKey, PrivateKey, PublicKey};

/// Length of a 32-byte key in base64.
pub const KEY_TEXT_LEN: usize = 44;

/// A key's text, zeroed on drop because it may be a private key's.
#[derive(zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub struct KeyText([u8; KEY_TEXT_LEN]);

impl KeyText {
    /// The 44 characters.
    pub fn as_str(&self) -> &str {
        // base64's alphabet is ASCII: always UTF-8.
        core::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl core::ops::Deref for KeyText {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

/// The base64 of 32 bytes.
pub fn encode(bytes: &[u8; 32]) -> KeyText {
    let mut text = KeyText([b'='; KEY_TEXT_LEN]);
    // 32 bytes are exactly 44 characters: this cannot fail.
    let _ = STANDARD.encode_slice(bytes, &mut text.0);
    text
}

/// 32 bytes from exactly 44 characters of base64 (surrounding whitespace
/// allowed, as a file written by `wg genkey > key` ends with a newline).
pub fn decode(text: &str) -> Option<Zeroizing<[u8; 32]>> {
    let text = text.trim().as_bytes();
    if text.len() != KEY_TEXT_LEN {
        return None;
    }
    let mut out = Zeroizing::new([0u8; 33]);
    match STANDARD.decode_slice(text, &mut *out) {
        Ok(32) => {
            let mut key = Zeroizing::new([0u8; 32]);
            key.copy_from_slice(&out[..32]);
            Some(key)
        }
        _ => None,
    }
}

impl PublicKey {
    /// The key as `wg pubkey` prints it.
    pub fn to_base64(&self) -> KeyText {
        encode(&self.0)
    }

    /// Parses what `wg pubkey` prints.
    pub fn from_base64(text: &str) -> Option<PublicKey> {
        decode(text).map(|k| PublicKey(*k))
    }
}

impl PrivateKey {
    /// Parses what `wg genkey` prints.
    pub fn from_base64(text: &str) -> Option<PrivateKey> {
        decode(text).map(|k| PrivateKey::from_bytes(*k))
    }

    /// The key's text, for the one place that must store it (the
    /// controller's registry and the Corm's config). Never log it.
    pub fn to_base64(&self) -> KeyText {
        encode(&self.to_bytes())
    }
}

impl PresharedKey {
    /// Parses what `wg genpsk` prints.
    pub fn from_base64(text: &str) -> Option<PresharedKey> {
        decode(text).map(|k| PresharedKey(*k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_matches_wg() {
        // RFC 7748 §6.1's Alice: private 77076d0a…, public 8520f009….
        let private = [
            0x77, 0x07, 0x6d, 0x0a, 0x73, 0x18, 0xa5, 0x7d, 0x3c, 0x16, 0xc1, 0x72, 0x51, 0xb2,
            0x66, 0x45, 0xdf, 0x4c, 0x2f, 0x87, 0xeb, 0xc0, 0x99, 0x2a, 0xb1, 0x77, 0xfb, 0xa5,
            0x1d, 0xb9, 0x2c, 0x2a,
        ];
        let k = PrivateKey::from_bytes(private);
        let text = k.to_base64();
        assert_eq!(text.len(), 44);
        let back = PrivateKey::from_base64(&format!("{}\n", text.as_str())).unwrap();
        assert_eq!(back.public_key(), k.public_key());
        assert_eq!(
            k.public_key().to_base64().as_str(),
            "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo="
        );
        assert!(PublicKey::from_base64("hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo").is_none());
        assert!(PublicKey::from_base64("!SDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=").is_none());
        assert!(PublicKey::from_base64("").is_none());
    }
}
