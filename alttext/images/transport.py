"""The HTTP side of :func:`alttext.images.fetch.fetch`: one GET to an address already checked.

Kept apart from the policy so that importing the fetcher (every ``check`` and ``fix`` does,
for :class:`~alttext.images.fetch.NetworkPolicy`) does not import ``requests`` — about a
tenth of a second at start-up that a site without remote images never needs. This module
is imported on the first remote fetch.

Requests go straight through a bare ``HTTPAdapter``, never a ``Session``: no cookies, no
auth, no proxy or netrc settings from the environment.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import SplitResult, urlunsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from alttext.errors import FetchTimedOut, ImageFetchError, ImageRefused

if TYPE_CHECKING:
    from requests.adapters import _HostParams, _PoolKwargs

# Servers label images badly (octet-stream, no type at all), so only a type that is
# clearly something else is refused here; the magic bytes decide what the data really is.
_NEUTRAL_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})
_CHUNK = 64 * 1024

#: (connect, read) timeouts for the next attempt, already cut to the remaining deadline.
Timeouts = Callable[[], tuple[float, float]]


class Watchdog:
    """Cuts every connection of one fetch when its overall deadline passes.

    Socket timeouts bound each read, and every byte that arrives starts the next read's
    timeout afresh: a server that sends its status line and then one header byte a second
    (or a new header every half second) would hold a fetch for as long as it likes, and
    http.client reads the headers before any of our code sees the response. A check of
    the clock between reads cannot help there, so a timer thread does it: when the
    deadline passes it shuts down each socket the fetch opened, and the read blocked in
    the fetching thread returns at once (EOF or an error), however the server trickles.

    The sockets are registered as they connect (:class:`_WatchedHTTPConnection`) through
    a thread-local, as a duplicate descriptor: ``shutdown`` acts on the socket itself, so
    a duplicate reaches it even after TLS has taken over the original descriptor, and a
    duplicate we hold can never be a descriptor the system has since given to someone
    else. The connect itself is already bounded by the connect timeout, which
    :func:`~alttext.images.fetch.fetch` cuts to what is left of the deadline.

    Use as a context manager around the whole fetch; :meth:`stop` says whether the
    deadline cut it (then whatever the fetch returned may be truncated).
    """

    def __init__(self, seconds: float) -> None:
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._expired = False
        self._stopped = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    @property
    def expired(self) -> bool:
        """Whether the deadline passed before :meth:`stop`."""
        return self._expired

    def __enter__(self) -> Watchdog:
        _active.watchdog = self
        self._timer.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
        _active.watchdog = None
        for sock in self._sockets:
            sock.close()

    def stop(self) -> bool:
        """Stop watching; ``True`` when the deadline had already cut the fetch."""
        with self._lock:
            self._stopped = True
        self._timer.cancel()
        return self._expired

    def watch(self, sock: socket.socket) -> None:
        """Cut ``sock`` when the deadline passes (at once, when it already has)."""
        duplicate = socket.fromfd(sock.fileno(), sock.family, sock.type, sock.proto)
        with self._lock:
            self._sockets.append(duplicate)
            if self._expired:
                _cut(duplicate)

    def _expire(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._expired = True
            for sock in self._sockets:
                _cut(sock)


def _cut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by the peer: nothing left to cut
        sock.shutdown(socket.SHUT_RDWR)


class _Active(threading.local):
    watchdog: Watchdog | None = None


_active = _Active()


class _WatchedHTTPConnection(HTTPConnection):
    """A connection that hands its socket to the fetch's :class:`Watchdog`."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        if _active.watchdog is not None:
            _active.watchdog.watch(sock)
        return sock


class _WatchedHTTPSConnection(HTTPSConnection):
    """The TLS connection that hands its (pre-TLS) socket to the :class:`Watchdog`."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        if _active.watchdog is not None:
            _active.watchdog.watch(sock)
        return sock


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class PinnedAdapter(HTTPAdapter):
    """An adapter whose TLS name checks use the original host while the URL holds its IP,
    and whose connections a :class:`Watchdog` can cut."""

    def __init__(self, server_hostname: str) -> None:
        super().__init__(max_retries=0)
        self._server_hostname = server_hostname

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _WatchedHTTPPool,
            "https": _WatchedHTTPSPool,
        }

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: bool | str, cert: Any = None
    ) -> tuple[_HostParams, _PoolKwargs]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        if host_params["scheme"] == "https":
            # urllib3 pool options the stubs' TypedDict does not list.
            extra = cast("dict[str, Any]", pool_kwargs)
            extra["server_hostname"] = self._server_hostname
            extra["assert_hostname"] = self._server_hostname
        return host_params, pool_kwargs


def send(
    adapter: HTTPAdapter,
    url: str,
    parts: SplitResult,
    port: int,
    addresses: list[str],
    headers: dict[str, str],
    timeouts: Timeouts,
) -> requests.Response:
    """Try each checked address in turn until one connects; return the unread response."""
    last_error: Exception | None = None
    for address in addresses:
        literal = f"[{address.replace('%', '%25')}]" if ":" in address else address
        pinned = urlunsplit((parts.scheme, f"{literal}:{port}", parts.path, parts.query, ""))
        prepared = requests.Request("GET", pinned, headers=headers).prepare()
        try:
            return adapter.send(prepared, stream=True, timeout=timeouts())
        except requests.ConnectionError as exc:
            # Includes ConnectTimeout: this address is unreachable, try the next one.
            last_error = exc
        except requests.Timeout as exc:
            raise FetchTimedOut(f"timed out waiting for {url}") from exc
        except requests.RequestException as exc:
            raise ImageFetchError(f"cannot fetch {url}: {exc}") from exc
    if isinstance(last_error, requests.ConnectTimeout):
        raise FetchTimedOut(f"timed out connecting to {url}") from last_error
    raise ImageFetchError(f"cannot connect to {url}: {last_error}") from last_error


def read_body(
    url: str,
    response: requests.Response,
    max_bytes: int,
    past_deadline: Callable[[], bool],
    deadline_s: float,
) -> tuple[bytes, str]:
    """Check status, type and length, then stream the body under the byte cap and deadline.

    Returns the body and the declared media type (``""`` when none).
    """
    if not 200 <= response.status_code < 300:
        raise ImageFetchError(f"HTTP {response.status_code} {response.reason or ''} for {url}")
    content_type = media_type(response.headers)
    if content_type not in _NEUTRAL_TYPES and not content_type.startswith("image/"):
        raise ImageFetchError(f"not an image: server sent {content_type!r} for {url}")
    declared = response.headers.get("Content-Length", "")
    if declared.strip().isdigit() and int(declared) > max_bytes:
        raise ImageRefused(
            f"image is {int(declared)} bytes, over the {max_bytes} byte limit: {url}"
        )
    chunks: list[bytes] = []
    total = 0
    try:
        while chunk := response.raw.read1(_CHUNK, decode_content=True):
            total += len(chunk)
            if total > max_bytes:
                raise ImageRefused(f"image exceeds the {max_bytes} byte limit: {url}")
            chunks.append(chunk)
            if past_deadline():
                raise FetchTimedOut(f"deadline of {deadline_s:g} s exceeded for {url}")
    except urllib3.exceptions.ReadTimeoutError as exc:
        raise FetchTimedOut(f"timed out reading {url}") from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise ImageFetchError(f"connection failed while reading {url}: {exc}") from exc
    return b"".join(chunks), content_type


def media_type(headers: Mapping[str, str]) -> str:
    """The Content-Type without parameters, lower-cased; empty when absent."""
    return headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
