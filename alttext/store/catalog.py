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

An entry is written in one language (``lang``, the page's); the same image on pages in
other languages gets its alt in each of them under ``other_languages``, one object per
language with the same fields (``lang`` required there)::

      "<sha256>": {
        "alt": "A teal square", "lang": "en", ...,
        "other_languages": [{"alt": "Ein blaugrünes Quadrat", "lang": "de", ...}]
      }

Keys are sorted and the file is pretty-printed so diffs stay small. New captions arrive
unreviewed; a person edits ``alt`` and sets ``reviewed: true``. Entries win over every
other source, so a CI build with a catalog needs no API key for images already decided.
An entry with ``"alt": ""`` records a decision that the image is decorative.

The file is shared: a person edits it while runs are going, several runs may write it.
:meth:`Catalog.save` therefore merges with the file as it is at that moment instead of
overwriting it (see there for the rules).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from alttext.errors import ConfigError, RewriteError
from alttext.languages import written_language

_HASH = re.compile(r"^[0-9a-fA-F]{64}$")
_FIELDS = ("alt", "source", "reviewed", "examples", "lang")
_OTHER_LANGUAGES = "other_languages"
#: Between an image's hash and a language in the key of an entry in another language.
_IN = "@"
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
    #: The language the alt is written in (the page's ``lang`` when a run recorded it);
    #: ``None``: any page's (an entry a person wrote without one).
    lang: str | None = None

    def to_json(self) -> dict[str, object]:
        """The entry as stored (``lang`` only when there is one: older files stay as they are)."""
        stored: dict[str, object] = {
            "alt": self.alt,
            "source": self.source,
            "reviewed": self.reviewed,
            "examples": list(self.examples),
        }
        if self.lang is not None:
            stored["lang"] = self.lang
        return stored

    def same_decision(self, other: CatalogEntry) -> bool:
        """Whether ``other`` says the same (alt, source, reviewed, lang); examples aside."""
        return (self.alt, self.source, self.reviewed, self.lang) == (
            other.alt,
            other.source,
            other.reviewed,
            other.lang,
        )

    def speaks(self, language: str | None) -> bool:
        """Whether this alt is in ``language`` (a page's ``lang``), as far as is known:
        an entry without a language, or a page without one, matches any. ``de-AT`` and
        ``de`` match, ``zh-TW`` and ``zh-CN`` do not: what a reader needs is the written
        language (:func:`~alttext.languages.written_language`)."""
        if self.lang is None or not language:
            return True
        return written_language(self.lang) == written_language(language)

    def with_examples(self, more: Iterable[str]) -> CatalogEntry:
        """This entry with the examples from ``more`` it lacks, up to :data:`MAX_EXAMPLES`."""
        examples = list(self.examples)
        for example in more:
            if len(examples) >= MAX_EXAMPLES:
                break
            if example not in examples:
                examples.append(example)
        return (
            self if len(examples) == len(self.examples) else replace(self, examples=tuple(examples))
        )


def content_hash_of(key: str) -> str:
    """The image hash of a catalog key: ``<sha256>``, or ``<sha256>@<language>`` for an
    entry in another language than the image's first (``other_languages`` in the file)."""
    return key.split(_IN, 1)[0]


def key_label(key: str) -> str:
    """A key as a person reads it in messages: the hash's start, and the language."""
    digest, _, language = key.partition(_IN)
    return f"{digest[:12]} ({language})" if language else digest[:12]


def _tag(language: str | None) -> str | None:
    """A page's language, ``None`` when it says none (``lang=""`` or blank)."""
    return language if language is not None and language.strip() else None


def _in_language(content_hash: str, language: str) -> str:
    return f"{content_hash}{_IN}{written_language(language)}"


@dataclass(frozen=True, slots=True)
class MergeConflict:
    """Two different decisions of equal standing for one image; ``kept`` stays."""

    content_hash: str
    kept: CatalogEntry
    other: CatalogEntry


@dataclass(slots=True)
class MergeResult:
    """What :meth:`Catalog.merge` did, hash by hash."""

    added: list[str] = field(default_factory=list)
    #: Drafts replaced by the other catalog's reviewed entry.
    replaced: list[str] = field(default_factory=list)
    #: Shared entries that only gained examples.
    examples: list[str] = field(default_factory=list)
    conflicts: list[MergeConflict] = field(default_factory=list)

    @property
    def taken(self) -> int:
        """Entries taken from the other catalog (new ones and reviewed over drafts)."""
        return len(self.added) + len(self.replaced)


@dataclass(slots=True)
class Catalog:
    """An in-memory catalog bound to its file (which may not exist yet)."""

    path: Path | None
    entries: dict[str, CatalogEntry] = field(default_factory=dict)
    dirty: bool = False
    #: The entries as last read from or written to the file: what :meth:`save` compares
    #: both this run's entries and the file's current ones with, to tell who changed what.
    _loaded: dict[str, CatalogEntry] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @classmethod
    def load(cls, path: Path) -> Catalog:
        """Read ``path``; a missing file is an empty catalog, a malformed one an error.

        Raises:
            ConfigError: the file cannot be read or is not a valid catalog; the message
                says where and what, so a person can fix it by hand.
        """
        entries = _read(path)
        catalog = cls(path, entries)
        catalog._loaded = dict(entries)
        return catalog

    def snapshot(self) -> Catalog:
        """A copy of the decisions as they are now (later additions do not show in it)."""
        return Catalog(None, dict(self.entries))

    def get(self, content_hash: str) -> CatalogEntry | None:
        """The image's first decision (its first language's), if any."""
        return self.entries.get(content_hash)

    def decision(self, content_hash: str, language: str | None = None) -> CatalogEntry | None:
        """The decision for an image on a page in ``language``: ``None`` when there is
        none in that language (the page's own sources answer)."""
        return self.entries.get(self._key(content_hash, language) or "")

    def _key(self, content_hash: str, language: str | None) -> str | None:
        """The key of the entry that answers a page in ``language``, if there is one."""
        language = _tag(language)
        first = self.entries.get(content_hash)
        if first is not None and first.speaks(language):
            return content_hash
        if language is not None:
            key = _in_language(content_hash, language)
            if key in self.entries:
                return key
        return None

    def add(
        self, content_hash: str, alt: str, source: str, example: str, lang: str | None = None
    ) -> CatalogEntry:
        """Record a new, unreviewed decision in ``lang``: the image's first, or one in
        another language beside it. An entry already in that language is kept, and its
        examples grow."""
        lang = _tag(lang)
        key = self._key(content_hash, lang)
        if key is None:
            key = content_hash
            if content_hash in self.entries:  # written in another language than ``lang``
                assert lang is not None  # (an entry answers a page without a language)
                key = _in_language(content_hash, lang)
            entry = CatalogEntry(alt=alt, source=source, examples=(example,), lang=lang or None)
        else:
            entry = self.entries[key].with_examples([example])
            if entry is self.entries[key]:
                return entry
        self.entries[key] = entry
        self.dirty = True
        return entry

    def merge(self, other: Catalog) -> MergeResult:
        """Take entries from ``other``: new ones, and reviewed ones over unreviewed ones.

        An entry both hold keeps the examples of both (up to :data:`MAX_EXAMPLES`). Two
        different alts of equal standing (both reviewed, or both drafts) are a conflict:
        this catalog's entry stays, and the result lists it so a person can decide.
        """
        result = MergeResult()
        for key, theirs in sorted(other.entries.items()):
            ours = self.entries.get(key)
            if ours is None:
                self.entries[key] = theirs
                result.added.append(key)
                continue
            if theirs.reviewed and not ours.reviewed:
                self.entries[key] = theirs.with_examples(ours.examples)
                result.replaced.append(key)
                continue
            if ours.alt != theirs.alt and ours.reviewed == theirs.reviewed:
                result.conflicts.append(MergeConflict(key, ours, theirs))
            grown = ours.with_examples(theirs.examples)
            if grown is not ours:
                self.entries[key] = grown
                result.examples.append(key)
        changed = result.taken or result.examples
        self.dirty = self.dirty or bool(changed)
        return result

    def prune(self, keep: Iterable[str], *, include_reviewed: bool = False) -> list[str]:
        """Drop entries whose image is no longer used; return the dropped hashes.

        A reviewed entry is a person's work: it stays unless ``include_reviewed``.
        """
        keep = set(keep)
        dropped = sorted(
            k
            for k, entry in self.entries.items()
            if content_hash_of(k) not in keep and (include_reviewed or not entry.reviewed)
        )
        for key in dropped:
            del self.entries[key]
        self.dirty = self.dirty or bool(dropped)
        return dropped

    def to_text(self) -> str:
        """The canonical file content: sorted keys, two-space indent, final newline."""
        return _to_text(self.entries)

    def save(self) -> None:
        """Merge this catalog's changes into the file as it is now, atomically.

        Nothing happens unless something changed. Otherwise, holding an exclusive lock
        (``.<name>.lock`` beside the file, so other runs' saves wait; a person's editor
        takes no lock), the file is read again and merged, key by key, comparing this
        run's entries and the file's with the entries this catalog was loaded with:

        - changed on one side only: that side's version, so the file keeps a person's
          edit or another run's new entry, and this run's new entries, added examples and
          removals (``prune``) land;
        - changed on both sides: the file wins. Only this run's extra examples are still
          appended (up to :data:`MAX_EXAMPLES`), and only when the file's entry makes the
          same decision (alt, source, reviewed) as the one loaded (for an entry new on
          both sides: as this run's);
        - deleted in the file since it was loaded: it stays deleted (a person removed it
          on purpose), whatever this run did to it. An entry this run added that the file
          lacks is always added.

        The merged result is written with ``atomic_write`` under the lock and becomes
        this catalog's entries. A file that is no longer valid (a person is mid-edit) is
        neither overwritten nor dropped: the error says so and nothing is written.

        Raises:
            ConfigError: the file on disk is not a valid catalog now.
            RewriteError: the file (or its lock file) could not be written.
        """
        if self.path is None or not self.dirty:
            return
        from alttext.durable import atomic_write

        with _locked(self.path):
            try:
                disk = _read(self.path)
            except ConfigError as exc:
                raise ConfigError(f"{exc}; this run's changes were not saved") from exc
            merged = _reconcile(self._loaded, self.entries, disk)
            if merged != disk:
                atomic_write(self.path, _to_text(merged).encode("utf-8"))
        self.entries = merged
        self._loaded = dict(merged)
        self.dirty = False

    def __iter__(self) -> Iterator[tuple[str, CatalogEntry]]:
        return iter(sorted(self.entries.items()))

    def __len__(self) -> int:
        return len(self.entries)


def _to_text(entries: dict[str, CatalogEntry]) -> str:
    data: dict[str, dict[str, Any]] = {}
    for key in sorted(entries):  # "<hash>" sorts before its "<hash>@<language>" keys
        stored = entries[key].to_json()
        digest = content_hash_of(key)
        first = data.get(digest)
        if first is None:  # (an image's first entry, or the others' when it was removed)
            data[digest] = stored
        else:
            first.setdefault(_OTHER_LANGUAGES, []).append(stored)
    return json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def _reconcile(
    base: dict[str, CatalogEntry],
    ours: dict[str, CatalogEntry],
    disk: dict[str, CatalogEntry],
) -> dict[str, CatalogEntry]:
    """A three-way merge of the entries; the rules are in :meth:`Catalog.save`."""
    merged = dict(disk)
    for key in base.keys() | ours.keys():
        loaded, mine, now = base.get(key), ours.get(key), disk.get(key)
        if mine == loaded:
            continue  # this run did not touch it: the file's version (or absence) stands
        if now == loaded:
            if mine is None:
                merged.pop(key, None)
            else:
                merged[key] = mine
            continue
        if mine is None or now is None:
            continue  # removed on one side, changed on the other: the file decides
        reference = loaded if loaded is not None else mine
        if mine.same_decision(reference) and now.same_decision(reference):
            merged[key] = now.with_examples(mine.examples)
    return merged


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock for ``path`` (on a lock file beside it; none without fcntl).

    The catalog itself cannot carry the lock: ``atomic_write`` renames a new file over
    it, and a lock on the old inode would not stop the next writer.
    """
    if sys.platform == "win32":
        yield
        return
    import fcntl

    target = Path(os.path.realpath(path))  # a symlinked catalog shares its target's lock
    lock_path = target.with_name(f".{target.name}.lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise RewriteError(f"cannot lock {path}: {lock_path}: {exc.strerror or exc}") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as exc:
            # Some network and FUSE file systems have no flock: save as before, unlocked.
            if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                raise RewriteError(f"cannot lock {path}: {exc.strerror or exc}") from exc
        yield
    finally:
        os.close(fd)  # releases the lock


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
    if not text.strip():
        return {}  # an empty file (touch alttext.json) starts a catalog
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
        entry, others = _parse_entry(path, digest, value)
        if digest in entries:
            raise ConfigError(
                _duplicate(path, digest, (spelled[digest], key), entries[digest], entry)
            )
        entries[digest], spelled[digest] = entry, key
        for other in others:
            assert other.lang is not None  # (required there)
            entries[_in_language(digest, other.lang)] = other
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


def _parse_entry(path: Path, key: str, value: object) -> tuple[CatalogEntry, list[CatalogEntry]]:
    """An image's entry, and its entries in other languages (``other_languages``)."""
    where = f"catalog {path}: entry {key[:12]}…"
    fields = _fields(where, value, (*_FIELDS, _OTHER_LANGUAGES))
    entry = _entry(where, fields)
    listed = fields.get(_OTHER_LANGUAGES, [])
    if not isinstance(listed, list) or isinstance(listed, _Pairs):
        raise ConfigError(
            f"{where}: {_OTHER_LANGUAGES!r} must be a list of entries, not {_show(listed)}"
        )
    if listed and entry.lang is None:
        raise ConfigError(
            f"{where}: it has {_OTHER_LANGUAGES!r} but no 'lang' of its own (without one"
            " it answers pages in every language): say which language its alt is in"
        )
    others, seen = [], {written_language(entry.lang)} if entry.lang else set()
    for item in listed:
        inner = f"{where} in {_OTHER_LANGUAGES!r}"
        other = _entry(inner, _fields(inner, item, _FIELDS))
        if other.lang is None:
            raise ConfigError(f"{inner}: each entry needs its 'lang' (for example \"de\")")
        written = written_language(other.lang)
        if written in seen:
            raise ConfigError(f"{where}: two alts in the language {written!r}; keep one")
        seen.add(written)
        others.append(other)
    return entry, others


def _fields(where: str, value: object, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, _Pairs):
        raise ConfigError(f"{where} must be an object with an 'alt', not {_show(value)}")
    fields: dict[str, Any] = {}
    for name, item in value:
        if name in fields:
            raise ConfigError(f"{where}: field {name!r} appears twice; keep one")
        fields[name] = item
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise ConfigError(
            f"{where}: unknown field(s) {', '.join(map(repr, unknown))};"
            f" allowed: {', '.join(allowed)}"
        )
    return fields


def _entry(where: str, fields: dict[str, Any]) -> CatalogEntry:
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
    lang = fields.get("lang")
    if lang is not None and (not isinstance(lang, str) or not lang.strip()):
        raise ConfigError(
            f"{where}: 'lang' must be a language tag such as \"de\", not {_show(lang)}"
        )
    return CatalogEntry(
        alt=alt, source=source, reviewed=reviewed, examples=tuple(examples), lang=lang
    )
