//! Bounded waits on top of the runtime's run loop. Every wait has a deadline;
//! a shutdown request met while waiting is honoured at once.

use alloc::string::String;
use pv_runtime::abi::Port;
use pv_runtime::runtime::{self, Runtime, Wake};
use pv_runtime::time::now_ns;

/// Handles a toolstack shutdown request seen in `wake`.
pub fn honour_shutdown(wake: &Wake) {
    if let Some(reason) = wake.shutdown {
        pv_runtime::println!("SELFTEST-POWEROFF reason={reason:?}");
        runtime::shutdown(reason);
    }
}

/// Waits until `port` fires; false on timeout.
pub fn port(rt: &mut Runtime, port: Port, timeout_ns: u64) -> bool {
    let deadline = now_ns() + timeout_ns;
    while now_ns() < deadline {
        let wake = rt.wait(Some(deadline));
        honour_shutdown(&wake);
        if wake.ports.contains(port) {
            return true;
        }
    }
    false
}

/// Watches `path` until `accept` takes its value; unwatches before returning.
pub fn value<T>(
    rt: &mut Runtime,
    path: &str,
    timeout_ns: u64,
    accept: impl Fn(&str) -> Option<T>,
) -> Option<T> {
    let token = "selftest/wait";
    rt.xs.watch(path, token).ok()?;
    let deadline = now_ns() + timeout_ns;
    let mut found = None;
    while found.is_none() && now_ns() < deadline {
        // The registration itself fires once, so the first pass reads the current value.
        found = rt.xs.read(path).ok().as_deref().and_then(&accept);
        if found.is_none() {
            let wake = rt.wait(Some(deadline));
            honour_shutdown(&wake);
        }
    }
    let _ = rt.xs.unwatch(path, token);
    found
}

/// Reads `path` as a strict decimal number.
pub fn read_u32(rt: &mut Runtime, path: &str) -> Option<u32> {
    let v: String = rt.xs.read(path).ok()?;
    crate::pattern::parse_u32(&v)
}
