//! Host tests of the netback core against a fake netfront and a fake Xen: one
//! test per hostile-input class of the docs/xen-interfaces.md, checklist item, plus the normal
//! paths, notification and index wrap-around.

mod credit;
mod prop;
mod rx;
mod tx;

use alloc::rc::Rc;
use std::vec::Vec;

use pv_runtime::abi::DomId;

use super::checksum;
use super::fake::{FakeFrontend, FakeSink, FakeSource, FakeXen};
use super::*;

const FE: DomId = 7;
const MAC: [u8; 6] = [0x00, 0x16, 0x3e, 0x00, 0x00, 0x01];

type Sent = Vec<(Vec<u8>, CsumMeta, Option<Gso>)>;

/// The domain whose pages play the wire's ring in these tests.
const RING_DOM: DomId = 3;

struct World {
    xen: FakeXen,
    fe: FakeFrontend,
    vif: Vif<Rc<HeapPage>>,
    pool: LocalPages,
    sink: FakeSink,
    sent: Sent,
    sink_full: bool,
    /// The clock TX passes see (the TX credit's).
    now: u64,
    /// Grefs of the pages each planned rx frame sits in.
    rx_grefs: Vec<Vec<u32>>,
    next_rx_gref: u32,
}

fn features() -> FrontendFeatures {
    FrontendFeatures {
        rx_copy: true,
        rx_notify: true,
        sg: true,
        ipv6_csum_offload: true,
        ..Default::default()
    }
}

fn config() -> VifConfig {
    VifConfig::new(FE, 0, MAC, features())
}

impl World {
    fn new() -> Self {
        Self::with(config(), 0)
    }

    fn with(cfg: VifConfig, start: u32) -> Self {
        Self::build(cfg, start, 4, 8)
    }

    /// `hdr_pages`: TX header pages (16 headers each); `bounce`: RX pages
    /// for frames finished in software.
    fn build(cfg: VifConfig, start: u32, hdr_pages: usize, bounce: usize) -> Self {
        let mut xen = FakeXen::new();
        let fe = FakeFrontend::new(cfg.frontend_domid, start);
        let pool = LocalPages::heap(hdr_pages, 0x10_000 * u64::from(cfg.frontend_domid));
        let rx_pool = LocalPages::heap(bounce, 0x10_000 * u64::from(cfg.frontend_domid) + 0x8000);
        // SAFETY: both pools live as long as the world (the rx pool inside the
        // vif); moving a LocalPages does not move its pages.
        unsafe {
            xen.attach(&pool);
            xen.attach(&rx_pool);
        }
        let sink = FakeSink::new(&mut xen, RING_DOM, 5000, 64);
        let vif = Vif::new(cfg, fe.tx.page.clone(), fe.rx.page.clone(), rx_pool).unwrap();
        Self {
            xen,
            fe,
            vif,
            pool,
            sink,
            sent: Vec::new(),
            sink_full: false,
            now: 0,
            rx_grefs: Vec::new(),
            next_rx_gref: 9000,
        }
    }

    fn tx(&mut self) -> Result<TxPass, Fatal> {
        self.sink.full = self.sink_full;
        let r = self
            .vif
            .process_tx(&mut self.xen, &mut self.pool, &mut self.sink, self.now);
        self.sent.extend(
            self.sink
                .sent
                .drain(..)
                .map(|(f, m)| (f, m.checksum, m.gso)),
        );
        r
    }

    /// Puts `data` in ring pages and plans its delivery to the guest.
    fn rx_plan(&mut self, data: &[u8], csum: CsumMeta, gso: Option<Gso>) -> Result<RxPlan, Fatal> {
        let mut grefs = Vec::new();
        for chunk in data.chunks(4096).chain(data.is_empty().then_some(&[][..])) {
            let g = self.next_rx_gref;
            self.next_rx_gref += 1;
            self.xen.grant(RING_DOM, g)[..chunk.len()].copy_from_slice(chunk);
            grefs.push(g);
        }
        self.rx_grefs.push(grefs);
        let frame = RxFrame {
            len: data.len(),
            meta: FrameMeta {
                checksum: csum,
                gso,
            },
        };
        let mut src = FakeSource {
            xen: &self.xen,
            domid: RING_DOM,
            grefs: self.rx_grefs.last().unwrap(),
        };
        self.vif.rx_plan(&frame, &mut src)
    }

    fn rx_commit(&mut self) -> Result<RxPass, Fatal> {
        self.vif.rx_commit(&mut self.xen)
    }

    /// Queues and publishes one frame.
    fn send(
        &mut self,
        frame: &[u8],
        sizes: &[usize],
        flags: u16,
        extras: &[netif::ExtraInfo],
    ) -> Vec<u16> {
        let ids = self
            .fe
            .queue_tx(&mut self.xen, frame, sizes, 0, flags, extras);
        self.fe.tx.push();
        ids
    }

    fn tx_rsps(&mut self) -> Vec<netif::TxResponse> {
        self.fe.tx.responses()
    }
}

/// An Ethernet frame from the vif's MAC with a non-IP ethertype.
fn eth(len: usize) -> Vec<u8> {
    let mut f: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
    f[..6].copy_from_slice(&[0xff; 6]);
    f[6..12].copy_from_slice(&MAC);
    f[12..14].copy_from_slice(&[0x88, 0xb5]);
    f
}

/// An IPv4 or IPv6 TCP/UDP frame with `payload` bytes of data, checksum field 0.
fn ip_frame(v6: bool, proto: u8, payload: usize) -> Vec<u8> {
    let l4 = if proto == checksum::IPPROTO_TCP {
        20
    } else {
        8
    } + payload;
    let mut f = eth(14);
    if v6 {
        f[12..14].copy_from_slice(&[0x86, 0xdd]);
        f.extend_from_slice(&[0x60, 0, 0, 0]);
        f.extend_from_slice(&(l4 as u16).to_be_bytes());
        f.extend_from_slice(&[proto, 64]);
        f.extend((0..32).map(|i| i as u8));
    } else {
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(&[0x45, 0]);
        f.extend_from_slice(&((20 + l4) as u16).to_be_bytes());
        f.extend_from_slice(&[0, 1, 0x40, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    }
    f.extend_from_slice(&[0x30, 0x39, 0x00, 0x50]);
    if proto == checksum::IPPROTO_TCP {
        f.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
    } else {
        f.extend_from_slice(&(l4 as u16).to_be_bytes());
        f.extend_from_slice(&[0, 0]);
    }
    f.extend((0..payload).map(|i| (i % 251) as u8));
    f
}

/// `ip_frame` turned into a valid partial-checksum frame.
fn partial_frame(v6: bool, proto: u8, payload: usize) -> (Vec<u8>, CsumMeta) {
    let mut f = ip_frame(v6, proto, payload);
    let loc = checksum::locate(&f).unwrap();
    checksum::set_pseudo(&mut f, &loc).unwrap();
    (
        f,
        CsumMeta::Partial {
            start: loc.start,
            offset: loc.offset,
        },
    )
}
