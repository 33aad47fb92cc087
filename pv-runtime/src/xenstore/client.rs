//! The synchronous xenstore client.
//!
//! One request is in flight at a time. Each gets a fresh non-zero `req_id`
//! and the reply is the next non-event message carrying that id
//! (`docs/misc/xenstore.txt`: "must use req_id … to match up replies to
//! requests"). Anything else is dealt with without failing the request:
//!
//! * `WATCH_EVENT`s go to a bounded [`WatchQueue`] (see [`super::watch`]);
//! * a reply with another `req_id` (typically the late answer to a request
//!   that timed out) is counted in [`Counters::unexpected_req_id`] and dropped.
//!
//! [`StoreIo::wait`] must not lose a wake-up: if the event channel fired
//! since the previous `wait` (for example between our last look at the ring
//! and this call), it has to return at once. Xen's per-port pending bit,
//! cleared only when the domain consumes it, gives exactly that.
//!
//! Errors that break the byte stream (a bad header, a hostile ring index, a
//! request left half-written by a timeout, xenstored's `error` word) leave
//! the client [`XsError::Broken`] for every later call: the protocol has no
//! way to find the next message boundary again.

use alloc::string::String;
use alloc::vec::Vec;

use super::codec::{EncodeError, Errno, FrameError, MsgType, Request};
use super::decoder::Decoder;
use super::path::PathError;
use super::perms::Perm;
use super::reply::{self, ReplyError};
use super::ring::{RawPage, SharedPage, StoreRing, RING_SIZE};
use super::watch::{Pushed, WatchEvent, WatchQueue};
use crate::ring::RingOverflow;

/// What the client needs from the outside world: the event channel to xenstored and a clock.
pub trait StoreIo {
    /// Tell xenstored there is new data (EVTCHNOP_send on the store event channel).
    fn notify(&mut self);
    /// Block until the store event channel fires or `deadline_ns` (monotonic ns) passes.
    /// Returns false on timeout. Spurious wake-ups are allowed.
    fn wait(&mut self, deadline_ns: u64) -> bool;
    /// Monotonic time in ns.
    fn now_ns(&self) -> u64;
}

/// Every way a xenstore operation can fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum XsError {
    /// xenstored answered `XS_ERROR` with this errno name.
    #[error("xenstored: {0}")]
    Xenstored(Errno),
    /// No reply before the deadline.
    #[error("xenstore request timed out")]
    Timeout,
    /// The reply's payload did not parse; the connection is still usable.
    #[error("malformed xenstore reply: {0}")]
    Malformed(ReplyError),
    /// A message header was invalid; the connection is now broken.
    #[error("xenstore stream corrupt: {0}")]
    Framing(FrameError),
    /// xenstored published an impossible ring index; the connection is now broken.
    #[error("xenstore ring corrupt: {0}")]
    RingCorrupt(RingOverflow),
    /// xenstored set the interface page's `error` word (`XENSTORE_ERROR_*`).
    #[error("xenstored closed the connection (error {0})")]
    ServerError(u32),
    /// An earlier error broke the connection.
    #[error("xenstore connection broken by an earlier error")]
    Broken,
    /// A path failed validation (see [`super::path`]); nothing was sent.
    #[error("invalid xenstore path")]
    PathInvalid,
    /// A watch token failed validation; nothing was sent.
    #[error("invalid watch token")]
    TokenInvalid,
    /// `set_perms` with an empty list; nothing was sent.
    #[error("empty permission list")]
    NoPerms,
    /// The request would exceed `XENSTORE_PAYLOAD_MAX`; nothing was sent.
    #[error("xenstore request too large")]
    TooLarge,
}

impl From<EncodeError> for XsError {
    fn from(e: EncodeError) -> XsError {
        match e {
            EncodeError::Path(PathError::Invalid) => XsError::PathInvalid,
            EncodeError::Path(PathError::TooLong) | EncodeError::TooLarge => XsError::TooLarge,
            EncodeError::Token => XsError::TokenInvalid,
            EncodeError::NoPerms => XsError::NoPerms,
        }
    }
}

/// Client tunables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Deadline for each request, from sending to reply. Linux's xenbus
    /// waits for ever; we give up so a dead xenstored is said aloud, but
    /// late: a loaded dom0's xenstored was seen pausing ~10 s in the nested
    /// lab (every dom0 `xenstore-*` and `xl` command stalled with it).
    pub timeout_ns: u64,
    /// Capacity of the watch event queue.
    pub watch_queue: usize,
    /// Attempts [`Xenstore::transaction`] makes before returning `EAGAIN`.
    pub tx_attempts: u32,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            timeout_ns: 30_000_000_000,
            watch_queue: 64,
            tx_attempts: 8,
        }
    }
}

/// Things that went wrong without failing a call, for diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Replies with the right `req_id` but a malformed payload or wrong type.
    pub bad_reply: u64,
    /// Replies whose `req_id` matched no outstanding request.
    pub unexpected_req_id: u64,
    /// Watch events dropped because the queue was full.
    pub watch_overflow: u64,
    /// Watch events identical to one already queued.
    pub watch_coalesced: u64,
    /// Watch events for a token we never registered (or already removed).
    pub unknown_watch_token: u64,
    /// `WATCH_EVENT`s whose payload did not parse.
    pub bad_watch_event: u64,
    /// Requests that timed out.
    pub timeouts: u64,
    /// Transactions retried after `EAGAIN`.
    pub tx_retries: u64,
}

/// A transaction id allocated by xenstored (`TRANSACTION_START`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TxId(u32);

impl TxId {
    /// The wire value used in `tx_id`.
    pub const fn get(self) -> u32 {
        self.0
    }
}

/// A xenstore client over the interface page `M`, driven by `I`.
pub struct Xenstore<I: StoreIo, M: SharedPage = RawPage> {
    ring: StoreRing<M>,
    io: I,
    decoder: Decoder,
    config: Config,
    counters: Counters,
    last_req_id: u32,
    watches: Vec<(String, String)>,
    events: WatchQueue,
    broken: bool,
}

impl<I: StoreIo> Xenstore<I, RawPage> {
    /// A client over the mapped interface page; `None` if `page` is null or
    /// not page aligned.
    ///
    /// # Safety
    /// As [`RawPage::new`]: `page` is the mapped xenstore page, it stays
    /// mapped, and nothing else in this domain accesses it.
    pub unsafe fn from_raw(page: *mut u8, io: I) -> Option<Xenstore<I, RawPage>> {
        // SAFETY: forwarded to our caller.
        let ring = unsafe { StoreRing::from_raw(page) }?;
        Some(Xenstore::new(ring, io))
    }
}

impl<I: StoreIo, M: SharedPage> Xenstore<I, M> {
    /// A client with the default [`Config`].
    pub fn new(ring: StoreRing<M>, io: I) -> Self {
        Self::with_config(ring, io, Config::default())
    }

    /// A client with `config`.
    pub fn with_config(ring: StoreRing<M>, io: I, config: Config) -> Self {
        Xenstore {
            ring,
            io,
            decoder: Decoder::new(),
            config,
            counters: Counters::default(),
            last_req_id: 0,
            watches: Vec::new(),
            events: WatchQueue::new(config.watch_queue),
            broken: false,
        }
    }

    /// Diagnostic counters.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// The configuration in use.
    pub fn config(&self) -> Config {
        self.config
    }

    /// The I/O provider.
    pub fn io(&self) -> &I {
        &self.io
    }

    /// The I/O provider, mutably.
    pub fn io_mut(&mut self) -> &mut I {
        &mut self.io
    }

    /// Whether an earlier error made the connection unusable.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// `READ` as UTF-8 text.
    pub fn read(&mut self, path: &str) -> Result<String, XsError> {
        self.read_in(0, path)
    }

    /// `READ` as raw bytes (values may be binary).
    pub fn read_bytes(&mut self, path: &str) -> Result<Vec<u8>, XsError> {
        self.call(0, Request::Read(path))
    }

    /// `WRITE`; creates missing parents.
    pub fn write(&mut self, path: &str, value: &str) -> Result<(), XsError> {
        self.write_bytes(path, value.as_bytes())
    }

    /// `WRITE` of raw bytes.
    pub fn write_bytes(&mut self, path: &str, value: &[u8]) -> Result<(), XsError> {
        self.ack(0, Request::Write(path, value))
    }

    /// `MKDIR`.
    pub fn mkdir(&mut self, path: &str) -> Result<(), XsError> {
        self.ack(0, Request::Mkdir(path))
    }

    /// `RM`: removes `path` and its children.
    pub fn rm(&mut self, path: &str) -> Result<(), XsError> {
        self.ack(0, Request::Rm(path))
    }

    /// `DIRECTORY`: the leaf names of `path`'s children.
    pub fn directory(&mut self, path: &str) -> Result<Vec<String>, XsError> {
        self.directory_in(0, path)
    }

    /// `GET_PERMS`: owner entry first.
    pub fn get_perms(&mut self, path: &str) -> Result<Vec<Perm>, XsError> {
        self.get_perms_in(0, path)
    }

    /// `SET_PERMS`: `perms[0]` is the owner and the default for other domains.
    pub fn set_perms(&mut self, path: &str, perms: &[Perm]) -> Result<(), XsError> {
        self.ack(0, Request::SetPerms(path, perms))
    }

    /// `WATCH`. xenstored fires the watch once straight away. Events for
    /// `token` are accepted from the moment the request is sent.
    pub fn watch(&mut self, path: &str, token: &str) -> Result<(), XsError> {
        let entry = (String::from(path), String::from(token));
        let fresh = !self.watches.contains(&entry);
        if fresh {
            self.watches.push(entry.clone());
        }
        let r = self.ack(0, Request::Watch(path, token));
        if r.is_err() && fresh {
            self.watches.retain(|w| *w != entry);
        }
        r
    }

    /// `UNWATCH`. On success (or `ENOENT`) the registration is forgotten and
    /// queued events for a token no longer registered are discarded.
    pub fn unwatch(&mut self, path: &str, token: &str) -> Result<(), XsError> {
        let r = self.ack(0, Request::Unwatch(path, token));
        if matches!(r, Ok(()) | Err(XsError::Xenstored(Errno::ENOENT))) {
            self.watches.retain(|(p, t)| p != path || t != token);
            let watches = &self.watches;
            self.events
                .discard(|e| !watches.iter().any(|(_, t)| *t == e.token));
        }
        r
    }

    /// The oldest queued watch event, after taking in whatever has arrived.
    pub fn poll_watch(&mut self) -> Result<Option<WatchEvent>, XsError> {
        self.check_usable()?;
        self.pump(None)?;
        Ok(self.events.pop())
    }

    /// Waits until a watch event is available or `deadline_ns` passes (`Ok(None)`).
    pub fn wait_watch(&mut self, deadline_ns: u64) -> Result<Option<WatchEvent>, XsError> {
        self.wait_event(deadline_ns, |_| true)
    }

    /// As [`wait_watch`](Self::wait_watch), for events with `token` only;
    /// other events stay queued.
    pub fn wait_watch_token(
        &mut self,
        token: &str,
        deadline_ns: u64,
    ) -> Result<Option<WatchEvent>, XsError> {
        self.wait_event(deadline_ns, |e| e.token == token)
    }

    /// `TRANSACTION_START`.
    pub fn transaction_start(&mut self) -> Result<TxId, XsError> {
        let payload = self.call(0, Request::TransactionStart)?;
        self.parsed(reply::tx_id(&payload)).map(TxId)
    }

    /// `TRANSACTION_END`: commit (`T`) or abort (`F`). A commit that raced
    /// with another writer fails with `Xenstored(EAGAIN)`.
    pub fn transaction_end(&mut self, tx: TxId, commit: bool) -> Result<(), XsError> {
        self.ack(tx.0, Request::TransactionEnd(commit))
    }

    /// A handle running operations inside `tx`.
    pub fn tx(&mut self, tx: TxId) -> Tx<'_, I, M> {
        Tx { xs: self, id: tx }
    }

    /// Runs `f` in a transaction and commits it, retrying the whole thing on
    /// `EAGAIN` (from the commit or from inside `f`) up to
    /// [`Config::tx_attempts`] times. Any other error aborts the transaction
    /// and is returned. `f` may run several times, so it should only act
    /// through the handle.
    pub fn transaction<T>(
        &mut self,
        mut f: impl FnMut(&mut Tx<'_, I, M>) -> Result<T, XsError>,
    ) -> Result<T, XsError> {
        let eagain = XsError::Xenstored(Errno::EAGAIN);
        let mut attempt = 1;
        loop {
            let id = self.transaction_start()?;
            let r = f(&mut self.tx(id));
            let r = match r {
                Ok(v) => self.transaction_end(id, true).map(|()| v),
                Err(e) => {
                    if !self.broken {
                        // Ignored: `e` is the error that matters to the caller.
                        let _ = self.transaction_end(id, false);
                    }
                    Err(e)
                }
            };
            match r {
                Err(e) if e == eagain && attempt < self.config.tx_attempts.max(1) => {
                    attempt += 1;
                    self.counters.tx_retries += 1;
                }
                r => return r,
            }
        }
    }

    fn read_in(&mut self, tx: u32, path: &str) -> Result<String, XsError> {
        let bytes = self.call(tx, Request::Read(path))?;
        String::from_utf8(bytes).map_err(|_| XsError::Malformed(ReplyError::NotUtf8))
    }

    fn directory_in(&mut self, tx: u32, path: &str) -> Result<Vec<String>, XsError> {
        let payload = self.call(tx, Request::Directory(path))?;
        self.parsed(reply::directory(&payload))
    }

    fn get_perms_in(&mut self, tx: u32, path: &str) -> Result<Vec<Perm>, XsError> {
        let payload = self.call(tx, Request::GetPerms(path))?;
        self.parsed(reply::perms(&payload))
    }

    fn ack(&mut self, tx: u32, req: Request<'_>) -> Result<(), XsError> {
        let payload = self.call(tx, req)?;
        self.parsed(reply::ack(&payload))
    }

    fn parsed<T>(&mut self, r: Result<T, ReplyError>) -> Result<T, XsError> {
        r.map_err(|e| {
            self.counters.bad_reply += 1;
            XsError::Malformed(e)
        })
    }

    fn check_usable(&self) -> Result<(), XsError> {
        if self.broken {
            Err(XsError::Broken)
        } else {
            Ok(())
        }
    }

    fn fail(&mut self, e: XsError) -> XsError {
        self.broken = true;
        e
    }

    /// Sends `req` in transaction `tx` and returns the successful reply's payload.
    fn call(&mut self, tx: u32, req: Request<'_>) -> Result<Vec<u8>, XsError> {
        self.check_usable()?;
        self.last_req_id = match self.last_req_id.wrapping_add(1) {
            0 => 1,
            id => id,
        };
        let req_id = self.last_req_id;
        let bytes = req.encode(req_id, tx)?;
        let deadline = self.io.now_ns().saturating_add(self.config.timeout_ns);

        let mut sent = 0;
        let mut reply = None;
        while reply.is_none() {
            if sent < bytes.len() {
                let rest = bytes.get(sent..).unwrap_or_default();
                let n = self
                    .ring
                    .write_request(rest)
                    .map_err(|e| self.fail(XsError::RingCorrupt(e)))?;
                if n > 0 {
                    sent += n;
                    self.io.notify();
                }
            }
            // Keep draining replies and events even while sending, so that
            // xenstored is never stuck on a full response ring.
            reply = self.pump(Some(req_id))?;
            if reply.is_some() {
                break;
            }
            if let Some(code) = self.ring.server_error() {
                return Err(self.fail(XsError::ServerError(code)));
            }
            if !self.io.wait(deadline) {
                reply = self.pump(Some(req_id))?;
                if reply.is_none() {
                    self.counters.timeouts += 1;
                    if sent > 0 && sent < bytes.len() {
                        self.broken = true;
                    }
                    return Err(XsError::Timeout);
                }
            }
        }
        let Some((ty, payload)) = reply else {
            return Err(XsError::Timeout);
        };
        if ty == MsgType::Error {
            let errno = reply::errno(&payload);
            return Err(XsError::Xenstored(self.parsed(errno)?));
        }
        if ty != req.msg_type() {
            return self.parsed(Err(ReplyError::WrongType));
        }
        Ok(payload)
    }

    /// Takes everything in the response ring, queues watch events, drops
    /// unexpected replies, and returns the reply to `want` if it came.
    fn pump(&mut self, want: Option<u32>) -> Result<Option<(MsgType, Vec<u8>)>, XsError> {
        let mut found = None;
        let mut buf = [0u8; RING_SIZE.get() as usize];
        loop {
            let n = self
                .ring
                .read_response(&mut buf)
                .map_err(|e| self.fail(XsError::RingCorrupt(e)))?;
            if n == 0 {
                return Ok(found);
            }
            // xenstored may be waiting for room to write the rest.
            self.io.notify();
            let mut input = buf.get(..n).unwrap_or_default();
            while !input.is_empty() {
                let msg = self
                    .decoder
                    .decode(&mut input)
                    .map_err(|e| self.fail(XsError::Framing(e)))?;
                let Some(msg) = msg else { continue };
                if msg.header.ty == MsgType::WatchEvent {
                    self.on_watch_event(&msg.payload);
                } else if found.is_none() && Some(msg.header.req_id) == want {
                    found = Some((msg.header.ty, msg.payload));
                } else {
                    self.counters.unexpected_req_id += 1;
                }
            }
        }
    }

    fn on_watch_event(&mut self, payload: &[u8]) {
        let ev = match reply::watch_event(payload) {
            Ok(ev) => ev,
            Err(_) => {
                self.counters.bad_watch_event += 1;
                return;
            }
        };
        if !self.watches.iter().any(|(_, t)| *t == ev.token) {
            self.counters.unknown_watch_token += 1;
            return;
        }
        match self.events.push(ev) {
            Pushed::Queued => {}
            Pushed::Coalesced => self.counters.watch_coalesced += 1,
            Pushed::DroppedOldest => self.counters.watch_overflow += 1,
        }
    }

    fn wait_event(
        &mut self,
        deadline_ns: u64,
        mut pred: impl FnMut(&WatchEvent) -> bool,
    ) -> Result<Option<WatchEvent>, XsError> {
        loop {
            self.check_usable()?;
            self.pump(None)?;
            if let Some(ev) = self.events.take_first(&mut pred) {
                return Ok(Some(ev));
            }
            if let Some(code) = self.ring.server_error() {
                return Err(self.fail(XsError::ServerError(code)));
            }
            if self.io.now_ns() >= deadline_ns || !self.io.wait(deadline_ns) {
                self.pump(None)?;
                return Ok(self.events.take_first(&mut pred));
            }
        }
    }
}

/// Operations inside one transaction (`tx_id` set in every request).
pub struct Tx<'a, I: StoreIo, M: SharedPage = RawPage> {
    xs: &'a mut Xenstore<I, M>,
    id: TxId,
}

impl<I: StoreIo, M: SharedPage> Tx<'_, I, M> {
    /// The transaction id.
    pub fn id(&self) -> TxId {
        self.id
    }

    /// `READ` as text.
    pub fn read(&mut self, path: &str) -> Result<String, XsError> {
        self.xs.read_in(self.id.0, path)
    }

    /// `READ` as bytes.
    pub fn read_bytes(&mut self, path: &str) -> Result<Vec<u8>, XsError> {
        self.xs.call(self.id.0, Request::Read(path))
    }

    /// `WRITE`.
    pub fn write(&mut self, path: &str, value: &str) -> Result<(), XsError> {
        self.write_bytes(path, value.as_bytes())
    }

    /// `WRITE` of raw bytes.
    pub fn write_bytes(&mut self, path: &str, value: &[u8]) -> Result<(), XsError> {
        self.xs.ack(self.id.0, Request::Write(path, value))
    }

    /// `MKDIR`.
    pub fn mkdir(&mut self, path: &str) -> Result<(), XsError> {
        self.xs.ack(self.id.0, Request::Mkdir(path))
    }

    /// `RM`.
    pub fn rm(&mut self, path: &str) -> Result<(), XsError> {
        self.xs.ack(self.id.0, Request::Rm(path))
    }

    /// `DIRECTORY`.
    pub fn directory(&mut self, path: &str) -> Result<Vec<String>, XsError> {
        self.xs.directory_in(self.id.0, path)
    }

    /// `GET_PERMS`.
    pub fn get_perms(&mut self, path: &str) -> Result<Vec<Perm>, XsError> {
        self.xs.get_perms_in(self.id.0, path)
    }

    /// `SET_PERMS`.
    pub fn set_perms(&mut self, path: &str, perms: &[Perm]) -> Result<(), XsError> {
        self.xs.ack(self.id.0, Request::SetPerms(path, perms))
    }
}
