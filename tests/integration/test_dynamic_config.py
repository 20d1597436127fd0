#!/usr/bin/python3
"""Dynamic configuration in etcd, as Patroni's, on a three-node local cluster:

  reload      `flotilla edit-config --pg work_mem=...` reaches every node's
              PostgreSQL by a reload, and GET /config shows it on every agent;
              a setting one node's file names stays that node's
  restart     `--pg shared_buffers=...` leaves every node's setting as it was
              with a pending restart (flotilla list --json); `flotilla restart
              --pending` restarts the replicas, then the leader, which keeps
              its key: the same leader and term, no failover
  refused     values out of range or of the wrong kind (a shared_buffers
              PostgreSQL would refuse, ttl 1, a ttl not above loop_wait + 1, a
              parameter the agent manages, an unknown setting) are refused
              with the reason and change nothing; a PATCH without the token
              gets 401
  ttl         ttl and loop_wait raised live: every agent moves to a lease with
              the new ttl, the leader keeps its key and term over several new
              loop_waits; then its agent frozen: the fence stops its
              PostgreSQL before etcd expires the key
"""
import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, etcd_get, etcd_lease_of, log, run_test, wait_for  # noqa: E402


def flotilla(c, *args, check_rc=True):
    r = subprocess.run([c.flotilla] + list(args) + ["--dir", c.dir], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=180)
    out, err = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
    if check_rc and r.returncode != 0:
        raise AssertionError("flotilla %s exited %d:\n%s%s" % (" ".join(args), r.returncode, out, err))
    return r.returncode, out, err


def members(c):
    return {m["member"]: m for m in json.loads(flotilla(c, "list", "--json")[1])}


def show(c, name, param):
    return c.q(name, "SHOW %s" % param)[0][0]


def leader_key(c):
    """(value, create_revision) of the leader key, None without one."""
    key = "/flotilla/%s/leader" % c.scope
    req = urllib.request.Request(c.etcd_endpoint.rstrip("/") + "/v3/kv/range",
                                 data=json.dumps({"key": base64.b64encode(key.encode()).decode()}).encode())
    kvs = json.loads(urllib.request.urlopen(req, timeout=2).read()).get("kvs") or []
    return (base64.b64decode(kvs[0]["value"]).decode(), int(kvs[0]["create_revision"])) if kvs else None


def granted_ttl(c, key):
    lease = etcd_lease_of(c.etcd_endpoint, key)
    if not lease:
        return None
    req = urllib.request.Request(c.etcd_endpoint.rstrip("/") + "/v3/lease/timetolive",
                                 data=json.dumps({"ID": str(lease)}).encode())
    return int(json.loads(urllib.request.urlopen(req, timeout=2).read()).get("grantedTTL", 0))


def api_config(c, name):
    with urllib.request.urlopen("http://127.0.0.1:%d/config" % c.node(name)["api_port"], timeout=3) as r:
        return json.loads(r.read())


def reload_phase(c, leader):
    rc, out, _ = flotilla(c, "show-config")
    check(out.strip() == "", "show-config of a new cluster printed %r" % out)
    before = {n: show(c, n, "work_mem") for n in c.names()}
    local = [n for n in c.names() if n != leader][-1]
    c.set_setting(local, "maximum_lag_on_failover", "4194304")
    wait_for(lambda: "config: maximum_lag_on_failover reloaded" in c.read_agent_log(local), 10,
             "%s to reload its file" % local)
    t = time.monotonic()
    _, out, _ = flotilla(c, "edit-config", "--pg", "work_mem=12MB", "--set", "maximum_lag_on_failover=2097152",
                         "--force")
    check("+postgresql.parameters.work_mem: \"12MB\"" in out and "+maximum_lag_on_failover: 2097152" in out,
          "edit-config showed no diff:\n%s" % out)
    wait_for(lambda: all(show(c, n, "work_mem") == "12MB" for n in c.names()), 20, "work_mem 12MB on every node")
    took = time.monotonic() - t
    log("reload: work_mem %s -> 12MB on every node %.2f s after edit-config" % (sorted(set(before.values())), took))
    for n in c.names():
        doc = wait_for(lambda n=n: api_config(c, n) if api_config(c, n).get("maximum_lag_on_failover") else None,
                       10, "GET /config on %s" % n)
        check(doc == {"maximum_lag_on_failover": 2097152, "postgresql": {"parameters": {"work_mem": "12MB"}}},
              "GET /config on %s: %s" % (n, doc))
    _, out, _ = flotilla(c, "show-config")
    check(out == "maximum_lag_on_failover: 2097152\npostgresql:\n  parameters:\n    work_mem: \"12MB\"\n",
          "show-config printed:\n%s" % out)
    log("  show-config:\n" + out.rstrip())
    for n in c.names():
        check("dynamic configuration revision" in c.read_agent_log(n), "%s never logged the configuration" % n)
    kept = "dynamic configuration: maximum_lag_on_failover stays as this node's file or environment sets it"
    check(all((kept in c.read_agent_log(n)) == (n == local) for n in c.names()),
          "only %s names maximum_lag_on_failover in its file, and only it may keep its own" % local)
    log("  %s keeps the maximum_lag_on_failover its file names; the others take the cluster's" % local)


def restart_phase(c, leader):
    term = leader_key(c)
    old = {n: show(c, n, "shared_buffers") for n in c.names()}
    flotilla(c, "edit-config", "--pg", "shared_buffers=160MB", "--force")
    wait_for(lambda: all(m["pending_restart"] for m in members(c).values()), 30,
             "a pending restart on every member")
    check(all(show(c, n, "shared_buffers") == old[n] for n in c.names()),
          "shared_buffers changed without a restart: %s" % {n: show(c, n, "shared_buffers") for n in c.names()})
    listed = flotilla(c, "list")[1]
    log("  shared_buffers still %s everywhere, each member pending a restart:\n%s" % (sorted(set(old.values())),
                                                                                     listed.rstrip()))
    t = time.monotonic()
    _, out, _ = flotilla(c, "restart", "--pending", "--force")
    took = time.monotonic() - t
    order = [line.split()[1] for line in out.splitlines() if line.startswith("restarting ")]
    check(len(order) == 3 and order[-1] == leader, "restart --pending went %s; the leader %s must be last" % (order, leader))
    check(all(show(c, n, "shared_buffers") == "160MB" for n in c.names()),
          "after restart --pending: %s" % {n: show(c, n, "shared_buffers") for n in c.names()})
    check(not any(m["pending_restart"] for m in members(c).values()), "a pending restart is left")
    check(leader_key(c) == term, "the leader key changed from %s to %s: a failover" % (term, leader_key(c)))
    check(c.leader() == leader, "%s no longer leads" % leader)
    log("restart --pending: %s in %.1f s, shared_buffers 160MB everywhere, leader %s and term %d kept" % (
        " then ".join(order), took, leader, term[1]))


def refused_phase(c):
    before = flotilla(c, "show-config")[1]
    for args, why in (
            (["--pg", "shared_buffers=lots"], "invalid value for parameter \"shared_buffers\": \"lots\""),
            (["--pg", "work_mem=10"], "outside the valid range for parameter \"work_mem\""),
            (["--pg", "no_such_parameter=1"], "unrecognized configuration parameter \"no_such_parameter\""),
            (["--set", "ttl=1"], "ttl = 1 is outside the allowed range 2..3600"),
            (["--set", "loop_wait=5"], "ttl = 3 must exceed loop_wait + 1 = 6 s"),
            (["--pg", "port=6543"], "postgresql.parameters.port is managed by the agent"),
            (["--set", "tll=10"], "unknown setting \"tll\""),
    ):
        rc, out, err = flotilla(c, "edit-config", *args, "--force", check_rc=False)
        check(rc == 2 and why in err, "edit-config %s: exit %d, %r (want 2 and %r)" % (" ".join(args), rc, err, why))
        log("  refused: edit-config %s: %s" % (" ".join(args), err.strip().splitlines()[0]))
    req = urllib.request.Request("http://127.0.0.1:%d/config" % c.node(c.names()[0])["api_port"], method="PATCH",
                                 data=b'{"ttl": 10}', headers={"Content-Type": "application/json"})
    try:
        urllib.request.urlopen(req, timeout=3)
        check(False, "PATCH /config without the token was accepted")
    except urllib.error.HTTPError as e:
        check(e.code == 401, "PATCH /config without the token: %d" % e.code)
    check(flotilla(c, "show-config")[1] == before, "a refused change changed the configuration")
    log("refused: 7 bad changes with their reasons, PATCH without token 401; the configuration unchanged")


def ttl_phase(c, leader):
    term = leader_key(c)
    key = "/flotilla/%s/leader" % c.scope
    flotilla(c, "edit-config", "--set", "ttl=8", "--set", "loop_wait=1", "--force")
    wait_for(lambda: granted_ttl(c, key) == 8, 20, "the leader key on a lease with ttl 8")
    wait_for(lambda: all(granted_ttl(c, "/flotilla/%s/members/%s" % (c.scope, n)) == 8 for n in c.names()), 20,
             "every member's record on a lease with ttl 8")
    t = time.monotonic()
    while time.monotonic() - t < 5:  # five of the new loop_waits
        check(leader_key(c) == term, "the leader key changed during the ttl change: %s -> %s" % (term, leader_key(c)))
        time.sleep(0.2)
    check(c.leader() == leader, "%s no longer leads after the ttl change" % leader)
    log("ttl 3 -> 8, loop_wait 0.5 -> 1 live: every lease granted with ttl 8, leader %s and term %d kept" % (
        leader, term[1]))

    pid = c.agent_pid(leader)
    os.kill(pid, signal.SIGSTOP)
    t0 = time.monotonic()
    fenced = expired = None
    try:
        while time.monotonic() - t0 < 20 and expired is None:
            now = time.monotonic() - t0
            if fenced is None and not c.accepts_write(leader):
                fenced = now
            if expired is None and etcd_get(c.etcd_endpoint, key) is None:
                expired = now
            time.sleep(0.05)
    finally:
        os.kill(pid, signal.SIGCONT)
    check(fenced is not None and expired is not None and fenced < expired,
          "agent frozen: writes stopped at %s s, the key expired at %s s" % (fenced, expired))
    log("leader's agent frozen: its PostgreSQL fenced at %.2f s, the key (ttl 8) expired at %.2f s" % (fenced, expired))
    wait_for(lambda: c.leader() is not None, 60, "a leader again")


def main():
    with Cluster(nodes=3) as c:
        leader = c.wait_healthy(90)
        reload_phase(c, leader)
        restart_phase(c, leader)
        refused_phase(c)
        ttl_phase(c, leader)


if __name__ == "__main__":
    run_test(main)
