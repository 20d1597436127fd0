#!/usr/bin/python3
"""Read throughput through HAProxy (not a CTest test).

Brings up a 3-node cluster with `flotilla local up --haproxy`, initialises a
pgbench database (scale 10) through the primary, then runs the same
select-only pgbench (`pgbench -S`, 8 clients, 2 threads, SECONDS each) three
times in one run:

  rw      through the rw port of the cluster's HAProxy (health checks, agent
          checks and flotilla-proxy-agent at work);
  direct  straight to the primary's PostgreSQL port;
  bare    through a bare HAProxy `listen` with the same timeouts and no
          checks, one server: the primary (the cost of HAProxy itself).

Prints the three TPS figures and rw against bare as a percentage. With
--rounds R each target runs R times, each round in another order, and the
median is reported (the machine is small: other load shows in one run).

  FLOTILLA_BUILD_DIR=build /usr/bin/python3 bench/pgbench.py [--seconds 30] [--rounds 1]
      [--clients 8] [--threads 2] [--scale 10] [--build-dir DIR]
"""
import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import failover  # noqa: E402  (bench/failover.py: run_bench; puts tests/integration on sys.path)
from harness import Cluster, free_port, haproxy_stats, log, wait_for  # noqa: E402

PGBENCH = "/usr/lib/postgresql/15/bin/pgbench"

# The cluster's HAProxy template without health checks, agent checks,
# logging or the admin socket: one `listen`, same mode and timeouts.
BARE_CFG = """global
    maxconn 1000

defaults
    mode tcp
    timeout client 30m
    timeout server 30m
    timeout connect 1s
    retries 1

listen bare
    bind 127.0.0.1:%(port)d
    server primary 127.0.0.1:%(target)d
"""


def passfile(dsn):
    m = re.search(r"passfile=(\S+)", dsn)
    if not m:
        raise SystemExit("no passfile= in %r" % dsn)
    return m.group(1)


def pgbench(env, port, args, what):
    cmd = [PGBENCH, "-h", "127.0.0.1", "-p", str(port), "-U", "postgres"] + args + ["postgres"]
    log("$ " + " ".join(cmd))
    r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=3600)
    out = r.stdout.decode(errors="replace")
    if r.returncode != 0:
        raise SystemExit("pgbench (%s) exited %d:\n%s" % (what, r.returncode, out))
    return out


def tps(out):
    m = re.search(r"^tps = ([0-9.]+) \(without initial connection time\)", out, re.M)
    if not m:
        raise SystemExit("no tps line in pgbench's output:\n" + out)
    return float(m.group(1))


def start_bare_haproxy(top, target):
    """A bare HAProxy under the cluster's directory (so teardown reaps it),
    as postgres in the foreground; returns (Popen, port)."""
    d = os.path.join(top, "bench-haproxy")
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o755)
    port = free_port()
    cfg = os.path.join(d, "haproxy.cfg")
    with open(cfg, "w") as f:
        f.write(BARE_CFG % {"port": port, "target": target})
    os.chmod(cfg, 0o644)
    logf = open(os.path.join(d, "haproxy.log"), "ab")
    try:
        p = subprocess.Popen(["setpriv", "--reuid", "postgres", "--regid", "postgres", "--init-groups", "--",
                              "haproxy", "-db", "-f", cfg], stdin=subprocess.DEVNULL, stdout=logf,
                             stderr=subprocess.STDOUT, start_new_session=True, cwd=d)
    finally:
        logf.close()

    def listening():
        if p.poll() is not None:
            raise SystemExit("bare haproxy exited %s; see %s/haproxy.log" % (p.returncode, d))
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    wait_for(listening, 10, "the bare HAProxy on port %d" % port)
    log("bare haproxy pid %d on 127.0.0.1:%d -> 127.0.0.1:%d" % (p.pid, port, target))
    return p, port


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", help="build directory (default: FLOTILLA_BUILD_DIR)")
    ap.add_argument("--seconds", type=int, default=30, help="duration of each pgbench run (default 30)")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--scale", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=1,
                    help="runs of each target, in rotating order; the median is reported (default 1)")
    args = ap.parse_args()
    if args.build_dir:
        os.environ["FLOTILLA_BUILD_DIR"] = args.build_dir
    for prog in (PGBENCH, shutil.which("haproxy"), shutil.which("setpriv")):
        if not prog or not os.access(prog, os.X_OK):
            raise SystemExit("missing program: pgbench, haproxy or setpriv")

    with Cluster(nodes=3, haproxy=True) as c:
        leader = c.wait_healthy(60)
        primary_port = int(c.node(leader)["pg_port"])
        rw_port = int(c.info["haproxy"]["rw_port"])
        env = dict(os.environ, PGPASSFILE=passfile(c.node(leader)["dsn"]), PGCONNECT_TIMEOUT="5")
        t = time.monotonic()
        pgbench(env, primary_port, ["-i", "-q", "-s", str(args.scale)], "init")
        log("initialised scale %d through the primary %s in %.1f s" % (args.scale, leader, time.monotonic() - t))
        bare, bare_port = start_bare_haproxy(c.top, primary_port)
        try:
            run = ["-S", "-n", "-c", str(args.clients), "-j", str(args.threads)]
            # Warm the caches so that the first measured run is not the cold one.
            pgbench(env, primary_port, run + ["-T", "5"], "warm-up")
            before = int(haproxy_stats(c)[("rw", leader)]["stot"])
            targets = [("rw", rw_port), ("direct", primary_port), ("bare", bare_port)]
            results = {name: [] for name, _ in targets}
            for r in range(args.rounds):
                # Each round starts with another target, so that none always runs first.
                for name, port in targets[r % 3:] + targets[:r % 3]:
                    out = pgbench(env, port, run + ["-T", str(args.seconds)], name)
                    results[name].append(tps(out))
                    log("round %d, %s: %.0f tps" % (r + 1, name, results[name][-1]))
            after = int(haproxy_stats(c)[("rw", leader)]["stot"])
            if after - before < args.clients * args.rounds:
                raise SystemExit("HAProxy's rw/%s took only %d sessions during the rw runs" % (leader, after - before))
        finally:
            bare.terminate()
            bare.wait(10)
        figures = {name: statistics.median(v) for name, v in results.items()}
        print()
        print("pgbench -S, scale %d, %d clients, %d threads, %d s per run, %d round%s, primary %s:"
              % (args.scale, args.clients, args.threads, args.seconds, args.rounds, "s" if args.rounds > 1 else "",
                 leader))
        labels = {"rw": "rw port of `local up --haproxy` (checks + agent)",
                  "direct": "primary directly",
                  "bare": "bare HAProxy listen, no checks"}
        for name, port in targets:
            print("  %-50s port %5d  %10.0f tps%s" % (labels[name], port, figures[name],
                                                        "  (median of %s)" % ", ".join("%.0f" % v for v in results[name])
                                                        if args.rounds > 1 else ""))
        print("  rw vs bare HAProxy: %.1f %%   rw vs direct: %.1f %%   bare vs direct: %.1f %%"
              % (100.0 * figures["rw"] / figures["bare"], 100.0 * figures["rw"] / figures["direct"],
                 100.0 * figures["bare"] / figures["direct"]))


if __name__ == "__main__":
    failover.run_bench(main)
