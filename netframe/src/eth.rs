//! Ethernet addresses, the header, and 802.1Q tags, read from untrusted
//! bytes without panicking (IEEE 802.3 §3.1.1, IEEE 802.1Q §9.6).

/// An Ethernet (EUI-48) address.
pub type Mac = [u8; 6];

/// Ethernet header length: destination, source, EtherType.
pub const ETH_HLEN: usize = 14;
/// Length of one 802.1Q tag (TPID + TCI), inserted after the two MACs.
pub const VLAN_HLEN: usize = 4;
/// Offset of the EtherType / TPID: right after the two MACs.
pub const ETHERTYPE_OFFSET: usize = 12;

pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_ARP: u16 = 0x0806;
pub const ETHERTYPE_IPV6: u16 = 0x86DD;
/// 802.1Q customer VLAN tag.
pub const TPID_8021Q: u16 = 0x8100;
/// 802.1ad service (outer) tag.
pub const TPID_8021AD: u16 = 0x88a8;
/// Pre-standard Q-in-Q tag some switches still honour.
pub const TPID_QINQ_LEGACY: u16 = 0x9100;

/// The broadcast address.
pub const BROADCAST: Mac = [0xff; 6];

/// A group (multicast or broadcast) address: the I/G bit is set.
pub fn is_group(mac: &Mac) -> bool {
    mac[0] & 1 != 0
}

/// Whether `mac` may be a frame's source: not a group address, not all-zero
/// (as Linux `is_valid_ether_addr`).
pub fn is_valid_source(mac: &Mac) -> bool {
    !is_group(mac) && *mac != [0; 6]
}

/// `aa:bb:cc:dd:ee:ff` (either case), hex digits only, exactly six
/// two-digit octets: the form xl and the controller write. Two texts never
/// mean one address.
pub fn parse_mac(s: &str) -> Option<Mac> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for octet in mac.iter_mut() {
        let p = parts.next()?;
        if p.len() != 2 || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        *octet = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

/// Whether `ethertype` is a VLAN tag some device on the uplink could act on.
/// An endpoint must send none of them: its frames could otherwise hop VLANs.
pub fn is_tag(ethertype: u16) -> bool {
    matches!(ethertype, TPID_8021Q | TPID_8021AD | TPID_QINQ_LEGACY)
}

/// The fields of an Ethernet header a switch looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EthHeader {
    pub dst: Mac,
    pub src: Mac,
    /// The EtherType, or the TPID if the frame is tagged.
    pub ethertype: u16,
}

impl EthHeader {
    /// Parses the first 14 bytes; `None` for a runt.
    pub fn parse(frame: &[u8]) -> Option<Self> {
        let hdr = frame.get(..ETH_HLEN)?;
        let mut dst = [0; 6];
        let mut src = [0; 6];
        dst.copy_from_slice(&hdr[..6]);
        src.copy_from_slice(&hdr[6..12]);
        Some(Self {
            dst,
            src,
            ethertype: u16::from_be_bytes([hdr[12], hdr[13]]),
        })
    }
}

/// The VID of an 802.1Q-tagged frame (its TPID already checked); `None` if
/// the frame is too short to hold the tag plus an inner EtherType.
pub fn vlan_id(frame: &[u8]) -> Option<u16> {
    let tci = frame.get(ETH_HLEN..ETH_HLEN + 2)?;
    frame.get(ETH_HLEN + VLAN_HLEN - 1)?;
    Some(u16::from_be_bytes([tci[0], tci[1]]) & 0x0fff)
}

/// The EtherType after at most one 802.1Q tag, and the L3 header's offset;
/// `None` for a runt.
pub fn l3(frame: &[u8]) -> Option<(u16, usize)> {
    let at = |i: usize| {
        frame
            .get(i..i + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
    };
    match at(ETHERTYPE_OFFSET)? {
        TPID_8021Q => Some((at(ETH_HLEN + 2)?, ETH_HLEN + VLAN_HLEN)),
        t => Some((t, ETH_HLEN)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_tags() {
        assert_eq!(EthHeader::parse(&[0; 13]), None);
        let mut f = [0u8; 18];
        f[0] = 1;
        f[6] = 2;
        f[12] = 0x81;
        f[14] = 0xf0;
        f[15] = 0x0a;
        f[16] = 0x86;
        f[17] = 0xdd;
        let h = EthHeader::parse(&f).unwrap();
        assert!(is_group(&h.dst) && !is_group(&h.src));
        assert_eq!(h.ethertype, TPID_8021Q);
        assert_eq!(vlan_id(&f), Some(10));
        assert_eq!(vlan_id(&f[..17]), None);
        assert_eq!(l3(&f), Some((ETHERTYPE_IPV6, 18)));
        assert_eq!(l3(&f[..17]), None);
        assert_eq!(
            l3(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0]),
            Some((ETHERTYPE_IPV4, 14))
        );
        assert!(!is_valid_source(&[0; 6]));
        assert!(is_tag(TPID_8021AD) && !is_tag(ETHERTYPE_IPV4));
    }
}
