#!/usr/bin/python3
"""A new cluster whose first node is a restore (`flotilla local up --restore-from
REPO`, bootstrap.restore_repo): cluster A runs with its backup sidecar; cluster B
starts from A's repository, to a point in time between two of A's commits.

  first node  B's leader restored A's backup rather than running initdb, replayed
              A's archive to the target and promoted on a new timeline: it holds
              exactly the rows committed before the target, and A's other tables
              with A's md5
  settings    the restore's recovery settings are gone from its
              postgresql.auto.conf once it leads (B's own govern)
  roles       B's replication role and superuser take B's passwords (its
              replica clones and streams with them)
  a cluster   B's replica streams from B's leader, a write on B reaches it, A is
              untouched, and B's own sidecar takes B's first backup
  refusals    a target without a zone, a directory that is no repository:
              refused by `local up`, naming why
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, log, query, run_test, wait_for  # noqa: E402
from test_backup import archived_through, checksums, flotilla, leader_dsn, listed, timeline  # noqa: E402


def refused(c, args, want):
    r = subprocess.run([c.flotilla, "local", "up", "--dir", os.path.join(c.top, "refused")] + args,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    out = r.stdout.decode(errors="replace")
    check(r.returncode != 0 and want in out, "`local up %s` exited %d, want a refusal naming %r:\n%s" % (
        " ".join(args), r.returncode, want, out))
    log("  refused: %s" % out.strip().splitlines()[0])


def main():
    with Cluster(nodes=1, backup=True) as a:
        a_leader = a.wait_healthy(90)
        dsn = leader_dsn(a)
        wait_for(lambda: listed(a), 120, "the backup A's sidecar takes after its bootstrap")
        query(dsn, "CREATE TABLE it_kept (id int PRIMARY KEY, payload text)")
        query(dsn, "INSERT INTO it_kept SELECT g, md5(g::text) FROM generate_series(1, 5000) g")
        _, out, _ = flotilla(a, "backup", "now", "--dir", a.dir)
        log("A: leader %s, backup %s in %s" % (a_leader, out.strip(), a.repo))
        query(dsn, "CREATE TABLE it_pitr (id int PRIMARY KEY)")
        stamps = []
        for i in range(1, 21):
            query(dsn, "INSERT INTO it_pitr VALUES (%d)" % i)
            stamps.append(float(query(dsn, "SELECT extract(epoch FROM clock_timestamp())")[0][0]))
            time.sleep(0.2)
        target = stamps[9] + 0.05
        target_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(target)) + (".%06dZ" % int((target % 1) * 1e6))
        archived_through(a, dsn)
        kept = checksums(dsn)["public.it_kept"]
        a_tl = timeline(dsn)
        a_sysid = query(dsn, "SELECT system_identifier FROM pg_control_system()")[0][0]

        log("refusals")
        refused(a, ["--restore-from", a.repo, "--restore-target", "2026-12-06 10:00:00"], "no time zone")
        refused(a, ["--restore-from", a.top], "is not a Flotilla backup repository")
        refused(a, ["--restore-target", target_text], "need --restore-from")

        log("B: two nodes from A's repository, to %s (between commits 10 and 11)" % target_text)
        t0 = time.monotonic()
        with Cluster(nodes=2, backup=True, extra_args=["--restore-from", a.repo, "--restore-target", target_text]) as b:
            leader = b.wait_healthy(120)
            log("  B ready %.1f s after local up began; leader %s" % (time.monotonic() - t0, leader))
            bdsn = leader_dsn(b)
            rows = [r[0] for r in query(bdsn, "SELECT id FROM it_pitr ORDER BY id")]
            check(rows == list(range(1, 11)), "B's leader holds it_pitr rows %s, want 1..10" % rows)
            got = checksums(bdsn)["public.it_kept"]
            check(got == kept, "B's it_kept differs from A's: %s, want %s" % (got, kept))
            log("  first node: exactly rows 1..10, it_kept %d rows with A's md5" % got[0])
            b_tl = timeline(bdsn)
            b_sysid = query(bdsn, "SELECT system_identifier FROM pg_control_system()")[0][0]
            check(b_tl > a_tl, "B's leader is on timeline %d, A's on %d: no promotion after the restore" % (b_tl, a_tl))
            check(b_sysid == a_sysid, "B's system identifier %s is not A's %s" % (b_sysid, a_sysid))
            log("  timeline %d (A: %d), A's system identifier %s" % (b_tl, a_tl, b_sysid))
            agent_log = b.read_agent_log(leader)
            check("bootstrap: restoring" in agent_log and "recovery settings removed" in agent_log,
                  "B's leader's log does not tell the restore and its settings' removal")
            data_dir = [n for n in b.info["nodes"] if n["name"] == leader][0]["data_dir"]
            with open(os.path.join(data_dir, "postgresql.auto.conf")) as f:
                auto = f.read()
            check("flotilla-backup restore" not in auto and "recovery_target" not in auto,
                  "the restore's settings are still in postgresql.auto.conf:\n%s" % auto)
            check(query(bdsn, "SHOW restore_command")[0][0].find(a.repo) < 0,
                  "B's restore_command still reads A's repository")
            log("  settings: postgresql.auto.conf holds none of the restore's; restore_command is B's own")

            query(bdsn, "INSERT INTO it_pitr VALUES (1000)")
            replica = [n["name"] for n in b.info["nodes"] if n["name"] != leader][0]
            wait_for(lambda: query(b.node(replica)["dsn"], "SELECT count(*) FROM it_pitr WHERE id = 1000")[0][0] == 1,
                     30, "B's write on %s's replica %s" % (leader, replica))
            check(b.streams_from(replica, leader), "%s does not stream from %s" % (replica, leader))
            check(len(query(dsn, "SELECT id FROM it_pitr")) == 20, "A's it_pitr changed")
            log("  a cluster: %s streams from %s with B's passwords, B's write reached it, A untouched" % (
                replica, leader))
            boot = wait_for(lambda: [x for x in listed(b) if x["timeline"] == b_tl], 180,
                            "B's sidecar's first backup on timeline %d" % b_tl)
            log("  B's own sidecar took backup %s from %s" % (boot[0]["label"], boot[0]["source"]))


if __name__ == "__main__":
    run_test(main)
