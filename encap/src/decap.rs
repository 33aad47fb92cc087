//! A frame from the NIC to a verdict, every layer checked once, in order:
//!
//! 1. Ethernet to our MAC, at most one 802.1Q tag (stacked tags are dropped, as the
//!    switch does: `docs/hardening.md`).
//! 2. IPv4 (RFC 791): version, IHL, total length inside the frame (Ethernet
//!    padding after it ignored), no fragment (MF or offset ≠ 0: tunnel
//!    endpoints do not reassemble, RFC 8926 §4.1.1 and RFC 7348 §4.3 expect
//!    DF paths), header checksum, destination = our underlay address, a
//!    unicast source.
//! 3. UDP (RFC 768): destination port = the wire's, length = the IP
//!    payload, checksum verified when not zero (RFC 8926 §3.3).
//! 4. Geneve (RFC 8926 §3.4–3.5) or VXLAN (RFC 7348 §5), then our control
//!    ([`crate::control`]) or the inner frame.
//!
//! Frames that are simply not tunnel traffic (ARP, other IP, other ports,
//! other destinations) are [`Reason::is_foreign`]: the caller hands them to
//! its own stack or switch rather than counting them as attacks. The verdict
//! names the outer source; which wire (if any) may send from it is
//! [`crate::peer`]'s decision.

use core::net::{Ipv4Addr, SocketAddrV4};
use core::ops::Range;

use netframe::{eth, Mac};

use crate::control::{self, ControlError, GeneveOptions};
use crate::geneve::{self, GeneveError};
use crate::underlay::{Ipv4Error, Ipv4Packet, UdpError, UdpPacket, IPPROTO_UDP, UDP_HLEN};
use crate::vxlan::{self, VxlanError};
use crate::{Control, Encap, Vni};

/// Where this end listens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecapConfig {
    /// Our NIC's MAC. The Corm's NIC is promiscuous (it is a switch's
    /// uplink), so frames for other hosts reach us too; only those sent to
    /// this MAC can be tunnel traffic for us.
    pub local_mac: Mac,
    /// Our underlay address.
    pub local: Ipv4Addr,
    /// Geneve or VXLAN.
    pub encap: Encap,
    /// The UDP port we listen on (6081 / 4789 usually).
    pub port: u16,
}

/// What a received frame is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// An inner Ethernet frame at `frame[inner]` (at least 14 bytes).
    Data {
        /// The VNI it came with.
        vni: Vni,
        /// The inner frame's bytes in the received frame.
        inner: Range<usize>,
        /// The outer source address and port.
        src: SocketAddrV4,
    },
    /// A Banana control message.
    Control {
        /// The VNI it came with.
        vni: Vni,
        /// The message.
        msg: Control,
        /// The outer source address and port.
        src: SocketAddrV4,
    },
    /// Not delivered.
    Drop(Reason),
}

macro_rules! reasons {
    ($($(#[doc = $doc:literal])+ $name:ident => $key:literal,)+) => {
        /// Why a frame was not delivered. Each has its own counter in
        /// [`DecapCounters`].
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Reason {
            $($(#[doc = $doc])+ $name,)+
        }

        impl Reason {
            /// Every reason, in counter order.
            pub const ALL: &'static [Reason] = &[$(Reason::$name,)+];
            /// How many reasons there are.
            pub const COUNT: usize = Self::ALL.len();

            /// The counter's name (usable as a xenstore key).
            pub const fn name(self) -> &'static str {
                match self {
                    $(Reason::$name => $key,)+
                }
            }
        }
    };
}

reasons! {
    /// The frame ends inside the Ethernet header or its tag.
    Runt => "dropped_runt",
    /// An 802.1ad / Q-in-Q tag, or a tag behind the tag.
    StackedTag => "dropped_stacked_tag",
    /// Sent to another MAC than ours: foreign (the NIC is promiscuous).
    NotOurMac => "not_our_mac",
    /// Not IPv4 (ARP, IPv6, ...): foreign.
    NotIpv4 => "not_ipv4",
    /// The frame ends before the IPv4 header or its total length.
    Ipv4Truncated => "dropped_ipv4_truncated",
    /// IPv4 version, IHL or total length wrong.
    Ipv4BadHeader => "dropped_ipv4_bad_header",
    /// An IPv4 fragment (MF set or offset not 0).
    Ipv4Fragment => "dropped_ipv4_fragment",
    /// The IPv4 header checksum is wrong.
    Ipv4BadChecksum => "dropped_ipv4_bad_checksum",
    /// Not addressed to our underlay address: foreign.
    NotForUs => "not_for_us",
    /// A source that cannot send: ours, multicast, broadcast, 0, loopback.
    BadSource => "dropped_bad_source",
    /// Not UDP: foreign.
    NotUdp => "not_udp",
    /// The IP payload is shorter than a UDP header.
    UdpTruncated => "dropped_udp_truncated",
    /// The UDP length disagrees with the IP payload.
    UdpBadLength => "dropped_udp_bad_length",
    /// Another UDP destination port: foreign.
    WrongPort => "not_our_port",
    /// A non-zero UDP checksum that is wrong.
    UdpBadChecksum => "dropped_udp_bad_checksum",
    /// The UDP payload is shorter than the tunnel header (and options).
    TunnelTruncated => "dropped_tunnel_truncated",
    /// A Geneve version other than 0 (RFC 8926 §3.4).
    GeneveVersion => "dropped_geneve_version",
    /// A Geneve option runs past the option area (RFC 8926 §3.5).
    GeneveOptionOverrun => "dropped_geneve_option_overrun",
    /// A critical Geneve option we do not understand (RFC 8926 §3.5.1).
    GeneveCritical => "dropped_geneve_critical",
    /// A Geneve payload other than Ethernet (0x6558).
    GeneveProtocol => "dropped_geneve_protocol",
    /// A Geneve control packet (O bit) that is not ours (RFC 8926 §3.4: never
    /// forwarded to a tenant).
    OamNotOurs => "dropped_oam_not_ours",
    /// Our control, malformed or misplaced.
    BadControl => "dropped_bad_control",
    /// A VXLAN header without the I flag (RFC 7348 §5).
    VxlanNoVni => "dropped_vxlan_no_vni",
    /// The inner frame is shorter than an Ethernet header.
    InnerRunt => "dropped_inner_runt",
}

impl Reason {
    /// Not tunnel traffic at all (as opposed to broken or hostile tunnel
    /// traffic): the caller may hand the frame to its own stack or switch.
    pub const fn is_foreign(self) -> bool {
        matches!(
            self,
            Reason::NotOurMac
                | Reason::NotIpv4
                | Reason::NotForUs
                | Reason::NotUdp
                | Reason::WrongPort
        )
    }
}

/// One counter per [`Reason`], and the delivered verdicts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecapCounters {
    drops: [u64; Reason::COUNT],
    /// Data verdicts.
    pub data: u64,
    /// Control verdicts.
    pub control: u64,
}

impl Default for DecapCounters {
    fn default() -> Self {
        Self::new()
    }
}

impl DecapCounters {
    /// All zero.
    pub const fn new() -> Self {
        Self {
            drops: [0; Reason::COUNT],
            data: 0,
            control: 0,
        }
    }

    /// Counts a verdict.
    pub fn count(&mut self, verdict: &Verdict) {
        match verdict {
            Verdict::Data { .. } => self.data += 1,
            Verdict::Control { .. } => self.control += 1,
            Verdict::Drop(r) => self.drops[*r as usize] += 1,
        }
    }

    /// One reason's counter.
    pub fn get(&self, reason: Reason) -> u64 {
        self.drops[reason as usize]
    }

    /// `(name, value)` pairs: delivered, then each reason.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        [("rx_data", self.data), ("rx_control", self.control)]
            .into_iter()
            .chain(Reason::ALL.iter().map(|&r| (r.name(), self.get(r))))
    }
}

/// Decapsulates `frame` (counting the verdict) with `cfg`.
pub fn decapsulate_counted(
    cfg: &DecapConfig,
    frame: &[u8],
    counters: &mut DecapCounters,
) -> Verdict {
    let v = decapsulate(cfg, frame);
    counters.count(&v);
    v
}

/// Decapsulates `frame`, a received Ethernet frame without FCS.
pub fn decapsulate(cfg: &DecapConfig, frame: &[u8]) -> Verdict {
    match decap(cfg, frame) {
        Ok(v) => v,
        Err(r) => Verdict::Drop(r),
    }
}

fn decap(cfg: &DecapConfig, frame: &[u8]) -> Result<Verdict, Reason> {
    // 1. Ethernet.
    let outer = eth::EthHeader::parse(frame).ok_or(Reason::Runt)?;
    if outer.dst != cfg.local_mac {
        return Err(Reason::NotOurMac);
    }
    let outer_type = outer.ethertype;
    if matches!(outer_type, eth::TPID_8021AD | eth::TPID_QINQ_LEGACY) {
        return Err(Reason::StackedTag);
    }
    let (ethertype, l3) = eth::l3(frame).ok_or(Reason::Runt)?;
    if eth::is_tag(ethertype) {
        return Err(Reason::StackedTag);
    }
    if ethertype != eth::ETHERTYPE_IPV4 {
        return Err(Reason::NotIpv4);
    }

    // 2. IPv4.
    let ip = Ipv4Packet::new_checked(&frame[l3..]).map_err(|e| match e {
        Ipv4Error::Truncated => Reason::Ipv4Truncated,
        Ipv4Error::Version(_) | Ipv4Error::Ihl(_) | Ipv4Error::Length => Reason::Ipv4BadHeader,
    })?;
    if !ip.verify_checksum() {
        return Err(Reason::Ipv4BadChecksum);
    }
    if ip.dst() != cfg.local {
        return Err(Reason::NotForUs);
    }
    if ip.protocol() != IPPROTO_UDP {
        return Err(Reason::NotUdp);
    }
    if ip.is_fragment() {
        return Err(Reason::Ipv4Fragment);
    }
    let src = ip.src();
    if src == cfg.local
        || src.is_unspecified()
        || src.is_broadcast()
        || src.is_multicast()
        || src.is_loopback()
    {
        return Err(Reason::BadSource);
    }

    // 3. UDP.
    let udp = UdpPacket::new_checked(ip.payload()).map_err(|e| match e {
        UdpError::Truncated => Reason::UdpTruncated,
        UdpError::Length(_) => Reason::UdpBadLength,
    })?;
    if udp.dst_port() != cfg.port {
        return Err(Reason::WrongPort);
    }
    if !udp.verify_checksum(src, cfg.local) {
        return Err(Reason::UdpBadChecksum);
    }
    let src = SocketAddrV4::new(src, udp.src_port());
    let tun_at = l3 + ip.header_len() + UDP_HLEN;
    let end = l3 + usize::from(ip.total_len());

    // 4. The tunnel header.
    match cfg.encap {
        Encap::Geneve => geneve_verdict(udp.payload(), tun_at, end, src),
        Encap::Vxlan => vxlan_verdict(udp.payload(), tun_at, end, src),
    }
}

fn geneve_verdict(b: &[u8], at: usize, end: usize, src: SocketAddrV4) -> Result<Verdict, Reason> {
    let p = geneve::Packet::new_checked(b).map_err(|e| match e {
        GeneveError::Version(_) => Reason::GeneveVersion,
        _ => Reason::TunnelTruncated,
    })?;
    let vni = p.vni();
    let opts = control::scan_geneve_options(p.options()).map_err(|e| match e {
        ControlError::Geneve(_) => Reason::GeneveOptionOverrun,
        _ => Reason::BadControl,
    })?;
    let ours = match opts {
        GeneveOptions::UnknownCritical => return Err(Reason::GeneveCritical),
        GeneveOptions::Control(c) => Some(c),
        GeneveOptions::Plain => None,
    };
    match (p.oam(), ours) {
        (true, None) => Err(Reason::OamNotOurs),
        (true, Some(msg)) => {
            // Exactly what we send: C set, Ethernet type, nothing behind.
            if !p.critical() || p.protocol() != geneve::PROTO_TEB || !p.payload().is_empty() {
                return Err(Reason::BadControl);
            }
            Ok(Verdict::Control { vni, msg, src })
        }
        (false, Some(_)) => Err(Reason::BadControl),
        (false, None) => {
            if p.protocol() != geneve::PROTO_TEB {
                return Err(Reason::GeneveProtocol);
            }
            if p.payload().len() < netframe::ETH_HLEN {
                return Err(Reason::InnerRunt);
            }
            Ok(Verdict::Data {
                vni,
                inner: at + p.header_len()..end,
                src,
            })
        }
    }
}

fn vxlan_verdict(b: &[u8], at: usize, end: usize, src: SocketAddrV4) -> Result<Verdict, Reason> {
    let p = vxlan::Packet::new_checked(b).map_err(|e| match e {
        VxlanError::Truncated => Reason::TunnelTruncated,
        VxlanError::NoVni => Reason::VxlanNoVni,
    })?;
    let vni = p.vni();
    let inner = p.payload();
    if inner.len() < netframe::ETH_HLEN {
        return Err(Reason::InnerRunt);
    }
    if control::is_vxlan_control(inner) {
        let msg = control::parse_vxlan_frame(inner).map_err(|_| Reason::BadControl)?;
        return Ok(Verdict::Control { vni, msg, src });
    }
    Ok(Verdict::Data {
        vni,
        inner: at + vxlan::HEADER_LEN..end,
        src,
    })
}
