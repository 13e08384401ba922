# SPDX-License-Identifier: MIT
"""Notifications: [agent] notify_url gets a short POST when the agent starts,
when a stop condition is met, and when a target is lost. A recording HTTP
double (doubles.py) stands in for the notification service (ntfy and the
like), and another for a ping target's endpoint.

notify_format = text (default) sends plain text; json sends
{"event", "target", "reason", "time"}. A failing notification is logged and
never stops the agent.
"""
import json
import re
import secrets
import subprocess
import threading

import pytest

import harness
from doubles import RecordingHTTPDouble, closed_port_url

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)$")


@pytest.fixture
def hook():
    """The stand-in for a notification service (a test double)."""
    d = RecordingHTTPDouble().start()
    yield d
    d.stop()


@pytest.fixture
def endpoint():
    """The stand-in for a ping target's endpoint (a test double), answering 200."""
    d = RecordingHTTPDouble().start()
    yield d
    d.stop()


def config(notify_url, fmt=None, ping_url=None, extra_agent="", name="tunnel", interval="2s"):
    text = "[agent]\nnotify_url = %s\n" % notify_url
    if fmt:
        text += "notify_format = %s\n" % fmt
    text += extra_agent
    if ping_url:
        text += "\n[%s]\nping_url = %s\ninterval = %s\n" % (name, ping_url, interval)
    return text


def wait_event(hook, event, timeout, fmt="json"):
    """Wait for a notification of `event`; return the request."""
    reqs = hook.wait_for(lambda rs: any(is_event(r, event, fmt) for r in rs), timeout,
                         what="a '%s' notification" % event)
    return next(r for r in reqs if is_event(r, event, fmt))


def is_event(req, event, fmt):
    if fmt == "json":
        try:
            return req.json().get("event") == event
        except (ValueError, AttributeError):
            return False
    return event in req.text()


def check_json_body(req, event):
    assert req.method == "POST", req
    assert (req.header("Content-Type") or "").startswith("application/json"), req.headers
    body = req.json()
    for key in ("event", "target", "reason", "time"):
        assert key in body, "JSON notification lacks %r: %r" % (key, body)
    assert body["event"] == event
    assert isinstance(body["reason"], str) and body["reason"], body
    assert isinstance(body["time"], str) and ISO.match(body["time"]), body
    return body


def check_text_body(req, event):
    assert req.method == "POST", req
    assert (req.header("Content-Type") or "").startswith("text/plain"), req.headers
    text = req.text()
    assert event in text
    with pytest.raises(ValueError):
        json.loads(text)
    return text


# ---------------------------------------------------------------------------


def test_json_started_and_for_stop_condition(agent, write_config, hook, endpoint):
    secret = secrets.token_hex(12)
    path = write_config(config(hook.url("/notify"), "json", endpoint.url("/ping"),
                               extra_agent="notify_header = X-Hook-Key: ${HOOK_KEY}\n"))
    run = agent.start(["-c", path, "--foreground", "--for", "4s"],
                      env=agent.env(extra={"HOOK_KEY": secret}))
    started = wait_event(hook, "started", 10)
    code = harness.exits(run, 15, "--for 4s expired")
    assert code == 0, "exit %s after --for 4s" % code
    stop = wait_event(hook, "stop-condition", 3)

    check_json_body(started, "started")
    b = check_json_body(stop, "stop-condition")
    assert "4" in b["reason"] or "for" in b["reason"], b
    assert started.path == "/notify"
    assert started.header("X-Hook-Key") == secret, "notify_header not sent: %r" % started.headers
    assert secret not in run.output(), "the notify_header value appeared in the output"
    assert len(endpoint.snapshot()) >= 1, "the ping target got no request"


def test_started_says_what_it_keeps(agent, write_config, hook, endpoint):
    path = write_config(config(hook.url("/notify"), "json", endpoint.url("/ping"),
                               name="colab-tunnel"))
    run = agent.start(["-c", path, "--foreground"])
    started = wait_event(hook, "started", 10)
    harness.stop_clean(run)
    b = check_json_body(started, "started")
    assert "colab-tunnel" in (b["target"] or "") + b["reason"], (
        "the 'started' notification does not say what the agent keeps "
        "(target 'colab-tunnel'): %r" % b)


def test_text_while_pid_stop_condition(agent, write_config, hook, endpoint):
    job = subprocess.Popen(["sleep", "3"])
    # Reap the job as soon as it ends, as its real parent (a shell) would.
    reaper = threading.Thread(target=job.wait, daemon=True)
    reaper.start()
    try:
        path = write_config(config(hook.url("/notify"), None, endpoint.url("/ping")))
        run = agent.start(["-c", path, "--foreground", "--while-pid", str(job.pid)])
        started = wait_event(hook, "started", 10, fmt="text")
        code = harness.exits(run, 15, "the watched process ended")
    finally:
        if job.poll() is None:
            job.kill()
        reaper.join(5)
    assert code == 0, "exit %s after the watched process ended" % code
    stop = wait_event(hook, "stop-condition", 3, fmt="text")
    check_text_body(started, "started")
    text = check_text_body(stop, "stop-condition")
    assert str(job.pid) in text or "process" in text, text


def test_json_target_lost_when_token_rejected(agent, write_config, hook, server):
    wrong = secrets.token_hex(24)
    path = write_config(config(hook.url("/notify"), "json"))
    run = agent.start(["-c", path, "--url", server.url, "--foreground", "--interval", "2s"],
                      token=wrong)
    code = harness.exits(run, 20, "the server rejected the token")
    assert code == 3, "exit %s with a wrong token (want 3)" % code
    lost = wait_event(hook, "target-lost", 3)
    b = check_json_body(lost, "target-lost")
    assert b["target"], "target-lost names no target: %r" % b
    assert "403" in b["reason"] or "reject" in b["reason"], b
    assert wrong not in lost.text(), "the token appeared in the notification"
    assert wrong not in run.output()


def test_text_target_lost_when_ping_gives_up(agent, write_config, hook):
    with RecordingHTTPDouble(statuses=[403, 403], default=403) as front:
        path = write_config(config(hook.url("/notify"), "text", front.url("/keep-alive/"),
                                   name="colab-tunnel"))
        run = agent.start(["-c", path, "--foreground"])
        code = harness.exits(run, 20, "two 403 replies")
    assert code == 3, "exit %s after the ping target gave up (want 3)" % code
    lost = wait_event(hook, "target-lost", 3, fmt="text")
    text = check_text_body(lost, "target-lost")
    assert "colab-tunnel" in text, text


def test_dead_notify_url_does_not_disturb_keepalives(agent, write_config, endpoint):
    path = write_config(config(closed_port_url("/notify"), "json", endpoint.url("/ping")))
    run = agent.start(["-c", path, "--foreground"])
    try:
        reqs = endpoint.wait_count(4, 12)
    except TimeoutError:
        pytest.fail("ping target got %d requests in 12 s with a dead notify URL (agent %s)"
                    % (len(endpoint.snapshot()), "running" if run.running() else
                       "exited %s" % run.code))
    assert run.running(), "agent exited with %s" % run.code
    assert all(r.status == 200 for r in reqs)
    harness.stop_clean(run)
    assert "notif" in run.stderr.lower(), (
        "the failing notification was not logged:\n" + run.stderr)
