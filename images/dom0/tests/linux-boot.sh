#!/bin/sh
# A Linux PV guest boots to userspace, reports its links and powers itself off.
. "$BANANA_ROOT/lib.sh"
BAD_RE='panicked at|Kernel panic'
g=lx-boot
t0=$(now)
create $g linux-pv 'extra="console=hvc0 quiet banana.job=ready"'
wait_console $g '^GUEST-BOOT$' 90
echo "BANANA-TIME linux-boot create_to_GUEST-BOOT=$(since "$t0")s"
wait_console $g '^GUEST-READY$' 60
wait_console $g '^GUEST-END$' 30
console $g | sed -n '/^GUEST-READY$/,/^GUEST-END$/p' | grep -Eq '^1: lo: ' ||
	fail "no 'ip link' output between GUEST-READY and GUEST-END"
wait_gone $g 30
xl list | grep -q "^$g " && fail "xl list still shows $g"
pass
