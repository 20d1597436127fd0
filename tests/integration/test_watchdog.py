#!/usr/bin/python3
"""watchdog.mode without a usable watchdog.

A 3-node cluster; one replica restarted with watchdog.mode = required and a
device that is not a watchdog (/dev/null), the other with
watchdog.mode = automatic and a device that does not exist. Each logs why
at start. The leader is killed: the automatic one takes over (it leads
without a watchdog); the required one never does, and publishes itself as
one not to fail over to. Then the new leader is killed too: the required
one stays a replica, with no leader, rather than lead unguarded. (No test
drives a real watchdog: on this machine it would reset the machine.)"""
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, etcd_get, log, pid_alive, run_test, wait_for  # noqa: E402


def restart_with(c, name, env):
    c.signal_agent(name, signal.SIGTERM)
    wait_for(lambda: not pid_alive(c.agent_pid(name)), 60, "the agent of %s to stop" % name)
    c.start_agent(name, env=env)
    wait_for(lambda: c.role(name) == "replica" and c.wal_receiver(name), 60, "%s streaming again" % name)


def main():
    with Cluster(nodes=3) as c:
        leader = c.wait_healthy(60)
        required, automatic = sorted(n for n in c.names() if n != leader)
        restart_with(c, required, {"FLOTILLA_WATCHDOG_MODE": "required", "FLOTILLA_WATCHDOG_DEVICE": "/dev/null"})
        restart_with(c, automatic, {"FLOTILLA_WATCHDOG_MODE": "automatic",
                                    "FLOTILLA_WATCHDOG_DEVICE": "/nonexistent/watchdog"})
        req_log = c.read_agent_log(required)
        check("watchdog.mode is required, but /dev/null (1:3) is not a watchdog device: this node will never lead"
              in req_log, "%s did not say why it will never lead" % required)
        check("watchdog.mode is automatic, and /nonexistent/watchdog: No such file or directory" in
              c.read_agent_log(automatic), "%s did not say it leads without a watchdog" % automatic)
        rec = wait_for(lambda: (lambda v: json.loads(v) if v else None)(
            etcd_get(c.etcd_endpoint, "/flotilla/%s/members/%s" % (c.scope, required))), 10, "%s's record" % required)
        check((rec.get("tags") or {}).get("nofailover") is True,
              "%s's record does not keep others from picking it: %s" % (required, rec))
        log("%s (required, no watchdog) publishes nofailover; %s (automatic) may lead" % (required, automatic))

        c.kill_node(leader)
        new = wait_for(lambda: (lambda k: k if k in (required, automatic) and c.role(k) == "primary" else None)(
            c.leader_key()), 30, "a new leader")
        check(new == automatic, "%s took over, want %s (the required one has no watchdog)" % (new, automatic))
        log("%s took over; %s stayed a replica" % (new, required))

        c.kill_node(new)
        t = time.monotonic()
        while time.monotonic() - t < 10:
            check(c.role(required) != "primary" and c.leader_key() in (None, "", new),  # new's until its lease ends
                  "%s led without its required watchdog (role %s, key %r)" % (
                      required, c.role(required), c.leader_key()))
            time.sleep(0.5)
        check("watchdog.mode is required and no watchdog is available" in c.read_agent_log(required),
              "%s did not say why it does not take the key" % required)
        log("alone, %s stayed a replica for 10 s rather than lead without its watchdog" % required)


if __name__ == "__main__":
    run_test(main)
