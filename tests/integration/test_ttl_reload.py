#!/usr/bin/python3
"""ttl reloads with loop_wait: a reload (SIGHUP) that raises both together
in every node's file gives every agent a lease with the new ttl (the
leader's key moved onto it, its term kept), and the leader keeps its key
through several of the new loop_waits without fencing; a reload whose
file is invalid on its own (loop_wait + 1 >= ttl) is refused with a line
that says why, and changes nothing."""
import json
import os
import re
import signal
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, etcd_lease_of, log, run_test, wait_for  # noqa: E402

NEW_TTL, NEW_LOOP_WAIT = 10, 2.0


def etcd_call(endpoint, path, body):
    req = urllib.request.Request(endpoint.rstrip("/") + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=2) as r:
        return json.loads(r.read().decode())


def granted_ttl(c, key):
    """The TTL the lease of key was granted with (None without key or lease)."""
    lease = etcd_lease_of(c.etcd_endpoint, key)
    if not lease:
        return None
    return int(etcd_call(c.etcd_endpoint, "/v3/lease/timetolive", {"ID": str(lease)}).get("grantedTTL", 0))


def leader_rev(c):
    """(value, create_revision) of the leader key."""
    import base64
    key = "/flotilla/%s/leader" % c.scope
    kvs = etcd_call(c.etcd_endpoint, "/v3/kv/range", {"key": base64.b64encode(key.encode()).decode()}).get("kvs") or []
    return (base64.b64decode(kvs[0]["value"]).decode(), int(kvs[0]["create_revision"])) if kvs else None


def set_settings(c, name, settings):
    """Rewrites several top-level settings of name's file at once, then one SIGHUP."""
    path = c.config_path(name)
    with open(path) as f:
        text = f.read()
    for k, v in settings.items():
        line = "%s = %s;" % (k, v)
        text, n = re.subn(r"(?m)^%s\s*=.*$" % re.escape(k), line, text)
        if n == 0:
            text = text.rstrip("\n") + "\n" + line + "\n"
    c._replace_config(path, text)
    c.signal_agent(name, signal.SIGHUP)
    log("%s: %s (one SIGHUP)" % (name, ", ".join("%s = %s" % kv for kv in settings.items())))


def agent_lines(c, name, offset, needle):
    with open(c.agent_log(name), errors="replace") as f:
        f.seek(offset)
        return [l.rstrip("\n") for l in f if " replicator node=%s " % name in l and needle in l]


def main():
    with Cluster(nodes=3) as c:
        leader = c.wait_healthy(60)
        root = "/flotilla/%s/" % c.scope
        check(granted_ttl(c, root + "leader") == 3, "the leader key's lease is not granted with ttl 3")

        # Invalid on its own: refused whole, nothing changes.
        offsets = {n: os.path.getsize(c.agent_log(n)) for n in c.names()}
        set_settings(c, leader, {"ttl": "3", "loop_wait": "2.5"})
        refused = wait_for(lambda: agent_lines(c, leader, offsets[leader], "reload refused"), 10,
                           "%s to refuse the reload" % leader)
        log(refused[0])
        check("loop_wait" in refused[0] and "ttl" in refused[0], "the refusal does not say why: %s" % refused[0])
        time.sleep(1)
        changed = agent_lines(c, leader, offsets[leader], "reloaded")
        check(not changed, "a refused reload changed settings: %s" % changed)
        check(granted_ttl(c, root + "leader") == 3, "a refused reload changed the lease")

        # ttl and loop_wait raised together on every node.
        term = leader_rev(c)
        offsets = {n: os.path.getsize(c.agent_log(n)) for n in c.names()}
        t_reload = time.monotonic()
        for n in c.names():
            set_settings(c, n, {"ttl": str(NEW_TTL), "loop_wait": "%.1f" % NEW_LOOP_WAIT})
        for n in c.names():
            wait_for(lambda n=n: granted_ttl(c, root + "members/" + n) == NEW_TTL, 15,
                     "%s's member key on a lease with ttl %d" % (n, NEW_TTL))
        wait_for(lambda: granted_ttl(c, root + "leader") == NEW_TTL, 15, "the leader key on a lease with ttl %d" % NEW_TTL)
        log("every lease granted with ttl %d within %.1f s of the reload" % (NEW_TTL, time.monotonic() - t_reload))
        for n in c.names():
            for l in agent_lines(c, n, offsets[n], "lease") + agent_lines(c, n, offsets[n], "refused"):
                log(l)
        check(leader_rev(c) == term, "the leader key changed: %s, was %s" % (leader_rev(c), term))
        check(etcd_lease_of(c.etcd_endpoint, root + "leader") == etcd_lease_of(c.etcd_endpoint, root + "members/" + leader),
              "the leader key and %s's member key are on different leases" % leader)

        watch = 4 * NEW_LOOP_WAIT + 1
        log("watching %.0f s (%d new loop_waits)" % (watch, watch // NEW_LOOP_WAIT))
        end = time.monotonic() + watch
        while time.monotonic() < end:
            check(c.leader_key() == leader, "the leader key left %s: %r" % (leader, c.leader_key()))
            time.sleep(0.5)
        for n in c.names():
            fenced = agent_lines(c, n, offsets[n], "fencing")
            check(not fenced, "%s fenced after the reload: %s" % (n, fenced))
        check(leader_rev(c) == term, "the leader key changed: %s, was %s" % (leader_rev(c), term))
        check(c.healthy() == leader, "the cluster is not healthy with %s as leader after the reload" % leader)
        log("%s kept its key (term %d) and nobody fenced" % (leader, term[1]))


if __name__ == "__main__":
    run_test(main)
