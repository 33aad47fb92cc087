# Helpers shared by the dom0 tests (sourced; POSIX sh: busybox ash in the nested
# lab, dash or bash in a real dom0). Every wait has a timeout, says what it waits
# for, and fails the test loudly when the time is up.
#
# Environment (set by runner.sh; the defaults fit the nested dom0):
#   BANANA_ROOT     payload directory: xl/, domains/, guest/, tests/   (/banana)
#   BANANA_TEST     name printed in the result marker                   (script name)
#   BANANA_WORK     scratch directory of this test                      (/tmp/banana/<test>)
#   BANANA_DOMLIST  file listing the domains this test created (runner dumps their consoles)
#   BANANA_RESULT   file the result is written to (runner checks one was given)
#   CONSOLE_DIR     where xenconsoled --log=guest writes guest-<name>.log
#   BAD_RE          console lines matching this ERE fail any wait_console

: "${BANANA_ROOT:=/banana}"
: "${BANANA_TEST:=$(basename "$0" .sh)}"
: "${BANANA_WORK:=/tmp/banana/$BANANA_TEST}"
: "${BANANA_DOMLIST:=$BANANA_WORK/domains}"
: "${BANANA_RESULT:=$BANANA_WORK/result}"
: "${CONSOLE_DIR:=/var/log/xen/console}"
: "${BAD_RE:=panicked at}"
mkdir -p "$BANANA_WORK"

log() { echo "[$BANANA_TEST] $*"; }

pass() {
	echo pass > "$BANANA_RESULT"
	echo "BANANA-TEST-PASS $BANANA_TEST"
	exit 0
}

# fail WHY: the test's result. A test may set FAIL_HOOK to a function that prints
# what would explain a failure (run once, before the result is written).
fail() {
	if [ -n "${FAIL_HOOK:-}" ]; then
		_h=$FAIL_HOOK
		FAIL_HOOK=
		$_h 2>&1 | sed 's/^/    /'
	fi
	echo fail > "$BANANA_RESULT"
	echo "BANANA-TEST-FAIL $BANANA_TEST: $*"
	exit 1
}

# Wall clock in seconds with microseconds (busybox `ts`; GNU date on a real dom0).
now() {
	t=$(date +%s.%N 2>/dev/null)
	case $t in
	*N | '') echo | ts '%.s' | cut -d' ' -f1 ;;
	*) echo "$t" ;;
	esac
}

# since T0 -> seconds elapsed, 3 decimals
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f\n", b - a }'; }

# ---- domains -----------------------------------------------------------------

# cfg KIND -> path of images/xl/KIND.cfg with @ROOT@ filled in
cfg() {
	sed "s|@ROOT@|$BANANA_ROOT|g" "$BANANA_ROOT/xl/$1.cfg" > "$BANANA_WORK/$1.cfg"
	echo "$BANANA_WORK/$1.cfg"
}

console_file() { echo "$CONSOLE_DIR/guest-$1.log"; }

# console NAME: the guest's console text, without xenconsoled's timestamps
console() {
	sed -e 's/^\[[0-9][0-9-]* [0-9:.]*\] //' -e '/^Logfile Opened$/d' "$(console_file "$1")" 2>/dev/null | tr -d '\r'
}

# try_create NAME KIND [xl key=value ...]: xl create from images/xl/KIND.cfg;
# returns xl's status (its output is in $BANANA_WORK/create-NAME.log); xl gets
# XL_CREATE_TIMEOUT s (60)
try_create() {
	name=$1 kind=$2
	shift 2
	[ -f "$BANANA_ROOT/xl/$kind.cfg" ] || fail "no xl config $BANANA_ROOT/xl/$kind.cfg"
	c=$(cfg "$kind")
	k=$(sed -n 's/^kernel *= *"\(.*\)"/\1/p' "$c")
	[ -f "$k" ] || fail "kernel image $k of $kind.cfg is missing (not built?)"
	echo "$name" >> "$BANANA_DOMLIST"
	rm -f "$(console_file "$name")"
	log "xl create $kind.cfg name=$name $*"
	timeout "${XL_CREATE_TIMEOUT:-60}" xl create "$c" "name=\"$name\"" "$@" > "$BANANA_WORK/create-$name.log" 2>&1
}

# create NAME KIND [xl key=value ...]: as try_create, failing the test on error
create() {
	if ! try_create "$@"; then
		sed 's/^/    /' "$BANANA_WORK/create-$1.log"
		fail "xl create $1 ($2.cfg) failed"
	fi
}

domid() { xl domid "$1" 2>/dev/null; }
exists() { xl domid "$1" > /dev/null 2>&1; }

# state NAME -> xl list state flags (e.g. "-b----", "---sc-")
state() { xl list "$1" 2>/dev/null | awk 'NR == 2 { print $5 }'; }

# wait_gone NAME TIMEOUT_S
wait_gone() {
	log "waiting up to $2s for domain $1 to be gone"
	i=0 _poll_n=$(poll_limit "$2")
	while exists "$1"; do
		[ $i -ge "$_poll_n" ] && fail "timeout after $2s waiting for domain $1 to be gone (state $(state "$1"))"
		poll_sleep $i
		i=$((i + 1))
	done
}

# shutdown NAME TIMEOUT_S: xl shutdown -w, bounded
shutdown_wait() {
	log "xl shutdown -w $1 (timeout $2s)"
	timeout "$2" xl shutdown -w "$1" > "$BANANA_WORK/shutdown-$1.log" 2>&1 ||
		fail "xl shutdown -w $1 did not complete within $2s: $(tr '\n' ' ' < "$BANANA_WORK/shutdown-$1.log")"
}

# ---- consoles ----------------------------------------------------------------

# bad_line NAME -> first console line matching BAD_RE (empty if none)
bad_line() { [ -n "$BAD_RE" ] && console "$1" | grep -E -m 1 -- "$BAD_RE"; }

# console_scan NAME ERE [BAD_ERE]: one pass over NAME's console, in one process (the
# waits below run it several times a second in a dom0 whose one vCPU
# xenstored shares; a sed|tr|grep pipeline per look kept that vCPU busy):
# "seen" if a line matches ERE, else "bad LINE" for the first line matching
# BAD_ERE (default: BAD_RE; empty: none), else nothing. Patterns go through the environment: awk -v would
# rewrite their backslashes.
console_scan() {
	SCAN_RE=$2 SCAN_BAD=${3-$BAD_RE} awk '
		{ gsub(/\r/, ""); sub(/^\[[0-9][0-9-]* [0-9:.]*\] /, "") }
		$0 == "Logfile Opened" { next }
		$0 ~ ENVIRON["SCAN_RE"] { seen = 1; exit }
		bad == "" && ENVIRON["SCAN_BAD"] != "" && $0 ~ ENVIRON["SCAN_BAD"] { bad = $0 }
		END { if (seen) print "seen"; else if (bad != "") print "bad " bad }
	' "$CONSOLE_DIR/guest-$1.log" 2> /dev/null
}

# console_count NAME ERE: how many console lines of NAME match ERE
console_count() {
	SCAN_RE=$2 awk '
		{ gsub(/\r/, ""); sub(/^\[[0-9][0-9-]* [0-9:.]*\] /, "") }
		$0 != "Logfile Opened" && $0 ~ ENVIRON["SCAN_RE"] { n++ }
		END { print n + 0 }
	' "$CONSOLE_DIR/guest-$1.log" 2> /dev/null || echo 0
}

# poll_sleep I: the pause before look I+1 of a wait: 0.2 s for the first
# second, then 0.5 s. poll_limit TIMEOUT_S: the looks that fill TIMEOUT_S.
poll_sleep() { if [ "$1" -lt 5 ]; then sleep 0.2; else sleep 0.5; fi; }
poll_limit() { echo $((5 + ($1 - 1) * 2)); }

# console_ts NAME ERE -> the time of day (s) xenconsoled stamped on NAME's
# first console line matching ERE (empty if none)
console_ts() {
	tr -d '\r' 2> /dev/null < "$(console_file "$1")" | grep -m 1 -E -- "$2" |
		sed -n 's/^\[[0-9-]* \([0-9]*\):\([0-9]*\):\([0-9.]*\)\].*/\1 \2 \3/p' |
		awk '{ printf "%.3f\n", $1 * 3600 + $2 * 60 + $3 }'
}

# guest_iperf GUEST DIR WHAT: sets IPERF to GUEST's first iperf3 figure in
# direction DIR (tx|rx); fails the test ("iperf3 DIR WHAT gave ...") unless it
# is a positive number. Not for $(...): it sets a variable and may fail.
guest_iperf() {
	IPERF=$(console "$1" | sed -n "s/^GUEST-IPERF3 dir=$2 mbit_s=//p" | head -n 1)
	awk -v r="$IPERF" 'BEGIN { exit !(r + 0 > 0) }' || fail "iperf3 $2 $3 gave '$IPERF'"
}

# net_outage GUEST N -> seconds between the guest's GUEST-NET-LOST n=N and
# GUEST-NET-OK n=N+1 (its own view of an outage; "?" if it lacks either). The
# guest says LOST after 3 missed pings, about 4 s into the outage: add those.
net_outage() {
	a=$(console_ts "$1" "GUEST-NET-LOST n=$2\$") b=$(console_ts "$1" "GUEST-NET-OK n=$(($2 + 1))\$")
	[ -n "$a" ] && [ -n "$b" ] || { echo "?"; return; }
	awk -v a="$a" -v b="$b" 'BEGIN { d = b - a; if (d < 0) d += 86400; printf "%.1f\n", d }'
}

# wait_console NAME ERE TIMEOUT_S: until a console line of NAME matches ERE.
# Fails on timeout, on a line matching BAD_RE, or when the domain crashes,
# shuts down or disappears without having printed it.
wait_console() {
	name=$1 re=$2 tmo=$3
	log "waiting up to ${tmo}s for '$re' on the console of $name"
	t0=$(now)
	i=0 _poll_n=$(poll_limit "$tmo")
	while :; do
		_scan=$(console_scan "$name" "$re")
		case $_scan in
		seen)
			log "  seen '$re' after $(since "$t0")s"
			return 0
			;;
		bad\ *) fail "console of $name shows '${_scan#bad }' while waiting for '$re'" ;;
		esac
		if [ $((i % 5)) = 4 ]; then
			s=$(state "$name")
			case $s in
			'' | *c* | *s*) # gone, crashed or shut down: give xenconsoled a moment
				sleep 1
				[ "$(console_scan "$name" "$re")" = seen ] && return 0
				fail "domain $name is ${s:+in state $s}${s:-gone} while waiting for '$re' on its console"
				;;
			esac
		fi
		[ $i -ge "$_poll_n" ] && fail "timeout after ${tmo}s waiting for '$re' on the console of $name"
		poll_sleep $i
		i=$((i + 1))
	done
}

# wait_count NAME ERE COUNT TIMEOUT_S: until COUNT console lines of NAME match ERE
wait_count() {
	log "waiting up to $4s for $3 lines '$2' on the console of $1"
	i=0 _poll_n=$(poll_limit "$4")
	while [ "$(console_count "$1" "$2")" -lt "$3" ]; do
		[ $i -ge "$_poll_n" ] && fail "timeout after $4s waiting for $3 lines '$2' on the console of $1 (have $(console_count "$1" "$2"))"
		poll_sleep $i
		i=$((i + 1))
	done
}

# banana ARGS...: the controller, failing the test on error (its output is logged)
banana_ok() {
	log "banana $*"
	banana "$@" > "$BANANA_WORK/banana.out" 2>&1 || { sed 's/^/    /' "$BANANA_WORK/banana.out"; fail "banana $* failed"; }
	sed 's/^/    /' "$BANANA_WORK/banana.out"
}

# supervise_start [INTERVAL]: `banana supervise --interval INTERVAL` (default 1) in the
# background, its output in $BANANA_WORK/supervise.log; fails the test when it is not
# running 3 s later. Sets SUP.
supervise_start() {
	banana supervise --interval "${1:-1}" > "$BANANA_WORK/supervise.log" 2>&1 &
	SUP=$!
	sleep 3
	kill -0 $SUP 2> /dev/null || { sed 's/^/    /' "$BANANA_WORK/supervise.log"; fail "banana supervise exited"; }
}

# supervise_stop: SIGTERM to it; it must stop within 30 s with status 0 (its log is printed)
supervise_stop() {
	kill -TERM $SUP
	i=0
	while kill -0 $SUP 2> /dev/null; do
		[ $i -ge 150 ] && { kill -KILL $SUP; fail "banana supervise did not stop within 30s of SIGTERM"; }
		sleep 0.2
		i=$((i + 1))
	done
	wait $SUP
	rc=$?
	sed 's/^/    supervise: /' "$BANANA_WORK/supervise.log"
	[ $rc = 0 ] || fail "banana supervise exited with status $rc after SIGTERM"
}

# no_bad NAME...: no console line of these domains matches BAD_RE
no_bad() {
	for d in "$@"; do
		b=$(bad_line "$d")
		[ -z "$b" ] || fail "console of $d shows '$b'"
	done
}

# seen NAME OK_ERE BAD_ERE TIMEOUT_S: quietly wait for OK_ERE on the console;
# 1 when BAD_ERE shows first, the domain crashes or goes away, or on timeout
seen() {
	i=0 _poll_n=$(poll_limit "$4")
	while [ $i -le "$_poll_n" ]; do
		case $(console_scan "$1" "$2" "$3") in
		seen) return 0 ;;
		bad\ *) return 1 ;;
		esac
		if [ $((i % 5)) = 4 ]; then
			s=$(state "$1")
			case $s in '' | *c* | *s*) sleep 1; [ "$(console_scan "$1" "$2" '')" = seen ]; return ;; esac
		fi
		poll_sleep $i
		i=$((i + 1))
	done
	return 1
}

# expect_console NAME ERE: the console already shows ERE
expect_console() { console "$1" | grep -Eq -- "$2" || fail "console of $1 lacks '$2'"; }

# ---- xenstore ----------------------------------------------------------------

xs_read() { xenstore-read "$1" 2>/dev/null; }
xs_write() { xenstore-write "$1" "$2" || fail "xenstore-write $1 = $2 failed"; }

# ---- counters ---------------------------------------------------------------
# Corms and Spikes keep their counters (and memory gauges) in a counter page
# granted read-only to dom0, not in xenstore: read them through the controller
# (`banana counter`/`banana counters`: one xenstore read and the grant device,
# no lock). DOM is an xl name or a domid (a domid costs no xl call).

# counter DOM NAME -> the value of counter NAME (e.g. switch/counters/forwarded),
# empty if DOM publishes no such counter
counter() { banana counter "$1" "$2" 2>/dev/null; }
# counters_flat DOM -> "NAME VALUE" lines, every counter DOM publishes
counters_flat() { banana counters "$1" 2>/dev/null | awk 'NR > 2 && NF == 2 { print $1, $2 }'; }

# xs_wait PATH VALUE TIMEOUT_S: until xenstore PATH reads VALUE
xs_wait() {
	log "waiting up to $3s for xenstore $1 = '$2'"
	t0=$(now)
	i=0 _poll_n=$(poll_limit "$3")
	while [ "$(xs_read "$1")" != "$2" ]; do
		[ $i -ge "$_poll_n" ] && fail "timeout after $3s waiting for xenstore $1 = '$2' (it is '$(xs_read "$1")')"
		poll_sleep $i
		i=$((i + 1))
	done
	log "  $1 = '$2' after $(since "$t0")s"
}

# random number 1..2^31
rand() { od -An -N4 -tu4 /dev/urandom | awk '{ print $1 % 2147483647 + 1 }'; }

# ---- selftest domain (contract: README.md "Selftest contract") ----------------

# selftest_basic NAME: boot a mode=basic selftest domain and check every step
# up to and including the xenstore ping/pong watch round trips.
selftest_basic() {
	n=$1
	create "$n" selftest 'extra="mode=basic"'
	wait_console "$n" 'SELFTEST-BOOT' 20
	first=$(console "$n" | grep -v '^[[:space:]]*$' | head -n 1)
	[ "$first" = SELFTEST-BOOT ] || fail "first console line of $n is '$first', not SELFTEST-BOOT"
	id=$(domid "$n") || fail "xl domid $n failed"
	wait_console "$n" 'SELFTEST-ID ' 10
	line=$(console "$n" | grep -m 1 'SELFTEST-ID ')
	[ "$(echo "$line" | sed -n 's/.*domid=\([0-9]*\).*/\1/p')" = "$id" ] || fail "$n reported '$line' but xl domid says $id"
	[ "$(echo "$line" | sed -n 's/.*name=\([^ ]*\).*/\1/p')" = "$n" ] || fail "$n reported '$line', expected name=$n"
	wait_console "$n" 'SELFTEST-XS-(OK|FAIL)' 20
	expect_console "$n" 'SELFTEST-XS-OK'
	wait_console "$n" 'SELFTEST-TIMER-(OK|FAIL)' 20
	expect_console "$n" 'SELFTEST-TIMER-OK'
	wait_console "$n" 'SELFTEST-VIRQ-(OK|FAIL)' 20
	expect_console "$n" 'SELFTEST-VIRQ-OK'
	home=/local/domain/$id/data/selftest
	xs_wait "$home/ready" 1 10
	for k in 1 2 3; do
		v=$(rand)
		xs_write "$home/ping" "$v"
		xs_wait "$home/pong" "$v" 10
		wait_console "$n" "SELFTEST-WATCH-OK $v\$" 5
	done
}

# ---- Spikes and guests (controller: controller/README.md) --------------------

# net_guest NAME SPIKE IP PEER MAC [banana.* args]: a Linux PV guest whose vif is
# served by SPIKE; its `net` job keeps IP on eth0 and reports reachability of PEER
net_guest() {
	create "$1" linux-pv "extra=\"console=hvc0 quiet banana.job=net banana.ip=$3/24 banana.peer=$4 $6\"" \
		"vif=['backend=$2,mac=$5']" 'on_reboot="restart"'
}

# spike_pair_up [banana.* args for g2]: through the controller, Spikes sp1 and sp2
# joined by a local wire; guests g1 (10.0.0.1, on sp1) and g2 (10.0.0.2, on sp2)
# up and reaching each other
spike_pair_up() {
	for sp in sp1 sp2; do
		echo $sp >> "$BANANA_DOMLIST"
		banana_ok spike create $sp
		wait_console $sp '^SPIKE-BOOT' 20
	done
	banana_ok wire connect spike:sp1 spike:sp2
	net_guest g1 sp1 10.0.0.1 10.0.0.2 00:16:3e:00:00:01
	net_guest g2 sp2 10.0.0.2 10.0.0.1 00:16:3e:00:00:02 "$1"
	for sp in sp1 sp2; do
		wait_console $sp 'SPIKE-VIF-CONNECTED' 60
		wait_console $sp 'SPIKE-WIRE-UP' 60
	done
	wait_console g1 'GUEST-NET-OK n=1' 90
	wait_console g2 'GUEST-NET-OK n=1' 90
}

# ---- lab network and NICs (run-xen.sh, nested mode) ---------------------------
# The run's lab network: peer 10.77.0.1/24 (DHCP 10.77.0.100-199, iperf3 -s, ping);
# VLAN 10 peer 10.77.30.1/24 and VLAN 20 peer 10.77.30.2/24 (DHCP, iperf3; isolated
# from each other); the VXLAN peer 10.88.0.1/24 (Linux vxlan device vx42: VNI 42,
# UDP 4789 between 10.77.0.1 and 10.77.0.40, MTU 1450; iperf3 -s); the lab agent on
# 10.77.0.1:7700 (one request line, e.g. vxlan-icmp: tshark's decode of the run's
# underlay capture, lines then END; images/host/lab-agent.py). dom0 learns it from its
# command line: banana.lab=1, banana.labvlan=0|1, banana.labvx=ok|<why not>,
# banana.labagent=ok|<why not>, banana.nics=ROLE@BDF+... (env BANANA_NICS overrides that).
# NIC roles: corm-e1000 (00:03.0), corm-e1000e (00:04.0), corm-virtio (00:05.0):
# assignable (pciback) from boot, for Corm tests; std (00:06.0, e1000) and std-e1000e
# (00:08.0, e1000e): dom0's own NICs, bound only by std_up; dd (00:07.0, e1000) and
# dd-e1000e (00:09.0, e1000e): assignable, owned by a driver domain (dd_up).
#   need_lab                       fail the test unless the run has a lab network
#   need_nic corm-e1000            NIC_BDF=BDF of a role (fails the test if there is none)
#   bdf=$(nic_bdf corm-e1000)      the same, without failing: status 1 and why on stderr
#   std_up [BR] [ROLE] / std_down [BR] [ROLE]
#                                  standard path: dom0's driver for the NIC of ROLE (std,
#                                  std-e1000e; default std) in dom0 bridge BR; sets STD_IF,
#                                  STD_IRQ (INTx, MSI, MSI-X: what the driver got)
#   dd_up NAME [BR] [ROLE] / dd_down NAME
#                                  Linux driver domain NAME owning the NIC of ROLE (dd,
#                                  dd-e1000e; default dd), bridge BR
#   lab_guest NAME VIF MAC [banana.* args]   Linux PV guest, job net, DHCP, peer 10.77.0.1
#   lab_vx_why / lab_agent_why     empty when the run has the VXLAN peer / the lab
#                                  agent, else why not (run-xen.sh's word)
#   lab_ask REQUEST                the lab agent's answer in file $LAB_ANSWER (through
#                                  dom0's lab address: std_up and an address on STD_BR
#                                  first); fails the test without a complete answer
LAB_PEER=10.77.0.1
LAB_VLAN10_PEER=10.77.30.1
LAB_VLAN20_PEER=10.77.30.2
LAB_VX_PEER=10.88.0.1
LAB_VX_UNDERLAY=10.77.0.40
LAB_AGENT=10.77.0.1
LAB_AGENT_PORT=7700
STD_BR=stdbr
DD_BR=xenbr0

lab_arg() { tr ' ' '\n' < /proc/cmdline 2>/dev/null | sed -n "s/^banana\.$1=//p" | tail -n 1; }

# lab_net_ok: 0 when this run has the lab network (and its NICs)
lab_net_ok() { [ "${BANANA_LAB:-$(lab_arg lab)}" = 1 ]; }
# lab_vlan_ok: 0 when the VLAN 10/20 peers are there too
lab_vlan_ok() { lab_net_ok && [ "${BANANA_LABVLAN:-$(lab_arg labvlan)}" = 1 ]; }

# lab_vx_why / lab_agent_why: nothing when the run has it, else why not
lab_vx_why() {
	lab_net_ok || { echo "this run has no lab network"; return; }
	w=${BANANA_LABVX:-$(lab_arg labvx)}
	[ "$w" = ok ] || echo "this run's lab has no VXLAN peer vx42: ${w:-no banana.labvx on dom0's command line (run-xen.sh older than this test?)}"
}
lab_agent_why() {
	lab_net_ok || { echo "this run has no lab network"; return; }
	w=${BANANA_LABAGENT:-$(lab_arg labagent)}
	[ "$w" = ok ] || echo "this run's lab has no lab agent: ${w:-no banana.labagent on dom0's command line (run-xen.sh older than this test?)}"
}

# lab_ask REQUEST: the lab agent's answer, END dropped, in the file $LAB_ANSWER
# ($BANANA_WORK/lab-answer.txt). Fails the test when the agent cannot be reached (3
# tries), its answer has no END, or it is ERR. Not in $(...): it may fail the test.
# dom0 needs a lab address first (std_up, then an address on STD_BR).
lab_ask() {
	w=$(lab_agent_why)
	[ -z "$w" ] || fail "$w"
	command -v nc > /dev/null || fail "no nc in this dom0 (busybox nc)"
	LAB_ANSWER=$BANANA_WORK/lab-answer.txt
	t=0
	while :; do
		printf '%s\n' "$1" | timeout 60 nc -w 10 "$LAB_AGENT" "$LAB_AGENT_PORT" > "$BANANA_WORK/lab-ask.out" 2> "$BANANA_WORK/lab-ask.err"
		[ "$(tail -n 1 "$BANANA_WORK/lab-ask.out")" = END ] && break
		t=$((t + 1))
		w="$(tail -n 1 "$BANANA_WORK/lab-ask.out") $(tail -n 1 "$BANANA_WORK/lab-ask.err")"
		[ $t -ge 3 ] && fail "the lab agent ($LAB_AGENT:$LAB_AGENT_PORT) gave no complete answer to '$1' in 3 tries (last: $w)"
		log "lab agent: no complete answer to '$1' (try $t: $w); again in 3s"
		sleep 3
	done
	sed '$d' "$BANANA_WORK/lab-ask.out" > "$LAB_ANSWER"
	e=$(grep -m 1 '^ERR' "$LAB_ANSWER")
	[ -z "$e" ] || fail "the lab agent answered '$1' with '$e'"
	log "lab agent: '$1': $(wc -l < "$LAB_ANSWER") lines"
}

need_lab() {
	lab_net_ok || fail "this run has no lab network (run-xen.sh said why at boot: not root, no /dev/net/tun, or a real Xen dom0)"
}

# nic_bdf ROLE -> 0000:00:0N.0; 1 (and why, on stderr) when the run has no NIC for ROLE
nic_bdf() {
	nb=$(echo "${BANANA_NICS:-$(lab_arg nics)}" | tr '+' '\n' | sed -n "s/^$1@//p" | head -n 1)
	if [ -z "$nb" ]; then
		echo "no NIC with role '$1' in this run (banana.nics='${BANANA_NICS:-$(lab_arg nics)}'; lab network: $(lab_net_ok && echo yes || echo no))" >&2
		return 1
	fi
	[ -e "/sys/bus/pci/devices/$nb" ] || { echo "NIC $1 ($nb) is not on dom0's PCI bus" >&2; return 1; }
	echo "$nb"
}

# need_nic ROLE: NIC_BDF=<BDF of ROLE>, or the test fails
need_nic() { NIC_BDF=$(nic_bdf "$1" 2> "$BANANA_WORK/nic.err") || fail "$(cat "$BANANA_WORK/nic.err")"; }

# nic_driver BDF -> name of the dom0 driver bound to it (empty if none)
nic_driver() { [ -e "/sys/bus/pci/devices/$1/driver" ] && basename "$(readlink "/sys/bus/pci/devices/$1/driver")"; }

# nic_assignable BDF: make sure BDF is bound to pciback (xl pci-assignable-add)
nic_assignable() {
	case $(nic_driver "$1") in
	pciback) return 0 ;;
	'') ;;
	*) echo "$1" > "/sys/bus/pci/devices/$1/driver/unbind" ;;
	esac
	timeout 30 xl pci-assignable-add "$1" > "$BANANA_WORK/assignable.log" 2>&1 ||
		fail "xl pci-assignable-add $1 failed: $(tr '\n' ' ' < "$BANANA_WORK/assignable.log")"
}

# nic_linux_driver BDF -> the Linux driver for the lab NIC at BDF (by PCI device id)
nic_linux_driver() {
	case $(cat "/sys/bus/pci/devices/$1/device" 2>/dev/null) in
	0x10d3) echo e1000e ;; # 82574L
	0x1000 | 0x1041) echo virtio-pci ;;
	*) echo e1000 ;; # 82540EM
	esac
}

# irq_kind IFNAME -> MSI-X, MSI or INTx: how the interface's interrupts are
# delivered, from /proc/interrupts ("none" when it has no line there)
irq_kind() {
	awk -v i="$1" '$0 ~ ("[ \t]" i "(-|$)") { n++; l = tolower($0)
		if (l ~ /msi-x|msix/) x = 1; else if (l ~ /msi/) m = 1 }
		END { print (n == 0 ? "none" : x ? "MSI-X" : m ? "MSI" : "INTx") }' /proc/interrupts
}

# std_up [BR] [ROLE]: dom0 loads the driver of the NIC of ROLE (std: e1000 on
# 00:06.0, std-e1000e: e1000e on 00:08.0; default std) for that NIC only and
# bridges it in BR (default stdbr). Sets STD_IF and STD_IRQ.
std_up() {
	need_lab
	need_nic "${2:-std}"
	br=${1:-$STD_BR} b=$NIC_BDF
	drv=$(nic_linux_driver "$b")
	if [ "$(nic_driver "$b")" != "$drv" ]; then
		[ -z "$(nic_driver "$b")" ] || echo "$b" > "/sys/bus/pci/devices/$b/driver/unbind"
		ml=/lib/modules/nic-$drv.list
		[ -f "$ml" ] || ml=/lib/modules/nic.list
		grep -qx "$drv.ko" "$ml" 2>/dev/null || fail "no $drv.ko in dom0 (images/build.sh DOM0_NIC_MODULES)"
		# every other NIC of this model is bound to pciback already: $drv can only take this one
		for m in $(cat "$ml"); do insmod "/lib/modules/$m" 2>&1 | grep -v 'File exists'; done
		[ "$(nic_driver "$b")" = "$drv" ] || echo "$b" > "/sys/bus/pci/drivers/$drv/bind" 2>/dev/null
	fi
	[ "$(nic_driver "$b")" = "$drv" ] || fail "$drv did not bind to the ${2:-std} NIC $b (driver: '$(nic_driver "$b")')"
	for d in /sys/bus/pci/drivers/$drv/0000:*; do
		[ -e "$d" ] || continue
		d=$(basename "$d")
		[ "$d" = "$b" ] && continue
		case " $(nic_bdf std 2>/dev/null) $(nic_bdf std-e1000e 2>/dev/null) " in *" $d "*) continue ;; esac
		log "$drv took $d, which is not a std NIC: unbinding it"
		echo "$d" > "/sys/bus/pci/drivers/$drv/unbind"
	done
	STD_IF=
	i=0
	while [ -z "$STD_IF" ]; do
		STD_IF=$(ls "/sys/bus/pci/devices/$b/net" 2>/dev/null | head -n 1)
		[ $i -ge 50 ] && fail "no network interface for the std NIC $b after 10s"
		[ -n "$STD_IF" ] || sleep 0.2
		i=$((i + 1))
	done
	ip link show "$br" > /dev/null 2>&1 || brctl addbr "$br" || fail "brctl addbr $br failed"
	echo 0 > "/sys/class/net/$br/bridge/forward_delay" 2>/dev/null
	# (a port already: a failed test before us left it)
	[ "$(basename "$(readlink "/sys/class/net/$STD_IF/master" 2>/dev/null)")" = "$br" ] ||
		brctl addif "$br" "$STD_IF" || fail "cannot put $STD_IF ($b) into bridge $br"
	ip link set "$STD_IF" up && ip link set "$br" up || fail "cannot bring $STD_IF and $br up"
	carrier_up "$STD_IF" 20
	STD_IRQ=$(irq_kind "$STD_IF")
	log "std path: $STD_IF ($b, $drv, interrupts $STD_IRQ) in dom0 bridge $br"
}

# carrier_up IF TIMEOUT_S: until IF has its link (an e1000 takes ~2 s after
# `ip link set up`, and resets on an MTU change: frames sent before are lost)
carrier_up() {
	i=0
	until [ "$(cat "/sys/class/net/$1/carrier" 2> /dev/null)" = 1 ]; do
		[ $i -ge $(($2 * 5)) ] && fail "$1 has no carrier after $2s"
		sleep 0.2
		i=$((i + 1))
	done
	sleep 1 # the bridge port leaves its listening state (no STP: at once)
}

# std_down [BR] [ROLE]: remove the bridge, unload the NIC's driver (the NIC stays unbound)
std_down() {
	br=${1:-$STD_BR}
	ip link set "$br" down 2>/dev/null
	brctl delbr "$br" 2>/dev/null
	sb=$(nic_bdf "${2:-std}" 2>/dev/null)
	rmmod "$(nic_linux_driver "$sb")" 2>/dev/null
	ip link show "$br" > /dev/null 2>&1 && log "WARNING: bridge $br still there"
	return 0
}

# vif_script: the busybox vif hotplug script for dom0-backed vifs
vif_script() {
	if [ -x /etc/xen/scripts/vif-banana ]; then echo vif-banana; else echo "$BANANA_ROOT/vif-banana"; fi
}

# lab_guest NAME VIF MAC [banana.* args]: Linux PV guest (job net, banana.ip=dhcp,
# peer 10.77.0.1) with vif VIF ("bridge=stdbr,script=vif-banana", "backend=dd,...")
lab_guest() {
	create "$1" linux-pv "extra=\"console=hvc0 quiet banana.job=net banana.ip=dhcp banana.peer=$LAB_PEER $4\"" \
		"vif=['$2,mac=$3']"
}

# dd_up NAME [BR] [ROLE]: the Linux driver domain NAME (images/xl/linux-dd.cfg,
# images/dd/) owns the NIC of ROLE (dd: e1000 00:07.0, dd-e1000e: e1000e 00:09.0;
# default dd) by passthrough, bridges it in BR (default xenbr0) and serves vifs with
# netback + xl devd; a guest uses it with
#   vif=['backend=NAME,bridge=BR,script=vif-banana,mac=...']
# Sets DD_IRQ (INTx, MSI, MSI-X: what its driver got, from its DD-IRQ line).
dd_up() {
	need_lab
	need_nic "${3:-dd}"
	b=$NIC_BDF br=${2:-$DD_BR}
	nic_assignable "$b"
	# a domain that had the NIC keeps it until it is fully gone (~10 s): retry once
	if ! try_create "$1" linux-dd "extra=\"console=hvc0 quiet banana.bridge=$br\"" "pci=['$b']"; then
		log "xl create $1 failed ($(tail -n 1 "$BANANA_WORK/create-$1.log")); retrying in 10s"
		sleep 10
		create "$1" linux-dd "extra=\"console=hvc0 quiet banana.bridge=$br\"" "pci=['$b']"
	fi
	BAD_RE_SAVED=$BAD_RE
	BAD_RE="${BAD_RE:+$BAD_RE|}^DD-FAIL"
	wait_console "$1" '^DD-READY' 150
	BAD_RE=$BAD_RE_SAVED
	DD_IRQ=$(console "$1" | sed -n 's/^DD-IRQ kind=\([^ ]*\).*/\1/p' | head -n 1)
	log "driver domain $1 ready: $(console "$1" | grep -m 1 '^DD-NIC'), interrupts ${DD_IRQ:-unknown}"
}

# dd_down NAME: destroy the driver domain; its NIC goes back to pciback
dd_down() {
	exists "$1" && xl destroy "$1"
	wait_gone "$1" 60
}
