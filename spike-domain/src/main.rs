//! The Spike image: netback for the guests whose vif names this domain as its
//! backend (`vif = ['backend=<spike>,mac=…']`), with no `xl devd`.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
extern crate alloc;

#[cfg(target_os = "none")]
mod vifs;

#[cfg(target_os = "none")]
mod domain {
    use pv_runtime::println;
    use pv_runtime::runtime::{self, Runtime};

    use crate::vifs::Vifs;

    pv_runtime::entry!(main);

    /// Token of the watch on our `backend/vif` tree.
    const BACKEND_TOKEN: &str = "spike/backend";

    fn main(rt: &mut Runtime) {
        println!("SPIKE-BOOT domid={}", rt.domid());
        if let Err(e) = rt.xs.watch("backend/vif", BACKEND_TOKEN) {
            panic!("cannot watch backend/vif: {e}");
        }
        let mut vifs = Vifs::new();
        loop {
            let wake = rt.wait(None);
            if let Some(reason) = wake.shutdown {
                vifs.shutdown(rt);
                println!("SPIKE-SHUTDOWN {reason:?}");
                runtime::shutdown(reason);
            }
            if !wake.watches.is_empty() {
                vifs.reconcile(rt);
            }
            vifs.on_ports(rt, &wake.ports);
        }
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("spike-domain is a Xen PV image: build it with --target x86_64-unknown-none");
    std::process::exit(2);
}
