#!/usr/bin/env python3
"""A minimal alert webhook for benchmarks (used by scripts/scale.sh and scripts/burst.sh).

    python3 scripts/webhook_receiver.py PORT OUTFILE [DELAY_MS]

Listens on 127.0.0.1:PORT (HTTP/1.1, keep-alive, one thread per connection). Every
POST is appended to OUTFILE as one line, then answered 200 after DELAY_MS
milliseconds (default 0: at once; burst.sh uses 50 to stand in for a slow receiver,
and since each connection has its own thread, concurrent POSTs wait in parallel):

    <arrival unix ms> <job name> <event> <expected_by_unix>

The arrival time is taken when the request line has been read, before the body. A
channel's human message (a Slack message's `text`, an ntfy body: `backup is DOWN: …`,
`backup FAILED …`, `backup is UP again …`) is recorded with its job name and event and
`-` as expected_by (burst.sh uses it as a Slack or ntfy sink). A body that is neither
is recorded as `- - -`. GET answers 200 `ok` (a readiness probe). Names are written
with whitespace replaced by `_`.
"""

import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


MESSAGE = re.compile(r"^(\S+) (?:is (DOWN|UP)|is still (DOWN)|(FAILED)|ran too long)")


def from_message(text: str) -> tuple:
    """The job name and event of a channel's human message, or `-`s."""
    match = MESSAGE.match(text)
    if not match:
        return "-", "-"
    event = "up" if match.group(2) == "UP" else "down"
    return match.group(1), event


def main() -> None:
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: webhook_receiver.py PORT OUTFILE [DELAY_MS]")
    port = int(sys.argv[1])
    delay_s = int(sys.argv[3]) / 1000 if len(sys.argv) == 4 else 0.0
    if delay_s < 0:
        sys.exit("webhook_receiver.py: DELAY_MS must not be negative")
    out = open(sys.argv[2], "a", encoding="utf-8", buffering=1)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            arrival_ms = time.time_ns() // 1_000_000
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
            expected = "-"
            try:
                alert = json.loads(body)
            except ValueError:
                alert = None
            if isinstance(alert, dict) and "name" in alert:
                name = "_".join(str(alert.get("name", "-")).split()) or "-"
                event = alert.get("event", "-")
                expected = alert.get("expected_by_unix", "-")
            elif isinstance(alert, dict) and isinstance(alert.get("text"), str):
                name, event = from_message(alert["text"])
            else:
                name, event = from_message(body.decode("utf-8", "replace"))
            with lock:
                out.write(f"{arrival_ms} {name} {event} {expected}\n")
            # Recorded first, answered after the delay: the arrival time stays the
            # moment the alert reached the receiver, the sender sees a slow answer.
            if delay_s > 0:
                time.sleep(delay_s)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:  # noqa: N802
            body = b"ok"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args) -> None:  # noqa: A002 (signature)
            pass

    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 256
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(
        f"webhook receiver on 127.0.0.1:{port}, writing {sys.argv[2]},"
        f" answering after {int(delay_s * 1000)} ms",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
