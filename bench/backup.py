#!/usr/bin/python3
"""Backup, restore and drill times of the backup sidecar beside pgBackRest's
on the same database in one run (not a CTest test).

A one-node local cluster (`flotilla local up --nodes 1 --backup REPO`) gets
a pgbench database of about 1 GB (scale 68 by default); its archive_command
then archives every segment both to the sidecar and to a pgBackRest
repository (Debian's pgbackrest, `process-max` 2, zstd level 3 like the
sidecar's), and each round, in alternating order:

  backup    `flotilla backup now` beside `pgbackrest backup --type=full`
  restore   `flotilla restore` beside `pgbackrest restore`, each into a new
            directory, then PostgreSQL started on it until it is promoted
            (files laid, and files plus recovery)
  drill     `flotilla drill`: restore, manifest check, WAL walk, recovery,
            pg_amcheck (pgBackRest has none; `pgbackrest verify` is shown
            beside it: it checks the repository's checksums, restores nothing)

Medians over ROUNDS rounds, with the repository sizes. Everything lives
under a temporary directory removed at the end.

  /usr/bin/python3 bench/backup.py [--scale 68] [--rounds 3] [--build-dir build]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
PG_BIN = "/usr/lib/postgresql/15/bin"


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def run(cmd, user="postgres", env=None, timeout=7200):
    full = ["runuser", "-u", user, "--"] + cmd if user else cmd
    r = subprocess.run(full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=timeout)
    if r.returncode != 0:
        raise SystemExit("`%s` exited %d:\n%s%s" % (" ".join(cmd), r.returncode, r.stdout.decode(errors="replace"),
                                                     r.stderr.decode(errors="replace")))
    return r.stdout.decode(errors="replace")


def timed(cmd, **kw):
    t0 = time.monotonic()
    out = run(cmd, **kw)
    return time.monotonic() - t0, out


def du(path):
    return int(subprocess.run(["du", "-sb", path], stdout=subprocess.PIPE).stdout.split()[0])


def psql(port, sql, sock):
    return run([PG_BIN + "/psql", "-h", sock, "-p", str(port), "-U", "postgres", "-d", "postgres", "-Atqc", sql]).strip()


def start_until_promoted(data, port):
    """PostgreSQL on a restored directory, on a private socket, until it leaves recovery; seconds taken."""
    t0 = time.monotonic()
    with open(os.path.join(data, "pg_hba.conf"), "w") as f:
        f.write("local all all trust\n")
    subprocess.run(["chown", "postgres:postgres", os.path.join(data, "pg_hba.conf")], check=True)
    run([PG_BIN + "/pg_ctl", "-D", data, "-l", data + ".log", "-o",
         "-c listen_addresses='' -c port=%d -k %s -c archive_mode=off" % (port, data), "-w", "-t", "3600", "start"])
    while psql(port, "SELECT pg_is_in_recovery()", data) != "f":
        time.sleep(0.1)
    secs = time.monotonic() - t0
    run([PG_BIN + "/pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"])
    return secs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=int, default=68)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--build-dir", default=os.path.join(TOP, "build"))
    a = ap.parse_args()
    build = os.path.abspath(a.build_dir)
    flotilla = os.path.join(build, "flotilla")
    if shutil.which("pgbackrest") is None:
        raise SystemExit("pgbackrest is missing: scripts/install-deps installs it")
    top = tempfile.mkdtemp(prefix="flotilla-bench-backup-")
    os.chmod(top, 0o755)
    cluster, repo, br = os.path.join(top, "cluster"), os.path.join(top, "repo"), os.path.join(top, "pgbackrest")
    for d in (br, os.path.join(top, "restores")):
        os.mkdir(d)
        subprocess.run(["chown", "postgres:postgres", d], check=True)
    try:
        log("flotilla local up --nodes 1 --backup %s" % repo)
        subprocess.run([flotilla, "local", "up", "--nodes", "1", "--dir", cluster, "--backup", repo, "--base-port",
                        "47300"], check=True, stdout=subprocess.DEVNULL)
        info = json.load(open(os.path.join(cluster, "cluster.json")))
        node = info["nodes"][0]
        sock = os.path.join(cluster, "n1", "run")
        port = node["pg_port"]
        conf = os.path.join(br, "pgbackrest.conf")
        with open(conf, "w") as f:
            f.write("[global]\nrepo1-path=%s/repo\nlog-path=%s/log\nlock-path=%s/lock\nspool-path=%s/spool\n"
                    "process-max=2\ncompress-type=zst\ncompress-level=3\nstart-fast=y\nlog-level-console=warn\n"
                    "repo1-retention-full=9\n\n[bench]\npg1-path=%s\npg1-port=%d\npg1-socket-path=%s\n"
                    % (br, br, br, br, node["data_dir"], port, sock))
        subprocess.run(["chown", "-R", "postgres:postgres", br], check=True)
        pgbr = ["pgbackrest", "--config=" + conf, "--stanza=bench"]
        # Every segment to both repositories.
        cur = psql(port, "SHOW archive_command", sock)
        both = "%s && pgbackrest --config=%s --stanza=bench archive-push %%p" % (cur, conf)
        psql(port, "ALTER SYSTEM SET archive_command = '%s'" % both.replace("'", "''"), sock)
        # pgBackRest refuses archive_mode = always (one node here: on archives the same).
        psql(port, "ALTER SYSTEM SET archive_mode = 'on'", sock)
        subprocess.run([flotilla, "restart", "n1", "--dir", cluster, "--force"], check=True, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:
            try:
                if psql(port, "SHOW archive_mode", sock) == "on":
                    break
            except SystemExit:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("n1 did not come back with archive_mode = on")
            time.sleep(0.5)
        run(pgbr + ["stanza-create"])
        # The sidecar's own backup after the bootstrap first.
        while not json.loads(run([flotilla, "backup", "list", "--dir", cluster, "--json"])):
            time.sleep(0.5)
        log("pgbench -i -s %d" % a.scale)
        t0 = time.monotonic()
        run([PG_BIN + "/pgbench", "-i", "-s", str(a.scale), "-q", "-h", sock, "-p", str(port), "-U", "postgres",
             "postgres"])
        size = int(psql(port, "SELECT pg_database_size('postgres')", sock))
        log("  %.0f MB in %.0f s" % (size / 1048576, time.monotonic() - t0))
        psql(port, "CHECKPOINT", sock)
        run(pgbr + ["check"])
        fig = {k: [] for k in ("fl_backup", "br_backup", "fl_restore", "br_restore", "fl_recover", "br_recover",
                               "fl_drill", "br_verify")}
        for rnd in range(a.rounds):
            order = ["fl", "br"] if rnd % 2 == 0 else ["br", "fl"]
            for who in order:
                if who == "fl":
                    s, out = timed([flotilla, "backup", "now", "--dir", cluster])
                    fig["fl_backup"].append(s)
                    label = out.strip()
                else:
                    s, _ = timed(pgbr + ["backup", "--type=full"])
                    fig["br_backup"].append(s)
            log("round %d: backup flotilla %.1f s, pgBackRest %.1f s" % (rnd + 1, fig["fl_backup"][-1], fig["br_backup"][-1]))
            for who in order:
                target = os.path.join(top, "restores", "%s-%d" % (who, rnd))
                p = 47400 + rnd * 2 + (who == "br")
                if who == "fl":
                    s, _ = timed([flotilla, "restore", "--dir", cluster, "--target", target, "--backup", label])
                    fig["fl_restore"].append(s)
                    fig["fl_recover"].append(s + start_until_promoted(target, p))
                else:
                    s, _ = timed(pgbr + ["restore", "--pg1-path=" + target, "--type=default"])
                    fig["br_restore"].append(s)
                    fig["br_recover"].append(s + start_until_promoted(target, p))
                shutil.rmtree(target)
            log("round %d: restore flotilla %.1f s (%.1f s to promoted), pgBackRest %.1f s (%.1f s)" % (
                rnd + 1, fig["fl_restore"][-1], fig["fl_recover"][-1], fig["br_restore"][-1], fig["br_recover"][-1]))
            s, _ = timed([flotilla, "drill", "--dir", cluster])
            fig["fl_drill"].append(s)
            s, _ = timed(pgbr + ["verify"])
            fig["br_verify"].append(s)
            log("round %d: drill flotilla %.1f s; pgbackrest verify %.1f s" % (rnd + 1, fig["fl_drill"][-1], fig["br_verify"][-1]))
        med = {k: statistics.median(v) for k, v in fig.items()}
        fl_bk = [b for b in json.loads(run([flotilla, "backup", "list", "--dir", cluster, "--json"]))]
        fl_size = fl_bk[-1]["size"]
        br_info = json.loads(run(pgbr + ["info", "--output=json"]))[0]["backup"][-1]["info"]["repository"]["delta"]
        print()
        print("database %.0f MB (pgbench scale %d), %d rounds, medians; pgBackRest: process-max 2, zstd level 3"
              % (size / 1048576, a.scale, a.rounds))
        print("%-34s %12s %12s %8s" % ("", "flotilla", "pgBackRest", "ratio"))
        rows = [("backup (s)", "fl_backup", "br_backup"),
                ("restore: files laid (s)", "fl_restore", "br_restore"),
                ("restore: to a promoted copy (s)", "fl_recover", "br_recover"),
                ("drill / pgbackrest verify (s)", "fl_drill", "br_verify")]
        for name, f, b in rows:
            print("%-34s %12.1f %12.1f %8.2f" % (name, med[f], med[b], med[f] / med[b] if med[b] else 0))
        print("%-34s %12.0f %12.0f %8.2f" % ("backup size in the repository (MB)", fl_size / 1048576,
                                            br_info / 1048576, fl_size / br_info if br_info else 0))
    finally:
        if os.environ.get("FLOTILLA_BENCH_KEEP") == "1":
            log("kept %s (flotilla local down --dir %s --purge removes the cluster)" % (top, cluster))
        else:
            subprocess.run([flotilla, "local", "down", "--dir", cluster, "--purge"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    main()
