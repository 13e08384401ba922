# SPDX-License-Identifier: MIT
"""Messages that say what to do, and inputs people really type (issue 12):
the short kernel id from a log line, a URL copied from the browser, a config
file without targets, a misspelt flag."""
import json
import time

import harness


def test_short_kernel_id(server, agent):
    k = server.start_kernel()
    run = agent.run(["--url", server.url, "--kernel", k[:8], "--once"], token=server.token)
    assert run.code == 0, run.describe()
    assert "kernel %s is %s" % (k[:8], k) in run.output(), run.output()

    none = agent.run(["--url", server.url, "--kernel", "00000000", "--once"], token=server.token)
    assert none.code == 1, none.describe()
    assert "no running kernel's id starts with 00000000" in none.output()
    assert k[:8] in none.output(), "the running kernels are not listed:\n" + none.output()


def test_url_from_the_browser(server, agent):
    k = server.start_kernel()
    pasted = server.url + "lab/tree/experiments/train.ipynb?reset"
    run = agent.run(["--url", pasted, "--kernel", k, "--once"], token=server.token)
    assert run.code == 0, run.describe()
    assert "using the server's base URL %s" % server.url in run.output(), run.output()


def test_config_without_targets_is_an_error(agent, write_config):
    cfg = write_config("[agent]\ninterval = 5m\n")
    run = agent.run(["-c", cfg], timeout=20)
    assert run.code == 2, run.describe()
    assert run.output().startswith("%s:1: no target to keep" % cfg), run.output()

    cfg = write_config("[global]\ninterval = 5m\n[lab]\nurl = http://127.0.0.1:9/\n", "g.ini")
    run = agent.run(["-c", cfg], timeout=20)
    assert run.code == 2 and "did you mean [agent]?" in run.output(), run.describe()


def test_misspelt_flag(agent):
    run = agent.run(["--intervall", "5m"], timeout=20)
    assert run.code == 2 and "did you mean --interval?" in run.output(), run.describe()


def test_log_json_is_json_from_the_first_line(server, agent):
    k = server.start_kernel()
    run = agent.start(["--url", server.url, "--kernel", k, "--interval", "1s", "--foreground",
                       "--log-json"], token=server.token)
    time.sleep(3)
    harness.stop_clean(run)
    lines = [ln for ln in run.stderr.splitlines() if ln.strip()]
    assert lines and all(json.loads(ln)["msg"] for ln in lines), run.stderr
    assert "keeping kernel" in lines[0], lines[0]


def test_once_names_the_failed_target(server, agent, write_config):
    """Two targets, one of them gone: exit 1 and the failure's reason, not the
    other target's "round verified"."""
    k = server.start_kernel()
    cfg = write_config("[good]\nurl = %s\nkernel = %s\n[bad]\nurl = %s\nkernel = %s\n"
                       % (server.url, k, server.url, "0" * 8 + "-0000-0000-0000-" + "0" * 12))
    run = agent.run(["-c", cfg, "--once"], token=server.token)
    assert run.code == 1, run.describe()
    last = run.output().strip().splitlines()[-1]
    assert "stopped: bad:" in last and "verified" not in last, run.output()


def test_url_reuses_the_runtime_files_token(server, agent):
    """The advice after "several servers" is --url HOST:PORT: the token that
    discovery read from that server's runtime file is used, not lost."""
    k = server.start_kernel()
    env = agent.env()       # no JUPYTER_TOKEN
    env["JUPYTER_RUNTIME_DIR"] = str(server.runtime_dir)
    run = agent.run(["--url", server.url.replace("127.0.0.1", "localhost"), "--kernel", k,
                     "--once"], env=env)
    assert run.code == 0, run.describe()
    assert "using the token from %s" % server.runtime_dir in run.output(), run.output()
    assert server.token not in run.output()


def test_a_host_check_refusal_is_named(server, agent):
    """http://0.0.0.0:PORT/ reaches a server listening on 127.0.0.1, whose
    Host check refuses the non-local name with a 403 like a bad token's."""
    k = server.start_kernel()
    run = agent.run(["--url", server.url.replace("127.0.0.1", "0.0.0.0"), "--kernel", k,
                     "--once"], token=server.token)
    assert run.code == 3, run.describe()
    out = run.output()
    assert "Host check refused '0.0.0.0'" in out and "allow_remote_access" in out, out
    assert server.token not in out
