# SPDX-License-Identifier: MIT
"""Config reload: SIGHUP re-reads the config file. A bad new config is
reported and the old one keeps running; targets whose settings did not
change keep their WebSocket (the server sees no new connection); a changed
target is restarted and an added one starts.

The servers log at DEBUG level, where jupyter_server writes one
"Opening websocket /api/kernels/<id>/channels" line per kernel connection.
"""
import re
import signal

import harness

def opened(server, kernel_id):
    """How many kernel WebSockets the server has opened for kernel_id."""
    text = server.log_path.read_text(errors="replace")
    return text.count("Opening websocket /api/kernels/%s/channels" % kernel_id)


def connects(run, kernel_id):
    return run.stderr.count("connected to kernel %s" % kernel_id[:8])


def keeps_kernel(server, run, kernel_id, rounds=2):
    """The agent runs on and the server sees `rounds` more keepalives move
    the kernel's last_activity (interval 1 s or 2 s)."""
    t = None
    for _ in range(rounds):
        t = server.wait_activity(kernel_id, after=t, timeout=15)
    assert run.running(), run.describe()


def hup(run, cfg, text):
    """Write the new config, send SIGHUP; returns the output offset before."""
    before = len(run.output())
    cfg.write_text(text)
    cfg.chmod(0o600)
    run.send_signal(signal.SIGHUP)
    return before


def target(name, server, kernel_id, interval="1s"):
    return ("[%s]\nurl = %s\ntoken = %s\nkernel = %s\ninterval = %s\njitter = 0\n"
            % (name, server.url, server.token, kernel_id, interval))


def test_bad_config_is_reported_and_the_old_one_keeps_running(make_server, agent, write_config):
    srv = make_server(extra_args=["--ServerApp.log_level=DEBUG"])
    k = srv.start_kernel()
    cfg = write_config(target("lab", srv, k))
    cfg.chmod(0o600)
    run = agent.start(["-c", cfg, "--foreground"], env=agent.env())
    harness.wait_line(run, r"kernel %s: keepalive acknowledged" % k[:8], what="a first keepalive")
    keeps_kernel(srv, run, k)

    # An unknown key on line 3 and a broken section header on line 4.
    before = hup(run, cfg, "[lab]\nurl = %s\nbogus = 1\n[broken\n" % srv.url)
    harness.wait_line(run, "keeping the current one", since=before, what="the reload error")
    new = run.output()[before:]
    assert re.search(r"%s:3:" % re.escape(cfg.name), new), run.describe()
    keeps_kernel(srv, run, k)

    # A config file that is gone: the same.
    before = len(run.output())
    cfg.unlink()
    run.send_signal(signal.SIGHUP)
    harness.wait_line(run, "keeping the current one", since=before, what="the second reload error")
    keeps_kernel(srv, run, k)

    assert connects(run, k) == 1, run.describe()
    assert opened(srv, k) == 1
    assert srv.kernel(k)["connections"] == 1
    assert srv.token not in run.output()
    harness.stop_clean(run)


def test_unchanged_targets_keep_their_connections(make_server, agent, write_config):
    srv = make_server(extra_args=["--ServerApp.log_level=DEBUG"])
    k1, k2 = srv.start_kernel(), srv.start_kernel()
    cfg = write_config(target("a", srv, k1))
    cfg.chmod(0o600)
    run = agent.start(["-c", cfg, "--foreground"], env=agent.env())
    harness.wait_line(run, r"kernel %s: keepalive acknowledged" % k1[:8], what="a first keepalive")
    keeps_kernel(srv, run, k1)
    assert opened(srv, k1) == 1

    # Add [b]; [a] is unchanged.
    hup(run, cfg, target("a", srv, k1) + target("b", srv, k2))
    harness.wait_line(run, re.escape("config reloaded; 2 target(s)"), what="the reload")
    harness.wait_line(run, r"kernel %s: keepalive acknowledged" % k2[:8],
                      what="a first keepalive for the added target")
    keeps_kernel(srv, run, k2)
    keeps_kernel(srv, run, k1)
    assert "[b] started by the new config" in run.stderr, run.describe()
    assert connects(run, k1) == 1, "target a reconnected:\n" + run.describe()
    assert opened(srv, k1) == 1, "the server saw a new WebSocket for kernel a"
    assert srv.kernel(k1)["connections"] == 1
    assert opened(srv, k2) == 1

    # Change [a] (its interval); [b] is unchanged.
    before = hup(run, cfg, target("a", srv, k1, interval="2s") + target("b", srv, k2))
    harness.wait_line(run, re.escape("config reloaded; 2 target(s)"), since=before,
                      what="the second reload")
    harness.wait_for(lambda: connects(run, k1) >= 2 or not run.running(), 20,
                     what="target a to reconnect")
    assert "[a] removed or changed by the new config" in run.output()[before:], run.describe()
    keeps_kernel(srv, run, k1, rounds=1)
    keeps_kernel(srv, run, k2)
    assert connects(run, k2) == 1, "unchanged target b reconnected:\n" + run.describe()
    assert opened(srv, k2) == 1, "the server saw a new WebSocket for kernel b"
    assert opened(srv, k1) == 2
    harness.wait_for(lambda: srv.kernel(k1)["connections"] == 1, 10,
                     what="one connection to kernel a")

    harness.stop_clean(run)
