#!/bin/sh
# Demo: a Banana selftest unikernel and a Linux PV guest, side by side, with a
# short account of what each did (BANANA-DEMO lines).
. "$BANANA_ROOT/lib.sh"
say() { echo "BANANA-DEMO $*"; }
step() { # TEST: run tests/TEST.sh as a sub-test with its own result marker
	BANANA_TEST=$1 BANANA_RESULT=$BANANA_WORK/result-$1 ${BANANA_SH:-sh} "$BANANA_ROOT/tests/$1.sh" &&
		say "$1: PASS" || say "$1: FAIL ($(cat "$BANANA_WORK/result-$1" 2>/dev/null || echo no result))"
}
say "Xen $(xl info | awk -F': *' '/^xen_version/ { print $2 }') on $(xl info | awk -F': *' '/^nr_cpus/ { print $2 }') CPUs, dom0 up $(cut -d' ' -f1 /proc/uptime)s"
say "1. a selftest unikernel domain (PV, 8 MiB): boot, xenstore, timer, VIRQ, watch ping/pong"
step selftest-basic
console st-basic | head -n 12 | sed 's/^/BANANA-DEMO     st-basic| /'
say "2. a Linux PV guest (Debian kernel + busybox ramdisk) boots, lists its links and powers off"
step linux-boot
console lx-boot | grep -v '^\s*$' | head -n 12 | sed 's/^/BANANA-DEMO     lx-boot| /'
say "domains now:"
xl list | sed 's/^/BANANA-DEMO     /'
for t in selftest-basic linux-boot; do
	[ "$(cat "$BANANA_WORK/result-$t" 2>/dev/null)" = pass ] || fail "demo step $t failed (see above)"
done
pass
