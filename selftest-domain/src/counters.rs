//! mode=basic: a counter page (pv_runtime::counter_page) that dom0 reads
//! through gntdev (`banana counters`, test selftest-counters).
//!
//! Two pages, granted read-only to dom0 and advertised at
//! `data/banana/counters/page-refs`, holding 75 counters:
//!
//! | name | value |
//! |---|---|
//! | `selftest/magic` | 0x5e1f7e57 (1579122263), never changes |
//! | `selftest/uptime_ms` | ms since the page was set up, every 250 ms |
//! | `selftest/ticks` | 250 ms ticks so far |
//! | `selftest/wakes` | run-loop wake-ups |
//! | `selftest/pings` | `data/selftest/ping`s answered |
//! | `selftest/fill/00` … `selftest/fill/69` | 0 … 69 (fill/59 on is in the second page) |
//!
//! `data/selftest/cmd=counter-add` registers `selftest/added` (value 42),
//! `cmd=counter-drop` unregisters it, each printing a marker. At set-up the
//! domain also measures what publishing costs: setting all 75 counters in the
//! page against writing them as 75 xenstore keys (`SELFTEST-COUNTER-COST`).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use pv_runtime::counter_page::{CounterGroup, CounterId, CounterPage, CounterPageError};
use pv_runtime::println;
use pv_runtime::runtime::Runtime;
use pv_runtime::time::{now_ns, NS_PER_MS, NS_PER_US};

pub const MAGIC: u64 = 0x5e1f_7e57;
pub const FILL: usize = 70;
/// The run loop's tick, when counters are published.
pub const TICK_NS: u64 = 250 * NS_PER_MS;
/// Timer id of the tick.
pub const TICK: u32 = 2;

pub struct Published {
    page: CounterPage,
    t0: u64,
    uptime: CounterId,
    ticks: CounterId,
    wakes: CounterId,
    pings: CounterId,
    added: Option<CounterId>,
    n_ticks: u64,
    n_wakes: u64,
    n_pings: u64,
}

fn fill_names() -> Vec<String> {
    (0..FILL).map(|i| format!("fill/{i:02}")).collect()
}

/// Sets up the page and its counters; `None` (after a FAIL marker) if that fails.
pub fn publish(rt: &mut Runtime) -> Option<Published> {
    match try_publish(rt) {
        Ok(p) => {
            let refs: Vec<String> = p.page.refs().map(|r| format!("{r}")).collect();
            println!(
                "SELFTEST-COUNTERS-OK refs={} counters={} pages={}",
                refs.join(","),
                p.page.len(),
                refs.len()
            );
            Some(p)
        }
        Err(e) => {
            println!("SELFTEST-COUNTERS-FAIL {e}");
            None
        }
    }
}

fn try_publish(rt: &mut Runtime) -> Result<Published, CounterPageError> {
    let mut page = CounterPage::with_capacity(rt, 2 * 63)?;
    let magic = page.register("selftest/magic")?;
    page.set(magic, MAGIC);
    let uptime = page.register("selftest/uptime_ms")?;
    let ticks = page.register("selftest/ticks")?;
    let wakes = page.register("selftest/wakes")?;
    let pings = page.register("selftest/pings")?;
    let names = fill_names();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let fill = page.register_group("selftest", &refs)?;
    page.set_group(&fill, 0..);
    cost(rt, &mut page, &fill);
    Ok(Published {
        page,
        t0: now_ns(),
        uptime,
        ticks,
        wakes,
        pings,
        added: None,
        n_ticks: 0,
        n_wakes: 0,
        n_pings: 0,
    })
}

/// What one publication of every counter costs: in the page (averaged over
/// 1000 rounds) and as xenstore writes (one round, as the domains did).
fn cost(rt: &mut Runtime, page: &mut CounterPage, fill: &CounterGroup) {
    let n = page.len();
    let names: Vec<String> = page.iter().map(|(n, _)| String::from(n)).collect();
    let ids: Vec<CounterId> = names.iter().filter_map(|n| page.id(n)).collect();
    let rounds = 1000u64;
    let t0 = now_ns();
    for r in 0..rounds {
        for &id in &ids {
            page.set(id, r);
        }
    }
    let page_ns = (now_ns() - t0) / rounds;
    // Back to the documented values.
    page.set_group(fill, 0..);
    if let Some(id) = page.id("selftest/magic") {
        page.set(id, MAGIC);
    }
    let t1 = now_ns();
    let mut failed = 0;
    for (i, name) in names.iter().enumerate() {
        let key = format!("data/selftest/xs-cost/{}", name.replace('/', "-"));
        if rt.xs.write(&key, &format!("{i}")).is_err() {
            failed += 1;
        }
    }
    let xs_us = (now_ns() - t1) / NS_PER_US;
    let _ = rt.xs.rm("data/selftest/xs-cost");
    println!(
        "SELFTEST-COUNTER-COST counters={n} page_ns={page_ns} xenstore_us={xs_us} xenstore_failed={failed}"
    );
}

impl Published {
    /// Once per run-loop wake-up.
    pub fn wake(&mut self) {
        self.n_wakes += 1;
        self.page.set(self.wakes, self.n_wakes);
    }

    /// Once per tick (timer [`TICK`]).
    pub fn tick(&mut self) {
        self.n_ticks += 1;
        self.page.set(self.ticks, self.n_ticks);
        self.page.set(self.uptime, (now_ns() - self.t0) / NS_PER_MS);
    }

    /// Once per ping answered.
    pub fn ping(&mut self) {
        self.n_pings += 1;
        self.page.set(self.pings, self.n_pings);
    }

    /// `data/selftest/cmd` values this module handles; false for others.
    pub fn command(&mut self, cmd: &str) -> bool {
        match cmd {
            "counter-add" => {
                if self.added.is_none() {
                    match self.page.register("selftest/added") {
                        Ok(id) => {
                            self.page.set(id, 42);
                            self.added = Some(id);
                            println!("SELFTEST-COUNTER-ADDED seq={}", self.page.seq());
                        }
                        Err(e) => println!("SELFTEST-COUNTER-ADD-FAIL {e}"),
                    }
                }
                true
            }
            "counter-drop" => {
                if let Some(id) = self.added.take() {
                    self.page.unregister(id);
                    println!("SELFTEST-COUNTER-DROPPED seq={}", self.page.seq());
                }
                true
            }
            _ => false,
        }
    }
}
