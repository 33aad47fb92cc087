//! The handshake messages, `Hello` and `HelloAck`, and the agreement rule that turns two
//! hellos into [`Params`].
//!
//! The rule is symmetric (same major; smaller minor; feature intersection; smaller MTU), so
//! both ends compute the same [`Params`] from the same pair of hellos without a leader;
//! each then confirms with a `HelloAck` what it computed, which catches bugs and lets
//! either end refuse with a reason.

use heapless::Vec;
use serde::{Deserialize, Serialize};

use crate::error::{FrameError, Invalid};
use crate::features::Features;
use crate::frame::{Checksum, Frame, FrameMeta, GsoKind, ETH_HEADER_LEN};
use crate::ids::{EndpointId, WireId};
use crate::mac::MacAddr;
use crate::version::{Role, Version};

/// How many MACs one `Hello` can announce (a guest vif with a few secondary addresses).
pub const MAX_MACS: usize = 4;

/// The smallest MTU accepted: IPv6's minimum link MTU, below which the link is useless.
pub const MIN_MTU: u16 = 1280;

/// The largest MTU accepted: a [`MAX_FRAME_LEN`](crate::MAX_FRAME_LEN) frame minus the
/// Ethernet header and one VLAN tag.
pub const MAX_MTU: u16 = 0xFFFF - 18;

/// Extra bytes a non-GSO frame may carry beyond the MTU: Ethernet header + one 802.1Q tag.
const L2_OVERHEAD: usize = ETH_HEADER_LEN + 4;

/// The first message on a wire, sent by both ends unprompted (and re-sent on a timer on a
/// lossy transport until the link is established).
///
/// Postcard body, in order: `version` (2 raw bytes, frozen in every major), `role`
/// (enum index), `wire` (varint), `endpoint` (varint), `macs` (varint count ≤
/// [`MAX_MACS`], then 6 raw bytes each), `mtu` (varint), `features` (varint).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Hello {
    /// The sender's protocol version. Must stay the first field.
    pub version: Version,
    /// The sender's role (two Corms never share a wire).
    pub role: Role,
    /// The wire the sender believes it is on; must equal the receiver's.
    pub wire: WireId,
    /// The sender endpoint's controller-assigned id.
    pub endpoint: EndpointId,
    /// The sender endpoint's own unicast MAC(s): the guest's vif MAC(s) for a Spike (at
    /// least one), the port's MAC(s) for a Corm (possibly none). Never group addresses.
    pub macs: Vec<MacAddr, MAX_MACS>,
    /// The largest L3 packet the sender can take in one non-GSO frame.
    pub mtu: u16,
    /// Optional features the sender supports (unknown bits are ignored by the receiver).
    pub features: Features,
}

impl Hello {
    /// A hello at [`PROTOCOL_VERSION`](crate::PROTOCOL_VERSION) with no MACs.
    pub fn new(
        role: Role,
        wire: WireId,
        endpoint: EndpointId,
        mtu: u16,
        features: Features,
    ) -> Self {
        Hello {
            version: crate::PROTOCOL_VERSION,
            role,
            wire,
            endpoint,
            macs: Vec::new(),
            mtu,
            features,
        }
    }

    /// Add a MAC; returns it back if [`MAX_MACS`] are already present.
    pub fn push_mac(&mut self, mac: MacAddr) -> Result<(), MacAddr> {
        self.macs.push(mac)
    }

    /// Structural rules checked on encode and decode: no group MACs.
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.macs.iter().any(MacAddr::is_group) {
            return Err(Invalid::GroupMac);
        }
        Ok(())
    }
}

/// Why an end refused the peer's `Hello`. Encoded as a one-byte code (not an enum index) so
/// that a refusal always decodes, whatever minor the refuser speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "u8", into = "u8")]
pub enum RefusalReason {
    /// Different protocol major. Code 1.
    IncompatibleMajor,
    /// Both ends claim the same role. Code 2.
    RoleMismatch,
    /// The hellos name different wires. Code 3.
    WrongWire,
    /// The peer is not the endpoint this end was told to expect. Code 4.
    UnexpectedEndpoint,
    /// The peer's MTU is outside [`MIN_MTU`]..=[`MAX_MTU`]. Code 5.
    MtuOutOfRange,
    /// A Spike announced no MAC. Code 6.
    MissingMac,
    /// The agreement in the peer's `HelloAck` differs from the one computed here (a bug on
    /// one side). Code 7.
    AgreementMismatch,
    /// The peer announced a MAC the controller did not allow on this endpoint. Code 8.
    MacNotAllowed,
    /// A code this version does not know (including the reserved 0).
    Other(u8),
}

impl From<u8> for RefusalReason {
    fn from(code: u8) -> Self {
        match code {
            1 => RefusalReason::IncompatibleMajor,
            2 => RefusalReason::RoleMismatch,
            3 => RefusalReason::WrongWire,
            4 => RefusalReason::UnexpectedEndpoint,
            5 => RefusalReason::MtuOutOfRange,
            6 => RefusalReason::MissingMac,
            7 => RefusalReason::AgreementMismatch,
            8 => RefusalReason::MacNotAllowed,
            other => RefusalReason::Other(other),
        }
    }
}

impl From<RefusalReason> for u8 {
    fn from(reason: RefusalReason) -> u8 {
        match reason {
            RefusalReason::IncompatibleMajor => 1,
            RefusalReason::RoleMismatch => 2,
            RefusalReason::WrongWire => 3,
            RefusalReason::UnexpectedEndpoint => 4,
            RefusalReason::MtuOutOfRange => 5,
            RefusalReason::MissingMac => 6,
            RefusalReason::AgreementMismatch => 7,
            RefusalReason::MacNotAllowed => 8,
            RefusalReason::Other(code) => code,
        }
    }
}

/// What the two ends agreed. Postcard body: `version` (2 bytes), `features` (varint), `mtu`
/// (varint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Params {
    /// Same major as both; the smaller minor.
    pub version: Version,
    /// The intersection of both feature sets, restricted to the bits this crate knows.
    pub features: Features,
    /// The smaller MTU.
    pub mtu: u16,
}

impl Params {
    /// Apply the agreement rule to our hello and the peer's: refuse, or agree.
    ///
    /// Checks, in order: major, roles, wire, the peer's MTU range, the peer's MACs (a Spike
    /// must announce one). Endpoint expectations are the [`Negotiator`]'s business.
    ///
    /// [`Negotiator`]: crate::Negotiator
    pub fn agree(local: &Hello, peer: &Hello) -> Result<Params, RefusalReason> {
        let version = local
            .version
            .agree(peer.version)
            .ok_or(RefusalReason::IncompatibleMajor)?;
        // A wire joins any two endpoints: Spike–Corm, or two Spikes directly.
        // Two Corms would be two switches bridged by a wire: refused.
        if peer.role == Role::Corm && local.role == Role::Corm {
            return Err(RefusalReason::RoleMismatch);
        }
        if peer.wire != local.wire {
            return Err(RefusalReason::WrongWire);
        }
        if !(MIN_MTU..=MAX_MTU).contains(&peer.mtu) {
            return Err(RefusalReason::MtuOutOfRange);
        }
        if peer.role == Role::Spike && peer.macs.is_empty() {
            return Err(RefusalReason::MissingMac);
        }
        Ok(Params {
            version,
            features: local.features.intersection(peer.features).known(),
            mtu: local.mtu.min(peer.mtu),
        })
    }

    /// Check a (structurally valid) frame against the agreement: its metadata may only use
    /// agreed features, and a non-GSO frame may not exceed MTU + Ethernet header + one VLAN
    /// tag. A violation is per-frame (drop and count), not fatal.
    pub fn check_frame(&self, frame: &Frame<'_>) -> Result<(), FrameError> {
        self.check_meta(&frame.meta(), frame.payload.len())
    }

    /// [`check_frame`](Self::check_frame) for a frame of `len` bytes that is not in
    /// private memory (one moved in place).
    pub fn check_meta(&self, meta: &FrameMeta, len: usize) -> Result<(), FrameError> {
        let mut needed = Features::NONE;
        if meta.checksum != Checksum::None {
            needed = needed | Features::CSUM;
        }
        match meta.gso.map(|g| g.kind) {
            Some(GsoKind::TcpV4) => needed = needed | Features::GSO_TCPV4,
            Some(GsoKind::TcpV6) => needed = needed | Features::GSO_TCPV6,
            None => {}
        }
        let missing = Features(needed.0 & !self.features.0);
        if !missing.is_empty() {
            return Err(FrameError::FeatureNotNegotiated(missing));
        }
        if meta.gso.is_none() && len > usize::from(self.mtu).saturating_add(L2_OVERHEAD) {
            return Err(FrameError::ExceedsMtu { len, mtu: self.mtu });
        }
        Ok(())
    }
}

/// The answer to a `Hello`: the agreement the sender computed, or its refusal.
///
/// Postcard body: enum index (`Accept` = 0 followed by [`Params`], `Refuse` = 1 followed by
/// the one-byte [`RefusalReason`] code). `Refuse` is frozen across majors so that a peer of
/// another major can still read why it was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HelloAck {
    /// The sender accepts the peer's hello with these parameters.
    Accept(Params),
    /// The sender refuses; it will follow up with `Close { Refused }` and stop.
    Refuse(RefusalReason),
}
