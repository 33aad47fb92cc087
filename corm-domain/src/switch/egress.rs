//! How the caller must emit a frame on a port. The switch only ever borrows
//! the ingress frame: VLAN tags are inserted or removed by the caller while it
//! copies the bytes out (into a NIC buffer or a wire slot), so switching never
//! allocates or copies per frame.

use super::frame::{ETHERTYPE_OFFSET, TPID_8021Q, VLAN_HLEN};

/// One copy of a frame to emit on one port. `frame` is always the whole
/// ingress frame, unmodified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Egress<'a> {
    /// Emit the frame exactly as it is.
    AsIs(&'a [u8]),
    /// Emit `frame[..12] ++ [0x81, 0x00, vid >> 8, vid & 0xff] ++ frame[12..]`:
    /// an 802.1Q tag (TPID 0x8100, PCP 0, DEI 0, VID `vid`) inserted after the
    /// two MACs. The emitted frame is 4 bytes longer.
    Tagged { vid: u16, frame: &'a [u8] },
    /// Emit `frame[..12] ++ frame[16..]`: the 802.1Q tag at bytes 12..16
    /// removed. The emitted frame is 4 bytes shorter; `frame` is at least 18
    /// bytes long.
    Untagged { frame: &'a [u8] },
}

impl Egress<'_> {
    /// The length of the frame to emit.
    pub fn len(&self) -> usize {
        match *self {
            Egress::AsIs(f) => f.len(),
            Egress::Tagged { frame, .. } => frame.len() + VLAN_HLEN,
            Egress::Untagged { frame } => frame.len().saturating_sub(VLAN_HLEN),
        }
    }

    /// Whether the emitted frame is empty (never, for frames the switch emits).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes the frame to emit into the start of `buf`, returning its length,
    /// or `None` (and nothing written) if `buf` is too small.
    pub fn write_to(&self, buf: &mut [u8]) -> Option<usize> {
        let len = self.len();
        let out = buf.get_mut(..len)?;
        match *self {
            Egress::AsIs(f) => out.copy_from_slice(f),
            Egress::Tagged { vid, frame } => {
                let (macs, rest) = frame.split_at(ETHERTYPE_OFFSET.min(frame.len()));
                out[..macs.len()].copy_from_slice(macs);
                let tag_at = macs.len();
                let [tpid_hi, tpid_lo] = TPID_8021Q.to_be_bytes();
                let [vid_hi, vid_lo] = (vid & 0x0fff).to_be_bytes();
                out[tag_at..tag_at + VLAN_HLEN]
                    .copy_from_slice(&[tpid_hi, tpid_lo, vid_hi, vid_lo]);
                out[tag_at + VLAN_HLEN..].copy_from_slice(rest);
            }
            Egress::Untagged { frame } => {
                let macs = frame.get(..ETHERTYPE_OFFSET)?;
                let rest = frame.get(ETHERTYPE_OFFSET + VLAN_HLEN..)?;
                out[..ETHERTYPE_OFFSET].copy_from_slice(macs);
                out[ETHERTYPE_OFFSET..].copy_from_slice(rest);
            }
        }
        Some(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_insert_and_strip_round_trip() {
        let frame: [u8; 16] = core::array::from_fn(|i| i as u8);
        let mut buf = [0u8; 64];
        let n = Egress::Tagged {
            vid: 0x123,
            frame: &frame,
        }
        .write_to(&mut buf)
        .unwrap();
        assert_eq!(n, 20);
        assert_eq!(&buf[..12], &frame[..12]);
        assert_eq!(&buf[12..16], &[0x81, 0x00, 0x01, 0x23]);
        assert_eq!(&buf[16..20], &frame[12..]);
        let tagged = buf;
        let n = Egress::Untagged {
            frame: &tagged[..20],
        }
        .write_to(&mut buf)
        .unwrap();
        assert_eq!(&buf[..n], &frame);
        assert_eq!(Egress::AsIs(&frame).write_to(&mut buf[..15]), None);
    }
}
