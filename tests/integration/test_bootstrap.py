#!/usr/bin/python3
"""A 3-node cluster bootstraps: one primary, two streaming replicas with
active physical slots, data checksums on, cluster.json complete, `local
status` succeeds and `local down` leaves no process behind."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, log, processes_under, pid_alive, query, run_test, wait_for  # noqa: E402

NODE_FIELDS = ("name", "pg_port", "api_port", "data_dir", "agent_pid", "dsn", "config", "log")


def check_cluster_json(c):
    info = c.info
    for k in ("scope", "etcd", "nodes", "rw_dsn", "ro_dsn"):
        check(k in info, "cluster.json lacks %r: %s" % (k, sorted(info)))
    check(isinstance(info["etcd"].get("endpoints"), list) and info["etcd"]["endpoints"],
          "cluster.json etcd.endpoints is not a non-empty list: %r" % info["etcd"])
    check(info["etcd"]["endpoints"][0] == "http://127.0.0.1:%d" % c.base_port,
          "etcd endpoint %r is not on the base port %d" % (info["etcd"]["endpoints"][0], c.base_port))
    check(isinstance(info["etcd"].get("pid"), int) and pid_alive(info["etcd"]["pid"]),
          "cluster.json etcd.pid %r is not a running process" % info["etcd"].get("pid"))
    check(len(info["nodes"]) == 3, "cluster.json has %d nodes, want 3" % len(info["nodes"]))
    for i, nd in enumerate(info["nodes"], start=1):
        for k in NODE_FIELDS:
            check(k in nd, "cluster.json nodes[%d] lacks %r: %s" % (i - 1, k, sorted(nd)))
        name = nd["name"]
        check(name == "n%d" % i, "node %d is named %r, want n%d" % (i, name, i))
        check(nd["pg_port"] == c.base_port + 10 * i, "%s pg_port %r, want base+10*%d = %d" % (name, nd["pg_port"], i, c.base_port + 10 * i))
        check(pid_alive(nd["agent_pid"]), "%s agent_pid %r is not running" % (name, nd["agent_pid"]))
        ndir = os.path.join(c.dir, name)
        for rel, isdir in (("flotilla.conf", False), ("agent.log", False), ("data", True), ("run", True)):
            p = os.path.join(ndir, rel)
            check(os.path.isdir(p) if isdir else os.path.isfile(p), "%s is missing" % p)
        check(os.path.realpath(nd["data_dir"]) == os.path.realpath(os.path.join(ndir, "data")),
              "%s data_dir %r is not %s/data" % (name, nd["data_dir"], ndir))
    # rw_dsn reaches the primary; ro_dsn works as is.
    rows = query(c.rw_dsn, "SELECT pg_is_in_recovery()")
    check(rows[0][0] is False, "rw_dsn reached a server in recovery")
    query(c.ro_dsn, "SELECT 1")


def main():
    with Cluster(nodes=3) as c:
        check_cluster_json(c)
        roles = c.roles()
        log("roles: %s" % roles)
        primaries = [n for n, r in roles.items() if r == "primary"]
        replicas = [n for n, r in roles.items() if r == "replica"]
        check(len(primaries) == 1, "want exactly one primary, roles are %s" % roles)
        check(len(replicas) == 2, "want two replicas, roles are %s" % roles)
        ld = primaries[0]
        check(c.leader() == ld, "the primary %s does not accept a write" % ld)
        key = c.leader_key()
        check(key == ld, "etcd leader key is %r, the primary is %s" % (key, ld))
        lport = c.node(ld)["pg_port"]

        for r in replicas:
            wr = c.wal_receiver(r)
            log("%s wal receiver: %s" % (r, wr))
            check(wr is not None, "%s has no wal receiver" % r)
            check(wr[0] == "streaming", "%s wal receiver status is %r, want streaming" % (r, wr[0]))
            check(int(wr[1]) == lport, "%s streams from port %s, the leader %s is on %d" % (r, wr[1], ld, lport))
            check(wr[2], "%s streams without a replication slot (pg_stat_wal_receiver.slot_name is empty)" % r)
            slot = c.q(ld, "SELECT slot_type, active FROM pg_replication_slots WHERE slot_name = %s", (wr[2],))
            check(slot, "replica %s uses slot %r, which does not exist on the leader %s" % (r, wr[2], ld))
            check(slot[0][0] == "physical" and slot[0][1] is True,
                  "slot %r of %s on the leader is %s/active=%s, want physical/active" % (wr[2], r, slot[0][0], slot[0][1]))

        slots = c.q(ld, "SELECT slot_name, slot_type, active FROM pg_replication_slots ORDER BY 1")
        log("slots on %s: %s" % (ld, slots))

        for n in c.names():
            cs = c.q(n, "SHOW data_checksums")[0][0]
            check(cs == "on", "%s: data_checksums = %s, want on" % (n, cs))

        c.q(ld, "CREATE TABLE it_boot (id int PRIMARY KEY, note text)")
        c.q(ld, "INSERT INTO it_boot VALUES (1, 'written on the leader')")
        for r in replicas:
            wait_for(lambda r=r: c.q(r, "SELECT note FROM it_boot WHERE id = 1") == [("written on the leader",)],
                     15, "the leader's row on %s" % r)
        log("row replicated to %s" % replicas)

        st = subprocess.run([c.flotilla, "local", "status", "--dir", c.dir], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, timeout=60)
        log("local status (exit %d):\n%s" % (st.returncode, st.stdout.decode(errors="replace")))
        check(st.returncode == 0, "`flotilla local status` exited %d" % st.returncode)
        sj = subprocess.run([c.flotilla, "local", "status", "--dir", c.dir, "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, timeout=60)
        check(sj.returncode == 0, "`flotilla local status --json` exited %d: %s" % (sj.returncode, sj.stderr.decode(errors="replace")))
        try:
            json.loads(sj.stdout.decode())
        except ValueError as e:
            raise AssertionError("`local status --json` printed invalid JSON (%s):\n%s" % (e, sj.stdout.decode(errors="replace")))

        # down: nothing of the cluster may be left running.
        pids = [c.info["etcd"]["pid"]] + [c.agent_pid(n) for n in c.names()] + \
               [c.postmaster_pid(n) for n in c.names()]
        d = subprocess.run([c.flotilla, "local", "down", "--dir", c.dir], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=120)
        log("local down (exit %d):\n%s" % (d.returncode, d.stdout.decode(errors="replace")))
        check(d.returncode == 0, "`flotilla local down` exited %d" % d.returncode)
        alive = [p for p in pids if p and pid_alive(p)]
        left = processes_under(c.dir)
        check(not alive, "pids still running after local down: %s" % alive)
        check(not left, "processes of the cluster left after local down: %s" % left)
        for n in c.names():
            check(os.path.isdir(c.node(n)["data_dir"]), "local down (without --purge) removed %s" % c.node(n)["data_dir"])
        p = subprocess.run([c.flotilla, "local", "down", "--dir", c.dir, "--purge"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=120)
        check(p.returncode == 0, "`flotilla local down --purge` on a stopped cluster exited %d:\n%s" % (p.returncode, p.stdout.decode(errors="replace")))
        check(not os.path.exists(c.dir), "local down --purge left %s" % c.dir)


if __name__ == "__main__":
    run_test(main)
