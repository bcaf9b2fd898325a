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

from alttext.errors import ConfigError

_HASH = re.compile(r"^[0-9a-f]{64}$")
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
        """Read ``path``; a missing file is an empty catalog, a malformed one an error."""
        if not path.exists():
            return cls(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise ConfigError(f"catalog {path} cannot be read: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"catalog {path} must hold a JSON object keyed by sha256")
        entries = {}
        for key, value in data.items():
            entries[key] = _parse_entry(path, key, value)
        return cls(path, entries)

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


def _parse_entry(path: Path, key: str, value: object) -> CatalogEntry:
    where = f"catalog {path}: entry {key[:12]}…"
    if not _HASH.match(key):
        raise ConfigError(f"catalog {path}: key {key!r} is not a sha256 hex digest")
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be an object")
    alt, source = value.get("alt"), value.get("source", "human")
    reviewed, examples = value.get("reviewed", False), value.get("examples", [])
    if not isinstance(alt, str):
        raise ConfigError(f"{where}: 'alt' must be a string")
    if not isinstance(source, str) or not isinstance(reviewed, bool):
        raise ConfigError(f"{where}: 'source' must be a string and 'reviewed' true/false")
    if not isinstance(examples, list) or not all(isinstance(e, str) for e in examples):
        raise ConfigError(f"{where}: 'examples' must be a list of strings")
    unknown = set(value) - {"alt", "source", "reviewed", "examples"}
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    return CatalogEntry(alt=alt, source=source, reviewed=reviewed, examples=tuple(examples))
