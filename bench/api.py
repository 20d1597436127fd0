#!/usr/bin/python3
"""REST API latency and agent memory on an idle 3-node local cluster.

Brings up `flotilla local up --nodes 3`, sends 1000 `GET /primary` requests
to the leader's REST API over loopback, each on a new TCP connection, and
prints the median, 90th and 99th percentile; then prints each agent's
VmRSS, private (RssAnon) and proportional (Pss) memory. The cluster runs
with HAProxy and flotilla-proxy-agent (`local up --haproxy`), so the proxy
agent's agent-check latency and memory are printed too.

  FLOTILLA_BUILD_DIR=build /usr/bin/python3 bench/api.py [--requests 1000]
"""
import argparse
import os
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
from harness import Cluster  # noqa: E402


def get(port, path):
    t = time.perf_counter()
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    return time.perf_counter() - t, int(data.split(b" ", 2)[1])


def memory(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon"):
                out[k] = int(v.split()[0])
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith("Pss:"):
                out["Pss"] = int(line.split()[1])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=1000)
    args = ap.parse_args()
    with Cluster(nodes=3, extra_args=("--haproxy",)) as c:
        leader = c.wait_healthy(60)
        port = c.node(leader)["api_port"]
        for _ in range(50):
            get(port, "/primary")
        times = []
        for _ in range(args.requests):
            dt, status = get(port, "/primary")
            if status != 200:
                raise SystemExit("GET /primary answered %d" % status)
            times.append(dt * 1000)
        times.sort()
        print("GET /primary on leader %s, %d requests, new connection each: median %.3f ms, p90 %.3f ms, p99 %.3f ms"
              % (leader, len(times), statistics.median(times), times[int(len(times) * 0.9)], times[int(len(times) * 0.99)]))
        time.sleep(2)
        for n in c.names():
            m = memory(c.agent_pid(n))
            print("agent %s: VmRSS %.1f MB, private (RssAnon) %.1f MB, Pss %.1f MB"
                  % (n, m["VmRSS"] / 1024, m["RssAnon"] / 1024, m["Pss"] / 1024))
        agent_port = int(c.info["proxy_agent"]["agent_check_port"])
        times = []
        for _ in range(args.requests):
            t = time.perf_counter()
            s = socket.create_connection(("127.0.0.1", agent_port), timeout=5)
            s.sendall(("ro %s\n" % leader).encode())
            while s.recv(256):
                pass
            s.close()
            times.append((time.perf_counter() - t) * 1000)
        times.sort()
        print("agent check \"ro %s\" on flotilla-proxy-agent, %d requests: median %.3f ms, p99 %.3f ms"
              % (leader, len(times), statistics.median(times), times[int(len(times) * 0.99)]))
        m = memory(int(c.info["proxy_agent"]["pid"]))
        print("proxy agent: VmRSS %.1f MB, private (RssAnon) %.1f MB, Pss %.1f MB"
              % (m["VmRSS"] / 1024, m["RssAnon"] / 1024, m["Pss"] / 1024))


if __name__ == "__main__":
    main()
