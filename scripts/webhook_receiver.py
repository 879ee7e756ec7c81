#!/usr/bin/env python3
"""A minimal alert webhook for benchmarks (used by scale.sh, soak.sh, bench-pause.sh and burst.sh).

    python3 scripts/webhook_receiver.py PORT OUTFILE [DELAY_MS]

Listens on 127.0.0.1:PORT (HTTP/1.1, keep-alive). Every POST is appended to OUTFILE
as one line, then answered 200 after DELAY_MS milliseconds (default 0: at once;
burst.sh uses 50 to stand in for a slow receiver; concurrent POSTs wait in parallel):

    <arrival unix ms> <job name> <event> <expected_by_unix>

The arrival time is taken when the request's head has been read, before the body. A
channel's human message (a Slack message's `text`, an ntfy body: `backup is DOWN: …`,
`backup FAILED …`, `backup is UP again …`) is recorded with its job name and event and
`-` as expected_by (burst.sh uses it as a Slack or ntfy sink). A body that is neither
is recorded as `- - -`. GET answers 200 `ok` (a readiness probe). Names are written
with whitespace replaced by `_`.

One asyncio event loop and a bare protocol, not a thread per connection: the sink runs
on the same cores as the overdue it measures, so each request must cost it little (a
thread per connection and http.server's parsing made the sinks as costly as overdue
itself during a burst; see docs/adr/0008-python-burst-sinks-kept.md). The delay is a
timer, so a sink that answers after HANG_MS holds no thread either.
"""

import asyncio
import json
import re
import sys
import time


MESSAGE = re.compile(r"^(\S+) (?:is (DOWN|UP)|is still (DOWN)|(FAILED)|ran too long)")
OK_EMPTY = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
OK_TEXT = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"
BAD = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
# A request head larger than this is refused (a benchmark's alerts are far smaller).
MAX_HEAD = 64 * 1024


def from_message(text: str) -> tuple:
    """The job name and event of a channel's human message, or `-`s."""
    match = MESSAGE.match(text)
    if not match:
        return "-", "-"
    event = "up" if match.group(2) == "UP" else "down"
    return match.group(1), event


def record_of(body: bytes) -> tuple:
    """(name, event, expected_by) of one POST body."""
    try:
        alert = json.loads(body)
    except ValueError:
        alert = None
    if isinstance(alert, dict) and "name" in alert:
        name = "_".join(str(alert.get("name", "-")).split()) or "-"
        return name, alert.get("event", "-"), alert.get("expected_by_unix", "-")
    if isinstance(alert, dict) and isinstance(alert.get("text"), str):
        return (*from_message(alert["text"]), "-")
    return (*from_message(body.decode("utf-8", "replace")), "-")


class Receiver(asyncio.Protocol):
    """One connection: requests are read in turn, each answered after the delay, in
    the order they came (a later request's answer never overtakes an earlier one)."""

    def __init__(self, out, delay_s: float) -> None:
        self.out = out
        self.delay_s = delay_s
        self.buffer = bytearray()
        self.transport = None
        self.loop = asyncio.get_running_loop()
        # When the previous answer on this connection goes out (loop time).
        self.last_answer = 0.0

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None and not self.transport.is_closing():
            if not self.next_request():
                break

    def next_request(self) -> bool:
        """Handles one whole request at the buffer's start; False when more is needed."""
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > MAX_HEAD:
                self.transport.write(BAD)
                self.transport.close()
            return False
        arrival_ms = time.time_ns() // 1_000_000
        head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        method = head[0].split(" ", 1)[0]
        length = 0
        chunked = False
        for line in head[1:]:
            key, _, value = line.partition(":")
            key = key.strip().lower()
            if key == "content-length":
                try:
                    length = int(value.strip())
                except ValueError:
                    length = -1
            elif key == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
        start = end + 4
        if chunked:
            parsed = dechunk(self.buffer, start)
            if parsed is None:
                return False
            body, consumed = parsed
        else:
            if length < 0:
                self.transport.write(BAD)
                self.transport.close()
                return False
            if len(self.buffer) < start + length:
                return False
            body, consumed = bytes(self.buffer[start : start + length]), start + length
        del self.buffer[:consumed]
        if method == "POST":
            name, event, expected = record_of(body)
            # Recorded first, answered after the delay: the arrival time stays the
            # moment the alert reached the receiver, the sender sees a slow answer.
            self.out.write(f"{arrival_ms} {name} {event} {expected}\n")
            self.answer(OK_EMPTY, self.delay_s)
        else:
            self.answer(OK_TEXT, 0.0)
        return True

    def answer(self, response: bytes, delay_s: float) -> None:
        at = max(self.loop.time() + delay_s, self.last_answer)
        self.last_answer = at
        if at <= self.loop.time():
            self.send(response)
        else:
            self.loop.call_at(at, self.send, response)

    def send(self, response: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(response)

    def connection_lost(self, exc) -> None:
        self.transport = None


def dechunk(buffer: bytearray, start: int):
    """(body, bytes consumed) of a whole chunked body from `start`; None if incomplete."""
    body = bytearray()
    at = start
    while True:
        line_end = buffer.find(b"\r\n", at)
        if line_end < 0:
            return None
        try:
            size = int(bytes(buffer[at:line_end]).split(b";", 1)[0], 16)
        except ValueError:
            size = 0
        at = line_end + 2
        if size == 0:
            trailer_end = buffer.find(b"\r\n\r\n", line_end)
            if trailer_end < 0:
                return None
            return bytes(body), trailer_end + 4
        if len(buffer) < at + size + 2:
            return None
        body += buffer[at : at + size]
        at += size + 2


async def serve(port: int, path: str, delay_s: float) -> None:
    out = open(path, "a", encoding="utf-8", buffering=1)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: Receiver(out, delay_s), "127.0.0.1", port, backlog=1024
    )
    print(
        f"webhook receiver on 127.0.0.1:{port}, writing {path},"
        f" answering after {int(delay_s * 1000)} ms",
        flush=True,
    )
    async with server:
        await server.serve_forever()


def main() -> None:
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: webhook_receiver.py PORT OUTFILE [DELAY_MS]")
    port = int(sys.argv[1])
    delay_s = int(sys.argv[3]) / 1000 if len(sys.argv) == 4 else 0.0
    if delay_s < 0:
        sys.exit("webhook_receiver.py: DELAY_MS must not be negative")
    try:
        asyncio.run(serve(port, sys.argv[2], delay_s))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
