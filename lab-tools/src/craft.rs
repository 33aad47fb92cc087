//! Frame builders. Everything is big-endian on the wire (RFC 791, RFC 9293,
//! IEEE 802.3/802.1Q); checksums are RFC 1071 sums from `net-offload`.

use net_offload::checksum;

/// An Ethernet (EUI-48) address.
pub type Mac = [u8; 6];

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> Option<Mac> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut mac {
        let p = parts.next()?;
        if p.len() != 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

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
    fn macs() {
        assert_eq!(parse_mac("00:16:3e:00:01:0a"), Some([0, 0x16, 0x3e, 0, 1, 10]));
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
