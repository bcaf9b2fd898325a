"""The captioner protocol: one request in, one result out.

A backend is any object with a ``name`` and a ``caption(request) -> CaptionResult`` method.
Backends raise :class:`alttext.errors.CaptionError` subclasses on failure and never return an
empty caption. Turning a raw caption into alt text is :mod:`alttext.captioners.polish`'s job,
shared by every backend.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

Detail = Literal["low", "medium", "high"]

#: Bumped whenever prompts or polishing change, so cached captions made the old way are
#: not served for the new way (it is part of the cache key).
PROMPT_VERSION = 1


@dataclass(frozen=True, slots=True)
class CaptionContext:
    """What the page says around the image; helps a model write useful alt text.

    ``control_text``/``control_href`` are set when the image is the content of a link or a
    button: such an image is *functional*, and its alt should say what the control does.
    """

    page_title: str | None = None
    heading: str | None = None
    figcaption: str | None = None
    control: Literal["link", "button"] | None = None
    control_text: str | None = None
    control_href: str | None = None


@dataclass(frozen=True, slots=True)
class CaptionRequest:
    """Everything a backend may use to caption one image.

    Attributes:
        image: the original image bytes (backends may downscale or convert a copy).
        mime_type: the MIME type of ``image`` (``image/png``...).
        content_hash: sha256 hex of ``image``; the cache key's core.
        public_url: an http(s) URL where the service can fetch the image itself, if any.
        detail: how detailed the caption should be; alt text wants ``low``.
        focus: an optional subject or area to focus on.
        language: BCP 47 language tag of the page (``en``, ``de-CH``), or ``None``.
        max_length: the alt text length limit in characters.
        context: the page context the scanner collected.
        task_key: a stable key for this exact request (the cache key's digest), under
            which a backend with remote tasks journals the task it started, so a process
            killed after submitting resumes that task instead of paying for a new one.
    """

    image: bytes
    mime_type: str
    content_hash: str
    public_url: str | None = None
    detail: Detail = "low"
    focus: str | None = None
    language: str | None = None
    max_length: int = 125
    context: CaptionContext = field(default_factory=CaptionContext)
    task_key: str | None = None


@dataclass(frozen=True, slots=True)
class CaptionResult:
    """A raw caption and where it came from.

    Attributes:
        caption: the caption as the backend gave it (not yet polished).
        backend: the backend's registered name (``wavespeed``, ``openai``, ``offline``).
        model: the model id, when the backend has one.
        nsfw: whether the service flagged the image as NSFW, ``None`` when unknown.
        inference_ms: the service's inference time in milliseconds, when reported.
        task_id: the remote task id, when the service has one.
        source: finer origin inside a backend (``metadata:xmp-alt``, ``ocr``...).
    """

    caption: str
    backend: str
    model: str | None = None
    nsfw: bool | None = None
    inference_ms: int | None = None
    task_id: str | None = None
    source: str | None = None


@runtime_checkable
class Captioner(Protocol):
    """A captioning backend."""

    name: str

    def caption(self, request: CaptionRequest) -> CaptionResult:
        """Caption one image; raise a ``CaptionError`` subclass when that is impossible."""
        ...

    def close(self) -> None:
        """Release sessions and pools; safe to call twice."""
        ...

    # Optional: ``stop(self) -> None`` ends the waits (polls, retries) of captions in
    # progress at once, for an interrupted run; a backend without waits needs none.


@runtime_checkable
class TaskJournal(Protocol):
    """Remembers remote tasks that were started (and billed) but whose result is not in.

    A backend records a task right after the service accepted it; before submitting it
    asks for a pending task under the same key and resumes that one. It forgets a task
    that failed or that the service no longer knows. A task that *completed* stays
    journaled: whoever stores its result forgets it in the same transaction (the caption
    cache does, in ``put``), so a kill between the result's arrival and its storage costs a
    free poll on the re-run, not a second task. Each call must be durable when it returns:
    the process may be killed at any moment after. Implementations are thread-safe.
    """

    def pending(self, key: str) -> str | None:
        """The id of the task started under ``key`` and not finished, or ``None``."""
        ...

    def started(self, key: str, task_id: str) -> None:
        """Record that ``task_id`` was started under ``key``."""
        ...

    def finished(self, key: str) -> None:
        """Forget the task under ``key``: it ended, or it is gone."""
        ...


@dataclass(frozen=True, slots=True)
class BackendOptions:
    """Settings a backend factory may read; each backend ignores what it does not use.

    Values left ``None`` fall back to the backend's environment variables (read from
    ``env``, never from ``os.environ`` directly, so tests and libraries stay in control) and
    then to its defaults. ``api_key`` is excluded from ``repr`` so it never reaches a log.
    ``journal``, when set, is where backends with remote tasks record the tasks they
    started (see :class:`TaskJournal`).
    """

    api_key: str | None = field(default=None, repr=False)
    base_url: str | None = None
    model: str | None = None
    timeout: float = 30.0
    deadline: float = 300.0
    max_concurrent: int | None = None
    per_minute: float | None = None
    sync: bool = False
    image_transport: Literal["auto", "url", "upload", "data-uri"] = "auto"
    ocr: bool = True
    env: dict[str, str] = field(default_factory=dict, repr=False)
    journal: TaskJournal | None = field(default=None, repr=False, compare=False)
