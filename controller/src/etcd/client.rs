//! etcd's v3 API through its JSON gateway: the gRPC services mapped to
//! `POST /v3/<service>/<method>` with JSON bodies, keys and values in
//! base64, 64-bit integers as strings (etcd's `Documentation/dev-guide/
//! api_grpc_gateway.md`; etcd 3.4, Debian's `etcd-server`, serves it on the
//! client port). Why not the gRPC client (`etcd-client`): it brings tokio,
//! tonic and prost into a controller that is a synchronous CLI making a
//! handful of calls per command; the gateway needs one blocking HTTP/1.1
//! client (`ureq`) and the JSON we already have.
//!
//! A client knows every member it was given and sends each call to the one
//! that answered last, moving to the next when a member cannot be reached or
//! says it cannot serve (no leader, timeout): a cluster that lost a member
//! keeps serving its controllers.

use std::cell::Cell;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Value};

#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    #[error("bad etcd address '{0}': expected etcd://HOST:PORT[,HOST:PORT...] or http://HOST:PORT[,...]")]
    BadUrl(String),
    #[error("etcd: no member answers ({endpoints}): {last}")]
    Unreachable { endpoints: String, last: String },
    #[error("etcd: {what}: {message} (gRPC code {code})")]
    Refused {
        what: String,
        code: i64,
        message: String,
    },
    #[error("etcd: {what}: unexpected answer: {why}")]
    BadAnswer { what: String, why: String },
}

/// One key as etcd holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kv {
    pub key: String,
    pub value: String,
    /// The revision of its last change (etcd's `mod_revision`).
    pub mod_revision: i64,
    /// The lease it is attached to, 0 if none.
    pub lease: i64,
}

/// A condition of a transaction (etcd `Compare`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compare {
    /// The key holds exactly this value.
    Value(String, String),
    /// There is no such key (its version is 0).
    Absent(String),
}

/// An operation of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnOp {
    Put {
        key: String,
        value: String,
        /// Attach the key to this lease: it goes when the lease expires.
        lease: Option<i64>,
    },
    Delete(String),
    /// Every key starting with this prefix.
    DeletePrefix(String),
}

/// gRPC codes after which another member may do better (`UNAVAILABLE`,
/// `DEADLINE_EXCEEDED`: no leader, a member cut off from the others).
const RETRY_ELSEWHERE: [i64; 2] = [14, 4];

pub struct Client {
    endpoints: Vec<String>,
    agent: ureq::Agent,
    current: Cell<usize>,
}

impl Client {
    /// `etcd://HOST:PORT[,HOST:PORT...]` (plain HTTP to each member's client
    /// port) or a comma-separated list of `http://HOST:PORT`.
    pub fn new(url: &str) -> Result<Client, EtcdError> {
        let bad = || EtcdError::BadUrl(url.to_string());
        if !url.starts_with("etcd://") && !url.starts_with("http://") {
            return Err(bad());
        }
        let list = url.strip_prefix("etcd://").unwrap_or(url);
        let mut endpoints = Vec::new();
        for member in list.split(',') {
            let hostport = member.strip_prefix("http://").unwrap_or(member);
            let hostport = hostport.trim_end_matches('/');
            let (host, port) = hostport.rsplit_once(':').ok_or_else(bad)?;
            if host.is_empty()
                || port.parse::<u16>().is_err()
                || hostport.contains(['/', '@', '?', '#', ' '])
            {
                return Err(bad());
            }
            endpoints.push(format!("http://{hostport}"));
        }
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(2))
            .timeout(Duration::from_secs(10))
            .build();
        Ok(Client {
            endpoints,
            agent,
            current: Cell::new(0),
        })
    }

    /// The members, as `http://HOST:PORT`.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// One gateway call, on the member that answered last first.
    fn call(&self, what: &str, path: &str, body: &Value) -> Result<Value, EtcdError> {
        let n = self.endpoints.len();
        let mut last = String::new();
        for i in 0..n {
            let at = (self.current.get() + i) % n;
            let url = format!("{}{path}", self.endpoints[at]);
            let answer = match self.agent.post(&url).send_json(body) {
                Ok(r) => r,
                Err(ureq::Error::Status(_, r)) => r,
                Err(e) => {
                    last = format!("{}: {e}", self.endpoints[at]);
                    continue;
                }
            };
            let v = match read_json(answer) {
                Ok(v) => v,
                Err(e) => {
                    last = format!("{}: {e}", self.endpoints[at]);
                    continue;
                }
            };
            if let Some(code) = v.get("code").and_then(Value::as_i64) {
                let message = v
                    .get("message")
                    .or_else(|| v.get("error"))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                if RETRY_ELSEWHERE.contains(&code) {
                    last = format!("{}: {message}", self.endpoints[at]);
                    continue;
                }
                return Err(EtcdError::Refused {
                    what: what.to_string(),
                    code,
                    message,
                });
            }
            self.current.set(at);
            return Ok(v);
        }
        Err(EtcdError::Unreachable {
            endpoints: self.endpoints.join(","),
            last,
        })
    }

    /// The key, if there is one.
    pub fn get(&self, key: &str) -> Result<Option<Kv>, EtcdError> {
        let v = self.call("get", "/v3/kv/range", &json!({ "key": b64(key) }))?;
        Ok(kvs("get", &v)?.into_iter().next())
    }

    /// Keys starting with `prefix`, in key order; at most `limit` (0: all).
    pub fn prefix(&self, prefix: &str, keys_only: bool, limit: i64) -> Result<Vec<Kv>, EtcdError> {
        let body = json!({
            "key": b64(prefix),
            "range_end": B64.encode(prefix_end(prefix)),
            "keys_only": keys_only,
            "limit": limit.to_string(),
        });
        let v = self.call("range", "/v3/kv/range", &body)?;
        kvs("range", &v)
    }

    /// Applies `ops` at once if every comparison holds; `false` (and nothing
    /// applied) if one does not.
    pub fn txn(&self, compares: &[Compare], ops: &[TxnOp]) -> Result<bool, EtcdError> {
        let compare: Vec<Value> = compares
            .iter()
            .map(|c| match c {
                Compare::Value(k, v) => json!({
                    "key": b64(k), "target": "VALUE", "result": "EQUAL", "value": b64(v),
                }),
                Compare::Absent(k) => json!({
                    "key": b64(k), "target": "VERSION", "result": "EQUAL", "version": "0",
                }),
            })
            .collect();
        let success: Vec<Value> = ops
            .iter()
            .map(|op| match op {
                TxnOp::Put { key, value, lease } => json!({ "requestPut": {
                    "key": b64(key), "value": b64(value), "lease": lease.unwrap_or(0).to_string(),
                }}),
                TxnOp::Delete(k) => json!({ "requestDeleteRange": { "key": b64(k) } }),
                TxnOp::DeletePrefix(p) => json!({ "requestDeleteRange": {
                    "key": b64(p), "range_end": B64.encode(prefix_end(p)),
                }}),
            })
            .collect();
        let body = json!({ "compare": compare, "success": success, "failure": [] });
        let v = self.call("txn", "/v3/kv/txn", &body)?;
        Ok(v.get("succeeded").and_then(Value::as_bool).unwrap_or(false))
    }

    /// A lease of `ttl_s` seconds; its id.
    pub fn grant(&self, ttl_s: i64) -> Result<i64, EtcdError> {
        let v = self.call(
            "lease grant",
            "/v3/lease/grant",
            &json!({ "TTL": ttl_s.to_string() }),
        )?;
        int(&v, "ID").ok_or_else(|| bad("lease grant", "no ID"))
    }

    /// Renews a lease; the seconds it has left (0: it expired, its keys are gone).
    pub fn keep_alive(&self, id: i64) -> Result<i64, EtcdError> {
        let v = self.call(
            "lease keepalive",
            "/v3/lease/keepalive",
            &json!({ "ID": id.to_string() }),
        )?;
        // A streaming call: the gateway answers `{"result": {...}}`.
        let r = v.get("result").unwrap_or(&v);
        Ok(int(r, "TTL").unwrap_or(0))
    }

    /// Ends a lease now: its keys go at once.
    pub fn revoke(&self, id: i64) -> Result<(), EtcdError> {
        match self.call(
            "lease revoke",
            "/v3/lease/revoke",
            &json!({ "ID": id.to_string() }),
        ) {
            Ok(_) => Ok(()),
            // gRPC NOT_FOUND: it expired already
            Err(EtcdError::Refused { code: 5, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// The JSON body of an answer. The gateway sends errors chunked with a
/// trailer (`Grpc-Trailer-Content-Type`), which ureq's chunk decoder
/// refuses after the body: what was read before that still counts.
fn read_json(answer: ureq::Response) -> Result<Value, String> {
    use std::io::Read as _;
    let mut body = Vec::new();
    let mut reader = answer.into_reader().take(MAX_ANSWER);
    let mut chunk = [0u8; 8192];
    let failed = loop {
        match reader.read(&mut chunk) {
            Ok(0) => break None,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
            Err(e) => break Some(e),
        }
    };
    serde_json::from_slice(&body).map_err(|e| match failed {
        Some(io) => format!("reading the answer: {io}"),
        None => format!("the answer is not JSON: {e}"),
    })
}

/// The largest answer read (a listing of every record of a big cluster is
/// far below).
const MAX_ANSWER: u64 = 64 << 20;

fn b64(s: &str) -> String {
    B64.encode(s.as_bytes())
}

/// The end of the range of keys starting with `prefix` (etcd's
/// `clientv3.GetPrefixRangeEnd`): the prefix with its last byte below 0xff
/// incremented and what follows dropped.
pub fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // every byte 0xff (or empty): to the end of the key space
    vec![0]
}

fn bad(what: &str, why: impl Into<String>) -> EtcdError {
    EtcdError::BadAnswer {
        what: what.to_string(),
        why: why.into(),
    }
}

/// An int64 field, which the gateway writes as a string.
fn int(v: &Value, field: &str) -> Option<i64> {
    match v.get(field)? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

fn text(v: &Value, field: &str, what: &str) -> Result<String, EtcdError> {
    match v.get(field) {
        None => Ok(String::new()),
        Some(Value::String(s)) => {
            let raw = B64
                .decode(s)
                .map_err(|e| bad(what, format!("{field}: {e}")))?;
            Ok(String::from_utf8_lossy(&raw).into_owned())
        }
        Some(_) => Err(bad(what, format!("{field} is not a string"))),
    }
}

fn kvs(what: &str, v: &Value) -> Result<Vec<Kv>, EtcdError> {
    let Some(list) = v.get("kvs") else {
        return Ok(Vec::new());
    };
    let list = list
        .as_array()
        .ok_or_else(|| bad(what, "kvs is not a list"))?;
    list.iter()
        .map(|kv| {
            Ok(Kv {
                key: text(kv, "key", what)?,
                value: text(kv, "value", what)?,
                mod_revision: int(kv, "mod_revision").unwrap_or(0),
                lease: int(kv, "lease").unwrap_or(0),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ends_as_etcd_computes_them() {
        assert_eq!(prefix_end("/a/"), b"/a0".to_vec());
        assert_eq!(prefix_end("a\u{7f}"), b"a\x80".to_vec());
        assert_eq!(prefix_end(""), vec![0]);
    }

    #[test]
    fn addresses_are_checked() {
        let c = Client::new("etcd://10.0.0.1:2379,10.0.0.2:2379").unwrap();
        assert_eq!(
            c.endpoints(),
            ["http://10.0.0.1:2379", "http://10.0.0.2:2379"]
        );
        let c = Client::new("http://localhost:2379/").unwrap();
        assert_eq!(c.endpoints(), ["http://localhost:2379"]);
        for bad in [
            "etcd://",
            "etcd://host",
            "etcd://host:notaport",
            "etcd://:2379",
            "https://host:2379",
            "host:2379",
            "etcd://h:1/path",
            "etcd://user@h:1",
        ] {
            assert!(
                matches!(Client::new(bad), Err(EtcdError::BadUrl(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn answers_are_decoded() {
        let v = json!({"kvs": [{"key": b64("/k"), "value": b64("v"), "mod_revision": "7", "lease": "9"}]});
        assert_eq!(
            kvs("t", &v).unwrap(),
            vec![Kv {
                key: "/k".into(),
                value: "v".into(),
                mod_revision: 7,
                lease: 9
            }]
        );
        // an empty value is left out of the JSON
        let v = json!({"kvs": [{"key": b64("/k")}]});
        assert_eq!(kvs("t", &v).unwrap()[0].value, "");
        assert!(kvs("t", &json!({})).unwrap().is_empty());
        assert!(kvs("t", &json!({"kvs": [{"key": "!!"}]})).is_err());
        assert!(kvs("t", &json!({"kvs": 3})).is_err());
    }
}
