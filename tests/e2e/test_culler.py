# SPDX-License-Identifier: MIT
"""What the agent can see of the cullers it works against (issue 10): a
culler timeout set in a kernelspec's metadata (jupyter_server >= 2.9 culls
by it) gets a warning at start-up when the interval is too long for it."""
import json
import time

import harness


def quick_spec(srv, timeout_s):
    """A python kernelspec named 'quick' whose metadata sets cull_idle_timeout."""
    d = srv.dir / "data" / "kernels" / "quick"
    d.mkdir(parents=True, exist_ok=True)
    (d / "kernel.json").write_text(json.dumps({
        "argv": [harness.PYTHON, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python (quick culler)", "language": "python",
        "metadata": {"cull_idle_timeout": timeout_s}}))


def run_for(agent, srv, k, interval, secs=4):
    run = agent.start(["--url", srv.url, "--kernel", k, "--interval", interval, "--foreground"],
                      token=srv.token)
    time.sleep(secs)
    assert run.running(), run.describe()
    harness.stop_clean(run)
    return run.output()


def test_kernelspec_culler_timeout(make_server, agent):
    srv = make_server(cull_idle_timeout=0)
    quick_spec(srv, 8)
    k = srv.start_kernel("quick")
    out = run_for(agent, srv, k, "10s")
    warned = [ln for ln in out.splitlines() if "kernelspec 'quick'" in ln]
    assert len(warned) == 1 and "WARN" in warned[0], out
    assert "cull_idle_timeout (8 s)" in warned[0] and "4s or less" in warned[0], warned[0]

    out = run_for(agent, srv, k, "3s")
    assert "kernelspec" not in out, "a comfortable interval was warned about:\n" + out
