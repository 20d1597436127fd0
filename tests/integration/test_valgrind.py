#!/usr/bin/python3
"""The replication agents run under valgrind through a bootstrap, a change of
the dynamic configuration (flotilla edit-config, one accepted and one
refused), a config reload, a crash failover with rejoin and a clean stop: every agent that
exits cleanly reports no memory errors and no leaked block."""
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, log, run_test, valgrind_wrapper, wait_for, wait_pids_gone  # noqa: E402


def valgrind_reports(text):
    """(pid, errors, leak line) of every valgrind run in an agent log."""
    out = []
    for m in re.finditer(r"==(\d+)== ERROR SUMMARY: (\d+) errors", text):
        out.append((int(m.group(1)), int(m.group(2))))
    return out


def main():
    vg = valgrind_wrapper("flotilla-replicator")
    os.environ["FLOTILLA_REPLICATOR"] = vg
    with Cluster(nodes=3, timeout=240) as c:
        c.replicator = vg
        old = c.wait_healthy(120)
        log("leader %s (agents under valgrind)" % old)
        others = [n for n in c.names() if n != old]
        edit = [c.flotilla, "edit-config", "--dir", c.dir, "--force", "--pg"]
        r = subprocess.run(edit + ["work_mem=8MB"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        check(r.returncode == 0, "edit-config: %s" % r.stdout.decode())
        r = subprocess.run(edit + ["shared_buffers=lots"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        check(r.returncode == 2, "edit-config of a bad value exited %d: %s" % (r.returncode, r.stdout.decode()))
        for n in c.names():
            url = "http://127.0.0.1:%d/config" % c.node(n)["api_port"]
            wait_for(lambda url=url: json.loads(urllib.request.urlopen(url, timeout=10).read()).get("postgresql"),
                     60, "the configuration applied on %s" % n)
        c.signal_agent(others[0], signal.SIGHUP)
        c.kill_node(old)
        new = wait_for(lambda: c.leader() if c.leader() in others else None, 90, "a new leader")
        c.start_agent(old)
        c.wait_rejoined(old, new, 180)
        log("%s rejoined under valgrind; stopping every agent" % old)
        pids = {n: c.agent_pid(n) for n in c.names()}
        for n, pid in pids.items():
            os.kill(pid, signal.SIGTERM)
        wait_pids_gone(list(pids.values()), 120)
        time.sleep(1)
        failures = []
        for n in c.names():
            text = c.read_agent_log(n)
            runs = valgrind_reports(text)
            pid = pids[n]
            mine = [r for r in runs if r[0] == pid]
            if not mine:
                failures.append("%s: no valgrind summary for pid %d" % (n, pid))
                continue
            errors = mine[-1][1]
            leaks = re.findall(r"==%d== +(definitely|indirectly|possibly) lost: ([\d,]+) bytes" % pid, text)
            freed = "==%d== All heap blocks were freed" % pid in text
            log("%s (pid %d): %d errors, %s" % (n, pid, errors, "all heap blocks freed" if freed else leaks))
            if errors:
                failures.append("%s: valgrind reports %d errors" % (n, errors))
            if not freed and any(v != "0" for _, v in leaks):
                failures.append("%s: valgrind reports leaks %s" % (n, leaks))
        check(not failures, "; ".join(failures))


if __name__ == "__main__":
    run_test(main)
