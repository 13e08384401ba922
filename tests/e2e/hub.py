# SPDX-License-Identifier: MIT
"""Harness for the JupyterHub end-to-end tests: a real JupyterHub 3.0 (Debian's
`jupyterhub` package) with configurable-http-proxy on free loopback ports,
DummyAuthenticator and SimpleLocalProcessSpawner, and fast activity reporting
(the hub polls the proxy every 5 s, single-user servers post every 5 s).

A service token with admin scopes creates users, starts and stops their
servers and makes user tokens, the way an admin script would.

Everything lives in one temp dir: config, sqlite db, cookie secret, users'
homes (and so the single-user servers' runtime dirs). Cleanup is by pid: the
hub and proxy run in sessions of their own, and every single-user server,
kernel and in-notebook agent carries E2E_HUB_MARK=<dir> in its environment.

Standard library only, plus tests/e2e/harness.py.
"""
import json
import os
import secrets
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import harness

PYTHON = harness.PYTHON
NODE_PATH = "/usr/share/nodejs"
MIN_VERSION = (2, 0)    # roles and scopes (load_roles, SERVICE_SCOPES below)


def missing():
    """Why this machine cannot run a hub for the tests, or None. Debian 11
    packages no JupyterHub; the matrix prints this as the skip reason."""
    try:
        out = subprocess.run([PYTHON, "-c", "import jupyterhub; print(jupyterhub.__version__)"],
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "cannot ask %s for JupyterHub's version: %s" % (PYTHON, e)
    if out.returncode != 0:
        return "JupyterHub is not installed for %s (Debian package jupyterhub)" % PYTHON
    version = out.stdout.strip()
    parts = tuple(int(x) for x in version.split(".")[:2] if x.isdigit())
    if parts < MIN_VERSION:
        return "JupyterHub %s is older than %d.%d (no roles or scopes)" % ((version,) + MIN_VERSION)
    if not shutil.which("configurable-http-proxy"):
        return "configurable-http-proxy is not installed (Debian package node-configurable-http-proxy)"
    return None

# What the admin service may do: create users and tokens, start and stop
# servers, and read every user's activity (as jupyterhub-idle-culler does).
SERVICE_SCOPES = ["admin:users", "admin:servers", "tokens", "read:users:activity",
                  "read:users", "read:servers", "list:users"]

CONFIG = """\
import os
c = get_config()  # noqa
c.JupyterHub.ip = '127.0.0.1'
c.JupyterHub.port = {port}
c.JupyterHub.hub_ip = '127.0.0.1'
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:{proxy_api_port}'
c.ConfigurableHTTPProxy.pid_file = {proxy_pid!r}
c.JupyterHub.db_url = 'sqlite:///' + {db!r}
c.JupyterHub.cookie_secret_file = {cookie!r}
c.JupyterHub.pid_file = {hub_pid!r}
c.JupyterHub.authenticator_class = 'dummy'
c.JupyterHub.spawner_class = 'simple'
c.JupyterHub.last_activity_interval = {last_activity_interval}
c.JupyterHub.services = [{{'name': 'e2e-admin', 'api_token': {service_token!r}}}]
c.JupyterHub.load_roles = [{{'name': 'e2e-admin', 'scopes': {scopes!r},
                            'services': ['e2e-admin']}}]
c.Spawner.ip = '127.0.0.1'
c.Spawner.cmd = [{python!r}, '-m', 'jupyterhub.singleuser']
c.Spawner.args = {args!r}
c.Spawner.notebook_dir = {homes!r} + '/{{username}}'
c.Spawner.default_url = '/tree'
c.Spawner.start_timeout = 60
c.Spawner.http_timeout = 60
c.Spawner.environment = {environment!r}
c.SimpleLocalProcessSpawner.home_dir_template = {homes!r} + '/{{username}}'
"""


class HubError(RuntimeError):
    pass


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None


def http(method, url, body=None, token=None, timeout=15):
    """One request, never following redirects. Returns (status, parsed JSON
    or text, headers)."""
    data, headers = None, {}
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = "token " + token
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(req, timeout=timeout) as r:
            status, raw, hdrs = r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        status, raw, hdrs = e.code, e.read(), e.headers
    text = raw.decode(errors="replace")
    try:
        return status, (json.loads(text) if text else None), hdrs
    except ValueError:
        return status, text, hdrs


def _pids_with_mark(mark):
    """Pids of processes whose environment or command line holds mark."""
    out, me = [], os.getpid()
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        for f in ("environ", "cmdline"):
            try:
                with open("/proc/%s/%s" % (d, f), "rb") as fh:
                    if mark.encode() in fh.read():
                        out.append(int(d))
                        break
            except OSError:
                pass
    return out


class Hub:
    """A throwaway JupyterHub. start() / stop(), or use as a context manager."""

    def __init__(self, base_dir, last_activity_interval=5, activity_interval=5):
        self.dir = Path(base_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = harness.free_port()
        self.hub_port = harness.free_port()
        self.proxy_api_port = harness.free_port()
        self.url = "http://127.0.0.1:%d/" % self.port
        self.api_url = self.url + "hub/api"
        self.service_token = secrets.token_hex(24)
        self.homes = self.dir / "home"
        self.log_path = self.dir / "hub.log"
        self.last_activity_interval = last_activity_interval
        self.activity_interval = activity_interval
        self.mark = str(self.dir.resolve())
        self.proc = None
        self._log = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _write_config(self):
        self.homes.mkdir(exist_ok=True)
        env = {
            "JUPYTERHUB_ACTIVITY_INTERVAL": str(self.activity_interval),
            "E2E_HUB_MARK": self.mark,
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",
            "JUPYTER_PLATFORM_DIRS": "0",
        }
        text = CONFIG.format(
            port=self.port, hub_port=self.hub_port, proxy_api_port=self.proxy_api_port,
            proxy_pid=str(self.dir / "proxy.pid"), db=str(self.dir / "jupyterhub.sqlite"),
            cookie=str(self.dir / "cookie_secret"), hub_pid=str(self.dir / "hub.pid"),
            last_activity_interval=self.last_activity_interval,
            service_token=self.service_token, scopes=SERVICE_SCOPES, python=PYTHON,
            args=["--allow-root"] if os.geteuid() == 0 else [],
            homes=str(self.homes), environment=env)
        path = self.dir / "jupyterhub_config.py"
        path.write_text(text)
        return path

    def start(self, timeout=60):
        cfg = self._write_config()
        (self.dir / "cookie_secret").write_bytes(secrets.token_hex(32).encode())
        os.chmod(self.dir / "cookie_secret", 0o600)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("JUPYTER", "JPY_", "CONFIGPROXY_"))}
        env.update(NODE_PATH=NODE_PATH, CONFIGPROXY_AUTH_TOKEN=secrets.token_hex(24),
                   E2E_HUB_MARK=self.mark, HOME=str(self.dir))
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([PYTHON, "-m", "jupyterhub", "-f", str(cfg)],
                                     stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, env=env, cwd=str(self.dir),
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                log = self.log_tail()
                self.stop()
                raise HubError("jupyterhub exited with %s:\n%s" % (self.proc.returncode, log))
            try:
                st, _ = self.api("GET", "/")
                if st == 200:
                    return self
            except OSError:
                pass
            if time.monotonic() >= deadline:
                log = self.log_tail()
                self.stop()
                raise HubError("jupyterhub did not answer in %d s:\n%s" % (timeout, log))
            time.sleep(0.3)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            # SIGTERM: the hub stops the users' servers and the proxy itself.
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                pass
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        # The proxy, single-user servers, kernels and in-notebook agents, by id.
        pidfile = self.dir / "proxy.pid"
        pids = _pids_with_mark(self.mark)
        try:
            pids.append(int(pidfile.read_text().strip()))
        except (OSError, ValueError):
            pass
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self._log:
            self._log.close()
            self._log = None

    def log_tail(self, n=60):
        return harness.tail(self.log_path, n)

    # -- hub REST API as the admin service ---------------------------------

    def api(self, method, path, body=None, token=None, timeout=15):
        """A hub API call (path relative to /hub/api). Returns (status, body)."""
        st, v, _ = http(method, self.api_url + path, body,
                        token if token is not None else self.service_token, timeout)
        return st, v

    def _ok(self, method, path, body=None, want=(200,)):
        st, v = self.api(method, path, body)
        if st not in want:
            raise HubError("%s %s -> %s %r" % (method, path, st, v))
        return v

    def create_user(self, name):
        st, v = self.api("POST", "/users/" + name)
        if st not in (201, 409):
            raise HubError("create user %s -> %s %r" % (name, st, v))

    def user(self, name):
        return self._ok("GET", "/users/" + name)

    def server_model(self, name, server=""):
        """The hub's model of the user's server, or None when not running."""
        return (self.user(name).get("servers") or {}).get(server)

    def server_activity(self, name, server=""):
        """What jupyterhub-idle-culler reads: the server's last_activity."""
        m = self.server_model(name, server)
        if not m or not m.get("last_activity"):
            return None
        return harness.parse_time(m["last_activity"])

    def start_server(self, name, timeout=60):
        st, v = self.api("POST", "/users/%s/server" % name)
        if st not in (201, 202, 400):	# 400: already running
            raise HubError("start server %s -> %s %r" % (name, st, v))
        harness.wait_for(lambda: (self.server_model(name) or {}).get("ready"), timeout,
                         interval=0.5, what="%s's server to be ready" % name)

    def stop_server(self, name, timeout=30):
        st, v = self.api("DELETE", "/users/%s/server" % name)
        if st not in (202, 204, 400):
            raise HubError("stop server %s -> %s %r" % (name, st, v))
        harness.wait_for(lambda: self.server_model(name) is None, timeout, interval=0.5,
                         what="%s's server to stop" % name)

    def user_token(self, name, note="e2e", scopes=None):
        """A new API token for user name: the user's own rights, or only
        the given scopes."""
        body = {"note": note, "expires_in": 3600}
        if scopes is not None:
            body["scopes"] = list(scopes)
        v = self._ok("POST", "/users/%s/tokens" % name, body, want=(200, 201))
        return v["token"]

    # -- a user's server through the proxy ---------------------------------

    def user_url(self, name, server=""):
        return self.url + "user/%s/%s" % (name, server + "/" if server else "")

    def user_api(self, name, token, method, path, body=None, timeout=15):
        """A request to the user's server through the proxy: (status, body, headers)."""
        return http(method, self.user_url(name) + path.lstrip("/"), body, token, timeout)

    def start_kernel(self, name, token):
        st, v, _ = self.user_api(name, token, "POST", "api/kernels", {"name": "python3"})
        if st not in (200, 201):
            raise HubError("start kernel for %s -> %s %r" % (name, st, v))
        return v["id"]

    def kernel(self, name, token, kernel_id):
        st, v, _ = self.user_api(name, token, "GET", "api/kernels/" + kernel_id)
        return v if st == 200 else None

    def channel(self, name, token, kernel_id, timeout=30):
        """The kernel's WebSocket through the proxy (a jupyter.KernelChannel)."""
        return HubKernelChannel(self.port, "/user/%s/" % name, kernel_id, token, timeout)


class HubKernelChannel(harness.KernelChannel):
    """KernelChannel under a base path (the hub's /user/NAME/ prefix)."""

    def __init__(self, port, base, kernel_id, token, timeout=30):  # noqa: super not called
        self.session = uuid.uuid4().hex
        path = "%sapi/kernels/%s/channels?session_id=%s" % (base, kernel_id, self.session)
        self.ws = harness.WebSocket("127.0.0.1", port, path,
                                    ["Authorization: token " + token], timeout=timeout)
