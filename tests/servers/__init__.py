"""Loopback HTTP servers that speak the real protocols of the captioning services.

Each server runs a ``ThreadingHTTPServer`` on 127.0.0.1 (port 0) in a daemon thread, records
every request it receives (method, path, headers, body, time), and can be told to misbehave
on the next request(s) of a route: answer a status, send a raw body, reset the connection,
or answer late. Tests assert both what the client returned and what the server received.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

Body = bytes | str | dict[str, Any] | list[Any] | None


@dataclass
class Received:
    """One request as the server saw it."""

    method: str
    path: str
    route: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        """A header by case-insensitive name."""
        return self.headers.get(name.lower())


@dataclass
class Reply:
    """An answer: status, headers and body (a dict/list body is sent as JSON)."""

    status: int
    body: Body = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Fault:
    """How to misbehave on one request.

    Attributes:
        status: answer this status with ``body`` instead of handling the request.
        body: the body of that answer (dict/list as JSON, str/bytes raw).
        headers: extra headers of that answer (``Retry-After``...).
        reset: close the connection with a TCP reset without answering.
        delay: wait this long (real seconds) first; then answer ``status`` if set, else
            handle the request normally (the work is done, the answer is late).
    """

    status: int | None = None
    body: Body = None
    headers: dict[str, str] = field(default_factory=dict)
    reset: bool = False
    delay: float = 0.0


class FakeClock:
    """A monotonic clock and sleep that only move when slept on: zero-time tests.

    ``wall()`` is the matching wall clock for ``Retry-After`` HTTP dates.
    """

    def __init__(self, start: float = 1000.0, wall_offset: float = 1_700_000_000.0) -> None:
        self.now = start
        self.wall_offset = wall_offset
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def wall(self) -> float:
        """Wall-clock seconds since the epoch, moving with the fake clock."""
        return self.now + self.wall_offset

    def sleep(self, seconds: float) -> None:
        """Record the sleep and advance the clock by it, at once."""
        with self._lock:
            self.sleeps.append(seconds)
            self.now += max(0.0, seconds)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def do_GET(self) -> None:
        self.server.app.dispatch(self)

    def do_POST(self) -> None:
        self.server.app.dispatch(self)

    def do_PUT(self) -> None:
        self.server.app.dispatch(self)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a handler still sleeping on a "slow" fault must not stall close
    app: LoopbackServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out and left makes late writes fail; that is expected


class LoopbackServer:
    """Base of the protocol servers: threading, recording, fault injection."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.lock = threading.RLock()
        self.clock: Callable[[], float] = time.monotonic
        self._faults: dict[str, deque[Fault]] = {}
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Listen on 127.0.0.1 on a free port and serve in a daemon thread."""
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.app = self
        # A short poll interval makes shutdown() quick.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> LoopbackServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL, ``http://127.0.0.1:PORT``."""
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- faults and records ------------------------------------------------------------

    def inject(self, route: str, *faults: Fault) -> None:
        """Misbehave on the next requests of ``route``, one fault per request, in order."""
        with self.lock:
            self._faults.setdefault(route, deque()).extend(faults)

    def requests(self, route: str | None = None) -> list[Received]:
        """The requests received so far, optionally only those of one route."""
        with self.lock:
            return [r for r in self.received if route is None or r.route == route]

    # -- dispatch ----------------------------------------------------------------------

    def route(self, method: str, path: str) -> str:
        """Name the route of a request (``submit``, ``poll``...); ``""`` when unknown."""
        raise NotImplementedError

    def handle(self, request: Received) -> Reply:
        """Answer a request that no fault intercepted."""
        raise NotImplementedError

    def dispatch(self, handler: _Handler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        path = urlsplit(handler.path).path
        request = Received(
            method=handler.command,
            path=handler.path,
            route=self.route(handler.command, path),
            headers={k.lower(): v for k, v in handler.headers.items()},
            body=body,
            at=self.clock(),
        )
        with self.lock:
            self.received.append(request)
            queue = self._faults.get(request.route)
            fault = queue.popleft() if queue else None
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.reset:
                # SO_LINGER 0 makes close() send RST: the client sees "connection reset".
                handler.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                handler.connection.close()
                handler.close_connection = True
                return
            if fault.status is not None:
                self._send(handler, Reply(fault.status, fault.body, fault.headers))
                return
        self._send(handler, self.handle(request))

    @staticmethod
    def _send(handler: _Handler, reply: Reply) -> None:
        headers = dict(reply.headers)
        if isinstance(reply.body, dict | list):
            payload = json.dumps(reply.body).encode()
            headers.setdefault("Content-Type", "application/json")
        elif isinstance(reply.body, str):
            payload = reply.body.encode()
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        else:
            payload = reply.body or b""
        try:
            handler.send_response(reply.status)
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
        except OSError:
            handler.close_connection = True  # the client left (timed out); nothing to do
