//! `struct start_info` (xen.h): what a PV domain finds in `%rsi` at entry.

/// `MAX_GUEST_CMDLINE` (xen.h).
pub const MAX_GUEST_CMDLINE: usize = 1024;

/// `SIF_PRIVILEGED` / `SIF_INITDOMAIN` (xen.h).
pub const SIF_PRIVILEGED: u32 = 1 << 0;
pub const SIF_INITDOMAIN: u32 = 1 << 1;

/// The domU half of the `console` union.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ConsoleDomU {
    pub mfn: u64,
    pub evtchn: u32,
}

/// `struct start_info` (xen.h), x86_64 layout.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct StartInfo {
    pub magic: [u8; 32],
    pub nr_pages: u64,
    /// Machine address of `shared_info`; not mapped at entry.
    pub shared_info: u64,
    pub flags: u32,
    pub store_mfn: u64,
    pub store_evtchn: u32,
    pub console: ConsoleDomU,
    /// Virtual address of the bootstrap L4 page table.
    pub pt_base: u64,
    pub nr_pt_frames: u64,
    /// Virtual address of the pfn → mfn list (`nr_pages` entries).
    pub mfn_list: u64,
    pub mod_start: u64,
    pub mod_len: u64,
    pub cmd_line: [u8; MAX_GUEST_CMDLINE],
    pub first_p2m_pfn: u64,
    pub nr_p2m_frames: u64,
}

impl StartInfo {
    /// The guest command line (`extra=` in xl), up to its first NUL.
    pub fn cmd_line(&self) -> &[u8] {
        let end = self
            .cmd_line
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(MAX_GUEST_CMDLINE);
        &self.cmd_line[..end]
    }

    /// The magic string, e.g. `xen-3.0-x86_64`.
    pub fn magic(&self) -> &[u8] {
        let end = self
            .magic
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(self.magic.len());
        &self.magic[..end]
    }
}
