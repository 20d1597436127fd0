#!/usr/bin/python3
"""`flotilla stack` on the real Docker engine, with stacks/single:

  up      makes the missing secrets (mode 600, uid 999, never printed),
          starts the stack, waits until every service is healthy, prints
          the connection string and the members; the string works with the
          password from the secret file;
  status  prints the same again;
  bad     an unknown stack or subcommand, a bad project name: exit 2 with
          one line naming it; reset without a terminal and without --force
          refuses and removes nothing;
  reset   --force removes the containers and volumes."""
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import psycopg2  # noqa: E402

from e2e import build_images, check, free_port, log, run_test, sh  # noqa: E402

FLOTILLA = os.path.join(os.environ.get("FLOTILLA_BUILD_DIR", "build"), "flotilla")


def stack(project, secrets, *args, env=None, timeout=600):
    cmd = [FLOTILLA, "stack"] + list(args) + ["--stack", "single", "--project", project, "--secrets", secrets]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                       timeout=timeout, env=env)
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


def main():
    build_images()
    project = "flotilla-e2e-cli-%d" % os.getpid()
    secrets = os.path.join(tempfile.mkdtemp(prefix="flotilla-e2e-stack-"), "secrets")
    env = dict(os.environ, FLOTILLA_PG_PORT=str(free_port()))
    try:
        rc, out, err = stack(project, secrets, "up", env=env)
        print(err[-3000:], flush=True)
        check(rc == 0, "stack up exited %d:\n%s\n%s" % (rc, out, err))
        for n in ("superuser_password", "replication_password", "api_token"):
            st = os.stat(os.path.join(secrets, n))
            check(stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == 999,
                  "%s: mode %o uid %d" % (n, stat.S_IMODE(st.st_mode), st.st_uid))
        values = [open(os.path.join(secrets, n)).read().strip() for n in os.listdir(secrets)]
        check(not any(v in out or v in err for v in values), "stack up printed a secret")
        m = re.search(r'read-write: psql "([^"]+)"', out)
        check(m, "no read-write connection string in:\n%s" % out)
        check("db1" in out and "Leader" in out, "no member table in:\n%s" % out)
        password = values and open(os.path.join(secrets, "superuser_password")).read().strip()
        conn = psycopg2.connect(m.group(1) + " password=%s connect_timeout=5" % password)
        conn.close()
        log("up: %s" % m.group(0))
        rc, out, err = stack(project, secrets, "status", env=env)
        check(rc == 0 and "read-write: psql" in out, "stack status exited %d:\n%s\n%s" % (rc, out, err))

        for args, want in ((["up", "--stack", "huge"], 'no stack "huge"'),
                           (["fly"], 'unknown subcommand "fly"'),
                           (["up", "--project", "Bad Name"], 'project "Bad Name"')):
            r = subprocess.run([FLOTILLA, "stack"] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=60)
            text = r.stderr.decode(errors="replace")
            check(r.returncode == 2 and want in text, "flotilla stack %s: exit %d, %s" % (args, r.returncode, text))
        rc, out, err = stack(project, secrets, "reset", env=env)
        check(rc == 2 and "--force" in err, "reset without a terminal: exit %d, %s" % (rc, err))
        check(sh(["docker", "volume", "ls", "-q", "--filter", "name=%s_db1-data" % project]).stdout.strip(),
              "reset without --force removed the volume")
        log("bad input refused (exit 2, one line each); reset without a terminal removed nothing")

        rc, out, err = stack(project, secrets, "reset", "--force", env=env)
        check(rc == 0, "stack reset --force exited %d:\n%s" % (rc, err))
        check(not sh(["docker", "volume", "ls", "-q", "--filter", "name=%s_" % project]).stdout.strip(),
              "volumes left after reset --force")
        log("reset --force: containers and volumes removed")
    finally:
        stack(project, secrets, "reset", "--force", env=env, timeout=300)
        shutil.rmtree(os.path.dirname(secrets), ignore_errors=True)
        left = sh(["docker", "ps", "-aq", "--filter", "label=com.docker.compose.project=%s" % project],
                  check_rc=False).stdout.decode().split()
        if left:
            sh(["docker", "rm", "-f"] + left, check_rc=False)


if __name__ == "__main__":
    run_test(main)
