//! Side B's setup machine: request an offer, validate it, map it.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use pv_runtime::abi::DomId;
use pv_runtime::xenbus::XenbusState;

use super::{
    key_path, parse_state, parse_u64, wire_dir, write_state, Action, Offer, Refusal, Then, WireId,
    KEY_MAX_PAGES, KEY_REQUEST, KEY_STATE,
};
use crate::layout::MAX_PAGES_PER_DIR;

/// Where the acceptor is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptorState {
    /// Not started.
    Idle,
    /// `request` = nonce and state 1 written; waiting for the offer.
    AwaitOffer {
        /// Our current request.
        nonce: u64,
    },
    /// `ReadOffer` issued for this offer.
    Reading {
        /// Our request.
        nonce: u64,
        /// The offer's id as seen in the watch.
        offer_id: u64,
    },
    /// `Map` issued. `stale`: the offer changed meanwhile.
    Mapping {
        /// Our request.
        nonce: u64,
        /// The offer being mapped.
        offer_id: u64,
        /// The offerer moved on while we were mapping.
        stale: bool,
    },
    /// Mapped and state 4 written.
    Connected {
        /// Our request.
        nonce: u64,
        /// The offer in use.
        offer_id: u64,
    },
    /// `TearDown` issued (state 5).
    TearingDown(Then),
    /// Between attempts (after a failure or a refused offer): the domain
    /// calls [`retry`](Acceptor::retry) after its backoff.
    Waiting {
        /// The request that failed.
        nonce: u64,
    },
    /// Shut down (state 6).
    Closed,
}

/// The offerer as the acceptor sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Peer {
    Offered { offer_for: u64, offer_id: u64 },
    Connected { offer_id: u64 },
    Other,
}

/// Side B of one wire.
#[derive(Debug)]
pub struct Acceptor {
    dir: String,
    peer_dir: String,
    peer: DomId,
    state: AcceptorState,
    view: Peer,
    nonce: u64,
    refusal: Option<Refusal>,
}

impl Acceptor {
    /// A machine for wire `wire` between our domain `own` and offerer `peer`.
    pub fn new(wire: WireId, own: DomId, peer: DomId) -> Acceptor {
        Acceptor {
            dir: wire_dir(own, wire),
            peer_dir: wire_dir(peer, wire),
            peer,
            state: AcceptorState::Idle,
            view: Peer::Other,
            nonce: 0,
            refusal: None,
        }
    }

    /// Where the machine is.
    pub fn state(&self) -> AcceptorState {
        self.state
    }

    /// The offerer's wire directory (to watch and read).
    pub fn peer_dir(&self) -> &str {
        &self.peer_dir
    }

    /// Why the last offer was refused.
    pub fn refusal(&self) -> Option<Refusal> {
        self.refusal
    }

    /// Creates the directory and requests an offer with `nonce`, which must
    /// differ from every nonce an earlier incarnation used (e.g. Xen system
    /// time in ns). Then watch the offerer's directory and call
    /// [`peer_changed`](Self::peer_changed) with its current keys.
    pub fn start(&mut self, nonce: u64) -> Vec<Action> {
        if self.state != AcceptorState::Idle {
            return Vec::new();
        }
        let mut out = vec![Action::CreateDir {
            path: self.dir.clone(),
            reader: self.peer,
        }];
        self.request(nonce, &mut out);
        out
    }

    /// The offerer's `state`, `offer-for` and `offer-id` as just read
    /// (`None`: absent; all absent: the offerer vanished).
    pub fn peer_changed(
        &mut self,
        state: Option<&str>,
        offer_for: Option<&str>,
        offer_id: Option<&str>,
    ) -> Vec<Action> {
        let offer_id = offer_id.and_then(parse_u64);
        self.view = match (parse_state(state), offer_for.and_then(parse_u64), offer_id) {
            (Some(XenbusState::InitWait), Some(offer_for), Some(offer_id)) => Peer::Offered {
                offer_for,
                offer_id,
            },
            (Some(XenbusState::Connected), _, Some(offer_id)) => Peer::Connected { offer_id },
            _ => Peer::Other,
        };
        let mut out = Vec::new();
        match self.state {
            AcceptorState::AwaitOffer { .. } | AcceptorState::Reading { .. } => {
                self.maybe_read(&mut out)
            }
            AcceptorState::Mapping {
                nonce,
                offer_id,
                stale,
            } => {
                let stale = stale || !self.still_offered(nonce, offer_id);
                self.state = AcceptorState::Mapping {
                    nonce,
                    offer_id,
                    stale,
                };
            }
            AcceptorState::Connected { nonce, offer_id } => {
                if !self.still_offered(nonce, offer_id) {
                    self.tear_down(Then::Restart, &mut out);
                }
            }
            AcceptorState::Idle
            | AcceptorState::TearingDown(_)
            | AcceptorState::Waiting { .. }
            | AcceptorState::Closed => {}
        }
        out
    }

    /// The offerer's directory is gone (domain destroyed).
    pub fn peer_vanished(&mut self) -> Vec<Action> {
        self.peer_changed(None, None, None)
    }

    /// Answers `ReadOffer`: `lookup` reads a full xenstore path. A hostile
    /// or broken offer is refused ([`refusal`](Self::refusal)), state 6
    /// tells the offerer, and a new request follows only after the domain's
    /// backoff ([`Action::RetryLater`]): a restarted offerer heals the wire,
    /// a broken one costs a parse per backoff period.
    pub fn offer_read(&mut self, lookup: impl FnMut(&str) -> Option<String>) -> Vec<Action> {
        let AcceptorState::Reading { nonce, offer_id } = self.state else {
            return Vec::new();
        };
        let mut out = Vec::new();
        match Offer::parse(&self.peer_dir, lookup) {
            Err(r) => {
                self.refusal = Some(r);
                self.state = AcceptorState::Waiting { nonce };
                out.push(write_state(&self.dir, XenbusState::Closed));
                out.push(Action::RetryLater);
            }
            Ok(offer) if offer.offer_for == nonce && offer.offer_id == offer_id => {
                self.state = AcceptorState::Mapping {
                    nonce,
                    offer_id,
                    stale: false,
                };
                out.push(Action::Map(offer));
            }
            Ok(_) => {
                self.state = AcceptorState::AwaitOffer { nonce };
                self.maybe_read(&mut out);
            }
        }
        out
    }

    /// `Map` finished: the end is built and the port bound.
    pub fn mapped(&mut self) -> Vec<Action> {
        let AcceptorState::Mapping {
            nonce,
            offer_id,
            stale,
        } = self.state
        else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if stale {
            self.tear_down(Then::Restart, &mut out);
        } else {
            self.state = AcceptorState::Connected { nonce, offer_id };
            out.push(Action::Connect);
            out.push(write_state(&self.dir, XenbusState::Connected));
        }
        out
    }

    /// `TearDown` finished: nothing of the old offer is mapped any more.
    pub fn torn_down(&mut self) -> Vec<Action> {
        let AcceptorState::TearingDown(then) = self.state else {
            return Vec::new();
        };
        let mut out = Vec::new();
        match then {
            // A stale offer (the offerer moved on) is answered at once;
            // after a failure the domain's backoff comes first.
            Then::Restart => self.request(self.nonce.wrapping_add(1), &mut out),
            Then::Fail => {
                self.state = AcceptorState::Waiting { nonce: self.nonce };
                out.push(Action::RetryLater);
            }
            Then::Close => {
                self.state = AcceptorState::Closed;
                out.push(write_state(&self.dir, XenbusState::Closed));
            }
        }
        out
    }

    /// The last local step (mapping, binding, `accept`) or the connected
    /// wire itself (corruption, refusal, silence) failed: tear down, then
    /// request a new offer after the domain's backoff. Never for good: the
    /// acceptor keeps trying as long as the wire is configured.
    pub fn local_error(&mut self) -> Vec<Action> {
        let mut out = Vec::new();
        match self.state {
            AcceptorState::Reading { .. }
            | AcceptorState::Mapping { .. }
            | AcceptorState::Connected { .. } => self.tear_down(Then::Fail, &mut out),
            AcceptorState::Idle
            | AcceptorState::AwaitOffer { .. }
            | AcceptorState::TearingDown(_)
            | AcceptorState::Waiting { .. }
            | AcceptorState::Closed => {}
        }
        out
    }

    /// The backoff after [`Action::RetryLater`] is over: request a new offer.
    pub fn retry(&mut self) -> Vec<Action> {
        let mut out = Vec::new();
        if let AcceptorState::Waiting { nonce } = self.state {
            self.request(nonce.wrapping_add(1), &mut out);
        }
        out
    }

    /// Leave the wire for good.
    pub fn shutdown(&mut self) -> Vec<Action> {
        let mut out = Vec::new();
        match self.state {
            AcceptorState::Mapping { .. } | AcceptorState::Connected { .. } => {
                self.tear_down(Then::Close, &mut out)
            }
            AcceptorState::TearingDown(_) => self.state = AcceptorState::TearingDown(Then::Close),
            AcceptorState::Idle
            | AcceptorState::AwaitOffer { .. }
            | AcceptorState::Reading { .. }
            | AcceptorState::Waiting { .. } => {
                self.state = AcceptorState::Closed;
                out.push(write_state(&self.dir, XenbusState::Closed));
            }
            AcceptorState::Closed => {}
        }
        out
    }

    fn still_offered(&self, nonce: u64, offer_id: u64) -> bool {
        match self.view {
            Peer::Offered {
                offer_for,
                offer_id: id,
            } => offer_for == nonce && id == offer_id,
            Peer::Connected { offer_id: id } => id == offer_id,
            Peer::Other => false,
        }
    }

    fn request(&mut self, nonce: u64, out: &mut Vec<Action>) {
        self.nonce = nonce;
        self.state = AcceptorState::AwaitOffer { nonce };
        out.push(Action::WriteAll(vec![
            (
                key_path(&self.dir, KEY_MAX_PAGES),
                format!("{}", MAX_PAGES_PER_DIR),
            ),
            (key_path(&self.dir, KEY_REQUEST), format!("{nonce}")),
            (
                key_path(&self.dir, KEY_STATE),
                format!("{}", XenbusState::Initialising as u32),
            ),
        ]));
    }

    /// In `AwaitOffer` or `Reading`: (re)issue `ReadOffer` for the offer now
    /// visible, or fall back to waiting.
    fn maybe_read(&mut self, out: &mut Vec<Action>) {
        let nonce = self.nonce;
        let next = match self.view {
            Peer::Offered {
                offer_for,
                offer_id,
            } if offer_for == nonce => AcceptorState::Reading { nonce, offer_id },
            _ => AcceptorState::AwaitOffer { nonce },
        };
        let changed = next != self.state;
        self.state = next;
        if changed && matches!(next, AcceptorState::Reading { .. }) {
            out.push(Action::ReadOffer);
        }
    }

    fn tear_down(&mut self, then: Then, out: &mut Vec<Action>) {
        self.state = AcceptorState::TearingDown(then);
        out.push(write_state(&self.dir, XenbusState::Closing));
        out.push(Action::TearDown);
    }
}
