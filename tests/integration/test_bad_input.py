#!/usr/bin/python3
"""flotilla-replicator refuses bad input: each broken configuration makes it
exit within 30 s with the catalogue's code for it (common/err_codes.def)
and a clear error on stderr naming the problem, and it leaves the data
directory untouched. A positive control first shows
that the base configuration (the layout `flotilla local up` writes) is
accepted, so that each refusal is due to the one defect introduced."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from err_codes import EXIT_BINDIR, EXIT_CONFIG, EXIT_ETCD, EXIT_SECRET, NAMES  # noqa: E402
from harness import (build_dir, check, children_of, free_port, log, pid_alive, processes_under,  # noqa: E402
                     run_test, signal_pid, wait_pids_gone, TestFailure)

BIN_DIR = "/usr/lib/postgresql/15/bin"
PG_UID = "postgres"


def chown_pg(path):
    shutil.chown(path, PG_UID, PG_UID)


def write(path, text, mode=0o644, pg=True):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    if pg:
        chown_pg(path)


def config_text(s):
    """A flotilla.conf like the one `flotilla local up` writes."""
    lines = ["# written by test_bad_input.py"]
    for k in ("scope", "name", "data_dir", "bin_dir", "state_dir", "listen", "api_listen"):
        lines.append('%s = "%s";' % (k, s[k]))
    if "ttl" in s:
        lines.append("ttl = %s;" % s["ttl"])
    lines.append("synchronous_mode = false;")
    lines.append('etcd = {\n  endpoints = [ "%s" ];\n};' % s["etcd"])
    lines.append('secrets = {\n  superuser_password_file = "%s";\n  replication_password_file = "%s";\n};'
                 % (s["su_file"], s["repl_file"]))
    lines.extend(s.get("extra", []))
    return "\n".join(lines) + "\n"


def listing(path):
    """A comparable snapshot of a directory tree (None when absent)."""
    if not os.path.exists(path):
        return None
    snap = []
    for root, dirs, files in os.walk(path):
        for n in sorted(dirs + files):
            p = os.path.join(root, n)
            st = os.lstat(p)
            snap.append((os.path.relpath(p, path), st.st_mode, st.st_size, st.st_mtime_ns))
    st = os.stat(path)
    return (st.st_mode, st.st_uid, sorted(snap))


class Etcd:
    def __init__(self, top):
        self.port = free_port()
        peer = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.dir = os.path.join(top, "etcd")
        self.logf = open(os.path.join(top, "etcd.log"), "ab")
        self.p = subprocess.Popen(
            ["etcd", "--name", "it", "--data-dir", self.dir, "--listen-client-urls", self.url,
             "--advertise-client-urls", self.url, "--listen-peer-urls", "http://127.0.0.1:%d" % peer,
             "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % peer,
             "--initial-cluster", "it=http://127.0.0.1:%d" % peer],
            stdout=self.logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as r:
                    if b"true" in r.read():
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise TestFailure("the test's own etcd did not become healthy on %s" % self.url)

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait(5)
        self.logf.close()


def run_agent(replicator, conf, timeout=30):
    """Runs the agent as postgres; returns (rc, stdout, stderr, seconds, pids
    it left). Kills it (and what it started) when it outlives timeout."""
    cmd = ["setpriv", "--reuid", PG_UID, "--regid", PG_UID, "--init-groups", "--", replicator, "--config", conf]
    t = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                         start_new_session=True, cwd="/")
    try:
        out, err = p.communicate(timeout=timeout)
        return p.returncode, out.decode(errors="replace"), err.decode(errors="replace"), time.monotonic() - t
    except subprocess.TimeoutExpired:
        kids = children_of(p.pid)
        p.kill()
        for k in kids:
            signal_pid(k, signal.SIGKILL)
        out, err = p.communicate()
        return None, out.decode(errors="replace"), err.decode(errors="replace"), time.monotonic() - t


def main():
    replicator = os.path.join(build_dir(), "flotilla-replicator")
    top = tempfile.mkdtemp(prefix="flotilla-badinput-")
    os.chmod(top, 0o755)
    etcd = None
    failures = []
    try:
        etcd = Etcd(top)
        secrets = os.path.join(top, "secrets")
        os.mkdir(secrets, 0o700)
        chown_pg(secrets)
        write(os.path.join(secrets, "su"), "su-secret-123\n", 0o600)
        write(os.path.join(secrets, "repl"), "repl-secret-456\n", 0o600)
        closed_port = free_port()  # nothing listens there

        def settings(case):
            cdir = os.path.join(top, case)
            os.mkdir(cdir, 0o755)
            chown_pg(cdir)
            run = os.path.join(cdir, "run")
            os.mkdir(run, 0o700)
            chown_pg(run)
            return {
                "scope": "badinput-" + case.replace("_", "-"), "name": "n1", "data_dir": os.path.join(cdir, "data"),
                "bin_dir": BIN_DIR, "state_dir": run, "listen": "127.0.0.1:%d" % free_port(),
                "api_listen": "127.0.0.1:%d" % free_port(), "etcd": etcd.url,
                "su_file": os.path.join(secrets, "su"), "repl_file": os.path.join(secrets, "repl"),
            }

        # Positive control: the base configuration starts (and is stopped by SIGTERM).
        s = settings("control")
        conf = os.path.join(top, "control", "flotilla.conf")
        write(conf, config_text(s))
        cmd = ["setpriv", "--reuid", PG_UID, "--regid", PG_UID, "--init-groups", "--", replicator, "--config", conf]
        ctl_log = os.path.join(top, "control", "agent.log")
        with open(ctl_log, "ab") as lf:
            p = subprocess.Popen(cmd, stdout=lf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 start_new_session=True, cwd="/")
        time.sleep(8)
        rc = p.poll()
        if rc is not None:
            with open(ctl_log, errors="replace") as f:
                failures.append("control: the valid base configuration exited %d within 8 s:\n%s" % (rc, f.read()[-3000:]))
        else:
            log("control: the agent runs with the base configuration (pid %d); SIGTERM" % p.pid)
            p.terminate()
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                failures.append("control: the agent did not stop within 30 s of SIGTERM")
                p.kill()
                p.wait(5)
        left = processes_under(os.path.join(top, "control"))
        if left:
            failures.append("control: processes left after the agent stopped: %s" % left)
            for pid, _ in left:
                signal_pid(pid, signal.SIGKILL)

        cases = []
        # (case, mutate(settings) -> config text, keywords (all must appear on one stderr line), pre-create data dir,
        #  the exit code of the catalogue)
        cases.append(("syntax", lambda s: config_text(s) + 'ttl = = 3;\nname "oops"\n', ["{conf}"], False, EXIT_CONFIG))
        cases.append(("unknown_setting", lambda s: config_text(dict(s, extra=["bogus_knob = 7;"])), ["bogus_knob"], False,
                      EXIT_CONFIG))
        cases.append(("ttl_range", lambda s: config_text(dict(s, ttl=100000)), ["ttl"], False, EXIT_CONFIG))
        cases.append(("missing_secret", lambda s: config_text(dict(s, su_file=os.path.join(secrets, "no-such-secret"))),
                      [os.path.join(secrets, "no-such-secret")], False, EXIT_SECRET))
        cases.append(("bad_bin_dir", lambda s: config_text(dict(s, bin_dir="/nonexistent/pgsql/bin")), ["/nonexistent/pgsql/bin"],
                      False, EXIT_BINDIR))
        cases.append(("etcd_unreachable", lambda s: config_text(dict(s, etcd="http://127.0.0.1:%d" % closed_port)),
                      ["127.0.0.1:%d" % closed_port], False, EXIT_ETCD))
        cases.append(("etcd_unreachable_existing_dir", lambda s: config_text(dict(s, etcd="http://127.0.0.1:%d" % closed_port)),
                      ["127.0.0.1:%d" % closed_port], True, EXIT_ETCD))
        cases.append(("missing_config", None, ["{conf}"], False, EXIT_CONFIG))
        # The state directory holds the socket that trusts local connections: ours alone.
        cases.append(("state_dir_open", lambda s: (os.chmod(s["state_dir"], 0o755), config_text(s))[1],
                      ["state_dir", "no access for others"], False, EXIT_CONFIG))
        # A secret file anyone may rewrite is refused (read-only for others is how Docker mounts secrets).
        cases.append(("secret_writable", lambda s: (write(os.path.join(secrets, "su-open"), "su-secret-123\n", 0o666),
                                                    config_text(dict(s, su_file=os.path.join(secrets, "su-open"))))[1],
                      [os.path.join(secrets, "su-open"), "writable by others"], False, EXIT_SECRET))

        for case, mutate, keywords, precreate, want_rc in cases:
            s = settings(case)
            conf = os.path.join(top, case, "flotilla.conf")
            if mutate is not None:
                write(conf, mutate(s))
            if precreate:
                os.mkdir(s["data_dir"], 0o700)
                chown_pg(s["data_dir"])
            before = listing(s["data_dir"])
            rc, out, err, secs = run_agent(replicator, conf)
            after = listing(s["data_dir"])
            kws = [k.format(conf=conf) for k in keywords]
            lines = [l for l in err.splitlines() if l.strip()]
            log("%s: exit %s after %.1f s; stderr:\n    %s" % (case, rc, secs, "\n    ".join(lines) or "(empty)"))
            problems = []
            if rc is None:
                problems.append("still running after 30 s (killed)")
            elif rc < 0:
                problems.append("died of signal %d" % -rc)
            elif rc != want_rc:
                problems.append("exited %d (%s), want %d (%s)" % (rc, NAMES.get(rc, "?"), want_rc, NAMES[want_rc]))
            if not any(all(k in l for k in kws) for l in lines):
                problems.append("no stderr line names %s" % " and ".join(repr(k) for k in kws))
            if len(lines) > 5:
                problems.append("%d lines on stderr, want one clear error (and at most a hint or two)" % len(lines))
            if any(w in err for w in ("AddressSanitizer", "runtime error", "Segmentation", "core dumped")):
                problems.append("crash report on stderr")
            if before != after:
                problems.append("the data dir %s was %s" % (s["data_dir"], "created" if before is None else "changed"))
            left = processes_under(os.path.join(top, case))
            if left:
                problems.append("left processes: %s" % left)
                for pid, _ in left:
                    signal_pid(pid, signal.SIGKILL)
            if problems:
                failures.append("%s: %s" % (case, "; ".join(problems)))
    finally:
        if etcd is not None:
            etcd.stop()
        left = processes_under(top)
        for pid, _ in left:
            signal_pid(pid, signal.SIGKILL)
        wait_pids_gone([pid for pid, _ in left], 10)
        shutil.rmtree(top, ignore_errors=True)
    check(not failures, "%d problem(s):\n  %s" % (len(failures), "\n  ".join(failures)))


if __name__ == "__main__":
    run_test(main)
