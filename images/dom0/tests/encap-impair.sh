#!/bin/sh
# An encap wire over a bad underlay (issue 11): the two Corms of encap-wire ("host
# A" c-ia on corm-e1000e, "host B" c-ib on corm-e1000) sit on two routed subnets,
# 10.77.61.0/24 and 10.77.62.0/24, and dom0 is the router between them (its std
# NIC, stdbr, holds both gateways and forwards). The Linux netem qdisc on dom0's NIC
# then loses, duplicates, delays and reorders every packet it routes between the
# Corms (and its own): the underlay of a real WAN, with the real kernel's netem.
# Guest gb behind host B's Corm (local VLAN 40, reachable only through the Geneve
# wire to host A's untagged endpoint) gets its lease from host A's segment; dom0
# pings it on that segment through the tunnel.
# Proves: while the underlay is impaired the wire stays up (no peer declared
# dead), traffic still flows (dom0's pings through the tunnel come back, fewer),
# and both Corms count what the path did to their control messages (control_lost,
# control_stale: duplicated or reordered); once netem is gone every ping comes back.
# Figures: encap_impair_{ping_during,ping_after} (received of sent) and the
# counters' deltas.
. "$BANANA_ROOT/lib.sh"
. "$BANANA_ROOT/corm.sh"
BAD_RE='panicked at|CORM-FATAL|SPIKE-VIF-FATAL|SPIKE-WIRE-ERROR|CORM-WIRE-ERROR|GUEST-MTU-FAIL|CORM-TUNNEL-PEER-DEAD'
GB_MAC=00:16:3e:00:0d:01
# What netem does to every packet dom0 sends on its NIC (loss and duplicates in
# each direction, half the packets 10 ms late: reordered behind the others).
IMPAIR="delay 10ms reorder 50% loss 15% duplicate 15%"
IMPAIR_S=40
TC=/usr/sbin/tc
command -v banana > /dev/null || fail "no banana controller in this dom0"
[ -x $TC ] || fail "no iproute2 tc in this dom0 (images/build.sh copies /usr/sbin/tc)"

# dom0: the router between the Corms' subnets, and a host on the lab segment
std_up
for a in 10.77.61.1/24 10.77.62.1/24 10.77.0.9/24; do
	ip addr add $a dev "$STD_BR" || fail "cannot put $a on $STD_BR"
done
echo 1 > /proc/sys/net/ipv4/ip_forward
for k in all default "$STD_BR"; do
	echo 0 > "/proc/sys/net/ipv4/conf/$k/send_redirects"
	echo 0 > "/proc/sys/net/ipv4/conf/$k/rp_filter"
done

corm_up c-ia corm-e1000e 1 --underlay 10.77.61.2/24 --gateway 10.77.61.1
corm_up c-ib corm-e1000 2 --underlay 10.77.62.2/24 --gateway 10.77.62.1 --vlan 0=40 --vlan 1=40 --local-vlan 40
corm_spike c-ib s-ib 0 $GB_MAC
corm_encap_wire c-ib/1 c-ia/0
wire=$WIRE
lab_guest gb "backend=s-ib" $GB_MAC "banana.mtu=1450"
wait_console s-ib 'SPIKE-VIF-CONNECTED' 90
wait_console gb '^GUEST-DHCP-LEASE 10\.77\.0\.' 120
GB_IP=$(console gb | sed -n 's/^GUEST-DHCP-LEASE \(10\.77\.0\.[0-9]*\).*/\1/p' | head -n 1)
wait_console gb 'GUEST-NET-OK n=1' 60
log "gb: $GB_IP (a lease from host A's segment, through the tunnel routed by dom0)"

# received COUNT: dom0 pings gb COUNT times, 0.2 s apart; prints how many came back
received() {
	ping -c "$1" -i 0.2 -W 2 "$GB_IP" 2> /dev/null |
		sed -n 's/.* \([0-9][0-9]*\) packets received.*/\1/p' | head -n 1
}
n=$(received 10)
[ "${n:-0}" -ge 9 ] || fail "dom0 cannot ping gb ($GB_IP) through the routed tunnel before any impairment: ${n:-0} of 10"

# the Corms' control-sequence counters for the wire, as "c-ia c-ib" pairs
ctr() { echo "$(corm_counter c-ia "tunnel/$wire/counters/$1") $(corm_counter c-ib "tunnel/$wire/counters/$1")"; }
sum2() { echo "$1" | awk '{ print $1 + $2 }'; }
sleep 2 # the counter pages are refreshed every second
lost0=$(ctr control_lost) stale0=$(ctr control_stale) deaths0=$(ctr peer_deaths)
log "before: control_lost $lost0, control_stale $stale0, peer_deaths $deaths0 (c-ia c-ib)"

$TC qdisc add dev "$STD_IF" root netem $IMPAIR || fail "tc qdisc add dev $STD_IF root netem $IMPAIR failed"
log "underlay impaired for ${IMPAIR_S}s: netem $IMPAIR on $STD_IF"
T0=$(now)
during=$(received 100)
left=$(awk -v t="$(since "$T0")" -v s=$IMPAIR_S 'BEGIN { l = s - t; print (l > 0 ? int(l + 0.5) : 0) }')
sleep "$left"
$TC -s qdisc show dev "$STD_IF" | sed 's/^/    netem: /'
$TC qdisc del dev "$STD_IF" root || fail "tc qdisc del dev $STD_IF root failed"
sleep 2
lost1=$(ctr control_lost) stale1=$(ctr control_stale) deaths1=$(ctr peer_deaths)
log "after: control_lost $lost1, control_stale $stale1, peer_deaths $deaths1 (c-ia c-ib)"
after=$(received 20)
echo "BANANA-FIGURE encap_impair_ping_during=${during:-0}/100"
echo "BANANA-FIGURE encap_impair_ping_after=${after:-0}/20"
dl=$(($(sum2 "$lost1") - $(sum2 "$lost0")))
ds=$(($(sum2 "$stale1") - $(sum2 "$stale0")))
dd=$(($(sum2 "$deaths1") - $(sum2 "$deaths0")))
echo "BANANA-FIGURE encap_impair_control_lost=$dl"
echo "BANANA-FIGURE encap_impair_control_stale=$ds"

[ "$dd" = 0 ] || fail "a Corm declared its peer dead during the impairment (peer_deaths +$dd)"
[ "${during:-0}" -ge 30 ] || fail "only ${during:-0} of 100 pings came back through the impaired tunnel (expected ~60: three passes through 15% loss)"
[ "${during:-0}" -lt 100 ] || fail "all 100 pings came back: netem did not impair the routed underlay"
[ "$dl" -gt 0 ] || fail "no Corm counted a lost control message in ${IMPAIR_S}s of 15% loss (control_lost $lost0 -> $lost1)"
[ "$ds" -gt 0 ] || fail "no Corm counted a stale (duplicated) control message in ${IMPAIR_S}s of 15% duplicates (control_stale $stale0 -> $stale1)"
[ "${after:-0}" -ge 18 ] || fail "after the impairment only ${after:-0} of 20 pings came back"
banana_ok status
grep -Eq "^$wire +corm:c-ib/1 +corm:c-ia/0 +configured +up +up" "$BANANA_WORK/banana.out" ||
	fail "banana status does not show wire $wire up at both Corms after the impairment"

no_bad c-ia c-ib s-ib gb
xl destroy gb
banana_ok spike destroy s-ib
corm_down c-ib
corm_down c-ia
echo 0 > /proc/sys/net/ipv4/ip_forward
for a in 10.77.61.1/24 10.77.62.1/24 10.77.0.9/24; do ip addr del $a dev "$STD_BR" 2> /dev/null; done
std_down
pass
