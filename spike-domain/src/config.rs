//! The Spike's configuration from the controller: `/banana/config/<domid>/`
//! (dom0-owned, readable by this domain only; controller/README.md), of which
//! the Spike uses `wire/<id>/{side,peer-domid}`.

use alloc::string::String;
use alloc::vec::Vec;

use local_wire::domain::{configured_wires, WireConfig};
use local_wire::RingPages;
use pv_runtime::runtime::Runtime;

pub fn config_dir(rt: &Runtime) -> String {
    xs_schema::config::dir(u32::from(rt.domid()))
}

/// Every wire id in our configuration, with its settings when well-formed.
pub fn wires(rt: &mut Runtime) -> Vec<(u32, Option<WireConfig>)> {
    // As side A (a Spike–Spike wire) the Spike offers rings that hold any
    // legal frame.
    let dir = config_dir(rt);
    configured_wires(rt, &dir, RingPages::FOR_FRAMES, "SPIKE")
        .into_iter()
        .map(|w| (w.id, w.config))
        .collect()
}
