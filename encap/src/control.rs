//! Banana's in-band control on an encap wire: `Hello`, `Keepalive` and
//! `Close`, each carrying the sender's wire epoch and a control sequence
//! number. It proves the peer alive, tells a peer restart (a new epoch)
//! from a reordered leftover of the old one, and samples the path's loss.
//!
//! One 12-byte body, two carriers:
//!
//! ```text
//!  0         1      2          4                8                12
//!  +---------+------+----------+----------------+----------------+
//!  | version | kind | reserved | epoch u32 BE   | seq u32 BE     |
//!  |    1    |1/2/3 |   0      |                |                |
//!  +---------+------+----------+----------------+----------------+
//! ```
//!
//! * **Geneve**: a control packet (O bit set, RFC 8926 §3.4) with C set,
//!   protocol 0x6558, no payload, and exactly one option of class
//!   [`OPTION_CLASS`] 0xFFF0 (the Experimental Use range 0xFFF0–0xFFFF,
//!   RFC 8926 §7.2, which needs no IANA assignment and is never given to a
//!   vendor), type [`OPTION_TYPE`] 0x81 (critical bit set), length 3 words,
//!   the body as data. A standard VTEP that does not know the class must drop
//!   the packet for the critical bit (§3.5.1), and it would not forward an O
//!   packet to a tenant anyway (§3.4); there is no payload to deliver either.
//!   Tenants cannot forge it: options are outside the inner frame.
//! * **VXLAN** (no options): the inner frame is a 60-byte Ethernet frame
//!   to [`VXLAN_CONTROL_DST`] 01:80:c2:00:00:0f (an IEEE 802.1Q reserved
//!   group address, which bridges never forward) from
//!   [`VXLAN_CONTROL_SRC`], EtherType [`ETHERTYPE_LOCAL_EXP`] 0x88B5 (IEEE
//!   802 Local Experimental EtherType 1), then `BA 4E` and the body, zero
//!   padded. A Linux vxlan device hands it to its bridge, which consumes
//!   link-local group frames instead of flooding them, and no host stack
//!   has a handler for 0x88B5: harmless. Unlike Geneve's option, a tenant
//!   behind a standard VTEP could forge this frame (`docs/encap.md`), so
//!   our own encapsulation refuses to carry such frames from a guest.
//!
//! Validation is strict (we are the only sender): a body of another length,
//! another version, an unknown kind or non-zero reserved bytes is refused.

use crate::geneve::{self, GeneveError, Options};
use crate::Vni;

/// The Geneve option class: the first of the Experimental Use range
/// (RFC 8926 §7.2).
pub const OPTION_CLASS: u16 = 0xFFF0;
/// The option type: 1, with the critical bit (RFC 8926 §3.5).
pub const OPTION_TYPE: u8 = geneve::OPTION_CRITICAL | 0x01;
/// The body's length (3 option words).
pub const BODY_LEN: usize = 12;
/// The body's version.
pub const CONTROL_VERSION: u8 = 1;
/// The option area of a Geneve control packet: option header + body.
pub const GENEVE_OPTIONS_LEN: usize = geneve::OPTION_HEADER_LEN + BODY_LEN;
/// IEEE 802 Local Experimental EtherType 1 (IEEE Std 802 §9.2.2).
pub const ETHERTYPE_LOCAL_EXP: u16 = 0x88B5;
/// The inner destination of a VXLAN control frame: an IEEE 802.1Q reserved
/// address (01-80-C2-00-00-0F), filtered by every 802.1Q bridge.
pub const VXLAN_CONTROL_DST: [u8; 6] = [0x01, 0x80, 0xC2, 0x00, 0x00, 0x0F];
/// The inner source of a VXLAN control frame: locally administered unicast,
/// "BA 4E" as in wire-proto's datagram magic.
pub const VXLAN_CONTROL_SRC: [u8; 6] = [0x02, 0xBA, 0x4E, 0x00, 0x00, 0x00];
/// The magic after the EtherType of a VXLAN control frame.
pub const VXLAN_MAGIC: [u8; 2] = [0xBA, 0x4E];
/// A VXLAN control frame's length: the Ethernet minimum without FCS.
pub const VXLAN_FRAME_LEN: usize = 60;
const VXLAN_BODY_AT: usize = netframe::ETH_HLEN + 2;

/// What a control message says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ControlKind {
    /// Sent every second while the wire is down, and in answer to a peer's
    /// new epoch.
    Hello = 1,
    /// Sent every second while the wire is up (also under load: the
    /// sequence numbers sample the path's loss, `peer`).
    Keepalive = 2,
    /// The sender is going away (domain shutdown, wire disconnected).
    Close = 3,
}

impl ControlKind {
    fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(Self::Hello),
            2 => Some(Self::Keepalive),
            3 => Some(Self::Close),
            _ => None,
        }
    }
}

/// One control message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Control {
    /// The message.
    pub kind: ControlKind,
    /// The sender's wire epoch: a new value each time the sender (re)starts
    /// the wire (the controller hands it out, `docs/encap.md`).
    pub epoch: u32,
    /// The sender's control sequence number, +1 per control message in an
    /// epoch, wrapping.
    pub seq: u32,
}

/// Why a control body or carrier was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// The body is not 12 bytes (or the VXLAN frame is too short for one).
    #[error("control body of {0} bytes")]
    Length(usize),
    /// Another body version.
    #[error("control version {0}")]
    Version(u8),
    /// An unknown kind.
    #[error("control kind {0}")]
    Kind(u8),
    /// Non-zero reserved bytes.
    #[error("control reserved bytes set")]
    Reserved,
    /// The VXLAN control frame's magic is wrong.
    #[error("control magic")]
    Magic,
    /// A Geneve packet with our option more than once, with our option but
    /// without the O bit, or with a payload.
    #[error("malformed control packet")]
    Carrier,
    /// A Geneve option area that overruns.
    #[error("{0}")]
    Geneve(#[from] GeneveError),
}

impl Control {
    /// The 12-byte body.
    pub fn encode(&self) -> [u8; BODY_LEN] {
        let mut b = [0u8; BODY_LEN];
        b[0] = CONTROL_VERSION;
        b[1] = self.kind as u8;
        b[4..8].copy_from_slice(&self.epoch.to_be_bytes());
        b[8..12].copy_from_slice(&self.seq.to_be_bytes());
        b
    }

    /// Parses a body, strictly.
    pub fn decode(b: &[u8]) -> Result<Self, ControlError> {
        let b: &[u8; BODY_LEN] = b.try_into().map_err(|_| ControlError::Length(b.len()))?;
        if b[0] != CONTROL_VERSION {
            return Err(ControlError::Version(b[0]));
        }
        let kind = ControlKind::from_u8(b[1]).ok_or(ControlError::Kind(b[1]))?;
        if b[2] != 0 || b[3] != 0 {
            return Err(ControlError::Reserved);
        }
        Ok(Self {
            kind,
            epoch: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            seq: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
        })
    }

    /// Writes a whole Geneve control packet (header + option, no payload)
    /// at the start of `buf`; returns its length (24).
    pub fn emit_geneve(&self, buf: &mut [u8], vni: Vni) -> Option<usize> {
        let repr = geneve::Repr {
            oam: true,
            critical: true,
            protocol: geneve::PROTO_TEB,
            vni,
            options_len: GENEVE_OPTIONS_LEN,
        };
        repr.emit(buf)?;
        let at = geneve::HEADER_LEN;
        geneve::emit_option(
            buf.get_mut(at..)?,
            OPTION_CLASS,
            OPTION_TYPE,
            &self.encode(),
        )?;
        Some(repr.header_len())
    }

    /// Writes a VXLAN control frame (the inner Ethernet frame) at the start
    /// of `buf`; returns its length (60).
    pub fn emit_vxlan_frame(&self, buf: &mut [u8]) -> Option<usize> {
        let f = buf.get_mut(..VXLAN_FRAME_LEN)?;
        f.fill(0);
        f[0..6].copy_from_slice(&VXLAN_CONTROL_DST);
        f[6..12].copy_from_slice(&VXLAN_CONTROL_SRC);
        f[12..14].copy_from_slice(&ETHERTYPE_LOCAL_EXP.to_be_bytes());
        f[14..16].copy_from_slice(&VXLAN_MAGIC);
        f[VXLAN_BODY_AT..VXLAN_BODY_AT + BODY_LEN].copy_from_slice(&self.encode());
        Some(VXLAN_FRAME_LEN)
    }
}

/// What a Geneve option area holds, for the decap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GeneveOptions {
    /// Nothing we act on (non-critical options of others are ignored,
    /// RFC 8926 §3.5.1: "MAY be ignored").
    Plain,
    /// Exactly one Banana control option.
    Control(Control),
    /// A critical option we do not understand: drop (RFC 8926 §3.5.1).
    UnknownCritical,
}

/// Walks a Geneve option area once: bounds (every option), our control
/// option (at most one, body valid), critical options of others.
pub fn scan_geneve_options(options: Options<'_>) -> Result<GeneveOptions, ControlError> {
    let mut found = None;
    let mut unknown_critical = false;
    for opt in options {
        let opt = opt?;
        if opt.class == OPTION_CLASS && opt.kind == OPTION_TYPE {
            if found.is_some() {
                return Err(ControlError::Carrier);
            }
            found = Some(Control::decode(opt.data)?);
        } else if opt.is_critical() {
            unknown_critical = true;
        }
    }
    Ok(match (unknown_critical, found) {
        (true, _) => GeneveOptions::UnknownCritical,
        (false, Some(c)) => GeneveOptions::Control(c),
        (false, None) => GeneveOptions::Plain,
    })
}

/// Whether an inner frame is addressed like a VXLAN control frame (our
/// destination and EtherType); such a frame is control, never data, on a
/// VXLAN wire.
pub fn is_vxlan_control(inner: &[u8]) -> bool {
    inner.get(..6) == Some(&VXLAN_CONTROL_DST[..])
        && inner.get(12..14) == Some(&ETHERTYPE_LOCAL_EXP.to_be_bytes()[..])
}

/// Parses a VXLAN control frame (one [`is_vxlan_control`] accepted):
/// magic, then the body; padding after it is ignored (Ethernet pads).
pub fn parse_vxlan_frame(inner: &[u8]) -> Result<Control, ControlError> {
    if inner.len() < VXLAN_BODY_AT + BODY_LEN {
        return Err(ControlError::Length(inner.len()));
    }
    if inner[14..16] != VXLAN_MAGIC {
        return Err(ControlError::Magic);
    }
    Control::decode(&inner[VXLAN_BODY_AT..VXLAN_BODY_AT + BODY_LEN])
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELLO: Control = Control {
        kind: ControlKind::Hello,
        epoch: 0x0102_0304,
        seq: 0x0A0B_0C0D,
    };

    #[test]
    fn body_round_trip_and_strictness() {
        let b = HELLO.encode();
        assert_eq!(b, [1, 1, 0, 0, 1, 2, 3, 4, 0x0A, 0x0B, 0x0C, 0x0D]);
        assert_eq!(Control::decode(&b), Ok(HELLO));
        for kind in [ControlKind::Keepalive, ControlKind::Close] {
            let c = Control { kind, ..HELLO };
            assert_eq!(Control::decode(&c.encode()), Ok(c));
        }
        assert_eq!(Control::decode(&b[..11]), Err(ControlError::Length(11)));
        assert_eq!(Control::decode(&[0; 16]), Err(ControlError::Length(16)));
        let mut v = b;
        v[0] = 2;
        assert_eq!(Control::decode(&v), Err(ControlError::Version(2)));
        let mut k = b;
        k[1] = 4;
        assert_eq!(Control::decode(&k), Err(ControlError::Kind(4)));
        k[1] = 0;
        assert_eq!(Control::decode(&k), Err(ControlError::Kind(0)));
        let mut r = b;
        r[3] = 1;
        assert_eq!(Control::decode(&r), Err(ControlError::Reserved));
    }

    #[test]
    fn geneve_carrier() {
        let mut buf = [0u8; 32];
        let vni = Vni::new(0x42).unwrap();
        assert_eq!(HELLO.emit_geneve(&mut buf, vni), Some(24));
        // Hand-written: Opt Len 4, O+C, TEB, VNI 0x42; class FFF0 type 81 len 3.
        assert_eq!(
            &buf[..24],
            &[
                0x04, 0xC0, 0x65, 0x58, 0x00, 0x00, 0x42, 0x00, 0xFF, 0xF0, 0x81, 0x03, 1, 1, 0, 0,
                1, 2, 3, 4, 0x0A, 0x0B, 0x0C, 0x0D
            ]
        );
        let p = geneve::Packet::new_checked(&buf[..24]).unwrap();
        assert_eq!(
            scan_geneve_options(p.options()),
            Ok(GeneveOptions::Control(HELLO))
        );
        assert_eq!(HELLO.emit_geneve(&mut buf[..23], vni), None);
    }

    #[test]
    fn option_scan_rules() {
        let mut area = [0u8; 64];
        let body = HELLO.encode();
        // Two of ours: refused.
        let n = geneve::emit_option(&mut area, OPTION_CLASS, OPTION_TYPE, &body).unwrap();
        let m = geneve::emit_option(&mut area[n..], OPTION_CLASS, OPTION_TYPE, &body).unwrap();
        assert_eq!(
            scan_geneve_options(Options::new(&area[..n + m])),
            Err(ControlError::Carrier)
        );
        // Ours beside someone's non-critical option: fine.
        let m = geneve::emit_option(&mut area[n..], 0x0102, 0x01, &[0; 4]).unwrap();
        assert_eq!(
            scan_geneve_options(Options::new(&area[..n + m])),
            Ok(GeneveOptions::Control(HELLO))
        );
        // Someone's critical option: drop, whatever else is there.
        let m = geneve::emit_option(&mut area[n..], 0x0102, 0x81, &[0; 4]).unwrap();
        assert_eq!(
            scan_geneve_options(Options::new(&area[..n + m])),
            Ok(GeneveOptions::UnknownCritical)
        );
        // Our class, another type, not critical: ignored.
        let m = geneve::emit_option(&mut area, OPTION_CLASS, 0x02, &[0; 8]).unwrap();
        assert_eq!(
            scan_geneve_options(Options::new(&area[..m])),
            Ok(GeneveOptions::Plain)
        );
        // Our option with a short body.
        let m = geneve::emit_option(&mut area, OPTION_CLASS, OPTION_TYPE, &[1, 1, 0, 0]).unwrap();
        assert_eq!(
            scan_geneve_options(Options::new(&area[..m])),
            Err(ControlError::Length(4))
        );
        // An overrun.
        assert_eq!(
            scan_geneve_options(Options::new(&[0xFF, 0xF0, 0x81, 0x03])),
            Err(ControlError::Geneve(GeneveError::OptionOverrun))
        );
        assert_eq!(
            scan_geneve_options(Options::new(&[])),
            Ok(GeneveOptions::Plain)
        );
    }

    #[test]
    fn vxlan_carrier() {
        let mut f = [0xEEu8; 64];
        assert_eq!(HELLO.emit_vxlan_frame(&mut f), Some(60));
        assert!(is_vxlan_control(&f[..60]));
        assert_eq!(
            &f[..16],
            &[1, 0x80, 0xC2, 0, 0, 0x0F, 2, 0xBA, 0x4E, 0, 0, 0, 0x88, 0xB5, 0xBA, 0x4E]
        );
        assert!(f[28..60].iter().all(|&b| b == 0));
        assert_eq!(parse_vxlan_frame(&f[..60]), Ok(HELLO));
        assert_eq!(parse_vxlan_frame(&f[..28]), Ok(HELLO), "no padding needed");
        assert_eq!(parse_vxlan_frame(&f[..27]), Err(ControlError::Length(27)));
        let mut bad = f;
        bad[15] = 0;
        assert_eq!(parse_vxlan_frame(&bad[..60]), Err(ControlError::Magic));
        let mut other = f;
        other[5] = 0x0E;
        assert!(!is_vxlan_control(&other[..60]));
        other = f;
        other[13] = 0xB6;
        assert!(!is_vxlan_control(&other[..60]));
        assert!(!is_vxlan_control(&f[..13]));
        assert_eq!(HELLO.emit_vxlan_frame(&mut f[..59]), None);
    }
}
