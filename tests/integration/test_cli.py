#!/usr/bin/python3
"""The read-only CLI on a real 3-node cluster: `flotilla list`, `topology`
and `history` through --dir, --api, --etcd/--scope and --config (one node's
agent configuration file), and their environment variables, agree on one
Leader and two streaming replicas; a failover adds one entry to the history;
unreachable endpoints, unknown members, a missing configuration file (exit
10) and a malformed one (exit 3) fail with their stable exit codes and name
what was tried."""
import json
import os
import subprocess
import time
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from err_codes import EXIT_USAGE, EXIT_CONFIG, EXIT_ETCD, EXIT_NOT_FOUND  # noqa: E402
from harness import Cluster, check, free_port, log, query, run_test, wait_for  # noqa: E402

TARGET_ENV = ("FLOTILLA_DIR", "FLOTILLA_API", "FLOTILLA_ETCD", "FLOTILLA_CONFIG", "FLOTILLA_SCOPE",
              "FLOTILLA_ETCD_PREFIX", "FLOTILLA_ETCD_ENDPOINTS", "FLOTILLA_API_TOKEN_FILE")
MEMBER_FIELDS = ("member", "host", "role", "state", "timeline", "lag_in_mb", "pending_restart", "tags", "drained",
                 "paused", "scheduled_switchover")
REPLICA_ROLES = ("Replica", "Sync Standby")


def flotilla(c, *args, env=None):
    """(exit code, stdout, stderr) of the CLI, with no target variable inherited."""
    e = {k: v for k, v in os.environ.items() if k not in TARGET_ENV}
    e.update(env or {})
    r = subprocess.run([c.flotilla] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e,
                       timeout=60)
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


def ok(c, *args, env=None):
    rc, out, err = flotilla(c, *args, env=env)
    check(rc == 0, "`flotilla %s` exited %d:\n%s%s" % (" ".join(args), rc, out, err))
    return out


def table_rows(out):
    """The rows of a boxed table as dicts keyed by the header cells, and the title line."""
    lines = out.splitlines()
    check(lines and lines[0].startswith("+ "), "no title border in:\n%s" % out)
    cells = [[x.strip() for x in l.strip().strip("|").split("|")] for l in lines if l.startswith("|")]
    check(cells, "no table in:\n%s" % out)
    head = cells[0]
    return lines[0], [dict(zip(head, row)) for row in cells[1:]]


def members_json(c, *target, env=None):
    out = ok(c, "list", "--json", *target, env=env)
    try:
        members = json.loads(out)
    except ValueError as e:
        raise AssertionError("`flotilla list --json %s` printed no JSON (%s):\n%s" % (" ".join(target), e, out))
    check(isinstance(members, list), "list --json is not an array: %r" % members)
    for m in members:
        check(set(m) == set(MEMBER_FIELDS), "list --json member has fields %s, want %s" % (sorted(m), sorted(MEMBER_FIELDS)))
    return members


def shape(members):
    """{name: (role, state, timeline)} of the members."""
    return {m["member"]: (m["role"], m["state"], m["timeline"]) for m in members}


def healthy_shape(members):
    """The leader's name when there are 3 members, one Leader and two streaming replicas."""
    leaders = [m["member"] for m in members if m["role"] == "Leader" and m["state"] == "running"]
    streaming = [m for m in members if m["role"] in REPLICA_ROLES and m["state"] == "streaming"]
    return leaders[0] if len(members) == 3 and len(leaders) == 1 and len(streaming) == 2 else None


def check_list(c, target):
    """list through target (table and JSON) shows one Leader and two streaming replicas; returns the leader."""
    members = wait_for(lambda: (lambda ms: ms if healthy_shape(ms) else None)(members_json(c, *target)), 30,
                       "list --json %s to show one Leader and two streaming replicas" % " ".join(target))
    leader = healthy_shape(members)
    for m in members:
        check(m["host"] == "127.0.0.1:%d" % c.node(m["member"])["pg_port"],
              "%s host is %r, want its PostgreSQL address" % (m["member"], m["host"]))
        check((m["lag_in_mb"] is None) == (m["role"] == "Leader"), "lag_in_mb of %s is %r" % (m["member"], m["lag_in_mb"]))
    title, rows = table_rows(ok(c, "list", *target))
    check("Cluster: %s" % c.scope in title and "(paused)" not in title, "list title is %r" % title)
    check(sorted(r["Member"] for r in rows) == c.names(), "list %s shows %s" % (" ".join(target), rows))
    check([r["Member"] for r in rows if r["Role"] == "Leader"] == [leader], "list table leaders: %s" % rows)
    replicas = [r for r in rows if r["Role"] in REPLICA_ROLES and r["State"] == "streaming"]
    check(len(replicas) == 2, "list table does not show two streaming replicas: %s" % rows)
    return leader, members


def check_same_members(c, reference, target):
    want = shape(reference)
    got = wait_for(lambda: (lambda ms: ms if shape(ms) == want else None)(members_json(c, *target)), 15,
                   "list --json %s to show %s" % (" ".join(target), want))
    log("list %s: %s" % (" ".join(target), shape(got)))


def check_topology(c, d, leader):
    title, rows = table_rows(ok(c, "topology", "--dir", d))
    check(rows[0]["Member"] == leader and rows[0]["Role"] == "Leader", "topology does not start with the leader %s: %s" % (leader, rows))
    check(all(r["Member"].startswith("+ ") for r in rows[1:]) and len(rows) == 3,
          "topology does not indent the replicas under the leader: %s" % rows)
    tree = json.loads(ok(c, "topology", "--dir", d, "--json"))
    check(len(tree) == 1 and tree[0]["member"] == leader and len(tree[0]["replicas"]) == 2,
          "topology --json is not the leader with two replicas: %s" % tree)


def history(c, *target):
    out = ok(c, "history", "--json", *target)
    h = json.loads(out)
    check(isinstance(h, list), "history --json is not an array: %r" % h)
    for e in h:
        check(set(e) == {"timeline", "lsn", "leader", "time"}, "history entry has fields %s" % sorted(e))
    return h


def check_errors(c, d):
    closed = free_port()
    rc, out, err = flotilla(c, "list", "--etcd", "http://127.0.0.1:%d" % closed, "--scope", "x")
    log("list on a closed etcd port: exit %d: %s" % (rc, err.strip()))
    check(rc == EXIT_ETCD, "list --etcd <closed port> exited %d, want %d: %s" % (rc, EXIT_ETCD, err))
    check("127.0.0.1:%d" % closed in err, "the error does not name the endpoint: %s" % err)

    rc, out, err = flotilla(c, "list", "--api", "http://127.0.0.1:%d" % closed)
    log("list on a closed api port: exit %d: %s" % (rc, err.strip()))
    check(rc != 0, "list --api <closed port> succeeded:\n%s" % out)
    check("127.0.0.1:%d" % closed in err, "the error does not name the URL: %s" % err)

    rc, out, err = flotilla(c, "list", "--dir", d, "no-such-member")
    check(rc == EXIT_NOT_FOUND and "no-such-member" in err, "list of an unknown member exited %d: %s" % (rc, err))
    rc, out, err = flotilla(c, "list", "--etcd", c.etcd_endpoint, "--scope", "no-such-scope")
    check(rc == EXIT_NOT_FOUND and "no-such-scope" in err, "list of an unknown scope exited %d: %s" % (rc, err))
    rc, out, err = flotilla(c, "list")
    check(rc == EXIT_USAGE, "list without a cluster exited %d: %s" % (rc, err))
    rc, out, err = flotilla(c, "list", "--dir", d, "--api", "http://127.0.0.1:1")
    check(rc == EXIT_USAGE, "list with --dir and --api exited %d: %s" % (rc, err))
    for cmd in ("list", "topology", "history"):
        out = ok(c, cmd, "--help")
        check(out.startswith("Usage: flotilla %s" % cmd) and "--etcd" in out, "%s --help:\n%s" % (cmd, out))


def check_config(c, members, replica):
    """One node's agent file names the cluster, by option and by FLOTILLA_CONFIG; broken files fail by name."""
    conf = c.config_path(replica)
    check_same_members(c, members, ["--config", conf])
    env_members = members_json(c, env={"FLOTILLA_CONFIG": conf})
    check(shape(env_members) == shape(members), "FLOTILLA_CONFIG: %s" % shape(env_members))
    # FLOTILLA_CONFIG comes last among the variables; an option beats them all.
    closed = "http://127.0.0.1:%d" % free_port()
    rc, out, err = flotilla(c, "list", env={"FLOTILLA_CONFIG": conf, "FLOTILLA_API": closed})
    check(rc != 0 and closed[len("http://"):] in err, "FLOTILLA_API did not beat FLOTILLA_CONFIG: exit %d: %s" % (rc, err))
    env_members = members_json(c, "--config", conf, env={"FLOTILLA_API": closed})
    check(shape(env_members) == shape(members), "--config over FLOTILLA_API: %s" % shape(env_members))
    rc, out, err = flotilla(c, "list", "--config", conf, "--dir", c.dir)
    check(rc == EXIT_USAGE and "--config" in err, "list with --config and --dir exited %d: %s" % (rc, err))

    missing = os.path.join(c.top, "no-such.conf")
    for how in (["--config", missing], []):
        rc, out, err = flotilla(c, "list", *how, env={} if how else {"FLOTILLA_CONFIG": missing})
        log("list with a missing config file (%s): exit %d: %s" % (how or "FLOTILLA_CONFIG", rc, err.strip()))
        check(rc == EXIT_NOT_FOUND and missing in err, "missing config file: exit %d (want %d): %s" % (rc, EXIT_NOT_FOUND, err))
    with open(conf) as f:
        text = f.read()
    broken = {"syntax.conf": (text + "ttl = ;\n", "syntax error"),
              "range.conf": (text + "ttl = 1;\n", "ttl = 1 is outside"),
              "unknown.conf": (text + "colour = \"blue\";\n", "unknown setting \"colour\"")}
    for name, (body, problem) in sorted(broken.items()):
        path = os.path.join(c.top, name)
        with open(path, "w") as f:
            f.write(body)
        rc, out, err = flotilla(c, "list", "--config", path)
        log("list with %s: exit %d: %s" % (name, rc, err.strip()))
        check(rc == EXIT_CONFIG and path in err and problem in err,
              "malformed %s: exit %d (want %d naming the file and %r): %s" % (name, rc, EXIT_CONFIG, problem, err))


def main():
    with Cluster(nodes=3) as c:
        d = c.dir
        leader, members = check_list(c, ["--dir", d])
        log("leader %s; list --dir: %s" % (leader, shape(members)))
        check(c.leader_key() == leader, "list shows %s as Leader, the leader key is %r" % (leader, c.leader_key()))
        replica = [n for n in c.names() if n != leader][0]
        check_same_members(c, members, ["--api", "http://127.0.0.1:%d" % c.node(replica)["api_port"]])
        check_same_members(c, members, ["--etcd", c.etcd_endpoint, "--scope", c.scope])
        check_config(c, members, replica)
        # The environment names the cluster when no option does; an option beats it.
        env_members = members_json(c, env={"FLOTILLA_ETCD": c.etcd_endpoint, "FLOTILLA_SCOPE": c.scope})
        check(shape(env_members) == shape(members), "FLOTILLA_ETCD: %s" % shape(env_members))
        env_members = members_json(c, "--dir", d, env={"FLOTILLA_API": "http://127.0.0.1:%d" % free_port()})
        check(shape(env_members) == shape(members), "--dir over FLOTILLA_API: %s" % shape(env_members))
        check_topology(c, d, leader)
        check_errors(c, d)

        before = history(c, "--dir", d)
        log("history before the failover: %s" % before)
        c.kill_node(leader)
        new = wait_for(lambda: (lambda l: l if l not in (None, leader) else None)(c.leader()), 60,
                       "a new leader after killing %s" % leader)
        log("new leader: %s" % new)
        after = wait_for(lambda: (lambda h: h if len(h) == len(before) + 1 else None)(history(c, "--dir", d)), 30,
                         "history to gain one entry")
        last = after[-1]
        check(last["leader"] == new, "the new history entry names %r, the new leader is %s" % (last["leader"], new))
        check(not before or last["timeline"] > before[-1]["timeline"], "the timeline did not grow: %s" % after)
        def survivors_settled():
            ms = members_json(c, "--dir", d)
            lead = [m for m in ms if m["role"] == "Leader"]
            rest = [m for m in ms if m["member"] not in (new, leader)]
            return (len(lead) == 1 and lead[0]["member"] == new and len(rest) == 1 and rest[0]["state"] == "streaming"
                    and rest[0]["timeline"] == lead[0]["timeline"])
        wait_for(survivors_settled, 30, "list to show %s as the Leader and the other survivor streaming on its timeline" % new)
        log("flotilla list --dir with %s down:\n%s" % (leader, ok(c, "list", "--dir", d)))
        # The old leader rejoins as a replica: the list is whole again, with the new leader.
        c.start_agent(leader)
        wait_for(lambda: healthy_shape(members_json(c, "--dir", d)) == new, 120,
                 "list to show %s rejoined as a streaming replica of %s" % (leader, new))
        log("flotilla list --dir after the failover and rejoin:\n" + ok(c, "list", "--dir", d))
        log("flotilla topology --dir:\n" + ok(c, "topology", "--dir", d))
        log("flotilla history --dir after the failover:\n" + ok(c, "history", "--dir", d))
        check_cluster_state(c, d, new, leader)


def check_cluster_state(c, d, leader, replica):
    """A drained replica, a pending restart on the leader, a paused cluster and a scheduled switchover, as `list`
    shows them (table, footer, --json) from etcd (--dir) and from a REST API (--api)."""
    ok(c, "drain", replica, "--dir", d)
    query(c.node(leader)["dsn"], "ALTER SYSTEM SET shared_buffers = '64MB'")
    query(c.node(leader)["dsn"], "SELECT pg_reload_conf()")
    ok(c, "pause", "--dir", d)
    at = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() + 3600))
    ok(c, "switchover", "--candidate", replica, "--scheduled", at, "--force", "--dir", d)
    want_at = at.replace("+00:00", ".000Z")
    api = ["--api", "http://127.0.0.1:%d" % c.node(replica)["api_port"]]
    for target in (["--dir", d], api):
        def settled():
            ms = {m["member"]: m for m in members_json(c, *target)}
            return ms if ms[leader]["pending_restart"] and ms[replica]["drained"] and ms[leader]["paused"] and \
                ms[leader]["scheduled_switchover"] else None
        ms = wait_for(settled, 20, "list %s to show the pending restart, the drain, the pause and the switchover"
                      % " ".join(target))
        check(not ms[replica]["pending_restart"] and not ms[leader]["drained"], "only %s pending and %s drained: %s"
              % (leader, replica, ms))
        sw = ms[replica]["scheduled_switchover"]
        check(sw == {"at": want_at, "from": leader, "to": replica}, "scheduled_switchover %r" % sw)
        check(ms[leader]["tags"] == {"nofailover": False, "noloadbalance": False, "priority": 0}, "tags %r" % (
            ms[leader]["tags"],))
        out = ok(c, "list", *target)
        title, rows = table_rows(out)
        by = {r["Member"]: r for r in rows}
        check("(paused)" in title, "the title does not say paused: %s" % title)
        check(by[leader]["Pending restart"] == "*" and by[replica]["Pending restart"] == "",
              "Pending restart column: %s" % rows)
        check(by[replica]["Tags"] == "drained" and by[leader]["Tags"] == "", "Tags column: %s" % rows)
        check(" Maintenance mode: on" in out and " Switchover scheduled at: %s" % want_at in out and
              "from: %s" % leader in out and "to: %s" % replica in out, "no footer for the pause and the switchover:\n"
              + out)
        log("flotilla list %s with %s drained, a pending restart on %s, paused, a switchover scheduled:\n%s" % (
            " ".join(target), replica, leader, out))
    ok(c, "ready", replica, "--dir", d)
    ok(c, "resume", "--dir", d)
    query(c.node(leader)["dsn"], "ALTER SYSTEM RESET shared_buffers")
    query(c.node(leader)["dsn"], "SELECT pg_reload_conf()")
    ms = wait_for(lambda: (lambda x: x if not any(m["pending_restart"] or m["drained"] or m["paused"]
                                                   for m in x.values()) else None)(
        {m["member"]: m for m in members_json(c, "--dir", d)}), 20, "list to drop the drain, the pause, the restart")
    out = ok(c, "list", "--dir", d)
    check("Pending restart" not in out and "Tags" not in out and "Maintenance" not in out,
          "optional columns or the pause shown after they went:\n" + out)

if __name__ == "__main__":
    run_test(main)
