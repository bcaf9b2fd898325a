"""The package surface: a complete ``__all__``, an import that does no work, plugins."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import alttext
from alttext.captioners import registry
from alttext.captioners.base import BackendOptions, CaptionRequest
from alttext.errors import AltTextError, ConfigError


def test_every_public_name_resolves_and_is_documented() -> None:
    for name in alttext.__all__:
        value = getattr(alttext, name)
        if name != "__version__" and name != "RULES":
            assert getattr(value, "__doc__", None), f"{name} has no docstring"


def test_all_lists_every_public_class_of_the_library() -> None:
    # Every exception and every protocol/dataclass the pipeline returns is reachable.
    import alttext.errors as errors

    exceptions = {
        n for n, v in vars(errors).items() if isinstance(v, type) and issubclass(v, AltTextError)
    }
    assert exceptions <= set(alttext.__all__)
    assert issubclass(alttext.ConfigError, alttext.AltTextError)


def test_import_does_no_work() -> None:
    code = textwrap.dedent(
        """
        import os, sys
        os.environ["ALTTEXT_CACHE_DIR"] = "/nonexistent/never-created"
        import alttext
        heavy = {"lxml", "diskcache", "requests", "PIL", "mkdocs", "click", "alttext.cli"}
        print(sorted(m for m in heavy if m in sys.modules))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_run_that_sends_no_request_does_not_import_requests(tmp_path: Path) -> None:
    # requests costs ~0.1 s to import, Pillow ~0.02 s: a fix with nothing to send or a
    # check of a local site must pay for neither.
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text('<img src="a.png" alt="A chart">', encoding="utf-8")
    code = textwrap.dedent(
        """
        import atexit, sys
        atexit.register(lambda: print({"requests", "PIL"} & set(sys.modules), file=sys.stderr))
        from alttext.cli import main
        sys.argv = ["alttext", *sys.argv[1:]]
        main()
        """
    )
    env = {**os.environ, "WAVESPEED_API_KEY": "test-key"}
    for args in (
        ["check", str(site), "-q"],
        [
            "fix",
            str(site),
            "-q",
            "--backend",
            "wavespeed",
            "--api-base",
            "http://127.0.0.1:9",
            "--cache-dir",
            str(tmp_path / "cache"),
        ],
    ):
        done = subprocess.run(
            [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env
        )
        assert done.returncode == 0, done.stderr
        assert done.stderr.strip().splitlines()[-1] == "set()", (args, done.stderr)


def test_unknown_attribute() -> None:
    with pytest.raises(AttributeError):
        _ = alttext.not_a_thing  # type: ignore[attr-defined]


def test_third_party_backend_through_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real installed distribution on sys.path, found through importlib.metadata.
    (tmp_path / "echo_backend.py").write_text(
        textwrap.dedent(
            """
            from alttext.captioners.base import CaptionResult

            class Echo:
                name = "echo"
                def caption(self, request):
                    return CaptionResult(caption=f"{len(request.image)} bytes", backend="echo")
                def close(self):
                    pass

            def create(options):
                return Echo()
            """
        ),
        encoding="utf-8",
    )
    dist = tmp_path / "echo_backend-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: echo-backend\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[alttext.captioners]\necho = echo_backend:create\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "echo" in registry.available()
    backend = registry.create("echo", BackendOptions())
    result = backend.caption(CaptionRequest(image=b"abc", mime_type="image/png", content_hash="0"))
    assert result.caption == "3 bytes"
    with pytest.raises(ConfigError, match="unknown captioning backend 'nope'"):
        registry.create("nope", BackendOptions())


def test_all_and_lazy_table_agree() -> None:
    assert set(alttext.__all__) == {"__version__", *alttext._EXPORTS}
