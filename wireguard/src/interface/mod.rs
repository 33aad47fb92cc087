//! A WireGuard interface: our static key, our peers, and the route of
//! every datagram through them (sans-IO). The caller owns the sockets (the
//! Corm's underlay) and the clock; it hands received datagrams to
//! [`Interface::receive`], packets to send to [`Interface::send`], and
//! calls [`Interface::poll`] after each batch and on its timer tick to get
//! the handshakes and keepalives the timers want sent.
//!
//! ```text
//! receive ─ parse (type, length) ─┬ initiation ─ mac1/mac2 (cookie reply under load)
//!                                 │             ─ open, find the peer by its static key
//!                                 │             ─ timestamp newer? not a flood? ─ response
//!                                 ├ response   ─ mac1/mac2 ─ our handshake by index ─ session, keepalive
//!                                 ├ cookie     ─ our message by index ─ cookie for mac2
//!                                 └ transport  ─ keypair by index ─ replay window ─ open in place
//!                                               ─ confirm the responder's session ─ IP length
//! ```
//!
//! Endpoints (where a peer's datagrams come from and go to) are the
//! caller's: it learns them from what authenticates (`peer` in
//! [`Received`]) if it wants WireGuard's roaming.

use alloc::vec::Vec;

use crate::cookie::{CookieChecker, LoadMeter, MacVerdict};
use crate::crypto::{PrivateKey, PublicKey};
use crate::handshake::{self, LocalKeys};
use crate::keypair::{Keypair, OpenError, SealError};
use crate::message::{
    CookieReply, Initiation, Message, Response, INITIATION_LEN, RESPONSE_LEN, TRANSPORT_HEADER_LEN,
};
use crate::peer::{Due, Peer, PeerConfig};
use crate::tai64n::Tai64n;
use crate::timers::{MIN_INITIATION_GAP_NS, REKEY_TIMEOUT_JITTER_NS};
use crate::Random;

mod receive;
pub use receive::ip_packet_len;

/// Both clocks the protocol needs: monotonic time for every timer, and
/// the Unix time for the initiation's timestamp (which must grow across
/// our restarts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    /// Monotonic nanoseconds (the Corm: Xen system time).
    pub mono_ns: u64,
    /// Nanoseconds since the Unix epoch (the Corm: Xen's wall clock).
    pub unix_ns: u64,
}

/// A peer's place in its interface.
pub type PeerId = usize;

/// Handshake messages a second above which the interface is *under load*
/// and wants cookies (see [`LoadMeter`]).
pub const DEFAULT_LOAD_LIMIT: u32 = 64;

/// The largest datagram [`Interface::receive`] answers with (a response).
pub const MAX_REPLY_LEN: usize = RESPONSE_LEN;

xs_schema::counters! {
    /// What an interface did, and every drop by reason.
    pub struct Counters {
        /// Transport messages with a packet, delivered.
        rx_data,
        /// Their inner bytes.
        rx_bytes,
        /// Empty transport messages (keepalives) received.
        rx_keepalives,
        /// Initiations accepted (answered with a response).
        rx_initiations,
        /// Responses accepted (a session began).
        rx_responses,
        /// Cookie replies accepted.
        rx_cookie_replies,
        /// Packets sealed and sent.
        tx_data,
        /// Their inner bytes.
        tx_bytes,
        /// Keepalives sent.
        tx_keepalives,
        /// Initiations sent (first tries and retries).
        tx_initiations,
        /// Responses sent.
        tx_responses,
        /// Cookie replies sent (we were under load).
        tx_cookie_replies,
        /// Sessions that began as initiator or were confirmed as responder.
        sessions,
        /// Handshake attempts given up after `REKEY_ATTEMPT_TIME`.
        handshake_timeouts,
        /// Peers whose keys were erased after `REJECT_AFTER_TIME × 3`.
        keys_zeroed,
        /// Not a WireGuard message (type, reserved bytes, length).
        dropped_malformed,
        /// Handshake message with a wrong `mac1`.
        dropped_bad_mac1,
        /// Handshake message that did not open (or a weak key).
        dropped_bad_handshake,
        /// Initiation from a static key that is not a peer.
        dropped_unknown_peer,
        /// Initiation with a timestamp not newer than the last (a replay).
        dropped_replayed_initiation,
        /// Initiation less than 20 ms after the last from that peer.
        dropped_initiation_flood,
        /// Message to an index we do not have.
        dropped_unknown_index,
        /// Cookie reply that did not open.
        dropped_bad_cookie,
        /// Transport message on a keypair past `REJECT_AFTER_TIME`.
        dropped_expired_key,
        /// Transport message whose counter was seen or is too old.
        dropped_replay,
        /// Transport message whose tag did not verify.
        dropped_unauthentic,
        /// Authentic packet that is not a whole IPv4/IPv6 packet.
        dropped_not_ip,
        /// Packet to send with no session up (a handshake is started).
        dropped_no_session,
    }
}

/// What became of a received datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// An authentic inner IP packet at `datagram[TRANSPORT_HEADER_LEN..][..len]`.
    Packet {
        /// From whom.
        peer: PeerId,
        /// Its length (IP padding removed).
        len: usize,
    },
    /// Send `reply[..len]` back to the datagram's source.
    Reply {
        /// The peer it authenticated as; `None` for a cookie reply to an
        /// unauthenticated message.
        peer: Option<PeerId>,
        /// The reply's length.
        len: usize,
    },
    /// Authentic, nothing to deliver (a keepalive, a cookie).
    Consumed {
        /// From whom.
        peer: PeerId,
    },
    /// Dropped and counted.
    Dropped(Reason),
}

/// Why a datagram was dropped; each has its counter in [`Counters`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// `dropped_malformed`.
    Malformed,
    /// `dropped_bad_mac1`.
    BadMac1,
    /// `dropped_bad_handshake`.
    BadHandshake,
    /// `dropped_unknown_peer`.
    UnknownPeer,
    /// `dropped_replayed_initiation`.
    ReplayedInitiation,
    /// `dropped_initiation_flood`.
    InitiationFlood,
    /// `dropped_unknown_index`.
    UnknownIndex,
    /// `dropped_bad_cookie`.
    BadCookie,
    /// `dropped_expired_key`.
    ExpiredKey,
    /// `dropped_replay`.
    Replay,
    /// `dropped_unauthentic`.
    Unauthentic,
    /// `dropped_not_ip`.
    NotIp,
}

/// Why [`Interface::send`] did not seal a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// No such peer.
    #[error("no such peer")]
    UnknownPeer,
    /// No session yet (or it expired): the packet is dropped and a
    /// handshake is wanted; [`Interface::poll`] sends it.
    #[error("no session")]
    NoSession,
    /// The buffer cannot hold the sealed packet.
    #[error("buffer too small")]
    BufferTooSmall,
}

/// Why a peer could not be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PeerError {
    /// The table is full.
    #[error("too many peers")]
    Full,
    /// A peer with that key exists, or it is our own key.
    #[error("duplicate peer key")]
    Duplicate,
}

/// Our side of WireGuard: one static key, up to `N` peers. The peers
/// live on the heap (each holds three replay windows, ~3 KiB): a domain's
/// stack could not hold many.
pub struct Interface<R: Random, const N: usize> {
    local: LocalKeys,
    checker: CookieChecker,
    load: LoadMeter,
    /// Peers by id; a removed peer leaves its slot empty.
    peers: Vec<Option<Peer>>,
    rng: R,
    /// What it did, and every drop.
    pub counters: Counters,
}

impl<R: Random, const N: usize> Interface<R, N> {
    /// An interface with `private` as its static key and no peers.
    pub fn new(private: PrivateKey, rng: R) -> Self {
        let local = LocalKeys::new(private);
        Interface {
            checker: CookieChecker::new(&local.public),
            local,
            load: LoadMeter::new(DEFAULT_LOAD_LIMIT),
            peers: Vec::new(),
            rng,
            counters: Counters::default(),
        }
    }

    /// Handshake messages a second above which cookies are demanded.
    pub fn set_load_limit(&mut self, limit: u32) {
        self.load = LoadMeter::new(limit);
    }

    /// Our public key.
    pub fn public_key(&self) -> PublicKey {
        self.local.public
    }

    /// Replaces our static key (a rotation): every session ends, as its
    /// keys were agreed with the old one.
    pub fn set_private_key(&mut self, private: PrivateKey) {
        self.local = LocalKeys::new(private);
        self.checker = CookieChecker::new(&self.local.public);
        for p in self.peers.iter_mut().flatten() {
            p.forget_sessions();
        }
    }

    /// The random generator, to mix more entropy into (a new seed).
    pub fn rng_mut(&mut self) -> &mut R {
        &mut self.rng
    }

    /// Adds a peer, in the first free slot: ids of the others never change.
    pub fn add_peer(&mut self, config: PeerConfig) -> Result<PeerId, PeerError> {
        if config.public == self.local.public || self.find_peer(&config.public).is_some() {
            return Err(PeerError::Duplicate);
        }
        if let Some(free) = self.peers.iter().position(Option::is_none) {
            self.peers[free] = Some(Peer::new(config));
            return Ok(free);
        }
        if self.peers.len() >= N {
            return Err(PeerError::Full);
        }
        self.peers.push(Some(Peer::new(config)));
        Ok(self.peers.len() - 1)
    }

    /// Removes a peer and its sessions (its key was replaced); false if
    /// there was none.
    pub fn remove_peer(&mut self, id: PeerId) -> bool {
        self.peers.get_mut(id).is_some_and(|s| s.take().is_some())
    }

    /// The peer with this static key.
    pub fn find_peer(&self, public: &PublicKey) -> Option<PeerId> {
        self.peers
            .iter()
            .position(|p| p.as_ref().is_some_and(|p| p.public_key() == public))
    }

    /// A peer's state.
    pub fn peer(&self, id: PeerId) -> Option<&Peer> {
        self.peers.get(id).and_then(Option::as_ref)
    }

    fn peer_mut(&mut self, id: PeerId) -> Option<&mut Peer> {
        self.peers.get_mut(id).and_then(Option::as_mut)
    }

    /// Seals the `packet_len`-byte IP packet at `buf[TRANSPORT_HEADER_LEN..]`
    /// in place for `peer`; returns the datagram's length.
    pub fn send(
        &mut self,
        peer: PeerId,
        buf: &mut [u8],
        packet_len: usize,
        mtu: usize,
        now: Now,
    ) -> Result<usize, SendError> {
        let p = self.peer_mut(peer).ok_or(SendError::UnknownPeer)?;
        let Some(kp) = p.current.as_mut().filter(|k| k.can_send(now.mono_ns)) else {
            p.handshake_wanted = true;
            self.counters.dropped_no_session += 1;
            return Err(SendError::NoSession);
        };
        let n = kp.seal(buf, packet_len, mtu).map_err(|e| match e {
            SealError::BufferTooSmall => SendError::BufferTooSmall,
            SealError::Exhausted => SendError::NoSession,
        })?;
        p.data_sent(now.mono_ns);
        self.counters.tx_data += 1;
        self.counters.tx_bytes += packet_len as u64;
        Ok(n)
    }

    /// The next datagram the timers want sent (a handshake initiation or a
    /// keepalive) into `out`, with the peer it goes to; call until `None`.
    pub fn poll(&mut self, now: Now, out: &mut [u8]) -> Option<(PeerId, usize)> {
        if out.len() < INITIATION_LEN {
            return None;
        }
        (0..self.peers.len()).find_map(|id| Some((id, self.poll_peer(id, now, out)?)))
    }

    /// What [`poll`](Self::poll) does for one peer: for a caller that can
    /// send to some peers only (the Corm, while a next hop is unresolved).
    pub fn poll_peer(&mut self, id: PeerId, now: Now, out: &mut [u8]) -> Option<usize> {
        if out.len() < INITIATION_LEN {
            return None;
        }
        let t = now.mono_ns;
        let p = self.peers.get_mut(id).and_then(Option::as_mut)?;
        if p.keys_expired(t) {
            p.forget_sessions();
            self.counters.keys_zeroed += 1;
        }
        if p.give_up_if_too_long(t) {
            self.counters.handshake_timeouts += 1;
        }
        match p.due(t) {
            Due::Initiate => self.initiate(id, now, out),
            Due::Keepalive => self.keepalive(id, t, out),
            Due::Nothing => None,
        }
    }

    /// Builds an initiation to `id` into `out`. A failure (the peer's key
    /// is a weak point) still counts as an attempt, so the timers back off.
    fn initiate(&mut self, id: PeerId, now: Now, out: &mut [u8]) -> Option<usize> {
        let index = self.fresh_index();
        let mut jitter = [0u8; 8];
        self.rng.fill_bytes(&mut jitter);
        let msg: &mut [u8; INITIATION_LEN] = (&mut out[..INITIATION_LEN]).try_into().ok()?;
        let p = self.peers.get_mut(id).and_then(Option::as_mut)?;
        p.retry_jitter_ns = u64::from_le_bytes(jitter) % REKEY_TIMEOUT_JITTER_NS;
        let made = handshake::initiate(
            &self.local,
            &p.config.public,
            index,
            Tai64n::from_unix_ns(now.unix_ns),
            &mut self.rng,
            msg,
        );
        p.handshake_sent(now.mono_ns);
        let state = made.ok()?;
        p.jar.stamp(&p.mac_keys, msg, now.mono_ns);
        p.handshake = Some(state);
        self.counters.tx_initiations += 1;
        Some(INITIATION_LEN)
    }

    /// Seals an empty packet for `id` into `out`.
    fn keepalive(&mut self, id: PeerId, now_ns: u64, out: &mut [u8]) -> Option<usize> {
        let p = self.peers.get_mut(id).and_then(Option::as_mut)?;
        let n = p.current.as_mut()?.seal(out, 0, 0).ok()?;
        p.packet_sent(now_ns);
        self.counters.tx_keepalives += 1;
        Some(n)
    }

    /// A random index no peer uses (whitepaper §5.4.2: "randomly generated").
    fn fresh_index(&mut self) -> u32 {
        let mut b = [0u8; 4];
        loop {
            self.rng.fill_bytes(&mut b);
            let i = u32::from_le_bytes(b);
            if !self.peers.iter().flatten().any(|p| p.owns_index(i)) {
                return i;
            }
        }
    }
}
