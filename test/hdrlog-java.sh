#!/bin/sh
# Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE.
#
# echoload --hdr-log read by HdrHistogram's own HistogramLogProcessor
# (Debian's libhdrhistogram-java): the total count it finds must be the
# requests echoload measured.  The test suite decodes the log from the
# format's specification; this checks it against the reference reader.
# Usage: hdrlog-java.sh ECHOD ECHOLOAD [JAR]
set -eu
echod=$1 echoload=$2 jar=${3:-/usr/share/java/hdrhistogram.jar}
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
"$echod" -l 127.0.0.1:0 >"$work/echod.log" 2>&1 &
pid=$!
port=
for _ in $(seq 1 50); do
	port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/echod.log")
	[ -n "$port" ] && break
	sleep 0.1
done
[ -n "$port" ] || { echo "hdrlog-java: echod did not start" >&2; exit 1; }
"$echoload" -q --json -c 4 -r 2k -d 3 --hdr-log "$work/run.hlog" \
    "127.0.0.1:$port" >"$work/run.json"
measured=$(sed 's/.*"measured":\([0-9]*\).*/\1/' "$work/run.json")
java -cp "$jar" org.HdrHistogram.HistogramLogProcessor -i "$work/run.hlog" \
    >"$work/processed" 2>&1
total=$(sed -n 's/.*Total count *= *\([0-9]*\).*/\1/p' "$work/processed")
[ "$total" = "$measured" ] || {
	echo "hdrlog-java: HistogramLogProcessor counted '$total', echoload measured $measured" >&2
	cat "$work/processed" >&2
	exit 1
}
echo "hdrlog-java: HistogramLogProcessor read $total values, as measured"
