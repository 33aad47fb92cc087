//! A raw `AF_PACKET` socket bound to one interface (packet(7)): frames go
//! out exactly as built, FCS added by the NIC.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use anyhow::{Context, Result};

pub struct Socket {
    fd: OwnedFd,
    ifindex: i32,
}

impl Socket {
    pub fn open(iface: &str) -> Result<Socket> {
        let name = CString::new(iface).context("interface name has a NUL")?;
        // SAFETY: `name` is a valid NUL-terminated string for the call.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if ifindex == 0 {
            return Err(io::Error::last_os_error())
                .with_context(|| format!("no interface {iface}"));
        }
        let proto = (libc::ETH_P_ALL as u16).to_be() as i32;
        // SAFETY: plain socket(2) call; the result is checked before use.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, proto) };
        if fd < 0 {
            return Err(io::Error::last_os_error())
                .context("socket(AF_PACKET) (needs CAP_NET_RAW)");
        }
        // SAFETY: `fd` is a fresh descriptor owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Socket {
            fd,
            ifindex: ifindex as i32,
        })
    }

    pub fn send(&self, frame: &[u8]) -> Result<()> {
        // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
        let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sa.sll_family = libc::AF_PACKET as u16;
        sa.sll_ifindex = self.ifindex;
        sa.sll_halen = 6;
        if let Some(dst) = frame.get(..6) {
            sa.sll_addr[..6].copy_from_slice(dst);
        }
        loop {
            // SAFETY: `frame` and `sa` are valid for the lengths given.
            let n = unsafe {
                libc::sendto(
                    self.fd.as_raw_fd(),
                    frame.as_ptr().cast(),
                    frame.len(),
                    0,
                    (&sa as *const libc::sockaddr_ll).cast(),
                    std::mem::size_of::<libc::sockaddr_ll>() as u32,
                )
            };
            if n >= 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            // A full qdisc: wait a little, as a real sender's NIC would.
            if e.raw_os_error() == Some(libc::ENOBUFS) {
                std::thread::sleep(std::time::Duration::from_micros(200));
                continue;
            }
            return Err(e).context("sendto");
        }
    }
}
