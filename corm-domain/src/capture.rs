//! `banana capture` in the Corm (docs/capture.md): the `capture` key of our
//! config names an endpoint and a snap length. The capture ring
//! (`pv_runtime::capture_ring`) is made on first use and kept (dom0 may map
//! it at any time); its grant references are published once at
//! `data/banana/capture/refs`, and `data/banana/capture/target` says what
//! is tapped: written once the tap is in place, removed when it stops.

use alloc::boxed::Box;
use alloc::format;

use corm_domain::dataplane::tap::Tap;
use corm_domain::dataplane::Dataplane;
use local_wire::RawMemory;
use pv_runtime::capture_ring::domain_capture;
use pv_runtime::println;
use pv_runtime::runtime::Runtime;
use xs_schema::data;

use crate::config;

const REFS: &str = data::CAPTURE_REFS.from_home();
const TARGET: &str = data::CAPTURE_TARGET.from_home();

/// The ring while no endpoint is tapped (the data plane holds it while one is).
#[derive(Default)]
pub struct Capture {
    idle: Option<Box<dyn Tap>>,
}

impl Capture {
    /// Taps what our config asks for, or stops.
    pub fn reconcile(&mut self, rt: &mut Runtime, dp: &mut Dataplane<RawMemory>, endpoints: u16) {
        let want = config::capture(rt, endpoints).unwrap_or_else(|why| {
            println!("CORM-CONFIG-ERROR {why}: nothing captured");
            None
        });
        let Some((endpoint, snaplen)) = want else {
            if let Some(t) = dp.take_tap() {
                self.idle = Some(t);
                let _ = rt.xs.rm(TARGET);
                println!("CORM-CAPTURE-OFF");
            }
            return;
        };
        let tap = match dp.take_tap().or_else(|| self.idle.take()) {
            Some(t) => t,
            None => match domain_capture(rt) {
                Ok(ring) => {
                    if let Err(e) = rt.xs.write(REFS, &ring.refs_text()) {
                        println!("CORM-CAPTURE-ERROR cannot publish {REFS}: {e}");
                    }
                    // Dom0 may map the pages at any time: kept for good.
                    Box::new(ring.leak())
                }
                Err(e) => {
                    println!("CORM-CAPTURE-ERROR {e}");
                    return;
                }
            },
        };
        let mut tap = tap;
        tap.target(endpoint, snaplen);
        dp.set_tap(tap);
        let _ = rt.xs.write(TARGET, &format!("{endpoint} {snaplen}"));
        println!("CORM-CAPTURE-ON endpoint={endpoint} snaplen={snaplen}");
    }
}
