//! The xenstore schema shared by the controller and the domains: every path
//! one side writes and the other reads, named once.
//!
//! Two trees cross the dom0/domain boundary (docs/xenstore.md,
//! controller/README.md "Xenstore schema"):
//! * [`config`]: `/banana/config/<domid>/`, a domain's configuration. The
//!   controller writes it (dom0-owned, readable by that domain alone) before
//!   it unpauses the domain; the domain watches it and follows its changes.
//! * [`data`]: `/local/domain/<domid>/data/banana/`, what a domain publishes
//!   in its own home (its role, NIC, wire set-up, capture and counter page
//!   references); dom0 reads it.
//!
//! The counter names inside the counter page are grouped by [`groups`]; every
//! counters struct a domain publishes is declared with [`counters!`], so its
//! names are its fields' (snake_case, usable as xenstore keys) and its
//! `NAMES` say how many there are.
//! The controller's own records (`/banana/<kind>/<name>`, `/banana/wire/<id>`)
//! are private to it and stay in `controller::schema`.
//!
//! Values are text. Whoever reads a key written by another domain treats it
//! as hostile (parsed strictly, a malformed value reported, never trusted).
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::format;
use alloc::string::String;

/// The controller's tree in dom0's xenstore.
pub const ROOT: &str = "/banana";

pub mod config {
    //! `/banana/config/<domid>/`: one domain's configuration. Keys below it:
    //!
    //! | key | who reads it | value |
    //! |---|---|---|
    //! | `name`, `role` | operators | the domain's name; `corm` or `spike` |
    //! | `endpoint/<i>/vlan` | Corm | the endpoint's VLAN id (1..=4094) |
    //! | `flood` | Corm | `RATE/BURST`: the flood limit per VLAN |
    //! | `underlay`, `underlay-gateway` | Corm | `A.B.C.D/LEN`; `A.B.C.D` |
    //! | `local-vlans` | Corm | `VID,VID,…`: VLANs kept off the uplink |
    //! | `capture` | Corm | `E SNAPLEN`: the endpoint to tap (banana capture) |
    //! | `wire/<id>/…` | both | a local wire's end ([`wire`]) |
    //! | `tunnel/<id>/…` | Corm | an encap wire's end ([`tunnel`]) |
    //! | `wireguard/…` | Corm | its WireGuard secrets, read once and deleted ([`wireguard`]) |
    use super::*;

    /// Parent of every domain's configuration.
    pub const ROOT: &str = "/banana/config";
    pub const NAME: &str = "name";
    pub const ROLE: &str = "role";
    pub const FLOOD: &str = "flood";
    pub const UNDERLAY: &str = "underlay";
    pub const UNDERLAY_GATEWAY: &str = "underlay-gateway";
    pub const LOCAL_VLANS: &str = "local-vlans";
    pub const CAPTURE: &str = "capture";
    /// The Corm's tunnel address (`A.B.C.D`): the source of the Geneve
    /// packets its tunnel wires carry inside WireGuard.
    pub const WIREGUARD_ADDRESS: &str = "wireguard-address";
    /// The directory of local wires' ends.
    pub const WIRES: &str = "wire";
    /// The directory of encap wires' ends.
    pub const TUNNELS: &str = "tunnel";

    /// `/banana/config/<domid>`.
    pub fn dir(domid: u32) -> String {
        format!("{ROOT}/{domid}")
    }

    /// `endpoint/<i>/vlan`.
    pub fn endpoint_vlan(endpoint: u32) -> String {
        format!("endpoint/{endpoint}/vlan")
    }

    /// `wire/<id>`: a local wire's end.
    pub fn wire(id: u32) -> String {
        format!("{WIRES}/{id}")
    }

    /// `tunnel/<id>`: an encap wire's end.
    pub fn tunnel(id: u32) -> String {
        format!("{TUNNELS}/{id}")
    }

    pub mod wire {
        //! Keys of `wire/<id>/`: a local wire's end in one domain.
        /// `a` (offers the ring) or `b` (maps it).
        pub const SIDE: &str = "side";
        /// Our endpoint index on the wire (a Corm's port; 0 for a Spike).
        pub const ENDPOINT: &str = "endpoint";
        /// The other end's endpoint index.
        pub const PEER_ENDPOINT: &str = "peer-endpoint";
        /// The other end's domid (absent until it runs).
        pub const PEER_DOMID: &str = "peer-domid";
        /// Corm only: the MACs the Spike at the other end may send from.
        pub const PEER_MACS: &str = "peer-macs";
        /// Corm only: the guest's IP addresses, guarded against ARP/ND spoofing.
        pub const PEER_IPS: &str = "peer-ips";
    }

    /// The directory of the Corm's WireGuard secrets (`banana corm create
    /// --tunnel-key`). Unlike the rest of the config it is the Corm's own
    /// (it may delete it) and the Corm deletes it once read, so the
    /// secrets stay in xenstore only between the controller's write and
    /// the Corm's boot.
    pub const WIREGUARD: &str = "wireguard";

    pub mod wireguard {
        //! Keys of `wireguard/`, each 32 bytes in standard base64 (44
        //! characters, as `wg genkey` prints a key).
        /// The Corm's X25519 static private key.
        pub const PRIVATE_KEY: &str = "wireguard/private-key";
        /// 32 bytes from dom0's CSPRNG, fresh at every start: the seed of
        /// the Corm's random generator (ephemeral keys, indices, cookies).
        pub const SEED: &str = "wireguard/seed";
    }

    pub mod tunnel {
        //! Keys of `tunnel/<id>/`: an encap wire's end in a Corm.
        /// The Corm endpoint whose frames the wire carries.
        pub const ENDPOINT: &str = "endpoint";
        /// `geneve` or `vxlan`.
        pub const ENCAP: &str = "encap";
        pub const VNI: &str = "vni";
        /// The remote VTEP's IPv4 address.
        pub const REMOTE: &str = "remote";
        /// The remote's UDP port.
        pub const PORT: &str = "port";
        /// `1`: the remote is a Banana Corm (in-band control); absent for a VTEP.
        pub const CONTROL: &str = "control";
        /// A tunnel wire: the WireGuard peer's public key (base64); the
        /// wire's `remote` is then the peer's tunnel address.
        pub const WIREGUARD_PEER: &str = "wireguard-peer";
        /// A tunnel wire: the peer's underlay address and WireGuard port,
        /// `A.B.C.D:PORT`.
        pub const WIREGUARD_ENDPOINT: &str = "wireguard-endpoint";
    }
}

pub mod data {
    //! `/local/domain/<domid>/data/banana/`: what a domain publishes. Each
    //! [`Key`] is known both from the domain's home (where the domain writes
    //! it, [`Key::from_home`]) and from the publishing tree (where dom0 finds
    //! it, [`Key::below`] and [`Key::of`]).
    use super::*;

    /// The publishing tree, relative to a domain's home.
    pub const DIR: &str = "data/banana";

    /// A key of the publishing tree.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Key {
        below: &'static str,
        from_home: &'static str,
    }

    impl Key {
        /// Relative to `data/banana/`.
        pub const fn below(&self) -> &'static str {
            self.below
        }
        /// Relative to the domain's home (`/local/domain/<domid>/`): what the
        /// domain itself writes.
        pub const fn from_home(&self) -> &'static str {
            self.from_home
        }
        /// The absolute path in domain `domid`'s tree: what dom0 reads.
        pub fn of(&self, domid: u32) -> String {
            format!("{}/{}", dir(domid), self.below)
        }
    }

    macro_rules! keys {
        ($($(#[$doc:meta])* $name:ident = $below:literal;)*) => {
            $($(#[$doc])* pub const $name: Key = Key {
                below: $below,
                from_home: concat!("data/banana/", $below),
            };)*
        };
    }

    keys! {
        /// `corm` or `spike`.
        ROLE = "role";
        /// The NIC's model (`I82540Em`, `I82574L`, `VirtioNet`).
        NIC_MODEL = "nic/model";
        /// The NIC's MAC, `xx:xx:xx:xx:xx:xx`.
        NIC_MAC = "nic/mac";
        /// How its interrupts arrive (`Intx`, `Msi`, `Msix`, `Poll`).
        NIC_IRQ = "nic/irq";
        /// `up` or `down`.
        NIC_LINK = "nic/link";
        /// The capture ring's grant references, header page first.
        CAPTURE_REFS = "capture/refs";
        /// `E SNAPLEN` while a tap is in place: the `capture` config it follows.
        CAPTURE_TARGET = "capture/target";
        /// The counter page's grant references, in page order.
        COUNTER_PAGE_REFS = "counters/page-refs";
        /// The Corm's WireGuard public key, base64 (as `wg pubkey` prints it).
        WIREGUARD_PUBLIC_KEY = "wireguard/public-key";
    }

    /// `/local/domain/<domid>/data/banana`.
    pub fn dir(domid: u32) -> String {
        format!("/local/domain/{domid}/{DIR}")
    }

    /// `/local/domain/<domid>/data/banana/wire/<wire>`: a side's local-wire
    /// set-up directory (its `state` and the offer's keys).
    pub fn wire(domid: u32, wire: u32) -> String {
        format!("{}/wire/{wire}", dir(domid))
    }

    /// `data/banana/endpoint/<i>` (from the Corm's home): an endpoint's state.
    pub fn endpoint(i: u32) -> String {
        format!("{DIR}/endpoint/{i}")
    }

    /// `data/banana/tunnel/<wire>` (from the Corm's home): an encap wire's
    /// state.
    pub fn tunnel(wire: u32) -> String {
        format!("{DIR}/tunnel/{wire}")
    }

    /// Below `data/banana/`: where an end of the wire `id` says its state
    /// (`wire/<id>/state` or, for an encap wire, `tunnel/<id>/state`).
    pub fn wire_state(encap: bool, id: u32) -> String {
        let dir = if encap { "tunnel" } else { "wire" };
        format!("{dir}/{id}/state")
    }
}

pub mod groups {
    //! Counter groups in a domain's counter page (`pv_runtime::counter_page`):
    //! a counter's name is `<group>/<name>`.
    use super::*;

    /// The Corm's NIC driver and data plane.
    pub const NIC: &str = "nic/counters";
    /// The Corm's switch.
    pub const SWITCH: &str = "switch/counters";
    /// The Corm's underlay stack and decapsulation.
    pub const UNDERLAY: &str = "underlay";
    /// The Corm's WireGuard interface (tunnel wires, `wireguard::Counters`).
    pub const WIREGUARD: &str = "wireguard";
    /// Memory gauges (heap bytes, free frames, free grant entries).
    pub const MEM: &str = "mem";
    /// Wire ring pages a peer still had mapped when their wire went: kept
    /// granted (never reused) until it lets go.
    pub const WIRE_PAGES_RETIRING: &str = "wire-pages-retiring";
    /// The Corm's switch: MAC table entries, IP bindings.
    pub const SWITCH_MACS: &str = "switch/macs";
    pub const SWITCH_IP_BINDINGS: &str = "switch/ip-bindings";

    /// `wire/<id>/counters`: one wire end's channel.
    pub fn wire(id: u32) -> String {
        format!("wire/{id}/counters")
    }

    /// `tunnel/<id>/counters`: one encap wire in the Corm.
    pub fn tunnel(id: u32) -> String {
        format!("tunnel/{id}/counters")
    }

    /// `vif/<frontend domid>/<devid>`: one vif a Spike serves.
    pub fn vif(frontend: u32, devid: u32) -> String {
        format!("vif/{frontend}/{devid}")
    }
}

/// Declares `pub struct $Name` of `u64` counters with `NAMES` and an `iter()`
/// of `(name, value)` pairs whose names are usable as xenstore keys: every
/// event a domain refuses or handles is counted under its reason, published
/// in its counter page and asserted on by tests. Every field is documented.
///
/// ```ignore
/// xs_schema::counters! {
///     /// Counts of one vif.
///     pub struct Counters {
///         /// Frames sent.
///         tx_packets,
///     }
/// }
/// ```
#[macro_export]
macro_rules! counters {
    ($(#[$meta:meta])* pub struct $Name:ident { $($(#[doc = $doc:literal])+ $field:ident,)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct $Name {
            $($(#[doc = $doc])+ pub $field: u64,)+
        }

        impl $Name {
            /// Every counter's name, in [`iter`](Self::iter) order.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($field),)+];

            /// `(name, value)` pairs, names usable as xenstore keys.
            pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
                [$((stringify!($field), self.$field),)+].into_iter()
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_what_the_readme_documents() {
        assert_eq!(config::dir(7), "/banana/config/7");
        assert_eq!(config::endpoint_vlan(2), "endpoint/2/vlan");
        assert_eq!(config::wire(3), "wire/3");
        assert_eq!(config::tunnel(3), "tunnel/3");
        assert_eq!(data::NIC_LINK.from_home(), "data/banana/nic/link");
        assert_eq!(data::NIC_LINK.below(), "nic/link");
        assert_eq!(data::NIC_LINK.of(5), "/local/domain/5/data/banana/nic/link");
        assert_eq!(
            data::COUNTER_PAGE_REFS.from_home(),
            "data/banana/counters/page-refs"
        );
        assert_eq!(data::wire(7, 3), "/local/domain/7/data/banana/wire/3");
        assert_eq!(data::endpoint(1), "data/banana/endpoint/1");
        assert_eq!(data::tunnel(9), "data/banana/tunnel/9");
        assert_eq!(data::wire_state(false, 4), "wire/4/state");
        assert_eq!(data::wire_state(true, 4), "tunnel/4/state");
        assert_eq!(groups::wire(2), "wire/2/counters");
        assert_eq!(groups::tunnel(2), "tunnel/2/counters");
        assert_eq!(groups::vif(4, 0), "vif/4/0");
    }
}
