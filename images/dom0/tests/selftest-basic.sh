#!/bin/sh
# Selftest domain, mode=basic: boot, identity, xenstore, timer, VIRQ, watch ping/pong.
. "$BANANA_ROOT/lib.sh"
BAD_RE='panicked at|SELFTEST-[A-Z-]*FAIL'
selftest_basic st-basic
no_bad st-basic
xl destroy st-basic
pass
