#!/bin/sh
# Two Linux PV guests, each served by its own Spike, the Spikes joined by a local
# wire, all set up through the controller: ping and iperf3 both ways; a guest
# reboot reconnects; destroying a Spike hurts neither dom0 nor the other guest,
# and recreating it (banana spike create) restores traffic: banana moves the
# guest's vif to the new Spike (docs/self-healing.md), no xl network-attach.
# `banana list` reads the same through xenstored's socket as through the
# xenstore-* programs, and the re-creation goes through the socket.
. "$BANANA_ROOT/lib.sh"
BAD_RE='panicked at|SPIKE-VIF-FATAL|SPIKE-WIRE-ERROR'
command -v banana > /dev/null || fail "no banana controller in this dom0"
spike_pair_up 'banana.iperf=1 banana.iperf_s=5'
wait_console g2 'GUEST-RTT ' 120
for d in tx rx; do
	guest_iperf g2 $d "between the guests"
	log "iperf3 g2 $d: $IPERF Mbit/s"
done
banana_ok status
grep -Eq '^[0-9]+ +spike:sp1 +spike:sp2 +connected' "$BANANA_WORK/banana.out" || fail "banana status does not show the wire connected"

# xenstore through xenstored's own socket (banana --xenstore socket, the default,
# docs/xenstore.md) reads the same records as through the xenstore-* programs;
# the time of `banana status` each way is a figure
for how in programs socket; do
	t0=$(now)
	BANANA_XENSTORE=$how banana list > "$BANANA_WORK/list-$how.txt" 2>&1 ||
		fail "banana --xenstore $how list failed: $(tail -n 2 "$BANANA_WORK/list-$how.txt" | tr '\n' ' ')"
	t1=$(now)
	BANANA_XENSTORE=$how banana status > "$BANANA_WORK/status-$how.txt" 2>&1 ||
		fail "banana --xenstore $how status failed: $(tail -n 2 "$BANANA_WORK/status-$how.txt" | tr '\n' ' ')"
	echo "BANANA-FIGURE status_s_$how=$(since "$t1")"
	log "banana --xenstore $how: list $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }') s, status $(since "$t1") s"
done
cmp -s "$BANANA_WORK/list-programs.txt" "$BANANA_WORK/list-socket.txt" ||
	fail "banana list differs between --xenstore programs and socket: $(diff "$BANANA_WORK/list-programs.txt" "$BANANA_WORK/list-socket.txt" | head -n 4 | tr '\n' '|')"

log "guest reboot: g1 must reconnect"
xl reboot g1 || fail "xl reboot g1 failed"
wait_count g1 '^GUEST-BOOT' 2 90
wait_count g1 'GUEST-NET-OK n=1' 2 90
wait_count sp1 'SPIKE-VIF-CONNECTED' 2 30

log "save/restore: g1 must reconnect"
timeout 120 xl save g1 "$BANANA_WORK/g1.save" || fail "xl save g1 failed"
wait_count sp1 'SPIKE-VIF-REMOVED' 2 30
timeout 120 xl restore "$BANANA_WORK/g1.save" || fail "xl restore g1 failed"
rm -f "$BANANA_WORK/g1.save"
wait_count sp1 'SPIKE-VIF-CONNECTED' 3 60

log "destroy sp2: dom0, sp1 and g1 must be unaffected"
xl destroy sp2 || fail "xl destroy sp2 failed"
wait_console g2 'GUEST-NET-LOST' 30
exists sp1 || fail "sp1 died with sp2"
exists g1 || fail "g1 died with sp2"
case $(state g1) in *c*) fail "g1 crashed" ;; esac
xl list > /dev/null || fail "xl list fails after destroying sp2"
n_ok=$(console g1 | grep -c 'GUEST-NET-OK')
log "recreate sp2 (through the xenstore-* programs, the fallback): g2's vif must follow it"
export BANANA_XENSTORE=programs
banana_ok spike create sp2
unset BANANA_XENSTORE
grep -q '^spike sp2: vif 0 of g2 (domain [0-9]*): reconnected' "$BANANA_WORK/banana.out" ||
	fail "banana spike create sp2 did not reconnect g2's vif"
wait_count sp2 '^SPIKE-BOOT' 2 30
# The new sp2 says hello on the wire once it serves g2's vif and knows its MAC.
wait_count sp1 'SPIKE-WIRE-UP' 2 60
wait_console g2 'GUEST-NET-OK n=2' 90
wait_count g1 'GUEST-NET-OK' $((n_ok + 1)) 60
no_bad sp1 sp2 g1 g2
banana_ok status
pass
