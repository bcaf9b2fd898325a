"""The WaveSpeed image-captioner backend (``wavespeed``).

Protocol: ``POST {base}/api/v3/{model}`` submits a task, ``GET
{base}/api/v3/predictions/{id}/result`` polls it (see ``shared/wavespeed-api.md``). Rules this
client keeps:

- A submit may create a paid task, so it is retried only when the service provably did not
  take it (429, 502/503/504, connection refused or reset before an answer); never after a
  read timeout. In sync mode a 504 means the gateway gave up waiting on a task that runs,
  so it is not retried either. Polls are retried on every transient failure.
- A sync-mode timeout (``data.code`` 5004, status ``processing``) falls back to polling the
  same task; nothing is resubmitted.
- The poll URL is built from the configured base, not taken from the answer's ``urls.get``,
  so the API key only ever goes to the host the user configured.
- Local images are uploaded through a ticket: the ``PUT`` carries the ticket's headers and
  never the API key.
- With a :class:`~alttext.captioners.base.TaskJournal` and a ``request.task_key``, a task
  is journaled the moment the service accepted it, and forgotten when it fails; a completed
  task is forgotten by whoever stores its result (the caption cache). A request whose key
  has a journaled task polls that task instead of submitting: a run killed between submit
  and stored result does not pay again. Only when the service says the task is unknown
  (404/410) or failed is a new one submitted. (A submit whose answer never arrived, e.g. a
  sync submit cut off, has no task id to journal.)

Defaults suit WaveSpeed's default account tier, which allows 2 concurrent tasks and 2 images
per minute: ``max_concurrent=2`` and ``per_minute=2``. Higher tiers raise both through
:class:`~alttext.captioners.base.BackendOptions`; ``per_minute <= 0`` turns the rate bound off.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import replace
from typing import Any, Literal
from urllib.parse import quote

from alttext.captioners.base import BackendOptions, CaptionRequest, CaptionResult, TaskJournal
from alttext.captioners.http import BODY_LIMIT, HttpClient, Limiter, check_base_url
from alttext.captioners.retry import (
    IDEMPOTENT,
    NOT_IDEMPOTENT,
    Clock,
    PollSchedule,
    RetryPolicy,
    Sleep,
    Stopper,
)
from alttext.errors import (
    CaptionAPIError,
    CaptionTimeout,
    ConfigError,
    ImageError,
    MissingCredentials,
    NoCaption,
)

DEFAULT_BASE_URL = "https://api.wavespeed.ai"
DEFAULT_MODEL = "wavespeed-ai/image-captioner"
DEFAULT_MAX_CONCURRENT = 2
DEFAULT_PER_MINUTE = 2.0
#: Terminal statuses other than ``completed``.
FAILED_STATUSES = frozenset({"failed", "cancelled", "timeout", "deleted"})
#: ``data.code`` of a sync-mode answer that gave up waiting while the task runs on.
SYNC_TIMEOUT_CODE = 5004
#: Answers to a poll of a journaled task meaning the service no longer knows it.
UNKNOWN_TASK_STATUSES = frozenset({404, 410})

Transport = Literal["auto", "url", "upload", "data-uri"]
_EXTENSIONS = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}


class WaveSpeedCaptioner:
    """Captions images with a WaveSpeed model.

    Args:
        api_key: the WaveSpeed API key (required).
        base_url: the API's base URL.
        model: the model id, with its slash (``wavespeed-ai/image-captioner``).
        timeout: per-request timeout in seconds.
        deadline: seconds from the start of a task (after its concurrency slot is granted)
            to its result; past it, :class:`CaptionTimeout` carries the task id.
        sync: ask for the result in the submit answer (``enable_sync_mode``).
        image_transport: ``url`` sends ``request.public_url``; ``upload`` uploads the bytes
            first; ``data-uri`` inlines them; ``auto`` uses the URL when there is one.
        max_concurrent: tasks in flight at once; ``None`` for no bound.
        per_minute: submits per minute; ``None`` for no bound.
        submit_policy: retries for the submit (must not retry what may have been taken).
        poll_policy: retries for polls and uploads.
        poll_schedule: waits between polls.
        clock: monotonic clock (injectable for tests).
        sleep: sleep function (injectable for tests).
        wall_clock: wall-clock time, for ``Retry-After`` dates.
        journal: where started tasks are recorded until they end, keyed by
            ``request.task_key``; ``None`` journals nothing.
    """

    name = "wavespeed"

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        model: str = DEFAULT_MODEL,
        timeout: float = 30.0,
        deadline: float = 300.0,
        sync: bool = False,
        image_transport: Transport = "auto",
        max_concurrent: int | None = DEFAULT_MAX_CONCURRENT,
        per_minute: float | None = DEFAULT_PER_MINUTE,
        submit_policy: RetryPolicy = NOT_IDEMPOTENT,
        poll_policy: RetryPolicy = IDEMPOTENT,
        poll_schedule: PollSchedule | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        wall_clock: Clock = time.time,
        journal: TaskJournal | None = None,
    ) -> None:
        if not api_key or not api_key.strip():
            raise MissingCredentials("WaveSpeed needs an API key: set WAVESPEED_API_KEY")
        if image_transport not in ("auto", "url", "upload", "data-uri"):
            raise ConfigError(f"unknown image transport {image_transport!r}")
        if not model.strip("/"):
            raise ConfigError("WaveSpeed model id is empty")
        self.base_url = check_base_url(base_url, what="WaveSpeed base URL")
        self.model = model.strip("/")
        self.timeout = timeout
        self.deadline = deadline
        self.sync = sync
        self.image_transport = image_transport
        if sync:
            # Behind a sync submit, a gateway 504 means it stopped waiting for a task
            # that runs on: resubmitting would pay twice.
            submit_policy = replace(submit_policy, statuses=submit_policy.statuses - {504})
        self.submit_policy = submit_policy
        self.poll_policy = poll_policy
        self.poll_schedule = poll_schedule or PollSchedule()
        self._clock = clock
        self._stopper = Stopper(sleep)
        self._sleep = self._stopper.sleep
        self.journal = journal
        self._http = HttpClient(
            api_key=api_key.strip(),
            timeout=timeout,
            service="WaveSpeed",
            clock=clock,
            sleep=self._stopper.sleep,
            wall_clock=wall_clock,
            proceed=self._stopper.check,
        )
        self._limiter = Limiter(
            max_concurrent=max_concurrent,
            per_minute=per_minute,
            clock=clock,
            sleep=self._stopper.sleep,
            proceed=self._stopper.check,
        )

    def __repr__(self) -> str:
        return f"WaveSpeedCaptioner(base_url={self.base_url!r}, model={self.model!r})"

    def close(self) -> None:
        """Close the HTTP sessions; safe to call twice."""
        self._http.close()

    def stop(self) -> None:
        """End the waits of every caption in progress now (an interrupted run)."""
        self._stopper.stop()

    def caption(self, request: CaptionRequest) -> CaptionResult:
        """Caption one image: upload if needed, submit, poll until done.

        Raises:
            CaptionAPIError: the service refused the request or the task failed (``.code``
                holds the business code of a failed task).
            CaptionTimeout: no result before the deadline (``.task_id`` when a task exists).
            NoCaption: the task completed with an empty caption.
            ImageError: the image cannot be sent (no public URL for ``url``, unreadable).
        """
        with self._limiter.slot():
            deadline_at = self._clock() + self.deadline
            key = request.task_key if self.journal is not None else None
            if key is not None:
                resumed = self._resume(key, deadline_at)
                if resumed is not None:
                    return resumed
            body: dict[str, object] = {
                "image": self._image_ref(request, deadline_at),
                "detail_level": request.detail,
            }
            if request.focus:
                body["focus"] = request.focus
            if self.sync:
                body["enable_sync_mode"] = True
            data = self._submit(body, deadline_at)
            task_id = data["id"]
            if not _ended(data):
                if key is not None:
                    self._journal_started(key, task_id)
                # A deadline or error while polling leaves the task journaled: the task
                # runs on, and the next attempt picks up its result.
                data = self._poll(task_id, deadline_at)
                if key is not None and data.get("status") in FAILED_STATUSES:
                    self._journal_finished(key)
            return self._result(data, task_id)

    # -- the task journal --------------------------------------------------------------

    def _resume(self, key: str, deadline_at: float) -> CaptionResult | None:
        """The result of the journaled task under ``key``; ``None`` to submit a new one."""
        assert self.journal is not None
        task_id = self.journal.pending(key)
        if task_id is None:
            return None
        try:
            # The task was started by an earlier run: it is likely done, so look at once.
            data = self._poll(task_id, deadline_at, immediate=True)
        except CaptionAPIError as exc:
            unknown = exc.status in UNKNOWN_TASK_STATUSES or exc.code in UNKNOWN_TASK_STATUSES
            if not unknown:
                raise  # e.g. a bad key or an outage: the task may still be there
            self._journal_finished(key)  # expired or never known: a new task is needed
            return None
        if data.get("status") in FAILED_STATUSES:
            self._journal_finished(key)
            return None  # a failed task has no result to take; try once more
        # Completed: stays journaled until the result is stored (see TaskJournal).
        return self._result(data, task_id)

    def _journal_started(self, key: str, task_id: str) -> None:
        assert self.journal is not None
        self.journal.started(key, task_id)

    def _journal_finished(self, key: str) -> None:
        assert self.journal is not None
        self.journal.finished(key)

    # -- submit and poll -------------------------------------------------------------

    def _submit(self, body: dict[str, object], deadline_at: float) -> dict[str, Any]:
        what = "WaveSpeed submit"
        # A sync submit waits for the model, so only the deadline bounds its read.
        timeout = (self.timeout, self.deadline) if self.sync else None
        try:
            response = self._http.send(
                "POST",
                f"{self.base_url}/api/v3/{quote(self.model, safe='/')}",
                what=what,
                json=body,
                policy=self.submit_policy,
                timeout=timeout,
                deadline=deadline_at,
                before_attempt=self._limiter.throttle,
            )
        except CaptionTimeout as exc:
            raise CaptionTimeout(
                f"{exc} (not resubmitted: the service may have created and billed the task)",
                task_id=None,
            ) from exc
        except CaptionAPIError as exc:
            if exc.status == 504 and self.sync:
                raise CaptionTimeout(
                    f"{exc} (sync mode: the task may still run; not resubmitted)", task_id=None
                ) from exc
            raise
        data = self._data(response.status_code, self._http.read_json(response, what=what), what)
        task_id = data.get("id")
        if not isinstance(task_id, str) or not task_id:
            raise CaptionAPIError(
                f"{what}: WaveSpeed answered without a task id",
                status=response.status_code,
                body=self._http.redact(response.text[:BODY_LIMIT]),
            )
        return data

    def _poll(self, task_id: str, deadline_at: float, *, immediate: bool = False) -> dict[str, Any]:
        url = f"{self.base_url}/api/v3/predictions/{quote(task_id, safe='')}/result"
        what = f"WaveSpeed poll of task {task_id}"
        for poll, interval in enumerate(self.poll_schedule.intervals()):
            remaining = deadline_at - self._clock()
            if remaining > 0 and not (immediate and poll == 0):
                self._sleep(min(interval, remaining))
            if self._clock() >= deadline_at:
                break
            try:
                response = self._http.send(
                    "GET", url, what=what, policy=self.poll_policy, deadline=deadline_at
                )
            except CaptionTimeout as exc:
                raise CaptionTimeout(str(exc), task_id=task_id) from exc
            data = self._data(response.status_code, self._http.read_json(response, what=what), what)
            if _ended(data):
                return data
        raise CaptionTimeout(
            f"WaveSpeed task {task_id} did not finish within {self.deadline} s",
            task_id=task_id,
        )

    def _data(self, status: int, payload: dict[str, Any], what: str) -> dict[str, Any]:
        """The ``data`` of a ``{code, message, data}`` envelope; errors for anything else."""
        code = payload.get("code")
        if isinstance(code, int) and code != 200:
            message = self._http.redact(str(payload.get("message") or "no message"))
            raise CaptionAPIError(
                f"{what}: WaveSpeed answered code {code}: {message}",
                status=status,
                body=self._http.redact(json.dumps(payload)[:BODY_LIMIT]),
                code=code,
            )
        data = payload.get("data")
        if not isinstance(data, dict):
            raise CaptionAPIError(
                f"{what}: WaveSpeed answer has no data object",
                status=status,
                body=self._http.redact(json.dumps(payload)[:BODY_LIMIT]),
            )
        return data

    def _result(self, data: dict[str, Any], task_id: str) -> CaptionResult:
        status = data.get("status")
        if status in FAILED_STATUSES:
            code = data.get("code") if isinstance(data.get("code"), int) else None
            error = self._http.redact(str(data.get("error") or "no reason given"))
            suffix = f" (code {code})" if code is not None else ""
            raise CaptionAPIError(
                f"WaveSpeed task {task_id} {status}: {error}{suffix}",
                body=self._http.redact(json.dumps(data)[:BODY_LIMIT]),
                code=code,
            )
        caption = _first_output(data.get("outputs"))
        # A gateway that answers an error as content could echo the key: never publish it.
        caption = self._http.redact(caption) if caption else caption
        if not caption:
            raise NoCaption(f"WaveSpeed task {task_id} completed without a caption")
        flags = data.get("has_nsfw_contents")
        nsfw = bool(flags[0]) if isinstance(flags, list) and flags else None
        timings = data.get("timings")
        inference = timings.get("inference") if isinstance(timings, dict) else None
        model = data.get("model")
        return CaptionResult(
            caption=caption,
            backend=self.name,
            model=model if isinstance(model, str) and model else self.model,
            nsfw=nsfw,
            inference_ms=(
                round(inference)
                if isinstance(inference, int | float) and not isinstance(inference, bool)
                else None
            ),
            task_id=task_id,
        )

    # -- images ------------------------------------------------------------------------

    def _image_ref(self, request: CaptionRequest, deadline_at: float) -> str:
        """What goes into the task's ``image`` field, uploading the bytes if needed."""
        public = request.public_url
        if public is not None and not public.startswith(("http://", "https://")):
            public = None
        if self.image_transport == "url" or (self.image_transport == "auto" and public):
            if public is None:
                raise ImageError(
                    "image has no public http(s) URL for image transport 'url'; "
                    "use 'upload' or 'data-uri'"
                )
            return public
        # Pillow comes with it: imported only when an image is really sent.
        from alttext.images.prepare import prepare_for_upload

        data, mime = prepare_for_upload(request.image, request.mime_type)
        if self.image_transport == "data-uri":
            return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
        filename = f"{request.content_hash[:16] or 'image'}{_EXTENSIONS.get(mime, '')}"
        return self._upload(data, mime, filename, deadline_at)

    def _upload(self, data: bytes, mime: str, filename: str, deadline_at: float) -> str:
        """Upload through a ticket; return the URL the task can fetch the image from."""
        what = "WaveSpeed upload ticket"
        response = self._http.send(
            "POST",
            f"{self.base_url}/api/v3/media/uploads",
            what=what,
            json={"filename": filename, "size": len(data), "content_type": mime},
            policy=self.poll_policy,  # a ticket is free; asking twice costs nothing
            deadline=deadline_at,
        )
        ticket = self._data(response.status_code, self._http.read_json(response, what=what), what)
        upload = ticket.get("upload")
        download_url = ticket.get("download_url")
        if not isinstance(upload, dict) or not isinstance(download_url, str) or not download_url:
            raise CaptionAPIError(
                f"{what}: WaveSpeed answered without upload.url or download_url",
                status=response.status_code,
                body=self._http.redact(json.dumps(ticket)[:BODY_LIMIT]),
            )
        url = upload.get("url")
        method = str(upload.get("method") or "PUT").upper()
        headers = upload.get("headers") or {}
        if (
            not isinstance(url, str)
            or not url.startswith(("http://", "https://"))
            or method not in ("PUT", "POST")
            or not isinstance(headers, dict)
        ):
            raise CaptionAPIError(
                f"{what}: WaveSpeed sent an unusable upload ticket",
                status=response.status_code,
                body=self._http.redact(json.dumps(ticket)[:BODY_LIMIT]),
            )
        self._http.send(
            method,
            url,
            what="WaveSpeed upload",
            data=data,
            headers={str(k): str(v) for k, v in headers.items()},
            auth=False,  # a pre-signed URL: the API key must not travel there
            policy=self.poll_policy,
            deadline=deadline_at,
        )
        return download_url


def _ended(data: dict[str, Any]) -> bool:
    """Whether a task's ``data`` is final (completed or one of the failed statuses)."""
    status = data.get("status")
    return status == "completed" or status in FAILED_STATUSES


def _first_output(outputs: object) -> str | None:
    """The caption in ``outputs``: a plain string, or an object with ``caption``/``text``."""
    if not isinstance(outputs, list) or not outputs:
        return None
    first = outputs[0]
    if isinstance(first, dict):
        first = first.get("caption") or first.get("text")
    if not isinstance(first, str):
        return None
    return first.strip() or None


def create(options: BackendOptions) -> WaveSpeedCaptioner:
    """Build the backend from options, falling back to ``WAVESPEED_*`` variables in ``env``.

    Raises:
        MissingCredentials: no API key.
        ConfigError: a bad base URL.
    """
    env = options.env
    api_key = (options.api_key or env.get("WAVESPEED_API_KEY") or "").strip()
    if not api_key:
        raise MissingCredentials(
            "WaveSpeed needs an API key: set WAVESPEED_API_KEY or pass one in the options"
        )
    return WaveSpeedCaptioner(
        api_key,
        base_url=options.base_url or env.get("WAVESPEED_BASE_URL") or DEFAULT_BASE_URL,
        model=options.model or DEFAULT_MODEL,
        timeout=options.timeout,
        deadline=options.deadline,
        sync=options.sync,
        image_transport=options.image_transport,
        max_concurrent=options.max_concurrent or DEFAULT_MAX_CONCURRENT,
        per_minute=DEFAULT_PER_MINUTE if options.per_minute is None else options.per_minute,
        journal=options.journal,
    )
