//! Hypercall numbers (xen.h, `__HYPERVISOR_*`). Each is an offset of 32 bytes
//! into the hypercall page.

pub const MMU_UPDATE: u32 = 1;
pub const SET_TIMER_OP: u32 = 15;
pub const XEN_VERSION: u32 = 17;
pub const UPDATE_VA_MAPPING: u32 = 14;
pub const MEMORY_OP: u32 = 12;
pub const GRANT_TABLE_OP: u32 = 20;
pub const VM_ASSIST: u32 = 21;
pub const VCPU_OP: u32 = 24;
pub const MMUEXT_OP: u32 = 26;
pub const SCHED_OP: u32 = 29;
pub const EVENT_CHANNEL_OP: u32 = 32;
pub const PHYSDEV_OP: u32 = 33;

/// Xen's negative errno values (xen/include/public/errno.h).
pub mod errno {
    pub const EPERM: i64 = 1;
    pub const ENOENT: i64 = 2;
    pub const ENOMEM: i64 = 12;
    pub const EFAULT: i64 = 14;
    pub const EBUSY: i64 = 16;
    pub const EINVAL: i64 = 22;
    pub const ENOSPC: i64 = 28;
    pub const ENOSYS: i64 = 38;
}
