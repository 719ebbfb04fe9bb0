#!/bin/sh
# Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE.
#
# The manual's DIAGNOSTICS against what echod said in the tests: every
# message the section lists must appear in some kept log (the harness
# keeps each one in ECHOD_LOG_DIR), and every line echod wrote must be a
# message the section lists.  Each .It becomes a regular expression: Ar
# is any text, Fl/Pq/Po/Pc/Oo/Oc render as the manual shows them (Oo..Oc
# as an optional part), the close reasons of the nested list are matched
# inside the "Connection closed" line.  The messages under "Failures that
# should not happen" need not appear, but lines must still match them.
# Usage: diagnostics.sh MANPAGE LOGDIR
set -eu
man=$1 logs=$2

[ -d "$logs" ] || { echo "diagnostics: no logs in $logs" >&2; exit 1; }
patterns=$(mktemp)
lines=$(mktemp)
trap 'rm -f "$patterns" "$lines"' EXIT

awk '
function lit(s,    out, i, c) {
	out = ""
	for (i = 1; i <= length(s); i++) {
		c = substr(s, i, 1)
		if (index("\\.[]()*+?{}|^$", c))
			out = out "\\" c
		else
			out = out c
	}
	return out
}
function put(s, glue) {
	# Words are one space apart, unless Ns or a delimiter says otherwise.
	if (re != "" && glue && !nospace)
		re = re " "
	re = re s
	nospace = 0
}
function convert(line,    n, w, i, t, macro, pq) {
	gsub(/\\&/, "", line)
	gsub(/\\\(aq/, "\047", line)
	gsub(/\\e/, "\\", line)
	sub(/^\.It[ \t]+/, "", line)
	n = split(line, w, /[ \t]+/)
	re = ""; nospace = 0; pq = 0; macro = ""
	for (i = 1; i <= n; i++) {
		t = w[i]
		if (t ~ /^(No|Li|Dv|Ev|Pa|Cm|Ic|Ql|Dq|Sq|Nm)$/) { macro = ""; continue }
		if (t == "Ns") { nospace = 1; macro = ""; continue }
		if (t == "Ar") { macro = "Ar"; put(".*", 1); continue }
		if (t == "Fl") { macro = "Fl"; continue }
		if (t == "Pq") { put("\\(", 1); nospace = 1; pq = 1; macro = ""; continue }
		if (t == "Po") { put("\\(", 1); nospace = 1; macro = ""; continue }
		if (t == "Pc") { put("\\)", 0); macro = ""; continue }
		if (t == "Oo") { put("(", 1); nospace = 1; macro = ""; continue }
		if (t == "Oc") { put(" )?", 0); nospace = 1; macro = ""; continue }
		if (t ~ /^[.,:;)\]?!]$/) { put(lit(t), 0); continue }
		if (t == "(" || t == "[") { put(lit(t), 1); nospace = 1; continue }
		# "a , ..." is a list of one or more.
		if (t == "..." && re ~ /,$/) { re = substr(re, 1, length(re) - 1) "(, .+)*"; continue }
		if (t == "...") { put(".*", 1); continue }
		if (macro == "Ar") continue	# more words of one placeholder
		# "n connections" holds for n = 1, printed "1 connection".
		if (re ~ /\.\*$/ && t ~ /^[a-z]+s$/) { put(lit(substr(t, 1, length(t) - 1)) "s?", 1); continue }
		if (macro == "Fl") { put("-" lit(t), 1); macro = ""; continue }
		put(lit(t), 1)
	}
	if (pq)
		put("\\)", 0)
	return re
}
/^\.Sh / { in_diag = ($2 == "DIAGNOSTICS"); depth = 0; need = 1; next }
!in_diag { next }
# Failures no test causes must still be worded as printed.
/^\.Ss / { need = ($0 !~ /should not happen/); next }
/^\.Bl / { depth++; next }
/^\.El/ { depth--; next }
/^\.It / {
	p = convert($0)
	if (p == ".*")
		next
	if (depth == 1)
		print need "\t^echod: " p "$"
	else
		print need "\t^echod: Connection closed .+: " p ", [0-9]+ bytes in, [0-9]+ bytes out, [0-9.]+ s$"
}' "$man" >"$patterns"

# DIAG_PATTERNS=1: show the expressions made of the manual, and stop.
[ -z "${DIAG_PATTERNS:-}" ] || { cat "$patterns"; exit 0; }

# Each distinct line once, from echod only (not a sanitizer or valgrind).
cat "$logs"/* 2>/dev/null | grep '^echod: ' | sort -u >"$lines" || true
[ -s "$lines" ] || { echo "diagnostics: no echod lines in $logs" >&2; exit 1; }

awk -v plist="$patterns" '
BEGIN {
	while ((getline p < plist) > 0) {
		need[++np] = substr(p, 1, 1) + 0
		pat[np] = substr(p, 3)
	}
}
{
	matched = 0
	for (i = 1; i <= np; i++)
		if ($0 ~ pat[i]) {
			seen[i] = 1
			matched = 1
		}
	if (!matched) {
		print "diagnostics: not in DIAGNOSTICS: " $0
		bad++
	}
}
END {
	for (i = 1; i <= np; i++)
		if (!seen[i] && need[i]) {
			print "diagnostics: never produced by a test: " pat[i]
			bad++
		}
	printf "diagnostics: %d messages in the manual, %d distinct lines from the tests, %d problems\n", np, NR, bad
	exit bad > 0
}' "$lines"
