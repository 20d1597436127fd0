#!/usr/bin/python3
"""stacks/ha on the real Docker engine: three etcd members, three database
nodes, HAProxy with flotilla-proxy-agent.

  up         `docker-compose up -d`: every service healthy; one leader,
             two replicas streaming; a write through HAProxy's rw port is
             read back through its ro port (from a replica); the
             /docker-entrypoint-initdb.d mounted in every member ran once;
  backup     the backup sidecar's bootstrap backup is listed (GET /backups
             on its published port, with the token of the stack's
             secrets); `flotilla backup now` takes one from a replica and
             `flotilla backup list` shows it; the members' WAL is archived
             (GET /status); `flotilla drill` restores the newest backup and
             proves it; Prometheus scrapes the sidecar, and no backup alert
             fires;
  secrets    no secret value in `docker inspect`, any process's argv or
             environment, or the logs; no process runs as root (the
             backup sidecar's included);
  kill       `docker kill` of the leader's container, FLOTILLA_E2E_TRIALS
             times (default 5): a replica takes over and writes through the
             rw port resume (time from the kill to the first acknowledged
             write); `docker start` of the old one brings it back as a
             streaming replica;
  stop       `docker stop` of the leader: it hands its key over; the
             longest pause between two acknowledged writes, and no
             acknowledged write lost;
  etcd       the etcd member that leads etcd killed: the same database
             leader, no failed write; started again, it rejoins;
  restart    `down` then `up` keeps every row and every backup;
  monitoring the monitoring profile's Prometheus scrapes every agent,
             HAProxy and the backup sidecar, stays quiet on the healthy
             cluster, and fires FlotillaFailover after the kills."""
import json
import os
import urllib.request
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import psycopg2  # noqa: E402

import shutil  # noqa: E402

from e2e import (FLOTILLA, Stack, build_images, check, dsn, free_port, initdb_dir, initdb_override, log,  # noqa: E402
                 query, run_test, sh, wait_for)
from harness import Writer  # noqa: E402

DBS = ["db1", "db2", "db3"]
ETCDS = ["etcd1", "etcd2", "etcd3"]
SERVICES = ETCDS + DBS + ["backup", "haproxy", "prometheus"]
BACKUP_ALERTS = ["FlotillaBackupFailed", "FlotillaBackupTooOld", "FlotillaDrillFailed", "FlotillaWalArchiveFailing",
                 "FlotillaBackupDown"]
TRIALS = int(os.environ.get("FLOTILLA_E2E_TRIALS", "5"))


# The acknowledging member's number, for Writer: every member listens on 5432.
SERVER_SQL = "substring(current_setting('cluster_name') from '[0-9]+$')::int"


def member_number(name):
    return int(name[2:])


def writer_for(ha, table, timeout=1.0):
    Writer.create_table(ha.dsn(ha.rw), table)
    w = Writer(ha.dsn(ha.rw, 1), table, interval=0.02, timeout=timeout, server_sql=SERVER_SQL)
    w.start()
    return w


class Ha:
    def __init__(self, s):
        self.s = s
        self.password = s.secret_values["superuser_password"]
        self.rw = int(s.env["FLOTILLA_RW_PORT"])
        self.ro = int(s.env["FLOTILLA_RO_PORT"])

    def dsn(self, port, timeout=2):
        return dsn(port, self.password, timeout)

    def query(self, port, sql, args=None):
        return query(port, self.password, sql, args)

    def try_query(self, port, sql):
        try:
            return self.query(port, sql)
        except psycopg2.Error:
            return None

    def leader(self):
        """The member the rw port reaches (its cluster_name is scope-member), when it is writable."""
        r = self.try_query(self.rw, "SELECT current_setting('cluster_name'), pg_is_in_recovery()")
        if not r or r[0][1]:
            return None
        return r[0][0].rsplit("-", 1)[1]

    def streaming(self, leader):
        """The members streaming from the leader, by its pg_stat_replication."""
        r = self.try_query(self.rw, "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming'")
        return sorted(x[0] for x in r or [])

    def wait_settled(self, timeout=120):
        """A leader with both other members streaming from it; returns the leader."""
        state = {}

        def settled():
            lead = self.leader()
            state["leader"] = lead
            if lead is None:
                return False
            return self.streaming(lead) == sorted(d for d in DBS if d != lead)

        wait_for(settled, timeout, "a leader with two streaming replicas", interval=0.5)
        return state["leader"]

    def rows(self, table):
        return self.query(self.rw, "SELECT count(*) FROM %s" % table)[0][0]


def prometheus(s, path):
    url = "http://127.0.0.1:%s%s" % (s.env["FLOTILLA_PROMETHEUS_PORT"], path)
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read().decode())["data"]


def targets_up(s):
    """Every scrape target of the monitoring profile up: the three agents, HAProxy, the proxy agent, the backup
    sidecar, Prometheus itself."""
    active = prometheus(s, "/api/v1/targets")["activeTargets"]
    return len(active) == 7 and all(t["health"] == "up" for t in active)


def metric(s, name):
    """The value of a metric of one series as Prometheus last scraped it, or None."""
    r = prometheus(s, "/api/v1/query?query=%s" % name)["result"]
    return float(r[0]["value"][1]) if r else None


def alert_firing(s, name):
    return any(a["labels"]["alertname"] == name and a["state"] == "firing"
               for a in prometheus(s, "/api/v1/alerts")["alerts"])


def up(s, ha):
    t0 = time.monotonic()
    s.compose("up", "-d", timeout=600)
    s.wait_healthy(SERVICES, 300)
    healthy = time.monotonic() - t0
    leader = ha.wait_settled(180)
    log("up: every service healthy %.1f s after `up`; %s leads, the others stream (%.1f s)"
        % (healthy, leader, time.monotonic() - t0))
    wait_for(lambda: targets_up(s), 60,
             "Prometheus scraping the three agents, HAProxy, the proxy agent and the backup sidecar",
             interval=1)
    check(not alert_firing(s, "FlotillaNoLeader"), "FlotillaNoLeader fires on a healthy cluster")
    log("monitoring: Prometheus scrapes the three agents, HAProxy, the proxy agent and the backup sidecar; no alert "
        "on the healthy cluster")
    return leader


class Sidecar:
    """The backup sidecar through its published port, with the token of the stack's secrets directory."""

    def __init__(self, s):
        self.url = "http://127.0.0.1:%s" % s.env["FLOTILLA_BACKUP_PORT"]
        self.token_file = os.path.join(s.secrets_dir, "backup_token")
        self.args = ["--url", self.url, "--token-file", self.token_file]

    def get(self, path):
        with open(self.token_file) as f:
            token = f.read().strip()
        req = urllib.request.Request(self.url + path, headers={"Authorization": "Bearer " + token})
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.loads(r.read().decode())

    def flotilla(self, *args, timeout=300):
        return sh([FLOTILLA] + list(args) + self.args, timeout=timeout).stdout.decode()


def backups(s, t_up):
    """The sidecar's first backup, one on demand, the archived WAL, a drill, and Prometheus quiet about them;
    returns how many backups are listed."""
    b = Sidecar(s)
    first = wait_for(lambda: b.get("/backups"), 120, "the sidecar's bootstrap backup in GET /backups", interval=1)[0]
    log("backup: the bootstrap backup %s (from %s, the %s, %.1f MB) listed by GET /backups %.1f s after `up`"
        % (first["label"], first["source"], first["source_role"], first["size"] / 1e6, time.monotonic() - t_up))

    t0 = time.monotonic()
    label = b.flotilla("backup", "now").split()[-1]
    took = time.monotonic() - t0
    listed = json.loads(b.flotilla("backup", "list", "--json"))
    mine = [x for x in listed if x["label"] == label]
    check(mine, "flotilla backup list does not show %s: %s" % (label, [x["label"] for x in listed]))
    check(mine[0]["source_role"] == "replica", "backup %s was taken from %s, the %s, with two replicas streaming"
          % (label, mine[0]["source"], mine[0]["source_role"]))
    log("backup: `flotilla backup now` took %s from replica %s in %.1f s (%.1f MB); `flotilla backup list` shows "
        "%d backups" % (label, mine[0]["source"], took, mine[0]["size"] / 1e6, len(listed)))

    status = wait_for(lambda: (lambda st: st if st["wal_archived"] > 0 else None)(b.get("/status")), 90,
                      "WAL archived (GET /status's wal_archived)", interval=1)
    log("backup: %d WAL files archived by the members, the newest %s, %d refused or failed"
        % (status["wal_archived"], status["wal_last_archived"], status["wal_failed"]))

    t0 = time.monotonic()
    report = json.loads(b.flotilla("drill", "--json", timeout=600))
    check(report["verdict"] == "pass", "the drill failed: %s" % json.dumps(report)[:2000])
    log("drill: `flotilla drill` restored %s and proved it in %.1f s (%s); RTO %.1f s, %d bytes of WAL short of the "
        "archive's end" % (report["backup"], time.monotonic() - t0,
                           ", ".join(p["name"] for p in report["phases"]), report["rto_seconds"],
                           report["rpo_bytes"]))

    # Prometheus has scraped the drill's verdict: every backup figure of the healthy stack is in.
    wait_for(lambda: metric(s, "flotilla_drill_last_passed") == 1, 30, "Prometheus scraping the drill's verdict",
             interval=1)
    firing = [a for a in BACKUP_ALERTS if alert_firing(s, a)]
    check(not firing, "backup alerts fire on the healthy stack: %s" % firing)
    log("monitoring: Prometheus scrapes the sidecar (%d backups, the drill passed); no backup alert fires"
        % metric(s, "flotilla_backup_count"))
    return len(listed)


def write_read(ha):
    ha.query(ha.rw, "CREATE TABLE e2e (id int PRIMARY KEY, v text)")
    ha.query(ha.rw, "INSERT INTO e2e SELECT g, 'row ' || g FROM generate_series(1, 100) g")

    def read_back():
        r = ha.try_query(ha.ro, "SELECT count(*), pg_is_in_recovery(), current_setting('cluster_name') FROM e2e")
        return r[0] if r and r[0][0] == 100 else None

    count, recovery, name = wait_for(read_back, 30, "the rows through the ro port")
    check(recovery, "the ro port reached the primary (%s) with two replicas fit" % name)
    log("write through rw (127.0.0.1:%d), read back through ro (127.0.0.1:%d) from replica %s"
        % (ha.rw, ha.ro, name))


def kill_trials(s, ha, writer):
    times = []
    for trial in range(1, TRIALS + 1):
        old = ha.wait_settled(180)
        time.sleep(1)
        t_kill = time.monotonic()
        sh(["docker", "kill", s.container(old)])
        first = wait_for(lambda: writer.first_ack_after(t_kill, not_port=member_number(old)), 60,
                         "a write acknowledged after the kill by another member", interval=0.05)
        took = first[2] - t_kill
        new = wait_for(ha.leader, 30, "the new leader")
        check(new != old, "%s still leads after its kill" % old)
        times.append(took)
        sh(["docker", "start", s.container(old)])
        t_start = time.monotonic()
        wait_for(lambda: old in ha.streaming(new), 180, "%s streaming again" % old, interval=0.5)
        log("  kill %d/%d: %s killed, %s leads, first write acknowledged %.2f s after the kill; %s streams "
            "again %.1f s after `docker start`" % (trial, TRIALS, old, new, took, old, time.monotonic() - t_start))
    log("kill: first write %.2f s median, %.2f s max, %.2f s min over %d trials"
        % (statistics.median(times), max(times), min(times), len(times)))
    check(max(times) < 30, "writes resumed only after %.1f s" % max(times))
    return times


def longest_pause(writer, t0, t1):
    with writer.lock:
        ts = [a[2] for a in writer.acked if t0 <= a[2] <= t1]
    return max((b - a for a, b in zip(ts, ts[1:])), default=t1 - t0)


def stop_trial(s, ha, writer, table):
    old = ha.wait_settled(180)
    time.sleep(1)
    t_stop = time.monotonic()
    sh(["docker", "stop", s.container(old)], timeout=120)
    stopped = time.monotonic() - t_stop
    new = wait_for(ha.leader, 30, "the new leader")
    t_new = time.monotonic()
    wait_for(lambda: writer.first_ack_after(t_new), 30, "writes after the stop", interval=0.05)
    pause = longest_pause(writer, t_stop - 1, time.monotonic())
    check(new != old, "%s still leads after its stop" % old)
    sh(["docker", "start", s.container(old)])
    wait_for(lambda: old in ha.streaming(new), 180, "%s streaming again" % old, interval=0.5)
    acked = set(writer.acked_ids())
    have = set(x[0] for x in ha.query(ha.rw, "SELECT id FROM %s" % table))
    lost = acked - have
    log("stop: `docker stop` of %s took %.1f s; %s leads; longest write pause %.2f s; %d acknowledged writes, "
        "%d lost" % (old, stopped, new, pause, len(acked), len(lost)))
    check(not lost, "acknowledged writes lost across a clean stop: %s" % sorted(lost)[:10])
    check(pause < 10, "writes paused %.1f s across a clean stop" % pause)
    return pause


def etcd_leader(s):
    """The etcd member that leads etcd, as the members still running say."""
    for e in ETCDS:
        r = s.exec(e, "etcdctl", "endpoint", "status", "-w", "json", check_rc=False)
        if r.returncode != 0:
            continue
        status = json.loads(r.stdout.decode())[0]["Status"]
        if status["header"]["member_id"] == status["leader"]:
            return e
    return None


def etcd_trial(s, ha, writer):
    lead = ha.wait_settled(180)
    victim = wait_for(lambda: etcd_leader(s), 30, "etcd's leader")
    time.sleep(1)
    failed0 = writer.failed
    t0 = time.monotonic()
    sh(["docker", "kill", s.container(victim)])
    time.sleep(12)
    after = ha.leader()
    failed = writer.failed - failed0
    pause = longest_pause(writer, t0, time.monotonic())
    new_etcd = etcd_leader(s)
    log("etcd: killed %s (etcd's leader; now %s); %s led before, %s after; %d failed writes, longest pause %.2f s"
        % (victim, new_etcd, lead, after, failed, pause))
    check(after == lead, "the database leader changed from %s to %s when etcd lost a member" % (lead, after))
    check(failed == 0, "%d writes failed when etcd lost a member: %s" % (failed, writer.summary()))
    sh(["docker", "start", s.container(victim)])
    s.wait_healthy(ETCDS, 120)


def main():
    build_images()
    ports = {"FLOTILLA_RW_PORT": str(free_port()), "FLOTILLA_RO_PORT": str(free_port()),
             "FLOTILLA_HAPROXY_METRICS_PORT": str(free_port()), "FLOTILLA_PROMETHEUS_PORT": str(free_port()),
             "FLOTILLA_BACKUP_PORT": str(free_port()), "COMPOSE_PROFILES": "monitoring"}
    initdb = initdb_dir()
    try:
        with Stack("ha", ports, initdb_override(DBS, initdb)) as s:
            ha_stack(s)
    finally:
        shutil.rmtree(initdb, ignore_errors=True)


def initdb_ran_once(ha):
    """Every member has /docker-entrypoint-initdb.d; only the one that initialised the cluster ran it."""
    rows, runs = ha.rows("initdb_rows"), ha.rows("initdb_runs")
    check(rows == 42 and runs == 1, "docker-entrypoint-initdb.d: %d rows (not 42), %d runs (not 1)" % (rows, runs))
    sourced = ha.query(ha.rw, "SELECT who, db, unset FROM initdb_sourced")
    check(sourced == [("postgres", "postgres", "")], "the sourced script saw %s" % sourced)


def ha_stack(s):
    s.make_secrets()
    ha = Ha(s)
    t_up = time.monotonic()
    up(s, ha)
    write_read(ha)
    initdb_ran_once(ha)
    log("docker-entrypoint-initdb.d, mounted in the three members, ran once")

    log("backup")
    n_backups = backups(s, t_up)

    log("secrets")
    s.check_no_secrets(ETCDS + DBS + ["backup", "haproxy", "prometheus"])
    user = s.inspect("backup")["Config"]["User"]
    check(user == "postgres", "the backup image runs as %r, not postgres" % user)

    log("kill")
    writer = writer_for(ha, "w_kill", 1.0)
    try:
        kill_trials(s, ha, writer)
    finally:
        writer.stop()
    log("  " + writer.summary())
    wait_for(lambda: alert_firing(s, "FlotillaFailover"), 60, "Prometheus's FlotillaFailover alert", interval=1)
    log("monitoring: FlotillaFailover fires after the kills")
    b = Sidecar(s)
    st = b.get("/status")
    log("backup: after the kills %d backups listed (one after a promotion; retention keeps 7), %d WAL files "
        "archived, %d refused or failed; backup alerts firing: %s"
        % (len(b.get("/backups")), st["wal_archived"], st["wal_failed"],
           [a for a in BACKUP_ALERTS if alert_firing(s, a)] or "none"))

    log("stop")
    writer = writer_for(ha, "w_stop", 1.0)
    try:
        time.sleep(2)
        stop_trial(s, ha, writer, "w_stop")
    finally:
        writer.stop()

    log("etcd")
    writer = writer_for(ha, "w_etcd", 2.0)
    try:
        time.sleep(2)
        etcd_trial(s, ha, writer)
    finally:
        writer.stop()

    log("restart")
    rows = ha.rows("w_stop")
    s.compose("down", "-t", "60", timeout=300)
    t0 = time.monotonic()
    s.compose("up", "-d", timeout=300)
    s.wait_healthy(SERVICES, 300)
    leader = ha.wait_settled(180)
    log("  `up` on the existing volumes: healthy and settled (%s leads) after %.1f s"
        % (leader, time.monotonic() - t0))
    check(ha.rows("e2e") == 100, "e2e lost rows across down and up")
    initdb_ran_once(ha)
    check(ha.rows("w_stop") == rows, "w_stop has %d rows after down and up, not %d" % (ha.rows("w_stop"), rows))
    kept = len(Sidecar(s).get("/backups"))
    check(kept >= n_backups, "%d backups listed after down and up, %d before the kills" % (kept, n_backups))
    log("  the repository kept its backups across down and up: %d listed (%d before the kills)" % (kept, n_backups))


if __name__ == "__main__":
    run_test(main)
