"""Shared CLI plumbing: option decorators, config building, error translation, output."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO, TypeVar

import click

from alttext.config import Config, load_config
from alttext.errors import AltTextError, ConfigError

F = TypeVar("F", bound=Callable[..., Any])


class UsageFailure(click.ClickException):
    """A configuration or usage problem: exit status 2."""

    exit_code = 2


@contextmanager
def library_errors() -> Iterator[None]:
    """Turn library errors into click errors with the documented exit codes."""
    try:
        yield
    except ConfigError as exc:
        raise UsageFailure(str(exc)) from exc
    except AltTextError as exc:
        raise click.ClickException(str(exc)) from exc


def config_options(func: F) -> F:
    """Options every command that reads the configuration shares."""

    @click.option(
        "--config",
        "config_file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="Configuration file (default: alttext.toml or pyproject.toml [tool.alttext], "
        "searched upward from the working directory).",
    )
    @click.option(
        "--site-root",
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        help="Root for root-relative URLs like /images/a.png; it must hold the PATHS "
        "(default: the directory given, or of several, the one that holds the others).",
    )
    @click.option(
        "--exclude",
        multiple=True,
        metavar="GLOB",
        help="Skip HTML files matching GLOB (relative path or file name); repeatable.",
    )
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def workers_option(func: F) -> F:
    """``--workers N``: processes that scan and audit pages."""
    return click.option(
        "--workers",
        type=click.IntRange(min=1),
        default=None,
        help="Processes that scan pages in parallel  [default: the CPUs available, at most "
        "8; 1 scans in this process].",
    )(func)


def build_config(config_file: Path | None, **overrides: Any) -> Config:
    """Load the configuration file and apply command-line overrides."""
    with library_errors():
        base = load_config(config_file)
        if overrides.get("exclude") == ():
            overrides["exclude"] = None
        elif overrides.get("exclude") is not None:
            overrides["exclude"] = base.exclude + tuple(overrides["exclude"])
        return base.merged(**overrides)


def writable_output(path: Path | None, option: str) -> None:
    """Refuse an output file that cannot be written, before any work (and any payment)
    is done for it: a missing or read-only folder, a folder named like the file."""
    if path is None:
        return
    import os

    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UsageFailure(f"{option} {path}: is a directory")
    if not folder.is_dir():
        raise UsageFailure(f"{option} {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UsageFailure(f"{option} {path}: not writable")


@contextmanager
def output_stream(path: Path | None) -> Iterator[TextIO]:
    """The ``--output`` file (UTF-8) or stdout."""
    if path is None:
        yield sys.stdout
        return
    try:
        handle = path.open("w", encoding="utf-8", newline="\n")
    except OSError as exc:
        raise UsageFailure(f"cannot write {path}: {exc.strerror or exc}") from exc
    with handle:
        yield handle


def backend_options(func: F) -> F:
    """Options that choose and tune the captioning backend."""

    @click.option(
        "--backend",
        default=None,
        help="Captioning backend: offline (default; no network), wavespeed, openai, or an "
        "installed plugin.",
    )
    @click.option("--model", default=None, help="Model id for the backend.")
    @click.option(
        "--api-base",
        default=None,
        metavar="URL",
        help="Service base URL (else WAVESPEED_BASE_URL / OPENAI_BASE_URL).",
    )
    @click.option(
        "--detail",
        type=click.Choice(["low", "medium", "high"]),
        default=None,
        help="Caption detail  [default: low].",
    )
    @click.option("--focus", default=None, help="Subject or area the caption should focus on.")
    @click.option("--sync/--no-sync", default=None, help="WaveSpeed sync mode.")
    @click.option(
        "--image-transport",
        type=click.Choice(["auto", "url", "upload", "data-uri"]),
        default=None,
        help="How a remote backend gets the image  [default: auto].",
    )
    @click.option(
        "--timeout",
        type=click.FloatRange(min=0, min_open=True),
        default=None,
        help="Seconds per HTTP request.",
    )
    @click.option(
        "--cache-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Caption cache folder (else ALTTEXT_CACHE_DIR or the user cache dir).",
    )
    @click.option("--no-cache", is_flag=True, help="Neither read nor write the caption cache.")
    @click.option("--no-ocr", is_flag=True, help="Offline backend: do not read text in images.")
    @click.option(
        "--no-metadata-first",
        is_flag=True,
        help="Ask the backend even when the image carries its own alt text.",
    )
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def backend_overrides(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Translate backend option values into Config field overrides."""
    no_cache = kwargs.pop("no_cache", False)
    no_ocr = kwargs.pop("no_ocr", False)
    no_metadata_first = kwargs.pop("no_metadata_first", False)
    return {
        "ocr": False if no_ocr else None,
        "metadata_first": False if no_metadata_first else None,
        "backend": kwargs.pop("backend", None),
        "model": kwargs.pop("model", None),
        "api_base": kwargs.pop("api_base", None),
        "detail": kwargs.pop("detail", None),
        "focus": kwargs.pop("focus", None),
        "sync": kwargs.pop("sync", None),
        "image_transport": kwargs.pop("image_transport", None),
        "timeout": kwargs.pop("timeout", None),
        "cache_dir": kwargs.pop("cache_dir", None),
        "cache": False if no_cache else None,
    }
