# SPDX-License-Identifier: MIT
"""Ping targets: a plain HTTP keepalive with extra headers, as Google's own
tools send to Colab's tunnel front end. Colab cannot run here, so a recording
HTTP double (doubles.py) stands in for the front end.

A round succeeds on 2xx; 5xx and network errors back off and retry; two 4xx
in a row (max_4xx, default 2) end the target with exit 3. Header values are
secrets and never appear in the output.
"""
import secrets
import subprocess

import pytest

from doubles import RecordingHTTPDouble
import harness

TUNNEL_PATH = "/tun/m/abc/keep-alive/"


def tunnel_config(double, interval="2s", extra=""):
    return ("[colab-tunnel]\n"
            "ping_url = %s\n"
            "header = X-Colab-Tunnel: Google\n"
            "header = Authorization: Bearer ${COLAB_TOKEN}\n"
            "interval = %s\n%s" % (double.url(TUNNEL_PATH), interval, extra))


@pytest.fixture
def tunnel():
    """The stand-in for Colab's tunnel front end (a test double)."""
    d = RecordingHTTPDouble().start()
    yield d
    d.stop()


def start_pinger(agent, write_config, double, token, flags=(), **cfg):
    path = write_config(tunnel_config(double, **cfg))
    env = agent.env(extra={"COLAB_TOKEN": token})
    return agent.start(["-c", path, "--foreground"] + list(flags), env=env)


def test_ping_target_sends_configured_headers(agent, write_config, tunnel):
    token = secrets.token_hex(16)
    run = start_pinger(agent, write_config, tunnel, token)
    try:
        run.wait(9)
        pytest.fail("agent exited early with %s" % run.code)
    except subprocess.TimeoutExpired:
        pass
    reqs = tunnel.snapshot()
    harness.stop_clean(run)
    good = [r for r in reqs
            if r.method == "GET" and r.path == TUNNEL_PATH
            and r.header("X-Colab-Tunnel") == "Google"
            and r.header("Authorization") == "Bearer " + token]
    assert len(good) >= 4, "only %d of %d requests in 9 s carried both headers: %r" % (
        len(good), len(reqs), [(r.method, r.path, r.headers) for r in reqs])
    assert token not in run.output(), "the bearer token appeared in the output"


@pytest.mark.parametrize("verbose", [False, True], ids=["default", "verbose"])
def test_two_4xx_stop_the_target_with_exit_3(agent, write_config, verbose):
    token = secrets.token_hex(16)
    with RecordingHTTPDouble(statuses=[403, 403], default=403) as front:
        run = start_pinger(agent, write_config, front, token, flags=["-v"] if verbose else [])
        code = harness.exits(run, 20, "two 403 replies were due")
        reqs = front.snapshot()
    assert code == 3, "exit %s after 403, 403 (want 3)" % code
    assert len(reqs) == 2, "want exactly 2 requests before giving up, got %r" % reqs
    out = run.output()
    for secret in (token, "Bearer " + token, "Google"):
        assert secret not in out, "header value %r appeared in the output" % secret
    assert "403" in out, "the output does not say why the target stopped:\n" + out


def test_5xx_backs_off_then_recovers(agent, write_config, tunnel):
    """503 for the first three requests, then 200. The agent keeps retrying
    (sooner than the interval, with growing gaps), does not exit, logs the
    200 when the front end recovers, and returns to its normal interval."""
    interval = 6.0
    tunnel.set_default(503)
    token = secrets.token_hex(16)
    run = start_pinger(agent, write_config, tunnel, token, interval="6s")
    reqs = tunnel.wait_count(3, 20)
    tunnel.set_default(200)
    reqs = tunnel.wait_for(lambda r: any(x.status == 200 for x in r), 20,
                           what="a request answered 200")
    assert run.running(), "agent exited with %s during the outage" % run.code
    ok = next(i for i, r in enumerate(reqs) if r.status == 200)
    assert ok >= 3 and all(r.status == 503 for r in reqs[:ok])

    # Recovery: the 200 is logged, the agent runs on.
    harness.wait_for(lambda: "HTTP 200" in run.output(), 5, what="the 200 in the log")
    assert run.running(), "agent exited with %s after recovering" % run.code

    # The next ping after the 200 (collected before judging the pacing).
    n = ok + 1
    after_reqs = tunnel.wait_count(n + 1, 3 * interval)
    after = after_reqs[n].at - after_reqs[n - 1].at
    assert run.running(), "agent exited with %s after recovering" % run.code
    harness.stop_clean(run)

    t = [r.at for r in reqs[:ok + 1]]
    gaps = [round(b - a, 2) for a, b in zip(t, t[1:])]
    problems = []
    # Retries after a failure come sooner than the interval ("after failures,
    # retry sooner, but never later than the interval", target.c), and the
    # gaps grow (backoff with equal jitter: 0.5-1 s, 1-2 s, 2-4 s, ...).
    if not all(g < interval * 0.9 for g in gaps):
        problems.append("retry gaps %r (s) after 503s are not all shorter than the %.0f s "
                        "interval: the first retry after a failure waits a whole interval"
                        % (gaps, interval))
    elif not (all(b >= a - 0.2 for a, b in zip(gaps, gaps[1:])) and gaps[-1] > gaps[0]):
        problems.append("retry gaps %r (s) do not grow" % gaps)
    # Back to the normal interval (5.4-6.6 s with 10%% jitter), not stuck at
    # the backoff pace.
    if after < interval * 0.85:
        problems.append("after recovering, the next ping came %.1f s after the 200 instead of "
                        "about %.0f s: the target still paces pings at its failure backoff"
                        % (after, interval))
    assert not problems, "\n".join(problems)
