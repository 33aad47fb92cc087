#!/bin/sh
# A NIC inherited still running from a destroyed Corm (issue 9, D: failures heal
# by themselves). QEMU's e1000 has no function reset, so a Corm destroyed with
# `xl destroy` leaves its NIC receiving into that domain's old rings. If the next
# Corm turned bus mastering on before resetting the NIC, every frame arriving in
# between would make the NIC read a descriptor from the dead domain's pages: an
# IOMMU fault in the new Corm's context, and ten close together make Xen clear
# the NIC's bus mastering behind the Corm's back (pci_check_disable_device): a
# Corm whose link is up and that never moves a frame again (seen as an
# intermittent tunnel-interop failure). The Corm resets first, then masters.
# Steps: Corm c-inh (corm-e1000, underlay 10.77.0.48/24) answers dom0's pings
# over the std path. (1) It is stopped cleanly, dom0 floods the segment with
# broadcasts, and it is made again on the same NIC. (2) It is destroyed behind
# banana's back and made again while dom0 floods. Proves, each time: the new
# Corm answers pings and counts received frames, its bus mastering is on; the
# IOMMU faults in between are reported (BANANA-FIGURE corm_inherit_*_faults).
. "$BANANA_ROOT/lib.sh"
. "$BANANA_ROOT/corm.sh"
BAD_RE='panicked at|CORM-FATAL|CORM-NIC-WARNING'
C_UL=10.77.0.48 ME_IP=10.77.0.11
need_lab
command -v banana-lab > /dev/null || fail "no banana-lab in this dom0 (images/build.sh)"

std_up
ip addr replace $ME_IP/24 dev $STD_BR || fail "cannot put $ME_IP on $STD_BR"

pings() { ping -c "$1" -i 0.2 -W 2 "$C_UL" 2> /dev/null | sed -n 's/.* \([0-9][0-9]*\) packets received.*/\1/p' | head -n 1; }
diag() {
	echo "xl dmesg, IOMMU faults of $CORM_BDF:"
	xl dmesg | grep -E "DMAR.*$CORM_BDF|IOMMU" | tail -n 20
	echo "corm c-inh:"
	counters_flat c-inh | grep -E '^(nic|underlay)/' | grep -v ' 0$'
	ip neigh show dev $STD_BR
}
FAIL_HOOK=diag

# again NAME: make c-inh again on the same NIC; it must answer pings with bus
# mastering on
again() {
	corm_up c-inh corm-e1000 1 --underlay $C_UL/24
	faults=$(($(xl dmesg | grep -c "DMAR.*$CORM_BDF") - faults0))
	echo "BANANA-FIGURE corm_inherit_${1}_faults=$faults"
	log "$1: IOMMU faults of $CORM_BDF since the Corm went: $faults"
	# the first answer may take a few seconds (dom0's neighbour entry for the
	# address is stale, the flood's backlog drains): a dead NIC never answers
	t=0
	until ping -c 1 -W 1 "$C_UL" > /dev/null 2>&1; do
		t=$((t + 1))
		[ $t -lt 15 ] || fail "$1: c-inh, made again on the inherited NIC, answers no ping in 15 s (bus mastering cleared by Xen?)"
	done
	n=$(pings 10)
	[ "${n:-0}" -ge 8 ] || fail "$1: c-inh answers only ${n:-0} of 10 pings once it answered"
	rx=$(corm_counter c-inh nic/counters/rx_frames)
	[ "${rx:-0}" -gt 0 ] || fail "$1: c-inh counts no received frames (nic/counters/rx_frames '$rx')"
	# PCI command register (config offset 4), bit 2: bus master enable
	cmd=$(od -An -tu2 -j4 -N2 "/sys/bus/pci/devices/$CORM_BDF/config" | tr -d ' ')
	[ -n "$cmd" ] || fail "cannot read the command register of $CORM_BDF"
	[ $((cmd & 4)) -ne 0 ] || fail "$1: the NIC's bus mastering is off (command register $cmd)"
	log "$1: c-inh answers $n of 10 pings; nic/counters/rx_frames=$rx; command register $cmd"
}
flood() { banana-lab --iface "$STD_IF" flood --dst-mac ff:ff:ff:ff:ff:ff --count "$1" > /dev/null 2>&1; }

corm_up c-inh corm-e1000 1 --underlay $C_UL/24
n=$(pings 5)
[ "${n:-0}" -ge 4 ] || fail "dom0 cannot ping c-inh ($C_UL): ${n:-0} of 5"

# 1. A clean stop: the Corm turns bus mastering off and leaves its rings armed.
# Frames for the unowned NIC wait in QEMU's queue; the moment the next owner
# turns mastering on they are all delivered into the old rings at once.
corm_down c-inh
faults0=$(xl dmesg | grep -c "DMAR.*$CORM_BDF")
flood 2000 || fail "banana-lab flood failed"
again clean-stop

# 2. Destroyed behind banana's back (nothing turned off), broadcasts all through
# the new Corm's start.
log "destroying c-inh (domid $(domid c-inh)) behind banana's back"
xl destroy c-inh || fail "xl destroy c-inh failed"
wait_gone c-inh 60
banana_ok corm destroy c-inh
faults0=$(xl dmesg | grep -c "DMAR.*$CORM_BDF")
(for i in 1 2 3 4 5 6 7 8 9 10; do flood 500 || break; sleep 0.1; done) &
flooder=$!
again destroyed
wait $flooder

no_bad c-inh
corm_down c-inh
ip addr del $ME_IP/24 dev $STD_BR 2> /dev/null
std_down
pass
