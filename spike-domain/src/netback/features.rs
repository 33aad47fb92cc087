//! What a vif is configured with: the toolstack's keys (MAC, MTU), what the
//! Spike offered the frontend, and what the frontend wrote back.
//!
//! Feature keys are named in netif.h ("feature-sg", "feature-gso-tcpv4",
//! "feature-no-csum-offload", "feature-ipv6-csum-offload", "feature-rx-notify",
//! "request-rx-copy"). Their values come from the guest and are hostile text
//! (docs/xen-interfaces.md, checklist item 7): exactly "0" or "1" is accepted, anything else
//! counts as absent and is counted.

use alloc::string::String;

use pv_runtime::abi::DomId;

/// What the frontend wrote under `/local/domain/<FE>/device/vif/<dev>/`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrontendFeatures {
    /// `request-rx-copy`: the frontend wants grant-copied receive buffers
    /// (the only mode this backend implements; Linux netback refuses others).
    pub rx_copy: bool,
    /// `feature-rx-notify`: the frontend kicks us after posting rx buffers.
    pub rx_notify: bool,
    /// `feature-sg`: receive frames may span several slots.
    pub sg: bool,
    /// `feature-gso-tcpv4`: the frontend takes TCPv4 GSO frames.
    pub gso_tcpv4: bool,
    /// `feature-gso-tcpv6`: the frontend takes TCPv6 GSO frames.
    pub gso_tcpv6: bool,
    /// `feature-no-csum-offload`: IPv4 partial checksums must be completed
    /// before delivery (absent = offload on).
    pub no_csum_offload: bool,
    /// `feature-ipv6-csum-offload`: IPv6 partial checksums may be delivered
    /// (absent = off).
    pub ipv6_csum_offload: bool,
    /// Keys present with a value other than "0"/"1".
    pub malformed: u32,
}

impl FrontendFeatures {
    /// The frontend's keys, read through `get(key)` (relative to its vif directory).
    pub fn from_kv(get: impl Fn(&str) -> Option<String>) -> Self {
        let mut f = Self::default();
        let mut flag = |key: &str| match get(key).as_deref() {
            None => false,
            Some("1") => true,
            Some("0") => false,
            Some(_) => {
                f.malformed += 1;
                false
            }
        };
        let rx_copy = flag("request-rx-copy");
        let rx_notify = flag("feature-rx-notify");
        let sg = flag("feature-sg");
        let gso_tcpv4 = flag("feature-gso-tcpv4");
        let gso_tcpv6 = flag("feature-gso-tcpv6");
        let no_csum_offload = flag("feature-no-csum-offload");
        let ipv6_csum_offload = flag("feature-ipv6-csum-offload");
        Self {
            rx_copy,
            rx_notify,
            sg,
            gso_tcpv4,
            gso_tcpv6,
            no_csum_offload,
            ipv6_csum_offload,
            ..f
        }
    }
}

/// What the Spike advertised in its backend directory. TX (guest → world)
/// requests may only use these: netfront enables scatter-gather/TSO from the
/// backend's keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackendFeatures {
    pub sg: bool,
    pub gso_tcpv4: bool,
    pub gso_tcpv6: bool,
    pub ipv6_csum_offload: bool,
}

impl Default for BackendFeatures {
    fn default() -> Self {
        Self {
            sg: true,
            gso_tcpv4: false,
            gso_tcpv6: false,
            ipv6_csum_offload: true,
        }
    }
}

impl BackendFeatures {
    /// The keys to write before `state=2` (docs/xen-interfaces.md, "Handshake":
    /// `feature-rx-copy=1` is mandatory, `feature-rx-flip=0`).
    pub fn kv(&self) -> [(&'static str, &'static str); 6] {
        let b = |v: bool| if v { "1" } else { "0" };
        [
            ("feature-rx-copy", "1"),
            ("feature-rx-flip", "0"),
            ("feature-sg", b(self.sg)),
            ("feature-gso-tcpv4", b(self.gso_tcpv4)),
            ("feature-gso-tcpv6", b(self.gso_tcpv6)),
            ("feature-ipv6-csum-offload", b(self.ipv6_csum_offload)),
        ]
    }
}

/// Bounds on the work and memory of one vif (docs/xen-interfaces.md, checklist item 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Frames taken from the TX ring per [`process_tx`](super::Vif::process_tx).
    pub tx_budget: usize,
    /// Frames delivered per [`flush_rx`](super::Vif::flush_rx).
    pub rx_budget: usize,
    /// Frames waiting for rx buffers (memory is bounded by the rx pool too).
    pub rx_queue_frames: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            tx_budget: 64,
            rx_budget: 64,
            rx_queue_frames: 256,
        }
    }
}

/// One vif, keyed by `(frontend_domid, handle)` — never by MAC or name
/// (docs/xen-interfaces.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VifConfig {
    pub frontend_domid: DomId,
    /// The device id (`handle`, the `<dev>` in the xenstore paths).
    pub handle: u32,
    /// The guest's MAC (toolstack `mac` key): the only source MAC it may send.
    pub mac: [u8; 6],
    /// L3 MTU (toolstack `mtu` key, 1500 when absent).
    pub mtu: u16,
    pub offered: BackendFeatures,
    pub features: FrontendFeatures,
    pub limits: Limits,
    /// The toolstack's `rate` key: the guest's transmit limit (`None`:
    /// unlimited).
    pub rate: Option<super::TxRate>,
}

impl VifConfig {
    pub fn new(
        frontend_domid: DomId,
        handle: u32,
        mac: [u8; 6],
        features: FrontendFeatures,
    ) -> Self {
        Self {
            frontend_domid,
            handle,
            mac,
            mtu: 1500,
            offered: BackendFeatures::default(),
            features,
            limits: Limits::default(),
            rate: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn strict_zero_one_parse() {
        let kv = |k: &str| {
            match k {
                "request-rx-copy" => Some("1"),
                "feature-rx-notify" => Some("1"),
                "feature-sg" => Some(" 1"),
                "feature-gso-tcpv4" => Some("01"),
                "feature-gso-tcpv6" => Some("0"),
                "feature-no-csum-offload" => Some("yes"),
                _ => None,
            }
            .map(|s| s.to_string())
        };
        let f = FrontendFeatures::from_kv(kv);
        assert!(f.rx_copy && f.rx_notify);
        assert!(
            !f.sg && !f.gso_tcpv4 && !f.gso_tcpv6 && !f.no_csum_offload && !f.ipv6_csum_offload
        );
        assert_eq!(f.malformed, 3);
        let huge = FrontendFeatures::from_kv(|_| Some("1".repeat(1 << 16)));
        assert_eq!(huge.malformed, 7);
    }

    #[test]
    fn backend_keys() {
        let kv = BackendFeatures::default().kv();
        assert_eq!(kv[0], ("feature-rx-copy", "1"));
        assert!(kv.contains(&("feature-sg", "1")));
    }
}
