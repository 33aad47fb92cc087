//! One remote party's state: its keys, its sessions (previous, current,
//! and the responder's unconfirmed next; whitepaper §5.4.6 and Linux's
//! `wg_noise_handshake_begin_session`), the handshake we have in flight,
//! and the timers of §6 as deadlines (sans-IO: [`crate::Interface::poll`]
//! asks [`Peer::due`] what to do now).

use crate::cookie::{CookieJar, MacKeys};
use crate::crypto::{PresharedKey, PublicKey};
use crate::handshake::InitiatorState;
use crate::keypair::Keypair;
use crate::tai64n::Tai64n;
use crate::timers::*;

/// How a peer is configured.
#[derive(Clone, Debug)]
pub struct PeerConfig {
    /// Its static public key.
    pub public: PublicKey,
    /// The pre-shared key (zeros for none, as `wg` has it).
    pub psk: PresharedKey,
    /// Send a keepalive when nothing went either way for this many seconds
    /// (`wg`'s `persistent-keepalive`; 0: off). Between two Corms it keeps
    /// a session (and any stateful firewall on the path) up while idle.
    pub persistent_keepalive_s: u16,
}

/// What a peer's timers want done now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Due {
    /// Send a handshake initiation (new, or a retry).
    Initiate,
    /// Send an empty transport message.
    Keepalive,
    /// Nothing for now.
    Nothing,
}

/// A peer of the interface.
pub struct Peer {
    pub(crate) config: PeerConfig,
    /// Keys for handshake messages to it and its cookie replies.
    pub(crate) mac_keys: MacKeys,
    pub(crate) jar: CookieJar,
    /// Our initiation waiting for its response.
    pub(crate) handshake: Option<InitiatorState>,
    /// When the last initiation (or response) went to it.
    last_handshake_sent_ns: Option<u64>,
    /// Jitter drawn for the running retry.
    pub(crate) retry_jitter_ns: u64,
    /// When the current attempt at a handshake began (§6.4: given up
    /// after `REKEY_ATTEMPT_TIME`).
    attempt_started_ns: Option<u64>,
    /// Something wants a handshake (no session to send on, rekey, or the
    /// peer went quiet).
    pub(crate) handshake_wanted: bool,
    /// The greatest initiation timestamp it sent us (§5.1 replay).
    pub(crate) greatest_timestamp: Option<Tai64n>,
    /// When we last accepted an initiation from it (flood limit).
    pub(crate) last_initiation_consumed_ns: Option<u64>,
    pub(crate) current: Option<Keypair>,
    pub(crate) previous: Option<Keypair>,
    pub(crate) next: Option<Keypair>,
    /// When the last session began (for `ZERO_KEYS_AFTER`).
    last_session_ns: Option<u64>,
    last_sent_ns: u64,
    last_received_ns: u64,
    /// A passive keepalive is owed at this time (§6.5).
    keepalive_at_ns: Option<u64>,
    /// Data went out with no authenticated answer since this time.
    unanswered_since_ns: Option<u64>,
}

impl Peer {
    /// A peer with no session yet.
    pub fn new(config: PeerConfig) -> Peer {
        Peer {
            mac_keys: MacKeys::for_receiver(&config.public),
            config,
            jar: CookieJar::default(),
            handshake: None,
            last_handshake_sent_ns: None,
            retry_jitter_ns: 0,
            attempt_started_ns: None,
            handshake_wanted: false,
            greatest_timestamp: None,
            last_initiation_consumed_ns: None,
            current: None,
            previous: None,
            next: None,
            last_session_ns: None,
            last_sent_ns: 0,
            last_received_ns: 0,
            keepalive_at_ns: None,
            unanswered_since_ns: None,
        }
    }

    /// Its public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.config.public
    }

    /// Whether a session is up that we may send on.
    pub fn has_session(&self, now_ns: u64) -> bool {
        self.current.as_ref().is_some_and(|k| k.can_send(now_ns))
    }

    /// Whether `index` names one of its keypairs or its handshake.
    pub(crate) fn owns_index(&self, index: u32) -> bool {
        self.handshake
            .as_ref()
            .is_some_and(|h| h.local_index == index)
            || [&self.current, &self.previous, &self.next]
                .into_iter()
                .flatten()
                .any(|k| k.local_index == index)
    }

    /// The keypair a transport message to `index` was sealed with.
    pub(crate) fn keypair_mut(&mut self, index: u32) -> Option<(&mut Keypair, bool)> {
        if self.next.as_ref().is_some_and(|k| k.local_index == index) {
            return self.next.as_mut().map(|k| (k, true));
        }
        [&mut self.current, &mut self.previous]
            .into_iter()
            .flatten()
            .find(|k| k.local_index == index)
            .map(|k| (k, false))
    }

    /// The responder's next keypair was used by the initiator: it is now
    /// the current one (key confirmation, §5.4.6 last paragraph).
    pub(crate) fn confirm_next(&mut self) {
        if let Some(next) = self.next.take() {
            self.previous = self.current.take();
            self.current = Some(next);
        }
    }

    /// A session began: as initiator it is current at once; as responder
    /// it waits in `next` for the initiator's first message.
    pub(crate) fn begin_session(&mut self, keypair: Keypair, now_ns: u64) {
        if keypair.initiator {
            self.previous = match self.next.take() {
                Some(n) => Some(n),
                None => self.current.take(),
            };
            self.current = Some(keypair);
            self.handshake = None;
            self.handshake_wanted = false;
            self.attempt_started_ns = None;
        } else {
            self.next = Some(keypair);
        }
        self.last_session_ns = Some(now_ns);
    }

    /// An initiation (or response) went out.
    pub(crate) fn handshake_sent(&mut self, now_ns: u64) {
        self.last_handshake_sent_ns = Some(now_ns);
        self.attempt_started_ns.get_or_insert(now_ns);
        self.packet_sent(now_ns);
    }

    /// Any authenticated packet went out: a passive keepalive is not owed.
    pub(crate) fn packet_sent(&mut self, now_ns: u64) {
        self.last_sent_ns = now_ns;
        self.keepalive_at_ns = None;
    }

    /// A data packet went out: start waiting for an answer; rekey an old
    /// or much-used initiator session (§6.2).
    pub(crate) fn data_sent(&mut self, now_ns: u64) {
        self.packet_sent(now_ns);
        self.unanswered_since_ns.get_or_insert(now_ns);
        if let Some(k) = &self.current {
            if k.initiator
                && (k.age_ns(now_ns) >= REKEY_AFTER_TIME_NS || k.sent() >= REKEY_AFTER_MESSAGES)
            {
                self.handshake_wanted = true;
            }
        }
    }

    /// Any authenticated packet came in: the peer is answering.
    pub(crate) fn packet_received(&mut self, now_ns: u64) {
        self.last_received_ns = now_ns;
        self.unanswered_since_ns = None;
    }

    /// A data packet came in on `keypair_initiator`'s session of that age:
    /// owe a keepalive; an initiator rekeys before the session expires.
    pub(crate) fn data_received(&mut self, now_ns: u64, initiator: bool, age_ns: u64) {
        self.packet_received(now_ns);
        self.keepalive_at_ns
            .get_or_insert(now_ns + KEEPALIVE_TIMEOUT_NS);
        if initiator && age_ns >= REKEY_ON_RECEIVE_NS {
            self.handshake_wanted = true;
        }
    }

    /// Drops every key and the handshake in flight (§6.3, and on a change
    /// of our static key).
    pub(crate) fn forget_sessions(&mut self) {
        self.current = None;
        self.previous = None;
        self.next = None;
        self.handshake = None;
        self.attempt_started_ns = None;
        self.handshake_wanted = false;
        self.keepalive_at_ns = None;
        self.unanswered_since_ns = None;
        self.last_session_ns = None;
    }

    /// Whether it is time to erase every key (§6.3).
    pub(crate) fn keys_expired(&self, now_ns: u64) -> bool {
        self.last_session_ns
            .is_some_and(|t| now_ns.saturating_sub(t) >= ZERO_KEYS_AFTER_NS)
    }

    /// The handshake attempt ran out of time (§6.4): stop retrying until
    /// something new wants a session. True if it gave up now.
    pub(crate) fn give_up_if_too_long(&mut self, now_ns: u64) -> bool {
        let expired = self
            .attempt_started_ns
            .is_some_and(|t| now_ns.saturating_sub(t) >= REKEY_ATTEMPT_TIME_NS);
        if expired {
            self.handshake = None;
            self.handshake_wanted = false;
            self.attempt_started_ns = None;
            self.unanswered_since_ns = None;
        }
        expired
    }

    /// What the timers want now.
    pub(crate) fn due(&mut self, now_ns: u64) -> Due {
        let since = |t: Option<u64>| t.map(|t| now_ns.saturating_sub(t));
        // §6.5: data went unanswered: "retrying handshake because we
        // stopped hearing back".
        if since(self.unanswered_since_ns).is_some_and(|d| d >= NEW_HANDSHAKE_NS) {
            self.unanswered_since_ns = None;
            self.handshake_wanted = true;
        }
        let retry_gap = REKEY_TIMEOUT_NS + self.retry_jitter_ns;
        let may_send_handshake = since(self.last_handshake_sent_ns).is_none_or(|d| d >= retry_gap);
        if self.handshake.is_some() && may_send_handshake {
            return Due::Initiate; // a retry (§6.4)
        }
        if self.handshake_wanted && self.handshake.is_none() && may_send_handshake {
            // A fresh responder session waits for confirmation first.
            let waiting = self
                .next
                .as_ref()
                .is_some_and(|k| k.age_ns(now_ns) < REKEY_TIMEOUT_NS);
            if !waiting {
                return Due::Initiate;
            }
        }
        if self.keepalive_at_ns.is_some_and(|t| now_ns >= t) && self.has_session(now_ns) {
            return Due::Keepalive;
        }
        let every = u64::from(self.config.persistent_keepalive_s) * 1_000_000_000;
        if every > 0 {
            let last = self.last_sent_ns.max(self.last_received_ns);
            if now_ns.saturating_sub(last) >= every {
                if self.has_session(now_ns) {
                    return Due::Keepalive;
                }
                self.handshake_wanted = true;
                if self.handshake.is_none() && may_send_handshake {
                    return Due::Initiate;
                }
            }
        }
        Due::Nothing
    }
}
