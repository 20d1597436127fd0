#!/usr/bin/python3
"""What anyone who can write to etcd may try changes nothing.

A 3-node cluster with HAProxy and the proxy agent. Records written straight
into etcd, as an attacker with access to it would:
  * a member named with SQL (a quote, a multi-statement COPY ... TO PROGRAM),
  * a member named with a ';' and a Runtime API command,
  * a member whose address would add connection-string keywords,
  * a drain key with a ';' in its name, a status record that is not JSON.
Every agent and the proxy agent log each rejection once; no replication slot
is created, the program never runs, synchronous_standby_names is not
touched, HAProxy's servers stay as they were, the leader stays the leader,
and writes keep working through the rw port."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, etcd_put, log, run_test, server_states, settled_server_states, wait_for  # noqa: E402

PWNED = "/tmp/flotilla-it-etcd-input-pwned"


def slots(c, leader):
    return sorted(r[0] for r in c.q(leader, "SELECT slot_name FROM pg_replication_slots"))


def main():
    if os.path.exists(PWNED):
        os.unlink(PWNED)
    with Cluster(nodes=3, haproxy=True) as c:
        leader = c.wait_healthy()
        root = "/flotilla/%s/" % c.scope
        before_slots = slots(c, leader)
        before_states = settled_server_states(c)
        sql = "x'); COPY (SELECT 1) TO PROGRAM 'touch %s'; --" % PWNED
        evil = {
            "members/evil1": {"name": sql, "role": "replica", "running": True, "streaming": True,
                              "received_lsn": "FF/FFFFFFFF", "conn_address": "127.0.0.1:1"},
            "members/evil2": {"name": "n9;disable server rw/n1", "role": "replica", "running": True,
                              "conn_address": "127.0.0.1:1"},
            "members/evil3": {"name": "evil3", "role": "replica", "running": True, "streaming": True,
                              "conn_address": "127.0.0.1 host=10.9.9.9:5432", "received_lsn": "FF/FFFFFFFF"},
        }
        for k, rec in evil.items():
            etcd_put(c.etcd_endpoint, root + k, json.dumps(rec))
        etcd_put(c.etcd_endpoint, root + "drain/n1;shutdown sessions server rw/n1", "{}")
        log("wrote %d hostile records under %s" % (len(evil) + 1, root))
        time.sleep(3)  # several ticks of every agent and many polls of the proxy agent

        counts = {}
        for n in c.names():
            text = c.read_agent_log(n)
            check("rejected" in text and ("members/evil" in text or "drain/n1;" in text),
                  "%s's agent did not log the rejected records" % n)
            counts[n] = text.count(" rejected; first ")
        time.sleep(2)  # four more ticks: a rejection is logged when it changes, not at every tick
        for n in c.names():
            again = c.read_agent_log(n).count(" rejected; first ")
            check(again == counts[n], "%s's agent logs the rejection at every tick (%d, then %d lines)" % (
                n, counts[n], again))
        with open(c.info["proxy_agent"]["log"], errors="replace") as f:
            ptext = f.read()
        check("rejected" in ptext, "the proxy agent did not log the rejected records")
        check(not os.path.exists(PWNED), "the program in a member name ran: %s exists" % PWNED)
        after_slots = slots(c, leader)
        check(after_slots == before_slots, "replication slots changed: %s -> %s" % (before_slots, after_slots))
        check(c.leader() == leader and c.healthy() == leader, "the cluster changed: leader %s, healthy %s" % (
            c.leader(), c.healthy()))
        after_states = server_states(c)
        check(after_states == before_states, "HAProxy's servers changed:\n%s\n->\n%s" % (before_states, after_states))
        ssn = c.q(leader, "SHOW synchronous_standby_names")[0][0]
        check("evil" not in ssn and "x'" not in ssn, "synchronous_standby_names names a hostile member: %r" % ssn)
        c.q(leader, "CREATE TABLE IF NOT EXISTS it_after_etcd_input (id int)")
        wait_for(lambda: c.accepts_write(leader), 10, "writes on the leader %s" % leader)
        log("%d agents and the proxy agent rejected the records; slots %s, leader %s, HAProxy unchanged" % (
            c.n, after_slots, leader))


if __name__ == "__main__":
    run_test(main)
