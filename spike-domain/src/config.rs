//! The Spike's configuration from the controller: `/banana/config/<domid>/`
//! (dom0-owned, readable by this domain only; controller/README.md), of which
//! the Spike uses `wire/<id>/{side,peer-domid}`. Values are parsed strictly;
//! a malformed wire entry is skipped and reported.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use local_wire::domain::WireConfig;
use local_wire::{RingPages, Side};
use pv_runtime::abi::{DomId, DOMID_SELF};
use pv_runtime::println;
use pv_runtime::runtime::Runtime;
use spike_domain::xenbus_backend::parse_decimal;

/// Ring pages per direction the Spike offers when it is side A: 64 KiB, so a
/// burst of full-size frames fits without waiting for the peer.
const PAGES_PER_DIR: u32 = 16;

pub fn config_dir(rt: &Runtime) -> String {
    format!("/banana/config/{}", rt.domid())
}

/// Every wire id in our configuration, with its settings when well-formed.
pub fn wires(rt: &mut Runtime) -> Vec<(u32, Option<WireConfig>)> {
    let base = format!("{}/wire", config_dir(rt));
    let Ok(ids) = rt.xs.directory(&base) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for id in ids {
        let side = rt.xs.read(&format!("{base}/{id}/side")).ok();
        let peer = rt.xs.read(&format!("{base}/{id}/peer-domid")).ok();
        let Some(wire) = parse_decimal(&id) else {
            println!("SPIKE-CONFIG-ERROR wire id {id:?}");
            continue;
        };
        let parsed = (|| {
            let side = match side.as_deref()? {
                "a" => Side::A,
                "b" => Side::B,
                _ => return None,
            };
            let peer = DomId::try_from(parse_decimal(peer.as_deref()?)?)
                .ok()
                .filter(|&d| d < DOMID_SELF && d != rt.domid())?;
            Some(WireConfig {
                wire,
                side,
                peer,
                pages: RingPages::new(PAGES_PER_DIR)?,
            })
        })();
        if parsed.is_none() {
            println!("SPIKE-CONFIG-ERROR wire {id:?}: side={side:?} peer-domid={peer:?}");
        }
        out.push((wire, parsed));
    }
    out
}
