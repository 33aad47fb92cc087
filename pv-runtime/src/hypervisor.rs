//! Typed wrappers over the hypercalls the runtime uses. Each converts Xen's
//! negative errno into [`XenError`]; none of them panics.

use crate::abi::{
    event_channel as ev, grant_table as gt, hypercall as nr, mmu, physdev, sched, DomId, Port,
};
use crate::arch::hypercall::{hypercall2, hypercall3, hypercall4};

/// A hypercall failed with Xen errno `-0` (xen/include/public/errno.h).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("hypercall failed: errno {0}")]
pub struct XenError(pub i64);

fn check(rc: i64) -> Result<i64, XenError> {
    if rc < 0 {
        Err(XenError(-rc))
    } else {
        Ok(rc)
    }
}

/// `HYPERVISOR_sched_op(SCHEDOP_shutdown)`: does not return on success.
pub fn shutdown(reason: sched::ShutdownReason) -> XenError {
    let arg = sched::SchedShutdown {
        reason: reason as u32,
    };
    // SAFETY: `arg` is a live sched_shutdown for the duration of the call.
    let rc = unsafe {
        hypercall2(
            nr::SCHED_OP,
            u64::from(sched::SCHEDOP_SHUTDOWN),
            &arg as *const _ as u64,
        )
    };
    XenError(-rc)
}

/// `SCHEDOP_poll`: blocks until one of `ports` is pending or system time reaches
/// `timeout_ns` (0: no timeout). Returns at once if one is already pending.
pub fn poll(ports: &[Port], timeout_ns: u64) -> Result<(), XenError> {
    let n = ports.len().min(sched::SCHEDOP_POLL_MAX_PORTS);
    let arg = sched::SchedPoll {
        ports: ports.as_ptr(),
        nr_ports: n as u32,
        timeout: timeout_ns,
    };
    // SAFETY: `arg` and the `ports` slice it points to outlive the call.
    check(unsafe {
        hypercall2(
            nr::SCHED_OP,
            u64::from(sched::SCHEDOP_POLL),
            &arg as *const _ as u64,
        )
    })
    .map(|_| ())
}

/// `SCHEDOP_yield`.
pub fn yield_now() {
    // SAFETY: SCHEDOP_yield takes no argument.
    unsafe { hypercall2(nr::SCHED_OP, u64::from(sched::SCHEDOP_YIELD), 0) };
}

/// Stops vCPU 0's default periodic timer, so VIRQ_TIMER fires only for
/// [`set_timer`] deadlines.
pub fn stop_periodic_timer() -> Result<(), XenError> {
    // SAFETY: VCPUOP_stop_periodic_timer takes no argument (NULL).
    check(unsafe {
        hypercall3(
            nr::VCPU_OP,
            u64::from(sched::VCPUOP_STOP_PERIODIC_TIMER),
            0,
            0,
        )
    })
    .map(|_| ())
}

/// `HYPERVISOR_set_timer_op`: one-shot VIRQ_TIMER at absolute system time (0 cancels).
pub fn set_timer(deadline_ns: u64) -> Result<(), XenError> {
    // SAFETY: takes a plain integer.
    check(unsafe { hypercall2(nr::SET_TIMER_OP, deadline_ns, 0) }).map(|_| ())
}

fn evtchn_op<T>(cmd: u32, arg: &mut T) -> Result<(), XenError> {
    // SAFETY: `arg` is the live, repr(C) struct that `cmd` expects (see abi::event_channel).
    check(unsafe { hypercall2(nr::EVENT_CHANNEL_OP, u64::from(cmd), arg as *mut T as u64) })
        .map(|_| ())
}

pub fn evtchn_alloc_unbound(remote: DomId) -> Result<Port, XenError> {
    let mut a = ev::AllocUnbound {
        dom: crate::abi::DOMID_SELF,
        remote_dom: remote,
        port: 0,
    };
    evtchn_op(ev::EVTCHNOP_ALLOC_UNBOUND, &mut a).map(|_| a.port)
}

pub fn evtchn_bind_interdomain(remote: DomId, remote_port: Port) -> Result<Port, XenError> {
    let mut a = ev::BindInterdomain {
        remote_dom: remote,
        remote_port,
        local_port: 0,
    };
    evtchn_op(ev::EVTCHNOP_BIND_INTERDOMAIN, &mut a).map(|_| a.local_port)
}

pub fn evtchn_bind_virq(virq: u32) -> Result<Port, XenError> {
    let mut a = ev::BindVirq {
        virq,
        vcpu: 0,
        port: 0,
    };
    evtchn_op(ev::EVTCHNOP_BIND_VIRQ, &mut a).map(|_| a.port)
}

/// Binds physical IRQ `pirq` (granted to us by the toolstack or by pciback)
/// to a new port; `share`: accept sharing the line with other domains.
pub fn evtchn_bind_pirq(pirq: u32, share: bool) -> Result<Port, XenError> {
    let mut a = ev::BindPirq {
        pirq,
        flags: if share { ev::BIND_PIRQ_WILL_SHARE } else { 0 },
        port: 0,
    };
    evtchn_op(ev::EVTCHNOP_BIND_PIRQ, &mut a).map(|_| a.port)
}

fn physdev_op<T>(cmd: u32, arg: &mut T) -> Result<(), XenError> {
    // SAFETY: `arg` is the live, repr(C) struct that `cmd` expects (see abi::physdev).
    check(unsafe { hypercall2(nr::PHYSDEV_OP, u64::from(cmd), arg as *mut T as u64) }).map(|_| ())
}

/// `PHYSDEVOP_irq_status_query`: `XENIRQSTAT_*` flags of a pirq.
pub fn physdev_irq_status(pirq: u32) -> Result<u32, XenError> {
    let mut q = physdev::IrqStatusQuery {
        irq: pirq,
        flags: 0,
    };
    physdev_op(physdev::PHYSDEVOP_IRQ_STATUS_QUERY, &mut q).map(|_| q.flags)
}

/// `PHYSDEVOP_eoi`: ends handling of a pirq that needs it (level INTx).
pub fn physdev_eoi(pirq: u32) -> Result<(), XenError> {
    physdev_op(physdev::PHYSDEVOP_EOI, &mut physdev::Eoi { irq: pirq })
}

pub fn evtchn_send(port: Port) -> Result<(), XenError> {
    evtchn_op(ev::EVTCHNOP_SEND, &mut ev::PortOp { port })
}

pub fn evtchn_close(port: Port) -> Result<(), XenError> {
    evtchn_op(ev::EVTCHNOP_CLOSE, &mut ev::PortOp { port })
}

pub fn evtchn_unmask(port: Port) -> Result<(), XenError> {
    evtchn_op(ev::EVTCHNOP_UNMASK, &mut ev::PortOp { port })
}

/// `HYPERVISOR_grant_table_op(cmd, ops, count)`.
///
/// # Safety
/// `ops` must be `count` live structs of the type `cmd` expects, and any
/// addresses inside them must be valid for what the op does.
pub unsafe fn grant_table_op<T>(cmd: u32, ops: *mut T, count: usize) -> Result<(), XenError> {
    // SAFETY: forwarded contract.
    check(unsafe { hypercall3(nr::GRANT_TABLE_OP, u64::from(cmd), ops as u64, count as u64) })
        .map(|_| ())
}

/// `GNTTABOP_query_size` for ourselves: (current, max) frames.
pub fn grant_query_size() -> Result<(u32, u32), XenError> {
    let mut q = gt::QuerySize {
        dom: crate::abi::DOMID_SELF,
        ..Default::default()
    };
    // SAFETY: one live gnttab_query_size.
    unsafe { grant_table_op(gt::GNTTABOP_QUERY_SIZE, &mut q, 1)? };
    if q.status != gt::GNTST_OKAY {
        return Err(XenError(i64::from(-q.status)));
    }
    Ok((q.nr_frames, q.max_nr_frames))
}

/// `HYPERVISOR_update_va_mapping(va, pte, flags)`.
///
/// # Safety
/// Changing a mapping can pull memory out from under live references: the
/// caller owns `va` and nothing else refers to what was mapped there.
pub unsafe fn update_va_mapping(va: u64, pte: u64, flags: u64) -> Result<(), XenError> {
    // SAFETY: forwarded contract.
    check(unsafe { hypercall3(nr::UPDATE_VA_MAPPING, va, pte, flags) }).map(|_| ())
}

/// `HYPERVISOR_mmu_update(reqs, count, NULL, foreign)`.
///
/// # Safety
/// As [`update_va_mapping`], for every PTE the requests touch.
pub unsafe fn mmu_update(reqs: &[mmu::MmuUpdate], foreign: DomId) -> Result<(), XenError> {
    // SAFETY: `reqs` is live for the call; the caller vouches for what they change.
    check(unsafe {
        hypercall4(
            nr::MMU_UPDATE,
            reqs.as_ptr() as u64,
            reqs.len() as u64,
            0,
            u64::from(foreign),
        )
    })
    .map(|_| ())
}
