//! `banana corm rekey NAME`: a Corm's WireGuard key rotated (issue 12,
//! docs/tunnel.md "Rotating a key"). A new key from the OS's CSPRNG
//! replaces the one in the Corm's record; a running Corm gets it with a
//! fresh seed in its secrets directory (it watches its config, takes them
//! and deletes them as at boot), and the other Corm of each of its tunnel
//! wires gets the wire's entries again, naming the new key. The tunnel
//! address does not change (it comes from the name). A VTEP behind
//! WireGuard is not ours to reconfigure: its wires are listed for the
//! operator.

use wireguard::PublicKey;

use crate::app::App;
use crate::endpoint::{check_name, Kind};
use crate::error::{Error, Result};
use crate::registry::{join, Access, Batch};
use crate::schema::{config_path, find, DomainRecord, WireRecord, WIREGUARD};
use crate::tunnel_key::TunnelKey;

/// What a rotation did.
#[derive(Debug)]
pub struct Rekeyed {
    /// The new public key.
    pub public: PublicKey,
    /// Tunnel wires whose other Corm was given the new key.
    pub wires: Vec<u32>,
    /// Wires to VTEPs behind WireGuard, whose far end the operator must
    /// give the new key (`wg set … peer NEW …`).
    pub vteps: Vec<u32>,
}

impl App<'_> {
    /// Rotates Corm `name`'s WireGuard key, in one batch.
    pub fn rekey_corm(&self, name: &str) -> Result<Rekeyed> {
        check_name(name)?;
        let rec = self
            .record(Kind::Corm, name)?
            .ok_or_else(|| Error::UnknownDomain {
                kind: Kind::Corm.as_str(),
                name: name.into(),
            })?;
        if rec.tunnel_key.is_none() {
            return Err(Error::NoTunnelKey(name.to_string()));
        }
        let key = TunnelKey::generate()?;
        let mut domains = DomainRecord::load_all(self.reg)?;
        for d in domains.iter_mut() {
            if d.kind == Kind::Corm && d.name == name {
                d.tunnel_key = Some(key.clone());
            }
        }
        let mut b = Batch::new();
        let dir = join(&rec.path(), WIREGUARD);
        b.rm(&dir).extend(key.record_entries(&dir));
        if let Some(domid) = rec.domid {
            b.extend(key.config_entries(&config_path(domid), domid)?);
        }
        let (mut wires, mut vteps) = (Vec::new(), Vec::new());
        for w in WireRecord::load_all(self.reg)? {
            let Some(side) = w.side_of(&Kind::Corm, name) else {
                continue;
            };
            if w.wg_vtep.is_some() {
                vteps.push(w.id);
            }
            if !w.wireguard {
                continue;
            }
            let other = side.other();
            if let Some(d) = find(&domains, w.end(other)).and_then(|d| d.domid) {
                let p = join(&config_path(d), w.config_dir());
                b.rm(&p)
                    .extend(w.tunnel_entries(d, other, &domains))
                    .restrict(&p, Access::ReadableBy(d));
            }
            wires.push(w.id);
        }
        self.reg.apply(&b)?;
        Ok(Rekeyed {
            public: key.public(),
            wires,
            vteps,
        })
    }
}
