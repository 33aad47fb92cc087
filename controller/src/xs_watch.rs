//! xenstore watches for `banana supervise`, so that it repairs a domain as
//! soon as xenstored says one went away instead of on its next periodic
//! pass.
//!
//! xenstored fires `@releaseDomain` whenever a domain is destroyed, dies or
//! shuts down (crashes included; `docs/misc/xenstore.txt`, "special
//! watches"); the event carries no domain id, so it only says "look now".
//! A watch fires once when it is registered, too.
//!
//! The watches live on a connection of their own: events arrive unsolicited
//! (`WATCH_EVENT`, req_id 0) and would otherwise be interleaved with the
//! registry's replies. A thread blocks reading that connection and passes
//! each event's path on; the supervise loop waits on the channel with a
//! timeout. Events are hostile input like the replies: a malformed one is
//! counted and skipped, a broken connection ends the watcher (the loop then
//! falls back to its periodic passes) and is said once.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::Duration;

use pv_runtime::xenstore::codec::Request;
use pv_runtime::xenstore::{reply, MsgType};

use crate::registry::RegistryError;
use crate::xs_socket::{default_places, open_stream, read_message, Stream};

/// Events waiting for the loop, at most: more are dropped (each one only
/// says "look now", and a pass looks at everything).
const QUEUE: usize = 64;
/// The token of our watches.
const TOKEN: &str = "banana";

/// What [`Watcher::wait`] saw.
#[derive(Debug, PartialEq, Eq)]
pub enum Woken {
    /// A watched path fired: the path.
    Event(String),
    /// Nothing within the timeout.
    Timeout,
    /// The connection is gone (why); no more events will come.
    Closed(String),
}

/// Watches on their own connection to xenstored, read on a thread.
pub struct Watcher {
    rx: Receiver<Result<String, String>>,
    closed: bool,
}

impl Watcher {
    /// Connects to xenstored (as the socket registry does) and watches
    /// `paths`.
    pub fn start(paths: &[&str]) -> Result<Watcher, RegistryError> {
        let (sockets, device) = default_places();
        Self::start_at(&sockets, &device, paths)
    }

    pub fn start_at(
        sockets: &[PathBuf],
        device: &Path,
        paths: &[&str],
    ) -> Result<Watcher, RegistryError> {
        let (io, what) = open_stream(sockets, device)?;
        Self::over(io, what, paths)
    }

    /// Over any byte stream (tests: one end of a socket pair). Registers
    /// every watch and waits for xenstored's acknowledgements before the
    /// thread takes over, so a refused watch is an error here.
    pub fn over(
        mut io: Box<dyn Stream + Send>,
        what: String,
        paths: &[&str],
    ) -> Result<Watcher, RegistryError> {
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let failed = |reason: String| RegistryError::Failed {
            cmd: "watch".into(),
            reason,
        };
        for (i, path) in paths.iter().enumerate() {
            let id = i as u32 + 1;
            let bytes = Request::Watch(path, TOKEN)
                .encode(id, 0)
                .map_err(|e| failed(format!("{path}: {e}")))?;
            io.write_all(&bytes)
                .map_err(|e| failed(format!("{what}: {e}")))?;
            loop {
                let (header, payload) = read_message(&mut io, &what).map_err(failed)?;
                match header.ty {
                    MsgType::WatchEvent => {
                        forward(&tx, &payload);
                    }
                    MsgType::Watch if header.req_id == id => break,
                    MsgType::Error => {
                        let e = reply::errno(&payload).map_err(|e| failed(e.to_string()))?;
                        return Err(failed(format!("{path}: xenstored said {e:?}")));
                    }
                    ty => return Err(failed(format!("{ty:?} reply to a watch of {path}"))),
                }
            }
        }
        std::thread::Builder::new()
            .name("xs-watch".into())
            .spawn(move || read_events(io, what, tx))
            .map_err(|e| failed(format!("starting the watch thread: {e}")))?;
        Ok(Watcher { rx, closed: false })
    }

    /// Waits up to `timeout` for an event. `Closed` is returned once; after
    /// it every call sleeps out its timeout and says `Timeout`.
    pub fn wait(&mut self, timeout: Duration) -> Woken {
        if self.closed {
            std::thread::sleep(timeout);
            return Woken::Timeout;
        }
        match self.rx.recv_timeout(timeout) {
            Ok(Ok(path)) => Woken::Event(path),
            Ok(Err(why)) => {
                self.closed = true;
                Woken::Closed(why)
            }
            Err(RecvTimeoutError::Timeout) => Woken::Timeout,
            Err(RecvTimeoutError::Disconnected) => {
                self.closed = true;
                Woken::Closed("the watch thread ended".into())
            }
        }
    }

    /// Takes every event already waiting (a burst: one pass serves them all).
    pub fn drain(&mut self) -> usize {
        let mut n = 0;
        while let Ok(Ok(_)) = self.rx.try_recv() {
            n += 1;
        }
        n
    }
}

/// Passes a `WATCH_EVENT`'s path on; a malformed one is skipped (and
/// logged), a full queue drops it (the events waiting say the same).
/// False once nobody listens any more.
fn forward(tx: &SyncSender<Result<String, String>>, payload: &[u8]) -> bool {
    match reply::watch_event(payload) {
        Ok(ev) if ev.token == TOKEN => {
            !matches!(tx.try_send(Ok(ev.path)), Err(TrySendError::Disconnected(_)))
        }
        Ok(ev) => {
            tracing::debug!("watch event with a foreign token {:?}: skipped", ev.token);
            true
        }
        Err(e) => {
            tracing::warn!("malformed watch event from xenstored ({e}): skipped");
            true
        }
    }
}

/// The thread: events until the connection fails or the loop is gone.
fn read_events(
    mut io: Box<dyn Stream + Send>,
    what: String,
    tx: SyncSender<Result<String, String>>,
) {
    loop {
        match read_message(&mut io, &what) {
            Ok((header, payload)) if header.ty == MsgType::WatchEvent => {
                if !forward(&tx, &payload) {
                    return;
                }
            }
            Ok((header, _)) => {
                tracing::debug!(
                    "unexpected {:?} on the watch connection: skipped",
                    header.ty
                )
            }
            Err(why) => {
                let _ = tx.send(Err(why));
                return;
            }
        }
    }
}

#[cfg(test)]
#[path = "xs_watch_tests.rs"]
pub(crate) mod tests;
