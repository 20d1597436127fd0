#!/usr/bin/python3
"""HAProxy 2.6 in front of a 3-node cluster, steered by flotilla-proxy-agent
(`flotilla local up --haproxy`), one cluster through several phases:

  spread     on the idle cluster, 200 reads through the ro port (a new
             connection each) are shared by both replicas, each 40-60 %,
             and the primary serves none;
  lag        a replica whose replay is paused while > 16 MiB of WAL is
             written is drained from ro (DRAIN or weight 0) and takes no
             read; resumed, it is ready at weight 100 again and takes reads;
  drain      (when the CLI has it) `flotilla drain <replica> --wait` under a
             reader on ro: no read fails, the replica takes no new
             connection, `flotilla ready` brings it back;
  failover   SIGKILL of the leader's agent and postmaster under a writer on
             rw_dsn: the time from the new leader's "promoted to leader"
             log line to the first write acknowledged through HAProxy
             (target < 1 s, asserted < 5 s), the kill-to-first-write time,
             no acknowledged write from the old leader after it died, and
             every acknowledged id on the new leader (but one the old
             leader acknowledged in the 0.2 s before the crash: the
             cluster replicates asynchronously);
  restart    SIGKILL of HAProxy and a new one with the same command: the
             agent restores the plan (rw: the leader alone out of maint;
             ro: the leader drained) within a few seconds."""
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import psycopg2  # noqa: E402

from harness import (ADMF_DRAIN, Cluster, PortProbe, Writer, check, check_writes_after_crash, describe_states,  # noqa: E402
                     haproxy_stats,
                     log, log_line_time, pid_alive, query, run_test, server_states, signal_pid, srv_in_maint, srv_out,
                     srv_ready, start_haproxy, wait_for, wait_pids_gone)

READS = 200
MAX_LAG = 16 * 1024 * 1024


# ---------------------------------------------------------------- helpers

def ro_read(c):
    """The PostgreSQL port that served one read through ro (new connection)."""
    return query(c.ro_dsn, "SELECT inet_server_port()", timeout=3)[0][0]


def plan_holds(c, leader, replicas):
    """States when HAProxy shows the idle plan: rw: the leader alone ready;
    ro: every replica ready at weight 100 and the leader drained (no new sessions)."""
    s = server_states(c)
    ok = srv_ready(s[("rw", leader)]) and all(srv_in_maint(s[("rw", n)]) for n in c.names() if n != leader)
    ok = ok and srv_out(s[("ro", leader)]) and all(srv_ready(s[("ro", r)]) and s[("ro", r)][2] == 100 for r in replicas)
    return s if ok else None


def lag_bytes(c, leader, replica):
    cur = c.q(leader, "SELECT pg_current_wal_lsn()::text", timeout=2)[0][0]
    return int(c.q(replica, "SELECT pg_wal_lsn_diff(%s::pg_lsn, pg_last_wal_replay_lsn())", (cur,), timeout=2)[0][0])


class Sampler(threading.Thread):
    """Every 0.1 s: the replica's replay lag behind the leader and HAProxy's
    state of ro/<replica>; records (t, lag, (op, admin, weight))."""

    def __init__(self, c, leader, replica):
        super().__init__(daemon=True)
        self.c, self.leader, self.replica = c, leader, replica
        self.stop_event = threading.Event()
        self.samples = []

    def run(self):
        while not self.stop_event.is_set():
            try:
                lag = lag_bytes(self.c, self.leader, self.replica)
                st = server_states(self.c)[("ro", self.replica)]
                self.samples.append((time.monotonic(), lag, st))
            except Exception:  # noqa: BLE001 - a missed sample
                pass
            self.stop_event.wait(0.1)

    def stop(self):
        self.stop_event.set()
        self.join(10)

    def sequence(self):
        """ro/<replica> as sampled, in order of change: its weight while
        ready, else its admin state; with the lag in MiB."""
        out = []
        for _, lag, st in list(self.samples):
            label = "drain" if st[1] & ADMF_DRAIN else "maint" if srv_in_maint(st) else "%d%%" % st[2]
            if not out or out[-1][0] != label:
                out.append((label, "%.1f MiB" % (lag / 1048576.0)))
        return " -> ".join("%s (lag %s)" % x for x in out)

    def first(self, pred):
        for s in self.samples:
            if pred(s):
                return s
        return None


def flotilla(c, *args, timeout=120):
    r = subprocess.run([c.flotilla] + list(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=timeout)
    return r.returncode, r.stdout.decode(errors="replace")


# ---------------------------------------------------------------- phases

def phase_spread(c, leader, replicas):
    counts = {n: 0 for n in c.names()}
    t = time.monotonic()
    for _ in range(READS):
        counts[c.name_of_port(ro_read(c))] += 1
    dt = time.monotonic() - t
    shares = {n: 100.0 * k / READS for n, k in counts.items()}
    log("spread: %d reads through ro in %.1f s: %s" % (READS, dt, ", ".join(
        "%s %d (%.1f %%)" % (n, counts[n], shares[n]) for n in c.names())))
    check(counts[leader] == 0, "the primary %s served %d reads through ro" % (leader, counts[leader]))
    for r in replicas:
        check(40.0 <= shares[r] <= 60.0, "replica %s served %.1f %% of the reads, want 40-60 %%" % (r, shares[r]))


def phase_lag(c, leader, replicas):
    lagger = replicas[0]
    c.q(lagger, "SELECT pg_wal_replay_pause()")
    log("lag: replay paused on %s" % lagger)
    sampler = Sampler(c, leader, lagger)
    sampler.start()
    # Small statements, each waiting for the other replica to keep up: only
    # the paused replica may fall behind (a burst of 40 MiB at once makes the
    # healthy replica lag beyond 16 MiB for an instant too).
    other = replicas[1]
    reader = Reader(c)
    reader.start()
    conn = psycopg2.connect(c.node(leader)["dsn"], connect_timeout=3, options="-c statement_timeout=60000")
    conn.autocommit = True
    t_write = time.monotonic()
    chunks = 0
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE it_lag (g int, pad text)")
            while lag_bytes(c, leader, lagger) <= MAX_LAG + 4 * 1024 * 1024:
                check(chunks < 100, "%s does not fall behind: %d bytes after %d chunks"
                      % (lagger, lag_bytes(c, leader, lagger), chunks))
                cur.execute("INSERT INTO it_lag SELECT g, repeat('x', 1000) FROM generate_series(1, 1000) g")
                chunks += 1
                wait_for(lambda: lag_bytes(c, leader, other) < 2 * 1024 * 1024, 10, "%s to keep up" % other,
                         interval=0.02)
                time.sleep(0.05)
    finally:
        conn.close()
    t_written = time.monotonic()
    lag = lag_bytes(c, leader, lagger)
    log("lag: wrote %d chunks of 1000 rows (about 1 MiB of WAL each) in %.1f s; %s replays %.1f MiB behind"
        % (chunks, t_written - t_write, lagger, lag / 1048576.0))
    check(lag > MAX_LAG, "%s lags only %d bytes after the writes" % (lagger, lag))

    def drained():
        st = server_states(c)[("ro", lagger)]
        return st if (st[1] & ADMF_DRAIN or st[2] == 0) else None
    st = wait_for(drained, 20, "ro/%s drained (DRAIN or weight 0) by the proxy agent" % lagger, interval=0.05)
    t_drained = time.monotonic()
    over = sampler.first(lambda s: s[1] > MAX_LAG)
    seen = sampler.first(lambda s: s[2][1] & ADMF_DRAIN or s[2][2] == 0)
    weights = sampler.sequence()
    log("lag: ro/%s drained: state %s; %.2f s after the writes began, %.2f s after they ended%s; weights seen: %s"
        % (lagger, describe_states({("ro", lagger): st}), t_drained - t_write, t_drained - t_written,
           "; %.2f s from the first sample over 16 MiB to the first drained sample" % (seen[0] - over[0])
           if over and seen and seen[0] >= over[0] else "", weights))
    served = {}
    for _ in range(40):
        n = c.name_of_port(ro_read(c))
        served[n] = served.get(n, 0) + 1
    log("lag: 40 reads through ro while %s is drained: %s" % (lagger, served))
    check(lagger not in served, "drained %s still served %d of 40 reads" % (lagger, served.get(lagger, 0)))

    c.q(lagger, "SELECT pg_wal_replay_resume()")
    t_resume = time.monotonic()
    wait_for(lambda: lag_bytes(c, leader, lagger) <= 1048576, 60, "%s to catch up after the resume" % lagger)
    t_caught = time.monotonic()

    def back():
        st = server_states(c)[("ro", lagger)]
        return st if srv_ready(st) and st[2] == 100 else None
    st = wait_for(back, 30, "ro/%s ready at weight 100 after the resume" % lagger, interval=0.05)
    t_back = time.monotonic()
    sampler.stop()
    log("lag: ro/%s over the phase: %s" % (lagger, sampler.sequence()))
    log("lag: replay resumed; %s within 1 MiB after %.2f s; %s %.2f s after the resume (%.2f s after catching up)"
        % (lagger, t_caught - t_resume, describe_states({("ro", lagger): st}), t_back - t_resume,
           t_back - t_caught))
    # Our reads and the reader's alternate; round robin may give every one of ours to the other replica,
    # so a read of either client counts.
    got = wait_for(lambda: c.name_of_port(ro_read(c)) == lagger or
                   any(t > t_back and c.name_of_port(p) == lagger for t, p in list(reader.reads)), 10,
                   "a read through ro served by %s again" % lagger, interval=0.01)
    check(got, "no read reached %s after the resume" % lagger)
    log("lag: %s serves reads through ro again" % lagger)
    reader.stop()
    log("lag: a reader through ro during the whole phase: %d reads (%s), %d failed%s"
        % (len(reader.reads), ", ".join("%s %d" % (n, sum(1 for _, p in reader.reads if c.name_of_port(p) == n))
                                        for n in c.names()),
           len(reader.failures), (": " + "; ".join(e for _, e in reader.failures[:3])) if reader.failures else ""))
    check(not reader.failures, "%d reads through ro failed while a replica lagged and came back"
          % len(reader.failures))
    c.q(leader, "DROP TABLE it_lag")


class Reader(threading.Thread):
    """Reads through ro in a loop, a new connection each; records (t, port)
    of each read and the failures."""

    def __init__(self, c):
        super().__init__(daemon=True)
        self.c = c
        self.stop_event = threading.Event()
        self.reads = []
        self.failures = []

    def run(self):
        while not self.stop_event.is_set():
            try:
                self.reads.append((time.monotonic(), ro_read(self.c)))
            except Exception as e:  # noqa: BLE001
                self.failures.append((time.monotonic(), "%s: %s" % (type(e).__name__, str(e).strip())))
            self.stop_event.wait(0.01)

    def stop(self):
        self.stop_event.set()
        self.join(10)


def phase_drain(c, leader, replicas):
    rc, out = flotilla(c, "drain", "--help")
    check(rc == 0, "`flotilla drain --help` exits %d: %s" % (rc, out))
    target = replicas[1]
    port = int(c.node(target)["pg_port"])
    r = Reader(c)
    r.start()
    wait_for(lambda: len(r.reads) >= 20, 10, "20 reads through ro before the drain")
    t0 = time.monotonic()
    rc, out = flotilla(c, "drain", target, "--dir", c.dir, "--wait")
    t1 = time.monotonic()
    log("drain: `flotilla drain %s --wait` exited %d after %.2f s:\n%s" % (target, rc, t1 - t0, out.rstrip()))
    check(rc == 0, "`flotilla drain %s --wait` exited %d" % (target, rc))
    st = server_states(c)[("ro", target)]
    log("drain: ro/%s after the command: %s" % (target, describe_states({("ro", target): st})))
    check(st[1] & ADMF_DRAIN or st[2] == 0 or srv_in_maint(st), "ro/%s is not drained after `drain --wait`: %s" % (target, st))
    stot0 = int(haproxy_stats(c)[("ro", target)]["stot"])
    time.sleep(3)
    stot1 = int(haproxy_stats(c)[("ro", target)]["stot"])
    after = [p for t, p in r.reads if t > t1]
    on_target = sum(1 for p in after if p == port)
    log("drain: %d reads in the 3 s after the command, %d on %s; HAProxy's session total of ro/%s: %d -> %d"
        % (len(after), on_target, target, target, stot0, stot1))
    check(on_target == 0, "drained %s served %d new reads after `drain --wait` returned" % (target, on_target))
    check(stot1 == stot0, "ro/%s took %d new sessions while drained" % (target, stot1 - stot0))
    rc, out = flotilla(c, "ready", target, "--dir", c.dir)
    t2 = time.monotonic()
    log("drain: `flotilla ready %s` exited %d:\n%s" % (target, rc, out.rstrip()))
    check(rc == 0, "`flotilla ready %s` exited %d" % (target, rc))
    wait_for(lambda: any(p == port for t, p in r.reads if t > t2), 15, "reads on %s after `flotilla ready`" % target)
    first = min(t for t, p in r.reads if t > t2 and p == port)
    r.stop()
    log("drain: %s serves reads again %.2f s after `flotilla ready`; reader: %d reads, %d failed"
        % (target, first - t2, len(r.reads), len(r.failures)))
    check(not r.failures, "%d reads through ro failed during drain/ready, first: %s" % (len(r.failures), r.failures[:3]))


def phase_failover(c, leader, replicas):
    table = "it_haproxy_failover"
    Writer.create_table(c.rw_dsn, table)
    w = Writer(c.rw_dsn, table)
    w.start()
    wait_for(lambda: w.acked_count() >= 50, 30, "50 writes acknowledged through HAProxy before the crash")
    old_port = int(c.node(leader)["pg_port"])
    check(all(a[1] == old_port for a in w.acked), "writes through rw reached a node other than the leader")
    offsets = {n: os.path.getsize(c.agent_log(n)) for n in replicas}
    proxy_log = c.info["proxy_agent"]["log"]
    proxy_off = os.path.getsize(proxy_log)
    wall_minus_mono = time.time() - time.monotonic()
    t_kill = time.monotonic()
    c.kill_node(leader)
    t_dead = time.monotonic()
    first = wait_for(lambda: next((a for a in list(w.acked) if a[2] >= t_kill and a[1] != old_port), None), 60,
                     "a write acknowledged through HAProxy by a new leader")
    new = c.name_of_port(first[1])
    check(new in replicas, "the first write after the crash came from port %s, not a replica's" % first[1])
    promo = wait_for(lambda: log_line_time(c.agent_log(new), "promoted to leader (timeline", offsets[new]), 10,
                     "\"promoted to leader\" in %s's agent.log" % new)
    first_wall = first[2] + wall_minus_mono
    promo_to_ack = first_wall - promo[0]
    pushed = log_line_time(proxy_log, "rw/%s: ready" % new, proxy_off)
    log("failover: %s" % promo[1])
    if pushed:
        log("failover: %s" % pushed[1])
    log("failover: kill -> first write through HAProxy on %s: %.3f s; promotion -> first write: %.3f s (target < 1 s)%s"
        % (new, first[2] - t_kill, promo_to_ack,
           "; promotion -> proxy agent plans rw/%s ready: %.3f s" % (new, pushed[0] - promo[0]) if pushed else ""))
    check(promo_to_ack < 5.0, "the first write through HAProxy came %.2f s after %s's promotion (bound 5 s)"
          % (promo_to_ack, new))
    check(first[2] - t_kill < 30, "no write through HAProxy for %.1f s after the kill" % (first[2] - t_kill))
    check_writes_after_crash(c, w, new, table, first, old_port, t_kill, t_dead, "failover: ")
    return new


def phase_restart(c, leader, replica):
    old_pid = int(c.info["haproxy"]["pid"])
    check(pid_alive(old_pid), "HAProxy pid %d from cluster.json is not running" % old_pid)
    signal_pid(old_pid, signal.SIGKILL)
    check(wait_pids_gone([old_pid], 10), "HAProxy pid %d survived SIGKILL" % old_pid)
    log("restart: HAProxy pid %d killed" % old_pid)
    # Plain sessions on rw (no target_session_attrs): where does a fresh
    # HAProxy send them before the agent and the checks have spoken?
    probe = PortProbe(c.rw_dsn.replace("target_session_attrs=read-write", ""))
    probe.start()
    t0 = time.monotonic()
    start_haproxy(c)
    first = wait_for(lambda: server_states(c), 10, "the new HAProxy's Runtime API", interval=0.02)
    t_api = time.monotonic()
    log("restart: Runtime API answers %.2f s after the start; first state: %s" % (t_api - t0, describe_states(first)))

    def restored():
        s = server_states(c)
        ok = not srv_in_maint(s[("rw", leader)]) and all(srv_in_maint(s[("rw", n)]) for n in c.names() if n != leader)
        return s if ok and srv_out(s[("ro", leader)]) and srv_ready(s[("ro", replica)]) else None
    st = wait_for(restored, 10, "the proxy agent to restore the plan in the new HAProxy", interval=0.05)
    t_ok = time.monotonic()
    log("restart: plan restored %.2f s after the start (%.2f s after the Runtime API answered): %s"
        % (t_ok - t0, t_ok - t_api, describe_states(st)))
    check(t_ok - t0 < 8, "the plan took %.1f s to come back" % (t_ok - t0))
    time.sleep(1)
    probe.stop()
    wrong = [(t, p) for t, p in probe.hits if c.name_of_port(p) != leader]
    log("restart: plain sessions on rw from the start until 1 s after the plan came back: %d, %d of them on a "
        "node other than the leader%s" % (len(probe.hits), len(wrong), " (%s, from %.2f s to %.2f s after the start)"
                                          % (sorted({c.name_of_port(p) for _, p in wrong}), wrong[0][0] - t0,
                                             wrong[-1][0] - t0) if wrong else ""))
    # The server-state-file the agent keeps: HAProxy starts with the plan, not with every server up.
    check(not wrong, "plain sessions on rw reached a non-leader after the restart: %s" % wrong[:5])
    port = query(c.rw_dsn, "SELECT inet_server_port()", timeout=5)[0][0]
    check(c.name_of_port(port) == leader, "rw reached %s, not the leader %s" % (c.name_of_port(port), leader))
    port = ro_read(c)
    check(c.name_of_port(port) == replica, "ro reached %s, not the replica %s" % (c.name_of_port(port), replica))
    log("restart: rw reaches %s and ro reaches %s through the new HAProxy" % (leader, replica))


def main():
    with Cluster(nodes=3, haproxy=True) as c:
        leader = c.wait_healthy(60)
        replicas = sorted(n for n in c.names() if n != leader)
        st = wait_for(lambda: plan_holds(c, leader, replicas), 20, "HAProxy to show the plan of the idle cluster")
        log("leader %s, replicas %s; HAProxy: %s" % (leader, replicas, describe_states(st)))

        phase_spread(c, leader, replicas)
        phase_lag(c, leader, replicas)
        wait_for(lambda: plan_holds(c, leader, replicas), 20, "HAProxy back to the idle plan")
        phase_drain(c, leader, replicas)
        wait_for(lambda: plan_holds(c, leader, replicas), 20, "HAProxy back to the idle plan")
        new = phase_failover(c, leader, replicas)
        third = [n for n in replicas if n != new][0]
        c.wait_rejoined(third, new, 60)
        wait_for(lambda: srv_ready(server_states(c)[("ro", third)]) and srv_out(server_states(c)[("ro", new)]), 20,
                 "ro: %s ready and the new leader %s drained" % (third, new))
        phase_restart(c, new, third)


if __name__ == "__main__":
    run_test(main)
