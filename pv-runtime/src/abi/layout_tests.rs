//! Every Xen ABI struct and constant in [`crate::abi`], checked against the Xen
//! public headers installed on the host (see [`crate::c_probe`]).

use core::mem::{offset_of, size_of};

use crate::abi::{
    console::XenconsInterface,
    event_channel as ev, grant_table as gt, mmu, sched,
    shared_info::{SharedInfo, VcpuInfo, VcpuTimeInfo},
    start_info::StartInfo,
};
use crate::c_probe::CProbe;

#[test]
fn abi_matches_xen_public_headers() {
    let mut p = CProbe::new(&[
        "xen/event_channel.h",
        "xen/grant_table.h",
        "xen/sched.h",
        "xen/vcpu.h",
        "xen/io/console.h",
    ]);
    p.size("struct start_info", size_of::<StartInfo>());
    p.offset(
        "struct start_info",
        "nr_pages",
        offset_of!(StartInfo, nr_pages),
    );
    p.offset(
        "struct start_info",
        "shared_info",
        offset_of!(StartInfo, shared_info),
    );
    p.offset("struct start_info", "flags", offset_of!(StartInfo, flags));
    p.offset(
        "struct start_info",
        "store_mfn",
        offset_of!(StartInfo, store_mfn),
    );
    p.offset(
        "struct start_info",
        "store_evtchn",
        offset_of!(StartInfo, store_evtchn),
    );
    p.offset(
        "struct start_info",
        "console.domU.mfn",
        offset_of!(StartInfo, console.mfn),
    );
    p.offset(
        "struct start_info",
        "console.domU.evtchn",
        offset_of!(StartInfo, console.evtchn),
    );
    p.offset(
        "struct start_info",
        "pt_base",
        offset_of!(StartInfo, pt_base),
    );
    p.offset(
        "struct start_info",
        "nr_pt_frames",
        offset_of!(StartInfo, nr_pt_frames),
    );
    p.offset(
        "struct start_info",
        "mfn_list",
        offset_of!(StartInfo, mfn_list),
    );
    p.offset(
        "struct start_info",
        "mod_start",
        offset_of!(StartInfo, mod_start),
    );
    p.offset(
        "struct start_info",
        "mod_len",
        offset_of!(StartInfo, mod_len),
    );
    p.offset(
        "struct start_info",
        "cmd_line",
        offset_of!(StartInfo, cmd_line),
    );
    p.offset(
        "struct start_info",
        "first_p2m_pfn",
        offset_of!(StartInfo, first_p2m_pfn),
    );
    p.offset(
        "struct start_info",
        "nr_p2m_frames",
        offset_of!(StartInfo, nr_p2m_frames),
    );
    p.size("struct vcpu_time_info", size_of::<VcpuTimeInfo>());
    p.offset(
        "struct vcpu_time_info",
        "tsc_timestamp",
        offset_of!(VcpuTimeInfo, tsc_timestamp),
    );
    p.offset(
        "struct vcpu_time_info",
        "system_time",
        offset_of!(VcpuTimeInfo, system_time),
    );
    p.offset(
        "struct vcpu_time_info",
        "tsc_to_system_mul",
        offset_of!(VcpuTimeInfo, tsc_to_system_mul),
    );
    p.offset(
        "struct vcpu_time_info",
        "tsc_shift",
        offset_of!(VcpuTimeInfo, tsc_shift),
    );
    p.offset(
        "struct vcpu_time_info",
        "flags",
        offset_of!(VcpuTimeInfo, flags),
    );
    p.size("struct vcpu_info", size_of::<VcpuInfo>());
    p.offset(
        "struct vcpu_info",
        "evtchn_upcall_mask",
        offset_of!(VcpuInfo, evtchn_upcall_mask),
    );
    p.offset(
        "struct vcpu_info",
        "evtchn_pending_sel",
        offset_of!(VcpuInfo, evtchn_pending_sel),
    );
    p.offset("struct vcpu_info", "arch", offset_of!(VcpuInfo, arch));
    p.offset("struct vcpu_info", "time", offset_of!(VcpuInfo, time));
    p.size("struct shared_info", size_of::<SharedInfo>());
    p.offset(
        "struct shared_info",
        "evtchn_pending",
        offset_of!(SharedInfo, evtchn_pending),
    );
    p.offset(
        "struct shared_info",
        "evtchn_mask",
        offset_of!(SharedInfo, evtchn_mask),
    );
    p.offset(
        "struct shared_info",
        "wc_version",
        offset_of!(SharedInfo, wc_version),
    );
    p.offset(
        "struct shared_info",
        "wc_sec",
        offset_of!(SharedInfo, wc_sec),
    );
    p.offset(
        "struct shared_info",
        "wc_nsec",
        offset_of!(SharedInfo, wc_nsec),
    );
    p.offset(
        "struct shared_info",
        "wc_sec_hi",
        offset_of!(SharedInfo, wc_sec_hi),
    );
    p.offset(
        "struct shared_info",
        "arch.max_pfn",
        offset_of!(SharedInfo, arch.max_pfn),
    );
    p.offset(
        "struct shared_info",
        "arch.p2m_generation",
        offset_of!(SharedInfo, arch.p2m_generation),
    );
    p.constant(
        "XEN_LEGACY_MAX_VCPUS",
        crate::abi::shared_info::LEGACY_MAX_VCPUS as i128,
    );
    p.size("struct xencons_interface", size_of::<XenconsInterface>());
    p.offset(
        "struct xencons_interface",
        "out",
        offset_of!(XenconsInterface, out),
    );
    p.offset(
        "struct xencons_interface",
        "in_cons",
        offset_of!(XenconsInterface, in_cons),
    );
    p.offset(
        "struct xencons_interface",
        "in_prod",
        offset_of!(XenconsInterface, in_prod),
    );
    p.offset(
        "struct xencons_interface",
        "out_cons",
        offset_of!(XenconsInterface, out_cons),
    );
    p.offset(
        "struct xencons_interface",
        "out_prod",
        offset_of!(XenconsInterface, out_prod),
    );
    p.size("struct sched_shutdown", size_of::<sched::SchedShutdown>());
    p.size("struct sched_poll", size_of::<sched::SchedPoll>());
    p.offset(
        "struct sched_poll",
        "nr_ports",
        offset_of!(sched::SchedPoll, nr_ports),
    );
    p.offset(
        "struct sched_poll",
        "timeout",
        offset_of!(sched::SchedPoll, timeout),
    );
    p.constant(
        "VCPUOP_stop_periodic_timer",
        sched::VCPUOP_STOP_PERIODIC_TIMER as i128,
    );
    p.constant("SCHEDOP_yield", sched::SCHEDOP_YIELD as i128);
    p.constant("SCHEDOP_block", sched::SCHEDOP_BLOCK as i128);
    p.constant("SCHEDOP_shutdown", sched::SCHEDOP_SHUTDOWN as i128);
    p.constant("SCHEDOP_poll", sched::SCHEDOP_POLL as i128);
    p.constant("SHUTDOWN_poweroff", sched::ShutdownReason::Poweroff as i128);
    p.constant("SHUTDOWN_reboot", sched::ShutdownReason::Reboot as i128);
    p.constant("SHUTDOWN_crash", sched::ShutdownReason::Crash as i128);
    p.size("struct evtchn_alloc_unbound", size_of::<ev::AllocUnbound>());
    p.offset(
        "struct evtchn_alloc_unbound",
        "remote_dom",
        offset_of!(ev::AllocUnbound, remote_dom),
    );
    p.offset(
        "struct evtchn_alloc_unbound",
        "port",
        offset_of!(ev::AllocUnbound, port),
    );
    p.size(
        "struct evtchn_bind_interdomain",
        size_of::<ev::BindInterdomain>(),
    );
    p.offset(
        "struct evtchn_bind_interdomain",
        "remote_port",
        offset_of!(ev::BindInterdomain, remote_port),
    );
    p.offset(
        "struct evtchn_bind_interdomain",
        "local_port",
        offset_of!(ev::BindInterdomain, local_port),
    );
    p.size("struct evtchn_bind_virq", size_of::<ev::BindVirq>());
    p.offset(
        "struct evtchn_bind_virq",
        "vcpu",
        offset_of!(ev::BindVirq, vcpu),
    );
    p.offset(
        "struct evtchn_bind_virq",
        "port",
        offset_of!(ev::BindVirq, port),
    );
    p.size("struct evtchn_close", size_of::<ev::PortOp>());
    p.size("struct evtchn_send", size_of::<ev::PortOp>());
    p.constant(
        "EVTCHNOP_bind_interdomain",
        ev::EVTCHNOP_BIND_INTERDOMAIN as i128,
    );
    p.constant("EVTCHNOP_bind_virq", ev::EVTCHNOP_BIND_VIRQ as i128);
    p.constant("EVTCHNOP_close", ev::EVTCHNOP_CLOSE as i128);
    p.constant("EVTCHNOP_send", ev::EVTCHNOP_SEND as i128);
    p.constant("EVTCHNOP_status", ev::EVTCHNOP_STATUS as i128);
    p.constant("EVTCHNOP_alloc_unbound", ev::EVTCHNOP_ALLOC_UNBOUND as i128);
    p.constant("EVTCHNOP_unmask", ev::EVTCHNOP_UNMASK as i128);
    p.constant("VIRQ_TIMER", ev::VIRQ_TIMER as i128);
    p.size("grant_entry_v1_t", size_of::<gt::GrantEntryV1>());
    p.offset(
        "grant_entry_v1_t",
        "domid",
        offset_of!(gt::GrantEntryV1, domid),
    );
    p.offset(
        "grant_entry_v1_t",
        "frame",
        offset_of!(gt::GrantEntryV1, frame),
    );
    p.size("struct gnttab_setup_table", size_of::<gt::SetupTable>());
    p.offset(
        "struct gnttab_setup_table",
        "nr_frames",
        offset_of!(gt::SetupTable, nr_frames),
    );
    p.offset(
        "struct gnttab_setup_table",
        "status",
        offset_of!(gt::SetupTable, status),
    );
    p.offset(
        "struct gnttab_setup_table",
        "frame_list",
        offset_of!(gt::SetupTable, frame_list),
    );
    p.size("struct gnttab_query_size", size_of::<gt::QuerySize>());
    p.offset(
        "struct gnttab_query_size",
        "max_nr_frames",
        offset_of!(gt::QuerySize, max_nr_frames),
    );
    p.offset(
        "struct gnttab_query_size",
        "status",
        offset_of!(gt::QuerySize, status),
    );
    p.size("struct gnttab_map_grant_ref", size_of::<gt::MapGrantRef>());
    p.offset(
        "struct gnttab_map_grant_ref",
        "flags",
        offset_of!(gt::MapGrantRef, flags),
    );
    p.offset(
        "struct gnttab_map_grant_ref",
        "ref",
        offset_of!(gt::MapGrantRef, gref),
    );
    p.offset(
        "struct gnttab_map_grant_ref",
        "dom",
        offset_of!(gt::MapGrantRef, dom),
    );
    p.offset(
        "struct gnttab_map_grant_ref",
        "status",
        offset_of!(gt::MapGrantRef, status),
    );
    p.offset(
        "struct gnttab_map_grant_ref",
        "handle",
        offset_of!(gt::MapGrantRef, handle),
    );
    p.offset(
        "struct gnttab_map_grant_ref",
        "dev_bus_addr",
        offset_of!(gt::MapGrantRef, dev_bus_addr),
    );
    p.size(
        "struct gnttab_unmap_grant_ref",
        size_of::<gt::UnmapGrantRef>(),
    );
    p.offset(
        "struct gnttab_unmap_grant_ref",
        "dev_bus_addr",
        offset_of!(gt::UnmapGrantRef, dev_bus_addr),
    );
    p.offset(
        "struct gnttab_unmap_grant_ref",
        "handle",
        offset_of!(gt::UnmapGrantRef, handle),
    );
    p.offset(
        "struct gnttab_unmap_grant_ref",
        "status",
        offset_of!(gt::UnmapGrantRef, status),
    );
    p.size("struct gnttab_copy", size_of::<gt::Copy>());
    p.offset(
        "struct gnttab_copy",
        "source.domid",
        offset_of!(gt::Copy, source.domid),
    );
    p.offset(
        "struct gnttab_copy",
        "source.offset",
        offset_of!(gt::Copy, source.offset),
    );
    p.offset("struct gnttab_copy", "dest", offset_of!(gt::Copy, dest));
    p.offset(
        "struct gnttab_copy",
        "dest.domid",
        offset_of!(gt::Copy, dest.domid),
    );
    p.offset("struct gnttab_copy", "len", offset_of!(gt::Copy, len));
    p.offset("struct gnttab_copy", "flags", offset_of!(gt::Copy, flags));
    p.offset("struct gnttab_copy", "status", offset_of!(gt::Copy, status));
    p.constant("GNTTABOP_map_grant_ref", gt::GNTTABOP_MAP_GRANT_REF as i128);
    p.constant(
        "GNTTABOP_unmap_grant_ref",
        gt::GNTTABOP_UNMAP_GRANT_REF as i128,
    );
    p.constant("GNTTABOP_setup_table", gt::GNTTABOP_SETUP_TABLE as i128);
    p.constant("GNTTABOP_copy", gt::GNTTABOP_COPY as i128);
    p.constant("GNTTABOP_query_size", gt::GNTTABOP_QUERY_SIZE as i128);
    p.constant("GTF_permit_access", gt::GTF_PERMIT_ACCESS as i128);
    p.constant("GTF_readonly", gt::GTF_READONLY as i128);
    p.constant("GTF_reading", gt::GTF_READING as i128);
    p.constant("GTF_writing", gt::GTF_WRITING as i128);
    p.constant("GNTMAP_host_map", gt::GNTMAP_HOST_MAP as i128);
    p.constant("GNTMAP_readonly", gt::GNTMAP_READONLY as i128);
    p.constant("GNTCOPY_source_gref", gt::GNTCOPY_SOURCE_GREF as i128);
    p.constant("GNTCOPY_dest_gref", gt::GNTCOPY_DEST_GREF as i128);
    p.constant("GNTST_okay", gt::GNTST_OKAY as i128);
    p.constant("GNTST_bad_gntref", gt::GNTST_BAD_GNTREF as i128);
    p.constant(
        "GNTST_permission_denied",
        gt::GNTST_PERMISSION_DENIED as i128,
    );
    p.constant("GNTST_eagain", gt::GNTST_EAGAIN as i128);
    p.constant(
        "GNTTAB_NR_RESERVED_ENTRIES",
        gt::NR_RESERVED_ENTRIES as i128,
    );
    p.size("struct mmu_update", size_of::<mmu::MmuUpdate>());
    p.constant("MMU_NORMAL_PT_UPDATE", mmu::MMU_NORMAL_PT_UPDATE as i128);
    p.constant("UVMF_INVLPG", mmu::UVMF_INVLPG as i128);
    p.constant("UVMF_ALL", mmu::UVMF_ALL as i128);
    p.constant(
        "MMUEXT_TLB_FLUSH_LOCAL",
        mmu::MMUEXT_TLB_FLUSH_LOCAL as i128,
    );
    p.constant("MMUEXT_INVLPG_LOCAL", mmu::MMUEXT_INVLPG_LOCAL as i128);
    p.constant("HYPERVISOR_VIRT_START", mmu::MACH2PHYS_VIRT_START as i128);
    p.constant("HYPERVISOR_VIRT_END", mmu::HYPERVISOR_VIRT_END as i128);
    use crate::abi::hypercall as hc;
    p.constant("__HYPERVISOR_mmu_update", hc::MMU_UPDATE as i128);
    p.constant("__HYPERVISOR_set_timer_op", hc::SET_TIMER_OP as i128);
    p.constant("__HYPERVISOR_xen_version", hc::XEN_VERSION as i128);
    p.constant(
        "__HYPERVISOR_update_va_mapping",
        hc::UPDATE_VA_MAPPING as i128,
    );
    p.constant("__HYPERVISOR_memory_op", hc::MEMORY_OP as i128);
    p.constant("__HYPERVISOR_grant_table_op", hc::GRANT_TABLE_OP as i128);
    p.constant("__HYPERVISOR_vm_assist", hc::VM_ASSIST as i128);
    p.constant("__HYPERVISOR_vcpu_op", hc::VCPU_OP as i128);
    p.constant("__HYPERVISOR_mmuext_op", hc::MMUEXT_OP as i128);
    p.constant("__HYPERVISOR_sched_op", hc::SCHED_OP as i128);
    p.constant(
        "__HYPERVISOR_event_channel_op",
        hc::EVENT_CHANNEL_OP as i128,
    );
    p.constant("__HYPERVISOR_physdev_op", hc::PHYSDEV_OP as i128);
    p.constant("DOMID_SELF", crate::abi::DOMID_SELF as i128);
    p.constant("DOMID_IO", crate::abi::DOMID_IO as i128);
    p.assert_matches();
}

#[test]
fn pci_and_physdev_abi_matches_xen_public_headers() {
    use crate::abi::{pciif as pci, physdev as pd};
    let mut p = CProbe::new(&["xen/event_channel.h", "xen/physdev.h", "xen/io/pciif.h"]);
    p.size("struct evtchn_bind_pirq", size_of::<ev::BindPirq>());
    p.offset(
        "struct evtchn_bind_pirq",
        "flags",
        offset_of!(ev::BindPirq, flags),
    );
    p.offset(
        "struct evtchn_bind_pirq",
        "port",
        offset_of!(ev::BindPirq, port),
    );
    p.constant("EVTCHNOP_bind_pirq", ev::EVTCHNOP_BIND_PIRQ as i128);
    p.constant("BIND_PIRQ__WILL_SHARE", ev::BIND_PIRQ_WILL_SHARE as i128);
    p.size("struct physdev_eoi", size_of::<pd::Eoi>());
    p.size(
        "struct physdev_irq_status_query",
        size_of::<pd::IrqStatusQuery>(),
    );
    p.offset(
        "struct physdev_irq_status_query",
        "flags",
        offset_of!(pd::IrqStatusQuery, flags),
    );
    p.constant("PHYSDEVOP_eoi", pd::PHYSDEVOP_EOI as i128);
    p.constant(
        "PHYSDEVOP_irq_status_query",
        pd::PHYSDEVOP_IRQ_STATUS_QUERY as i128,
    );
    p.constant("XENIRQSTAT_needs_eoi", pd::XENIRQSTAT_NEEDS_EOI as i128);
    p.constant("XENIRQSTAT_shared", pd::XENIRQSTAT_SHARED as i128);
    p.size("struct xen_msix_entry", size_of::<pci::MsixEntry>());
    p.offset(
        "struct xen_msix_entry",
        "entry",
        offset_of!(pci::MsixEntry, entry),
    );
    p.size("struct xen_pci_op", size_of::<pci::PciOp>());
    for (field, off) in [
        ("err", offset_of!(pci::PciOp, err)),
        ("domain", offset_of!(pci::PciOp, domain)),
        ("bus", offset_of!(pci::PciOp, bus)),
        ("devfn", offset_of!(pci::PciOp, devfn)),
        ("offset", offset_of!(pci::PciOp, offset)),
        ("size", offset_of!(pci::PciOp, size)),
        ("value", offset_of!(pci::PciOp, value)),
        ("info", offset_of!(pci::PciOp, info)),
        ("msix_entries", offset_of!(pci::PciOp, msix_entries)),
    ] {
        p.offset("struct xen_pci_op", field, off);
    }
    p.size("struct xen_pcie_aer_op", size_of::<pci::PcieAerOp>());
    p.size("struct xen_pci_sharedinfo", size_of::<pci::PciSharedInfo>());
    p.offset(
        "struct xen_pci_sharedinfo",
        "op",
        offset_of!(pci::PciSharedInfo, op),
    );
    p.offset(
        "struct xen_pci_sharedinfo",
        "aer_op",
        offset_of!(pci::PciSharedInfo, aer_op),
    );
    for (name, v) in [
        ("_XEN_PCIF_active", pci::XEN_PCIF_ACTIVE_BIT as i128),
        ("XEN_PCI_OP_conf_read", pci::XEN_PCI_OP_CONF_READ as i128),
        ("XEN_PCI_OP_conf_write", pci::XEN_PCI_OP_CONF_WRITE as i128),
        ("XEN_PCI_OP_enable_msi", pci::XEN_PCI_OP_ENABLE_MSI as i128),
        (
            "XEN_PCI_OP_disable_msi",
            pci::XEN_PCI_OP_DISABLE_MSI as i128,
        ),
        (
            "XEN_PCI_OP_enable_msix",
            pci::XEN_PCI_OP_ENABLE_MSIX as i128,
        ),
        (
            "XEN_PCI_OP_disable_msix",
            pci::XEN_PCI_OP_DISABLE_MSIX as i128,
        ),
        ("XEN_PCI_ERR_success", pci::XEN_PCI_ERR_SUCCESS as i128),
        (
            "XEN_PCI_ERR_dev_not_found",
            pci::XEN_PCI_ERR_DEV_NOT_FOUND as i128,
        ),
        (
            "XEN_PCI_ERR_invalid_offset",
            pci::XEN_PCI_ERR_INVALID_OFFSET as i128,
        ),
        (
            "XEN_PCI_ERR_access_denied",
            pci::XEN_PCI_ERR_ACCESS_DENIED as i128,
        ),
        (
            "XEN_PCI_ERR_not_implemented",
            pci::XEN_PCI_ERR_NOT_IMPLEMENTED as i128,
        ),
        ("XEN_PCI_ERR_op_failed", pci::XEN_PCI_ERR_OP_FAILED as i128),
        ("SH_INFO_MAX_VEC", pci::SH_INFO_MAX_VEC as i128),
    ] {
        p.constant(name, v);
    }
    p.assert_matches();
}
