"""Retry and polling policies as pure value objects (urllib3 ``Retry`` style).

A policy only answers questions ("may I try again?", "how long do I wait?"); the loops that
ask them live in :mod:`alttext.captioners.http` and the backends. Time enters only through
the ``now`` arguments and the injectable :data:`Clock` / :data:`Sleep` callables, so tests run
retry and poll loops in zero wall time.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from alttext.errors import CaptionError

#: A monotonic clock in seconds (``time.monotonic`` in production).
Clock = Callable[[], float]
#: A sleep function in seconds (``time.sleep`` in production).
Sleep = Callable[[float], None]

#: Answers that say "not now" rather than "no": rate limits and server trouble.
RETRYABLE_STATUSES: frozenset[int] = frozenset({429, 500, 502, 503, 504})
#: Answers that prove a gateway or rate limiter turned a request away before the service
#: acted on it; a 500 may come after the service created (and billed) a task.
NOT_TAKEN_STATUSES: frozenset[int] = frozenset({429, 502, 503, 504})


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Return the delay a ``Retry-After`` header asks for, in seconds.

    Args:
        value: the header value: delta-seconds (``"3"``) or an HTTP date.
        now: the current wall-clock time (``time.time()``), for HTTP dates.

    Returns:
        The delay (never negative), or ``None`` when the header is absent or malformed.
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        import email.utils  # an HTTP date: rare, and the module costs start-up time

        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # RFC 9110 dates are GMT; a naive one would be local time
            return None
        seconds = when.timestamp() - now
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When and how long to wait before trying a request again.

    Attributes:
        max_attempts: attempts in all, the first included (1 means never retry).
        backoff_factor: the first retry waits this long; each later one twice as long.
        backoff_max: cap on the exponential backoff.
        retry_after_max: cap on a server's ``Retry-After`` (a hostile or buggy header must
            not park a worker for an hour).
        statuses: HTTP statuses worth another try.
        retry_connect: retry when the request provably never reached the service (refused,
            reset before any answer, connect timeout).
        retry_read: retry when the service may have acted on the request (read timeout,
            answer cut off). Only safe for idempotent requests.
    """

    max_attempts: int = 5
    backoff_factor: float = 0.5
    backoff_max: float = 8.0
    retry_after_max: float = 60.0
    statuses: frozenset[int] = field(default=RETRYABLE_STATUSES)
    retry_connect: bool = True
    retry_read: bool = True

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.backoff_factor < 0 or self.backoff_max < 0 or self.retry_after_max < 0:
            raise ValueError("delays must not be negative")

    def can_retry(self, attempt: int) -> bool:
        """Whether another attempt is allowed after ``attempt`` attempts (1-based) failed."""
        return attempt < self.max_attempts

    def retries_status(self, status: int) -> bool:
        """Whether an answer with this HTTP status is worth another try."""
        return status in self.statuses

    def backoff(self, attempt: int) -> float:
        """Backoff after failed attempt number ``attempt`` (1-based), capped."""
        if attempt < 1:
            return 0.0
        # Bound the exponent so a silly attempt number cannot overflow the float.
        return float(min(self.backoff_max, self.backoff_factor * 2.0 ** min(attempt - 1, 64)))

    def delay(self, attempt: int, retry_after: str | None = None, *, now: float = 0.0) -> float:
        """The wait before the next attempt: the server's ``Retry-After`` if it sent a valid
        one (capped at :attr:`retry_after_max`), else the exponential backoff.

        Args:
            attempt: the number of the attempt that just failed (1-based).
            retry_after: the raw ``Retry-After`` header, if any.
            now: the current wall-clock time, to read HTTP-date values.
        """
        asked = parse_retry_after(retry_after, now=now)
        if asked is not None:
            return min(asked, self.retry_after_max)
        return self.backoff(attempt)


#: For requests safe to repeat (polls, upload tickets, the upload PUT): retry every
#: transient failure.
IDEMPOTENT = RetryPolicy()
#: For requests that may create a paid task (a submit, a chat completion): retry only what
#: the service provably did not take.
NOT_IDEMPOTENT = RetryPolicy(statuses=NOT_TAKEN_STATUSES, retry_read=False)


@dataclass(frozen=True, slots=True)
class PollSchedule:
    """Adaptive poll intervals: look soon after submitting, then back off to a cap.

    A short first interval keeps fast tasks fast (many tasks finish in well under a
    second); the growth keeps a slow task from costing one request per ``first`` seconds.

    Attributes:
        first: wait before the first poll.
        factor: each later wait is the previous one times this.
        cap: the longest wait between two polls.
    """

    first: float = 0.3
    factor: float = 1.5
    cap: float = 2.0

    def __post_init__(self) -> None:
        if self.first < 0 or self.cap < 0:
            raise ValueError("poll intervals must not be negative")
        if self.factor < 1:
            raise ValueError("factor must be at least 1")

    def interval(self, poll: int) -> float:
        """The wait before poll number ``poll`` (0-based)."""
        return float(min(self.cap, self.first * self.factor ** min(max(poll, 0), 64)))

    def intervals(self) -> Iterator[float]:
        """Endless waits before poll 0, 1, 2, ..."""
        poll = 0
        while True:
            yield self.interval(poll)
            poll += 1


class Stopper:
    """A sleep that a run can cut short: :meth:`stop` wakes every sleeper at once.

    A backend waits between polls, retries and rate-limited requests; a run that is
    interrupted (Ctrl-C, SIGTERM) must not wait for those threads to finish a task that
    may take minutes. A task already submitted stays in the task journal, so the next run
    takes its result instead of paying again.
    """

    def __init__(self, sleep: Sleep = time.sleep) -> None:
        self._sleep = sleep
        self._stopped = threading.Event()

    def sleep(self, seconds: float) -> None:
        """Sleep ``seconds``; raise :class:`CaptionError` if the run is stopped meanwhile."""
        if self._stopped.is_set():
            raise CaptionError("not finished: the run was interrupted")
        if self._sleep is time.sleep:
            if self._stopped.wait(seconds):
                raise CaptionError("not finished: the run was interrupted")
        else:  # an injected (test) clock: its sleep moves its time
            self._sleep(seconds)

    def check(self) -> None:
        """Raise :class:`CaptionError` if the run has been stopped (before a request)."""
        if self._stopped.is_set():
            raise CaptionError("not sent: the run was interrupted")

    def stop(self) -> None:
        """Wake every sleeper now, and make every later sleep fail at once."""
        self._stopped.set()
