//! `PHYSDEVOP_*` a PV driver domain needs for a passed-through device's
//! interrupts (physdev.h), and `EVTCHNOP_bind_pirq` (event_channel.h).

pub const PHYSDEVOP_EOI: u32 = 12;
pub const PHYSDEVOP_IRQ_STATUS_QUERY: u32 = 5;
/// `XENIRQSTAT_needs_eoi`: the guest must `PHYSDEVOP_eoi` after handling
/// (level-triggered INTx); Xen keeps the line masked until then.
pub const XENIRQSTAT_NEEDS_EOI: u32 = 1 << 0;
/// `XENIRQSTAT_shared`: another domain shares the line.
pub const XENIRQSTAT_SHARED: u32 = 1 << 1;

/// `struct physdev_eoi`.
#[repr(C)]
#[derive(Debug, Default)]
pub struct Eoi {
    pub irq: u32,
}

/// `struct physdev_irq_status_query`.
#[repr(C)]
#[derive(Debug, Default)]
pub struct IrqStatusQuery {
    pub irq: u32,
    pub flags: u32,
}
