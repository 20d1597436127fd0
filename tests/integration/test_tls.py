#!/usr/bin/python3
"""A cluster secured as a deployment is (`flotilla local up --tls --haproxy`):
etcd over https with client certificates and its users on, the REST APIs
over HTTPS, HAProxy checking them over HTTPS.

  etcd       refuses a client without the cluster's client certificate
             (the handshake fails) and one with it but without a user
             ("permission denied"); the agents' member records, read as
             their etcd user, publish https:// api_urls;
  api        answers over HTTPS with a certificate of the cluster's CA; a
             plain-HTTP request gets no HTTP answer;
  cli        `flotilla list --dir` reads the cluster (cluster.json's tls),
             `flotilla switchover --dir --force` sends its token over HTTPS
             and a new leader takes writes through HAProxy;
  failover   SIGKILL of the leader's agent and postmaster under a writer
             through HAProxy's rw port: a new leader takes writes, the
             health checks over HTTPS steer rw to it;
  memory     every agent's resident memory with TLS in use is logged."""
import base64
import json
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, Writer, check, log, run_test, wait_for  # noqa: E402


def tls_paths(c):
    return c.info["tls"]


def etcd_range(c, key, cert=True, user=True, timeout=3):
    """Reads key as the CLI would: client certificate, then etcd's user and token."""
    t = tls_paths(c)
    ctx = ssl.create_default_context(cafile=t["ca_file"])
    if cert:
        ctx.load_cert_chain(t["cert_file"], t["key_file"])
    base = c.info["etcd"]["endpoints"][0]
    headers = {"Content-Type": "application/json"}
    if user:
        with open(t["etcd_password_file"]) as f:
            password = f.read().strip()
        body = json.dumps({"name": t["etcd_username"], "password": password}).encode()
        req = urllib.request.Request(base + "/v3/auth/authenticate", data=body, headers=headers)
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as r:
            headers["Authorization"] = json.loads(r.read().decode())["token"]
    body = json.dumps({"key": base64.b64encode(key.encode()).decode(),
                       "range_end": base64.b64encode((key[:-1] + chr(ord(key[-1]) + 1)).encode()).decode()}).encode()
    req = urllib.request.Request(base + "/v3/kv/range", data=body, headers=headers)
    with urllib.request.urlopen(req, timeout=timeout, context=ctx) as r:
        ans = json.loads(r.read().decode())
    return {base64.b64decode(kv["key"]).decode(): base64.b64decode(kv.get("value", "")).decode()
            for kv in ans.get("kvs") or []}


def api_get(c, name, path, timeout=3):
    t = tls_paths(c)
    ctx = ssl.create_default_context(cafile=t["ca_file"])
    url = "https://127.0.0.1:%d%s" % (int(c.node(name)["api_port"]), path)
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=ctx) as r:
            return r.status, json.loads(r.read().decode())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode() or "{}")


def plain_http_answers(port):
    """Whether a plain-HTTP request to port gets anything that looks like HTTP back."""
    s = socket.create_connection(("127.0.0.1", port), timeout=3)
    try:
        s.sendall(b"GET /health HTTP/1.0\r\n\r\n")
        s.settimeout(3)
        data = b""
        try:
            while len(data) < 64:
                chunk = s.recv(64)
                if not chunk:
                    break
                data += chunk
        except (socket.timeout, ConnectionResetError):
            pass
        return data.startswith(b"HTTP/")
    finally:
        s.close()


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def cli(c, *args, timeout=60):
    r = subprocess.run([c.flotilla] + list(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def main():
    with Cluster(nodes=3, haproxy=True, extra_args=["--tls"]) as c:
        leader = c.wait_healthy(90)
        check(c.info["etcd"]["endpoints"][0].startswith("https://"), "etcd is not https: %s" % c.info["etcd"])
        root = "/flotilla/%s/" % c.scope

        log("etcd: refusals")
        try:
            etcd_range(c, root, cert=False, user=False)
            check(False, "etcd answered a client without the cluster's client certificate")
        except (ssl.SSLError, urllib.error.URLError, ConnectionError) as e:
            log("  without a client certificate: %s" % e)
        try:
            etcd_range(c, root, cert=True, user=False)
            check(False, "etcd answered a client without a user")
        except urllib.error.HTTPError as e:
            text = e.read().decode()
            check("user name is empty" in text or "permission denied" in text,
                  "etcd's refusal without a user: %s" % text)
            log("  without a user: %d %s" % (e.code, text.strip()))
        keys = etcd_range(c, root)
        members = {k.rsplit("/", 1)[1]: json.loads(v) for k, v in keys.items() if "/members/" in k}
        check(sorted(members) == sorted(c.names()), "member records: %s" % sorted(members))
        for name, m in members.items():
            check(m["api_url"].startswith("https://"), "%s publishes api_url %s" % (name, m["api_url"]))
        log("  as its user: %d keys, api_urls %s" % (len(keys), sorted(m["api_url"] for m in members.values())))

        log("api: HTTPS only")
        status, body = api_get(c, leader, "/primary")
        check(status == 200 and body.get("role") == "primary", "GET /primary on %s: %s %s" % (leader, status, body))
        port = int(c.node(leader)["api_port"])
        check(not plain_http_answers(port), "the REST API on %d answered plain HTTP" % port)

        log("cli over TLS")
        rc, out, err = cli(c, "list", "--dir", c.dir)
        check(rc == 0 and "Leader" in out, "flotilla list: rc %d\n%s%s" % (rc, out, err))
        Writer.create_table(c.rw_dsn, "it_tls")
        w = Writer(c.rw_dsn, "it_tls")
        w.start()
        wait_for(lambda: w.acked, 20, "a first write through HAProxy")
        rc, out, err = cli(c, "switchover", "--dir", c.dir, "--force")
        check(rc == 0, "flotilla switchover: rc %d\n%s%s" % (rc, out, err))
        new = wait_for(lambda: (lambda ld: ld if ld and ld != leader else None)(c.healthy()), 60,
                       "a new leader after the switchover")
        new_port = int(c.node(new)["pg_port"])
        wait_for(lambda: any(p == new_port for _, p, _ in w.acked[-5:]), 30,
                 "writes through HAProxy acknowledged by %s" % new)
        log("  switchover %s -> %s, writes through HAProxy on %s" % (leader, new, new))

        log("failover")
        t_kill = time.monotonic()
        c.kill_node(new)
        after = wait_for(lambda: (lambda ld: ld if ld and ld != new else None)(c.leader()), 60,
                         "a leader after killing %s" % new)
        after_port = int(c.node(after)["pg_port"])
        at = wait_for(lambda: next((t for _, p, t in w.acked if p == after_port and t > t_kill), None), 60,
                      "a write through HAProxy acknowledged by %s" % after)
        log("  killed %s: %s took writes through HAProxy after %.2f s" % (new, after, at - t_kill))
        w.stop_event.set()
        w.join(10)

        for n in c.names():
            pid = c.agent_pid(n)
            if pid:
                log("  %s agent VmRSS %s kB (TLS in use)" % (n, rss_kb(pid)))


if __name__ == "__main__":
    run_test(main)
