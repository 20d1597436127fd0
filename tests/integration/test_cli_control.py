#!/usr/bin/python3
"""The mutating CLI on a real 3-node cluster: `flotilla switchover --force`
moves the leader key to the named candidate and exits 0; without --force and
with stdin not a terminal it refuses naming --force; a wrong --token-file is
refused naming the token (exit 4); a failover to the leader is refused
(exit 11); `pause` shows "(paused)" in `list` and
`resume` clears it, also through `--config FILE` and FLOTILLA_CONFIG (one
node's agent file, whose secrets.api_token_file gives the token; a copy
naming a wrong token is refused with exit 4 naming that file);
`restart <replica> --force` gives that node a new postmaster which streams
again; an unknown member exits 10. A switchover `--scheduled` a few seconds
ahead changes nothing before its time (same leader, the request pending in
etcd), then hands the key to the candidate, and the old leader streams from
it without pg_rewind or a re-clone; one scheduled in the past is refused
(exit 2, "in the past") and changes nothing."""
import datetime
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from err_codes import EXIT_USAGE, EXIT_SECRET, EXIT_NOT_FOUND, EXIT_CONFLICT  # noqa: E402
from harness import Cluster, check, etcd_get, log, run_test, wait_for  # noqa: E402

CLEAN_ENV = ("FLOTILLA_DIR", "FLOTILLA_API", "FLOTILLA_ETCD", "FLOTILLA_CONFIG", "FLOTILLA_SCOPE",
             "FLOTILLA_ETCD_PREFIX", "FLOTILLA_ETCD_ENDPOINTS", "FLOTILLA_API_TOKEN_FILE")


def flotilla(c, *args, env=None):
    """(exit code, stdout, stderr) of the CLI with stdin not a terminal and no target variable inherited."""
    e = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    e.update(env or {})
    r = subprocess.run([c.flotilla] + list(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=e, timeout=120)
    out, err = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
    if args[0] != "list":
        log("$ flotilla %s -> %d\n%s%s" % (" ".join(args), r.returncode, out, err))
    return r.returncode, out, err


def ok(c, *args, env=None):
    rc, out, err = flotilla(c, *args, env=env)
    check(rc == 0, "`flotilla %s` exited %d:\n%s%s" % (" ".join(args), rc, out, err))
    return out


def members(c):
    return {m["member"]: m for m in json.loads(ok(c, "list", "--json", "--dir", c.dir))}


def leader_of(c):
    leaders = [n for n, m in members(c).items() if m["role"] == "Leader"]
    return leaders[0] if len(leaders) == 1 else None


def all_streaming(c, expect_leader):
    ms = members(c)
    return (ms.get(expect_leader, {}).get("role") == "Leader" and
            all(m["state"] == "streaming" and m.get("lag_in_mb") == 0 for n, m in ms.items() if n != expect_leader))


def test_switchover(c):
    wait_for(lambda: leader_of(c) is not None, 60, "a leader")
    old = leader_of(c)
    wait_for(lambda: all_streaming(c, old), 60, "both replicas streaming from %s and caught up" % old)
    cand = sorted(n for n in c.names() if n != old)[0]

    rc, out, err = flotilla(c, "switchover", "--dir", c.dir, "--candidate", cand)
    check(rc != 0 and "--force" in err, "switchover without --force, stdin not a tty: exit %d, stderr %r" % (rc, err))
    check(c.leader_key() == old, "a refused switchover moved the leader key to %r" % c.leader_key())

    out = ok(c, "switchover", "--dir", c.dir, "--candidate", cand, "--force")
    check("switchover to %s done in" % cand in out, "no done line in:\n%s" % out)
    check(c.leader_key() == cand, "after the switchover the leader key is %r, not %s" % (c.leader_key(), cand))
    wait_for(lambda: all_streaming(c, cand), 90, "the old leader %s streaming from %s" % (old, cand))
    return cand


def test_token(c, leader):
    bad = os.path.join(c.top, "wrong_token")
    with open(bad, "w") as f:
        f.write("not-the-token\n")
    rc, out, err = flotilla(c, "pause", "--dir", c.dir, "--token-file", bad)
    check(rc == EXIT_SECRET and "token" in err, "wrong token: exit %d (want %d), stderr %r" % (rc, EXIT_SECRET, err))
    check("(paused)" not in ok(c, "list", "--dir", c.dir), "a refused pause paused the cluster")
    rc, out, err = flotilla(c, "switchover", "--dir", c.dir, "--force", "--token-file", os.path.join(c.top, "none"))
    check(rc == EXIT_SECRET and "token" in err, "missing token file: exit %d, stderr %r" % (rc, err))
    check(c.leader_key() == leader, "a refused switchover moved the leader key")


def test_conflict(c, leader):
    rc, out, err = flotilla(c, "failover", "--dir", c.dir, "--candidate", leader, "--force")
    check(rc == EXIT_CONFLICT and leader in err, "failover to the leader: exit %d (want %d), stderr %r" % (rc, EXIT_CONFLICT, err))


def test_pause(c):
    answer = json.loads(ok(c, "pause", "--dir", c.dir, "--json"))
    check("message" in answer, "pause --json printed %r, not the agent's answer" % answer)
    wait_for(lambda: "(paused)" in ok(c, "list", "--dir", c.dir), 15, "list to show (paused)")
    ok(c, "resume", "--dir", c.dir)
    wait_for(lambda: "(paused)" not in ok(c, "list", "--dir", c.dir), 15, "list to drop (paused)")


def test_config_token(c, leader):
    """pause and resume through one node's agent file: its secrets.api_token_file is the token."""
    conf = c.config_path(leader)
    ok(c, "pause", "--config", conf)
    wait_for(lambda: "(paused)" in ok(c, "list", "--config", conf), 15, "list --config to show (paused)")
    ok(c, "resume", env={"FLOTILLA_CONFIG": conf})
    wait_for(lambda: "(paused)" not in ok(c, "list", "--dir", c.dir), 15, "list to drop (paused)")

    bad_token = os.path.join(c.top, "wrong_token")
    with open(bad_token, "w") as f:
        f.write("not-the-token\n")
    with open(conf) as f:
        text = f.read()
    check(re.search(r'api_token_file = "[^"]*";', text), "%s has no api_token_file:\n%s" % (conf, text))
    wrong = os.path.join(c.top, "wrong_token.conf")
    with open(wrong, "w") as f:
        f.write(re.sub(r'api_token_file = "[^"]*";', 'api_token_file = "%s";' % bad_token, text))
    rc, out, err = flotilla(c, "pause", "--config", wrong)
    check(rc == EXIT_SECRET and wrong in err and bad_token in err,
          "a config naming a wrong token: exit %d (want %d naming %s), stderr %r" % (rc, EXIT_SECRET, wrong, err))
    check("(paused)" not in ok(c, "list", "--dir", c.dir), "a refused pause paused the cluster")


def test_restart(c, leader):
    replica = sorted(n for n in c.names() if n != leader)[0]
    before = c.postmaster_pid(replica)
    check(before is not None, "replica %s has no postmaster" % replica)
    ok(c, "restart", replica, "--dir", c.dir, "--force")
    wait_for(lambda: c.postmaster_pid(replica) not in (None, before), 60, "a new postmaster on %s" % replica)
    wait_for(lambda: members(c)[replica]["state"] == "streaming", 60, "%s streaming again" % replica)
    log("%s: postmaster %d -> %d, streaming" % (replica, before, c.postmaster_pid(replica)))


def test_unknown(c):
    for args in (["restart", "nosuch", "--force"], ["switchover", "--candidate", "nosuch", "--force"],
                 ["reinit", "nosuch", "--force"]):
        rc, out, err = flotilla(c, *(args + ["--dir", c.dir]))
        check(rc == EXIT_NOT_FOUND and "nosuch" in err,
              "`flotilla %s`: exit %d (want %d), stderr %r" % (" ".join(args), rc, EXIT_NOT_FOUND, err))


def iso_in(seconds):
    """The wall time `seconds` from now as ISO 8601 with its zone, whole seconds."""
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
    return t.replace(microsecond=0).isoformat()


def pending_switchover(c):
    value = etcd_get(c.etcd_endpoint, "/flotilla/%s/switchover" % c.scope)
    return json.loads(value) if value else None


def test_scheduled_switchover(c, leader):
    wait_for(lambda: all_streaming(c, leader), 60, "both replicas streaming from %s" % leader)
    cand = sorted(n for n in c.names() if n != leader)[0]

    past = iso_in(-3600)
    rc, out, err = flotilla(c, "switchover", "--dir", c.dir, "--leader", leader, "--candidate", cand,
                            "--scheduled", past, "--force")
    check(rc == EXIT_USAGE and "in the past" in err,
          "a switchover scheduled at %s: exit %d (want %d, \"in the past\"), stderr %r" % (past, rc, EXIT_USAGE, err))
    check(pending_switchover(c) is None and c.leader_key() == leader, "a refused switchover left %s, leader %r"
          % (pending_switchover(c), c.leader_key()))

    log_before = len(c.read_agent_log(leader))
    at = iso_in(6)
    due = datetime.datetime.fromisoformat(at).timestamp()
    out = ok(c, "switchover", "--dir", c.dir, "--leader", leader, "--candidate", cand, "--scheduled", at, "--force")
    check("scheduled" in out, "no scheduled line in:\n%s" % out)
    so = pending_switchover(c)
    check(so and so.get("leader") == leader and so.get("candidate") == cand and abs(so.get("scheduled_at", 0) - due) < 2,
          "the switchover record in etcd is %r, want %s -> %s at %s" % (so, leader, cand, at))
    while time.time() < due - 1:
        check(c.leader_key() == leader and leader_of(c) == leader and pending_switchover(c) is not None,
              "%.1f s before the scheduled time the leader is %r (key %r), not %s, or the switchover is gone (%s)"
              % (due - time.time(), leader_of(c), c.leader_key(), leader, pending_switchover(c)))
        time.sleep(0.5)
    log("until %s: %s leads, the switchover pending in etcd" % (at, leader))

    wait_for(lambda: c.leader_key() == cand and c.role(cand) == "primary", 30, "%s to lead after %s" % (cand, at))
    late = time.time() - due
    check(late > -0.5, "the switchover happened %.1f s before its time" % -late)
    c.wait_rejoined(leader, cand, 60)
    # The new leader drops the record once its promotion's checkpoint is done.
    wait_for(lambda: pending_switchover(c) is None, 30, "the new leader to drop the switchover record")
    agent_lines = [ln for ln in c.read_agent_log(leader)[log_before:].splitlines() if " replicator node=" in ln]
    check(not any("pg_rewind" in ln or "re-cloning" in ln for ln in agent_lines),
          "%s used pg_rewind or a re-clone after the switchover:\n%s" % (leader, "\n".join(agent_lines[-20:])))
    log("scheduled switchover %s -> %s at %s done %.1f s after its time; %s streams without rewind"
        % (leader, cand, at, late, leader))
    return cand


def main():
    with Cluster(nodes=3) as c:
        for cmd in ("switchover", "failover", "pause", "resume", "restart", "reinit"):
            check("--token-file" in ok(c, cmd, "--help"), "%s --help does not mention --token-file" % cmd)
        test_unknown(c)
        leader = test_switchover(c)
        test_token(c, leader)
        test_conflict(c, leader)
        test_pause(c)
        test_config_token(c, leader)
        test_restart(c, leader)
        test_scheduled_switchover(c, leader)


if __name__ == "__main__":
    run_test(main)
