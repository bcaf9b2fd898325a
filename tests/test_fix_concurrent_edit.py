"""A page someone else changes while ``fix`` works on it keeps their change.

``fix`` works out a page's new bytes from the bytes it read, and replaces the page only if
it is still the version it read. The edit here lands in the last moment before the new
content is written beside the page: after the read, so only the version taken *at the
read* can see it (one taken when staging would describe the edited page, and the rename
would throw the edit away). Each way a page's new content is made is covered: settled in
a scan worker, replayed from the page memo, and rewritten after a backend's caption.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import write
from PIL import Image, PngImagePlugin

import alttext.pipeline.land as land
from alttext.cli import main
from alttext.durable import Staged

THEIRS = b"<!-- an editor saved this meanwhile -->\n"
PAGE = '<html lang="en"><meta charset="utf-8"><p>Text</p><img src="x.png">\n'


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def png(path: Path, description: str | None = None) -> None:
    info = PngImagePlugin.PngInfo()
    if description:
        info.add_text("Description", description)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (64, 48), "teal").save(path, pnginfo=info)


class Editor:
    """Changes each page about to be staged, once per page, while ``armed``."""

    def __init__(self) -> None:
        self.armed = True
        self.edited: list[Path] = []

    def wrap(self, real: Callable[..., Staged]) -> Callable[..., Staged]:
        def stage(path: Path, data: bytes, **kwargs: object) -> Staged:
            if self.armed and path not in self.edited:
                self.edited.append(path)
                with open(path, "ab") as page:
                    page.write(THEIRS)
            return real(path, data, **kwargs)

        return stage


@pytest.fixture
def editor(monkeypatch: pytest.MonkeyPatch) -> Editor:
    editor = Editor()
    monkeypatch.setattr(land, "stage", editor.wrap(land.stage))
    return editor


def assert_kept_theirs(result: Result, page: Path, editor: Editor) -> None:
    assert editor.edited == [page]
    assert page.read_bytes() == PAGE.encode() + THEIRS  # their edit, and no alt of ours
    assert result.exit_code == 1, result.output
    assert f"{page} changed during the run; re-run alttext fix" in result.stderr
    assert not [p for p in page.parent.iterdir() if p.name.startswith(".")]  # no leftovers


def test_a_page_settled_in_a_scan_worker(tmp_path: Path, editor: Editor) -> None:
    site = tmp_path / "site"
    png(site / "x.png", "A teal rectangle")  # its metadata decides it in the worker
    page = write(site / "a.html", PAGE)
    result = cli("fix", str(site), "--workers", "1", "--no-cache", "-q")
    assert "not scanned again" not in result.stdout
    assert_kept_theirs(result, page, editor)


def test_a_page_replayed_from_the_page_memo(tmp_path: Path, editor: Editor) -> None:
    site = tmp_path / "site"
    png(site / "x.png", "A teal rectangle")
    page = write(site / "a.html", PAGE)
    editor.armed = False
    first = cli("fix", str(site), "--workers", "1", "-q")  # remembers the page
    assert first.exit_code == 0, first.output
    page.write_bytes(PAGE.encode())  # the next build writes it again
    editor.armed = True
    result = cli("fix", str(site), "--workers", "1", "-q")
    assert "(1 unchanged, not scanned again)" in result.stdout, result.stdout
    assert_kept_theirs(result, page, editor)


def test_a_page_rewritten_after_the_backends_caption(tmp_path: Path, editor: Editor) -> None:
    from servers.openai import Answer, OpenAIServer

    site = tmp_path / "site"
    png(site / "x.png")  # nothing embedded: the backend is asked
    page = write(site / "a.html", PAGE)
    with OpenAIServer(api_key=None) as server:
        server.answers.append(Answer(content="A teal rectangle."))
        args = ["fix", str(site), "--backend", "openai", "--model", "m", "--api-base"]
        result = cli(*args, server.url, "--workers", "1", "--no-cache", "-q")
        assert len(server.requests("chat")) == 1
    assert_kept_theirs(result, page, editor)
