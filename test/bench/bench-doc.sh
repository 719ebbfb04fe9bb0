#!/bin/sh
# Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE.
# make bench: puts the output of test/bench/bench.sh (file OUT) in DOC
# between the lines "<!-- bench:begin -->" and "<!-- bench:end -->",
# replacing what was there; the rest of DOC is kept as it is.
# Usage: bench-doc.sh OUT DOC
set -eu
out=$1 doc=$2
[ "$(grep -c '^<!-- bench:begin -->$' "$doc")" = 1 ] &&
    [ "$(grep -c '^<!-- bench:end -->$' "$doc")" = 1 ] || {
	echo "bench-doc: $doc has no single bench:begin/bench:end pair" >&2; exit 1; }
tmp=$doc.tmp.$$
awk -v out="$out" -v when="$(date -u +%Y-%m-%d)" '
    /^<!-- bench:begin -->$/ {
	print; print ""
	print "`make bench`, " when ":"; print ""
	while ((getline line < out) > 0) print line
	print ""; skip = 1; next }
    /^<!-- bench:end -->$/ { skip = 0 }
    !skip { print }' "$doc" >"$tmp"
mv "$tmp" "$doc"
echo "bench: the figures are in $doc"
