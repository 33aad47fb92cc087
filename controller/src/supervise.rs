//! `banana supervise`: a repair pass (crate::repair) every `--interval`
//! seconds until SIGTERM or SIGINT. The lock is held during a pass only, so
//! operators' commands run in between; a pass that is interrupted by a crash
//! of banana itself is finished by the next command's reconciliation, like
//! any other command. A domain whose repair fails is retried after a delay
//! that doubles up to [`MAX_BACKOFF`] (an unassignable PCI device is not
//! tried every few seconds for ever).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::app::App;
use crate::error::{io, Error, Result};
use crate::repair::Repair;

pub const MAX_INTERVAL_S: u64 = 3600;
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// SIGTERM and SIGINT end the loop after the pass under way: the handler
/// (signal-hook's, async-signal-safe) only sets the returned flag.
pub(crate) fn catch_signals() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .map_err(io("installing a signal handler"))?;
    }
    Ok(stop)
}

/// `--interval` in seconds, checked.
pub fn interval(secs: u64) -> Result<Duration> {
    if !(1..=MAX_INTERVAL_S).contains(&secs) {
        return Err(Error::BadInterval(secs));
    }
    Ok(Duration::from_secs(secs))
}

/// When each failing domain (`kind/name`) may be tried again.
#[derive(Debug, Default)]
pub struct Backoff {
    until: BTreeMap<String, (Instant, Duration)>,
}

impl Backoff {
    pub fn ready(&self, subject: &str, now: Instant) -> bool {
        self.until.get(subject).is_none_or(|(t, _)| now >= *t)
    }

    /// Learns from a pass: failures back off (first by `interval`, then
    /// doubling), successes clear.
    pub fn note(&mut self, done: &[Repair], interval: Duration, now: Instant) {
        for r in done.iter().filter(|r| !r.failed()) {
            self.until.remove(&r.subject());
        }
        for r in done.iter().filter(|r| r.failed()) {
            let delay = self
                .until
                .get(&r.subject())
                .map_or(interval, |(_, d)| (*d * 2).min(MAX_BACKOFF));
            self.until.insert(r.subject(), (now + delay, delay));
        }
    }
}

impl App<'_> {
    /// Runs until SIGTERM or SIGINT.
    pub fn supervise(&self, every: Duration) -> Result<()> {
        let stop = catch_signals()?;
        tracing::info!(
            "supervising every {} s (SIGTERM or SIGINT stops)",
            every.as_secs()
        );
        self.supervise_until(every, &|| stop.load(Ordering::SeqCst));
        tracing::info!("stopped");
        Ok(())
    }

    /// The loop, ended by `stop` (checked every 100 ms while waiting).
    pub fn supervise_until(&self, every: Duration, stop: &dyn Fn() -> bool) {
        let mut backoff = Backoff::default();
        while !stop() {
            let now = Instant::now();
            let pass = self
                .begin()
                .and_then(|_lock| self.repair(&|s| backoff.ready(s, now)));
            match pass {
                Ok(done) => {
                    for r in &done {
                        if r.failed() {
                            tracing::warn!("{r}");
                        } else {
                            tracing::info!("{r}");
                        }
                    }
                    backoff.note(&done, every, Instant::now());
                }
                Err(e) => tracing::warn!("repair pass failed: {e}"),
            }
            let end = Instant::now() + every;
            while !stop() && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(100).min(every));
            }
        }
    }
}
