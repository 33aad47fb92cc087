#!/usr/bin/env bash
# Build everything the lab boots into out/images/ (git-ignored, never committed):
#   xen.elf          Debian's Xen 4.17, gunzipped (QEMU's multiboot loader takes the ELF)
#   vmlinuz          Debian's kernel, used as dom0 kernel
#   banana/          the payload the dom0 tests use: runner.sh lib.sh tests/ bench/ demo.sh soak.sh
#                    vif-banana (busybox vif hotplug script, also in dom0's /etc/xen/scripts)
#                    xl/ (config templates), domains/ (our PV ELFs), guest/ (Linux PV guest:
#                    ELF vmlinux + busybox ramdisk), dd/ (Linux network driver domain
#                    ramdisk: busybox, xl devd, netback, bridge, pcifront, NIC drivers)
#   dom0.cpio.gz     dom0 initramfs: busybox, the Xen toolstack and its libraries, kernel
#                    modules, socat, the controller `banana`, the lab's frame
#                    sender `banana-lab` (lab-tools/), and banana/
# Usage: images/build.sh [--payload-only]   (--payload-only: banana/ only, for a real dom0)
# Inputs: Debian packages (see images/host/apt-packages.txt) and this workspace's
# target/ (run-xen.sh runs cargo first; missing domain ELFs are reported, not fatal;
# BANANA_SKIP_DOMAINS lists domains whose build just failed, so stale ELFs stay out).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
IMG=$ROOT/images
OUT=${BANANA_OUT:-$ROOT/out/images}
XB=/usr/lib/xen-4.17/bin
DOMAINS="selftest-domain corm-domain spike-domain"
DOM0_MODULES="xen-evtchn xen-privcmd xenfs xen-gntdev xen-gntalloc bridge xen-netback xen-netfront xen-pciback sch_netem wireguard geneve"
GUEST_MODULES="xen-netfront"
# in dom0 but not loaded at boot: lib.sh std_up loads the one for dom0's own NIC
# (std 00:06.0: e1000, std-e1000e 00:08.0: e1000e); lists nic-<module>.list
DOM0_NIC_MODULES="e1000 e1000e"
# the Linux network driver domain (images/dd/): toolstack modules, netback, bridge,
# pcifront and the drivers of the lab NICs
DD_MODULES="xen-evtchn xen-privcmd xenfs xen-gntdev xen-gntalloc bridge xen-netback xen-pcifront e1000 e1000e virtio_pci virtio_net"

die() { echo "images/build.sh: error: $*" >&2; exit 1; }
note() { echo "images: $*"; }

# newest Debian kernel that has its modules installed
kernel_version() {
	local v
	for v in $(ls /boot/vmlinuz-* 2>/dev/null | sed 's|/boot/vmlinuz-||' | sort -V -r); do
		[ -d "/lib/modules/$v" ] && { echo "$v"; return; }
	done
	die "no /boot/vmlinuz-* with matching /lib/modules (install linux-image-amd64)"
}

# libs_of FILE...: the shared libraries (and loader) the files need
libs_of() {
	local f
	for f in "$@"; do ldd "$f" 2>/dev/null | awk '/=> \//{ print $3 } /^[ \t]*\/.*ld-linux/{ print $1 }'; done | sort -u
}

# copy_bins DEST FILE...: copy files to the same paths under DEST, plus their shared libraries
copy_bins() {
	local dest=$1 f
	shift
	for f in "$@" $(libs_of "$@"); do
		[ -e "$f" ] || die "missing $f"
		mkdir -p "$dest$(dirname "$f")"
		cp -L "$f" "$dest$f"
	done
}

# add_modules DEST LIST MODULE...: modules + dependencies into DEST/lib/modules, in load order
add_modules() {
	local dest=$1 list=$2 m f b
	shift 2
	mkdir -p "$dest/lib/modules"
	: > "$dest/lib/modules/$list"
	for m in "$@"; do
		for f in $(modprobe -S "$KV" --show-depends "$m" | awk '/^insmod/{ print $2 }'); do
			b=$(basename "$f")
			grep -qx "$b" "$dest/lib/modules/$list" && continue
			cp "$f" "$dest/lib/modules/$b"
			echo "$b" >> "$dest/lib/modules/$list"
		done
	done
}

busybox_tree() { # DEST: static busybox + every applet as a symlink
	mkdir -p "$1/bin" "$1/sbin" "$1/usr/bin" "$1/usr/sbin" "$1/proc" "$1/sys" "$1/dev" "$1/tmp" "$1/run" "$1/etc"
	cp /bin/busybox "$1/bin/busybox"
	local a
	for a in $(/bin/busybox --list); do [ -e "$1/bin/$a" ] || ln -s busybox "$1/bin/$a"; done
	echo "root:x:0:0:root:/:/bin/sh" > "$1/etc/passwd"
}

mk_cpio() { # DIR OUT
	(cd "$1" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -1) > "$2.tmp"
	mv "$2.tmp" "$2"
}

guest() { # the Linux guest: ELF vmlinux + busybox ramdisk (iperf3, xen-netfront)
	local g=$OUT/banana/guest r=$OUT/work/guest-root
	mkdir -p "$g"
	if [ ! -s "$OUT/vmlinux" ] || [ "/boot/vmlinuz-$KV" -nt "$OUT/vmlinux" ]; then
		"$IMG/guest/extract-vmlinux.sh" "/boot/vmlinuz-$KV" "$OUT/vmlinux"
	fi
	cp "$OUT/vmlinux" "$g/vmlinux"
	rm -rf "$r"
	busybox_tree "$r"
	add_modules "$r" load.list $GUEST_MODULES
	copy_bins "$r" "$(command -v iperf3)"
	cp "$IMG/guest/init" "$r/init"
	chmod +x "$r/init"
	mk_cpio "$r" "$g/rootfs.cpio.gz"
}

# the Linux network driver domain ramdisk (kernel: guest/vmlinux): images/dd/init,
# xl devd + xenstore tools + libraries, vif-banana, modules in load order
dd_image() {
	local r=$OUT/work/dd-root b
	mkdir -p "$OUT/banana/dd"
	rm -rf "$r"
	busybox_tree "$r"
	mkdir -p "$r/var/lib/xen" "$r/var/log/xen" "$r/etc/xen/scripts" "$r/run/xen"
	ln -s ../run "$r/var/run"
	copy_bins "$r" "$XB/xl" /usr/bin/xenstore /lib/x86_64-linux-gnu/libgcc_s.so.1
	for b in read write ls list rm chmod exists; do ln -sf xenstore "$r/usr/bin/xenstore-$b"; done
	[ -f /etc/xen/xl.conf ] && cp /etc/xen/xl.conf "$r/etc/xen/"
	install -m 0755 "$IMG/dom0/vif-banana" "$r/etc/xen/scripts/vif-banana"
	add_modules "$r" load.list $DD_MODULES
	install -m 0755 "$IMG/dd/init" "$r/init"
	mk_cpio "$r" "$OUT/banana/dd/rootfs.cpio.gz"
}

payload() {
	local b=$OUT/banana d f
	rm -rf "$b"
	mkdir -p "$b/domains" "$b/xl"
	cp -r "$IMG/dom0/lib.sh" "$IMG/dom0/corm.sh" "$IMG/dom0/runner.sh" "$IMG/dom0/demo.sh" "$IMG/dom0/soak.sh" "$IMG/dom0/tests" "$IMG/dom0/bench" \
		"$IMG/dom0/vif-banana" "$b/"
	cp "$IMG"/xl/*.cfg "$b/xl/"
	for d in $DOMAINS; do
		f=$ROOT/target/x86_64-unknown-none/release/$d
		if [[ " ${BANANA_SKIP_DOMAINS:-} " == *" $d "* ]]; then
			note "WARNING: $d failed to build; left out (tests using it will fail)"
		elif [ -f "$f" ]; then cp "$f" "$b/domains/$d"; else note "WARNING: $f not built; tests using it will fail"; fi
	done
	guest
	if [ -x "$XB/xl" ]; then dd_image; else note "no $XB/xl: Linux driver domain image left out"; fi
}

dom0() {
	local r=$OUT/work/dom0-root b
	rm -rf "$r"
	busybox_tree "$r"
	mkdir -p "$r/var/lib/xen" "$r/var/lib/xenstored" "$r/var/log/xen" "$r/etc/xen/scripts"
	ln -s ../run "$r/var/run"
	copy_bins "$r" "$XB/xl" "$XB/xenstored" "$XB/xenconsoled" "$XB/xen-init-dom0" "$XB/xenconsole" \
		"$XB/libxl-save-helper" /usr/bin/xenstore "$(command -v socat)"
	# tcpdump: the independent decoder of `banana capture`'s pcaps (vxlan-interop)
	if command -v tcpdump > /dev/null; then
		copy_bins "$r" "$(command -v tcpdump)"
	else
		note "no tcpdump on this host (apt package tcpdump): left out of dom0"
	fi
	# iproute2's tc: netem impairs the underlay dom0 routes (encap-impair); busybox's
	# tc has no netem
	if [ -x /usr/sbin/tc ]; then
		copy_bins "$r" /usr/sbin/tc
	else
		note "no /usr/sbin/tc on this host (apt package iproute2): left out of dom0"
	fi
	# iproute2's ip as /usr/bin/ip (busybox's /bin/ip comes first in PATH): busybox's
	# cannot make a geneve device with a VNI and remote (tunnel-interop)
	if [ -x /usr/bin/ip ]; then
		copy_bins "$r" /usr/bin/ip
	else
		note "no /usr/bin/ip on this host (apt package iproute2): left out of dom0"
	fi
	# wg (wireguard-tools) and iperf3: dom0's kernel WireGuard as a Corm's peer
	# (tunnel-interop)
	for b in wg iperf3; do
		if command -v $b > /dev/null; then
			copy_bins "$r" "$(command -v $b)"
		else
			note "no $b on this host (apt packages wireguard-tools, iperf3): left out of dom0"
		fi
	done
	# glibc's pthread_cancel dlopen()s libgcc_s: xl dies without it
	copy_bins "$r" /lib/x86_64-linux-gnu/libgcc_s.so.1
	for b in read write ls list rm chmod exists watch; do ln -sf xenstore "$r/usr/bin/xenstore-$b"; done
	[ -f /etc/xen/xl.conf ] && cp /etc/xen/xl.conf "$r/etc/xen/"
	if [ -x "$ROOT/target/release/banana" ]; then
		cp "$ROOT/target/release/banana" "$r/usr/bin/banana"
		copy_bins "$r" $(libs_of "$ROOT/target/release/banana")
	else
		note "no target/release/banana (controller not built): left out"
	fi
	# banana-lab: crafted frames from the lab network (attack tests)
	if [ -x "$ROOT/target/release/banana-lab" ]; then
		cp "$ROOT/target/release/banana-lab" "$r/usr/bin/banana-lab"
		copy_bins "$r" $(libs_of "$ROOT/target/release/banana-lab")
	else
		note "no target/release/banana-lab (lab-tools not built): left out"
	fi
	add_modules "$r" load.list $DOM0_MODULES
	add_modules "$r" nic.list $DOM0_NIC_MODULES
	for b in $DOM0_NIC_MODULES; do add_modules "$r" "nic-$b.list" "$b"; done
	cp "$IMG/dom0/init" "$r/init"
	chmod +x "$r/init"
	# busybox vif hotplug script for dom0-backed vifs on a bridge (bench/spike-net.sh)
	install -m 0755 "$IMG/dom0/vif-banana" "$r/etc/xen/scripts/vif-banana"
	cp -r "$OUT/banana" "$r/banana"
	mk_cpio "$r" "$OUT/dom0.cpio.gz"
}

command -v busybox > /dev/null || [ -x /bin/busybox ] || die "no /bin/busybox (install busybox-static)"
KV=$(kernel_version)
mkdir -p "$OUT/work"
t0=$(date +%s)
payload
if [ "${1:-}" != --payload-only ]; then
	[ -f /boot/xen-4.17-amd64.gz ] || die "no /boot/xen-4.17-amd64.gz (install xen-hypervisor-4.17-amd64)"
	[ -x "$XB/xl" ] || die "no $XB/xl (install xen-utils-4.17)"
	zcat /boot/xen-4.17-amd64.gz > "$OUT/xen.elf.tmp" && mv "$OUT/xen.elf.tmp" "$OUT/xen.elf"
	cp "/boot/vmlinuz-$KV" "$OUT/vmlinuz"
	dom0
fi
rm -rf "$OUT/work"
note "built in $(($(date +%s) - t0))s into $OUT (kernel $KV):"
ls -l "$OUT" | awk 'NR > 1 { print "  " $5 "\t" $9 }'
