//! The netif ABI (`xen/include/public/io/netif.h`, Xen 4.17) and the shared ring
//! layout of `io/ring.h`, as plain `repr(C)` data and constants.
//!
//! Layouts and values are checked against the installed headers by a C probe
//! (the `probe` test below, same approach as `pv-runtime/tests/abi_layout.rs`).

use core::mem::size_of;

use pv_runtime::abi::GrantRef;

/// `XEN_PAGE_SIZE`: ring pages and grant-copy bounds are always 4 KiB (io/ring.h).
pub const PAGE_SIZE: usize = 4096;

/// `XEN_NETIF_NR_SLOTS_MIN`: the slot count every backend must accept for one
/// packet (netif.h: derived from old Linux `MAX_SKB_FRAGS`).
pub const NR_SLOTS_MIN: usize = 18;
/// `XEN_NETIF_MAX_TX_SIZE`: the largest packet a frontend may transmit.
pub const MAX_TX_SIZE: usize = 0xFFFF;

/// `NETTXF_csum_blank`: the L4 checksum field holds only the pseudo-header sum.
pub const NETTXF_CSUM_BLANK: u16 = 1 << 0;
/// `NETTXF_data_validated`: the frontend vouches for the checksum.
pub const NETTXF_DATA_VALIDATED: u16 = 1 << 1;
/// `NETTXF_more_data`: the packet continues in the next request.
pub const NETTXF_MORE_DATA: u16 = 1 << 2;
/// `NETTXF_extra_info`: a `netif_extra_info` slot follows.
pub const NETTXF_EXTRA_INFO: u16 = 1 << 3;
/// Every `NETTXF_*` bit netif.h defines; anything else is rejected.
pub const NETTXF_KNOWN: u16 =
    NETTXF_CSUM_BLANK | NETTXF_DATA_VALIDATED | NETTXF_MORE_DATA | NETTXF_EXTRA_INFO;

/// `NETRXF_data_validated`.
pub const NETRXF_DATA_VALIDATED: u16 = 1 << 0;
/// `NETRXF_csum_blank`.
pub const NETRXF_CSUM_BLANK: u16 = 1 << 1;
/// `NETRXF_more_data`: the next *data* slot continues the packet.
pub const NETRXF_MORE_DATA: u16 = 1 << 2;
/// `NETRXF_extra_info`: the next response slot is a `netif_extra_info`.
pub const NETRXF_EXTRA_INFO: u16 = 1 << 3;

/// `XEN_NETIF_EXTRA_TYPE_NONE` ("never used - invalid").
pub const EXTRA_TYPE_NONE: u8 = 0;
/// `XEN_NETIF_EXTRA_TYPE_GSO`.
pub const EXTRA_TYPE_GSO: u8 = 1;
/// `XEN_NETIF_EXTRA_TYPE_MCAST_ADD`.
pub const EXTRA_TYPE_MCAST_ADD: u8 = 2;
/// `XEN_NETIF_EXTRA_TYPE_MCAST_DEL`.
pub const EXTRA_TYPE_MCAST_DEL: u8 = 3;
/// `XEN_NETIF_EXTRA_TYPE_HASH`.
pub const EXTRA_TYPE_HASH: u8 = 4;
/// `XEN_NETIF_EXTRA_TYPE_MAX`: first invalid type.
pub const EXTRA_TYPE_MAX: u8 = 5;
/// `XEN_NETIF_EXTRA_FLAG_MORE`: another extra slot follows.
pub const EXTRA_FLAG_MORE: u8 = 1 << 0;

/// `XEN_NETIF_GSO_TYPE_NONE`.
pub const GSO_TYPE_NONE: u8 = 0;
/// `XEN_NETIF_GSO_TYPE_TCPV4`.
pub const GSO_TYPE_TCPV4: u8 = 1;
/// `XEN_NETIF_GSO_TYPE_TCPV6`.
pub const GSO_TYPE_TCPV6: u8 = 2;

/// `NETIF_RSP_DROPPED`.
pub const RSP_DROPPED: i16 = -2;
/// `NETIF_RSP_ERROR`.
pub const RSP_ERROR: i16 = -1;
/// `NETIF_RSP_OKAY`.
pub const RSP_OKAY: i16 = 0;
/// `NETIF_RSP_NULL`: the response slot of an auxiliary (extra-info) request.
pub const RSP_NULL: i16 = 1;

/// `netif_tx_request_t`: 12 bytes, the TX ring slot size.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxRequest {
    pub gref: GrantRef,
    pub offset: u16,
    pub flags: u16,
    pub id: u16,
    pub size: u16,
}

impl TxRequest {
    /// The same slot read as a `netif_extra_info`, which overlays its first 8
    /// bytes (netif.h "Extra Info").
    pub fn as_extra(&self) -> ExtraInfo {
        let g = self.gref.to_ne_bytes();
        let o = self.offset.to_ne_bytes();
        let f = self.flags.to_ne_bytes();
        ExtraInfo {
            ty: g[0],
            flags: g[1],
            u: [g[2], g[3], o[0], o[1], f[0], f[1]],
        }
    }
}

/// `netif_tx_response_t`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxResponse {
    pub id: u16,
    pub status: i16,
}

/// `netif_rx_request_t`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RxRequest {
    pub id: u16,
    pub pad: u16,
    pub gref: GrantRef,
}

/// `netif_rx_response_t`: `status` is the byte count, or a negative `NETIF_RSP_*`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RxResponse {
    pub id: u16,
    pub offset: u16,
    pub flags: u16,
    pub status: i16,
}

/// `netif_extra_info_t`: `type`, `flags`, then a 6-byte union (`u.gso`,
/// `u.mcast`, `u.hash`), kept as bytes and decoded by the accessors.
#[repr(C, align(2))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExtraInfo {
    pub ty: u8,
    pub flags: u8,
    pub u: [u8; 6],
}

impl ExtraInfo {
    /// `u.gso.size`: the segment payload size (MSS).
    pub fn gso_size(&self) -> u16 {
        u16::from_ne_bytes([self.u[0], self.u[1]])
    }

    /// `u.gso.type`: `XEN_NETIF_GSO_TYPE_*`.
    pub fn gso_type(&self) -> u8 {
        self.u[2]
    }

    /// A GSO extra with `pad` and `features` zero, as Linux netback writes it.
    pub fn gso(size: u16, gso_type: u8) -> Self {
        let s = size.to_ne_bytes();
        ExtraInfo {
            ty: EXTRA_TYPE_GSO,
            flags: 0,
            u: [s[0], s[1], gso_type, 0, 0, 0],
        }
    }
}

/// The shared-ring header of `DEFINE_RING_TYPES` (`struct *_sring` up to `ring[]`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SringHeader {
    pub req_prod: u32,
    pub req_event: u32,
    pub rsp_prod: u32,
    pub rsp_event: u32,
    pub pvt: [u8; 4],
    pub pad: [u8; 44],
}

/// Where `ring[]` starts in the shared page.
pub const SRING_ENTRIES_OFFSET: usize = core::mem::size_of::<SringHeader>();

/// `__CONST_RING_SIZE(_s, PAGE_SIZE)`: as many entries as fit after the
/// header, rounded down to a power of two (`__RD32`).
pub const fn ring_entries(entry_size: usize) -> u32 {
    let fit = ((PAGE_SIZE - SRING_ENTRIES_OFFSET) / entry_size) as u32;
    if fit == 0 {
        0
    } else {
        1 << (31 - fit.leading_zeros())
    }
}

/// `sizeof(union netif_tx_sring_entry)`.
pub const TX_ENTRY_SIZE: usize = max(size_of::<TxRequest>(), size_of::<TxResponse>());
/// `sizeof(union netif_rx_sring_entry)`.
pub const RX_ENTRY_SIZE: usize = max(size_of::<RxRequest>(), size_of::<RxResponse>());
/// `NET_TX_RING_SIZE` for one page: 256.
pub const TX_RING_SIZE: u32 = ring_entries(TX_ENTRY_SIZE);
/// `NET_RX_RING_SIZE` for one page: 256.
pub const RX_RING_SIZE: u32 = ring_entries(RX_ENTRY_SIZE);

const fn max(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}

const _: () =
    assert!(size_of::<ExtraInfo>() <= TX_ENTRY_SIZE && size_of::<ExtraInfo>() <= RX_ENTRY_SIZE);
const _: () = assert!(TX_RING_SIZE == 256 && RX_RING_SIZE == 256);

#[cfg(test)]
mod probe {
    //! Compiles a C probe against `/usr/include/xen/io/netif.h` (Debian
    //! `libxen-dev`; override with `XEN_INCLUDE`) and compares every layout and
    //! constant with the Rust side.
    use super::*;
    use core::mem::{align_of, offset_of};
    use pv_runtime::c_probe::CProbe;
    use std::format;

    struct Probe(CProbe);

    impl Probe {
        fn val(&mut self, c_expr: &str, rust: i64) {
            self.0.value(c_expr, c_expr, rust.into());
        }
        fn layout<T>(&mut self, c: &str, fields: &[(&str, usize)]) {
            self.val(&format!("sizeof({c})"), size_of::<T>() as i64);
            self.val(&format!("_Alignof({c})"), align_of::<T>() as i64);
            for (f, off) in fields {
                self.val(&format!("offsetof({c}, {f})"), *off as i64);
            }
        }
    }

    fn probe() -> Probe {
        let mut p = Probe(CProbe::new(&["xen/grant_table.h", "xen/io/netif.h"]));
        p.layout::<TxRequest>(
            "struct netif_tx_request",
            &[
                ("gref", offset_of!(TxRequest, gref)),
                ("offset", offset_of!(TxRequest, offset)),
                ("flags", offset_of!(TxRequest, flags)),
                ("id", offset_of!(TxRequest, id)),
                ("size", offset_of!(TxRequest, size)),
            ],
        );
        p.layout::<TxResponse>(
            "struct netif_tx_response",
            &[
                ("id", offset_of!(TxResponse, id)),
                ("status", offset_of!(TxResponse, status)),
            ],
        );
        p.layout::<RxRequest>(
            "struct netif_rx_request",
            &[
                ("id", offset_of!(RxRequest, id)),
                ("gref", offset_of!(RxRequest, gref)),
            ],
        );
        p.layout::<RxResponse>(
            "struct netif_rx_response",
            &[
                ("id", offset_of!(RxResponse, id)),
                ("offset", offset_of!(RxResponse, offset)),
                ("flags", offset_of!(RxResponse, flags)),
                ("status", offset_of!(RxResponse, status)),
            ],
        );
        p.layout::<ExtraInfo>(
            "struct netif_extra_info",
            &[
                ("type", offset_of!(ExtraInfo, ty)),
                ("flags", offset_of!(ExtraInfo, flags)),
                ("u", offset_of!(ExtraInfo, u)),
                ("u.gso.size", offset_of!(ExtraInfo, u)),
                ("u.gso.type", offset_of!(ExtraInfo, u) + 2),
                ("u.gso.features", offset_of!(ExtraInfo, u) + 4),
            ],
        );
        for ring in ["netif_tx", "netif_rx"] {
            let s = format!("struct {ring}_sring");
            p.val(
                &format!("offsetof({s}, req_prod)"),
                offset_of!(SringHeader, req_prod) as i64,
            );
            p.val(
                &format!("offsetof({s}, req_event)"),
                offset_of!(SringHeader, req_event) as i64,
            );
            p.val(
                &format!("offsetof({s}, rsp_prod)"),
                offset_of!(SringHeader, rsp_prod) as i64,
            );
            p.val(
                &format!("offsetof({s}, rsp_event)"),
                offset_of!(SringHeader, rsp_event) as i64,
            );
            p.val(&format!("offsetof({s}, ring)"), SRING_ENTRIES_OFFSET as i64);
        }
        p.val("sizeof(union netif_tx_sring_entry)", TX_ENTRY_SIZE as i64);
        p.val("sizeof(union netif_rx_sring_entry)", RX_ENTRY_SIZE as i64);
        p.val("__CONST_RING_SIZE(netif_tx, 4096)", TX_RING_SIZE as i64);
        p.val("__CONST_RING_SIZE(netif_rx, 4096)", RX_RING_SIZE as i64);
        let consts: &[(&str, i64)] = &[
            ("XEN_NETIF_NR_SLOTS_MIN", NR_SLOTS_MIN as i64),
            ("XEN_NETIF_MAX_TX_SIZE", MAX_TX_SIZE as i64),
            ("NETTXF_csum_blank", NETTXF_CSUM_BLANK.into()),
            ("NETTXF_data_validated", NETTXF_DATA_VALIDATED.into()),
            ("NETTXF_more_data", NETTXF_MORE_DATA.into()),
            ("NETTXF_extra_info", NETTXF_EXTRA_INFO.into()),
            ("NETRXF_data_validated", NETRXF_DATA_VALIDATED.into()),
            ("NETRXF_csum_blank", NETRXF_CSUM_BLANK.into()),
            ("NETRXF_more_data", NETRXF_MORE_DATA.into()),
            ("NETRXF_extra_info", NETRXF_EXTRA_INFO.into()),
            ("XEN_NETIF_EXTRA_TYPE_NONE", EXTRA_TYPE_NONE.into()),
            ("XEN_NETIF_EXTRA_TYPE_GSO", EXTRA_TYPE_GSO.into()),
            (
                "XEN_NETIF_EXTRA_TYPE_MCAST_ADD",
                EXTRA_TYPE_MCAST_ADD.into(),
            ),
            (
                "XEN_NETIF_EXTRA_TYPE_MCAST_DEL",
                EXTRA_TYPE_MCAST_DEL.into(),
            ),
            ("XEN_NETIF_EXTRA_TYPE_HASH", EXTRA_TYPE_HASH.into()),
            ("XEN_NETIF_EXTRA_TYPE_MAX", EXTRA_TYPE_MAX.into()),
            ("XEN_NETIF_EXTRA_FLAG_MORE", EXTRA_FLAG_MORE.into()),
            ("XEN_NETIF_GSO_TYPE_NONE", GSO_TYPE_NONE.into()),
            ("XEN_NETIF_GSO_TYPE_TCPV4", GSO_TYPE_TCPV4.into()),
            ("XEN_NETIF_GSO_TYPE_TCPV6", GSO_TYPE_TCPV6.into()),
            ("NETIF_RSP_DROPPED", RSP_DROPPED.into()),
            ("NETIF_RSP_ERROR", RSP_ERROR.into()),
            ("NETIF_RSP_OKAY", RSP_OKAY.into()),
            ("NETIF_RSP_NULL", RSP_NULL.into()),
        ];
        for (c, v) in consts {
            p.val(c, *v);
        }
        p
    }

    #[test]
    fn netif_abi_matches_xen_headers() {
        probe().0.assert_matches();
    }
}
