#!/usr/bin/python3
"""`flotilla upgrade` on stacks/ha, on the real Docker engine, with clients
running through HAProxy the whole time: a writer on the rw port (an INSERT
every 20 ms) and a reader on the ro port (a new session and a SELECT every
50 ms).

  images    two more tags of the tree's database image: flotilla/db:NEXT
            (a label apart) and flotilla/db:BAD (whose healthcheck fails);
  backup    `flotilla backup now` before anything changes;
  failure   `flotilla upgrade --image flotilla/db:BAD`: the first replica's
            new container turns unhealthy, the upgrade stops with a message
            naming it, the node stays drained, and the cluster still
            answers writes and reads;
  upgrade   `flotilla upgrade --image flotilla/db:NEXT --yes --json`
            resumes: the drained node first, the other replica, the
            switchover, the old leader last; every member ends on NEXT with
            the volume it had (no re-clone), streaming;
  clients   no read failed, no acknowledged write lost, and the longest
            pause between two acknowledged writes (the switchover's) printed;
  restore   the backup taken before the upgrade restores and passes a drill
            (flotilla-backup drill --backup LABEL in the sidecar)."""
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import psycopg2  # noqa: E402

from e2e import FLOTILLA, Stack, build_images, check, dsn, free_port, log, query, run_test, sh, wait_for  # noqa: E402
from harness import Writer  # noqa: E402

DBS = ["db1", "db2", "db3"]
SERVICES = ["etcd1", "etcd2", "etcd3"] + DBS + ["backup", "haproxy"]
SERVER_SQL = "substring(current_setting('cluster_name') from '[0-9]+$')::int"
TAG = "e2e-%d" % os.getpid()
NEXT, BAD = "flotilla/db:%s-next" % TAG, "flotilla/db:%s-bad" % TAG


class Reader(threading.Thread):
    """A new session on the ro port every 50 ms, one SELECT each; counts what failed."""

    def __init__(self, port, password):
        super().__init__(daemon=True)
        self.dsn = dsn(port, password, 2)
        self.stop_event = threading.Event()
        self.ok = self.failed = 0
        self.errors = {}

    def run(self):
        while not self.stop_event.is_set():
            try:
                conn = psycopg2.connect(self.dsn)
                try:
                    with conn.cursor() as cur:
                        cur.execute("SELECT pg_is_in_recovery()")
                        cur.fetchone()
                    self.ok += 1
                finally:
                    conn.close()
            except psycopg2.Error as e:
                self.failed += 1
                key = str(e).strip().splitlines()[0][:100] if str(e).strip() else type(e).__name__
                self.errors[key] = self.errors.get(key, 0) + 1
            self.stop_event.wait(0.05)


def build_tags():
    """NEXT and BAD from the tree's image (built by images/build), without the network."""
    sh(["docker", "build", "-q", "-t", NEXT, "--label", "org.flotilla.e2e.upgrade=next", "-"],
       input=b"FROM flotilla/db:dev\n")
    sh(["docker", "build", "-q", "-t", BAD, "--label", "org.flotilla.e2e.upgrade=bad", "-"],
       input=b"FROM flotilla/db:dev\nHEALTHCHECK --interval=2s --timeout=2s --start-period=1s --retries=2 CMD false\n")
    ids = {t: sh(["docker", "image", "inspect", "-f", "{{.Id}}", t]).stdout.decode().strip()
           for t in ("flotilla/db:dev", NEXT, BAD)}
    check(len(set(ids.values())) == 3, "the three tags are not three images: %s" % ids)
    log("images: %s and %s built from flotilla/db:dev (%s, %s)" % (NEXT, BAD, ids[NEXT][:19], ids[BAD][:19]))
    return ids


def upgrade(s, image, *args):
    cmd = [FLOTILLA, "upgrade", "--stack", "ha", "--project", s.project, "--secrets", s.secrets_dir,
           "--image", image, "--yes"] + list(args)
    t0 = time.monotonic()
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=s.env, timeout=1800)
    out, err = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
    print(err[-6000:], flush=True)
    return r.returncode, out, err, time.monotonic() - t0


def db_state(s, svc):
    """(image id, data volume name, health) of the service's container."""
    info = s.inspect(svc)
    vol = [m["Name"] for m in info["Mounts"] if m.get("Destination") == "/var/lib/postgresql/data"]
    return info["Image"], vol[0] if vol else None, info["State"].get("Health", {}).get("Status")


def members(s):
    out = s.exec("db1", "sh", "-c", 'exec flotilla list --json --etcd "$FLOTILLA_ETCD_ENDPOINTS" '
                 '--scope "$FLOTILLA_SCOPE"').stdout.decode()
    return {m["member"]: m for m in json.loads(out)}


def longest_pause(writer, t0, t1):
    with writer.lock:
        ts = [a[2] for a in writer.acked if t0 <= a[2] <= t1]
    return max((b - a for a, b in zip(ts, ts[1:])), default=t1 - t0)


def main():
    build_images()
    ids = build_tags()
    ports = {"FLOTILLA_RW_PORT": str(free_port()), "FLOTILLA_RO_PORT": str(free_port()),
             "FLOTILLA_HAPROXY_METRICS_PORT": str(free_port()), "FLOTILLA_BACKUP_PORT": str(free_port())}
    try:
        with Stack("ha", ports) as s:
            run(s, ids)
    finally:
        sh(["docker", "rmi", "-f", NEXT, BAD], check_rc=False)


def run(s, ids):
    s.make_secrets()
    password = s.secret_values["superuser_password"]
    rw, ro = int(s.env["FLOTILLA_RW_PORT"]), int(s.env["FLOTILLA_RO_PORT"])
    s.compose("up", "-d", timeout=600)
    s.wait_healthy(SERVICES, 300)
    wait_for(lambda: all(m["state"] in ("running", "streaming") and (m["role"] == "Leader" or m["lag_in_mb"] == 0)
                         for m in members(s).values()) and len(members(s)) == 3, 180,
             "a leader and two replicas streaming, caught up")
    before = {d: db_state(s, d) for d in DBS}
    leader = [n for n, m in members(s).items() if m["role"] == "Leader"][0]
    log("up: %s leads; volumes %s" % (leader, ", ".join("%s %s" % (d, before[d][1]) for d in DBS)))

    token = os.path.join(s.secrets_dir, "backup_token")
    url = "http://127.0.0.1:%s" % s.env["FLOTILLA_BACKUP_PORT"]
    def listed():
        r = sh([FLOTILLA, "backup", "list", "--json", "--url", url, "--token-file", token], check_rc=False)
        return r.returncode == 0 and json.loads(r.stdout.decode())
    wait_for(listed, 180, "the bootstrap backup")
    label = sh([FLOTILLA, "backup", "now", "--url", url, "--token-file", token], timeout=600).stdout.decode().split()[-1]
    log("backup: %s taken before the upgrade" % label)

    Writer.create_table(dsn(rw, password, 5), "w_upgrade")
    writer = Writer(dsn(rw, password, 1), "w_upgrade", interval=0.02, timeout=1.0, server_sql=SERVER_SQL)
    reader = Reader(ro, password)
    writer.start()
    reader.start()
    t_start = time.monotonic()
    try:
        wait_for(lambda: writer.acked_count() > 10 and reader.ok > 10, 60, "the writer and the reader going")

        log("failure: an image whose healthcheck fails")
        rc, out, err, took = upgrade(s, BAD, "--timeout", "180")
        check(rc == 11 and "unhealthy" in err and "stays drained" in err,
              "upgrade to a bad image: exit %d (want 11, unhealthy, stays drained)" % rc)
        failed_node = [d for d in DBS if db_state(s, d)[0] == ids[BAD]]
        check(len(failed_node) == 1, "nodes on the bad image: %s" % failed_node)
        m = members(s)
        check(m[failed_node[0]]["drained"], "%s is not drained after the failed step" % failed_node[0])
        n_acked = writer.acked_count()
        wait_for(lambda: writer.acked_count() > n_acked + 10, 30, "writes still acknowledged")
        n_read = reader.ok
        wait_for(lambda: reader.ok > n_read + 10, 30, "reads still answered")
        log("failure: stopped after %.1f s on %s (unhealthy, drained); writes and reads go on: %s"
            % (took, failed_node[0], [ln for ln in err.splitlines() if "unhealthy" in ln][:1]))

        log("upgrade: resumed with a good image")
        t0 = time.monotonic()
        rc, out, err, took = upgrade(s, NEXT, "--json")
        t1 = time.monotonic()
        check(rc == 0, "upgrade to %s exited %d" % (NEXT, rc))
        summary = json.loads(out)
        order = [r["node"] for r in summary["nodes"]]
        check(order[0] == failed_node[0] and len(order) == 3 and order[-1] == leader,
              "the upgrade went %s: the drained node first, the leader %s last" % (order, leader))
        check(summary["switchover"] and summary["switchover"]["from"] == leader,
              "no switchover from %s in the summary: %s" % (leader, summary["switchover"]))
        wait_for(lambda: all(db_state(s, d)[2] == "healthy" for d in DBS), 60, "every member healthy")
        time.sleep(2)
    finally:
        writer.stop()
        reader.stop_event.set()
        reader.join(10)

    after = {d: db_state(s, d) for d in DBS}
    for d in DBS:
        check(after[d][0] == ids[NEXT], "%s runs %s, not %s" % (d, after[d][0][:19], NEXT))
        check(after[d][1] == before[d][1], "%s's volume changed from %s to %s" % (d, before[d][1], after[d][1]))
        # The container's own log (it began with its recreation): started on its data, not cloned again.
        logs = s.compose("logs", "--no-color", d, timeout=60).stdout.decode(errors="replace")
        check("cloning from" not in logs, "%s was cloned again on the new image" % d)
    check(not any(r["recloned"] for r in summary["nodes"]), "a node was cloned again: %s" % summary["nodes"])
    m = members(s)
    check(all(m[d]["state"] in ("running", "streaming") and not m[d]["drained"] for d in DBS),
          "after the upgrade: %s" % {d: (m[d]["state"], m[d]["drained"]) for d in DBS})
    acked = set(writer.acked_ids())
    have = set(x[0] for x in query(rw, password, "SELECT id FROM w_upgrade"))
    lost = acked - have
    pause = longest_pause(writer, t0, t1)
    check(not lost, "%d acknowledged writes lost: %s" % (len(lost), sorted(lost)[:10]))
    check(reader.failed == 0, "%d reads failed: %s" % (reader.failed, reader.errors))
    for r in summary["nodes"]:
        log("  %s: %s -> %s, drained %.1f s, caught up %.1f s after its recreation" % (
            r["node"], r["from"], r["to"], r["drained_seconds"], r["catch_up_seconds"]))
    log("upgrade: every member on %s with its volume in %.1f s; switchover %s -> %s %.1f s; %d reads, none failed; "
        "%d writes acknowledged, none lost; longest write pause %.2f s (%.1f s of clients in all)"
        % (NEXT, took, summary["switchover"]["from"], summary["switchover"]["to"], summary["switchover"]["seconds"],
           reader.ok, len(acked), pause, time.monotonic() - t_start))

    r = s.exec("backup", "flotilla-backup", "drill", "--backup", label, "--report", "/tmp/e2e-drill.json",
               check_rc=False)
    report = json.loads(s.exec("backup", "cat", "/tmp/e2e-drill.json").stdout.decode())
    failed = [(p.get("name"), p.get("error")) for p in report.get("phases", []) if not p.get("ok", True)]
    check(r.returncode == 0 and report.get("backup") == label and report.get("verdict") == "pass",
          "the drill of %s after the upgrade: exit %d, verdict %s, failed phases %s\n%s" % (
              label, r.returncode, report.get("verdict"), failed, r.stderr.decode(errors="replace")[-3000:]))
    log("restore: %s, taken before the upgrade, restored and passed a drill after it" % label)


if __name__ == "__main__":
    run_test(main)
