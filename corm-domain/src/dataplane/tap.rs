//! The capture tap (`banana capture corm:C/E`): a copy of every frame that
//! crosses one endpoint, both ways, at the points where the data plane
//! holds it (docs/capture.md). Off, it costs one `Option` test per frame.

use alloc::boxed::Box;

use local_wire::WireMemory;
use pv_runtime::capture_ring::{CaptureWriter, Direction, MAX_SNAPLEN};
use pv_runtime::shared_page::SharedPage;
use pv_runtime::xenstore::parse_decimal;

use super::Dataplane;

/// The Corm's `capture` config key, `ENDPOINT SNAPLEN` in strict decimal
/// (`banana capture` writes it): the endpoint below `endpoints`, the snap
/// length 1..=[`MAX_SNAPLEN`]. Anything else is `None` (refused, not
/// clamped: the controller never writes it).
pub fn parse_target(text: &str, endpoints: u16) -> Option<(u16, u32)> {
    let (e, snaplen) = text.split_once(' ')?;
    let e = u16::try_from(parse_decimal(e)?)
        .ok()
        .filter(|&e| e < endpoints)?;
    let snaplen = parse_decimal(snaplen).filter(|n| (1..=MAX_SNAPLEN).contains(n))?;
    Some((e, snaplen))
}

/// Where tapped frames go: the domain's capture ring, or a test's list.
pub trait Tap {
    /// Taps `endpoint` from now on, keeping `snaplen` bytes of each frame.
    fn target(&mut self, endpoint: u16, snaplen: u32);
    /// The endpoint tapped.
    fn endpoint(&self) -> u16;
    /// A frame (`first` then `rest`) that crossed it at `now_ns`.
    fn record(&mut self, dir: Direction, first: &[u8], rest: &[u8], now_ns: u64);
}

impl<P: SharedPage> Tap for CaptureWriter<P> {
    fn target(&mut self, endpoint: u16, snaplen: u32) {
        CaptureWriter::target(self, endpoint, snaplen)
    }
    fn endpoint(&self) -> u16 {
        CaptureWriter::endpoint(self)
    }
    fn record(&mut self, dir: Direction, first: &[u8], rest: &[u8], now_ns: u64) {
        CaptureWriter::record(self, dir, first, rest, now_ns)
    }
}

impl<M: WireMemory> Dataplane<M> {
    /// Starts tapping (`tap.endpoint()`); returns the tap it replaces.
    pub fn set_tap(&mut self, tap: Box<dyn Tap>) -> Option<Box<dyn Tap>> {
        self.tap.replace(tap)
    }

    /// Stops tapping; returns the tap (to start again later).
    pub fn take_tap(&mut self) -> Option<Box<dyn Tap>> {
        self.tap.take()
    }

    /// The endpoint tapped, if any.
    pub fn tapped(&self) -> Option<u16> {
        self.tap.as_ref().map(|t| t.endpoint())
    }

    /// Records a frame crossing endpoint `e`, if it is tapped.
    pub(super) fn tap(&mut self, e: u16, dir: Direction, first: &[u8], rest: &[u8]) {
        if let Some(t) = self.tap.as_mut().filter(|t| t.endpoint() == e) {
            t.record(dir, first, rest, self.batch_ns);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_capture_key_is_strict() {
        assert_eq!(parse_target("0 1518", 2), Some((0, 1518)));
        assert_eq!(parse_target("1 9216", 2), Some((1, 9216)));
        for bad in [
            "",
            "0",
            "0 ",
            " 0 1518",
            "2 1518",
            "0 0",
            "0 9217",
            "0  1518",
            "01 1518",
            "0 1518 ",
            "-1 1518",
            "0 0x10",
            "65536 1518",
        ] {
            assert_eq!(parse_target(bad, 2), None, "{bad:?}");
        }
    }
}
