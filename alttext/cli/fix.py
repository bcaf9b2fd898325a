"""``alttext fix``: write alt text into the pages."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from alttext import __version__
from alttext.cli import main
from alttext.cli.options import (
    UsageFailure,
    backend_options,
    backend_overrides,
    build_config,
    config_options,
    library_errors,
    workers_option,
    writable_output,
)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@config_options
@backend_options
@click.option(
    "--base-url",
    default=None,
    metavar="URL",
    help="The site's public URL; absolute URLs under it are read from disk.",
)
@click.option(
    "--replace-bad",
    is_flag=True,
    default=None,
    help="Also replace alt text that is a file name or a placeholder.",
)
@click.option("--dry-run", is_flag=True, help="Change nothing; print a unified diff.")
@click.option(
    "--estimate",
    is_flag=True,
    help="Change nothing and ask no backend: count what a run would answer from the "
    "catalog, metadata and cache, and the captions it would pay for.",
)
@click.option(
    "--patch",
    "patch_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Change nothing; write a git-apply / patch -p1 compatible diff to FILE.",
)
@click.option(
    "--report",
    "report_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a report of every image to FILE.",
)
@click.option(
    "--report-format", type=click.Choice(["json", "sarif"]), default="json", show_default=True
)
@click.option(
    "--catalog",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Committed JSON catalog of alt decisions (read first, new captions added) "
    "[default: alttext.json beside pyproject.toml, alttext.toml or mkdocs.yml, if it exists].",
)
@click.option(
    "-j",
    "--jobs",
    type=int,
    default=None,
    help="Images captioned at once [default: 8; the WaveSpeed backend keeps to 2 unless given].",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0),
    default=None,
    help="At most N backend requests per minute (0 = no limit; WaveSpeed default 2).",
)
@click.option("--no-remote", is_flag=True, help="Never fetch images from other hosts.")
@click.option(
    "--fetch-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="SECONDS",
    help="Time for each remote image, redirects and body included [default: 60]; a host "
    "that times out twice in a row is not asked again in the run.",
)
@click.option(
    "--allow-private-hosts",
    is_flag=True,
    default=None,
    help="Allow fetching from private, loopback and link-local addresses.",
)
@click.option("--max-length", type=int, default=None, help="Alt text length limit [default: 125].")
@workers_option
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
def fix(
    paths: tuple[Path, ...],
    config_file: Path | None,
    site_root: Path | None,
    exclude: tuple[str, ...],
    base_url: str | None,
    replace_bad: bool | None,
    dry_run: bool,
    estimate: bool,
    patch_file: Path | None,
    report_file: Path | None,
    report_format: str,
    catalog: Path | None,
    jobs: int | None,
    rate: float | None,
    no_remote: bool,
    fetch_timeout: float | None,
    allow_private_hosts: bool | None,
    max_length: int | None,
    workers: int | None,
    quiet: bool,
    **backend: Any,
) -> None:
    """Write alt text for images that have none, in place.

    Each distinct image is captioned once (content-hash cache), however many pages use
    it; only the inserted alt attributes change in the files, which are replaced
    atomically. alt="" and alt text a person wrote are never touched. Spacers (1-2 px) get
    alt="". A page seen before, with the same bytes and images, is not scanned again
    (remembered beside the cache; with --report, with its findings). Exit status:
    0 = every image that needed alt got one, 1 = some could not be captioned (listed),
    2 = usage or configuration error.

    \b
    Examples:
      alttext fix site/                                 offline: metadata and OCR
      alttext fix site/ --dry-run                       show the diff, change nothing
      alttext fix site/ --backend wavespeed --estimate  what a run would pay for
      alttext fix site/ --backend wavespeed --catalog alttext.json
      alttext fix site/ --backend openai --model llava --api-base http://localhost:11434
    """
    import os

    from alttext.pipeline.fix import run_fix
    from alttext.progress import Progress
    from alttext.report.text import line_start, printable
    from alttext.scan.scanner import HTML_SUFFIXES

    if dry_run and patch_file:
        raise UsageFailure("--dry-run and --patch are alternatives; give one")
    if estimate and (dry_run or patch_file or report_file):
        raise UsageFailure("--estimate changes nothing and reports nothing: give it alone")
    config = build_config(
        config_file,
        site_root=site_root,
        exclude=exclude,
        base_url=base_url,
        replace_bad=replace_bad,
        catalog=catalog,
        jobs=jobs,
        rate=rate,
        remote=False if no_remote else None,
        fetch_timeout=fetch_timeout,
        allow_private_hosts=allow_private_hosts,
        max_length=max_length,
        workers=workers,
        **backend_overrides(backend),
    )
    # Checked before any work: a run that has paid for its captions must not fail then.
    writable_output(patch_file, "--patch")
    writable_output(report_file, "--report")
    if config.catalog is not None and not estimate and not dry_run and not patch_file:
        writable_output(config.catalog, "--catalog")
    for output in (patch_file, report_file, config.catalog):
        if output is not None and output.suffix.lower() in HTML_SUFFIXES:
            raise UsageFailure(
                f"{output} looks like a page: write the patch, report or catalog elsewhere"
            )
    progress = Progress("captioning", enabled=False if quiet else None)

    def set_total(total: int) -> None:
        progress.total = total

    mode = "estimate" if estimate else "dry-run" if dry_run else "patch" if patch_file else "write"
    with library_errors():
        try:
            report = run_fix(
                paths,
                config,
                env=os.environ,
                mode=mode,  # type: ignore[arg-type]
                on_total=set_total,
                on_described=progress.advance,
                audit=report_file is not None,  # findings only go into --report
                keep_outcomes=report_file is not None,  # so do the outcomes
            )
        finally:
            progress.close()
    if report.files == 0 and not report.errors:
        raise UsageFailure(
            "no HTML files (*.html, *.htm, *.xhtml) under "
            + ", ".join(str(p) for p in paths)
            + (" (all excluded)" if config.exclude else "")
        )
    if dry_run:
        sys.stdout.buffer.write(report.patch)
        sys.stdout.flush()
    elif patch_file is not None:
        try:
            patch_file.write_bytes(report.patch)
        except OSError as exc:
            raise click.ClickException(f"cannot write {patch_file}: {exc.strerror}") from exc
    if report_file is not None:
        _write_fix_report(report, report_file, report_format)
    for outcome in report.failed:
        image = outcome.image
        click.echo(
            f"{line_start(image.rel_page)}:{image.line}:{image.column}: not fixed"
            f"{f' [{printable(image.src)}]' if image.src else ''}: "
            f"{printable(outcome.error or '', 1000)}",
            err=True,
        )
    for error in report.errors:
        click.echo(f"{line_start(error.file)}: error {printable(error.message, 1000)}", err=True)
    if report.leftovers_removed:
        click.echo(
            f"removed {_count(report.leftovers_removed, 'temporary file')} left by an "
            "interrupted run",
            err=True,
        )
    for pid, count in sorted(report.leftovers_kept.items()):
        click.echo(
            f"kept {_count(count, 'temporary file')} of another run still going (process "
            f"{pid}) beside the pages: it removes them, or the next run does once it ends",
            err=True,
        )
    if estimate:
        _echo_estimate(report, config.backend)
        if not report.ok or (report.backend_unavailable and report.actions["pending"]):
            sys.exit(1)  # a run would leave images without alt
        return
    writes = mode == "write"
    origins, calls = report.origins, report.counts.get("api_calls", 0)
    click.echo(
        f"{_files(report)}, {report.files_changed} {'changed' if writes else 'would change'}; "
        f"{_count(report.alts_written, 'alt')} {'written' if writes else 'to write'} "
        f"(catalog {origins['catalog']}, metadata {origins['metadata']}, "
        f"cache {origins['cache']}, backend {origins['backend']}, "
        f"decorative {report.actions['decorative']}); "
        f"{len(report.failed)} failed; {_count(calls, 'backend call')}",
        err=dry_run,
    )
    if not report.ok:
        sys.exit(1)


def _count(number: int, noun: str) -> str:
    """``1 alt``, ``2 alts``."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _files(report: Any) -> str:
    """The summary's first words: the pages, and how many the memo spared a scan."""
    files = _count(report.files, "file")
    if report.pages_remembered:
        return f"{files} ({report.pages_remembered} unchanged, not scanned again)"
    return f"{files} scanned"


def _echo_estimate(report: Any, backend: str) -> None:
    """What ``--estimate`` found: answered now (by source), for the backend, failing (all
    per image that uses them; the captions to pay for per distinct image)."""
    origins, actions = report.origins, report.actions
    click.echo(
        f"{_files(report)}, {report.files_changed} would change; "
        f"{_count(report.alts_written, 'alt')} answered now "
        f"(catalog {origins['catalog']}, metadata {origins['metadata']}, "
        f"cache {origins['cache']}, decorative {actions['decorative']}); "
        f"{_count(actions['pending'], 'image')} "
        f"{'needs' if actions['pending'] == 1 else 'need'} the {backend} backend: "
        f"{_count(report.would_ask, 'distinct image')} to caption; "
        f"{len(report.failed)} would fail. Nothing was changed and no backend was asked."
    )
    if report.backend_unavailable is not None and actions["pending"]:
        click.echo(
            f"The {backend} backend cannot be asked ({report.backend_unavailable}): "
            "a run would list those images as not fixed.",
            err=True,
        )


def _write_fix_report(report: Any, path: Path, fmt: str) -> None:
    if fmt == "sarif":
        from alttext.report.sarif import render_sarif, root_uri_for

        text = render_sarif(
            report.findings,
            report.errors,
            tool_version=__version__,
            root_uri=root_uri_for(report.root),
        )
    else:
        from alttext.report.json_report import fix_document, render_json

        text = render_json(fix_document(report))
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc.strerror}") from exc
