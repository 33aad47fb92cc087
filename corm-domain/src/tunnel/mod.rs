//! Encap wires: Corm endpoints served by a tunnel (Geneve, RFC 8926, or
//! VXLAN, RFC 7348) to a remote VTEP instead of a local wire to a Spike
//! (`docs/encap.md`). Sans-IO: the data plane hands every NIC frame to
//! [`Underlay::receive`] first and asks [`Underlay::header_for`] for the
//! outer headers of every frame the switch sends to a tunnel's endpoint;
//! what the underlay must send on its own (ARP) goes through a callback.
//!
//! ```text
//! NIC ─▶ receive: ARP for our address ─▶ answered / next-hop table
//!                 ping of our address ─▶ answered (rate-limited: echo)
//!                 tunnel traffic ─▶ decap (encap::decap) ─▶ peer filter
//!                                   (source, VNI) ─▶ inner frame into the
//!                                   switch from the tunnel's endpoint
//!                 anything else ─▶ the switch, as before
//! switch ─▶ tunnel endpoint ─▶ header_for: next hop (ARP, never waits)
//!                              ─▶ template headers ─▶ NIC (gathered)
//! ```
//!
//! The underlay is the Corm's own IPv4 address on the untagged segment of
//! its NIC, with the NIC's MAC. Every input is hostile: each drop has a
//! counter (`encap::DecapCounters`, `encap::PeerCounters`,
//! [`TunnelCounters`], [`UnderlayCounters`]).

pub mod arp;
mod config;
mod control;
mod counters;
pub mod echo;
pub mod too_big;
pub mod wg;

pub use config::{TunnelConfig, UnderlayConfig, WireguardPeer};
pub use control::{TunnelEvent, TunnelEventKind};
pub use counters::{TunnelCounters, UnderlayCounters};

use alloc::collections::BTreeMap;
use core::net::{Ipv4Addr, SocketAddrV4};
use core::ops::Range;

use encap::decap::Verdict;
use encap::template::MAX_HEADER_LEN;
use encap::{
    decapsulate, DecapConfig, DecapCounters, Encap, EncapError, Lookup, NextHopTable, Peer,
    PeerConfig, PeerCounters, Template, TemplateConfig, Vni,
};
use netframe::{eth, Mac};

/// Encap wires one Corm serves at most (one per endpoint).
pub const MAX_TUNNELS: usize = crate::dataplane::MAX_ENDPOINTS;

/// Why a frame for a tunnel did not get its headers (each counted but
/// `NotTunnel`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxDrop {
    /// The endpoint has no tunnel.
    NotTunnel,
    /// Off link and no gateway.
    NoRoute,
    /// The next hop's MAC is not known yet (an ARP request is out).
    NoNextHop,
    /// Over the tunnel's inner MTU: the sender may be told ([`too_big`]).
    TooBig { mtu: u16 },
    /// A runt, or addressed like our own control.
    Refused,
    /// A tunnel wire without a WireGuard session yet (a handshake goes out).
    NoSession,
}

/// Why a tunnel was not added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TunnelError {
    #[error("wire {0} is already a tunnel")]
    WireExists(u32),
    #[error("endpoint {0} already has a tunnel")]
    EndpointInUse(u16),
    #[error("another tunnel already has VNI {vni} from {remote}")]
    Duplicate { vni: u32, remote: Ipv4Addr },
    #[error("remote {0} is not reachable: off link and no gateway")]
    NoRoute(Ipv4Addr),
    #[error("bad tunnel: {0}")]
    Template(EncapError),
    #[error("{MAX_TUNNELS} tunnels already")]
    Full,
    #[error("no underlay address (banana corm create --underlay)")]
    NoUnderlay,
    #[error("a tunnel wire needs a WireGuard key (banana corm create --tunnel-key)")]
    NoWireguard,
    #[error("WireGuard peer: {0}")]
    Peer(::wireguard::interface::PeerError),
}

struct Tunnel {
    cfg: TunnelConfig,
    template: Template,
    peer: Peer,
    counters: TunnelCounters,
    /// A tunnel wire's WireGuard peer.
    wg_peer: Option<::wireguard::PeerId>,
}

/// What a NIC frame is, for the data plane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rx {
    /// Not the underlay's: switch it as before.
    Foreign,
    /// Handled here (answered, taken, or dropped and counted).
    Consumed,
    /// An inner frame at `frame[inner]`, to switch as coming from
    /// `endpoint`.
    Inner { endpoint: u16, inner: Range<usize> },
}

/// The Corm's underlay: its address, next hops and tunnels.
pub struct Underlay {
    cfg: UnderlayConfig,
    mac: Mac,
    /// Our epoch for this start (every tunnel's control carries it).
    epoch: u32,
    nexthops: NextHopTable,
    tunnels: BTreeMap<u32, Tunnel>,
    /// Peers' changes for the domain to report (bounded: the oldest is
    /// dropped when full).
    events: heapless::Deque<TunnelEvent, 32>,
    /// Frames for the next [`poll`](Self::poll) to send: the `Close` of a
    /// removed tunnel (and the ARP request its next hop needed).
    outbox: heapless::Deque<control::ControlFrame, 4>,
    echo: echo::Echo,
    /// What decapsulation dropped, by reason (foreign frames not counted).
    pub decap: DecapCounters,
    pub counters: UnderlayCounters,
    /// Pings of our address ([`echo`]).
    pub echo_counters: echo::EchoCounters,
    /// The tunnel wires' WireGuard ([`wg`]), with `--tunnel-key`.
    wireguard: Option<wg::Wireguard>,
}

impl Underlay {
    /// The underlay of a NIC whose MAC is `mac`.
    /// `epoch` goes in every control message of this start of the Corm
    /// (`encap::peer`): a new one on every start, so that the peers see the
    /// restart.
    pub fn new(cfg: UnderlayConfig, mac: Mac, epoch: u32) -> Self {
        Self {
            cfg,
            mac,
            epoch,
            nexthops: NextHopTable::new(),
            tunnels: BTreeMap::new(),
            events: heapless::Deque::new(),
            outbox: heapless::Deque::new(),
            echo: echo::Echo::default(),
            decap: DecapCounters::new(),
            counters: UnderlayCounters::default(),
            echo_counters: echo::EchoCounters::default(),
            wireguard: None,
        }
    }

    pub fn config(&self) -> &UnderlayConfig {
        &self.cfg
    }

    /// Adds a tunnel; standard VTEPs speak no control, so none is sent.
    pub fn add(&mut self, cfg: TunnelConfig) -> Result<(), TunnelError> {
        if self.tunnels.contains_key(&cfg.wire) {
            return Err(TunnelError::WireExists(cfg.wire));
        }
        if self.tunnels.len() >= MAX_TUNNELS {
            return Err(TunnelError::Full);
        }
        for t in self.tunnels.values() {
            if t.cfg.endpoint == cfg.endpoint {
                return Err(TunnelError::EndpointInUse(cfg.endpoint));
            }
            if t.cfg.vni == cfg.vni && t.cfg.remote.ip() == cfg.remote.ip() {
                return Err(TunnelError::Duplicate {
                    vni: cfg.vni.get(),
                    remote: *cfg.remote.ip(),
                });
            }
        }
        // A tunnel wire's packets go to its WireGuard peer's underlay
        // address, from our tunnel address, and WireGuard takes its share
        // of the MTU.
        let (local, via, mtu) = match (&cfg.wireguard, &self.wireguard) {
            (None, _) => (self.cfg.addr, *cfg.remote.ip(), self.cfg.mtu),
            (Some(_), None) => return Err(TunnelError::NoWireguard),
            (Some(w), Some(wg)) => (wg.addr, *w.endpoint.ip(), self.cfg.mtu - wg::OVERHEAD),
        };
        if self.cfg.next_hop(via).is_none() {
            return Err(TunnelError::NoRoute(via));
        }
        let template = Template::new(&TemplateConfig {
            encap: cfg.encap,
            vni: cfg.vni,
            src_mac: self.mac,
            // Set per frame from the next-hop table.
            dst_mac: eth::BROADCAST,
            vlan: None,
            local,
            remote: *cfg.remote.ip(),
            dst_port: cfg.remote.port(),
            underlay_mtu: mtu,
        })
        .map_err(TunnelError::Template)?;
        let wg_peer = match (&cfg.wireguard, self.wireguard.as_mut()) {
            (Some(w), Some(wg)) => Some(match wg.iface.find_peer(&w.public) {
                Some(p) => p,
                None => wg
                    .iface
                    .add_peer(::wireguard::PeerConfig {
                        public: w.public,
                        psk: ::wireguard::PresharedKey::default(),
                        persistent_keepalive_s: 0,
                    })
                    .map_err(TunnelError::Peer)?,
            }),
            _ => None,
        };
        let peer = Peer::new(PeerConfig {
            vni: cfg.vni,
            remote: cfg.remote,
            local_epoch: self.epoch,
            control: cfg.control,
        });
        self.tunnels.insert(
            cfg.wire,
            Tunnel {
                cfg,
                template,
                peer,
                counters: TunnelCounters::default(),
                wg_peer,
            },
        );
        Ok(())
    }

    /// Every tunnel's configuration.
    pub fn tunnels(&self) -> impl Iterator<Item = &TunnelConfig> + '_ {
        self.tunnels.values().map(|t| &t.cfg)
    }

    /// Every tunnel's counters: `(wire, own, peer's)`.
    pub fn tunnel_counters(
        &self,
    ) -> impl Iterator<Item = (u32, &TunnelCounters, &PeerCounters)> + '_ {
        self.tunnels
            .iter()
            .map(|(w, t)| (*w, &t.counters, &t.peer.counters))
    }

    /// Whether endpoint `endpoint` is served by a tunnel.
    pub fn serves(&self, endpoint: u16) -> bool {
        self.tunnels.values().any(|t| t.cfg.endpoint == endpoint)
    }

    /// Looks at a frame from the NIC; `send` transmits what the underlay
    /// answers (ARP replies).
    pub fn receive(&mut self, frame: &mut [u8], now_ns: u64, send: &mut dyn FnMut(&[u8])) -> Rx {
        let Some(hdr) = eth::EthHeader::parse(frame) else {
            return Rx::Foreign;
        };
        if hdr.ethertype == eth::ETHERTYPE_ARP {
            return self.arp(frame, &hdr, now_ns, send);
        }
        if hdr.dst != self.mac {
            return Rx::Foreign;
        }
        let addr = self.cfg.addr.octets();
        let echo = &mut self.echo_counters;
        if self.echo.receive(echo, frame, self.mac, addr, now_ns, send) != echo::EchoRx::NotEcho {
            return Rx::Consumed;
        }
        if let Some(rx) = self.wireguard_receive(frame, now_ns, send) {
            return rx;
        }
        match self.decapsulate(frame) {
            Verdict::Data { vni, inner, src } if !self.in_clear(vni, src) => {
                self.data(vni, inner, src, now_ns)
            }
            Verdict::Control { vni, msg, src } if !self.in_clear(vni, src) => {
                self.control(vni, msg, src, now_ns);
                Rx::Consumed
            }
            Verdict::Data { .. } | Verdict::Control { .. } => Rx::Consumed,
            Verdict::Drop(r) if r.is_foreign() => {
                self.counters.dropped_to_us += 1;
                Rx::Consumed
            }
            Verdict::Drop(_) => Rx::Consumed,
        }
    }

    /// Control for the tunnel with `vni` from `src`.
    fn control(&mut self, vni: Vni, msg: encap::Control, src: SocketAddrV4, now_ns: u64) {
        let event = match self.tunnel_mut(vni, src) {
            Some(t) => t
                .peer
                .on_control(vni, src, msg, now_ns)
                .ok()
                .flatten()
                .map(|e| (t.cfg.wire, e)),
            None => {
                self.counters.dropped_unknown_vni += 1;
                None
            }
        };
        if let Some((wire, e)) = event {
            self.note(wire, e.into());
        }
    }

    /// Whether tunnel traffic that came in clear is a tunnel wire's, which
    /// only WireGuard may carry (counted).
    fn in_clear(&mut self, vni: Vni, src: SocketAddrV4) -> bool {
        let wg = self
            .tunnel_mut(vni, src)
            .is_some_and(|t| t.cfg.wireguard.is_some());
        if wg {
            self.counters.dropped_clear += 1;
        }
        wg
    }

    fn arp(
        &mut self,
        frame: &[u8],
        hdr: &eth::EthHeader,
        now_ns: u64,
        send: &mut dyn FnMut(&[u8]),
    ) -> Rx {
        let Some(a) = crate::switch::arp::parse(frame) else {
            return Rx::Foreign;
        };
        if arp::is_request_for(&a, self.cfg.addr) {
            self.counters.arp_answered += 1;
            send(&arp::reply(&a, self.mac, self.cfg.addr));
            // A broadcast also goes on to the switch: hosts behind the
            // endpoints may share the segment.
            return if hdr.dst == self.mac {
                Rx::Consumed
            } else {
                Rx::Foreign
            };
        }
        if a.op == crate::switch::arp::OP_REPLY && hdr.dst == self.mac && a.tha == self.mac {
            // Taken only if we asked (the table's rule): unsolicited
            // replies cannot plant a next hop.
            self.nexthops.on_reply(a.spa, a.sha, now_ns);
            return Rx::Consumed;
        }
        Rx::Foreign
    }

    /// Tries each (encap, port) our tunnels listen on; the first verdict
    /// that is not foreign decides, and only it is counted.
    fn decapsulate(&mut self, frame: &[u8]) -> Verdict {
        let mut verdict = Verdict::Drop(encap::Reason::WrongPort);
        let mut tried: heapless::Vec<(Encap, u16), MAX_TUNNELS> = heapless::Vec::new();
        for t in self.tunnels.values() {
            let key = (t.cfg.encap, t.cfg.remote.port());
            if tried.contains(&key) {
                continue;
            }
            let _ = tried.push(key);
            let cfg = DecapConfig {
                local_mac: self.mac,
                local: self.cfg.addr,
                encap: key.0,
                port: key.1,
            };
            verdict = decapsulate(&cfg, frame);
            if !matches!(verdict, Verdict::Drop(r) if r.is_foreign()) {
                break;
            }
        }
        if !matches!(verdict, Verdict::Drop(r) if r.is_foreign()) {
            self.decap.count(&verdict);
        }
        verdict
    }

    /// The tunnel data or control from `src` with `vni` belongs to: the one
    /// with that VNI and remote, else any with that VNI (whose peer filter
    /// then counts a spoof).
    fn tunnel_mut(&mut self, vni: Vni, src: SocketAddrV4) -> Option<&mut Tunnel> {
        let exact = self
            .tunnels
            .values()
            .position(|t| t.cfg.vni == vni && t.cfg.remote.ip() == src.ip());
        let i = exact.or_else(|| self.tunnels.values().position(|t| t.cfg.vni == vni))?;
        self.tunnels.values_mut().nth(i)
    }

    fn data(&mut self, vni: Vni, inner: Range<usize>, src: SocketAddrV4, now_ns: u64) -> Rx {
        let Some(t) = self.tunnel_mut(vni, src) else {
            self.counters.dropped_unknown_vni += 1;
            return Rx::Consumed;
        };
        if t.peer.accept_data(vni, src, now_ns).is_err() {
            return Rx::Consumed;
        }
        t.counters.rx_frames += 1;
        t.counters.rx_bytes += inner.len() as u64;
        Rx::Inner {
            endpoint: t.cfg.endpoint,
            inner,
        }
    }

    /// The outer headers, in `out`, for an inner frame of `inner_len` bytes
    /// (first bytes `inner_head`) that the switch sends to `endpoint`'s
    /// tunnel: their length, or why the frame is dropped (counted). Never
    /// waits: an unresolved next hop drops the frame and `send`s an ARP
    /// request (at most one a second per address).
    pub fn header_for(
        &mut self,
        endpoint: u16,
        inner_head: &[u8],
        inner_len: usize,
        now_ns: u64,
        out: &mut [u8; MAX_HEADER_LEN],
        send: &mut dyn FnMut(&[u8]),
    ) -> Result<usize, TxDrop> {
        let Underlay {
            cfg,
            mac,
            nexthops,
            tunnels,
            counters,
            ..
        } = self;
        let t = tunnels
            .values_mut()
            .find(|t| t.cfg.endpoint == endpoint)
            .ok_or(TxDrop::NotTunnel)?;
        // A tunnel wire's Ethernet header is replaced by WireGuard's: its
        // next hop is the peer's, found when sealing (`wg`).
        if t.cfg.wireguard.is_none() {
            resolve(cfg, *mac, nexthops, counters, t, now_ns, send)?;
        }
        match t.template.header_for(inner_head, inner_len, out) {
            Ok(n) => {
                t.counters.tx_frames += 1;
                t.counters.tx_bytes += inner_len as u64;
                Ok(n)
            }
            Err(EncapError::TooBig { mtu }) => {
                t.counters.dropped_too_big += 1;
                Err(TxDrop::TooBig { mtu })
            }
            Err(_) => {
                t.counters.dropped_refused += 1;
                Err(TxDrop::Refused)
            }
        }
    }
}

/// Points `t`'s headers at the MAC of its next hop (the remote, or the
/// gateway toward it). Never waits: an unknown MAC is `NoNextHop` (counted),
/// with an ARP request `send` out at most once a second per address.
fn resolve(
    cfg: &UnderlayConfig,
    mac: Mac,
    nexthops: &mut NextHopTable,
    counters: &mut UnderlayCounters,
    t: &mut Tunnel,
    now_ns: u64,
    send: &mut dyn FnMut(&[u8]),
) -> Result<(), TxDrop> {
    let hop = resolve_hop(
        cfg,
        mac,
        nexthops,
        counters,
        *t.cfg.remote.ip(),
        now_ns,
        send,
    );
    match hop {
        Ok(m) => {
            t.template.set_next_hop(m);
            Ok(())
        }
        Err(e) => {
            match e {
                TxDrop::NoRoute => t.counters.dropped_no_route += 1,
                _ => t.counters.dropped_no_next_hop += 1,
            }
            Err(e)
        }
    }
}

/// The MAC frames to `remote` go to (itself on link, else the gateway's).
/// Never waits: an unknown MAC is `NoNextHop`, with an ARP request `send`
/// out at most once a second per address.
fn resolve_hop(
    cfg: &UnderlayConfig,
    mac: Mac,
    nexthops: &mut NextHopTable,
    counters: &mut UnderlayCounters,
    remote: Ipv4Addr,
    now_ns: u64,
    send: &mut dyn FnMut(&[u8]),
) -> Result<Mac, TxDrop> {
    let hop = cfg.next_hop(remote).ok_or(TxDrop::NoRoute)?;
    let mut ask = || {
        counters.arp_requests += 1;
        send(&arp::request(mac, cfg.addr, hop));
    };
    match nexthops.lookup(hop, now_ns) {
        Lookup::Hit(m) => Ok(m),
        Lookup::HitRefresh(m) => {
            ask();
            Ok(m)
        }
        Lookup::Miss { request } => {
            if request {
                ask();
            }
            Err(TxDrop::NoNextHop)
        }
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod wg_tests;
