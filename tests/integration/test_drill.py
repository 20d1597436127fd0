#!/usr/bin/python3
"""Restore drills (`flotilla drill`) on a local cluster with the backup
sidecar: a good backup passes, with its report, while a writer runs: the
tables of drill.tables counted on the replica (its replay paused at one
point) equal the restored copy's, recovered to exactly that point; a copy
that lacks a row fails naming the table; the same backup with one
byte flipped inside a data file fails in the verify phase naming the file;
with a WAL segment missing from the archive the sidecar reports the gap
(/metrics, /status) and the drill fails naming the segment;
a configured check that does not hold fails the drill too. Each verdict
shows in the sidecar's /metrics, and a drill leaves no process and no
scratch directory behind."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, Writer, check, log, processes_under, query, run_test, wait_for  # noqa: E402

PG_BIN = "/usr/lib/postgresql/15/bin"


def flotilla(c, *args, check_rc=True, timeout=600):
    cmd = ["runuser", "-u", "postgres", "--", c.flotilla] + list(args)
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    out, err = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
    if check_rc and r.returncode != 0:
        raise AssertionError("`%s` exited %d:\n%s%s" % (" ".join(cmd), r.returncode, out, err))
    return r.returncode, out, err


def metric(c, name):
    info = json.load(open(os.path.join(c.dir, "cluster.json")))
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % info["backup"]["api_port"], timeout=5).read().decode()
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("no %s in /metrics" % name)


def ppid(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def backup_status(c):
    info = json.load(open(os.path.join(c.dir, "cluster.json")))
    token = open(info["backup"]["token_file"]).read().strip()
    req = urllib.request.Request("http://127.0.0.1:%d/status" % info["backup"]["api_port"],
                                 headers={"Authorization": "Bearer " + token})
    return json.loads(urllib.request.urlopen(req, timeout=5).read())


def drill(c, want_pass):
    rc, out, err = flotilla(c, "drill", "--dir", c.dir, "--json", check_rc=False)
    report = json.loads(out) if out.strip().startswith("{") else {}
    if want_pass:
        check(rc == 0 and report.get("verdict") == "pass", "the drill failed (exit %d): %s%s" % (rc, out, err))
    else:
        check(rc == 11 and report.get("verdict") == "fail", "the drill did not fail (exit %d): %s%s" % (rc, out, err))
    check(not processes_under(os.path.join(c.repo, ".drill")), "the drill left processes running")
    check(not os.path.exists(os.path.join(c.repo, ".drill")), "the drill left its scratch directory")
    return report


def failed_phase(report):
    bad = [p for p in report["phases"] if not p["ok"]]
    check(len(bad) == 1, "want one failed phase, got %s" % report["phases"])
    return bad[0]["name"], bad[0]["error"]


_base_config = {}


def set_backup_setting(c, text):
    """The sidecar's configuration file as `local up` wrote it plus text, reloaded (SIGHUP)."""
    info = json.load(open(os.path.join(c.dir, "cluster.json")))
    path = info["backup"]["config"]
    if path not in _base_config:
        _base_config[path] = open(path).read()
    with open(path, "w") as f:
        f.write(_base_config[path] + text + "\n")
    log_path = info["backup"]["log"]
    before = open(log_path).read().count("configuration reloaded")
    os.kill(info["backup"]["pid"], 1)
    wait_for(lambda: open(log_path).read().count("configuration reloaded") > before, 10,
             "the sidecar to reload its settings")


def main():
    with Cluster(nodes=2, backup=True) as c:
        leader = c.wait_healthy(90)
        dsn = c.node(leader)["dsn"]
        wait_for(lambda: json.loads(flotilla(c, "backup", "list", "--dir", c.dir, "--json")[1]), 120,
                 "the backup the sidecar takes after the bootstrap")
        env = dict(os.environ, PGPASSFILE=os.path.join(c.dir, "pgpass"))
        subprocess.run([PG_BIN + "/pgbench", "-i", "-s", "2", "-q", "-h", "127.0.0.1", "-p",
                        str(c.node(leader)["pg_port"]), "-U", "postgres", "postgres"], check=True, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, out, _ = flotilla(c, "backup", "now", "--dir", c.dir)
        label = out.strip()
        # WAL after the backup: three segments, each archived.
        for i in range(3):
            query(dsn, "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) SELECT 1, 1, g, 0, now() "
                       "FROM generate_series(1, 2000) g")
            seg = query(dsn, "SELECT pg_walfile_name(pg_switch_wal())")[0][0]
        wait_for(lambda: os.path.exists(os.path.join(c.repo, "wal", seg[:16], seg)), 60, "segment %s archived" % seg)
        set_backup_setting(c, 'drill = { tables = [ "public.pgbench_accounts", "pgbench_history" ]; '
                              'checks = [ "SELECT count(*) = 200000 FROM pgbench_accounts" ]; };')

        log("a good backup, a writer running")
        Writer.create_table(dsn, "it_drill_rows")
        set_backup_setting(c, 'drill = { tables = [ "public.pgbench_accounts", "pgbench_history", "it_drill_rows" ]; '
                              'checks = [ "SELECT count(*) = 200000 FROM pgbench_accounts" ]; };')
        w = Writer(dsn, "it_drill_rows", interval=0.005)
        w.start()
        try:
            wait_for(lambda: w.acked_count() > 100, 30, "the writer's first 100 rows")
            report = drill(c, True)
        finally:
            w.stop()
        log("  passed; the report:\n" + json.dumps(report, indent=2, sort_keys=True))
        check(report["row_counts"]["public.pgbench_accounts"] == 200000, "row counts %s" % report["row_counts"])
        src = report.get("source", {})
        replica = [n["name"] for n in c.info["nodes"] if n["name"] != leader][0]
        check(src.get("node") == replica and src.get("role") == "replica",
              "the tables were not counted on the replica %s: %s" % (replica, src))
        check(src.get("row_counts") == report["row_counts"], "counts differ: source %s, restored %s" % (
            src.get("row_counts"), report["row_counts"]))
        check(report["recovery_point"]["lsn"] == src["lsn"], "the copy recovered to %s, the tables were counted at %s"
              % (report["recovery_point"]["lsn"], src["lsn"]))
        moving = report["row_counts"]["it_drill_rows"]
        check(0 < moving < w.acked_count(), "it_drill_rows: %d rows at the point, %d acknowledged by the end" % (
            moving, w.acked_count()))
        check(query(c.node(replica)["dsn"], "SELECT pg_get_wal_replay_pause_state()")[0][0] == "not paused",
              "replay on %s is still paused after the drill" % replica)
        log("  counted on %s at %s: %s, equal in the copy (the writer had %d rows acknowledged by the end)" % (
            src["node"], src["lsn"], report["row_counts"], w.acked_count()))

        check(report["rpo_bytes"] < 16 * 1024 * 1024, "the drill stopped %d bytes before the archive's end" % report["rpo_bytes"])
        check(metric(c, "flotilla_drill_last_passed") == 1, "flotilla_drill_last_passed is not 1 after a pass")

        bdir = os.path.join(c.repo, "backups", label)
        log("one byte flipped in a data file of backup %s" % label)
        rel = query(dsn, "SELECT pg_relation_filepath('pgbench_accounts')")[0][0]
        original = os.path.join(c.top, "base.tar.zst.orig")
        shutil.copy2(os.path.join(bdir, "base.tar.zst"), original)
        tar = os.path.join(c.top, "base.tar")
        subprocess.run(["zstd", "-q", "-d", "-f", os.path.join(bdir, "base.tar.zst"), "-o", tar], check=True)
        with tarfile.open(tar) as t:
            member = t.getmember(rel)
            offset = member.offset_data + 8192 + 100
        with open(tar, "r+b") as f:
            f.seek(offset)
            b = f.read(1)
            f.seek(offset)
            f.write(bytes([b[0] ^ 0x01]))
        subprocess.run(["zstd", "-q", "-f", "--rm", tar, "-o", os.path.join(bdir, "base.tar.zst")], check=True)
        report = drill(c, False)
        phase, error = failed_phase(report)
        log("  failed in phase %s: %s" % (phase, error))
        check(phase == "verify" and rel in error, "the drill did not name %s in its verify phase: %s: %s" % (rel, phase, error))
        check(metric(c, "flotilla_drill_last_passed") == 0, "flotilla_drill_last_passed is not 0 after a failure")
        rc, out, err = flotilla(c, "backup", "verify", "--dir", c.dir, "--backup", label, check_rc=False)
        check(rc == 11 and rel in out, "backup verify did not name %s (exit %d): %s%s" % (rel, rc, out, err))
        log("  flotilla backup verify: %s" % out.strip()[:200])
        shutil.move(original, os.path.join(bdir, "base.tar.zst"))
        subprocess.run(["chown", "postgres:postgres", os.path.join(bdir, "base.tar.zst")], check=True)

        log("a WAL segment missing from the archive")
        start = report_lsn = None
        b = json.loads(flotilla(c, "backup", "list", "--dir", c.dir, "--json")[1])[-1]
        stop_seg = int(b["stop_lsn"].split("/")[0], 16) * 256 + int(b["stop_lsn"].split("/")[1], 16) // (16 * 1024 * 1024)
        victim = "%08X%08X%08X" % (b["timeline"], (stop_seg + 1) // 256, (stop_seg + 1) % 256)
        vpath = os.path.join(c.repo, "wal", victim[:16], victim)
        check(os.path.exists(vpath), "%s is not archived (the archive: %s)" % (victim, os.listdir(os.path.dirname(vpath))))
        os.rename(vpath, vpath + ".aside")
        t_gap = time.monotonic()
        wait_for(lambda: metric(c, "flotilla_wal_archive_gap") == 1, 60, "the sidecar to report the gap at %s" % victim)
        gap_status = backup_status(c)["wal_gap"]
        check(gap_status == victim, "GET /status says the gap is at %r, want %s" % (gap_status, victim))
        log("  the sidecar reported the gap at %s after %.1f s (/metrics, /status)" % (victim, time.monotonic() - t_gap))
        report = drill(c, False)
        phase, error = failed_phase(report)
        log("  failed in phase %s: %s" % (phase, error))
        check(phase == "wal" and victim in error, "the drill did not name %s in its wal phase: %s: %s" % (victim, phase, error))
        rc, out, err = flotilla(c, "backup", "verify", "--dir", c.dir, check_rc=False)
        check(rc == 11 and victim in out, "backup verify did not name %s (exit %d): %s%s" % (victim, rc, out, err))
        os.rename(vpath + ".aside", vpath)
        wait_for(lambda: metric(c, "flotilla_wal_archive_gap") == 0, 60, "the sidecar to clear the gap at %s" % victim)
        del start, report_lsn
        rc, out, err = flotilla(c, "backup", "verify", "--dir", c.dir, check_rc=False)
        check(rc == 0 and out.count(" ok: ") == len(json.loads(flotilla(c, "backup", "list", "--dir", c.dir, "--json")[1])),
              "backup verify of the whole repository: exit %d, %s%s" % (rc, out, err))
        log("  flotilla backup verify, every backup whole again:\n    " + out.strip().replace("\n", "\n    "))

        log("a copy that lacks a row")
        set_backup_setting(c, 'drill = { tables = [ "it_drill_rows" ]; checks = [ '
                              '"WITH gone AS (DELETE FROM it_drill_rows WHERE id = 1 RETURNING 1) SELECT true" ]; };')
        report = drill(c, False)
        phase, error = failed_phase(report)
        log("  failed in phase %s: %s" % (phase, error))
        check(phase == "row_counts" and "it_drill_rows" in error and replica in error,
              "the difference was not named: %s: %s" % (phase, error))
        set_backup_setting(c, 'drill = { tables = [ "public.pgbench_accounts", "pgbench_history" ]; '
                              'checks = [ "SELECT count(*) = 200000 FROM pgbench_accounts" ]; };')

        log("a check that does not hold")
        set_backup_setting(c, 'drill = { checks = [ "SELECT count(*) = 1 FROM pgbench_branches WHERE bid = 99" ]; };')
        report = drill(c, False)
        phase, error = failed_phase(report)
        log("  failed in phase %s: %s" % (phase, error))
        check(phase == "checks" and "bid = 99" in error, "the failing check was not named: %s: %s" % (phase, error))

        log("and a pass again once the checks hold")
        set_backup_setting(c, 'drill = { checks = [ "SELECT true" ]; };')
        drill(c, True)
        runs = (metric(c, 'flotilla_drill_runs_total{result="pass"}'), metric(c, 'flotilla_drill_runs_total{result="fail"}'))
        log("  drills by result: %d passed, %d failed" % runs)
        check(runs == (2, 4), "flotilla_drill_runs_total says %s, want 2 passed and 4 failed" % (runs,))

        log("a drill killed while replay on the replica is paused for its count: the guard resumes replay")
        query(dsn, "CREATE VIEW it_slow AS SELECT 1 AS one FROM pg_sleep(60)")
        set_backup_setting(c, 'drill = { tables = [ "it_slow" ]; };')
        rdsn = c.node(replica)["dsn"]
        p = subprocess.Popen(["runuser", "-u", "postgres", "--", c.flotilla, "drill", "--dir", c.dir],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: query(rdsn, "SELECT pg_get_wal_replay_pause_state()")[0][0] == "paused", 60,
                     "the drill to pause replay on %s" % replica)
            found = [pid for pid, cmd in processes_under("/") if "flotilla-backup" in cmd and " drill " in cmd + " "]
            # The drill itself, not its guard (a child of it, in a session of its own): as the sidecar's stop
            # does, SIGKILL to the drill's process group.
            drills = [pid for pid in found if ppid(pid) not in found]
            check(len(drills) == 1, "flotilla-backup drill processes: %s, of which not children: %s" % (found, drills))
            os.killpg(os.getpgid(drills[0]), signal.SIGKILL)
            t0 = time.monotonic()
            wait_for(lambda: query(rdsn, "SELECT pg_get_wal_replay_pause_state()")[0][0] == "not paused", 15,
                     "replay on %s resumed by the guard" % replica)
            log("  the drill's process group killed (SIGKILL): replay on %s resumed %.1f s later" % (
                replica, time.monotonic() - t0))
        finally:
            p.wait(120)


if __name__ == "__main__":
    run_test(main)
