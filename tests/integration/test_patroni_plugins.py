#!/usr/bin/python3
"""A monitoring plugin written for Patroni's REST API, unchanged, against a
local cluster: Dalibo's check_patroni (PyPI, installed by scripts/install-deps)
run against each node's REST API, each check with the verdict it must give on
a leader, on a replica, and after the cluster changes:

  cluster_has_leader, cluster_has_replica (with --critical thresholds),
  cluster_node_count, node_is_alive, node_is_primary, node_is_leader,
  node_is_replica, node_patroni_version, node_tl_has_changed (after a
  switchover too), node_is_pending_restart (shared_buffers changed with
  ALTER SYSTEM), cluster_is_in_maintenance (flotilla pause / resume),
  cluster_has_scheduled_action (a switchover scheduled an hour ahead),
  cluster_config_has_changed (flotilla edit-config).

Also /patroni's server_version, database_system_identifier, dcs_last_seen and
a leader's replication list, against what PostgreSQL says."""
import json
import os
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, log, query, run_test, wait_for  # noqa: E402

CHECK_PATRONI = "/opt/flotilla/check_patroni/bin/check_patroni"
VERDICTS = {0: "OK", 1: "WARNING", 2: "CRITICAL", 3: "UNKNOWN"}
API_LEVEL = "3.3.0"
rows = []


def plugin(c, node, *args):
    """check_patroni against node's REST API: (verdict, first line of its output)."""
    api = "http://127.0.0.1:%d" % c.node(node)["api_port"]
    r = subprocess.run([CHECK_PATRONI, "--endpoints", api] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    out = r.stdout.decode(errors="replace").strip()
    return VERDICTS.get(r.returncode, str(r.returncode)), (out.splitlines() or [""])[0]


def expect(c, node, role, want, *args):
    got, line = plugin(c, node, *args)
    rows.append((" ".join(args), role, want, got))
    log("  %-55s %-8s %-8s %s" % (" ".join(args), role, got, line[:100]))
    check(got == want, "check_patroni %s on the %s %s: %s, want %s (%s)" % (" ".join(args), role, node, got, want,
                                                                          line))


def api_json(c, node, path):
    url = "http://127.0.0.1:%d%s" % (c.node(node)["api_port"], path)
    try:
        return json.loads(urllib.request.urlopen(url, timeout=5).read())
    except urllib.error.HTTPError as e:
        return json.loads(e.read())


def flotilla(c, *args):
    r = subprocess.run([c.flotilla] + list(args) + ["--dir", c.dir], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=120)
    check(r.returncode == 0, "flotilla %s exited %d: %s" % (" ".join(args), r.returncode, r.stdout.decode()))


def main():
    check(os.access(CHECK_PATRONI, os.X_OK), "%s is missing: run scripts/install-deps" % CHECK_PATRONI)
    with Cluster(nodes=3) as c:
        leader = c.wait_healthy(90)
        replica = [n["name"] for n in c.info["nodes"] if n["name"] != leader][0]
        dsn = c.node(leader)["dsn"]

        log("/patroni against PostgreSQL")
        want = sorted(n["name"] for n in c.info["nodes"] if n["name"] != leader)
        p = wait_for(lambda: (lambda d: d if sorted(r["application_name"] for r in d.get("replication", [])) == want
                              else None)(api_json(c, leader, "/patroni")), 10,
                     "the leader's /patroni to list the walsenders of %s" % want)
        check(p["patroni"]["version"] == API_LEVEL, "patroni.version %r" % p["patroni"])
        check(p.get("server_version") == int(query(dsn, "SHOW server_version_num")[0][0]), "server_version %r" % p)
        sysid = str(query(dsn, "SELECT system_identifier FROM pg_control_system()")[0][0])
        check(p.get("database_system_identifier") == sysid, "database_system_identifier %r, want %s" % (p, sysid))
        check(abs(p.get("dcs_last_seen", 0) - time.time()) < 10, "dcs_last_seen %r is not recent" % p.get("dcs_last_seen"))
        names = sorted(r["application_name"] for r in p.get("replication", []))
        check(names == want and all(r["state"] == "streaming" for r in p["replication"]),
              "the leader's replication list %s, want %s streaming" % (p.get("replication"), want))
        r = wait_for(lambda: (lambda d: d if d.get("database_system_identifier") == sysid else None)(
            api_json(c, replica, "/patroni")), 10, "the replica's /patroni to carry the system identifier")
        check("replication" not in r, "a replica's /patroni lists walsenders: %r" % r)
        log("  version %s, server_version %d, system identifier %s, walsenders %s" % (
            p["patroni"]["version"], p["server_version"], sysid, names))

        log("check_patroni %s: check, node, verdict" % API_LEVEL)
        for node, role in ((leader, "leader"), (replica, "replica")):
            expect(c, node, role, "OK", "cluster_has_leader")
            expect(c, node, role, "OK", "cluster_has_replica", "--critical", "2:")
            expect(c, node, role, "CRITICAL", "cluster_has_replica", "--critical", "3:")
            expect(c, node, role, "OK", "cluster_node_count", "--critical", "3:")
            expect(c, node, role, "CRITICAL", "cluster_node_count", "--critical", "4:")
            expect(c, node, role, "OK", "node_is_alive")
            expect(c, node, role, "OK", "node_patroni_version", "--patroni-version", API_LEVEL)
            expect(c, node, role, "CRITICAL", "node_patroni_version", "--patroni-version", "2.1.0")
            expect(c, node, role, "OK", "node_tl_has_changed", "--timeline", "1")
            expect(c, node, role, "OK", "node_is_pending_restart")
            expect(c, node, role, "OK", "cluster_is_in_maintenance")
            expect(c, node, role, "OK", "cluster_has_scheduled_action")
        expect(c, leader, "leader", "OK", "node_is_primary")
        expect(c, leader, "leader", "OK", "node_is_leader")
        expect(c, leader, "leader", "CRITICAL", "node_is_replica")
        expect(c, replica, "replica", "CRITICAL", "node_is_primary")
        expect(c, replica, "replica", "CRITICAL", "node_is_leader")
        expect(c, replica, "replica", "OK", "node_is_replica")

        log("shared_buffers changed with ALTER SYSTEM on the leader (its own file): pending restart there only")
        query(dsn, "ALTER SYSTEM SET shared_buffers = '64MB'")
        query(dsn, "SELECT pg_reload_conf()")
        wait_for(lambda: api_json(c, leader, "/patroni").get("pending_restart"), 10, "the leader's pending_restart")
        expect(c, leader, "leader", "CRITICAL", "node_is_pending_restart")
        expect(c, replica, "replica", "OK", "node_is_pending_restart")
        query(dsn, "ALTER SYSTEM RESET shared_buffers")
        query(dsn, "SELECT pg_reload_conf()")
        wait_for(lambda: not api_json(c, leader, "/patroni").get("pending_restart"), 10,
                 "the leader's pending_restart to clear")
        expect(c, leader, "leader", "OK", "node_is_pending_restart")

        log("the dynamic configuration changed with flotilla edit-config")
        state = os.path.join(c.top, "check_patroni.state")
        for node, role in ((leader, "leader"), (replica, "replica")):
            # The first call has no hash to compare with (CRITICAL, "the old hash was None"); it saves one.
            expect(c, node, role, "CRITICAL", "cluster_config_has_changed", "--state-file", state + role, "--save")
            expect(c, node, role, "OK", "cluster_config_has_changed", "--state-file", state + role)
        flotilla(c, "edit-config", "--pg", "work_mem=8MB", "--force")
        for node, role in ((leader, "leader"), (replica, "replica")):
            wait_for(lambda node=node: api_json(c, node, "/config").get("postgresql"), 10, "GET /config on %s" % node)
            expect(c, node, role, "CRITICAL", "cluster_config_has_changed", "--state-file", state + role)

        log("paused, then resumed")
        flotilla(c, "pause")
        wait_for(lambda: api_json(c, replica, "/cluster").get("pause"), 10, "/cluster to say pause")
        expect(c, replica, "replica", "CRITICAL", "cluster_is_in_maintenance")
        flotilla(c, "resume")
        wait_for(lambda: not api_json(c, replica, "/cluster").get("pause"), 10, "/cluster to drop pause")
        expect(c, replica, "replica", "OK", "cluster_is_in_maintenance")

        log("a switchover: the timeline changed on the new leader")
        flotilla(c, "switchover", "--candidate", replica, "--force")
        new_leader = c.wait_healthy(60)
        check(new_leader == replica, "the switchover made %s the leader, not %s" % (new_leader, replica))
        wait_for(lambda: api_json(c, new_leader, "/patroni").get("timeline") == 2, 20, "timeline 2 on the new leader")
        expect(c, new_leader, "leader", "CRITICAL", "node_tl_has_changed", "--timeline", "1")
        expect(c, new_leader, "leader", "OK", "node_tl_has_changed", "--timeline", "2")
        expect(c, new_leader, "leader", "OK", "node_is_primary")
        wait_for(lambda: plugin(c, leader, "node_is_replica")[0] == "OK", 60, "the old leader %s back as a replica"
                 % leader)
        expect(c, leader, "replica", "OK", "node_is_replica")

        log("a switchover scheduled an hour ahead")
        at = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() + 3600))
        flotilla(c, "switchover", "--candidate", leader, "--scheduled", at, "--force")
        sw = wait_for(lambda: api_json(c, leader, "/cluster").get("scheduled_switchover"), 10,
                      "/cluster's scheduled_switchover")
        check(sw.get("from") == new_leader and sw.get("to") == leader and sw.get("at") == at,
              "scheduled_switchover %r, want at %s from %s to %s" % (sw, at, new_leader, leader))
        expect(c, leader, "replica", "CRITICAL", "cluster_has_scheduled_action")

        log("%d verdicts as expected:\n%s" % (len(rows), "\n".join(
            "  %-55s %-8s %s" % (a, role, got) for a, role, _, got in rows)))


if __name__ == "__main__":
    run_test(main)
