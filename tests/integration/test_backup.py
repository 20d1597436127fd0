#!/usr/bin/python3
"""The backup sidecar beside a local cluster (`flotilla local up --backup`):
every node archives its WAL there, `flotilla backup now` takes a base backup
from a streaming replica, and `flotilla restore` lays it into a new data
directory that PostgreSQL, started on it, replays and promotes:

  identical  a restore to the end of the archive holds exactly the
             leader's data: the md5 of every table matches
  pitr       a restore to a time between two commits holds exactly the rows
             committed before it
  failover   after a crash failover the archive goes on (the new timeline,
             its history file), and a restore reaches the newest timeline
  refusals   a restore over a non-empty directory, a time without a zone,
             a target older than every backup: refused, naming why
"""
import json
import os
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, free_port, log, query, run_test, wait_for  # noqa: E402

PG_BIN = "/usr/lib/postgresql/15/bin"


def flotilla(c, *args, user="postgres", timeout=300, check_rc=True):
    cmd = ["runuser", "-u", user, "--", c.flotilla] + list(args)
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    out, err = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
    if check_rc and r.returncode != 0:
        raise AssertionError("`%s` exited %d:\n%s%s" % (" ".join(cmd), r.returncode, out, err))
    return r.returncode, out, err


def leader_dsn(c):
    return c.node(c.leader())["dsn"]


def checksums(dsn):
    """md5 of every user table's rows, in a stable order."""
    tables = [r[0] for r in query(dsn, "SELECT format('%I.%I', schemaname, relname) FROM pg_stat_user_tables "
                                       "ORDER BY 1")]
    return {t: query(dsn, "SELECT count(*), md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) "
                          "FROM %s x" % t, timeout=60)[0] for t in tables}


def archived_through(c, dsn):
    """Switches the WAL segment and waits until the archive holds it (from whichever member pushed it)."""
    seg = query(dsn, "SELECT pg_walfile_name(pg_switch_wal())")[0][0]
    repo_wal = os.path.join(c.repo, "wal", seg[:16], seg)
    wait_for(lambda: os.path.exists(repo_wal), 60, "segment %s in the repository" % seg)
    return seg


def restores(c):
    """TOP/restores, where postgres may make the restores' directories."""
    d = os.path.join(c.top, "restores")
    if not os.path.isdir(d):
        os.mkdir(d, 0o755)
        pw = __import__("pwd").getpwnam("postgres")
        os.chown(d, pw.pw_uid, pw.pw_gid)
    return d


class Restored:
    """A restore into TOP/name, started as postgres on a free port, until it is promoted."""

    def __init__(self, c, name, *target):
        self.c = c
        self.dir = os.path.join(restores(c), name)
        self.port = free_port()
        self.log = self.dir + ".log"
        t0 = time.monotonic()
        _, out, err = flotilla(c, "restore", "--dir", c.dir, "--target", self.dir, "--port", str(self.port), *target)
        self.label = out.strip()
        self.restore_seconds = time.monotonic() - t0
        log("  restored backup %s into %s in %.1f s%s" % (self.label, self.dir, self.restore_seconds,
                                                        " (" + " ".join(target) + ")" if target else ""))
        subprocess.run(["runuser", "-u", "postgres", "--", PG_BIN + "/pg_ctl", "-D", self.dir, "-l", self.log, "-o",
                        "-k %s" % self.dir, "-w", "-t", "120", "start"], check=True, stdout=subprocess.DEVNULL)
        self.dsn = "host=127.0.0.1 port=%d user=postgres dbname=postgres passfile=%s/pgpass" % (self.port, c.dir)
        wait_for(lambda: query(self.dsn, "SELECT NOT pg_is_in_recovery()")[0][0], 120,
                 "the restored copy %s to finish recovery and promote" % name)
        self.seconds = time.monotonic() - t0
        log("  %s recovered and promoted %.1f s after the restore began" % (name, self.seconds))

    def stop(self):
        subprocess.run(["runuser", "-u", "postgres", "--", PG_BIN + "/pg_ctl", "-D", self.dir, "-m", "immediate",
                        "-w", "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def pgbench(c, dsn_port, *args):
    env = dict(os.environ, PGPASSFILE=os.path.join(c.dir, "pgpass"))
    subprocess.run([PG_BIN + "/pgbench", "-h", "127.0.0.1", "-p", str(dsn_port), "-U", "postgres"] + list(args) +
                   ["postgres"], check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=300)


def status(c):
    info = json.load(open(os.path.join(c.dir, "cluster.json")))
    token = open(info["backup"]["token_file"]).read().strip()
    req = urllib.request.Request("http://127.0.0.1:%d/status" % info["backup"]["api_port"],
                                 headers={"Authorization": "Bearer " + token})
    return json.loads(urllib.request.urlopen(req, timeout=5).read())


def timeline(dsn):
    """A primary's timeline, from its current WAL file (the control file's lags until a checkpoint after a promotion)."""
    return int(query(dsn, "SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)")[0][0], 16)


def replicas_caught_up(c, leader):
    members = json.loads(flotilla(c, "list", "--dir", c.dir, "--json")[1])
    replicas = [m for m in members if m["member"] != leader]
    return len(replicas) == len(c.names()) - 1 and all(
        isinstance(m.get("lag_in_mb"), int) and m["lag_in_mb"] <= 1 for m in replicas)


def listed(c):
    return json.loads(flotilla(c, "backup", "list", "--dir", c.dir, "--json")[1])


def main():
    with Cluster(nodes=3, backup=True) as c:
        leader = c.wait_healthy(90)
        port = c.node(leader)["pg_port"]
        log("leader %s; repository %s" % (leader, c.repo))
        boot = wait_for(lambda: listed(c), 120, "the backup the sidecar takes after the bootstrap")
        log("  the bootstrap's backup %s (from %s)" % (boot[0]["label"], boot[0]["source"]))
        pgbench(c, port, "-i", "-s", "4", "-q")

        # The sidecar reads from the most caught-up replica within 16 MB of the
        # leader, as the members' records say; right after a bulk load they can
        # say more, and the leader is then the right source. Wait them out.
        wait_for(lambda: replicas_caught_up(c, leader), 60, "every replica's record within about 1 MB of the leader")
        log("backup now")
        _, out, err = flotilla(c, "backup", "now", "--dir", c.dir)
        label = out.strip()
        backups = listed(c)
        check([b["label"] for b in backups] == [boot[0]["label"], label],
              "backup list says %s, want the bootstrap's and %s" % ([b["label"] for b in backups], label))
        b = backups[-1]
        check(b["source"] != leader and b["source_role"] == "replica",
              "the backup was taken from %s (%s), not from a replica" % (b["source"], b["source_role"]))
        log("  %s from %s (%s): %.1f MB of data in %.1f MB, WAL %s to %s on timeline %d" % (
            label, b["source"], b["source_role"], b["data_size"] / 1048576, b["size"] / 1048576, b["start_lsn"],
            b["stop_lsn"], b["timeline"]))
        check(os.path.exists(os.path.join(c.repo, "backups", label, "backup_manifest")), "no backup_manifest")

        log("writes after the backup, then commits one a transaction around a point in time")
        pgbench(c, port, "-T", "3", "-c", "2")
        dsn = leader_dsn(c)
        query(dsn, "CREATE TABLE it_pitr (id int PRIMARY KEY, at timestamptz)")
        stamps = []
        for i in range(1, 21):
            conn = __import__("psycopg2").connect(dsn)
            conn.autocommit = True
            cur = conn.cursor()
            cur.execute("INSERT INTO it_pitr VALUES (%s, clock_timestamp())", (i,))
            cur.execute("SELECT extract(epoch FROM clock_timestamp())")
            stamps.append(float(cur.fetchone()[0]))
            conn.close()
            time.sleep(0.2)
        # After commit 10 was acknowledged, before commit 11 began.
        target = stamps[9] + 0.05
        target_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(target)) + (".%06dZ" % int((target % 1) * 1e6))
        archived_through(c, dsn)
        want = checksums(dsn)
        log("  %d tables on the leader; archive holds WAL through the switch" % len(want))

        log("identical: a restore to the end of the archive")
        r = Restored(c, "restored-latest")
        got = checksums(r.dsn)
        r.stop()
        check(got == want, "the restored data differ from the leader's:\n  leader   %s\n  restored %s" % (want, got))
        log("  every table's md5 matches the leader's (%s)" % ", ".join("%s %d rows" % (t, v[0]) for t, v in sorted(want.items())))

        log("pitr: a restore to %s, between commits 10 and 11" % target_text)
        r = Restored(c, "restored-pitr", "--time", target_text)
        rows = [x[0] for x in query(r.dsn, "SELECT id FROM it_pitr ORDER BY id")]
        r.stop()
        check(rows == list(range(1, 11)), "the point-in-time restore holds rows %s, want 1..10" % rows)
        log("  exactly rows 1..10")

        log("refusals")
        rc, _, err = flotilla(c, "restore", "--dir", c.dir, "--target", os.path.join(restores(c), "restored-latest"),
                              check_rc=False)
        check(rc == 8 and "not empty" in err, "a restore over a used directory: exit %d, %s" % (rc, err.strip()))
        rc, _, err = flotilla(c, "restore", "--dir", c.dir, "--target", os.path.join(restores(c), "x"), "--time",
                              "2026-01-01 10:00:00", check_rc=False)
        check(rc == 2 and "time zone" in err, "a time without a zone: exit %d, %s" % (rc, err.strip()))
        rc, _, err = flotilla(c, "restore", "--dir", c.dir, "--target", os.path.join(restores(c), "x"), "--time",
                              "2001-01-01T00:00:00Z", check_rc=False)
        check(rc == 10 and "no backup was complete" in err, "a target before every backup: exit %d, %s" % (rc, err.strip()))
        log("  a used directory (8), a time without a zone (2), a target before every backup (10)")

        log("failover: the leader killed, the archive follows the new timeline")
        c.kill_node(leader)
        new = wait_for(lambda: (lambda l: l if l not in (None, leader) else None)(c.leader()), 60, "a new leader")
        dsn = leader_dsn(c)
        tl = timeline(dsn)
        query(dsn, "CREATE TABLE it_after AS SELECT g AS id FROM generate_series(1, 1000) g")
        seg = archived_through(c, dsn)
        history = os.path.join(c.repo, "wal", "%08X.history" % tl)
        wait_for(lambda: os.path.exists(history), 30, "timeline %d's history file in the repository" % tl)
        log("  %s leads on timeline %d; the archive holds %s and %s" % (new, tl, os.path.basename(history), seg))
        # From the backup taken before the failover: replay crosses the timeline switch.
        r = Restored(c, "restored-after-failover", "--backup", label)
        n_after = query(r.dsn, "SELECT count(*) FROM it_after")[0][0]
        rtl = timeline(r.dsn)
        r.stop()
        check(n_after == 1000, "the restore after the failover holds %d rows of it_after, want 1000" % n_after)
        check(rtl == tl + 1, "the restored copy promoted to timeline %d, want %d (after the new leader's %d)" % (rtl, tl + 1, tl))
        promo = wait_for(lambda: [x for x in listed(c) if x["timeline"] == tl], 120,
                         "the backup the sidecar takes after the promotion to timeline %d" % tl)
        log("  the sidecar took backup %s of timeline %d after the promotion" % (promo[0]["label"], tl))
        st = status(c)
        log("  the restore replayed timeline %d to its end and promoted to %d; the sidecar archived %d files, "
            "%d failed" % (tl, rtl, st["wal_archived"], st["wal_failed"]))
        check(st["wal_failed"] == 0, "the sidecar refused or failed %d WAL files" % st["wal_failed"])


if __name__ == "__main__":
    run_test(main)
