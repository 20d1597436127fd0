"""Fixtures of the e2e tier: real images, real containers, the Docker engine.

A Stack is one compose project under a name of its own (flotilla-e2e-<random>),
with its secrets in a private directory and its ports picked free on
127.0.0.1; leaving the `with` removes every container, volume and network it
made, even when the test failed. The host reaches containers only through
ports published on 127.0.0.1 and `docker exec`."""
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
from harness import TestFailure, check, log, run_test, wait_for  # noqa: E402,F401

IMAGE_UID = 999  # the database and backup images' postgres
FLOTILLA = os.path.join(os.environ.get("FLOTILLA_BUILD_DIR", os.path.join(TOP, "build")), "flotilla")


def dsn(port, password, timeout=3):
    return "host=127.0.0.1 port=%d user=postgres dbname=postgres password=%s connect_timeout=%d" % (
        port, password, timeout)


def query(port, password, sql, args=None):
    """One statement through 127.0.0.1:port, autocommit; its rows (None for a statement without)."""
    import psycopg2
    conn = psycopg2.connect(dsn(port, password))
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def sh(cmd, timeout=600, check_rc=True, env=None, input=None):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout, env=env, input=input)
    if check_rc and r.returncode != 0:
        raise TestFailure("%s: exit %d\n%s%s" % (" ".join(cmd), r.returncode, r.stdout.decode(errors="replace"),
                                                   r.stderr.decode(errors="replace")))
    return r


def build_images():
    """images/build: every image, built only when missing or older than this revision."""
    t0 = time.monotonic()
    r = subprocess.run([os.path.join(TOP, "images", "build")], timeout=1800)
    if r.returncode != 0:
        raise TestFailure("images/build failed (exit %d)" % r.returncode)
    log("images ready in %.1f s" % (time.monotonic() - t0))


def initdb_dir():
    """A /docker-entrypoint-initdb.d of every kind the image runs, in a directory of its own (removed by the
    caller): a schema (.sql), rows (.sql.gz), a script (.sh) that records each run in initdb_runs, a file
    to skip, and a script to source (not executable) written for the official image."""
    import gzip
    d = tempfile.mkdtemp(prefix="flotilla-e2e-initdb-")
    with open(os.path.join(d, "01-schema.sql"), "w") as f:
        f.write("CREATE TABLE initdb_rows (id int PRIMARY KEY);\nCREATE TABLE initdb_runs (at timestamptz);\n")
    with gzip.open(os.path.join(d, "02-rows.sql.gz"), "wt") as f:
        f.write("INSERT INTO initdb_rows SELECT generate_series(1, 42);\n")
    with open(os.path.join(d, "03-mark.sh"), "w") as f:
        f.write("#!/bin/bash\nset -e\n$PSQL -c 'INSERT INTO initdb_runs VALUES (now())'\n")
    with open(os.path.join(d, "04-readme.txt"), "w") as f:
        f.write("skipped\n")
    # Not executable: sourced, as the official image does, with its variables and docker_process_sql.
    with open(os.path.join(d, "05-sourced.sh"), "w") as f:
        f.write("docker_process_sql -c \"CREATE TABLE initdb_sourced AS SELECT '$POSTGRES_USER'::text AS who, "
                "'$POSTGRES_DB'::text AS db, '${NOT_SET_ANYWHERE}'::text AS unset\"\n")
    os.chmod(os.path.join(d, "03-mark.sh"), 0o755)
    os.chmod(d, 0o755)
    for n in os.listdir(d):
        os.chmod(os.path.join(d, n), 0o755 if n == "03-mark.sh" else 0o644)
    return d


def initdb_override(services, d):
    """A compose override mounting d as /docker-entrypoint-initdb.d in each service."""
    return "services:\n" + "".join("  %s:\n    volumes:\n      - %s:/docker-entrypoint-initdb.d:ro\n" % (s, d)
                                    for s in services)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# Each process of a container: pid, start time (field 22 of stat), real uid, then argv and environ.
PROCESSES = ("for p in /proc/[0-9]*; do u=$(awk '/^Uid:/{print $2}' $p/status 2>/dev/null) || continue; "
             "s=$(< $p/stat) 2>/dev/null || continue; s=${s##*) }; set -- $s; t=${20}; "
             "printf '%s\\t%s\\t%s\\t' \"${p#/proc/}\" \"$t\" \"$u\"; tr '\\0' ' ' < $p/cmdline 2>/dev/null; "
             "printf '\\t'; tr '\\0' ' ' < $p/environ 2>/dev/null; echo; done")


def container_processes(cid):
    """(pid, start time, uid, cmdline, environ) of every process in the container."""
    out = sh(["docker", "exec", cid, "bash", "-c", PROCESSES]).stdout.decode(errors="replace")
    return [line.split("\t")[:5] for line in out.splitlines() if line.count("\t") >= 4]


def lasting_root(cid, procs):
    """The processes of procs that run as root and still do a second later, as "pid cmdline".

    `docker exec`, the engine's health checks among them, enters the container as root and only then
    takes the container's user, just before it runs the command: a listing may catch one of those in
    between. A root process that is still the same process, still root, a second later is a real one."""
    root = [p for p in procs if p[2] == "0"]
    if not root:
        return []
    time.sleep(1)
    again = {(p[0], p[1]): p for p in container_processes(cid)}
    return ["%s %s" % (p[0], p[3].strip() or "(no command line)")
            for p in root if (p[0], p[1]) in again and again[(p[0], p[1])][2] == "0"]


class Stack:
    def __init__(self, name, env=None, override=None):
        self.file = os.path.join(TOP, "stacks", name, "docker-compose.yml")
        self.files = [self.file]
        self.project = "flotilla-e2e-%s" % secrets.token_hex(4)
        self.secrets_dir = tempfile.mkdtemp(prefix="flotilla-e2e-secrets-")
        self.secret_values = {}
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.env["FLOTILLA_SECRETS"] = self.secrets_dir
        if override is not None:
            # A file read over the stack's, as a user's docker-compose.override.yml would be.
            path = os.path.join(self.secrets_dir, "override.yml")
            with open(path, "w") as f:
                f.write(override)
            self.files.append(path)

    def make_secrets(self, names=("superuser_password", "replication_password", "api_token", "backup_token")):
        os.chmod(self.secrets_dir, 0o700)
        for n in names:
            value = secrets.token_hex(16)
            path = os.path.join(self.secrets_dir, n)
            with open(path, "w") as f:
                f.write(value + "\n")
            os.chown(path, IMAGE_UID, IMAGE_UID)
            os.chmod(path, 0o600)
            self.secret_values[n] = value

    def compose(self, *args, timeout=300, check_rc=True):
        files = [x for f in self.files for x in ("-f", f)]
        return sh(["docker-compose"] + files + ["-p", self.project] + list(args), timeout=timeout,
                  check_rc=check_rc, env=self.env)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is not None:
            self.dump_logs()
        self.compose("down", "-v", "--remove-orphans", "-t", "20", timeout=300, check_rc=False)
        shutil.rmtree(self.secrets_dir, ignore_errors=True)
        left = sh(["docker", "ps", "-aq", "--filter", "label=com.docker.compose.project=%s" % self.project],
                  check_rc=False).stdout.decode().split()
        if left:
            sh(["docker", "rm", "-f"] + left, check_rc=False)
        return False

    def dump_logs(self):
        r = self.compose("logs", "--no-color", "--tail", "60", timeout=60, check_rc=False)
        print(r.stdout.decode(errors="replace")[-20000:], flush=True)

    def container(self, service):
        out = self.compose("ps", "-q", service).stdout.decode().split()
        check(out, "no container for service %s" % service)
        return out[0]

    def inspect(self, service):
        return json.loads(sh(["docker", "inspect", self.container(service)]).stdout.decode())[0]

    def health(self, service):
        st = self.inspect(service)["State"]
        return st.get("Health", {}).get("Status") or st.get("Status")

    def wait_healthy(self, services, timeout=180):
        wait_for(lambda: all(self.health(s) == "healthy" for s in services), timeout,
                 "%s healthy" % ", ".join(services), interval=1)

    def exec(self, service, *cmd, check_rc=True):
        return sh(["docker", "exec", self.container(service)] + list(cmd), check_rc=check_rc)

    def port(self, service, port):
        """The host port that publishes the service's port (on 127.0.0.1)."""
        out = self.compose("port", service, str(port)).stdout.decode().strip()
        check(out.startswith("127.0.0.1:"), "%s:%d is published on %r, not 127.0.0.1" % (service, port, out))
        return int(out.rsplit(":", 1)[1])

    def processes(self, service):
        return container_processes(self.container(service))

    def check_no_secrets(self, services):
        """No secret value in docker inspect, any process's argv or environment, or the logs; no root process."""
        values = list(self.secret_values.values())
        for svc in services:
            text = sh(["docker", "inspect", self.container(svc)]).stdout.decode()
            check(not any(v in text for v in values), "a secret value is in docker inspect of %s" % svc)
            procs = self.processes(svc)
            check(procs, "no process seen in %s" % svc)
            root = lasting_root(self.container(svc), procs)
            check(not root, "%s runs %s as root" % (svc, "; ".join(root)))
            for _pid, _start, _uid, cmdline, environ in procs:
                check(not any(v in cmdline or v in environ for v in values),
                      "a secret value is in the command line or environment of %s in %s" % (cmdline, svc))
            log("  %s: %d processes, none root, no secret in inspect, argv or environ" % (svc, len(procs)))
        logs = self.compose("logs", "--no-color").stdout.decode(errors="replace")
        check(not any(v in logs for v in values), "a secret value is in the logs")
