#!/bin/sh
# Interop with Linux's WireGuard (issue 12): dom0's own kernel WireGuard (wg0,
# configured with wg) carrying a Linux geneve device is the far end of a Corm's
# tunnel wire. Corm c-wi (corm-e1000, underlay 10.77.0.47/24, --tunnel-key) puts
# endpoint 0 (guest gi's Spike) and endpoint 1 (the wire) on local VLAN 50, so gi's
# segment is the tunnel only; the wire is `banana wire connect corm:c-wi/1
# geneve:77@100.64.77.1 --wireguard-peer <dom0's key> --wireguard-endpoint
# 10.77.0.10:51820`. dom0: its std NIC on the lab segment at 10.77.0.10, wg0
# (100.64.77.1) with the Corm as its only peer (allowed-ips: the Corm's tunnel
# address), gen0 (VNI 77 to the Corm's tunnel address) at 10.99.0.1/24, iperf3 -s.
# Proves: wg shows a handshake completed with the Corm's key and bytes both ways;
# gi (10.99.0.51, MTU 1390) pings 10.99.0.1 and runs iperf3 both ways with dom0
# through the kernel's WireGuard and geneve (BANANA-FIGURE tunnel_interop_*); the
# Corm counts its session, opened and sealed data, and no authentic-traffic drops.
. "$BANANA_ROOT/lib.sh"
. "$BANANA_ROOT/corm.sh"
BAD_RE='panicked at|CORM-FATAL|SPIKE-VIF-FATAL|SPIKE-WIRE-ERROR|CORM-WIRE-ERROR|GUEST-MTU-FAIL|CORM-CONFIG-ERROR'
GI_MAC=00:16:3e:00:0e:01 GI_IP=10.99.0.51 PEER_IP=10.99.0.1
C_UL=10.77.0.47 ME_IP=10.77.0.10 DOM0_TUN=100.64.77.1 VNI=77
need_lab
command -v banana > /dev/null || fail "no banana controller in this dom0"
command -v wg > /dev/null || fail "no wg in this dom0 (apt package wireguard-tools on the lab host; images/build.sh)"
command -v iperf3 > /dev/null || fail "no iperf3 in this dom0 (images/build.sh)"
# iproute2's ip: busybox's cannot make a geneve device with a VNI and a remote
IP2=/usr/bin/ip
[ -x $IP2 ] || fail "no iproute2 ip in this dom0 (images/build.sh copies /usr/bin/ip)"

corm_up c-wi corm-e1000 2 --underlay $C_UL/24 --vlan 0=50 --vlan 1=50 --local-vlan 50 --tunnel-key
corm_wireguard c-wi 1
wait_console c-wi '^CORM-WIREGUARD-UP address=100\.' 5
C_TUN=$(console c-wi | sed -n 's/^CORM-WIREGUARD-UP address=\([0-9.]*\) .*/\1/p' | head -n 1)
log "corm c-wi: tunnel address $C_TUN, public key $WG_PUBLIC"
corm_spike c-wi s-wi 0 $GI_MAC $GI_IP

# What explains a failure: both sides' view of the tunnel.
diag() {
	echo "dom0's wg0 and gen0:"
	wg show wg0
	$IP2 -s link show wg0
	$IP2 -s -d link show gen0
	$IP2 route get "$C_TUN"
	echo "corm c-wi:"
	counters_flat c-wi | grep -E '^(wireguard|underlay|tunnel)/' | grep -v ' 0$'
}
FAIL_HOOK=diag

# ---- dom0: the kernel's WireGuard and geneve, set up with wg and ip
std_up
ip addr replace $ME_IP/24 dev $STD_BR || fail "cannot put $ME_IP on $STD_BR"
$IP2 link del gen0 2> /dev/null
$IP2 link del wg0 2> /dev/null
$IP2 link add wg0 type wireguard || fail "no WireGuard in dom0's kernel (images/build.sh DOM0_MODULES)"
(umask 077 && wg genkey > "$BANANA_WORK/dom0.key") || fail "wg genkey failed"
DOM0_PUB=$(wg pubkey < "$BANANA_WORK/dom0.key")
wg set wg0 private-key "$BANANA_WORK/dom0.key" listen-port 51820 \
	peer "$WG_PUBLIC" allowed-ips "$C_TUN/32" endpoint "$C_UL:51820" || fail "wg set wg0 failed"
$IP2 addr add $DOM0_TUN/32 dev wg0 && $IP2 link set wg0 mtu 1440 up && $IP2 route add "$C_TUN/32" dev wg0 ||
	fail "cannot bring wg0 up"
$IP2 link add gen0 type geneve id $VNI remote "$C_TUN" || fail "no geneve in dom0's kernel (images/build.sh DOM0_MODULES)"
$IP2 addr add $PEER_IP/24 dev gen0 && $IP2 link set gen0 mtu 1390 up || fail "cannot bring gen0 up"
log "dom0: $($IP2 -d link show gen0 | tr '\n' ' ')"
iperf3 -s -D -B $PEER_IP > /dev/null 2>&1 || fail "iperf3 -s failed"
log "dom0: $(wg show wg0 | tr '\n' ' ')"

banana_ok wire connect corm:c-wi/1 "geneve:$VNI@$DOM0_TUN" --wireguard-peer "$DOM0_PUB" --wireguard-endpoint "$ME_IP:51820"
wire=$(sed -n 's/^wire \([0-9][0-9]*\): .*/\1/p' "$BANANA_WORK/banana.out" | head -n 1)
[ -n "$wire" ] || fail "banana wire connect printed no wire id: $(tr '\n' ' ' < "$BANANA_WORK/banana.out")"
wait_console c-wi "^CORM-TUNNEL-UP wire=$wire endpoint=1 encap=geneve vni=$VNI remote=$DOM0_TUN:6081" 60

net_guest gi s-wi $GI_IP $PEER_IP $GI_MAC "banana.mtu=1390 banana.iperf=1"
wait_console s-wi 'SPIKE-VIF-CONNECTED' 90
wait_console s-wi 'SPIKE-WIRE-UP' 60
wait_console gi '^GUEST-MTU 1390 on eth0' 30
wait_console gi 'GUEST-NET-OK n=1' 120
wait_console gi '^GUEST-IPERF3 dir=tx ' 120
wait_console gi '^GUEST-IPERF3 dir=rx ' 60
wait_console gi '^GUEST-RTT ' 60
for d in tx rx; do
	guest_iperf gi $d "between gi and dom0's geneve over Linux's WireGuard"
	echo "BANANA-FIGURE tunnel_interop_iperf_${d}_mbit=$IPERF"
done
echo "BANANA-FIGURE tunnel_interop_rtt_ms=$(console gi | sed -n 's/^GUEST-RTT avg_ms=//p' | head -n 1)"

# ---- what Linux's WireGuard says about the Corm
wg show wg0 > "$BANANA_WORK/wg-show.txt" 2>&1
sed 's/^/    /' "$BANANA_WORK/wg-show.txt"
hs=$(wg show wg0 latest-handshakes | awk -v k="$WG_PUBLIC" '$1 == k { print $2 }')
[ "${hs:-0}" -gt 0 ] || fail "Linux's WireGuard completed no handshake with the Corm (latest-handshakes: '$hs')"
set -- $(wg show wg0 transfer | awk -v k="$WG_PUBLIC" '$1 == k { print $2, $3 }')
[ "${1:-0}" -gt 100000 ] && [ "${2:-0}" -gt 100000 ] ||
	fail "Linux's WireGuard moved too little with the Corm (received ${1:-?}, sent ${2:-?} bytes)"
log "Linux's WireGuard: handshake at $hs, received $1 and sent $2 bytes with the Corm"
sleep 2 # the counter page is refreshed every second
for k in wireguard/sessions wireguard/rx_data wireguard/tx_data tunnel/$wire/counters/rx_frames \
	tunnel/$wire/counters/tx_frames; do
	v=$(corm_counter c-wi "$k")
	[ "${v:-0}" -gt 0 ] || fail "c-wi: $k is '$v', expected > 0"
	log "corm c-wi $k=$v"
done
for k in wireguard/dropped_unauthentic wireguard/dropped_bad_handshake wireguard/dropped_not_ip \
	underlay/dropped_wrong_peer; do
	v=$(corm_counter c-wi "$k")
	[ "${v:-0}" -eq 0 ] || fail "c-wi: $k is '$v', expected 0"
done

no_bad c-wi s-wi gi
xl destroy gi
banana_ok spike destroy s-wi
corm_down c-wi
kill $(pidof iperf3) 2> /dev/null
$IP2 link del gen0
$IP2 link del wg0
pass
