#!/usr/bin/python3
"""HAProxy without its proxy agent: SIGTERM flotilla-proxy-agent, which hands
every server back (ready, weight 100) before it exits, so HAProxy's own
health checks (GET /primary for rw) decide alone. Then a crash failover
(SIGKILL of the leader's agent and postmaster) under a writer on rw_dsn: the
rw port reaches the new leader through the checks alone, within a generous
bound (30 s) of the kill; no write is acknowledged from the old leader's
port after it died; every acknowledged id is on the new leader (but one the
old leader acknowledged in the 0.2 s before the crash: the cluster
replicates asynchronously)."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ADMF_DRAIN, ADMF_MAINT, SRV_OP_RUNNING, SRV_OP_STOPPED, Cluster, Writer, check,  # noqa: E402
                     check_writes_after_crash,
                     describe_states, log, PortProbe, pid_alive, query, run_test, server_states, signal_pid, wait_for,
                     wait_pids_gone)


def checks_only_leader(c, leader):
    """States when HAProxy's checks alone route rw to the leader: nothing in
    maintenance or drained, rw/<leader> UP and every other rw server DOWN."""
    s = server_states(c)
    if any(st[1] & (ADMF_MAINT | ADMF_DRAIN) for st in s.values()):
        return None
    ok = s[("rw", leader)][0] == SRV_OP_RUNNING and all(
        s[("rw", n)][0] == SRV_OP_STOPPED for n in c.names() if n != leader)
    return s if ok else None


def main():
    with Cluster(nodes=3, haproxy=True) as c:
        leader = c.wait_healthy(60)
        replicas = sorted(n for n in c.names() if n != leader)
        pa = c.info["proxy_agent"]
        proxy_log_off = os.path.getsize(pa["log"])
        pid = int(pa["pid"])
        check(pid_alive(pid), "proxy agent pid %d from cluster.json is not running" % pid)
        # Plain sessions on rw (no target_session_attrs) from the SIGTERM until
        # the checks alone route: where do they land meanwhile?
        plain = c.rw_dsn.replace("target_session_attrs=read-write", "")
        probe = PortProbe(plain)
        probe.start()
        wait_for(lambda: probe.hits, 10, "a plain session on rw before the SIGTERM")
        t = time.monotonic()
        signal_pid(pid, signal.SIGTERM)
        check(wait_pids_gone([pid], 10), "the proxy agent (pid %d) is still running 10 s after SIGTERM" % pid)
        log("proxy agent pid %d exited %.2f s after SIGTERM" % (pid, time.monotonic() - t))
        with open(pa["log"], errors="replace") as f:
            f.seek(proxy_log_off)
            tail = f.read()
        check("handed back to its health checks" in tail,
              "the proxy agent's log has no line saying it handed the servers back:\n%s" % tail)
        s = server_states(c)
        log("right after the agent's exit: %s" % describe_states(s))
        held = {k: st for k, st in s.items() if st[1] & (ADMF_MAINT | ADMF_DRAIN) or st[2] != 100}
        check(not held, "servers not handed back (maint, drain or weight below 100): %s" % describe_states(held))

        s = wait_for(lambda: checks_only_leader(c, leader), 15,
                     "HAProxy's checks alone to leave only %s UP in rw" % leader)
        t_checks = time.monotonic()
        log("checks alone: %s (%.2f s after the SIGTERM)" % (describe_states(s), t_checks - t))
        probe.stop()
        after = [(x, p) for x, p in probe.hits if x >= t]
        wrong = [(x, p) for x, p in after if c.name_of_port(p) != leader]
        log("plain sessions on rw from the SIGTERM until the checks alone routed: %d, %d of them on a node other "
            "than the leader%s" % (len(after), len(wrong), " (%s, from %.2f s to %.2f s after the SIGTERM)"
                                   % (sorted({c.name_of_port(p) for _, p in wrong}), wrong[0][0] - t,
                                      wrong[-1][0] - t) if wrong else ""))
        # The agent marks what the plan kept out down as it hands over: no window where a replica takes rw.
        check(not wrong, "plain sessions on rw reached a non-leader after the agent stopped: %s" % wrong[:5])
        ports = {query(plain, "SELECT inet_server_port()", timeout=3)[0][0] for _ in range(20)}
        check(ports == {int(c.node(leader)["pg_port"])},
              "20 plain sessions on rw reached %s, not only the leader %s" % (sorted(map(c.name_of_port, ports)), leader))

        table = "it_haproxy_noagent"
        Writer.create_table(c.rw_dsn, table)
        w = Writer(c.rw_dsn, table)
        w.start()
        wait_for(lambda: w.acked_count() >= 50, 30, "50 writes acknowledged through HAProxy before the crash")
        old_port = int(c.node(leader)["pg_port"])
        t_kill = time.monotonic()
        c.kill_node(leader)
        t_dead = time.monotonic()
        first = wait_for(lambda: next((a for a in list(w.acked) if a[2] >= t_kill and a[1] != old_port), None), 60,
                         "a write acknowledged through HAProxy by a new leader")
        new = c.name_of_port(first[1])
        log("no agent: kill -> first write through HAProxy on %s: %.3f s" % (new, first[2] - t_kill))
        check(new in replicas, "the first write after the crash came from port %s, not a replica's" % first[1])
        check(first[2] - t_kill < 30, "the first write through HAProxy came %.1f s after the kill (bound 30 s)"
              % (first[2] - t_kill))
        log("HAProxy after the failover: %s" % describe_states(server_states(c), "rw"))
        check_writes_after_crash(c, w, new, table, first, old_port, t_kill, t_dead, "")

if __name__ == "__main__":
    run_test(main)
