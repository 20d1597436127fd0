"""
harness: the integration tier's toolbox. Everything here drives real
processes: `flotilla local up` (etcd, PostgreSQL and flotilla-replicator
agents on loopback), psycopg2 connections, signals and an in-process TCP
proxy that can black-hole etcd traffic. No mocks.

Run with Debian's /usr/bin/python3 and python3-psycopg2, as root. The build
directory comes from FLOTILLA_BUILD_DIR (set by CTest) or --build-dir.

Pieces:
  ClusterBase what a test drives a cluster through (lifecycle, node
              primitives, and queries that work on any backend)
  Cluster     = LocalCluster: `flotilla local up` / `local down --purge`
  Writer      thread inserting increasing ids, recording acknowledged ones
              (async libpq connections, a 2 s deadline, no statement_timeout)
  WriteProbe  writes to every node's own dsn every 100 ms, records successes
  PortProbe   opens sessions on one dsn in a loop, records the serving port
  TcpProxy    loopback TCP forwarder with cut() (black hole) and heal()
  runtime_api, server_states, haproxy_stats, start_haproxy
              HAProxy of `local up --haproxy` (Cluster(haproxy=True)):
              its Runtime API, its servers' states, a restart
  wait_for    polling with a clear timeout message
  run_test    entry point: runs a test function, exits non-zero on failure
"""
import abc
import base64
import datetime
import json
import os
import random
import re
import resource
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request

import psycopg2
import psycopg2.extensions

T0 = time.monotonic()


def log(msg):
    """One line on stdout with the seconds since the test started."""
    print("[%8.3f] %s" % (time.monotonic() - T0, msg), flush=True)


def build_dir():
    d = os.environ.get("FLOTILLA_BUILD_DIR")
    for i, a in enumerate(sys.argv):
        if a == "--build-dir" and i + 1 < len(sys.argv):
            d = sys.argv[i + 1]
        elif a.startswith("--build-dir="):
            d = a.split("=", 1)[1]
    if not d:
        raise SystemExit("FAIL: FLOTILLA_BUILD_DIR is not set (CTest sets it; or pass --build-dir DIR)")
    d = os.path.abspath(d)
    for prog in ("flotilla", "flotilla-replicator"):
        if not os.access(os.path.join(d, prog), os.X_OK):
            raise SystemExit("FAIL: %s/%s is missing or not executable (build first)" % (d, prog))
    return d


class TestFailure(AssertionError):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def wait_for(predicate, timeout, what, interval=0.2):
    """Calls predicate until it returns something truthy and returns that.
    Exceptions raised by the predicate count as "not yet"; the last one is
    quoted in the timeout message."""
    deadline = time.monotonic() + timeout
    last_exc = None
    last_val = None
    while True:
        try:
            last_val = predicate()
            if last_val:
                return last_val
        except Exception as e:  # noqa: BLE001 - any failure means "not yet"
            last_exc = e
        if time.monotonic() >= deadline:
            detail = ""
            if last_exc is not None:
                detail = "; last error: %s: %s" % (type(last_exc).__name__, str(last_exc).strip())
            elif last_val is not None:
                detail = "; last value: %r" % (last_val,)
            raise TestFailure("timed out after %.0f s waiting for %s%s" % (timeout, what, detail))
        time.sleep(interval)


def _deadline_handler(signum, frame):
    if signum == signal.SIGALRM:
        raise TestFailure("the test ran out of its time budget (FLOTILLA_IT_TIMEOUT=%s s)" % os.environ.get("FLOTILLA_IT_TIMEOUT", "900"))
    raise TestFailure("terminated by signal %d" % signum)


def run_test(fn):
    """Runs fn() and exits 0 on success, 1 with a FAIL line otherwise.
    The test gets FLOTILLA_IT_TIMEOUT seconds (CTest sets it below its own
    TIMEOUT), after which it fails and still tears its cluster down; SIGTERM
    and SIGINT fail it the same way."""
    name = os.path.basename(sys.argv[0])
    if os.geteuid() != 0:
        log("FAIL %s: integration tests run as root (they start daemons as postgres)" % name)
        sys.exit(1)
    signal.signal(signal.SIGALRM, _deadline_handler)
    signal.signal(signal.SIGTERM, _deadline_handler)
    signal.signal(signal.SIGINT, _deadline_handler)
    signal.alarm(int(float(os.environ.get("FLOTILLA_IT_TIMEOUT", "900"))))
    try:
        fn()
    except TestFailure as e:
        log("FAIL %s: %s" % (name, e))
        sys.exit(1)
    except BaseException as e:  # noqa: BLE001
        traceback.print_exc()
        log("FAIL %s: %s: %s" % (name, type(e).__name__, e))
        sys.exit(1)
    log("PASS %s" % name)
    sys.exit(0)


# ---------------------------------------------------------------- processes

def pid_alive(pid):
    """True when pid exists and is not a zombie."""
    if not pid:
        return False
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return False
    state = stat[stat.rindex(")") + 2:].split()[0]
    return state not in ("Z", "X")


def children_of(pid):
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            kids.append(int(d))
    return kids


def processes_under(path):
    """(pid, description) of every process whose command line or working
    directory mentions path (postgres backends chdir into their data dir)."""
    found = []
    me = os.getpid()
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        pid = int(d)
        if not pid_alive(pid):
            continue
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        try:
            cwd = os.readlink("/proc/%d/cwd" % pid)
        except OSError:
            cwd = ""
        if path in cmd or cwd.startswith(path):
            found.append((pid, "%s (cwd %s)" % (cmd, cwd)))
    return found


def signal_pid(pid, sig):
    try:
        os.kill(pid, sig)
        return True
    except ProcessLookupError:
        return False


def wait_pids_gone(pids, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(pid_alive(p) for p in pids):
            return True
        time.sleep(0.05)
    return not any(pid_alive(p) for p in pids)


def port_free(port):
    for fam, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET, "0.0.0.0")):
        s = socket.socket(fam, socket.SOCK_STREAM)
        try:
            s.bind((addr, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def ephemeral_low(default=32768):
    """The lowest port the kernel hands to outgoing connections."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return default


def pick_base_port(nodes, lo=20000, hi=40000):
    """A random base port P such that P .. P+10*(nodes+1)+9 are all free, below the kernel's ephemeral ports:
    a port free now could otherwise be taken by an outgoing connection before the cluster listens on it."""
    span = 10 * (nodes + 1) + 10
    hi = min(hi, ephemeral_low())
    if hi - span <= lo:
        lo = max(1024, hi - 10000)
    for _ in range(200):
        p = random.randrange(lo, hi - span)
        p -= p % 10
        if all(port_free(q) for q in range(p, p + span)):
            return p
    raise RuntimeError("no free port range of %d ports in %d-%d" % (span, lo, hi))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def tail(path, n=60):
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 256 * 1024))
            lines = f.read().decode(errors="replace").splitlines()
        return "\n".join(lines[-n:])
    except OSError as e:
        return "(cannot read %s: %s)" % (path, e)


# ---------------------------------------------------------------- postgres

def connect(dsn, timeout=3, **kw):
    """A plain autocommit connection whose statements cannot hang forever:
    each may take 5 s, or timeout when that is longer (a bulk load)."""
    conn = psycopg2.connect(dsn, connect_timeout=timeout,
                            options="-c statement_timeout=%d" % int(max(timeout, 5) * 1000), **kw)
    conn.autocommit = True
    return conn


def query(dsn, sql, args=None, timeout=3):
    conn = connect(dsn, timeout)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            if cur.description is None:
                return None
            return cur.fetchall()
    finally:
        conn.close()


class PollTimeout(Exception):
    pass


def _poll_until(conn, deadline):
    """Drives an async psycopg2 connection until POLL_OK or the deadline."""
    ext = psycopg2.extensions
    while True:
        state = conn.poll()
        if state == ext.POLL_OK:
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise PollTimeout("no answer before the deadline")
        fd = conn.fileno()
        if state == ext.POLL_READ:
            select.select([fd], [], [], remaining)
        elif state == ext.POLL_WRITE:
            select.select([], [fd], [], remaining)
        else:
            raise psycopg2.OperationalError("bad poll state %r" % state)


class AsyncConn:
    """An asynchronous libpq connection with a per-operation deadline.

    A commit is acknowledged only when the INSERT returns within the deadline
    and no notice mentions synchronous replication (PostgreSQL acknowledges a
    commit whose synchronous-replication wait was cancelled, with a WARNING).
    On a timeout the connection is closed, never cancelled."""

    def __init__(self, dsn, timeout=2.0, connect_timeout=3.0):
        self.dsn = dsn
        self.timeout = timeout
        self.conn = psycopg2.connect(dsn, async_=1)
        try:
            _poll_until(self.conn, time.monotonic() + connect_timeout)
        except BaseException:
            self.close()
            raise
        self.port = None

    def execute(self, sql, args=None):
        """Returns (rows or None, notices)."""
        del self.conn.notices[:]
        cur = self.conn.cursor()
        cur.execute(sql, args)
        _poll_until(self.conn, time.monotonic() + self.timeout)
        rows = cur.fetchall() if cur.description is not None else None
        notices = list(self.conn.notices)
        del self.conn.notices[:]
        return rows, notices

    def close(self):
        try:
            self.conn.close()
        except Exception:  # noqa: BLE001
            pass


def sync_rep_notice(notices):
    return any("synchronous replication" in n for n in notices)


class Writer(threading.Thread):
    """Inserts ids 1, 2, 3 ... into `table` through `dsn`, one autocommit
    INSERT each, and records the ids whose commit was acknowledged (with the
    server port that acknowledged it and the monotonic time). An id whose
    INSERT failed, timed out or carried a synchronous-replication notice is
    not acknowledged and is never retried."""

    def __init__(self, dsn, table, interval=0.01, timeout=2.0, name=None, server_sql="inet_server_port()"):
        super().__init__(name=name or "writer-" + table, daemon=True)
        # What identifies the server that acknowledged (an integer): its port, or in containers,
        # where every member listens on 5432, the number ending its name.
        self.server_sql = server_sql
        self.dsn = dsn
        self.table = table
        self.interval = interval
        self.timeout = timeout
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.acked = []        # (id, port, t)
        self.failed = 0        # errors, including connection failures
        self.uncertain = []    # ids sent whose fate is unknown (timeout, error after send, notice)
        self.attempted = 0
        self.next_id = 1
        self.errors = {}       # short error text -> count

    @staticmethod
    def create_table(dsn, table):
        query(dsn, "CREATE TABLE IF NOT EXISTS %s (id bigint PRIMARY KEY, port int, at timestamptz DEFAULT clock_timestamp())" % table, timeout=10)

    def _err(self, e):
        key = (type(e).__name__ + ": " + str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__)[:120]
        with self.lock:
            self.errors[key] = self.errors.get(key, 0) + 1
            self.failed += 1

    def run(self):
        conn = None
        while not self.stop_event.is_set():
            if conn is None:
                try:
                    conn = AsyncConn(self.dsn, timeout=self.timeout)
                except Exception as e:  # noqa: BLE001
                    self._err(e)
                    conn = None
                    self.stop_event.wait(0.1)
                    continue
            i = self.next_id
            self.next_id += 1
            with self.lock:
                self.attempted += 1
            try:
                rows, notices = conn.execute(
                    "INSERT INTO %s (id, port) VALUES (%%s, %s) RETURNING port" % (self.table, self.server_sql), (i,))
                if sync_rep_notice(notices):
                    with self.lock:
                        self.uncertain.append(i)
                        self.errors["notice: " + notices[0].strip()[:100]] = self.errors.get("notice: " + notices[0].strip()[:100], 0) + 1
                    conn.close()
                    conn = None
                else:
                    with self.lock:
                        self.acked.append((i, rows[0][0], time.monotonic()))
            except Exception as e:  # noqa: BLE001
                self._err(e)
                with self.lock:
                    self.uncertain.append(i)
                if conn is not None:
                    conn.close()
                conn = None
            self.stop_event.wait(self.interval)
        if conn is not None:
            conn.close()

    def stop(self):
        self.stop_event.set()
        self.join(30)

    def acked_ids(self):
        with self.lock:
            return [a[0] for a in self.acked]

    def acked_count(self):
        with self.lock:
            return len(self.acked)

    def acked_after(self, t):
        with self.lock:
            return [a[0] for a in self.acked if a[2] >= t]

    def first_ack_after(self, t, not_port=None):
        """(id, port, time) of the first acknowledgement at or after t (by a server other than not_port), or None."""
        with self.lock:
            for a in self.acked:
                if a[2] >= t and a[1] != not_port:
                    return a
        return None

    def summary(self):
        with self.lock:
            errs = sorted(self.errors.items(), key=lambda kv: -kv[1])[:6]
            return "%s: attempted %d, acknowledged %d, not acknowledged %d (failures %d); top errors: %s" % (
                self.table, self.attempted, len(self.acked), len(self.uncertain), self.failed,
                "; ".join("%dx %s" % (n, k) for k, n in errs) or "none")


class WriteProbe(threading.Thread):
    """Every `interval` seconds (a tick), tries one write on every node's own
    dsn in parallel, and records (tick, node, t_start, t_ack) of each write
    that was acknowledged."""

    def __init__(self, cluster, table="it_probe", interval=0.1, timeout=1.0):
        super().__init__(name="write-probe", daemon=True)
        self.cluster = cluster
        self.table = table
        self.interval = interval
        self.timeout = timeout
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.records = []  # (tick, node, t_start, t_ack)
        self.conns = {}
        self.ticks = 0

    @staticmethod
    def create_table(dsn, table="it_probe"):
        query(dsn, "CREATE TABLE IF NOT EXISTS %s (tick int, node text, at timestamptz DEFAULT clock_timestamp())" % table, timeout=10)

    def _write(self, name, tick):
        conn = self.conns.get(name)
        try:
            if conn is None:
                conn = AsyncConn(self.cluster.node(name)["dsn"], timeout=self.timeout, connect_timeout=self.timeout)
                self.conns[name] = conn
            t_start = time.monotonic()
            _, notices = conn.execute("INSERT INTO %s (tick, node) VALUES (%%s, %%s)" % self.table, (tick, name))
            t_ack = time.monotonic()
            if sync_rep_notice(notices):
                raise psycopg2.OperationalError("synchronous replication notice")
            with self.lock:
                self.records.append((tick, name, t_start, t_ack))
        except Exception:  # noqa: BLE001
            if conn is not None:
                conn.close()
            self.conns.pop(name, None)

    def run(self):
        names = self.cluster.names()
        start = time.monotonic()
        tick = 0
        while not self.stop_event.is_set():
            threads = [threading.Thread(target=self._write, args=(n, tick), daemon=True) for n in names]
            for t in threads:
                t.start()
            for t in threads:
                t.join(self.timeout + 5)
            with self.lock:
                self.ticks = tick + 1
            tick += 1
            next_t = start + tick * self.interval
            now = time.monotonic()
            if next_t < now:  # a slow tick: skip the ticks it overran
                tick = int((now - start) / self.interval) + 1
                next_t = start + tick * self.interval
            self.stop_event.wait(max(0, next_t - time.monotonic()))
        for c in self.conns.values():
            c.close()

    def stop(self):
        self.stop_event.set()
        self.join(30)

    def successes(self, name=None):
        with self.lock:
            return [r for r in self.records if name is None or r[1] == name]


class PortProbe(threading.Thread):
    """Opens sessions on dsn in a loop (a new connection each, 1 s connect
    timeout) and records (monotonic t, server port) of each one that
    answered; failures are not recorded (a port not there yet)."""

    def __init__(self, dsn):
        super().__init__(daemon=True)
        self.dsn = dsn
        self.stop_event = threading.Event()
        self.hits = []

    def run(self):
        while not self.stop_event.is_set():
            try:
                self.hits.append((time.monotonic(), query(self.dsn, "SELECT inet_server_port()", timeout=1)[0][0]))
            except Exception:  # noqa: BLE001 - HAProxy not there yet, or no server
                self.stop_event.wait(0.005)

    def stop(self):
        self.stop_event.set()
        self.join(10)


# ---------------------------------------------------------------- etcd

def etcd_get(endpoint, key, timeout=2):
    """Value of key (str) or None, through etcd's v3 JSON gateway."""
    body = json.dumps({"key": base64.b64encode(key.encode()).decode()}).encode()
    req = urllib.request.Request(endpoint.rstrip("/") + "/v3/kv/range", data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        ans = json.loads(r.read().decode())
    kvs = ans.get("kvs") or []
    if not kvs:
        return None
    return base64.b64decode(kvs[0].get("value", "")).decode()


def etcd_lease_of(endpoint, key, timeout=2):
    """The lease id (int) that key is attached to, 0 when none, None when the key does not exist."""
    body = json.dumps({"key": base64.b64encode(key.encode()).decode()}).encode()
    req = urllib.request.Request(endpoint.rstrip("/") + "/v3/kv/range", data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        kvs = json.loads(r.read().decode()).get("kvs") or []
    return int(kvs[0].get("lease", 0)) if kvs else None


def etcd_put(endpoint, key, value, timeout=2, lease=0):
    """Writes key = value (str) through etcd's v3 JSON gateway, as anyone who can reach etcd could;
    attached to lease when one is given."""
    req_body = {"key": base64.b64encode(key.encode()).decode(), "value": base64.b64encode(value.encode()).decode()}
    if lease:
        req_body["lease"] = str(lease)
    body = json.dumps(req_body).encode()
    req = urllib.request.Request(endpoint.rstrip("/") + "/v3/kv/put", data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        r.read()


class KeyWatcher(threading.Thread):
    """Samples one etcd key every `interval` seconds and records changes
    as (monotonic time, value); failed reads are recorded as "<error>"."""

    def __init__(self, endpoint, key, interval=0.1):
        super().__init__(name="keywatch", daemon=True)
        self.endpoint = endpoint
        self.key = key
        self.interval = interval
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.changes = []

    def run(self):
        last = object()
        while not self.stop_event.is_set():
            try:
                v = etcd_get(self.endpoint, self.key, timeout=1)
            except Exception:  # noqa: BLE001
                v = "<error>"
            if v != last:
                with self.lock:
                    self.changes.append((time.monotonic(), v))
                last = v
            self.stop_event.wait(self.interval)

    def stop(self):
        self.stop_event.set()
        self.join(10)

    def history(self, since=None):
        with self.lock:
            return [c for c in self.changes if since is None or c[0] >= since]

    def describe(self, t0):
        return ", ".join("%+.2fs %s" % (t - t0, v) for t, v in self.history())


# ---------------------------------------------------------------- HAProxy

# srv_admin_state bits of `show servers state` (HAProxy's SRV_ADMF_*).
ADMF_FMAINT, ADMF_IMAINT, ADMF_CMAINT, ADMF_FDRAIN, ADMF_IDRAIN, ADMF_RMAINT, ADMF_HMAINT = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40
ADMF_MAINT = ADMF_FMAINT | ADMF_IMAINT | ADMF_CMAINT | ADMF_RMAINT | ADMF_HMAINT
ADMF_DRAIN = ADMF_FDRAIN | ADMF_IDRAIN
SRV_OP_STOPPED, SRV_OP_STARTING, SRV_OP_RUNNING, SRV_OP_STOPPING = 0, 1, 2, 3


def runtime_api(cluster, cmd, timeout=2.0, path=None):
    """Sends one command line to the cluster's HAProxy Runtime API (the
    admin-level stats socket of cluster.json, or path) and returns its whole
    answer (HAProxy closes the connection after answering)."""
    path = path or cluster.info["haproxy"]["stats_socket"]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        s.sendall(cmd.rstrip("\n").encode() + b"\n")
        chunks = []
        while True:
            d = s.recv(65536)
            if not d:
                break
            chunks.append(d)
    finally:
        s.close()
    return b"".join(chunks).decode(errors="replace")


def server_states(cluster):
    """{(backend, server): (op_state, admin_state, uweight)} from `show
    servers state` (columns found by name in its header line)."""
    text = runtime_api(cluster, "show servers state")
    cols = None
    out = {}
    for line in text.splitlines():
        if line.startswith("#"):
            cols = line[1:].split()
            continue
        f = line.split()
        if cols is None or len(f) < len(cols):
            continue
        row = dict(zip(cols, f))
        out[(row["be_name"], row["srv_name"])] = (int(row["srv_op_state"]), int(row["srv_admin_state"]),
                                                  int(row["srv_uweight"]))
    if cols is None:
        raise RuntimeError("show servers state: no header in %r" % text[:200])
    return out


def settled_server_states(cluster, quiet=2.0, timeout=30):
    """server_states once it has not changed for `quiet` seconds: a replica
    that has just caught up is still ramping its weight for a moment, and a
    snapshot taken then is not a steady state to compare against."""
    deadline = time.monotonic() + timeout
    last = server_states(cluster)
    since = time.monotonic()
    while True:
        time.sleep(0.1)
        now = server_states(cluster)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return now
        if time.monotonic() > deadline:
            raise RuntimeError("HAProxy's servers did not settle in %d s; last %s" % (timeout, now))


def srv_ready(st):
    """True for a (op_state, admin_state, uweight) that takes connections:
    UP, neither in maintenance nor draining, weight above 0."""
    op, adm, w = st
    return op == SRV_OP_RUNNING and not adm & (ADMF_MAINT | ADMF_DRAIN) and w > 0


def srv_in_maint(st):
    return bool(st[1] & ADMF_MAINT)


def srv_out(st):
    """True for a server that takes no new sessions: in maintenance or draining."""
    return bool(st[1] & (ADMF_MAINT | ADMF_DRAIN))


def describe_states(states, backend=None):
    """"rw/n1 UP ready 100, rw/n2 DOWN maint 100, ..." for a log line."""
    parts = []
    for (be, srv), (op, adm, w) in sorted(states.items()):
        if backend is not None and be != backend:
            continue
        admin = "maint" if adm & ADMF_MAINT else "drain" if adm & ADMF_DRAIN else "ready"
        op_name = {SRV_OP_STOPPED: "DOWN", SRV_OP_STARTING: "STARTING", SRV_OP_RUNNING: "UP",
                   SRV_OP_STOPPING: "STOPPING"}.get(op, str(op))
        parts.append("%s/%s %s %s %d" % (be, srv, op_name, admin, w))
    return ", ".join(parts)


def haproxy_stats(cluster):
    """{(pxname, svname): {column: value}} from `show stat` (CSV)."""
    text = runtime_api(cluster, "show stat")
    lines = [l for l in text.splitlines() if l.strip()]
    if not lines or not lines[0].startswith("# "):
        raise RuntimeError("show stat: unexpected answer %r" % text[:200])
    cols = lines[0][2:].split(",")
    out = {}
    for line in lines[1:]:
        row = dict(zip(cols, line.split(",")))
        out[(row["pxname"], row["svname"])] = row
    return out


def spawn_as_postgres(cluster, cmd, log_path, cwd):
    """Starts cmd as postgres in its own session, output appended to
    log_path; the cluster's teardown stops it. Returns the Popen."""
    logf = open(log_path, "ab")
    try:
        p = subprocess.Popen(["setpriv", "--reuid", "postgres", "--regid", "postgres", "--init-groups", "--"] + cmd,
                             stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True,
                             cwd=cwd)
    finally:
        logf.close()

    def stop():
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
    cluster.cleanups.append(stop)
    return p


def start_haproxy(cluster):
    """Starts the cluster's HAProxy again as `flotilla local up` does
    (`haproxy -db -f <config>` as postgres, in its own session, output
    appended to its log). Returns its pid; teardown stops it."""
    hp = cluster.info["haproxy"]
    p = spawn_as_postgres(cluster, ["haproxy", "-db", "-f", hp["config"]], hp["log"], os.path.dirname(hp["config"]))
    log("started haproxy: pid %d (haproxy -db -f %s)" % (p.pid, hp["config"]))
    return p.pid


def valgrind_wrapper(program):
    """A script that runs the build's `program` under valgrind (full leak
    check, exit 99 on an error), for FLOTILLA_REPLICATOR or
    FLOTILLA_PROXY_AGENT."""
    d = tempfile.mkdtemp(prefix="flotilla-vg-")
    os.chmod(d, 0o755)
    path = os.path.join(d, program)
    with open(path, "w") as f:
        f.write("#!/bin/sh\nexec valgrind --leak-check=full --show-leak-kinds=definite,indirect,possible "
                "--errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99 --num-callers=30 "
                "%s \"$@\"\n" % os.path.join(build_dir(), program))
    os.chmod(path, 0o755)
    return path


def log_line_time(path, needle, offset=0):
    """(epoch seconds, line) of the first line of a Flotilla log at or after
    byte offset that contains needle, its time read from the ISO UTC
    timestamp that starts the line; None when no line has it yet."""
    with open(path, errors="replace") as f:
        f.seek(offset)
        for line in f:
            if needle in line:
                ts = line.split(" ", 1)[0]
                t = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
                return t.timestamp(), line.rstrip("\n")
    return None


def log_lines(path, offset, *needles):
    """(epoch seconds, line) of every line of a Flotilla log after byte
    offset that holds every needle, its time read from the ISO UTC
    timestamp that starts the line (lines without one are skipped)."""
    out = []
    with open(path, errors="replace") as f:
        f.seek(offset)
        for line in f:
            if all(n in line for n in needles):
                try:
                    t = datetime.datetime.strptime(line.split(" ", 1)[0], "%Y-%m-%dT%H:%M:%S.%fZ")
                except ValueError:
                    continue
                out.append((t.replace(tzinfo=datetime.timezone.utc).timestamp(), line.rstrip("\n")))
    return out


def check_writes_after_crash(c, w, new, table, first, old_port, t_kill, t_dead, label):
    """After a crash failover under Writer w (through HAProxy): no write
    acknowledged from the old leader's port after it died, 50 more writes
    through the new leader, then every acknowledged id on it, except those the
    old leader acknowledged within 0.2 s of the crash (asynchronous
    replication may lose only those). label prefixes the log lines."""
    late = [a for a in list(w.acked) if a[2] > t_dead and a[1] == old_port]
    during = [a for a in list(w.acked) if t_kill <= a[2] <= t_dead and a[1] == old_port]
    log("%sacknowledgements from the old leader's port while it was being killed: %d, after it died: %d"
        % (label, len(during), len(late)))
    check(not late, "%d writes acknowledged from the old leader's port %d after it died: %s"
          % (len(late), old_port, late[:5]))
    wait_for(lambda: len(w.acked_after(first[2])) >= 50, 30, "50 writes through HAProxy after the failover")
    w.stop()
    log(label + w.summary())
    acked = list(w.acked)
    missing, present = c.missing_on(new, table, [a[0] for a in acked])
    at = {a[0]: a for a in acked}
    window = [i for i in missing if at[i][1] == old_port and t_kill - 0.2 <= at[i][2] <= t_dead]
    log("%snew leader %s holds %d rows; %d acknowledged, %d missing (%d of them acknowledged by the old leader "
        "within 0.2 s of the crash, lost with asynchronous replication)"
        % (label, new, present, len(acked), len(missing), len(window)))
    if missing:
        log("%smissing: %s" % (label, ", ".join("id %d (port %d, %+.3f s from the kill)" % (i, at[i][1], at[i][2] - t_kill)
                                                 for i in missing[:10])))
    check(not [i for i in missing if i not in window],
          "acknowledged ids missing on %s: %s" % (new, [i for i in missing if i not in window][:20]))


# ---------------------------------------------------------------- cluster

class ClusterBase(abc.ABC):
    """What a test drives a cluster through, whatever runs it. A backend
    (LocalCluster: `flotilla local up` on loopback; a compose stack later)
    provides the lifecycle (a context manager), `info` in the shape of
    `flotilla local up`'s cluster.json (scope, etcd endpoints, nodes with
    name, pg_port, api_port, dsn), and the primitives below that act on a
    node's processes and settings; everything else here is asked of the
    cluster itself through PostgreSQL, etcd and the REST API, and works on
    any backend."""

    @abc.abstractmethod
    def __enter__(self):
        """Brings the cluster up and fills `info`."""

    @abc.abstractmethod
    def __exit__(self, etype, exc, tb):
        """Tears everything down, also after a failure."""

    @abc.abstractmethod
    def agent_log(self, name):
        """Path of the file the node's agent (and PostgreSQL) log to."""

    @abc.abstractmethod
    def read_agent_log(self, name):
        """The node's agent log as text."""

    @abc.abstractmethod
    def kill_node(self, name, tree=True):
        """Kills the node's agent and PostgreSQL as a power loss would."""

    @abc.abstractmethod
    def start_agent(self, name):
        """Starts the node's agent again (after kill_node); returns its pid."""

    @abc.abstractmethod
    def signal_agent(self, name, sig):
        """Sends sig to the node's agent."""

    @abc.abstractmethod
    def set_setting(self, name, setting, value):
        """Sets one setting of the node's agent and has it reload."""

    @abc.abstractmethod
    def set_etcd_endpoints(self, name, endpoints):
        """Points the node's agent at other etcd endpoints and has it reload."""

    def names(self):
        return [nd["name"] for nd in self.info["nodes"]]

    def node(self, name):
        for nd in self.info["nodes"]:
            if nd["name"] == name:
                return nd
        raise KeyError(name)

    def name_of_port(self, port):
        for nd in self.info["nodes"]:
            if int(nd["pg_port"]) == int(port):
                return nd["name"]
        return None

    @property
    def rw_dsn(self):
        return self.info["rw_dsn"]

    @property
    def ro_dsn(self):
        return self.info["ro_dsn"]

    @property
    def etcd_endpoint(self):
        return self.info["etcd"]["endpoints"][0]

    @property
    def scope(self):
        return self.info.get("scope", "local")

    def watch_leader_key(self):
        w = KeyWatcher(self.etcd_endpoint, "/flotilla/%s/leader" % self.scope)
        w.start()
        self.cleanups.insert(0, w.stop)
        return w

    def leader_key(self):
        """The value of /flotilla/<scope>/leader in etcd (None when absent)."""
        return etcd_get(self.etcd_endpoint, "/flotilla/%s/leader" % self.scope)

    def node_conn(self, name, timeout=3):
        return connect(self.node(name)["dsn"], timeout)

    def q(self, name, sql, args=None, timeout=3):
        return query(self.node(name)["dsn"], sql, args, timeout)

    def role(self, name):
        """'primary', 'replica' or 'down' (from pg_is_in_recovery)."""
        try:
            rows = self.q(name, "SELECT pg_is_in_recovery()", timeout=2)
        except Exception:  # noqa: BLE001
            return "down"
        return "replica" if rows[0][0] else "primary"

    def roles(self):
        return {n: self.role(n) for n in self.names()}

    def accepts_write(self, name):
        """True when the node's PostgreSQL commits a write (locally: the
        probe does not wait for synchronous replication)."""
        try:
            conn = connect(self.node(name)["dsn"], 2)
        except Exception:  # noqa: BLE001
            return False
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_is_in_recovery()")
                if cur.fetchone()[0]:
                    return False  # a standby: do not fill its log with read-only errors
                cur.execute("BEGIN")
                cur.execute("SET LOCAL synchronous_commit = local")
                cur.execute("CREATE TABLE IF NOT EXISTS it_leader_probe (at timestamptz)")
                cur.execute("INSERT INTO it_leader_probe VALUES (clock_timestamp())")
                cur.execute("COMMIT")
            return True
        except Exception:  # noqa: BLE001
            return False
        finally:
            conn.close()

    def writable_nodes(self):
        return [n for n in self.names() if self.accepts_write(n)]

    def leader(self):
        """The node whose PostgreSQL accepts a write, or None when no node or
        more than one does."""
        w = self.writable_nodes()
        if len(w) > 1:
            log("WARNING: more than one node accepted a write: %s" % w)
        return w[0] if len(w) == 1 else None

    def wal_receiver(self, name):
        """(status, sender_port, slot_name, received_tli) of the node's
        walreceiver, or None."""
        rows = self.q(name, "SELECT status, sender_port, slot_name, received_tli FROM pg_stat_wal_receiver", timeout=2)
        return tuple(rows[0]) if rows else None

    def timeline(self, leader):
        """The primary's current timeline (from its current WAL file name;
        pg_control_checkpoint() lags behind a promotion until a checkpoint)."""
        return int(self.q(leader, "SELECT pg_walfile_name(pg_current_wal_lsn())", timeout=2)[0][0][:8], 16)

    def streams_from(self, name, leader):
        """True when name is a replica streaming from leader on the leader's
        current timeline. (status alone is not enough: a replica whose WAL
        went past a timeline's fork point shows 'streaming' between retries.)"""
        wr = self.wal_receiver(name)
        if not (wr and wr[0] == "streaming" and int(wr[1]) == int(self.node(leader)["pg_port"])):
            return False
        return int(wr[3]) == self.timeline(leader)

    def replay_lsn_reached(self, name, target):
        return bool(self.q(name, "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,), timeout=2)[0][0])

    def wait_rejoined(self, name, leader, timeout=120, catch_up=30):
        """Waits until name is a replica streaming from leader on its
        timeline and has replayed the leader's WAL up to where it was once
        streaming began."""
        wait_for(lambda: self.role(name) == "replica" and self.streams_from(name, leader), timeout,
                 "%s streaming from %s on its current timeline" % (name, leader))
        target = self.q(leader, "SELECT pg_current_wal_lsn()::text", timeout=2)[0][0]
        wait_for(lambda: self.replay_lsn_reached(name, target), catch_up,
                 "%s to replay %s's WAL up to %s" % (name, leader, target))

    def healthy(self, expect=None):
        """The leader's name when one primary accepts writes and every other
        node streams from it; otherwise None."""
        ld = self.leader()
        if ld is None:
            return None
        for n in self.names():
            if n == ld:
                continue
            if self.role(n) != "replica" or not self.streams_from(n, ld):
                return None
        return ld

    def sync_names_cover_replicas(self, leader):
        """The leader's synchronous_standby_names when it names every other
        node (e.g. ANY 1 ("n2","n3")), else None."""
        ssn = self.q(leader, "SHOW synchronous_standby_names", timeout=2)[0][0]
        names = set(re.findall(r'[a-z0-9_-]+', re.sub(r'(?i)^\s*(ANY|FIRST)\s+\d+', "", ssn)))
        others = set(self.names()) - {leader}
        return ssn if others <= names else None

    def wait_sync_names(self, leader, timeout=15):
        t = time.monotonic()
        ssn = wait_for(lambda: self.sync_names_cover_replicas(leader), timeout,
                       "synchronous_standby_names on %s to name every replica" % leader)
        log("%s: synchronous_standby_names = %r (waited %.1f s)" % (leader, ssn, time.monotonic() - t))
        return ssn

    def wait_healthy(self, timeout=90):
        return wait_for(self.healthy, timeout, "one leader and %d streaming replicas" % (self.n - 1))

    # -- faults

    def missing_on(self, name, table, ids):
        """ids (acknowledged) that the node's table does not hold."""
        rows = self.q(name, "SELECT id FROM %s" % table, timeout=10)
        present = {r[0] for r in rows}
        return sorted(set(ids) - present), len(present)


class LocalCluster(ClusterBase):
    """`flotilla local up` into a fresh temporary directory on a random free
    port range; `local down --purge` on exit. On an exception inside the
    with-block (or a failed up) the tail of every agent.log and etcd.log is
    printed. Set FLOTILLA_IT_KEEP=1 to keep the directory."""

    def __init__(self, nodes=3, sync=False, timeout=180, extra_args=(), haproxy=False, backup=False):
        self.build = build_dir()
        self.backup = backup
        self.repo = None
        self.flotilla = os.path.join(self.build, "flotilla")
        self.replicator = os.path.join(self.build, "flotilla-replicator")
        self.n = nodes
        self.sync = sync
        self.timeout = timeout
        self.extra_args = list(extra_args)
        self.haproxy = haproxy
        self.top = None
        self.dir = None
        self.info = None
        self.agent_pids = {}
        self.own_agents = {}  # name -> Popen of agents this harness started
        self.cleanups = []    # callables run after local down

    # -- lifecycle

    def __enter__(self):
        self.top = tempfile.mkdtemp(prefix="flotilla-it-")
        os.chmod(self.top, 0o755)  # the daemons run as postgres
        self.dir = os.path.join(self.top, "cluster")
        self.base_port = pick_base_port(self.n)
        args = [self.flotilla, "local", "up", "--nodes", str(self.n), "--dir", self.dir,
                "--base-port", str(self.base_port), "--timeout", str(self.timeout)]
        if self.sync:
            args.append("--sync")
        if self.haproxy:
            args.append("--haproxy")
        if self.backup:
            # True: TOP/repo; a path: that directory (a test's own filesystem).
            self.repo = self.backup if isinstance(self.backup, str) else os.path.join(self.top, "repo")
            args += ["--backup", self.repo]
        args += self.extra_args
        log("$ " + " ".join(args))
        t = time.monotonic()
        try:
            r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               timeout=self.timeout + 60)
            out = r.stdout.decode(errors="replace")
        except subprocess.TimeoutExpired as e:
            out = (e.stdout or b"").decode(errors="replace")
            self._dump_logs("local up did not return")
            self._teardown()
            raise TestFailure("`flotilla local up` did not return within %d s; output:\n%s" % (self.timeout + 60, out))
        if r.returncode != 0:
            self._dump_logs("local up failed")
            self._teardown()
            raise TestFailure("`flotilla local up` exited %d after %.1f s; output:\n%s" % (r.returncode, time.monotonic() - t, out))
        took = time.monotonic() - t
        log("local up: ready in %.1f s" % took)
        if took > 30:
            self._dump_logs("local up took %.1f s, ten times its usual" % took)
        try:
            with open(os.path.join(self.dir, "cluster.json")) as f:
                self.info = json.load(f)
            for nd in self.info["nodes"]:
                self.agent_pids[nd["name"]] = nd["agent_pid"]
        except Exception as e:
            self._dump_logs("cluster.json unreadable")
            self._teardown()
            raise TestFailure("cannot read %s/cluster.json: %s" % (self.dir, e))
        return self

    def __exit__(self, etype, exc, tb):
        if etype is not None:
            log("test failed (%s: %s); logs follow" % (etype.__name__, exc))
            self._dump_logs("failure")
        self._teardown()
        return False

    def _stop_own_agents(self):
        for name, p in list(self.own_agents.items()):
            if p.poll() is None:
                pm = self.postmaster_pid(name)
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    log("agent %s (pid %d) ignored SIGTERM for 30 s; killing it" % (name, p.pid))
                    p.kill()
                    p.wait(5)
                    if pm:
                        signal_pid(pm, signal.SIGKILL)
            self.agent_pids[name] = None

    def _teardown(self):
        if self.dir is None:
            return
        try:
            self._stop_own_agents()
        except Exception as e:  # noqa: BLE001
            log("stopping agents failed: %s" % e)
        keep = os.environ.get("FLOTILLA_IT_KEEP") == "1"
        args = [self.flotilla, "local", "down", "--dir", self.dir] + ([] if keep else ["--purge"])
        if os.path.exists(self.dir):
            try:
                r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
                if r.returncode != 0:
                    log("`%s` exited %d:\n%s" % (" ".join(args), r.returncode, r.stdout.decode(errors="replace")))
            except subprocess.TimeoutExpired:
                log("`%s` did not return within 120 s" % " ".join(args))
        for fn in self.cleanups:
            try:
                fn()
            except Exception as e:  # noqa: BLE001
                log("cleanup failed: %s" % e)
        # Nothing of this cluster may survive the test: kill leftovers by pid.
        left = processes_under(self.top)
        if left:
            log("processes left after local down (killing them): " + "; ".join("%d %s" % p for p in left))
            for pid, _ in left:
                signal_pid(pid, signal.SIGKILL)
            wait_pids_gone([p for p, _ in left], 10)
        if not keep:
            shutil.rmtree(self.top, ignore_errors=True)
        else:
            log("kept %s" % self.top)
        self.dir = None

    def _dump_logs(self, why):
        if not self.dir or not os.path.isdir(self.dir):
            return
        logs = []
        for root, dirs, files in os.walk(self.dir):
            dirs[:] = [d for d in dirs if d not in ("data", "pg_wal", "base", "global")]
            for f in sorted(files):
                if f in ("agent.log", "etcd.log") or (f.endswith(".log") and "data" not in root):
                    logs.append(os.path.join(root, f))
        print("=" * 30 + " logs (%s) " % why + "=" * 30, flush=True)
        for p in sorted(logs):
            if os.path.basename(p) == "agent.log":
                # PostgreSQL's own lines share the file: show the agent's events apart.
                try:
                    with open(p, errors="replace") as f:
                        events = [l.rstrip("\n") for l in f if " replicator " in l]
                except OSError:
                    events = []
                print("----- agent events in %s (last 60 of %d) -----" % (p, len(events)))
                print("\n".join(events[-60:]), flush=True)
            print("----- tail of %s -----" % p)
            print(tail(p, 60), flush=True)
        print("=" * 72, flush=True)

    # -- facts

    def backup_info(self):
        """cluster.json's "backup": pid, repo, config, api_port, log, token_file."""
        with open(os.path.join(self.dir, "cluster.json")) as f:
            return json.load(f)["backup"]

    def backup_api(self, method, path, timeout=10):
        """One call of the backup sidecar's API with its token: (status, body)."""
        b = self.backup_info()
        with open(b["token_file"]) as f:
            token = f.read().strip()
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (b["api_port"], path), method=method,
                                     headers={"Authorization": "Bearer " + token}, data=b"" if method == "POST" else None)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def start_backup_sidecar(self):
        """Starts the backup sidecar again (after a kill) as postgres, with the same settings and log, and records
        its pid in cluster.json so that `local down` stops it."""
        b = self.backup_info()
        log_f = open(b["log"], "ab")
        p = subprocess.Popen(["runuser", "-u", "postgres", "--", os.path.join(self.build, "flotilla-backup"),
                              "--config", b["config"]], stdout=log_f, stderr=log_f, cwd=os.path.dirname(b["config"]),
                             start_new_session=True)
        log_f.close()
        pid = wait_for(lambda: [pp for pp in children_of(p.pid) if pid_alive(pp)] or None, 10,
                       "the sidecar under runuser")[0]
        path = os.path.join(self.dir, "cluster.json")
        with open(path) as f:
            info = json.load(f)
        info["backup"]["pid"] = pid
        with open(path, "w") as f:
            json.dump(info, f, indent=2)
        wait_for(lambda: self.backup_api("GET", "/health")[0] == 200, 30, "the restarted sidecar's /health")
        return pid

    def agent_log(self, name):
        nd = self.node(name)
        return nd.get("log") or os.path.join(self.dir, name, "agent.log")

    def read_agent_log(self, name):
        try:
            with open(self.agent_log(name), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def config_path(self, name):
        return self.node(name).get("config") or os.path.join(self.dir, name, "flotilla.conf")

    def postmaster_pid(self, name):
        try:
            with open(os.path.join(self.node(name)["data_dir"], "postmaster.pid")) as f:
                pid = int(f.readline().strip())
        except (OSError, ValueError):
            return None
        return pid if pid_alive(pid) else None

    def agent_pid(self, name):
        return self.agent_pids.get(name)

    # -- connections and roles

    def kill_node(self, name, tree=True):
        """SIGKILL the node's agent and postmaster (and, with tree, the
        postmaster's children), like a machine that lost power."""
        agent = self.agent_pid(name)
        pm = self.postmaster_pid(name)
        kids = children_of(pm) if (pm and tree) else []
        log("kill -9 %s: agent %s, postmaster %s, %d backends" % (name, agent, pm, len(kids)))
        pids = [p for p in [agent, pm] + kids if p]
        for p in pids:
            signal_pid(p, signal.SIGKILL)
        if name in self.own_agents:
            self.own_agents[name].wait(10)
            del self.own_agents[name]
        self.agent_pids[name] = None
        check(wait_pids_gone(pids, 15), "processes of %s survived SIGKILL: %s" % (name, [p for p in pids if pid_alive(p)]))

    def start_agent(self, name, nofile=None, env=None):
        """Starts the node's agent as postgres, in its own session, with
        stdout and stderr appended to its agent.log; with nofile, its file
        descriptor limit (soft and hard) set to that; env adds variables."""
        cmd = ["setpriv", "--reuid", "postgres", "--regid", "postgres", "--init-groups", "--",
               self.replicator, "--config", self.config_path(name)]
        logf = open(self.agent_log(name), "ab")
        try:
            limit = (lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))) if nofile else None
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                 start_new_session=True, cwd=os.path.dirname(self.config_path(name)),
                                 preexec_fn=limit, env=dict(os.environ, **(env or {})))
        finally:
            logf.close()
        self.own_agents[name] = p
        self.agent_pids[name] = p.pid
        log("started agent %s: pid %d" % (name, p.pid))
        return p.pid

    def signal_agent(self, name, sig):
        pid = self.agent_pid(name)
        check(pid and pid_alive(pid), "agent of %s is not running" % name)
        os.kill(pid, sig)

    def set_setting(self, name, setting, value):
        """Sets one top-level setting (`setting = value;`, value as libconfig
        text) in the node's flotilla.conf, replacing it if present, and sends
        SIGHUP to its agent."""
        path = self.config_path(name)
        with open(path) as f:
            text = f.read()
        line = "%s = %s;" % (setting, value)
        text2, n = re.subn(r"(?m)^%s\s*=.*$" % re.escape(setting), line, text)
        if n == 0:
            text2 = text.rstrip("\n") + "\n" + line + "\n"
        self._replace_config(path, text2)
        self.signal_agent(name, signal.SIGHUP)
        log("%s: %s (SIGHUP sent)" % (name, line))

    def _replace_config(self, path, text):
        tmp = path + ".it-tmp"
        with open(tmp, "w") as f:
            f.write(text)
        st = os.stat(path)
        os.chmod(tmp, st.st_mode & 0o7777)
        os.chown(tmp, st.st_uid, st.st_gid)
        os.rename(tmp, path)

    def set_etcd_endpoints(self, name, endpoints):
        """Rewrites `endpoints = [...]` in the node's flotilla.conf and sends
        SIGHUP to its agent."""
        path = self.config_path(name)
        with open(path) as f:
            text = f.read()
        new = ", ".join('"%s"' % e for e in endpoints)
        text2, n = re.subn(r'endpoints\s*=\s*(\[[^\]]*\]|\([^)]*\)|"[^"]*")', "endpoints = [%s]" % new, text)
        check(n == 1, "cannot find exactly one `endpoints = [...]` in %s:\n%s" % (path, text))
        self._replace_config(path, text2)
        self.signal_agent(name, signal.SIGHUP)
        log("%s: etcd endpoints -> %s (SIGHUP sent)" % (name, new))


# The backend the tests use: a local cluster.
Cluster = LocalCluster


# ---------------------------------------------------------------- TCP proxy

class _Pipe:
    def __init__(self, client):
        self.client = client
        self.upstream = None
        self.closed = False


class TcpProxy:
    """Forwards connections from 127.0.0.1:<port> to a target host:port.

    cut() black-holes: established connections stop forwarding in both
    directions (they stay open, nothing passes, data already read is held)
    and new connections are accepted but not forwarded. heal() resumes
    every connection, including those accepted while cut."""

    def __init__(self, target_host, target_port, port=None):
        self.target = (target_host, int(target_port))
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", port or 0))
        self.lsock.listen(128)
        self.port = self.lsock.getsockname()[1]
        self.flowing = threading.Event()
        self.flowing.set()
        self.move_lock = threading.Lock()
        self.closing = threading.Event()
        self.lock = threading.Lock()
        self.pipes = []
        self.accepted = 0
        self.bytes = 0
        self.thread = threading.Thread(target=self._accept_loop, name="tcpproxy-%d" % self.port, daemon=True)
        self.thread.start()

    @classmethod
    def for_url(cls, url):
        m = re.match(r"^\w+://([^:/]+):(\d+)", url)
        if not m:
            raise ValueError("not a host:port URL: " + url)
        return cls(m.group(1), int(m.group(2)))

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()
        return False

    def cut(self):
        with self.move_lock:
            self.flowing.clear()
        log("proxy :%d -> %s:%d CUT" % (self.port, self.target[0], self.target[1]))

    def heal(self):
        self.flowing.set()
        log("proxy :%d -> %s:%d HEALED" % (self.port, self.target[0], self.target[1]))

    def close(self):
        self.closing.set()
        self.flowing.set()
        try:
            self.lsock.close()
        except OSError:
            pass
        with self.lock:
            pipes = list(self.pipes)
        for p in pipes:
            self._close_pipe(p)

    def stats(self):
        with self.lock:
            return {"accepted": self.accepted, "bytes": self.bytes,
                    "open": sum(1 for p in self.pipes if not p.closed)}

    def _accept_loop(self):
        while not self.closing.is_set():
            try:
                r, _, _ = select.select([self.lsock], [], [], 0.2)
            except (OSError, ValueError):
                return
            if not r:
                continue
            try:
                c, _ = self.lsock.accept()
            except OSError:
                continue
            pipe = _Pipe(c)
            with self.lock:
                self.accepted += 1
                self.pipes.append(pipe)
            threading.Thread(target=self._serve, args=(pipe,), daemon=True).start()

    def _serve(self, pipe):
        # A connection accepted while cut is held, never forwarded, until heal.
        while not self.flowing.wait(0.2):
            if self.closing.is_set():
                break
        if self.closing.is_set():
            self._close_pipe(pipe)
            return
        try:
            pipe.upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            self._close_pipe(pipe)
            return
        pipe.upstream.setblocking(False)
        pipe.client.setblocking(False)
        t = threading.Thread(target=self._pump, args=(pipe, pipe.upstream, pipe.client), daemon=True)
        t.start()
        self._pump(pipe, pipe.client, pipe.upstream)
        t.join()
        self._close_pipe(pipe)

    def _pump(self, pipe, src, dst):
        pending = b""
        src_eof = False
        while not pipe.closed and not self.closing.is_set():
            if not self.flowing.is_set():
                self.flowing.wait(0.2)
                continue
            if src_eof and not pending:
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            rl = [] if (pending or src_eof) else [src]
            wl = [dst] if pending else []
            try:
                r, w, _ = select.select(rl, wl, [], 0.2)
            except (OSError, ValueError):
                break
            with self.move_lock:  # cut() takes it: nothing moves once cut() returned
                if not self.flowing.is_set():
                    continue  # cut meanwhile: move nothing
                if r:
                    try:
                        data = src.recv(65536)
                    except (BlockingIOError, InterruptedError):
                        data = None
                    except OSError:
                        break
                    if data is None:
                        pass
                    elif not data:
                        src_eof = True
                    else:
                        pending += data
                if w and pending:
                    try:
                        n = dst.send(pending)
                    except (BlockingIOError, InterruptedError):
                        n = 0
                    except OSError:
                        break
                    pending = pending[n:]
                    with self.lock:
                        self.bytes += n
        self._close_pipe(pipe)

    def _close_pipe(self, pipe):
        if pipe.closed:
            return
        pipe.closed = True
        for s in (pipe.client, pipe.upstream):
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass
        with self.lock:
            if pipe in self.pipes:
                self.pipes.remove(pipe)
