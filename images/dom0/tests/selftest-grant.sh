#!/bin/sh
# Two selftest domains share a page by grant: st-offer grants, st-accept maps and copies.
. "$BANANA_ROOT/lib.sh"
BAD_RE='panicked at|-FAIL'
create st-offer selftest 'extra="mode=offer"'
create st-accept selftest 'extra="mode=accept"'
wait_console st-offer '^SELFTEST-BOOT' 20
wait_console st-accept '^SELFTEST-BOOT' 20
o=$(domid st-offer) || fail "xl domid st-offer failed"
a=$(domid st-accept) || fail "xl domid st-accept failed"
xs_write /local/domain/$o/data/selftest/peer $a
xs_write /local/domain/$a/data/selftest/peer $o
t0=$(now)
left() { awk -v t0="$t0" -v n="$(now)" 'BEGIN { l = 30 - (n - t0); print (l < 1 ? 1 : int(l + 0.5)) }'; }
for m in SELFTEST-OFFER-READY; do wait_console st-offer "$m" "$(left)"; done
for m in SELFTEST-MAP-OK SELFTEST-COPY-OK SELFTEST-ACCEPT-DONE; do wait_console st-accept "$m" "$(left)"; done
for m in SELFTEST-GRANT-XCHG-OK SELFTEST-REVOKE-BUSY-OK SELFTEST-REVOKE-OK SELFTEST-OFFER-DONE; do
	wait_console st-offer "$m" "$(left)"
done
no_bad st-offer st-accept
shutdown_wait st-accept 30
shutdown_wait st-offer 30
pass
