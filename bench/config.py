#!/usr/bin/python3
"""Dynamic configuration, Flotilla versus Patroni, side by side, in one run
(not a CTest test).

Each tool runs a 3-node cluster of PostgreSQL 15 on loopback ports
(Patroni from PyPI in a private venv with the timings bench/patroni.py
uses, ttl 20, loop_wait 1; Flotilla with `flotilla local up`, ttl 3,
loop_wait 0.5), and on each:

  * --rounds changes of work_mem through the tool's command line
    (`patronictl edit-config --pg work_mem=N --force`, `flotilla
    edit-config --pg work_mem=N --force`): the time from the command's start
    until every node's PostgreSQL shows the new value (SHOW, every 20 ms);
  * one change of shared_buffers: the time until every node reports a
    pending restart on its REST API (GET /patroni, pending_restart, the
    same field on both), then `restart --pending --force`: its duration
    until every node shows the new value, the longest pause of a writer
    (an INSERT every 20 ms through the read-write DSN) during it, and
    whether the leader stayed the same.

Then prints one table. Everything started is stopped and removed at the end,
also on failure or SIGINT.

  /usr/bin/python3 bench/config.py [--rounds 5] [--venv build/bench-venv] [--build-dir DIR]

Run as root (daemons are started as postgres). Exit: 0 both measured, 1 a
part failed, 2 Patroni could not be installed, 130 interrupted.
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import patroni as pb  # noqa: E402  (bench/patroni.py: PatroniCluster, install_patroni, helpers)
import failover  # noqa: E402  (RetryingWriter)

import psycopg2  # noqa: E402


def show(dsn, name):
    conn = psycopg2.connect(dsn, connect_timeout=2)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW %s" % name)
            return cur.fetchone()[0]
    finally:
        conn.close()


def shows_everywhere(dsns, name, value):
    try:
        return all(show(d, name) == value for d in dsns)
    except psycopg2.Error:
        return False


def api_json(port, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=2) as r:
        return json.loads(r.read())


def pending_everywhere(api_ports):
    try:
        return all(api_json(p, "/patroni").get("pending_restart") for p in api_ports)
    except (OSError, ValueError):
        return False


def run(cmd, timeout=300):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    if r.returncode != 0:
        raise pb.BenchError("%s exited %d:\n%s" % (" ".join(cmd), r.returncode, r.stdout.decode(errors="replace")))
    return r.stdout.decode(errors="replace")


def longest_pause(writer, t0, t1):
    """The longest gap between acknowledged writes over [t0, t1]."""
    with writer.lock:
        acks = [at for at, _ in writer.acks if t0 - 1 <= at <= t1 + 1]
    if len(acks) < 2:
        return None
    return max(b - a for a, b in zip(acks, acks[1:]))


def measure(label, edit, restart_pending, dsns, api_ports, rw_dsn, leader_fn, rounds):
    """The same steps for either tool; edit(name, value) and restart_pending() run its commands."""
    res = {"reload": []}
    for i in range(rounds):
        value = "%dMB" % (10 + i)
        t = time.monotonic()
        edit("work_mem", value)
        pb.wait_for(lambda: shows_everywhere(dsns, "work_mem", value), 60, "work_mem %s on every node" % value, 0.02)
        dt = time.monotonic() - t
        res["reload"].append(dt)
        print("%s: work_mem %s on every node %.3f s after the command started" % (label, value, dt), flush=True)
    conn = psycopg2.connect(rw_dsn, connect_timeout=2)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS bench_failover (id bigserial PRIMARY KEY, at timestamptz)")
    conn.close()
    writer = failover.RetryingWriter(rw_dsn)
    writer.start()
    try:
        leader = leader_fn()
        t = time.monotonic()
        edit("shared_buffers", "160MB")
        pb.wait_for(lambda: pending_everywhere(api_ports), 120, "a pending restart on every node", 0.05)
        res["pending"] = time.monotonic() - t
        print("%s: shared_buffers 160MB pending on every node %.3f s after the command started" % (
            label, res["pending"]), flush=True)
        time.sleep(1)
        t = time.monotonic()
        restart_pending()
        pb.wait_for(lambda: shows_everywhere(dsns, "shared_buffers", "160MB"), 120, "shared_buffers 160MB everywhere",
                    0.05)
        t1 = time.monotonic()
        res["restart"] = t1 - t
        time.sleep(1)
        res["pause"] = longest_pause(writer, t, t1)
        res["same_leader"] = leader_fn() == leader
        print("%s: restart --pending done in %.2f s, longest write pause %s s, leader %s" % (
            label, res["restart"], "%.3f" % res["pause"] if res["pause"] is not None else "n/a",
            "kept" if res["same_leader"] else "changed"), flush=True)
    finally:
        writer.stop_event.set()
        writer.join(10)
    return res


def run_patroni(args, top, exe, res):
    c = pb.PatroniCluster(os.path.join(top, "patroni"), exe, args.etcd, args.pg_bin)
    res["cluster"] = c
    c.start()
    pb.wait_for(c.healthy, 300, "3 Patroni members: 1 leader, 2 streaming", 0.5)
    ctl_cfg = os.path.join(top, "patronictl.yml")
    with open(ctl_cfg, "w") as f:
        json.dump({"scope": pb.SCOPE, "etcd3": {"hosts": ["127.0.0.1:%d" % c.etcd_client]}}, f)
    ctl = [os.path.join(os.path.dirname(exe), "patronictl"), "-c", ctl_cfg]
    res.update(measure(
        "Patroni",
        lambda name, value: run(ctl + ["edit-config", "--pg", "%s=%s" % (name, value), "--force"]),
        lambda: run(ctl + ["restart", pb.SCOPE, "--pending", "--force"]),
        [c.node_dsn(n) for n in c.names], [c.api_port[n] for n in c.names], c.rw_dsn, c.leader, args.rounds))


def run_flotilla(args, top, build, res):
    d = os.path.join(top, "flotilla")
    flotilla = os.path.join(build, "flotilla")
    res["dir"] = d
    run([flotilla, "local", "up", "--nodes", "3", "--dir", d])
    with open(os.path.join(d, "cluster.json")) as f:
        info = json.load(f)
    nodes = info["nodes"]

    def leader():
        ms = json.loads(run([flotilla, "list", "--dir", d, "--json"]))
        ld = [m["member"] for m in ms if m["role"] == "Leader"]
        return ld[0] if ld else None
    res.update(measure(
        "Flotilla",
        lambda name, value: run([flotilla, "edit-config", "--dir", d, "--pg", "%s=%s" % (name, value), "--force"]),
        lambda: run([flotilla, "restart", "--pending", "--dir", d, "--force"]),
        [n["dsn"] for n in nodes], [n["api_port"] for n in nodes], info["rw_dsn"], leader, args.rounds))


def fmt(v, unit=" s"):
    return "n/a" if v is None else "%.3f%s" % (v, unit)


def print_table(pat, flo):
    rows = [
        ("work_mem on every node (median)", lambda r: fmt(statistics.median(r["reload"]) if r.get("reload") else None)),
        ("work_mem on every node (max)", lambda r: fmt(max(r["reload"]) if r.get("reload") else None)),
        ("shared_buffers pending on every node", lambda r: fmt(r.get("pending"))),
        ("restart --pending until applied everywhere", lambda r: fmt(r.get("restart"))),
        ("longest write pause during it", lambda r: fmt(r.get("pause"))),
        ("leader kept (no failover)", lambda r: "n/a" if "same_leader" not in r else ("yes" if r["same_leader"] else "NO")),
    ]
    print("\n%-44s %16s %16s" % ("dynamic configuration", "Patroni %s" % pat.get("version", ""), "Flotilla"))
    for name, f in rows:
        print("%-44s %16s %16s" % (name, f(pat), f(flo)))
    for label, r in (("Patroni", pat), ("Flotilla", flo)):
        if r.get("error"):
            print("%s part failed: %s" % (label, r["error"].splitlines()[0]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5, help="work_mem changes per tool (default 5)")
    ap.add_argument("--venv", default=os.path.join(pb.ROOT, "build", "bench-venv"))
    ap.add_argument("--build-dir", help="Flotilla build directory (default: run scripts/build)")
    ap.add_argument("--pg-bin", default="/usr/lib/postgresql/15/bin")
    ap.add_argument("--etcd", default="/usr/bin/etcd")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("run as root: the daemons are started as postgres")
        return 2
    signal.signal(signal.SIGINT, pb.on_signal)
    signal.signal(signal.SIGTERM, pb.on_signal)
    pat, flo, top, rc = {}, {}, None, 0
    try:
        exe, version = pb.install_patroni(args.venv)
        pat["version"] = version.replace("patroni", "").strip()
        build = os.path.abspath(args.build_dir or pb.build_flotilla())
        top = tempfile.mkdtemp(prefix="flotilla-bench-")
        os.chmod(top, 0o755)
        for label, res, fn, arg in (("Patroni", pat, run_patroni, exe), ("Flotilla", flo, run_flotilla, build)):
            pb.log("== %s ==" % label)
            try:
                fn(args, top, arg, res)
            except pb.BenchError as e:
                res["error"] = str(e)
                pb.log("%s part failed: %s" % (label, e))
                rc = 1
            finally:
                if res.get("cluster") is not None:
                    res.pop("cluster").stop()
                if res.get("dir"):
                    subprocess.run([os.path.join(build, "flotilla"), "local", "down", "--dir", res["dir"]],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
        print_table(pat, flo)
    except pb.Interrupted:
        rc = 130
    finally:
        for res in (pat, flo):
            if res.get("cluster") is not None:
                res.pop("cluster").stop()
        if top is not None:
            pb.sweep(top, "cleanup")
            shutil.rmtree(top, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
