//! Echo replies for the underlay address: `ping` from the underlay reaches
//! the Corm, the first thing an operator tries when a tunnel stays down
//! (RFC 792, "Echo or Echo Reply Message"; RFC 1122 §3.2.2.6: a host MUST
//! answer echo requests). Only plain requests are answered: untagged
//! IPv4 without options or fragmentation, to our address from a unicast
//! host, with both checksums right. Replies are limited by a token bucket
//! ([`ECHO_LIMIT`]), so a flood of requests costs the data plane a bounded
//! amount of transmit; the excess is counted, never queued.

use net_offload::checksum;
use netframe::{eth, Mac};

use crate::switch::flood::{FloodLimit, TokenBucket};

/// Replies at most 100 a second, 20 back to back: more than any operator's
/// `ping -f` needs, little for the NIC.
pub const ECHO_LIMIT: FloodLimit = FloodLimit {
    rate: 100,
    burst: 20,
};

const IPV4_HLEN: usize = 20;
const ICMP_HLEN: usize = 8;
const PROTO_ICMP: u8 = 1;
const ECHO_REQUEST: u8 = 8;
const ECHO_REPLY: u8 = 0;
/// The largest request answered: an untagged frame of a 1500-byte packet.
pub const MAX_ECHO_FRAME: usize = eth::ETH_HLEN + 1500;

/// What [`Echo::receive`] made of a frame to our MAC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EchoRx {
    /// Not an ICMP packet to our address: someone else's business.
    NotEcho,
    /// An echo request answered (the reply went to `send`).
    Answered,
    /// ICMP to our address that is not answered (bad checksum, options,
    /// fragment, other types, over the rate): counted, dropped.
    Dropped,
}

xs_schema::counters! {
    /// The echo responder's counters.
    pub struct EchoCounters {
        /// Echo requests for our address answered.
        echo_answered,
        /// Over [`ECHO_LIMIT`].
        echo_rate_limited,
        /// Malformed, fragmented, with options, from a non-unicast source,
        /// or an ICMP type we do not answer.
        echo_dropped,
    }
}

/// The responder's rate limit (its counters are the underlay's).
#[derive(Clone, Debug, Default)]
pub struct Echo {
    bucket: TokenBucket,
}

fn unicast_host(a: [u8; 4], ours: [u8; 4]) -> bool {
    !(a[0] == 0 || a[0] == 127 || a[0] >= 224 || a == ours)
}

impl Echo {
    /// Looks at `frame` (to our MAC); answers an echo request for `addr`
    /// through `send`, from `mac`.
    pub fn receive(
        &mut self,
        counters: &mut EchoCounters,
        frame: &[u8],
        mac: Mac,
        addr: [u8; 4],
        now_ns: u64,
        send: &mut dyn FnMut(&[u8]),
    ) -> EchoRx {
        let l3 = eth::ETH_HLEN;
        let is_icmp_to_us = frame.len() >= l3 + IPV4_HLEN
            && frame[12..14] == eth::ETHERTYPE_IPV4.to_be_bytes()
            && frame[l3] >> 4 == 4
            && frame[l3 + 9] == PROTO_ICMP
            && frame[l3 + 16..l3 + 20] == addr;
        if !is_icmp_to_us {
            return EchoRx::NotEcho;
        }
        let Some(reply) = reply(frame, mac, addr) else {
            counters.echo_dropped += 1;
            return EchoRx::Dropped;
        };
        if !self.bucket.take(ECHO_LIMIT, now_ns) {
            counters.echo_rate_limited += 1;
            return EchoRx::Dropped;
        }
        counters.echo_answered += 1;
        send(&reply.0[..reply.1]);
        EchoRx::Answered
    }
}

/// The reply frame to a well-formed echo request, with its length.
fn reply(frame: &[u8], mac: Mac, addr: [u8; 4]) -> Option<([u8; MAX_ECHO_FRAME], usize)> {
    let l3 = eth::ETH_HLEN;
    let ip = &frame[l3..];
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    // No options (a reply would have to reflect them), no fragments, the
    // whole packet present (Ethernet padding after it is fine).
    let plain = ip[0] == 0x45
        && (IPV4_HLEN + ICMP_HLEN..=ip.len()).contains(&total)
        && l3 + total <= MAX_ECHO_FRAME
        && u16::from_be_bytes([ip[6], ip[7]]) & 0x3FFF == 0
        && checksum::checksum(&ip[..IPV4_HLEN]) == 0;
    if !plain {
        return None;
    }
    let src: [u8; 4] = ip[12..16].try_into().ok()?;
    let src_mac: Mac = frame[6..12].try_into().ok()?;
    let icmp = &ip[IPV4_HLEN..total];
    if !unicast_host(src, addr)
        || !eth::is_valid_source(&src_mac)
        || icmp[0] != ECHO_REQUEST
        || icmp[1] != 0
        || checksum::checksum(icmp) != 0
    {
        return None;
    }
    let mut out = [0u8; MAX_ECHO_FRAME];
    out[0..6].copy_from_slice(&src_mac);
    out[6..12].copy_from_slice(&mac);
    out[12..14].copy_from_slice(&eth::ETHERTYPE_IPV4.to_be_bytes());
    let o = &mut out[l3..l3 + total];
    o[0] = 0x45;
    o[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    o[8] = 64; // TTL
    o[9] = PROTO_ICMP;
    o[12..16].copy_from_slice(&addr);
    o[16..20].copy_from_slice(&src);
    let c = checksum::checksum(&o[..IPV4_HLEN]);
    o[10..12].copy_from_slice(&c.to_be_bytes());
    // The request's identifier, sequence number and data, unchanged.
    let r = &mut o[IPV4_HLEN..];
    r.copy_from_slice(icmp);
    r[0] = ECHO_REPLY;
    r[2..4].fill(0);
    let c = checksum::checksum(r);
    r[2..4].copy_from_slice(&c.to_be_bytes());
    Some((out, l3 + total))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: Mac = [0x02, 0, 0, 0, 0, 0x40];
    const ADDR: [u8; 4] = [10, 77, 0, 40];
    const PEER_MAC: Mac = [0x02, 0, 0, 0, 0, 0x01];
    const PEER: [u8; 4] = [10, 77, 0, 1];

    /// An echo request from the peer to `dst` with `data`.
    fn request(dst: [u8; 4], data: &[u8]) -> Vec<u8> {
        let total = IPV4_HLEN + ICMP_HLEN + data.len();
        let mut f = Vec::new();
        f.extend_from_slice(&MAC);
        f.extend_from_slice(&PEER_MAC);
        f.extend_from_slice(&eth::ETHERTYPE_IPV4.to_be_bytes());
        f.extend_from_slice(&[0x45, 0]);
        f.extend_from_slice(&(total as u16).to_be_bytes());
        f.extend_from_slice(&[0x12, 0x34, 0x40, 0, 64, PROTO_ICMP, 0, 0]);
        f.extend_from_slice(&PEER);
        f.extend_from_slice(&dst);
        let c = checksum::checksum(&f[14..34]);
        f[24..26].copy_from_slice(&c.to_be_bytes());
        f.extend_from_slice(&[ECHO_REQUEST, 0, 0, 0, 0xBE, 0xEF, 0, 7]);
        f.extend_from_slice(data);
        let c = checksum::checksum(&f[34..]);
        f[36..38].copy_from_slice(&c.to_be_bytes());
        f
    }

    #[derive(Default)]
    struct Responder {
        echo: Echo,
        counters: EchoCounters,
    }

    fn run(e: &mut Responder, frame: &[u8], now_ns: u64) -> (EchoRx, Vec<Vec<u8>>) {
        let mut sent = Vec::new();
        let rx = e
            .echo
            .receive(&mut e.counters, frame, MAC, ADDR, now_ns, &mut |f| {
                sent.push(f.to_vec())
            });
        (rx, sent)
    }

    #[test]
    fn answers_a_ping_with_its_id_sequence_and_data() {
        let mut e = Responder::default();
        let req = request(ADDR, b"banana ping payload");
        let (rx, sent) = run(&mut e, &req, 0);
        assert_eq!(rx, EchoRx::Answered);
        let r = &sent[0];
        assert_eq!(r.len(), req.len());
        assert_eq!((&r[0..6], &r[6..12]), (&PEER_MAC[..], &MAC[..]));
        assert_eq!((&r[26..30], &r[30..34]), (&ADDR[..], &PEER[..]));
        assert_eq!(checksum::checksum(&r[14..34]), 0, "IP header checksum");
        assert_eq!(r[34], ECHO_REPLY);
        assert_eq!(checksum::checksum(&r[34..]), 0, "ICMP checksum");
        assert_eq!(&r[38..], &req[38..], "identifier, sequence and data kept");
        assert_eq!(e.counters.echo_answered, 1);
    }

    #[test]
    fn leaves_other_traffic_alone() {
        let mut e = Responder::default();
        let other = request([10, 77, 0, 41], b"x");
        assert_eq!(run(&mut e, &other, 0), (EchoRx::NotEcho, vec![]));
        let mut udp = request(ADDR, b"x");
        udp[23] = 17;
        assert_eq!(run(&mut e, &udp, 0).0, EchoRx::NotEcho);
        assert_eq!(run(&mut e, &udp[..20], 0).0, EchoRx::NotEcho);
        assert_eq!(e.counters, EchoCounters::default());
    }

    #[test]
    fn drops_and_counts_what_it_will_not_answer() {
        let good = request(ADDR, b"0123456789");
        let mut bad_ip_sum = good.clone();
        bad_ip_sum[24] ^= 1;
        let mut bad_icmp_sum = good.clone();
        bad_icmp_sum[36] ^= 1;
        let mut reply_type = good.clone();
        reply_type[34] = ECHO_REPLY;
        let mut fragment = good.clone();
        fragment[20] = 0x20; // MF
        let mut truncated = good.clone();
        truncated.truncate(good.len() - 3);
        let mut from_broadcast = good.clone();
        from_broadcast[26..30].copy_from_slice(&[255, 255, 255, 255]);
        let mut from_multicast_mac = good.clone();
        from_multicast_mac[6] = 0x01;
        let mut long_total = good.clone();
        long_total[16..18].copy_from_slice(&2000u16.to_be_bytes());
        for (what, f) in [
            ("IP checksum", bad_ip_sum),
            ("ICMP checksum", bad_icmp_sum),
            ("not a request", reply_type),
            ("fragment", fragment),
            ("truncated", truncated),
            ("broadcast source", from_broadcast),
            ("multicast source MAC", from_multicast_mac),
            ("total length past the frame", long_total),
        ] {
            let mut e = Responder::default();
            assert_eq!(run(&mut e, &f, 0), (EchoRx::Dropped, vec![]), "{what}");
            assert_eq!(e.counters.echo_dropped, 1, "{what}");
        }
    }

    #[test]
    fn ethernet_padding_is_not_echoed() {
        let mut e = Responder::default();
        let mut req = request(ADDR, b"");
        let len = req.len();
        req.resize(60, 0xAA);
        let (rx, sent) = run(&mut e, &req, 0);
        assert_eq!(rx, EchoRx::Answered);
        assert_eq!(sent[0].len(), len);
    }

    #[test]
    fn a_flood_is_answered_at_the_limit_and_the_rest_counted() {
        let mut e = Responder::default();
        let req = request(ADDR, b"flood");
        let mut answered = 0;
        for _ in 0..1000 {
            if run(&mut e, &req, 0).0 == EchoRx::Answered {
                answered += 1;
            }
        }
        assert_eq!(answered, ECHO_LIMIT.burst as usize);
        assert_eq!(
            e.counters.echo_rate_limited,
            1000 - u64::from(ECHO_LIMIT.burst)
        );
        // A second later the bucket holds `rate` more.
        let later = (0..1000)
            .filter(|_| run(&mut e, &req, 1_000_000_000).0 == EchoRx::Answered)
            .count();
        assert_eq!(later, ECHO_LIMIT.burst.min(ECHO_LIMIT.rate) as usize);
    }
}
