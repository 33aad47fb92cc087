//! The self-test domain: proves each runtime facility against the real
//! hypervisor and prints a console marker per result (`SELFTEST-…-OK` or
//! `…-FAIL`). The dom0 scripts in images/dom0/tests/ drive it through xenstore
//! and assert on those markers. Roles come from the command line: `mode=basic`,
//! `mode=offer`, `mode=accept` (the two halves of the grant exchange).
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
extern crate alloc;

#[cfg(target_os = "none")]
mod basic;
#[cfg(target_os = "none")]
mod counters;
#[cfg(target_os = "none")]
mod exchange;
#[cfg(target_os = "none")]
mod wait;

mod pattern;

#[cfg(target_os = "none")]
mod domain {
    use pv_runtime::println;
    use pv_runtime::runtime::Runtime;

    pv_runtime::entry!(main);

    fn main(rt: &mut Runtime) {
        println!("SELFTEST-BOOT");
        let name = rt.xs.read("name").unwrap_or_default();
        println!("SELFTEST-ID domid={} name={}", rt.domid(), name);
        let mut counters = None;
        match rt.arg("mode").unwrap_or("basic") {
            "basic" => {
                crate::basic::run(rt);
                counters = crate::counters::publish(rt);
            }
            "offer" => crate::exchange::offer(rt),
            "accept" => crate::exchange::accept(rt),
            other => println!("SELFTEST-FAIL unknown mode {other:?}"),
        }
        crate::basic::serve(rt, counters);
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("selftest-domain is a Xen PV image: build it with --target x86_64-unknown-none");
    std::process::exit(2);
}
