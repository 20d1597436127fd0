#!/usr/bin/python3
"""Planned switchover through the REST API under a writer that records
acknowledged ids, five times in a row: no acknowledged id is lost, the
candidate leads, the old leader streams again without pg_rewind or a
re-clone, and the write pause (last acknowledgement before the request to
the first after) is reported. Also: mutating calls need the token, and a
paused cluster does not fail over until resumed."""
import json
import os
import statistics
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, Writer, check, log, run_test, wait_for  # noqa: E402

TRIALS = 5


def post(url, token, body=None):
    req = urllib.request.Request(url, data=json.dumps(body or {}).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    if token is not None:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def api(c, name):
    return "http://127.0.0.1:%d" % c.node(name)["api_port"]


def token_of(c):
    with open(os.path.join(c.dir, "secrets", "api_token")) as f:
        return f.read().strip()


def check_token_required(c, leader, token):
    for path in ("/switchover", "/failover", "/pause", "/resume", "/restart", "/reinit"):
        status, body = post(api(c, leader) + path, None, {"leader": leader})
        check(status == 401, "POST %s without a token answered %d %s, want 401" % (path, status, body))
        status, body = post(api(c, leader) + path, token + "x", {"leader": leader})
        check(status == 401, "POST %s with a wrong token answered %d %s, want 401" % (path, status, body))
    log("every mutating call refused without the right token (401)")


def check_pause_blocks_failover(c, token):
    leader = c.wait_healthy(60)
    status, body = post(api(c, leader) + "/pause", token)
    check(status == 200, "POST /pause answered %d %s" % (status, body))
    c.kill_node(leader)
    others = [n for n in c.names() if n != leader]
    t = time.monotonic()
    while time.monotonic() - t < 12:
        check(all(c.role(n) != "primary" for n in others), "a replica was promoted while the cluster was paused")
        time.sleep(0.5)
    log("paused: no failover in 12 s after the leader died")
    status, body = post(api(c, others[0]) + "/resume", token)
    check(status == 200, "POST /resume answered %d %s" % (status, body))
    new = wait_for(lambda: c.leader() if c.leader() in others else None, 30, "a failover after resume")
    log("resumed: %s took over" % new)
    c.start_agent(leader)
    c.wait_rejoined(leader, new, 120)


def switchover_once(c, token, w, trial):
    old = c.wait_healthy(60)
    candidate = sorted(n for n in c.names() if n != old)[trial % 2]
    log_before = len(c.read_agent_log(old))
    time.sleep(1.0)
    t_req = time.monotonic()
    status, body = post(api(c, old) + "/switchover", token, {"leader": old, "candidate": candidate})
    check(status in (200, 202), "POST /switchover answered %d %s" % (status, body))
    wait_for(lambda: c.role(candidate) == "primary" and c.leader_key() == candidate, 30,
             "%s to lead after the switchover" % candidate)
    c.wait_rejoined(old, candidate, 60)
    cport = c.node(candidate)["pg_port"]

    def first_on_candidate():
        with w.lock:
            return next((a for a in w.acked if a[2] >= t_req and a[1] == cport), None)
    first = wait_for(first_on_candidate, 30, "a write acknowledged by %s" % candidate)
    with w.lock:
        before = [a for a in w.acked if a[2] < t_req]
    pause = first[2] - (before[-1][2] if before else t_req)
    after = c.read_agent_log(old)[log_before:]
    agent_lines = [ln for ln in after.splitlines() if " replicator node=" in ln]
    check(not any("pg_rewind" in ln or "re-cloning" in ln for ln in agent_lines),
          "%s used pg_rewind or a re-clone after the switchover:\n%s" % (old, "\n".join(agent_lines[-20:])))
    log("trial %d: %s -> %s, write pause %.3f s, old leader streams again without rewind" % (trial + 1, old, candidate, pause))
    return pause


def main():
    with Cluster(nodes=3) as c:
        token = token_of(c)
        leader = c.wait_healthy(60)
        check_token_required(c, leader, token)
        Writer.create_table(c.rw_dsn, "it_switchover")
        w = Writer(c.rw_dsn, "it_switchover", interval=0.01)
        w.start()
        wait_for(lambda: w.acked_count() >= 50, 30, "50 acknowledged writes")
        pauses = [switchover_once(c, token, w, i) for i in range(TRIALS)]
        time.sleep(1)
        w.stop()
        final = c.leader()
        acked = w.acked_ids()
        missing, present = c.missing_on(final, w.table, acked)
        log(w.summary())
        log("write pause over %d switchovers: median %.3f s, max %.3f s (%s)"
            % (TRIALS, statistics.median(pauses), max(pauses), ", ".join("%.3f" % p for p in pauses)))
        check(not missing, "%d acknowledged ids missing on %s: %s" % (len(missing), final, missing[:20]))
        log("acknowledged %d, all present on the final leader %s" % (len(acked), final))
        check_pause_blocks_failover(c, token)


if __name__ == "__main__":
    run_test(main)
