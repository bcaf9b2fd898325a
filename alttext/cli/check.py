"""``alttext check``: the audit."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from alttext import __version__
from alttext.cli import main
from alttext.cli.options import (
    UsageFailure,
    build_config,
    config_options,
    library_errors,
    output_stream,
    workers_option,
    writable_output,
)
from alttext.config import FAIL_ON


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
@click.option(
    "--require-reviewed",
    is_flag=True,
    default=None,
    help="Fail on alt text that came from an unreviewed catalog entry (an error; the "
    "catalog: --catalog or the project's alttext.json).",
)
@click.option(
    "--catalog",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The catalog for --require-reviewed.",
)
@workers_option
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
    require_reviewed: bool | None,
    catalog: Path | None,
    workers: int | None,
    quiet: bool,
) -> None:
    """Audit built HTML for images without usable alt text.

    PATHS are HTML files or directories (searched recursively for *.html, *.htm,
    *.xhtml). Exit status: 0 = nothing at or above --fail-on, 1 = findings at or above
    it, or pages that could not be read, 2 = usage or configuration error (also: no HTML
    file found).

    \b
    Examples:
      alttext check site/
      alttext check site/ --fail-on warning --exclude 'drafts/*'
      alttext check site/ --format json -o report.json
      alttext check site/ --workers 1        # no worker processes
    """
    from alttext.pipeline.check import run_check
    from alttext.progress import Progress

    config = build_config(
        config_file,
        site_root=site_root,
        exclude=exclude,
        fail_on=fail_on,
        max_length=max_length,
        require_reviewed=require_reviewed,
        catalog=catalog,
        workers=workers,
    )
    writable_output(output, "--output")  # before the scan, not after it
    if output is not None and output.suffix.lower() in (".html", ".htm", ".xhtml"):
        raise UsageFailure(f"{output} looks like a page: write the report elsewhere")
    progress = Progress("scanning", enabled=None if not quiet else False)
    with library_errors():
        report = run_check(paths, config, on_page=lambda _page: progress.advance())
    progress.close()
    if report.files == 0 and not report.errors:  # a wrong build path must not pass the gate
        raise UsageFailure(
            "no HTML files (*.html, *.htm, *.xhtml) under "
            + ", ".join(str(p) for p in paths)
            + (" (all excluded)" if config.exclude else "")
        )
    with output_stream(output) as stream:
        if fmt == "json":
            from alttext.report.json_report import write_check_json

            write_check_json(stream, report.files, report.images, report.findings, report.errors)
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

            # https://no-color.org: any non-empty NO_COLOR turns colour off.
            colour = output is None and stream.isatty() and not os.environ.get("NO_COLOR")
            for line in render_text(
                report.files, report.images, report.findings, report.errors, colour=colour
            ):
                stream.write(line + "\n")
    # A page that could not be read was not audited: the gate cannot pass it.
    if report.failed(config.threshold()) or report.errors:
        sys.exit(1)
