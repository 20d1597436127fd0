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
  * afterwards the API and the cluster are as before;
  * the same against the proxy agent's agent-check port (a request line
    trickled a byte every 2 s): HAProxy's agent checks still answered, the
    proxy agent small, its refusals logged at most once a second;
  * etcd frozen (SIGSTOP) for 0.8 s: the agent checks are answered within
    100 ms all the same, since the proxy agent's reads of etcd never hold
    them up."""
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


def sanitized(pid):
    """Whether pid runs an AddressSanitizer build (whose memory says nothing about the program's)."""
    with open("/proc/%d/maps" % pid) as f:
        return "libasan" in f.read()


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

    def __init__(self, port, first=b"GET /health HTTP/1.1\r\n", more=b"X-Slow: 1\r\n"):
        super().__init__(daemon=True)
        self.port = port
        self.first, self.more = first, more
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
                        key.fileobj.send(self.more if st["sent"] else self.first)
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
            except OSError:  # closed with our lines unread: a reset
                return time.monotonic() - t0
            try:
                s.sendall(b"X-Slow: 1\r\n")
            except OSError:
                return time.monotonic() - t0
        return None
    finally:
        s.close()


def agent_check(port, line):
    """(answer, seconds) of one agent check, as HAProxy sends it."""
    t = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(line)
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(64)
            if not chunk:
                break
            data += chunk
    return data, time.monotonic() - t


def probe_during(flood, seconds, probe, pid):
    """Runs probe() (-> (ok, seconds)) every 50 ms for seconds while flood runs, then stops the flood.
    Returns (outcomes, latencies sorted, failures, max RSS of pid in KiB); an outcome is True for a
    probe answered right within 100 ms."""
    outcomes, lat, bad = [], [], []
    max_rss = 0
    t_end = time.monotonic() + seconds
    while time.monotonic() < t_end:
        try:
            ok, t = probe()
            lat.append(t)
            if not ok:
                bad.append("wrong answer")
            outcomes.append(ok and t < 0.1)
        except Exception as e:  # noqa: BLE001
            bad.append(type(e).__name__)
            outcomes.append(False)
        max_rss = max(max_rss, rss_kib(pid))
        time.sleep(0.05)
    flood.stop()
    check(lat, "no check was answered during the flood: %s" % bad[:10])
    lat.sort()
    return outcomes, lat, bad, max_rss


def judge(what, outcomes, lat, bad):
    """HAProxy marks a server down after `fall` consecutive failed checks (3 by default, 2 in our
    configuration): no two in a row may fail or be slower than 100 ms, and nearly all must pass."""
    in_a_row = [i for i in range(1, len(outcomes)) if not outcomes[i] and not outcomes[i - 1]]
    check(not in_a_row, "two %s in a row failed or took over 100 ms (checks %s); failures %s" % (
        what, in_a_row[:5], bad[:10]))
    check(len(bad) <= len(outcomes) // 100, "%d of %d %s failed during the flood: %s" % (
        len(bad), len(outcomes), what, bad[:10]))
    p99 = lat[int(len(lat) * 0.99)]
    check(p99 < 0.1, "the 99th percentile of the %s is %.0f ms (limit 100 ms)" % (what, 1000 * p99))


def flood_agent_checks(c, name):
    """The proxy agent's agent-check port under the same flood (a request line trickled a byte at a
    time): HAProxy's checks still answered, and the agent small."""
    port = int(c.info["proxy_agent"]["agent_check_port"])
    pid = int(c.info["proxy_agent"]["pid"])
    line = b"rw %s\n" % name.encode()
    answer, _ = agent_check(port, line)
    check(answer.startswith(b"ready") or answer.startswith(b"up"), "agent check before the flood: %r" % answer)
    flood = Flood(port, first=b"r", more=b"w")
    flood.start()
    time.sleep(2)
    def one():
        a, t = agent_check(port, line)
        return a == answer, t
    outcomes, lat, bad, max_rss = probe_during(flood, 10, one, pid)
    log("agent-check flood: %d connections opened, %d closed by the proxy agent; %d checks, %d failed; latency "
        "median %.1f ms, p99 %.1f ms, max %.1f ms; proxy agent RSS at most %d KiB" % (
            flood.opened, flood.closed_by_server, len(outcomes), len(bad), 1000 * lat[len(lat) // 2],
            1000 * lat[int(len(lat) * 0.99)], 1000 * lat[-1], max_rss))
    judge("agent checks", outcomes, lat, bad)
    check(max_rss < 8 * 1024 or sanitized(pid), "the proxy agent grew to %d KiB during the flood" % max_rss)
    with open(c.info["proxy_agent"]["log"], errors="replace") as f:
        refusals = [l for l in f if "agent check from" in l]
    check(len(refusals) < 40, "the proxy agent logged %d refusals in 12 s (at most one a second)" % len(refusals))


def agent_checks_with_etcd_frozen(c, name):
    """etcd stopped for 0.8 s (the proxy agent's reads of it hang meanwhile): every agent check in that
    time answered, each within 100 ms."""
    port = int(c.info["proxy_agent"]["agent_check_port"])
    etcd_pid = int(c.info["etcd"]["pid"])
    line = b"rw %s\n" % name.encode()
    answer, _ = agent_check(port, line)
    lat = []
    os.kill(etcd_pid, signal.SIGSTOP)
    try:
        t_end = time.monotonic() + 0.8
        while time.monotonic() < t_end:
            a, t = agent_check(port, line)
            check(a == answer, "with etcd frozen an agent check answered %r (before: %r)" % (a, answer))
            lat.append(t)
            time.sleep(0.02)
    finally:
        os.kill(etcd_pid, signal.SIGCONT)
    log("etcd frozen 0.8 s: %d agent checks, slowest %.1f ms" % (len(lat), 1000 * max(lat)))
    check(max(lat) < 0.1, "with etcd frozen an agent check took %.0f ms (limit 100 ms)" % (1000 * max(lat)))


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, FLOOD + 1000)), hard))
    with Cluster(nodes=1, haproxy=True) as c:
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
        def one():
            st, t = health(port)
            return st == 200, t
        outcomes, lat, bad, max_rss = probe_during(flood, DURATION, one, agent)
        log("flood: %d connections opened, %d closed by the agent; %d health checks, %d failed; latency median "
            "%.1f ms, p99 %.1f ms, max %.1f ms; agent RSS %d KiB before, %d KiB at most" % (
                flood.opened, flood.closed_by_server, len(outcomes),
                len(bad), 1000 * lat[len(lat) // 2], 1000 * lat[int(len(lat) * 0.99)], 1000 * lat[-1],
                base_rss, max_rss))
        judge("health checks", outcomes, lat, bad)
        check(max_rss < 8 * 1024 or sanitized(agent), "the agent grew to %d KiB during the flood" % max_rss)
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
        flood_agent_checks(c, name)
        agent_checks_with_etcd_frozen(c, name)
        check(c.wait_healthy(30) == name, "the cluster is not healthy after etcd was frozen")


if __name__ == "__main__":
    run_test(main)
