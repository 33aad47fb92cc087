use super::*;
use crate::shared_page::HeapPage;

const WALL: u64 = 1_700_000_000_000_000_000;

/// A writer over `data` heap pages, and a reader of the same pages.
fn ring(data: usize) -> CaptureWriter<HeapPage> {
    let pages = (0..data).map(|_| HeapPage::new()).collect();
    CaptureWriter::new(HeapPage::new(), pages, WALL)
}

fn frame(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed))
        .collect()
}

fn drain(r: &mut CaptureReader, w: &CaptureWriter<HeapPage>) -> (Vec<Captured>, u64) {
    let mut got = Vec::new();
    let mut lost = 0;
    loop {
        match r.next(w) {
            Next::Frame(c) => got.push(c),
            Next::Lost => lost += 1,
            Next::Empty => return (got, lost),
        }
    }
}

#[test]
fn frames_come_out_as_they_went_in_with_time_direction_and_endpoint() {
    let mut w = ring(2);
    w.target(3, 1518);
    let mut r = CaptureReader::open(&w).unwrap();
    assert_eq!(r.next(&w), Next::Empty);
    let (a, b) = (frame(60, 1), frame(1514, 2));
    w.record(Direction::FromEndpoint, &a[..14], &a[14..], 5);
    w.record(Direction::ToEndpoint, &b, &[], 9);
    let (got, lost) = drain(&mut r, &w);
    assert_eq!(lost, 0);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].bytes, a);
    assert_eq!(
        (got[0].unix_ns, got[0].dir, got[0].endpoint, got[0].orig_len),
        (WALL + 5, Direction::FromEndpoint, 3, 60)
    );
    assert_eq!(got[1].bytes, b);
    assert_eq!((got[1].dir, got[1].orig_len), (Direction::ToEndpoint, 1514));
    assert_eq!(CaptureReader::target(&w), (3, 1518));
}

#[test]
fn the_snap_length_cuts_frames_and_keeps_their_length() {
    let mut w = ring(2);
    w.target(0, 64);
    let mut r = CaptureReader::open(&w).unwrap();
    let big = frame(9000, 3);
    w.record(Direction::ToEndpoint, &big[..100], &big[100..], 1);
    let (got, _) = drain(&mut r, &w);
    assert_eq!(got[0].bytes, big[..64]);
    assert_eq!(got[0].orig_len, 9000);
    // Out of range asks are clamped.
    w.target(0, 0);
    assert_eq!(CaptureReader::target(&w).1, 1);
    w.target(0, 1 << 20);
    assert_eq!(
        CaptureReader::target(&w).1,
        2 * 4096 / 4 - 24,
        "a quarter of a small ring"
    );
    let mut full = ring(PAGES - 1);
    full.target(0, 1 << 20);
    assert_eq!(CaptureReader::target(&full).1, u64::from(MAX_SNAPLEN));
}

#[test]
fn a_reader_that_keeps_up_sees_every_frame_across_many_wraps() {
    let mut w = ring(2);
    let mut r = CaptureReader::open(&w).unwrap();
    let mut seen = 0;
    for i in 0..2000usize {
        let f = frame(60 + (i * 37) % 1400, i as u8);
        w.record(Direction::FromEndpoint, &f, &[], i as u64);
        let (got, lost) = drain(&mut r, &w);
        assert_eq!(lost, 0, "frame {i}");
        assert_eq!(got.len(), 1, "frame {i}");
        assert_eq!(got[0].bytes, f, "frame {i}");
        seen += 1;
    }
    assert_eq!(seen, 2000);
}

#[test]
fn a_reader_left_behind_says_so_once_and_goes_on_from_the_newest() {
    let mut w = ring(2);
    let mut r = CaptureReader::open(&w).unwrap();
    for i in 0..100u8 {
        w.record(Direction::FromEndpoint, &frame(1000, i), &[], 0);
    }
    assert_eq!(r.next(&w), Next::Lost);
    assert_eq!(r.next(&w), Next::Empty);
    let f = frame(200, 9);
    w.record(Direction::FromEndpoint, &f, &[], 0);
    let (got, lost) = drain(&mut r, &w);
    assert_eq!((got.len(), lost), (1, 0));
    assert_eq!(got[0].bytes, f);
    assert_eq!(r.lost, 1);
}

/// A hostile writer: whatever it puts in the pages, the reader never
/// panics, never reads past the ring, and reports garbage as lost.
#[test]
fn garbage_in_the_pages_is_lost_never_a_panic() {
    let w = ring(2);
    let mut r = CaptureReader::open(&w).unwrap();
    let poke = |page: usize, index: usize, v: u64| {
        word(
            if page == 0 {
                &w.header
            } else {
                &w.data[page - 1]
            },
            index,
        )
        .store(v, Ordering::Relaxed)
    };
    for (w0, head) in [
        (u64::from(MAX_SNAPLEN) + 1, 64), // caplen over the limit
        (100 | (10 << 32), 200),          // original shorter than captured
        (4000 | (4000 << 32), 1000),      // record past the head
        (1 | (1 << 32), u64::MAX),        // head far ahead
    ] {
        // At the reader's place, the head relative to it.
        let at = r.tail % r.capacity;
        poke(1 + at as usize / PAGE_SIZE, at as usize % PAGE_SIZE / 8, w0);
        poke(0, W_HEAD, r.tail.saturating_add(head));
        assert_eq!(r.next(&w), Next::Lost, "{w0:#x} {head}");
        assert_eq!(r.next(&w), Next::Empty);
    }
    // A head that goes backwards.
    poke(0, W_HEAD, r.tail - 8);
    assert_eq!(r.next(&w), Next::Lost);
}

#[test]
fn headers_that_are_not_a_ring_are_refused() {
    let w = ring(2);
    struct Fake<'a>(&'a CaptureWriter<HeapPage>, usize, usize, u64);
    impl RingWords for Fake<'_> {
        fn pages(&self) -> usize {
            self.1
        }
        fn load(&self, page: usize, index: usize) -> u64 {
            if page == 0 && index == self.2 {
                self.3
            } else {
                self.0.load(page, index)
            }
        }
    }
    assert_eq!(
        CaptureReader::open(&Fake(&w, 3, W_MAGIC, 7)).err(),
        Some(CaptureReadError::Magic(7))
    );
    assert_eq!(
        CaptureReader::open(&Fake(&w, 3, W_VERSION, 2)).err(),
        Some(CaptureReadError::Version(2))
    );
    assert_eq!(
        CaptureReader::open(&Fake(&w, 5, 99, 0)).err(),
        Some(CaptureReadError::Pages { said: 2, mapped: 5 })
    );
    assert!(CaptureReader::open(&Fake(&w, 3, 99, 0)).is_ok());
}
