"""A stateful loopback WaveSpeed API (see ``shared/wavespeed-api.md``).

Routes: ``submit`` (POST /api/v3/{model}), ``poll`` (GET /api/v3/predictions/{id}/result and
GET /api/v3/predictions/{id}), ``ticket`` (POST /api/v3/media/uploads), ``put`` (the
pre-signed PUT /upload/{token}), ``file`` (GET /files/{token}/{name}).

Every /api/v3 route wants ``Authorization: Bearer <api_key>`` (else 401, in the envelope).
The PUT, like a pre-signed storage URL, refuses any ``Authorization`` header (400) and wants
the ticket's headers. A task moves created -> processing -> completed over polls, or as its
:class:`Plan` says. Faults come from :meth:`LoopbackServer.inject`.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from servers import LoopbackServer, Received, Reply

MODEL = "wavespeed-ai/image-captioner"
API_KEY = "ws-test-key-0123456789abcdef"
SYNC_TIMEOUT_ERROR = "Sync mode timed out after 60s, please use async mode"

Outcome = Literal["completed", "failed", "cancelled", "timeout", "deleted", "never"]


@dataclass
class Plan:
    """How the next task behaves.

    Attributes:
        outcome: the terminal status; ``never`` stays ``processing`` forever.
        polls_to_finish: polls answered before the outcome (1st poll ``processing``...).
        caption: the caption of a completed task.
        output_style: ``string`` (``["text"]``) or ``object`` (``[{"caption": text}]``).
        nsfw: the ``has_nsfw_contents`` flag.
        error_code: ``data.code`` of a failed task.
        error: ``data.error`` of a failed task.
        sync_timeout: a sync-mode submit answers the 5004 "processing" timeout.
        inference_ms: ``timings.inference`` of a finished task.
    """

    outcome: Outcome = "completed"
    polls_to_finish: int = 2
    caption: str = "A red square on a white background"
    output_style: Literal["string", "object"] = "string"
    nsfw: bool = False
    error_code: int = 1403
    error: str = "task failed"
    sync_timeout: bool = False
    inference_ms: int = 812


@dataclass
class Task:
    """A task the server holds."""

    id: str
    model: str
    input: dict[str, Any]
    plan: Plan
    status: str = "created"
    polls: int = 0
    finished_seen: bool = False
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())


@dataclass
class Upload:
    """An upload ticket and, once PUT, its bytes."""

    token: str
    filename: str
    size: int
    content_type: str
    data: bytes | None = None


class WaveSpeedServer(LoopbackServer):
    """The loopback WaveSpeed API.

    Attributes:
        api_key: the only bearer token accepted.
        plans: plans for the next tasks, in order; then ``default_plan``.
        tasks: every task created, by id.
        uploads: every upload ticket, by token.
        peak_active: the most tasks in flight (created, terminal state not yet reported).
        urls_base: base of the ``urls.get`` link in answers (default: this server), to check
            that clients poll the configured base rather than a link from an answer.
    """

    def __init__(self, api_key: str = API_KEY) -> None:
        super().__init__()
        self.api_key = api_key
        self.default_plan = Plan()
        self.plans: deque[Plan] = deque()
        self.tasks: dict[str, Task] = {}
        self.uploads: dict[str, Upload] = {}
        self.active = 0
        self.peak_active = 0
        self.urls_base: str | None = None
        self._task_lock = threading.Lock()

    def __enter__(self) -> WaveSpeedServer:
        self.start()
        return self

    # -- routing -------------------------------------------------------------------------

    def route(self, method: str, path: str) -> str:
        if method == "GET" and re.fullmatch(r"/api/v3/predictions/[^/]+(/result)?", path):
            return "poll"
        if method == "POST" and path == "/api/v3/media/uploads":
            return "ticket"
        if method == "POST" and path.startswith("/api/v3/"):
            return "submit"
        if method == "PUT" and path.startswith("/upload/"):
            return "put"
        if method == "GET" and path.startswith("/files/"):
            return "file"
        return ""

    def handle(self, request: Received) -> Reply:
        authorized = request.header("Authorization") == f"Bearer {self.api_key}"
        if request.route in ("submit", "poll", "ticket") and not authorized:
            return _envelope_error(401, "Unauthorized: invalid or missing API key")
        handler = {
            "submit": self._submit,
            "poll": self._poll,
            "ticket": self._ticket,
            "put": self._put,
            "file": self._file,
        }.get(request.route)
        if handler is None:
            return _envelope_error(404, "Not Found")
        return handler(request)

    # -- tasks ---------------------------------------------------------------------------

    def _submit(self, request: Received) -> Reply:
        model = request.path.split("?")[0][len("/api/v3/") :]
        if model != MODEL:
            return _envelope_error(404, f"model {model} not found")
        try:
            body = request.json()
        except ValueError:
            return _envelope_error(400, "invalid JSON body")
        if not isinstance(body, dict) or not isinstance(body.get("image"), str):
            return _envelope_error(400, "image is required")
        if body.get("detail_level", "medium") not in ("low", "medium", "high"):
            return _envelope_error(400, "detail_level must be low, medium or high")
        image = body["image"]
        if image.startswith(f"{self.url}/files/"):
            token = image[len(f"{self.url}/files/") :].split("/")[0]
            upload = self.uploads.get(token)
            if upload is None or upload.data is None:
                return _envelope_error(400, "image URL could not be fetched")
        with self._task_lock:
            plan = self.plans.popleft() if self.plans else self.default_plan
            task = Task(id=secrets.token_hex(16), model=model, input=body, plan=plan)
            self.tasks[task.id] = task
            self.active += 1
            self.peak_active = max(self.peak_active, self.active)
            if body.get("enable_sync_mode") is True:
                if plan.sync_timeout:
                    task.status = "processing"
                    data = self._data(task)
                    data.update(code=5004, error=SYNC_TIMEOUT_ERROR)
                    return _envelope(data)
                self._finish(task)
        return _envelope(self._data(task))

    def _poll(self, request: Received) -> Reply:
        task_id = request.path.split("?")[0].split("/")[4]
        with self._task_lock:
            task = self.tasks.get(task_id)
            if task is None:
                return _envelope_error(404, f"prediction {task_id} not found")
            if task.status in ("created", "processing"):
                task.polls += 1
                if task.plan.outcome != "never" and task.polls >= task.plan.polls_to_finish:
                    self._finish(task)
                else:
                    task.status = "processing"
            return _envelope(self._data(task))

    def _finish(self, task: Task) -> None:
        task.status = "processing" if task.plan.outcome == "never" else task.plan.outcome
        if task.status != "processing" and not task.finished_seen:
            task.finished_seen = True
            self.active -= 1

    def _data(self, task: Task) -> dict[str, Any]:
        plan = task.plan
        done = task.status == "completed"
        output: Any = plan.caption if plan.output_style == "string" else {"caption": plan.caption}
        data: dict[str, Any] = {
            "id": task.id,
            "model": task.model,
            "outputs": [output] if done else [],
            "urls": {"get": f"{self.urls_base or self.url}/api/v3/predictions/{task.id}/result"},
            "has_nsfw_contents": [plan.nsfw] if done else [],
            "status": task.status,
            "created_at": task.created_at,
            "error": "",
            "timings": {"inference": plan.inference_ms if done else 0},
        }
        if task.status in ("failed", "cancelled", "timeout", "deleted"):
            data.update(error=plan.error, code=plan.error_code)
        return data

    # -- uploads -------------------------------------------------------------------------

    def _ticket(self, request: Received) -> Reply:
        body = request.json()
        if not isinstance(body, dict) or not all(
            k in body for k in ("filename", "size", "content_type")
        ):
            return _envelope_error(400, "filename, size and content_type are required")
        token = secrets.token_hex(8)
        upload = Upload(token, str(body["filename"]), int(body["size"]), str(body["content_type"]))
        with self._task_lock:
            self.uploads[token] = upload
        return _envelope(
            {
                "type": "image",
                "download_url": f"{self.url}/files/{token}/{upload.filename}",
                "filename": upload.filename,
                "size": upload.size,
                "upload": {
                    "method": "PUT",
                    "url": f"{self.url}/upload/{token}",
                    "headers": {"Content-Type": upload.content_type, "x-upload-token": token},
                },
            }
        )

    def _put(self, request: Received) -> Reply:
        if request.header("Authorization") is not None:
            # What a pre-signed storage URL says to a second credential.
            return Reply(400, "Only one auth mechanism allowed")
        token = request.path.split("?")[0].split("/")[2]
        upload = self.uploads.get(token)
        if upload is None or request.header("x-upload-token") != token:
            return Reply(403, "SignatureDoesNotMatch")
        if request.header("Content-Type") != upload.content_type:
            return Reply(403, "SignatureDoesNotMatch: content type")
        if len(request.body) != upload.size:
            return Reply(400, "size does not match the ticket")
        upload.data = request.body
        return Reply(200, b"")

    def _file(self, request: Received) -> Reply:
        token = request.path.split("/")[2]
        upload = self.uploads.get(token)
        if upload is None or upload.data is None:
            return Reply(404, "no such file")
        return Reply(200, upload.data, {"Content-Type": upload.content_type})


def _envelope(data: dict[str, Any]) -> Reply:
    return Reply(200, {"code": 200, "message": "success", "data": data})


def _envelope_error(status: int, message: str) -> Reply:
    return Reply(status, {"code": status, "message": message})
