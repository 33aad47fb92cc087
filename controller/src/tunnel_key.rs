//! A Corm's WireGuard static key (`banana corm create --tunnel-key`) and the
//! seed handed to it at each start.
//!
//! The key is made here with the OS's CSPRNG (`getrandom`), kept in the
//! Corm's record (`/banana/corm/<name>/wireguard/`, dom0's alone, so a
//! restarted Corm keeps its identity and its peers' configuration stays
//! valid), and written with a fresh seed into the Corm's config at every
//! start, in a directory the Corm owns so that it can delete it once read
//! (`docs/tunnel.md`, "Keys, the seed and the clock"). The private key
//! never prints: `Debug` shows the public half only.

use wireguard::{PrivateKey, PublicKey};

use crate::error::{Error, Result};
use crate::registry::{join, Access, Batch};
use xs_schema::config;

/// The UDP port a Corm's WireGuard listens on (`corm_domain::tunnel::wg::PORT`).
pub const PORT: u16 = 51820;

/// A Corm's static key pair.
#[derive(Clone)]
pub struct TunnelKey(PrivateKey);

impl TunnelKey {
    /// A new key from the OS's CSPRNG.
    pub fn generate() -> Result<TunnelKey> {
        Ok(TunnelKey(PrivateKey::from_bytes(random32()?)))
    }

    /// The key stored as text; `None` if garbled.
    pub fn from_text(text: &str) -> Option<TunnelKey> {
        PrivateKey::from_base64(text).map(TunnelKey)
    }

    /// The public half, which peers configure.
    pub fn public(&self) -> PublicKey {
        self.0.public_key()
    }

    /// The record's entries under `dir` (`<record>/wireguard`).
    pub fn record_entries(&self, dir: &str) -> Batch {
        let mut b = Batch::new();
        b.put(join(dir, "private-key"), self.0.to_base64().as_str())
            .put(join(dir, "public-key"), self.public().to_base64().as_str());
        b
    }

    /// The secrets of a start of the Corm `domid` (whose config directory
    /// is `config_dir`): the key and a fresh seed, in a directory the Corm
    /// owns. Apply it after the config's own access is set.
    pub fn config_entries(&self, config_dir: &str, domid: u32) -> Result<Batch> {
        let seed = random32()?;
        let mut b = Batch::new();
        b.put(
            join(config_dir, config::wireguard::PRIVATE_KEY),
            self.0.to_base64().as_str(),
        )
        .put(
            join(config_dir, config::wireguard::SEED),
            wireguard::key_text::encode(&seed).as_str(),
        )
        .restrict(
            join(config_dir, config::WIREGUARD),
            Access::Shared {
                owner: domid,
                reader: 0,
            },
        );
        Ok(b)
    }
}

impl PartialEq for TunnelKey {
    fn eq(&self, other: &Self) -> bool {
        self.public() == other.public()
    }
}

impl Eq for TunnelKey {}

impl std::fmt::Debug for TunnelKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TunnelKey(public {})",
            self.public().to_base64().as_str()
        )
    }
}

/// A Corm's tunnel address: the source of its tunnel wires' Geneve inside
/// WireGuard. Derived from its name, so it needs no record and stays the
/// same across restarts and key rotations: 22 bits of a hash in
/// 100.64.0.0/10 (RFC 6598's shared space, never routed on the Internet),
/// the host part never all zeros or ones. Two Corms whose addresses collide
/// are refused at create (`Error::TunnelAddressInUse`).
pub fn tunnel_address(corm: &str) -> std::net::Ipv4Addr {
    let h = wireguard::crypto::hash(&[b"banana tunnel address v1", corm.as_bytes()]);
    let host = match u32::from_be_bytes([h[0], h[1], h[2], h[3]]) & 0x003F_FFFF {
        0 | 0x003F_FFFF => 1,
        h => h,
    };
    std::net::Ipv4Addr::from(0x6440_0000 | host)
}

/// A standard VTEP behind WireGuard (`--wireguard-peer KEY
/// --wireguard-endpoint IP:PORT`): e.g. a Linux host whose `wg0` carries
/// its `geneve` device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WgVtep {
    /// Its WireGuard public key, as `wg pubkey` prints it.
    pub public: PublicKey,
    /// Where its WireGuard listens.
    pub endpoint: std::net::SocketAddrV4,
}

impl WgVtep {
    /// Both options, checked: a key of 44 base64 characters, a unicast
    /// `IP:PORT`.
    pub fn parse(public: &str, endpoint: &str) -> Result<WgVtep> {
        let public = PublicKey::from_base64(public)
            .ok_or_else(|| Error::BadWireguardPeer(public.to_string()))?;
        let endpoint: std::net::SocketAddrV4 = endpoint
            .parse()
            .ok()
            .filter(|e: &std::net::SocketAddrV4| {
                let ip = e.ip();
                e.port() != 0
                    && !(ip.is_unspecified()
                        || ip.is_broadcast()
                        || ip.is_multicast()
                        || ip.is_loopback())
            })
            .ok_or_else(|| Error::BadWireguardEndpoint(endpoint.to_string()))?;
        Ok(WgVtep { public, endpoint })
    }
}

/// 32 bytes from the OS's CSPRNG.
fn random32() -> Result<[u8; 32]> {
    let mut b = [0u8; 32];
    getrandom::getrandom(&mut b).map_err(|e| Error::Random(e.to_string()))?;
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_and_never_print() {
        let a = TunnelKey::generate().unwrap();
        let b = TunnelKey::generate().unwrap();
        assert_ne!(a, b);
        let text = a.0.to_base64();
        assert!(!format!("{a:?}").contains(text.as_str()));
        assert_eq!(TunnelKey::from_text(&text), Some(a));
        assert_eq!(TunnelKey::from_text("garbled"), None);
    }

    #[test]
    fn the_config_secrets_belong_to_the_corm() {
        let k = TunnelKey::generate().unwrap();
        let b = k.config_entries("/banana/config/7", 7).unwrap();
        let ops = format!("{:?}", b.0);
        assert!(ops.contains("/banana/config/7/wireguard/private-key"));
        assert!(ops.contains("/banana/config/7/wireguard/seed"));
        assert!(ops.contains("Shared { owner: 7, reader: 0 }"));
        let again = k.config_entries("/banana/config/7", 7).unwrap();
        assert_ne!(format!("{:?}", again.0), ops, "a fresh seed at every start");
    }
}
