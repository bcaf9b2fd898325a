"""A bounded mapping for what one process remembers during a run.

The scan workers remember each image they loaded and each answer they found, so an image
on many pages is read and looked up once. A site with a hundred thousand distinct images
would make those memos grow without end; a :class:`Recent` keeps the entries used last
(a logo or an icon on every page stays), and forgets the oldest: memory stays flat.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

#: Entries per memo: a few MB at most, far more than the images many pages share.
DEFAULT_CAPACITY = 1024


class Recent(Generic[K, V]):
    """A mapping that holds its ``capacity`` most recently used entries."""

    __slots__ = ("_items", "capacity")

    def __init__(self, capacity: int | None = None) -> None:
        capacity = DEFAULT_CAPACITY if capacity is None else capacity
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._items: OrderedDict[K, V] = OrderedDict()

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __getitem__(self, key: K) -> V:
        value = self._items[key]
        self._items.move_to_end(key)
        return value

    def __setitem__(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        if len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)
