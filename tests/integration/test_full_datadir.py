#!/usr/bin/python3
"""A leader that cannot start PostgreSQL again gives up its key.

A 3-node cluster. The leader's data directory is made unwritable for the
agent's managed configuration (flotilla.conf becomes a directory, as a full
or read-only data directory would make the write fail), then its postmaster
is killed. Every failed start counts as a crash: after max_restarts (3) the
agent releases the leader key, within the lease's ttl of the crash (a
leader backs off 0.2 s per crash), another node is promoted and takes
writes, and the old leader's log says why. Before, the failed starts were not
counted and the leader kept its key with PostgreSQL down, forever."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, log, log_line_time, run_test, signal_pid, wait_for  # noqa: E402

TTL = 3  # the agents' lease in `flotilla local up`


def main():
    with Cluster(nodes=3) as c:
        old = c.wait_healthy()
        conf = os.path.join(c.node(old)["data_dir"], "flotilla.conf")
        os.unlink(conf)
        os.mkdir(conf)
        with open(os.path.join(conf, "blocker"), "w") as f:
            f.write("the data directory cannot take a new flotilla.conf\n")
        c.cleanups.append(lambda: os.path.isdir(conf) and (os.unlink(os.path.join(conf, "blocker")), os.rmdir(conf)))
        pm = c.postmaster_pid(old)
        t_kill = time.monotonic()
        signal_pid(pm, signal.SIGKILL)
        log("%s: flotilla.conf is now a directory; postmaster %d killed" % (old, pm))
        new = wait_for(lambda: (lambda k: k if k not in (None, "", old) else None)(c.leader_key()), 60,
                       "another node to hold the leader key")
        t_key = time.monotonic()
        wait_for(lambda: c.accepts_write(new), 30, "writes on the new leader %s" % new)
        t_write = time.monotonic()
        text = c.read_agent_log(old)
        gave_up = log_line_time(c.agent_log(old), "releasing the leader key")
        killed_at = log_line_time(c.agent_log(old), "postgres exited unexpectedly")
        failed = text.count("starting postgres failed")
        log("leader key moved from %s to %s %.2f s after the kill; writes on %s after %.2f s; %d failed starts logged" % (
            old, new, t_key - t_kill, new, t_write - t_kill, failed))
        check(failed >= 3, "%s logged %d failed starts, want max_restarts (3) or more" % (old, failed))
        check("releasing the leader key" in text, "%s did not say it released the leader key" % old)
        check(gave_up and killed_at, "no crash or give-up line in %s's log" % old)
        log("%s gave up the key %.2f s after its postmaster died (ttl %d s)" % (old, gave_up[0] - killed_at[0], TTL))
        check(gave_up[0] - killed_at[0] < TTL, "%s gave up its key %.2f s after the crash, beyond the ttl (%d s)" % (
            old, gave_up[0] - killed_at[0], TTL))
        check(t_key - t_kill < 30, "the key moved only %.1f s after the kill" % (t_key - t_kill))


if __name__ == "__main__":
    run_test(main)
