#!/usr/bin/python3
"""One flotilla-proxy-agent steers two HAProxy instances at once: a second
HAProxy with its own ports and admin socket is started beside the one of
`flotilla local up --haproxy`, the proxy agent is restarted with both sockets
in haproxy.sockets, both get the plan (the leader alone ready in rw, the
primary drained from ro), the agent's status record lists both, and after a crash
failover the rw port of each reaches the new leader. The time from the kill
to the first session each rw port opens on the new leader is printed."""
import json
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ADMF_DRAIN, ADMF_MAINT, Cluster, build_dir, check, etcd_get, free_port, log, query, run_test,  # noqa: E402
                     runtime_api, spawn_as_postgres, wait_for, wait_pids_gone)


def states(cluster, path):
    """{(backend, server): admin_state} of the HAProxy whose admin socket is path."""
    text = runtime_api(cluster, "show servers state", path=path)
    cols, out = None, {}
    for line in text.splitlines():
        if line.startswith("#"):
            cols = line[1:].split()
        elif cols and len(line.split()) >= len(cols):
            row = dict(zip(cols, line.split()))
            out[(row["be_name"], row["srv_name"])] = int(row["srv_admin_state"])
    return out


def plan_applied(cluster, path, leader):
    """True when rw has the leader alone out of maintenance and ro takes no new session to the leader."""
    try:
        st = states(cluster, path)
    except OSError:
        return False
    for (be, srv), adm in st.items():
        maint = bool(adm & ADMF_MAINT)
        if be == "rw" and maint != (srv != leader):
            return False
        if be == "ro" and srv == leader and not adm & (ADMF_MAINT | ADMF_DRAIN):
            return False
    return bool(st)


def second_haproxy(c):
    """Starts a second HAProxy from the first one's configuration, on new ports and its own admin socket."""
    hp = c.info["haproxy"]
    d = os.path.join(c.dir, "haproxy2")
    os.mkdir(d, 0o700)
    os.chown(d, *pg_ids())
    with open(hp["config"]) as f:
        cfg = f.read()
    rw2, ro2, metrics2 = free_port(), free_port(), free_port()
    cfg = cfg.replace("127.0.0.1:%d" % hp["rw_port"], "127.0.0.1:%d" % rw2)
    cfg = cfg.replace("127.0.0.1:%d" % hp["ro_port"], "127.0.0.1:%d" % ro2)
    cfg = cfg.replace("127.0.0.1:%d" % hp["metrics_port"], "127.0.0.1:%d" % metrics2)
    sock2 = os.path.join(d, "admin.sock")
    cfg = cfg.replace(hp["stats_socket"], sock2)
    path = os.path.join(d, "haproxy.cfg")
    with open(path, "w") as f:
        f.write(cfg)
    p = spawn_as_postgres(c, ["haproxy", "-db", "-f", path], os.path.join(d, "haproxy.log"), d)
    wait_for(lambda: os.path.exists(sock2) or None, 20, "the second HAProxy's admin socket")
    log("second haproxy pid %d: rw %d, ro %d, socket %s" % (p.pid, rw2, ro2, sock2))
    return sock2, rw2


def pg_ids():
    import pwd
    pw = pwd.getpwnam("postgres")
    return pw.pw_uid, pw.pw_gid


def restart_agent_with(c, sockets):
    """Stops the proxy agent of local up and starts it again with every socket in haproxy.sockets."""
    pa = c.info["proxy_agent"]
    os.kill(pa["pid"], signal.SIGTERM)
    check(wait_pids_gone([pa["pid"]], 30), "the proxy agent did not stop on SIGTERM")
    with open(pa["config"]) as f:
        conf = f.read()
    conf2 = re.sub(r"\bsockets = \[[^\]]*\];", "sockets = [ %s ];" % ", ".join('"%s"' % s for s in sockets), conf)
    check(conf2 != conf, "no haproxy.sockets line in %s" % pa["config"])
    # One state file per socket: the first HAProxy keeps its own, the second has none.
    conf2 = re.sub(r"\bstate_files = \[ *(\"[^\"]*\") *\];", r'state_files = [ \1, "" ];', conf2)
    path = pa["config"].replace(".conf", "-two.conf")
    with open(path, "w") as f:
        f.write(conf2)
    os.chown(path, *pg_ids())
    p = spawn_as_postgres(c, [os.path.join(build_dir(), "flotilla-proxy-agent"), "--config", path], pa["log"],
                          os.path.dirname(path))
    log("proxy agent restarted with %d HAProxies: pid %d" % (len(sockets), p.pid))
    return p


def rw_reaches(c, port, node_port):
    """True when a read-write session through the rw port lands on node_port."""
    dsn = re.sub(r"port=\d+", "port=%d" % port, c.rw_dsn, count=1)
    try:
        return query(dsn, "SELECT inet_server_port()", timeout=1)[0][0] == node_port
    except Exception:  # noqa: BLE001 - no server ready yet
        return False


def main():
    with Cluster(nodes=3, haproxy=True) as c:
        leader = c.wait_healthy(60)
        sock1 = c.info["haproxy"]["stats_socket"]
        sock2, rw2 = second_haproxy(c)
        restart_agent_with(c, [sock1, sock2])
        for s in (sock1, sock2):
            wait_for(lambda: plan_applied(c, s, leader) or None, 30, "the plan on %s" % s)
        log("both HAProxies have the plan: %s alone ready in rw" % leader)
        key = "/flotilla/local/proxies/proxy-agent"
        rec = wait_for(lambda: (lambda v: v if v and len(json.loads(v)["haproxies"]) == 2 else None)(
            etcd_get(c.etcd_endpoint, key)), 20, "a status record listing two HAProxies")
        ups = [h["up"] for h in json.loads(rec)["haproxies"]]
        check(ups == [True, True], "status record: HAProxies up %s" % ups)

        c.kill_node(leader)
        t_kill = time.monotonic()
        others = [n for n in c.names() if n != leader]
        new = wait_for(lambda: c.leader() if c.leader() in others else None, 60, "a new leader")
        new_port = int(c.node(new)["pg_port"])
        reached = {}
        ports = {"haproxy 1": int(c.info["haproxy"]["rw_port"]), "haproxy 2": rw2}
        deadline = time.monotonic() + 60
        while len(reached) < 2 and time.monotonic() < deadline:
            for name, port in ports.items():
                if name not in reached and rw_reaches(c, port, new_port):
                    reached[name] = time.monotonic() - t_kill
            time.sleep(0.02)
        check(len(reached) == 2, "rw ports that reached the new leader %s: %s" % (new, reached))
        for name in sorted(reached):
            log("%s: rw port reaches the new leader %s %.2f s after the kill" % (name, new, reached[name]))
        for s in (sock1, sock2):
            wait_for(lambda: plan_applied(c, s, new) or None, 30, "the new plan on %s" % s)


if __name__ == "__main__":
    run_test(main)
