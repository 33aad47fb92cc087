//! The Spike's configuration from the controller: `/banana/config/<domid>/`
//! (dom0-owned, readable by this domain only; controller/README.md), of which
//! the Spike uses `wire/<id>/{side,peer-domid}`.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use local_wire::domain::{configured_wires, WireConfig};
use local_wire::RingPages;
use pv_runtime::runtime::Runtime;

/// Ring pages per direction the Spike offers when it is side A: 64 KiB, so a
/// burst of full-size frames fits without waiting for the peer.
const PAGES_PER_DIR: u32 = 16;

pub fn config_dir(rt: &Runtime) -> String {
    format!("/banana/config/{}", rt.domid())
}

/// Every wire id in our configuration, with its settings when well-formed.
pub fn wires(rt: &mut Runtime) -> Vec<(u32, Option<WireConfig>)> {
    let Some(pages) = RingPages::new(PAGES_PER_DIR) else {
        return Vec::new();
    };
    let dir = config_dir(rt);
    configured_wires(rt, &dir, pages, "SPIKE")
        .into_iter()
        .map(|w| (w.id, w.config))
        .collect()
}
