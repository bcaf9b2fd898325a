"""``alttext cache`` and ``alttext catalog``: the stores behind fix."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from alttext.cli import main
from alttext.cli.options import (
    UsageFailure,
    build_config,
    config_options,
    library_errors,
)


@main.group()
def cache() -> None:
    """Inspect or clear the caption cache."""


_CACHE_DIR_HELP = "Caption cache folder (else ALTTEXT_CACHE_DIR or the user cache dir)."


@cache.command("stats")
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help=_CACHE_DIR_HELP,
)
def cache_stats(cache_dir: Path | None) -> None:
    """Show where the cache is, how many captions it holds and its size."""
    import os

    from alttext.store.cache import CaptionCache, default_cache_dir
    from alttext.store.pages import PageMemo

    directory = cache_dir or default_cache_dir(os.environ)
    if not directory.is_dir():  # looking must not create one
        click.echo(f"directory: {directory} (no cache yet: fix creates it)")
        return
    memo = PageMemo(directory)
    with library_errors(), CaptionCache(directory) as store:
        stats = store.stats()
        try:
            pages = memo.count()
        finally:
            memo.close()
    click.echo(f"directory: {stats.directory}")
    click.echo(f"captions:  {stats.entries}")
    if pages is None:
        click.echo("pages:     unreadable (damaged); `alttext cache clear --pages` removes them")
    else:
        click.echo(
            f"pages:     {pages} remembered, {memo.size_bytes() / 1024:.1f} KiB"
            " (fix skips scanning them when unchanged)"
        )
    click.echo(f"size:      {stats.size_bytes / 1024:.1f} KiB of captions")


@cache.command("clear")
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help=_CACHE_DIR_HELP,
)
@click.option(
    "--pages",
    "pages_only",
    is_flag=True,
    help="Forget only the pages fix remembers (every page is scanned again); keep the captions.",
)
@click.option("--yes", is_flag=True, help="Do not ask before deleting the captions.")
def cache_clear(cache_dir: Path | None, pages_only: bool, yes: bool) -> None:
    """Delete every cached caption, and the pages fix remembers.

    \b
    Examples:
      alttext cache clear --pages      # scan every page again; no caption is lost
      alttext cache clear --yes        # everything (captions are paid for again)
    """
    import os

    from alttext.store.cache import CaptionCache, default_cache_dir
    from alttext.store.pages import PageMemo

    directory = cache_dir or default_cache_dir(os.environ)
    if not directory.is_dir():
        click.echo(f"nothing to clear: there is no cache in {directory}")
        return
    if not os.access(directory, os.W_OK):
        raise UsageFailure(f"cannot clear the cache in {directory}: not writable")
    memo = PageMemo(directory)
    if pages_only:
        with library_errors():
            try:
                pages = memo.clear()
            finally:
                memo.close()
        click.echo(f"removed {pages} remembered page(s); the captions are kept")
        return
    if not yes:
        click.confirm("Delete every cached caption (you will pay for them again)?", abort=True)
    with library_errors(), CaptionCache(directory) as store:
        try:
            # The pages first: a remembered page must never outlive the captions it used.
            pages = memo.clear()
        finally:
            memo.close()
        removed = store.clear()
    click.echo(f"removed {removed} cached caption(s) and {pages} remembered page(s)")


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
    from alttext.report.text import printable
    from alttext.store.catalog import Catalog, content_hash_of

    with library_errors():
        store = Catalog.load(catalog_file)
    shown = 0
    for digest, entry in store:
        if unreviewed and entry.reviewed:
            continue
        shown += 1
        mark = "reviewed" if entry.reviewed else "draft   "
        alt = printable(entry.alt, 1000) if entry.alt else '"" (decorative)'
        label = content_hash_of(digest)[:12] + (f" ({printable(entry.lang)})" if entry.lang else "")
        click.echo(f"{label}  {mark}  {alt}")
        if entry.examples:
            seen = printable(", ".join(entry.examples), 1000)
            click.echo(f"{'':12}  {'':8}  seen: {seen}  [{printable(entry.source)}]")
    click.echo(f"{shown} of {len(store)} entries")


@catalog_group.command("merge")
@click.argument("catalog_file", type=click.Path(dir_okay=False, path_type=Path))
@click.argument(
    "others", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
def catalog_merge(catalog_file: Path, others: tuple[Path, ...]) -> None:
    """Merge OTHERS into CATALOG_FILE: new entries, and reviewed ones over drafts.

    Entries both hold keep the examples of both. Two different alts of equal standing
    (both reviewed, or both drafts) are a conflict: the entry CATALOG_FILE (or an
    earlier OTHER) has stays, and each conflict is listed on stderr to decide by hand.
    Exit status: 0 without conflicts, 1 when some were reported (the merge is saved
    either way), 2 for an invalid catalog.

    \b
    Example:
      alttext catalog merge alttext.json ../other-site/alttext.json
    """
    from alttext.store.catalog import Catalog, key_label

    added = replaced = examples = conflicts = 0
    with library_errors():
        store = Catalog.load(catalog_file)
        # Where each entry came from, to say which side of a conflict was kept.
        origin = dict.fromkeys(store.entries, catalog_file)
        for other in others:
            result = store.merge(Catalog.load(other))
            for conflict in result.conflicts:
                click.echo(
                    f"conflict {key_label(conflict.content_hash)}: kept {_alt(conflict.kept.alt)}"
                    f" ({origin[conflict.content_hash]}), not {_alt(conflict.other.alt)}"
                    f" ({other}); both {'reviewed' if conflict.kept.reviewed else 'drafts'}",
                    err=True,
                )
            origin.update(dict.fromkeys(result.added + result.replaced, other))
            added += len(result.added)
            replaced += len(result.replaced)
            examples += len(result.examples)
            conflicts += len(result.conflicts)
        store.save()
    taken = added + replaced
    click.echo(
        f"took {taken} entr{'y' if taken == 1 else 'ies'} ({added} new,"
        f" {replaced} reviewed over drafts), more examples on {examples},"
        f" {conflicts} conflict{'' if conflicts == 1 else 's'}; {len(store)} in {catalog_file}"
    )
    if conflicts:
        sys.exit(1)


def _alt(alt: str) -> str:
    """An alt for a terminal or CI log: quoted, control characters escaped."""
    from alttext.report.text import printable

    return printable(json.dumps(alt, ensure_ascii=False), 300) if alt else '"" (decorative)'


@catalog_group.command("prune")
@click.argument("catalog_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@config_options
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
@click.option(
    "--include-reviewed",
    is_flag=True,
    help="Remove unused reviewed entries too (by default a person's decision stays).",
)
def catalog_prune(
    catalog_file: Path,
    paths: tuple[Path, ...],
    config_file: Path | None,
    site_root: Path | None,
    exclude: tuple[str, ...],
    dry_run: bool,
    include_reviewed: bool,
) -> None:
    """Remove the draft entries for images no page under PATHS shows any more.

    PATHS must hold the built site: with no HTML page under them, prune refuses (exit
    2). Reviewed entries stay unless --include-reviewed. Remote images are not
    fetched: references prune cannot read are listed on stderr, since their entries
    look unused.

    \b
    Examples:
      alttext catalog prune alttext.json site/ --dry-run   # list, change nothing
      alttext catalog prune alttext.json site/
      alttext catalog prune alttext.json site/ --include-reviewed
    """
    from alttext.pipeline.catalog import prune_catalog
    from alttext.report.text import printable
    from alttext.store.catalog import key_label

    config = build_config(config_file, site_root=site_root, exclude=exclude)
    with library_errors():
        report = prune_catalog(
            catalog_file, paths, config, include_reviewed=include_reviewed, dry_run=dry_run
        )
    unread = report.used.unread
    if unread:
        click.echo(
            f"warning: {len(unread)} image reference{'' if len(unread) == 1 else 's'}"
            " could not be read; entries for them may be kept or removed wrongly:",
            err=True,
        )
        for item in unread[:_SHOWN]:
            what = printable(item.src) if item.src is not None else "(the page itself)"
            click.echo(
                f"  {printable(item.page, 1000)}  {what}: {printable(item.reason)}", err=True
            )
        if len(unread) > _SHOWN:
            click.echo(f"  ... and {len(unread) - _SHOWN} more", err=True)
    verb = "would remove" if dry_run else "removed"
    for digest, entry in report.removed:
        seen = f"  (seen: {printable(', '.join(entry.examples))})" if entry.examples else ""
        mark = "reviewed" if entry.reviewed else "draft"
        click.echo(f"{verb} {key_label(digest)}  {mark}  {_alt(entry.alt)}{seen}")
    kept_reviewed = len(report.kept_reviewed)
    if kept_reviewed:
        click.echo(
            f"kept {kept_reviewed} reviewed entr{'y' if kept_reviewed == 1 else 'ies'}"
            " no page uses (--include-reviewed removes them)"
        )
    removed = "would be removed" if dry_run else "removed"
    click.echo(f"{len(report.removed)} {removed}, {report.kept} kept")


#: Unreadable references listed one by one before "... and N more".
_SHOWN = 20
