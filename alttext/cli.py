"""The ``alttext`` command line: a thin click layer over the library.

Each command parses options, makes one library call and renders the result. Library
errors become click errors here and nowhere else: configuration problems exit 2, other
failures exit 1; bugs keep their traceback.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO, TypeVar

import click

from alttext import __version__
from alttext.config import FAIL_ON, Config, load_config
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
        help="Root for root-relative URLs like /images/a.png (default: the directory given).",
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


def build_config(config_file: Path | None, **overrides: Any) -> Config:
    """Load the configuration file and apply command-line overrides."""
    with library_errors():
        base = load_config(config_file)
        if overrides.get("exclude") == ():
            overrides["exclude"] = None
        elif overrides.get("exclude") is not None:
            overrides["exclude"] = base.exclude + tuple(overrides["exclude"])
        return base.merged(**overrides)


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


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="alttext")
def main() -> None:
    """Find images without alt text in built static sites, caption them once, fix them.

    \b
    Examples:
      alttext check site/                      audit; exit 1 on errors (a CI gate)
      alttext check site/ --format sarif -o alttext.sarif
      alttext caption photo.jpg --json         caption images directly
    """


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@config_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "sarif"]),
    default="text",
    show_default=True,
    help="Output format.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the report to FILE instead of stdout.",
)
@click.option(
    "--fail-on",
    type=click.Choice(FAIL_ON),
    default=None,
    help="Exit 1 when a finding is at or above this severity  [default: error].",
)
@click.option("--max-length", type=int, default=None, help="Alt text length limit [default: 125].")
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
def check(
    paths: tuple[Path, ...],
    config_file: Path | None,
    site_root: Path | None,
    exclude: tuple[str, ...],
    fmt: str,
    output: Path | None,
    fail_on: str | None,
    max_length: int | None,
    quiet: bool,
) -> None:
    """Audit built HTML for images without usable alt text.

    PATHS are HTML files or directories (searched recursively for *.html, *.htm,
    *.xhtml). Exit status: 0 = nothing at or above --fail-on, 1 = findings at or above
    it, 2 = usage or configuration error.

    \b
    Examples:
      alttext check site/
      alttext check site/ --fail-on warning --exclude 'drafts/*'
      alttext check site/ --format json -o report.json
    """
    from alttext.pipeline.check import run_check
    from alttext.progress import Progress

    config = build_config(
        config_file, site_root=site_root, exclude=exclude, fail_on=fail_on, max_length=max_length
    )
    progress = Progress("scanning", enabled=None if not quiet else False)
    with library_errors():
        report = run_check(paths, config, on_page=lambda _page: progress.advance())
    progress.close()
    with output_stream(output) as stream:
        if fmt == "json":
            from alttext.report.json_report import check_document, render_json

            stream.write(
                render_json(
                    check_document(report.files, report.images, report.findings, report.errors)
                )
            )
        elif fmt == "sarif":
            from alttext.report.sarif import render_sarif, root_uri_for

            stream.write(
                render_sarif(
                    report.findings,
                    report.errors,
                    tool_version=__version__,
                    root_uri=root_uri_for(report.root),
                )
            )
        else:
            from alttext.report.text import render_text

            colour = output is None and stream.isatty()
            for line in render_text(
                report.files, report.images, report.findings, report.errors, colour=colour
            ):
                stream.write(line + "\n")
    if report.failed(config.threshold()):
        sys.exit(1)
