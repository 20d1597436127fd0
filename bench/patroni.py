#!/usr/bin/python3
"""Flotilla versus Patroni, side by side, in one run (not a CTest test).

Patroni part:
  * installs Patroni from PyPI into a private venv (default build/bench-venv,
    --venv DIR): /usr/bin/python3 -m venv, pip install 'patroni[etcd3]'
    psycopg2-binary; exits 2 when that fails;
  * starts one etcd (/usr/bin/etcd) and a 3-node Patroni cluster of
    PostgreSQL 15 on free loopback ports in a temporary directory, every
    process as the user postgres, with Patroni's smallest documented timings
    (ttl 20, loop_wait 1, retry_timeout 3);
  * on the idle cluster: VmRSS of each Patroni process, and the latency of
    GET /primary on the leader's REST API (median of --requests requests, a
    new TCP connection each);
  * --trials crash-failover trials: SIGKILL the leader's Patroni process, its
    postmaster and the postmaster's children, and time the kill -> the first
    INSERT acknowledged by another node, written every 20 ms through a
    multi-host DSN (target_session_attrs=read-write, connect_timeout=1) by
    bench/failover.py's RetryingWriter; between trials the killed Patroni is
    restarted and the cluster waits for 1 leader and 2 streaming replicas;
  * --switchovers planned switchovers (POST /switchover on the leader's REST
    API, to each replica in turn) under the same writer: the write pause is
    the last write acknowledged before the request to the first acknowledged
    by the candidate.
Flotilla part: runs bench/failover.py (same writer, same kill, same number of
trials and switchovers, flotilla-replicator RSS on the idle cluster) and
parses its output.
Then prints one side-by-side table. Everything started is stopped and removed
at the end, also on failure, SIGINT or SIGTERM.

  /usr/bin/python3 bench/patroni.py [--trials 5] [--switchovers 5] [--requests 1000]
      [--venv build/bench-venv] [--build-dir DIR] [--baseline-build-dir DIR]

With --baseline-build-dir the Flotilla part runs a second time on that
build (the previous commit's, say) and the table gets its column.

Run as root (daemons are started as postgres with setpriv). Without
--build-dir, scripts/build is run first and the directory it prints is used.
Exit: 0 both parts measured, 1 a part failed (the table shows what was
measured), 2 Patroni could not be installed, 130 interrupted.
"""
import argparse
import http.client
import json
import os
import pwd
import random
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # leave no __pycache__ in bench/ or tests/
import failover  # noqa: E402  (bench/failover.py: RetryingWriter, rss_kb; puts tests/integration on sys.path)
from harness import children_of, pid_alive, port_free, processes_under, signal_pid, wait_pids_gone  # noqa: E402

# Patroni's documented minimums (dynamic configuration: "loop_wait ... minimum
# possible value: 1", "ttl ... minimum possible value: 20", "retry_timeout ...
# minimum possible value: 3", and the rule loop_wait + 2 * retry_timeout <=
# ttl). Patroni takes integers only and raises smaller values to these.
PATRONI_TTL = 20
PATRONI_LOOP_WAIT = 1
PATRONI_RETRY_TIMEOUT = 3
SCOPE = "bench"
RUN_AS = ["setpriv", "--reuid", "postgres", "--regid", "postgres", "--init-groups", "--"]

T0 = time.monotonic()


def log(msg):
    print("[%8.3f] %s" % (time.monotonic() - T0, msg), flush=True)


class BenchError(Exception):
    pass


class Interrupted(BaseException):
    pass


def on_signal(signum, frame):
    raise Interrupted(signal.Signals(signum).name)


def wait_for(pred, timeout, what, interval=0.1):
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            v = pred()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - "not yet"
            last = e
        if time.monotonic() >= deadline:
            raise BenchError("timed out after %.0f s waiting for %s%s"
                             % (timeout, what, "; last error: %s" % last if last else ""))
        time.sleep(interval)


def tail(path, n=40):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError as e:
        return "(%s)" % e


def free_ports(n):
    """n distinct free loopback ports below the usual ephemeral range."""
    got = []
    for _ in range(2000):
        p = random.randrange(20000, 32000)
        if p not in got and port_free(p):
            got.append(p)
            if len(got) == n:
                return got
    raise BenchError("cannot find %d free ports in 20000-32000" % n)


def chown_pg(path):
    pw = pwd.getpwnam("postgres")
    os.chown(path, pw.pw_uid, pw.pw_gid)


def pg_mkdir(path, mode=0o700):
    os.makedirs(path, exist_ok=True)
    os.chmod(path, mode)
    chown_pg(path)


def pg_write(path, text, mode=0o600):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    chown_pg(path)


def sweep(top, why):
    """Stops every process whose command line or working directory is under
    top: SIGTERM, then SIGKILL after 10 s."""
    left = processes_under(top)
    if not left:
        return
    log("%s: stopping %d leftover process(es): %s" % (why, len(left), "; ".join("%d %s" % p for p in left)[:800]))
    pids = [p for p, _ in left]
    for p in pids:
        signal_pid(p, signal.SIGTERM)
    if not wait_pids_gone(pids, 10):
        for p in pids:
            signal_pid(p, signal.SIGKILL)
        wait_pids_gone(pids, 10)
    for _ in range(3):  # children forked meanwhile
        left = processes_under(top)
        if not left:
            return
        for p, _ in left:
            signal_pid(p, signal.SIGKILL)
        wait_pids_gone([p for p, _ in left], 10)


def fmt_rss(values_kb):
    v = [x for x in values_kb if x is not None]
    if not v:
        return "n/a"
    return "%.1f / %.1f" % (statistics.mean(v) / 1024.0, max(v) / 1024.0)


# ------------------------------------------------------------------ Patroni

def install_patroni(venv):
    """Creates the venv and pip-installs Patroni; returns the patroni
    executable, or exits 2 with pip's reason."""
    venv = os.path.abspath(venv)
    py = os.path.join(venv, "bin", "python3")
    if not os.access(py, os.X_OK):
        log("creating venv %s" % venv)
        r = subprocess.run(["/usr/bin/python3", "-m", "venv", venv], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if r.returncode != 0:
            print("cannot create the venv %s (exit %d):\n%s" % (venv, r.returncode, r.stdout.decode(errors="replace")))
            sys.exit(2)
    log("pip install 'patroni[etcd3]' psycopg2-binary into %s" % venv)
    r = subprocess.run([py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "patroni[etcd3]",
                        "psycopg2-binary"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = r.stdout.decode(errors="replace")
    if r.returncode != 0:
        print("pip install 'patroni[etcd3]' psycopg2-binary failed (exit %d):\n%s" % (r.returncode, out))
        sys.exit(2)
    exe = os.path.join(venv, "bin", "patroni")
    ver = subprocess.run([exe, "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if ver.returncode != 0:
        print("patroni does not run after pip install (exit %d):\n%s" % (ver.returncode, ver.stdout.decode(errors="replace")))
        sys.exit(2)
    # The daemons run as postgres: every directory above the venv must be searchable.
    d = venv
    while d != "/":
        if not os.stat(d).st_mode & 0o001:
            print("%s is not searchable by others; the postgres user cannot run Patroni from %s" % (d, venv))
            sys.exit(2)
        d = os.path.dirname(d)
    return exe, ver.stdout.decode().strip()


class PatroniCluster:
    def __init__(self, top, patroni_exe, etcd_bin, pg_bin, nodes=3):
        self.top = top
        self.exe = patroni_exe
        self.etcd_bin = etcd_bin
        self.pg_bin = pg_bin
        self.names = ["p%d" % (i + 1) for i in range(nodes)]
        ports = free_ports(2 + 2 * nodes)
        self.etcd_client, self.etcd_peer = ports[0], ports[1]
        self.pg_port = {n: ports[2 + i] for i, n in enumerate(self.names)}
        self.api_port = {n: ports[2 + nodes + i] for i, n in enumerate(self.names)}
        self.su_password = secrets.token_hex(16)
        self.repl_password = secrets.token_hex(16)
        self.etcd = None
        self.procs = {}

    # -- paths and addresses
    def ndir(self, name):
        return os.path.join(self.top, name)

    def data_dir(self, name):
        return os.path.join(self.ndir(name), "data")

    def log_path(self, name):
        return os.path.join(self.ndir(name), "patroni.log")

    @property
    def rw_dsn(self):
        return ("host=%s port=%s user=postgres password=%s dbname=postgres connect_timeout=1 "
                "target_session_attrs=read-write"
                % (",".join("127.0.0.1" for _ in self.names), ",".join(str(self.pg_port[n]) for n in self.names),
                   self.su_password))

    def node_dsn(self, name):
        return "host=127.0.0.1 port=%d user=postgres password=%s dbname=postgres connect_timeout=2" % (
            self.pg_port[name], self.su_password)

    def name_of_port(self, port):
        for n, p in self.pg_port.items():
            if p == int(port):
                return n
        return "port %s" % port

    # -- lifecycle
    def start_etcd(self):
        d = os.path.join(self.top, "etcd")
        pg_mkdir(d)
        client = "http://127.0.0.1:%d" % self.etcd_client
        peer = "http://127.0.0.1:%d" % self.etcd_peer
        cmd = RUN_AS + [self.etcd_bin, "--name", "bench", "--data-dir", os.path.join(d, "data"),
                        "--listen-client-urls", client, "--advertise-client-urls", client,
                        "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                        "--initial-cluster", "bench=" + peer, "--initial-cluster-state", "new",
                        "--initial-cluster-token", "patroni-bench-%d" % os.getpid()]
        logf = open(os.path.join(d, "etcd.log"), "ab")
        try:
            self.etcd = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                         start_new_session=True, cwd=d)
        finally:
            logf.close()

        def healthy():
            if self.etcd.poll() is not None:
                raise BenchError("etcd exited %s" % self.etcd.returncode)
            with urllib.request.urlopen(client + "/health", timeout=1) as r:
                return json.load(r).get("health") == "true"
        try:
            wait_for(healthy, 30, "etcd on %s" % client, 0.2)
        except BenchError as e:
            raise BenchError("%s\n%s" % (e, tail(os.path.join(d, "etcd.log"))))
        ver = subprocess.run([self.etcd_bin, "--version"], stdout=subprocess.PIPE).stdout.decode().splitlines()
        log("%s on %s (pid %d)" % (ver[0] if ver else "etcd", client, self.etcd.pid))

    def config(self, name):
        nd = self.ndir(name)
        return {
            "scope": SCOPE,
            "name": name,
            "log": {"level": "INFO"},
            "restapi": {"listen": "127.0.0.1:%d" % self.api_port[name],
                        "connect_address": "127.0.0.1:%d" % self.api_port[name]},
            "etcd3": {"hosts": ["127.0.0.1:%d" % self.etcd_client]},
            "bootstrap": {
                "dcs": {
                    "ttl": PATRONI_TTL,
                    "loop_wait": PATRONI_LOOP_WAIT,
                    "retry_timeout": PATRONI_RETRY_TIMEOUT,
                    "maximum_lag_on_failover": 1048576,  # as flotilla-replicator's default
                    "postgresql": {
                        "use_pg_rewind": True,
                        "use_slots": True,
                        # the settings flotilla-replicator writes that Patroni leaves to us
                        "parameters": {
                            "wal_keep_size": "128MB",
                            "hot_standby_feedback": "on",
                            "wal_receiver_status_interval": "1s",
                            "wal_retrieve_retry_interval": "500ms",
                        },
                    },
                },
                "initdb": [{"encoding": "UTF8"}, {"locale": "C.UTF-8"}, "data-checksums"],
            },
            "postgresql": {
                "listen": "127.0.0.1:%d" % self.pg_port[name],
                "connect_address": "127.0.0.1:%d" % self.pg_port[name],
                "data_dir": self.data_dir(name),
                "bin_dir": self.pg_bin,
                "pgpass": os.path.join(nd, "pgpass"),
                "authentication": {
                    "superuser": {"username": "postgres", "password": self.su_password},
                    "replication": {"username": "replicator", "password": self.repl_password},
                },
                "pg_hba": ["local all all trust",
                           "host replication replicator 127.0.0.1/32 scram-sha-256",
                           "host all all 127.0.0.1/32 scram-sha-256"],
                "parameters": {"unix_socket_directories": nd},
                "basebackup": [{"checkpoint": "fast"}],
                "remove_data_directory_on_rewind_failure": True,
                "remove_data_directory_on_diverged_timelines": True,
            },
            "watchdog": {"mode": "off"},
        }

    def start_node(self, name):
        nd = self.ndir(name)
        pg_mkdir(nd)
        cfg = os.path.join(nd, "patroni.yml")
        pg_write(cfg, json.dumps(self.config(name), indent=2) + "\n")  # JSON is YAML
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": nd, "PYTHONUNBUFFERED": "1"}
        logf = open(self.log_path(name), "ab")
        try:
            p = subprocess.Popen(RUN_AS + [self.exe, cfg], stdin=subprocess.DEVNULL, stdout=logf,
                                 stderr=subprocess.STDOUT, start_new_session=True, cwd=nd, env=env)
        finally:
            logf.close()
        self.procs[name] = p
        return p.pid

    def start(self):
        pg_mkdir(self.top, 0o755)
        self.start_etcd()
        for n in self.names:
            self.start_node(n)
            if n == self.names[0]:  # let the first one bootstrap: no initdb race
                wait_for(lambda: self.members_view() and self.leader(), 120, "%s to bootstrap" % n, 0.5)
        log("Patroni nodes %s: PostgreSQL ports %s, REST API ports %s"
            % (", ".join(self.names), ", ".join(str(self.pg_port[n]) for n in self.names),
               ", ".join(str(self.api_port[n]) for n in self.names)))

    def patroni_pid(self, name):
        p = self.procs.get(name)
        return p.pid if p is not None and p.poll() is None else None

    def postmaster_pid(self, name):
        try:
            with open(os.path.join(self.data_dir(name), "postmaster.pid")) as f:
                pid = int(f.readline().strip())
        except (OSError, ValueError):
            return None
        return pid if pid_alive(pid) else None

    # -- the cluster as Patroni's REST API sees it
    def api_get(self, name, path, timeout=1.0):
        c = http.client.HTTPConnection("127.0.0.1", self.api_port[name], timeout=timeout)
        try:
            c.request("GET", path)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def members_view(self):
        """Members from GET /cluster of the first node that answers."""
        for n in self.names:
            if self.patroni_pid(n) is None:
                continue
            try:
                st, body = self.api_get(n, "/cluster")
                if st == 200:
                    return json.loads(body).get("members", [])
            except (OSError, ValueError, http.client.HTTPException):
                continue
        return None

    def leader(self):
        ms = self.members_view() or []
        ld = [m["name"] for m in ms if m.get("role") == "leader" and m.get("state") == "running"]
        return ld[0] if len(ld) == 1 else None

    def healthy(self):
        """The leader's name when 3 members run: one leader, the others
        streaming replicas; else None."""
        ms = self.members_view()
        if not ms or len(ms) != len(self.names):
            return None
        ld = [m for m in ms if m.get("role") == "leader" and m.get("state") == "running"]
        if len(ld) != 1:
            return None
        # streaming on the leader's timeline (a replica whose WAL went past
        # the fork point can show "streaming" between retries)
        reps = [m for m in ms if m.get("role") in ("replica", "sync_standby", "quorum_standby")
                and m.get("state") == "streaming" and m.get("timeline") == ld[0].get("timeline")]
        if len(ld) == 1 and len(reps) == len(self.names) - 1:
            return ld[0]["name"]
        return None

    def describe(self):
        ms = self.members_view()
        if ms is None:
            return "(no REST API answers)"
        return ", ".join("%s %s/%s tl %s" % (m.get("name"), m.get("role"), m.get("state"), m.get("timeline"))
                         for m in ms)

    # -- faults
    def kill_node(self, name):
        """SIGKILL the node's Patroni, its postmaster and the postmaster's
        children (as bench/failover.py does to a Flotilla node)."""
        pat = self.patroni_pid(name)
        pm = self.postmaster_pid(name)
        kids = children_of(pm) if pm else []
        pids = [p for p in [pat, pm] + kids if p]
        for p in pids:
            signal_pid(p, signal.SIGKILL)
        return pat, pm, kids, pids

    def stop(self):
        """Graceful: SIGTERM every Patroni (it stops its PostgreSQL), then
        etcd; SIGKILL what remains after 60 s."""
        running = [(n, p) for n, p in self.procs.items() if p.poll() is None]
        for n, p in running:
            p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 60
        for n, p in running:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log("Patroni %s (pid %d) ignored SIGTERM for 60 s; killing it and its postmaster" % (n, p.pid))
                pm = self.postmaster_pid(n)
                p.kill()
                p.wait(10)
                if pm:
                    signal_pid(pm, signal.SIGQUIT)
        for n in self.names:  # postmasters left by a killed Patroni
            pm = self.postmaster_pid(n)
            if pm:
                signal_pid(pm, signal.SIGQUIT)
                if not wait_pids_gone([pm], 15):
                    signal_pid(pm, signal.SIGKILL)
        if self.etcd is not None and self.etcd.poll() is None:
            self.etcd.terminate()
            try:
                self.etcd.wait(15)
            except subprocess.TimeoutExpired:
                self.etcd.kill()
                self.etcd.wait(5)

    def dump_logs(self):
        for n in self.names:
            print("----- tail of %s -----\n%s" % (self.log_path(n), tail(self.log_path(n))), flush=True)
        p = os.path.join(self.top, "etcd", "etcd.log")
        print("----- tail of %s -----\n%s" % (p, tail(p, 15)), flush=True)


def get_latency(port, path, n):
    """Median and max seconds of n GET requests, each on a new TCP connection
    (connect, request, whole response, close)."""
    lat = []
    for _ in range(n):
        t = time.perf_counter()
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request("GET", path)
        r = c.getresponse()
        r.read()
        dt = time.perf_counter() - t
        c.close()
        if r.status != 200:
            raise BenchError("GET %s on port %d answered %d" % (path, port, r.status))
        lat.append(dt)
    return statistics.median(lat), max(lat)


def connect_sql(dsn):
    import psycopg2
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    return conn


def patroni_switchover(c, writer, i):
    """POST /switchover on Patroni's REST API from the leader to a replica; the write pause as bench/failover.py
    measures Flotilla's."""
    leader = wait_for(c.healthy, 300, "3 Patroni members: 1 leader, 2 streaming")
    candidate = sorted(n for n in c.names if n != leader)[i % 2]
    wait_for(lambda: writer.first_ack_after(time.monotonic() - 0.5, None), 30, "the writer acknowledged", 0.05)
    time.sleep(1)
    req = urllib.request.Request("http://127.0.0.1:%d/switchover" % c.api_port[leader],
                                 data=json.dumps({"leader": leader, "candidate": candidate}).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    t_req = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            r.read()
    except urllib.error.HTTPError as e:
        raise BenchError("Patroni's POST /switchover answered %d: %s" % (e.code, e.read()[:300]))
    port = c.pg_port[candidate]
    at, _ = wait_for(lambda: writer.first_ack_on(t_req, port), 120, "a write acknowledged by %s" % candidate, 0.01)
    pause = at - (writer.last_ack_before(t_req) or t_req)
    print("switchover %d: %s -> %s, write pause %.3f s" % (i + 1, leader, candidate, pause), flush=True)
    wait_for(lambda: c.healthy() == candidate, 300, "%s leading 2 streaming members" % candidate, 0.5)
    return pause


def run_patroni(args, top, patroni_exe, res):
    c = PatroniCluster(os.path.join(top, "patroni"), patroni_exe, args.etcd, args.pg_bin)
    res["cluster"] = c
    writer = None
    try:
        t = time.monotonic()
        c.start()
        leader = wait_for(c.healthy, 300, "3 Patroni members: 1 leader, 2 streaming", 0.5)
        log("Patroni cluster ready in %.1f s: %s" % (time.monotonic() - t, c.describe()))
        time.sleep(3)  # idle, as bench/failover.py
        print("Patroni RSS on the idle cluster (leader %s):" % leader)
        rss = []
        for n in c.names:
            pid = c.patroni_pid(n)
            kb = failover.rss_kb(pid)
            rss.append(kb)
            print("  %s patroni pid %d: VmRSS %s kB" % (n, pid, kb))
        res["rss_kb"] = rss
        med, mx = get_latency(c.api_port[leader], "/primary", args.requests)
        res["get_primary"] = med
        print("GET /primary on the leader %s (127.0.0.1:%d), %d requests, new TCP connection each: "
              "median %.3f ms, max %.3f ms" % (leader, c.api_port[leader], args.requests, med * 1e3, mx * 1e3),
              flush=True)

        conn = connect_sql(c.node_dsn(leader))
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE bench_failover (id bigserial PRIMARY KEY, at timestamptz)")
        conn.close()
        writer = failover.RetryingWriter(c.rw_dsn)
        writer.start()
        res["trials"] = []
        for trial in range(1, args.trials + 1):
            leader = wait_for(c.healthy, 300, "3 Patroni members: 1 leader, 2 streaming")
            port = c.pg_port[leader]
            wait_for(lambda: (writer.first_ack_after(time.monotonic() - 0.5, None) or (0, None))[1] == port,
                     30, "the writer to be acknowledged by the leader %s" % leader, 0.05)
            t_kill = time.monotonic()
            pat, pm, kids, pids = c.kill_node(leader)
            log("kill -9 %s: patroni %s, postmaster %s, %d children" % (leader, pat, pm, len(kids)))
            at, new_port = wait_for(lambda: writer.first_ack_after(t_kill, port), 180,
                                    "a write acknowledged by a new primary (trial %d)" % trial, 0.01)
            dt = at - t_kill
            res["trials"].append(dt)
            print("trial %d: killed %s, first write acknowledged by %s after %.3f s"
                  % (trial, leader, c.name_of_port(new_port), dt), flush=True)
            if not wait_pids_gone(pids, 15):
                raise BenchError("processes of %s survived SIGKILL: %s" % (leader, [p for p in pids if pid_alive(p)]))
            c.procs[leader].wait(10)
            t = time.monotonic()
            c.start_node(leader)
            wait_for(lambda: c.healthy() not in (None, leader), 300,
                     "3 members (1 leader, 2 streaming) after restarting %s" % leader, 0.5)
            log("%s rejoined as a streaming replica in %.1f s: %s" % (leader, time.monotonic() - t, c.describe()))
        res["switchovers"] = [patroni_switchover(c, writer, i) for i in range(args.switchovers)]
    except BenchError:
        c.dump_logs()
        raise
    finally:
        if writer is not None:
            writer.stop_event.set()
            writer.join(10)


# ------------------------------------------------------------------ Flotilla

SWITCH_RE = re.compile(r"^switchover (\d+): (\S+) -> (\S+), write pause ([0-9.]+) s")
TRIAL_RE = re.compile(r"^trial (\d+): killed (\S+), first write acknowledged by (\S+) after ([0-9.]+) s")
RSS_RE = re.compile(r"^\s+(\S+) agent pid (\d+): VmRSS (\d+|None) kB")


def build_flotilla():
    log("scripts/build")
    r = subprocess.run([os.path.join(ROOT, "scripts", "build")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = r.stdout.decode(errors="replace")
    if r.returncode != 0:
        raise BenchError("scripts/build exited %d:\n%s" % (r.returncode, out[-3000:]))
    return out.strip().splitlines()[-1].strip()


def flotilla_get_primary(args, top, build_dir):
    """Runs bench/api.py on a fresh local cluster; returns the median GET /primary in seconds."""
    tmp = os.path.join(top, "flotilla-api")
    os.makedirs(tmp, exist_ok=True)
    os.chmod(tmp, 0o755)
    cmd = ["/usr/bin/python3", os.path.join(HERE, "api.py"), "--requests", str(args.requests)]
    log("$ " + " ".join(cmd))
    env = dict(os.environ, TMPDIR=tmp, FLOTILLA_BUILD_DIR=build_dir, PYTHONUNBUFFERED="1")
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                       timeout=600)
    out = r.stdout.decode(errors="replace")
    for line in out.splitlines():
        if line.startswith("GET /primary") or line.startswith("agent "):
            print("  | " + line, flush=True)
        m = re.search(r"GET /primary .* median ([0-9.]+) ms", line)
        if m and r.returncode == 0:
            return float(m.group(1)) / 1e3
    raise BenchError("bench/api.py exited %d without a median:\n%s" % (r.returncode, out[-2000:]))


def run_flotilla(args, top, build_dir, res):
    """Runs bench/failover.py with its temporary directory under top (TMPDIR)
    and parses its trials and idle agent RSS."""
    tmp = os.path.join(top, "flotilla")
    os.makedirs(tmp, exist_ok=True)
    os.chmod(tmp, 0o755)
    res["tmp"] = tmp
    cmd = ["/usr/bin/python3", os.path.join(HERE, "failover.py"), "--build-dir", build_dir,
           "--trials", str(args.trials), "--switchovers", str(args.switchovers)]
    log("$ " + " ".join(cmd))
    env = dict(os.environ, TMPDIR=tmp, PYTHONUNBUFFERED="1")
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         env=env, start_new_session=True)
    res["proc"] = p
    lines = []

    def pump():
        for raw in p.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            lines.append(line)
            print("  | " + line, flush=True)
    th = threading.Thread(target=pump, daemon=True)
    th.start()
    res["pump"] = th
    rc = p.wait()
    th.join(10)
    res["trials"], res["rss_kb"], res["switchovers"] = [], [], []
    section = None
    for line in lines:
        m = SWITCH_RE.match(line)
        if m:
            res["switchovers"].append(float(m.group(4)))
            continue
        m = TRIAL_RE.match(line)
        if m:
            res["trials"].append(float(m.group(4)))
            section = None
            continue
        if line.startswith("agent RSS on the idle cluster"):
            section = "idle"
            continue
        if line.startswith("agent RSS at the end"):
            section = None
            continue
        m = RSS_RE.match(line)
        if m and section == "idle":
            res["rss_kb"].append(None if m.group(3) == "None" else int(m.group(3)))
    if rc != 0:
        raise BenchError("bench/failover.py exited %d" % rc)
    if len(res["trials"]) != args.trials or not res["rss_kb"]:
        raise BenchError("cannot parse bench/failover.py's output: %d trial line(s), %d idle RSS line(s)"
                         % (len(res["trials"]), len(res["rss_kb"])))


def stop_flotilla(res, build_dir):
    p = res.get("proc")
    if p is not None and p.poll() is None:
        log("stopping bench/failover.py (pid %d) with SIGINT: its cluster tears itself down" % p.pid)
        p.send_signal(signal.SIGINT)
        try:
            p.wait(180)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)
    if res.get("pump") is not None:
        res["pump"].join(5)
    tmp = res.get("tmp")
    if not tmp or not os.path.isdir(tmp):
        return
    # A cluster failover.py could not tear down (stopped during `local up`).
    flot = os.path.join(build_dir, "flotilla") if build_dir else None
    for d in sorted(os.listdir(tmp)):
        cdir = os.path.join(tmp, d, "cluster")
        if os.path.isdir(cdir) and flot and os.access(flot, os.X_OK):
            log("leftover Flotilla cluster %s: flotilla local down --purge" % cdir)
            subprocess.run([flot, "local", "down", "--dir", cdir, "--purge"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.STDOUT, timeout=120)


# ------------------------------------------------------------------ report

def measure_flotilla(args, top, build_dir, res, label):
    """The Flotilla part on one build: crash failovers and RSS, then GET /primary; 0, or 1 when a part failed."""
    rc = 0
    try:
        run_flotilla(args, top, build_dir, res)
    except BenchError as e:
        res["error"] = str(e)
        log("%s part failed: %s" % (label, e))
        rc = 1
    finally:
        stop_flotilla(res, build_dir)
    if "error" not in res:
        try:
            res["get_primary"] = flotilla_get_primary(args, top, build_dir)
        except BenchError as e:
            log("%s GET /primary failed: %s" % (label, e))
            rc = 1
    return rc


def fmt_s(v):
    return "n/a" if v is None else "%.3f" % v


def print_table(pat, flo, args, base=None):
    def fo(res):
        t = res.get("trials") or []
        if not t:
            return ("failed", "failed") if res.get("error") else ("n/a", "n/a")
        note = "" if len(t) == args.trials else " (%d of %d trials)" % (len(t), args.trials)
        return fmt_s(statistics.median(t)) + note, fmt_s(max(t)) + note
    def ms(v):
        return "n/a" if v is None else "%.3f" % (v * 1e3)
    cols = [flo] + ([base] if base is not None else []) + [pat]
    rows = [("", "Flotilla") + (("Flotilla (baseline)",) if base is not None else ()) + ("Patroni",)]
    rows.append(("crash failover, %d trials: median (s)" % args.trials,) + tuple(fo(c)[0] for c in cols))
    rows.append(("crash failover, %d trials: max (s)" % args.trials,) + tuple(fo(c)[1] for c in cols))
    rows.append(("agent RSS on the idle cluster, mean / max of 3 (MiB)",) + tuple(fmt_rss(c.get("rss_kb") or []) for c in cols))
    if args.switchovers:
        def so(res, f):
            v = res.get("switchovers") or []
            return fmt_s(f(v)) if len(v) == args.switchovers else ("failed" if res.get("error") else "n/a")
        rows.append(("switchover write pause, %d: median (s)" % args.switchovers,)
                    + tuple(so(c, statistics.median) for c in cols))
        rows.append(("switchover write pause, %d: max (s)" % args.switchovers,) + tuple(so(c, max) for c in cols))
    rows.append(("GET /primary, median of %d, new connection each (ms)" % args.requests,)
                + tuple(ms(c.get("get_primary")) for c in cols))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    line = "=" * (sum(widths) + 3 * (len(widths) - 1))
    print()
    print(line)
    for i, r in enumerate(rows):
        print(" | ".join(("%-*s" if j == 0 else "%*s") % (widths[j], r[j]) for j in range(len(r))))
        if i == 0:
            print("-+-".join("-" * w for w in widths))
    print(line)
    if base is not None:
        print("Flotilla (baseline): the same measurement of the build in %s." % args.baseline_build_dir)
    print("Flotilla: flotilla local up defaults (async, ttl 3 s, loop_wait 0.5 s, retry_timeout 1 s).")
    print("Patroni %s: async, ttl %d s, loop_wait %d s, retry_timeout %d s (its documented minimums)."
          % (pat.get("version", "?"), PATRONI_TTL, PATRONI_LOOP_WAIT, PATRONI_RETRY_TIMEOUT))
    print("failover = SIGKILL of the leader's agent + postmaster (+ backends) -> first INSERT acknowledged by"
          " another node; writer every 20 ms, multi-host DSN, target_session_attrs=read-write, connect_timeout=1.")
    for name, res in (("Flotilla", flo), ("Flotilla (baseline)", base or {}), ("Patroni", pat)):
        if res.get("trials"):
            print("%s trials (s): %s" % (name, ", ".join("%.3f" % x for x in res["trials"])))
        if res.get("switchovers"):
            print("%s switchover pauses (s): %s" % (name, ", ".join("%.3f" % x for x in res["switchovers"])))
        if res.get("error"):
            print("%s FAILED: %s" % (name, res["error"]))
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=5, help="crash-failover trials per tool (default 5)")
    ap.add_argument("--requests", type=int, default=1000, help="GET /primary requests (default 1000)")
    ap.add_argument("--switchovers", type=int, default=5,
                    help="planned switchovers per tool after the crash trials, under the same writer (default 5)")
    ap.add_argument("--venv", default=os.path.join(ROOT, "build", "bench-venv"),
                    help="venv Patroni is installed into (default build/bench-venv)")
    ap.add_argument("--build-dir", help="Flotilla build directory (default: run scripts/build and use what it prints)")
    ap.add_argument("--baseline-build-dir", help="a second Flotilla build (e.g. the previous commit's), measured the same way"
                    " in the same run, in its own column")
    ap.add_argument("--pg-bin", default="/usr/lib/postgresql/15/bin")
    ap.add_argument("--etcd", default="/usr/bin/etcd")
    args = ap.parse_args()
    if args.trials < 1 or args.requests < 1:
        ap.error("--trials and --requests must be at least 1")
    if os.geteuid() != 0:
        print("run as root: the daemons are started as postgres with setpriv")
        return 2
    for prog in (args.etcd, os.path.join(args.pg_bin, "postgres"), "/usr/bin/setpriv"):
        if not os.access(prog, os.X_OK):
            print("%s is missing (install etcd-server, postgresql-15, util-linux)" % prog)
            return 2

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    pat, flo, base = {}, {}, ({} if args.baseline_build_dir else None)
    top = None
    build_dir = args.build_dir
    rc = 0
    try:
        patroni_exe, version = install_patroni(args.venv)
        pat["version"] = version.replace("patroni", "").strip()
        log("using %s (%s)" % (patroni_exe, version))
        print("Patroni settings: ttl=%d loop_wait=%d retry_timeout=%d. These are the minimums Patroni documents"
              " (ttl >= 20, loop_wait >= 1, retry_timeout >= 3, integers; smaller values are raised to them) and"
              " they keep its rule loop_wait + 2*retry_timeout <= ttl (%d + 2*%d = %d <= %d). A leader that dies"
              " keeps its key until its etcd lease (ttl) runs out, so failover is expected around ttl - loop_wait .. ttl"
              " plus promotion." % (PATRONI_TTL, PATRONI_LOOP_WAIT, PATRONI_RETRY_TIMEOUT, PATRONI_LOOP_WAIT,
                                    PATRONI_RETRY_TIMEOUT, PATRONI_LOOP_WAIT + 2 * PATRONI_RETRY_TIMEOUT,
                                    PATRONI_TTL), flush=True)
        if build_dir is None:
            build_dir = build_flotilla()
        build_dir = os.path.abspath(build_dir)
        log("Flotilla build directory: %s" % build_dir)
        top = tempfile.mkdtemp(prefix="flotilla-bench-")
        os.chmod(top, 0o755)

        log("== Patroni ==")
        try:
            run_patroni(args, top, patroni_exe, pat)
        except BenchError as e:
            pat["error"] = str(e)
            log("Patroni part failed: %s" % e)
            rc = 1
        finally:
            if pat.get("cluster") is not None:
                log("stopping the Patroni cluster")
                pat["cluster"].stop()
            sweep(os.path.join(top, "patroni"), "after the Patroni part")

        log("== Flotilla (bench/failover.py) ==")
        rc |= measure_flotilla(args, top, build_dir, flo, "Flotilla")
        if base is not None:
            log("== Flotilla baseline (bench/failover.py on %s) ==" % args.baseline_build_dir)
            btop = os.path.join(top, "b")  # short: HAProxy refuses socket paths over 97 bytes
            os.makedirs(btop, exist_ok=True)
            os.chmod(btop, 0o755)
            rc |= measure_flotilla(args, btop, os.path.abspath(args.baseline_build_dir), base, "Flotilla baseline")
        print_table(pat, flo, args, base)
    except Interrupted as e:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        log("interrupted (%s): cleaning up" % e)
        rc = 130
    except BenchError as e:
        log("bench failed: %s" % e)
        rc = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            if pat.get("cluster") is not None:
                pat["cluster"].stop()
        except Exception as e:  # noqa: BLE001
            log("stopping Patroni failed: %s" % e)
        for res, bdir in ((flo, build_dir), (base or {}, args.baseline_build_dir)):
            try:
                stop_flotilla(res, bdir)
            except Exception as e:  # noqa: BLE001
                log("stopping Flotilla failed: %s" % e)
        if top is not None:
            sweep(top, "cleanup")
            shutil.rmtree(top, ignore_errors=True)
            log("removed %s" % top)
    return rc


if __name__ == "__main__":
    sys.exit(main())
