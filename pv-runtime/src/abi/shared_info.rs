//! `struct shared_info`, `vcpu_info` and `vcpu_time_info` (xen.h,
//! arch-x86/xen.h, arch-x86/xen-x86_64.h).

/// `XEN_LEGACY_MAX_VCPUS` (arch-x86/xen.h).
pub const LEGACY_MAX_VCPUS: usize = 32;
/// Bits in one `xen_ulong_t` word of the 2-level event channel bitmaps.
pub const EVTCHN_WORD_BITS: usize = 64;
/// Ports the 2-level ABI can name: 64 words of 64 bits.
pub const EVTCHN_2L_NR_CHANNELS: usize = EVTCHN_WORD_BITS * EVTCHN_WORD_BITS;

/// `struct vcpu_time_info` (xen.h). Read under its `version` seqlock.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VcpuTimeInfo {
    pub version: u32,
    pub pad0: u32,
    pub tsc_timestamp: u64,
    pub system_time: u64,
    pub tsc_to_system_mul: u32,
    pub tsc_shift: i8,
    pub flags: u8,
    pub pad1: [u8; 2],
}

/// `struct arch_vcpu_info` (arch-x86/xen-x86_64.h).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ArchVcpuInfo {
    pub cr2: u64,
    pub pad: u64,
}

/// `struct vcpu_info` (xen.h), 64 bytes on x86.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct VcpuInfo {
    pub evtchn_upcall_pending: u8,
    /// Non-zero: Xen never makes an event upcall to this vCPU.
    pub evtchn_upcall_mask: u8,
    pub evtchn_pending_sel: u64,
    pub arch: ArchVcpuInfo,
    pub time: VcpuTimeInfo,
}

/// `struct arch_shared_info` (arch-x86/xen.h).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ArchSharedInfo {
    pub max_pfn: u64,
    pub pfn_to_mfn_frame_list_list: u64,
    pub nmi_reason: u64,
    pub p2m_cr3: u64,
    pub p2m_vaddr: u64,
    pub p2m_generation: u64,
}

/// `struct shared_info` (xen.h), x86_64 layout.
#[repr(C)]
pub struct SharedInfo {
    pub vcpu_info: [VcpuInfo; LEGACY_MAX_VCPUS],
    pub evtchn_pending: [u64; EVTCHN_WORD_BITS],
    pub evtchn_mask: [u64; EVTCHN_WORD_BITS],
    pub wc_version: u32,
    pub wc_sec: u32,
    pub wc_nsec: u32,
    pub wc_sec_hi: u32,
    pub arch: ArchSharedInfo,
}
