//! The small control messages: `Keepalive` and `Close`.

use serde::{Deserialize, Serialize};

/// Liveness probe. Each end sends one when it has sent nothing else for a while; any
/// message from the peer counts as proof of life, so keepalives are never answered.
/// `seq` increases by one per keepalive (wrapping) and is for logs/loss estimates only.
/// Postcard body: varint `u32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Keepalive {
    /// The sender's keepalive counter.
    pub seq: u32,
}

/// The sender is tearing the link down; the receiver stops sending and releases the wire.
/// Postcard body: one byte, the [`CloseReason`] code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Close {
    /// Why.
    pub reason: CloseReason,
}

/// Why a link was closed. Encoded as a one-byte code rather than a postcard enum index so
/// that a code from a later minor still decodes (as [`CloseReason::Other`]) instead of
/// failing the whole message: a receiver must always be able to read a `Close`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "u8", into = "u8")]
pub enum CloseReason {
    /// Orderly shutdown (domain stopping, wire removed by the controller). Code 1.
    Shutdown,
    /// The hello was refused (sent right after a refusing `HelloAck`). Code 2.
    Refused,
    /// The peer broke the protocol (fatal framing error, renegotiation attempt, ...). Code 3.
    ProtocolError,
    /// Nothing heard from the peer for too long. Code 4.
    KeepaliveTimeout,
    /// The sender is restarting and will send a fresh `Hello`. Code 5.
    Restart,
    /// A code this version does not know (including the reserved 0).
    Other(u8),
}

impl From<u8> for CloseReason {
    fn from(code: u8) -> Self {
        match code {
            1 => CloseReason::Shutdown,
            2 => CloseReason::Refused,
            3 => CloseReason::ProtocolError,
            4 => CloseReason::KeepaliveTimeout,
            5 => CloseReason::Restart,
            other => CloseReason::Other(other),
        }
    }
}

impl From<CloseReason> for u8 {
    fn from(reason: CloseReason) -> u8 {
        match reason {
            CloseReason::Shutdown => 1,
            CloseReason::Refused => 2,
            CloseReason::ProtocolError => 3,
            CloseReason::KeepaliveTimeout => 4,
            CloseReason::Restart => 5,
            CloseReason::Other(code) => code,
        }
    }
}
