#!/usr/bin/python3
"""A stalled leader agent (SIGSTOP for 40 s) whose PostgreSQL keeps running
must not cost an acknowledged write in synchronous mode, and on waking it
must not take the leader key back. Two writers: one on rw_dsn, one on the
stalled leader's own dsn."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, Writer, check, log, run_test, wait_for  # noqa: E402

STALL = 40


def main():
    with Cluster(nodes=3, sync=True) as c:
        old = c.wait_healthy(60)
        others = [n for n in c.names() if n != old]
        log("leader %s" % old)
        c.wait_sync_names(old)
        Writer.create_table(c.rw_dsn, "it_stall_rw")
        Writer.create_table(c.rw_dsn, "it_stall_direct")
        w_rw = Writer(c.rw_dsn, "it_stall_rw")
        w_direct = Writer(c.node(old)["dsn"], "it_stall_direct")
        w_rw.start()
        w_direct.start()
        wait_for(lambda: w_rw.acked_count() >= 50 and w_direct.acked_count() >= 50, 60,
                 "50 acknowledged writes from each writer")

        agent = c.agent_pid(old)
        keys = c.watch_leader_key()
        time.sleep(0.3)
        t_stop = time.monotonic()
        os.kill(agent, signal.SIGSTOP)
        log("SIGSTOP agent of %s (pid %d); its postmaster %s keeps running" % (old, agent, c.postmaster_pid(old)))
        try:
            def took_over():
                key = c.leader_key()
                return key if key in others and c.role(key) == "primary" else None
            new = wait_for(took_over, STALL - 5, "another node to take the leader key and promote while %s's agent is stopped" % old)
            log("%s took over %.2f s after the stop" % (new, time.monotonic() - t_stop))
            log("during the stall: %s | %s" % (w_rw.summary(), w_direct.summary()))
            time.sleep(max(0, STALL - (time.monotonic() - t_stop)))
        finally:
            os.kill(agent, signal.SIGCONT)
        t_cont = time.monotonic()
        log("SIGCONT agent of %s after %.1f s" % (old, t_cont - t_stop))

        c.wait_rejoined(old, new, 120)
        log("%s is a replica of %s %.1f s after SIGCONT" % (old, new, time.monotonic() - t_cont))
        wait_for(lambda: len(w_rw.acked_after(time.monotonic() - 2)) > 0, 30, "the rw writer acknowledged again")
        time.sleep(2)
        w_rw.stop()
        w_direct.stop()
        log(w_rw.summary())
        log(w_direct.summary())

        # Once another node held the key, the woken agent must never take it back.
        hist = keys.history()
        log("leader key history: %s" % keys.describe(t_stop))
        took = [t for t, v in hist if v == new]
        check(took, "the key watcher never saw %s hold the leader key" % new)
        back = [(t, v) for t, v in hist if t > took[0] and v == old]
        check(not back, "%s took the leader key back at %+.2f s (after %s held it)" % (old, back[0][0] - t_stop if back else 0, new))

        # The node that took over stays leader: key and role, for a few seconds.
        for _ in range(10):
            key = c.leader_key()
            check(key == new, "etcd leader key is %r after the stalled agent woke, want %s" % (key, new))
            check(c.role(new) == "primary", "%s is no longer primary" % new)
            check(c.role(old) != "primary", "%s is primary again after waking" % old)
            time.sleep(0.5)

        failures = []
        for w in (w_rw, w_direct):
            acked = w.acked_ids()
            missing, present = c.missing_on(new, w.table, acked)
            late = w.acked_after(t_stop)
            log("%s: acknowledged %d (%d after the SIGSTOP); final leader %s holds %d rows; missing %d"
                % (w.table, len(acked), len(late), new, present, len(missing)))
            if missing:
                failures.append("%s: %d acknowledged ids missing on the final leader %s: %s%s"
                                % (w.table, len(missing), new, missing[:20], " ..." if len(missing) > 20 else ""))
        check(not failures, "; ".join(failures))


if __name__ == "__main__":
    run_test(main)
