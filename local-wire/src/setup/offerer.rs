//! Side A's setup machine: answer each acceptor request with a fresh offer.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use pv_runtime::abi::{DomId, GrantRef, Port};
use pv_runtime::xenbus::XenbusState;

use super::{
    key_path, parse_state, parse_u64, wire_dir, write_state, Action, Offer, Then, WireId, KEY_STATE,
};
use crate::layout::RingPages;

/// Where the offerer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffererState {
    /// Not started.
    Idle,
    /// State 1 written; waiting for the acceptor to request an offer.
    AwaitRequest,
    /// `Allocate` issued for this request.
    Allocating {
        /// The acceptor's request nonce.
        request: u64,
    },
    /// Offer published (state 2).
    Offered {
        /// The request answered.
        request: u64,
    },
    /// Both sides Connected (state 4).
    Connected {
        /// The request answered.
        request: u64,
    },
    /// `TearDown` issued (state 5).
    TearingDown(Then),
    /// Shut down (state 6).
    Closed,
    /// Gave up after a local error (state 6).
    Failed,
}

/// The acceptor as the offerer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Peer {
    Missing,
    Requesting(u64),
    Connected(u64),
    Other,
}

/// Side A of one wire.
#[derive(Debug)]
pub struct Offerer {
    dir: String,
    peer: DomId,
    /// The K we would like to offer.
    pages: RingPages,
    /// The largest K the acceptor maps, as it last said.
    peer_max: RingPages,
    /// The K of the allocation in progress (the acceptor may change its
    /// mind meanwhile; the offer must match what was allocated).
    allocated: RingPages,
    state: OffererState,
    view: Peer,
    last_offered_for: Option<u64>,
    next_offer_id: u64,
    /// After a failed link, no offer before [`retry`](Offerer::retry).
    paused: bool,
}

impl Offerer {
    /// A machine for wire `wire` from domain `own` to `peer` with K =
    /// `pages`. `first_offer_id` must differ from every offer id an earlier
    /// incarnation published (e.g. Xen system time in ns).
    pub fn new(
        wire: WireId,
        own: DomId,
        peer: DomId,
        pages: RingPages,
        first_offer_id: u64,
    ) -> Offerer {
        Offerer {
            dir: wire_dir(own, wire),
            peer,
            pages,
            peer_max: RingPages::FOR_FRAMES,
            allocated: pages,
            state: OffererState::Idle,
            view: Peer::Missing,
            last_offered_for: None,
            next_offer_id: first_offer_id,
            paused: false,
        }
    }

    /// Where the machine is.
    pub fn state(&self) -> OffererState {
        self.state
    }

    /// Our wire directory.
    pub fn dir(&self) -> &str {
        &self.dir
    }

    /// Creates the directory and writes state 1. Then watch the acceptor's
    /// directory and call [`peer_changed`](Self::peer_changed) with its
    /// current keys.
    pub fn start(&mut self) -> Vec<Action> {
        if self.state != OffererState::Idle {
            return Vec::new();
        }
        self.state = OffererState::AwaitRequest;
        vec![
            Action::CreateDir {
                path: self.dir.clone(),
                reader: self.peer,
            },
            write_state(&self.dir, XenbusState::Initialising),
        ]
    }

    /// The acceptor's `max-ring-pages` as just read (call before
    /// [`peer_changed`](Self::peer_changed)). Hostile text: anything but a
    /// power of two in `1..=MAX_PAGES_PER_DIR` (or absent) reads as
    /// [`RingPages::FOR_FRAMES`], the size every acceptor maps.
    pub fn peer_max_pages(&mut self, max: Option<&str>) {
        self.peer_max = max
            .and_then(parse_u64)
            .and_then(|k| u32::try_from(k).ok())
            .and_then(RingPages::new)
            .unwrap_or(RingPages::FOR_FRAMES);
    }

    /// The K of the next offer: ours, or less if the acceptor maps less.
    pub fn offered_pages(&self) -> RingPages {
        if self.peer_max.get() < self.pages.get() {
            self.peer_max
        } else {
            self.pages
        }
    }

    /// The acceptor's `state` and `request` as just read (`None`: absent).
    /// Both absent means the acceptor vanished (or is not there yet).
    pub fn peer_changed(&mut self, state: Option<&str>, request: Option<&str>) -> Vec<Action> {
        let request = request.and_then(parse_u64);
        self.view = match (state, parse_state(state), request) {
            (None, _, _) => Peer::Missing,
            (_, Some(XenbusState::Initialising), Some(n)) => Peer::Requesting(n),
            (_, Some(XenbusState::Connected), Some(n)) => Peer::Connected(n),
            _ => Peer::Other,
        };
        let mut out = Vec::new();
        match self.state {
            OffererState::AwaitRequest => self.maybe_offer(&mut out),
            OffererState::Offered { request } => match self.view {
                Peer::Connected(n) if n == request => {
                    self.state = OffererState::Connected { request };
                    out.push(Action::Connect);
                    out.push(write_state(&self.dir, XenbusState::Connected));
                }
                Peer::Requesting(n) if n == request => {}
                Peer::Connected(_) => {}
                _ => self.tear_down(Then::Restart, &mut out),
            },
            OffererState::Connected { request } => {
                if self.view != Peer::Connected(request) {
                    self.tear_down(Then::Restart, &mut out);
                }
            }
            OffererState::Idle
            | OffererState::Allocating { .. }
            | OffererState::TearingDown(_)
            | OffererState::Closed
            | OffererState::Failed => {}
        }
        out
    }

    /// The acceptor's directory is gone (domain destroyed).
    pub fn peer_vanished(&mut self) -> Vec<Action> {
        self.peer_changed(None, None)
    }

    /// `Allocate` finished: the grants (control, then `2K` data pages in
    /// ring order) and the unbound port.
    pub fn offer_ready(
        &mut self,
        control_ref: GrantRef,
        data_refs: &[GrantRef],
        event_channel: Port,
    ) -> Vec<Action> {
        let OffererState::Allocating { request } = self.state else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if data_refs.len() != 2 * self.allocated.get() as usize {
            self.tear_down(Then::Fail, &mut out);
            return out;
        }
        if self.view != Peer::Requesting(request) {
            self.tear_down(Then::Restart, &mut out);
            return out;
        }
        let offer = Offer {
            pages: self.allocated,
            control_ref,
            data_refs: data_refs.to_vec(),
            event_channel,
            offer_for: request,
            offer_id: self.next_offer_id,
        };
        self.next_offer_id = self.next_offer_id.wrapping_add(1);
        self.last_offered_for = Some(request);
        let mut keys = offer.entries(&self.dir);
        keys.push((
            key_path(&self.dir, KEY_STATE),
            format!("{}", XenbusState::InitWait as u32),
        ));
        out.push(Action::WriteAll(keys));
        self.state = OffererState::Offered { request };
        out
    }

    /// `TearDown` finished: the old pages are no longer ours to touch.
    pub fn torn_down(&mut self) -> Vec<Action> {
        let OffererState::TearingDown(then) = self.state else {
            return Vec::new();
        };
        let mut out = Vec::new();
        match then {
            Then::Restart => {
                // The next offer waits for the domain's backoff: a peer that
                // fails every link (or re-requests at will) costs one set-up
                // per backoff period, not a busy loop.
                self.state = OffererState::AwaitRequest;
                self.paused = true;
                out.push(write_state(&self.dir, XenbusState::Initialising));
                out.push(Action::RetryLater);
            }
            Then::Close => {
                self.state = OffererState::Closed;
                out.push(write_state(&self.dir, XenbusState::Closed));
            }
            Then::Fail => {
                self.state = OffererState::Failed;
                out.push(write_state(&self.dir, XenbusState::Closed));
            }
        }
        out
    }

    /// The connected wire failed (the peer corrupted the ring or closed
    /// it): release what we hold and wait for the acceptor's next request.
    /// Never for good: a peer's error costs that peer's link until it asks
    /// again, and the same request is never answered twice, so this cannot
    /// spin.
    pub fn link_failed(&mut self) -> Vec<Action> {
        let mut out = Vec::new();
        match self.state {
            OffererState::Offered { .. } | OffererState::Connected { .. } => {
                self.tear_down(Then::Restart, &mut out)
            }
            _ => {}
        }
        out
    }

    /// The backoff after [`Action::RetryLater`] is over: answer the
    /// acceptor's pending request, if any.
    pub fn retry(&mut self) -> Vec<Action> {
        let mut out = Vec::new();
        self.paused = false;
        if self.state == OffererState::AwaitRequest {
            self.maybe_offer(&mut out);
        }
        out
    }

    /// A local step (allocating pages, grants, the port) failed: local
    /// resource exhaustion. The machine releases what it holds and stops
    /// (state 6): retrying against the same request could spin.
    pub fn local_error(&mut self) -> Vec<Action> {
        let mut out = Vec::new();
        match self.state {
            OffererState::Allocating { .. }
            | OffererState::Offered { .. }
            | OffererState::Connected { .. } => self.tear_down(Then::Fail, &mut out),
            OffererState::TearingDown(_) | OffererState::AwaitRequest => {
                self.state = OffererState::Failed;
                out.push(write_state(&self.dir, XenbusState::Closed));
            }
            OffererState::Idle | OffererState::Closed | OffererState::Failed => {}
        }
        out
    }

    /// Leave the wire for good.
    pub fn shutdown(&mut self) -> Vec<Action> {
        let mut out = Vec::new();
        match self.state {
            OffererState::Allocating { .. }
            | OffererState::Offered { .. }
            | OffererState::Connected { .. } => self.tear_down(Then::Close, &mut out),
            OffererState::TearingDown(_) => self.state = OffererState::TearingDown(Then::Close),
            OffererState::Idle | OffererState::AwaitRequest => {
                self.state = OffererState::Closed;
                out.push(write_state(&self.dir, XenbusState::Closed));
            }
            OffererState::Closed | OffererState::Failed => {}
        }
        out
    }

    fn maybe_offer(&mut self, out: &mut Vec<Action>) {
        if self.paused {
            return;
        }
        if let Peer::Requesting(n) = self.view {
            if self.last_offered_for != Some(n) {
                self.state = OffererState::Allocating { request: n };
                self.allocated = self.offered_pages();
                out.push(Action::Allocate {
                    pages: self.allocated,
                    peer: self.peer,
                });
            }
        }
    }

    fn tear_down(&mut self, then: Then, out: &mut Vec<Action>) {
        self.state = OffererState::TearingDown(then);
        out.push(write_state(&self.dir, XenbusState::Closing));
        out.push(Action::TearDown);
    }
}
