#!/usr/bin/python3
"""stacks/ha/docker-stack.yml on a single-node Docker Swarm that the test
makes (`docker swarm init --advertise-addr 127.0.0.1`) and leaves at the
end, also on failure (only when it made it; an engine already in a swarm is
left as it was, and the test deploys there).

  deploy   `flotilla stack deploy` (stacks/ha/docker-stack.yml): the node
           labelled for every member and the backup sidecar, the secrets
           made and given as Swarm secrets, every task (the sidecar's
           included) running and healthy when it returns;
           one leader and two streaming replicas; a write through
           haproxy:5000 (from inside a member's container: Swarm publishes
           no port on 127.0.0.1) read back through haproxy:5001;
  secrets  no secret value in `docker inspect` of any task's container or
           service, nor in any process's argv or environment;
  kill     `docker kill` of the leader's task: writes through
           haproxy:5000 resume; Swarm starts a new task of the member, and
           the cluster has a leader and two streaming replicas again (the
           old leader, back within seconds with the most WAL, may lead
           again);
  upgrade  `flotilla upgrade --swarm` to a second tag of the database
           image: each member's service updated in turn (the leader's
           last, after a switchover), every member on the new image, every
           row kept, a write through haproxy:5000 after it."""
import json
import os
import secrets
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e import (FLOTILLA, IMAGE_UID, TestFailure, build_images, check, container_processes, lasting_root,  # noqa: E402
                 log, run_test, sh, wait_for)

DBS = ["db1", "db2", "db3"]
ETCDS = ["etcd1", "etcd2", "etcd3"]
# The services pinned by a node label to the node holding their volume.
PINNED = ETCDS + DBS + ["backup"]
SERVICES = PINNED + ["haproxy"]
SECRETS = ("superuser_password", "replication_password", "api_token", "backup_token")
NEXT = "flotilla/db:e2e-swarm-%d" % os.getpid()
# psql inside a member's container, the password read there from its secret (never on a command line).
PSQL = ("PGPASSWORD=$(cat /run/secrets/superuser_password) /usr/lib/postgresql/15/bin/psql -X -qAt "
        "-v ON_ERROR_STOP=1 \"host=%s port=%d user=postgres dbname=postgres connect_timeout=2\" -c \"$1\"")


class Swarm:
    def __init__(self):
        self.name = "fle2e%s" % secrets.token_hex(3)
        self.made_swarm = False
        self.had_gwbridge = True
        self.node = None
        self.secrets_dir = tempfile.mkdtemp(prefix="flotilla-e2e-swarm-")
        self.values = []

    def __enter__(self):
        state = sh(["docker", "info", "-f", "{{.Swarm.LocalNodeState}}"]).stdout.decode().strip()
        if state != "active":
            self.had_gwbridge = sh(["docker", "network", "inspect", "docker_gwbridge"], check_rc=False).returncode == 0
            sh(["docker", "swarm", "init", "--advertise-addr", "127.0.0.1"])
            self.made_swarm = True
        self.node = sh(["docker", "info", "-f", "{{.Swarm.NodeID}}"]).stdout.decode().strip()
        return self

    def __exit__(self, *exc):
        if exc[0] is not None:
            self.dump_logs()
        sh(["docker", "stack", "rm", self.name], check_rc=False)
        # Containers go first; then the volumes and networks they held can go.
        try:
            wait_for(lambda: not self.containers(all_states=True), 120, "the stack's containers gone", interval=1)
        except TestFailure:
            left = self.containers(all_states=True)
            if left:
                sh(["docker", "rm", "-f"] + left, check_rc=False)
        vols = sh(["docker", "volume", "ls", "-q", "--filter", "label=com.docker.stack.namespace=%s" % self.name],
                  check_rc=False).stdout.decode().split()
        for _ in range(30):
            if not vols:
                break
            sh(["docker", "volume", "rm"] + vols, check_rc=False)
            vols = sh(["docker", "volume", "ls", "-q", "--filter",
                       "label=com.docker.stack.namespace=%s" % self.name], check_rc=False).stdout.decode().split()
            time.sleep(1)
        if self.made_swarm:
            sh(["docker", "swarm", "leave", "--force"], check_rc=False)
            # swarm init made the bridge to the overlay networks; leave keeps it.
            if not self.had_gwbridge:
                sh(["docker", "network", "rm", "docker_gwbridge"], check_rc=False)
        else:
            for label in PINNED:
                sh(["docker", "node", "update", "--label-rm", "flotilla.%s" % label, self.node], check_rc=False)
        shutil.rmtree(self.secrets_dir, ignore_errors=True)
        return False

    def dump_logs(self):
        for svc in SERVICES:
            r = sh(["docker", "service", "logs", "--no-task-ids", "--tail", "30", "%s_%s" % (self.name, svc)],
                   check_rc=False, timeout=60)
            print((r.stdout + r.stderr).decode(errors="replace")[-6000:], flush=True)

    def containers(self, service=None, all_states=False):
        cmd = ["docker", "ps", "-q", "--filter", "label=com.docker.stack.namespace=%s" % self.name]
        if service:
            cmd += ["--filter", "label=com.docker.swarm.service.name=%s_%s" % (self.name, service)]
        if all_states:
            cmd.append("-a")
        return sh(cmd, check_rc=False).stdout.decode().split()

    def container(self, service):
        ids = self.containers(service)
        check(ids, "no running task of %s" % service)
        return ids[0]

    def healthy(self, services):
        for svc in services:
            ids = self.containers(svc)
            if len(ids) != 1:
                return False
            st = json.loads(sh(["docker", "inspect", ids[0]]).stdout.decode())[0]["State"]
            # etcd runs without a HEALTHCHECK under Swarm (see the stack file): running is all it says.
            if st.get("Health", {}).get("Status", "healthy" if st.get("Status") == "running" else "") != "healthy":
                return False
        return True

    def psql(self, via, host, port, sql):
        """sql through host:port from inside via's container; its output, or None when it failed."""
        ids = self.containers(via)
        if not ids:
            return None
        r = sh(["docker", "exec", ids[0], "bash", "-c", PSQL % (host, port), "psql", sql], check_rc=False,
               timeout=30)
        return r.stdout.decode().strip() if r.returncode == 0 else None

    def backups(self, via):
        """The backup sidecar's backups (flotilla backup list) asked from inside via's container over the
        cluster network, with the token of via's own secret; None when it did not answer."""
        ids = self.containers(via)
        if not ids:
            return None
        r = sh(["docker", "exec", ids[0], "flotilla", "backup", "list", "--json", "--url", "http://backup:8010",
                "--token-file", "/run/secrets/backup_token"], check_rc=False, timeout=30)
        return json.loads(r.stdout.decode()) if r.returncode == 0 else None

    def leader(self, via):
        out = self.psql(via, "haproxy", 5000, "SELECT current_setting('cluster_name') || ' ' || pg_is_in_recovery()")
        if not out or not out.endswith(" false"):
            return None
        return out.split()[0].rsplit("-", 1)[1]

    def streaming(self, via):
        out = self.psql(via, "haproxy", 5000,
                        "SELECT string_agg(application_name, ',' ORDER BY application_name) FROM pg_stat_replication "
                        "WHERE state = 'streaming'")
        return out.split(",") if out else []

    def settled(self, via):
        state = {}

        def ok():
            lead = self.leader(via)
            state["leader"] = lead
            return lead is not None and self.streaming(via) == sorted(d for d in DBS if d != lead)

        wait_for(ok, 180, "a leader with two streaming replicas", interval=1)
        return state["leader"]


def main():
    build_images()
    # The image the upgrade rolls out: the tree's, a label apart (built without the network).
    sh(["docker", "build", "-q", "-t", NEXT, "--label", "org.flotilla.e2e.upgrade=swarm", "-"],
       input=b"FROM flotilla/db:dev\n")
    try:
        with Swarm() as s:
            deployed(s)
    finally:
        sh(["docker", "rmi", "-f", NEXT], check_rc=False)


def deployed(s):
    t0 = time.monotonic()
    secrets_dir = os.path.join(s.secrets_dir, "secrets")
    r = sh([FLOTILLA, "stack", "deploy", "--project", s.name, "--secrets", secrets_dir], timeout=600)
    out = r.stdout.decode()
    print(r.stderr.decode()[-3000:], flush=True)
    for n in SECRETS:
        st = os.stat(os.path.join(secrets_dir, n))
        check(st.st_uid == IMAGE_UID and st.st_mode & 0o077 == 0, "%s: uid %d mode %o" % (n, st.st_uid, st.st_mode))
        with open(os.path.join(secrets_dir, n)) as f:
            s.values.append(f.read().strip())
    check(not any(v in out or v in r.stderr.decode() for v in s.values), "flotilla stack deploy printed a secret")
    check("haproxy:5000" in out and "db1" in out, "flotilla stack deploy printed:\n%s" % out)
    labels = sh(["docker", "node", "inspect", "-f", "{{json .Spec.Labels}}", s.node]).stdout.decode()
    check(all('"flotilla.%s":"true"' % m in labels for m in PINNED), "node labels: %s" % labels)
    check(s.healthy(SERVICES), "flotilla stack deploy returned before every task was healthy")
    healthy = time.monotonic() - t0
    leader = s.settled("db1")
    log("deploy: `flotilla stack deploy` labelled the node, made the secrets and returned with every task "
        "healthy in %.1f s; %s leads, the others stream (%.1f s)"
        % (healthy, leader, time.monotonic() - t0))

    via = [d for d in DBS if d != leader][0]
    check(s.psql(via, "haproxy", 5000, "CREATE TABLE swarm (id int PRIMARY KEY)") is not None,
          "CREATE TABLE through haproxy:5000 failed")
    s.psql(via, "haproxy", 5000, "INSERT INTO swarm SELECT generate_series(1, 100)")
    wait_for(lambda: s.psql(via, "haproxy", 5001, "SELECT count(*) || ' ' || pg_is_in_recovery() FROM swarm")
             == "100 true", 30, "the rows through haproxy:5001 from a replica")
    log("a write through haproxy:5000 read back through haproxy:5001 from a replica")

    # The sidecar, asked from a member's container (the cluster network) with the member's own secret.
    listed = wait_for(lambda: s.backups(via), 120, "the backup sidecar's bootstrap backup")
    log("backup: the sidecar's task is healthy and lists its bootstrap backup %s (from %s)"
        % (listed[0]["label"], listed[0]["source"]))

    for svc in SERVICES:
        cid = s.container(svc)
        text = sh(["docker", "inspect", cid]).stdout.decode() + sh(
            ["docker", "service", "inspect", "%s_%s" % (s.name, svc)]).stdout.decode()
        check(not any(v in text for v in s.values), "a secret value is in docker inspect of %s" % svc)
        procs = container_processes(cid)
        check(procs, "no process seen in %s" % svc)
        check(not any(v in p[3] or v in p[4] for p in procs for v in s.values),
              "a secret value is in a process of %s" % svc)
        root = lasting_root(cid, procs)
        check(not root, "%s runs %s as root" % (svc, "; ".join(root)))
    log("secrets: none in docker inspect (containers and services), argv or environ; no process as root")

    old = leader
    via = [d for d in DBS if d != old][0]
    killed = s.container(old)
    t_kill = time.monotonic()
    sh(["docker", "kill", killed])
    n = [0]

    def write():
        n[0] += 1
        return s.psql(via, "haproxy", 5000, "INSERT INTO swarm VALUES (%d) RETURNING 1" % (1000 + n[0])) == "1"

    wait_for(write, 60, "a write through haproxy:5000 after the kill", interval=0.1)
    took = time.monotonic() - t_kill
    # Swarm starts the task again within seconds (restart delay 2 s): the old leader, with the most WAL
    # of an asynchronous cluster, may well win the election again. Either way: one leader, two replicas.
    wait_for(lambda: s.containers(old) and s.containers(old)[0] != killed, 60, "a new task of %s" % old)
    new = s.settled(via)
    total = s.psql(via, "haproxy", 5000, "SELECT count(*) FROM swarm")
    check(total is not None and int(total) >= 101, "rows missing after the kill: %s" % total)
    log("kill: %s's task killed; a write acknowledged through haproxy:5000 %.1f s after the kill (polled "
        "through docker exec); Swarm started a new task of %s; %s leads, the others stream (%.1f s)"
        % (old, took, old, new, time.monotonic() - t_kill))

    upgrade(s, via)


def upgrade(s, via):
    """flotilla upgrade --swarm: each member's service updated in turn, the leader's last after a switchover."""
    leader = s.settled(via)
    before = s.psql(via, "haproxy", 5000, "SELECT count(*) FROM swarm")
    secrets_dir = os.path.join(s.secrets_dir, "secrets")
    t0 = time.monotonic()
    r = sh([FLOTILLA, "upgrade", "--swarm", "--project", s.name, "--secrets", secrets_dir, "--image", NEXT, "--yes",
            "--json"], timeout=1200)
    print(r.stderr.decode()[-4000:], flush=True)
    summary = json.loads(r.stdout.decode())
    want = sh(["docker", "image", "inspect", "-f", "{{.Id}}", NEXT]).stdout.decode().strip()
    images = {d: sh(["docker", "inspect", "-f", "{{.Image}}", s.container(d)]).stdout.decode().strip() for d in DBS}
    check(all(i == want for i in images.values()), "after the upgrade the members run %s, not %s" % (images, want))
    order = [n["node"] for n in summary["nodes"]]
    check(len(order) == 3 and order[-1] == leader and summary["switchover"]["from"] == leader,
          "the upgrade went %s with switchover %s; %s led" % (order, summary["switchover"], leader))
    via = [d for d in DBS if d != summary["switchover"]["to"]][0]
    new = s.settled(via)
    s.psql(via, "haproxy", 5000, "INSERT INTO swarm VALUES (5000)")
    after = s.psql(via, "haproxy", 5000, "SELECT count(*) FROM swarm")
    check(after is not None and int(after) == int(before) + 1, "rows before %s, after %s" % (before, after))
    log("upgrade: `flotilla upgrade --swarm` moved %s to %s in %.1f s (switchover %s -> %s, %.1f s); %s leads; "
        "every row kept" % (" then ".join(order), NEXT, time.monotonic() - t0, summary["switchover"]["from"],
                            summary["switchover"]["to"], summary["switchover"]["seconds"], new))


if __name__ == "__main__":
    run_test(main)
