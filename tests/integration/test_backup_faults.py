#!/usr/bin/python3
"""The backup sidecar under faults, on a local cluster whose repository is a
filesystem of its own (a 48 MB tmpfs the test mounts):

  full      the repository fills up while the primary writes: archiving
            fails with a clear error, the primary goes on taking writes,
            its pg_wal keeps what is not archived; given room again,
            archiving resumes by itself and a drill finds every segment
  backup    the sidecar killed (SIGKILL) during a base backup: its
            pg_basebackup dies with it, the half backup is never listed,
            and the next start removes it
  archive   the sidecar killed while the members archive: their
            archive_command fails until it is back, then catches up; no
            segment is lost (a drill walks them all and replays to the end)
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Cluster, Writer, check, log, pid_alive, processes_under, query, run_test,  # noqa: E402
                     wait_for)


def flotilla(c, *args, check_rc=True, timeout=600):
    cmd = ["runuser", "-u", "postgres", "--", c.flotilla] + list(args)
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    out, err = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
    if check_rc and r.returncode != 0:
        raise AssertionError("`%s` exited %d:\n%s%s" % (" ".join(cmd), r.returncode, out, err))
    return r.returncode, out, err


def listed(c):
    return json.loads(flotilla(c, "backup", "list", "--dir", c.dir, "--json")[1])


def archiver(dsn):
    return query(dsn, "SELECT archived_count, failed_count, coalesce(last_archived_wal, ''), "
                      "coalesce(last_failed_wal, '') FROM pg_stat_archiver")[0]


def pg_wal_bytes(dsn):
    return query(dsn, "SELECT sum(size) FROM pg_ls_waldir()")[0][0]


def drill_passes(c, what):
    rc, out, err = flotilla(c, "drill", "--dir", c.dir, "--json", check_rc=False)
    report = json.loads(out) if out.strip().startswith("{") else {}
    check(rc == 0 and report.get("verdict") == "pass", "%s: the drill failed (exit %d): %s%s" % (what, rc, out, err))
    return report


def sidecar_log(c):
    with open(c.backup_info()["log"], errors="replace") as f:
        return f.read()


def full(c, dsn, repo):
    log("full: the repository (48 MB) fills up while the primary writes")
    query(dsn, "CREATE TABLE it_fill (id serial, payload text)")
    Writer.create_table(dsn, "it_full")
    w = Writer(dsn, "it_full")
    w.start()
    t0 = time.monotonic()
    # Incompressible rows, a segment switch after each batch, until the sidecar reports the disk full.
    while "no space left" not in sidecar_log(c):
        check(time.monotonic() - t0 < 180, "the 48 MB repository never filled up")
        query(dsn, "INSERT INTO it_fill (payload) SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 60) "
                   "g, generate_series(1, 2000) h GROUP BY h", timeout=60)
        query(dsn, "SELECT pg_switch_wal()")
    line = [l for l in sidecar_log(c).splitlines() if "no space left" in l][0]
    log("  the sidecar: %s" % line.split(" ", 2)[2][:220])
    wait_for(lambda: archiver(dsn)[1] > 0, 60, "archive_command to report the failure to PostgreSQL")
    before = w.acked_count()
    time.sleep(3)
    check(w.acked_count() > before, "the primary stopped taking writes while the repository was full")
    a = archiver(dsn)
    wal = pg_wal_bytes(dsn)
    log("  the primary takes writes (%d acknowledged); archiver: %d archived, %d failed (last failed %s); pg_wal %.0f MB"
        % (w.acked_count(), a[0], a[1], a[3], wal / 1048576))
    log("  room again (remount at 1 GB)")
    subprocess.run(["mount", "-o", "remount,size=1g", repo], check=True)
    seg = query(dsn, "SELECT pg_walfile_name(pg_switch_wal())")[0][0]
    t1 = time.monotonic()
    wait_for(lambda: archiver(dsn)[2] >= seg, 180, "archiving to resume by itself through %s" % seg)
    log("  archiving resumed by itself: %s archived %.1f s after the remount" % (seg, time.monotonic() - t1))
    w.stop()
    report = drill_passes(c, "after the full repository")
    log("  a drill walks every segment from the backup to %s and replays them (RPO %d bytes)"
        % (report["archive"]["newest_segment"], report["rpo_bytes"]))
    query(dsn, "DROP TABLE it_fill")


def killed_during_backup(c, dsn):
    log("backup: the sidecar killed during a base backup")
    query(dsn, "CREATE TABLE it_bulk AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 1500000) g", timeout=120)
    info = c.backup_info()
    base = open(info["config"]).read()
    with open(info["config"], "w") as f:
        f.write(base + "max_rate = 4096;\n")
    os.kill(info["pid"], signal.SIGHUP)
    time.sleep(1)
    _, out, _ = flotilla(c, "backup", "now", "--dir", c.dir, "--no-wait")
    label = out.strip()
    st = wait_for(lambda: (lambda s: s if s["running"] and s["running"]["bytes_done"] > 0 else None)(
        json.loads(c.backup_api("GET", "/status")[1])), 60, "the backup to be under way")
    partial = os.path.join(c.repo, "backups", label + ".partial")
    check(os.path.isdir(partial), "no %s while the backup runs" % partial)
    running = lambda: [int(x) for x in subprocess.run(["pgrep", "-f", "pg_basebackup.*" + label],  # noqa: E731
                                                       stdout=subprocess.PIPE).stdout.split()]
    bb = running()
    log("  %s under way (%d of %d MB, pg_basebackup pids %s); kill -9 the sidecar %d" % (
        label, st["running"]["bytes_done"] >> 20, st["running"]["bytes_total"] >> 20, bb, info["pid"]))
    os.kill(info["pid"], signal.SIGKILL)
    wait_for(lambda: not pid_alive(info["pid"]), 10, "the sidecar to die")
    with open(info["config"], "w") as f:
        f.write(base)
    c.start_backup_sidecar()
    wait_for(lambda: not running(), 15, "no pg_basebackup of %s left once the sidecar is back" % label)
    labels = [b["label"] for b in listed(c)]
    check(label not in labels, "the half backup %s is listed: %s" % (label, labels))
    check(not os.path.exists(partial), "%s is still there after the restart" % partial)
    check("backups a stop cut short" in sidecar_log(c), "the restarted sidecar did not say it removed the half backup")
    log("  the restarted sidecar stopped what was left of its pg_basebackup and removed %s.partial; listed: %s"
        % (label, ", ".join(labels)))
    query(dsn, "DROP TABLE it_bulk")


def killed_during_archiving(c, dsn):
    log("archive: the sidecar killed while the members archive")
    Writer.create_table(dsn, "it_arch")
    query(dsn, "CREATE TABLE it_arch_bulk (v int)")
    w = Writer(dsn, "it_arch")
    w.start()
    stop = time.monotonic() + 12
    info = c.backup_info()
    killed_at = None
    while time.monotonic() < stop:
        query(dsn, "INSERT INTO it_arch_bulk SELECT g FROM generate_series(1, 20000) g")
        query(dsn, "SELECT pg_switch_wal()")
        if killed_at is None and time.monotonic() > stop - 9:
            os.kill(info["pid"], signal.SIGKILL)
            killed_at = time.monotonic()
            log("  kill -9 the sidecar %d mid-archiving" % info["pid"])
    failed_before = archiver(dsn)[1]
    check(failed_before > 0, "archive_command never failed while the sidecar was down")
    c.start_backup_sidecar()
    seg = query(dsn, "SELECT pg_walfile_name(pg_switch_wal())")[0][0]
    wait_for(lambda: archiver(dsn)[2] >= seg, 120, "archiving to catch up through %s" % seg)
    w.stop()
    a = archiver(dsn)
    log("  archive_command failed %d times while it was down; caught up through %s after the restart" % (a[1], seg))
    report = drill_passes(c, "after the kill")
    log("  a drill finds every segment and replays to %s (RPO %d bytes): none lost"
        % (report["recovery_point"]["lsn"], report["rpo_bytes"]))


def main():
    top = tempfile.mkdtemp(prefix="flotilla-it-repo-")
    os.chmod(top, 0o755)  # the sidecar runs as postgres
    repo = os.path.join(top, "repo")
    os.mkdir(repo)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m,mode=0755", "flotilla-it-repo", repo], check=True)
    try:
        with Cluster(nodes=2, backup=repo) as c:
            leader = c.wait_healthy(90)
            dsn = c.node(leader)["dsn"]
            wait_for(lambda: listed(c), 120, "the backup the sidecar takes after the bootstrap")
            # The drills' scratch copy off the small repository.
            drills = os.path.join(top, "drill")
            os.mkdir(drills)
            subprocess.run(["chown", "postgres:postgres", drills], check=True)
            info = c.backup_info()
            with open(info["config"], "a") as f:
                f.write('drill = { dir = "%s"; };\n' % drills)
            os.kill(info["pid"], signal.SIGHUP)
            full(c, dsn, repo)
            killed_during_backup(c, dsn)
            killed_during_archiving(c, dsn)
    finally:
        subprocess.run(["umount", "-l", repo])
        subprocess.run(["rm", "-rf", top])


if __name__ == "__main__":
    run_test(main)
