//! Checks every Xen ABI struct and constant in `pv_runtime::abi` against the Xen
//! public headers installed on the host (Debian `libxen-dev`, `/usr/include/xen`):
//! a C probe is compiled with the system C compiler and prints `offsetof`/`sizeof`/
//! constant values, which must equal what Rust computes.

use core::mem::{offset_of, size_of};
use pv_runtime::abi::{
    console::XenconsInterface, event_channel as ev, grant_table as gt, mmu, sched,
    shared_info::{SharedInfo, VcpuInfo, VcpuTimeInfo},
    start_info::StartInfo,
};
use std::collections::BTreeMap;
use std::process::Command;

struct Probe {
    c_lines: Vec<String>,
    /// Values as C's `long long` sees them (64-bit two's complement).
    rust: BTreeMap<String, i64>,
}

impl Probe {
    fn new() -> Self {
        Self { c_lines: Vec::new(), rust: BTreeMap::new() }
    }
    fn val(&mut self, key: &str, c_expr: &str, rust: i128) {
        self.c_lines.push(format!("printf(\"%s %lld\\n\", \"{key}\", (long long)({c_expr}));"));
        self.rust.insert(key.to_string(), rust as i64);
    }
}

macro_rules! size {
    ($p:expr, $c:literal, $r:ty) => {
        $p.val(concat!("sizeof ", $c), concat!("sizeof(", $c, ")"), size_of::<$r>() as i128)
    };
}
macro_rules! off {
    ($p:expr, $c:literal, $r:ty, $($cf:ident).+ => $rf:ident $(.$rf2:ident)*) => {
        $p.val(
            concat!("offsetof ", $c, ".", stringify!($($cf).+)),
            concat!("offsetof(", $c, ", ", stringify!($($cf).+), ")"),
            offset_of!($r, $rf $(.$rf2)*) as i128,
        )
    };
}
macro_rules! konst {
    ($p:expr, $c:literal, $r:expr) => {
        $p.val($c, $c, $r as i128)
    };
}

fn build_probe() -> Probe {
    let mut p = Probe::new();
    size!(p, "struct start_info", StartInfo);
    off!(p, "struct start_info", StartInfo, nr_pages => nr_pages);
    off!(p, "struct start_info", StartInfo, shared_info => shared_info);
    off!(p, "struct start_info", StartInfo, flags => flags);
    off!(p, "struct start_info", StartInfo, store_mfn => store_mfn);
    off!(p, "struct start_info", StartInfo, store_evtchn => store_evtchn);
    off!(p, "struct start_info", StartInfo, console.domU.mfn => console.mfn);
    off!(p, "struct start_info", StartInfo, console.domU.evtchn => console.evtchn);
    off!(p, "struct start_info", StartInfo, pt_base => pt_base);
    off!(p, "struct start_info", StartInfo, nr_pt_frames => nr_pt_frames);
    off!(p, "struct start_info", StartInfo, mfn_list => mfn_list);
    off!(p, "struct start_info", StartInfo, mod_start => mod_start);
    off!(p, "struct start_info", StartInfo, mod_len => mod_len);
    off!(p, "struct start_info", StartInfo, cmd_line => cmd_line);
    off!(p, "struct start_info", StartInfo, first_p2m_pfn => first_p2m_pfn);
    off!(p, "struct start_info", StartInfo, nr_p2m_frames => nr_p2m_frames);

    size!(p, "struct vcpu_time_info", VcpuTimeInfo);
    off!(p, "struct vcpu_time_info", VcpuTimeInfo, tsc_timestamp => tsc_timestamp);
    off!(p, "struct vcpu_time_info", VcpuTimeInfo, system_time => system_time);
    off!(p, "struct vcpu_time_info", VcpuTimeInfo, tsc_to_system_mul => tsc_to_system_mul);
    off!(p, "struct vcpu_time_info", VcpuTimeInfo, tsc_shift => tsc_shift);
    off!(p, "struct vcpu_time_info", VcpuTimeInfo, flags => flags);
    size!(p, "struct vcpu_info", VcpuInfo);
    off!(p, "struct vcpu_info", VcpuInfo, evtchn_upcall_mask => evtchn_upcall_mask);
    off!(p, "struct vcpu_info", VcpuInfo, evtchn_pending_sel => evtchn_pending_sel);
    off!(p, "struct vcpu_info", VcpuInfo, arch => arch);
    off!(p, "struct vcpu_info", VcpuInfo, time => time);
    size!(p, "struct shared_info", SharedInfo);
    off!(p, "struct shared_info", SharedInfo, evtchn_pending => evtchn_pending);
    off!(p, "struct shared_info", SharedInfo, evtchn_mask => evtchn_mask);
    off!(p, "struct shared_info", SharedInfo, wc_version => wc_version);
    off!(p, "struct shared_info", SharedInfo, wc_sec => wc_sec);
    off!(p, "struct shared_info", SharedInfo, wc_nsec => wc_nsec);
    off!(p, "struct shared_info", SharedInfo, wc_sec_hi => wc_sec_hi);
    off!(p, "struct shared_info", SharedInfo, arch.max_pfn => arch.max_pfn);
    off!(p, "struct shared_info", SharedInfo, arch.p2m_generation => arch.p2m_generation);
    konst!(p, "XEN_LEGACY_MAX_VCPUS", pv_runtime::abi::shared_info::LEGACY_MAX_VCPUS);

    size!(p, "struct xencons_interface", XenconsInterface);
    off!(p, "struct xencons_interface", XenconsInterface, out => out);
    off!(p, "struct xencons_interface", XenconsInterface, in_cons => in_cons);
    off!(p, "struct xencons_interface", XenconsInterface, in_prod => in_prod);
    off!(p, "struct xencons_interface", XenconsInterface, out_cons => out_cons);
    off!(p, "struct xencons_interface", XenconsInterface, out_prod => out_prod);

    size!(p, "struct sched_shutdown", sched::SchedShutdown);
    size!(p, "struct sched_poll", sched::SchedPoll);
    off!(p, "struct sched_poll", sched::SchedPoll, nr_ports => nr_ports);
    off!(p, "struct sched_poll", sched::SchedPoll, timeout => timeout);
    konst!(p, "VCPUOP_stop_periodic_timer", sched::VCPUOP_STOP_PERIODIC_TIMER);
    konst!(p, "SCHEDOP_yield", sched::SCHEDOP_YIELD);
    konst!(p, "SCHEDOP_block", sched::SCHEDOP_BLOCK);
    konst!(p, "SCHEDOP_shutdown", sched::SCHEDOP_SHUTDOWN);
    konst!(p, "SCHEDOP_poll", sched::SCHEDOP_POLL);
    konst!(p, "SHUTDOWN_poweroff", sched::ShutdownReason::Poweroff);
    konst!(p, "SHUTDOWN_reboot", sched::ShutdownReason::Reboot);
    konst!(p, "SHUTDOWN_crash", sched::ShutdownReason::Crash);

    size!(p, "struct evtchn_alloc_unbound", ev::AllocUnbound);
    off!(p, "struct evtchn_alloc_unbound", ev::AllocUnbound, remote_dom => remote_dom);
    off!(p, "struct evtchn_alloc_unbound", ev::AllocUnbound, port => port);
    size!(p, "struct evtchn_bind_interdomain", ev::BindInterdomain);
    off!(p, "struct evtchn_bind_interdomain", ev::BindInterdomain, remote_port => remote_port);
    off!(p, "struct evtchn_bind_interdomain", ev::BindInterdomain, local_port => local_port);
    size!(p, "struct evtchn_bind_virq", ev::BindVirq);
    off!(p, "struct evtchn_bind_virq", ev::BindVirq, vcpu => vcpu);
    off!(p, "struct evtchn_bind_virq", ev::BindVirq, port => port);
    size!(p, "struct evtchn_close", ev::PortOp);
    size!(p, "struct evtchn_send", ev::PortOp);
    konst!(p, "EVTCHNOP_bind_interdomain", ev::EVTCHNOP_BIND_INTERDOMAIN);
    konst!(p, "EVTCHNOP_bind_virq", ev::EVTCHNOP_BIND_VIRQ);
    konst!(p, "EVTCHNOP_close", ev::EVTCHNOP_CLOSE);
    konst!(p, "EVTCHNOP_send", ev::EVTCHNOP_SEND);
    konst!(p, "EVTCHNOP_status", ev::EVTCHNOP_STATUS);
    konst!(p, "EVTCHNOP_alloc_unbound", ev::EVTCHNOP_ALLOC_UNBOUND);
    konst!(p, "EVTCHNOP_unmask", ev::EVTCHNOP_UNMASK);
    konst!(p, "VIRQ_TIMER", ev::VIRQ_TIMER);

    size!(p, "grant_entry_v1_t", gt::GrantEntryV1);
    off!(p, "grant_entry_v1_t", gt::GrantEntryV1, domid => domid);
    off!(p, "grant_entry_v1_t", gt::GrantEntryV1, frame => frame);
    size!(p, "struct gnttab_setup_table", gt::SetupTable);
    off!(p, "struct gnttab_setup_table", gt::SetupTable, nr_frames => nr_frames);
    off!(p, "struct gnttab_setup_table", gt::SetupTable, status => status);
    off!(p, "struct gnttab_setup_table", gt::SetupTable, frame_list => frame_list);
    size!(p, "struct gnttab_query_size", gt::QuerySize);
    off!(p, "struct gnttab_query_size", gt::QuerySize, max_nr_frames => max_nr_frames);
    off!(p, "struct gnttab_query_size", gt::QuerySize, status => status);
    size!(p, "struct gnttab_map_grant_ref", gt::MapGrantRef);
    off!(p, "struct gnttab_map_grant_ref", gt::MapGrantRef, flags => flags);
    off!(p, "struct gnttab_map_grant_ref", gt::MapGrantRef, ref => gref);
    off!(p, "struct gnttab_map_grant_ref", gt::MapGrantRef, dom => dom);
    off!(p, "struct gnttab_map_grant_ref", gt::MapGrantRef, status => status);
    off!(p, "struct gnttab_map_grant_ref", gt::MapGrantRef, handle => handle);
    off!(p, "struct gnttab_map_grant_ref", gt::MapGrantRef, dev_bus_addr => dev_bus_addr);
    size!(p, "struct gnttab_unmap_grant_ref", gt::UnmapGrantRef);
    off!(p, "struct gnttab_unmap_grant_ref", gt::UnmapGrantRef, dev_bus_addr => dev_bus_addr);
    off!(p, "struct gnttab_unmap_grant_ref", gt::UnmapGrantRef, handle => handle);
    off!(p, "struct gnttab_unmap_grant_ref", gt::UnmapGrantRef, status => status);
    size!(p, "struct gnttab_copy", gt::Copy);
    off!(p, "struct gnttab_copy", gt::Copy, source.domid => source.domid);
    off!(p, "struct gnttab_copy", gt::Copy, source.offset => source.offset);
    off!(p, "struct gnttab_copy", gt::Copy, dest => dest);
    off!(p, "struct gnttab_copy", gt::Copy, dest.domid => dest.domid);
    off!(p, "struct gnttab_copy", gt::Copy, len => len);
    off!(p, "struct gnttab_copy", gt::Copy, flags => flags);
    off!(p, "struct gnttab_copy", gt::Copy, status => status);
    konst!(p, "GNTTABOP_map_grant_ref", gt::GNTTABOP_MAP_GRANT_REF);
    konst!(p, "GNTTABOP_unmap_grant_ref", gt::GNTTABOP_UNMAP_GRANT_REF);
    konst!(p, "GNTTABOP_setup_table", gt::GNTTABOP_SETUP_TABLE);
    konst!(p, "GNTTABOP_copy", gt::GNTTABOP_COPY);
    konst!(p, "GNTTABOP_query_size", gt::GNTTABOP_QUERY_SIZE);
    konst!(p, "GTF_permit_access", gt::GTF_PERMIT_ACCESS);
    konst!(p, "GTF_readonly", gt::GTF_READONLY);
    konst!(p, "GTF_reading", gt::GTF_READING);
    konst!(p, "GTF_writing", gt::GTF_WRITING);
    konst!(p, "GNTMAP_host_map", gt::GNTMAP_HOST_MAP);
    konst!(p, "GNTMAP_readonly", gt::GNTMAP_READONLY);
    konst!(p, "GNTCOPY_source_gref", gt::GNTCOPY_SOURCE_GREF);
    konst!(p, "GNTCOPY_dest_gref", gt::GNTCOPY_DEST_GREF);
    konst!(p, "GNTST_okay", gt::GNTST_OKAY);
    konst!(p, "GNTST_bad_gntref", gt::GNTST_BAD_GNTREF);
    konst!(p, "GNTST_permission_denied", gt::GNTST_PERMISSION_DENIED);
    konst!(p, "GNTST_eagain", gt::GNTST_EAGAIN);
    konst!(p, "GNTTAB_NR_RESERVED_ENTRIES", gt::NR_RESERVED_ENTRIES);

    size!(p, "struct mmu_update", mmu::MmuUpdate);
    konst!(p, "MMU_NORMAL_PT_UPDATE", mmu::MMU_NORMAL_PT_UPDATE);
    konst!(p, "UVMF_INVLPG", mmu::UVMF_INVLPG);
    konst!(p, "UVMF_ALL", mmu::UVMF_ALL);
    konst!(p, "MMUEXT_TLB_FLUSH_LOCAL", mmu::MMUEXT_TLB_FLUSH_LOCAL);
    konst!(p, "MMUEXT_INVLPG_LOCAL", mmu::MMUEXT_INVLPG_LOCAL);
    konst!(p, "HYPERVISOR_VIRT_START", mmu::MACH2PHYS_VIRT_START);
    konst!(p, "HYPERVISOR_VIRT_END", mmu::HYPERVISOR_VIRT_END);

    use pv_runtime::abi::hypercall as hc;
    konst!(p, "__HYPERVISOR_mmu_update", hc::MMU_UPDATE);
    konst!(p, "__HYPERVISOR_set_timer_op", hc::SET_TIMER_OP);
    konst!(p, "__HYPERVISOR_xen_version", hc::XEN_VERSION);
    konst!(p, "__HYPERVISOR_update_va_mapping", hc::UPDATE_VA_MAPPING);
    konst!(p, "__HYPERVISOR_memory_op", hc::MEMORY_OP);
    konst!(p, "__HYPERVISOR_grant_table_op", hc::GRANT_TABLE_OP);
    konst!(p, "__HYPERVISOR_vm_assist", hc::VM_ASSIST);
    konst!(p, "__HYPERVISOR_vcpu_op", hc::VCPU_OP);
    konst!(p, "__HYPERVISOR_mmuext_op", hc::MMUEXT_OP);
    konst!(p, "__HYPERVISOR_sched_op", hc::SCHED_OP);
    konst!(p, "__HYPERVISOR_event_channel_op", hc::EVENT_CHANNEL_OP);
    konst!(p, "__HYPERVISOR_physdev_op", hc::PHYSDEV_OP);
    konst!(p, "DOMID_SELF", pv_runtime::abi::DOMID_SELF);
    konst!(p, "DOMID_IO", pv_runtime::abi::DOMID_IO);
    p
}

/// The C probe and the Rust values for every checked item must agree.
#[test]
fn abi_matches_xen_public_headers() {
    let inc = std::env::var("XEN_INCLUDE").unwrap_or_else(|_| "/usr/include".into());
    assert!(
        std::path::Path::new(&inc).join("xen/xen.h").exists(),
        "Xen public headers not found under {inc}/xen: install Debian's libxen-dev (or set XEN_INCLUDE)"
    );
    let probe = build_probe();
    let dir = std::env::temp_dir().join(format!("pv-runtime-abi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("probe.c");
    let c = format!(
        "#define __XEN_INTERFACE_VERSION__ 0x00040e00\n\
         #include <stdio.h>\n#include <stddef.h>\n#include <stdint.h>\n\
         #include <xen/xen.h>\n#include <xen/event_channel.h>\n#include <xen/grant_table.h>\n\
         #include <xen/sched.h>\n#include <xen/vcpu.h>\n#include <xen/io/console.h>\n\
         int main(void) {{\n{}\nreturn 0; }}\n",
        probe.c_lines.join("\n")
    );
    std::fs::write(&src, c).unwrap();
    let exe = dir.join("probe");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = Command::new(&cc)
        .args(["-std=gnu11", "-I", &inc, "-o"])
        .arg(&exe)
        .arg(&src)
        .output()
        .expect("run the C compiler");
    assert!(out.status.success(), "C probe failed to build:\n{}", String::from_utf8_lossy(&out.stderr));
    let out = Command::new(&exe).output().expect("run the C probe");
    let text = String::from_utf8(out.stdout).unwrap();
    let mut seen = 0;
    let mut mismatches = Vec::new();
    for line in text.lines() {
        let (key, v) = line.rsplit_once(' ').unwrap();
        let c_val: i64 = v.parse().unwrap();
        let r_val = probe.rust[key];
        seen += 1;
        if c_val != r_val {
            mismatches.push(format!("{key}: header says {c_val}, Rust has {r_val}"));
        }
    }
    assert_eq!(seen, probe.rust.len(), "probe printed {seen} of {} items", probe.rust.len());
    assert!(mismatches.is_empty(), "ABI mismatches:\n{}", mismatches.join("\n"));
    let _ = std::fs::remove_dir_all(&dir);
}
