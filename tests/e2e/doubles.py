# SPDX-License-Identifier: MIT
"""Test doubles for the end-to-end tests: stand-ins for services that cannot
run here (Colab's tunnel front end, a notification service such as ntfy).

RecordingHTTPDouble is a small HTTP server on loopback. It records the
method, path, headers and body of every request, and answers with a scripted
sequence of statuses ([200, 200, 403, 403]), then with a default status that
the test may change at any time ("503 until told otherwise").

Standard library only.
"""
import http.server
import json
import threading
import time

from harness import free_port


class RecordedRequest:
    """One request as the double saw it, and the status it answered."""

    def __init__(self, method, path, headers, body, status, at):
        self.method = method
        self.path = path
        self.headers = headers      # list of (name, value), in order
        self.body = body            # bytes
        self.status = status        # what the double answered
        self.at = at                # time.monotonic() when it arrived

    def header(self, name):
        """The first value of header `name` (case-insensitive), or None."""
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def text(self):
        return self.body.decode(errors="replace")

    def json(self):
        return json.loads(self.body.decode())

    def __repr__(self):
        return "<%s %s -> %s, %d-byte body>" % (self.method, self.path, self.status,
                                                len(self.body))


class RecordingHTTPDouble:
    """A recording HTTP server on 127.0.0.1 (a free port).

    statuses: the first answers, in order; after them every request gets
    `default` (see set_default). Use as a context manager, or start()/stop().
    """

    def __init__(self, statuses=(), default=200, path_prefix="/"):
        self._script = list(statuses)
        self._default = default
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self.requests = []
        self.port = None
        self._httpd = None
        self._thread = None
        self.path_prefix = path_prefix

    # -- life cycle ---------------------------------------------------------

    def start(self):
        double = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n > 0 else b""
                status = double._record(self.command, self.path, list(self.headers.items()),
                                        body)
                payload = json.dumps({"status": status}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _handle

            def log_message(self, *a):
                pass

        # Bind to a port free_port() found; retry if someone took it meanwhile.
        for _ in range(20):
            self.port = free_port()
            try:
                self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
                break
            except OSError:
                continue
        else:
            raise RuntimeError("no free loopback port for the HTTP double")
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread:
            self._thread.join(5)
            self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def url(self, path="/"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    # -- script -------------------------------------------------------------

    def set_default(self, status):
        """Answer `status` from now on (after any statuses still scripted)."""
        with self._lock:
            self._default = status

    def _record(self, method, path, headers, body):
        with self._cond:
            status = self._script.pop(0) if self._script else self._default
            self.requests.append(RecordedRequest(method, path, headers, body, status,
                                                 time.monotonic()))
            self._cond.notify_all()
            return status

    # -- reading what arrived -----------------------------------------------

    def snapshot(self):
        with self._lock:
            return list(self.requests)

    def wait_for(self, pred, timeout, what="requests"):
        """Wait until pred(list of requests) is true; return the list. Raises
        TimeoutError with what arrived so far."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                reqs = list(self.requests)
                if pred(reqs):
                    return reqs
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("timed out after %.0f s waiting for %s; got %r"
                                       % (timeout, what, reqs))
                self._cond.wait(min(left, 0.5))

    def wait_count(self, n, timeout):
        return self.wait_for(lambda r: len(r) >= n, timeout, what="%d request(s)" % n)


def closed_port_url(path="/"):
    """A loopback URL where nothing listens (connection refused)."""
    return "http://127.0.0.1:%d%s" % (free_port(), path)
