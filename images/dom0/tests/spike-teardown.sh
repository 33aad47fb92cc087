#!/bin/sh
# Teardown the toolstack never waits on. `xl destroy` of a guest served by a
# Spike is as quick and as silent as with a Linux driver domain, both for
#  1. an ordinary destroy of a connected Linux guest (libxl writes online=0 and
#     state=5, waits for state 6, then for the backend directory to go), and
#  2. a vif the Spike already closed because its frontend keys were unusable
#     (state 6 with online=1 and an `error` node; libxl writes only online=0).
# libxl reports the first failure as "unable to remove device with path …" and
# waits 10 s for the second ("timed out while waiting for … to be removed").
. "$BANANA_ROOT/lib.sh"
BAD_RE='panicked at|SPIKE-VIF-FATAL'
command -v banana > /dev/null || fail "no banana controller in this dom0"
# The whole of `xl destroy`, guest teardown included; libxl's wait alone is 10 s.
QUICK_S=5

# timed_destroy NAME BACKEND_PATH: xl destroy, quick, nothing on stderr about
# devices, and the backend directory gone afterwards
timed_destroy() {
	t0=$(now)
	timeout 60 xl destroy "$1" > "$BANANA_WORK/destroy-$1.log" 2>&1 || {
		sed 's/^/    /' "$BANANA_WORK/destroy-$1.log"
		fail "xl destroy $1 failed"
	}
	t=$(since "$t0")
	log "xl destroy $1 took ${t}s"
	sed 's/^/    /' "$BANANA_WORK/destroy-$1.log"
	if grep -Eiq 'unable|timed out|error|fail' "$BANANA_WORK/destroy-$1.log"; then
		fail "xl destroy $1 complained: $(tr '\n' ' ' < "$BANANA_WORK/destroy-$1.log")"
	fi
	awk -v t="$t" -v q="$QUICK_S" 'BEGIN { exit !(t < q) }' || fail "xl destroy $1 took ${t}s (limit ${QUICK_S}s)"
	xenstore-exists "$2" 2> /dev/null && fail "backend directory $2 outlived xl destroy $1"
	echo "BANANA-FIGURE destroy_$1_s=$t"
}

echo sp1 >> "$BANANA_DOMLIST"
banana_ok spike create sp1
wait_console sp1 '^SPIKE-BOOT' 20
sp=$(domid sp1) || fail "no domid for sp1"

log "case 1: ordinary destroy of a connected guest"
net_guest g1 sp1 10.0.0.1 10.0.0.2 00:16:3e:00:00:01
wait_console sp1 'SPIKE-VIF-CONNECTED' 90
be=/local/domain/$sp/backend/vif/$(domid g1)/0
timed_destroy g1 "$be"
wait_console sp1 'SPIKE-VIF-DISCONNECTED .*toolstack removes the device' 10
wait_console sp1 'SPIKE-VIF-REMOVED' 10

log "case 2: a vif the Spike closed over bad frontend keys"
create fe1 selftest 'extra="mode=basic"' "vif=['backend=sp1,mac=00:16:3e:00:00:09']"
wait_console fe1 'SELFTEST-ID ' 20
fe=$(domid fe1) || fail "no domid for fe1"
be=/local/domain/$sp/backend/vif/$fe/0
xs_wait "$be/state" 2 20
# dom0 plays a hostile netfront (the selftest domain has none): an unparsable
# ring reference, then Connected.
fp=/local/domain/$fe/device/vif/0
xs_write "$fp/tx-ring-ref" 12x
xs_write "$fp/rx-ring-ref" 9
xs_write "$fp/event-channel" 3
xs_write "$fp/request-rx-copy" 1
xs_write "$fp/state" 4
xs_wait "$be/state" 6 20
err=$(xs_read "$be/error")
case $err in *tx-ring-ref*) log "error node: $err" ;; *) fail "backend error node is '$err', not naming tx-ring-ref" ;; esac
[ "$(xs_read "$be/online")" = 1 ] || fail "online is '$(xs_read "$be/online")', expected 1 before the destroy"
wait_console sp1 "SPIKE-VIF-ERROR fe=$fe dev=0: .*tx-ring-ref" 10
timed_destroy fe1 "$be"
wait_count sp1 'SPIKE-VIF-REMOVED' 2 10

no_bad sp1
exists sp1 || fail "sp1 died"
pass
