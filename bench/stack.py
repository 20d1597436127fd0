#!/usr/bin/python3
"""The HA stack's figures on this Docker engine (not a CTest test).

Builds the images if needed (images/build), then prints, in one run:

  images   each image's size (`docker image inspect`) beside the official
           postgres:15 image's published size (it cannot be pulled here:
           no registry);
  up       `docker-compose up -d` of stacks/ha to every service healthy,
           and to a leader with two streaming replicas;
  start    `docker start` of a stopped replica's container on its volume to
           healthy (the HEALTHCHECK's status), TRIALS times;
  pgbench  select-only TPS (`pgbench -S`, 8 clients, 2 threads, SECONDS
           each) through HAProxy's rw port and straight to the leader's own
           published port, the same database, ROUNDS rounds in alternating
           order, the medians side by side.

The stack runs under a project of its own and is removed at the end, also
on failure.

  /usr/bin/python3 bench/stack.py [--seconds 20] [--rounds 3] [--trials 5] [--scale 10]
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "e2e"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e import Stack, build_images, free_port, log, sh, wait_for  # noqa: E402
from pgbench import PGBENCH, tps  # noqa: E402

sys.path.insert(0, os.path.join(TOP, "tests", "e2e"))
from test_ha import DBS, ETCDS, Ha  # noqa: E402

# The official image's size as Docker Hub lists it for postgres:15 on bookworm (amd64, uncompressed).
OFFICIAL_POSTGRES_15_MB = 410


def image_mb(tag):
    return int(sh(["docker", "image", "inspect", "-f", "{{.Size}}", tag]).stdout.decode().strip()) / 1e6


def pgbench(password, port, args):
    env = dict(os.environ, PGPASSWORD=password)
    cmd = [PGBENCH, "-h", "127.0.0.1", "-p", str(port), "-U", "postgres"] + args + ["postgres"]
    r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=3600)
    out = r.stdout.decode(errors="replace")
    if r.returncode != 0:
        raise SystemExit("pgbench on port %d exited %d:\n%s" % (port, r.returncode, out))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--scale", type=int, default=10)
    args = ap.parse_args()
    build_images()
    sizes = {t: image_mb("flotilla/%s:dev" % t) for t in ("db", "haproxy", "etcd", "prometheus", "backup")}
    ports = {"FLOTILLA_RW_PORT": str(free_port()), "FLOTILLA_RO_PORT": str(free_port()),
             "FLOTILLA_HAPROXY_METRICS_PORT": str(free_port()), "FLOTILLA_BACKUP_PORT": str(free_port())}
    with Stack("ha", ports) as s:
        s.make_secrets()
        ha = Ha(s)
        t0 = time.monotonic()
        s.compose("up", "-d", timeout=600)
        s.wait_healthy(ETCDS + DBS + ["backup", "haproxy"], 300)
        healthy = time.monotonic() - t0
        leader = ha.wait_settled(180)
        settled = time.monotonic() - t0
        log("up: healthy %.1f s, settled %.1f s (%s leads)" % (healthy, settled, leader))

        starts = []
        replica = [d for d in DBS if d != leader][0]
        for i in range(args.trials):
            sh(["docker", "stop", s.container(replica)], timeout=120)
            t = time.monotonic()
            sh(["docker", "start", s.container(replica)])
            s.wait_healthy([replica], 120)
            starts.append(time.monotonic() - t)
            wait_for(lambda: replica in ha.streaming(leader), 120, "%s streaming" % replica, interval=0.5)
            log("start %d/%d: %s healthy %.2f s after `docker start`" % (i + 1, args.trials, replica, starts[-1]))

        direct = s.port(leader, 5432)
        pgbench(ha.password, ha.rw, ["-i", "-q", "-s", str(args.scale)])
        run = ["-S", "-c", "8", "-j", "2", "-T", str(args.seconds)]
        pgbench(ha.password, ha.rw, ["-S", "-c", "8", "-j", "2", "-T", "5"])
        results = {"rw": [], "direct": []}
        for r in range(args.rounds):
            order = [("rw", ha.rw), ("direct", direct)]
            if r % 2:
                order.reverse()
            for name, port in order:
                results[name].append(tps(pgbench(ha.password, port, run)))
                log("pgbench round %d %s: %.0f tps" % (r + 1, name, results[name][-1]))

    print()
    print("images (MB, docker image inspect)")
    for t, mb in sizes.items():
        print("  flotilla/%-12s %6.0f" % (t + ":dev", mb))
    print("  postgres:15 (official) %4d   (Docker Hub's figure; no registry here)" % OFFICIAL_POSTGRES_15_MB)
    print("stacks/ha up: every service healthy %.1f s, a leader with two streaming replicas %.1f s"
          % (healthy, settled))
    print("docker start of a replica on its volume to healthy: median %.2f s, max %.2f s over %d"
          % (statistics.median(starts), max(starts), len(starts)))
    rw, dr = statistics.median(results["rw"]), statistics.median(results["direct"])
    print("pgbench -S, 8 clients, %d s, median of %d: rw port %.0f tps, leader direct %.0f tps (rw %.0f %%)"
          % (args.seconds, args.rounds, rw, dr, 100 * rw / dr))


if __name__ == "__main__":
    main()
