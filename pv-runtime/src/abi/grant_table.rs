//! Grant tables, v1 (grant_table.h).

use super::{DomId, GrantRef};

pub const GNTTABOP_MAP_GRANT_REF: u32 = 0;
pub const GNTTABOP_UNMAP_GRANT_REF: u32 = 1;
pub const GNTTABOP_SETUP_TABLE: u32 = 2;
pub const GNTTABOP_COPY: u32 = 5;
pub const GNTTABOP_QUERY_SIZE: u32 = 6;

/// `grant_entry_v1_t.flags` bits.
pub const GTF_INVALID: u16 = 0;
pub const GTF_PERMIT_ACCESS: u16 = 1;
pub const GTF_READONLY: u16 = 1 << 2;
pub const GTF_READING: u16 = 1 << 3;
pub const GTF_WRITING: u16 = 1 << 4;

/// `GNTMAP_*` flags for `gnttab_map_grant_ref`.
pub const GNTMAP_DEVICE_MAP: u32 = 1 << 0;
pub const GNTMAP_HOST_MAP: u32 = 1 << 1;
pub const GNTMAP_READONLY: u32 = 1 << 2;

/// `GNTCOPY_*` flags for `gnttab_copy`.
pub const GNTCOPY_SOURCE_GREF: u16 = 1 << 0;
pub const GNTCOPY_DEST_GREF: u16 = 1 << 1;

/// `GNTST_*` status codes.
pub const GNTST_OKAY: i16 = 0;
pub const GNTST_GENERAL_ERROR: i16 = -1;
pub const GNTST_BAD_DOMAIN: i16 = -2;
pub const GNTST_BAD_GNTREF: i16 = -3;
pub const GNTST_BAD_HANDLE: i16 = -4;
pub const GNTST_BAD_VIRT_ADDR: i16 = -5;
pub const GNTST_BAD_DEV_ADDR: i16 = -6;
pub const GNTST_NO_DEVICE_SPACE: i16 = -7;
pub const GNTST_PERMISSION_DENIED: i16 = -8;
pub const GNTST_BAD_PAGE: i16 = -9;
pub const GNTST_BAD_COPY_ARG: i16 = -10;
pub const GNTST_ADDRESS_TOO_BIG: i16 = -11;
pub const GNTST_EAGAIN: i16 = -12;

/// Grant references below this are reserved for the toolstack
/// (`GNTTAB_NR_RESERVED_ENTRIES`: console and xenstore).
pub const NR_RESERVED_ENTRIES: GrantRef = 8;

/// `grant_entry_v1_t`: 8 bytes, `PAGE_SIZE / 8` per frame.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct GrantEntryV1 {
    pub flags: u16,
    pub domid: DomId,
    pub frame: u32,
}

/// `struct gnttab_setup_table`.
#[repr(C)]
#[derive(Debug)]
pub struct SetupTable {
    pub dom: DomId,
    pub nr_frames: u32,
    pub status: i16,
    pub frame_list: *mut u64,
}

/// `struct gnttab_query_size`.
#[repr(C)]
#[derive(Debug, Default)]
pub struct QuerySize {
    pub dom: DomId,
    pub nr_frames: u32,
    pub max_nr_frames: u32,
    pub status: i16,
}

/// `struct gnttab_map_grant_ref`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct MapGrantRef {
    pub host_addr: u64,
    pub flags: u32,
    pub gref: GrantRef,
    pub dom: DomId,
    pub status: i16,
    pub handle: u32,
    pub dev_bus_addr: u64,
}

/// `struct gnttab_unmap_grant_ref`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct UnmapGrantRef {
    pub host_addr: u64,
    pub dev_bus_addr: u64,
    pub handle: u32,
    pub status: i16,
}

/// One side of a `gnttab_copy`: a grant ref of `domid`, or a frame (`gmfn`) of ours.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CopyPtr {
    /// `union { grant_ref_t ref; xen_pfn_t gmfn; } u`.
    pub u: u64,
    pub domid: DomId,
    pub offset: u16,
}

/// `struct gnttab_copy`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Copy {
    pub source: CopyPtr,
    pub dest: CopyPtr,
    pub len: u16,
    pub flags: u16,
    pub status: i16,
}
