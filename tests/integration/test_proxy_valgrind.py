#!/usr/bin/python3
"""flotilla-proxy-agent runs under valgrind in front of a local cluster with
HAProxy: it plans and pushes, answers well-formed and hostile agent checks,
publishes its status, reloads on SIGHUP, follows a crash failover and a
drain, and stops cleanly on SIGTERM: no memory error, no leaked block."""
import os
import re
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, build_dir, check, log, run_test, valgrind_wrapper, wait_for, wait_pids_gone  # noqa: E402


def agent_check(port, data, timeout=5):
    """Sends data to the agent-check port; returns what came back before the close."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                return out  # closed with our bytes unread: a reset, and no answer
            if not chunk:
                return out
            out += chunk
    finally:
        s.close()


def main():
    os.environ["FLOTILLA_PROXY_AGENT"] = valgrind_wrapper("flotilla-proxy-agent")
    with Cluster(nodes=3, timeout=240, extra_args=("--haproxy",)) as c:
        leader = c.wait_healthy(120)
        port = int(c.info["proxy_agent"]["agent_check_port"])
        pid = int(c.info["proxy_agent"]["pid"])
        log_path = c.info["proxy_agent"]["log"]
        replica = [n for n in c.names() if n != leader][0]
        answer = wait_for(lambda: agent_check(port, b"rw %s\n" % leader.encode()) or None, 60,
                          "an agent-check answer for the leader")
        check(answer.startswith(b"up ready 100%"), "rw/%s answered %r, not ready" % (leader, answer))
        check(agent_check(port, b"rw %s\n" % replica.encode()) == b"maint\n", "rw/%s is not maint" % replica)
        for bad in (b"xx n1\n", b"rw n1 extra\n", b"rw \x01\n", b"A" * 300, b"ro ../../etc\n"):
            check(agent_check(port, bad) == b"", "hostile agent check %r got an answer" % bad[:20])
        os.kill(pid, signal.SIGHUP)
        flotilla = os.path.join(build_dir(), "flotilla")
        subprocess.run([flotilla, "drain", replica, "--dir", c.dir, "--wait", "--wait-timeout", "60"], check=True,
                       timeout=90)
        subprocess.run([flotilla, "ready", replica, "--dir", c.dir], check=True, timeout=30)
        c.kill_node(leader)
        others = [n for n in c.names() if n != leader]
        new = wait_for(lambda: c.leader() if c.leader() in others else None, 90, "a new leader")
        wait_for(lambda: agent_check(port, b"rw %s\n" % new.encode()).startswith(b"up ready") or None, 60,
                 "rw/%s ready after the failover" % new)
        log("new leader %s is ready in rw; stopping the proxy agent" % new)
        os.kill(pid, signal.SIGTERM)
        wait_pids_gone([pid], 120)
        time.sleep(0.5)
        with open(log_path, errors="replace") as f:
            text = f.read()
        summary = re.findall(r"==%d== ERROR SUMMARY: (\d+) errors" % pid, text)
        check(summary, "no valgrind summary for pid %d in %s" % (pid, log_path))
        leaks = re.findall(r"==%d== +(definitely|indirectly|possibly) lost: ([\d,]+) bytes" % pid, text)
        freed = "==%d== All heap blocks were freed" % pid in text
        log("proxy agent (pid %d): %s errors, %s" % (pid, summary[-1], "all heap blocks freed" if freed else leaks))
        check(summary[-1] == "0", "valgrind reports %s errors" % summary[-1])
        check(freed or all(v == "0" for _, v in leaks), "valgrind reports leaks %s" % leaks)
        check("refused" in text, "no log line for the hostile agent checks")


if __name__ == "__main__":
    run_test(main)
