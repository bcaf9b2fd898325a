"""How one ``fix`` run uses the page memo (:mod:`alttext.store.pages`).

The run's fingerprint (every setting that changes a decision), what a page's decisions
read (:class:`Ticket`, from the scan worker), the memo entry of a page once every image
on it got an alt, and that entry read back. ``fix`` decides *when*; this module decides
*what* is remembered and what a remembered page means.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alttext.config import Config
from alttext.images.resolve import SourceKind
from alttext.pipeline.outcomes import (
    ImageOutcome,
    Key,
    described_from_json,
    described_to_json,
    finding_from_json,
    finding_to_json,
    outcome_from_json,
    outcome_to_json,
)
from alttext.records import compact_pickle
from alttext.rewrite import Splice
from alttext.rules.model import Finding
from alttext.scan.scanner import page_rel_path
from alttext.store.pages import PageMemo, fingerprint, page_key

if TYPE_CHECKING:
    from alttext.pipeline.describe import Described, Describer

#: One source an image's load read: its kind, its path under the site root (local
#: files) and the sha256 of its bytes.
Read = tuple[SourceKind, str | None, str]

#: Settings that never change what ``fix`` decides for a page (how fast, where it writes,
#: what the audit reports); every other field of :class:`Config` is in the fingerprint,
#: so a setting added later counts until it is listed here.
NOT_DECISIONS = frozenset(
    {
        "fail_on",
        "exclude",
        "jobs",
        "workers",
        "rate",
        "timeout",
        "deadline",
        "api_base",
        "sync",
        "image_transport",
        "cache_dir",
        "cache",
        "catalog",
        "require_reviewed",
        "site_root",
        "source",
    }
)


class RunMemo:
    """The page memo as one run uses it: the store, the run's fingerprint, and whether
    the run audits (its entries then hold each page's findings too). Picklable.

    ``recalls`` is whether the store existed when the run began: without it (a new
    cache, say a CI runner that keeps none) no page is looked up, only remembered.
    """

    def __init__(
        self, pages: PageMemo, fingerprint: str, *, audit: bool = False, recalls: bool = True
    ) -> None:
        self.pages = pages
        self.fingerprint = fingerprint
        self.audit = audit
        self.recalls = recalls

    def key(self, path: Path, rel_path: str, data: bytes, roots: tuple[Path, Path]) -> str:
        """The memo key of a page: its bytes, where it is (``rel_path`` under the scan
        root, ``roots[0]``, and its path under the site root), and this run's settings."""
        root, site_root = roots
        site_path = rel_path if site_root == root else page_rel_path(path, site_root)
        return page_key(self.fingerprint, rel_path, site_path, data)


def run_memo(config: Config, describer: Describer, *, audit: bool = False) -> RunMemo | None:
    """The run's page memo (beside the caption cache), or ``None`` without a cache.

    An auditing run (``--report``) has entries of its own: they hold the findings, which
    also depend on what only the audit reads (``require_reviewed``; the rules and their
    severities are decision settings already).
    """
    if describer.cache is None:
        return None
    settings: dict[str, object] = {
        f.name: _plain(getattr(config, f.name))
        for f in fields(Config)
        if f.name not in NOT_DECISIONS
    }
    settings["captioner"] = describer.captioner.name
    # A catalog entry wins over everything. A recalled page checks the entries of its own
    # images (see consistent_with_catalog); an audit's --require-reviewed findings read
    # any entry, so there every edit is a new fingerprint.
    catalog = describer.catalog
    settings["catalog"] = catalog is not None
    if audit and catalog is not None:
        settings["catalog"] = hashlib.sha256(catalog.to_text().encode()).hexdigest()
    if audit:
        settings["audit"] = {"require_reviewed": config.require_reviewed}
    pages = PageMemo(describer.cache.directory)
    return RunMemo(pages, fingerprint(settings), audit=audit, recalls=pages.exists())


def _plain(value: object) -> object:
    """A setting as JSON (enum values, paths and mappings made plain, in a fixed order)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(getattr(value, "value", value))


@compact_pickle
@dataclass(frozen=True, slots=True)
class Ticket:
    """What lets the memo remember a page once it is decided: its memo key, every local
    file its decisions (and audit) read (path, sha256), its image count, and in an
    auditing run its findings."""

    key: str
    read: tuple[tuple[str, str], ...]
    found: int
    findings: tuple[Finding, ...] | None = None

    def audited(
        self, findings: tuple[Finding, ...], reads: tuple[tuple[str, str], ...] | None
    ) -> Ticket | None:
        """With the page's audit (``reads``: the files it read, ``None`` if not known)."""
        if reads is None:
            return None
        merged = tuple(dict.fromkeys(self.read + reads))
        return Ticket(self.key, merged, self.found, findings)


def consistent_with_catalog(
    entries: Sequence[tuple[ImageOutcome, Key | None, str]],
    answer: Callable[[str, str | None], Described | None],
) -> bool:
    """Whether remembered outcomes are what the catalog decides now (``answer``: its
    decision for an image hash): an image it decides must have been decided by that very
    entry, and an image it does not decide must not have been decided by it (both for
    the page's language: ``answer(hash, language)``)."""
    for outcome, key, _ in entries:
        if key is None:
            continue  # a spacer or a failure: decided before any look-up
        now, then = answer(key[0], key[1]), outcome.described
        if now is None:
            if then is not None and then.origin == "catalog":
                return False  # the entry is gone (or its image changed)
        elif then != now:
            return False  # a new or edited entry
    return True


def with_reads(
    action: str, last_read: tuple[Read, ...], read: list[tuple[str, str]]
) -> list[tuple[str, str]] | None:
    """``read`` with the files behind one more image (its outcome so far: ``action``), or
    ``None`` if the page cannot be remembered: an image that failed already, or one read
    from another host (which may change without the page changing)."""
    if action == "failed":
        return None
    for kind, rel_path, sha256 in last_read:
        if kind is SourceKind.LOCAL and rel_path is not None:
            read.append((rel_path, sha256))
        elif kind is not SourceKind.DATA:
            return None
    return read


def memo_entry(
    ticket: Ticket,
    entries: Sequence[tuple[ImageOutcome, Key | None]],
    examples: Sequence[str],
    splices: Sequence[Splice],
) -> tuple[str, dict[str, Any]] | None:
    """The memo entry of a landed page whose every image got an alt, else ``None``."""
    if len(examples) != len(entries):
        return None
    outcomes = []
    # Each distinct description once: the outcomes refer to it by its index here.
    table: dict[Described, int] = {}

    def index(described: Described) -> int:
        return table.setdefault(described, len(table))

    for (outcome, key), example in zip(entries, examples, strict=True):
        if outcome.action not in ("filled", "decorative") or outcome.alt is None:
            return None
        outcomes.append([outcome_to_json(outcome, index), list(key) if key else None, example])
    entry: dict[str, Any] = {
        "found": ticket.found,
        "read": ticket.read,
        "described": [described_to_json(described) for described in table],
        "outcomes": outcomes,
        # Bytes as latin-1 text: JSON holds any byte that way, one character each.
        "splices": [[start, end, new.decode("latin-1")] for start, end, new in splices],
    }
    if ticket.findings is not None:
        entry["findings"] = [finding_to_json(f) for f in ticket.findings]
    return ticket.key, entry


@dataclass(frozen=True, slots=True)
class Remembered:
    """A memo entry read back: the files to check, then what to replay."""

    found: int
    read: tuple[tuple[str, str], ...]
    #: Each image's outcome, description key and catalog example.
    entries: tuple[tuple[ImageOutcome, Key | None, str], ...]
    splices: tuple[Splice, ...]
    #: The page's findings, when an auditing run remembered it.
    findings: tuple[Finding, ...] | None = None

    @classmethod
    def parse(cls, value: dict[str, Any]) -> Remembered:
        """An entry :func:`memo_entry` wrote.

        Raises:
            KeyError, TypeError, ValueError, UnicodeError: ``value`` is not one (another
                version, a damaged store): the caller takes the full way.
        """
        described = tuple(described_from_json(d) for d in value["described"])
        return cls(
            found=int(value["found"]),
            read=tuple((str(path), str(sha256)) for path, sha256 in value["read"]),
            entries=tuple(
                (outcome_from_json(o, described), (str(k[0]), k[1]) if k else None, str(example))
                for o, k, example in value["outcomes"]
            ),
            splices=tuple(
                (int(start), int(end), str(new).encode("latin-1"))
                for start, end, new in value["splices"]
            ),
            findings=(
                tuple(finding_from_json(f) for f in value["findings"])
                if "findings" in value
                else None
            ),
        )
