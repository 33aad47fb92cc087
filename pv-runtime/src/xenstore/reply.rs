//! Reply payload parsing (`docs/misc/xenstore.txt`, reply payload column).
//!
//! Everything here reads bytes written by xenstored, so every function
//! returns a typed [`ReplyError`] for anything it does not understand exactly.

use alloc::string::String;
use alloc::vec::Vec;

use super::codec::Errno;
use super::path::{is_valid_component, validate_watch_path};
use super::perms::Perm;
use super::watch::WatchEvent;

/// A reply whose framing was fine but whose payload is not what the request
/// type promises. The connection stays usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// A string list that does not end in NUL.
    #[error("missing NUL terminator")]
    MissingNul,
    /// Text that is not UTF-8 where text is expected.
    #[error("not UTF-8")]
    NotUtf8,
    /// An `XS_ERROR` payload that is not `E<NAME>|`.
    #[error("malformed error reply")]
    BadErrno,
    /// A success reply that is not `OK|`.
    #[error("malformed OK reply")]
    BadAck,
    /// A `DIRECTORY` entry that is not a path component.
    #[error("malformed directory entry")]
    BadEntry,
    /// A `GET_PERMS` reply with no or a malformed entry.
    #[error("malformed permission list")]
    BadPerms,
    /// A `TRANSACTION_START` reply that is not a non-zero decimal `u32`.
    #[error("malformed transaction id")]
    BadTxId,
    /// A `WATCH_EVENT` that is not `<epath>|<token>|`.
    #[error("malformed watch event")]
    BadWatchEvent,
    /// A reply whose type is neither the request's nor `XS_ERROR`.
    #[error("reply type does not match the request")]
    WrongType,
}

/// Splits `<s>|*` into its strings; the empty payload is the empty list.
pub fn strings(payload: &[u8]) -> Result<Vec<&str>, ReplyError> {
    let Some(body) = payload.strip_suffix(&[0]) else {
        return if payload.is_empty() {
            Ok(Vec::new())
        } else {
            Err(ReplyError::MissingNul)
        };
    };
    body.split(|&b| b == 0)
        .map(|s| core::str::from_utf8(s).map_err(|_| ReplyError::NotUtf8))
        .collect()
}

/// `XS_ERROR`: `E<something>|`. Unknown but well-formed names (upper-case
/// letters and digits after `E`) map to [`Errno::Unknown`].
pub fn errno(payload: &[u8]) -> Result<Errno, ReplyError> {
    let name = payload.strip_suffix(&[0]).ok_or(ReplyError::BadErrno)?;
    if let Some(e) = Errno::from_name(name) {
        return Ok(e);
    }
    let well_formed = name.len() > 1
        && name.len() <= 32
        && name[0] == b'E'
        && name
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if well_formed {
        Ok(Errno::Unknown)
    } else {
        Err(ReplyError::BadErrno)
    }
}

/// The generic success payload `OK|`.
pub fn ack(payload: &[u8]) -> Result<(), ReplyError> {
    if payload == b"OK\0" {
        Ok(())
    } else {
        Err(ReplyError::BadAck)
    }
}

/// `DIRECTORY`: `<child-leaf-name>|*`.
pub fn directory(payload: &[u8]) -> Result<Vec<String>, ReplyError> {
    strings(payload)?
        .into_iter()
        .map(|s| {
            if is_valid_component(s.as_bytes()) {
                Ok(String::from(s))
            } else {
                Err(ReplyError::BadEntry)
            }
        })
        .collect()
}

/// `GET_PERMS`: `<perm-as-string>|+`.
pub fn perms(payload: &[u8]) -> Result<Vec<Perm>, ReplyError> {
    let list = strings(payload)?;
    if list.is_empty() {
        return Err(ReplyError::BadPerms);
    }
    list.into_iter()
        .map(|s| Perm::parse(s.as_bytes()).map_err(|_| ReplyError::BadPerms))
        .collect()
}

/// `TRANSACTION_START`: `<transid>|`, unsigned decimal, never 0 (0 means
/// "no transaction" in `tx_id`).
pub fn tx_id(payload: &[u8]) -> Result<u32, ReplyError> {
    let digits = payload.strip_suffix(&[0]).ok_or(ReplyError::BadTxId)?;
    if digits.is_empty() || digits.len() > 10 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(ReplyError::BadTxId);
    }
    let v = digits
        .iter()
        .fold(0u64, |v, &d| v * 10 + u64::from(d - b'0'));
    u32::try_from(v)
        .ok()
        .filter(|&v| v != 0)
        .ok_or(ReplyError::BadTxId)
}

/// `WATCH_EVENT`: `<epath>|<token>|`.
pub fn watch_event(payload: &[u8]) -> Result<WatchEvent, ReplyError> {
    match strings(payload).map_err(|_| ReplyError::BadWatchEvent)?[..] {
        [path, token] if validate_watch_path(path).is_ok() && !token.is_empty() => Ok(WatchEvent {
            path: path.into(),
            token: token.into(),
        }),
        _ => Err(ReplyError::BadWatchEvent),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xenstore::perms::Access;
    use proptest::prelude::*;

    #[test]
    fn errors() {
        for e in Errno::KNOWN {
            let mut p = e.name().as_bytes().to_vec();
            p.push(0);
            assert_eq!(errno(&p), Ok(e));
        }
        assert_eq!(errno(b"EFUTURE\0"), Ok(Errno::Unknown));
        assert_eq!(errno(b"EINVAL"), Err(ReplyError::BadErrno));
        assert_eq!(errno(b"\0"), Err(ReplyError::BadErrno));
        assert_eq!(errno(b"einval\0"), Err(ReplyError::BadErrno));
        assert_eq!(errno(b"EINVAL\0\0"), Err(ReplyError::BadErrno));
    }

    #[test]
    fn lists() {
        assert_eq!(directory(b""), Ok(Vec::<String>::new()));
        assert_eq!(
            directory(b"a\0b-c\0"),
            Ok(alloc::vec!["a".into(), "b-c".into()])
        );
        assert_eq!(directory(b"a\0b"), Err(ReplyError::MissingNul));
        assert_eq!(directory(b"a\0\0"), Err(ReplyError::BadEntry));
        assert_eq!(directory(b"a/b\0"), Err(ReplyError::BadEntry));
        assert_eq!(directory(b"\xff\0"), Err(ReplyError::NotUtf8));
        assert_eq!(
            perms(b"w0\0r5\0"),
            Ok(alloc::vec![
                Perm::new(0, Access::Write),
                Perm::new(5, Access::Read)
            ])
        );
        assert_eq!(perms(b""), Err(ReplyError::BadPerms));
        assert_eq!(perms(b"x0\0"), Err(ReplyError::BadPerms));
    }

    #[test]
    fn scalars() {
        assert_eq!(ack(b"OK\0"), Ok(()));
        assert_eq!(ack(b"OK"), Err(ReplyError::BadAck));
        assert_eq!(tx_id(b"17\0"), Ok(17));
        assert_eq!(tx_id(b"4294967295\0"), Ok(u32::MAX));
        for bad in [
            &b"4294967296\0"[..],
            b"0\0",
            b"\0",
            b"1",
            b"-1\0",
            b"99999999999\0",
        ] {
            assert_eq!(tx_id(bad), Err(ReplyError::BadTxId), "{bad:?}");
        }
        assert_eq!(
            watch_event(b"/a/b\0tok\0"),
            Ok(WatchEvent {
                path: "/a/b".into(),
                token: "tok".into()
            })
        );
        for bad in [&b"/a\0"[..], b"/a\0t\0x\0", b"/a\0t", b"\0t\0", b"/a\0\0"] {
            assert_eq!(watch_event(bad), Err(ReplyError::BadWatchEvent), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn parsers_never_panic(p in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = (strings(&p), errno(&p), ack(&p), directory(&p), perms(&p), tx_id(&p), watch_event(&p));
        }
    }
}
