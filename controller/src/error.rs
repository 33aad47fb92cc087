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
    #[error("BDF {bdf} is already owned by corm '{corm}'")]
    BdfInUse { bdf: String, corm: String },
    #[error("bad endpoint '{0}': expected spike:NAME or corm:NAME/INDEX")]
    BadEndpoint(String),
    #[error("unknown endpoint {endpoint}: {why}")]
    UnknownEndpoint { endpoint: Endpoint, why: String },
    #[error("endpoint {endpoint} is already wired (wire {wire})")]
    AlreadyWired { endpoint: Endpoint, wire: u32 },
    #[error("cannot wire {0} to itself")]
    SelfWire(String),
    #[error("cannot wire two endpoints of {0} together")]
    SameDomain(String),
    #[error("unknown wire '{0}'")]
    UnknownWire(String),
    #[error("endpoint {0} is not wired")]
    NotWired(Endpoint),
    #[error("bad --vlan '{0}': expected ENDPOINT=VID with VID in 1..=4094")]
    BadVlan(String),
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
