#!/usr/bin/python3
"""A node that finds the leader key under its own lease leads, and is fenced
as a leader, even though it never saw the reply to taking the key (a lost
or late reply from a slow etcd).

The leader key is written for a replica, under that replica's own lease,
straight into etcd: what etcd holds after a take whose answer was lost. The
replica must log that etcd shows the key as its own, promote, and then,
with etcd stopped (SIGSTOP: every request hangs), stop accepting writes
within the lease, its agent fencing it as a leader."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, etcd_lease_of, etcd_put, log, log_line_time, run_test, wait_for  # noqa: E402

TTL = 3  # the agents' lease in `flotilla local up`


def main():
    with Cluster(nodes=3) as c:
        old = c.wait_healthy(60)
        target = [n for n in c.names() if n != old][0]
        root = "/flotilla/%s/" % c.scope
        lease = etcd_lease_of(c.etcd_endpoint, root + "members/" + target)
        check(lease, "no lease on %s's member key" % target)
        offset = os.path.getsize(c.agent_log(target))
        etcd_put(c.etcd_endpoint, root + "leader", target, lease=lease)
        log("leader key written for %s under its own lease %x (the leader was %s)" % (target, lease, old))
        wait_for(lambda: c.role(target) == "primary" and c.accepts_write(target), 30,
                 "%s to promote on the key it found" % target)
        adopted = log_line_time(c.agent_log(target), "leader key as ours", offset)
        check(adopted, "%s promoted without logging that it leads from etcd's answer" % target)
        log(adopted[1])
        wait_for(lambda: not c.accepts_write(old), 15, "the former leader %s to stop accepting writes" % old)

        etcd_pid = c.info["etcd"]["pid"]
        time.sleep(0.2)
        t_stop = time.monotonic()
        os.kill(etcd_pid, signal.SIGSTOP)
        log("SIGSTOP etcd (pid %d)" % etcd_pid)
        try:
            wait_for(lambda: not c.accepts_write(target), TTL + 5, "%s to stop accepting writes with etcd stopped" % target)
            fenced_after = time.monotonic() - t_stop
            log("%s stopped accepting writes %.2f s after etcd stopped" % (target, fenced_after))
            fence = log_line_time(c.agent_log(target), "fencing", offset)
            check(fence and " replicator node=%s " % target in fence[1],
                  "%s's agent did not fence itself as a leader: %s" % (target, fence))
            log(fence[1])
            check(fenced_after < TTL + 0.5, "%s accepted writes for %.2f s with etcd stopped, beyond the %d s lease" % (
                target, fenced_after, TTL))
        finally:
            os.kill(etcd_pid, signal.SIGCONT)
        leader = c.wait_healthy(90)
        log("after etcd resumed: leader %s, %d streaming replicas" % (leader, c.n - 1))


if __name__ == "__main__":
    run_test(main)
