"""The WaveSpeed backend against a stateful loopback WaveSpeed API."""

from __future__ import annotations

import base64
import email.utils
import hashlib
import io
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from servers import FakeClock, Fault
from servers.wavespeed import API_KEY, MODEL, SYNC_TIMEOUT_ERROR, Plan, WaveSpeedServer

from alttext.captioners import registry
from alttext.captioners.base import BackendOptions, CaptionRequest
from alttext.captioners.wavespeed import WaveSpeedCaptioner, create
from alttext.errors import (
    CaptionAPIError,
    CaptionTimeout,
    ConfigError,
    ImageError,
    NoCaption,
)

PUBLIC_URL = "https://example.org/img/red.png"


@pytest.fixture
def server() -> Iterator[WaveSpeedServer]:
    with WaveSpeedServer() as srv:
        yield srv


@pytest.fixture
def clock(server: WaveSpeedServer) -> FakeClock:
    fake = FakeClock()
    server.clock = fake  # the server stamps requests with fake time
    return fake


@pytest.fixture
def png(tmp_path: Path) -> bytes:
    path = tmp_path / "red.png"
    Image.new("RGB", (64, 48), "red").save(path)
    return path.read_bytes()


def make(server: WaveSpeedServer, clock: FakeClock, **kwargs: Any) -> WaveSpeedCaptioner:
    kwargs.setdefault("per_minute", None)
    kwargs.setdefault("timeout", 2.0)
    kwargs.setdefault("deadline", 60.0)
    return WaveSpeedCaptioner(
        API_KEY,
        base_url=server.url,
        clock=clock,
        sleep=clock.sleep,
        wall_clock=clock.wall,
        **kwargs,
    )


def req(data: bytes = b"", public_url: str | None = PUBLIC_URL, **kwargs: Any) -> CaptionRequest:
    return CaptionRequest(
        image=data,
        mime_type="image/png",
        content_hash=hashlib.sha256(data).hexdigest(),
        public_url=public_url,
        **kwargs,
    )


def assert_authorized(server: WaveSpeedServer) -> None:
    for r in server.requests():
        if r.route in ("submit", "poll", "ticket"):
            assert r.header("Authorization") == f"Bearer {API_KEY}"


# -- the happy paths ------------------------------------------------------------------------


def test_submit_then_poll_until_completed(server: WaveSpeedServer, clock: FakeClock) -> None:
    result = make(server, clock).caption(req())

    [submit] = server.requests("submit")
    assert submit.path == f"/api/v3/{MODEL}"
    assert submit.json() == {"image": PUBLIC_URL, "detail_level": "low"}  # no sync key, no focus
    [task] = server.tasks.values()
    polls = server.requests("poll")
    assert [p.path for p in polls] == [f"/api/v3/predictions/{task.id}/result"] * 2
    assert_authorized(server)
    assert result.caption == "A red square on a white background"
    assert (result.backend, result.model, result.task_id) == ("wavespeed", MODEL, task.id)
    assert (result.nsfw, result.inference_ms) == (False, 812)
    # Adaptive polling: the first poll comes soon, the next one later.
    assert 0.25 <= clock.sleeps[0] <= 0.5
    assert clock.sleeps[1] > clock.sleeps[0]


def test_focus_and_detail_are_sent(server: WaveSpeedServer, clock: FakeClock) -> None:
    make(server, clock).caption(req(detail="high", focus="the logo"))
    [submit] = server.requests("submit")
    assert submit.json() == {"image": PUBLIC_URL, "detail_level": "high", "focus": "the logo"}


def test_object_outputs_and_nsfw_flags_are_read(server: WaveSpeedServer, clock: FakeClock) -> None:
    server.plans.append(Plan(output_style="object", caption=" A cat on a sofa ", nsfw=True))
    result = make(server, clock).caption(req())
    assert (result.caption, result.nsfw) == ("A cat on a sofa", True)


def test_an_empty_caption_is_no_caption(server: WaveSpeedServer, clock: FakeClock) -> None:
    server.plans.append(Plan(caption="   "))
    with pytest.raises(NoCaption):
        make(server, clock).caption(req())


def test_poll_url_is_built_from_the_configured_base(
    server: WaveSpeedServer, clock: FakeClock
) -> None:
    # An answer's urls.get pointing elsewhere must not receive our key.
    server.urls_base = "http://127.0.0.2:9"
    result = make(server, clock).caption(req())
    assert result.caption
    assert len(server.requests("poll")) == 2


# -- image transports -----------------------------------------------------------------------


def test_auto_uploads_through_a_ticket_without_leaking_the_key(
    server: WaveSpeedServer, clock: FakeClock, png: bytes
) -> None:
    result = make(server, clock).caption(req(png, public_url=None))

    [ticket] = server.requests("ticket")
    assert ticket.json() == {
        "filename": hashlib.sha256(png).hexdigest()[:16] + ".png",
        "size": len(png),
        "content_type": "image/png",
    }
    [put] = server.requests("put")
    assert put.header("Authorization") is None
    [upload] = server.uploads.values()
    assert put.header("x-upload-token") == upload.token
    assert put.header("Content-Type") == "image/png"
    assert put.body == png and upload.data == png
    [submit] = server.requests("submit")
    assert submit.json()["image"] == f"{server.url}/files/{upload.token}/{upload.filename}"
    assert_authorized(server)
    assert result.caption


def test_upload_converts_formats_first(
    server: WaveSpeedServer, clock: FakeClock, tmp_path: Path
) -> None:
    path = tmp_path / "a.bmp"
    Image.new("RGB", (30, 30), "blue").save(path)
    data = path.read_bytes()
    make(server, clock, image_transport="upload").caption(req(data, public_url=PUBLIC_URL))
    [put] = server.requests("put")
    assert put.header("Content-Type") == "image/jpeg"
    assert Image.open(io.BytesIO(put.body)).format == "JPEG"


def test_data_uri_transport_inlines_the_image(
    server: WaveSpeedServer, clock: FakeClock, png: bytes
) -> None:
    make(server, clock, image_transport="data-uri").caption(req(png))
    [submit] = server.requests("submit")
    head, _, payload = submit.json()["image"].partition(",")
    assert head == "data:image/png;base64"
    assert base64.b64decode(payload) == png
    assert server.requests("ticket") == []


def test_url_transport_without_a_public_url_fails_before_any_request(
    server: WaveSpeedServer, clock: FakeClock, png: bytes
) -> None:
    with pytest.raises(ImageError, match="public"):
        make(server, clock, image_transport="url").caption(req(png, public_url=None))
    assert server.requests() == []


def test_an_unreadable_image_fails_before_any_request(
    server: WaveSpeedServer, clock: FakeClock
) -> None:
    with pytest.raises(ImageError):
        make(server, clock).caption(req(b"not an image", public_url=None))
    assert server.requests() == []


def test_a_put_failure_is_retried(server: WaveSpeedServer, clock: FakeClock, png: bytes) -> None:
    server.inject("put", Fault(status=503, body="SlowDown"))
    assert make(server, clock).caption(req(png, public_url=None)).caption
    assert len(server.requests("put")) == 2
    assert len(server.requests("submit")) == 1


# -- configuration --------------------------------------------------------------------------


def test_create_needs_a_key_and_reads_env(server: WaveSpeedServer) -> None:
    with pytest.raises(ConfigError, match="WAVESPEED_API_KEY"):
        create(BackendOptions(env={"WAVESPEED_BASE_URL": server.url}))
    assert server.requests() == []

    env = {"WAVESPEED_API_KEY": API_KEY, "WAVESPEED_BASE_URL": server.url}
    backend = create(BackendOptions(env=env, per_minute=0))
    assert backend.base_url == server.url and backend.model == MODEL
    assert API_KEY not in repr(backend)
    assert backend.caption(req()).caption
    assert_authorized(server)

    explicit = create(BackendOptions(api_key="other", base_url="https://gw.example/", env=env))
    assert explicit.base_url == "https://gw.example"


def test_defaults_fit_the_default_account_tier() -> None:
    backend = create(BackendOptions(api_key="k"))
    assert backend.base_url == "https://api.wavespeed.ai"
    assert (backend._limiter.max_concurrent, backend._limiter.per_minute) == (2, 2.0)
    raised = create(BackendOptions(api_key="k", max_concurrent=50, per_minute=1000))
    assert (raised._limiter.max_concurrent, raised._limiter.per_minute) == (50, 1000)


def test_registry_builds_the_backend(server: WaveSpeedServer) -> None:
    backend = registry.create("wavespeed", BackendOptions(api_key=API_KEY, base_url=server.url))
    assert isinstance(backend, WaveSpeedCaptioner)
    backend.close()
    backend.close()


def test_bad_base_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="http"):
        create(BackendOptions(api_key="k", base_url="api.wavespeed.ai"))


# -- errors that must fail fast -------------------------------------------------------------


def test_wrong_key_is_401_with_the_server_message(
    server: WaveSpeedServer, clock: FakeClock
) -> None:
    backend = WaveSpeedCaptioner(
        "wrong-key-987", base_url=server.url, clock=clock, sleep=clock.sleep, per_minute=None
    )
    with pytest.raises(CaptionAPIError) as info:
        backend.caption(req())
    assert info.value.status == 401
    assert "invalid or missing API key" in str(info.value)
    assert len(server.requests("submit")) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_client_errors_on_submit_fail_fast(
    server: WaveSpeedServer, clock: FakeClock, status: int
) -> None:
    server.inject("submit", Fault(status=status, body={"code": status, "message": "no way"}))
    with pytest.raises(CaptionAPIError, match="no way") as info:
        make(server, clock).caption(req())
    assert info.value.status == status
    assert len(server.requests("submit")) == 1
    assert clock.sleeps == []


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_client_errors_on_poll_fail_fast(
    server: WaveSpeedServer, clock: FakeClock, status: int
) -> None:
    server.inject("poll", Fault(status=status, body={"code": status, "message": "gone"}))
    with pytest.raises(CaptionAPIError, match="gone") as info:
        make(server, clock).caption(req())
    [task] = server.tasks.values()
    assert info.value.status == status
    assert task.id in str(info.value)
    assert len(server.requests("poll")) == 1


def test_the_key_is_redacted_from_errors(server: WaveSpeedServer, clock: FakeClock) -> None:
    body = {"code": 403, "message": f"account of key {API_KEY} is suspended"}
    server.inject("submit", Fault(status=403, body=body))
    with pytest.raises(CaptionAPIError) as info:
        make(server, clock).caption(req())
    assert API_KEY not in str(info.value) and API_KEY not in (info.value.body or "")
    assert "***" in str(info.value)


def test_a_500_on_submit_is_not_retried(server: WaveSpeedServer, clock: FakeClock) -> None:
    # The service may have created (and billed) the task before failing.
    server.inject("submit", Fault(status=500, body={"code": 500, "message": "internal"}))
    with pytest.raises(CaptionAPIError) as info:
        make(server, clock).caption(req())
    assert info.value.status == 500
    assert len(server.requests("submit")) == 1


def test_read_timeout_on_submit_is_reported_not_resubmitted(
    server: WaveSpeedServer, clock: FakeClock
) -> None:
    server.inject("submit", Fault(delay=0.5))  # the task is created; the answer is late
    with pytest.raises(CaptionTimeout, match="not resubmitted") as info:
        make(server, clock, timeout=0.2).caption(req())
    assert info.value.task_id is None
    assert len(server.requests("submit")) == 1


def test_invalid_json_on_submit(server: WaveSpeedServer, clock: FakeClock) -> None:
    server.inject("submit", Fault(status=200, body="<html>upstream</html>"))
    with pytest.raises(CaptionAPIError, match="invalid JSON"):
        make(server, clock).caption(req())
    assert len(server.requests("submit")) == 1


def test_missing_task_id_on_submit(server: WaveSpeedServer, clock: FakeClock) -> None:
    body = {"code": 200, "message": "success", "data": {"status": "created"}}
    server.inject("submit", Fault(status=200, body=body))
    with pytest.raises(CaptionAPIError, match="task id"):
        make(server, clock).caption(req())
    assert server.requests("poll") == []


def test_envelope_error_code_is_an_error(server: WaveSpeedServer, clock: FakeClock) -> None:
    server.inject("submit", Fault(status=200, body={"code": 1401, "message": "bad image"}))
    with pytest.raises(CaptionAPIError, match="bad image") as info:
        make(server, clock).caption(req())
    assert info.value.code == 1401


# -- retries that are safe -------------------------------------------------------------------


def test_submit_429_honours_retry_after_seconds(server: WaveSpeedServer, clock: FakeClock) -> None:
    server.inject("submit", Fault(status=429, headers={"Retry-After": "7"}))
    assert make(server, clock).caption(req()).caption
    assert len(server.requests("submit")) == 2
    assert len(server.tasks) == 1
    assert clock.sleeps[0] == 7.0


def test_submit_429_honours_retry_after_date_capped(
    server: WaveSpeedServer, clock: FakeClock
) -> None:
    server.inject(
        "submit",
        Fault(
            status=429,
            headers={"Retry-After": email.utils.formatdate(clock.wall() + 20, usegmt=True)},
        ),
        Fault(status=429, headers={"Retry-After": "86400"}),
    )
    assert make(server, clock, deadline=300.0).caption(req()).caption
    assert clock.sleeps[:2] == [pytest.approx(20.0, abs=1.0), 60.0]
    assert len(server.requests("submit")) == 3


def test_submit_429_without_retry_after_backs_off(
    server: WaveSpeedServer, clock: FakeClock
) -> None:
    server.inject("submit", Fault(status=429), Fault(status=429))
    assert make(server, clock).caption(req()).caption
    assert clock.sleeps[:2] == [0.5, 1.0]


@pytest.mark.parametrize("status", [502, 503, 504])
def test_submit_gateway_errors_are_retried(
    server: WaveSpeedServer, clock: FakeClock, status: int
) -> None:
    server.inject("submit", Fault(status=status, body="Bad Gateway"))
    assert make(server, clock).caption(req()).caption
    assert len(server.requests("submit")) == 2
    assert len(server.tasks) == 1


def test_submit_connection_reset_is_retried(server: WaveSpeedServer, clock: FakeClock) -> None:
    server.inject("submit", Fault(reset=True))
    assert make(server, clock).caption(req()).caption
    assert len(server.requests("submit")) == 2
    assert len(server.tasks) == 1


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def refused(clock: FakeClock, port: int) -> WaveSpeedCaptioner:
    """A backend pointed at a loopback port nothing listens on."""
    return WaveSpeedCaptioner(
        API_KEY,
        base_url=f"http://127.0.0.1:{port}",
        clock=clock,
        sleep=clock.sleep,
        per_minute=None,
    )


def test_submit_connection_refused_is_retried_then_reported(clock: FakeClock) -> None:
    backend = refused(clock, closed_port())
    with pytest.raises(CaptionAPIError, match="connection") as info:
        backend.caption(req())
    assert API_KEY not in str(info.value)
    assert len(clock.sleeps) == 4  # five attempts


def test_a_host_that_refuses_every_connection_is_given_up_after_three_requests(
    clock: FakeClock,
) -> None:
    port = closed_port()
    backend = refused(clock, port)
    errors = []
    for n in range(6):
        with pytest.raises(CaptionAPIError) as info:
            backend.caption(req(bytes([n])))
        errors.append(str(info.value))
    # Three requests retried in full (four waits each), then none is sent at all.
    assert len(clock.sleeps) == 12
    assert all("connection" in e and "not sent" not in e for e in errors[:3])
    for error in errors[3:]:
        assert "not sent" in error and f"127.0.0.1:{port}" in error
        assert "last 3 requests" in error and "connection" in error  # the last real error
        assert API_KEY not in error


def test_an_answer_from_the_host_clears_its_unreachable_count(
    server: WaveSpeedServer, clock: FakeClock
) -> None:
    backend = make(server, clock)
    resets = [Fault(reset=True)] * 5  # one request's five attempts
    for _ in range(3):
        server.inject("submit", *resets, *resets)  # two requests never reach it...
        for n in range(2):
            with pytest.raises(CaptionAPIError, match="connection"):
                backend.caption(req(bytes([n])))
        assert backend.caption(req(b"ok")).caption  # ...then one does: the count restarts
    assert len(server.requests("submit")) == 3 * (10 + 1)
    # An error status is an answer too.
    server.inject("submit", *resets, *resets, Fault(status=400, body={"message": "bad"}))
    for _ in range(2):
        with pytest.raises(CaptionAPIError, match="connection"):
            backend.caption(req(b"x"))
    with pytest.raises(CaptionAPIError, match="HTTP 400"):
        backend.caption(req(b"x"))
    server.inject("submit", *resets)
    with pytest.raises(CaptionAPIError, match="connection"):
        backend.caption(req(b"y"))
    assert backend.caption(req(b"z")).caption


@pytest.mark.parametrize(
    "fault",
    [
        Fault(status=429),
        Fault(status=429, headers={"Retry-After": "2"}),
        Fault(status=500, body="oops"),
        Fault(status=502),
        Fault(status=503),
        Fault(status=504),
        Fault(reset=True),
        Fault(delay=0.5),
    ],
    ids=["429", "429-retry-after", "500", "502", "503", "504", "reset", "slow"],
)
def test_poll_failures_are_retried(server: WaveSpeedServer, clock: FakeClock, fault: Fault) -> None:
    server.inject("poll", fault)
    result = make(server, clock, timeout=0.2).caption(req())
    assert result.caption
    assert len(server.requests("submit")) == 1
    assert len(server.requests("poll")) == 3


def test_invalid_json_on_poll(server: WaveSpeedServer, clock: FakeClock) -> None:
    server.inject("poll", Fault(status=200, body="not json"))
    with pytest.raises(CaptionAPIError, match="invalid JSON"):
        make(server, clock).caption(req())


def test_polls_that_keep_failing_end_in_an_error(server: WaveSpeedServer, clock: FakeClock) -> None:
    server.inject("poll", *[Fault(status=503)] * 5)
    with pytest.raises(CaptionAPIError) as info:
        make(server, clock).caption(req())
    assert info.value.status == 503
    assert len(server.requests("poll")) == 5
    assert len(server.requests("submit")) == 1


# -- task outcomes ---------------------------------------------------------------------------


@pytest.mark.parametrize("code", [1200, 1400, 1401, 1402, 1403, 1405, 5000, 5003, 5004])
def test_failed_task_carries_its_business_code(
    server: WaveSpeedServer, clock: FakeClock, code: int
) -> None:
    server.plans.append(Plan(outcome="failed", error_code=code, error=f"error {code} happened"))
    with pytest.raises(CaptionAPIError, match=f"error {code} happened") as info:
        make(server, clock).caption(req())
    [task] = server.tasks.values()
    assert info.value.code == code
    assert task.id in str(info.value)
    assert len(server.requests("submit")) == 1  # a failed task is not resubmitted


@pytest.mark.parametrize("outcome", ["cancelled", "timeout", "deleted"])
def test_other_terminal_statuses_are_failures(
    server: WaveSpeedServer, clock: FakeClock, outcome: Any
) -> None:
    server.plans.append(Plan(outcome=outcome))
    with pytest.raises(CaptionAPIError, match=outcome):
        make(server, clock).caption(req())
    assert len(server.requests("poll")) == 2


def test_a_task_that_never_completes_times_out_with_its_id(
    server: WaveSpeedServer, clock: FakeClock
) -> None:
    server.plans.append(Plan(outcome="never"))
    start = clock()
    with pytest.raises(CaptionTimeout) as info:
        make(server, clock, deadline=30.0).caption(req())
    [task] = server.tasks.values()
    assert info.value.task_id == task.id
    # Never past the deadline. (Before it when a poll near the end timed out: its real
    # socket timeout is what the fake clock leaves, a fraction of a second on a busy CI.)
    assert 28.0 <= clock() - start <= 30.0 + 1e-6
    polls = len(server.requests("poll"))
    assert 15 <= polls <= 25  # capped at 2 s between polls, not a busy loop
    assert max(clock.sleeps) == 2.0
    assert len(server.requests("submit")) == 1


# -- sync mode -------------------------------------------------------------------------------


def test_sync_mode_needs_no_poll(server: WaveSpeedServer, clock: FakeClock) -> None:
    result = make(server, clock, sync=True).caption(req())
    [submit] = server.requests("submit")
    assert submit.json() == {"image": PUBLIC_URL, "detail_level": "low", "enable_sync_mode": True}
    assert server.requests("poll") == []
    assert result.caption and result.task_id == next(iter(server.tasks))


def test_sync_timeout_falls_back_to_polling_the_same_task(
    server: WaveSpeedServer, clock: FakeClock
) -> None:
    server.plans.append(Plan(sync_timeout=True))
    result = make(server, clock, sync=True).caption(req())
    [task] = server.tasks.values()
    assert SYNC_TIMEOUT_ERROR
    assert len(server.requests("submit")) == 1
    assert {p.path for p in server.requests("poll")} == {f"/api/v3/predictions/{task.id}/result"}
    assert result.task_id == task.id and result.caption


def test_sync_gateway_504_is_not_resubmitted(server: WaveSpeedServer, clock: FakeClock) -> None:
    server.inject("submit", Fault(status=504, body="Gateway Timeout"))
    with pytest.raises(CaptionTimeout, match="not resubmitted") as info:
        make(server, clock, sync=True).caption(req())
    assert info.value.task_id is None
    assert len(server.requests("submit")) == 1


def test_sync_failed_task_is_reported(server: WaveSpeedServer, clock: FakeClock) -> None:
    server.plans.append(Plan(outcome="failed", error_code=1402, error="could not fetch"))
    with pytest.raises(CaptionAPIError, match="could not fetch") as info:
        make(server, clock, sync=True).caption(req())
    assert info.value.code == 1402
    assert server.requests("poll") == []


# -- limits ----------------------------------------------------------------------------------


def test_concurrency_bound_holds_across_a_thread_pool(
    server: WaveSpeedServer, clock: FakeClock
) -> None:
    server.default_plan = Plan(polls_to_finish=3)
    backend = make(server, clock, max_concurrent=2)
    results: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work() -> None:
        try:
            result = backend.caption(req())
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)
            return
        with lock:
            results.append(result.task_id or "")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert sorted(results) == sorted(server.tasks)
    assert len(set(results)) == 8
    assert 1 <= server.peak_active <= 2


def test_submits_respect_the_per_minute_bound(server: WaveSpeedServer, clock: FakeClock) -> None:
    backend = make(server, clock, per_minute=2)
    for _ in range(3):
        backend.caption(req())
    times = [r.at for r in server.requests("submit")]
    assert times[2] - times[0] >= 60.0
    assert times[1] - times[0] < 60.0


def test_a_caption_that_echoes_the_key_never_publishes_it(
    server: WaveSpeedServer, clock: FakeClock
) -> None:
    # A gateway answering an error as a 200 "caption": the key must not reach the alt,
    # the catalog or the cache.
    server.plans.append(Plan(caption=f"Invalid token {API_KEY} for this route"))
    result = make(server, clock).caption(req())
    assert API_KEY not in result.caption and "***" in result.caption
