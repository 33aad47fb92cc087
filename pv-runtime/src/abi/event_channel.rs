//! `EVTCHNOP_*` and their argument structs (event_channel.h).

use super::{DomId, Port};

pub const EVTCHNOP_BIND_INTERDOMAIN: u32 = 0;
pub const EVTCHNOP_BIND_VIRQ: u32 = 1;
pub const EVTCHNOP_CLOSE: u32 = 3;
pub const EVTCHNOP_SEND: u32 = 4;
pub const EVTCHNOP_STATUS: u32 = 5;
pub const EVTCHNOP_ALLOC_UNBOUND: u32 = 6;
pub const EVTCHNOP_UNMASK: u32 = 9;

/// `VIRQ_*` (xen.h).
pub const VIRQ_TIMER: u32 = 0;
pub const VIRQ_DEBUG: u32 = 1;
pub const VIRQ_CONSOLE: u32 = 2;

/// `struct evtchn_alloc_unbound`.
#[repr(C)]
#[derive(Debug, Default)]
pub struct AllocUnbound {
    pub dom: DomId,
    pub remote_dom: DomId,
    pub port: Port,
}

/// `struct evtchn_bind_interdomain`.
#[repr(C)]
#[derive(Debug, Default)]
pub struct BindInterdomain {
    pub remote_dom: DomId,
    pub remote_port: Port,
    pub local_port: Port,
}

/// `struct evtchn_bind_virq`.
#[repr(C)]
#[derive(Debug, Default)]
pub struct BindVirq {
    pub virq: u32,
    pub vcpu: u32,
    pub port: Port,
}

/// `struct evtchn_close` / `struct evtchn_send` / `struct evtchn_unmask`: one port.
#[repr(C)]
#[derive(Debug, Default)]
pub struct PortOp {
    pub port: Port,
}

pub const EVTCHNOP_BIND_PIRQ: u32 = 2;
/// `BIND_PIRQ__WILL_SHARE`: we accept sharing the line with another domain.
pub const BIND_PIRQ_WILL_SHARE: u32 = 1;

/// `struct evtchn_bind_pirq`: a physical IRQ Xen granted us (libxl maps the
/// INTx; pciback returns one per MSI/MSI-X vector) delivered on a port.
#[repr(C)]
#[derive(Debug, Default)]
pub struct BindPirq {
    pub pirq: u32,
    pub flags: u32,
    pub port: Port,
}
