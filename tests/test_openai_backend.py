"""The OpenAI-compatible backend and its prompt, against a loopback chat completions API."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from servers import FakeClock, Fault
from servers.openai import Answer, OpenAIServer

from alttext.captioners import registry
from alttext.captioners.base import BackendOptions, CaptionContext, CaptionRequest
from alttext.captioners.openai_compat import OpenAICaptioner, completions_url, create
from alttext.captioners.prompt import CONTEXT_LIMIT, SYSTEM_PROMPT, build_prompt
from alttext.errors import CaptionAPIError, CaptionTimeout, ConfigError, NoCaption

KEY = "sk-test-0123456789"
MODEL = "gpt-4o-mini"


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer(api_key=KEY) as srv:
        yield srv


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def png(tmp_path: Path) -> bytes:
    path = tmp_path / "red.png"
    Image.new("RGB", (64, 48), "red").save(path)
    return path.read_bytes()


def make(server: OpenAIServer, clock: FakeClock, **kwargs: Any) -> OpenAICaptioner:
    kwargs.setdefault("api_key", KEY)
    kwargs.setdefault("deadline", 60.0)
    return OpenAICaptioner(
        MODEL, base_url=server.url, clock=clock, sleep=clock.sleep, wall_clock=clock.wall, **kwargs
    )


def req(data: bytes, **kwargs: Any) -> CaptionRequest:
    return CaptionRequest(
        image=data,
        mime_type="image/png",
        content_hash=hashlib.sha256(data).hexdigest(),
        **kwargs,
    )


# -- URL and configuration -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "url"),
    [
        ("https://api.openai.com/v1", "https://api.openai.com/v1/chat/completions"),
        ("https://api.openai.com/v1/", "https://api.openai.com/v1/chat/completions"),
        ("http://localhost:11434", "http://localhost:11434/v1/chat/completions"),
        ("http://gw.example/openai", "http://gw.example/openai/v1/chat/completions"),
    ],
)
def test_completions_url_never_doubles_v1(base: str, url: str) -> None:
    assert completions_url(base) == url


def test_create_needs_a_model_but_no_key() -> None:
    with pytest.raises(ConfigError, match="OPENAI_MODEL"):
        create(BackendOptions())
    backend = create(BackendOptions(env={"OPENAI_MODEL": "llava"}))
    assert backend.model == "llava"
    assert backend.url == "https://api.openai.com/v1/chat/completions"


def test_create_reads_env_and_options_win(server: OpenAIServer, png: bytes) -> None:
    env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.url, "OPENAI_MODEL": MODEL}
    backend = create(BackendOptions(env=env))
    assert KEY not in repr(backend)
    assert backend.caption(req(png)).caption
    assert server.requests("chat")[0].header("Authorization") == f"Bearer {KEY}"
    explicit = create(BackendOptions(model="llava", base_url="http://other.example", env=env))
    assert (explicit.model, explicit.url) == ("llava", "http://other.example/v1/chat/completions")


def test_registry_builds_the_backend() -> None:
    backend = registry.create("openai", BackendOptions(model=MODEL))
    assert isinstance(backend, OpenAICaptioner)
    backend.close()
    backend.close()


# -- the happy path -------------------------------------------------------------------------


def test_one_completion_with_the_image_inlined(
    server: OpenAIServer, clock: FakeClock, png: bytes
) -> None:
    result = make(server, clock).caption(req(png, language="de", max_length=100))

    [chat] = server.requests("chat")
    assert chat.header("Authorization") == f"Bearer {KEY}"
    body = chat.json()
    assert body["model"] == MODEL
    assert "max_tokens" not in body and "temperature" not in body
    system, user = body["messages"]
    assert system == {"role": "system", "content": SYSTEM_PROMPT}
    text, image = user["content"]
    assert text["type"] == "text"
    assert "at most 100 characters" in text["text"]
    assert "BCP 47 tag de." in text["text"]
    assert image["type"] == "image_url"
    [sent] = server.images
    assert (sent.mime, sent.data, sent.detail) == ("image/png", png, "low")
    assert result.caption == "A red square on a white background"
    assert result.backend == "openai"
    assert result.model == f"{MODEL}-2024-07-18"
    assert result.task_id is not None and result.task_id.startswith("chatcmpl-")


def test_no_key_means_no_authorization_header(png: bytes, clock: FakeClock) -> None:
    with OpenAIServer(api_key=None) as ollama:
        result = make(ollama, clock, api_key=None).caption(req(png))
        assert result.caption
        assert ollama.requests("chat")[0].header("Authorization") is None


@pytest.mark.parametrize(("detail", "sent"), [("low", "low"), ("medium", "auto"), ("high", "high")])
def test_detail_maps_to_openai_detail(
    server: OpenAIServer, clock: FakeClock, png: bytes, detail: Any, sent: str
) -> None:
    make(server, clock).caption(req(png, detail=detail))
    assert server.images[0].detail == sent


def test_unusual_formats_are_converted_first(
    server: OpenAIServer, clock: FakeClock, tmp_path: Path
) -> None:
    path = tmp_path / "a.tiff"
    Image.new("RGB", (3000, 100), "white").save(path)
    make(server, clock).caption(req(path.read_bytes()))
    [sent] = server.images
    assert sent.mime == "image/jpeg"
    assert sent.data[:3] == b"\xff\xd8\xff"


def test_content_as_a_list_of_parts_is_joined(
    server: OpenAIServer, clock: FakeClock, png: bytes
) -> None:
    server.answers.append(Answer(content=[{"type": "text", "text": " A dog "}]))
    assert make(server, clock).caption(req(png)).caption == "A dog"


@pytest.mark.parametrize(
    "answer",
    [
        Answer(content=None, refusal="I can't help with that"),
        Answer(content="  "),
        Answer(content=None, finish_reason="content_filter"),
    ],
    ids=["refusal", "blank", "filtered"],
)
def test_no_text_is_no_caption(
    server: OpenAIServer, clock: FakeClock, png: bytes, answer: Answer
) -> None:
    server.answers.append(answer)
    with pytest.raises(NoCaption):
        make(server, clock).caption(req(png))


# -- errors and retries ----------------------------------------------------------------------


def test_wrong_key_is_401_and_the_echoed_key_is_redacted(
    server: OpenAIServer, clock: FakeClock, png: bytes
) -> None:
    wrong = "sk-wrong-secret-777"
    with pytest.raises(CaptionAPIError) as info:
        make(server, clock, api_key=wrong).caption(req(png))
    assert info.value.status == 401
    assert "Incorrect API key" in str(info.value)
    assert wrong not in str(info.value) and wrong not in (info.value.body or "")
    assert len(server.requests("chat")) == 1


@pytest.mark.parametrize("status", [400, 403, 404, 500])
def test_errors_that_are_not_retried(
    server: OpenAIServer, clock: FakeClock, png: bytes, status: int
) -> None:
    server.inject("chat", Fault(status=status, body={"error": {"message": "nope"}}))
    with pytest.raises(CaptionAPIError, match="nope") as info:
        make(server, clock).caption(req(png))
    assert info.value.status == status
    assert len(server.requests("chat")) == 1


@pytest.mark.parametrize(
    "fault",
    [
        Fault(status=429, headers={"Retry-After": "4"}),
        Fault(status=502),
        Fault(status=503),
        Fault(status=504),
        Fault(reset=True),
    ],
    ids=["429", "502", "503", "504", "reset"],
)
def test_errors_that_are_retried(
    server: OpenAIServer, clock: FakeClock, png: bytes, fault: Fault
) -> None:
    server.inject("chat", fault)
    assert make(server, clock).caption(req(png)).caption
    assert len(server.requests("chat")) == 2
    assert clock.sleeps == [4.0 if fault.status == 429 else 0.5]


def test_a_slow_completion_times_out_and_is_not_retried(
    server: OpenAIServer, clock: FakeClock, png: bytes
) -> None:
    server.inject("chat", Fault(delay=0.5))
    with pytest.raises(CaptionTimeout, match="not retried") as info:
        make(server, clock, timeout=0.2, deadline=0.2).caption(req(png))
    assert info.value.task_id is None
    assert len(server.requests("chat")) == 1


def test_invalid_json_and_missing_choices(
    server: OpenAIServer, clock: FakeClock, png: bytes
) -> None:
    server.inject("chat", Fault(status=200, body="<html>"), Fault(status=200, body={"id": "x"}))
    backend = make(server, clock)
    with pytest.raises(CaptionAPIError, match="invalid JSON"):
        backend.caption(req(png))
    with pytest.raises(CaptionAPIError, match="no choices"):
        backend.caption(req(png))


def test_connection_refused(clock: FakeClock, png: bytes) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    backend = OpenAICaptioner(
        MODEL, base_url=f"http://127.0.0.1:{port}", clock=clock, sleep=clock.sleep
    )
    with pytest.raises(CaptionAPIError, match="connection"):
        backend.caption(req(png))
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0]


# -- the prompt ------------------------------------------------------------------------------


def test_prompt_for_a_plain_image() -> None:
    prompt = build_prompt(req(b"", max_length=80, focus="the chart", language="fr-CA"))
    assert "one short phrase" in prompt
    assert "at most 80 characters" in prompt
    assert "fr-CA" in prompt
    assert '"the chart"' in prompt
    assert "image of" in prompt  # told not to start with it


def test_prompt_for_a_linked_image_asks_what_the_link_does() -> None:
    context = CaptionContext(control="link", control_href="/pricing", page_title="Acme")
    prompt = build_prompt(req(b"", context=context))
    assert "what the link does" in prompt
    assert '"/pricing"' in prompt
    assert '"Acme"' in prompt
    assert "one short phrase" not in prompt


def test_prompt_for_a_button_and_a_figure() -> None:
    button = build_prompt(req(b"", context=CaptionContext(control="button", control_text="Go")))
    assert "what the button does" in button and '"Go"' in button
    figure = build_prompt(req(b"", context=CaptionContext(figcaption="Sales, 2024")))
    assert '"Sales, 2024"' in figure and "Do not repeat it" in figure


def test_prompt_bounds_and_flattens_page_text() -> None:
    context = CaptionContext(heading="A\n\nvery " + "long " * 200 + 'with "quotes"')
    prompt = build_prompt(req(b"", context=context))
    heading_line = next(line for line in prompt.splitlines() if "heading" in line)
    assert len(heading_line) < CONTEXT_LIMIT + 60
    assert "\u2026" in heading_line
    empty = build_prompt(req(b"", context=CaptionContext(page_title="   ")))
    assert "titled" not in empty
