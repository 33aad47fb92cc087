#!/bin/sh
# Demo: a Banana selftest unikernel beside a Linux PV guest, then two Linux guests
# whose netfronts are served by two Spikes joined by a local wire, all set up with
# the `banana` controller, with traffic between them and `banana status`.
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
banana_ok status
say "domains now:"
xl list | show xl
pass
