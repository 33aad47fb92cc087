//! Hostile datagrams for a Corm's tunnel port (issue 11, item 6): what
//! anyone on the underlay can send to a VTEP's UDP port. Each frame is named
//! by the Corm counter that must catch it (`underlay/…` or the tunnel's
//! `tunnel/<id>/counters/…`), so a test sends them and checks those
//! counters moved. Valid VXLAN (RFC 7348) is built with the encap crate's
//! template, then broken one field at a time, checksums refixed where the
//! break must get past them.

use std::net::Ipv4Addr;

use encap::{Encap, Template, TemplateConfig, Vni};
use net_offload::checksum;

use crate::craft::{self, Mac};

/// Where the junk goes and whom it claims to come from.
#[derive(Clone, Copy, Debug)]
pub struct Target {
    /// The Corm's NIC MAC and underlay address.
    pub dst_mac: Mac,
    pub dst_ip: Ipv4Addr,
    /// Ours (dom0's lab NIC): not the tunnel's remote.
    pub src_mac: Mac,
    pub src_ip: Ipv4Addr,
    /// The tunnel's VNI and the Corm's VXLAN port.
    pub vni: u32,
    pub port: u16,
}

/// Bytes of Ethernet + IPv4 in front of the UDP header.
const L4: usize = 14 + 20;

fn vxlan(t: &Target, vni: u32) -> Vec<u8> {
    let tpl = Template::new(&TemplateConfig {
        encap: Encap::Vxlan,
        vni: Vni::new(vni & Vni::MAX).unwrap_or(Vni::new(0).expect("0 is a VNI")),
        src_mac: t.src_mac,
        dst_mac: t.dst_mac,
        vlan: None,
        local: t.src_ip,
        remote: t.dst_ip,
        dst_port: t.port,
        underlay_mtu: 1500,
    })
    .expect("a lab template");
    // The inner frame a spoofer would want delivered: a broadcast ARP.
    let inner = craft::arp_request(
        [0x02, 0xba, 0xd0, 0, 0, 9],
        [10, 88, 0, 99],
        [10, 88, 0, 51],
        None,
    );
    let mut out = vec![0u8; 200];
    let n = tpl.encapsulate(&inner, &mut out).expect("fits");
    out.truncate(n);
    out
}

/// Recomputes the outer IPv4 header checksum (after a change to it).
fn refix_ip(f: &mut [u8]) {
    f[24..26].copy_from_slice(&[0, 0]);
    let c = checksum::checksum(&f[14..34]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
}

/// Every hostile datagram once, with the counter that must catch it.
pub fn junk(t: &Target) -> Vec<(&'static str, Vec<u8>)> {
    let good = vxlan(t, t.vni);
    let mut out = vec![
        // Our VNI from a host that is not the tunnel's remote.
        ("dropped_spoofed", good.clone()),
        // A VNI no tunnel has.
        ("dropped_unknown_vni", vxlan(t, t.vni ^ 0x40_0000)),
    ];
    // VXLAN's I flag clear (RFC 7348 §5: it MUST be set).
    let mut f = good.clone();
    f[L4 + 8] = 0;
    out.push(("dropped_vxlan_no_vni", f));
    // A datagram too short for the VXLAN header.
    let mut f = good[..L4 + 8 + 4].to_vec();
    let ip_len = (f.len() - 14) as u16;
    f[16..18].copy_from_slice(&ip_len.to_be_bytes());
    refix_ip(&mut f);
    f[L4 + 4..L4 + 6].copy_from_slice(&12u16.to_be_bytes());
    out.push(("dropped_tunnel_truncated", f));
    // A UDP length that is not the IP payload's.
    let mut f = good.clone();
    let udp_len = u16::from_be_bytes([f[L4 + 4], f[L4 + 5]]);
    f[L4 + 4..L4 + 6].copy_from_slice(&(udp_len - 8).to_be_bytes());
    out.push(("dropped_udp_bad_length", f));
    // A non-zero UDP checksum that is wrong.
    let mut f = good.clone();
    f[L4 + 6..L4 + 8].copy_from_slice(&0x1234u16.to_be_bytes());
    out.push(("dropped_udp_bad_checksum", f));
    // A first fragment (MF): a VTEP does not reassemble.
    let mut f = good.clone();
    f[20] |= 0x20;
    refix_ip(&mut f);
    out.push(("dropped_ipv4_fragment", f));
    // A wrong IPv4 header checksum.
    let mut f = good;
    f[24] ^= 0xff;
    out.push(("dropped_ipv4_bad_checksum", f));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use encap::decap::{decapsulate, DecapConfig, Verdict};

    #[test]
    fn each_datagram_is_the_drop_it_names() {
        let t = Target {
            dst_mac: [0x52, 0x54, 0, 0x77, 0, 3],
            dst_ip: Ipv4Addr::new(10, 77, 0, 40),
            src_mac: [0x52, 0x54, 0, 0x77, 0, 6],
            src_ip: Ipv4Addr::new(10, 77, 0, 8),
            vni: 42,
            port: 4789,
        };
        let cfg = DecapConfig {
            local_mac: t.dst_mac,
            local: t.dst_ip,
            encap: Encap::Vxlan,
            port: 4789,
        };
        for (name, f) in junk(&t) {
            let v = decapsulate(&cfg, &f);
            match (name, &v) {
                // The first two decapsulate: the peer filter and the VNI
                // lookup catch them.
                ("dropped_spoofed", Verdict::Data { vni, src, .. }) => {
                    assert_eq!((vni.get(), *src.ip()), (42, t.src_ip))
                }
                ("dropped_unknown_vni", Verdict::Data { vni, .. }) => assert_ne!(vni.get(), 42),
                (n, Verdict::Drop(r)) => assert_eq!(r.name(), n),
                _ => panic!("{name}: {v:?}"),
            }
        }
    }
}
