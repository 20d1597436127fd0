#!/usr/bin/python3
"""stacks/single on the real Docker engine: the images built with no
network inside the build (images/build), one etcd and one database node.

  up         `docker-compose up -d`: etcd healthy, then db1 (depends_on
             service_healthy), db1 leads; a write through the published
             port (127.0.0.1 only) is read back;
  secrets    none of the secret values in `docker inspect`, in any
             process's environment or command line in the containers, or
             in their logs; every process runs as a non-root user;
  restart    `docker-compose down` then `up` keeps every row, and the node
             is healthy again within the time measured;
  bad input  the image run without its secrets, with both a value and a
             file for the superuser password, with a default password or
             with an unreachable etcd exits non-zero with one clear line."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import psycopg2  # noqa: E402

from e2e import Stack, build_images, check, free_port, log, run_test, sh, wait_for  # noqa: E402


def dsn(port, password):
    return "host=127.0.0.1 port=%d user=postgres dbname=postgres password=%s connect_timeout=3" % (port, password)


def query(port, password, sql, args=None):
    conn = psycopg2.connect(dsn(port, password))
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def processes(s, service):
    """(uid, cmdline, environ) of every process in the container."""
    script = ("for p in /proc/[0-9]*; do u=$(awk '/^Uid:/{print $2}' $p/status 2>/dev/null) || continue; "
              "printf '%s\\t' \"$u\"; tr '\\0' ' ' < $p/cmdline 2>/dev/null; printf '\\t'; "
              "tr '\\0' ' ' < $p/environ 2>/dev/null; echo; done")
    out = s.exec(service, "bash", "-c", script).stdout.decode(errors="replace")
    return [line.split("\t") for line in out.splitlines() if line.count("\t") >= 2]


def bad_start(env, want):
    """The database image run alone with env: a non-zero exit and a log line holding want."""
    cmd = ["docker", "run", "--rm", "--network", "none"]
    for k, v in env.items():
        cmd += ["-e", "%s=%s" % (k, v)]
    r = sh(cmd + ["flotilla/db:dev"], timeout=60, check_rc=False)
    text = (r.stdout + r.stderr).decode(errors="replace")
    check(r.returncode != 0, "the image started with %s: %s" % (env, text))
    lines = [l for l in text.splitlines() if want in l]
    check(lines, "no line saying \"%s\" (exit %d): %s" % (want, r.returncode, text))
    log("  exit %d: %s" % (r.returncode, lines[0]))


def main():
    build_images()
    port = free_port()
    with Stack("single", {"FLOTILLA_PG_PORT": str(port)}) as s:
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
        check(shared == "256MB", "shared_buffers %s, not a quarter of the 1 GiB limit" % shared)

        log("secrets")
        values = list(s.secret_values.values())
        for svc in ("etcd", "db1"):
            text = sh(["docker", "inspect", s.container(svc)]).stdout.decode()
            check(not any(v in text for v in values), "a secret value is in docker inspect of %s" % svc)
            procs = processes(s, svc)
            check(procs, "no process seen in %s" % svc)
            for uid, cmdline, environ in procs:
                check(uid != "0", "%s runs %s as root" % (svc, cmdline))
                check(not any(v in cmdline or v in environ for v in values),
                      "a secret value is in the command line or environment of %s in %s" % (cmdline, svc))
            log("  %s: %d processes, none root, no secret in inspect, argv or environ" % (svc, len(procs)))
        logs = s.compose("logs", "--no-color").stdout.decode(errors="replace")
        check(not any(v in logs for v in values), "a secret value is in the logs")

        log("restart")
        s.compose("down", "-t", "30")
        t0 = time.monotonic()
        s.compose("up", "-d")
        s.wait_healthy(["etcd", "db1"], 120)
        log("  `up` on the existing volumes: healthy after %.1f s" % (time.monotonic() - t0))
        rows = wait_for(lambda: query(port, password, "SELECT count(*) FROM e2e")[0][0], 60, "the rows back")
        check(rows == 100, "%d rows after down and up, not 100" % rows)

    log("bad input")
    base = {"FLOTILLA_SCOPE": "bad", "FLOTILLA_ETCD_ENDPOINTS": "http://etcd.invalid:2379"}
    bad_start(base, "the superuser password (POSTGRES_PASSWORD_FILE) is missing")
    bad_start(dict(base, POSTGRES_PASSWORD="x7Hq2", POSTGRES_PASSWORD_FILE="/run/secrets/p"),
              "both FLOTILLA_SUPERUSER_PASSWORD and")
    bad_start(dict(base, POSTGRES_PASSWORD="postgres", FLOTILLA_REPLICATION_PASSWORD="r7Hq2"),
              "well-known default password")
    bad_start({"FLOTILLA_ETCD_ENDPOINTS": "http://etcd.invalid:2379"}, "FLOTILLA_SCOPE is missing")


if __name__ == "__main__":
    run_test(main)
