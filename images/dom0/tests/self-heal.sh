#!/bin/sh
# Self-healing (docs/self-healing.md): two Spikes on a local wire with a Linux
# guest each. sp2 crashes mid-ping and `banana repair` restarts it; later sp2 is
# destroyed mid-ping while `banana supervise --interval 60` runs, which restarts it
# by itself at once, woken by its xenstore watch on @releaseDomain.
# Each time the wire comes back and g2's vif reconnects with no xl
# network-detach/attach: g2 reports GUEST-NET-OK again on its own.
# Figures: fault to traffic back (dom0 clock), and the outage g2 saw (console).
. "$BANANA_ROOT/lib.sh"
BAD_RE='panicked at|SPIKE-VIF-FATAL|SPIKE-WIRE-ERROR'
command -v banana > /dev/null || fail "no banana controller in this dom0"

# wait_crashed NAME TIMEOUT_S
wait_crashed() {
	log "waiting up to $2s for xl to show $1 crashed"
	i=0
	until state "$1" | grep -q c; do
		[ $i -ge $(($2 * 5)) ] && fail "xl shows $1 as '$(state "$1")', not crashed, after $2s"
		sleep 0.2
		i=$((i + 1))
	done
}

spike_pair_up

log "sp2 crashes mid-ping: \`banana repair\` must bring it, its wire and g2's vif back"
old=$(domid sp2)
T0=$(now)
# pv-runtime honours control/shutdown=crash: the domain shuts down as crashed
xs_write "/local/domain/$old/control/shutdown" crash
wait_crashed sp2 20
wait_console g2 'GUEST-NET-LOST n=1' 30
banana_ok status
grep -Eq '^sp2 +spike +[0-9]+ +crashed ' "$BANANA_WORK/banana.out" || fail "banana status does not show sp2 crashed"
banana_ok list
grep -q '^spike sp2 is crashed' "$BANANA_WORK/banana.out" || fail "banana list does not say sp2 crashed"
T1=$(now)
banana_ok repair
log "banana repair took $(since "$T1")s"
grep -q '^spike sp2: crashed (xl state [^)]*), restarted as domid' "$BANANA_WORK/banana.out" ||
	fail "banana repair did not restart sp2"
grep -q '^spike sp2: vif 0 of g2 (domain [0-9]*): reconnected' "$BANANA_WORK/banana.out" ||
	fail "banana repair did not reconnect g2's vif"
[ "$(domid sp2)" != "$old" ] || fail "sp2 still has domid $old"
wait_console g2 'GUEST-NET-OK n=2' 60
gap1=$(since "$T0")
wait_count sp1 'SPIKE-WIRE-UP' 2 60
wait_count g1 'GUEST-NET-OK' 2 60
echo "BANANA-FIGURE self_heal_gap_s=$gap1"
echo "BANANA-FIGURE self_heal_guest_outage_s=$(net_outage g2 1)"
banana_ok repair
grep -qx 'nothing to repair' "$BANANA_WORK/banana.out" || fail "a second banana repair found work"

log "sp2 destroyed mid-ping while \`banana supervise --interval 60\` runs: its xenstore watch must make it heal at once"
supervise_start 60
T2=$(now)
xl destroy sp2 || fail "xl destroy sp2 failed"
i=0
until grep -q 'spike sp2: gone, restarted as domid' "$BANANA_WORK/supervise.log"; do
	[ $i -ge 100 ] && { sed 's/^/    supervise: /' "$BANANA_WORK/supervise.log"; fail "supervise did not restart sp2 within 20 s of its death (its next periodic pass is 60 s away: the @releaseDomain watch did not wake it)"; }
	sleep 0.2
	i=$((i + 1))
done
echo "BANANA-FIGURE self_heal_watch_restart_s=$(since "$T2")"
grep -q 'woken by xenstore watch @releaseDomain' "$BANANA_WORK/supervise.log" || fail "supervise does not say a watch woke it"
wait_console g2 'GUEST-NET-LOST n=2' 30
wait_console g2 'GUEST-NET-OK n=3' 90
gap2=$(since "$T2")
echo "BANANA-FIGURE self_heal_supervised_gap_s=$gap2"
echo "BANANA-FIGURE self_heal_supervised_guest_outage_s=$(net_outage g2 2)"
wait_count sp1 'SPIKE-WIRE-UP' 3 60
supervise_stop
grep -q 'spike sp2: gone, restarted as domid' "$BANANA_WORK/supervise.log" || fail "supervise did not restart sp2"
grep -q 'vif 0 of g2 (domain [0-9]*): reconnected' "$BANANA_WORK/supervise.log" || fail "supervise did not reconnect g2's vif"
grep -q 'stopped$' "$BANANA_WORK/supervise.log" || fail "supervise did not say it stopped"
no_bad sp1 sp2 g1 g2
banana_ok status
grep -Eq '^[0-9]+ +spike:sp1 +spike:sp2 +connected' "$BANANA_WORK/banana.out" || fail "banana status does not show the wire connected"
pass
