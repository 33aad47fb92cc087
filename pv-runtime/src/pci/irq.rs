//! A physical interrupt of a passed-through device delivered on an event
//! channel: `EVTCHNOP_bind_pirq`, then `PHYSDEVOP_eoi` after each handling
//! when Xen says the line needs it (level-triggered INTx keeps the line
//! masked until then; MSI does not need it). Linux `events_base.c`
//! (`startup_pirq`, `eoi_pirq`) is the reference.

use crate::abi::physdev::XENIRQSTAT_NEEDS_EOI;
use crate::abi::Port;
use crate::event::Events;
use crate::hypervisor::{self, XenError};

#[derive(Debug)]
pub struct Pirq {
    pub pirq: u32,
    pub port: Port,
    needs_eoi: bool,
}

impl Pirq {
    pub fn bind(events: &mut Events, pirq: u32, share: bool) -> Result<Pirq, XenError> {
        let port = events.bind_pirq(pirq, share)?;
        let needs_eoi = hypervisor::physdev_irq_status(pirq)
            .map(|f| f & XENIRQSTAT_NEEDS_EOI != 0)
            .unwrap_or(true);
        Ok(Pirq {
            pirq,
            port,
            needs_eoi,
        })
    }

    /// Call after the device's cause was cleared.
    pub fn eoi(&self) {
        if self.needs_eoi {
            let _ = hypervisor::physdev_eoi(self.pirq);
        }
    }

    pub fn needs_eoi(&self) -> bool {
        self.needs_eoi
    }
}
