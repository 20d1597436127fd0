#!/usr/bin/python3
"""Every health endpoint of the REST API, with GET, HEAD and OPTIONS, on the
leader, a streaming replica, a lagging replica, a replica whose PostgreSQL
is stopped under a running agent, and a stopped node, against Patroni's
semantics as replicator/api.c implements them; /cluster, /history and
/metrics parse; bad input gets 400/405; every mutating call needs the token
(401 without it or with a wrong one).

The lagging replica: a node's lag is the leader's published position minus
max(received, replayed) (cluster_lag), so pausing replay alone does not make
a replica lag (its walreceiver keeps receiving). The test pauses replay AND
stops the replica's walreceiver (SIGSTOP) while ~20 MB is written on the
leader, then resumes both.

The stopped PostgreSQL: the cluster is paused (POST /pause with the token),
the replica's postmaster gets SIGINT (a fast shutdown, as `pg_ctl stop -m
fast`); the agent keeps running, leaves PostgreSQL stopped (no restart, no
crash counted) and answers 503 everywhere but /liveness (200), as Patroni
does for a stopped node in maintenance mode; the leader keeps answering as
the leader. After POST /resume the replica starts and streams again.

The stopped node: the replica's agent gets SIGTERM (it stops PostgreSQL and
exits): its API refuses connections, which is what HAProxy sees as down."""
import http.client
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, log, pid_alive, run_test, wait_for, wait_pids_gone  # noqa: E402

HEALTH = ["/primary", "/leader", "/master", "/read-write", "/replica", "/replica?lag=1MB", "/replica?lag=1GB",
          "/read-only", "/health", "/liveness", "/readiness", "/sync", "/async"]
METHODS = ["GET", "HEAD", "OPTIONS"]
MB = 1024 * 1024

# Expected status per situation (async cluster: nobody is a sync standby).
EXPECT = {
    "leader": {"/primary": 200, "/leader": 200, "/master": 200, "/read-write": 200, "/replica": 503,
               "/replica?lag=1MB": 503, "/replica?lag=1GB": 503, "/read-only": 200, "/health": 200,
               "/liveness": 200, "/readiness": 200, "/sync": 503, "/async": 503},
    "streaming replica": {"/primary": 503, "/leader": 503, "/master": 503, "/read-write": 503, "/replica": 200,
                          "/replica?lag=1MB": 200, "/replica?lag=1GB": 200, "/read-only": 200, "/health": 200,
                          "/liveness": 200, "/readiness": 200, "/sync": 503, "/async": 200},
    "lagging replica": {"/primary": 503, "/leader": 503, "/master": 503, "/read-write": 503, "/replica": 200,
                        "/replica?lag=1MB": 503, "/replica?lag=1GB": 200, "/read-only": 200, "/health": 200,
                        "/liveness": 200, "/readiness": 200, "/sync": 503, "/async": 200},
    "stopped postgres": {"/primary": 503, "/leader": 503, "/master": 503, "/read-write": 503, "/replica": 503,
                         "/replica?lag=1MB": 503, "/replica?lag=1GB": 503, "/read-only": 503, "/health": 503,
                         "/liveness": 200, "/readiness": 503, "/sync": 503, "/async": 503},
    "stopped node": {p: "refused" for p in HEALTH},
}
# How long a paused agent must leave its stopped PostgreSQL alone: many loops (loop_wait 0.5 s).
PAUSED_HOLD_SECONDS = 4


def request(port, method, path, headers=None, body=None, timeout=5):
    """(status, headers dict lowercased, body bytes), or ("refused", {}, b"")."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    except ConnectionRefusedError:
        return "refused", {}, b""
    finally:
        conn.close()


def port_of(c, name):
    return int(c.node(name)["api_port"])


def probe_all(c, name):
    """{path: {method: status}} for every health endpoint on the node."""
    res = {}
    for p in HEALTH:
        res[p] = {}
        for m in METHODS:
            st, hd, body = request(port_of(c, name), m, p)
            res[p][m] = st
            if st in (200, 503) and m in ("HEAD", "OPTIONS"):
                check(body == b"", "%s %s on %s answered %d with a body %r (HEAD/OPTIONS answer the status alone)"
                      % (m, p, name, st, body[:200]))
            if st in (200, 503) and m == "OPTIONS":
                check("GET" in hd.get("allow", "") and "HEAD" in hd.get("allow", ""),
                      "OPTIONS %s on %s: Allow header %r" % (p, name, hd.get("allow")))
            if st in (200, 503) and m == "GET":
                json.loads(body.decode())  # the node's status document
    return res


def mismatches(situation, name, res):
    bad = []
    for p, want in EXPECT[situation].items():
        for m in METHODS:
            if res[p][m] != want:
                bad.append("%s %s on the %s (%s): got %s, want %s" % (m, p, situation, name, res[p][m], want))
    return bad


def probe_until_expected(c, situation, name, timeout=20):
    """The verdicts come from the agent's snapshot, refreshed every loop: poll
    until they match (or time out and report the last mismatches)."""
    last = {}

    def ok():
        last["res"] = probe_all(c, name)
        last["bad"] = mismatches(situation, name, last["res"])
        return not last["bad"]
    try:
        wait_for(ok, timeout, "the endpoints of the %s %s" % (situation, name), interval=0.5)
    except Exception:
        if "bad" in last and last["bad"]:
            check(False, "status mismatch:\n  " + "\n  ".join(last["bad"]))
        raise
    return last["res"]


def print_table(table, situations):
    w = max(len(p) for p in HEALTH) + 2
    cw = 24
    log("endpoint x situation -> status (GET/HEAD/OPTIONS)")
    log("%-*s" % (w, "endpoint") + "".join("%-*s" % (cw, s) for s in situations))
    for p in HEALTH:
        cells = []
        for s in situations:
            r = table[s][p]
            vals = [str(r[m]) for m in METHODS]
            cells.append("%-*s" % (cw, vals[0] if len(set(vals)) == 1 else "/".join(vals)))
        log("%-*s" % (w, p) + "".join(cells))


def member(c, via, name):
    st, _, body = request(port_of(c, via), "GET", "/cluster")
    check(st == 200, "GET /cluster answered %s" % st)
    for m in json.loads(body.decode())["members"]:
        if m["name"] == name:
            return m
    return None


def check_documents(c, leader):
    port = port_of(c, leader)
    st, hd, body = request(port, "GET", "/cluster")
    check(st == 200, "GET /cluster answered %s" % st)
    doc = json.loads(body.decode())
    names = sorted(m["name"] for m in doc.get("members", []))
    check(names == sorted(c.names()), "/cluster members %s, want %s" % (names, sorted(c.names())))
    roles = {m["name"]: m["role"] for m in doc["members"]}
    check(roles[leader] == "leader", "/cluster says %s is %r, want leader" % (leader, roles[leader]))
    check("pause" not in doc, "/cluster says the cluster is paused: %s" % doc)
    st, _, body = request(port, "GET", "/history")
    check(st == 200, "GET /history answered %s" % st)
    check(isinstance(json.loads(body.decode()), list), "/history is not a JSON array: %r" % body[:200])
    st, hd, body = request(port, "GET", "/metrics")
    check(st == 200, "GET /metrics answered %s" % st)
    text = body.decode()
    samples = 0
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            check(not line.startswith("# TYPE") or len(line.split()) == 4, "bad TYPE line in /metrics: %r" % line)
            continue
        name_labels, _, value = line.rpartition(" ")
        check(name_labels, "unparseable /metrics line: %r" % line)
        float(value)  # a number (NaN/+Inf parse too)
        check(name_labels.startswith("flotilla_"), "/metrics sample without the flotilla_ prefix: %r" % line)
        samples += 1
    check(samples > 0, "/metrics has no samples:\n%s" % text[:500])
    log("/cluster (%d members), /history and /metrics (%d flotilla_ samples) parse" % (len(names), samples))
    # Filled from the running PostgreSQL: the start time on every node, the replay lag on a replica.
    for name in c.names():
        st, _, body = request(port_of(c, name), "GET", "/patroni")
        start = json.loads(body.decode()).get("postmaster_start_time")
        check(st == 200 and start and start.endswith(" UTC"), "%s: /patroni postmaster_start_time is %r" % (name, start))
        st, _, body = request(port_of(c, name), "GET", "/metrics")
        lag = [l for l in body.decode().splitlines() if l.startswith("flotilla_replication_lag_seconds{")]
        if name == leader:
            check(not lag, "%s (leader): /metrics has a replication lag: %s" % (name, lag))
            want = sorted(n for n in c.names() if n != leader)

            def slot_lines():
                _, _, b = request(port_of(c, name), "GET", "/metrics")
                return [l for l in b.decode().splitlines() if l.startswith("flotilla_replication_slot_active{")]

            def all_active():  # the leader reads its slots once a tick: a replica may show after it streams
                lines = slot_lines()
                got = sorted(l.split('slot="')[1].split('"')[0] for l in lines)
                return lines if got == want and all(l.endswith(" 1") for l in lines) else None
            try:
                slots = wait_for(all_active, 10, "an active slot for each replica in the leader's /metrics")
            except Exception:  # noqa: BLE001
                check(False, "%s (leader): /metrics slot lines %s, want an active slot for each of %s" % (
                    name, slot_lines(), want))
            log("%s: %s" % (name, "; ".join(slots)))
        else:
            check(len(lag) == 1 and float(lag[0].rpartition(" ")[2]) >= 0,
                  "%s (replica): /metrics flotilla_replication_lag_seconds is %s" % (name, lag))
        log("%s: postmaster_start_time %s, %s" % (name, start, lag[0] if lag else "no replication lag (leader)"))


def check_bad_input(c, leader, token):
    port = port_of(c, leader)
    st, _, body = request(port, "GET", "/replica?lag=bogus")
    check(st == 400, "GET /replica?lag=bogus answered %s %r, want 400" % (st, body[:200]))
    err = json.loads(body.decode()).get("error", "")
    check("bogus" in err, "the 400 error for lag=bogus does not name the value: %r" % err)
    log("GET /replica?lag=bogus -> 400 %r" % err.splitlines()[0])
    st, hd, body = request(port, "GET", "/switchover")
    check(st == 405, "GET /switchover answered %s %r, want 405" % (st, body[:200]))
    check("POST" in hd.get("allow", ""), "405 on GET /switchover without Allow: POST (Allow %r)" % hd.get("allow"))
    log("GET /switchover -> 405 (Allow: %s)" % hd.get("allow"))
    hj = {"Content-Type": "application/json"}
    for path in ("/switchover", "/failover", "/restart", "/reinit", "/pause", "/resume"):
        body = json.dumps({"leader": leader}).encode()
        st, hd, b = request(port, "POST", path, hj, body)
        check(st == 401, "POST %s without a token answered %s %r, want 401" % (path, st, b[:200]))
        st, hd, b = request(port, "POST", path, dict(hj, Authorization="Bearer " + token + "x"), body)
        check(st == 401, "POST %s with a wrong token answered %s %r, want 401" % (path, st, b[:200]))
    # The right token passes the check (then the query is refused: nothing is paused).
    st, _, b = request(port, "POST", "/pause?x=1", dict(hj, Authorization="Bearer " + token), b"{}")
    check(st == 400 and b"query" in b, "POST /pause?x=1 with the right token answered %s %r, want 400 about the query"
          % (st, b[:200]))
    log("POST /switchover /failover /restart /reinit /pause /resume: 401 without or with a wrong token; "
        "the right token passes (400 on a query string)")


def make_lag(c, leader, replica):
    """Pauses replay and stops the walreceiver of replica, writes ~20 MB on
    the leader, waits until /cluster shows the replica > 1 MB behind.
    Returns the walreceiver pid (stopped)."""
    c.q(leader, "CREATE TABLE IF NOT EXISTS it_lag (id int, pad text)", timeout=10)
    wr = c.q(replica, "SELECT pid FROM pg_stat_wal_receiver", timeout=5)
    check(wr and wr[0][0], "%s has no walreceiver" % replica)
    wr_pid = int(wr[0][0])
    c.q(replica, "SELECT pg_wal_replay_pause()")
    os.kill(wr_pid, signal.SIGSTOP)
    log("%s: replay paused, walreceiver %d stopped" % (replica, wr_pid))
    c.q(leader, "INSERT INTO it_lag SELECT g, repeat('x', 1000) FROM generate_series(1, 20000) g", timeout=30)
    c.q(leader, "CHECKPOINT", timeout=30)
    log("%s: ~20 MB written" % leader)

    def lag():
        m = member(c, leader, replica)
        v = m.get("lag") if m else None
        return v if isinstance(v, int) and v > MB else None
    v = wait_for(lag, 30, "%s's member record to show lag > 1 MB" % replica, interval=0.5)
    log("%s: lag %d bytes in /cluster" % (replica, v))
    return wr_pid


def resume_lag(c, replica, wr_pid):
    if pid_alive(wr_pid):
        os.kill(wr_pid, signal.SIGCONT)
    try:
        c.q(replica, "SELECT pg_wal_replay_resume()")
    except Exception as e:  # noqa: BLE001
        log("pg_wal_replay_resume on %s failed: %s" % (replica, e))
    log("%s: walreceiver continued, replay resumed" % replica)


def post(c, name, path, token):
    """POST path with the token on name's API; the status and the JSON answer."""
    st, _, body = request(port_of(c, name), "POST", path,
                          {"Content-Type": "application/json", "Authorization": "Bearer " + token}, b"{}")
    log("POST %s on %s -> %s %s" % (path, name, st, body.decode(errors="replace").strip()))
    return st, body


def check_stopped_postgres(c, leader, victim, token):
    """Paused, the victim's postmaster stopped under its running agent: 503s, liveness 200, left stopped."""
    st, _ = post(c, leader, "/pause", token)
    check(st == 200, "POST /pause answered %s, want 200" % st)
    wait_for(lambda: (member(c, victim, victim) or {}).get("state") == "streaming" and
             json.loads(request(port_of(c, victim), "GET", "/cluster")[2].decode()).get("pause") is True,
             15, "%s's agent to see the pause" % victim)
    pm = c.postmaster_pid(victim)
    agent = c.agent_pid(victim)
    check(pm and agent and pid_alive(agent), "%s: postmaster %s, agent %s" % (victim, pm, agent))
    log("SIGINT (fast shutdown) to %s's postmaster %d; its agent %d keeps running" % (victim, pm, agent))
    os.kill(pm, signal.SIGINT)
    check(wait_pids_gone([pm], 30), "%s's postmaster %d survived a fast shutdown for 30 s" % (victim, pm))
    res = probe_until_expected(c, "stopped postgres", victim, timeout=20)
    st, _, body = request(port_of(c, victim), "GET", "/health")
    doc = json.loads(body.decode())
    check(doc.get("state") == "stopped" and doc.get("pause") is True,
          "GET /health on the stopped %s: %s, want state stopped and pause true" % (victim, doc))
    time.sleep(PAUSED_HOLD_SECONDS)
    check(c.postmaster_pid(victim) is None, "the paused agent of %s started PostgreSQL again (pid %s)"
          % (victim, c.postmaster_pid(victim)))
    check(pid_alive(agent), "%s's agent exited" % victim)
    check((member(c, leader, victim) or {}).get("state") == "stopped",
          "/cluster does not show %s stopped: %s" % (victim, member(c, leader, victim)))
    probe_until_expected(c, "stopped postgres", victim, timeout=5)
    probe_until_expected(c, "leader", leader, timeout=10)
    check(c.leader_key() == leader, "the leader key moved to %r while paused" % c.leader_key())
    agent_log = c.read_agent_log(victim)
    for line in ("not counted as a crash", "paused: postgres is stopped and is left stopped"):
        check(line in agent_log, "%s's agent log lacks %r" % (victim, line))
    log("%s: PostgreSQL left stopped for %d s under a running agent" % (victim, PAUSED_HOLD_SECONDS))

    st, _ = post(c, leader, "/resume", token)
    check(st == 200, "POST /resume answered %s, want 200" % st)
    c.wait_rejoined(victim, leader, timeout=60)
    probe_until_expected(c, "streaming replica", victim, timeout=30)
    log("%s: resumed, started and streaming from %s again" % (victim, leader))
    return res


def main():
    with Cluster(nodes=3) as c:
        leader = c.wait_healthy(90)
        replicas = [n for n in c.names() if n != leader]
        lagger, victim = replicas[0], replicas[1]
        with open(os.path.join(c.dir, "secrets", "api_token")) as f:
            token = f.read().strip()
        log("leader %s, replicas %s" % (leader, replicas))
        table = {}
        table["leader"] = probe_until_expected(c, "leader", leader)
        table["streaming replica"] = probe_until_expected(c, "streaming replica", lagger)
        # The other replica too: both must look alike.
        probe_until_expected(c, "streaming replica", victim)
        check_documents(c, leader)
        check_bad_input(c, leader, token)

        wr_pid = make_lag(c, leader, lagger)
        try:
            table["lagging replica"] = probe_until_expected(c, "lagging replica", lagger)
        finally:
            resume_lag(c, lagger, wr_pid)
        c.wait_rejoined(lagger, leader, timeout=60, catch_up=60)
        table["streaming replica (caught up)"] = probe_until_expected(c, "streaming replica", lagger, timeout=30)
        table["stopped postgres"] = check_stopped_postgres(c, leader, victim, token)

        pid = c.agent_pid(victim)
        check(pid and pid_alive(pid), "agent of %s is not running" % victim)
        pm = c.postmaster_pid(victim)
        log("SIGTERM to %s's agent (pid %d)" % (victim, pid))
        os.kill(pid, signal.SIGTERM)
        check(wait_pids_gone([p for p in (pid, pm) if p], 60), "%s's agent or postmaster survived SIGTERM for 60 s" % victim)
        c.agent_pids[victim] = None
        table["stopped node"] = probe_until_expected(c, "stopped node", victim, timeout=10)
        print_table(table, ["leader", "streaming replica", "lagging replica", "stopped postgres", "stopped node"])

        c.start_agent(victim)
        c.wait_rejoined(victim, leader, timeout=120)
        probe_until_expected(c, "streaming replica", victim, timeout=30)
        log("%s back: streaming replica endpoints again" % victim)
        probe_until_expected(c, "leader", leader, timeout=10)


if __name__ == "__main__":
    run_test(main)
