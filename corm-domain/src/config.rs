//! The Corm's configuration from the controller (controller/README.md):
//! `banana.endpoints=N` on the command line, and under
//! `/banana/config/<domid>/` (dom0-owned, readable by us only)
//! `endpoint/<i>/vlan` and `wire/<id>/{side,peer-domid,endpoint}`.
//! Every value is hostile text, parsed strictly; a bad one is reported and
//! ignored, never half-applied.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use corm_domain::switch::MAX_VID;
use local_wire::domain::{configured_wires, ConfiguredWire};
use local_wire::RingPages;
use pv_runtime::println;
use pv_runtime::runtime::Runtime;
use pv_runtime::xenstore::parse_decimal;

/// Endpoints a Corm offers at most (each costs a wire's ring when wired).
pub const MAX_ENDPOINTS: u16 = 64;

pub fn config_dir(rt: &Runtime) -> String {
    format!("/banana/config/{}", rt.domid())
}

/// `banana.endpoints=N` (1..=[`MAX_ENDPOINTS`]; default 1).
pub fn endpoints(rt: &Runtime) -> u16 {
    match rt.arg("banana.endpoints").map(parse_decimal) {
        None => 1,
        Some(Some(n)) if (1..=u32::from(MAX_ENDPOINTS)).contains(&n) => n as u16,
        Some(v) => {
            println!("CORM-CONFIG-ERROR banana.endpoints={v:?}: using 1");
            1
        }
    }
}

/// Endpoint `i`'s VLAN: `Ok(None)` (untagged) when absent. A malformed value
/// is `Err(value)`: the endpoint is not served, so a typo can never put a
/// guest on the untagged segment.
pub fn vlan(rt: &mut Runtime, i: u16) -> Result<Option<u16>, String> {
    let path = format!("{}/endpoint/{i}/vlan", config_dir(rt));
    match rt.xs.read(&path) {
        Err(_) => Ok(None),
        Ok(v) => match parse_decimal(&v) {
            Some(id) if (1..=u32::from(MAX_VID)).contains(&id) => Ok(Some(id as u16)),
            _ => Err(v),
        },
    }
}

/// The configured wires, each with the endpoint it serves.
pub fn wires(rt: &mut Runtime) -> Vec<ConfiguredWire> {
    // The Corm is always side A: it offers rings that hold any legal frame.
    let dir = config_dir(rt);
    configured_wires(rt, &dir, RingPages::FOR_FRAMES, "CORM")
}
