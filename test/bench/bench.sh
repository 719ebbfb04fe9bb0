#!/usr/bin/env bash
# Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE.
# make bench: every workload against echod and the reference epoll
# server alternately (A B A B A B), the median of each, and the ratio
# echod/reference; then UDP against a naive loop.  The load is echoload,
# which checks every byte and reports JSON.
# Usage: bench.sh ECHOD REFSERVER ECHOLOAD [ROUNDS] [SECONDS] [UDPREF]
#     [BARECLIENT]
set -euo pipefail
echod=$1 ref=$2 echoload=$3 rounds=${4:-3} secs=${5:-3}
udpref=${6:-} bare=${7:-}
scheme=

pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null' EXIT

start_server() {	# name command...; sets $port and $pid
	local log
	log=$(mktemp)
	"${@:2}" 2>"$log" &
	pid=$!
	for _ in $(seq 1 100); do
		port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$log" | head -1 | cut -d: -f2) || true
		[ -n "$port" ] && break
		sleep 0.05
	done
	rm -f "$log"
	[ -n "$port" ] || { echo "bench: $1 did not start" >&2; exit 1; }
}

field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# measure METRIC SERVER-COMMAND ECHOLOAD-ARGS: one server, one run, one
# figure, after half a second of warm-up.  A run with any error (a byte
# wrong) fails the bench.
measure() {
	local out
	eval "start_server server $2"
	out=$(eval "\"\$echoload\" -q --json --server-pid $pid -w 500ms -d ${secs}s $3 ${scheme}127.0.0.1:$port") || {
		echo "bench: echoload failed: $out" >&2; exit 1; }
	kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
	echo "$out" | field "$1"
}

# compare LABEL METRIC A-SERVER A-LOAD B-SERVER B-LOAD: alternately, A B A
# B..., then the medians and B/A.
compare() {
	local r a_vals= b_vals= a b
	for r in $(seq 1 "$rounds"); do
		a_vals+="$(measure "$2" "$3" "$4") "
		b_vals+="$(measure "$2" "$5" "$6") "
	done
	a=$(echo $a_vals | tr ' ' '\n' | median)
	b=$(echo $b_vals | tr ' ' '\n' | median)
	printf '| %-44s | %-20s | %12s | %12s | %6s |\n' "$1" "$2" "$b" "$a" \
	    "$(awk -v a="$a" -v b="$b" 'BEGIN { if (a > 0) printf "%.2f", b / a; else print "-" }')"
}

ECHOD='"$echod" -q -l 127.0.0.1:0'
REF='"$ref" -p 0'

# run LABEL METRIC LOADGEN-ARGS: echod against the reference.
run() { compare "$1" "$2" "$REF" "$3" "$ECHOD" "$3"; }

# versus LABEL METRIC A-ARGS A-LOAD B-ARGS B-LOAD: echod against echod.
versus() { compare "$1" "$2" "$ECHOD $3" "$4" "$ECHOD $5" "$6"; }

echo "echod benchmark: $(nproc) cores, $(uname -sr), $rounds rounds of ${secs}s, median"
echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
echo
printf '| %-44s | %-20s | %12s | %12s | %6s |\n' workload metric echod reference ratio
printf '|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..46})" "$(printf -- '-%.0s' {1..22})" \
    "$(printf -- '-%.0s' {1..14})" "$(printf -- '-%.0s' {1..14})" "$(printf -- '-%.0s' {1..8})"
run "50 conns, 64 B lines, 1 in flight" requests_per_s "-T 1 -c 50 -s 64 -D 1"
run "50 conns, 64 B lines, 1 in flight" cpu_us_per_request "-T 1 -c 50 -s 64 -D 1"
run "50 conns, 64 B lines, 16 in flight" requests_per_s "-T 1 -c 50 -s 64 -D 16"
run "1000 conns, 64 B lines, 4 in flight" requests_per_s "-T 1 -c 1000 -s 64 -D 4"
run "8 conns streaming 1 KiB lines" mb_per_s "-T 1 -m stream -c 8 -s 1024"
run "8 conns streaming 1 KiB lines" cpu_us_per_request "-T 1 -m stream -c 8 -s 1024"
run "churn: connect, one line, close (-q)" requests_per_s "-m churn -c 4 -T 4"
run "10000 idle conns after one line each" bytes_per_connection "-T 1 -m idle -c 10000 -d 1s"
echo
echo "echod against echod (B | A, ratio B/A):"
echo
printf '| %-44s | %-20s | %12s | %12s | %6s |\n' "B against A" metric B A ratio
printf '|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..46})" "$(printf -- '-%.0s' {1..22})" \
    "$(printf -- '-%.0s' {1..14})" "$(printf -- '-%.0s' {1..14})" "$(printf -- '-%.0s' {1..8})"
pp16="-T 1 -c 50 -s 64 -D 16"
# The generator strips chunk prefixes, extra work on the shared cores:
# the server's CPU per request is the fair comparison of the framings.
for metric in requests_per_s cpu_us_per_request; do
	versus "chunk (--read-size 64K) against line framing" $metric "" "$pp16" "-f chunk --read-size 64K" "$pp16 -f chunk"
	versus "--prefix '' against line framing" $metric "" "$pp16" "-P ''" "$pp16 -P ''"
done
# Here the two-thread generator shares the two cores with the server.
versus "--threads 2 against 1, 2-thread generator" requests_per_s "" "${pp16/-T 1/-T 2}" "--threads 2" "${pp16/-T 1/-T 2}"
versus "--threads 2 against 1, 1 in flight" requests_per_s "" "-T 1 -c 50 -s 64 -D 1" "--threads 2" "-T 1 -c 50 -s 64 -D 1"

# BENCH_BASELINE=path/to/another/echod: this build against that one, to
# show that a change costs nothing (ratio this/that).
if [ -n "${BENCH_BASELINE:-}" ]; then
	echo
	echo "this echod against BENCH_BASELINE (ratio this/baseline):"
	echo
	printf '| %-44s | %-20s | %12s | %12s | %6s |\n' workload metric this baseline ratio
	printf '|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..46})" "$(printf -- '-%.0s' {1..22})" \
	    "$(printf -- '-%.0s' {1..14})" "$(printf -- '-%.0s' {1..14})" "$(printf -- '-%.0s' {1..8})"
	base='"$BENCH_BASELINE" -q -l 127.0.0.1:0'
	for w in "50 conns, 64 B lines, 1 in flight|requests_per_s|-T 1 -c 50 -s 64 -D 1" \
	    "50 conns, 64 B lines, 1 in flight|cpu_us_per_request|-T 1 -c 50 -s 64 -D 1" \
	    "50 conns, 64 B lines, 16 in flight|requests_per_s|$pp16" \
	    "1000 conns, 64 B lines, 4 in flight|requests_per_s|-T 1 -c 1000 -s 64 -D 4" \
	    "8 conns streaming 1 KiB lines|mb_per_s|-T 1 -m stream -c 8 -s 1024" \
	    "8 conns streaming 1 KiB lines|cpu_us_per_request|-T 1 -m stream -c 8 -s 1024" \
	    "churn: connect, one line, close (-q)|requests_per_s|-m churn -c 4 -T 4" \
	    "10000 idle conns after one line each|bytes_per_connection|-T 1 -m idle -c 10000 -d 1s"; do
		IFS='|' read -r label metric load <<<"$w"
		compare "$label" "$metric" "$base" "$load" "$ECHOD" "$load"
	done
fi

[ -n "$udpref" ] || exit 0
echo
echo "UDP: echod -U against a naive recvfrom/sendto loop (test/bench/udpref.c);"
echo "16 sockets, 8 datagrams of 64 B in flight each, every reply checked."
echo "Rows marked 'no limits' raise echod's UDP rate limits for the run."
echo
printf '| %-44s | %-20s | %12s | %12s | %6s |\n' workload metric echod reference ratio
printf '|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..46})" "$(printf -- '-%.0s' {1..22})" \
    "$(printf -- '-%.0s' {1..14})" "$(printf -- '-%.0s' {1..14})" "$(printf -- '-%.0s' {1..8})"
scheme=udp:
UDPREF='"$udpref" -p 0'
NOLIMIT='--udp-source-rate 0 --udp-source-bytes 0 --udp-total-rate 0 --udp-total-bytes 0'
# A datagram the server drops is lost after 200 ms and its place reused;
# the default-limits row drops most, by design.
udp16="-T 1 -c 16 -D 8 -s 64 --timeout 200ms --allow-loss"
compare "16 sockets x 8 in flight, no limits" requests_per_s "$UDPREF" "$udp16" "$ECHOD -U $NOLIMIT" "$udp16"
compare "16 sockets x 8 in flight, no limits" cpu_us_per_request "$UDPREF" "$udp16" "$ECHOD -U $NOLIMIT" "$udp16"
compare "16 sockets x 8 in flight, default limits" requests_per_s "$UDPREF" "$udp16" "$ECHOD -U" "$udp16"
if [ -n "${BENCH_BASELINE:-}" ]; then
	echo
	echo "UDP, this echod against BENCH_BASELINE (ratio this/baseline):"
	echo
	printf '| %-44s | %-20s | %12s | %12s | %6s |\n' workload metric this baseline ratio
	printf '|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..46})" "$(printf -- '-%.0s' {1..22})" \
	    "$(printf -- '-%.0s' {1..14})" "$(printf -- '-%.0s' {1..14})" "$(printf -- '-%.0s' {1..8})"
	for metric in requests_per_s cpu_us_per_request; do
		compare "16 sockets x 8 in flight, no limits" $metric \
		    "\"\$BENCH_BASELINE\" -q -l 127.0.0.1:0 -U $NOLIMIT" "$udp16" \
		    "$ECHOD -U $NOLIMIT" "$udp16"
	done
fi

# echoload's own CPU per request, against the least a client can do: one
# connection, one request at a time, against echod, the same requests.
if [ -n "$bare" ]; then
	n=$((secs * 30000))
	start_server echod "$echod" -q -l 127.0.0.1:0
	b=$("$bare" "$port" "$n" | cut -d' ' -f1)
	TIMEFORMAT='%U %S'
	t=$( { time "$echoload" -q -c 1 -T 1 -n "$n" "127.0.0.1:$port" >/dev/null; } 2>&1)
	kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
	echo
	awk -v b="$b" -v t="$t" -v n="$n" 'BEGIN { split(t, u, " ");
	    e = (u[1] + u[2]) * 1e6 / n;
	    printf "echoload CPU per request, 1 connection, 1 in flight: %.2f us; a bare blocking client: %.2f us (%.2fx)\n", e, b, e / b }'
fi
