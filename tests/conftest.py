"""Shared fixtures: a clean environment for every test, and the shipped fixture site."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURE_SITE = REPO / "fixtures" / "site"

_PROJECT_ENV = ("ALTTEXT_", "WAVESPEED_", "OPENAI_")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test sees the developer's API keys, base URLs or cache directory."""
    for name in list(os.environ):
        if name.startswith(_PROJECT_ENV):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALTTEXT_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Path]:
    """A private copy of ``fixtures/site`` that a test may rewrite."""
    import shutil

    dest = tmp_path / "site"
    shutil.copytree(FIXTURE_SITE, dest)
    yield dest


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` (creating folders) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path
