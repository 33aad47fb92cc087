//! One frame to transmit, as the pieces it is gathered from: a private copy
//! of its (validated) headers, the rest where it already is (a wire ring's
//! slot, a coalescer's buffer), a VLAN tag to insert between them. A driver
//! copies the pieces once, straight into its DMA buffers, and may complete a
//! TCP/UDP checksum in its copy: the frame is never assembled anywhere else.

use net_offload::checksum;

use super::TxError;

/// Pieces a frame may be gathered from: headers before a tag, the tag, the
/// headers after it, the payload.
pub const MAX_PIECES: usize = 4;

/// The pieces of one frame, in order.
#[derive(Clone, Copy, Debug)]
pub struct TxFrame<'a> {
    pieces: [&'a [u8]; MAX_PIECES],
    n: usize,
    len: usize,
    /// Complete the L4 checksum in the driver's copy: `(start, offset)` as a
    /// partial checksum (the field holds the pseudo-header sum).
    csum: Option<(u16, u16)>,
}

impl<'a> From<&'a [u8]> for TxFrame<'a> {
    fn from(frame: &'a [u8]) -> Self {
        TxFrame {
            pieces: [frame, &[], &[], &[]],
            n: 1,
            len: frame.len(),
            csum: None,
        }
    }
}

impl<'a> TxFrame<'a> {
    /// A frame gathered from `pieces` (at most [`MAX_PIECES`], empty ones
    /// skipped); `None` if there are more.
    pub fn gather(pieces: &[&'a [u8]]) -> Option<Self> {
        let mut f = TxFrame {
            pieces: [&[]; MAX_PIECES],
            n: 0,
            len: 0,
            csum: None,
        };
        for p in pieces.iter().filter(|p| !p.is_empty()) {
            *f.pieces.get_mut(f.n)? = p;
            f.n += 1;
            f.len += p.len();
        }
        Some(f)
    }

    /// The frame with its L4 checksum to be completed in the driver's copy
    /// (software checksum offload for a device without it).
    pub fn with_checksum(self, start: u16, offset: u16) -> Self {
        TxFrame {
            csum: Some((start, offset)),
            ..self
        }
    }

    /// The frame's length.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the frame is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first piece: where a driver looks for the headers it programs
    /// offloads from (the Corm puts the whole header block there).
    pub fn head(&self) -> &'a [u8] {
        self.pieces[0]
    }

    /// Copies frame bytes `at..at + dst.len()` into `dst` (clipped to the
    /// frame; the rest of `dst` is left alone).
    pub fn copy_to(&self, at: usize, dst: &mut [u8]) {
        let mut pos = 0; // frame offset of the current piece
        let mut done = 0;
        for p in &self.pieces[..self.n] {
            let (start, end) = (pos, pos + p.len());
            pos = end;
            let want = at + done;
            if done == dst.len() {
                break;
            }
            if want >= end {
                continue;
            }
            let from = want - start;
            let n = (p.len() - from).min(dst.len() - done);
            dst[done..done + n].copy_from_slice(&p[from..from + n]);
            done += n;
        }
    }

    /// Copies the whole frame into `dst` (at least [`len`](Self::len) bytes)
    /// and completes the checksum, if one was asked for, in that copy.
    pub fn copy_whole(&self, dst: &mut [u8]) -> Result<(), TxError> {
        let dst = dst.get_mut(..self.len).ok_or(TxError::Length(self.len))?;
        self.copy_to(0, dst);
        if let Some((start, offset)) = self.csum {
            checksum::complete(dst, usize::from(start), usize::from(offset))
                .map_err(|_| TxError::Invalid)?;
        }
        Ok(())
    }

    /// Whether the driver must complete a checksum in its copy (such frames
    /// fit one buffer: [`copy_whole`](Self::copy_whole)).
    pub fn needs_checksum(&self) -> bool {
        self.csum.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gathers_pieces_in_order_and_clips() {
        let (a, b, c) = ([1u8, 2, 3], [4u8], [5u8, 6, 7, 8]);
        let f = TxFrame::gather(&[&a, &[], &b, &c]).unwrap();
        assert_eq!(f.len(), 8);
        let mut all = [0u8; 8];
        f.copy_to(0, &mut all);
        assert_eq!(all, [1, 2, 3, 4, 5, 6, 7, 8]);
        for at in 0..8 {
            for n in 0..=8 - at {
                let mut part = vec![0u8; n];
                f.copy_to(at, &mut part);
                assert_eq!(part, all[at..at + n], "at {at} n {n}");
            }
        }
        let mut past = [9u8; 3];
        f.copy_to(7, &mut past);
        assert_eq!(past, [8, 9, 9]);
        assert!(TxFrame::gather(&[&a, &a, &a, &a, &a]).is_none());
        assert_eq!(TxFrame::from(&a[..]).head(), &a);
    }

    #[test]
    fn checksum_completed_in_the_copy() {
        // A UDP/IPv4 frame with the pseudo-header sum in the field.
        let mut frame = vec![0u8; 14 + 20 + 8 + 4];
        frame[12..14].copy_from_slice(&[0x08, 0x00]);
        frame[14] = 0x45;
        frame[16..18].copy_from_slice(&(20u16 + 12).to_be_bytes());
        frame[23] = 17;
        frame[26..30].copy_from_slice(&[10, 0, 0, 1]);
        frame[30..34].copy_from_slice(&[10, 0, 0, 2]);
        frame[38..40].copy_from_slice(&12u16.to_be_bytes());
        frame[42..46].copy_from_slice(b"data");
        let loc = checksum::locate(&frame).unwrap();
        checksum::set_pseudo(&mut frame, &loc).unwrap();
        let (head, tail) = frame.split_at(20);
        let f = TxFrame::gather(&[head, tail])
            .unwrap()
            .with_checksum(loc.start, loc.offset);
        assert!(f.needs_checksum());
        let mut out = vec![0u8; 64];
        f.copy_whole(&mut out).unwrap();
        assert_eq!(checksum::verify_l4(&out[..frame.len()]), Ok(true));
        assert_eq!(f.copy_whole(&mut [0u8; 10]), Err(TxError::Length(46)));
    }
}
