# SPDX-License-Identifier: MIT
"""TLS and proxies end to end: a real jupyter_server serving https with a
self-signed certificate (made with openssl for IP 127.0.0.1 in a temp dir),
the shared plain-http server, and connect_proxy.py, a loopback HTTP proxy
test double that records what it carries.

- by default the agent refuses it (exit 1) and says what is wrong with the
  certificate, for REST (curl) and for the kernel WebSocket (libwebsockets);
- ca_file = the certificate makes it trusted (keepalives acknowledged);
- ca_file does not switch off the host name check;
- insecure_skip_verify = true works and warns loudly, once.

Proxies: http_proxy/HTTP_PROXY, https_proxy/HTTPS_PROXY and no_proxy/NO_PROXY
are honoured for REST (curl) and for the kernel WebSocket (libwebsockets,
which the agent steers itself: lws alone reads only lowercase http_proxy and
ignores no_proxy).

The test process trusts the certificate through SSL_CERT_FILE (so the
harness's own REST calls work); the agent's environment never has it.
"""
import datetime
import os
import subprocess

import pytest

import harness
from connect_proxy import ConnectProxy

ACK = "keepalive acknowledged"


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-days", "2", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


@pytest.fixture(scope="module")
def tls_server(cert, tmp_path_factory):
    cert_pem, key_pem = cert
    old = os.environ.get("SSL_CERT_FILE")
    os.environ["SSL_CERT_FILE"] = str(cert_pem)   # for the harness's urllib calls only
    srv = harness.JupyterServer(tmp_path_factory.mktemp("tls-server"),
                                extra_args=["--ServerApp.certfile=%s" % cert_pem,
                                            "--ServerApp.keyfile=%s" % key_pem])
    srv.url = "https://127.0.0.1:%d/" % srv.port
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()
        if old is None:
            os.environ.pop("SSL_CERT_FILE", None)
        else:
            os.environ["SSL_CERT_FILE"] = old


@pytest.fixture
def tls(tls_server, request):
    """The https server; kernels left by the test are shut down afterwards."""
    request.node._e2e_servers = [tls_server]
    yield tls_server
    try:
        for k in tls_server.kernels():
            tls_server.delete_kernel(k["id"])
    except Exception:
        pass


def clean_env(agent, token=None):
    """The agent's environment: no CA override, no proxies."""
    env = agent.env(token)
    for k in list(env):
        if k in ("SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE") or k.lower().endswith("_proxy"):
            del env[k]
    return env


def config(write_config, url, token, extra="", name="agent.ini"):
    p = write_config("[lab]\nurl = %s\ntoken = %s\n%s" % (url, token, extra), name=name)
    p.chmod(0o600)
    return p


def assert_fresh(server, kernel_id, within=4):
    age = harness.utcnow() - server.activity(kernel_id)
    assert age.total_seconds() < within, "kernel idle for %s" % age


def assert_rounds(server, kernel_id, started, rounds):
    """A run at a 1 s interval without jitter kept kernel_id for `rounds`
    rounds: the server saw activity on it `rounds` - 1 s or more after the
    agent started (its first keepalive comes at once)."""
    late = started + datetime.timedelta(seconds=rounds - 1)
    seen = server.activity(kernel_id)
    assert seen >= late, "the kernel's last activity is %.1f s after the start: fewer than %d rounds" \
        % ((seen - started).total_seconds(), rounds)


@pytest.mark.parametrize("mode", ["both", "execute"])
def test_self_signed_is_refused_by_default(tls, agent, mode):
    """mode both fails on the first REST call (curl); execute with an
    explicit kernel goes straight to the WebSocket (libwebsockets)."""
    k = tls.start_kernel()
    run = agent.run(["--url", tls.url, "--kernel", k, "--mode", mode, "--once"],
                    env=clean_env(agent, tls.token), timeout=40)
    assert run.code == 1, run.describe()
    out = run.output().lower()
    # The agent's own words (agent/tls.c), from curl's REST call or from the
    # WebSocket, whichever fails first, on every library release.
    assert "certificate is self-signed" in out and "ca_file" in out, run.describe()
    assert ACK not in out
    assert tls.token not in run.output()


def test_ca_file_makes_it_trusted(tls, agent, write_config, cert):
    k = tls.start_kernel()
    cfg = config(write_config, tls.url, tls.token,
                 "ca_file = %s\nkernel = %s\n" % (cert[0], k))
    run = agent.run(["-c", cfg, "--once"], env=clean_env(agent), timeout=40)
    assert run.code == 0, run.describe()
    assert ACK in run.output(), run.describe()

    # A short run: both REST and WebSocket over TLS, several rounds.
    started = harness.utcnow()
    run = agent.run(["-c", cfg, "--interval", "1s", "--jitter", "0", "--for", "4s",
                     "--foreground", "-v"], env=clean_env(agent), timeout=40)
    assert run.code == 0, run.describe()
    assert ACK in run.output(), run.describe()
    assert_rounds(tls, k, started, 3)
    assert "insecure" not in run.output().lower()


def test_ca_file_flag(tls, agent, cert):
    """--url users trust a private CA with --ca-file (issue 12); the refusal
    without it says so."""
    k = tls.start_kernel()
    run = agent.run(["--url", tls.url, "--kernel", k, "--once"], env=clean_env(agent, tls.token),
                    timeout=40)
    assert run.code == 1 and "--ca-file FILE" in run.output(), run.describe()
    run = agent.run(["--url", tls.url, "--kernel", k, "--ca-file", str(cert[0]), "--once"],
                    env=clean_env(agent, tls.token), timeout=40)
    assert run.code == 0 and ACK in run.output(), run.describe()
    assert_fresh(tls, k)


def test_scheme_mismatch_is_named(tls, server, agent):
    """http:// to an https server and https:// to an http one: the message
    names the likely mistake (issue 12)."""
    plain_to_tls = agent.run(["--url", tls.url.replace("https://", "http://"), "--mode", "http",
                              "--once"], env=clean_env(agent, tls.token), timeout=40)
    assert plain_to_tls.code == 1 and "use https://" in plain_to_tls.output(), plain_to_tls.describe()
    tls_to_plain = agent.run(["--url", server.url.replace("http://", "https://"), "--mode", "http",
                              "--once"], env=clean_env(agent, server.token), timeout=60)
    assert tls_to_plain.code == 1 and "use http://" in tls_to_plain.output(), tls_to_plain.describe()


def test_ca_file_for_the_websocket_alone(tls, agent, write_config, cert):
    k = tls.start_kernel()
    cfg = config(write_config, tls.url, tls.token,
                 "ca_file = %s\nkernel = %s\nmode = execute\n" % (cert[0], k))
    run = agent.run(["-c", cfg, "--once"], env=clean_env(agent), timeout=40)
    assert run.code == 0, run.describe()
    assert ACK in run.output(), run.describe()


def test_ca_file_still_checks_the_host_name(tls, agent, write_config, cert):
    """The certificate is for 127.0.0.1; the same server as "localhost" must be refused."""
    k = tls.start_kernel()
    url = "https://localhost:%d/" % tls.port
    cfg = config(write_config, url, tls.token, "ca_file = %s\nkernel = %s\n" % (cert[0], k))
    run = agent.run(["-c", cfg, "--once"], env=clean_env(agent), timeout=40)
    assert run.code == 1, run.describe()
    assert ACK not in run.output()
    errors = [ln for ln in run.output().splitlines() if "localhost" in ln and "ERROR" in ln]
    assert errors, "no error naming the host:\n" + run.describe()


def test_insecure_skip_verify_works_and_warns_once(tls, agent, write_config):
    k = tls.start_kernel()
    cfg = config(write_config, tls.url, tls.token,
                 "insecure_skip_verify = true\nkernel = %s\n" % k)
    started = harness.utcnow()
    run = agent.run(["-c", cfg, "--interval", "1s", "--jitter", "0", "--for", "4s",
                     "--foreground", "-v"], env=clean_env(agent), timeout=40)
    assert run.code == 0, run.describe()
    assert ACK in run.output(), run.describe()
    assert_rounds(tls, k, started, 3)
    warnings = [ln for ln in run.output().splitlines() if "insecure_skip_verify" in ln]
    assert len(warnings) == 1, "expected one warning:\n" + run.describe()
    assert "WARN" in warnings[0] and "NOT" in warnings[0], warnings[0]


# ---------------------------------------------------------------------------
# Proxies

LWS_UA = "lws"   # libwebsockets' CONNECT carries "User-agent: lws"


def proxied(records, target):
    """(websocket, rest) requests the proxy carried to target."""
    ws = [r for r in records if r.target == target and r.method == "CONNECT"
          and r.user_agent == LWS_UA]
    rest = [r for r in records if r.target == target and r.user_agent.startswith("jupyter-keepalive")]
    return ws, rest


@pytest.mark.parametrize("var", ["HTTP_PROXY", "http_proxy"])
def test_http_proxy_carries_rest_and_websocket(server, agent, var):
    k = server.start_kernel()
    target = "127.0.0.1:%d" % server.port
    with ConnectProxy() as proxy:
        env = clean_env(agent, server.token)
        env[var] = proxy.url
        started = harness.utcnow()
        run = agent.run(["--url", server.url, "--kernel", k, "--interval", "1s", "--jitter", "0",
                         "--for", "4s", "--foreground", "-v"], env=env, timeout=40)
        records = proxy.records()
    assert run.code == 0, run.describe()
    assert ACK in run.output(), run.describe()
    assert_rounds(server, k, started, 2)
    ws, rest = proxied(records, target)
    assert ws, "the kernel WebSocket did not go through the proxy: %s" % records
    assert rest, "the REST calls did not go through the proxy: %s" % records
    # curl sends plain-http requests in absolute form (no tunnel).
    assert all(r.method in ("GET", "POST") for r in rest), rest
    assert not [r for r in records if r.refused], records


@pytest.mark.parametrize("var", ["HTTPS_PROXY", "https_proxy"])
def test_https_proxy_carries_rest_and_websocket(tls, agent, write_config, cert, var):
    k = tls.start_kernel()
    target = "127.0.0.1:%d" % tls.port
    cfg = config(write_config, tls.url, tls.token, "ca_file = %s\nkernel = %s\n" % (cert[0], k))
    with ConnectProxy() as proxy:
        env = clean_env(agent)
        env[var] = proxy.url
        started = harness.utcnow()
        run = agent.run(["-c", cfg, "--interval", "1s", "--jitter", "0", "--for", "4s",
                         "--foreground", "-v"], env=env, timeout=40)
        records = proxy.records()
    assert run.code == 0, run.describe()
    assert ACK in run.output(), run.describe()
    assert_rounds(tls, k, started, 2)
    ws, rest = proxied(records, target)
    assert ws, "the kernel WebSocket did not go through the proxy: %s" % records
    assert rest, "the REST calls did not go through the proxy: %s" % records
    assert all(r.method == "CONNECT" for r in rest), rest


UPPER = ("HTTP_PROXY", "HTTPS_PROXY")
LOWER = ("http_proxy", "https_proxy")   # lws alone would apply http_proxy to everything


@pytest.mark.parametrize("proxy_vars,no_proxy", [
    (UPPER, ("NO_PROXY", "127.0.0.1")),
    (LOWER, ("no_proxy", "other.example, 127.0.0.1")),
    (LOWER, ("NO_PROXY", "*")),
    (UPPER + LOWER, ("no_proxy", "127.0.0.0/8")),
], ids=["NO_PROXY-ip", "no_proxy-list", "NO_PROXY-star", "no_proxy-cidr"])
def test_no_proxy_goes_direct(server, agent, proxy_vars, no_proxy):
    k = server.start_kernel()
    with ConnectProxy() as proxy:
        env = clean_env(agent, server.token)
        for var in proxy_vars:
            env[var] = proxy.url
        env[no_proxy[0]] = no_proxy[1]
        run = agent.run(["--url", server.url, "--kernel", k, "--once"], env=env, timeout=40)
        records = proxy.records()
    assert run.code == 0, run.describe()
    assert ACK in run.output(), run.describe()
    assert records == [], "went through the proxy despite %s=%s: %s" % (no_proxy + (records,))
