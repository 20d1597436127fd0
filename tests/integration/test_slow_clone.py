#!/usr/bin/python3
"""A clone that takes more than 20 s never stalls its agent.

A 2-node cluster; the replica gets `clone_max_rate` (reloaded by SIGHUP) low enough
that pg_basebackup needs about 25 s for the leader's data directory, then
`flotilla reinit` empties it and the agent clones it again. While the
clone runs, two samplers work every 100 ms:
  * the replica's REST API (GET /patroni, a new connection each time): every request
    must be answered, 99 % of them within 100 ms and none later than 1 s (a clone
    that held the loop would hold it for its whole 25 s; a single slower answer
    is etcd's own disk on a busy machine, met by the agent's tick);
  * its member key in etcd: it must never be missing, and it says
    `state: cloning` with the bytes done growing.
Afterwards it streams from the leader again, the clone took at least 20 s, and
`flotilla list` showed the node as cloning while it ran."""
import http.client
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, etcd_get, log, run_test, wait_for  # noqa: E402

SAMPLE_EVERY = 0.1
API_BUDGET = 0.1
API_MAX = 1.0
CLONE_SECONDS = 25.0


class ApiSampler(threading.Thread):
    """GET path on 127.0.0.1:port every SAMPLE_EVERY s; records (latency, status or error, body)."""

    def __init__(self, port, path="/patroni"):
        super().__init__(name="api-sampler", daemon=True)
        self.port, self.path = port, path
        self.samples = []
        self.stop_event = threading.Event()

    def run(self):
        while not self.stop_event.is_set():
            t = time.monotonic()
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", self.path)
                r = c.getresponse()
                body = r.read().decode(errors="replace")
                c.close()
                self.samples.append((time.monotonic() - t, r.status, body, t))
            except Exception as e:  # noqa: BLE001
                self.samples.append((time.monotonic() - t, "error: %s" % e, "", t))
            self.stop_event.wait(SAMPLE_EVERY)

    def stop(self):
        self.stop_event.set()
        self.join(10)


class MemberSampler(threading.Thread):
    """The member record of one node, read from etcd every SAMPLE_EVERY s."""

    def __init__(self, endpoint, key):
        super().__init__(name="member-sampler", daemon=True)
        self.endpoint, self.key = endpoint, key
        self.samples = []  # (monotonic time, parsed record, or None when missing, or "error")
        self.stop_event = threading.Event()

    def run(self):
        while not self.stop_event.is_set():
            try:
                v = etcd_get(self.endpoint, self.key, timeout=1)
                rec = json.loads(v) if v is not None else None
            except Exception as e:  # noqa: BLE001
                rec = "error: %s" % e
            self.samples.append((time.monotonic(), rec))
            self.stop_event.wait(SAMPLE_EVERY)

    def stop(self):
        self.stop_event.set()
        self.join(10)


def data_dir_kb(path):
    """kB of a data directory without pg_wal (what --max-rate throttles)."""
    out = subprocess.run(["du", "-sk", "--exclude=pg_wal", path], stdout=subprocess.PIPE, check=True).stdout
    return int(out.split()[0])


def main():
    with Cluster(nodes=2) as c:
        leader = c.wait_healthy()
        replica = "n2" if leader == "n1" else "n1"
        # Some data, so that the copy is more than the empty cluster's catalog.
        c.q(leader, "CREATE TABLE clone_data AS SELECT g AS id, repeat('x', 200) AS pad FROM generate_series(1, 100000) g")
        c.q(leader, "CHECKPOINT")
        kb = data_dir_kb(c.node(leader)["data_dir"])
        rate = max(32, int(kb / CLONE_SECONDS))
        log("%s's data directory: %d kB without pg_wal; clone_max_rate = %d kB/s" % (leader, kb, rate))
        c.set_setting(replica, "clone_max_rate", str(rate))
        wait_for(lambda: "clone_max_rate reloaded" in c.read_agent_log(replica), 10, "%s to reload clone_max_rate" % replica)

        api = ApiSampler(int(c.node(replica)["api_port"]))
        key = "/flotilla/%s/members/%s" % (c.scope, replica)
        mem = MemberSampler(c.etcd_endpoint, key)
        api.start()
        mem.start()
        t0 = time.monotonic()
        r = subprocess.run([c.flotilla, "reinit", replica, "--dir", c.dir, "--force"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=30)
        log("flotilla reinit %s: exit %d: %s" % (replica, r.returncode, r.stdout.decode().strip()))
        check(r.returncode == 0, "flotilla reinit %s exited %d" % (replica, r.returncode))
        wait_for(lambda: any(isinstance(rec, dict) and rec.get("state") == "cloning" for _, rec in mem.samples),
                 20, "%s's member record to say cloning" % replica)
        listed = subprocess.run([c.flotilla, "list", "--dir", c.dir], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, timeout=30).stdout.decode()
        log("flotilla list while cloning:\n" + listed)
        check(any(replica in line and "cloning" in line for line in listed.splitlines()),
              "flotilla list does not show %s as cloning:\n%s" % (replica, listed))
        wait_for(lambda: not any(isinstance(rec, dict) and rec.get("state") == "cloning" for _, rec in mem.samples[-3:])
                 and len(mem.samples) > 3, 180, "the clone to end", interval=0.5)
        clone_end = time.monotonic()
        c.wait_rejoined(replica, leader, timeout=60)
        api.stop()
        mem.stop()

        cloning = [(t, rec) for t, rec in mem.samples if isinstance(rec, dict) and rec.get("state") == "cloning"]
        clone_seconds = cloning[-1][0] - cloning[0][0]
        log("clone seen for %.1f s in %d of %d member samples (reinit to end %.1f s)" % (
            clone_seconds, len(cloning), len(mem.samples), clone_end - t0))
        check(clone_seconds >= 20, "the clone took %.1f s, want at least 20 s (rate %d kB/s)" % (clone_seconds, rate))

        missing = [(t - t0, rec) for t, rec in mem.samples if not isinstance(rec, dict)]
        check(not missing, "%s's member key was missing or unreadable in %d of %d samples, first at %+.1f s: %s" % (
            replica, len(missing), len(mem.samples), missing[0][0] if missing else 0, missing[:3]))
        done = [rec.get("progress", {}).get("done", 0) for _, rec in cloning]
        total = max(rec.get("progress", {}).get("total", 0) for _, rec in cloning)
        log("clone progress: %d samples, bytes done %d -> %d of %d" % (len(done), done[0], done[-1], total))
        check(total > 0 and done[-1] > done[0], "the member record's progress did not grow: %s" % (done[:5] + done[-5:]))

        # The clone's window: from the first member sample that said cloning to the last.
        during = [s for s in api.samples if cloning[0][0] <= s[3] <= cloning[-1][0]]
        errors = [s for s in during if not isinstance(s[1], int)]
        slow = [s for s in during if s[0] > API_BUDGET]
        lat = sorted(s[0] for s in during)
        states = sorted({json.loads(b).get("state") for _, st, b, _ in api.samples if isinstance(st, int) and b})
        log("API during the clone: %d requests, max %.1f ms, median %.1f ms; all %d requests: max %.1f ms at %+.2f s; states seen %s" % (
            len(lat), lat[-1] * 1000, lat[len(lat) // 2] * 1000, len(api.samples),
            max(s[0] for s in api.samples) * 1000, max(api.samples)[3] - t0, states))
        check(not errors, "%s's API failed %d of %d requests: %s" % (replica, len(errors), len(during), errors[:3]))
        slow_list = ["%.0f ms at %+.2f s" % (s[0] * 1000, s[3] - t0) for s in slow[:5]]
        check(len(slow) <= len(during) // 100, "%s's API took over %d ms for %d of %d requests: %s" % (
            replica, API_BUDGET * 1000, len(slow), len(during), slow_list))
        check(lat[-1] < API_MAX, "%s's API took %.0f ms for one request (limit %.0f ms): %s" % (
            replica, lat[-1] * 1000, API_MAX * 1000, slow_list))
        check("cloning" in states, "GET /patroni never said cloning: %s" % states)
        check("clone from %s done in" % leader in c.read_agent_log(replica), "%s's log does not report the clone's end" % replica)


if __name__ == "__main__":
    run_test(main)
