#!/bin/sh
# Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE.
#
# The manual's DIAGNOSTICS against what echod said in the tests: every
# message the section lists must appear in some kept log (the harness
# keeps each one in ECHOD_LOG_DIR), and every line echod wrote must be a
# message the section lists.  Each .It becomes a regular expression: Ar
# is any text, Fl/Pq/Po/Pc/Oo/Oc render as the manual shows them (Oo..Oc
# as an optional part), the close reasons of the nested list are matched
# inside the line of the items just before the list (their Ar reason or
# Ar what).  Messages under a heading with "should not happen", or after
# a comment '.\" no test: why', need not appear, but lines must still
# match them.  DIAG_LINES_ONLY=why checks only that every line is
# listed, and says why the messages were not all produced.
# Usage: diagnostics.sh MANPAGE LOGDIR
set -eu
man=$1 logs=$2
prog=$(basename "$man" .1)

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
		# The part a nested list spells out is a hole in the pattern.
		if (t == "Ar") { macro = "Ar"; put(w[i + 1] ~ /^(reason|what)$/ ? "@HOLE@" : ".*", 1); continue }
		if (t == "Fl") { macro = "Fl"; continue }
		if (t == "Pq") { put("\\(", 1); nospace = 1; pq = 1; macro = ""; continue }
		if (t == "Po") { put("\\(", 1); nospace = 1; macro = ""; continue }
		if (t == "Pc") { put("\\)", 0); macro = ""; continue }
		# An optional part takes its own space: "(x )?y", "x( y)?".
		if (t == "Oo" && re == "") { re = "("; oo_first = 1; nospace = 1; macro = ""; continue }
		if (t == "Oo") { re = re "( "; oo_first = 0; nospace = 1; macro = ""; continue }
		if (t == "Oc" && oo_first) { re = re " )?"; nospace = 1; macro = ""; continue }
		if (t == "Oc") { re = re ")?"; macro = ""; continue }
		if (t ~ /^[.,:;)\]?!]$/) { put(lit(t), 0); continue }
		if (t == "(" || t == "[") { put(lit(t), 1); nospace = 1; continue }
		# "a , ..." is a list of one or more.
		if (t == "..." && re ~ /,$/) { re = substr(re, 1, length(re) - 1) "(, .+)*"; continue }
		if (t == "...") { put(".*", 1); continue }
		if (macro == "Ar") continue	# more words of one placeholder
		# "n connections" holds for n = 1, printed "1 connection";
		# "n replies" for "1 reply".
		if (re ~ /\.\*$/ && t == "replies") { put("repl(y|ies)", 1); continue }
		if (re ~ /\.\*$/ && t ~ /^(connections|bytes|datagrams|errors)$/) { put(lit(substr(t, 1, length(t) - 1)) "s?", 1); continue }
		if (macro == "Fl") { put("-" lit(t), 1); macro = ""; continue }
		put(lit(t), 1)
	}
	if (pq)
		put("\\)", 0)
	return re
}
# Fills the hole of a pattern: "a @HOLE@ b" with x is "a x b".
function fill(p, x,    at) {
	if ((at = index(p, "@HOLE@")) == 0)
		return p
	return substr(p, 1, at - 1) x substr(p, at + 6)
}
/^\.Sh / { in_diag = ($2 == "DIAGNOSTICS"); depth = 0; need = 1; next }
!in_diag { next }
# Failures no test causes must still be worded as printed.
/^\.Ss / { need = ($0 !~ /should not happen/); next }
/^\.Bl / { depth++; last_it = 0; next }
# ".\" no test: why" before an item: it need not be produced (say why).
/^\.\\" no test:/ { skip_next = 1; next }
/^\.El/ { depth--; last_it = 0; next }
# A nested list spells out the hole of the items just before it; items
# written one after the other share one description, and the list.
/^\.It / && depth == 1 {
	p = convert($0)
	if (!last_it)
		nparents = 0
	parent[++nparents] = "^" prog ": " p "$"
	last_it = 1
	print (need && !skip_next) "\t^" prog ": " fill(p, ".*") "$"
	skip_next = 0
	next
}
/^\.It / {
	p = convert($0)
	last_it = 0
	if (p == ".*")
		next
	alt = ""
	for (i = 1; i <= nparents; i++)
		alt = alt (i > 1 ? "|" : "") fill(parent[i], fill(p, ".*"))
	print (need && !skip_next) "\t" alt
	skip_next = 0
	next
}
{ last_it = 0 }' prog="$prog" "$man" >"$patterns"

# DIAG_PATTERNS=1: show the expressions made of the manual, and stop.
[ -z "${DIAG_PATTERNS:-}" ] || { cat "$patterns"; exit 0; }

# Each distinct line once, from this program only (not a sanitizer or
# valgrind).
cat "$logs/$prog".* 2>/dev/null | grep "^$prog: " | sort -u >"$lines" || true
[ -s "$lines" ] || { echo "diagnostics: no $prog lines in $logs" >&2; exit 1; }

awk -v plist="$patterns" -v prog="$prog" -v lines_only="${DIAG_LINES_ONLY:-}" '
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
		print prog ": not in DIAGNOSTICS: " $0
		bad++
	}
}
END {
	for (i = 1; i <= np && lines_only == ""; i++)
		if (!seen[i] && need[i]) {
			print prog ": never produced by a test: " pat[i]
			bad++
		}
	printf "diagnostics of %s: %d messages in the manual, %d distinct lines from the tests, %d problems\n", prog, np, NR, bad
	if (lines_only != "")
		printf "diagnostics of %s: every line checked, but not that every message was produced: %s\n", prog, lines_only
	exit bad > 0
}' "$lines"
