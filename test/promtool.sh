#!/bin/sh
# Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE.
#
# promtool check metrics on scrapes taken after real traffic of every
# kind: TCP, a Unix socket, UDP answered and refused, TLS handshakes
# done, failed and timed out, PROXY headers good and bad, a timeout.
# Run from the build directory (ECHOD and ECHOLOAD override the paths);
# needs promtool (Debian: prometheus), curl, nc (netcat-openbsd) and
# openssl.  Fails on any complaint.
set -eu

ECHOD=${ECHOD:-./echod}
ECHOLOAD=${ECHOLOAD:-./echoload}
for tool in promtool curl nc openssl; do
	command -v "$tool" >/dev/null || {
		echo "promtool.sh: $tool is missing" >&2
		exit 1
	}
done

dir=$(mktemp -d)
pid=
cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || :
		wait "$pid" 2>/dev/null || :
	fi
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

fail() {
	echo "promtool.sh: $*" >&2
	[ ! -f "$dir/log" ] || sed 's/^/  log: /' "$dir/log" >&2
	exit 1
}

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$dir/key.pem" -out "$dir/cert.pem" -days 2 \
    -subj /CN=localhost 2>/dev/null || fail "openssl req failed"

# The port after a prefix in echod's log, once the line is there.
port_of() {
	n=0
	while ! grep -q "$1[0-9]" "$dir/log"; do
		n=$((n + 1))
		[ $n -lt 100 ] || fail "no '$1' in the log"
		sleep 0.1
	done
	sed -n "s|.*$1\([0-9]*\).*|\1|p" "$dir/log" | head -n 1
}

# Waits until the log holds a line n times (from the SIGUSR1 report).
wait_log() {
	n=0
	while [ "$(grep -c -- "$1" "$dir/log")" -lt "$2" ]; do
		n=$((n + 1))
		[ $n -lt 100 ] || fail "no '$1' in the log"
		sleep 0.1
	done
}

check() {
	threads=$1
	: > "$dir/log"
	"$ECHOD" -U -t 1 --handshake-timeout 1 --threads "$threads" \
	    --udp-source-rate 2 -l 127.0.0.1:0 -l tls:127.0.0.1:0 \
	    --tls-cert "$dir/cert.pem" --tls-key "$dir/key.pem" \
	    -l "unix:$dir/e.sock" --proxy-protocol 127.0.0.1:0 \
	    --proxy-from 127.0.0.1 --metrics 127.0.0.1:0 >"$dir/log" 2>&1 &
	pid=$!
	tcp=$(port_of "listening on 127.0.0.1:")
	tls=$(port_of "tls:127.0.0.1:")
	proxy=$(port_of "proxy:127.0.0.1:")
	metrics=$(port_of "metrics on http://127.0.0.1:")

	# TCP, Unix, TLS and PROXY with echoload; then by hand the rest.
	"$ECHOLOAD" -q -c 4 -n 200 "127.0.0.1:$tcp" >/dev/null ||
	    fail "echoload over TCP failed"
	"$ECHOLOAD" -q -c 2 -n 50 "unix:$dir/e.sock" >/dev/null ||
	    fail "echoload over a Unix socket failed"
	"$ECHOLOAD" -q -c 2 -n 50 --insecure "tls:127.0.0.1:$tls" \
	    >/dev/null || fail "echoload over TLS failed"
	"$ECHOLOAD" -q -c 2 -n 50 --proxy v1 "127.0.0.1:$proxy" \
	    >/dev/null || fail "echoload with PROXY headers failed"
	# Over the rate limit of 2 a second: most are lost, and waited for
	# 100 ms each.
	"$ECHOLOAD" -q -c 2 -n 20 --allow-loss --timeout 100ms \
	    "udp:127.0.0.1:$tcp" >/dev/null || fail "echoload over UDP failed"
	echo Hello | openssl s_client -quiet -connect "127.0.0.1:$tls" \
	    >/dev/null 2>&1 || :
	echo "Hello, not TLS" | nc -N 127.0.0.1 "$tls" >/dev/null || :
	# Silent: the TLS handshake and the PROXY header time out, -t too.
	nc -d 127.0.0.1 "$tls" >/dev/null &
	silent_tls=$!
	nc -d 127.0.0.1 "$proxy" >/dev/null &
	silent_proxy=$!
	nc -d 127.0.0.1 "$tcp" >/dev/null &
	silent_tcp=$!
	echo "not a PROXY header" | nc -N 127.0.0.1 "$proxy" >/dev/null || :
	# UDP: an echo's answer (refused), and a burst over the rate limit.
	printf 'GOT:loop' | nc -u -w1 127.0.0.1 "$tcp" >/dev/null || :
	for i in 1 2 3 4 5 6; do
		printf 'datagram %s' "$i" | nc -u -w0 127.0.0.1 "$tcp" >/dev/null || :
	done
	wait_log "TLS handshake failed: timed out" 1
	wait "$silent_tls" "$silent_proxy" "$silent_tcp" 2>/dev/null || :

	kill -USR1 "$pid"
	wait_log "counters: open" 1
	curl -sS --fail --max-time 5 -o "$dir/scrape" \
	    "http://127.0.0.1:$metrics/metrics" || fail "the scrape failed"
	for want in 'result="ok"} [1-9]' 'result="failed"} [1-9]' \
	    'result="timeout"} [1-9]' 'reason="own_prefix"} [1-9]' \
	    'reason="source_rate_limit"} [1-9]' \
	    '^echod_connections_rejected_total{.*} [1-9]' \
	    '^echod_connections_timed_out_total{.*} [1-9]' \
	    '^echod_build_info{' '^process_open_fds [1-9]'; do
		grep -q "$want" "$dir/scrape" ||
		    fail "--threads $threads: no '$want' in the scrape"
	done
	if ! promtool check metrics <"$dir/scrape" >"$dir/promtool" 2>&1 ||
	    [ -s "$dir/promtool" ]; then
		cat "$dir/promtool" >&2
		fail "--threads $threads: promtool check metrics complained"
	fi
	echo "promtool.sh: --threads $threads: $(grep -c '^[a-z]' \
	    "$dir/scrape") series, promtool check metrics clean"
	kill "$pid"
	wait "$pid" || fail "echod exited $?"
	pid=
}

check 1
check 2
