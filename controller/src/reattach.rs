//! Guests' vifs follow their Spike to its new domain.
//!
//! When a Spike dies its backend directories die with it, and Linux netfront
//! cannot follow it to a new domid by itself: it reads `backend` and
//! `backend-id` only when it probes a device (and on resume), and a backend
//! that reads as Unknown makes its `netback_changed` do nothing
//! (drivers/net/xen-netfront.c; drivers/xen/xenbus/xenbus_probe.c
//! `talk_to_otherend`). So banana unplugs the device and plugs it back with
//! the new backend ([`crate::vif`]), which is what libxl's forced detach
//! followed by an attach does, with the guest's devid, MAC and libxl record
//! kept. Netfront probes the new device and runs the whole handshake with
//! the new Spike. docs/self-healing.md has the details and the lab evidence.
//!
//! Linux before "xen/xenbus: better handle backend crash" (2026) does not
//! notice a device node that vanished and came back before its xenwatch
//! thread looked, and its removal of the old device may then write Closing
//! into the new node. There is no signal for "the guest has seen the
//! removal", so banana waits [`Timing::settle`](crate::app::Timing) between
//! the two, checks that both ends reach Connected, and otherwise does it
//! again with a longer wait.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::{Duration, Instant};

use crate::app::App;
use crate::error::Result;
use crate::registry::{join, Batch};
use crate::schema::{join_ids, DomainRecord};
use crate::vif::{guest_vifs, GuestVif, CLOSED, CLOSING, CONNECTED};

/// What became of one guest vif.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VifMove {
    pub guest: u32,
    pub guest_name: String,
    pub devid: u32,
    pub from: u32,
    pub to: u32,
    /// Rounds of unplug and plug it took.
    pub attempts: u32,
    /// From the last plug to both ends Connected, or why it did not connect.
    pub result: Result<Duration, String>,
}

impl fmt::Display for VifMove {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "vif {} of {} (domain {})",
            self.devid, self.guest_name, self.guest
        )?;
        match &self.result {
            Ok(t) => write!(
                f,
                ": reconnected, backend domid {} -> {} ({:.1} s, attempt {})",
                self.from,
                self.to,
                t.as_secs_f64(),
                self.attempts
            ),
            Err(why) => write!(f, ": not reconnected to domid {}: {why}", self.to),
        }
    }
}

/// How one plugged vif is doing.
enum Progress {
    Connected,
    Waiting(Option<u32>, Option<u32>),
    Failed(String),
}

impl App<'_> {
    /// Moves every vif of a running guest whose libxl record names one of the
    /// Spike's former domids (a domain that no longer exists) to its current
    /// domid, then forgets the former domids no vif names any more. A vif
    /// that does not connect is reported and left as it was found (libxl's
    /// record naming the old backend), for the next repair.
    pub fn reattach_vifs(&self, spike: &DomainRecord) -> Result<Vec<VifMove>> {
        let Some(to) = spike.domid else {
            return Ok(Vec::new());
        };
        if spike.former_domids.is_empty() {
            return Ok(Vec::new());
        }
        let live: BTreeMap<u32, String> = self
            .xl
            .list()?
            .into_iter()
            .map(|d| (d.domid, d.name))
            .collect();
        // A domid Xen gave to another domain since is not ours to take from.
        let former: BTreeSet<u32> = spike
            .former_domids
            .iter()
            .copied()
            .filter(|d| !live.contains_key(d))
            .collect();
        let guests = live.keys().copied().filter(|&g| g != 0 && g != to);
        let mut orphans = Vec::new();
        for v in guest_vifs(self.local, guests)? {
            match v {
                Ok(v) if former.contains(&v.backend) => orphans.push(v),
                Ok(_) => {}
                Err(bad) => tracing::debug!("skipping {bad}"),
            }
        }
        let moves = self.move_vifs(&orphans, to, &live)?;
        let failed: BTreeSet<u32> = moves
            .iter()
            .filter(|m| m.result.is_err())
            .map(|m| m.from)
            .collect();
        let keep: Vec<u32> = spike
            .former_domids
            .iter()
            .copied()
            .filter(|d| failed.contains(d))
            .collect();
        if keep != spike.former_domids {
            let path = join(&spike.path(), "former-domids");
            let mut b = Batch::new();
            if keep.is_empty() {
                b.rm(path);
            } else {
                b.put(path, join_ids(&keep));
            }
            self.reg.apply(&b)?;
        }
        Ok(moves)
    }

    /// Unplug, settle, plug, wait: all vifs in step, the ones that did not
    /// connect again with a doubled settle time.
    fn move_vifs(
        &self,
        vifs: &[GuestVif],
        to: u32,
        names: &BTreeMap<u32, String>,
    ) -> Result<Vec<VifMove>> {
        let t = self.timing;
        let trusted = vifs
            .iter()
            .map(|v| v.trusted(self.local))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let mut moves: Vec<VifMove> = vifs
            .iter()
            .map(|v| VifMove {
                guest: v.guest,
                guest_name: names.get(&v.guest).cloned().unwrap_or_else(|| "?".into()),
                devid: v.devid,
                from: v.backend,
                to,
                attempts: 0,
                result: Err("not tried".into()),
            })
            .collect();
        for round in 0..t.attempts.max(1) {
            let pending: Vec<usize> = (0..vifs.len())
                .filter(|&i| moves[i].result.is_err())
                .collect();
            if pending.is_empty() {
                break;
            }
            let mut b = Batch::new();
            for &i in &pending {
                b.extend(vifs[i].unplug(to));
            }
            self.local.apply(&b)?;
            std::thread::sleep(t.settle * 2u32.pow(round));
            let mut b = Batch::new();
            for &i in &pending {
                b.extend(vifs[i].plug(to, &trusted[i]));
                moves[i].attempts += 1;
            }
            self.local.apply(&b)?;
            let start = Instant::now();
            let mut waiting = pending.clone();
            let mut last = BTreeMap::new();
            t.until(t.connect, || -> Result<bool> {
                let mut still = Vec::new();
                for &i in &waiting {
                    match self.progress(&vifs[i], to)? {
                        Progress::Connected => moves[i].result = Ok(start.elapsed()),
                        Progress::Failed(why) => moves[i].result = Err(why),
                        Progress::Waiting(fe, be) => {
                            last.insert(i, (fe, be));
                            still.push(i);
                        }
                    }
                }
                waiting = still;
                Ok(waiting.is_empty())
            })?;
            for i in waiting {
                let (fe, be) = last.get(&i).copied().unwrap_or_default();
                moves[i].result = Err(format!(
                    "not connected after {:.1} s (frontend state {}, backend state {})",
                    t.connect.as_secs_f64(),
                    opt(fe),
                    opt(be)
                ));
            }
            for m in moves.iter().filter(|m| m.result.is_err()) {
                tracing::warn!("{m} (round {} of {})", round + 1, t.attempts.max(1));
            }
        }
        let mut b = Batch::new();
        for (v, m) in vifs.iter().zip(&moves) {
            if m.result.is_err() {
                b.extend(v.unplug(to));
                b.extend(v.restore());
            }
        }
        if !b.is_empty() {
            self.local.apply(&b)?;
        }
        Ok(moves)
    }

    fn progress(&self, v: &GuestVif, to: u32) -> Result<Progress> {
        Ok(match v.states(self.local, to)? {
            (Some(CONNECTED), Some(CONNECTED)) => Progress::Connected,
            (Some(s @ (CLOSING | CLOSED)), _) => {
                Progress::Failed(format!("the guest closed the device (state {s})"))
            }
            (_, Some(s @ (CLOSING | CLOSED))) => {
                Progress::Failed(format!("the Spike closed the device (state {s})"))
            }
            (fe, be) => Progress::Waiting(fe, be),
        })
    }
}

fn opt(s: Option<u32>) -> String {
    s.map_or("-".into(), |s| s.to_string())
}
