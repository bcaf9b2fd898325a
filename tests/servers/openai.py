"""A loopback OpenAI-compatible chat completions API.

Route ``chat``: POST /v1/chat/completions. With ``api_key`` set it wants that bearer token and
answers 401 otherwise, echoing the token it got in the message (as a careless server might:
clients must redact it). It checks the request the way OpenAI does (model, messages, a data
URI image part) and decodes the image so tests can assert what was sent.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from servers import LoopbackServer, Received, Reply


@dataclass
class Answer:
    """What the next completion answers: ``content`` (str, list of parts, or None)."""

    content: Any = "A red square on a white background"
    refusal: str | None = None
    finish_reason: str = "stop"


@dataclass
class SentImage:
    """An image as the server decoded it from a data URI."""

    mime: str
    data: bytes
    detail: str | None


class OpenAIServer(LoopbackServer):
    """The loopback chat completions API.

    Attributes:
        api_key: the bearer token required, or ``None`` to require none (like Ollama).
        answers: answers for the next completions, in order; then ``default_answer``.
        images: every image received, in order.
    """

    def __init__(self, api_key: str | None = None, *, prefix: str = "/v1") -> None:
        super().__init__()
        self.api_key = api_key
        self.prefix = prefix
        self.default_answer = Answer()
        self.answers: deque[Answer] = deque()
        self.images: list[SentImage] = []

    def __enter__(self) -> OpenAIServer:
        self.start()
        return self

    def route(self, method: str, path: str) -> str:
        if method == "POST" and path == f"{self.prefix}/chat/completions":
            return "chat"
        return ""

    def handle(self, request: Received) -> Reply:
        if request.route != "chat":
            return _error(404, "Unknown request URL", "invalid_request_error")
        if self.api_key is not None:
            got = request.header("Authorization") or ""
            if got != f"Bearer {self.api_key}":
                token = got.removeprefix("Bearer ")
                return _error(401, f"Incorrect API key provided: {token}", "invalid_api_key")
        try:
            body = request.json()
        except ValueError:
            return _error(400, "could not parse the JSON body", "invalid_request_error")
        model = body.get("model") if isinstance(body, dict) else None
        messages = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(model, str) or not isinstance(messages, list) or not messages:
            return _error(400, "model and messages are required", "invalid_request_error")
        image = _image_part(messages)
        if image is None:
            return _error(400, "expected one image_url part with a data URI", "invalid_image")
        with self.lock:
            self.images.append(image)
            answer = self.answers.popleft() if self.answers else self.default_answer
        message: dict[str, Any] = {"role": "assistant", "content": answer.content}
        if answer.refusal is not None:
            message["refusal"] = answer.refusal
        return Reply(
            200,
            {
                "id": f"chatcmpl-{secrets.token_hex(12)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": f"{model}-2024-07-18",
                "choices": [
                    {"index": 0, "message": message, "finish_reason": answer.finish_reason}
                ],
                "usage": {"prompt_tokens": 120, "completion_tokens": 9, "total_tokens": 129},
            },
        )


def _image_part(messages: list[Any]) -> SentImage | None:
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            continue
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "image_url":
                continue
            url = (part.get("image_url") or {}).get("url", "")
            head, _, payload = url.partition(",")
            if not head.startswith("data:") or not head.endswith(";base64"):
                return None
            return SentImage(
                mime=head[len("data:") : -len(";base64")],
                data=base64.b64decode(payload, validate=True),
                detail=part["image_url"].get("detail"),
            )
    return None


def _error(status: int, message: str, code: str) -> Reply:
    return Reply(
        status,
        {"error": {"message": message, "type": "invalid_request_error", "code": code}},
    )
