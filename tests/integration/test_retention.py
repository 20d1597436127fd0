#!/usr/bin/python3
"""Retention (`retention.full`, `retention.window`) on a local cluster with
the backup sidecar: with full = 2, a third backup removes the oldest and the
WAL only it needed, keeps every segment the two others need, and each kept
backup still restores to the end of the archive with every row; the window
then keeps what the count alone would remove."""
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, free_port, log, query, run_test, wait_for  # noqa: E402

PG_BIN = "/usr/lib/postgresql/15/bin"


def flotilla(c, *args, check_rc=True, timeout=300):
    cmd = ["runuser", "-u", "postgres", "--", c.flotilla] + list(args)
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    out, err = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
    if check_rc and r.returncode != 0:
        raise AssertionError("`%s` exited %d:\n%s%s" % (" ".join(cmd), r.returncode, out, err))
    return r.returncode, out, err


def listed(c):
    return [b["label"] for b in json.loads(flotilla(c, "backup", "list", "--dir", c.dir, "--json")[1])]


def segments(c):
    out = set()
    for root, _, files in os.walk(os.path.join(c.repo, "wal")):
        out.update(f for f in files if len(f) == 24)
    return out


_base = {}


def reload_with(c, text):
    info = c.backup_info()
    if "conf" not in _base:
        _base["conf"] = open(info["config"]).read()
    with open(info["config"], "w") as f:
        f.write(_base["conf"] + text + "\n")
    before = open(info["log"]).read().count("configuration reloaded")
    os.kill(info["pid"], signal.SIGHUP)
    wait_for(lambda: open(info["log"]).read().count("configuration reloaded") > before, 10, "the reload")


def restore_rows(c, label, n):
    parent = os.path.join(c.top, "restores")
    if not os.path.isdir(parent):
        os.mkdir(parent)
        subprocess.run(["chown", "postgres:postgres", parent], check=True)
    target = os.path.join(parent, label)
    port = free_port()
    flotilla(c, "restore", "--dir", c.dir, "--target", target, "--backup", label, "--port", str(port))
    subprocess.run(["runuser", "-u", "postgres", "--", PG_BIN + "/pg_ctl", "-D", target, "-l", target + ".log", "-o",
                    "-k %s" % target, "-w", "-t", "120", "start"], check=True, stdout=subprocess.DEVNULL)
    dsn = "host=127.0.0.1 port=%d user=postgres dbname=postgres passfile=%s/pgpass" % (port, c.dir)
    try:
        wait_for(lambda: query(dsn, "SELECT NOT pg_is_in_recovery()")[0][0], 120, "%s to promote" % label)
        got = query(dsn, "SELECT count(*) FROM it_ret")[0][0]
    finally:
        subprocess.run(["runuser", "-u", "postgres", "--", PG_BIN + "/pg_ctl", "-D", target, "-m", "immediate", "-w",
                        "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    check(got == n, "backup %s restored holds %d rows of it_ret, want %d" % (label, got, n))


def main():
    with Cluster(nodes=2, backup=True) as c:
        leader = c.wait_healthy(90)
        dsn = c.node(leader)["dsn"]
        boot = wait_for(lambda: listed(c), 120, "the bootstrap's backup")
        reload_with(c, "retention = { full = 2; };")
        query(dsn, "CREATE TABLE it_ret (id int)")
        labels = list(boot)
        for i in range(2):
            query(dsn, "INSERT INTO it_ret SELECT g FROM generate_series(1, 1000) g")
            query(dsn, "SELECT pg_switch_wal()")
            time.sleep(1.1)  # labels are to the second
            labels.append(flotilla(c, "backup", "now", "--dir", c.dir)[1].strip())
        query(dsn, "INSERT INTO it_ret SELECT g FROM generate_series(1, 1000) g")
        seg = query(dsn, "SELECT pg_walfile_name(pg_switch_wal())")[0][0]
        wait_for(lambda: seg in segments(c), 60, "segment %s archived" % seg)
        kept = listed(c)
        log("backups taken %s; kept %s" % (labels, kept))
        check(kept == labels[1:], "retention.full = 2 kept %s, want %s" % (kept, labels[1:]))
        backups = json.loads(flotilla(c, "backup", "list", "--dir", c.dir, "--json")[1])
        oldest_start = backups[0]["start_lsn"]
        hi, lo = oldest_start.split("/")
        horizon = (int(hi, 16) << 32 | int(lo, 16)) // (16 * 1024 * 1024)
        have = sorted(segments(c))
        before = [s for s in have if int(s[8:16], 16) * 256 + int(s[16:], 16) < horizon]
        check(not before, "segments before the oldest kept backup's start (%s) remain: %s" % (oldest_start, before))
        needed = ["%08X%08X%08X" % (1, n // 256, n % 256) for n in range(horizon, int(seg[8:16], 16) * 256 + int(seg[16:], 16) + 1)]
        missing = [s for s in needed if s not in have]
        check(not missing, "segments the kept backups need were removed: %s" % missing)
        log("  the archive starts at %s, the oldest kept backup's start segment; %d segments through %s, none missing"
            % (have[0], len(have), seg))
        for label in kept:
            restore_rows(c, label, 3000)
            log("  backup %s restores to the end of the archive with all 3000 rows" % label)

        log("the window: 1 hour keeps every backup the count would remove")
        reload_with(c, "retention = { full = 1; window = 3600.0; };")
        time.sleep(1.1)
        last = flotilla(c, "backup", "now", "--dir", c.dir)[1].strip()
        kept = listed(c)
        check(kept == labels[1:] + [last], "full = 1 with a 1-hour window kept %s, want %s" % (kept, labels[1:] + [last]))
        log("  kept %s: all complete within the window" % kept)


if __name__ == "__main__":
    run_test(main)
