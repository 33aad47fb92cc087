#!/usr/bin/env python3
"""802.1Q access port in userspace, for hosts whose kernel has no 8021q (run-xen.sh).

vlan-peer.py TRUNK VID NETNS ACCESS
Creates tap TRUNK in the current network namespace (run-xen.sh puts it on the lab
bridge) and tap ACCESS in namespace NETNS (/run/netns/NETNS). Frames from TRUNK
tagged with VID lose the tag and go to ACCESS; frames from ACCESS get the tag and go
to TRUNK; everything else is dropped. Runs until killed; the taps go with it.
"""
import ctypes, fcntl, os, select, struct, sys

TUNSETIFF = 0x400454CA
IFF_TAP, IFF_NO_PI = 0x0002, 0x1000
CLONE_NEWNET = 0x40000000
libc = ctypes.CDLL(None, use_errno=True)


def tap(name):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
    return fd


def setns(path):
    with open(path) as f:
        if libc.setns(f.fileno(), CLONE_NEWNET) != 0:
            sys.exit("vlan-peer: setns %s: %s" % (path, os.strerror(ctypes.get_errno())))


def main():
    trunk_name, vid, netns, access_name = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    trunk = tap(trunk_name)
    home = "/proc/self/ns/net"
    home_fd = os.open(home, os.O_RDONLY)
    setns("/run/netns/" + netns)
    access = tap(access_name)
    libc.setns(home_fd, CLONE_NEWNET)
    tag = struct.pack("!HH", 0x8100, vid & 0xFFF)
    print("vlan-peer: %s (trunk) <-> %s in %s, VLAN %d" % (trunk_name, access_name, netns, vid), flush=True)
    while True:
        for fd in select.select([trunk, access], [], [])[0]:
            try:
                f = os.read(fd, 65536)
            except OSError:
                continue
            if len(f) < 14:
                continue
            if fd == trunk:
                if len(f) >= 18 and f[12:14] == b"\x81\x00" and (struct.unpack("!H", f[14:16])[0] & 0xFFF) == vid:
                    out, f = access, f[:12] + f[16:]
                else:
                    continue
            else:
                out, f = trunk, f[:12] + tag + f[12:]
            try:
                os.write(out, f)
            except OSError:
                pass


if __name__ == "__main__":
    main()
