//! Capture rings as `banana capture` reads them: pages a compromised Corm
//! filled with anything (a valid header, then any head, records and
//! bytes) never make the reader panic or hand out more than the snap
//! limit; and any sequence of frames a writer records reads back exactly
//! when the reader keeps up.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pv_runtime::capture_ring::{
    CaptureReader, CaptureWriter, Direction, Next, RingWords, MAGIC, MAX_SNAPLEN, VERSION,
};
use pv_runtime::shared_page::HeapPage;

const WORDS: usize = 512;

/// Hostile pages: a header that opens, the rest from the input.
struct Hostile(Vec<u64>, usize);

impl RingWords for Hostile {
    fn pages(&self) -> usize {
        self.1
    }
    fn load(&self, page: usize, word: usize) -> u64 {
        assert!(page < self.1 && word < WORDS, "read outside the mapping");
        self.0[page * WORDS + word]
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        let pages = 2 + usize::from(mode >> 1) % 3;
        let mut words = vec![0u64; pages * WORDS];
        for (i, c) in rest.chunks(8).enumerate() {
            let mut b = [0u8; 8];
            b[..c.len()].copy_from_slice(c);
            if let Some(w) = words.get_mut(i) {
                *w = u64::from_le_bytes(b);
            }
        }
        words[0] = MAGIC;
        words[1] = VERSION;
        words[2] = (pages - 1) as u64;
        let h = Hostile(words, pages);
        let Ok(mut r) = CaptureReader::open(&h) else {
            return;
        };
        // The head the writer claims: move it by what the input says.
        let mut h = h;
        for step in rest.chunks(2).take(64) {
            h.0[3] = h.0[3].wrapping_add(u64::from(step[0]) * 8);
            if let Next::Frame(f) = r.next(&h) {
                assert!(f.bytes.len() <= MAX_SNAPLEN as usize);
                assert!(f.orig_len as usize >= f.bytes.len());
            }
        }
        return;
    }
    let pages: Vec<HeapPage> = (0..3).map(|_| HeapPage::new()).collect();
    let mut w = CaptureWriter::new(pages[0].clone(), pages[1..].to_vec(), 0);
    w.target(u16::from(mode), 1 + u32::from(mode) * 37);
    let mut r = CaptureReader::open(&pages[..]).unwrap();
    let snaplen = CaptureReader::target(&pages[..]).1 as usize;
    for (i, c) in rest.chunks(3).enumerate() {
        let len = usize::from(u16::from_le_bytes([c[0], *c.get(1).unwrap_or(&0)])) % 3000;
        let frame: Vec<u8> = (0..len).map(|j| (i + j) as u8).collect();
        let split = usize::from(*c.get(2).unwrap_or(&0)).min(len);
        w.record(Direction::ToEndpoint, &frame[..split], &frame[split..], i as u64);
        match r.next(&pages[..]) {
            Next::Frame(f) => {
                let keep = len.min(snaplen);
                assert_eq!(f.bytes, frame[..keep]);
                assert_eq!(f.orig_len as usize, len);
            }
            other => panic!("frame {i} of {len} bytes: {other:?}"),
        }
        assert_eq!(r.next(&pages[..]), Next::Empty);
    }
});
