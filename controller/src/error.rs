//! The errors an operator can hit. Each one renders as a single line: `main`
//! prints it after `banana: error: `, so messages never carry newlines.

use crate::endpoint::Endpoint;
use crate::registry::RegistryError;
use crate::toolstack::ToolError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unknown {kind} '{name}'")]
    UnknownDomain { kind: &'static str, name: String },
    #[error("{kind} '{name}' already exists ({state})")]
    AlreadyExists {
        kind: &'static str,
        name: String,
        state: String,
    },
    #[error("a domain named '{0}' already runs under xl but is not managed by banana")]
    NameTaken(String),
    #[error("bad name '{0}': use 1-64 of A-Z a-z 0-9 _ . - (starting with a letter or digit)")]
    BadName(String),
    #[error("bad BDF '{0}': expected [DDDD:]BB:DD.F in hex, e.g. 0000:00:03.0")]
    BadBdf(String),
    #[error("unknown BDF {bdf}: not assignable ({reason})")]
    UnknownBdf { bdf: String, reason: String },
    #[error("BDF {bdf} is already owned by corm '{corm}'{}", if *dead { format!(" (dead: `banana repair` restarts it, `banana corm destroy {corm}` releases the NIC)") } else { String::new() })]
    BdfInUse {
        bdf: String,
        corm: String,
        dead: bool,
    },
    #[error("bad endpoint '{0}': expected spike:NAME, corm:NAME/INDEX, vxlan:VNI@IPv4[:PORT] or geneve:VNI@IPv4[:PORT]")]
    BadEndpoint(String),
    #[error("bad VTEP '{0}': {1}")]
    BadVtep(String, crate::vtep::BadVtep),
    #[error("unknown endpoint {endpoint}: {why}")]
    UnknownEndpoint { endpoint: Endpoint, why: String },
    #[error("endpoint {endpoint} is already wired (wire {wire})")]
    AlreadyWired { endpoint: Endpoint, wire: u32 },
    #[error("cannot wire {0} to itself")]
    SelfWire(String),
    #[error("cannot wire two endpoints of {0} together")]
    SameDomain(String),
    #[error("cannot wire two VTEPs ({0} and {1}) together: one end must be a Corm endpoint (corm:NAME/INDEX)")]
    TwoVteps(Endpoint, Endpoint),
    #[error("cannot wire {endpoint} to {vtep}: only a Corm endpoint (corm:NAME/INDEX) can terminate a tunnel")]
    TunnelNeedsCorm {
        endpoint: Endpoint,
        vtep: crate::vtep::Vtep,
    },
    #[error("corm '{0}' has no underlay address (banana corm create ... --underlay IP/PREFIX)")]
    NoUnderlay(String),
    #[error("corm '{corm}' cannot reach {vtep}: {why}")]
    UnreachableVtep {
        vtep: crate::vtep::Vtep,
        corm: String,
        why: String,
    },
    #[error("corm '{corm}' already has a tunnel with VNI {vni} to {remote} (wire {wire})")]
    DuplicateTunnel {
        corm: String,
        vni: u32,
        remote: std::net::Ipv4Addr,
        wire: u32,
    },
    #[error("bad --encap '{0}': expected geneve or vxlan")]
    BadEncap(String),
    #[error("--encap {encap} is for a wire between two Corm endpoints: {vtep} already says its encapsulation")]
    EncapWithVtep {
        encap: crate::vtep::Encap,
        vtep: Endpoint,
    },
    #[error("--encap {encap} is for a wire between two Corm endpoints (corm:NAME/INDEX), not {endpoint}")]
    EncapNeedsCorms {
        encap: crate::vtep::Encap,
        endpoint: Endpoint,
    },
    #[error("corms '{a}' and '{b}' have the same underlay address {addr}: a tunnel between them would loop")]
    SameUnderlay {
        a: String,
        b: String,
        addr: std::net::Ipv4Addr,
    },
    #[error("corm '{corm}' cannot reach corm '{peer}' at {addr}: {why}")]
    UnreachableCorm {
        corm: String,
        peer: String,
        addr: std::net::Ipv4Addr,
        why: String,
    },
    #[error("wire id {0} exceeds 16777215, the largest VNI: a wire between two Corms uses its id as VNI")]
    VniExhausted(u32),
    #[error("{endpoint} is in wires {wires}: disconnect one by its id")]
    AmbiguousEndpoint { endpoint: Endpoint, wires: String },
    #[error("no domain '{0}' in xl list (give an xl name or a domid)")]
    UnknownXlDomain(String),
    #[error("{domain}: {why}")]
    CounterPage { domain: String, why: String },
    #[error("{domain} publishes no counter '{counter}'")]
    NoCounter { domain: String, counter: String },
    #[error("unknown wire '{0}'")]
    UnknownWire(String),
    #[error("endpoint {0} is not wired")]
    NotWired(Endpoint),
    #[error("bad --vlan '{0}': expected ENDPOINT=VID with VID in 1..=4094")]
    BadVlan(String),
    #[error("bad --local-vlan '{0}': expected a VID in 1..=4094")]
    BadLocalVlan(String),
    #[error("bad --mac '{0}': {1}")]
    BadMac(String, String),
    #[error("{0} MACs given: a Spike announces at most 4")]
    TooManyMacs(usize),
    #[error("bad --ip '{0}': {1}")]
    BadIp(String, String),
    #[error("{0} IP addresses given: at most 8 per Spike")]
    TooManyIps(usize),
    #[error("spike '{0}' has no guest MAC: a Corm endpoint carries only the MACs the controller allows (banana spike create {0} --mac MAC)")]
    NoMacs(String),
    #[error("bad --flood '{0}': {1}")]
    BadFlood(String, crate::flood::BadFloodLimit),
    #[error("bad --wireguard-peer '{0}': not a WireGuard public key (44 characters of base64, as wg pubkey prints)")]
    BadWireguardPeer(String),
    #[error("bad --wireguard-endpoint '{0}': expected a unicast IPv4 address and a port, IP:PORT")]
    BadWireguardEndpoint(String),
    #[error("--wireguard-peer and --wireguard-endpoint go together, and with a geneve: VTEP end")]
    WireguardVtepOptions,
    #[error(
        "corm '{corm}' would have the tunnel address {addr} of corm '{other}': choose another name"
    )]
    TunnelAddressInUse {
        corm: String,
        other: String,
        addr: std::net::Ipv4Addr,
    },
    #[error("corm '{0}' has no tunnel key (banana corm create ... --tunnel-key)")]
    NoTunnelKey(String),
    #[error("--tunnel carries Geneve inside WireGuard, not --encap {0}")]
    TunnelNeedsGeneve(String),
    #[error("cannot read the OS's random generator: {0}")]
    Random(String),
    #[error("bad --underlay '{0}': {1}")]
    BadUnderlay(String, crate::underlay::BadUnderlay),
    #[error("bad --gateway '{0}': {1}")]
    BadGateway(String, crate::underlay::BadGateway),
    #[error("--gateway {0} needs --underlay IP/PREFIX: a gateway is on the underlay's link")]
    GatewayWithoutUnderlay(String),
    #[error("bad --memory {0}: a domain needs {min}..={max} MiB", min = crate::domain::MIN_MEMORY, max = crate::domain::MAX_MEMORY)]
    BadMemory(u32),
    #[error("bad --interval {0}: use 1..=3600 seconds")]
    BadInterval(u64),
    #[error("capture: {0}")]
    BadCapture(String),
    #[error("repair incomplete: {0}")]
    RepairIncomplete(String),
    #[error("corm '{name}': {why}")]
    BadCorm { name: String, why: String },
    #[error("{0}")]
    Template(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Toolstack(#[from] ToolError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Wraps an `io::Error` with what was being done, for a message that names the file.
pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}
