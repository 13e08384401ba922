#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Proof that build/agent-portable runs where libwebsockets, inih and jansson
are not installed (make portable-check; needs root for the chroot).

1. On the host: the binary needs no glibc symbol version newer than
   GLIBC_2.34, and ldd shows no libwebsockets, inih, jansson or libcap.
2. A Debian 13 (trixie) minbase chroot with only libcurl, libssl and
   ca-certificates added (packaging/mkchroot; cached after the first run),
   which must not hold libwebsockets, inih or jansson.
3. Inside it: ldd resolves every library, and the binary does a real --once
   against real jupyter_servers running on the host's loopback (the chroot
   shares the network): one over http, one over https with a self-signed
   certificate trusted through ca_file (TLS through the chroot's OpenSSL).
   Each must exit 0 after a verified round, and the kept kernel's
   last_activity must have moved.
4. On the host, the same --once with tests/old_libcurl_double.c preloaded, a
   test double that makes the system's libcurl answer like libcurl 7.81
   (Ubuntu 22.04 and Colab, which cannot run here): options newer than 7.81
   are refused, as that libcurl refuses them.

Usage: tests/portable_check.py [BINARY]   (default build/agent-portable)
Environment: PORTABLE_CHROOT (default /var/cache/jupyter-keepalive/portable-trixie),
PORTABLE_SUITE (default trixie).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "e2e"))
import harness  # noqa: E402  (tests/e2e/harness.py)

REPO = harness.REPO
SUITE = os.environ.get("PORTABLE_SUITE", "trixie")
CHROOT = Path(os.environ.get("PORTABLE_CHROOT", "/var/cache/jupyter-keepalive/portable-%s" % SUITE))
PACKAGES = ["libcurl4t64", "libssl3t64", "ca-certificates"]
MAX_GLIBC = (2, 34)
STATIC = ("libwebsockets", "libinih", "libjansson", "libcap")
CHROOT_ENV = ["env", "-i", "PATH=/usr/bin:/bin", "HOME=/tmp", "LC_ALL=C.UTF-8"]


def say(msg):
    print("portable-check: %s" % msg, flush=True)


def fail(msg):
    print("portable-check: FAILED: %s" % msg, file=sys.stderr, flush=True)
    sys.exit(1)


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, **kw)


def check_host(binary):
    r = run(["objdump", "-T", str(binary)])
    if r.returncode != 0:
        fail("objdump -T: %s" % r.stderr)
    versions = sorted({tuple(int(x) for x in v.split("."))
                       for v in re.findall(r"GLIBC_(\d+(?:\.\d+)+)", r.stdout)})
    newest = versions[-1]
    if newest > MAX_GLIBC:
        fail("needs GLIBC_%s, newer than GLIBC_%d.%d" % (".".join(map(str, newest)), *MAX_GLIBC))
    say("newest glibc symbol version: GLIBC_%s (limit GLIBC_%d.%d)"
        % (".".join(map(str, newest)), *MAX_GLIBC))
    needed = re.findall(r"\(NEEDED\).*\[(.*)\]", run(["readelf", "-d", str(binary)]).stdout)
    say("NEEDED: %s" % " ".join(needed))
    bad = [n for n in needed if n.startswith(STATIC)]
    if bad:
        fail("links %s dynamically" % bad)
    ldd = run(["ldd", str(binary)]).stdout
    bad = [ln.strip() for ln in ldd.splitlines() if ln.strip().startswith(STATIC)]
    if bad:
        fail("ldd shows %s" % bad)


def make_chroot():
    t0 = time.monotonic()
    r = subprocess.run([str(REPO / "packaging" / "mkchroot"), SUITE, str(CHROOT)] + PACKAGES,
                       stdout=subprocess.PIPE, text=True)
    if r.returncode != 0:
        fail("packaging/mkchroot %s %s failed" % (SUITE, CHROOT))
    say("chroot %s ready in %.0f s" % (CHROOT, time.monotonic() - t0))
    r = run(["chroot", str(CHROOT), "dpkg-query", "-W", "-f", "${Package}\\n"])
    present = [p for p in r.stdout.split() if re.match(r"lib(websockets|inih|jansson)", p)]
    if present:
        fail("the chroot has %s installed: not a fair test" % present)
    libs = [p.name for d in ("usr/lib", "lib") for p in (CHROOT / d).rglob("lib*.so*")
            if p.name.startswith(("libwebsockets", "libinih", "libjansson"))]
    if libs:
        fail("the chroot has %s" % libs)


def make_cert(d):
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-days", "2", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


def once_in_chroot(srv, inside, args, what):
    once(srv, ["chroot", str(CHROOT)] + CHROOT_ENV + ["JUPYTER_TOKEN=" + srv.token, inside] + args,
         None, what)


def once(srv, argv, env, what, hint=""):
    """Two --once runs on a fresh kernel; the second must move its
    last_activity. (Right after a kernel starts the server may not yet read
    its IOPub, and the first round's status messages can be lost to it.)"""
    k = srv.start_kernel()
    argv = argv + ["--kernel", k, "--once"]
    for attempt in ("warm-up", "checked"):
        time.sleep(1)
        before = harness.parse_time(srv.kernel(k)["last_activity"])
        t0 = time.monotonic()
        r = run(argv, timeout=120, env=env)
        out = r.stdout + r.stderr
        if r.returncode != 0 or "culler sees activity" not in out:
            fail("%s (%s): exit %d\n%s%s" % (what, attempt, r.returncode, out, hint))
    if "keepalive acknowledged" not in out:
        fail("%s: no keepalive went over the kernel's WebSocket\n%s" % (what, out))
    after = harness.parse_time(srv.kernel(k)["last_activity"])
    if not after > before:
        fail("%s: the kernel's last_activity did not move\n%s" % (what, out))
    say("%s: exit 0 in %.1f s; kernel last_activity %s -> %s"
        % (what, time.monotonic() - t0, before.strftime("%H:%M:%S.%f"),
           after.strftime("%H:%M:%S.%f")))
    for line in out.splitlines():
        print("    " + line)


def once_with_old_libcurl(srv, binary, tmp):
    """On the host, with tests/old_libcurl_double.c preloaded: the system's
    libcurl answering like 7.81 (Ubuntu 22.04, Colab), which rejects options
    newer than itself. A binary built against newer curl headers must not
    depend on them."""
    shim = tmp / "old_libcurl_double.so"
    r = run([os.environ.get("CC", "cc"), "-shared", "-fPIC", "-O2", "-o", str(shim),
             str(REPO / "tests" / "old_libcurl_double.c"), "-ldl"])
    if r.returncode != 0:
        fail("cannot build tests/old_libcurl_double.c:\n%s" % r.stderr)
    env = harness.agent_env(tmp / "old-curl-env", token=srv.token,
                            extra={"LD_PRELOAD": str(shim)})
    once(srv, [str(binary), "--url", srv.url], env,
         "http --once with libcurl answering as 7.81 (test double, on the host)",
         hint="The binary sets a libcurl option that 7.81 lacks, such as "
              "CURLOPT_PROTOCOLS_STR (7.85): choose it by curl_version_info() at run time.")


def main():
    t_start = time.monotonic()
    binary = Path(sys.argv[1] if len(sys.argv) > 1 else REPO / "build" / "agent-portable").resolve()
    if not binary.is_file():
        fail("%s not found: run make portable" % binary)
    if os.geteuid() != 0:
        fail("needs root (debootstrap and chroot)")
    check_host(binary)
    make_chroot()

    work = Path(tempfile.mkdtemp(prefix="portable-check-", dir=str(CHROOT / "tmp")))
    inside_dir = "/tmp/" + work.name
    servers = []
    try:
        shutil.copy2(binary, work / "agent")
        inside = inside_dir + "/agent"
        r = run(["chroot", str(CHROOT)] + CHROOT_ENV + ["ldd", inside])
        if r.returncode != 0 or "not found" in r.stdout or any(
                ln.strip().startswith(STATIC) for ln in r.stdout.splitlines()):
            fail("ldd in the chroot:\n%s%s" % (r.stdout, r.stderr))
        say("ldd in the %s chroot:" % SUITE)
        for line in r.stdout.splitlines()[:6]:
            print("    " + line.strip())
        r = run(["chroot", str(CHROOT)] + CHROOT_ENV + [inside, "--version"])
        if r.returncode != 0:
            fail("--version in the chroot: exit %d\n%s" % (r.returncode, r.stdout + r.stderr))
        say("in the chroot: %s" % r.stdout.strip())

        host = Path(tempfile.mkdtemp(prefix="portable-check-"))
        srv = harness.JupyterServer(host / "http", cull_idle_timeout=0)
        servers.append(srv)
        srv.start()
        once_in_chroot(srv, inside, ["--url", srv.url], "http --once")
        once_with_old_libcurl(srv, binary, host)

        cert, key = make_cert(work)
        os.environ["SSL_CERT_FILE"] = str(cert)   # the harness's own https calls
        tls = harness.JupyterServer(host / "https", cull_idle_timeout=0, extra_args=[
            "--ServerApp.certfile=%s" % cert, "--ServerApp.keyfile=%s" % key])
        tls.url = "https://127.0.0.1:%d/" % tls.port
        servers.append(tls)
        tls.start()
        (work / "tls.ini").write_text("[tls]\nurl = %s\nca_file = %s/cert.pem\n"
                                      % (tls.url, inside_dir))
        once_in_chroot(tls, inside, ["-c", inside_dir + "/tls.ini"], "https --once (ca_file)")
    finally:
        for srv in servers:
            srv.stop()
        shutil.rmtree(work, ignore_errors=True)
        if servers:
            shutil.rmtree(host, ignore_errors=True)
    say("passed in %.0f s" % (time.monotonic() - t_start))


if __name__ == "__main__":
    main()
