"""Never pay twice: a WaveSpeed task started by a run that died is resumed, not resubmitted.

The journal is the real caption cache (diskcache in ``tmp_path``); the service is the
stateful loopback WaveSpeed server; the clock is fake, so deadlines and polls take no time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from servers import FakeClock, Fault
from servers.wavespeed import API_KEY, Plan, WaveSpeedServer

from alttext.captioners.base import BackendOptions, CaptionRequest, CaptionResult, TaskJournal
from alttext.captioners.wavespeed import WaveSpeedCaptioner, create
from alttext.config import Config
from alttext.errors import CaptionAPIError, CaptionTimeout
from alttext.pipeline.describe import (
    Describer,
    DescriberSession,
    ImageInput,
    backend_options,
)
from alttext.store.cache import CacheKey, CaptionCache

KEY = "caption:" + "ab" * 32


@pytest.fixture
def server() -> Iterator[WaveSpeedServer]:
    with WaveSpeedServer() as srv:
        yield srv


@pytest.fixture
def clock(server: WaveSpeedServer) -> FakeClock:
    fake = FakeClock()
    server.clock = fake
    return fake


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[CaptionCache]:
    with CaptionCache(tmp_path / "cache") as cache:
        yield cache


@pytest.fixture
def png(tmp_path: Path) -> bytes:
    path = tmp_path / "green.png"
    Image.new("RGB", (40, 30), "green").save(path)
    return path.read_bytes()


def make(
    server: WaveSpeedServer, clock: FakeClock, journal: TaskJournal | None, **kwargs: Any
) -> WaveSpeedCaptioner:
    kwargs.setdefault("deadline", 60.0)
    return WaveSpeedCaptioner(
        API_KEY,
        base_url=server.url,
        timeout=2.0,
        per_minute=None,
        clock=clock,
        sleep=kwargs.pop("sleep", clock.sleep),
        wall_clock=clock.wall,
        journal=journal,
        **kwargs,
    )


def req(data: bytes, task_key: str | None = KEY) -> CaptionRequest:
    return CaptionRequest(
        image=data,
        mime_type="image/png",
        content_hash=hashlib.sha256(data).hexdigest(),
        task_key=task_key,
    )


def polled_ids(server: WaveSpeedServer) -> list[str]:
    return [r.path.split("/")[4] for r in server.requests("poll")]


# -- the journal itself ---------------------------------------------------------------------


def test_cache_is_a_durable_task_journal_apart_from_captions(tmp_path: Path) -> None:
    with CaptionCache(tmp_path / "c") as cache:
        assert isinstance(cache, TaskJournal)
        assert cache.pending(KEY) is None
        cache.started(KEY, "task-1")
        assert cache.pending(KEY) == "task-1"
        assert cache.pending("caption:other") is None
    # A new process (a new open of the same folder) sees what the dead one journaled.
    with CaptionCache(tmp_path / "c") as cache:
        assert cache.pending(KEY) == "task-1"
        cache.finished(KEY)
        assert cache.pending(KEY) is None
        cache.finished(KEY)  # forgetting twice is harmless


def test_storing_a_result_forgets_its_task(tmp_path: Path) -> None:
    key = CacheKey("ab" * 32, "wavespeed", None, "low", None, None, 125)
    with CaptionCache(tmp_path / "c") as cache:
        cache.started(key.digest(), "task-1")
        cache.started(KEY, "task-2")
        cache.put(key, CaptionResult(caption="A cat", backend="wavespeed", task_id="task-1"))
        assert cache.pending(key.digest()) is None
        assert cache.pending(KEY) == "task-2"
        assert cache.get(key) == CaptionResult("A cat", "wavespeed", task_id="task-1")


def test_journaled_tasks_expire(tmp_path: Path) -> None:
    with CaptionCache(tmp_path / "c", pending_ttl=-1.0) as cache:
        cache.started(KEY, "task-1")
        assert cache.pending(KEY) is None  # past its time: the service has dropped it


def test_options_carry_the_journal_but_never_show_it(journal: CaptionCache) -> None:
    options = BackendOptions(api_key="k", journal=journal)
    assert "journal" not in repr(options) and "CaptionCache" not in repr(options)
    assert options == BackendOptions(api_key="k")  # not part of equality
    backend = create(BackendOptions(api_key="k", base_url="http://127.0.0.1:9", journal=journal))
    assert backend.journal is journal


# -- resuming --------------------------------------------------------------------------------


def test_a_client_that_timed_out_is_finished_by_the_next_without_resubmitting(
    server: WaveSpeedServer, clock: FakeClock, journal: CaptionCache, png: bytes
) -> None:
    server.plans.append(Plan(polls_to_finish=6, caption="A green rectangle"))
    with pytest.raises(CaptionTimeout) as info:
        make(server, clock, journal, deadline=1.0).caption(req(png))
    [task] = server.tasks.values()
    assert info.value.task_id == task.id
    assert journal.pending(KEY) == task.id
    polls_by_a = len(server.requests("poll"))
    assert 0 < polls_by_a < 6

    sleeps_before = len(clock.sleeps)
    result = make(server, clock, journal).caption(req(png))

    assert result.caption == "A green rectangle" and result.task_id == task.id
    assert len(server.requests("submit")) == 1
    assert len(server.requests("ticket")) == 1  # nor uploaded again
    assert set(polled_ids(server)) == {task.id}
    # The resumed task is looked at at once, before the first poll wait.
    first_poll_b = server.requests("poll")[polls_by_a]
    assert first_poll_b.at == clock.now - sum(clock.sleeps[sleeps_before:])
    # Completed, but kept until its result is stored: a kill now costs a poll, not a task.
    assert journal.pending(KEY) == task.id


def test_a_client_killed_right_after_submitting_is_resumed(
    server: WaveSpeedServer, clock: FakeClock, journal: CaptionCache, png: bytes
) -> None:
    def killed(_seconds: float) -> None:
        raise KeyboardInterrupt  # the process dies waiting for its first poll

    with pytest.raises(KeyboardInterrupt):
        make(server, clock, journal, sleep=killed).caption(req(png))
    [task] = server.tasks.values()
    assert server.requests("poll") == []
    assert journal.pending(KEY) == task.id

    result = make(server, clock, journal).caption(req(png))
    assert result.task_id == task.id and result.caption
    assert len(server.requests("submit")) == 1


def test_an_unknown_journaled_task_falls_back_to_one_fresh_submit(
    server: WaveSpeedServer, clock: FakeClock, journal: CaptionCache, png: bytes
) -> None:
    journal.started(KEY, "0123456789abcdef")  # expired on the service, or never existed
    result = make(server, clock, journal).caption(req(png))
    [task] = server.tasks.values()
    assert result.task_id == task.id
    assert polled_ids(server)[0] == "0123456789abcdef"
    assert len(server.requests("submit")) == 1
    assert journal.pending(KEY) == task.id  # the new task replaced the unknown one


def test_a_failed_journaled_task_falls_back_to_one_fresh_submit(
    server: WaveSpeedServer, clock: FakeClock, journal: CaptionCache, png: bytes
) -> None:
    server.plans.append(Plan(outcome="failed", polls_to_finish=6))
    with pytest.raises(CaptionTimeout):
        make(server, clock, journal, deadline=1.0).caption(req(png))
    [failed_id] = server.tasks

    result = make(server, clock, journal).caption(req(png))
    assert result.task_id != failed_id and result.caption
    assert len(server.requests("submit")) == 2
    assert journal.pending(KEY) == result.task_id


def test_an_error_while_resuming_keeps_the_task_journaled(
    server: WaveSpeedServer, clock: FakeClock, journal: CaptionCache, png: bytes
) -> None:
    journal.started(KEY, "still-running")
    server.inject("poll", Fault(status=401, body={"code": 401, "message": "Unauthorized"}))
    with pytest.raises(CaptionAPIError) as info:
        make(server, clock, journal).caption(req(png))
    assert info.value.status == 401
    assert server.requests("submit") == []  # an outage is no reason to pay again
    assert journal.pending(KEY) == "still-running"


def test_a_failed_task_is_forgotten(
    server: WaveSpeedServer, clock: FakeClock, journal: CaptionCache, png: bytes
) -> None:
    server.plans.append(Plan(outcome="failed"))
    with pytest.raises(CaptionAPIError):
        make(server, clock, journal).caption(req(png))
    assert len(server.tasks) == 1
    assert journal.pending(KEY) is None


def test_a_completed_task_not_yet_stored_is_fetched_again_for_free(
    server: WaveSpeedServer, clock: FakeClock, journal: CaptionCache, png: bytes
) -> None:
    # Killed after the result arrived but before it reached the cache: the re-run polls.
    first = make(server, clock, journal).caption(req(png))
    again = make(server, clock, journal).caption(req(png))
    assert again == first
    assert len(server.requests("submit")) == 1


def test_without_a_task_key_nothing_is_journaled(
    server: WaveSpeedServer, clock: FakeClock, journal: CaptionCache, png: bytes
) -> None:
    server.plans.append(Plan(polls_to_finish=6))
    with pytest.raises(CaptionTimeout):
        make(server, clock, journal, deadline=1.0).caption(req(png, task_key=None))
    make(server, clock, journal).caption(req(png, task_key=None))
    assert len(server.requests("submit")) == 2


# -- through the describer --------------------------------------------------------------------


def test_describer_keys_the_journal_by_its_cache_key(
    server: WaveSpeedServer, clock: FakeClock, journal: CaptionCache, png: bytes
) -> None:
    config = Config(backend="wavespeed", rate=0)
    image = ImageInput.from_bytes(png, "image/png")
    server.plans.append(Plan(polls_to_finish=6, caption="A green rectangle."))

    first = Describer(config, make(server, clock, journal, deadline=1.0), journal)
    assert first.describe(image).error is not None
    [task] = server.tasks.values()
    key = first.free_sources().key(image.sha256, None).digest()
    assert journal.pending(key) == task.id

    second = Describer(config, make(server, clock, journal), journal)
    described = second.describe(image)
    assert (described.alt, described.origin, described.task_id) == (
        "A green rectangle.",
        "backend",
        task.id,
    )
    assert len(server.requests("submit")) == 1
    assert journal.pending(key) is None
    assert (
        journal.get(first.free_sources().key(image.sha256, None)) is not None
    )  # and the caption is cached


def test_session_passes_its_cache_to_the_backend_as_journal(tmp_path: Path) -> None:
    config = Config(backend="wavespeed", cache_dir=tmp_path / "cache", catalog=None)
    session = DescriberSession(config, {"WAVESPEED_API_KEY": "k"})
    try:
        assert isinstance(session.captioner, WaveSpeedCaptioner)
        assert session.cache is not None
        assert session.captioner.journal is session.cache
    finally:
        session.close()
    assert backend_options(config, {}).journal is None
