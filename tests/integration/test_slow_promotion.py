#!/usr/bin/python3
"""A new leader's own PostgreSQL calls end by its fencing deadline, so that
its agent stays within its lease however slow PostgreSQL is.

The candidate of a switchover has its checkpointer stopped (SIGSTOP)
before the switchover: its promotion ends (PostgreSQL 15 promotes without
waiting for a checkpoint), and the CHECKPOINT the agent runs right after
it, with role=primary already published and no lease renewal until the
tick ends, hangs. The agent must cut that CHECKPOINT at its deadline
(ttl - 1 s after the renewal sent in the tick that took the key), and fence
itself, logging it, before the fence process's deadline (ttl - 0.5 s) and
so before etcd could expire the lease; the fence process must not have had
to do it."""
import json
import os
import signal
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, log, log_lines, pid_alive, run_test, wait_for  # noqa: E402
from test_switchover import api, post, token_of  # noqa: E402

TTL = 3  # the agents' lease in `flotilla local up`


def main():
    with Cluster(nodes=3) as c:
        old = c.wait_healthy(60)
        target = [n for n in c.names() if n != old][0]
        # The candidate's member record caught up (a record from before its stream began lags by everything): a
        # switchover asked sooner is refused as one to a lagging candidate.
        def caught_up():
            with urllib.request.urlopen(api(c, old) + "/cluster", timeout=5) as r:
                members = json.loads(r.read())["members"]
            lag = [m.get("lag") for m in members if m["name"] == target]
            return lag and isinstance(lag[0], int) and lag[0] <= 1048576
        wait_for(caught_up, 30, "%s's record in /cluster to lag under 1 MB" % target)
        ckpt = c.q(target, "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'")[0][0]
        path = c.agent_log(target)
        offset = os.path.getsize(path)
        agent = " replicator node=%s " % target
        os.kill(ckpt, signal.SIGSTOP)
        log("SIGSTOP the checkpointer of %s (pid %d); switchover %s -> %s" % (target, ckpt, old, target))
        try:
            status, body = post(api(c, old) + "/switchover", token_of(c), {"leader": old, "candidate": target})
            check(status in (200, 202), "POST /switchover answered %d %s" % (status, body))
            wait_for(lambda: log_lines(path, offset, agent, "fencing"), 60, "%s's agent to fence itself" % target)
            took = log_lines(path, offset, agent, "took the leader key")
            promoted = log_lines(path, offset, agent, "promoted to leader")
            check(took and promoted, "%s fenced without having taken the key and promoted" % target)
            t_took = took[0][0]
            fence = log_lines(path, offset, agent, "fencing")[0]
            ckpt_failed = log_lines(path, offset, agent, "checkpoint after promotion failed")
            log("took the key: " + took[0][1])
            log("promoted %.3f s later: %s" % (promoted[0][0] - t_took, promoted[0][1]))
            for t, line in ckpt_failed[:1]:
                log("checkpoint cut %.3f s after taking the key: %s" % (t - t_took, line))
            log("agent fenced %.3f s after taking the key: %s" % (fence[0] - t_took, fence[1]))
            fired = [l for l in log_lines(path, offset, " fence node=%s " % target, "stopped postgres") if l[0] <= fence[0]]
            for t, line in fired:
                log("fence process %.3f s after taking the key: %s" % (t - t_took, line))
            check(ckpt_failed and "deadline" in ckpt_failed[0][1],
                  "the checkpoint after the promotion was not cut at the deadline: %s" % (ckpt_failed or "(no line)"))
            check(not fired, "the fence process stopped %s's postgres before its agent fenced it" % target)
            # The renewal that the deadline counts from was sent before the key was taken, in the same tick.
            check(fence[0] - t_took < TTL - 0.5,
                  "%s's agent fenced %.3f s after taking the key, past the fence process's deadline (ttl - 0.5 s)"
                  % (target, fence[0] - t_took))
            wait_for(lambda: not c.accepts_write(target) or c.role(target) == "down", 15,
                     "%s to stop accepting writes" % target)
        finally:
            if pid_alive(ckpt):
                os.kill(ckpt, signal.SIGCONT)
        leader = c.wait_healthy(120)
        log("afterwards: leader %s, %d streaming replicas" % (leader, c.n - 1))


if __name__ == "__main__":
    run_test(main)
