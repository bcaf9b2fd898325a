"""Retry/poll policies, the concurrency and rate limiter, and the shared HTTP retry loop."""

from __future__ import annotations

import email.utils
import socket
import threading
from collections.abc import Iterator

import pytest
from servers import FakeClock, Fault, LoopbackServer, Received, Reply

from alttext.captioners.http import HttpClient, Limiter, check_base_url, server_message
from alttext.captioners.retry import (
    IDEMPOTENT,
    NOT_IDEMPOTENT,
    PollSchedule,
    RetryPolicy,
    parse_retry_after,
)
from alttext.errors import CaptionAPIError, CaptionTimeout, ConfigError

NOW = 1_700_000_000.0


# -- Retry-After ----------------------------------------------------------------------------


def test_retry_after_in_seconds() -> None:
    assert parse_retry_after("3", now=NOW) == 3.0
    assert parse_retry_after(" 1.5 ", now=NOW) == 1.5


def test_retry_after_as_http_date() -> None:
    header = email.utils.formatdate(NOW + 7, usegmt=True)
    assert parse_retry_after(header, now=NOW) == pytest.approx(7.0)


def test_retry_after_in_the_past_means_now() -> None:
    assert parse_retry_after(email.utils.formatdate(NOW - 30, usegmt=True), now=NOW) == 0.0
    assert parse_retry_after("-5", now=NOW) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "nan", "inf", "Mon, 99 Foo 20xx"])
def test_malformed_retry_after_is_ignored(value: str | None) -> None:
    assert parse_retry_after(value, now=NOW) is None


# -- RetryPolicy ----------------------------------------------------------------------------


def test_backoff_grows_exponentially_to_its_cap() -> None:
    policy = RetryPolicy(backoff_factor=0.5, backoff_max=4.0)
    assert [policy.backoff(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert policy.backoff(10_000) == 4.0  # no overflow


def test_delay_prefers_retry_after_and_caps_it_at_60_seconds() -> None:
    policy = RetryPolicy()
    assert policy.delay(1, "3", now=NOW) == 3.0
    assert policy.delay(1, "3600", now=NOW) == 60.0
    assert policy.delay(1, email.utils.formatdate(NOW + 600, usegmt=True), now=NOW) == 60.0
    assert policy.delay(3, None, now=NOW) == policy.backoff(3)
    assert policy.delay(3, "garbage", now=NOW) == policy.backoff(3)


def test_max_attempts_counts_the_first_attempt() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert [policy.can_retry(n) for n in (1, 2, 3)] == [True, True, False]
    assert not RetryPolicy(max_attempts=1).can_retry(1)


def test_non_idempotent_policy_retries_only_what_was_not_taken() -> None:
    assert {s for s in range(400, 600) if NOT_IDEMPOTENT.retries_status(s)} == {429, 502, 503, 504}
    assert NOT_IDEMPOTENT.retry_connect and not NOT_IDEMPOTENT.retry_read
    assert {s for s in range(400, 600) if IDEMPOTENT.retries_status(s)} == {
        429,
        500,
        502,
        503,
        504,
    }
    assert IDEMPOTENT.retry_connect and IDEMPOTENT.retry_read


@pytest.mark.parametrize(
    "kwargs", [{"max_attempts": 0}, {"backoff_factor": -1.0}, {"retry_after_max": -1.0}]
)
def test_policy_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


# -- PollSchedule ---------------------------------------------------------------------------


def test_poll_schedule_starts_soon_and_grows_to_a_cap() -> None:
    schedule = PollSchedule()
    waits = [schedule.interval(n) for n in range(12)]
    assert 0.25 <= waits[0] <= 0.5
    assert waits == sorted(waits)
    assert waits[-1] == 2.0
    assert max(waits) == 2.0
    it = schedule.intervals()
    assert [next(it) for _ in range(12)] == waits


def test_poll_schedule_rejects_a_shrinking_factor() -> None:
    with pytest.raises(ValueError):
        PollSchedule(factor=0.5)


# -- Limiter --------------------------------------------------------------------------------


def test_rate_limit_is_a_sliding_window_of_per_minute_starts() -> None:
    clock = FakeClock()
    limiter = Limiter(max_concurrent=None, per_minute=2, clock=clock, sleep=clock.sleep)
    starts = []
    for _ in range(5):
        limiter.throttle()
        starts.append(clock())
    assert [s - starts[0] for s in starts] == [0.0, 0.0, 60.0, 60.0, 120.0]


def test_fractional_rate_spaces_single_starts() -> None:
    clock = FakeClock()
    limiter = Limiter(max_concurrent=None, per_minute=0.5, clock=clock, sleep=clock.sleep)
    starts = []
    for _ in range(3):
        limiter.throttle()
        starts.append(clock())
    assert [s - starts[0] for s in starts] == [0.0, 120.0, 240.0]


@pytest.mark.parametrize("per_minute", [None, 0, -1])
def test_no_rate_limit_never_sleeps(per_minute: float | None) -> None:
    clock = FakeClock()
    limiter = Limiter(max_concurrent=None, per_minute=per_minute, clock=clock, sleep=clock.sleep)
    for _ in range(50):
        limiter.throttle()
    assert clock.sleeps == []


def test_rate_limit_holds_across_threads() -> None:
    clock = FakeClock()
    limiter = Limiter(max_concurrent=None, per_minute=3, clock=clock, sleep=clock.sleep)
    starts: list[float] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(3):
            limiter.throttle()
            with lock:
                starts.append(clock())

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(starts) == 18
    for t0 in starts:
        assert sum(1 for s in starts if t0 <= s < t0 + 60) <= 3


def test_concurrency_bound_blocks_the_extra_task_until_a_slot_frees() -> None:
    limiter = Limiter(max_concurrent=2, per_minute=None)
    release = threading.Event()
    inside: list[str] = []
    lock = threading.Lock()

    def task(name: str) -> None:
        with limiter.slot():
            with lock:
                inside.append(name)
            release.wait(10)

    first = [threading.Thread(target=task, args=(n,)) for n in ("a", "b")]
    for t in first:
        t.start()
    third = threading.Thread(target=task, args=("c",))
    third.start()
    third.join(0.2)  # it must still be waiting for a slot
    with lock:
        assert sorted(inside) == ["a", "b"]
    release.set()
    for t in [*first, third]:
        t.join(10)
    assert sorted(inside) == ["a", "b", "c"]


def test_concurrency_must_be_positive() -> None:
    with pytest.raises(ConfigError):
        Limiter(max_concurrent=0, per_minute=None)


# -- HttpClient against a loopback server ---------------------------------------------------


class EchoServer(LoopbackServer):
    """Answers every request with 200 and ``{"ok": true, "method": ...}``."""

    def route(self, method: str, path: str) -> str:
        return "echo"

    def handle(self, request: Received) -> Reply:
        return Reply(200, {"ok": True, "method": request.method})


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    with EchoServer() as server:
        yield server  # type: ignore[misc]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def client(
    clock: FakeClock, *, key: str | None = "sekrit-key-42", timeout: float = 5.0
) -> HttpClient:
    return HttpClient(
        api_key=key,
        timeout=timeout,
        service="Echo",
        clock=clock,
        sleep=clock.sleep,
        wall_clock=clock.wall,
    )


def test_key_is_sent_per_request_and_never_with_auth_false(
    echo: EchoServer, clock: FakeClock
) -> None:
    http = client(clock)
    http.send("GET", echo.url + "/a", what="t", policy=IDEMPOTENT)
    http.send(
        "PUT",
        echo.url + "/b",
        what="t",
        policy=IDEMPOTENT,
        auth=False,
        data=b"x",
        headers={"Authorization": "Bearer smuggled"},
    )
    first, second = echo.requests()
    assert first.header("Authorization") == "Bearer sekrit-key-42"
    assert second.header("Authorization") is None
    assert "sekrit" not in repr(http)
    http.close()
    http.close()


def test_retries_status_with_backoff_then_gives_up_with_the_server_message(
    echo: EchoServer, clock: FakeClock
) -> None:
    body = {"code": 503, "message": "overloaded, key sekrit-key-42"}
    echo.inject("echo", *[Fault(status=503, body=body)] * 3)
    http = client(clock)
    with pytest.raises(CaptionAPIError) as info:
        http.send("GET", echo.url, what="poll", policy=RetryPolicy(max_attempts=3))
    assert info.value.status == 503
    assert "overloaded" in str(info.value)
    assert "sekrit" not in str(info.value) and "sekrit" not in (info.value.body or "")
    assert clock.sleeps == [0.5, 1.0]
    assert len(echo.requests()) == 3


def test_a_retry_that_would_pass_the_deadline_is_not_started(
    echo: EchoServer, clock: FakeClock
) -> None:
    echo.inject("echo", Fault(status=429, headers={"Retry-After": "30"}))
    http = client(clock)
    with pytest.raises(CaptionAPIError) as info:
        http.send("GET", echo.url, what="poll", policy=IDEMPOTENT, deadline=clock() + 10)
    assert info.value.status == 429
    assert clock.sleeps == []
    assert len(echo.requests()) == 1


def test_read_timeout_is_retried_only_when_the_policy_allows(echo: EchoServer) -> None:
    clock = FakeClock()
    echo.inject("echo", Fault(delay=0.5))
    response = client(clock, timeout=0.2).send("GET", echo.url, what="poll", policy=IDEMPOTENT)
    assert response.json()["ok"] is True
    assert len(echo.requests()) == 2

    echo.inject("echo", Fault(delay=0.5))
    with pytest.raises(CaptionTimeout) as info:
        client(clock, timeout=0.2).send("POST", echo.url, what="submit", policy=NOT_IDEMPOTENT)
    assert info.value.task_id is None
    assert len(echo.requests()) == 3  # one more, not retried


def test_connection_refused_is_retried_then_reported(clock: FakeClock) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # The port is closed now: every connect is refused.
    with pytest.raises(CaptionAPIError, match="connection to Echo failed"):
        client(clock).send(
            "POST", f"http://127.0.0.1:{port}/", what="submit", policy=NOT_IDEMPOTENT
        )
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0]


def test_invalid_json_is_a_caption_api_error(echo: EchoServer, clock: FakeClock) -> None:
    echo.inject("echo", Fault(status=200, body="<html>gateway</html>"))
    http = client(clock)
    response = http.send("GET", echo.url, what="poll", policy=IDEMPOTENT)
    with pytest.raises(CaptionAPIError, match="invalid JSON") as info:
        http.read_json(response, what="poll")
    assert info.value.body == "<html>gateway</html>"


def test_server_message_reads_envelopes_and_plain_text() -> None:
    assert server_message('{"code": 401, "message": "bad key"}') == "bad key"
    assert server_message('{"error": {"message": "nope", "code": "x"}}') == "nope"
    assert server_message("Bad   Gateway\n") == "Bad Gateway"


def test_base_url_must_be_http() -> None:
    assert check_base_url("https://h.example/", what="base") == "https://h.example"
    with pytest.raises(ConfigError, match="http"):
        check_base_url("ftp://h.example", what="base")
