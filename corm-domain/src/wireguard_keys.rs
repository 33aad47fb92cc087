//! The Corm's WireGuard identity: the static key and the generator seed the
//! controller wrote into `wireguard/` of our config (`banana corm create
//! --tunnel-key`, docs/tunnel.md). Both are read once and the directory is
//! deleted at once (it is ours to delete), so the secrets live in xenstore
//! only between the controller's write and our boot. Neither value is ever
//! printed: a bad one is reported by name.

use alloc::format;
use alloc::string::String;

use pv_runtime::println;
use pv_runtime::runtime::Runtime;
use pv_runtime::xenstore::{Errno, XsError};
use wireguard::{Csprng, Interface, PrivateKey};
use xs_schema::{config, data};
use zeroize::Zeroizing;

use crate::config::config_dir;

/// What the Corm needs to speak WireGuard.
pub struct Identity {
    /// Our static key.
    pub key: PrivateKey,
    /// Our generator: the controller's seed, RDSEED/RDRAND mixed in.
    pub rng: Csprng,
}

/// The tunnel wires' peers a Corm can have at most (one per wire).
pub const MAX_PEERS: usize = corm_domain::tunnel::MAX_TUNNELS;

impl Identity {
    /// Our WireGuard interface, with no peers yet.
    pub fn interface(self) -> Interface<Csprng, MAX_PEERS> {
        Interface::new(self.key, self.rng)
    }
}

/// Takes our secrets out of xenstore; `None` without `--tunnel-key` (or
/// with unusable values, reported as `CORM-CONFIG-ERROR`).
pub fn take(rt: &mut Runtime) -> Option<Identity> {
    let dir = config_dir(rt);
    let read = |rt: &mut Runtime, key: &str| -> Result<Option<Zeroizing<String>>, String> {
        match rt.xs.read(&format!("{dir}/{key}")) {
            Ok(v) => Ok(Some(Zeroizing::new(v))),
            Err(XsError::Xenstored(Errno::ENOENT)) => Ok(None),
            Err(e) => Err(format!("cannot read {key}: {e}")),
        }
    };
    let key = read(rt, config::wireguard::PRIVATE_KEY);
    let seed = read(rt, config::wireguard::SEED);
    if matches!((&key, &seed), (Ok(None), Ok(None))) {
        return None;
    }
    // Gone from xenstore before anything else, whatever the values are.
    let secrets = format!("{dir}/{}", config::WIREGUARD);
    if let Err(e) = rt.xs.rm(&secrets) {
        println!("CORM-CONFIG-ERROR cannot delete {secrets}: {e}");
    }
    let key = match key {
        Ok(Some(k)) => PrivateKey::from_base64(&k),
        Ok(None) => None,
        Err(why) => {
            println!("CORM-CONFIG-ERROR {why}: no tunnel key");
            return None;
        }
    };
    let Some(key) = key else {
        println!(
            "CORM-CONFIG-ERROR {} is not a key: no tunnel key",
            config::wireguard::PRIVATE_KEY
        );
        return None;
    };
    let seed = match seed {
        Ok(Some(s)) => wireguard::key_text::decode(&s),
        _ => None,
    };
    let Some(seed) = seed else {
        println!(
            "CORM-CONFIG-ERROR {} is not 32 bytes of base64: no tunnel key",
            config::wireguard::SEED
        );
        return None;
    };
    let mut rng = Csprng::from_seed(&*seed);
    let mut hw = [0u64; 4];
    let words = pv_runtime::hardware_entropy(&mut hw);
    for w in &hw[..words] {
        rng.mix(&w.to_le_bytes());
    }
    rng.mix(&pv_runtime::time::now_ns().to_le_bytes());
    let public = key.public_key().to_base64();
    println!(
        "CORM-WIREGUARD public-key={} hw-entropy-words={words}",
        public.as_str()
    );
    let _ = rt
        .xs
        .write(data::WIREGUARD_PUBLIC_KEY.from_home(), public.as_str());
    Some(Identity { key, rng })
}
