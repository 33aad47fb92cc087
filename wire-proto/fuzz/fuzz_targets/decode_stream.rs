//! Feed arbitrary bytes, in arbitrary chunks, to the byte-ring record decoder.
//!
//! Input layout: byte 0 picks the buffer size (full or small), bytes 1..=4 are the chunk
//! sizes to cycle through, the rest is the stream. Oracles: no panic; `Ok(None)` only
//! with the input consumed; fatal errors poison the decoder; every decoded message
//! re-encodes and decodes to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wire_proto::{Message, StreamDecoder, StreamError, MAX_MESSAGE_LEN};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Some((sizes, stream)) = rest.split_first_chunk::<4>() else {
        return;
    };
    let buf_len = if mode & 1 == 0 {
        MAX_MESSAGE_LEN
    } else {
        usize::from(mode)
    };
    let mut dec = StreamDecoder::new(vec![0u8; buf_len]);
    let mut rest = stream;
    let mut i = 0;
    while !rest.is_empty() {
        let n = usize::from(sizes[i % 4]).clamp(1, rest.len());
        i += 1;
        let (chunk, after) = rest.split_at(n);
        rest = after;
        let mut input = chunk;
        loop {
            match dec.next_message(&mut input) {
                Ok(Some(msg)) => check_roundtrip(&msg),
                Ok(None) => {
                    assert!(input.is_empty());
                    break;
                }
                Err(StreamError::Message(_)) => {}
                Err(e) => {
                    assert!(e.is_fatal());
                    assert!(dec.is_poisoned());
                    return;
                }
            }
        }
    }
});

fn check_roundtrip(msg: &Message<'_>) {
    let bytes = msg.to_vec().expect("a decoded message re-encodes");
    assert_eq!(&Message::decode(&bytes).expect("and decodes"), msg);
}
