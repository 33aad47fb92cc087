//! The outer headers of one wire, built once and stamped in front of every
//! frame, as OVS and VPP build theirs:
//!
//! ```text
//! | Ethernet 14 (+ 802.1Q 4) | IPv4 20 | UDP 8 | Geneve 8 / VXLAN 8 | inner frame ...
//!   dst = next hop's MAC       DF, TTL 64, ident 0, checksum per packet
//!                                       src port = flow hash in 49152–65535
//!                                       dst port = 6081 / 4789, checksum 0
//! ```
//!
//! Per packet only four fields change: the IPv4 total length and header
//! checksum (finished from a sum precomputed without the length), the UDP
//! source port and length. RFC 8926 §3.3 and RFC 7348 §5: the UDP source
//! port should be a hash of the inner flow, in the ephemeral range
//! 49152–65535, so that ECMP and RSS spread flows while each flow stays in
//! order; the UDP checksum may be (Geneve) or should be (VXLAN) zero over
//! IPv4. DF is set and nothing is fragmented (RFC 8926 §4.1.1): an inner
//! frame that does not fit is [`EncapError::TooBig`], and the caller answers
//! the guest with ICMP Fragmentation Needed / Packet Too Big (later step).

use core::net::Ipv4Addr;

use net_offload::checksum::{fold, sum};
use netframe::{eth, Mac, ETH_HLEN, VLAN_HLEN};

use crate::control::{self, Control};
use crate::underlay::{emit_ipv4, emit_udp, IPPROTO_UDP, IPV4_HLEN, UDP_HLEN};
use crate::{geneve, vxlan, Encap, Vni, IP_OVERHEAD};

/// The longest outer header a template builds: tagged Ethernet, IPv4, UDP,
/// a tunnel header without options.
pub const MAX_HEADER_LEN: usize = ETH_HLEN + VLAN_HLEN + IPV4_HLEN + UDP_HLEN + 8;
/// The TTL of outer packets (Linux's and OVS's default).
pub const TTL: u8 = 64;
/// The first port of the ephemeral range (RFC 6335 §6) the source port is
/// chosen in.
pub const SRC_PORT_MIN: u16 = 49152;
/// The smallest underlay MTU accepted: IPv4's 576-byte minimum datagram
/// size every host accepts (RFC 791), which still leaves 526 inner bytes.
pub const MIN_UNDERLAY_MTU: u16 = 576;

/// What a wire's outer headers are built from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TemplateConfig {
    /// Geneve or VXLAN.
    pub encap: Encap,
    /// The wire's VNI.
    pub vni: Vni,
    /// Our NIC's MAC.
    pub src_mac: Mac,
    /// The next hop's MAC (the remote VTEP or the gateway), from the
    /// next-hop table; [`Template::set_next_hop`] changes it.
    pub dst_mac: Mac,
    /// An 802.1Q tag on the underlay, if the uplink is tagged.
    pub vlan: Option<u16>,
    /// Our underlay address.
    pub local: Ipv4Addr,
    /// The remote VTEP's underlay address.
    pub remote: Ipv4Addr,
    /// The UDP destination port (6081, 4789, or what the peer listens on).
    pub dst_port: u16,
    /// The underlay's MTU (largest IPv4 packet), 1500 usually.
    pub underlay_mtu: u16,
}

/// Why a template could not be built or a frame not encapsulated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncapError {
    /// The inner frame does not fit the underlay MTU; `mtu` is the inner
    /// MTU (L3 bytes) the guest must use, for its ICMP Fragmentation
    /// Needed / Packet Too Big.
    #[error("inner frame too big for the wire: inner MTU {mtu}")]
    TooBig {
        /// The inner MTU.
        mtu: u16,
    },
    /// The output buffer is shorter than headers + frame.
    #[error("output buffer too short: {need} bytes needed")]
    NoRoom {
        /// Bytes needed.
        need: usize,
    },
    /// The inner frame is shorter than an Ethernet header.
    #[error("inner frame shorter than an Ethernet header")]
    Runt,
    /// On a VXLAN wire, a guest frame addressed like Banana control
    /// (`control::is_vxlan_control`): refused, so no guest can forge control
    /// for the peer.
    #[error("inner frame looks like wire control")]
    LooksLikeControl,
    /// A configuration that cannot be right: VID 0 or above 4094, an MTU
    /// below 576, an address that is not unicast.
    #[error("bad template configuration")]
    Config,
}

/// A wire's precomputed outer headers.
#[derive(Clone, Debug)]
pub struct Template {
    encap: Encap,
    vni: Vni,
    hdr: [u8; MAX_HEADER_LEN],
    len: usize,
    ip_at: usize,
    /// The IPv4 header's sum with total length and checksum zero.
    ip_sum: u64,
    underlay_mtu: u16,
    seed: u32,
}

fn unicast(a: Ipv4Addr) -> bool {
    !(a.is_unspecified() || a.is_broadcast() || a.is_multicast() || a.is_loopback())
}

impl Template {
    /// Builds the headers of `cfg`.
    pub fn new(cfg: &TemplateConfig) -> Result<Self, EncapError> {
        if cfg.underlay_mtu < MIN_UNDERLAY_MTU
            || cfg.vlan.is_some_and(|v| v == 0 || v > 4094)
            || !unicast(cfg.local)
            || !unicast(cfg.remote)
            || !eth::is_valid_source(&cfg.src_mac)
        {
            return Err(EncapError::Config);
        }
        let mut hdr = [0u8; MAX_HEADER_LEN];
        hdr[0..6].copy_from_slice(&cfg.dst_mac);
        hdr[6..12].copy_from_slice(&cfg.src_mac);
        let mut at = 12;
        if let Some(vid) = cfg.vlan {
            hdr[12..14].copy_from_slice(&eth::TPID_8021Q.to_be_bytes());
            hdr[14..16].copy_from_slice(&vid.to_be_bytes());
            at += VLAN_HLEN;
        }
        hdr[at..at + 2].copy_from_slice(&eth::ETHERTYPE_IPV4.to_be_bytes());
        let ip_at = at + 2;
        let udp_at = ip_at + IPV4_HLEN;
        let tun_at = udp_at + UDP_HLEN;
        emit_ipv4(
            &mut hdr[ip_at..],
            cfg.local,
            cfg.remote,
            0,
            TTL,
            IPPROTO_UDP,
        )
        .ok_or(EncapError::Config)?;
        hdr[ip_at + 10..ip_at + 12].copy_from_slice(&[0, 0]);
        let ip_sum = sum(&hdr[ip_at..udp_at], 0);
        emit_udp(&mut hdr[udp_at..], 0, cfg.dst_port, 0).ok_or(EncapError::Config)?;
        match cfg.encap {
            Encap::Geneve => geneve::Repr::data(cfg.vni).emit(&mut hdr[tun_at..]),
            Encap::Vxlan => vxlan::emit(&mut hdr[tun_at..], cfg.vni),
        }
        .ok_or(EncapError::Config)?;
        let seed = u32::from_be_bytes(cfg.local.octets()) ^ cfg.vni.get().rotate_left(8);
        Ok(Self {
            encap: cfg.encap,
            vni: cfg.vni,
            hdr,
            len: tun_at + 8,
            ip_at,
            ip_sum,
            underlay_mtu: cfg.underlay_mtu,
            seed,
        })
    }

    /// Points the headers at a new next-hop MAC (after an ARP refresh).
    pub fn set_next_hop(&mut self, mac: Mac) {
        self.hdr[0..6].copy_from_slice(&mac);
    }

    /// The outer headers' length in front of a data frame.
    pub fn header_len(&self) -> usize {
        self.len
    }

    /// The precomputed data headers (ports, lengths and checksum not yet
    /// filled in).
    pub fn header(&self) -> &[u8] {
        &self.hdr[..self.len]
    }

    /// The inner MTU: underlay MTU - 50 (1450 on a 1500 underlay).
    pub fn inner_mtu(&self) -> u16 {
        crate::inner_mtu(self.underlay_mtu)
    }

    /// The longest inner frame, Ethernet header (and any inner tag)
    /// included: underlay MTU - 36.
    pub fn max_inner_len(&self) -> usize {
        usize::from(self.underlay_mtu) - IP_OVERHEAD
    }

    /// Copies `inner` behind fresh headers into `out`; returns the outer
    /// frame's length.
    pub fn encapsulate(&self, inner: &[u8], out: &mut [u8]) -> Result<usize, EncapError> {
        self.check_inner(inner, inner.len())?;
        let need = self.len + inner.len();
        let dst = out.get_mut(..need).ok_or(EncapError::NoRoom { need })?;
        dst[self.len..].copy_from_slice(inner);
        Ok(self.stamp(dst, flow_hash(inner, self.seed)))
    }

    /// Writes the headers in front of an inner frame already placed at
    /// `buf[header_len()..header_len() + inner_len]` (where a grant copy or
    /// a ring put it); returns the outer frame's length.
    pub fn encapsulate_in_place(
        &self,
        buf: &mut [u8],
        inner_len: usize,
    ) -> Result<usize, EncapError> {
        let need = self.len + inner_len;
        let frame = buf.get_mut(..need).ok_or(EncapError::NoRoom { need })?;
        self.check_inner(&frame[self.len..], inner_len)?;
        let hash = flow_hash(&frame[self.len..], self.seed);
        Ok(self.stamp(frame, hash))
    }

    /// Writes the outer headers for an inner frame of `inner_len` bytes
    /// whose first bytes are `inner_head` (its headers: enough for the flow
    /// hash, [`flow_hash`]) into `out`; returns the headers' length. For a
    /// frame that is gathered from pieces rather than laid out behind room
    /// for the headers (the Corm sends headers, inner head and the rest of
    /// the inner frame as separate pieces to the NIC).
    pub fn header_for(
        &self,
        inner_head: &[u8],
        inner_len: usize,
        out: &mut [u8; MAX_HEADER_LEN],
    ) -> Result<usize, EncapError> {
        self.check_inner(inner_head, inner_len)?;
        let hash = flow_hash(inner_head, self.seed);
        out[..self.len].copy_from_slice(self.header());
        self.fill(
            &mut out[..self.len],
            self.len + inner_len,
            SRC_PORT_MIN | (hash as u16 & 0x3FFF),
        );
        Ok(self.len)
    }

    /// Writes a control message for the peer into `out` (Geneve: an O packet
    /// with the control option; VXLAN: the control frame); returns its length.
    pub fn control(&self, msg: &Control, out: &mut [u8]) -> Result<usize, EncapError> {
        let tun_at = self.len - 8;
        let need = match self.encap {
            Encap::Geneve => tun_at + geneve::HEADER_LEN + control::GENEVE_OPTIONS_LEN,
            Encap::Vxlan => self.len + control::VXLAN_FRAME_LEN,
        };
        let frame = out.get_mut(..need).ok_or(EncapError::NoRoom { need })?;
        frame[..self.len].copy_from_slice(self.header());
        let written = match self.encap {
            Encap::Geneve => msg.emit_geneve(&mut frame[tun_at..], self.vni),
            Encap::Vxlan => msg.emit_vxlan_frame(&mut frame[self.len..]),
        };
        written.ok_or(EncapError::NoRoom { need })?;
        // A fixed source port for control: any port of the range is valid,
        // and the peer does not look at it.
        Ok(self.finish(frame, SRC_PORT_MIN ^ (msg.epoch as u16 & 0x3FFF)))
    }

    /// Checks an inner frame of `len` bytes whose first bytes are `inner`.
    fn check_inner(&self, inner: &[u8], len: usize) -> Result<(), EncapError> {
        if len < ETH_HLEN || inner.len() < ETH_HLEN {
            return Err(EncapError::Runt);
        }
        if len > self.max_inner_len() {
            return Err(EncapError::TooBig {
                mtu: self.inner_mtu(),
            });
        }
        if self.encap == Encap::Vxlan && control::is_vxlan_control(inner) {
            return Err(EncapError::LooksLikeControl);
        }
        Ok(())
    }

    fn stamp(&self, frame: &mut [u8], hash: u32) -> usize {
        frame[..self.len].copy_from_slice(self.header());
        self.finish(frame, SRC_PORT_MIN | (hash as u16 & 0x3FFF))
    }

    /// Fills lengths, checksum and source port into a frame whose headers
    /// are in place; `frame` is exactly the outer frame.
    fn finish(&self, frame: &mut [u8], src_port: u16) -> usize {
        let len = frame.len();
        self.fill(frame, len, src_port);
        len
    }

    /// Fills lengths, checksum and source port into headers `hdr` (the
    /// template's, at least up to the UDP header) of an outer frame of
    /// `frame_len` bytes.
    fn fill(&self, hdr: &mut [u8], frame_len: usize, src_port: u16) {
        let ip_len = (frame_len - self.ip_at) as u16;
        let udp_at = self.ip_at + IPV4_HLEN;
        let ip = &mut hdr[self.ip_at..udp_at];
        ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
        let c = !fold(self.ip_sum + u64::from(ip_len));
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        let udp = &mut hdr[udp_at..udp_at + UDP_HLEN];
        udp[0..2].copy_from_slice(&src_port.to_be_bytes());
        udp[4..6].copy_from_slice(&(ip_len - IPV4_HLEN as u16).to_be_bytes());
    }
}

/// A hash of the inner frame's flow: MACs and EtherType, and for IPv4/IPv6
/// the addresses and protocol, plus TCP/UDP/SCTP ports of unfragmented
/// packets. Any packet of one flow hashes alike, so a flow keeps one UDP
/// source port and one ECMP path (FNV-1a, seeded per wire).
pub fn flow_hash(inner: &[u8], seed: u32) -> u32 {
    let mut h: u32 = 0x811C_9DC5 ^ seed;
    let mut mix = |bytes: &[u8]| {
        for &b in bytes {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
    };
    let Some((ethertype, l3)) = eth::l3(inner) else {
        mix(inner.get(..ETH_HLEN).unwrap_or(inner));
        return h;
    };
    match ethertype {
        eth::ETHERTYPE_IPV4 if inner.len() >= l3 + IPV4_HLEN => {
            let ip = &inner[l3..];
            let proto = ip[9];
            mix(&ip[12..20]);
            mix(&[proto]);
            let frag = u16::from_be_bytes([ip[6], ip[7]]) & 0x3FFF != 0;
            if !frag {
                mix(ports(inner, l3 + usize::from(ip[0] & 0x0F) * 4, proto));
            }
        }
        eth::ETHERTYPE_IPV6 if inner.len() >= l3 + 40 => {
            let ip = &inner[l3..];
            mix(&ip[8..40]);
            mix(&[ip[6]]);
            mix(ports(inner, l3 + 40, ip[6]));
        }
        _ => mix(&inner[..12]),
    }
    mix(&ethertype.to_be_bytes());
    h
}

/// The L4 ports of TCP, UDP or SCTP at `at`, or nothing.
fn ports(inner: &[u8], at: usize, proto: u8) -> &[u8] {
    match proto {
        6 | 17 | 132 => inner.get(at..at + 4).unwrap_or(&[]),
        _ => &[],
    }
}
