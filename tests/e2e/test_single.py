#!/usr/bin/python3
"""stacks/single on the real Docker engine: the images built with no
network inside the build (images/build), one etcd and one database node.

  up         `docker-compose up -d`: etcd healthy, then db1 (depends_on
             service_healthy), db1 leads; a write through the published
             port (127.0.0.1 only) is read back; the files mounted in
             /docker-entrypoint-initdb.d ran once, and not again after a
             restart;
  secrets    none of the secret values in `docker inspect`, in any
             process's environment or command line in the containers, or
             in their logs; every process runs as a non-root user;
  restart    `docker-compose down` then `up` keeps every row, and the node
             is healthy again within the time measured; so is `docker
             start` of the node on its volume (timed three times);
  bad input  the image run on db1's volume without its secrets, with both
             a value and a file for the superuser password, with a default
             password, without FLOTILLA_SCOPE, with an invalid setting or
             with an unreachable etcd exits non-zero with one clear line,
             and the volume stays as it was, file by file."""
import os
import sys
import time

import shutil

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e import (Stack, build_images, check, free_port, initdb_dir, initdb_override, log, query, run_test,  # noqa: E402
                 sh, wait_for)


def bad_start(env, want, volume):
    """The database image run alone with env and the data volume: a non-zero exit and a log line holding want."""
    cmd = ["docker", "run", "--rm", "--network", "none", "-v", "%s:/var/lib/postgresql/data" % volume]
    for k, v in env.items():
        cmd += ["-e", "%s=%s" % (k, v)]
    r = sh(cmd + ["flotilla/db:dev"], timeout=60, check_rc=False)
    text = (r.stdout + r.stderr).decode(errors="replace")
    check(r.returncode != 0, "the image started with %s: %s" % (env, text))
    lines = [l for l in text.splitlines() if want in l]
    check(lines, "no line saying \"%s\" (exit %d): %s" % (want, r.returncode, text))
    log("  exit %d: %s" % (r.returncode, lines[0]))


def volume_listing(volume):
    """Every file of the volume with its size, mode and checksum."""
    return sh(["docker", "run", "--rm", "--network", "none", "-v", "%s:/d:ro" % volume, "--entrypoint", "bash",
               "flotilla/db:dev", "-c", "cd /d && find . -type f -printf '%p %s %m\\n' | sort && "
               "find . -type f -print0 | sort -z | xargs -0 md5sum"]).stdout.decode()


def main():
    build_images()
    port = free_port()
    initdb = initdb_dir()
    try:
        with Stack("single", {"FLOTILLA_PG_PORT": str(port)}, initdb_override(["db1"], initdb)) as s:
            single(s, port)
    finally:
        shutil.rmtree(initdb, ignore_errors=True)


def initdb_ran_once(port, password):
    rows = query(port, password, "SELECT count(*) FROM initdb_rows")[0][0]
    runs = query(port, password, "SELECT count(*) FROM initdb_runs")[0][0]
    check(rows == 42 and runs == 1, "docker-entrypoint-initdb.d: %d rows (not 42), %d runs (not 1)" % (rows, runs))
    sourced = query(port, password, "SELECT who, db, unset FROM initdb_sourced")
    check(sourced == [("postgres", "postgres", "")], "the sourced script saw %s" % sourced)


def single(s, port):
    s.make_secrets()
    password = s.secret_values["superuser_password"]
    t0 = time.monotonic()
    s.compose("up", "-d")
    s.wait_healthy(["etcd", "db1"], 180)
    log("up: etcd and db1 healthy %.1f s after `up`" % (time.monotonic() - t0))
    wait_for(lambda: query(port, password, "SELECT NOT pg_is_in_recovery()")[0][0], 60, "db1 to lead")
    query(port, password, "CREATE TABLE e2e (id int PRIMARY KEY, v text)")
    query(port, password, "INSERT INTO e2e SELECT g, 'row ' || g FROM generate_series(1, 100) g")
    check(query(port, password, "SELECT count(*) FROM e2e")[0][0] == 100, "the rows did not read back")
    bind = s.inspect("db1")["HostConfig"]["PortBindings"]["5432/tcp"][0]["HostIp"]
    check(bind == "127.0.0.1", "db1's port is published on %r, not 127.0.0.1" % bind)
    limit = s.inspect("db1")["HostConfig"]["Memory"]
    check(limit == 1 << 30, "db1's memory limit is %d, not 1 GiB" % limit)
    shared = query(port, password, "SHOW shared_buffers")[0][0]
    log("up: 100 rows written and read back on 127.0.0.1:%d; memory limit 1 GiB -> shared_buffers %s"
        % (port, shared))
    initdb_ran_once(port, password)
    log("up: docker-entrypoint-initdb.d ran once (.sql, .sql.gz, .sh; a .txt skipped)")
    check(shared == "256MB", "shared_buffers %s, not a quarter of the 1 GiB limit" % shared)

    log("secrets")
    s.check_no_secrets(["etcd", "db1"])

    log("restart")
    s.compose("down", "-t", "30")
    t0 = time.monotonic()
    s.compose("up", "-d")
    s.wait_healthy(["etcd", "db1"], 120)
    log("  `up` on the existing volumes: healthy after %.1f s" % (time.monotonic() - t0))
    rows = wait_for(lambda: query(port, password, "SELECT count(*) FROM e2e")[0][0], 60, "the rows back")
    check(rows == 100, "%d rows after down and up, not 100" % rows)
    initdb_ran_once(port, password)
    starts = []
    for _ in range(3):
        sh(["docker", "stop", s.container("db1")], timeout=120)
        t0 = time.monotonic()
        sh(["docker", "start", s.container("db1")])
        s.wait_healthy(["db1"], 120)
        starts.append(time.monotonic() - t0)
        wait_for(lambda: query(port, password, "SELECT NOT pg_is_in_recovery()")[0][0], 60, "db1 to lead")
    log("  `docker start` of db1 on its volume to healthy: %s s" % ", ".join("%.1f" % t for t in starts))

    log("bad input (each on db1's volume, which must stay as it was)")
    s.compose("down", "-t", "30")
    volume = "%s_db1-data" % s.project
    before = volume_listing(volume)
    check(" PG_VERSION" in before or "./PG_VERSION" in before, "db1's volume holds no data directory")
    base = {"FLOTILLA_SCOPE": "bad", "FLOTILLA_ETCD_ENDPOINTS": "http://etcd.invalid:2379"}
    good = {"POSTGRES_PASSWORD": "x7Hq2v", "FLOTILLA_REPLICATION_PASSWORD": "r7Hq2v"}
    bad_start(base, "the superuser password (POSTGRES_PASSWORD_FILE) is missing", volume)
    bad_start(dict(base, POSTGRES_PASSWORD="x7Hq2", POSTGRES_PASSWORD_FILE="/run/secrets/p"),
              "both POSTGRES_PASSWORD and POSTGRES_PASSWORD_FILE are set", volume)
    bad_start(dict(base, POSTGRES_PASSWORD="postgres", FLOTILLA_REPLICATION_PASSWORD="r7Hq2"),
              "well-known default password", volume)
    bad_start(dict(good, FLOTILLA_ETCD_ENDPOINTS="http://etcd.invalid:2379"), "FLOTILLA_SCOPE is missing",
              volume)
    bad_start(dict(base, FLOTILLA_LOOP_WAIT="fast", **good), "loop_wait", volume)
    bad_start(dict(base, **good), "etcd: http://etcd.invalid:2379", volume)
    check(volume_listing(volume) == before, "a refused start changed db1's volume")
    log("  db1's volume unchanged (%d files)" % before.count("\n"))


if __name__ == "__main__":
    run_test(main)
