#!/bin/sh
# Selftest domain panics on request: the panic is printed and Xen sees a crash.
. "$BANANA_ROOT/lib.sh"
BAD_RE='SELFTEST-[A-Z-]*FAIL'
d=st-panic
create $d selftest 'extra="mode=basic"'
wait_console $d '^SELFTEST-BOOT' 20
id=$(domid $d) || fail "xl domid $d failed"
xs_wait /local/domain/$id/data/selftest/ready 1 30
xs_write /local/domain/$id/data/selftest/cmd panic
wait_console $d 'panicked at' 10
console $d | grep -A 2 'panicked at' | grep -q 'deliberate panic' ||
	fail "the panic message lacks 'deliberate panic'"
log "waiting up to 10s for xl list to show $d crashed (state flag c)"
i=0
until state $d | grep -q c; do
	[ $i -ge 50 ] && fail "xl list shows $d as '$(state $d)', not crashed, 10s after the panic"
	sleep 0.2
	i=$((i + 1))
done
log "  $d state $(state $d)"
xl destroy $d || fail "xl destroy $d failed"
wait_gone $d 10
pass
