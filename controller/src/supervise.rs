//! `banana supervise`: a repair pass (crate::repair) every `--interval`
//! seconds until SIGTERM or SIGINT, and, over xenstored's socket, one as
//! soon as a domain goes (`crate::xs_watch`: the `@releaseDomain` watch). The lock is held during a pass only, so
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
use crate::xs_watch::{Watcher, Woken};

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

/// Passes woken by watch events are at least this far apart (a burst of
/// domain deaths, or our own repairs' events, cannot spin the loop).
pub const MIN_GAP: Duration = Duration::from_secs(1);

impl App<'_> {
    /// Runs until SIGTERM or SIGINT; with `watcher`, a pass also runs as
    /// soon as a watched xenstore path fires.
    pub fn supervise(&self, every: Duration, watcher: Option<Watcher>) -> Result<()> {
        let stop = catch_signals()?;
        tracing::info!(
            "supervising every {} s{} (SIGTERM or SIGINT stops)",
            every.as_secs(),
            if watcher.is_some() {
                ", and at once when a domain goes (xenstore watch @releaseDomain)"
            } else {
                ""
            }
        );
        self.supervise_until(every, watcher, &|| stop.load(Ordering::SeqCst));
        tracing::info!("stopped");
        Ok(())
    }

    /// The loop, ended by `stop` (checked every 100 ms while waiting).
    pub fn supervise_until(
        &self,
        every: Duration,
        mut watcher: Option<Watcher>,
        stop: &dyn Fn() -> bool,
    ) {
        let mut backoff = Backoff::default();
        // In a cluster, this host is alive while it supervises: its lease is
        // renewed every pass (`HOST_TTL_S` must outlast `every`).
        let mut lease: Option<crate::etcd::HostLease> = None;
        while !stop() {
            if let Some(c) = self.cluster {
                let renewed = match lease.as_mut() {
                    Some(l) => l.renew(),
                    None => {
                        let ttl = crate::etcd::cluster::HOST_TTL_S.max(3 * every.as_secs() as i64);
                        crate::etcd::HostLease::announce(c.etcd.client(), &c.host, ttl)
                            .map(|l| lease = Some(l))
                    }
                };
                if let Err(e) = renewed {
                    tracing::warn!("cluster: cannot keep host {} alive: {e}", c.host);
                    lease = None;
                }
            }
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
            pause(now, every, watcher.as_mut(), stop);
        }
        if let Some(l) = lease {
            if let Err(e) = l.withdraw() {
                tracing::warn!("cluster: cannot withdraw this host's lease: {e}");
            }
        }
    }
}

/// Waits until `every` after `start`, a watch event (but not before
/// [`MIN_GAP`] after `start`), or `stop`.
fn pause(
    start: Instant,
    every: Duration,
    mut watcher: Option<&mut Watcher>,
    stop: &dyn Fn() -> bool,
) {
    let end = start + every;
    let mut woken = false;
    while !stop() {
        let now = Instant::now();
        if now >= end || (woken && now >= start + MIN_GAP) {
            return;
        }
        let slice = (end - now).min(Duration::from_millis(100));
        match watcher.as_deref_mut() {
            Some(w) if !woken => match w.wait(slice) {
                Woken::Event(path) => {
                    let more = w.drain();
                    tracing::info!(
                        "woken by xenstore watch {path}{}",
                        if more > 0 {
                            format!(" (and {more} more events)")
                        } else {
                            String::new()
                        }
                    );
                    woken = true;
                }
                Woken::Timeout => {}
                Woken::Closed(why) => tracing::warn!(
                    "xenstore watch lost ({why}): a pass every {} s only from now on",
                    every.as_secs()
                ),
            },
            _ => std::thread::sleep(slice),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::xs_watch::tests::{event, watching};

    fn timed(f: impl FnOnce()) -> Duration {
        let t = Instant::now();
        f();
        t.elapsed()
    }

    /// How long a pause of 60 s with `w` lasts (never stopped).
    fn paused(w: &mut Watcher) -> Duration {
        timed(|| pause(Instant::now(), Duration::from_secs(60), Some(w), &|| false))
    }

    #[test]
    fn a_watch_event_ends_the_pause_but_not_before_the_minimum_gap() {
        let (mut w, mut far) = watching(&["@releaseDomain"]);
        // The first fire (at registration) wakes the first pause.
        let t = paused(&mut w);
        assert!(t >= MIN_GAP && t < Duration::from_secs(10), "{t:?}");
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1500));
            far.write_all(&event("@releaseDomain", "banana")).unwrap();
            far
        });
        let t = paused(&mut w);
        assert!(
            t >= Duration::from_millis(1500) && t < Duration::from_secs(10),
            "{t:?}"
        );
        let _far = sender.join().unwrap();
    }

    #[test]
    fn without_events_the_pause_is_the_interval_and_stop_ends_it() {
        let (mut w, _far) = watching(&["@releaseDomain"]);
        let _ = w.wait(Duration::from_secs(5));
        let every = Duration::from_millis(300);
        let t = timed(|| pause(Instant::now(), every, Some(&mut w), &|| false));
        assert!(t >= every && t < Duration::from_secs(5), "{t:?}");
        let t = timed(|| pause(Instant::now(), every, None, &|| false));
        assert!(t >= every && t < Duration::from_secs(5), "{t:?}");
        let t = timed(|| pause(Instant::now(), Duration::from_secs(60), None, &|| true));
        assert!(t < Duration::from_secs(1), "{t:?}");
    }
}
