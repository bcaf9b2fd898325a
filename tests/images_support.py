"""A loopback HTTP image server with fault injection, for the image fetch/resolve tests."""

from __future__ import annotations

import io
import socket
import struct
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from PIL import Image


def png_bytes(size: tuple[int, int] = (8, 6), color: str = "blue") -> bytes:
    """A real PNG made with Pillow."""
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares ``width`` x ``height`` (a decompression bomb)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


@dataclass
class Seen:
    """One request the server received."""

    path: str
    headers: dict[str, str]


@dataclass
class ImageServer:
    """State shared with the handler: what was requested, and a gate slow routes wait on."""

    port: int = 0
    seen: list[Seen] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    image: bytes = field(default_factory=png_bytes)
    #: What ``/alternate`` answers, in turn: one body per request, round and round.
    alternate: list[bytes] = field(
        default_factory=lambda: [png_bytes(color="blue"), png_bytes(color="red")]
    )
    served: int = 0
    #: The ``/then-slow`` URLs answered already.
    answered_once: set[str] = field(default_factory=set)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def paths(self) -> list[str]:
        return [s.path for s in self.seen]


def _handler(state: ImageServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep test output clean

        def _send(self, status: int, body: bytes, ctype: str | None, length: bool = True) -> None:
            self.send_response(status)
            if ctype:
                self.send_header("Content-Type", ctype)
            if length:
                self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

        def _redirect(self, location: str, extra: dict[str, str] | None = None) -> None:
            self.send_response(302)
            self.send_header("Location", location)
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", "0")
            self.send_header("Connection", "close")
            self.end_headers()

        def do_GET(self) -> None:
            state.seen.append(Seen(self.path, {k.lower(): v for k, v in self.headers.items()}))
            parts = urlsplit(self.path)
            route, query = parts.path, parse_qs(parts.query)
            if route in ("/img.png", "/echo"):
                self._send(200, state.image, "image/png")
            elif route == "/alternate":
                body = state.alternate[state.served % len(state.alternate)]
                state.served += 1
                self._send(200, body, "image/png")
            elif route == "/octet":
                self._send(200, state.image, "application/octet-stream")
            elif route == "/untyped":
                self._send(200, state.image, None)
            elif route == "/bomb.png":
                self._send(200, png_declaring(100_000, 100_000), "image/png")
            elif route == "/html":
                self._send(200, b"<!doctype html><p>Not here</p>", "text/html; charset=utf-8")
            elif route == "/missing":
                self._send(404, b"nope", "text/plain")
            elif route.startswith("/redirect/"):
                left = int(route.rsplit("/", 1)[1])
                if left == 0:
                    self._send(200, state.image, "image/png")
                else:
                    self._redirect(f"/redirect/{left - 1}")
            elif route == "/loop":
                self._redirect("/loop")
            elif route == "/to":
                self._redirect(query["url"][0])
            elif route == "/cookie":
                self._redirect("/echo", {"Set-Cookie": "session=s3cret; Path=/"})
            elif route == "/big-declared":
                self._send(200, b"x" * int(query["n"][0]), "image/png")
            elif route == "/big-streamed":
                # No Content-Length: the body ends when the connection closes.
                self._send(200, b"\x89PNG" + b"x" * int(query["n"][0]), "image/png", length=False)
            elif route == "/slow-headers":
                state.release.wait(10)
            elif route == "/then-slow":  # answers each URL once, then stops answering it
                if self.path in state.answered_once:
                    state.release.wait(10)
                else:
                    state.answered_once.add(self.path)
                    self._send(200, state.image, "image/png")
            elif route == "/slow-body":
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", "1000")
                self.end_headers()
                self.wfile.write(b"\x89PNG")
                self.wfile.flush()
                state.release.wait(10)
            else:
                self._send(404, b"", "text/plain")

    return Handler


@contextmanager
def serve() -> Iterator[ImageServer]:
    """Run an :class:`ImageServer` on 127.0.0.1 in a thread for the duration of the block."""
    state = ImageServer()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextmanager
def trickle(mode: str, interval: float = 0.1, limit: float = 20.0) -> Iterator[str]:
    """A raw TCP server that answers every request slowly, for deadline tests; yields its URL.

    ``mode`` ``"header-bytes"`` sends a status line and then one header byte per
    ``interval``; ``"headers"`` sends a whole new header line per ``interval``. Either is
    quick enough that no read ever times out. It gives up after ``limit`` seconds.
    """
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    stop = threading.Event()

    def answer(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(1)
            try:
                conn.recv(65536)  # the request; its content does not matter
                conn.sendall(b"HTTP/1.1 200 OK\r\n")
                count = 0
                while not stop.wait(interval) and count * interval < limit:
                    count += 1
                    if mode == "header-bytes":
                        conn.sendall(b"X-Slow: " if count == 1 else b"z")
                    else:
                        conn.sendall(f"X-Slow-{count}: z\r\n".encode())
            except OSError:
                pass  # the client cut the connection: what the test wants

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=answer, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/slow.png"
    finally:
        stop.set()
        thread.join(5)
        listener.close()
