//! `SCHEDOP_*` (sched.h).

pub const SCHEDOP_YIELD: u32 = 0;
pub const SCHEDOP_BLOCK: u32 = 1;
pub const SCHEDOP_SHUTDOWN: u32 = 2;
pub const SCHEDOP_POLL: u32 = 3;

/// `SHUTDOWN_*` reasons (sched.h); `xl` reports each differently.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownReason {
    Poweroff = 0,
    Reboot = 1,
    Suspend = 2,
    Crash = 3,
    Watchdog = 4,
}

/// `struct sched_shutdown` (sched.h).
#[repr(C)]
pub struct SchedShutdown {
    pub reason: u32,
}

/// `struct sched_poll` (sched.h). `timeout` is absolute system time in ns, 0 = none.
#[repr(C)]
pub struct SchedPoll {
    pub ports: *const u32,
    pub nr_ports: u32,
    pub timeout: u64,
}

/// Xen refuses a `SCHEDOP_poll` on more ports than this (xen/common/sched/core.c).
pub const SCHEDOP_POLL_MAX_PORTS: usize = 128;

/// `VCPUOP_stop_periodic_timer` (vcpu.h): PV vCPUs start with a 100 Hz periodic
/// VIRQ_TIMER that a run-to-completion domain does not want.
pub const VCPUOP_STOP_PERIODIC_TIMER: u32 = 7;
