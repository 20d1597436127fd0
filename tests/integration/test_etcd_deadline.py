#!/usr/bin/python3
"""A leader and its fencing deadline, with etcd behind a gate:

  blip   etcd holds one lease renewal of the leader for its whole timeout
         (an etcd election does that), then answers again, 0.5 s before
         the leader's deadline: the leader tries again at once, renews,
         and keeps leading; no write is refused, nothing fences;
  dead   etcd stops answering in the middle of a tick, right after a
         successful renewal: every etcd request of the leader ends by its
         fencing deadline, not only the first of a tick, so the leader
         fences itself (its agent, not the fence process) before
         ttl - 0.5 s have passed since that renewal, and so before etcd
         could expire the lease.

The leader's etcd traffic goes through a gate that understands the etcd
gateway's HTTP requests. For the blip it lets a keepalive and the rest of
that tick through, then holds (never forwards, never answers) what comes
0.2 s or more after that keepalive, until the test opens it again (the
requests held stay held). For the dead etcd it lets one keepalive and the
range read after it through, then holds every later request (a black
hole), so that the same tick's writes (status, member record) hang; the
leader runs with retry_timeout = 2 s there (ttl - 1, the most its ttl
allows), so that two writes bounded only by retry_timeout would keep its
agent busy for 4 s, past the lease."""
import os
import select
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Cluster, check, log, log_lines, run_test, wait_for  # noqa: E402

TTL = 3  # the agents' lease in `flotilla local up`


class RequestGate:
    """Forwards 127.0.0.1:<port> to etcd. arm(): the next /v3/lease/keepalive
    request passes, then requests pass until a /v3/kv/range one has passed,
    and every request after it is held: never forwarded, never answered
    (on every connection, new ones too). heal() closes the held connections
    and lets everything through again. arm_blip(): the next keepalive
    passes, and so do requests for BLIP_PASS s after it; the first request
    after that, and every one until reopen(), is held. reopen() lets new
    requests through and leaves the held ones held."""

    BLIP_PASS = 0.2

    def __init__(self, url):
        host, port = url.split("://", 1)[1].rstrip("/").split(":")
        self.target = (host, int(port))
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.lock = threading.Lock()
        self.state = "open"  # open, armed, renewed (a keepalive passed), shut
        self.t_keepalive = None  # time.time() the armed keepalive was forwarded
        self.t_range = None
        self.t_held_keepalive = None  # time.time() the gate first held a keepalive (blip)
        self.held = []
        self.closing = False
        self.requests = 0
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def arm(self):
        with self.lock:
            self.state = "armed"

    def shut(self):
        with self.lock:
            return self.state == "shut"

    def arm_blip(self):
        with self.lock:
            self.state = "blip-armed"
            self.t_keepalive = self.t_held_keepalive = None

    def reopen(self):
        with self.lock:
            self.state = "open"

    def heal(self):
        with self.lock:
            self.state = "open"
            held, self.held = self.held, []
        for s in held:
            try:
                s.close()
            except OSError:
                pass

    def close(self):
        self.closing = True
        self.heal()
        try:
            self.lsock.close()
        except OSError:
            pass

    def _pass(self, path):
        """Whether a request to path goes through (the gate's state moves on)."""
        with self.lock:
            self.requests += 1
            if self.state == "shut":
                return False
            now = time.time()
            if self.state == "blip-armed" and path == "/v3/lease/keepalive":
                self.state = "blip"
                self.t_keepalive = now
            elif self.state == "blip" and now - self.t_keepalive >= self.BLIP_PASS:
                self.state = "blip-shut"
            if self.state == "blip-shut":
                if path == "/v3/lease/keepalive" and self.t_held_keepalive is None:
                    self.t_held_keepalive = now
                return False
            if self.state == "armed" and path == "/v3/lease/keepalive":
                self.state = "renewed"
                self.t_keepalive = time.time()
            elif self.state == "renewed" and path == "/v3/kv/range":
                self.state = "shut"
                self.t_range = time.time()
            return True

    def _accept(self):
        while not self.closing:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, client):
        try:
            up = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()
            return
        holding = False
        try:
            while not self.closing:
                r, _, _ = select.select([client, up], [], [], 0.2)
                if client in r:
                    data = client.recv(65536)
                    if not data:
                        break
                    if holding:
                        continue
                    out = b""
                    # Each request starts with its request line; a chunk without one continues the last.
                    parts = data.split(b"POST /v3/")
                    out = parts[0]
                    for p in parts[1:]:
                        path = "/v3/" + p.split(b" ", 1)[0].decode(errors="replace")
                        if not self._pass(path):
                            holding = True
                            with self.lock:
                                self.held.append(client)
                            break
                        out += b"POST /v3/" + p
                    if out:
                        up.sendall(out)
                if up in r:
                    data = up.recv(65536)
                    if not data:
                        break
                    if not holding:
                        client.sendall(data)
        except (OSError, ValueError):  # closed by heal()
            pass
        finally:
            for s in (client, up):
                try:
                    s.close()
                except OSError:
                    pass


def reloaded(c, name, path, offset, agent, n):
    wait_for(lambda: len(log_lines(path, offset, agent, "configuration reloaded")) >= n, 10,
             "%s to reload %d setting%s" % (name, n, "s" if n > 1 else ""))
    refused = log_lines(path, offset, agent, "reload refused")
    check(not refused, "%s refused the reload: %s" % (name, refused))


def blip(c, gate, old, path, agent):
    """One renewal held for its whole timeout, etcd back 0.5 s before the deadline: the leader keeps leading."""
    offset = os.path.getsize(path)
    gate.arm_blip()
    wait_for(lambda: gate.t_held_keepalive, 10, "a keepalive of %s held by the gate" % old, interval=0.02)
    gate.reopen()
    t_renewed, t_held = gate.t_keepalive, gate.t_held_keepalive
    refused = []
    end = t_renewed + TTL + 1.0  # past the lease's ttl from the last renewal that passed
    while time.time() < end:
        if not c.accepts_write(old):
            refused.append(time.time() - t_renewed)
        time.sleep(0.05)
    for t, line in log_lines(path, offset, agent, "lease rene"):
        log("%+.3f s after the renewal: %s" % (t - t_renewed, line))
    fenced = log_lines(path, offset, agent, "fencing")
    check(not fenced, "%s fenced itself though etcd answered again 0.5 s before its deadline: %s"
          % (old, fenced[0][1] if fenced else ""))
    check(not refused, "%s refused writes %.2f s after its last renewal" % (old, refused[0] if refused else 0))
    again = log_lines(path, offset, agent, "lease renewed again")
    check(again, "%s logged no renewal after the held one" % old)
    failed = log_lines(path, offset, agent, "lease renewal failed")
    check(len(failed) == 1, "%s logged %d failed renewals for one held attempt" % (old, len(failed)))
    check(c.healthy() == old, "%s no longer leads a healthy cluster after the blip" % old)
    log("blip: a renewal held %.2f s after the last one, until its timeout; renewed again %.2f s after the last "
        "one (deadline: %.1f s); %s kept leading and took every write"
        % (t_held - t_renewed, again[0][0] - t_renewed, TTL - 1.0, old))


def main():
    with Cluster(nodes=3) as c:
        old = c.wait_healthy(60)
        path = c.agent_log(old)
        agent = " replicator node=%s " % old
        gate = RequestGate(c.etcd_endpoint)
        c.cleanups.append(gate.close)
        offset = os.path.getsize(path)
        c.set_etcd_endpoints(old, [gate.url])
        reloaded(c, old, path, offset, agent, 1)
        n0 = gate.requests
        time.sleep(1.5)
        check(gate.requests > n0 + 5, "%s sends no etcd requests through the gate" % old)
        check(c.healthy() == old, "the cluster is not healthy with %s as leader after the reload" % old)

        blip(c, gate, old, path, agent)

        offset = os.path.getsize(path)
        c.set_setting(old, "retry_timeout", "2.0")
        reloaded(c, old, path, offset, agent, 1)
        time.sleep(1.0)
        check(c.healthy() == old, "the cluster is not healthy with %s as leader after the reload" % old)

        offset = os.path.getsize(path)
        gate.arm()
        wait_for(gate.shut, 10, "a keepalive and a range read of %s to pass the gate" % old, interval=0.05)
        t_renewed = gate.t_keepalive
        log("gate shut %.3f s after the keepalive it let through" % (gate.t_range - t_renewed))
        try:
            wait_for(lambda: log_lines(path, offset, agent, "fencing"), 15, "%s's agent to fence itself" % old)
            fence = log_lines(path, offset, agent, "fencing")[0]
            for t, line in log_lines(path, offset, agent, "failed"):
                log("%+.3f s after the renewal: %s" % (t - t_renewed, line))
            log("agent fenced %.3f s after its last renewal: %s" % (fence[0] - t_renewed, fence[1]))
            fired = [l for l in log_lines(path, offset, " fence node=%s " % old, "stopped postgres") if l[0] <= fence[0]]
            for t, line in fired:
                log("fence process %.3f s after the renewal: %s" % (t - t_renewed, line))
            check(not fired, "the fence process stopped %s's postgres before its agent fenced it" % old)
            # etcd received the keepalive after the gate forwarded it: the lease lives until t_renewed + ttl
            # at least, and the fence process would act at the renewal's send + ttl - 0.5 s.
            check(fence[0] - t_renewed < TTL - 0.5,
                  "%s's agent fenced %.3f s after its last renewal, past the fence process's deadline (ttl - 0.5 s)"
                  % (old, fence[0] - t_renewed))
            wait_for(lambda: not c.accepts_write(old), 10, "%s to stop accepting writes" % old)
        finally:
            gate.heal()
        new = wait_for(lambda: c.healthy(), 120, "a healthy cluster after the heal")
        log("after the heal: leader %s, %d streaming replicas" % (new, c.n - 1))


if __name__ == "__main__":
    run_test(main)
