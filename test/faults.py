#!/usr/bin/env python3
# Copyright (c) 2026 The echod authors.  ISC licence: see LICENSE.
"""make check-faults: echod behind a real (virtual) network that fails.

echod runs in one network namespace, the clients in another, joined by a
veth pair with addresses from the benchmarking range 198.18.0.0/15; both
namespaces are made here and removed at the end, so no packet leaves
them.  nftables drops and resets, tc's token bucket slows the link, and
"ip link set down" cuts it.  Each case checks every byte echoed, in
order, and afterwards echod's counters, descriptors and memory.

Needs root, iproute2 and nftables.  Exits 0 when every case passed; the
last line reads "N passed, M failed".
"""
import argparse
import ctypes
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time

SRV_ADDR, CLI_ADDR, PORT = "198.18.0.1", "198.18.0.2", 25000
CLONE_NEWNET = 0x40000000
TAG = "ef%d" % os.getpid()
SRV_NS, CLI_NS = TAG + "s", TAG + "c"
SRV_IF, CLI_IF = TAG + "s0", TAG + "c0"


def sh(*args, ns=None, check=True):
    cmd = (["ip", "netns", "exec", ns] if ns else []) + list(args)
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


def setup():
    sh("ip", "netns", "add", SRV_NS)
    sh("ip", "netns", "add", CLI_NS)
    sh("ip", "link", "add", SRV_IF, "type", "veth", "peer", "name", CLI_IF)
    sh("ip", "link", "set", SRV_IF, "netns", SRV_NS)
    sh("ip", "link", "set", CLI_IF, "netns", CLI_NS)
    for ns, ifname, addr in ((SRV_NS, SRV_IF, SRV_ADDR),
                             (CLI_NS, CLI_IF, CLI_ADDR)):
        sh("ip", "addr", "add", addr + "/24", "dev", ifname, ns=ns)
        sh("ip", "link", "set", ifname, "up", ns=ns)
        sh("ip", "link", "set", "lo", "up", ns=ns)
    # This process is the clients: into their namespace.
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open("/run/netns/" + CLI_NS, os.O_RDONLY)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns")
    os.close(fd)


def teardown():
    for ns in (SRV_NS, CLI_NS):
        sh("ip", "netns", "del", ns, check=False)


RUNNING = []


class Echod:
    def __init__(self, binary, *args):
        self.log = tempfile.NamedTemporaryFile(prefix="echod-faults-",
                                               delete=False)
        cmd = ["ip", "netns", "exec", SRV_NS, binary, "-l",
               "%s:%d" % (SRV_ADDR, PORT)] + list(args)
        self.proc = subprocess.Popen(cmd, stderr=self.log,
                                     stdout=subprocess.DEVNULL)
        RUNNING.append(self.proc)
        self.wait_log("listening on", 10)
        # ip netns exec execs echod: same pid.
        self.pid = self.proc.pid

    def text(self):
        with open(self.log.name, errors="replace") as f:
            return f.read()

    def wait_log(self, needle, seconds, count=1):
        deadline = time.monotonic() + seconds
        while self.text().count(needle) < count:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError("no '%s' in echod's log:\n%s" %
                                     (needle, self.text()))
            time.sleep(0.05)

    def counters(self):
        before = self.text().count("counters:")
        os.kill(self.pid, signal.SIGUSR1)
        self.wait_log("counters:", 5, before + 1)
        line = [l for l in self.text().splitlines() if "counters:" in l][-1]
        out = {}
        for part in line.split("counters:", 1)[1].split(","):
            name, _, value = part.strip().rpartition(" ")
            out[name] = int(value)
        return out

    def fds(self):
        return len(os.listdir("/proc/%d/fd" % self.pid))

    def rss_kb(self):
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return -1

    def wait_open(self, n, seconds):
        deadline = time.monotonic() + seconds
        while self.counters()["open"] != n:
            if time.monotonic() > deadline:
                raise AssertionError("still %d open, want %d:\n%s" %
                                     (self.counters()["open"], n,
                                      self.text()))
            time.sleep(0.1)

    def stop(self):
        os.kill(self.pid, signal.SIGTERM)
        status = self.proc.wait(timeout=30)
        os.unlink(self.log.name)
        return status


def stream_bytes(client, total):
    """Client's byte stream: numbered lines, distinct per client."""
    out, i = bytearray(), 0
    while len(out) < total:
        out += b"c%03d l%07d %s\n" % (client, i, b"x" * (40 + i % 50))
        i += 1
    return bytes(out)


def run_clients(n, size, seconds, during=None):
    """n clients each send size bytes and read the echo, all at once;
    every byte is checked.  `during(progress)` runs on each turn."""
    sel = selectors.DefaultSelector()
    clients = []
    for c in range(n):
        s = socket.create_connection((SRV_ADDR, PORT), timeout=10)
        s.setblocking(False)
        data = stream_bytes(c, size)
        want = b"".join(b"GOT:" + l + b"\n" for l in data.split(b"\n")[:-1])
        st = {"sock": s, "data": data, "sent": 0, "want": want, "got": 0,
              "half": False}
        clients.append(st)
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, st)
    deadline = time.monotonic() + seconds
    while any(st["got"] < len(st["want"]) for st in clients):
        if time.monotonic() > deadline:
            raise AssertionError("stalled: %s" % [(st["sent"], st["got"])
                                                  for st in clients])
        for key, ev in sel.select(0.2):
            st = key.data
            s = st["sock"]
            if ev & selectors.EVENT_WRITE and st["sent"] < len(st["data"]):
                try:
                    st["sent"] += s.send(st["data"][st["sent"]:
                                                    st["sent"] + 65536])
                except BlockingIOError:
                    pass
            if st["sent"] == len(st["data"]) and not st["half"]:
                s.shutdown(socket.SHUT_WR)
                st["half"] = True
                sel.modify(s, selectors.EVENT_READ, st)
            if ev & selectors.EVENT_READ:
                try:
                    chunk = s.recv(65536)
                except BlockingIOError:
                    continue
                if not chunk and st["got"] == len(st["want"]):
                    st["eof"] = True        # all of it, then echod's FIN
                    sel.unregister(s)
                    continue
                if not chunk:
                    raise AssertionError("EOF after %d of %d bytes" %
                                         (st["got"], len(st["want"])))
                end = st["got"] + len(chunk)
                if st["want"][st["got"]:end] != chunk:
                    raise AssertionError("wrong bytes at offset %d" %
                                         st["got"])
                st["got"] = end
        if during:
            during(sum(st["got"] for st in clients) /
                   sum(len(st["want"]) for st in clients))
    for st in clients:
        if not st.get("eof"):
            st["sock"].setblocking(True)
            st["sock"].settimeout(10)
            assert st["sock"].recv(1) == b"", "no EOF after the echo"
            sel.unregister(st["sock"])
        st["sock"].close()
    return sum(len(st["data"]) for st in clients)


def settle(e, fds0, rss0):
    e.wait_open(0, 10)
    fds = e.fds()
    assert fds == fds0, "descriptors %d, were %d" % (fds, fds0)
    rss = e.rss_kb()
    assert rss < rss0 + 4096, "RSS %d kB, was %d kB" % (rss, rss0)


def case_loss(binary):
    """5% random loss both ways while 8 clients stream: every byte."""
    e = Echod(binary, "-q")
    fds0, rss0 = e.fds(), e.rss_kb()
    rule = "meta l4proto tcp numgen random mod 100 < 5 counter drop"
    for ns in (SRV_NS, CLI_NS):
        sh("nft", "add table inet faults", ns=ns)
        sh("nft", "add chain inet faults out "
           "{ type filter hook output priority 0; }", ns=ns)
        sh("nft", "add rule inet faults out " + rule, ns=ns)
    sent = run_clients(8, 256 * 1024, 120)
    dropped = 0
    for ns in (SRV_NS, CLI_NS):
        out = sh("nft", "list table inet faults", ns=ns).stdout
        dropped += int(out.split("counter packets ")[1].split()[0])
        sh("nft", "delete table inet faults", ns=ns)
    assert dropped > 20, "only %d packets dropped" % dropped
    print("    %d packets dropped" % dropped)
    assert e.counters()["bytes in"] == sent
    settle(e, fds0, rss0)
    assert e.stop() == 0


def case_slow_link(binary):
    """A 1 Mbit/s link and a sender much faster: echod stops reading at
    --output-limit, memory stays bounded, nothing is lost."""
    e = Echod(binary, "-q", "--output-limit", "16K")
    fds0, rss0 = e.fds(), e.rss_kb()
    for ns, ifname in ((SRV_NS, SRV_IF), (CLI_NS, CLI_IF)):
        sh("tc", "qdisc", "add", "dev", ifname, "root", "tbf", "rate",
           "1mbit", "burst", "32kbit", "latency", "400ms", ns=ns)
    peak = [0]

    def watch(_):
        peak[0] = max(peak[0], e.rss_kb())
    run_clients(1, 300 * 1024, 60, during=watch)
    for ns, ifname in ((SRV_NS, SRV_IF), (CLI_NS, CLI_IF)):
        sh("tc", "qdisc", "del", "dev", ifname, "root", ns=ns)
    assert peak[0] < rss0 + 2048, "RSS peaked at %d kB, from %d kB" % (
        peak[0], rss0)
    settle(e, fds0, rss0)
    assert e.stop() == 0


def case_link_down_and_up(binary):
    """The link goes down for 3 s mid-transfer: TCP carries on after."""
    e = Echod(binary, "-q")
    fds0, rss0 = e.fds(), e.rss_kb()
    state = {"cut": False}

    def cut(progress):
        if progress > 0.3 and not state["cut"]:
            state["cut"] = True
            sh("ip", "link", "set", CLI_IF, "down", ns=CLI_NS)
            time.sleep(3)       # the outage itself
            sh("ip", "link", "set", CLI_IF, "up", ns=CLI_NS)
            sh("ip", "addr", "replace", CLI_ADDR + "/24", "dev", CLI_IF,
               ns=CLI_NS)
    run_clients(4, 512 * 1024, 120, during=cut)
    assert state["cut"]
    settle(e, fds0, rss0)
    assert e.stop() == 0


def link(up):
    sh("ip", "link", "set", CLI_IF, "up" if up else "down", ns=CLI_NS)
    if up:
        sh("ip", "addr", "replace", CLI_ADDR + "/24", "dev", CLI_IF,
           ns=CLI_NS)


def case_link_down_for_good(binary):
    """The link goes and stays down: -t frees every connection; and at
    shutdown the drain deadline cuts those still owed output."""
    e = Echod(binary, "-q", "-t", "2")
    fds0 = e.fds()
    socks = [socket.create_connection((SRV_ADDR, PORT), timeout=10)
             for _ in range(6)]
    for s in socks:
        s.sendall(b"alive\n")
        assert s.recv(64) == b"GOT:alive\n"
    link(False)
    start = time.monotonic()
    e.wait_open(0, 15)
    took = time.monotonic() - start
    link(True)
    assert 1.5 < took < 8, "freed after %.1f s" % took
    assert e.counters()["timed out"] == 6
    assert e.fds() == fds0, "descriptors %d, were %d" % (e.fds(), fds0)
    for s in socks:
        s.close()
    assert e.stop() == 0

    e = Echod(binary, "-q", "--drain-timeout", "2", "--output-limit", "4K")
    socks = []
    for _ in range(4):
        s = socket.create_connection((SRV_ADDR, PORT), timeout=10)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.setblocking(False)
        try:
            for _ in range(2000):
                s.send(b"y" * 1000 + b"\n")
        except BlockingIOError:
            pass
        socks.append(s)
    e.wait_open(4, 5)
    link(False)
    start = time.monotonic()
    os.kill(e.pid, signal.SIGTERM)
    assert e.proc.wait(timeout=15) == 0
    took = time.monotonic() - start
    link(True)
    assert 1.5 < took < 8, "exited after %.1f s" % took
    assert "drain timeout after 2 s: cutting 4 connections" in e.text(), \
        e.text()
    for s in socks:
        s.close()
    os.unlink(e.log.name)


def case_middlebox_reset(binary):
    """A middlebox resets one client's flow mid-stream: echod logs it,
    frees it, and the other clients are served to the last byte."""
    e = Echod(binary)
    fds0, rss0 = e.fds(), e.rss_kb()
    victim = socket.create_connection((SRV_ADDR, PORT), timeout=10)
    vport = victim.getsockname()[1]
    victim.sendall(b"before\n")
    assert victim.recv(64) == b"GOT:before\n"
    sh("nft", "add table inet mb", ns=SRV_NS)
    sh("nft", "add chain inet mb out "
       "{ type filter hook output priority 0; }", ns=SRV_NS)
    sh("nft", "add rule inet mb out tcp sport %d tcp dport %d "
       "reject with tcp reset" % (PORT, vport), ns=SRV_NS)
    victim.sendall(b"reset me\n")
    e.wait_log("Connection closed %s:%d: Connection reset by peer" %
               (CLI_ADDR, vport), 10)
    run_clients(4, 128 * 1024, 60)
    sh("nft", "delete table inet mb", ns=SRV_NS)
    victim.close()
    settle(e, fds0, rss0)
    assert e.stop() == 0


CASES = [case_loss, case_slow_link, case_link_down_and_up,
         case_link_down_for_good, case_middlebox_reset]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--echod", required=True)
    ap.add_argument("cases", nargs="*")
    args = ap.parse_args()
    binary = os.path.abspath(args.echod)
    if os.geteuid() != 0:
        print("check-faults needs root (network namespaces)")
        print("0 passed, 1 failed")
        return 1
    passed = failed = 0
    setup()
    try:
        for case in CASES:
            if args.cases and case.__name__ not in args.cases:
                continue
            start = time.monotonic()
            try:
                case(binary)
                passed += 1
                print("[PASS] %s (%.1f s)" % (case.__name__,
                                             time.monotonic() - start))
            except Exception as err:     # report, and go on with the rest
                failed += 1
                print("[FAIL] %s: %s" % (case.__name__, err))
            sys.stdout.flush()
            for proc in RUNNING:          # what a failed case left
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            RUNNING.clear()
    finally:
        teardown()
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
