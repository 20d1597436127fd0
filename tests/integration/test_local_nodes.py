#!/usr/bin/python3
"""`flotilla local start|stop|kill NODE`: a failure and a recovery tried on a
local cluster of three nodes with the CLI alone.

  kill    the leader killed (agent, postmaster and its process group gone at
          once): another node leads within the failover time, and
          `flotilla list` drops the killed node once its member key expires
  start   it starts again (its agent as `up` started it, the same user and
          log, cluster.json's agent_pid updated) and rejoins as a streaming
          replica of the new leader; `start` returns once it streams
  stop    a replica stopped cleanly (its agent and PostgreSQL exit, the
          cluster keeps its leader); started again, it streams
  refusals  start of a running node, stop of a stopped one, kill of a node
          that runs nothing, an unknown node: each refused, naming why"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from err_codes import EXIT_CONFLICT, EXIT_NOT_FOUND  # noqa: E402
from harness import Cluster, check, log, pid_alive, run_test, wait_for  # noqa: E402


def local(c, *args, want=0):
    r = subprocess.run([c.flotilla, "local"] + list(args) + ["--dir", c.dir], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=180)
    out, err = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
    check(r.returncode == want, "`flotilla local %s` exited %d, want %d:\n%s%s" % (" ".join(args), r.returncode, want,
                                                                                out, err))
    return out + err


def info(c):
    with open(os.path.join(c.dir, "cluster.json")) as f:
        return {n["name"]: n for n in json.load(f)["nodes"]}


def listed(c):
    r = subprocess.run([c.flotilla, "list", "--json", "--dir", c.dir], stdout=subprocess.PIPE, timeout=30)
    return {m["member"]: m for m in json.loads(r.stdout)}


def main():
    with Cluster(nodes=3) as c:
        leader = c.wait_healthy(60)
        replica = [n for n in c.names() if n != leader][0]

        log("kill %s (the leader)" % leader)
        agent = c.agent_pid(leader)
        pm = c.postmaster_pid(leader)
        t0 = time.monotonic()
        local(c, "kill", leader)
        check(not pid_alive(agent) and not pid_alive(pm), "the agent %d or postmaster %d of %s survived" % (agent, pm,
                                                                                                          leader))
        new = wait_for(lambda: (lambda l: l if l not in (None, leader) else None)(c.leader()), 30,
                       "a new leader after killing %s" % leader)
        took = time.monotonic() - t0
        wait_for(lambda: leader not in listed(c), 30, "list to drop %s (its member key expires with its lease)" % leader)
        log("  %s leads %.1f s after the kill; list no longer shows %s (its member key expired)" % (new, took, leader))
        c.agent_pids[leader] = None

        log("start %s again" % leader)
        t0 = time.monotonic()
        out = local(c, "start", leader)
        started = info(c)[leader]["agent_pid"]
        check(pid_alive(started) and started != agent, "cluster.json's agent_pid %s of %s does not run" % (started,
                                                                                                           leader))
        c.agent_pids[leader] = started
        check(c.streams_from(leader, new), "%s does not stream from %s after `local start`: %s" % (leader, new, out))
        said = [l for l in out.splitlines() if l.startswith("node %s runs as" % leader)]
        check(said, "`local start` did not say how %s runs: %s" % (leader, out))
        log("  %s (%.1f s after `local start`)" % (said[0], time.monotonic() - t0))

        target = replica if replica != new else leader
        log("stop %s (a replica)" % target)
        agent = info(c)[target]["agent_pid"]
        pm = c.postmaster_pid(target)
        local(c, "stop", target)
        check(not pid_alive(agent) and not pid_alive(pm), "%s still runs after `local stop`" % target)
        check(c.leader() == new, "the leader changed from %s to %s when a replica stopped" % (new, c.leader()))
        wait_for(lambda: target not in listed(c) or listed(c)[target]["state"] == "stopped", 30,
                 "list to show %s stopped or gone" % target)
        log("refusals")
        out = local(c, "stop", target, want=EXIT_CONFLICT)
        check("does not run (no agent, no postmaster)" in out, "stop of a stopped node: %s" % out)
        out = local(c, "kill", target, want=EXIT_CONFLICT)
        check("runs nothing" in out, "kill of a stopped node: %s" % out)
        out = local(c, "start", new, want=EXIT_CONFLICT)
        check("runs already" in out, "start of a running node: %s" % out)
        out = local(c, "start", "n9", want=EXIT_NOT_FOUND)
        check("no node \"n9\"" in out, "an unknown node: %s" % out)
        log("  %s" % out.strip())
        local(c, "start", target)
        c.agent_pids[target] = info(c)[target]["agent_pid"]
        check(c.streams_from(target, new), "%s does not stream from %s after `local start`" % (target, new))
        check(c.wait_healthy(30) == new, "the cluster is not whole again under %s" % new)
        log("  %s streams from %s again; the cluster is whole" % (target, new))


if __name__ == "__main__":
    run_test(main)
