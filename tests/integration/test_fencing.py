#!/usr/bin/python3
"""Fencing: the leader loses etcd (its traffic goes through a TCP proxy that
is then cut, a black hole). It must stop accepting writes before any other
node accepts one; a new leader appears; after the heal the old leader
rejoins as a replica."""
import os
import sys
import time
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, TcpProxy, WriteProbe, check, log, run_test, wait_for  # noqa: E402

TTL = 3  # the agents' lease (the default ttl `flotilla local up` keeps)


def main():
    with Cluster(nodes=3) as c:
        old = c.wait_healthy(60)
        others = [n for n in c.names() if n != old]
        log("leader %s" % old)
        WriteProbe.create_table(c.node(old)["dsn"])
        for n in others:
            wait_for(lambda n=n: c.q(n, "SELECT to_regclass('it_probe') IS NOT NULL")[0][0], 15, "it_probe on %s" % n)

        proxy = TcpProxy.for_url(c.etcd_endpoint)
        c.cleanups.append(proxy.close)
        c.set_etcd_endpoints(old, [proxy.url])
        time.sleep(2)
        s1 = proxy.stats()
        time.sleep(1.5)
        s2 = proxy.stats()
        log("proxy stats: %s then %s" % (s1, s2))
        check(s2["accepted"] > 0 and s2["bytes"] > s1["bytes"],
              "after SIGHUP the agent of %s sends no etcd traffic through the proxy (%s -> %s)" % (old, s1, s2))
        check(c.healthy() == old, "the cluster is not healthy with %s as leader after the SIGHUP" % old)

        probe = WriteProbe(c)
        probe.start()
        wait_for(lambda: len(probe.successes(old)) >= 5, 10, "probe writes on the leader %s" % old)

        keys = c.watch_leader_key()
        time.sleep(0.3)
        t_cut = time.monotonic()
        proxy.cut()
        wait_for(lambda: not c.accepts_write(old), 20, "the partitioned leader %s to stop accepting writes" % old)
        t_fenced = time.monotonic()
        log("%s stopped accepting writes within %.2f s of the cut" % (old, t_fenced - t_cut))
        new = wait_for(lambda: (lambda l: l if l in others else None)(c.leader()), 60, "a new leader among %s" % others)
        log("new leader %s accepts writes %.2f s after the cut" % (new, time.monotonic() - t_cut))
        wait_for(lambda: len(probe.successes(new)) >= 10, 20, "probe writes on the new leader %s" % new)
        probe.stop()

        recs = probe.successes()
        old_recs = [r for r in recs if r[1] == old]
        other_recs = [r for r in recs if r[1] != old]
        last_old = max(r[3] for r in old_recs)
        first_other = min(r[3] for r in other_recs)
        first_other_rec = min(other_recs, key=lambda r: r[3])
        log("probe: %d ticks, %d successes; last write on %s acknowledged %.3f s after the cut, first write on another node (%s) %.3f s after it"
            % (probe.ticks, len(recs), old, last_old - t_cut, first_other_rec[1], first_other - t_cut))
        check(last_old < first_other,
              "split brain: %s acknowledged a write at +%.3f s, after %s had acknowledged one at +%.3f s"
              % (old, last_old - t_cut, first_other_rec[1], first_other - t_cut))
        by_tick = defaultdict(set)
        for tick, node, _, _ in recs:
            by_tick[tick].add(node)
        double = {t: sorted(ns) for t, ns in by_tick.items() if len(ns) > 1}
        check(not double, "probe ticks in which two nodes accepted a write: %s" % dict(list(double.items())[:10]))
        fence_lines = [l for l in c.read_agent_log(old).splitlines() if "fencing" in l]
        log("fencing lines in %s's agent.log: %s" % (old, fence_lines[-3:] or "(none)"))
        check(fence_lines, "%s stopped accepting writes, but its agent logged no fencing" % old)
        # The leader fences ttl - 1 s after its last renewal, so before etcd can expire the lease
        # (ttl after it); the probe sees it within its 0.2 s polls.
        check(t_fenced - t_cut < TTL + 0.5, "%s accepted writes for %.2f s after the cut, beyond the %d s lease" % (
            old, t_fenced - t_cut, TTL))

        proxy.heal()
        c.wait_rejoined(old, new, 120)
        log("%s rejoined as a replica of %s" % (old, new))
        time.sleep(2)
        hist = keys.history()
        log("leader key history: %s" % keys.describe(t_cut))
        took = [t for t, v in hist if v == new]
        check(took, "the key watcher never saw %s hold the leader key" % new)
        back = [t for t, v in hist if t > took[0] and v == old]
        check(not back, "%s took the leader key back after the heal" % old)
        check(c.leader() == new, "leader is %r after the heal, want %s" % (c.leader(), new))
        check(c.leader_key() == new, "etcd leader key is %r, want %s" % (c.leader_key(), new))


if __name__ == "__main__":
    run_test(main)
