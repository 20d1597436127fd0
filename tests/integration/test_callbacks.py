#!/usr/bin/python3
"""Callbacks on events, as Patroni's (callbacks.on_start, on_stop, on_restart,
on_role_change): a script per node, set by a reload, logs each call with
its arguments (event, role, scope) through:

  switchover  the new leader: on_role_change primary; the old one, stopped
              and started again by its agent as a replica: on_role_change
              replica alone (no on_stop, no on_start)
  crash       the leader killed: a survivor on_role_change primary; the
              killed node's new agent: on_start replica
  restart     `flotilla restart` of a replica: on_restart replica alone
  stop        a replica's agent stopped (SIGTERM): on_stop replica, run
              detached, so it completes after the agent is gone
  slow        a callback that sleeps past callbacks.timeout is ended and
              logged, and the HA loop goes on meanwhile (the API answers)

The callback log is printed at the end."""
import os
import pwd
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, log, pid_alive, run_test, wait_for  # noqa: E402

SCRIPT = """#!/bin/sh
[ -f "%(dir)s/slow" ] && sleep 30
echo "$(date +%%s.%%N) %(node)s $*" >> "%(dir)s/callbacks.log"
"""


def calls(top):
    try:
        with open(os.path.join(top, "cb", "callbacks.log")) as f:
            return [l.split()[1:] for l in f if l.strip()]
    except FileNotFoundError:
        return []


def since(top, n):
    return calls(top)[n:]


def wait_calls(top, n, want, what, timeout=30):
    """Waits until the calls after the first n include each of want (lists of words); returns them all."""
    def got():
        new = since(top, n)
        return new if all(w in new for w in want) else None
    return wait_for(got, timeout, "%s: calls %s (so far %s)" % (what, want, since(top, n)))


def main():
    with Cluster(nodes=3) as c:
        leader = c.wait_healthy(60)
        pw = pwd.getpwnam("postgres")
        cbdir = os.path.join(c.top, "cb")
        os.mkdir(cbdir)
        os.chown(cbdir, pw.pw_uid, pw.pw_gid)
        for name in c.names():
            script = os.path.join(cbdir, "%s.sh" % name)
            with open(script, "w") as f:
                f.write(SCRIPT % {"dir": cbdir, "node": name})
            os.chmod(script, 0o755)
            with open(c.config_path(name), "a") as f:
                f.write('callbacks = { on_start = "%s"; on_stop = "%s"; on_restart = "%s"; on_role_change = "%s"; '
                        'timeout = 3.0; };\n' % ((script,) * 4))
            before = c.read_agent_log(name).count("configuration reloaded")
            c.signal_agent(name, signal.SIGHUP)
            wait_for(lambda: c.read_agent_log(name).count("configuration reloaded") > before, 10,
                     "%s to reload" % name)
        check(calls(c.top) == [], "callbacks ran before any event: %s" % calls(c.top))
        scope = c.scope

        log("switchover %s -> the other nodes" % leader)
        replicas = [n for n in c.names() if n != leader]
        n0 = len(calls(c.top))
        r = subprocess.run([c.flotilla, "switchover", "--candidate", replicas[0], "--force", "--dir", c.dir],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        check(r.returncode == 0, "switchover: %s" % r.stdout.decode())
        got = wait_calls(c.top, n0, [[replicas[0], "on_role_change", "primary", scope],
                                     [leader, "on_role_change", "replica", scope]], "the switchover")
        time.sleep(2)
        got = since(c.top, n0)
        check(sorted(map(tuple, got)) == sorted([(replicas[0], "on_role_change", "primary", scope),
                                                 (leader, "on_role_change", "replica", scope)]),
              "the switchover called %s" % got)
        log("  %s" % got)
        new = replicas[0]

        log("crash: kill %s (the leader)" % new)
        n0 = len(calls(c.top))
        c.kill_node(new)
        winner = wait_for(lambda: (lambda l: l if l not in (None, new) else None)(c.leader()), 30, "a new leader")
        wait_calls(c.top, n0, [[winner, "on_role_change", "primary", scope]], "the failover")
        c.start_agent(new)
        got = wait_calls(c.top, n0, [[new, "on_start", "replica", scope]], "the killed node back", timeout=60)
        log("  %s" % got)

        replica = [n for n in c.names() if n != winner][0]
        log("restart %s (a replica)" % replica)
        n0 = len(calls(c.top))
        wait_for(lambda: c.streams_from(replica, winner), 60, "%s streaming" % replica)
        r = subprocess.run([c.flotilla, "restart", replica, "--force", "--dir", c.dir], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=120)
        check(r.returncode == 0, "restart: %s" % r.stdout.decode())
        wait_calls(c.top, n0, [[replica, "on_restart", "replica", scope]], "the restart")
        time.sleep(2)
        got = since(c.top, n0)
        check(got == [[replica, "on_restart", "replica", scope]], "the restart called %s" % got)
        log("  %s" % got)

        log("slow: a callback past callbacks.timeout (3 s) is ended; the API answers meanwhile")
        open(os.path.join(cbdir, "slow"), "w").close()
        n0 = len(calls(c.top))
        t0 = time.monotonic()
        r = subprocess.run([c.flotilla, "restart", replica, "--force", "--dir", c.dir], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=120)
        check(r.returncode == 0, "restart: %s" % r.stdout.decode())
        port = c.node(replica)["api_port"]
        worst = 0.0
        while time.monotonic() - t0 < 5:
            t = time.monotonic()
            try:  # 200, or 503 while PostgreSQL restarts: either way the agent answered
                urllib.request.urlopen("http://127.0.0.1:%d/health" % port, timeout=2).read()
            except urllib.error.HTTPError as e:
                check(e.code == 503, "GET /health answered %d" % e.code)
            worst = max(worst, time.monotonic() - t)
            time.sleep(0.1)
        wait_for(lambda: "callback on_restart replica: timed out" in c.read_agent_log(replica), 20,
                 "the agent to log the callback's timeout")
        check(since(c.top, n0) == [], "the slow callback completed: %s" % since(c.top, n0))
        check(worst < 1.0, "GET /health took %.0f ms while the callback ran" % (1000 * worst))
        os.unlink(os.path.join(cbdir, "slow"))
        log("  ended after its timeout, logged; GET /health answered within %.0f ms meanwhile" % (1000 * worst))

        log("stop %s's agent (SIGTERM)" % replica)
        n0 = len(calls(c.top))
        agent = c.agent_pid(replica)
        c.signal_agent(replica, signal.SIGTERM)
        wait_for(lambda: not pid_alive(agent), 60, "the agent of %s to exit" % replica)
        got = wait_calls(c.top, n0, [[replica, "on_stop", "replica", scope]], "the stop")
        log("  %s" % got)
        c.start_agent(replica)
        wait_for(lambda: c.streams_from(replica, winner), 60, "%s back" % replica)

        with open(os.path.join(cbdir, "callbacks.log")) as f:
            log("the callback log:\n" + f.read().rstrip())


if __name__ == "__main__":
    run_test(main)
