//! The corm domain image. For now it boots on the runtime, announces itself,
//! publishes its role under its own xenstore path and obeys the toolstack's
//! shutdown requests; the NIC driver and switch (issue 4) are not in it yet.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod domain {
    use pv_runtime::println;
    use pv_runtime::runtime::{self, Runtime};

    pv_runtime::entry!(main);

    fn main(rt: &mut Runtime) {
        println!("CORM-BOOT domid={} cmdline={:?}", rt.domid(), rt.cmdline());
        if let Err(e) = rt.xs.write("data/banana/role", "corm") {
            println!("CORM: cannot publish role: {e}");
        }
        loop {
            if let Some(reason) = rt.wait(None).shutdown {
                println!("CORM-SHUTDOWN {reason:?}");
                runtime::shutdown(reason);
            }
        }
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("corm-domain is a Xen PV image: build it with --target x86_64-unknown-none");
    std::process::exit(2);
}
