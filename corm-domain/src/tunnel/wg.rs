//! Tunnel wires: an encap wire whose Geneve packets travel inside
//! WireGuard (docs/tunnel.md). The inner packets are the encap wire's own,
//! addressed between the two Corms' *tunnel addresses*; WireGuard seals
//! them and they go to the peer's underlay address on UDP 51820:
//!
//! ```text
//! frame:  Ethernet ‖ IPv4 underlay ‖ UDP 51820 ‖ WG header (16) ‖ inner IPv4 ‖ UDP 6081 ‖ Geneve ‖ guest frame ‖ tag
//! offset: 0          14              34          42               58
//! ```
//!
//! Receiving opens the datagram **in place** in the NIC's buffer, writes a
//! 14-byte Ethernet header over the end of the WireGuard header (in front
//! of the inner IPv4), and hands that to the encap wire's decapsulation:
//! no copy. Sending builds the inner packet at [`INNER_IP_AT`] of one
//! buffer, seals it there and writes the outer headers in front.
//!
//! Only WireGuard may feed a tunnel wire: its Geneve in clear on the
//! underlay is dropped (`dropped_clear`), and an inner packet is taken
//! only from the peer its wire names (`dropped_wrong_peer`): a peer cannot
//! speak for another wire's peer.

use core::net::{Ipv4Addr, SocketAddrV4};
use core::ops::Range;

use encap::underlay::{emit_ipv4, emit_udp, Ipv4Packet, UdpPacket, IPPROTO_UDP};
use encap::Verdict;
use netframe::eth;
use wireguard::message::TRANSPORT_HEADER_LEN;
use wireguard::{Csprng, Interface, PeerId, Received, MAX_REPLY_LEN};

use super::{resolve_hop, Rx, TxDrop, Underlay, MAX_TUNNELS};

/// WireGuard's customary port (`wg`'s `ListenPort` in most setups).
pub const PORT: u16 = 51820;
/// Ethernet, IPv4 and UDP in front of a WireGuard message.
pub const OUTER_LEN: usize = eth::ETH_HLEN + 20 + 8;
/// Where the inner IPv4 packet starts in a tunnel wire's frame.
pub const INNER_IP_AT: usize = OUTER_LEN + TRANSPORT_HEADER_LEN;
/// What a tunnel wire adds on the underlay to the inner IP packet: outer
/// IPv4 and UDP, WireGuard's header and tag.
pub const OVERHEAD: u16 = 20 + 8 + wireguard::message::TRANSPORT_OVERHEAD as u16;

/// The Corm's WireGuard side: its interface and tunnel address.
pub struct Wireguard {
    pub(super) iface: Interface<Csprng, MAX_TUNNELS>,
    /// Our tunnel address: the inner packets' source.
    pub(super) addr: Ipv4Addr,
    /// A packet found no session: poll at once (the handshake goes out).
    pub(super) poll_soon: bool,
}

impl Wireguard {
    /// An interface with our tunnel address.
    pub fn new(iface: Interface<Csprng, MAX_TUNNELS>, addr: Ipv4Addr) -> Self {
        Wireguard {
            iface,
            addr,
            poll_soon: false,
        }
    }

    /// The interface's counters.
    pub fn counters(&self) -> &wireguard::Counters {
        &self.iface.counters
    }

    /// Our tunnel address.
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// A new static key (a rotation) and a generator seeded afresh: every
    /// session ends; the peers, told of the new key by the controller,
    /// handshake again.
    pub fn rekey(&mut self, key: wireguard::PrivateKey, rng: Csprng) {
        self.iface.set_private_key(key);
        *self.iface.rng_mut() = rng;
    }
}

/// The bytes a cookie is bound to: the sender's address and port.
fn source_bytes(src: SocketAddrV4) -> [u8; 6] {
    let mut b = [0u8; 6];
    b[..4].copy_from_slice(&src.ip().octets());
    b[4..].copy_from_slice(&src.port().to_be_bytes());
    b
}

impl Underlay {
    /// Gives the underlay a WireGuard interface (our tunnel address and
    /// key): tunnel wires can then be added.
    pub fn set_wireguard(&mut self, wg: Wireguard) {
        self.wireguard = Some(wg);
    }

    pub fn wireguard(&self) -> Option<&Wireguard> {
        self.wireguard.as_ref()
    }

    pub fn wireguard_mut(&mut self) -> Option<&mut Wireguard> {
        self.wireguard.as_mut()
    }

    /// Points tunnel wire `wire` at a peer with a new key (or endpoint),
    /// keeping the wire's own state; the old peer goes if no wire uses it.
    pub fn update_peer(
        &mut self,
        wire: u32,
        peer: super::WireguardPeer,
    ) -> Result<(), super::TunnelError> {
        let wg = self
            .wireguard
            .as_mut()
            .ok_or(super::TunnelError::NoWireguard)?;
        let id = match wg.iface.find_peer(&peer.public) {
            Some(id) => id,
            None => wg
                .iface
                .add_peer(wireguard::PeerConfig {
                    public: peer.public,
                    psk: wireguard::PresharedKey::default(),
                    persistent_keepalive_s: 0,
                })
                .map_err(super::TunnelError::Peer)?,
        };
        let t = self
            .tunnels
            .get_mut(&wire)
            .ok_or(super::TunnelError::NoWireguard)?;
        let old = t.wg_peer.replace(id);
        t.cfg.wireguard = Some(peer);
        if let Some(old) = old.filter(|o| *o != id) {
            if !self.tunnels.values().any(|o| o.wg_peer == Some(old)) {
                if let Some(wg) = self.wireguard.as_mut() {
                    wg.iface.remove_peer(old);
                }
            }
        }
        Ok(())
    }

    /// Whether endpoint `endpoint` is served by a tunnel wire.
    pub fn is_wireguard(&self, endpoint: u16) -> bool {
        self.tunnels
            .values()
            .any(|t| t.cfg.endpoint == endpoint && t.cfg.wireguard.is_some())
    }

    /// A WireGuard datagram to our underlay address, if `frame` is one
    /// (`None`: not ours to judge). Opened in place.
    pub(super) fn wireguard_receive(
        &mut self,
        frame: &mut [u8],
        now_ns: u64,
        send: &mut dyn FnMut(&[u8]),
    ) -> Option<Rx> {
        let wg = self.wireguard.as_mut()?;
        let (payload, src) = {
            let hdr = eth::EthHeader::parse(frame)?;
            if hdr.ethertype != eth::ETHERTYPE_IPV4 {
                return None;
            }
            let ip = Ipv4Packet::new_checked(frame.get(eth::ETH_HLEN..)?).ok()?;
            if ip.dst() != self.cfg.addr || ip.protocol() != IPPROTO_UDP || ip.is_fragment() {
                return None;
            }
            let udp = UdpPacket::new_checked(ip.payload()).ok()?;
            // The port first: every Geneve frame to our address comes this
            // way, and its IPv4 checksum is the decapsulation's to verify.
            if udp.dst_port() != PORT || !ip.verify_checksum() {
                return None;
            }
            // The UDP checksum is not checked: the AEAD covers the payload.
            let start = eth::ETH_HLEN + ip.header_len() + 8;
            let src = SocketAddrV4::new(ip.src(), udp.src_port());
            (start..start + udp.payload().len(), src)
        };
        let mut reply = [0u8; MAX_REPLY_LEN];
        let now = wireguard::Now {
            mono_ns: now_ns,
            unix_ns: pv_unix_ns(now_ns),
        };
        let got = wg.iface.receive(
            &mut frame[payload.clone()],
            &source_bytes(src),
            now,
            &mut reply,
        );
        match got {
            Received::Packet { peer, len } => {
                let ip_at = payload.start + TRANSPORT_HEADER_LEN;
                Some(self.wireguard_inner(frame, ip_at, len, peer, now_ns))
            }
            Received::Reply { len, .. } => {
                let mut out = [0u8; OUTER_LEN + MAX_REPLY_LEN];
                out[OUTER_LEN..OUTER_LEN + len].copy_from_slice(&reply[..len]);
                if let Ok(n) = self.outer(src, &mut out, len, now_ns, send) {
                    send(&out[..n]);
                }
                Some(Rx::Consumed)
            }
            Received::Consumed { .. } | Received::Dropped(_) => Some(Rx::Consumed),
        }
    }

    /// An authentic inner IP packet at `frame[ip_at..ip_at + len]` from
    /// `peer`: decapsulated as the encap wire's (a 14-byte Ethernet header
    /// written in front of it, over WireGuard's), taken only by the wire
    /// whose peer it is.
    fn wireguard_inner(
        &mut self,
        frame: &mut [u8],
        ip_at: usize,
        len: usize,
        peer: PeerId,
        now_ns: u64,
    ) -> Rx {
        let Some(wg) = self.wireguard.as_ref() else {
            return Rx::Consumed;
        };
        let start = ip_at - eth::ETH_HLEN;
        let inner = &mut frame[start..ip_at + len];
        inner[..6].copy_from_slice(&self.mac);
        inner[6..12].copy_from_slice(&self.mac);
        inner[12..14].copy_from_slice(&eth::ETHERTYPE_IPV4.to_be_bytes());
        let cfg = encap::DecapConfig {
            local_mac: self.mac,
            local: wg.addr,
            encap: encap::Encap::Geneve,
            port: encap::geneve::PORT,
        };
        let verdict = encap::decapsulate(&cfg, inner);
        self.decap.count(&verdict);
        let shift = |r: Range<usize>| r.start + start..r.end + start;
        match verdict {
            Verdict::Data { vni, inner, src } => {
                if !self.sent_by_its_peer(vni, src, peer) {
                    return Rx::Consumed;
                }
                self.data(vni, shift(inner), src, now_ns)
            }
            Verdict::Control { vni, msg, src } => {
                if self.sent_by_its_peer(vni, src, peer) {
                    self.control(vni, msg, src, now_ns);
                }
                Rx::Consumed
            }
            Verdict::Drop(_) => Rx::Consumed,
        }
    }

    /// Whether the tunnel wire with `vni` and remote `src` goes through
    /// `peer` (counted if not).
    fn sent_by_its_peer(&mut self, vni: encap::Vni, src: SocketAddrV4, peer: PeerId) -> bool {
        let ok = self
            .tunnels
            .values()
            .any(|t| t.cfg.vni == vni && t.cfg.remote.ip() == src.ip() && t.wg_peer == Some(peer));
        if !ok {
            self.counters.dropped_wrong_peer += 1;
        }
        ok
    }

    /// Seals the inner IP packet at `buf[INNER_IP_AT..][..ip_len]` for
    /// endpoint `endpoint`'s tunnel wire and writes the outer headers:
    /// the frame's length.
    pub fn wireguard_seal(
        &mut self,
        endpoint: u16,
        buf: &mut [u8],
        ip_len: usize,
        now_ns: u64,
        send: &mut dyn FnMut(&[u8]),
    ) -> Result<usize, TxDrop> {
        let (peer, to, wire) = self
            .tunnels
            .values()
            .find(|t| t.cfg.endpoint == endpoint)
            .and_then(|t| Some((t.wg_peer?, t.cfg.wireguard?.endpoint, t.cfg.wire)))
            .ok_or(TxDrop::NotTunnel)?;
        self.seal_to(peer, to, wire, buf, ip_len, now_ns, send)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn seal_to(
        &mut self,
        peer: PeerId,
        to: SocketAddrV4,
        wire: u32,
        buf: &mut [u8],
        ip_len: usize,
        now_ns: u64,
        send: &mut dyn FnMut(&[u8]),
    ) -> Result<usize, TxDrop> {
        let mtu = usize::from(self.cfg.mtu - 20 - 8) - wireguard::message::TRANSPORT_OVERHEAD;
        let now = wireguard::Now {
            mono_ns: now_ns,
            unix_ns: pv_unix_ns(now_ns),
        };
        let wg = self.wireguard.as_mut().ok_or(TxDrop::NotTunnel)?;
        let sealed = buf
            .get_mut(OUTER_LEN..)
            .ok_or(TxDrop::Refused)
            .and_then(|b| {
                wg.iface
                    .send(peer, b, ip_len, mtu, now)
                    .map_err(|_| TxDrop::NoSession)
            });
        let n = match sealed {
            Ok(n) => n,
            Err(e) => {
                wg.poll_soon = true;
                if let Some(t) = self.tunnels.get_mut(&wire) {
                    t.counters.dropped_no_session += 1;
                }
                return Err(e);
            }
        };
        self.outer(to, buf, n, now_ns, send)
    }

    /// Writes Ethernet, IPv4 and UDP in front of the `len`-byte WireGuard
    /// message at `buf[OUTER_LEN..]`, to `to`; the frame's length.
    fn outer(
        &mut self,
        to: SocketAddrV4,
        buf: &mut [u8],
        len: usize,
        now_ns: u64,
        send: &mut dyn FnMut(&[u8]),
    ) -> Result<usize, TxDrop> {
        let hop_mac = resolve_hop(
            &self.cfg,
            self.mac,
            &mut self.nexthops,
            &mut self.counters,
            *to.ip(),
            now_ns,
            send,
        )?;
        let total = OUTER_LEN + len;
        let ip_len = u16::try_from(total - eth::ETH_HLEN).map_err(|_| TxDrop::Refused)?;
        buf[..6].copy_from_slice(&hop_mac);
        buf[6..12].copy_from_slice(&self.mac);
        buf[12..14].copy_from_slice(&eth::ETHERTYPE_IPV4.to_be_bytes());
        emit_ipv4(
            &mut buf[eth::ETH_HLEN..],
            self.cfg.addr,
            *to.ip(),
            ip_len,
            encap::template::TTL,
            IPPROTO_UDP,
        )
        .ok_or(TxDrop::Refused)?;
        emit_udp(&mut buf[eth::ETH_HLEN + 20..], PORT, to.port(), ip_len - 20)
            .ok_or(TxDrop::Refused)?;
        Ok(total)
    }

    /// Sends what WireGuard's timers want (handshakes, keepalives).
    pub(super) fn wireguard_poll(&mut self, now_ns: u64, send: &mut dyn FnMut(&[u8])) {
        let Some(wg) = self.wireguard.as_mut() else {
            return;
        };
        wg.poll_soon = false;
        let now = wireguard::Now {
            mono_ns: now_ns,
            unix_ns: pv_unix_ns(now_ns),
        };
        let mut peers: heapless::Vec<(PeerId, SocketAddrV4), MAX_TUNNELS> = heapless::Vec::new();
        for t in self.tunnels.values() {
            if let (Some(p), Some(w)) = (t.wg_peer, t.cfg.wireguard) {
                if !peers.iter().any(|(q, _)| *q == p) {
                    let _ = peers.push((p, w.endpoint));
                }
            }
        }
        let mut buf = [0u8; OUTER_LEN + wireguard::message::INITIATION_LEN];
        for (peer, to) in peers {
            // Nothing is asked of a peer whose next hop is not known yet
            // (its ARP request goes out): a handshake made now would be
            // lost, and its retry would wait 5 s.
            let hop = resolve_hop(
                &self.cfg,
                self.mac,
                &mut self.nexthops,
                &mut self.counters,
                *to.ip(),
                now_ns,
                send,
            );
            if hop.is_err() {
                continue;
            }
            for _ in 0..4 {
                let Some(wg) = self.wireguard.as_mut() else {
                    return;
                };
                let Some(n) = wg.iface.poll_peer(peer, now, &mut buf[OUTER_LEN..]) else {
                    break;
                };
                if let Ok(len) = self.outer(to, &mut buf, n, now_ns, send) {
                    send(&buf[..len]);
                }
            }
        }
    }
}

/// The Unix time for WireGuard's timestamps: Xen's wall clock in the
/// domain, the monotonic time plus a fixed epoch on the host (tests).
fn pv_unix_ns(now_ns: u64) -> u64 {
    #[cfg(target_os = "none")]
    {
        let _ = now_ns;
        pv_runtime::time::wallclock_base_ns().saturating_add(pv_runtime::time::now_ns())
    }
    #[cfg(not(target_os = "none"))]
    {
        1_800_000_000_000_000_000 + now_ns
    }
}
