#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The keepalive loop a user would write instead of the agent: the reference
that tests/bench/run.py measures the agent against.

    python_loop.py URL KERNEL_ID INTERVAL_S [--once]

websocket-client (Debian's python3-websocket): connect once to the kernel's
channels with the token from JUPYTER_TOKEN, send an empty silent
execute_request every interval, and read whatever arrives meanwhile (the
library answers the server's pings). Prints "acknowledged" for each
execute_reply to one of its requests (on stderr, as the agent logs).
--once: connect, one execute, its reply, exit 0 (1 when no reply came
within 30 s).
"""
import json
import os
import select
import sys
import time
import uuid

import websocket


def request(session):
    return {
        "header": {"msg_id": uuid.uuid4().hex, "msg_type": "execute_request",
                   "session": session, "username": "bench", "version": "5.3",
                   "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": "", "silent": True, "store_history": False,
                    "user_expressions": {}, "allow_stdin": False, "stop_on_error": False},
    }


def main(argv):
    url, kernel_id, interval = argv[1], argv[2], float(argv[3])
    once = "--once" in argv[4:]
    session = uuid.uuid4().hex
    ws_url = "ws" + url[len("http"):].rstrip("/") + \
        "/api/kernels/%s/channels?session_id=%s" % (kernel_id, session)
    ws = websocket.create_connection(
        ws_url, header=["Authorization: token " + os.environ.get("JUPYTER_TOKEN", "")],
        timeout=30)
    print("connected to kernel", file=sys.stderr, flush=True)
    pending = set()
    next_send = time.monotonic()
    deadline = next_send + 30
    while True:
        now = time.monotonic()
        if now >= next_send and not (once and pending):
            msg = request(session)
            pending.add(msg["header"]["msg_id"])
            ws.send(json.dumps(msg))
            next_send = now + interval
        # select, not a recv() timeout: websocket-client answers the
        # server's pings inside recv() and restarts the timeout after each.
        wait = max(0.0, (deadline if once else next_send) - time.monotonic())
        if not select.select([ws.sock], [], [], wait)[0]:
            if once:
                return 1
            continue
        opcode, frame = ws.recv_data_frame(True)
        if opcode != websocket.ABNF.OPCODE_TEXT:
            continue
        m = json.loads(frame.data)
        parent = (m.get("parent_header") or {}).get("msg_id")
        if (m.get("header") or {}).get("msg_type") == "execute_reply" and parent in pending:
            pending.discard(parent)
            print("acknowledged", file=sys.stderr, flush=True)
            if once:
                ws.close()
                return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
