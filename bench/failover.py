#!/usr/bin/python3
"""Crash-failover benchmark (not a CTest test).

Brings up a 3-node cluster with `flotilla local up`, prints each agent's RSS
on the idle cluster, then runs TRIALS crash-failover trials: SIGKILL the
leader's agent and postmaster and measure the time from the kill to the
first write acknowledged by the new primary through rw_dsn (a writer retries
every 20 ms). Between trials the killed agent is restarted and the cluster
waits for 3 healthy nodes. Prints each trial, the median and the max.

With --switchovers N it then runs N planned switchovers through the REST
API and prints each write pause (the last write acknowledged before the
request to the first acknowledged by the candidate), the median and the max.

With --compare-watch it runs the crash trials twice, on two fresh clusters:
first with the agents' etcd watch off (etcd.watch = false: replicas see the
expired leader key at their next tick), then with it on, and prints both
side by side.

  sudo /usr/bin/python3 bench/failover.py --build-dir build [--trials 5] [--sync] [--switchovers 5]
  sudo /usr/bin/python3 bench/failover.py --build-dir build --trials 5 --compare-watch
  sudo /usr/bin/python3 bench/failover.py --build-dir build --trials 5 --tls
"""
import argparse
import json
import os
import statistics
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
import psycopg2  # noqa: E402

from harness import Cluster, log, wait_for  # noqa: E402


def pss_kb(pid):
    """Proportional set size: shared library pages counted once across the processes that map them."""
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class RetryingWriter(threading.Thread):
    """Tries one INSERT through rw_dsn every 20 ms, reconnecting as needed;
    records (time, server port) of each acknowledged write."""

    def __init__(self, dsn, interval=0.02):
        super().__init__(daemon=True)
        self.dsn = dsn
        self.interval = interval
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.acks = []

    def run(self):
        conn = None
        while not self.stop_event.is_set():
            try:
                if conn is None:
                    conn = psycopg2.connect(self.dsn, connect_timeout=1, options="-c statement_timeout=2000")
                    conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute("INSERT INTO bench_failover (at) VALUES (clock_timestamp()) RETURNING inet_server_port()")
                    port = cur.fetchone()[0]
                with self.lock:
                    self.acks.append((time.monotonic(), port))
            except Exception:  # noqa: BLE001
                if conn is not None:
                    try:
                        conn.close()
                    except Exception:  # noqa: BLE001
                        pass
                conn = None
            self.stop_event.wait(self.interval)

    def last_ack_before(self, t):
        with self.lock:
            before = [at for at, _ in self.acks if at < t]
        return before[-1] if before else None

    def first_ack_on(self, t, port):
        with self.lock:
            for at, p in self.acks:
                if at >= t and p == port:
                    return at, p
        return None

    def first_ack_after(self, t, not_port):
        with self.lock:
            for at, port in self.acks:
                if at >= t and port != not_port:
                    return at, port
        return None


def switchover(c, w, i):
    """POST /switchover from the leader to a replica; the write pause: the last write acknowledged before
    the request to the first acknowledged by the candidate."""
    leader = c.wait_healthy(120)
    candidate = sorted(n for n in c.names() if n != leader)[i % 2]
    wait_for(lambda: w.first_ack_after(time.monotonic() - 0.5, None), 30, "the writer acknowledged on %s" % leader)
    time.sleep(1)
    with open(os.path.join(c.dir, "secrets", "api_token")) as f:
        token = f.read().strip()
    req = urllib.request.Request("http://127.0.0.1:%d/switchover" % int(c.node(leader)["api_port"]),
                                 data=json.dumps({"leader": leader, "candidate": candidate}).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "Authorization": "Bearer " + token})
    t_req = time.monotonic()
    with urllib.request.urlopen(req, timeout=30) as r:
        r.read()
    port = int(c.node(candidate)["pg_port"])
    at, _ = wait_for(lambda: w.first_ack_on(t_req, port), 60, "a write acknowledged by %s" % candidate)
    pause = at - (w.last_ack_before(t_req) or t_req)
    print("switchover %d: %s -> %s, write pause %.3f s" % (i + 1, leader, candidate, pause), flush=True)
    wait_for(lambda: c.healthy() == candidate, 120, "%s leading 2 streaming replicas" % candidate)
    return pause


def run(args, switchovers, label=""):
    """One cluster: RSS, crash trials, then switchovers; returns the failover times."""
    with Cluster(nodes=3, sync=args.sync, extra_args=["--tls"] if args.tls else []) as c:
        leader = c.wait_healthy(60)
        time.sleep(3)  # idle
        print("%sagent RSS on the idle cluster (leader %s):" % (label, leader))
        for n in c.names():
            pid = c.agent_pid(n)
            print("  %s agent pid %d: VmRSS %s kB, PSS %s kB" % (n, pid, rss_kb(pid), pss_kb(pid)))
        c.q(leader, "CREATE TABLE bench_failover (id bigserial PRIMARY KEY, at timestamptz)")

        w = RetryingWriter(c.rw_dsn)
        w.start()
        results = []
        for trial in range(1, args.trials + 1):
            leader = c.wait_healthy(120)
            wait_for(lambda: w.first_ack_after(time.monotonic() - 0.5, None), 30, "the writer acknowledged on %s" % leader)
            old_port = int(c.node(leader)["pg_port"])
            t_kill = time.monotonic()
            c.kill_node(leader)
            at, port = wait_for(lambda: w.first_ack_after(t_kill, old_port), 120,
                                "a write acknowledged by a new primary (trial %d)" % trial)
            dt = at - t_kill
            results.append(dt)
            print("trial %d: killed %s, first write acknowledged by %s after %.3f s"
                  % (trial, leader, c.name_of_port(port), dt), flush=True)
            c.start_agent(leader)
            try:
                wait_for(lambda: c.healthy() and c.role(leader) == "replica", 180,
                         "3 healthy nodes after restarting %s" % leader)
            except AssertionError as e:
                print("trial %d: the cluster did not recover, stopping: %s" % (trial, e), flush=True)
                break
        pauses = [switchover(c, w, i) for i in range(switchovers)] if len(results) == args.trials else []
        w.stop_event.set()
        w.join(10)
        if pauses:
            print("switchover write pause, %d switchovers: median %.3f s, max %.3f s, min %.3f s"
                  % (len(pauses), statistics.median(pauses), max(pauses), min(pauses)))
        if results:
            print("%sfailover (kill -> first acknowledged write), %d trials: median %.3f s, max %.3f s, min %.3f s"
                  % (label, len(results), statistics.median(results), max(results), min(results)))
        if len(results) < args.trials:
            print("only %d of %d trials completed" % (len(results), args.trials))
            sys.exit(1)
        print("agent RSS at the end:")
        for n in c.names():
            pid = c.agent_pid(n)
            print("  %s agent pid %d: VmRSS %s kB" % (n, pid, rss_kb(pid)))


        return results


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", help="build directory (default: FLOTILLA_BUILD_DIR)")
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--sync", action="store_true", help="synchronous mode")
    ap.add_argument("--switchovers", type=int, default=0,
                    help="planned switchovers through the REST API after the crash trials (default 0)")
    ap.add_argument("--tls", action="store_true",
                    help="a cluster secured as `flotilla local up --tls` makes it (etcd over https with users, HTTPS APIs)")
    ap.add_argument("--compare-watch", action="store_true",
                    help="run the crash trials without, then with, the agents' etcd watch")
    args = ap.parse_args()
    if args.build_dir:
        os.environ["FLOTILLA_BUILD_DIR"] = args.build_dir

    if not args.compare_watch:
        run(args, args.switchovers)
        return
    figures = {}
    for watch in ("false", "true"):
        os.environ["FLOTILLA_ETCD_WATCH"] = watch
        label = "etcd.watch = %s: " % watch
        print("== %s" % label.rstrip(": "), flush=True)
        figures[watch] = run(args, 0, label)
    os.environ.pop("FLOTILLA_ETCD_WATCH", None)
    print("crash failover, %d trials each (kill -> first write acknowledged by the new primary):" % args.trials)
    print("  %-22s %8s %8s %8s" % ("", "median", "max", "min"))
    for watch, name in (("false", "without the watch"), ("true", "with the watch")):
        r = figures[watch]
        print("  %-22s %7.3fs %7.3fs %7.3fs" % (name, statistics.median(r), max(r), min(r)))


def run_bench(fn):
    """A benchmark's entry point: a failed check ends it with exit 1 and one line."""
    try:
        fn()
    except AssertionError as e:
        log("bench failed: %s" % e)
        sys.exit(1)


if __name__ == "__main__":
    run_bench(main)
