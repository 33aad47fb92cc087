//! What the Corm tells dom0 (controller/README.md: `banana status`): its
//! endpoints under `data/banana/endpoint/<i>/{state,vlan,wire}` in xenstore
//! (state, written when it changes), and its counters in a counter page
//! (`corm_domain::counters`; pages granted read-only to dom0, advertised once
//! at `data/banana/counters/page-refs`), refreshed from the housekeeping
//! timer with plain stores, never through xenstore.

use alloc::format;
use alloc::string::String;

use corm_domain::counters;
use corm_domain::dataplane::Dataplane;
use corm_domain::nic::NicCounters;
use local_wire::RawMemory;
use pv_runtime::counter_page::{CounterMirror, CounterPage};
use pv_runtime::println;
use pv_runtime::runtime::Runtime;

pub struct Publisher {
    /// `None`: the pages could not be set up (reported once); the Corm
    /// forwards all the same.
    page: Option<CounterPage>,
    mirror: CounterMirror,
    /// Refusals already reported.
    refused: u64,
}

impl Publisher {
    /// Sets up the counter page for a Corm with `endpoints` endpoints.
    pub fn new(rt: &mut Runtime, endpoints: usize) -> Publisher {
        let page = match CounterPage::with_capacity(rt, counters::capacity(endpoints)) {
            Ok(p) => Some(p),
            Err(e) => {
                println!("CORM-COUNTERS-ERROR no counter page: {e}");
                None
            }
        };
        Publisher {
            page,
            mirror: CounterMirror::new(),
            refused: 0,
        }
    }

    /// Every counter's current value (names follow the wires).
    /// `retiring`: pages of torn-down wires still granted (their peer has
    /// not let go): flat over time, or wires leak.
    pub fn counters(
        &mut self,
        rt: &mut Runtime,
        nic: &NicCounters,
        dp: &Dataplane<RawMemory>,
        retiring: u64,
    ) {
        let Some(page) = self.page.as_mut() else {
            return;
        };
        counters::publish(&mut self.mirror, page, nic, dp, &rt.gauges(), retiring);
        if self.mirror.refused() != self.refused {
            self.refused = self.mirror.refused();
            if let Some(e) = self.mirror.last_error() {
                println!("CORM-COUNTERS-ERROR {} refused: {e}", self.refused);
            }
        }
    }

    /// `data/banana/endpoint/<i>/{state,vlan,wire}`: what Spikes and the
    /// controller see of our endpoints.
    pub fn endpoints(&mut self, rt: &mut Runtime, dp: &Dataplane<RawMemory>) {
        for (i, e) in dp.endpoints() {
            let base = xs_schema::data::endpoint(u32::from(i));
            // A tunnel is up once configured (no handshake with a VTEP).
            let wire = dp.wire_of(i).or(dp.tunnel_of(i).map(|w| (w, true)));
            let state = match wire {
                None => "free",
                Some((_, false)) => "wired",
                Some((_, true)) => "up",
            };
            let _ = rt.xs.write(&format!("{base}/state"), state);
            let vlan = e.vlan.map_or(String::from("none"), |v| format!("{v}"));
            let _ = rt.xs.write(&format!("{base}/vlan"), &vlan);
            let wire = wire.map_or(String::from("none"), |(w, _)| format!("{w}"));
            let _ = rt.xs.write(&format!("{base}/wire"), &wire);
        }
    }
}
