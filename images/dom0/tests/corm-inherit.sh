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
# over the std path; it is destroyed behind banana's back; while dom0 floods the
# segment with broadcasts, it is made again on the same NIC. Proves: the new
# Corm answers pings and counts received frames, its bus mastering is on, and
# the IOMMU faults in between are reported (BANANA-FIGURE corm_inherit_faults).
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

corm_up c-inh corm-e1000 1 --underlay $C_UL/24
n=$(pings 5)
[ "${n:-0}" -ge 4 ] || fail "dom0 cannot ping c-inh ($C_UL) before the fault: ${n:-0} of 5"

old=$(domid c-inh)
log "destroying c-inh (domid $old) behind banana's back, its NIC still receiving"
xl destroy c-inh || fail "xl destroy c-inh failed"
wait_gone c-inh 60
faults0=$(xl dmesg | grep -c "DMAR.*$CORM_BDF")
# Broadcasts all through the new Corm's start: each one the NIC takes before its
# reset is a descriptor read from the dead domain's rings.
(for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
	banana-lab --iface "$STD_IF" flood --dst-mac ff:ff:ff:ff:ff:ff --count 500 > /dev/null 2>&1 || break
	sleep 0.1
done) &
flooder=$!
banana_ok corm destroy c-inh
corm_up c-inh corm-e1000 1 --underlay $C_UL/24
wait $flooder
faults=$(($(xl dmesg | grep -c "DMAR.*$CORM_BDF") - faults0))
echo "BANANA-FIGURE corm_inherit_faults=$faults"
log "IOMMU faults of $CORM_BDF after the destroy: $faults"

n=$(pings 10)
[ "${n:-0}" -ge 8 ] || fail "c-inh, made again on the inherited NIC, answers ${n:-0} of 10 pings (bus mastering cleared by Xen?)"
rx=$(corm_counter c-inh nic/counters/rx_frames)
[ "${rx:-0}" -gt 0 ] || fail "c-inh counts no received frames (nic/counters/rx_frames '$rx')"
log "c-inh answers $n of 10 pings after the restart; nic/counters/rx_frames=$rx"
# PCI command register (config offset 4), bit 2: bus master enable
cmd=$(od -An -tu2 -j4 -N2 "/sys/bus/pci/devices/$CORM_BDF/config" | tr -d ' ')
[ -n "$cmd" ] || fail "cannot read the command register of $CORM_BDF"
[ $((cmd & 4)) -ne 0 ] || fail "the NIC's bus mastering is off (command register $cmd)"
log "$CORM_BDF command register $cmd: bus mastering on"

no_bad c-inh
corm_down c-inh
ip addr del $ME_IP/24 dev $STD_BR 2> /dev/null
std_down
pass
