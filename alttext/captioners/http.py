"""What the remote backends share: sessions, the retry loop, limits, error translation.

Every ``requests`` exception and HTTP error is translated here into
:class:`~alttext.errors.CaptionAPIError` or :class:`~alttext.errors.CaptionTimeout`, with the
API key redacted from every message and body. The API key is added per request, never as a
session default, so a request sent with ``auth=False`` (an upload to a pre-signed URL) cannot
carry it.

Backends call ``caption()`` from a thread pool, so :class:`HttpClient` keeps one
``requests.Session`` per thread (a ``Session`` is not documented as thread-safe) and
:class:`Limiter` guards its state with locks.
"""

from __future__ import annotations

import json as jsonlib
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from alttext import __version__
from alttext.captioners.retry import Clock, RetryPolicy, Sleep
from alttext.errors import (
    CaptionAPIError,
    CaptionTimeout,
    ConfigError,
    CredentialsRejected,
    redact,
)

if TYPE_CHECKING:
    # Imported when the first request is sent: ~0.1 s of start-up that a run answered
    # entirely from the cache or the catalog never needs.
    import requests

log = logging.getLogger(__name__)

USER_AGENT = f"alttext/{__version__}"
#: How much of an error body is kept on an exception: enough to diagnose, bounded for logs.
BODY_LIMIT = 2000

Timeout = float | tuple[float, float]

#: Requests in a row that never reached a host (each after all its retries) before a
#: client stops sending to it for the rest of the run. A backend that refuses every
#: connection (a wrong ``--api-base``, a local server not started) then fails the
#: remaining images in seconds, not after minutes of retries per image.
UNREACHABLE_AFTER = 3


def check_base_url(url: str, *, what: str) -> str:
    """Return ``url`` without a trailing slash; raise ``ConfigError`` unless it is http(s)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{what} must be an http(s) URL, got {url!r}")
    return url.rstrip("/")


def server_message(body: str) -> str:
    """The human part of an error body: ``message`` / ``error`` of a JSON object, else text."""
    try:
        parsed = jsonlib.loads(body)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        for key in ("message", "error", "detail"):
            value = parsed.get(key)
            if isinstance(value, dict):  # OpenAI: {"error": {"message": ...}}
                value = value.get("message")
            if isinstance(value, str) and value.strip():
                return value.strip()[:300]
    return " ".join(body.split())[:300]


def _never_reached(exc: requests.RequestException) -> bool:
    """Whether ``exc`` proves the request never reached the service (nothing answered)."""
    import requests

    if isinstance(exc, requests.exceptions.SSLError):
        return False  # something answered, with the wrong certificate
    return isinstance(exc, requests.exceptions.ConnectTimeout) or (
        isinstance(exc, requests.exceptions.ConnectionError)
        and not isinstance(exc, requests.exceptions.Timeout)
    )


def _strip_auth(r: requests.PreparedRequest) -> requests.PreparedRequest:
    """Removes any ``Authorization`` header, including one requests would take from .netrc.

    requests takes any callable as ``auth`` (and then reads no .netrc either).
    """
    r.headers.pop("Authorization", None)
    return r


class Limiter:
    """Bounds tasks in flight and task starts per minute; thread-safe.

    The per-minute bound is a sliding window: at most ``floor(per_minute)`` starts (at least
    one) in any window of ``60 * n / per_minute`` seconds. A token bucket would let a burst
    through at the window's edge, and services count per-minute windows.

    Args:
        max_concurrent: tasks allowed in flight at once; ``None`` for no bound.
        per_minute: task starts allowed per minute; ``None`` or ``<= 0`` for no bound.
        clock: monotonic clock, injectable for tests.
        sleep: sleep function, injectable for tests.
        proceed: called while waiting for a slot; raises to give up the wait (an
            interrupted run must not start the tasks that were waiting).
    """

    def __init__(
        self,
        *,
        max_concurrent: int | None,
        per_minute: float | None,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        proceed: Callable[[], None] | None = None,
    ) -> None:
        self._proceed = proceed
        if max_concurrent is not None and max_concurrent < 1:
            raise ConfigError(f"max_concurrent must be at least 1, got {max_concurrent}")
        self.max_concurrent = max_concurrent
        self.per_minute = per_minute if per_minute and per_minute > 0 else None
        self._slots = threading.BoundedSemaphore(max_concurrent) if max_concurrent else None
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._starts: deque[float] = deque()
        self._burst = max(1, math.floor(self.per_minute)) if self.per_minute else 0
        self._window = 60.0 * self._burst / self.per_minute if self.per_minute else 0.0

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the ``max_concurrent`` slots for the duration of the block."""
        if self._slots is None:
            yield
            return
        if self._proceed is None:
            with self._slots:
                yield
            return
        while not self._slots.acquire(timeout=0.05):
            self._proceed()
        try:
            self._proceed()  # the slot came free after a stop: start nothing
            yield
        finally:
            self._slots.release()

    def throttle(self) -> None:
        """Wait until one more start fits the per-minute bound, and record it."""
        if self.per_minute is None:
            return
        while True:
            with self._lock:
                now = self._clock()
                while self._starts and now - self._starts[0] >= self._window:
                    self._starts.popleft()
                if len(self._starts) < self._burst:
                    self._starts.append(now)
                    return
                wait = self._starts[0] + self._window - now
            # Sleep outside the lock so other threads can see the window too.
            self._sleep(wait)


class Reachability:
    """Which hosts have stopped taking connections, by requests that never reached them.

    A request counts when every attempt it was allowed failed to connect (refused, reset
    before any answer, connect timeout); any answer from the host, an error status
    included, clears the count. Thread-safe: the requests of a run share one.

    Args:
        threshold: requests in a row that never reached a host before it is given up on.
    """

    def __init__(self, threshold: int = UNREACHABLE_AFTER) -> None:
        self.threshold = threshold
        self._lock = threading.Lock()
        self._failures: dict[str, tuple[int, str]] = {}

    def answered(self, host: str) -> None:
        """The host answered: it is reachable again."""
        with self._lock:
            self._failures.pop(host, None)

    def unreached(self, host: str, reason: str) -> None:
        """One more request never reached ``host``; ``reason`` says why (redacted)."""
        with self._lock:
            count, _ = self._failures.get(host, (0, ""))
            self._failures[host] = (count + 1, reason)

    def given_up(self, host: str) -> str | None:
        """Why ``host`` is given up on (its last connection error), or ``None``."""
        with self._lock:
            count, reason = self._failures.get(host, (0, ""))
        return reason if count >= self.threshold else None


class HttpClient:
    """JSON over HTTP with a retry policy, for one service and one API key.

    Args:
        api_key: sent as ``Authorization: Bearer`` on requests with ``auth=True``; may be
            ``None`` for services that need none (a local Ollama).
        timeout: default per-request timeout in seconds (connect and read).
        service: the service's name, used in error messages.
        clock: monotonic clock for deadlines, injectable for tests.
        sleep: sleep between retries, injectable for tests.
        wall_clock: wall-clock time, to read ``Retry-After`` HTTP dates.
        proceed: called before every attempt; raises to send nothing more (an
            interrupted run: :meth:`~alttext.captioners.retry.Stopper.check`).
    """

    def __init__(
        self,
        *,
        api_key: str | None,
        timeout: float,
        service: str,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        wall_clock: Clock = time.time,
        proceed: Callable[[], None] | None = None,
    ) -> None:
        self._proceed = proceed
        self._api_key = api_key
        self.timeout = timeout
        self.service = service
        self.clock = clock
        self.sleep = sleep
        self._wall_clock = wall_clock
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()
        self.reachability = Reachability()

    def __repr__(self) -> str:
        return f"HttpClient(service={self.service!r}, timeout={self.timeout!r})"

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            import requests.adapters

            session = requests.Session()
            session.headers["User-Agent"] = USER_AGENT
            # Retries are ours (policy-aware); urllib3 must not add its own on top.
            adapter = requests.adapters.HTTPAdapter(max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self._local.session = session
            with self._sessions_lock:
                self._sessions.append(session)
        return session

    def close(self) -> None:
        """Close every thread's session; safe to call twice."""
        with self._sessions_lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()
        self._local = threading.local()

    def redact(self, text: str) -> str:
        """``text`` with the API key replaced by ``***``."""
        return redact(text, self._api_key)

    def send(
        self,
        method: str,
        url: str,
        *,
        what: str,
        policy: RetryPolicy,
        json: object = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        auth: bool = True,
        timeout: Timeout | None = None,
        deadline: float | None = None,
        before_attempt: Callable[[], None] | None = None,
    ) -> requests.Response:
        """Send one request, retrying what ``policy`` allows; return a 2xx response.

        Args:
            method: HTTP method.
            url: absolute URL.
            what: names the request in errors and logs (``"WaveSpeed submit"``).
            policy: which failures to retry and how long to wait.
            json: a JSON body, or ``None``.
            data: a raw body, or ``None``.
            headers: extra headers.
            auth: add the API key; ``False`` also strips any ``Authorization`` header.
            timeout: per-request timeout; defaults to :attr:`timeout`.
            deadline: a :attr:`clock` value after which no retry is started and no request
                waits longer.
            before_attempt: called before every attempt (rate limiting).

        Raises:
            CaptionAPIError: an error answer, or a connection failure, after the retries.
            CaptionTimeout: no answer in time (``task_id`` is ``None``: it is unknown).
        """
        import requests

        send_headers = dict(headers or {})
        if auth and self._api_key:
            send_headers["Authorization"] = f"Bearer {self._api_key}"
        host = urlsplit(url).netloc
        attempt = 0
        while True:
            attempt += 1
            if self._proceed is not None:
                self._proceed()
            self._refuse_if_unreachable(host, what)
            if before_attempt is not None:
                before_attempt()
            try:
                response = self._session().request(
                    method,
                    url,
                    json=json,
                    data=data,
                    headers=send_headers,
                    auth=None if auth else _strip_auth,
                    timeout=self._timeout(timeout, deadline),
                )
            except requests.RequestException as exc:
                retryable, error = self._translate(exc, what=what, timeout=timeout)
                delay = policy.backoff(attempt)
                # Not when the wait would end past the deadline: nothing may run past it.
                if retryable(policy) and self._may_retry(policy, attempt, delay, deadline):
                    log.debug("%s: %s; retry %d in %.2fs", what, error, attempt, delay)
                    self.sleep(delay)
                    continue
                if _never_reached(exc):
                    self.reachability.unreached(host, str(error))
                raise error from exc
            self.reachability.answered(host)
            if 200 <= response.status_code < 300:
                return response
            delay = policy.delay(
                attempt, response.headers.get("Retry-After"), now=self._wall_clock()
            )
            if policy.retries_status(response.status_code) and self._may_retry(
                policy, attempt, delay, deadline
            ):
                log.debug(
                    "%s: HTTP %d; retry %d in %.2fs", what, response.status_code, attempt, delay
                )
                response.close()
                self.sleep(delay)
                continue
            if response.status_code == 401 and auth:
                raise self.status_error(response, what=what, rejected=CredentialsRejected)
            raise self.status_error(response, what=what)

    def _refuse_if_unreachable(self, host: str, what: str) -> None:
        reason = self.reachability.given_up(host)
        if reason is not None:
            threshold = self.reachability.threshold
            raise CaptionAPIError(
                f"{what}: not sent: the last {threshold} requests to {self.service} never "
                f"reached {host}, so this run sends it no more (last error: {reason})"
            )

    def _timeout(self, timeout: Timeout | None, deadline: float | None) -> Timeout:
        chosen = self.timeout if timeout is None else timeout
        if deadline is None:
            return chosen
        # Never wait on one request past the overall deadline.
        remaining = max(0.001, deadline - self.clock())
        if isinstance(chosen, tuple):
            return (min(chosen[0], remaining), min(chosen[1], remaining))
        return min(chosen, remaining)

    def _may_retry(
        self, policy: RetryPolicy, attempt: int, delay: float, deadline: float | None
    ) -> bool:
        if not policy.can_retry(attempt):
            return False
        return deadline is None or self.clock() + delay < deadline

    def _translate(
        self, exc: requests.RequestException, *, what: str, timeout: Timeout | None
    ) -> tuple[Callable[[RetryPolicy], bool], CaptionAPIError | CaptionTimeout]:
        """Classify a requests exception: may it be retried, and what error reports it."""
        import requests

        reason = self.redact(str(exc))[:300]
        if isinstance(exc, requests.exceptions.SSLError):
            # A certificate problem does not go away by asking again.
            return (lambda _p: False), CaptionAPIError(f"{what}: TLS error: {reason}")
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return (lambda p: p.retry_connect), CaptionTimeout(
                f"{what}: could not connect to {self.service}: {reason}"
            )
        if isinstance(exc, requests.exceptions.Timeout):
            seconds = self.timeout if timeout is None else timeout
            return (lambda p: p.retry_read), CaptionTimeout(
                f"{what}: no answer from {self.service} within {seconds} s"
            )
        if isinstance(exc, requests.exceptions.ConnectionError):
            # Refused, or reset before any answer: the service did not take the request.
            return (lambda p: p.retry_connect), CaptionAPIError(
                f"{what}: connection to {self.service} failed: {reason}"
            )
        if isinstance(exc, requests.exceptions.ChunkedEncodingError):
            return (lambda p: p.retry_read), CaptionAPIError(
                f"{what}: answer from {self.service} was cut off: {reason}"
            )
        return (lambda _p: False), CaptionAPIError(f"{what}: request failed: {reason}")

    def status_error(
        self,
        response: requests.Response,
        *,
        what: str,
        rejected: type[CaptionAPIError] = CaptionAPIError,
    ) -> CaptionAPIError:
        """A ``CaptionAPIError`` describing an error answer (key redacted, body truncated);
        ``rejected``: the class to raise (:class:`CredentialsRejected` for a refused key)."""
        body = self.redact(response.text[:BODY_LIMIT])
        message = self.redact(server_message(body)) or response.reason or "no message"
        advice = ""
        if rejected is CredentialsRejected:
            advice = " (the API key was refused: check it; the run stops here)"
        return rejected(
            f"{what}: {self.service} answered HTTP {response.status_code}: {message}{advice}",
            status=response.status_code,
            body=body,
        )

    def read_json(self, response: requests.Response, *, what: str) -> dict[str, Any]:
        """The JSON object in ``response``; ``CaptionAPIError`` if it is not one."""
        try:
            parsed = response.json()
        except ValueError as exc:
            raise CaptionAPIError(
                f"{what}: {self.service} answered with invalid JSON",
                status=response.status_code,
                body=self.redact(response.text[:BODY_LIMIT]),
            ) from exc
        if not isinstance(parsed, dict):
            raise CaptionAPIError(
                f"{what}: {self.service} answered with JSON that is not an object",
                status=response.status_code,
                body=self.redact(response.text[:BODY_LIMIT]),
            )
        return parsed
