#!/usr/bin/python3
"""Synchronous mode loses no acknowledged commit on a crash failover: a
writer on rw_dsn records every acknowledged id, the leader's agent and
postmaster are SIGKILLed, and after failover every acknowledged id is on
the final leader."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, Writer, check, log, run_test, wait_for  # noqa: E402

WRITERS = 4


def main():
    with Cluster(nodes=3, sync=True) as c:
        old = c.wait_healthy(60)
        log("leader %s; synchronous_standby_names right after local up: %r"
            % (old, c.q(old, "SHOW synchronous_standby_names")[0][0]))
        c.wait_sync_names(old)

        # Several writers so that several commits are in flight at the crash.
        writers = []
        for i in range(WRITERS):
            Writer.create_table(c.rw_dsn, "it_sync_%d" % i)
            writers.append(Writer(c.rw_dsn, "it_sync_%d" % i, interval=0.005))
        for w in writers:
            w.start()
        wait_for(lambda: all(w.acked_count() >= 100 for w in writers), 60, "100 acknowledged writes per writer before the crash")

        t_kill = time.monotonic()
        c.kill_node(old)
        new = wait_for(lambda: (lambda l: l if l not in (None, old) else None)(c.leader()), 60,
                       "a new leader that accepts writes")
        t_new = time.monotonic()
        log("new leader %s accepts writes %.2f s after the kill" % (new, t_new - t_kill))
        wait_for(lambda: all(len(w.acked_after(t_new)) >= 100 for w in writers), 90,
                 "100 writes per writer acknowledged after failover")
        for w in writers:
            w.stop()
            log(w.summary())
        check(c.leader() == new, "the leader changed again: now %r, was %s" % (c.leader(), new))

        failures = []
        total = 0
        for w in writers:
            acked = w.acked_ids()
            total += len(acked)
            missing, present = c.missing_on(new, w.table, acked)
            before = len(acked) - len(w.acked_after(t_kill))
            log("%s: acknowledged %d (%d before the kill), attempted %d, not acknowledged %d; final leader %s holds %d rows; missing %d"
                % (w.table, len(acked), before, w.attempted, len(w.uncertain), new, present, len(missing)))
            if missing:
                failures.append("%s: %d acknowledged ids missing on the final leader %s: %s%s"
                                % (w.table, len(missing), new, missing[:20], " ..." if len(missing) > 20 else ""))
        log("in all: %d acknowledged writes, %d missing" % (total, sum(int(f.split(": ")[1].split()[0]) for f in failures)))
        check(not failures, "; ".join(failures))
        for w in writers:
            before = len(w.acked_ids()) - len(w.acked_after(t_kill))
            check(before >= 100, "%s: only %d writes acknowledged before the kill, want 100 in flight" % (w.table, before))
        ssn2 = c.q(new, "SHOW synchronous_standby_names")[0][0]
        log("new leader's synchronous_standby_names = %r" % ssn2)
        survivor = [n for n in c.names() if n not in (old, new)][0]
        check(ssn2.upper().startswith("ANY 1") and survivor in ssn2,
              "the new leader %s does not wait for the surviving replica %s: synchronous_standby_names = %r" % (new, survivor, ssn2))


if __name__ == "__main__":
    run_test(main)
