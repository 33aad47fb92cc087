#!/bin/sh
# An encap wire between two Corms, as between two hosts (issue 11): Corm c-ea
# ("host A", corm-e1000e, underlay 10.77.0.43/24) has one untagged endpoint,
# so its segment is the lab's physical one (the lab peer, its DHCP server);
# Corm c-eb ("host B", corm-e1000, underlay 10.77.0.44/24) serves guest gb
# through Spike s-eb on VLAN 40, a local VLAN (--local-vlan: kept off its
# NIC, or gb's broadcasts would come back through host A's Corm): gb's only
# way out is the Geneve wire corm:c-eb/1 <-> corm:c-ea/0 across the lab network.
# Proves: both Corms bring the tunnel up and their control sees the other
# (CORM-TUNNEL-PEER-UP, banana status), gb gets its DHCP lease from host A's
# segment, pings the lab peer and runs iperf3 both ways through the tunnel
# (BANANA-FIGURE encap_*), both Corms count the tunnel's frames; then host A's
# Corm is destroyed behind banana's back: `banana repair` makes it again, host
# B's Corm sees the restart by its new epoch (CORM-TUNNEL-PEER-RESTARTED) and
# gb gets its network back with nothing done in the guest, Spike or Corm B.
# Host A's Corm has a WireGuard key (--tunnel-key, issue 12): it takes the key
# and seed from its config and deletes them, and comes back with the same key.
. "$BANANA_ROOT/lib.sh"
. "$BANANA_ROOT/corm.sh"
BAD_RE='panicked at|CORM-FATAL|SPIKE-VIF-FATAL|SPIKE-WIRE-ERROR|CORM-WIRE-ERROR|GUEST-MTU-FAIL'
GB_MAC=00:16:3e:00:0c:01
command -v banana > /dev/null || fail "no banana controller in this dom0"

corm_up c-ea corm-e1000e 1 --underlay 10.77.0.43/24 --tunnel-key
corm_wireguard c-ea 1
corm_up c-eb corm-e1000 2 --underlay 10.77.0.44/24 --vlan 0=40 --vlan 1=40 --local-vlan 40
wait_console c-eb '^CORM-LOCAL-VLAN 40' 5
corm_spike c-eb s-eb 0 $GB_MAC
corm_encap_wire c-eb/1 c-ea/0
wire=$WIRE

lab_guest gb "backend=s-eb" $GB_MAC "banana.mtu=1450 banana.iperf=1 banana.iperf_s=5"
wait_console s-eb 'SPIKE-VIF-CONNECTED' 90
wait_console s-eb 'SPIKE-WIRE-UP' 60
wait_console gb '^GUEST-MTU 1450 on eth0' 30
wait_console gb '^GUEST-DHCP-LEASE 10\.77\.0\.' 120
log "gb: $(console gb | grep -m 1 '^GUEST-DHCP-LEASE') (from host A's segment, through the tunnel)"
wait_console gb 'GUEST-NET-OK n=1' 60
wait_console gb '^GUEST-RTT ' 180
for d in tx rx; do
	guest_iperf gb $d "between gb and the lab peer through the Geneve wire"
	echo "BANANA-FIGURE encap_iperf_${d}_mbit=$IPERF"
done
echo "BANANA-FIGURE encap_rtt_ms=$(console gb | sed -n 's/^GUEST-RTT avg_ms=//p' | head -n 1)"
sleep 2 # the counter page is refreshed every second
for c in c-ea c-eb; do
	for k in rx_frames tx_frames; do
		v=$(corm_counter $c "tunnel/$wire/counters/$k")
		[ "${v:-0}" -gt 0 ] || fail "$c: tunnel/$wire/counters/$k is '$v', expected > 0"
		log "corm $c tunnel/$wire/counters/$k=$v"
	done
done
banana_ok status
grep -Eq "^$wire +corm:c-eb/1 +corm:c-ea/0 +configured +up +up" "$BANANA_WORK/banana.out" ||
	fail "banana status does not show wire $wire configured with both Corms reporting up"

# Host A's Corm dies and is made again: a new epoch, the same wire.
old=$(domid c-ea)
log "destroying c-ea (domid $old) behind banana's back"
T0=$(now)
xl destroy c-ea || fail "xl destroy c-ea failed"
wait_console gb 'GUEST-NET-LOST n=1' 30
i=0
until banana repair > "$BANANA_WORK/repair.out" 2>&1 && grep -q 'corm c-ea: .*restarted as domid' "$BANANA_WORK/repair.out"; do
	# the NIC is assignable again ~10 s after its owner is gone
	[ $i -lt 12 ] || { sed 's/^/    /' "$BANANA_WORK/repair.out"; fail "banana repair did not restart c-ea"; }
	sleep 5
	i=$((i + 1))
done
wait_console c-eb "^CORM-TUNNEL-PEER-RESTARTED wire=$wire" 120
first_key=$WG_PUBLIC
corm_wireguard c-ea 2
[ "$WG_PUBLIC" = "$first_key" ] || fail "c-ea's key changed across its restart"
wait_console gb 'GUEST-NET-OK n=2' 120
echo "BANANA-FIGURE encap_corm_restart_gap_s=$(since "$T0")"
echo "BANANA-FIGURE encap_corm_restart_guest_outage_s=$(net_outage gb 1)"

no_bad c-ea c-eb s-eb gb
xl destroy gb
banana_ok spike destroy s-eb
# Host B's Corm shut down with the wire still connected (banana corm destroy
# stops it first, then unwires): its Close tells host A at once, not after
# A's 10 s dead time.
corm_down c-eb
wait_console c-ea "^CORM-TUNNEL-PEER-CLOSED wire=$wire" 20
corm_down c-ea
pass
