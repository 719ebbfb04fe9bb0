#!/usr/bin/env python3
# Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE.
"""Soak test for echod: many clients at once for a bounded time.

Each client sends a random amount of random lines (some with NUL and
high bytes, some very long, some without a final newline), then either
half-closes and checks every echoed byte up to EOF, or closes after
checking the echo of its whole lines, or resets mid-stream.  At the end
echod's descriptor count must be back at its baseline and its RSS close
to it.  Figures are printed; the exit status is 0 only if all held.
"""

import argparse
import os
import random
import re
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

PREFIX = b"GOT:"
MAX_LINE = 65536


def frame(data):
    """Line framing as echod documents it."""
    out = bytearray()
    start = 0
    while start < len(data):
        nl = data.find(b"\n", start, start + MAX_LINE)
        end = nl + 1 if nl != -1 else min(start + MAX_LINE, len(data))
        out += PREFIX + data[start:end]
        start = end
    return bytes(out)


def make_payload(rng):
    parts = []
    for _ in range(rng.randint(0, 60)):
        kind = rng.random()
        if kind < 0.05:
            parts.append(os.urandom(rng.randint(1, 200)).replace(b"\n", b"N") + b"\n")
        elif kind < 0.07:
            parts.append(b"L" * rng.randint(MAX_LINE - 10, 2 * MAX_LINE) + b"\n")
        else:
            parts.append(b"x" * rng.randint(0, 2000) + b"\n")
    if rng.random() < 0.3:
        parts.append(b"tail without newline %d" % rng.randint(0, 1 << 30))
    return b"".join(parts)


class Client:
    def __init__(self, port, rng):
        self.mode = rng.choices(["halfclose", "close", "reset"], [6, 3, 1])[0]
        payload = make_payload(rng)
        if self.mode == "close":
            payload = payload[: payload.rfind(b"\n") + 1]
        self.out = payload
        self.sent = 0
        self.expected = frame(payload)
        self.got = 0
        self.reset_at = rng.randint(0, len(payload)) if self.mode == "reset" else None
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.sock.connect_ex(("127.0.0.1", port))
        self.shut = False
        self.done = False


class Soak:
    def __init__(self, args, port):
        self.args = args
        self.port = port
        self.rng = random.Random(args.seed)
        self.sel = selectors.DefaultSelector()
        self.live = 0
        self.stats = dict(clients=0, halfclose=0, close=0, reset=0,
                          sent=0, verified=0)

    def start_client(self):
        c = Client(self.port, self.rng)
        self.stats["clients"] += 1
        self.stats[c.mode] += 1
        self.live += 1
        self.sel.register(c.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, c)

    def finish(self, c):
        self.sel.unregister(c.sock)
        if c.mode == "reset":
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                              struct.pack("ii", 1, 0))
        c.sock.close()
        c.done = True
        self.live -= 1

    def fail(self, c, why):
        sys.exit("soak: FAILED: %s client, %s" % (c.mode, why))

    def on_write(self, c):
        limit = c.reset_at if c.mode == "reset" else len(c.out)
        if c.sent < limit:
            try:
                n = c.sock.send(c.out[c.sent:limit][:65536])
            except (BlockingIOError, InterruptedError):
                return
            c.sent += n
            self.stats["sent"] += n
        if c.sent >= limit:
            if c.mode == "reset":
                self.finish(c)
                return
            if c.mode == "halfclose" and not c.shut:
                c.sock.shutdown(socket.SHUT_WR)
                c.shut = True
            if c.mode == "close" and c.got == len(c.expected):
                self.finish(c)
                return
            self.sel.modify(c.sock, selectors.EVENT_READ, c)

    def on_read(self, c):
        try:
            data = c.sock.recv(262144)
        except (BlockingIOError, InterruptedError):
            return
        except ConnectionError as e:
            self.fail(c, "error %s after %d bytes" % (e, c.got))
        if not data:
            if c.mode != "halfclose" or c.got != len(c.expected):
                self.fail(c, "EOF after %d of %d bytes" % (c.got, len(c.expected)))
            self.finish(c)
            return
        if c.mode == "reset":
            return
        want = c.expected[c.got:c.got + len(data)]
        if data != want:
            self.fail(c, "echo differs at byte %d" % c.got)
        c.got += len(data)
        self.stats["verified"] += len(data)
        if c.mode == "close" and c.got == len(c.expected):
            self.finish(c)

    def run(self):
        deadline = time.monotonic() + self.args.seconds
        while True:
            now = time.monotonic()
            while now < deadline and self.live < self.args.clients:
                self.start_client()
            if now >= deadline and self.live == 0:
                return
            if now > deadline + 60:
                sys.exit("soak: FAILED: %d clients still running 60 s after "
                         "the end" % self.live)
            for key, events in self.sel.select(timeout=1):
                c = key.data
                if not c.done and events & selectors.EVENT_WRITE:
                    self.on_write(c)
                if not c.done and events & selectors.EVENT_READ:
                    self.on_read(c)


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def settle(pid, want_fds, want_rss=None):
    """Closes finish on echod's next loop turns: waits at most 5 s for
    its descriptors (and RSS) to come down; False if they do not."""
    for _ in range(100):
        if fd_count(pid) <= want_fds and (
                want_rss is None or rss_kb(pid) <= want_rss):
            return True
        time.sleep(0.05)
    return False


class Log:
    """echod's stderr, read as it comes (-v writes a line per event, and
    a full pipe would stop echod)."""

    def __init__(self, stream):
        self.lines = []
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self.read, args=(stream,),
                                       daemon=True)
        self.thread.start()

    def read(self, stream):
        for raw in stream:
            with self.cond:
                self.lines.append(raw.decode(errors="replace"))
                self.cond.notify_all()
        with self.cond:
            self.lines.append(None)
            self.cond.notify_all()

    def mark(self):
        with self.cond:
            return len(self.lines)

    def wait_for(self, text, since, timeout=10):
        """Whether a line holding text came after line number since."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for line in self.lines[since:]:
                    if line is not None and text in line:
                        return True
                left = deadline - time.monotonic()
                if left <= 0 or None in self.lines[since:]:
                    return False
                self.cond.wait(left)

    def text(self):
        self.thread.join(timeout=30)
        with self.cond:
            return "".join(l for l in self.lines if l is not None)


TRIMMED = "no clients for 1 s: freed memory returned"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--echod", required=True)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    proc = subprocess.Popen([args.echod, "-v", "-l", "127.0.0.1:0"],
                            stderr=subprocess.PIPE)
    line = proc.stderr.readline().decode()
    m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
    if not m:
        proc.kill()
        sys.exit("soak: echod did not start: %s" % line)
    port = int(m.group(1))
    log = Log(proc.stderr)
    try:
        return measure(args, proc, port, log)
    finally:
        if proc.poll() is None:
            proc.kill()


def measure(args, proc, port, log):
    ok = True
    # Baseline after a warm-up, so one-time allocations do not count:
    # its clients gone, and the memory they used given back.
    fds_idle = fd_count(proc.pid)
    warm = Soak(argparse.Namespace(seconds=1, clients=50, seed=args.seed + 1), port)
    warm.run()
    mark = log.mark()
    if not settle(proc.pid, fds_idle) or not log.wait_for(TRIMMED, mark):
        print("soak: FAILED: echod did not settle after the warm-up")
        ok = False
    fds0, rss0 = fd_count(proc.pid), rss_kb(proc.pid)
    rss_slack = max(4096, rss0 // 2)

    start = time.monotonic()
    soak = Soak(args, port)
    soak.run()
    elapsed = time.monotonic() - start
    mark = log.mark()
    settle(proc.pid, fds0)
    if not log.wait_for(TRIMMED, mark):
        print("soak: FAILED: echod never went idle after the soak")
        ok = False
    fds1, rss1 = fd_count(proc.pid), rss_kb(proc.pid)

    proc.send_signal(signal.SIGTERM)
    status = proc.wait(timeout=30)
    tail = log.text()

    s = soak.stats
    print("soak: %.0f s, %d clients (%d at once): %d half-closed, %d closed, "
          "%d reset" % (elapsed, s["clients"], args.clients, s["halfclose"],
                        s["close"], s["reset"]))
    print("soak: %d bytes sent, %d echoed bytes checked, %.1f MB/s"
          % (s["sent"], s["verified"], s["verified"] / elapsed / 1e6))
    print("soak: echod descriptors %d -> %d, RSS %d -> %d kB, exit %d"
          % (fds0, fds1, rss0, rss1, status))
    if fds1 != fds0:
        print("soak: FAILED: descriptors did not return to the baseline")
        ok = False
    if rss1 > rss0 + rss_slack:
        print("soak: FAILED: RSS did not return near the baseline")
        ok = False
    if status != 0 or "Sanitizer" in tail or "runtime error" in tail:
        print("soak: FAILED: echod exit %d: %s" % (status, tail[-4000:]))
        ok = False
    print("soak: %s" % ("passed" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
