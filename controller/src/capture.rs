//! `banana capture corm:NAME/INDEX`: a pcap of the frames crossing a Corm
//! endpoint, both ways (docs/capture.md). A driver domain has no Linux vif
//! to `tcpdump` on; the Corm copies the endpoint's frames into a capture
//! ring (`pv_runtime::capture_ring`) it grants read-only to dom0, and this
//! maps the ring through gntdev and writes what it reads as a pcap with
//! nanosecond timestamps (the `pcap` file format, LINKTYPE_ETHERNET).
//!
//! The ring is the Corm's, so everything read from it is hostile: the
//! reader checks every length, and a garbled or overrun ring costs records
//! (counted as lost), never the controller. The Corm never waits for us:
//! a reader too slow for the traffic loses records, it does not slow the
//! data path.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pv_runtime::capture_ring::{CaptureReader, Next, RingWords, MAX_SNAPLEN};

use crate::app::App;
use crate::endpoint::{Endpoint, Kind};
use crate::error::{io, Error, Result};

use crate::registry::join;
use crate::schema::{config_path, DomState, DomainRecord, WireRecord};
use xs_schema::data;

/// pcap's magic for nanosecond timestamps (as libpcap writes it).
const PCAP_MAGIC_NS: u32 = 0xA1B2_3C4D;
const LINKTYPE_ETHERNET: u32 = 1;
/// How long the Corm has to start tapping once asked.
const START_WAIT: Duration = Duration::from_secs(10);
/// How often an idle ring is looked at.
const POLL: Duration = Duration::from_millis(5);

/// Writes a pcap stream: the file header once, then one record a frame.
pub struct Pcap<W: Write> {
    out: W,
}

impl<W: Write> Pcap<W> {
    pub fn new(mut out: W, snaplen: u32) -> std::io::Result<Self> {
        let mut h = Vec::with_capacity(24);
        h.extend_from_slice(&PCAP_MAGIC_NS.to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&0i32.to_le_bytes()); // thiszone
        h.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
        h.extend_from_slice(&snaplen.to_le_bytes());
        h.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        out.write_all(&h)?;
        out.flush()?;
        Ok(Self { out })
    }

    /// One frame: `unix_ns` since the epoch, `orig_len` its length before
    /// the snap length cut `bytes`.
    pub fn frame(&mut self, unix_ns: u64, orig_len: u32, bytes: &[u8]) -> std::io::Result<()> {
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&((unix_ns / 1_000_000_000) as u32).to_le_bytes());
        h[4..8].copy_from_slice(&((unix_ns % 1_000_000_000) as u32).to_le_bytes());
        h[8..12].copy_from_slice(&(bytes.len() as u32).to_le_bytes());
        h[12..16].copy_from_slice(&orig_len.max(bytes.len() as u32).to_le_bytes());
        self.out.write_all(&h)?;
        self.out.write_all(bytes)
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// What a capture took.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Taken {
    pub frames: u64,
    /// Times the reader found records overwritten or garbled.
    pub lost: u64,
}

/// Copies every record the ring holds now into `pcap`, up to `limit`
/// frames in all (`taken` counts across calls); returns whether any was.
pub fn pump<W: Write>(
    reader: &mut CaptureReader,
    ring: &(impl RingWords + ?Sized),
    pcap: &mut Pcap<W>,
    taken: &mut Taken,
    limit: Option<u64>,
) -> std::io::Result<bool> {
    let mut any = false;
    while limit.is_none_or(|l| taken.frames < l) {
        match reader.next(ring) {
            Next::Frame(f) => {
                pcap.frame(f.unix_ns, f.orig_len, &f.bytes)?;
                taken.frames += 1;
                any = true;
            }
            Next::Lost => {
                taken.lost += 1;
                any = true;
            }
            Next::Empty => break,
        }
    }
    Ok(any)
}

/// What to capture and for how long.
#[derive(Debug, Clone)]
pub struct CaptureSpec {
    /// A Corm endpoint, or a wire (its Corm end) by id.
    pub what: Tapped,
    pub snaplen: u32,
    /// Stop after this many frames.
    pub count: Option<u64>,
    /// Stop after this long.
    pub duration: Option<Duration>,
}

impl CaptureSpec {
    pub fn parse(what: &str, snaplen: u32, count: Option<u64>, secs: Option<u64>) -> Result<Self> {
        let what = if let Ok(id) = what.parse::<u32>() {
            Tapped::Wire(id)
        } else {
            let endpoint: Endpoint = what
                .parse()
                .map_err(|_| Error::BadEndpoint(what.to_string()))?;
            if !matches!(endpoint, Endpoint::Corm(..)) {
                return Err(Error::BadCapture(format!(
                    "{endpoint}: capture taps a Corm endpoint (corm:NAME/INDEX) or a wire with one (its id)"
                )));
            }
            Tapped::Endpoint(endpoint)
        };
        if !(1..=MAX_SNAPLEN).contains(&snaplen) {
            return Err(Error::BadCapture(format!(
                "--snaplen {snaplen}: use 1..={MAX_SNAPLEN}"
            )));
        }
        if count == Some(0) || secs == Some(0) {
            return Err(Error::BadCapture(
                "--count and --duration must be at least 1".into(),
            ));
        }
        Ok(Self {
            what,
            snaplen,
            count,
            duration: secs.map(Duration::from_secs),
        })
    }
}

/// What `banana capture` was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tapped {
    Endpoint(Endpoint),
    Wire(u32),
}

impl std::fmt::Display for Tapped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tapped::Endpoint(e) => write!(f, "{e}"),
            Tapped::Wire(id) => write!(f, "wire {id}"),
        }
    }
}

/// Read access to the ring through gntdev (the mapping's atomic loads).
struct Mapped<'a>(xen_gntdev::ReadOnlyMapping<'a>);

impl RingWords for Mapped<'_> {
    fn pages(&self) -> usize {
        self.0.pages()
    }
    fn load(&self, page: usize, word: usize) -> u64 {
        self.0.load_u64(page, word)
    }
}

/// Takes the `capture` key out of the Corm's config when the capture ends,
/// however it ends.
struct Untap<'a> {
    reg: &'a dyn crate::registry::Registry,
    key: String,
}

impl Drop for Untap<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.reg.rm(&self.key) {
            tracing::warn!("{}: {e}", self.key);
        }
    }
}

impl App<'_> {
    /// `banana capture`: asks the Corm to tap the endpoint, writes the pcap
    /// to `out` until the count, the duration or `stop`, then stops the
    /// tap.
    pub fn capture(&self, spec: &CaptureSpec, out: impl Write, stop: &AtomicBool) -> Result<Taken> {
        let endpoint = match &spec.what {
            Tapped::Endpoint(e) => e.clone(),
            Tapped::Wire(id) => {
                let w = WireRecord::load_all(self.reg)?
                    .into_iter()
                    .find(|w| w.id == *id)
                    .ok_or_else(|| Error::UnknownWire(id.to_string()))?;
                match (&w.a, &w.b) {
                    (e @ Endpoint::Corm(..), _) | (_, e @ Endpoint::Corm(..)) => e.clone(),
                    (a, b) => {
                        return Err(Error::BadCapture(format!(
                            "wire {id} ({a} - {b}) has no Corm end to tap"
                        )))
                    }
                }
            }
        };
        let Endpoint::Corm(name, index) = &endpoint else {
            unreachable!("only Corm endpoints are tapped")
        };
        let unknown = |why: String| Error::UnknownEndpoint {
            endpoint: endpoint.clone(),
            why,
        };
        let rec = DomainRecord::load(self.reg, Kind::Corm, name)?
            .ok_or_else(|| unknown(format!("no corm named '{name}'")))?;
        let Some(domid) = rec.domid.filter(|_| rec.state == DomState::Running) else {
            return Err(unknown(format!("corm '{name}' is {}", rec.state)));
        };
        if *index >= rec.endpoints {
            return Err(unknown(format!(
                "corm '{name}' has endpoints 0..={}",
                rec.endpoints.saturating_sub(1)
            )));
        }
        let target = format!("{index} {}", spec.snaplen);
        let key = join(&config_path(domid), xs_schema::config::CAPTURE);
        self.reg.put(&key, &target)?;
        let _untap = Untap {
            reg: self.reg,
            key: key.clone(),
        };
        let t0 = Instant::now();
        let refs = loop {
            let now = self.local.get(&data::CAPTURE_TARGET.of(domid))?;
            let refs = self.local.get(&data::CAPTURE_REFS.of(domid))?;
            if let (Some(t), Some(r)) = (now, refs) {
                if t == target {
                    break r;
                }
            }
            if t0.elapsed() > START_WAIT || stop.load(Ordering::Relaxed) {
                return Err(Error::BadCapture(format!(
                    "corm '{name}' did not start tapping endpoint {index} within {} s (its console says why)",
                    START_WAIT.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let refs: Vec<u32> = refs
            .split(' ')
            .map(|r| r.parse())
            .collect::<Result<_, _>>()
            .map_err(|_| {
                Error::BadCapture(format!(
                    "corm '{name}' publishes bad ring references '{refs}'"
                ))
            })?;
        let dev = xen_gntdev::Gntdev::open(crate::gntdev::GNTDEV)
            .map_err(io("opening the grant device"))?;
        let map = Mapped(
            dev.map_read_only(domid, &refs)
                .map_err(io(format!("mapping corm '{name}'s capture ring")))?,
        );
        let mut reader = CaptureReader::open(&map)
            .map_err(|e| Error::BadCapture(format!("corm '{name}': {e}")))?;
        let mut pcap = Pcap::new(out, spec.snaplen).map_err(io("writing the pcap"))?;
        let mut taken = Taken::default();
        let t0 = Instant::now();
        loop {
            let any = pump(&mut reader, &map, &mut pcap, &mut taken, spec.count)
                .map_err(io("writing the pcap"))?;
            let done = spec.count.is_some_and(|c| taken.frames >= c)
                || spec.duration.is_some_and(|d| t0.elapsed() >= d)
                || stop.load(Ordering::Relaxed);
            if done {
                break;
            }
            if !any {
                pcap.flush().map_err(io("writing the pcap"))?;
                std::thread::sleep(POLL);
            }
        }
        pcap.flush().map_err(io("writing the pcap"))?;
        Ok(taken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pv_runtime::capture_ring::{CaptureWriter, Direction};
    use pv_runtime::shared_page::HeapPage;

    #[test]
    fn the_pcap_header_and_records_are_libpcaps() {
        let mut buf = Vec::new();
        let mut p = Pcap::new(&mut buf, 1518).unwrap();
        p.frame(1_700_000_000_123_456_789, 1514, &[0xAA; 60])
            .unwrap();
        assert_eq!(
            &buf[0..4],
            &[0x4D, 0x3C, 0xB2, 0xA1],
            "nanosecond magic, little endian"
        );
        assert_eq!(&buf[4..8], &[2, 0, 4, 0], "version 2.4");
        assert_eq!(u32::from_le_bytes(buf[16..20].try_into().unwrap()), 1518);
        assert_eq!(
            u32::from_le_bytes(buf[20..24].try_into().unwrap()),
            1,
            "Ethernet"
        );
        let r = &buf[24..];
        assert_eq!(
            u32::from_le_bytes(r[0..4].try_into().unwrap()),
            1_700_000_000
        );
        assert_eq!(u32::from_le_bytes(r[4..8].try_into().unwrap()), 123_456_789);
        assert_eq!(u32::from_le_bytes(r[8..12].try_into().unwrap()), 60);
        assert_eq!(u32::from_le_bytes(r[12..16].try_into().unwrap()), 1514);
        assert_eq!(&r[16..], &[0xAA; 60]);
    }

    #[test]
    fn pump_copies_what_the_ring_holds_up_to_the_count() {
        let pages: Vec<HeapPage> = (0..4).map(|_| HeapPage::new()).collect();
        let mut w = CaptureWriter::new(pages[0].clone(), pages[1..].to_vec(), 0);
        w.target(1, 100);
        let mut r = CaptureReader::open(&pages[..]).unwrap();
        for i in 0..5u8 {
            w.record(Direction::FromEndpoint, &[i; 60], &[], u64::from(i));
        }
        let mut buf = Vec::new();
        let mut p = Pcap::new(&mut buf, 100).unwrap();
        let mut taken = Taken::default();
        assert!(pump(&mut r, &pages[..], &mut p, &mut taken, Some(3)).unwrap());
        assert_eq!(taken, Taken { frames: 3, lost: 0 });
        assert!(!pump(&mut r, &pages[..], &mut p, &mut taken, Some(3)).unwrap());
        assert!(pump(&mut r, &pages[..], &mut p, &mut taken, None).unwrap());
        assert_eq!(taken.frames, 5);
        assert_eq!(buf.len(), 24 + 5 * (16 + 60));
    }

    #[test]
    fn bad_capture_asks_are_one_line_errors() {
        for (ep, snap, count, secs, want) in [
            ("spike:s1", 1518, None, None, "capture taps a Corm endpoint"),
            (
                "vxlan:42@10.0.0.1",
                1518,
                None,
                None,
                "capture taps a Corm endpoint",
            ),
            ("corm:c/0", 0, None, None, "--snaplen 0"),
            ("corm:c/0", 9217, None, None, "--snaplen 9217"),
            ("corm:c/0", 1518, Some(0), None, "at least 1"),
            ("corm:c/0", 1518, None, Some(0), "at least 1"),
            ("nonsense", 1518, None, None, "bad endpoint"),
            ("-3", 1518, None, None, "bad endpoint"),
        ] {
            let e = CaptureSpec::parse(ep, snap, count, secs)
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{ep} {snap}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
        assert!(CaptureSpec::parse("corm:c/3", 64, Some(10), Some(5)).is_ok());
        assert_eq!(
            CaptureSpec::parse("7", 64, None, None).unwrap().what,
            Tapped::Wire(7)
        );
    }
}
