# SPDX-License-Identifier: MIT
"""Managed platforms' idle rules (issue 13), applied to real REST answers.

Some platforms do not use Jupyter's own cullers but an idle check of their
own that reads the server's REST API. Two of them publish theirs; each is
restated below as a small function over the JSON the server returns, in our
own words (the comments describe the published rule; no code is copied):

  - SageMaker notebook instances: the sample lifecycle script autostop.py
    (aws-samples, amazon-sagemaker-notebook-instance-lifecycle-config-samples,
    scripts/auto-stop-idle) reads GET /api/sessions. A session counts as
    active when its kernel's execution_state is not "idle", or, unless the
    script runs with --ignore-connections, when its kernel has any
    connection, or when the kernel's last_activity is more recent than the
    limit (--time). The instance is stopped when no session is active.
    Kernels without a session are not looked at.
  - Kubeflow notebooks: the notebook controller's culler reads GET
    /api/kernels of the notebook server. If any kernel's execution_state is
    not "idle" the notebook is active now; otherwise its last activity is
    the newest last_activity of its kernels, and it is culled once that is
    older than the idle time. (With no kernel at all it keeps the time it
    recorded before; not exercised here.)

Vertex AI Workbench and Colab Enterprise publish no rule, so there is
nothing to test for them.

Both rules judge a whole server (an instance, a notebook pod), so the test
runs two servers of its own, each with one notebook session: one kept by
the agent, one left alone (the control). Their kernel cullers are off: these
platforms stop the whole instance instead.
"""
import time

import harness

LIMIT_S = 8     # the platforms' idle limit, scaled down from their minutes


# ---- the published rules, restated ------------------------------------------

def sagemaker_session_active(session, now, limit_s, ignore_connections=False):
    """One session under SageMaker's autostop rule: True when it keeps the
    instance running."""
    k = session["kernel"]
    if k["execution_state"] != "idle":
        return True
    if not ignore_connections and k.get("connections", 0) > 0:
        return True
    return (now - harness.parse_time(k["last_activity"])).total_seconds() <= limit_s


def sagemaker_verdict(sessions, now, limit_s, ignore_connections=False):
    """'active' or 'idle' for a server's GET /api/sessions answer."""
    return "active" if any(sagemaker_session_active(s, now, limit_s, ignore_connections)
                           for s in sessions) else "idle"


def kubeflow_verdict(kernels, now, limit_s):
    """'active' or 'idle' for a server's GET /api/kernels answer, under the
    Kubeflow notebook culler's rule."""
    if any(k["execution_state"] != "idle" for k in kernels):
        return "active"
    if not kernels:
        return "idle"   # nothing newer than what it had recorded; here: never active
    newest = max(harness.parse_time(k["last_activity"]) for k in kernels)
    return "active" if (now - newest).total_seconds() <= limit_s else "idle"


def verdicts(srv):
    # Read what the platforms read; these GETs move the server's own
    # last_activity, never a kernel's, so reading does not change the verdict.
    sessions, kernels, now = srv.sessions(), srv.kernels(), harness.utcnow()
    seen = [(now.isoformat(), k["execution_state"], k["connections"], k["last_activity"])
            for k in (s["kernel"] for s in sessions)]
    return {
        "sagemaker": sagemaker_verdict(sessions, now, LIMIT_S),
        "sagemaker --ignore-connections": sagemaker_verdict(sessions, now, LIMIT_S,
                                                            ignore_connections=True),
        "kubeflow": kubeflow_verdict(kernels, now, LIMIT_S),
    }, sessions, seen


# ---- the test ----------------------------------------------------------------

def test_a_kept_session_is_active_under_sagemaker_and_kubeflow_rules(make_server, agent):
    kept_srv = make_server(cull_idle_timeout=0)
    control_srv = make_server(cull_idle_timeout=0)
    kept = kept_srv.create_session("train.ipynb")["kernel"]["id"]
    control = control_srv.create_session("train.ipynb")["kernel"]["id"]
    # A user runs a cell in each notebook and closes the tab. Until the
    # server has seen a young kernel's status messages, its execution_state
    # stays "starting" (jupyter_server 1.23 can miss the first ones), which
    # both rules count as activity: run cells until the server says idle.
    for srv, k in ((kept_srv, kept), (control_srv, control)):
        harness.wait_for(lambda: srv.execute(k, "x = 1") and
                         srv.kernel(k)["execution_state"] == "idle",
                         30, interval=0.5, what="kernel %s reported idle" % k)
    t0 = time.monotonic()
    run = agent.start(["--url", kept_srv.url, "--kernel", kept, "--interval", "2s",
                       "--foreground"], token=kept_srv.token)
    try:
        # Longer than the limit, with nobody using either notebook.
        while time.monotonic() - t0 < LIMIT_S + 4:
            assert run.running(), "the agent stopped:\n%s" % run.describe()
            time.sleep(0.5)
        kept_v, kept_sessions, kept_seen = verdicts(kept_srv)
        control_v, control_sessions, control_seen = verdicts(control_srv)
    finally:
        harness.stop_clean(run)

    assert kept_v == {"sagemaker": "active", "sagemaker --ignore-connections": "active",
                      "kubeflow": "active"}, (kept_v, kept_seen)
    assert control_v == {"sagemaker": "idle", "sagemaker --ignore-connections": "idle",
                         "kubeflow": "idle"}, (control_v, control_seen)

    # Why the default SageMaker rule holds: the agent's WebSocket is a
    # connection the server counts, as an open browser tab is. With
    # --ignore-connections only the keepalives' last_activity does it.
    k = kept_sessions[0]["kernel"]
    assert k["connections"] >= 1, kept_sessions
    assert control_sessions[0]["kernel"]["connections"] == 0, control_sessions
    assert (harness.utcnow() - harness.parse_time(k["last_activity"])).total_seconds() \
        < LIMIT_S, kept_sessions
