# SPDX-License-Identifier: MIT
"""--linger (issue 13): when the job a stop condition watches ends, the agent
keeps the session a while longer, so that the user can come back and read
the results before a culler takes the kernel; then it stops with exit 0.

A real server with the short culler (6 s idle), a kept kernel and a control
kernel that nothing keeps.
"""
import subprocess
import time

import harness

JOB_S = 3       # the job's run time
LINGER_S = 8    # --linger


def test_linger_keeps_the_kernel_after_the_job_then_stops(server, agent, tmp_path):
    state = tmp_path / "state"
    kept, control = server.start_kernel(), server.start_kernel()
    env = agent.env(token=server.token, extra={"AGENT_STATE_DIR": str(state)})
    job = subprocess.Popen(["sleep", str(JOB_S)])
    t0 = time.monotonic()
    run = agent.start(["--url", server.url, "--kernel", kept, "--interval", "2s",
                       "--foreground", "--while-pid", str(job.pid),
                       "--linger", "%ds" % LINGER_S], env=env)
    lingering_status = None
    try:
        # Poll until the agent exits: the kept kernel must be alive all along.
        while True:
            agent_ran = run.running()   # sampled before the kernel, so no race
            assert server.alive(kept), \
                "kept kernel culled at %.1f s, while the agent ran" % (time.monotonic() - t0)
            if not agent_ran:
                break
            if job.poll() is not None and lingering_status is None and \
                    time.monotonic() - t0 < JOB_S + LINGER_S - 3:
                lingering_status = agent.status(env)
            assert time.monotonic() - t0 < 40, \
                "agent still running 40 s after start:\n%s" % run.describe()
            time.sleep(0.3)
        took = time.monotonic() - t0
    finally:
        if job.poll() is None:
            job.kill()
            job.wait()
    assert run.wait(5) == 0, run.describe()
    # About JOB_S + LINGER_S = 11 s; generous bounds (start-up, a loaded machine).
    assert JOB_S + LINGER_S - 1.5 <= took <= JOB_S + LINGER_S + 12, \
        "agent exited %.1f s after start, expected about %d s\n%s" % (
            took, JOB_S + LINGER_S, run.describe())

    # Nothing kept the control kernel: the culler took it long ago.
    harness.wait_for(lambda: not server.alive(control), 15, interval=0.5,
                     what="the culler to take the control kernel")

    out = run.output()
    assert "job ended: watched process %d exited; keeping the session for %ds more, until " \
        % (job.pid, LINGER_S) in out, out
    assert "watched process %d exited after lingering %ds" % (job.pid, LINGER_S) in out, out
    assert server.token not in out

    assert lingering_status is not None, "the job never ended while the agent ran"
    assert "lingering: stops in " in lingering_status, lingering_status
    assert "(watched process %d exited)" % job.pid in lingering_status, lingering_status
    assert "then linger %ds" % LINGER_S in lingering_status, lingering_status

    after = agent.status(env)
    assert "after lingering %ds" % LINGER_S in after, after


def test_linger_without_a_job_condition_is_said_to_do_nothing(server, agent):
    k = server.start_kernel()
    run = agent.run(["--url", server.url, "--kernel", k, "--foreground", "--for", "2s",
                     "--linger", "10s"], token=server.token, timeout=30)
    assert run.code == 0, run.describe()
    assert "--linger applies when --while-pid or --while-fresh ends the job" in run.stderr
    assert "--for 2s elapsed" in run.output()
