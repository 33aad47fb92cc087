//! The xenstore message framing and request encoding (`io/xs_wire.h`).
//!
//! Every message in either direction is a 16-byte little-endian
//! `struct xsd_sockmsg` header followed by `len` payload bytes, with
//! `len <= XENSTORE_PAYLOAD_MAX` (`docs/misc/xenstore.txt`: "The payload length
//! … is limited to 4096 … in both directions"). Request payload layouts follow
//! the table in `docs/misc/xenstore.txt`, "Xenstore protocol details".

use alloc::vec::Vec;
use core::fmt::Write;

use super::path::{validate_path, validate_token, validate_watch_path, PathError};
use super::perms::Perm;

/// `sizeof(struct xsd_sockmsg)`.
pub const HEADER_LEN: usize = 16;
/// `XENSTORE_PAYLOAD_MAX`: the largest payload either side may send.
pub const PAYLOAD_MAX: usize = 4096;

/// `enum xsd_sockmsg_type` (`io/xs_wire.h`). Value 20 was `XS_RESTRICT`, removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
#[allow(missing_docs)]
pub enum MsgType {
    Control = 0,
    Directory = 1,
    Read = 2,
    GetPerms = 3,
    Watch = 4,
    Unwatch = 5,
    TransactionStart = 6,
    TransactionEnd = 7,
    Introduce = 8,
    Release = 9,
    GetDomainPath = 10,
    Write = 11,
    Mkdir = 12,
    Rm = 13,
    SetPerms = 14,
    WatchEvent = 15,
    Error = 16,
    IsDomainIntroduced = 17,
    Resume = 18,
    SetTarget = 19,
    ResetWatches = 21,
    DirectoryPart = 22,
}

impl MsgType {
    /// The type for a wire value, or `None` for unknown values (including
    /// the removed 20 and `XS_INVALID`, 0xffff).
    pub const fn from_u32(v: u32) -> Option<MsgType> {
        use MsgType::*;
        Some(match v {
            0 => Control,
            1 => Directory,
            2 => Read,
            3 => GetPerms,
            4 => Watch,
            5 => Unwatch,
            6 => TransactionStart,
            7 => TransactionEnd,
            8 => Introduce,
            9 => Release,
            10 => GetDomainPath,
            11 => Write,
            12 => Mkdir,
            13 => Rm,
            14 => SetPerms,
            15 => WatchEvent,
            16 => Error,
            17 => IsDomainIntroduced,
            18 => Resume,
            19 => SetTarget,
            21 => ResetWatches,
            22 => DirectoryPart,
            _ => return None,
        })
    }
}

/// A header that cannot start a valid message. The byte stream has no
/// resynchronisation marker, so after this the connection is unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// `type` is not in `enum xsd_sockmsg_type`.
    #[error("unknown xenstore message type {0}")]
    UnknownType(u32),
    /// `len` exceeds `XENSTORE_PAYLOAD_MAX`.
    #[error("xenstore payload length {0} exceeds 4096")]
    Oversize(u32),
}

/// `struct xsd_sockmsg`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// `type`.
    pub ty: MsgType,
    /// `req_id`: chosen by the client, echoed in the reply; 0 in watch events.
    pub req_id: u32,
    /// `tx_id`: 0 outside transactions.
    pub tx_id: u32,
    /// `len`: payload bytes that follow.
    pub len: u32,
}

impl Header {
    /// The wire form.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0; HEADER_LEN];
        for (chunk, v) in
            b.chunks_exact_mut(4)
                .zip([self.ty as u32, self.req_id, self.tx_id, self.len])
        {
            chunk.copy_from_slice(&v.to_le_bytes());
        }
        b
    }

    /// Parses and checks a wire header.
    pub fn parse(b: &[u8; HEADER_LEN]) -> Result<Header, FrameError> {
        let word = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let (ty, len) = (word(0), word(12));
        let ty = MsgType::from_u32(ty).ok_or(FrameError::UnknownType(ty))?;
        if len as usize > PAYLOAD_MAX {
            return Err(FrameError::Oversize(len));
        }
        Ok(Header {
            ty,
            req_id: word(4),
            tx_id: word(8),
            len,
        })
    }
}

/// The errno names xenstored sends in `XS_ERROR` replies (`xsd_errors[]` in
/// `io/xs_wire.h`; "the string name is transmitted, not a numeric value").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Errno {
    EINVAL,
    EACCES,
    EEXIST,
    EISDIR,
    ENOENT,
    ENOMEM,
    ENOSPC,
    EIO,
    ENOTEMPTY,
    ENOSYS,
    EROFS,
    EBUSY,
    EAGAIN,
    EISCONN,
    E2BIG,
    EPERM,
    /// A well-formed name not in this header version. `xs_wire.h` says new
    /// errors are appended to the array, so a newer xenstored may send one.
    Unknown,
}

impl Errno {
    /// The names in `xsd_errors[]` order.
    pub const KNOWN: [Errno; 16] = {
        use Errno::*;
        [
            EINVAL, EACCES, EEXIST, EISDIR, ENOENT, ENOMEM, ENOSPC, EIO, ENOTEMPTY, ENOSYS, EROFS,
            EBUSY, EAGAIN, EISCONN, E2BIG, EPERM,
        ]
    };

    /// The wire name.
    pub const fn name(self) -> &'static str {
        use Errno::*;
        match self {
            EINVAL => "EINVAL",
            EACCES => "EACCES",
            EEXIST => "EEXIST",
            EISDIR => "EISDIR",
            ENOENT => "ENOENT",
            ENOMEM => "ENOMEM",
            ENOSPC => "ENOSPC",
            EIO => "EIO",
            ENOTEMPTY => "ENOTEMPTY",
            ENOSYS => "ENOSYS",
            EROFS => "EROFS",
            EBUSY => "EBUSY",
            EAGAIN => "EAGAIN",
            EISCONN => "EISCONN",
            E2BIG => "E2BIG",
            EPERM => "EPERM",
            Unknown => "unknown errno",
        }
    }

    /// Looks a wire name up; `None` if it is not one of [`KNOWN`](Self::KNOWN).
    pub fn from_name(name: &[u8]) -> Option<Errno> {
        Errno::KNOWN
            .into_iter()
            .find(|e| e.name().as_bytes() == name)
    }
}

impl core::fmt::Display for Errno {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// A request that cannot be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A path or watch path failed [validation](super::path).
    #[error("invalid path: {0}")]
    Path(PathError),
    /// A watch token failed validation.
    #[error("invalid watch token")]
    Token,
    /// `SET_PERMS` needs at least the owner entry (`<perm-as-string>|+`).
    #[error("empty permission list")]
    NoPerms,
    /// The payload would exceed `XENSTORE_PAYLOAD_MAX`, which makes xenstored
    /// drop the connection.
    #[error("request payload exceeds 4096 bytes")]
    TooLarge,
}

/// A client request (`docs/misc/xenstore.txt`, request payload column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request<'a> {
    /// `READ <path>|`
    Read(&'a str),
    /// `WRITE <path>|<value|>`
    Write(&'a str, &'a [u8]),
    /// `MKDIR <path>|`
    Mkdir(&'a str),
    /// `RM <path>|`
    Rm(&'a str),
    /// `DIRECTORY <path>|`
    Directory(&'a str),
    /// `GET_PERMS <path>|`
    GetPerms(&'a str),
    /// `SET_PERMS <path>|<perm-as-string>|+`
    SetPerms(&'a str, &'a [Perm]),
    /// `WATCH <wpath>|<token>|`
    Watch(&'a str, &'a str),
    /// `UNWATCH <wpath>|<token>|`
    Unwatch(&'a str, &'a str),
    /// `TRANSACTION_START |`
    TransactionStart,
    /// `TRANSACTION_END T|` (commit) or `F|` (abort)
    TransactionEnd(bool),
}

impl Request<'_> {
    /// The header type; a successful reply carries the same type.
    pub const fn msg_type(&self) -> MsgType {
        match self {
            Request::Read(_) => MsgType::Read,
            Request::Write(..) => MsgType::Write,
            Request::Mkdir(_) => MsgType::Mkdir,
            Request::Rm(_) => MsgType::Rm,
            Request::Directory(_) => MsgType::Directory,
            Request::GetPerms(_) => MsgType::GetPerms,
            Request::SetPerms(..) => MsgType::SetPerms,
            Request::Watch(..) => MsgType::Watch,
            Request::Unwatch(..) => MsgType::Unwatch,
            Request::TransactionStart => MsgType::TransactionStart,
            Request::TransactionEnd(_) => MsgType::TransactionEnd,
        }
    }

    /// Validates the arguments and encodes header and payload.
    ///
    /// `tx_id` must be 0 for `TRANSACTION_START` ("It is not legal to send
    /// non-0 tx_id in TRANSACTION_START"); it is forced to 0 here.
    pub fn encode(&self, req_id: u32, tx_id: u32) -> Result<Vec<u8>, EncodeError> {
        let mut p: Vec<u8> = Vec::new();
        let path = |p: &mut Vec<u8>, s: &str| {
            validate_path(s).map_err(EncodeError::Path)?;
            p.extend_from_slice(s.as_bytes());
            p.push(0);
            Ok::<(), EncodeError>(())
        };
        let watch = |p: &mut Vec<u8>, w: &str, t: &str| {
            validate_watch_path(w).map_err(EncodeError::Path)?;
            validate_token(t).map_err(|_| EncodeError::Token)?;
            for s in [w, t] {
                p.extend_from_slice(s.as_bytes());
                p.push(0);
            }
            Ok::<(), EncodeError>(())
        };
        let mut tx_id = tx_id;
        match *self {
            Request::Read(s)
            | Request::Mkdir(s)
            | Request::Rm(s)
            | Request::Directory(s)
            | Request::GetPerms(s) => path(&mut p, s)?,
            Request::Write(s, value) => {
                path(&mut p, s)?;
                p.extend_from_slice(value);
            }
            Request::SetPerms(s, perms) => {
                path(&mut p, s)?;
                if perms.is_empty() {
                    return Err(EncodeError::NoPerms);
                }
                let mut text = alloc::string::String::new();
                for perm in perms {
                    let _ = write!(text, "{perm}\0");
                }
                p.extend_from_slice(text.as_bytes());
            }
            Request::Watch(w, t) | Request::Unwatch(w, t) => watch(&mut p, w, t)?,
            Request::TransactionStart => {
                tx_id = 0;
                p.push(0);
            }
            Request::TransactionEnd(commit) => {
                p.extend_from_slice(if commit { b"T\0" } else { b"F\0" });
            }
        }
        let len = u32::try_from(p.len())
            .ok()
            .filter(|&l| l as usize <= PAYLOAD_MAX)
            .ok_or(EncodeError::TooLarge)?;
        let header = Header {
            ty: self.msg_type(),
            req_id,
            tx_id,
            len,
        };
        let mut out = Vec::with_capacity(HEADER_LEN + p.len());
        out.extend_from_slice(&header.to_bytes());
        out.extend_from_slice(&p);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xenstore::perms::Access;

    /// The `enum xsd_sockmsg_type` values as numbered in `io/xs_wire.h`.
    #[test]
    fn type_numbers_match_xs_wire_h() {
        use MsgType::*;
        let table = [
            (Control, 0),
            (Directory, 1),
            (Read, 2),
            (GetPerms, 3),
            (Watch, 4),
            (Unwatch, 5),
            (TransactionStart, 6),
            (TransactionEnd, 7),
            (Introduce, 8),
            (Release, 9),
            (GetDomainPath, 10),
            (Write, 11),
            (Mkdir, 12),
            (Rm, 13),
            (SetPerms, 14),
            (WatchEvent, 15),
            (Error, 16),
            (IsDomainIntroduced, 17),
            (Resume, 18),
            (SetTarget, 19),
            (ResetWatches, 21),
            (DirectoryPart, 22),
        ];
        for (t, n) in table {
            assert_eq!(t as u32, n);
            assert_eq!(MsgType::from_u32(n), Some(t));
        }
        for unknown in [20, 23, 0xffff, u32::MAX] {
            assert_eq!(MsgType::from_u32(unknown), None);
        }
    }

    #[test]
    fn errno_names_in_xs_wire_h_order() {
        let names: alloc::vec::Vec<_> = Errno::KNOWN.iter().map(|e| e.name()).collect();
        assert_eq!(
            names,
            [
                "EINVAL",
                "EACCES",
                "EEXIST",
                "EISDIR",
                "ENOENT",
                "ENOMEM",
                "ENOSPC",
                "EIO",
                "ENOTEMPTY",
                "ENOSYS",
                "EROFS",
                "EBUSY",
                "EAGAIN",
                "EISCONN",
                "E2BIG",
                "EPERM"
            ]
        );
        assert_eq!(Errno::from_name(b"EAGAIN"), Some(Errno::EAGAIN));
        assert_eq!(Errno::from_name(b"unknown errno"), None);
    }

    #[test]
    fn header_round_trip() {
        let h = Header {
            ty: MsgType::Write,
            req_id: 0x01020304,
            tx_id: 7,
            len: 4096,
        };
        let b = h.to_bytes();
        assert_eq!(b[..8], [11, 0, 0, 0, 4, 3, 2, 1]);
        assert_eq!(Header::parse(&b), Ok(h));
    }

    fn payload(r: Request<'_>, tx: u32) -> (Header, alloc::vec::Vec<u8>) {
        let bytes = r.encode(9, tx).unwrap();
        let (h, p) = bytes.split_at(HEADER_LEN);
        let h = Header::parse(h.try_into().unwrap()).unwrap();
        assert_eq!(h.len as usize, p.len());
        (h, p.to_vec())
    }

    #[test]
    fn request_payloads() {
        assert_eq!(payload(Request::Read("/a"), 0).1, b"/a\0");
        assert_eq!(payload(Request::Write("a/b", b"v\0x"), 3).1, b"a/b\0v\0x");
        assert_eq!(payload(Request::Write("a/b", b"v"), 3).0.tx_id, 3);
        assert_eq!(payload(Request::Rm("/a"), 0).0.ty, MsgType::Rm);
        let perms = [Perm::new(0, Access::Write), Perm::new(5, Access::Read)];
        assert_eq!(
            payload(Request::SetPerms("/a", &perms), 0).1,
            b"/a\0w0\0r5\0"
        );
        assert_eq!(
            payload(Request::Watch("@releaseDomain", "t"), 0).1,
            b"@releaseDomain\0t\0"
        );
        let (h, p) = payload(Request::TransactionStart, 5);
        assert_eq!((h.tx_id, &p[..]), (0, &b"\0"[..]));
        assert_eq!(payload(Request::TransactionEnd(true), 5).1, b"T\0");
        assert_eq!(payload(Request::TransactionEnd(false), 5).1, b"F\0");
    }

    #[test]
    fn request_limits() {
        let big = alloc::vec![b'x'; PAYLOAD_MAX - 3];
        assert!(Request::Write("/a", &big).encode(1, 0).is_ok());
        let big = alloc::vec![b'x'; PAYLOAD_MAX - 2];
        assert_eq!(
            Request::Write("/a", &big).encode(1, 0),
            Err(EncodeError::TooLarge)
        );
        assert_eq!(
            Request::SetPerms("/a", &[]).encode(1, 0),
            Err(EncodeError::NoPerms)
        );
        assert_eq!(
            Request::Watch("/a", "").encode(1, 0),
            Err(EncodeError::Token)
        );
        assert_eq!(
            Request::Mkdir("/a/").encode(1, 0),
            Err(EncodeError::Path(PathError::Invalid))
        );
    }
}
