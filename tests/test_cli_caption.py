"""``alttext caption`` with every backend, through the CLI, against loopback services."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image, PngImagePlugin
from servers.openai import Answer, OpenAIServer
from servers.wavespeed import API_KEY, Plan, WaveSpeedServer

from alttext.cli import main

KEYS = {"image", "alt", "caption", "backend", "model", "nsfw", "inference_ms", "task_id", "error"}


@pytest.fixture
def images(tmp_path: Path) -> tuple[Path, Path]:
    info = PngImagePlugin.PngInfo()
    info.add_text("Description", "A red square")
    described = tmp_path / "described.png"
    Image.new("RGB", (64, 48), "red").save(described, pnginfo=info)
    plain = tmp_path / "plain.png"
    Image.new("RGB", (64, 48), (20, 120, 40)).save(plain)
    return described, plain


@pytest.fixture
def wavespeed(monkeypatch: pytest.MonkeyPatch) -> Iterator[WaveSpeedServer]:
    with WaveSpeedServer() as server:
        monkeypatch.setenv("WAVESPEED_API_KEY", API_KEY)
        monkeypatch.setenv("WAVESPEED_BASE_URL", server.url)
        yield server


def caption(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["caption", *args])
    return result.exit_code, result.stdout, result.stderr


def test_offline_json_contract(images: tuple[Path, Path]) -> None:
    described, plain = images
    code, out, _ = caption(str(described), str(plain), "--json")
    assert code == 1  # one image had nothing to say
    first, second = json.loads(out)
    assert set(first) == KEYS and set(second) == KEYS
    assert first["image"] == str(described) and first["alt"] == "A red square"
    assert first["error"] is None and first["backend"] == "metadata"
    assert second["alt"] is None and "no embedded alt text" in second["error"]
    code, out, _ = caption(str(described))
    assert code == 0 and out == f"{described}: A red square\n"


def test_wavespeed_caption_then_cache(
    wavespeed: WaveSpeedServer, images: tuple[Path, Path]
) -> None:
    _, plain = images
    wavespeed.plans.append(Plan(caption="this image shows a green rectangle", nsfw=False))
    code, out, _ = caption(str(plain), "--backend", "wavespeed", "--json")
    assert code == 0, out
    (item,) = json.loads(out)
    assert item["alt"] == "A green rectangle"
    assert item["caption"] == "this image shows a green rectangle"
    assert item["backend"] == "wavespeed" and item["model"] == "wavespeed-ai/image-captioner"
    assert item["nsfw"] is False and item["inference_ms"] == 812
    assert item["task_id"] in wavespeed.tasks
    (submit,) = wavespeed.requests("submit")
    assert submit.header("Authorization") == f"Bearer {API_KEY}"
    assert submit.json()["detail_level"] == "low"
    (put,) = wavespeed.requests("put")
    assert put.header("Authorization") is None  # the upload URL never sees the key
    # The second time comes from the cache: no new task.
    code, out, _ = caption(str(plain), "--backend", "wavespeed", "--json")
    assert code == 0 and json.loads(out)[0]["alt"] == "A green rectangle"
    assert len(wavespeed.requests("submit")) == 1


def test_failed_captions_are_not_cached(
    wavespeed: WaveSpeedServer, images: tuple[Path, Path]
) -> None:
    _, plain = images
    wavespeed.plans.append(Plan(outcome="failed", error_code=1200, error="content moderation"))
    code, out, _ = caption(str(plain), "--backend", "wavespeed", "--json")
    assert code == 1 and "content moderation" in json.loads(out)[0]["error"]
    code, out, _ = caption(str(plain), "--backend", "wavespeed", "--json")
    assert code == 0 and json.loads(out)[0]["alt"]
    assert len(wavespeed.requests("submit")) == 2


def test_wrong_key_is_reported_without_the_key(
    wavespeed: WaveSpeedServer, images: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "ws-wrong-secret-key-987654321"
    monkeypatch.setenv("WAVESPEED_API_KEY", secret)
    _, plain = images
    code, out, err = caption(str(plain), "--backend", "wavespeed", "--json")
    assert code == 2  # a refused key is a configuration error: nothing else would work
    assert "401" in out + err and "the API key was refused" in out + err
    assert secret not in out and secret not in err


def test_missing_key_exits_2_before_any_request(images: tuple[Path, Path]) -> None:
    code, out, err = caption(str(images[1]), "--backend", "wavespeed")
    assert code == 2 and "WAVESPEED_API_KEY" in out + err


def test_openai_compatible_local_server(images: tuple[Path, Path]) -> None:
    _, plain = images
    with OpenAIServer(api_key=None) as server:  # like Ollama: no key needed
        server.answers.append(Answer(content="A green rectangle."))
        code, out, _ = caption(
            str(plain),
            "--backend",
            "openai",
            "--model",
            "llava",
            "--api-base",
            server.url,
            "--json",
            "--language",
            "de",
        )
        assert code == 0, out
        (item,) = json.loads(out)
        assert item["alt"] == "A green rectangle." and item["backend"] == "openai"
        (sent,) = server.images
        assert sent.data[:8] == b"\x89PNG\r\n\x1a\n"
        (request,) = server.requests("chat")
        assert "German" in json.dumps(request.json()) or "de" in json.dumps(request.json())


def test_openai_needs_a_model(images: tuple[Path, Path]) -> None:
    code, out, err = caption(str(images[1]), "--backend", "openai")
    assert code == 2 and "model" in (out + err).lower()


def test_unknown_backend_lists_the_available_ones(images: tuple[Path, Path]) -> None:
    code, out, err = caption(str(images[1]), "--backend", "nope")
    assert code == 2 and "offline" in out + err and "wavespeed" in out + err
