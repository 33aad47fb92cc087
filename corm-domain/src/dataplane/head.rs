//! The private copy of a frame's first bytes that the data plane acts on
//! (switching, offload decisions): copied once from the ring, never read
//! again from shared memory (the double-fetch rule), and sent as the frame's
//! first piece, so what leaves is what was checked.

use netframe::{HEADER_COPY_LEN, VLAN_HLEN};

use crate::switch::frame::{ETHERTYPE_OFFSET, TPID_8021Q};

/// A frame's first bytes, possibly with an 802.1Q tag inserted.
pub struct Head {
    bytes: [u8; HEADER_COPY_LEN + VLAN_HLEN],
    len: usize,
}

impl Head {
    /// A head to fill: `len` bytes (at most [`HEADER_COPY_LEN`]).
    pub fn with_len(len: usize) -> Head {
        Head {
            bytes: [0; HEADER_COPY_LEN + VLAN_HLEN],
            len: len.min(HEADER_COPY_LEN),
        }
    }

    /// The bytes to fill or read.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// The bytes, to fill.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.bytes[..self.len]
    }

    /// The same head with an 802.1Q tag of `vid` after the MACs.
    pub fn tagged(&self, vid: u16) -> Head {
        let mut t = Head {
            bytes: [0; HEADER_COPY_LEN + VLAN_HLEN],
            len: self.len + VLAN_HLEN,
        };
        let at = ETHERTYPE_OFFSET.min(self.len);
        t.bytes[..at].copy_from_slice(&self.bytes[..at]);
        let [t0, t1] = TPID_8021Q.to_be_bytes();
        let [v0, v1] = (vid & 0x0fff).to_be_bytes();
        t.bytes[at..at + VLAN_HLEN].copy_from_slice(&[t0, t1, v0, v1]);
        t.bytes[at + VLAN_HLEN..self.len + VLAN_HLEN].copy_from_slice(&self.bytes[at..self.len]);
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_goes_after_the_macs() {
        let mut h = Head::with_len(20);
        for (i, b) in h.bytes_mut().iter_mut().enumerate() {
            *b = i as u8;
        }
        let t = h.tagged(0x123);
        assert_eq!(t.bytes().len(), 24);
        assert_eq!(&t.bytes()[..12], &h.bytes()[..12]);
        assert_eq!(&t.bytes()[12..16], &[0x81, 0x00, 0x01, 0x23]);
        assert_eq!(&t.bytes()[16..], &h.bytes()[12..]);
        assert_eq!(Head::with_len(100_000).bytes().len(), HEADER_COPY_LEN);
    }
}
