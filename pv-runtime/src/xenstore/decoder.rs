//! Reassembles messages from a byte stream delivered in arbitrary pieces.
//!
//! The response ring is a byte stream (`docs/misc/xenstore-ring.txt`): a
//! header can be split across two reads, and one read can hold the tail of
//! one message and the start of the next. [`Decoder`] buffers a partial
//! header or payload and never looks past the end of the current message.

use alloc::vec::Vec;

use super::codec::{FrameError, Header, HEADER_LEN};

/// One complete message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The checked header.
    pub header: Header,
    /// Exactly `header.len` bytes.
    pub payload: Vec<u8>,
}

/// A streaming message decoder. After a [`FrameError`] it stays failed: the
/// stream has no markers to find the next header again.
#[derive(Debug, Default)]
pub struct Decoder {
    head: [u8; HEADER_LEN],
    head_len: usize,
    body: Option<(Header, Vec<u8>)>,
    failed: Option<FrameError>,
}

impl Decoder {
    /// A decoder positioned at a message boundary.
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// Whether no partial message is buffered.
    pub fn at_boundary(&self) -> bool {
        self.head_len == 0 && self.body.is_none()
    }

    /// Consumes bytes from the front of `input` up to the end of the next
    /// message and returns it, or consumes all of `input` and returns `None`
    /// if the message is still incomplete.
    pub fn decode(&mut self, input: &mut &[u8]) -> Result<Option<Message>, FrameError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        if self.body.is_none() {
            let want = HEADER_LEN - self.head_len;
            let (take, rest) = input.split_at(want.min(input.len()));
            self.head[self.head_len..self.head_len + take.len()].copy_from_slice(take);
            self.head_len += take.len();
            *input = rest;
            if self.head_len < HEADER_LEN {
                return Ok(None);
            }
            self.head_len = 0;
            match Header::parse(&self.head) {
                Ok(h) => self.body = Some((h, Vec::with_capacity(h.len as usize))),
                Err(e) => {
                    self.failed = Some(e);
                    return Err(e);
                }
            }
        }
        let Some((header, payload)) = self.body.as_mut() else {
            return Ok(None);
        };
        let want = header.len as usize - payload.len();
        let (take, rest) = input.split_at(want.min(input.len()));
        payload.extend_from_slice(take);
        *input = rest;
        if payload.len() < header.len as usize {
            return Ok(None);
        }
        Ok(self
            .body
            .take()
            .map(|(header, payload)| Message { header, payload }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xenstore::codec::{MsgType, Request};
    use proptest::prelude::*;

    fn msg(ty: MsgType, req_id: u32, payload: &[u8]) -> Vec<u8> {
        let h = Header {
            ty,
            req_id,
            tx_id: 0,
            len: payload.len() as u32,
        };
        let mut v = h.to_bytes().to_vec();
        v.extend_from_slice(payload);
        v
    }

    fn decode_all(d: &mut Decoder, mut input: &[u8]) -> Result<Vec<Message>, FrameError> {
        let mut out = Vec::new();
        while !input.is_empty() {
            if let Some(m) = d.decode(&mut input)? {
                out.push(m);
            }
        }
        Ok(out)
    }

    #[test]
    fn byte_by_byte() {
        let mut stream = msg(MsgType::Read, 7, b"hello");
        stream.extend(msg(MsgType::Write, 8, b"OK\0"));
        stream.extend(msg(MsgType::Mkdir, 9, b""));
        let mut d = Decoder::new();
        let mut got = Vec::new();
        for b in &stream {
            got.extend(decode_all(&mut d, core::slice::from_ref(b)).unwrap());
        }
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].payload, b"hello");
        assert_eq!(got[1].header.req_id, 8);
        assert!(got[2].payload.is_empty());
        assert!(d.at_boundary());
    }

    #[test]
    fn stops_at_message_end() {
        let mut stream = msg(MsgType::Read, 1, b"a");
        stream.extend(msg(MsgType::Read, 2, b"b"));
        let mut d = Decoder::new();
        let mut input = &stream[..];
        assert_eq!(d.decode(&mut input).unwrap().unwrap().header.req_id, 1);
        assert_eq!(input.len(), HEADER_LEN + 1);
    }

    #[test]
    fn oversize_and_unknown_type_are_sticky_errors() {
        let mut bad = msg(MsgType::Read, 1, b"");
        bad[12..16].copy_from_slice(&4097u32.to_le_bytes());
        let mut d = Decoder::new();
        assert_eq!(decode_all(&mut d, &bad), Err(FrameError::Oversize(4097)));
        assert_eq!(d.decode(&mut &b"x"[..]), Err(FrameError::Oversize(4097)));

        let mut bad = msg(MsgType::Read, 1, b"");
        bad[0..4].copy_from_slice(&20u32.to_le_bytes());
        assert_eq!(
            decode_all(&mut Decoder::new(), &bad),
            Err(FrameError::UnknownType(20))
        );

        let mut max = msg(MsgType::Read, 1, &[0x41; 4096]);
        assert_eq!(decode_all(&mut Decoder::new(), &max).unwrap().len(), 1);
        max.truncate(100);
        let mut d = Decoder::new();
        assert_eq!(decode_all(&mut d, &max).unwrap().len(), 0);
        assert!(!d.at_boundary());
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..9000),
                                    cuts in proptest::collection::vec(1usize..64, 1..50)) {
            let mut d = Decoder::new();
            let mut rest = &data[..];
            let mut i = 0;
            while !rest.is_empty() {
                let n = cuts[i % cuts.len()].min(rest.len());
                let mut chunk = &rest[..n];
                rest = &rest[n..];
                i += 1;
                while !chunk.is_empty() {
                    match d.decode(&mut chunk) {
                        Ok(Some(m)) => prop_assert!(m.payload.len() <= 4096),
                        Ok(None) => prop_assert!(chunk.is_empty()),
                        Err(_) => break,
                    }
                }
            }
        }

        #[test]
        fn any_chunking_reassembles(cuts in proptest::collection::vec(1usize..40, 1..20),
                                    values in proptest::collection::vec(
                                        proptest::collection::vec(any::<u8>(), 0..300), 1..6)) {
            let mut stream = Vec::new();
            for (i, v) in values.iter().enumerate() {
                stream.extend(Request::Write("/a", v).encode(i as u32, 0).unwrap());
            }
            let mut d = Decoder::new();
            let mut got = Vec::new();
            let mut rest = &stream[..];
            let mut i = 0;
            while !rest.is_empty() {
                let n = cuts[i % cuts.len()].min(rest.len());
                got.extend(decode_all(&mut d, &rest[..n]).unwrap());
                rest = &rest[n..];
                i += 1;
            }
            prop_assert_eq!(got.len(), values.len());
            for (m, v) in got.iter().zip(&values) {
                prop_assert_eq!(&m.payload[3..], &v[..]);
            }
        }
    }
}
