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

IMAGE_UID = 999  # the database image's postgres


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


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Stack:
    def __init__(self, name, env=None):
        self.file = os.path.join(TOP, "stacks", name, "docker-compose.yml")
        self.project = "flotilla-e2e-%s" % secrets.token_hex(4)
        self.secrets_dir = tempfile.mkdtemp(prefix="flotilla-e2e-secrets-")
        self.secret_values = {}
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.env["FLOTILLA_SECRETS"] = self.secrets_dir

    def make_secrets(self, names=("superuser_password", "replication_password", "api_token")):
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
        return sh(["docker-compose", "-f", self.file, "-p", self.project] + list(args), timeout=timeout,
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
