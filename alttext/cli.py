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
      alttext fix site/                        fill missing alt (offline: metadata + OCR)
      alttext fix site/ --backend wavespeed --catalog alttext.json
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
@click.option(
    "--require-reviewed",
    is_flag=True,
    default=None,
    help="Report alt text that came from an unreviewed catalog entry (needs --catalog).",
)
@click.option(
    "--catalog",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The catalog for --require-reviewed.",
)
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
        config_file,
        site_root=site_root,
        exclude=exclude,
        fail_on=fail_on,
        max_length=max_length,
        require_reviewed=require_reviewed,
        catalog=catalog,
    )
    progress = Progress("scanning", enabled=None if not quiet else False)
    with library_errors():
        report = run_check(paths, config, on_page=lambda _page: progress.advance())
    progress.close()
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

            colour = output is None and stream.isatty()
            for line in render_text(
                report.files, report.images, report.findings, report.errors, colour=colour
            ):
                stream.write(line + "\n")
    if report.failed(config.threshold()):
        sys.exit(1)


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
    @click.option("--timeout", type=float, default=None, help="Seconds per HTTP request.")
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


def _backend_overrides(kwargs: dict[str, Any]) -> dict[str, Any]:
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


@main.command()
@click.argument(
    "images", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@backend_options
@click.option("--language", default=None, help="Language of the alt text (BCP 47, e.g. de).")
@click.option("--max-length", type=int, default=None, help="Alt text length limit [default: 125].")
@click.option("--json", "as_json", is_flag=True, help="Print all results as a JSON list.")
def caption(
    images: tuple[Path, ...],
    config_file: Path | None,
    language: str | None,
    max_length: int | None,
    as_json: bool,
    **backend: Any,
) -> None:
    """Caption image files and print the polished alt text for each.

    Exit status: 0 = every image got an alt, 1 = some failed, 2 = usage or
    configuration error (for example a missing API key).

    \b
    Examples:
      alttext caption photo.jpg
      alttext caption *.png --backend wavespeed --json
      alttext caption chart.png --backend openai --model llava --api-base http://localhost:11434
    """
    import json
    import os

    from alttext.pipeline.caption import caption_files

    config = build_config(config_file, max_length=max_length, **_backend_overrides(backend))
    with library_errors():
        results = caption_files(list(images), config, env=os.environ, language=language)
    if as_json:
        click.echo(json.dumps(results, indent=2, ensure_ascii=False))
    else:
        for item in results:
            if item["error"]:
                click.echo(f"{item['image']}: error: {item['error']}")
            else:
                click.echo(f"{item['image']}: {item['alt']}")
    if any(item["error"] for item in results):
        sys.exit(1)


@main.group()
def cache() -> None:
    """Inspect or clear the caption cache."""


@cache.command("stats")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
def cache_stats(cache_dir: Path | None) -> None:
    """Show where the cache is, how many captions it holds and its size."""
    import os

    from alttext.store.cache import CaptionCache, default_cache_dir

    with library_errors(), CaptionCache(cache_dir or default_cache_dir(os.environ)) as store:
        stats = store.stats()
    click.echo(f"directory: {stats.directory}")
    click.echo(f"captions:  {stats.entries}")
    click.echo(f"size:      {stats.size_bytes / 1024:.1f} KiB")


@cache.command("clear")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.confirmation_option(prompt="Delete every cached caption (you will pay for them again)?")
def cache_clear(cache_dir: Path | None) -> None:
    """Delete every cached caption."""
    import os

    from alttext.store.cache import CaptionCache, default_cache_dir

    with library_errors(), CaptionCache(cache_dir or default_cache_dir(os.environ)) as store:
        removed = store.clear()
    click.echo(f"removed {removed} cached caption(s)")


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
    help="Committed JSON catalog of alt decisions (read first, new captions added).",
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
    type=float,
    default=None,
    help="At most N backend requests per minute (0 = no limit; WaveSpeed default 2).",
)
@click.option("--no-remote", is_flag=True, help="Never fetch images from other hosts.")
@click.option(
    "--allow-private-hosts",
    is_flag=True,
    default=None,
    help="Allow fetching from private, loopback and link-local addresses.",
)
@click.option("--max-length", type=int, default=None, help="Alt text length limit [default: 125].")
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
def fix(
    paths: tuple[Path, ...],
    config_file: Path | None,
    site_root: Path | None,
    exclude: tuple[str, ...],
    base_url: str | None,
    replace_bad: bool | None,
    dry_run: bool,
    patch_file: Path | None,
    report_file: Path | None,
    report_format: str,
    catalog: Path | None,
    jobs: int | None,
    rate: float | None,
    no_remote: bool,
    allow_private_hosts: bool | None,
    max_length: int | None,
    quiet: bool,
    **backend: Any,
) -> None:
    """Write alt text for images that have none, in place.

    Each distinct image is captioned once (content-hash cache), however many pages use
    it; only the inserted alt attributes change in the files, which are replaced
    atomically. alt="" and alt text a person wrote are never touched. Spacers (1-2 px) get
    alt="". Exit status: 0 = every image that needed alt got one, 1 = some could not be
    captioned (listed), 2 = usage or configuration error.

    \b
    Examples:
      alttext fix site/                               offline: image metadata and OCR
      alttext fix site/ --dry-run                     show the diff, change nothing
      alttext fix site/ --backend wavespeed --catalog alttext.json
      alttext fix site/ --backend openai --model llava --api-base http://localhost:11434
    """
    import os

    from alttext.pipeline.fix import run_fix
    from alttext.progress import Progress

    if dry_run and patch_file:
        raise UsageFailure("--dry-run and --patch are alternatives; give one")
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
        allow_private_hosts=allow_private_hosts,
        max_length=max_length,
        **_backend_overrides(backend),
    )
    progress = Progress("captioning", enabled=False if quiet else None)

    def set_total(total: int) -> None:
        progress.total = total

    mode = "dry-run" if dry_run else "patch" if patch_file else "write"
    with library_errors():
        try:
            report = run_fix(
                paths,
                config,
                env=os.environ,
                mode=mode,  # type: ignore[arg-type]
                on_total=set_total,
                on_described=progress.advance,
            )
        finally:
            progress.close()
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
            f"{image.rel_page}:{image.line}:{image.column}: not fixed [{image.src or ''}]: "
            f"{outcome.error}",
            err=True,
        )
    for error in report.errors:
        click.echo(f"{error.file}: error {error.message}", err=True)
    counts = report.counts
    verb = "would change" if mode != "write" else "changed"
    click.echo(
        f"{report.files} files scanned, {report.files_changed} {verb}; "
        f"{report.alts_written} alts written "
        f"(catalog {counts.get('catalog', 0)}, metadata {counts.get('metadata', 0)}, "
        f"cache {counts.get('cache', 0)}, backend {counts.get('backend', 0)}, "
        f"decorative {sum(1 for o in report.outcomes if o.action == 'decorative')}); "
        f"{len(report.failed)} failed; {counts.get('api_calls', 0)} backend calls",
        err=dry_run,
    )
    if not report.ok:
        sys.exit(1)


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


@main.group("catalog")
def catalog_group() -> None:
    """Show, merge or prune a catalog of alt text decisions."""


@catalog_group.command("show")
@click.argument("catalog_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--unreviewed", is_flag=True, help="Only entries nobody has reviewed yet.")
def catalog_show(catalog_file: Path, unreviewed: bool) -> None:
    """List the decisions: hash, reviewed mark, alt text and where the image was seen.

    \b
    Example:
      alttext catalog show alttext.json --unreviewed
    """
    from alttext.store.catalog import Catalog

    with library_errors():
        store = Catalog.load(catalog_file)
    shown = 0
    for digest, entry in store:
        if unreviewed and entry.reviewed:
            continue
        shown += 1
        mark = "reviewed" if entry.reviewed else "draft   "
        alt = entry.alt if entry.alt else '"" (decorative)'
        click.echo(f"{digest[:12]}  {mark}  {alt}")
        if entry.examples:
            click.echo(f"{'':12}  {'':8}  seen: {', '.join(entry.examples)}  [{entry.source}]")
    click.echo(f"{shown} of {len(store)} entries")


@catalog_group.command("merge")
@click.argument("catalog_file", type=click.Path(dir_okay=False, path_type=Path))
@click.argument(
    "others", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
def catalog_merge(catalog_file: Path, others: tuple[Path, ...]) -> None:
    """Merge OTHERS into CATALOG_FILE: new entries, and reviewed ones over drafts.

    \b
    Example:
      alttext catalog merge alttext.json ../other-site/alttext.json
    """
    from alttext.store.catalog import Catalog

    with library_errors():
        store = Catalog.load(catalog_file)
        taken = sum(store.merge(Catalog.load(other)) for other in others)
        store.save()
    click.echo(f"took {taken} entr{'y' if taken == 1 else 'ies'}; {len(store)} in {catalog_file}")


@catalog_group.command("prune")
@click.argument("catalog_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@config_options
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
def catalog_prune(
    catalog_file: Path,
    paths: tuple[Path, ...],
    config_file: Path | None,
    site_root: Path | None,
    exclude: tuple[str, ...],
    dry_run: bool,
) -> None:
    """Remove entries for images no page under PATHS uses any more.

    \b
    Example:
      alttext catalog prune alttext.json site/
    """
    from alttext.pipeline.catalog import used_hashes
    from alttext.store.catalog import Catalog

    config = build_config(config_file, site_root=site_root, exclude=exclude)
    with library_errors():
        store = Catalog.load(catalog_file)
        dropped = store.prune(used_hashes(paths, config))
        if not dry_run:
            store.save()
    for digest in dropped:
        click.echo(f"{'would remove' if dry_run else 'removed'} {digest[:12]}")
    click.echo(f"{len(dropped)} removed, {len(store)} kept")
