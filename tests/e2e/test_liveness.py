# SPDX-License-Identifier: MIT
"""How the agent knows a kernel link is alive (issue 15: no wakeup that
proves nothing). A reply to a keepalive, a pong, or the server's own ping
proves it; the agent pings a link itself only after 1.5 x timeout without
any of them, and drops it after 2 x timeout.

jupyter_server pings every WebSocket every 30 s (ws_ping_interval); here
one server pings every 2 s and one keeps the default, and a `timeout` of 5 s
makes the agent's own ping due after 7 s. What the agent sends is read off
the wire by fake_proxy.py (a TCP relay: the test double that can show the
bytes; the real server does not say which pings it received).
"""
import json
import struct
import time

import harness
from fake_proxy import FakeProxy

OP_PING, OP_PONG = 0x9, 0xA
WATCH_S = 17        # 2.4 x the agent's 7 s ping threshold


def client_opcodes(stream):
    """Opcodes of the WebSocket frames a client sent after its handshake
    (client frames are always masked)."""
    head, sep, rest = stream.partition(b"\r\n\r\n")
    assert sep, "no handshake in %r" % stream[:200]
    ops = []
    while len(rest) >= 2:
        b0, b1 = rest[0], rest[1]
        n, off = b1 & 0x7F, 2
        if n == 126:
            n, off = struct.unpack(">H", rest[2:4])[0], 4
        elif n == 127:
            n, off = struct.unpack(">Q", rest[2:10])[0], 10
        off += 4 if b1 & 0x80 else 0
        if len(rest) < off + n:
            break
        ops.append(b0 & 0x0F)
        rest = rest[off + n:]
    return ops


def kernel_link(proxy, kernel_id):
    """The bytes the agent sent on each WebSocket to kernel_id."""
    path = ("/api/kernels/%s/channels" % kernel_id).encode()
    return [s for s in proxy.from_client if s.startswith(b"GET " + path)]


def pinging_server(tmp_path):
    srv = harness.JupyterServer(tmp_path / "pinging", cull_idle_timeout=0)
    (srv.dir / "config").mkdir(parents=True, exist_ok=True)
    (srv.dir / "config" / "jupyter_server_config.json").write_text(json.dumps(
        {"ServerApp": {"tornado_settings": {"ws_ping_interval": 2000}}}))
    return srv.start()


def config(write_config, name, url, kernel_id):
    """`timeout` is an INI key only (it is not a flag)."""
    return str(write_config("[agent]\ninterval = 60s\njitter = 0\ntimeout = 5s\n\n"
                            "[lab]\nurl = %s\nkernel = %s\n" % (url, kernel_id),
                            name="%s.ini" % name))


def test_server_pings_prove_the_link(make_server, agent, tmp_path, write_config):
    pinging = pinging_server(tmp_path)
    quiet = make_server(cull_idle_timeout=0)      # pings every 30 s: none in the window
    try:
        watched = []
        for name, srv in (("pinging", pinging), ("quiet", quiet)):
            k = srv.start_kernel()
            proxy = FakeProxy(srv.port).start()
            run = agent.start(["-c", config(write_config, name, proxy.url, k), "--foreground"],
                              token=srv.token)
            watched.append((srv, k, proxy, run))
        for _, _, _, run in watched:
            harness.wait_line(run, r"keepalive acknowledged", timeout=30, what="a first keepalive")
        time.sleep(WATCH_S)
        ops = {}
        for srv, k, proxy, run in watched:
            assert run.running(), run.describe()
            links = kernel_link(proxy, k)
            assert len(links) == 1, "%d connections to the kernel, expected 1:\n%s" % (
                len(links), run.output())
            ops[srv] = client_opcodes(links[0])
            harness.stop_clean(run)
            proxy.stop()
    finally:
        pinging.stop()

    sent = ops[pinging]
    # About 8 server pings in 17 s, each answered: they proved the link.
    assert sent.count(OP_PONG) >= 5, "server pings answered: %s" % sent
    assert sent.count(OP_PING) == 0, \
        "the agent pinged a link the server's own pings kept proving: %s" % sent
    # The control: without server pings the agent does ping (after 7 s, then
    # again 7 s after the pong), so the count above could have failed.
    sent = ops[quiet]
    assert sent.count(OP_PING) >= 1, "no ping of the agent's own on a quiet link: %s" % sent
