"""The catalog: committed, human-reviewable alt text decisions keyed by content hash.

Fixing built HTML is undone by the next build unless the decision is stored. The catalog
is a JSON file meant for version control::

    {
      "<sha256>": {
        "alt": "Sunrise over a mountain lake",
        "source": "backend:wavespeed/wavespeed-ai/image-captioner",
        "reviewed": false,
        "examples": ["blog/index.html images/lake.jpg"]
      }
    }

Keys are sorted and the file is pretty-printed so diffs stay small. New captions arrive
unreviewed; a person edits ``alt`` and sets ``reviewed: true``. Entries win over every
other source, so a CI build with a catalog needs no API key for images already decided.
An entry with ``"alt": ""`` records a decision that the image is decorative.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from alttext.errors import ConfigError

_HASH = re.compile(r"^[0-9a-fA-F]{64}$")
_FIELDS = ("alt", "source", "reviewed", "examples")
# Left behind by a merge nobody finished resolving: worth saying instead of "line 7".
_CONFLICT_MARKER = re.compile(r"^(<{7}|={7}|>{7})( |$)", re.MULTILINE)
MAX_EXAMPLES = 3


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """One decision."""

    alt: str
    source: str
    reviewed: bool = False
    examples: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        """The entry as stored."""
        return {
            "alt": self.alt,
            "source": self.source,
            "reviewed": self.reviewed,
            "examples": list(self.examples),
        }


@dataclass(slots=True)
class Catalog:
    """An in-memory catalog bound to its file (which may not exist yet)."""

    path: Path | None
    entries: dict[str, CatalogEntry] = field(default_factory=dict)
    dirty: bool = False

    @classmethod
    def load(cls, path: Path) -> Catalog:
        """Read ``path``; a missing file is an empty catalog, a malformed one an error.

        Raises:
            ConfigError: the file cannot be read or is not a valid catalog; the message
                says where and what, so a person can fix it by hand.
        """
        return cls(path, _read(path))

    def snapshot(self) -> Catalog:
        """A copy of the decisions as they are now (later additions do not show in it)."""
        return Catalog(None, dict(self.entries))

    def get(self, content_hash: str) -> CatalogEntry | None:
        """The decision for an image, if any."""
        return self.entries.get(content_hash)

    def add(self, content_hash: str, alt: str, source: str, example: str) -> CatalogEntry:
        """Record a new, unreviewed decision (an existing entry is kept, examples grow)."""
        entry = self.entries.get(content_hash)
        if entry is None:
            entry = CatalogEntry(alt=alt, source=source, examples=(example,))
        elif example not in entry.examples and len(entry.examples) < MAX_EXAMPLES:
            entry = replace(entry, examples=(*entry.examples, example))
        else:
            return entry
        self.entries[content_hash] = entry
        self.dirty = True
        return entry

    def merge(self, other: Catalog) -> int:
        """Take entries from ``other``: new ones, and reviewed ones over unreviewed ones."""
        taken = 0
        for key, theirs in other.entries.items():
            ours = self.entries.get(key)
            if ours is None or (theirs.reviewed and not ours.reviewed):
                self.entries[key] = theirs
                taken += 1
        self.dirty = self.dirty or bool(taken)
        return taken

    def prune(self, keep: Iterable[str]) -> list[str]:
        """Drop entries whose image is no longer used; return the dropped hashes."""
        keep = set(keep)
        dropped = sorted(k for k in self.entries if k not in keep)
        for key in dropped:
            del self.entries[key]
        self.dirty = self.dirty or bool(dropped)
        return dropped

    def to_text(self) -> str:
        """The canonical file content: sorted keys, two-space indent, final newline."""
        data = {key: self.entries[key].to_json() for key in sorted(self.entries)}
        return json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n"

    def save(self) -> None:
        """Write the catalog atomically (only when changed)."""
        if self.path is None or not self.dirty:
            return
        from alttext.rewrite import atomic_write

        atomic_write(self.path, self.to_text().encode("utf-8"))
        self.dirty = False

    def __iter__(self) -> Iterator[tuple[str, CatalogEntry]]:
        return iter(sorted(self.entries.items()))

    def __len__(self) -> int:
        return len(self.entries)


class _Pairs(list[tuple[str, Any]]):
    """A JSON object as written, duplicate keys included (``object_pairs_hook``)."""


def _read(path: Path) -> dict[str, CatalogEntry]:
    """The entries in ``path`` (none when it does not exist)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"catalog {path} cannot be read: {exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8-sig")  # an editor's byte order mark is no reason to fail
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"catalog {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from exc
    try:
        data = json.loads(text, object_pairs_hook=_Pairs)
    except json.JSONDecodeError as exc:
        hint = ""
        if _CONFLICT_MARKER.search(text):
            hint = " (it still has merge conflict markers: resolve them first)"
        raise ConfigError(
            f"catalog {path} is not valid JSON: {exc.msg.lower()} at line {exc.lineno},"
            f" column {exc.colno}{hint}"
        ) from exc
    except RecursionError as exc:
        raise ConfigError(f"catalog {path} is not valid JSON: nested too deeply") from exc
    if not isinstance(data, _Pairs):
        raise ConfigError(
            f"catalog {path} must hold a JSON object keyed by sha256, not {_show(data)}"
        )
    entries: dict[str, CatalogEntry] = {}
    spelled: dict[str, str] = {}
    for key, value in data:
        if not _HASH.match(key):
            raise ConfigError(f"catalog {path}: key {key!r} is not a sha256 hex digest")
        digest = key.lower()
        entry = _parse_entry(path, digest, value)
        if digest in entries:
            raise ConfigError(
                _duplicate(path, digest, (spelled[digest], key), entries[digest], entry)
            )
        entries[digest], spelled[digest] = entry, key
    return entries


def _duplicate(
    path: Path, digest: str, keys: tuple[str, str], first: CatalogEntry, second: CatalogEntry
) -> str:
    as_written = f" (written {keys[0]!r} and {keys[1]!r})" if keys[0] != keys[1] else ""
    same = " (the two are identical)" if first == second else ""
    return (
        f"catalog {path}: entry {digest} appears twice{as_written}:"
        f" first {_describe(first)}, then {_describe(second)}{same};"
        " delete the one you do not want (a resolved merge conflict often leaves both)"
    )


def _describe(entry: CatalogEntry) -> str:
    state = "reviewed" if entry.reviewed else "not reviewed"
    return f"alt {json.dumps(entry.alt, ensure_ascii=False)} ({state}, source {entry.source!r})"


def _show(value: object) -> str:
    """A JSON value as a person would recognise it in the file, briefly."""
    if isinstance(value, _Pairs):
        return "an object"
    if isinstance(value, list):
        return "a list"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:39] + "…"


def _parse_entry(path: Path, key: str, value: object) -> CatalogEntry:
    where = f"catalog {path}: entry {key[:12]}…"
    if not isinstance(value, _Pairs):
        raise ConfigError(f"{where} must be an object with an 'alt', not {_show(value)}")
    fields: dict[str, Any] = {}
    for name, item in value:
        if name in fields:
            raise ConfigError(f"{where}: field {name!r} appears twice; keep one")
        fields[name] = item
    unknown = sorted(set(fields) - set(_FIELDS))
    if unknown:
        raise ConfigError(
            f"{where}: unknown field(s) {', '.join(map(repr, unknown))};"
            f" allowed: {', '.join(_FIELDS)}"
        )
    if "alt" not in fields:
        raise ConfigError(f"{where}: 'alt' is missing (\"\" marks a decorative image)")
    alt, source = fields["alt"], fields.get("source", "human")
    reviewed, examples = fields.get("reviewed", False), fields.get("examples", [])
    if not isinstance(alt, str):
        raise ConfigError(f"{where}: 'alt' must be a string, not {_show(alt)}")
    if not isinstance(source, str):
        raise ConfigError(f"{where}: 'source' must be a string, not {_show(source)}")
    if not isinstance(reviewed, bool):
        raise ConfigError(f"{where}: 'reviewed' must be true or false, not {_show(reviewed)}")
    if not isinstance(examples, list) or isinstance(examples, _Pairs):
        raise ConfigError(f"{where}: 'examples' must be a list of strings, not {_show(examples)}")
    for example in examples:
        if not isinstance(example, str):
            raise ConfigError(
                f"{where}: 'examples' must be a list of strings; {_show(example)} is not one"
            )
    return CatalogEntry(alt=alt, source=source, reviewed=reviewed, examples=tuple(examples))
