#!/usr/bin/env bash
# make bench: every workload against echod and the reference epoll
# server alternately (A B A B A B), the median of each, and the ratio
# echod/reference.  Usage: bench.sh ECHOD REFSERVER LOADGEN [ROUNDS] [SECONDS]
set -euo pipefail
echod=$1 ref=$2 loadgen=$3 rounds=${4:-3} secs=${5:-3}

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

field() { sed -n "s/.*\b$1=\([0-9.]*\).*/\1/p"; }

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# run LABEL METRIC ECHOD_ARGS -- LOADGEN_ARGS
run() {
	local label=$1 metric=$2 eargs=$3 largs=$4 r e_vals= r_vals= e r
	for r in $(seq 1 "$rounds"); do
		eval "start_server echod \"\$echod\" -q -l 127.0.0.1:0 $eargs"
		e_vals+="$(eval "\"\$loadgen\" -p $port -s $pid $largs -t $secs" | field "$metric") "
		kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
		start_server ref "$ref" -p 0
		r_vals+="$(eval "\"\$loadgen\" -p $port -s $pid $largs -t $secs" | field "$metric") "
		kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
	done
	e=$(echo $e_vals | tr ' ' '\n' | median)
	r=$(echo $r_vals | tr ' ' '\n' | median)
	printf '| %-44s | %-14s | %12s | %12s | %6s |\n' "$label" "$metric" "$e" "$r" \
	    "$(awk -v e="$e" -v r="$r" 'BEGIN { if (r > 0) printf "%.2f", e / r; else print "-" }')"
}

# echod alone, for modes the reference does not have.
solo() {
	local label=$1 metric=$2 eargs=$3 largs=$4 r vals=
	for r in $(seq 1 "$rounds"); do
		eval "start_server echod \"\$echod\" -q -l 127.0.0.1:0 $eargs"
		vals+="$(eval "\"\$loadgen\" -p $port -s $pid $largs -t $secs" | field "$metric") "
		kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
	done
	printf '| %-44s | %-14s | %12s | %12s | %6s |\n' "$label" "$metric" \
	    "$(echo $vals | tr ' ' '\n' | median)" "" ""
}

echo "echod benchmark: $(nproc) cores, $(uname -sr), $rounds rounds of ${secs}s, median"
echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
echo
printf '| %-44s | %-14s | %12s | %12s | %6s |\n' workload metric echod reference ratio
printf '|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..46})" "$(printf -- '-%.0s' {1..16})" \
    "$(printf -- '-%.0s' {1..14})" "$(printf -- '-%.0s' {1..14})" "$(printf -- '-%.0s' {1..8})"
run "50 conns, 64 B lines, 1 in flight" req_s "" "-m pingpong -c 50 -l 64 -d 1"
run "50 conns, 64 B lines, 1 in flight" cpu_us_per_req "" "-m pingpong -c 50 -l 64 -d 1"
run "50 conns, 64 B lines, 16 in flight" req_s "" "-m pingpong -c 50 -l 64 -d 16"
run "1000 conns, 64 B lines, 4 in flight" req_s "" "-m pingpong -c 1000 -l 64 -d 4"
run "8 conns streaming 1 KiB lines" mb_s "" "-m stream -c 8 -l 1024"
run "churn: connect, one line, close (-q)" req_s "" "-m churn -j 4"
run "10000 idle conns after one line each" bytes_per_conn "" "-m idle -c 10000"
solo "same, --framing chunk --read-size 64K" req_s "-f chunk --read-size 64K" "-m pingpong -c 50 -l 64 -d 16 -C"
solo "same, --prefix ''" req_s "-P ''" "-m pingpong -c 50 -l 64 -d 16 -P ''"
# 1 vs 2 threads: here the two-thread generator shares the two cores
# with the server, so this shows what threads cost or buy on a busy box.
solo "16 in flight, 2-thread generator, --threads 1" req_s "--threads 1" "-m pingpong -c 50 -l 64 -d 16 -j 2"
solo "16 in flight, 2-thread generator, --threads 2" req_s "--threads 2" "-m pingpong -c 50 -l 64 -d 16 -j 2"
