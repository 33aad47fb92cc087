#!/bin/sh
# The lab network of the run (run-xen.sh) and the two Linux reference paths, each
# with a Linux PV guest (job net, banana.ip=dhcp) that must get a lease from the
# peer 10.77.0.1 and ping it:
#   std  dom0 loads e1000 for its own NIC (00:06.0), bridge stdbr, dom0 netback
#   dd   a Linux driver domain owns 00:07.0 by passthrough, bridges it and serves
#        the guest's vif with netback + xl devd
# Everything is torn down afterwards (e1000 unloaded, bridge gone, dd destroyed).
. "$BANANA_ROOT/lib.sh"
BAD_RE='panicked at|Kernel panic'
need_lab
for r in corm-e1000 corm-e1000e corm-virtio dd; do
	need_nic $r
	d=$(nic_driver "$NIC_BDF")
	[ "$d" = pciback ] || fail "NIC $r ($NIC_BDF) is bound to '$d', not pciback"
done
log "NICs: $(for r in corm-e1000 corm-e1000e corm-virtio std dd; do printf '%s=%s ' $r "$(nic_bdf $r)"; done)"

# lab_check GUEST: lease from the peer's pool, then pings the peer
lab_check() {
	wait_console "$1" '^GUEST-ADDR 10\.77\.0\.1[0-9][0-9]/24 on eth0' 120
	wait_console "$1" 'GUEST-NET-OK n=1' 60
	log "$1: $(console "$1" | grep -m 1 '^GUEST-ADDR'), reaches $LAB_PEER"
}

log "---- std path"
std_up stdbr
lab_guest lab-std "bridge=stdbr,script=$(vif_script)" 00:16:3e:77:01:06
lab_check lab-std
xl destroy lab-std
wait_gone lab-std 30
std_down stdbr
lsmod | grep -q '^e1000 ' && fail "e1000 still loaded after std_down"

log "---- dd path"
dd_up lab-dd xenbr0
lab_guest lab-ddg "backend=lab-dd,bridge=xenbr0,script=vif-banana" 00:16:3e:77:01:07
lab_check lab-ddg
xl destroy lab-ddg
wait_gone lab-ddg 30
dd_down lab-dd
[ "$(nic_driver "$(nic_bdf dd)")" = pciback ] || fail "the dd NIC is not back on pciback after dd_down"
no_bad lab-std lab-ddg lab-dd
pass
