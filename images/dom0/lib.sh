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

fail() {
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
# returns xl's status (its output is in $BANANA_WORK/create-NAME.log)
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
	timeout 60 xl create "$c" "name=\"$name\"" "$@" > "$BANANA_WORK/create-$name.log" 2>&1
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
	i=0
	while exists "$1"; do
		[ $i -ge $(($2 * 5)) ] && fail "timeout after $2s waiting for domain $1 to be gone (state $(state "$1"))"
		sleep 0.2
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

# wait_console NAME ERE TIMEOUT_S: until a console line of NAME matches ERE.
# Fails on timeout, on a line matching BAD_RE, or when the domain crashes,
# shuts down or disappears without having printed it.
wait_console() {
	name=$1 re=$2 tmo=$3
	log "waiting up to ${tmo}s for '$re' on the console of $name"
	t0=$(now)
	i=0
	while :; do
		if console "$name" | grep -Eq -- "$re"; then
			log "  seen '$re' after $(since "$t0")s"
			return 0
		fi
		b=$(bad_line "$name")
		[ -n "$b" ] && fail "console of $name shows '$b' while waiting for '$re'"
		if [ $((i % 5)) = 4 ]; then
			s=$(state "$name")
			case $s in
			'' | *c* | *s*) # gone, crashed or shut down: give xenconsoled a moment
				sleep 1
				console "$name" | grep -Eq -- "$re" && return 0
				fail "domain $name is ${s:+in state $s}${s:-gone} while waiting for '$re' on its console"
				;;
			esac
		fi
		[ $i -ge $((tmo * 5)) ] && fail "timeout after ${tmo}s waiting for '$re' on the console of $name"
		sleep 0.2
		i=$((i + 1))
	done
}

# wait_count NAME ERE COUNT TIMEOUT_S: until COUNT console lines of NAME match ERE
wait_count() {
	log "waiting up to $4s for $3 lines '$2' on the console of $1"
	i=0
	while [ "$(console "$1" | grep -Ec -- "$2")" -lt "$3" ]; do
		[ $i -ge $(($4 * 5)) ] && fail "timeout after $4s waiting for $3 lines '$2' on the console of $1 (have $(console "$1" | grep -Ec -- "$2"))"
		sleep 0.2
		i=$((i + 1))
	done
}

# banana ARGS...: the controller, failing the test on error (its output is logged)
banana_ok() {
	log "banana $*"
	banana "$@" > "$BANANA_WORK/banana.out" 2>&1 || { sed 's/^/    /' "$BANANA_WORK/banana.out"; fail "banana $* failed"; }
	sed 's/^/    /' "$BANANA_WORK/banana.out"
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
	i=0
	while [ $i -le $(($4 * 5)) ]; do
		console "$1" | grep -Eq -- "$2" && return 0
		[ -n "$3" ] && console "$1" | grep -Eq -- "$3" && return 1
		if [ $((i % 5)) = 4 ]; then
			s=$(state "$1")
			case $s in '' | *c* | *s*) sleep 1; console "$1" | grep -Eq -- "$2"; return ;; esac
		fi
		sleep 0.2
		i=$((i + 1))
	done
	return 1
}

# expect_console NAME ERE: the console already shows ERE
expect_console() { console "$1" | grep -Eq -- "$2" || fail "console of $1 lacks '$2'"; }

# ---- xenstore ----------------------------------------------------------------

xs_read() { xenstore-read "$1" 2>/dev/null; }
xs_write() { xenstore-write "$1" "$2" || fail "xenstore-write $1 = $2 failed"; }

# xs_wait PATH VALUE TIMEOUT_S: until xenstore PATH reads VALUE
xs_wait() {
	log "waiting up to $3s for xenstore $1 = '$2'"
	t0=$(now)
	i=0
	while [ "$(xs_read "$1")" != "$2" ]; do
		[ $i -ge $(($3 * 10)) ] && fail "timeout after $3s waiting for xenstore $1 = '$2' (it is '$(xs_read "$1")')"
		sleep 0.1
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
