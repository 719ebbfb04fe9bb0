#!/usr/bin/env python3
# Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE.
"""make mutants: break the sources one line at a time, in a scratch
copy, and require the tests named for each breakage to fail.

usage: mutants.py SRCDIR [--ci] [NAME...]

Reads SRCDIR/test/mutants.txt.  Copies the tracked files of SRCDIR (git
ls-files) to a scratch directory, builds there once, checks that every
filter passes unbroken, then for each mutant: applies it, rebuilds, runs
`test/echod-test --filter TESTS`, restores the file.  A mutant whose
tests still pass survives; any survivor (or a mutant that no longer
applies) makes the exit status 1, unless the list says why the mutant is
equivalent ("equivalent: why"): its survival is then reported as such.  --ci runs only those marked "ci: yes".
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

TEST_TIMEOUT = 300


def parse(path):
    mutants, cur = [], {}
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if line.startswith("#"):
            continue
        if not line.strip():
            if cur:
                mutants.append(cur)
            cur = {}
            continue
        key, _, value = line.partition(": ")
        cur[key] = value
    if cur:
        mutants.append(cur)
    for m in mutants:
        for key in ("name", "file", "from", "to", "tests"):
            if key not in m:
                sys.exit("mutants.txt: %s lacks %s" % (m.get("name"), key))
    return mutants


def apply(root, m):
    """The file's text, and its text with the mutation (None if the one
    line is not there)."""
    path = os.path.join(root, m["file"])
    text = open(path, encoding="utf-8").read()
    lines = text.split("\n")
    old, new = m["from"].strip(), m["to"].strip()
    hits = [i for i, line in enumerate(lines) if old in line]
    nth = int(m.get("occurrence", "0"))
    if nth:
        hits = hits[nth - 1:nth]
    if len(hits) != 1:
        return text, None
    lines[hits[0]] = lines[hits[0]].replace(old, new)
    return text, "\n".join(lines)


def run(cmd, cwd, env=None, timeout=None):
    return subprocess.run(cmd, cwd=cwd, env=env, timeout=timeout,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def build(root):
    targets = ["echod", "echoload", "test/echod-test",
               "test/brokenserver", "test/failshim.so"]
    return run(["make", "-s", "-j2"] + targets, root).returncode == 0


def tests_fail(root, pattern):
    env = dict(os.environ,
               ECHOD=os.path.join(root, "echod"),
               ECHOLOAD=os.path.join(root, "echoload"),
               BROKENSERVER=os.path.join(root, "test/brokenserver"),
               FAILSHIM_SO=os.path.join(root, "test/failshim.so"),
               LSAN_OPTIONS="suppressions=%s/test/lsan.supp" % root)
    try:
        r = run(["./test/echod-test", "--filter", pattern], root, env,
                TEST_TIMEOUT)
    except subprocess.TimeoutExpired:
        return True, "timed out"
    lines = r.stdout.decode(errors="replace").strip().splitlines()
    # The tests that failed, then the summary: an unbroken failure says
    # which test and why.
    tail = [l for l in lines if l.startswith("[FAIL]")][:5] + lines[-1:]
    if r.returncode != 0 and len(tail) > 1:
        tail = [l for l in lines if "Assertion Failed" in l or
                l.startswith("[----]   ")][:6] + tail
    return r.returncode != 0, "\n".join(tail)


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    src, args = os.path.abspath(args[0]), args[1:]
    ci = "--ci" in args
    names = [a for a in args if a != "--ci"]
    mutants = parse(os.path.join(src, "test/mutants.txt"))
    if ci:
        mutants = [m for m in mutants if m.get("ci") == "yes"]
    if names:
        mutants = [m for m in mutants if m["name"] in names]
    root = tempfile.mkdtemp(prefix="echod-mutants.")
    try:
        files = run(["git", "ls-files", "-z"], src).stdout.split(b"\0")
        for f in filter(None, files):
            f = f.decode()
            os.makedirs(os.path.join(root, os.path.dirname(f)), exist_ok=True)
            shutil.copy2(os.path.join(src, f), os.path.join(root, f))
        print("mutants: building a scratch copy in %s" % root, flush=True)
        for cmd in (["autoreconf", "-fi"], ["./configure", "-q"]):
            if run(cmd, root).returncode != 0:
                sys.exit("mutants: %s failed" % " ".join(cmd))
        if not build(root):
            sys.exit("mutants: the unbroken build fails")
        for pattern in sorted({m["tests"] for m in mutants}):
            failed, tail = tests_fail(root, pattern)
            if failed or "Tested: 0 " in tail:
                sys.exit("mutants: %s fails or selects no test unbroken: %s"
                         % (pattern, tail))
        survivors = 0
        for m in mutants:
            start = time.time()
            path = os.path.join(root, m["file"])
            original, mutated = apply(root, m)
            if mutated is None:
                print("NOT APPLIED %s: %s has no single line '%s'"
                      % (m["name"], m["file"], m["from"]), flush=True)
                survivors += 1
                continue
            open(path, "w", encoding="utf-8").write(mutated)
            try:
                if not build(root):
                    verdict = "killed (does not build)"
                else:
                    failed, tail = tests_fail(root, m["tests"])
                    if failed:
                        verdict = "killed"
                    elif "equivalent" in m:
                        verdict = "equivalent (%s)" % m["equivalent"]
                    else:
                        verdict = "SURVIVED"
                        survivors += 1
                    verdict += ": " + (tail.splitlines() or [""])[-1]
            finally:
                open(path, "w", encoding="utf-8").write(original)
                os.utime(path)
            print("%-40s %s (%.0f s)" % (m["name"], verdict,
                                         time.time() - start), flush=True)
        print("mutants: %d run, %d survived" % (len(mutants), survivors))
        return 1 if survivors else 0
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
