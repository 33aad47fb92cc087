#!/bin/sh
# Demo: a Banana selftest unikernel beside a Linux PV guest; two Linux guests
# whose netfronts are served by two Spikes joined by a local wire; then a Corm
# owning a passed-through e1000 on the run's lab network, two Spikes wired to it
# and guests reaching the lab peer through it. All set up with the `banana`
# controller, with traffic and `banana status`.
. "$BANANA_ROOT/lib.sh"
BAD_RE='panicked at|SPIKE-VIF-FATAL|SPIKE-WIRE-ERROR'
say() { echo "BANANA-DEMO $*"; }
step() { # TEST: run tests/TEST.sh as a sub-test with its own result marker
	BANANA_TEST=$1 BANANA_RESULT=$BANANA_WORK/result-$1 ${BANANA_SH:-sh} "$BANANA_ROOT/tests/$1.sh" &&
		say "$1: PASS" || say "$1: FAIL ($(cat "$BANANA_WORK/result-$1" 2>/dev/null || echo no result))"
}
show() { sed "s/^/BANANA-DEMO     $1| /"; }
say "Xen $(xl info | awk -F': *' '/^xen_version/ { print $2 }') on $(xl info | awk -F': *' '/^nr_cpus/ { print $2 }') CPUs, dom0 up $(cut -d' ' -f1 /proc/uptime)s"
say "1. a selftest unikernel domain (PV, 8 MiB): boot, xenstore, timer, VIRQ, watch ping/pong"
step selftest-basic
console st-basic | head -n 12 | show st-basic
say "2. a Linux PV guest (Debian kernel + busybox ramdisk) boots, lists its links and powers off"
step linux-boot
console lx-boot | grep -v '^\s*$' | head -n 12 | show lx-boot
for t in selftest-basic linux-boot; do
	[ "$(cat "$BANANA_WORK/result-$t" 2>/dev/null)" = pass ] || fail "demo step $t failed (see above)"
done
say "3. banana spike create sp1/sp2, banana wire connect spike:sp1 spike:sp2, two guests on them"
spike_pair_up 'banana.iperf=1 banana.iperf_s=3'
wait_console g2 'GUEST-RTT ' 120
for d in sp1 sp2 g2; do console $d | grep -E '^(SPIKE|LOCAL-WIRE|GUEST-(NET|IPERF3|RTT))' | show $d; done
if lab_net_ok && nic_bdf corm-e1000 > /dev/null 2>&1; then
	. "$BANANA_ROOT/corm.sh"
	say "4. banana corm create c0 (owns the lab's e1000 by passthrough), Spikes cs1/cs2 wired to corm:c0/0 and corm:c0/1"
	corm_up c0 corm-e1000 2
	corm_spike c0 cs1 0 00:16:3e:00:0c:01
	corm_spike c0 cs2 1 00:16:3e:00:0c:02
	lab_guest cg1 backend=cs1 00:16:3e:00:0c:01 'banana.iperf=1 banana.iperf_s=3 banana.probe=10.77.0.43'
	net_guest cg2 cs2 10.77.0.43 "$LAB_PEER" 00:16:3e:00:0c:02
	wait_console cg1 'GUEST-RTT ' 240
	wait_console cg2 'GUEST-NET-OK n=1' 60
	wait_console cg1 'GUEST-PROBE ip=10.77.0.43 ok' 60
	console c0 | grep -E '^(CORM|PCIFRONT)' | show c0
	console cg1 | grep -E '^GUEST-(DHCP|NET|IPERF3|RTT|PROBE)' | show cg1
else
	say "4. skipped: this run has no lab network with a Corm NIC (see run-xen.sh's output at boot)"
fi
banana status 2>&1 | show status
say "domains now:"
xl list | show xl
pass
