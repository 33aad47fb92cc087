#!/bin/sh
# Selftest domain obeys `xl shutdown`: prints SELFTEST-POWEROFF and powers off cleanly.
. "$BANANA_ROOT/lib.sh"
BAD_RE='panicked at|SELFTEST-[A-Z-]*FAIL'
d=st-poweroff
selftest_basic $d
shutdown_wait $d 30
wait_gone $d 10
expect_console $d '^SELFTEST-POWEROFF'
no_bad $d
pass
