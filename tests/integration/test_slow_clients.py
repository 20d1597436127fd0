#!/usr/bin/python3
"""Slow clients cannot take the REST API away from the health checks.

One node; its agent started again with a file descriptor limit of 64. Then
2,000 connections to its API, each sending a request line and then one
header line every 2 s, and opened again a second after the agent closes
it: far more than the agent may hold. Meanwhile a health check (GET /health, a new
connection each) every 50 ms. Checked:
  * every health check answered 200, the slowest within 100 ms;
  * a connection that trickles its headers is closed at the request
    deadline (5 s) although it keeps sending;
  * the agent's memory stays bounded (RSS under 8 MiB) and its log small
    (the crowding is logged, at most once every 10 s);
  * afterwards the API and the cluster are as before."""
import http.client
import multiprocessing
import os
import resource
import selectors
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, log, pid_alive, run_test, wait_for  # noqa: E402

FLOOD = 2000
DURATION = 15
FD_LIMIT = 64


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Flood(multiprocessing.Process):
    """FLOOD slow connections to port: a request line, then a header line every 2 s; each one the
    agent closes is opened again a second later. A process of its own, so that the health checks'
    timing is not the flood's."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.stop_event = multiprocessing.Event()
        self.counts = multiprocessing.Array("q", 2)  # opened, closed by the server
        self.opened = 0
        self.closed_by_server = 0

    def _open(self):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", self.port))
        except BlockingIOError:
            pass
        except OSError:
            s.close()
            return
        self.opened += 1
        self.sel.register(s, selectors.EVENT_READ, {"sent": False, "next": time.monotonic()})

    def run(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, FLOOD + 1000)), hard))
        self.sel = selectors.DefaultSelector()
        for _ in range(FLOOD):
            self._open()
        reopen = []  # when to open again what the agent closed: a slow client keeps coming back
        while not self.stop_event.is_set():
            now = time.monotonic()
            for key, _ in self.sel.select(timeout=0.05):
                try:
                    data = key.fileobj.recv(4096)
                except OSError:
                    data = b""
                if not data:
                    self.sel.unregister(key.fileobj)
                    key.fileobj.close()
                    self.closed_by_server += 1
                    reopen.append(now + 1)
            while reopen and reopen[0] <= now:
                reopen.pop(0)
                self._open()
            for key in list(self.sel.get_map().values()):
                st = key.data
                if now >= st["next"]:
                    try:
                        key.fileobj.send(b"X-Slow: 1\r\n" if st["sent"] else b"GET /health HTTP/1.1\r\n")
                        st["sent"] = True
                    except OSError:
                        pass
                    st["next"] = now + 2
            self.counts[0], self.counts[1] = self.opened, self.closed_by_server
        for key in list(self.sel.get_map().values()):
            key.fileobj.close()

    def stop(self):
        self.stop_event.set()
        self.join(30)
        if self.is_alive():
            self.kill()
        self.opened, self.closed_by_server = self.counts[0], self.counts[1]


def health(port):
    t = time.monotonic()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request("GET", "/health")
        st = c.getresponse().status
    finally:
        c.close()
    return st, time.monotonic() - t


def trickler_closed_after(port):
    """Seconds until the agent closes a connection that sends a header line every second."""
    s = socket.create_connection(("127.0.0.1", port), timeout=1)
    t0 = time.monotonic()
    s.sendall(b"GET /health HTTP/1.1\r\n")
    try:
        while time.monotonic() - t0 < 30:
            try:
                if s.recv(4096) == b"":
                    return time.monotonic() - t0
            except socket.timeout:
                pass
            try:
                s.sendall(b"X-Slow: 1\r\n")
            except OSError:
                return time.monotonic() - t0
        return None
    finally:
        s.close()


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, FLOOD + 1000)), hard))
    with Cluster(nodes=1) as c:
        name = c.wait_healthy(60)
        port = int(c.node(name)["api_port"])
        # The agent again, started with a file descriptor limit of FD_LIMIT (it may not raise it).
        c.signal_agent(name, signal.SIGTERM)
        wait_for(lambda: not pid_alive(c.agent_pid(name)), 60, "the agent of %s to stop" % name)
        agent = c.start_agent(name, nofile=FD_LIMIT)
        check(c.wait_healthy(60) == name, "%s did not lead again" % name)
        with open("/proc/%d/limits" % agent) as f:
            lim = [l for l in f if l.startswith("Max open files")]
        log("agent %d: %s" % (agent, lim[0].strip() if lim else "?"))
        base_rss = rss_kib(agent)
        log_size = os.path.getsize(c.agent_log(name))
        st, t = health(port)
        check(st == 200, "GET /health answered %s before the flood" % st)

        closed = trickler_closed_after(port)
        log("a connection trickling a header line every second was closed after %s s" % (
            "%.1f" % closed if closed else "more than 30"))
        check(closed is not None and closed < 7, "a trickling connection stayed open %s s (deadline 5 s)" % closed)

        flood = Flood(port)
        flood.start()
        time.sleep(2)
        lat, bad = [], []
        outcomes = []  # per check: True when answered 200 within 100 ms
        max_rss = 0
        t_end = time.monotonic() + DURATION
        while time.monotonic() < t_end:
            try:
                st, t = health(port)
                lat.append(t)
                outcomes.append(st == 200 and t < 0.1)
                if st != 200:
                    bad.append(st)
            except Exception as e:  # noqa: BLE001
                bad.append(type(e).__name__)
                outcomes.append(False)
            max_rss = max(max_rss, rss_kib(agent))
            time.sleep(0.05)
        flood.stop()
        check(lat, "no health check was answered during the flood: %s" % bad[:10])
        lat.sort()
        log("flood: %d connections opened, %d closed by the agent; %d health checks, %d failed; latency median "
            "%.1f ms, p99 %.1f ms, max %.1f ms; agent RSS %d KiB before, %d KiB at most" % (
                flood.opened, flood.closed_by_server, len(lat) + len([b for b in bad if isinstance(b, str)]),
                len(bad), 1000 * lat[len(lat) // 2], 1000 * lat[int(len(lat) * 0.99)], 1000 * lat[-1],
                base_rss, max_rss))
        # HAProxy marks a server down after `fall` consecutive failed checks (3 by default, 2 in our
        # configuration): no two in a row may fail or be slower than 100 ms, and nearly all must pass.
        in_a_row = [i for i in range(1, len(outcomes)) if not outcomes[i] and not outcomes[i - 1]]
        check(not in_a_row, "two health checks in a row failed or took over 100 ms (checks %s); failures %s" % (
            in_a_row[:5], bad[:10]))
        check(len(bad) <= len(outcomes) // 100, "%d of %d health checks failed during the flood: %s" % (
            len(bad), len(outcomes), bad[:10]))
        check(lat[int(len(lat) * 0.99)] < 0.1, "the 99th percentile of the health checks is %.0f ms (limit 100 ms)" % (
            1000 * lat[int(len(lat) * 0.99)]))
        check(max_rss < 8 * 1024, "the agent grew to %d KiB during the flood" % max_rss)
        grown = os.path.getsize(c.agent_log(name)) - log_size
        text = c.read_agent_log(name)
        check("http server:" in text, "the agent did not log the crowding")
        during = text[len(text) - grown:] if grown > 0 else ""
        trouble = [l for l in during.splitlines() if "lease renewal failed" in l or "fencing" in l or "EMFILE" in l]
        check(not trouble, "the flood cost the agent its own connections: %s" % trouble[:3])
        check(grown < 20000, "the agent's log grew by %d bytes during the flood" % grown)
        log("agent log grew by %d bytes: %s" % (grown, [l for l in text.splitlines() if "http server:" in l][:2]))
        time.sleep(6)  # every flood connection past its deadline
        st, t = health(port)
        check(st == 200 and t < 0.1, "after the flood GET /health answered %s in %.0f ms" % (st, 1000 * t))
        check(c.healthy() == name, "the cluster is not healthy after the flood")


if __name__ == "__main__":
    run_test(main)
