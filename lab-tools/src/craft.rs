//! Frame builders. Everything is big-endian on the wire (RFC 791, RFC 9293,
//! IEEE 802.3/802.1Q); checksums are RFC 1071 sums from `net-offload`.

use net_offload::checksum;

pub use netframe::{parse_mac, Mac};

/// The Ethernet header (14 bytes, or 18 with an 802.1Q tag of `vid`).
pub fn ethernet(dst: Mac, src: Mac, vid: Option<u16>, ethertype: u16) -> Vec<u8> {
    let mut f = Vec::with_capacity(64);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    if let Some(v) = vid {
        f.extend_from_slice(&0x8100u16.to_be_bytes());
        f.extend_from_slice(&(v & 0x0fff).to_be_bytes());
    }
    f.extend_from_slice(&ethertype.to_be_bytes());
    f
}

/// One TCP flow's fixed fields.
#[derive(Clone, Copy, Debug)]
pub struct Flow {
    pub dst_mac: Mac,
    pub src_mac: Mac,
    pub vid: Option<u16>,
    pub src_ip: [u8; 4],
    pub dst_ip: [u8; 4],
    pub sport: u16,
    pub dport: u16,
    pub ack: u32,
}

/// An IPv4 (DF, IHL 5) / TCP (ACK, timestamps option: 32-byte header)
/// segment of `flow` with sequence number `seq` and `payload`, checksums
/// valid: what Linux sends for a bulk transfer with timestamps on.
pub fn tcp_segment(flow: &Flow, seq: u32, ip_id: u16, payload: &[u8]) -> Vec<u8> {
    const TCP_HLEN: usize = 32;
    let mut f = ethernet(flow.dst_mac, flow.src_mac, flow.vid, 0x0800);
    let l3 = f.len();
    let total = (20 + TCP_HLEN + payload.len()) as u16;
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&ip_id.to_be_bytes());
    f.extend_from_slice(&0x4000u16.to_be_bytes()); // DF
    f.extend_from_slice(&[64, 6, 0, 0]);
    f.extend_from_slice(&flow.src_ip);
    f.extend_from_slice(&flow.dst_ip);
    let c = checksum::checksum(&f[l3..l3 + 20]);
    f[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
    let l4 = f.len();
    f.extend_from_slice(&flow.sport.to_be_bytes());
    f.extend_from_slice(&flow.dport.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&flow.ack.to_be_bytes());
    f.extend_from_slice(&[((TCP_HLEN / 4) as u8) << 4, 0x10]); // ACK
    f.extend_from_slice(&1024u16.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
                                        // NOP, NOP, timestamps (kind 8, length 10): equal on every segment.
    f.extend_from_slice(&[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
    f.extend_from_slice(payload);
    let pseudo = checksum::pseudo_v4(
        &flow.src_ip,
        &flow.dst_ip,
        6,
        (TCP_HLEN + payload.len()) as u32,
    );
    let c = !checksum::fold(checksum::sum(&f[l4..], pseudo));
    f[l4 + 16..l4 + 18].copy_from_slice(&c.to_be_bytes());
    f
}

/// The merge burst of issue 9 (A.1): `segments` back-to-back full segments
/// of `mss` bytes with consecutive sequence numbers, then one short segment
/// filling the IP length up to 65,535 bytes. Before receive coalescing was
/// capped, a receiver merging them built a 65,549-byte frame (65,553
/// tagged): more than netif or a wire record carries.
pub fn merge_burst(flow: &Flow, segments: usize, mss: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(segments + 1);
    let mut seq = 0x1000_0000u32;
    let byte = |i: usize| (i * 7 + 3) as u8;
    for k in 0..segments {
        let payload: Vec<u8> = (0..mss).map(|i| byte(k * mss + i)).collect();
        out.push(tcp_segment(flow, seq, k as u16, &payload));
        seq = seq.wrapping_add(mss as u32);
    }
    let room = 65535usize.saturating_sub(20 + 32 + segments * mss).min(mss);
    if room > 0 {
        let payload: Vec<u8> = (0..room).map(|i| byte(segments * mss + i)).collect();
        out.push(tcp_segment(flow, seq, segments as u16, &payload));
    }
    out
}

/// A frame as an impostor would send it: `src` claims someone else's MAC
/// (a guest's: traffic meant for it would follow the claim on a switch that
/// learns it as a move). An ARP request from `src` for `target_ip`, so a
/// real host answers and the frame looks ordinary.
pub fn arp_request(src: Mac, src_ip: [u8; 4], target_ip: [u8; 4], vid: Option<u16>) -> Vec<u8> {
    arp(ARP_REQUEST, [0xff; 6], src, src_ip, [0; 6], target_ip, vid)
}

pub const ARP_REQUEST: u16 = 1;
pub const ARP_REPLY: u16 = 2;

/// An Ethernet/IPv4 ARP packet (RFC 826) `op` from `sha` ("`spa` is at
/// `sha`") about `tha`/`tpa`, in a frame from `sha` to `dst`, padded to 60.
pub fn arp(
    op: u16,
    dst: Mac,
    sha: Mac,
    spa: [u8; 4],
    tha: Mac,
    tpa: [u8; 4],
    vid: Option<u16>,
) -> Vec<u8> {
    let mut f = ethernet(dst, sha, vid, 0x0806);
    f.extend_from_slice(&[0, 1, 8, 0, 6, 4]);
    f.extend_from_slice(&op.to_be_bytes());
    f.extend_from_slice(&sha);
    f.extend_from_slice(&spa);
    f.extend_from_slice(&tha);
    f.extend_from_slice(&tpa);
    f.resize(f.len().max(60), 0);
    f
}

/// ARP spoofing (issue 9, A.3): what a host on the network sends to divert
/// traffic for `ip` (a guest's address) to `mac` (its own): an unsolicited
/// reply to `victim_mac`/`victim_ip` and a gratuitous ARP to everyone, both
/// saying "`ip` is at `mac`". A receiver with an entry for `ip` updates it
/// from either (Linux `arp_process`).
pub fn arp_spoof(
    ip: [u8; 4],
    mac: Mac,
    victim_mac: Mac,
    victim_ip: [u8; 4],
    vid: Option<u16>,
) -> [Vec<u8>; 2] {
    [
        arp(ARP_REPLY, victim_mac, mac, ip, victim_mac, victim_ip, vid),
        arp(ARP_REQUEST, [0xff; 6], mac, ip, [0; 6], ip, vid),
    ]
}

/// The IPv6 counterpart: an unsolicited Neighbor Advertisement (RFC 4861
/// §4.4: ICMPv6 136, Override set, hop limit 255) for `ip`, from `ip`,
/// with a Target Link-Layer Address option of `mac`, to all nodes (or
/// `dst` when given); checksum valid, so a receiver would take it.
pub fn na_spoof(ip: [u8; 16], mac: Mac, dst: Option<Mac>, vid: Option<u16>) -> Vec<u8> {
    const ALL_NODES: [u8; 16] = [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    let mut icmp = vec![136, 0, 0, 0, 0x20, 0, 0, 0];
    icmp.extend_from_slice(&ip);
    icmp.extend_from_slice(&[2, 1]);
    icmp.extend_from_slice(&mac);
    let pseudo = checksum::pseudo_v6(&ip, &ALL_NODES, 58, icmp.len() as u32);
    let c = !checksum::fold(checksum::sum(&icmp, pseudo));
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let mut f = ethernet(dst.unwrap_or([0x33, 0x33, 0, 0, 0, 1]), mac, vid, 0x86dd);
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
    f.extend_from_slice(&[58, 255]);
    f.extend_from_slice(&ip);
    f.extend_from_slice(&ALL_NODES);
    f.extend_from_slice(&icmp);
    f
}

/// `n` frames from `n` forged, distinct unicast sources (locally
/// administered: 02:…), to `dst`: a source-MAC flood that would churn a
/// learning switch's table.
pub fn mac_flood(dst: Mac, n: usize, vid: Option<u16>) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let src = [0x02, 0xf1, (i >> 16) as u8, (i >> 8) as u8, i as u8, 0x01];
            let mut f = ethernet(dst, src, vid, 0x88b5);
            f.resize(60, 0xab);
            f
        })
        .collect()
}

/// Frames a switch must not pass from the uplink (issue 9, A.3), to `dst`
/// from `src`: Q-in-Q (an 802.1Q tag inside VLAN `vid`'s), an outer 802.1ad
/// S-tag, and a giant of `giant_len` bytes (over a 1500-byte MTU).
pub fn junk(dst: Mac, src: Mac, vid: u16, giant_len: usize) -> Vec<Vec<u8>> {
    let mut qinq = ethernet(dst, src, Some(vid), 0x8100);
    qinq.extend_from_slice(&(vid & 0x0fff).to_be_bytes());
    qinq.extend_from_slice(&0x0806u16.to_be_bytes());
    qinq.resize(64, 0);
    let mut stag = ethernet(dst, src, None, 0x88a8);
    stag.extend_from_slice(&(vid & 0x0fff).to_be_bytes());
    stag.extend_from_slice(&0x0806u16.to_be_bytes());
    stag.resize(64, 0);
    let mut giant = ethernet(dst, src, None, 0x88b5);
    giant.resize(giant_len, 0xab);
    vec![qinq, stag, giant]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(vid: Option<u16>) -> Flow {
        Flow {
            dst_mac: [0, 0x16, 0x3e, 0, 1, 1],
            src_mac: [2, 0, 0, 0, 0, 9],
            vid,
            src_ip: [10, 77, 0, 9],
            dst_ip: [10, 77, 0, 41],
            sport: 40000,
            dport: 5201,
            ack: 7,
        }
    }

    #[test]
    fn flood_sources_are_distinct_unicast() {
        let f = mac_flood([0xff; 6], 300, Some(10));
        let mut srcs: Vec<_> = f.iter().map(|x| x[6..12].to_vec()).collect();
        srcs.sort();
        srcs.dedup();
        assert_eq!(srcs.len(), 300);
        assert!(f
            .iter()
            .all(|x| x[6] & 1 == 0 && x.len() == 60 && x[12..14] == [0x81, 0]));
        let a = arp_request([2, 0, 0, 0, 0, 5], [10, 0, 0, 5], [10, 0, 0, 1], None);
        assert_eq!((a.len(), &a[12..14]), (60, &[8u8, 6][..]));
    }

    #[test]
    fn spoofs_say_the_address_is_at_the_attacker() {
        let me = [2, 0, 0, 0, 0, 9];
        let [reply, garp] = arp_spoof(
            [10, 0, 0, 52],
            me,
            [0, 0x16, 0x3e, 0, 0, 1],
            [10, 0, 0, 51],
            None,
        );
        assert_eq!(&reply[0..6], &[0, 0x16, 0x3e, 0, 0, 1]);
        assert_eq!(&reply[20..22], &[0, 2], "a reply");
        assert_eq!(
            (&reply[22..28], &reply[28..32]),
            (&me[..], &[10u8, 0, 0, 52][..])
        );
        assert_eq!(&garp[0..6], &[0xff; 6]);
        assert_eq!(&garp[28..32], &garp[38..42], "gratuitous: spa == tpa");
        let ip = [
            0xfe, 0x80, 0, 0, 0, 0, 0, 0, 2, 0x16, 0x3e, 0xff, 0xfe, 0, 0, 2,
        ];
        let na = na_spoof(ip, me, None, Some(10));
        assert_eq!(&na[12..14], &[0x81, 0]);
        let l3 = 18;
        assert_eq!((na[l3 + 6], na[l3 + 7], na[l3 + 40]), (58, 255, 136));
        let icmp = &na[l3 + 40..];
        let pseudo = checksum::pseudo_v6(
            &na[l3 + 8..l3 + 24],
            &na[l3 + 24..l3 + 40],
            58,
            icmp.len() as u32,
        );
        assert_eq!(
            checksum::fold(checksum::sum(icmp, pseudo)),
            0xffff,
            "checksum valid"
        );
        assert_eq!((&icmp[8..24], &icmp[26..32]), (&ip[..], &me[..]));
    }

    #[test]
    fn junk_frames() {
        let j = junk([0xff; 6], [2, 0, 0, 0, 0, 9], 10, 1600);
        assert_eq!(&j[0][12..18], &[0x81, 0, 0, 10, 0x81, 0]);
        assert_eq!(&j[1][12..14], &[0x88, 0xa8]);
        assert_eq!(j[2].len(), 1600);
    }

    #[test]
    fn macs() {
        assert_eq!(
            parse_mac("00:16:3e:00:01:0a"),
            Some([0, 0x16, 0x3e, 0, 1, 10])
        );
        assert_eq!(parse_mac("00:16:3e:00:01"), None);
        assert_eq!(parse_mac("00:16:3e:00:01:0a:00"), None);
        assert_eq!(parse_mac("0:16:3e:00:01:0a"), None);
    }

    #[test]
    fn segments_are_valid_and_the_burst_reaches_the_ip_bound() {
        for vid in [None, Some(10)] {
            let b = merge_burst(&flow(vid), 45, 1448);
            assert_eq!(b.len(), 46);
            let l3 = if vid.is_some() { 18 } else { 14 };
            let mut ip_payload = 0;
            for f in &b {
                assert_eq!(checksum::verify_l4(f), Ok(true));
                assert_eq!(checksum::checksum(&f[l3..l3 + 20]), 0);
                ip_payload += f.len() - l3 - 20 - 32;
            }
            // The merge of all 46 would carry an IP packet of exactly 65,535
            // bytes: a frame of 65,549 (65,553 tagged).
            assert_eq!(20 + 32 + ip_payload, 65535);
        }
    }
}
