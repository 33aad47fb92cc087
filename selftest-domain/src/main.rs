#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod domain {
    use pv_runtime::println;
    pv_runtime::entry!(main);

    fn main() {
        println!("SELFTEST-BOOT");
        let si = pv_runtime::runtime::start_info();
        println!("magic={} nr_pages={} cmdline={}", core::str::from_utf8(si.magic()).unwrap_or("?"), si.nr_pages, core::str::from_utf8(si.cmd_line()).unwrap_or("?"));
        let v = alloc::vec![7u8; 1 << 20];
        println!("heap ok: {} bytes, t={} ns", v.len(), pv_runtime::time::now_ns());
        println!("SELFTEST-POWEROFF");
    }
    extern crate alloc;
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("selftest-domain is a Xen PV image: build it with --target x86_64-unknown-none");
    std::process::exit(2);
}
