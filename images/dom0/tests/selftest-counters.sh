#!/bin/sh
# Selftest domain, mode=basic: its counter page (two pages granted read-only to
# dom0, advertised at data/banana/counters/page-refs) read from dom0 through
# /dev/xen/gntdev by `banana counters` and `banana status`: values readable and
# moving, a counter added and dropped at run time, an unreadable page an error
# for that domain only, and the domain destroyable at once (nothing left mapped).
# Also times `banana status` over the page and over the same counters in xenstore.
. "$BANANA_ROOT/lib.sh"
BAD_RE='panicked at|SELFTEST-[A-Z-]*FAIL'
n=st-counters
OUT=$BANANA_WORK/counters.out

selftest_basic $n
wait_console $n 'SELFTEST-COUNTERS-(OK|FAIL)' 20
expect_console $n 'SELFTEST-COUNTERS-OK .*counters=75 pages=2'
wait_console $n 'SELFTEST-COUNTER-COST' 60
log "$(console $n | grep -m 1 SELFTEST-COUNTER-COST)"
id=$(domid $n) || fail "xl domid $n failed"
home=/local/domain/$id/data/banana
refs=$(xs_read $home/counters/page-refs)
echo "$refs" | grep -Eq '^[0-9]+ [0-9]+$' || fail "page-refs is '$refs', expected two grant references"
[ "$(console $n | sed -n 's/.*SELFTEST-COUNTERS-OK refs=\([0-9,]*\).*/\1/p' | tr , ' ')" = "$refs" ] ||
	fail "page-refs '$refs' differs from what $n printed"

# counters ARGS: banana counters, output in $OUT
counters() { banana counters "$@" > "$OUT" 2>&1 || { sed 's/^/    /' "$OUT"; fail "banana counters $* failed"; }; }
# ctr NAME -> its value in $OUT (empty if absent)
ctr() { awk -v k="$1" '$1 == k { print $2 }' "$OUT"; }
expect_ctr() { [ "$(ctr "$1")" = "$2" ] || { sed 's/^/    /' "$OUT"; fail "counter $1 is '$(ctr "$1")', expected '$2'"; }; }

counters $n
head -n 1 "$OUT" | grep -q "^domain $id ($n): counter page (grant refs $refs, seq [0-9]*)$" ||
	fail "banana counters says '$(head -n 1 "$OUT")'"
[ "$(grep -c '^selftest/' "$OUT")" = 75 ] || fail "$(grep -c '^selftest/' "$OUT") counters read, expected 75"
expect_ctr selftest/magic 1579122263
expect_ctr selftest/fill/00 0
expect_ctr selftest/fill/69 69 # in the second page
expect_ctr selftest/pings 3    # selftest_basic's three ping round trips
u1=$(ctr selftest/uptime_ms) t1=$(ctr selftest/ticks) w1=$(ctr selftest/wakes)
sleep 2
counters $id
u2=$(ctr selftest/uptime_ms) t2=$(ctr selftest/ticks) w2=$(ctr selftest/wakes)
log "uptime_ms $u1 -> $u2, ticks $t1 -> $t2, wakes $w1 -> $w2 over 2 s"
[ "$u2" -gt "$u1" ] && [ "$t2" -gt "$t1" ] && [ "$w2" -gt "$w1" ] ||
	fail "counters did not move in 2 s: uptime_ms $u1 -> $u2, ticks $t1 -> $t2, wakes $w1 -> $w2"
xs_write /local/domain/$id/data/selftest/ping 4242
xs_wait /local/domain/$id/data/selftest/pong 4242 10
counters $n
expect_ctr selftest/pings 4

# Names change at run time: the reader follows (seq moves, no torn table).
xs_write /local/domain/$id/data/selftest/cmd counter-add
wait_console $n 'SELFTEST-COUNTER-ADDED' 10
counters $n
expect_ctr selftest/added 42
xs_write /local/domain/$id/data/selftest/cmd counter-drop
wait_console $n 'SELFTEST-COUNTER-DROPPED' 10
counters $n
[ -z "$(ctr selftest/added)" ] || fail "selftest/added still shown after counter-drop"

# banana status reads the page of a domain in its registry: adopt this one as a
# Spike record (state running, its domid), so status lists it with its counters.
trap 'xenstore-rm /banana/spike/$n 2> /dev/null' EXIT
banana_ok list
xs_write /banana/spike/$n/state running
xs_write /banana/spike/$n/domid "$id"
banana_ok status
grep -Eq "^$n +spike +$id +running +[-a-z]+ +- +1 +page$" "$BANANA_WORK/banana.out" ||
	fail "banana status does not show $n with counters from its page"
grep -Eq "^spike $n +selftest/fill/69 +69$" "$BANANA_WORK/banana.out" ||
	fail "banana status does not show selftest/fill/69 = 69"

# A page that cannot be mapped: an error for that domain, status still works.
xs_write $home/counters/page-refs 65000
banana counters $n > "$OUT" 2>&1 && fail "banana counters succeeded on a bogus grant reference"
log "bogus reference: $(cat "$OUT")"
grep -q "banana: error: domain $id ($n): cannot map grant references \[65000\]" "$OUT" ||
	fail "unclear error for a bogus grant reference: $(cat "$OUT")"
banana_ok status
grep -Eq "^$n +spike .* error$" "$BANANA_WORK/banana.out" || fail "status does not flag $n's counters as an error"
grep -Eq "^$n +cannot map grant references" "$BANANA_WORK/banana.out" || fail "status does not say why"
xs_write $home/counters/page-refs "$refs"

# banana status wall time, alternating between (page) the counters in the page
# and (xenstore) the same 75 counters as xenstore leaves instead, as domains
# published them before; 6 runs each, plus banana list (no counters) for scale.
counters $n
awk '/^selftest\// { print $1, $2 }' "$OUT" | while read -r k v; do echo "$home/$k $v"; done > "$BANANA_WORK/xs-pairs"
[ "$(wc -l < "$BANANA_WORK/xs-pairs")" = 75 ] || fail "expected 75 counters to copy to xenstore"
as_page() { xenstore-rm $home/selftest 2> /dev/null; xs_write $home/counters/page-refs "$refs"; }
# shellcheck disable=SC2046 # keys and values are single words
as_xenstore() {
	xenstore-rm $home/counters/page-refs
	xenstore-write $(cat "$BANANA_WORK/xs-pairs") || fail "cannot write the counters to xenstore"
}
# timed FILE CMD...: append CMD's wall time (seconds) to FILE
timed() {
	f=$1
	shift
	s0=$(now)
	"$@" > /dev/null 2>&1 || fail "$* failed while timing"
	since "$s0" >> "$f"
}
# median FILE -> "median (min-max)"
median() { sort -n "$1" | awk '{ t[NR] = $1 } END { printf "%s (%s-%s)", t[int((NR + 1) / 2)], t[1], t[NR] }'; }
T=$BANANA_WORK/times
: > "$T.page"
: > "$T.xs"
: > "$T.list"
as_xenstore
counters $n
head -n 1 "$OUT" | grep -q ': xenstore$' || fail "without page-refs banana counters says '$(head -n 1 "$OUT")'"
[ "$(grep -c '^selftest/' "$OUT")" = 75 ] || fail "$(grep -c '^selftest/' "$OUT") xenstore counters read, expected 75"
# where the time goes (-vv: each program run and each gntdev step, with durations)
banana -vv status > /dev/null 2> "$BANANA_WORK/vv-xs.err"
log "banana -vv status, counters in xenstore:"
sed -n 's/^ *DEBUG /    /p' "$BANANA_WORK/vv-xs.err" | grep -E 'done|gntdev' | sed 's/ program=/ /'
as_page
banana -vv status > /dev/null 2> "$BANANA_WORK/vv-page.err"
log "banana -vv status, counters in the page:"
sed -n 's/^ *DEBUG /    /p' "$BANANA_WORK/vv-page.err" | grep -E 'done|gntdev' | sed 's/ program=/ /'
for r in 1 2 3 4 5 6; do
	as_page
	timed "$T.page" banana status
	as_xenstore
	timed "$T.xs" banana status
	[ $r -le 3 ] && timed "$T.list" banana list
done
as_page
log "SELFTEST-COUNTERS-TIMING banana status: page $(median "$T.page")s, xenstore $(median "$T.xs")s; banana list (no counters) $(median "$T.list")s (median (min-max) of $(wc -l < "$T.page"), $(wc -l < "$T.xs"), $(wc -l < "$T.list"))"
log "  page: $(tr '\n' ' ' < "$T.page")"
log "  xenstore: $(tr '\n' ' ' < "$T.xs")"
xenstore-rm /banana/spike/$n

# Nothing stays mapped: the domain goes away at once.
no_bad $n
xl destroy $n || fail "xl destroy $n failed"
wait_gone $n 30
xl list | grep -q '(null)' && fail "a zombie domain is left: $(xl list | grep '(null)')"
pass
