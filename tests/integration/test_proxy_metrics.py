#!/usr/bin/python3
"""The proxy agent's GET /metrics (`metrics_listen`; a local cluster's on port
P+7, cluster.json's proxy_agent.metrics_port) on a 3-node cluster behind
HAProxy:

  plan        the servers the plan wants per backend and state (rw: the leader
              ready, the replicas in maint; ro: the replicas ready), and what
              HAProxy has, the same;
  calls       Runtime API exchanges counted and timed, HAProxy up, reads of
              etcd counted, agent checks answered (HAProxy's own);
  repair      a server put in maintenance behind the agent's back (its agent
              check disabled, which would repair it first): HAProxy is
              repaired at the next reconcile and the repair counted;
  switchover  the plan changes counted, the new leader ready in rw;
  etcd frozen a scrape is answered at once while etcd does not answer (it
              is served beside the agent checks, not by the loop that reads
              etcd), and failed reads are counted;
  refusals    another path answers 404, another method 405."""
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, log, run_test, runtime_api, wait_for  # noqa: E402


def scrape(c, path="/metrics", method="GET", timeout=5):
    url = "http://127.0.0.1:%d%s" % (c.info["proxy_agent"]["metrics_port"], path)
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def metrics(c):
    status, text = scrape(c)
    check(status == 200, "GET /metrics answered %d: %s" % (status, text[:200]))
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def value(m, name, **labels):
    """The sample of name whose labels include these (their order as written aside)."""
    for key, v in m.items():
        base, _, rest = key.partition("{")
        if base == name and all('%s="%s"' % (k, val) in rest for k, val in labels.items()):
            return v
    raise AssertionError("no %s%s in /metrics" % (name, labels))


def main():
    with Cluster(nodes=3, haproxy=True) as c:
        leader = c.wait_healthy(60)
        sock = c.info["haproxy"]["stats_socket"]
        m = wait_for(lambda: (lambda x: x if value(x, "flotilla_proxy_agent_checks_total", result="answered") > 0
                              else None)(metrics(c)), 20, "agent checks answered")
        log("plan: rw ready %d maint %d, ro ready %d; HAProxy the same" % (
            value(m, "flotilla_proxy_plan_servers", backend="rw", state="ready"),
            value(m, "flotilla_proxy_plan_servers", backend="rw", state="maint"),
            value(m, "flotilla_proxy_plan_servers", backend="ro", state="ready")))
        check(value(m, "flotilla_proxy_plan_servers", backend="rw", state="ready") == 1, "rw ready != 1")
        check(value(m, "flotilla_proxy_plan_servers", backend="rw", state="maint") == 2, "rw maint != 2")
        check(value(m, "flotilla_proxy_plan_servers", backend="ro", state="ready") == 2, "ro ready != 2")
        for be, st, n in (("rw", "ready", 1), ("rw", "maint", 2), ("ro", "ready", 2)):
            got = value(m, "flotilla_proxy_servers", haproxy=sock, backend=be, state=st)
            check(got == n, "HAProxy has %d servers %s in %s, want %d" % (got, st, be, n))
        check(value(m, "flotilla_proxy_haproxy_up", haproxy=sock) == 1, "haproxy_up is not 1")
        calls = value(m, "flotilla_proxy_runtime_api_calls_total", haproxy=sock, result="ok")
        secs = value(m, "flotilla_proxy_runtime_api_seconds_sum", haproxy=sock)
        check(calls > 0 and 0 < secs < calls, "Runtime API: %d calls in %.3f s" % (calls, secs))
        check(value(m, "flotilla_proxy_etcd_reads_total", result="ok") > 0, "no etcd read counted")
        log("calls: %d Runtime API exchanges (%.2f ms each on average), %d etcd reads, %d agent checks answered" % (
            calls, 1000 * secs / calls, value(m, "flotilla_proxy_etcd_reads_total", result="ok"),
            value(m, "flotilla_proxy_agent_checks_total", result="answered")))

        replica = [n["name"] for n in c.info["nodes"] if n["name"] != leader][0]
        repairs = value(m, "flotilla_proxy_reconcile_repairs_total")
        # Its agent check off first: it would set the server ready again before the reconcile does.
        runtime_api(c, "disable agent ro/%s" % replica)
        runtime_api(c, "set server ro/%s state maint" % replica)
        m = wait_for(lambda: (lambda x: x if value(x, "flotilla_proxy_reconcile_repairs_total") > repairs
                              else None)(metrics(c)), 20, "the repair of ro/%s counted" % replica)
        wait_for(lambda: value(metrics(c), "flotilla_proxy_servers", haproxy=sock, backend="ro", state="ready") == 2,
                 10, "ro/%s ready again" % replica)
        runtime_api(c, "enable agent ro/%s" % replica)
        log("repair: ro/%s put in maint behind the agent's back (its agent check off), ready again; repairs %d -> %d" % (
            replica, repairs, value(m, "flotilla_proxy_reconcile_repairs_total")))

        changes = value(m, "flotilla_proxy_plan_changes_total")
        r = subprocess.run([c.flotilla, "switchover", "--candidate", replica, "--force", "--dir", c.dir],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        check(r.returncode == 0, "switchover exited %d: %s" % (r.returncode, r.stdout.decode()))
        m = wait_for(lambda: (lambda x: x if value(x, "flotilla_proxy_plan_changes_total") > changes and value(
            x, "flotilla_proxy_servers", haproxy=sock, backend="rw", state="ready") == 1 else None)(metrics(c)), 20,
                     "the plan change of the switchover counted")
        log("switchover to %s: plan changes %d -> %d" % (replica, changes, value(m, "flotilla_proxy_plan_changes_total")))

        etcd_pid = int(c.info["etcd"]["pid"])
        failed = value(m, "flotilla_proxy_etcd_reads_total", result="failed")
        os.kill(etcd_pid, signal.SIGSTOP)
        took = []
        try:
            def scraped():
                t = time.monotonic()
                x = metrics(c)
                took.append(time.monotonic() - t)
                return x if value(x, "flotilla_proxy_etcd_reads_total", result="failed") > failed else None
            m = wait_for(scraped, 10, "a failed etcd read counted while etcd is frozen", interval=0.2)
        finally:
            os.kill(etcd_pid, signal.SIGCONT)
        check(max(took) < 0.5, "a scrape took %.0f ms while etcd was frozen" % (1000 * max(took)))
        log("etcd frozen: %d scrapes, the slowest answered in %.1f ms; failed etcd reads %d -> %d" % (
            len(took), 1000 * max(took), failed, value(m, "flotilla_proxy_etcd_reads_total", result="failed")))

        status, _ = scrape(c, "/status")
        check(status == 404, "GET /status answered %d, want 404" % status)
        status, _ = scrape(c, method="POST")
        check(status == 405, "POST /metrics answered %d, want 405" % status)
        log("refusals: GET /status 404, POST /metrics 405")
        check(c.wait_healthy(30), "the cluster is not healthy after etcd was frozen")


if __name__ == "__main__":
    run_test(main)
