#!/usr/bin/python3
"""Encryption at rest (`secrets.encryption_key_file`): with the sidecar
started with a passphrase, a base backup's tars and every archived WAL
segment are unreadable without the key (neither zstd nor tar makes sense of
them), `flotilla restore` without the key is refused naming it, and with
`--key-file` the restore holds every row; a drill passes (the sidecar has
the key)."""
import json
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, free_port, log, pid_alive, query, run_test, wait_for  # noqa: E402

PG_BIN = "/usr/lib/postgresql/15/bin"


def flotilla(c, *args, check_rc=True, timeout=300):
    cmd = ["runuser", "-u", "postgres", "--", c.flotilla] + list(args)
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    out, err = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
    if check_rc and r.returncode != 0:
        raise AssertionError("`%s` exited %d:\n%s%s" % (" ".join(cmd), r.returncode, out, err))
    return r.returncode, out, err


def main():
    with Cluster(nodes=2, backup=True) as c:
        leader = c.wait_healthy(90)
        dsn = c.node(leader)["dsn"]
        info = c.backup_info()
        key = os.path.join(c.dir, "secrets", "backup_passphrase")
        with open(key, "w") as f:
            f.write(os.urandom(32).hex() + "\n")
        os.chmod(key, 0o600)
        subprocess.run(["chown", "postgres:postgres", key], check=True)
        # The key is read at start: the sidecar restarted with it, on an empty repository.
        os.kill(info["pid"], signal.SIGTERM)
        wait_for(lambda: not pid_alive(info["pid"]), 30, "the sidecar to stop")
        subprocess.run(["rm", "-rf", os.path.join(c.repo, "backups")], check=True)
        conf = open(info["config"]).read().replace("secrets = {", 'secrets = {\n  encryption_key_file = "%s";' % key, 1)
        with open(info["config"], "w") as f:
            f.write(conf)
        c.start_backup_sidecar()
        wait_for(lambda: json.loads(flotilla(c, "backup", "list", "--dir", c.dir, "--json")[1]), 120,
                 "the first backup of the encrypted repository")
        query(dsn, "CREATE TABLE it_secret AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 5000) g")
        label = flotilla(c, "backup", "now", "--dir", c.dir)[1].strip()
        seg = query(dsn, "SELECT pg_walfile_name(pg_switch_wal())")[0][0]
        wal = os.path.join(c.repo, "wal", seg[:16], seg)
        wait_for(lambda: os.path.exists(wal), 60, "segment %s archived" % seg)
        want = query(dsn, "SELECT md5(string_agg(v, ',' ORDER BY id)) FROM it_secret")[0][0]

        bdir = os.path.join(c.repo, "backups", label)
        meta = json.load(open(os.path.join(bdir, "backup.json")))
        check(meta["encrypted"], "backup.json says the backup is not encrypted")
        files = sorted(os.listdir(bdir))
        check("base.tar.zst.enc" in files and "base.tar.zst" not in files, "the backup's files: %s" % files)
        for name in ("base.tar.zst.enc", "pg_wal.tar.zst.enc"):
            z = subprocess.run(["zstd", "-t", "-q", os.path.join(bdir, name)], stderr=subprocess.DEVNULL)
            t = subprocess.run(["tar", "-tf", os.path.join(bdir, name)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            check(z.returncode != 0 and t.returncode != 0, "%s is readable without the key" % name)
        raw = open(wal, "rb").read()
        header, payload = raw.split(b"\n", 1)
        check(header.endswith(b" aes") and payload.startswith(b"FLENC1"), "segment %s is not encrypted: %s" % (seg, header))
        check(subprocess.run(["zstd", "-t", "-q", "-"], input=payload, stderr=subprocess.DEVNULL).returncode != 0,
              "segment %s's payload decompresses without the key" % seg)
        log("backup %s and segment %s are encrypted: zstd and tar read neither (%s)" % (label, seg, ", ".join(files)))

        parent = os.path.join(c.top, "restores")
        os.mkdir(parent)
        subprocess.run(["chown", "postgres:postgres", parent], check=True)
        target = os.path.join(parent, "r")
        rc, _, err = flotilla(c, "restore", "--dir", c.dir, "--target", target, check_rc=False)
        check(rc == 4 and "encrypted" in err and "--key-file" in err, "a restore without the key: exit %d, %s" % (rc, err))
        log("  without the key: refused (exit 4): %s" % err.strip().splitlines()[0][:160])
        port = free_port()
        flotilla(c, "restore", "--dir", c.dir, "--target", target, "--port", str(port), "--key-file", key)
        subprocess.run(["runuser", "-u", "postgres", "--", PG_BIN + "/pg_ctl", "-D", target, "-l", target + ".log",
                        "-o", "-k %s" % target, "-w", "-t", "120", "start"], check=True, stdout=subprocess.DEVNULL)
        rdsn = "host=127.0.0.1 port=%d user=postgres dbname=postgres passfile=%s/pgpass" % (port, c.dir)
        try:
            wait_for(lambda: query(rdsn, "SELECT NOT pg_is_in_recovery()")[0][0], 120, "the restored copy to promote")
            got = query(rdsn, "SELECT md5(string_agg(v, ',' ORDER BY id)) FROM it_secret")[0][0]
        finally:
            subprocess.run(["runuser", "-u", "postgres", "--", PG_BIN + "/pg_ctl", "-D", target, "-m", "immediate",
                            "-w", "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        check(got == want, "the restored it_secret differs: %s, want %s" % (got, want))
        log("  with --key-file: restored, replayed through the encrypted WAL, it_secret identical")
        rc, out, err = flotilla(c, "drill", "--dir", c.dir, check_rc=False)
        check(rc == 0, "the drill of the encrypted repository failed: %s%s" % (out, err))
        log("  a drill of the encrypted repository passes")


if __name__ == "__main__":
    run_test(main)
