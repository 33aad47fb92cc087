//! Every counter the Spike publishes, by name, for one round of a
//! [`CounterMirror`] over its counter page (pv_runtime::counter_page: pages
//! granted read-only to dom0, read by `banana status` / `banana counter`).
//! Nothing here touches xenstore.
//!
//! Names (the keys they had under `data/banana/` in xenstore before):
//!
//! * `vif/<frontend domid>/<devid>/<k>`: each vif's netback
//!   [`Counters`] (they come with the vif and go when its backend directory
//!   is forgotten; a vif disconnected for misbehaving keeps its last values,
//!   `fatal_errors` among them, until then);
//! * `wire/<id>/counters/<k>`: the wire's channel and uplink counters;
//! * `mem/<k>`: the runtime's memory gauges; `wire-pages-retiring`.

use local_wire::channel::ChannelCounters;
use pv_runtime::counter_page::{Round, ENTRIES_PER_PAGE, MAX_COUNTERS};
use pv_runtime::shared_page::SharedPage;
use xs_schema::groups;

use crate::dataplane::UplinkCounters;
use crate::netback::counters::Counters;

/// Vifs the page has room for from the start (more are refused by the
/// table and reported, never a crash).
pub const VIFS: usize = 8;

/// Counters that do not depend on the vifs: one wire's, up to 8 memory
/// gauges and `wire-pages-retiring`.
pub const FIXED: usize = ChannelCounters::NAMES.len() + UplinkCounters::NAMES.len() + 8 + 1;

/// Counter slots for [`FIXED`] and `vifs` vifs, rounded up to whole pages
/// (at most [`MAX_COUNTERS`]).
pub const fn capacity(vifs: usize) -> usize {
    let need = FIXED + vifs * Counters::NAMES.len();
    let cap = need.div_ceil(ENTRIES_PER_PAGE) * ENTRIES_PER_PAGE;
    if cap > MAX_COUNTERS {
        MAX_COUNTERS
    } else {
        cap
    }
}

/// One vif's counters.
pub fn put_vif<P: SharedPage>(r: &mut Round<'_, P>, frontend: u16, devid: u32, c: &Counters) {
    r.put_under(&groups::vif(u32::from(frontend), devid), c.iter());
}

/// The wire's counters, the memory gauges and `wire-pages-retiring`.
pub fn put_domain<P: SharedPage>(
    r: &mut Round<'_, P>,
    wire: Option<(u32, &ChannelCounters, &UplinkCounters)>,
    gauges: &[(&str, u64)],
    retiring: u64,
) {
    r.put_under(groups::MEM, gauges.iter().copied());
    r.put(groups::WIRE_PAGES_RETIRING, retiring);
    if let Some((id, channel, uplink)) = wire {
        r.put_under(&groups::wire(id), channel.iter().chain(uplink.iter()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pv_runtime::counter_page::testing::{heap_table, read_all, value, GAUGES};
    use pv_runtime::counter_page::CounterMirror;

    #[test]
    fn vifs_wire_and_gauges_reach_the_page_and_go_with_their_vif() {
        let mut t = heap_table(capacity(VIFS));
        let mut m = CounterMirror::new();
        let vif = Counters {
            rx_packets: 47,
            fatal_errors: 1,
            ..Default::default()
        };
        let channel = ChannelCounters::default();
        let uplink = UplinkCounters {
            rx_no_vif: 3,
            ..Default::default()
        };
        let mut r = m.round(&mut t);
        put_vif(&mut r, 5, 0, &vif);
        put_vif(&mut r, 6, 1, &Counters::default());
        put_domain(&mut r, Some((2, &channel, &uplink)), &GAUGES, 4);
        r.finish();
        let all = read_all(&t);
        assert_eq!(value(&all, "vif/5/0/rx_packets"), Some(47));
        assert_eq!(value(&all, "vif/5/0/fatal_errors"), Some(1));
        assert_eq!(value(&all, "vif/6/1/rx_packets"), Some(0));
        assert_eq!(value(&all, "wire/2/counters/rx_no_vif"), Some(3));
        assert!(value(&all, "wire/2/counters/rx_frames").is_some());
        assert_eq!(value(&all, "mem/frames_free"), Some(7));
        assert_eq!(value(&all, "wire-pages-retiring"), Some(4));
        assert_eq!(
            all.len(),
            2 * Counters::NAMES.len()
                + ChannelCounters::NAMES.len()
                + UplinkCounters::NAMES.len()
                + GAUGES.len()
                + 1
        );
        // Vif 6/1 is forgotten and the wire removed: their counters go.
        let mut r = m.round(&mut t);
        put_vif(&mut r, 5, 0, &vif);
        put_domain(&mut r, None, &GAUGES, 4);
        r.finish();
        let all = read_all(&t);
        assert!(value(&all, "vif/6/1/rx_packets").is_none());
        assert!(value(&all, "wire/2/counters/rx_no_vif").is_none());
        assert_eq!(value(&all, "vif/5/0/rx_packets"), Some(47));
        assert_eq!(m.refused(), 0);
    }

    #[test]
    fn the_page_holds_its_vifs() {
        let mut t = heap_table(capacity(VIFS));
        let mut m = CounterMirror::new();
        let mut r = m.round(&mut t);
        for fe in 0..VIFS as u16 {
            put_vif(&mut r, fe + 1, 0, &Counters::default());
        }
        let (c, u) = (ChannelCounters::default(), UplinkCounters::default());
        put_domain(&mut r, Some((1, &c, &u)), &[("a", 1); 1], 0);
        r.finish();
        assert_eq!(m.refused(), 0);
        assert!(capacity(VIFS) <= MAX_COUNTERS);
    }
}
