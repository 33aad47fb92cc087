//! Monotonic time from the vCPU's `vcpu_time_info` (xen.h): Xen publishes a
//! (tsc_timestamp, system_time) pair and a scale, under a seqlock `version`;
//! now = system_time + scale(rdtsc - tsc_timestamp).

use crate::abi::shared_info::VcpuTimeInfo;

pub const NS_PER_US: u64 = 1_000;
pub const NS_PER_MS: u64 = 1_000_000;
pub const NS_PER_SEC: u64 = 1_000_000_000;

/// `((delta << shift) * mul) >> 32`, as xen.h defines it, without overflow.
pub fn scale_delta(delta: u64, mul: u32, shift: i8) -> u64 {
    let d = u128::from(delta);
    let shifted = if shift >= 0 {
        d << shift.unsigned_abs()
    } else {
        d >> shift.unsigned_abs()
    };
    ((shifted * u128::from(mul)) >> 32) as u64
}

/// System time in ns for a consistent snapshot of `vcpu_time_info` and a TSC read.
pub fn system_time_ns(info: &VcpuTimeInfo, tsc: u64) -> u64 {
    let delta = tsc.saturating_sub(info.tsc_timestamp);
    info.system_time
        .wrapping_add(scale_delta(delta, info.tsc_to_system_mul, info.tsc_shift))
}

/// Nanoseconds since the host booted (Xen system time), monotonic.
#[cfg(target_os = "none")]
pub fn now_ns() -> u64 {
    use core::ptr::addr_of;
    use core::sync::atomic::{fence, Ordering};
    let Some(si) = crate::runtime::shared_info() else {
        return 0;
    };
    // SAFETY: shared_info is mapped for the life of the domain; vcpu 0 is ours.
    let t = unsafe { addr_of!((*si).vcpu_info[0].time) };
    loop {
        // SAFETY: `t` points into the mapped shared_info page; Xen updates it
        // concurrently, hence volatile reads under the version seqlock.
        let v1 = unsafe { addr_of!((*t).version).read_volatile() };
        fence(Ordering::Acquire);
        // SAFETY: as above.
        let snap = unsafe { t.read_volatile() };
        let tsc = crate::arch::hypercall::rdtsc();
        fence(Ordering::Acquire);
        // SAFETY: as above.
        let v2 = unsafe { addr_of!((*t).version).read_volatile() };
        if v1 & 1 == 0 && v1 == v2 {
            return system_time_ns(&snap, tsc);
        }
    }
}

/// The Unix time, in ns, at Xen system time 0: shared_info's `wc_sec`,
/// `wc_sec_hi` and `wc_nsec` (xen/include/public/xen.h, "Wallclock time:
/// updated by control software or RTC emulation"); add [`now_ns`] for now.
#[cfg(target_os = "none")]
pub fn wallclock_base_ns() -> u64 {
    use core::ptr::addr_of;
    let Some(si) = crate::runtime::shared_info() else {
        return 0;
    };
    loop {
        // SAFETY: mapped shared_info; seqlock as for vcpu time.
        let (v1, sec, hi, nsec, v2) = unsafe {
            let v1 = addr_of!((*si).wc_version).read_volatile();
            let sec = addr_of!((*si).wc_sec).read_volatile();
            let hi = addr_of!((*si).wc_sec_hi).read_volatile();
            let nsec = addr_of!((*si).wc_nsec).read_volatile();
            (
                v1,
                sec,
                hi,
                nsec,
                addr_of!((*si).wc_version).read_volatile(),
            )
        };
        if v1 & 1 == 0 && v1 == v2 {
            let secs = (u64::from(hi) << 32) | u64::from(sec);
            return secs * NS_PER_SEC + u64::from(nsec);
        }
    }
}

/// Wall-clock seconds since the Unix epoch, from shared_info's `wc_*` plus system time.
#[cfg(target_os = "none")]
pub fn wallclock_secs() -> u64 {
    use core::ptr::addr_of;
    let Some(si) = crate::runtime::shared_info() else {
        return 0;
    };
    loop {
        // SAFETY: mapped shared_info; seqlock as for vcpu time.
        let (v1, sec, hi, v2) = unsafe {
            let v1 = addr_of!((*si).wc_version).read_volatile();
            let sec = addr_of!((*si).wc_sec).read_volatile();
            let hi = addr_of!((*si).wc_sec_hi).read_volatile();
            (v1, sec, hi, addr_of!((*si).wc_version).read_volatile())
        };
        if v1 & 1 == 0 && v1 == v2 {
            return ((u64::from(hi) << 32) | u64::from(sec)) + now_ns() / NS_PER_SEC;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_matches_the_header_formula() {
        // 2 GHz TSC: mul = 2^31 with shift 0 halves the delta.
        assert_eq!(scale_delta(2_000, 1 << 31, 0), 1_000);
        // 3 GHz: tsc_shift -1, mul = 2^32 * 2/3
        let mul = ((1u64 << 32) * 2 / 3) as u32;
        let ns = scale_delta(3_000_000_000, mul, -1);
        assert!((999_999_000..=1_000_000_000).contains(&ns), "{ns}");
        // large shift and delta do not overflow
        assert!(scale_delta(u64::MAX, u32::MAX, 31) > 0);
    }

    #[test]
    fn system_time_adds_scaled_delta_and_never_goes_backwards_on_old_tsc() {
        let info = VcpuTimeInfo {
            tsc_timestamp: 1_000,
            system_time: 5_000,
            tsc_to_system_mul: 1 << 31,
            tsc_shift: 1,
            ..Default::default()
        };
        assert_eq!(system_time_ns(&info, 1_000), 5_000);
        assert_eq!(system_time_ns(&info, 2_000), 6_000);
        assert_eq!(system_time_ns(&info, 10), 5_000);
    }
}
