"""The OpenAI-compatible chat backend (``openai``): OpenAI, Ollama, vLLM, LM Studio...

One ``POST {base}/v1/chat/completions`` per image, with the image inlined as a data URI (a
local server cannot fetch the site's URLs) and the instruction from
:mod:`alttext.captioners.prompt`. A completion is billed once the server starts on it, so it
is retried like a submit: only on 429, 502/503/504 and connections that never got an
answer, never after a read timeout. The request waits for the model, so its read is bounded
by the deadline rather than the per-request timeout.

The body leaves out ``max_tokens`` and ``temperature``: reasoning models refuse them, and
the prompt already states the length limit.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from alttext.captioners.base import BackendOptions, CaptionRequest, CaptionResult
from alttext.captioners.http import BODY_LIMIT, HttpClient, Limiter, check_base_url
from alttext.captioners.prompt import SYSTEM_PROMPT, build_prompt
from alttext.captioners.retry import NOT_IDEMPOTENT, Clock, RetryPolicy, Sleep, Stopper
from alttext.errors import CaptionAPIError, CaptionTimeout, ConfigError, NoCaption

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MAX_CONCURRENT = 4
#: OpenAI's ``image_url.detail`` values for our detail levels.
DETAIL = {"low": "low", "medium": "auto", "high": "high"}


def completions_url(base_url: str) -> str:
    """``{base}/v1/chat/completions``, without doubling a ``/v1`` the base already has."""
    base = check_base_url(base_url, what="OpenAI base URL")
    if not base.endswith("/v1"):
        base += "/v1"
    return base + "/chat/completions"


class OpenAICaptioner:
    """Captions images with a vision chat model behind an OpenAI-compatible API.

    Args:
        model: the model name (``gpt-4o-mini``, ``llava``...).
        api_key: the bearer token, or ``None`` for servers that need none.
        base_url: the API base, with or without ``/v1``.
        timeout: connect timeout in seconds.
        deadline: seconds one completion may take, its read included.
        max_concurrent: completions in flight at once; ``None`` for no bound.
        per_minute: completions started per minute; ``None`` for no bound.
        policy: retries for the completion request.
        clock: monotonic clock (injectable for tests).
        sleep: sleep function (injectable for tests).
        wall_clock: wall-clock time, for ``Retry-After`` dates.
    """

    name = "openai"

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 30.0,
        deadline: float = 300.0,
        max_concurrent: int | None = DEFAULT_MAX_CONCURRENT,
        per_minute: float | None = None,
        policy: RetryPolicy = NOT_IDEMPOTENT,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        wall_clock: Clock = time.time,
    ) -> None:
        if not model.strip():
            raise ConfigError("the openai backend needs a model name: set OPENAI_MODEL")
        self.model = model.strip()
        self.url = completions_url(base_url)
        self.timeout = timeout
        self.deadline = deadline
        self.policy = policy
        self._clock = clock
        self._stopper = Stopper(sleep)
        self._http = HttpClient(
            api_key=(api_key or "").strip() or None,
            timeout=timeout,
            service="the OpenAI-compatible server",
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
        return f"OpenAICaptioner(url={self.url!r}, model={self.model!r})"

    def close(self) -> None:
        """Close the HTTP sessions; safe to call twice."""
        self._http.close()

    def stop(self) -> None:
        """End the waits of every caption in progress now (an interrupted run)."""
        self._stopper.stop()

    def body(self, request: CaptionRequest) -> dict[str, Any]:
        """The chat completion request for ``request`` (the image prepared and inlined)."""
        # Pillow comes with it: imported only when an image is really sent.
        from alttext.images.prepare import prepare_for_upload

        data, mime = prepare_for_upload(request.image, request.mime_type)
        data_uri = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
        return {
            "model": self.model,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": build_prompt(request)},
                        {
                            "type": "image_url",
                            "image_url": {"url": data_uri, "detail": DETAIL[request.detail]},
                        },
                    ],
                },
            ],
        }

    def caption(self, request: CaptionRequest) -> CaptionResult:
        """Caption one image with one chat completion.

        Raises:
            CaptionAPIError: the server refused the request or answered nonsense.
            CaptionTimeout: no answer before the deadline (the completion is not retried).
            NoCaption: the model answered with nothing, or refused.
            ImageError: the image cannot be read or converted.
        """
        body = self.body(request)
        what = "chat completion"
        with self._limiter.slot():
            try:
                response = self._http.send(
                    "POST",
                    self.url,
                    what=what,
                    json=body,
                    policy=self.policy,
                    timeout=(self.timeout, self.deadline),
                    deadline=self._clock() + self.deadline,
                    before_attempt=self._limiter.throttle,
                )
            except CaptionTimeout as exc:
                raise CaptionTimeout(f"{exc} (not retried: it may be billed)") from exc
        payload = self._http.read_json(response, what=what)
        return self._result(payload)

    def _result(self, payload: dict[str, Any]) -> CaptionResult:
        choices = payload.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise CaptionAPIError(
                "chat completion: answer has no choices",
                body=self._http.redact(json.dumps(payload)[:BODY_LIMIT]),
            )
        message = choices[0].get("message")
        if not isinstance(message, dict):
            raise CaptionAPIError(
                "chat completion: answer has no message",
                body=self._http.redact(json.dumps(payload)[:BODY_LIMIT]),
            )
        refusal = message.get("refusal")
        if isinstance(refusal, str) and refusal.strip():
            raise NoCaption(f"the model refused: {refusal.strip()[:200]}")
        caption = _text(message.get("content"))
        # A gateway that answers an error as content could echo the key: never publish it.
        caption = self._http.redact(caption) if caption else caption
        if not caption:
            reason = choices[0].get("finish_reason")
            raise NoCaption(f"the model answered with no text (finish_reason={reason!r})")
        model = payload.get("model")
        task_id = payload.get("id")
        return CaptionResult(
            caption=caption,
            backend=self.name,
            model=model if isinstance(model, str) and model else self.model,
            task_id=task_id if isinstance(task_id, str) and task_id else None,
        )


def _text(content: object) -> str | None:
    """The text of a message: a string, or a list of ``{"type": "text", "text": ...}`` parts."""
    if isinstance(content, list):
        content = "".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    if not isinstance(content, str):
        return None
    return content.strip() or None


def create(options: BackendOptions) -> OpenAICaptioner:
    """Build the backend from options, falling back to ``OPENAI_*`` variables in ``env``.

    Raises:
        ConfigError: no model named, or a bad base URL.
    """
    env = options.env
    model = options.model or env.get("OPENAI_MODEL")
    if not model:
        raise ConfigError(
            "the openai backend needs a model name (for example gpt-4o-mini or llava): "
            "set OPENAI_MODEL or pass a model in the options"
        )
    return OpenAICaptioner(
        model,
        api_key=options.api_key or env.get("OPENAI_API_KEY"),
        base_url=options.base_url or env.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL,
        timeout=options.timeout,
        deadline=options.deadline,
        max_concurrent=options.max_concurrent or DEFAULT_MAX_CONCURRENT,
        per_minute=options.per_minute,
    )
