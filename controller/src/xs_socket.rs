//! [`Registry`] over xenstored's own socket: the controller speaks the
//! xenstore wire protocol (`xen/include/public/io/xs_wire.h`, the codec in
//! `pv_runtime::xenstore`, checked against Debian's libxen-dev header) on
//! xenstored's Unix socket or on `/dev/xen/xenbus`, instead of spawning
//! `xenstore-*` programs. A [`Batch`] is one real transaction, retried
//! when xenstored says `EAGAIN` (another writer committed first).
//!
//! Replies are hostile input like any other: a reply to another request,
//! of the wrong type, oversize or malformed is an error, never a panic.

use std::cell::RefCell;
use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use pv_runtime::xenstore::codec::{Header, Request, HEADER_LEN};
use pv_runtime::xenstore::{reply, Access as PermAccess, Errno, MsgType, Perm, PAYLOAD_MAX};

use crate::registry::{Access, Batch, Op, Registry, RegistryError};

/// Where xenstored listens in dom0 (`XEN_RUN_STORED`/socket), then the
/// kernel's xenbus device, which carries the same protocol.
pub const SOCKETS: [&str; 2] = ["/run/xenstored/socket", "/var/run/xenstored/socket"];
pub const XENBUS_DEVICE: &str = "/dev/xen/xenbus";
/// Transactions that lose a race are tried this many times in all.
const TX_TRIES: usize = 8;

/// The byte stream to xenstored.
pub trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

struct Conn {
    io: Box<dyn Stream>,
    next_req: u32,
    what: String,
}

/// Why a call failed: xenstored's answer, or the connection.
enum CallError {
    Xs(Errno),
    Other(String),
    /// A guard of the batch did not hold (not xenstored's word: ours).
    Conflict,
}

impl Conn {
    fn call(&mut self, req: Request<'_>, tx: u32) -> Result<Vec<u8>, CallError> {
        let id = self.next_req;
        self.next_req = self.next_req.wrapping_add(1);
        let bytes = req
            .encode(id, tx)
            .map_err(|e| CallError::Other(format!("{req:?}: {e}")))?;
        self.io
            .write_all(&bytes)
            .map_err(|e| CallError::Other(format!("{}: {e}", self.what)))?;
        loop {
            let (header, payload) =
                read_message(&mut self.io, &self.what).map_err(CallError::Other)?;
            // No watches are set on this connection; an event is skipped.
            if header.ty == MsgType::WatchEvent {
                continue;
            }
            if header.req_id != id {
                return Err(CallError::Other(format!(
                    "reply to request {} while waiting for {id}",
                    header.req_id
                )));
            }
            if header.ty == MsgType::Error {
                return Err(match reply::errno(&payload) {
                    Ok(e) => CallError::Xs(e),
                    Err(e) => CallError::Other(e.to_string()),
                });
            }
            if header.ty != req.msg_type() {
                return Err(CallError::Other(format!(
                    "{:?} reply to {:?}",
                    header.ty,
                    req.msg_type()
                )));
            }
            return Ok(payload);
        }
    }
}

/// Reads one message (header and payload) from xenstored; a payload over
/// `XENSTORE_PAYLOAD_MAX` or a short read is an error.
pub(crate) fn read_message(io: &mut dyn Read, what: &str) -> Result<(Header, Vec<u8>), String> {
    let mut h = [0u8; HEADER_LEN];
    io.read_exact(&mut h).map_err(|e| format!("{what}: {e}"))?;
    let header = Header::parse(&h).map_err(|e| e.to_string())?;
    if header.len as usize > PAYLOAD_MAX {
        return Err(format!("message of {} bytes", header.len));
    }
    let mut payload = vec![0u8; header.len as usize];
    io.read_exact(&mut payload)
        .map_err(|e| format!("{what}: {e}"))?;
    Ok((header, payload))
}

/// A connection to xenstored: its socket, else the xenbus device; one
/// clear error when neither answers (not a Xen dom0). Returns the stream
/// and what it is (for messages).
pub(crate) fn open_stream(
    sockets: &[PathBuf],
    device: &Path,
) -> Result<(Box<dyn Stream + Send>, String), RegistryError> {
    for s in sockets {
        if let Ok(stream) = UnixStream::connect(s) {
            return Ok((Box::new(stream), s.display().to_string()));
        }
    }
    match OpenOptions::new().read(true).write(true).open(device) {
        Ok(f) => Ok((Box::new(f), device.display().to_string())),
        Err(source) => Err(RegistryError::Unreachable {
            places: format!(
                "{} or {}",
                sockets
                    .iter()
                    .map(|s| s.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                device.display()
            ),
            source,
        }),
    }
}

/// Where [`SocketRegistry::connect`] and the watcher look for xenstored.
pub(crate) fn default_places() -> (Vec<PathBuf>, PathBuf) {
    (
        SOCKETS.map(PathBuf::from).to_vec(),
        PathBuf::from(XENBUS_DEVICE),
    )
}

/// The registry over one connection to xenstored.
pub struct SocketRegistry {
    conn: RefCell<Conn>,
}

fn failed(cmd: impl Into<String>, reason: impl Into<String>) -> RegistryError {
    RegistryError::Failed {
        cmd: cmd.into(),
        reason: reason.into(),
    }
}

fn why(e: CallError) -> String {
    match e {
        CallError::Xs(e) => format!("{e:?}"),
        CallError::Other(s) => s,
        CallError::Conflict => "a guard did not hold".into(),
    }
}

/// xenstore permissions for an [`Access`]: the first entry names the owner
/// and what everyone else may do, the next one more domain.
fn perms(access: Access) -> Vec<Perm> {
    match access {
        Access::Private => vec![Perm::new(0, PermAccess::None)],
        Access::ReadableBy(d) => vec![
            Perm::new(0, PermAccess::None),
            Perm::new(d as u16, PermAccess::Read),
        ],
        Access::Shared { owner, reader } => vec![
            Perm::new(owner as u16, PermAccess::None),
            Perm::new(reader as u16, PermAccess::Read),
        ],
    }
}

impl SocketRegistry {
    /// Over any byte stream (tests: one end of a socket pair).
    pub fn over(io: Box<dyn Stream>, what: impl Into<String>) -> Self {
        Self {
            conn: RefCell::new(Conn {
                io,
                next_req: 1,
                what: what.into(),
            }),
        }
    }

    /// xenstored's socket, else the xenbus device; one clear error when
    /// neither answers (not a Xen dom0).
    pub fn connect() -> Result<Self, RegistryError> {
        let (sockets, device) = default_places();
        Self::connect_at(&sockets, &device)
    }

    pub fn connect_at(sockets: &[PathBuf], device: &Path) -> Result<Self, RegistryError> {
        let (io, what) = open_stream(sockets, device)?;
        Ok(Self::over(io, what))
    }

    fn call(&self, req: Request<'_>, tx: u32) -> Result<Vec<u8>, CallError> {
        self.conn.borrow_mut().call(req, tx)
    }

    /// Sets `access` on `path` and every node below it (`xenstore-chmod -r`).
    fn restrict(&self, path: &str, access: Access, tx: u32) -> Result<(), CallError> {
        let p = perms(access);
        self.call(Request::SetPerms(path, &p), tx)?;
        let children = match self.call(Request::Directory(path), tx) {
            Ok(payload) => {
                reply::directory(&payload).map_err(|e| CallError::Other(e.to_string()))?
            }
            Err(CallError::Xs(Errno::ENOENT)) => Vec::new(),
            Err(e) => return Err(e),
        };
        for c in children {
            self.restrict(&format!("{path}/{c}"), access, tx)?;
        }
        Ok(())
    }

    fn apply_in(&self, batch: &Batch, tx: u32) -> Result<(), (String, CallError)> {
        for (p, want) in batch.guards() {
            let have = match self.call(Request::Read(p), tx) {
                Ok(v) => Some(String::from_utf8_lossy(&v).into_owned()),
                Err(CallError::Xs(Errno::ENOENT)) => None,
                Err(e) => return Err((format!("read {p}"), e)),
            };
            if have.as_deref() != want {
                return Err((p.to_string(), CallError::Conflict));
            }
        }
        for op in &batch.0 {
            let r = match op {
                Op::Expect(..) => Ok(()),
                Op::Put(p, v) => self.call(Request::Write(p, v.as_bytes()), tx).map(drop),
                Op::Rm(p) => match self.call(Request::Rm(p), tx) {
                    Err(CallError::Xs(Errno::ENOENT)) => Ok(()),
                    r => r.map(drop),
                },
                Op::Restrict(p, a) => self.restrict(p, *a, tx),
            };
            r.map_err(|e| (format!("{op:?}"), e))?;
        }
        Ok(())
    }
}

impl Registry for SocketRegistry {
    fn get(&self, path: &str) -> Result<Option<String>, RegistryError> {
        match self.call(Request::Read(path), 0) {
            Ok(v) => Ok(Some(String::from_utf8_lossy(&v).into_owned())),
            Err(CallError::Xs(Errno::ENOENT)) => Ok(None),
            Err(e) => Err(failed(format!("read {path}"), why(e))),
        }
    }

    fn list(&self, path: &str) -> Result<Vec<String>, RegistryError> {
        match self.call(Request::Directory(path), 0) {
            Ok(v) => {
                reply::directory(&v).map_err(|e| failed(format!("list {path}"), e.to_string()))
            }
            Err(CallError::Xs(Errno::ENOENT)) => Ok(Vec::new()),
            Err(e) => Err(failed(format!("list {path}"), why(e))),
        }
    }

    fn apply(&self, batch: &Batch) -> Result<(), RegistryError> {
        if batch.is_empty() {
            return Ok(());
        }
        for _ in 0..TX_TRIES {
            let start = self
                .call(Request::TransactionStart, 0)
                .map_err(|e| failed("transaction start", why(e)))?;
            let tx =
                reply::tx_id(&start).map_err(|e| failed("transaction start", e.to_string()))?;
            if let Err((op, e)) = self.apply_in(batch, tx) {
                let _ = self.call(Request::TransactionEnd(false), tx);
                if matches!(e, CallError::Conflict) {
                    return Err(RegistryError::Conflict { path: op });
                }
                return Err(failed(op, why(e)));
            }
            match self.call(Request::TransactionEnd(true), tx) {
                Ok(_) => return Ok(()),
                Err(CallError::Xs(Errno::EAGAIN)) => continue,
                Err(e) => return Err(failed("transaction end", why(e))),
            }
        }
        Err(failed(
            "transaction",
            format!("xenstored refused it {TX_TRIES} times (EAGAIN: other writers)"),
        ))
    }
}

#[cfg(test)]
#[path = "xs_socket_tests.rs"]
mod tests;
