#!/usr/bin/python3
"""The daemons start from environment variables and secret files alone, as
the container images configure them.

A 1-node cluster (etcd and n1 from `flotilla local up`); then:
  * `flotilla-replicator --check` with no file validates the environment:
    exit 0 with everything set; exit 3 (config) naming the setting and its
    variable when FLOTILLA_SCOPE is missing; exit 3 naming both variables
    when FLOTILLA_SUPERUSER_PASSWORD and FLOTILLA_SUPERUSER_PASSWORD_FILE are
    set; exit 3 when a secret comes as a value (FLOTILLA_REPLICATION_PASSWORD)
    instead of a file; and the secret's value never appears in the output;
  * a second agent n2, started with no configuration file at all, clones
    from n1 and streams from it; SIGTERM stops it cleanly;
  * `flotilla-proxy-agent --check` validates its environment the same way."""
import os
import shutil
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from err_codes import EXIT_CONFIG, EXIT_OK  # noqa: E402
from harness import Cluster, check, free_port, log, processes_under, run_test, signal_pid  # noqa: E402

PG_UID = "postgres"


def as_postgres(cmd):
    return ["setpriv", "--reuid", PG_UID, "--regid", PG_UID, "--init-groups", "--"] + cmd


def clean_env(extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOTILLA_")}
    env.update(extra)
    return env


def check_run(program, env, want_rc, words, forbidden=()):
    r = subprocess.run(as_postgres([program, "--check"]), env=clean_env(env), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=30, cwd="/")
    out = r.stdout.decode(errors="replace").strip()
    log("%s --check: exit %d: %s" % (os.path.basename(program), r.returncode, out))
    check(r.returncode == want_rc, "exit %d, want %d: %s" % (r.returncode, want_rc, out))
    for w in words:
        check(w in out, "the output does not name %r: %s" % (w, out))
    for w in forbidden:
        check(w not in out, "the output shows %r: %s" % (w, out))


def main():
    with Cluster(nodes=1) as c:
        c.wait_healthy()
        n2 = os.path.join(c.dir, "env-n2")
        run = os.path.join(n2, "run")
        os.makedirs(run, 0o700)
        for p in (n2, run):
            shutil.chown(p, PG_UID, PG_UID)
        secrets = os.path.join(c.dir, "secrets")
        pg_port, api_port = free_port(), free_port()
        env = {
            "FLOTILLA_SCOPE": c.scope, "FLOTILLA_NAME": "n2", "FLOTILLA_DATA_DIR": os.path.join(n2, "data"),
            "FLOTILLA_STATE_DIR": run, "FLOTILLA_LISTEN": "127.0.0.1:%d" % pg_port,
            "FLOTILLA_API_LISTEN": "127.0.0.1:%d" % api_port, "FLOTILLA_ETCD_ENDPOINTS": c.etcd_endpoint,
            "FLOTILLA_SUPERUSER_PASSWORD_FILE": os.path.join(secrets, "superuser_password"),
            "FLOTILLA_REPLICATION_PASSWORD_FILE": os.path.join(secrets, "replication_password"),
        }
        replicator = c.replicator
        check_run(replicator, env, EXIT_OK, ["configuration from the environment is valid"])
        no_scope = dict(env)
        del no_scope["FLOTILLA_SCOPE"]
        check_run(replicator, no_scope, EXIT_CONFIG, ['"scope" is missing', "FLOTILLA_SCOPE"])
        check_run(replicator, dict(env, FLOTILLA_SUPERUSER_PASSWORD="hunter2-value"), EXIT_CONFIG,
                  ["both FLOTILLA_SUPERUSER_PASSWORD and FLOTILLA_SUPERUSER_PASSWORD_FILE are set"], ["hunter2-value"])
        no_file = dict(env, FLOTILLA_REPLICATION_PASSWORD="hunter3-value")
        del no_file["FLOTILLA_REPLICATION_PASSWORD_FILE"]
        check_run(replicator, no_file, EXIT_CONFIG,
                  ["FLOTILLA_REPLICATION_PASSWORD is set, but secrets are read only from files",
                   "FLOTILLA_REPLICATION_PASSWORD_FILE"], ["hunter3-value"])
        check_run(replicator, dict(env, FLOTILLA_TTL="1"), EXIT_CONFIG, ["ttl = 1 is outside the allowed range"])

        proxy = os.path.join(c.build, "flotilla-proxy-agent")
        penv = {"FLOTILLA_SCOPE": c.scope, "FLOTILLA_ETCD_ENDPOINTS": c.etcd_endpoint,
                "FLOTILLA_HAPROXY_SOCKETS": "/run/haproxy/admin.sock"}
        check_run(proxy, penv, EXIT_OK, ["configuration from the environment is valid"])
        check_run(proxy, {k: v for k, v in penv.items() if k != "FLOTILLA_HAPROXY_SOCKETS"}, EXIT_CONFIG,
                  ['"haproxy.sockets" is missing', "FLOTILLA_HAPROXY_SOCKETS"])

        logpath = os.path.join(n2, "agent.log")
        with open(logpath, "ab") as logf:
            p = subprocess.Popen(as_postgres([replicator]), env=clean_env(env), stdout=logf, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True, cwd="/")
        log("started n2 from the environment alone: pid %d" % p.pid)
        try:
            leader = c.leader()
            c.n = 2
            c.info["nodes"].append({"name": "n2", "pg_port": pg_port, "api_port": api_port,
                                    "data_dir": env["FLOTILLA_DATA_DIR"], "agent_pid": p.pid, "log": logpath,
                                    "dsn": c.node("n1")["dsn"].replace("port=%d" % c.node("n1")["pg_port"], "port=%d" % pg_port)})
            c.agent_pids["n2"] = p.pid
            try:
                c.wait_rejoined("n2", leader, timeout=90)
            except Exception:
                with open(logpath, errors="replace") as f:
                    log("n2's log:\n" + f.read()[-4000:])
                raise
            log("n2 (no configuration file) streams from %s" % leader)
            p.send_signal(signal.SIGTERM)
            rc = p.wait(60)
            check(rc == 0, "n2 exited %d after SIGTERM" % rc)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait(10)
            for pid, _ in processes_under(n2):
                signal_pid(pid, signal.SIGKILL)


if __name__ == "__main__":
    run_test(main)
