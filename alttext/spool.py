"""An append-only sequence that spills to a temporary file, for reports of any size.

A run over a large site produces findings (and ``fix`` outcomes) in proportion to its size,
and the report needs all of them at the end. Holding them as objects would make memory grow
with the site; a :class:`Spool` keeps the first few thousand in memory (small runs never
touch the disk) and pickles the rest, in batches, to an anonymous temporary file that the
OS removes when the spool is garbage collected or the process ends.

Iterate as often as needed; items come back in the order they were added, as equal copies
(not the same objects) once spilled, so add an item only when it will not change again.
"""

from __future__ import annotations

import pickle
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO, Generic, TypeVar

T = TypeVar("T")

#: Items kept in memory before the spool starts writing to disk.
IN_MEMORY = 4096
#: Items pickled together: large enough to amortise pickle's per-call cost.
BATCH = 1024


class Spool(Generic[T]):
    """A list-like, append-only container whose memory use stays bounded."""

    def __init__(self, items: Iterable[T] = (), *, in_memory: int | None = None) -> None:
        self._head: list[T] = []  # the first items, never spilled
        self._tail: list[T] = []  # items waiting to be written as one batch
        self._file: IO[bytes] | None = None
        self._spilled = 0
        self._in_memory = IN_MEMORY if in_memory is None else in_memory
        self.extend(items)

    def append(self, item: T) -> None:
        """Add ``item`` at the end."""
        if len(self._head) < self._in_memory:
            self._head.append(item)
            return
        self._tail.append(item)
        if len(self._tail) >= BATCH:
            self._flush()

    def extend(self, items: Iterable[T]) -> None:
        """Add each of ``items`` at the end."""
        for item in items:
            self.append(item)

    def _flush(self) -> None:
        if not self._tail:
            return
        if self._file is None:
            # Lives as long as the spool (closed in __del__), so no context manager.
            self._file = tempfile.TemporaryFile(prefix="alttext-spool-")  # noqa: SIM115
        self._file.seek(0, 2)
        pickle.dump(self._tail, self._file, protocol=pickle.HIGHEST_PROTOCOL)
        self._spilled += len(self._tail)
        self._tail = []

    def __iter__(self) -> Iterator[T]:
        yield from self._head
        # Items past the head are numbered from 0: [0, spilled) on disk, then the tail.
        # The numbering holds when the tail is written out, so an iteration survives
        # appends (and spills) made while it runs, as a list's does.
        seen = read = position = 0
        while True:
            if read < self._spilled:
                assert self._file is not None
                self._file.flush()
                self._file.seek(position)
                batch: list[T] = pickle.load(self._file)
                position = self._file.tell()
                start, read = read, read + len(batch)
                for item in batch[seen - start :]:
                    seen += 1
                    yield item
                continue
            offset = seen - self._spilled
            if offset >= len(self._tail):
                return
            seen += 1
            yield self._tail[offset]

    def __len__(self) -> int:
        return len(self._head) + self._spilled + len(self._tail)

    def __bool__(self) -> bool:
        return len(self) > 0

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Spool | list | tuple):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, like a list

    def __repr__(self) -> str:
        return f"Spool({len(self)} items, {self._spilled} on disk)"

    @property
    def spilled(self) -> int:
        """How many items are on disk."""
        return self._spilled

    def __del__(self) -> None:
        file = getattr(self, "_file", None)
        if file is not None:
            file.close()
